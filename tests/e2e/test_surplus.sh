#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Green surplus end to end (docs/carbon.md "Green surplus"): the ENTSO-E mock serves the
# day-ahead documents of a forecast refresh from handwritten templates shaped like the real
# ones (tests/fixtures/carbon/surplus_*.xml: wind hourly and solar in quarter hours with
# curveType A03, the load with a missing hour, prices with negative hours), anchored on the
# hour the agent asks from. The agent pushes its surplus gauges into a real Prometheus, where
# the Folding@home KEDA example's query must give 0 now (ratio 0.5, 80.5 EUR) and 1 at the
# horizons of the surplus (8 h: wind and solar 1.125 of the load; 12 h: a negative price),
# and the next surplus window must start at hour 8.
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3" "$PROMETHEUS"
e2e_init surplus
FIXTURES=$(cd "$E2E_DIR/.." && pwd)/fixtures

AREA=10Y1001A1001A82H
ENTSOE_TOKEN=e2e-surplus-$RANDOM$RANDOM-secret
echo "$ENTSOE_TOKEN" >"$E2E_TMP/entsoe.token"
"$PYTHON3" "$E2E_DIR/mock_entsoe.py" --template "$FIXTURES/carbon/entsoe_e2e_template.xml" \
  --forecast-dir "$FIXTURES/carbon" --token-file "$E2E_TMP/entsoe.token" --area "$AREA" \
  --port-file "$E2E_TMP/entsoe.port" --log "$E2E_TMP/entsoe.jsonl" >>"$E2E_TMP/entsoe.log" 2>&1 &
e2e_track $!
wait_for 10 "mock ENTSO-E" test -s "$E2E_TMP/entsoe.port"
ENTSOE_URL=http://127.0.0.1:$(cat "$E2E_TMP/entsoe.port")/api
prom_start

cfg=$E2E_TMP/agent.yaml
agent_config "$cfg" "$(remote_yaml prom "$PROM_URL/api/v1/write")"
cat >>"$cfg" <<EOF
carbon:
  source: entsoe
  entsoe: {url: "$ENTSOE_URL", area: "$AREA", token_file: "$E2E_TMP/entsoe.token"}
  forecast: {source: entsoe, surplus: true, refresh: 1m, horizon: 24h, windows: [1h]}
EOF
agent_start "$cfg"
wait_for 30 "surplus gauges on /metrics" sh -c \
  "curl -fsS '$AGENT_URL/metrics' | grep -q '^joulepush_grid_surplus_window_start_seconds'"
sleep 3   # a few rounds reach Prometheus

"$PYTHON3" - "$PROM_URL" "$E2E_TMP/entsoe.jsonl" "$E2E_DIR/../../config/kubernetes/carbon-aware/keda-folding-surplus.yaml" <<'PY' \
  || fail "the surplus gauges in Prometheus (entsoe.jsonl, agent.log)"
import datetime, json, re, sys, urllib.parse, urllib.request
prom, log, keda = sys.argv[1], sys.argv[2], sys.argv[3]
def q(expr):
    u = "%s/api/v1/query?%s" % (prom, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(u, timeout=30) as r:
        d = json.load(r)
    assert d["status"] == "success", d
    return d["data"]["result"]
reqs = [json.loads(l) for l in open(log)]
docs = [r["doc"] for r in reqs if r["status"] == 200]
assert {"A69", "A71", "A65", "A44"} <= set(docs), ("not every document was served", reqs[-6:])
bad = [r for r in reqs if r["status"] != 200]
assert not bad, ("the mock refused a request", bad[:3])
# The hour the forecast documents are anchored on: the last A65 request's periodStart. Every
# figure checked below holds whether "now" is in that hour or the next (a refresh near the
# top of the hour): hours 0-1 ratio 0.5 and 80.5 EUR, 8-9 ratio 1.125, 12-13 ratio 0.5 and
# -5.25 EUR.
a65 = [r for r in reqs if r["doc"] == "A65"][-1]
h0 = datetime.datetime.strptime(a65["period"][0], "%Y%m%d%H%M").replace(tzinfo=datetime.timezone.utc).timestamp()
query = re.search(r"query: >-\n((?:          .*\n)+)", open(keda).read()).group(1)
query = " ".join(l.strip() for l in query.splitlines())
def keda_at(h):
    res = q(query.replace('horizon="0h"', 'horizon="%s"' % h))
    assert len(res) == 1, res
    return float(res[0]["value"][1])
assert keda_at("0h") == 0, "a surplus now?"
assert keda_at("8h") == 1, "no surplus at 8 h (wind and solar 1.125 of the load)"
assert keda_at("12h") == 1, "no surplus at 12 h (a negative price)"
assert keda_at("2h") == 0
ratio = {r["metric"]["horizon"]: float(r["value"][1]) for r in q("joulepush_grid_renewable_surplus_ratio")}
assert ratio.get("0h") == 0.5 and ratio.get("8h") == 1.125 and ratio.get("12h") == 0.5, ratio
price = {r["metric"]["horizon"]: (r["metric"]["currency"], float(r["value"][1])) for r in q("joulepush_grid_day_ahead_price")}
assert price.get("0h") == ("EUR", 80.5) and price.get("12h") == ("EUR", -5.25), price
# The sample's own time plus its value is when the window starts: hour 8 of the anchor (or
# of the one before, when the refresh behind the sample was an hour earlier).
r = q("timestamp(joulepush_grid_surplus_window_start_seconds) + joulepush_grid_surplus_window_start_seconds")
start = float(r[0]["value"][1])
assert abs(start - (h0 + 8 * 3600)) < 0.002 or abs(start - (h0 + 7 * 3600)) < 0.002, (start, h0)
print("surplus: KEDA query 0 now, 1 at 8 h and 12 h; next window at %s (hour 8)"
      % datetime.datetime.fromtimestamp(start, datetime.timezone.utc).isoformat())
PY
agent_term
e2e_log "surplus: the Folding@home KEDA query on real Prometheus"
