#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Forecasts end to end (docs/carbon.md "Forecasts"): a mock UK Carbon Intensity API on
# loopback serves 48 h of half hours with a known valley; the agent pushes its forecast
# gauges into a real Prometheus, where PromQL must find the valley's start and mean and the
# point 8 h ahead; /v1/forecast, the Carbon Aware SDK route and `joulepush when` must name
# the same start; the KEDA example's query must run; `joulepush when --wait` must return
# once a seconds-away start has come, and not before.
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3" "$PROMETHEUS"
e2e_init forecast

# mock_ukci NAME ARGS...: start a mock; its URL goes to NAME_URL.
mock_ukci() {
  local name=$1
  shift
  rm -f "$E2E_TMP/$name.port"
  "$PYTHON3" "$E2E_DIR/mock_ukci.py" --port-file "$E2E_TMP/$name.port" --log "$E2E_TMP/$name.jsonl" "$@" \
    >>"$E2E_TMP/$name.log" 2>&1 &
  e2e_track $!
  wait_for 10 "mock $name" test -s "$E2E_TMP/$name.port"
  printf -v "${name}_URL" 'http://127.0.0.1:%s' "$(cat "$E2E_TMP/$name.port")"
}

# The layout the mock serves, from {from} (the agent asks from the half hour before now):
# point i is 200 + 10 * (i % 7), points 6 to 9 (3 h to 5 h after {from}) are 80.
mock_ukci UK --valley-at 6 --valley-len 4
prom_start

AGENT_PORT=$(free_port)
cfg=$E2E_TMP/agent.yaml
agent_config "$cfg" "$(remote_yaml prom "$PROM_URL/api/v1/write")"
cat >>"$cfg" <<EOF
carbon:
  ukci: {url: "$UK_URL"}
  forecast: {source: ukci, refresh: 1m, horizon: 24h, windows: [1h, 2h]}
EOF
agent_start "$cfg"
wait_for 20 "forecast gauges on /metrics" sh -c "curl -fsS '$AGENT_URL/metrics' | grep -q '^joulepush_grid_greenest_window_start_seconds'"
sleep 3   # a few rounds reach Prometheus

# The first request's {from}: the valley is [from + 3h, from + 5h).
from=$("$PYTHON3" -c '
import json, sys, datetime
p = json.loads(open(sys.argv[1]).readline())["path"]
t = datetime.datetime.strptime(p.split("/")[2], "%Y-%m-%dT%H:%MZ").replace(tzinfo=datetime.timezone.utc)
print(int(t.timestamp()))' "$E2E_TMP/UK.jsonl") || fail "no request reached the mock"
e2e_log "forecast from $from (the mock's first request)"

# PromQL: the 2 h window starts at the valley, its mean is 80; the +8h point is the value
# of the half hour in force 8 h after the sample.
"$PYTHON3" - "$PROM_URL" "$from" "$E2E_DIR/../../config/kubernetes/carbon-aware/keda-scaledobject.yaml" <<'PY' \
  || fail "PromQL on the forecast gauges"
import json, sys, urllib.parse, urllib.request
prom, frm = sys.argv[1], int(sys.argv[2])
def q(expr):
    u = "%s/api/v1/query?%s" % (prom, urllib.parse.urlencode({"query": expr}))
    with urllib.request.urlopen(u, timeout=30) as r:
        d = json.load(r)
    assert d["status"] == "success", d
    return d["data"]["result"]
def one(expr):
    r = q(expr)
    assert len(r) == 1, "%s: %d series" % (expr, len(r))
    return float(r[0]["value"][0]), float(r[0]["value"][1])
def value(i):
    return 80 if 6 <= i < 10 else 200 + 10 * (i % 7)
# Prometheus answers with the evaluation time; the sample's own time is what the agent
# used: take it from timestamp().
ts = one('timestamp(joulepush_grid_greenest_window_start_seconds{window="2h"})')[1]
start = one('joulepush_grid_greenest_window_start_seconds{window="2h"}')[1]
want = frm + 3 * 3600 - ts
assert abs(start - want) < 0.01, "window start %.3f s, want %.3f" % (start, want)
mean = one('joulepush_grid_greenest_window_grams_per_kwh{window="2h"}')[1]
assert abs(mean - 80) < 1e-9, "window mean %g" % mean
ts8 = one('timestamp(joulepush_grid_carbon_intensity_forecast_grams_per_kwh{horizon="8h"})')[1]
p8 = one('joulepush_grid_carbon_intensity_forecast_grams_per_kwh{horizon="8h"}')[1]
i8 = int((ts8 + 8 * 3600 - frm) // 1800)
assert p8 == value(i8), "+8h point %g, want %g (point %d)" % (p8, value(i8), i8)
info = q('joulepush_grid_forecast_info{signal="average",source="ukci"}')
assert len(info) == 1, info
# The KEDA example's query runs and answers 1 exactly when now starts the greenest 4 h
# window or is in the greenest quarter of the horizon (the agent exports windows 1h and
# 2h here, so the rank decides).
import yaml
so = yaml.safe_load(open(sys.argv[3]))
kq = so["spec"]["triggers"][0]["metadata"]["query"]
kv = one(kq)[1]
rank = one("joulepush_grid_carbon_intensity_rank_ratio")[1]
assert kv == (1.0 if rank <= 0.25 or start == 0 else 0.0), "KEDA query gave %g (rank %g, start %g)" % (kv, rank, start)
print("PromQL: 2h window starts in %.0f s (%.3f h after from), mean %g; +8h point %g; rank %.3f; KEDA query %g"
      % (start, (ts + start - frm) / 3600, mean, p8, rank, kv))
PY

# The JSON routes and the CLI name the same start (the valley, from + 3h).
want_start=$("$PYTHON3" -c 'import sys, datetime; print(datetime.datetime.fromtimestamp(int(sys.argv[1]) + 3 * 3600, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$from")
curl -fsS "$AGENT_URL/v1/forecast" -o "$E2E_TMP/v1.json" || fail "/v1/forecast"
got=$("$PYTHON3" -c 'import json, sys; d = json.load(open(sys.argv[1])); print([w["start"] for w in d["windows"] if w["duration_seconds"] == 7200][0])' "$E2E_TMP/v1.json")
[ "$got" = "$want_start" ] || fail "/v1/forecast: 2h window at $got, want $want_start"
curl -fsS "$AGENT_URL/emissions/forecasts/current?location=GB&windowSize=120" -o "$E2E_TMP/sdk.json" || fail "SDK route"
got=$("$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d, list) and len(d) == 1
f = d[0]
for k in ("generatedAt", "optimalDataPoints", "forecastData", "location", "dataStartAt", "dataEndAt", "windowSize"):
    assert k in f, k
assert f["location"] == "GB" and f["windowSize"] == 120
o = f["optimalDataPoints"][0]
assert o["value"] == 80 and o["duration"] == 120, o
print(o["timestamp"])' "$E2E_TMP/sdk.json") || fail "the SDK-shaped answer: $(head -c 300 "$E2E_TMP/sdk.json")"
[ "$got" = "$want_start" ] || fail "SDK route: optimal at $got, want $want_start"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$AGENT_URL/emissions/forecasts/current?windowSize=x")" = 400 ] \
  || fail "a bad windowSize is not a 400"

cat >"$E2E_TMP/when.yaml" <<EOF
carbon:
  ukci: {url: "$UK_URL"}
  forecast: {source: ukci}
EOF
"$JOULEPUSH" when --duration 2h --within 24h --config "$E2E_TMP/when.yaml" --format json >"$E2E_TMP/when.json" \
  || fail "joulepush when exited with $?"
got=$("$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("start", "end", "average_grams_per_kwh", "now_grams_per_kwh", "saving_ratio", "source"):
    assert k in d, k
assert d["average_grams_per_kwh"] == 80 and d["source"] == "ukci" and d["end"].endswith("Z")
assert 0 < d["saving_ratio"] < 1
print(d["start"])' "$E2E_TMP/when.json") || fail "when --format json: $(cat "$E2E_TMP/when.json")"
# The CLI asks from its own half hour: the same valley when that is the agent's too.
when_from=$("$PYTHON3" -c '
import json, sys, datetime
p = json.loads(open(sys.argv[1]).readlines()[-1])["path"]
t = datetime.datetime.strptime(p.split("/")[2], "%Y-%m-%dT%H:%MZ").replace(tzinfo=datetime.timezone.utc)
print(datetime.datetime.fromtimestamp(int(t.timestamp()) + 3 * 3600, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$E2E_TMP/UK.jsonl")
[ "$got" = "$when_from" ] || fail "when: start $got, want $when_from"
"$JOULEPUSH" when --duration 2h --config "$E2E_TMP/when.yaml" | grep -q '^greenest start: ' || fail "when (text)"

# Exit codes: usage 2, no forecast 1.
"$JOULEPUSH" when --config "$E2E_TMP/when.yaml" >/dev/null 2>&1; [ $? -eq 2 ] || fail "when without --duration: not exit 2"
printf 'carbon:\n  forecast: {source: none}\n' >"$E2E_TMP/none.yaml"
"$JOULEPUSH" when --duration 1h --config "$E2E_TMP/none.yaml" >/dev/null 2>&1; [ $? -eq 1 ] || fail "when without a source: not exit 1"
mock_ukci DOWN --status 503
printf 'carbon:\n  ukci: {url: "%s"}\n  forecast: {source: ukci}\n' "$DOWN_URL" >"$E2E_TMP/down.yaml"
out=$("$JOULEPUSH" when --duration 1h --config "$E2E_TMP/down.yaml" 2>&1); rc=$?
[ $rc -eq 1 ] || fail "when with a failing source: exit $rc (want 1)"
grep -q 'HTTP 503' <<<"$out" || fail "when with a failing source does not say why: $out"

# --wait: 5-second points, the valley 2 points (10 s) away at most.
mock_ukci SOON --relative --step 5 --valley-at 2 --valley-len 40 --hours 1
printf 'carbon:\n  ukci: {url: "%s"}\n  forecast: {source: ukci, refresh: 1m}\n' "$SOON_URL" >"$E2E_TMP/soon.yaml"
timeout 60 "$JOULEPUSH" when --duration 1m --within 10m --config "$E2E_TMP/soon.yaml" --format json --wait \
  >"$E2E_TMP/wait.json" || fail "when --wait exited with $?"
done_s=$(date +%s.%N)
"$PYTHON3" -c '
import json, sys, datetime
d = json.load(open(sys.argv[1]))
start = datetime.datetime.strptime(d["start"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
assert d["start_in_seconds"] > 0, d
assert float(sys.argv[2]) >= start, "returned at %s, before the start %s" % (sys.argv[2], start)
print("when --wait: start %s, returned %.1f s after it" % (d["start"], float(sys.argv[2]) - start))' \
  "$E2E_TMP/wait.json" "$done_s" || fail "when --wait returned before the start"

agent_term
e2e_log "forecast: Prometheus, /v1/forecast, the SDK route and joulepush when agree on the valley"
