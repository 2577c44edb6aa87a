#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# joulepush top against a running agent: one snapshot when stdout is not a terminal, with
# a row per pod (or namespace) sorted by power, the node's power and the grid intensity in
# the header, and totals that match the agent's /metrics as the test adds them up itself
# (total-energy basis: package + dram). Exit codes 1 (no agent) and 2 (usage).
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3"
e2e_init top

mock_start 200
AGENT_PORT=$(free_port)
AGENT_PODS=6 AGENT_INTERVAL=10s agent_config "$E2E_TMP/agent.yaml" "$(remote_yaml mock "$MOCK_URL/api/v1/write")"
agent_start "$E2E_TMP/agent.yaml"

check() { # check BY: top and two scrapes around it; 0 when they agree, 3 when a round came between
  curl -fsS "$AGENT_URL/metrics" -o "$E2E_TMP/m1.prom" || return 1
  "$JOULEPUSH" top --url "$AGENT_URL" --by "$1" >"$E2E_TMP/top.txt" || return 1
  curl -fsS "$AGENT_URL/metrics" -o "$E2E_TMP/m2.prom" || return 1
  cmp -s <(grep -v '^joulepush_\(remote\|collections\|store\)' "$E2E_TMP/m1.prom") \
         <(grep -v '^joulepush_\(remote\|collections\|store\)' "$E2E_TMP/m2.prom") || return 3
  "$PYTHON3" - "$1" "$E2E_TMP/m1.prom" "$E2E_TMP/top.txt" <<'PY'
import re, sys
by, prom, top = sys.argv[1], sys.argv[2], sys.argv[3]
lab = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
rows = {}
node_w = 0.0
for line in open(prom):
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r'^(\w+)(\{.*\})? (\S+)$', line.strip())
    name, labels, v = m.group(1), dict(lab.findall(m.group(2) or "")), float(m.group(3))
    basis = labels.get("zone") in ("package", "dram")
    if name == "joulepush_node_power_watts" and basis:
        node_w += v
    if by == "pod" and name.startswith("joulepush_pod_"):
        k = labels["namespace"] + "/" + labels["pod"]
    elif by == "namespace" and (name.startswith("joulepush_namespace_") or name == "joulepush_pod_power_watts"):
        k = labels["namespace"]
    else:
        continue
    r = rows.setdefault(k, {"w": 0.0, "j": 0.0, "g": 0.0})
    if name.endswith("_power_watts") and basis:
        r["w"] += v
    elif name.endswith("_energy_joules_total") and basis:
        r["j"] += v
    elif name.endswith("_co2_grams_total"):
        r["g"] += v
lines = open(top).read().splitlines()
hdr = re.search(r"node ([0-9.]+) W", lines[0])
assert hdr and abs(float(hdr.group(1)) - node_w) < 0.051, (lines[0], node_w)
assert "grid 475 gCO2e/kWh (static)" in lines[0] and re.search(r"mock \d+ pending", lines[0]), lines[0]
body = [l for l in lines[2:] if not l.startswith("TOTAL")]
got = {}
for l in body:
    k, w, j, g = l.rsplit(None, 3)
    got[k.strip()] = (float(w), float(j), float(g))
assert set(got) == set(rows), (sorted(got), sorted(rows))
ws = [got[k][0] for k in (l.rsplit(None, 3)[0].strip() for l in body)]
assert ws == sorted(ws, reverse=True), "not sorted by power: %s" % ws
for k, r in rows.items():
    w, j, g = got[k]
    assert abs(w - r["w"]) < 0.006 and abs(j - r["j"] / 1000) < 0.0006 and abs(g - r["g"]) < 0.00006, (k, got[k], r)
tot = [l for l in lines if l.startswith("TOTAL")][0].split()
assert abs(float(tot[3]) - sum(r["g"] for r in rows.values())) < 0.0005, tot
print("top --by %s: %d rows agree with /metrics" % (by, len(rows)))
PY
}

for by in pod namespace; do
  ok=0
  for try in 1 2 3; do
    check "$by"; rc=$?
    [ $rc -eq 0 ] && { ok=1; break; }
    [ $rc -eq 3 ] || fail "top --by $by: $(cat "$E2E_TMP/top.txt" 2>/dev/null | head -3)"
  done
  [ $ok -eq 1 ] || fail "top --by $by: a round came between every try"
done
[ "$(grep -c . "$E2E_TMP/top.txt")" -gt 3 ] || fail "top printed too little"

"$JOULEPUSH" top --url "http://127.0.0.1:$(free_port)" >/dev/null 2>"$E2E_TMP/err.txt"; rc=$?
[ $rc -eq 1 ] && grep -q "Couldn't connect" "$E2E_TMP/err.txt" || fail "top without an agent: exit $rc: $(cat "$E2E_TMP/err.txt")"
"$JOULEPUSH" top --by cluster >/dev/null 2>&1; [ $? -eq 2 ] || fail "top --by cluster: not exit 2"
agent_term

# Hostile /metrics (a handwritten fixture on loopback): two pods whose 200-byte names share
# their first 199 bytes stay two rows, and label values with terminal escapes, C1 controls
# and invalid UTF-8 reach the terminal as '?'.
mkdir -p "$E2E_TMP/www"
"$PYTHON3" - "$E2E_TMP/www/metrics" <<'PY'
import sys
common = "p" * 199
lines = [
    'joulepush_node_power_watts{mode="active",source="model",zone="package"} 10',
    'joulepush_grid_carbon_intensity_grams_per_kwh{grid_zone="x",source="static"} 475',
]
for last, w in (("a", 1.5), ("b", 2.5)):
    lines.append('joulepush_pod_power_watts{namespace="ns",pod="%s%s",zone="package"} %s' % (common, last, w))
evil = 'team\u001b]0;owned\u0007\u001b[2J\u00c2\u009b31m\u00ff-x'
lines.append('joulepush_pod_power_watts{namespace="%s",pod="web",zone="package"} 0.5' % evil)
with open(sys.argv[1], "w", encoding="latin-1") as f:
    f.write("\n".join(lines) + "\n")
PY
www_port=$(free_port)
"$PYTHON3" -m http.server --bind 127.0.0.1 --directory "$E2E_TMP/www" "$www_port" >"$E2E_TMP/www.log" 2>&1 &
www_pid=$!
e2e_track "$www_pid"
wait_for 10 "the fixture server" http_ok "http://127.0.0.1:$www_port/metrics"
"$JOULEPUSH" top --url "http://127.0.0.1:$www_port" >"$E2E_TMP/hostile.txt" 2>"$E2E_TMP/err.txt" \
  || fail "top on the fixture: $(cat "$E2E_TMP/err.txt")"
"$JOULEPUSH" top --url "http://127.0.0.1:$www_port" --format json >"$E2E_TMP/hostile.json" 2>"$E2E_TMP/err.txt" \
  || fail "top --format json on the fixture: $(cat "$E2E_TMP/err.txt")"
"$JOULEPUSH" top --format yaml >/dev/null 2>&1; [ $? -eq 2 ] || fail "top --format yaml: not exit 2"
e2e_kill "$www_pid" 2
"$PYTHON3" - "$E2E_TMP/hostile.json" <<'PY' || fail "top --format json on hostile /metrics (hostile.json)"
import json, sys
raw = open(sys.argv[1], "rb").read()
doc = json.loads(raw.decode("utf-8"))          # valid UTF-8 and valid JSON
rows = doc["rows"]
assert doc["by"] == "pod" and len(rows) == 3, doc
ws = [r["power_watts"] for r in rows]
assert ws == [2.5, 1.5, 0.5], ws                # by power, the long names kept apart
assert abs(doc["total"]["power_watts"] - 4.5) < 1e-9, doc["total"]
assert any("\x1b" in r["key"] for r in rows), "the key was changed, not escaped: %r" % rows
print("top --format json: valid UTF-8 JSON, keys whole with escapes as \\u001b")
PY
"$PYTHON3" - "$E2E_TMP/hostile.txt" <<'PY' || fail "top on hostile /metrics (output in hostile.txt)"
import sys
raw = open(sys.argv[1], "rb").read()
for bad in (b"\x1b", b"\x07", b"\xc2\x9b", b"\xff"):
    assert bad not in raw, "%r reached the terminal" % bad
text = raw.decode("utf-8")
rows = [l for l in text.splitlines() if l.startswith("ns/")]
# Two rows, with 2.5 W and 1.5 W: the names were not merged (the display cuts them at 56).
assert len(rows) == 2, rows
assert rows[0].split()[1] == "2.50" and rows[1].split()[1] == "1.50", rows
assert "team?]0;owned??[2J?31m?-x/web" in text, text
print("top: long names kept apart, escapes shown as '?'")
PY
e2e_log "top: snapshots agree with /metrics"
