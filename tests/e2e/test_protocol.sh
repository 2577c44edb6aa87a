#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Remote-write protocol versions and several remotes (docs/reference/configuration.md remote_write.protocol,
# §7): "2.0" against a receiver that speaks only 1.0 falls back to 1.0 (logged once)
# and loses nothing; "2.0" against a 2.0 receiver sends io.prometheus.write.v2.Request
# bodies whose symbols, labels and values are checked here; two remotes (Prometheus
# and VictoriaMetrics) each get every sample.
source "$(dirname "$0")/lib.sh"
require_cmd "$PROMETHEUS" "$VICTORIA_METRICS" curl "$PYTHON3"
e2e_init protocol

VERSION=$("$JOULEPUSH" --version | awk '{print $2; exit}')
FALLBACK_RE='falling back to 1\.0'

# remote_entry NAME URL [EXTRA_YAML]: one remote with a quick batch deadline.
remote_entry() {
  cat <<EOF
  - name: $1
    url: $2
    timeout: 5s
${3:-}
    queue:
      dir: $SC/queue
      batch_send_deadline: 100ms
      min_backoff: 100ms
      max_backoff: 1s
EOF
}

new_case() {
  SC=$E2E_TMP/$1
  mkdir -p "$SC"
  e2e_log "== $1"
}

pending_zero() {
  local v
  curl -fsS --max-time 2 "$AGENT_URL/metrics" -o "$SC/pending.prom" || return 1
  v=$(metric "$SC/pending.prom" 'joulepush_remote_pending_samples' --sum) || return 1
  [ "$(printf '%.0f' "$v")" = 0 ]
}

# run_agent NODE REMOTES_YAML SECONDS: a synthetic agent (node_name NODE, so that each
# case has its own series on a shared server) for about SECONDS, started and stopped in
# the middle of an interval, with a background scraper; RUN_START/RUN_STOP in ms.
run_agent() {
  AGENT_PORT=$(free_port) agent_config "$SC/agent.yaml" "$2"
  sed -i "s/^node_name: .*/node_name: $1/" "$SC/agent.yaml"
  "$JOULEPUSH" --config "$SC/agent.yaml" --check-config >"$SC/check.out" 2>&1 \
    || fail "the test's config is rejected: $(cat "$SC/check.out")"
  : >"$E2E_TMP/agent.log"
  sleep_to_mid_interval
  agent_start "$SC/agent.yaml"
  RUN_START=$AGENT_START_MS
  scrape_loop_start "$SC/scrapes.jsonl"
  sleep "$3"
  wait_for 20 "pending samples to drain" pending_zero
  sleep_to_mid_interval
  scrape "$SC/final.prom"
  agent_term
  RUN_STOP=$AGENT_STOP_MS
  scrape_loop_stop
  cp "$E2E_TMP/agent.log" "$SC/agent.log"
}

# selector NODE: the checked families of one node.
selector() { printf '%s' "${CHECK_SELECTOR%\}},node=\"$1\"}"; }

# check_server NAME SAMPLES_JSON [VERIFY_ARGS...]: exactly one sample per interval for
# every checked series, with the values the agent showed.
check_server() {
  local what=$1 samples=$2
  shift 2
  e2e_py verify --samples "$samples" --rounds "$SC/rounds.log" --names "$CHECK_NAMES" "$@" \
    || fail "$what does not hold exactly what the agent collected"
}

counter() {
  local v
  v=$(metric "$SC/final.prom" "joulepush_remote_samples_total{outcome=\"$2\",remote=\"$1\"}" --sum 2>/dev/null) || v=0
  printf '%.0f\n' "$v"
}

prom_start
vm_start

# --- (1) "2.0" against Prometheus 2.42, which speaks only 1.0 ----------------------------
# A failure here is reported at the end, so that the other cases still run.
FAILED=()
case_prom_v2() {
  new_case prom_v2
  run_agent proto-v2-prom "$(remote_entry prom "$PROM_URL/api/v1/write" '    protocol: "2.0"')" 4
  prom_fetch "$(selector proto-v2-prom)" "$SC/prom.json" || fail "cannot query Prometheus"
  local n_fallback n_prom sent
  n_fallback=$(grep -cE "$FALLBACK_RE" "$SC/agent.log")
  n_prom=$("$PYTHON3" -c 'import json,sys; print(sum(len(v) for v in json.load(open(sys.argv[1])).values()))' "$SC/prom.json")
  sent=$(counter prom sent)
  e2e_log "prom_v2: fallback logged $n_fallback times; the agent counted $sent samples as sent; Prometheus holds $n_prom checked samples"
  if [ "$n_prom" -eq 0 ] && [ "$sent" -gt 0 ]; then
    CASE_MSG="prom_v2: Prometheus 2.42 answered the 2.0 requests with 2xx (it does not look at the Content-Type and reads an empty 1.0 WriteRequest), the agent counted $sent samples as sent and never fell back: every sample is lost"
    return 1
  fi
  if [ "$n_fallback" -ne 1 ]; then
    CASE_MSG="prom_v2: the fallback to 1.0 was logged $n_fallback times (want once)"
    return 1
  fi
  check_server "prom_v2: Prometheus" "$SC/prom.json"
  [ "$(counter prom dropped)" -eq 0 ] || { CASE_MSG="prom_v2: samples dropped"; return 1; }
  e2e_log "prom_v2: ok"
}
if ! case_prom_v2; then
  printf 'FAIL: %s\n' "$CASE_MSG" >&2
  FAILED+=("$CASE_MSG")
fi

# --- (1b) "2.0" against a receiver that answers 415 ---------------------------------------
new_case mock_415
MOCK_LOG=$SC/mock.jsonl
MOCK_PORT=0
mock_start 200 --v2 reject
run_agent proto-v2-415 "$(remote_entry mock "$MOCK_URL/api/v1/write" '    protocol: "2.0"')" 4
mock_stop
n_fallback=$(grep -cE "$FALLBACK_RE" "$SC/agent.log")
[ "$n_fallback" -eq 1 ] || fail "mock_415: the fallback to 1.0 was logged $n_fallback times (want once)"
"$PYTHON3" - "$MOCK_LOG" <<'EOF' || fail "mock_415: the requests are not one 2.0 request answered 415, then only 1.0"
import json, sys
recs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["seq"])
kinds = [(r["headers"].get("Content-Type"), r["headers"].get("X-Prometheus-Remote-Write-Version"), r["status"]) for r in recs]
v2 = ("application/x-protobuf;proto=io.prometheus.write.v2.Request", "2.0.0", 415)
v1 = [k for k in kinds[1:] if k != ("application/x-protobuf", "0.1.0", 200)]
if not kinds or kinds[0] != v2 or v1 or len(kinds) < 3:
    print("FAIL: requests (content type, version, status): %s" % kinds[:6])
    sys.exit(1)
EOF
e2e_py mock-log "$MOCK_LOG" --check-unique --samples-out "$SC/accepted.json" \
  || fail "mock_415: a sample was accepted twice or out of order"
check_server "mock_415: the receiver" "$SC/accepted.json"
e2e_log "mock_415: ok"

# --- (2) "2.0" against a receiver that speaks 2.0 -------------------------------------------
new_case mock_v2
MOCK_LOG=$SC/mock.jsonl
MOCK_PORT=0
mock_start 200 --v2 accept
run_agent proto-v2-mock "$(remote_entry mock "$MOCK_URL/api/v1/write" '    protocol: "2.0"')" 4
mock_stop
grep -qE "$FALLBACK_RE" "$SC/agent.log" && fail "mock_v2: the agent fell back to 1.0 against a 2.0 receiver"
"$PYTHON3" - "$MOCK_LOG" "$VERSION" <<'EOF' || fail "mock_v2: the 2.0 requests break docs/reference/remote-write.md"
import json, sys
log, version = sys.argv[1], sys.argv[2]
want_headers = {
    "content-encoding": "snappy",
    "content-type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
    "x-prometheus-remote-write-version": "2.0.0",
    "user-agent": "joulepush/" + version,
}
errors, n_req, n_series, dup_symbols = [], 0, 0, 0
for line in open(log):
    r = json.loads(line)
    if r.get("method") != "POST":
        continue
    n_req += 1
    seq = r["seq"]
    h = {k.lower(): v for k, v in r["headers"].items()}
    for k, v in want_headers.items():
        if h.get(k) != v:
            errors.append("request %d: %s is %r, want %r" % (seq, k, h.get(k), v))
    if r.get("proto") != "2.0":
        errors.append("request %d: not decoded as 2.0" % seq)
        continue
    if "decode_error" in r:
        errors.append("request %d: %s" % (seq, r["decode_error"]))
        continue
    if r["symbol0"] != "":
        errors.append("request %d: symbols[0] is %r, want \"\"" % (seq, r["symbol0"]))
    for pairs, meta in zip(r["v2_labels"], r["v2_meta"]):
        n_series += 1
        name = dict(pairs).get("__name__", "")
        # Metadata on every series: counters for _total, gauges otherwise; our own metrics
        # carry their help, and a unit that is the end of their name (docs/reference/metrics.md).
        want_type = 1 if name.endswith("_total") else 2
        if meta["type"] != want_type:
            errors.append("request %d: %s has type %r, want %d" % (seq, name, meta["type"], want_type))
        if name.startswith("joulepush_") and not meta["help"]:
            errors.append("request %d: %s has no help" % (seq, name))
        # Counters say when they began counting: on every sample (Sample.start_timestamp,
        # 2.0-rc.4) and, for older receivers, on the series (created_timestamp); the two
        # agree. Gauges say neither.
        if want_type == 1 and not (meta["created"] or 0) > 0:
            errors.append("request %d: counter %s has no created_timestamp" % (seq, name))
        if want_type == 1 and set(meta["starts"]) != {meta["created"]}:
            errors.append("request %d: counter %s has start_timestamps %s, created %s"
                          % (seq, name, sorted(meta["starts"]), meta["created"]))
        if want_type == 2 and (meta["created"] or set(meta["starts"]) - {0}):
            errors.append("request %d: gauge %s has a created or start timestamp" % (seq, name))
        base = name[:-len("_total")] if name.endswith("_total") else name
        if meta["unit"] and not base.endswith("_" + meta["unit"]):
            errors.append("request %d: %s has unit %r" % (seq, name, meta["unit"]))
        for suffix in ("joules", "watts", "grams", "seconds", "bytes", "ratio", "grams_per_kwh"):
            if name.startswith("joulepush_") and base.endswith("_" + suffix) and not meta["unit"]:
                errors.append("request %d: %s has no unit" % (seq, name))
                break
        names = [p[0] for p in pairs]
        if names != sorted(names, key=lambda s: s.encode()):
            errors.append("request %d: labels not sorted by name: %s" % (seq, names))
        if len(set(names)) != len(names):
            errors.append("request %d: repeated label names: %s" % (seq, names))
        if any(not n or not v for n, v in pairs):
            errors.append("request %d: empty label name or value: %s" % (seq, pairs))
        if "__name__" not in names:
            errors.append("request %d: no __name__: %s" % (seq, pairs))
for e in errors[:10]:
    print("FAIL: " + e)
if not n_req:
    print("FAIL: no request")
    sys.exit(1)
print("%d requests, %d series checked" % (n_req, n_series))
sys.exit(1 if errors else 0)
EOF
e2e_py mock-log "$MOCK_LOG" --check-unique --samples-out "$SC/accepted.json" \
  || fail "mock_v2: a sample was accepted twice or out of order"
check_server "mock_v2: the 2.0 receiver" "$SC/accepted.json"
e2e_log "mock_v2: ok"

# --- (3) two remotes, Prometheus and VictoriaMetrics, each get every sample -----------------
new_case two_remotes
run_agent proto-two "$(remote_entry prom "$PROM_URL/api/v1/write")
$(remote_entry vm "$VM_URL/api/v1/write")" 5
prom_fetch "$(selector proto-two)" "$SC/prom.json" || fail "cannot query Prometheus"
vm_fetch "$(selector proto-two)" "$SC/vm.json" || fail "cannot query VictoriaMetrics"
check_server "two_remotes: Prometheus" "$SC/prom.json"
# VictoriaMetrics keeps about 12 significant digits (as in test_victoriametrics.sh).
check_server "two_remotes: VictoriaMetrics" "$SC/vm.json" --rel 1e-12
for r in prom vm; do
  [ "$(counter $r sent)" -gt 0 ] || fail "two_remotes: nothing counted as sent to $r"
  [ "$(counter $r dropped)" -eq 0 ] || fail "two_remotes: samples dropped for $r"
done
[ "$(counter prom sent)" -eq "$(counter vm sent)" ] \
  || fail "two_remotes: sent to prom $(counter prom sent), to vm $(counter vm sent)"
e2e_log "two_remotes: ok"
[ "${#FAILED[@]}" -eq 0 ] || fail "${FAILED[*]}"
e2e_log "PASS"
