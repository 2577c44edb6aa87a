#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# joulepush report against real servers holding known data (tests/e2e/report_data.py):
# two nodes, one with psys and one without, core/dram/package zones and a counter reset.
# The data goes into Prometheus by `promtool tsdb create-blocks-from openmetrics` and into
# VictoriaMetrics by /api/v1/import; the report of every --by, a --match and a range
# that does not end at midnight must agree with sums the test makes of the raw
# increments (within 1 %). Then: a path prefix, a tenant and a rotated bearer token
# through an enforcing front end, the errors (unreachable, HTTP 404 with its body, the
# server's own error, no data, partial data, usage), CSV and table output, and the HTML
# page in headless Chromium (a screenshot, one bar group per day, no console message; a
# page that loads an image is caught, to show the check can fail).
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3" "$PROMETHEUS" "$VICTORIA_METRICS" promtool chromium
e2e_init report
DATA=$E2E_DIR/report_data.py

# Five days of data ending yesterday midnight (UTC): inside the servers' retention.
START=$(( ($(date +%s) / 86400 - 6) * 86400 ))
day() { date -u -d "@$1" +%F; }
"$PYTHON3" "$DATA" gen "$START" 5 "$E2E_TMP" || fail "cannot generate the data"
FROM=$((START + 86400)) TO=$((START + 4 * 86400))   # three whole days, the reset among them

promtool tsdb create-blocks-from openmetrics "$E2E_TMP/data.om" "$E2E_TMP/prom-data" \
  >"$E2E_TMP/promtool.log" 2>&1 || fail "promtool backfill failed"
PROM_RETENTION=30d prom_start "$E2E_TMP/prom-data"
VM_RETENTION=30d vm_start
curl -fsS --data-binary "@$E2E_TMP/data.jsonl" "$VM_URL/api/v1/import" || fail "VictoriaMetrics import failed"
curl -fsS "$VM_URL/internal/force_flush" >/dev/null || fail "VictoriaMetrics flush failed"

report() { "$JOULEPUSH" report "$@" 2>>"$E2E_TMP/report-stderr.log"; }
check() { # check URL FROM TO BY [CLUSTER]
  local url=$1 f=$2 t=$3 by=$4 c=${5:-} out=$E2E_TMP/r.json
  report --url "$url" --from "$(date -u -d "@$f" +%FT%TZ)" --to "$(date -u -d "@$t" +%FT%TZ)" --by "$by" \
    ${c:+--match "{cluster=\"$c\"}"} --format json -o "$out" || fail "report $url --by $by failed: $(tail -2 "$E2E_TMP/report-stderr.log")"
  "$PYTHON3" "$DATA" check "$E2E_TMP/truth.json" "$out" "$f" "$t" "$by" $c || fail "report $url --by $by${c:+ --match $c} is wrong"
}

for url in "$PROM_URL" "$VM_URL"; do
  for by in namespace pod node cluster; do
    check "$url" "$FROM" "$TO" "$by"
  done
  # Not whole days (a partial last day), one cluster only.
  check "$url" $((FROM + 6 * 3600)) $((TO - 12 * 3600)) namespace c1
done
e2e_log "report: every --by agrees with the data on Prometheus and VictoriaMetrics"

# The market-based method (docs/reports.md): a PPA on cluster c1 whose period is twice the
# range, guarantees of origin on c2, a residual mix; every figure against the raw increments.
# A year of guarantees of origin (365 kWh over 365 days, the range inside it: 3 kWh in the
# range, less than c2 uses), the supplier's rate for what the instruments leave, and the
# agents' PUE (1.2): the electricity bought is the measured energy times it.
PPA_KWH=0.5 GO_KWH=365 SUPPLIER=250
cat >"$E2E_TMP/instruments.yaml" <<EOF
residual_mix_grams_per_kwh: 380
residual_mix_source: "test residual mix"
pue: 1.2
supplier_grams_per_kwh: $SUPPLIER
instruments:
  - {name: wind-ppa, kind: ppa, grams_per_kwh: 0, volume_kwh: $PPA_KWH,
     from: "$(date -u -d "@$((FROM - (TO - FROM) / 2))" +%FT%TZ)", to: "$(date -u -d "@$((TO + (TO - FROM) / 2))" +%FT%TZ)",
     match: {cluster: c1}}
  - {name: go-c2, kind: eac, grams_per_kwh: 0, volume_kwh: $GO_KWH,
     from: "$(date -u -d "@$((FROM - 200 * 86400))" +%FT%TZ)", to: "$(date -u -d "@$((FROM + 165 * 86400))" +%FT%TZ)",
     match: {cluster: c2}}
EOF
for url in "$PROM_URL" "$VM_URL"; do
  report --url "$url" --from "$(date -u -d "@$FROM" +%FT%TZ)" --to "$(date -u -d "@$TO" +%FT%TZ)" \
    --instruments "$E2E_TMP/instruments.yaml" --format json -o "$E2E_TMP/market.json" \
    || fail "report --instruments on $url: $(tail -2 "$E2E_TMP/report-stderr.log")"
  "$PYTHON3" "$DATA" market "$E2E_TMP/truth.json" "$E2E_TMP/market.json" "$FROM" "$TO" "$PPA_KWH" \
    "$(( GO_KWH * (TO - FROM) / (365 * 86400) ))" "$SUPPLIER" || fail "the market-based figures on $url are wrong"
done
# The page states both methods and draws them per day (one pair of bars per day).
report --url "$PROM_URL" --from "$(date -u -d "@$FROM" +%FT%TZ)" --to "$(date -u -d "@$TO" +%FT%TZ)" \
  --instruments "$E2E_TMP/instruments.yaml" --format html -o "$E2E_TMP/market.html" || fail "report --format html --instruments"
grep -q '<h2>Method</h2>' "$E2E_TMP/market.html" && grep -q 'Source of the residual mix: test residual mix' "$E2E_TMP/market.html" &&
  [ "$(grep -o '<g class="mday"' "$E2E_TMP/market.html" | wc -l)" -eq 3 ] || fail "the HTML page lacks the method or its chart"
# Hourly matching: a PPA on c1 that supplies more than c1 uses at 00-02 UTC (excess that
# must not carry over), 0.002 kWh at 02-06 and nothing else; per hour against the raw
# increments.
"$PYTHON3" - "$FROM" "$TO" >"$E2E_TMP/ppa-hours.csv" <<'PY'
import datetime, sys
for t in range(int(sys.argv[1]), int(sys.argv[2]), 3600):
    h = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    print("%s,%s" % (h.strftime("%Y-%m-%dT%H:%M:%SZ"), "5" if h.hour < 2 else "0.002" if h.hour < 6 else "0"))
PY
cat >"$E2E_TMP/hourly.yaml" <<EOF
residual_mix_grams_per_kwh: 380
instruments:
  - {name: night-ppa, kind: ppa, grams_per_kwh: 0, profile: ppa-hours.csv, match: {cluster: c1}}
EOF
for url in "$PROM_URL" "$VM_URL"; do
  report --url "$url" --from "$(date -u -d "@$FROM" +%FT%TZ)" --to "$(date -u -d "@$TO" +%FT%TZ)" \
    --instruments "$E2E_TMP/hourly.yaml" --matching hourly --format json -o "$E2E_TMP/hourly.json" \
    || fail "report --matching hourly on $url: $(tail -2 "$E2E_TMP/report-stderr.log")"
  "$PYTHON3" "$DATA" market-hourly "$E2E_TMP/truth.json" "$E2E_TMP/hourly.json" "$FROM" "$TO" "$E2E_TMP/ppa-hours.csv" \
    || fail "the hourly-matched figures on $url are wrong"
done
printf 'residual_mix_grams_per_kwh: 380\ninstruments:\n  - {name: x, kind: ppa, grams_per_kwh: 0, volume_kwh: -1, from: 2026-01-01, to: 2027-01-01}\n' \
  >"$E2E_TMP/bad-instruments.yaml"
out=$("$JOULEPUSH" report --url "$PROM_URL" --month 2026-11 --instruments "$E2E_TMP/bad-instruments.yaml" 2>&1)
[ $? -eq 2 ] && grep -q "bad-instruments.yaml:3: instruments\[0\]: negative" <<<"$out" \
  || fail "a negative volume: $out"
e2e_log "report: the market-based method agrees with the data on both servers"

# A path prefix: VictoriaMetrics also serves the API under /prometheus.
check "$VM_URL/prometheus" "$FROM" "$TO" namespace

# A tenant and a bearer token enforced by a front end; the token file is read at each
# request, so a rotation between two runs needs no restart of anything.
PROXY_PORT=$(free_port)
echo token-1 >"$E2E_TMP/token"
"$PYTHON3" "$E2E_DIR/query_proxy.py" "$PROXY_PORT" "$PROM_URL" "$E2E_TMP/token" team-a /prometheus \
  >"$E2E_TMP/proxy.log" 2>&1 &
e2e_track $!
wait_for 20 "the query front end" bash -c "curl -s -o /dev/null -X POST http://127.0.0.1:$PROXY_PORT/"
PROXY=http://127.0.0.1:$PROXY_PORT/prometheus
report --url "$PROXY" --month "$(date -u -d "@$FROM" +%Y-%m)" --bearer-token-file "$E2E_TMP/token" \
  --header 'X-Scope-OrgID: team-a' --format csv >/dev/null || fail "report through the front end failed"
report --url "$PROXY" --from "$(day $FROM)" --to "$(day $TO)" --bearer-token-file "$E2E_TMP/token" >/dev/null
[ $? -eq 1 ] && grep -q "HTTP 401: no org id" "$E2E_TMP/report-stderr.log" || fail "no tenant: not an HTTP 401 with its body"
echo token-2 >"$E2E_TMP/token"
check_proxy() {
  report --url "$PROXY" --from "$(day $FROM)" --to "$(day $TO)" --bearer-token-file "$E2E_TMP/token" \
    --header 'X-Scope-OrgID: team-a' --format json -o "$E2E_TMP/p.json" &&
    "$PYTHON3" "$DATA" check "$E2E_TMP/truth.json" "$E2E_TMP/p.json" "$FROM" "$TO" namespace
}
check_proxy || fail "report with the rotated token is wrong"
grep -q ' 401$' "$E2E_TMP/proxy.log" && grep -q '/prometheus/api/v1/query_range 200$' "$E2E_TMP/proxy.log" ||
  fail "the front end did not see what the test expects: $(cat "$E2E_TMP/proxy.log")"

# Errors: each exits 1 and says why.
expect_error() { # expect_error CODE PATTERN ARGS...
  local code=$1 pat=$2
  shift 2
  "$JOULEPUSH" report "$@" >/dev/null 2>"$E2E_TMP/err.txt"
  local rc=$?
  [ $rc -eq "$code" ] && grep -q -- "$pat" "$E2E_TMP/err.txt" ||
    fail "report $*: exit $rc, expected $code and /$pat/: $(cat "$E2E_TMP/err.txt")"
}
expect_error 1 "Couldn't connect\|Failed to connect" --url "http://127.0.0.1:$(free_port)" --month 2026-11
expect_error 1 "HTTP 404: 404 page not found" --url "$PROM_URL/nothere" --month 2026-11
expect_error 1 "HTTP 400, the server says bad_data" --url "$PROM_URL" --month 2026-11 --match '{cluster=~"("}'
expect_error 1 'no joulepush_node_energy_joules_total{cluster="nope"}.*tenant header' \
  --url "$PROM_URL" --from "$(day $FROM)" --to "$(day $TO)" --match '{cluster="nope"}'
expect_error 0 "partial data: 2 of 6 days have no samples ($(day $((START + 5 * 86400))), $(day $((START + 6 * 86400))))" \
  --url "$VM_URL" --from "$(day $FROM)" --to "$(day $((START + 7 * 86400)))" --format json
expect_error 2 "--to must be after --from" --url "$PROM_URL" --from 2026-11-02 --to 2026-11-01
expect_error 2 "--by is namespace, pod, node or cluster" --url "$PROM_URL" --by team
expect_error 2 "--url is required" --month 2026-11
expect_error 2 "--month must be YYYY-MM" --url "$PROM_URL" --month 2026-13
expect_error 2 "--match must be a selector in braces" --url "$PROM_URL" --month 2026-11 --match 'cluster="x"'

# CSV and the table carry the same rows as JSON.
report --url "$PROM_URL" --from "$(day $FROM)" --to "$(day $TO)" --by pod --format json -o "$E2E_TMP/pod.json" || fail "json"
report --url "$PROM_URL" --from "$(day $FROM)" --to "$(day $TO)" --by pod --format csv -o "$E2E_TMP/pod.csv" || fail "csv"
report --url "$PROM_URL" --from "$(day $FROM)" --to "$(day $TO)" --by pod >"$E2E_TMP/pod.txt" || fail "table"
"$PYTHON3" - "$E2E_TMP/pod.json" "$E2E_TMP/pod.csv" "$E2E_TMP/pod.txt" <<'PY' || fail "csv or table differ from json"
import csv, json, sys
j = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
assert [r["pod"] for r in rows] == [r["pod"] for r in j["rows"]] + ["(total)"], rows
for c, r in zip(rows, j["rows"] + [dict(j["total"], pod="(total)")]):
    assert abs(float(c["co2_grams"]) - r["co2_grams"]) <= 1e-9 * max(1, r["co2_grams"]), (c, r)
    assert abs(float(c["energy_joules"]) - r["energy_joules"]) <= 1e-9 * max(1, r["energy_joules"]), (c, r)
lines = open(sys.argv[3]).read().splitlines()
head = [i for i, l in enumerate(lines) if l.startswith("POD ")][0]
# The table picks units that show the figures: the header says which.
unit = lines[head].split()[lines[head].split().index("CO2") + 1]
per = {"g": 1, "kg": 1e3, "t": 1e6}[unit]
body = lines[head + 1:head + 2 + len(j["rows"])]
for l, r in zip(body, j["rows"] + [dict(j["total"], pod="(total)")]):
    assert l.startswith(r["pod"]), (l, r["pod"])
    # key, energy, CO2, embodied, share, %, g/kWh
    assert abs(float(l.split()[-5]) - r["co2_grams"] / per) < 0.0006, (l, r)
print("csv and table agree with json: %d rows" % len(rows))
PY

# The HTML page: self-contained, one bar group per day, no console message.
report --url "$VM_URL" --from "$(day $START)" --to "$(day $((START + 5 * 86400)))" --by pod --format html \
  -o "$E2E_TMP/report.html" || fail "html"
chrome() { # chrome PAGE USERDIR ARGS...: headless Chromium with nothing reaching out
  local page=$1 ud=$2
  shift 2
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$ud" \
    --enable-logging=stderr --v=0 --window-size=1000,900 "$@" "file://$page"
}
chrome "$E2E_TMP/report.html" "$E2E_TMP/ud1" --screenshot="$E2E_TMP/report.png" >/dev/null 2>"$E2E_TMP/chrome1.log" ||
  fail "chromium could not take the screenshot"
[ "$(stat -c %s "$E2E_TMP/report.png")" -gt 10000 ] || fail "the screenshot is (nearly) empty"
chrome "$E2E_TMP/report.html" "$E2E_TMP/ud2" --dump-dom >"$E2E_TMP/dom.html" 2>"$E2E_TMP/chrome2.log" || fail "chromium --dump-dom"
groups=$(grep -o '<g class="day"' "$E2E_TMP/dom.html" | wc -l)
[ "$groups" -eq 5 ] || fail "the chart has $groups day groups, not 5"
! grep -h ':CONSOLE' "$E2E_TMP/chrome1.log" "$E2E_TMP/chrome2.log" || fail "the page logged console messages"
grep -q 'http://\|https://' <(grep -v 'xmlns="http://www.w3.org/2000/svg"' "$E2E_TMP/report.html") &&
  fail "the page names a network address"
# The same check catches a page that reaches out (the policy blocks and reports it).
sed 's|<h1>|<img src="http://127.0.0.1:1/x.png"><h1>|' "$E2E_TMP/report.html" >"$E2E_TMP/bad.html"
chrome "$E2E_TMP/bad.html" "$E2E_TMP/ud3" --dump-dom >/dev/null 2>"$E2E_TMP/chrome3.log"
grep -q ':CONSOLE' "$E2E_TMP/chrome3.log" || fail "a page that loads an image logged nothing: the console check is blind"
e2e_log "report: errors, formats and the HTML page as expected ($groups day groups)"
