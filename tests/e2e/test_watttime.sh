#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# WattTime end to end (docs/carbon.md "WattTime, a marginal signal"): a mock of its API v3 on
# loopback (tests/e2e/mock_watttime.py: login with basic authentication, tokens that expire,
# one revoked early, a region without access, a rate-limited login). The agent logs in, keeps
# its session through the 401s of expired tokens, exports the marginal rate and its signal
# index beside the static average the CO2 counters keep, and its forecast with
# signal="marginal"; `joulepush when --signal marginal` finds the mock's valley. No token or
# password ever reaches a log.
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3"
e2e_init watttime

# mock_wt NAME ARGS...: start a mock; its URL goes to NAME_URL.
mock_wt() {
  local name=$1
  shift
  rm -f "$E2E_TMP/$name.port"
  "$PYTHON3" "$E2E_DIR/mock_watttime.py" --port-file "$E2E_TMP/$name.port" --log "$E2E_TMP/$name.jsonl" \
    --user alice --password 's3cret-PASSWORD' "$@" >>"$E2E_TMP/$name.log" 2>&1 &
  e2e_track $!
  wait_for 10 "mock $name" test -s "$E2E_TMP/$name.port"
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$(cat "$E2E_TMP/$name.port")"
}

printf 'alice\n' >"$E2E_TMP/wt-user"
printf 's3cret-PASSWORD\n' >"$E2E_TMP/wt-password"
chmod 600 "$E2E_TMP/wt-user" "$E2E_TMP/wt-password"

# Tokens last 4 s here, and the first is revoked after 3 data requests: the agent, which
# expects 30 minutes, meets 401s and must log in again each time.
mock_wt WT --ttl 4 --revoke-after 3

cfg=$E2E_TMP/agent.yaml
agent_config "$cfg"
cat >>"$cfg" <<EOF
carbon:
  source: watttime
  grams_per_kwh: 475
  refresh: 1s
  watttime: {url: "$WT_URL", username_file: "$E2E_TMP/wt-user", password_file: "$E2E_TMP/wt-password"}
  forecast: {source: watttime, refresh: 1m, horizon: 24h, windows: [30m]}
EOF
agent_start "$cfg"
wait_for 20 "the marginal rate on /metrics" sh -c \
  "curl -fsS '$AGENT_URL/metrics' | grep -q '^joulepush_grid_carbon_intensity_grams_per_kwh{.*signal=\"marginal\"'"
sleep 8   # tokens expire twice over: the session must be renewed through 401s

scrape "$E2E_TMP/m.prom"
"$PYTHON3" - "$E2E_TMP/m.prom" "$E2E_TMP/WT.jsonl" "$E2E_TMP/agent.log" <<'PY' || fail "WattTime through the agent (m.prom, WT.jsonl, agent.log)"
import json, re, sys
prom, log, agent = sys.argv[1], sys.argv[2], sys.argv[3]
series = {}
for line in open(prom):
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r'^(\w+)\{(.*)\} (\S+)$', line.strip())
    if m:
        series.setdefault(m.group(1), []).append((dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2))), float(m.group(3))))
def one(name, **want):
    got = [v for l, v in series.get(name, []) if all(l.get(k) == w for k, w in want.items())]
    assert len(got) == 1, (name, want, series.get(name))
    return got[0]
# The rate of the current 5 minutes: point 0, 900 lbs/MWh; 42nd percentile.
mg = one("joulepush_grid_carbon_intensity_grams_per_kwh", signal="marginal", source="watttime", grid_zone="CAISO_NORTH")
assert abs(mg - 900 * 0.453592) < 1e-6, mg
avg = one("joulepush_grid_carbon_intensity_grams_per_kwh", signal="average", source="static")
assert avg == 475, avg
idx = one("joulepush_grid_signal_index_ratio", source="watttime")
assert abs(idx - 0.42) < 1e-9, idx
conv = [l for l, v in series.get("joulepush_node_converted_energy_joules_total", [])]
assert [l["intensity_source"] for l in conv] == ["static"], conv      # the inventory stays average
info = one("joulepush_grid_forecast_info", source="watttime")
assert [l for l, v in series["joulepush_grid_forecast_info"]][0]["signal"] == "marginal"
fc = [l for l, v in series.get("joulepush_grid_carbon_intensity_forecast_grams_per_kwh", [])]
assert fc and all(l["signal"] == "marginal" for l in fc), fc
# The valley (points 24-29: 2 h to 2 h 30 from the current 5 minutes) is the best 30 minutes.
w = one("joulepush_grid_greenest_window_grams_per_kwh", window="30m")
assert abs(w - 400 * 0.453592) < 1e-6, w
# The mock's log: logins with the right credentials, 401s, and a login after each.
reqs = [json.loads(l) for l in open(log)]
logins = [r for r in reqs if r["path"] == "/login" and r["status"] == 200]
unauth = [i for i, r in enumerate(reqs) if r["status"] == 401 and r["path"] != "/login"]
assert len(logins) >= 2 and unauth, (len(logins), len(unauth))
for i in unauth:
    nxt = reqs[i + 1:i + 3]
    assert nxt and nxt[0]["path"] == "/login", ("no login after a 401", reqs[i:i + 3])
    if len(nxt) > 1:
        assert nxt[1]["status"] == 200, ("the document after a new login failed", reqs[i:i + 3])
assert not any(r["status"] == 403 for r in reqs)
text = open(agent).read()
assert "s3cret-PASSWORD" not in text and not re.search(r"wt-[0-9a-f]{32}", text), "a secret in the agent's log"
print("watttime: marginal %.4f g/kWh, index %.2f, %d logins, %d 401s renewed" % (mg, idx, len(logins), len(unauth)))
PY
agent_term

# joulepush when --signal marginal: the valley, from the mock's forecast.
cat >"$E2E_TMP/when.yaml" <<EOF
carbon:
  watttime: {url: "$WT_URL", username_file: "$E2E_TMP/wt-user", password_file: "$E2E_TMP/wt-password"}
  forecast: {source: ukci}
EOF
out=$("$JOULEPUSH" when --duration 30m --within 12h --signal marginal --format json --config "$E2E_TMP/when.yaml") \
  || fail "when --signal marginal: $out"
"$PYTHON3" - "$out" "$E2E_TMP/WT.jsonl" <<'PY' || fail "when --signal marginal: $out"
import datetime, json, sys
d = json.loads(sys.argv[1])
assert d["signal"] == "marginal" and d["source"] == "watttime", d
assert abs(d["average_grams_per_kwh"] - 400 * 0.453592) < 1e-6, d
# The valley starts 2 h after the five minutes the mock's last forecast began with.
anchor = [json.loads(l) for l in open(sys.argv[2]) if '"anchor": null' not in l][-1]["anchor"]
want = datetime.datetime.fromtimestamp(anchor + 7200, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
assert d["start"] == want, (d["start"], want)
print("when --signal marginal: start %s at %.3f g/kWh" % (d["start"], d["average_grams_per_kwh"]))
PY
# --signal average with the watttime forecast configured is a usage error.
sed 's/source: ukci/source: watttime/' "$E2E_TMP/when.yaml" >"$E2E_TMP/when-wt.yaml"
"$JOULEPUSH" when --duration 30m --signal average --config "$E2E_TMP/when-wt.yaml" >/dev/null 2>&1
[ $? -eq 2 ] || fail "when --signal average on a marginal source: not exit 2"

# A region the account may not see: 403, said.
sed "s|watttime: {url|watttime: {region: PJM_DC, url|" "$E2E_TMP/when.yaml" >"$E2E_TMP/when-pjm.yaml"
out=$("$JOULEPUSH" when --duration 30m --signal marginal --config "$E2E_TMP/when-pjm.yaml" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "HTTP 403" <<<"$out" && grep -q "Unauthorized region" <<<"$out" \
  || fail "a region without access: exit $rc, $out"

# A rate-limited login: 429, said, and the password never.
mock_wt WT2 --rate-limit-login 1
sed "s|$WT_URL|$WT2_URL|" "$E2E_TMP/when.yaml" >"$E2E_TMP/when-429.yaml"
out=$("$JOULEPUSH" when --duration 30m --signal marginal --config "$E2E_TMP/when-429.yaml" 2>&1)
rc=$?
[ $rc -eq 1 ] && grep -q "HTTP 429" <<<"$out" && ! grep -q "s3cret" <<<"$out" \
  || fail "a rate-limited login: exit $rc, $out"
e2e_log "watttime: marginal signal, session renewal, when --signal, 403 and 429 as documented"
