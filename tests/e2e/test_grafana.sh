#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Grafana dashboard (config/grafana/joulepush.json) against real data: an agent in
# synthetic mode with the live grid source (a mock ENTSO-E: intensity and generation mix)
# and a forecast (a mock UK Carbon Intensity API) pushes into real Prometheus. Every
# variable's label_values() and every panel's query, with the variables substituted
# (all values, then one value each) and $__range / $__rate_interval set, must return data.
# Grafana itself cannot run here; the dashboard's shape (datasource variable on every
# panel, unique ids, no fixed datasource uid) is checked instead. With metrics.compat:
# kepler, the Kepler series docs/grafana.md names as supported must be there too.
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3" "$PROMETHEUS"
e2e_init grafana
DASH=$(cd "$E2E_DIR/../.." && pwd)/config/grafana/joulepush.json
FIXTURES=$(cd "$E2E_DIR/.." && pwd)/fixtures
AREA=10Y1001A1001A82H

echo "e2e-grafana-token" >"$E2E_TMP/entsoe.token"
"$PYTHON3" "$E2E_DIR/mock_entsoe.py" --template "$FIXTURES/carbon/entsoe_e2e_template.xml" \
  --token-file "$E2E_TMP/entsoe.token" --area "$AREA" --port-file "$E2E_TMP/entsoe.port" \
  --log "$E2E_TMP/entsoe.jsonl" >>"$E2E_TMP/entsoe.log" 2>&1 &
e2e_track $!
wait_for 10 "mock ENTSO-E" test -s "$E2E_TMP/entsoe.port"
"$PYTHON3" "$E2E_DIR/mock_ukci.py" --port-file "$E2E_TMP/uk.port" --log "$E2E_TMP/uk.jsonl" \
  --valley-at 6 --valley-len 4 >>"$E2E_TMP/uk.log" 2>&1 &
e2e_track $!
wait_for 10 "mock UK Carbon Intensity" test -s "$E2E_TMP/uk.port"
prom_start

AGENT_INTERVAL=1s AGENT_PODS=5 AGENT_GPUS=2 agent_config "$E2E_TMP/agent.yaml" "$(remote_yaml prom "$PROM_URL/api/v1/write")"
cat >>"$E2E_TMP/agent.yaml" <<EOF
carbon:
  source: entsoe
  entsoe: {url: "http://127.0.0.1:$(cat "$E2E_TMP/entsoe.port")/api", token_file: "$E2E_TMP/entsoe.token", area: "$AREA"}
  ukci: {url: "http://127.0.0.1:$(cat "$E2E_TMP/uk.port")"}
  forecast: {source: ukci, refresh: 1m, horizon: 24h, windows: [1h, 4h]}
metrics:
  levels: [node, pod, namespace]
  compat: kepler
EOF
agent_start "$E2E_TMP/agent.yaml"
wait_for 30 "generation and forecast on /metrics" sh -c \
  "curl -fsS '$AGENT_URL/metrics' | grep -q '^joulepush_grid_generation_megawatts' && curl -fsS '$AGENT_URL/metrics' | grep -q '^joulepush_grid_greenest_window_start_seconds'"
sleep 12   # enough rounds in Prometheus for rate() and increase()

"$PYTHON3" - "$DASH" "$PROM_URL" <<'PY' || fail "the dashboard's queries"
import json, re, sys, urllib.error, urllib.parse, urllib.request
dash, prom = json.load(open(sys.argv[1])), sys.argv[2]

def get(path, params):
    try:
        with urllib.request.urlopen(prom + path + "?" + urllib.parse.urlencode(params, doseq=True), timeout=30) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        raise SystemExit("%s %s: HTTP %d: %s" % (path, params, e.code, e.read().decode()[:300]))
    assert body["status"] == "success", body
    return body["data"]

def query(expr):
    return get("/api/v1/query", {"query": expr})["result"]

# The shape Grafana imports: no fixed id, a uid, the datasource as a variable everywhere.
assert dash["id"] is None and dash["uid"] and dash["schemaVersion"] >= 30
names = [v["name"] for v in dash["templating"]["list"]]
assert names == ["datasource", "cluster", "node", "namespace"], names
assert dash["templating"]["list"][0]["type"] == "datasource"
ids = [p["id"] for p in dash["panels"]]
assert len(ids) == len(set(ids)), "panel ids repeat"
exprs = []
for p in dash["panels"]:
    if p["type"] == "row":
        continue
    assert p["datasource"]["uid"] == "${datasource}", p["title"]
    assert p["targets"], p["title"]
    for t in p["targets"]:
        assert t["datasource"]["uid"] == "${datasource}", p["title"]
        exprs.append((p["title"], t["expr"]))
assert "uid\": \"prometheus" not in json.dumps(dash)

# Variables: label_values(SELECTOR, LABEL) as Grafana asks it, with the variables before.
values = {}
for v in dash["templating"]["list"][1:]:
    m = re.fullmatch(r"label_values\((.*), (\w+)\)", v["query"]["query"])
    sel = m.group(1)
    for k, val in values.items():
        sel = sel.replace("$" + k, ".*")
    got = get("/api/v1/label/%s/values" % m.group(2), {"match[]": sel})
    assert got, "variable %s: no values for %s" % (v["name"], v["query"]["query"])
    values[v["name"]] = got
print("variables:", {k: v[:3] for k, v in values.items()})

def subst(e, one):
    for k in ("namespace", "cluster", "node"):   # longest first: $node is not in $namespace
        # As Grafana escapes a value for a regex matcher: backslash, doubled in PromQL.
        v = re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", values[k][0])
        e = e.replace("$" + k, v if one else ".*")
    return e.replace("$__rate_interval", "30s").replace("$__range", "1m").replace("$__interval", "15s")

# An empty answer must be visible to this check: a misspelt metric is empty.
assert query('joulepush_node_power_wats{cluster=~".*"}') == []
for one in (False, True):
    for title, e in exprs:
        q = subst(e, one)
        assert "$" not in q, (title, q)
        r = query(q)
        assert r, "panel %r returns nothing (%s): %s" % (title, "first value of each variable" if one else "all", q)
print("%d panel queries return data, with all values and with one value per variable" % len(exprs))

# Kepler's names (metrics.compat: kepler) that docs/grafana.md says Kepler's dashboards use.
for m in ("kepler_node_cpu_watts", "kepler_node_cpu_joules_total", "kepler_node_cpu_active_watts",
          "kepler_node_cpu_idle_watts", "kepler_node_cpu_usage_ratio", "kepler_pod_cpu_watts",
          "kepler_pod_cpu_joules_total", "kepler_node_gpu_joules_total", "kepler_node_gpu_watts"):
    assert query(m), "%s is not in Prometheus" % m
print("Kepler compatibility series present")
PY
agent_term
e2e_log "grafana: every panel and variable of the dashboard has data"
