#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent against a misbehaving receiver (mock_receiver.py), docs/reference/remote-write.md:
# 5xx and dropped connections are retried and nothing is lost, 429 with Retry-After
# delays the next request, 3xx/401/403/404 keep the data queued and are retried, 400
# drops the batch (counted and logged), a receiver that never answers times out and is
# retried, and SIGTERM followed by SIGHUP still ends in an exit.
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3"
e2e_init faults

# counter FILE OUTCOME: joulepush_remote_samples_total for the remote "mock".
counter() {
  local v
  v=$(metric "$1" "joulepush_remote_samples_total{outcome=\"$2\",remote=\"mock\"}" --sum 2>/dev/null) || v=0
  printf '%.0f\n' "$v"
}

# requests: how many POSTs the mock has seen.
acked() { grep -cE '"status": 2[0-9][0-9]' "$MOCK_LOG" 2>/dev/null || true; }

# run_scenario NAME SCENARIO MIN_ACKED: a fresh mock, queue and agent; run until the
# mock has acknowledged MIN_ACKED requests (and at least 4 s), scrape, SIGTERM.
run_scenario() {
  local name=$1 scenario=$2 min_acked=$3 deadline
  e2e_log "== scenario $name: $scenario"
  SC=$E2E_TMP/$name
  mkdir -p "$SC"
  MOCK_LOG=$SC/mock.jsonl
  MOCK_PORT=0
  mock_start "$scenario"
  QUEUE_DIR=$SC/queue AGENT_PORT=$(free_port) agent_config "$SC/agent.yaml" \
    "$(QUEUE_DIR=$SC/queue remote_yaml mock "$MOCK_URL/api/v1/write")"
  : >"$E2E_TMP/agent.log"
  sleep_to_mid_interval
  agent_start "$SC/agent.yaml"
  SC_START=$AGENT_START_MS
  sleep 4
  deadline=$(($(now_ms) + 20000))
  while [ "$(acked)" -lt "$min_acked" ]; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$name: the mock acknowledged only $(acked) requests in 24 s"
    agent_alive || fail "$name: the agent died"
    sleep 0.2
  done
  # Let the retried data drain, then stop between two rounds.
  wait_for 15 "$name: pending samples to drain" pending_zero
  sleep_to_mid_interval
  scrape "$SC/final.prom"
  agent_term
  SC_STOP=$AGENT_STOP_MS
  cp "$E2E_TMP/agent.log" "$SC/agent.log"
  mock_stop
}

pending_zero() {
  local f=$E2E_TMP/pending.prom v
  curl -fsS --max-time 2 "$AGENT_URL/metrics" -o "$f" || return 1
  v=$(metric "$f" 'joulepush_remote_pending_samples{remote="mock"}' --sum) || return 1
  [ "$(printf '%.0f' "$v")" = 0 ]
}

# nothing_lost: every round's samples were accepted exactly once by the mock.
nothing_lost() {
  e2e_py mock-log "$SC/mock.jsonl" --check-unique --samples-out "$SC/accepted.json" \
    || fail "$name: the mock accepted a sample twice or out of order"
  e2e_py verify --samples "$SC/accepted.json" --rounds "$SC/rounds.log" --names "$CHECK_NAMES" \
    || fail "$1: samples were lost or duplicated"
}

# --- 5xx and a dropped connection, then success: retried, nothing lost ---------------
run_scenario retry "500,500,close,503,200" 2
n=$(counter "$SC/final.prom" retried)
[ "$n" -gt 0 ] || fail "retry: joulepush_remote_samples_total{outcome=\"retried\"} is $n after 500/close/503"
d=$(counter "$SC/final.prom" dropped)
[ "$d" -eq 0 ] || fail "retry: $d samples dropped on retryable errors"
# What the failed requests carried is what the agent counts as retried.
failed=$("$PYTHON3" -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("status") is None or r["status"] >= 500:
        n += len(r.get("samples", []))
print(n)' "$SC/mock.jsonl")
[ "$n" -eq "$failed" ] || e2e_log "note: retried=$n, samples in failed requests=$failed"
nothing_lost retry
e2e_log "retry: ok (retried $n samples)"

# --- 429 with Retry-After: the next request waits at least that long ------------------
run_scenario retry_after "429:retry-after=2,200" 2
gap=$("$PYTHON3" -c '
import json, sys
recs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["seq"])
i = next(i for i, r in enumerate(recs) if r["status"] == 429)
print("%.3f" % (recs[i + 1]["t"] - recs[i]["t"]))' "$SC/mock.jsonl") || fail "retry_after: no request after the 429"
"$PYTHON3" -c "import sys; sys.exit(0 if $gap >= 1.95 else 1)" \
  || fail "retry_after: the next request came ${gap}s after a 429 with Retry-After: 2"
n=$(counter "$SC/final.prom" retried)
[ "$n" -gt 0 ] || fail "retry_after: outcome=\"retried\" is $n after a 429"
nothing_lost retry_after
e2e_log "retry_after: ok (next request after ${gap}s)"

# --- 400: the batch is dropped, counted and logged; later batches go through ----------
run_scenario drop "400,200" 2
d=$(counter "$SC/final.prom" dropped)
first=$("$PYTHON3" -c '
import json, sys
recs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["seq"])
print(len(recs[0].get("samples", [])))' "$SC/mock.jsonl")
[ "$d" -gt 0 ] || fail "drop: outcome=\"dropped\" is $d after a 400"
[ "$d" -eq "$first" ] || fail "drop: $d samples counted as dropped, the rejected request held $first"
grep -q '400' "$SC/agent.log" || fail "drop: the agent did not log the 400 status"
grep -q 'mock receiver rejects' "$SC/agent.log" || fail "drop: the agent did not log the response body"
# The rejected request is never sent again.
n400=$(grep -c '"status": 400' "$SC/mock.jsonl")
[ "$n400" -eq 1 ] || fail "drop: the mock answered 400 to $n400 requests"
e2e_py mock-log "$SC/mock.jsonl" --check-unique >/dev/null || fail "drop: a sample was accepted twice"
e2e_log "drop: ok ($d samples dropped)"

# --- a receiver that never answers: timeout, then retried -----------------------------
REMOTE_TIMEOUT=2s run_scenario hang "hang,200" 2
gap=$("$PYTHON3" -c '
import json, sys
recs = sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda r: r["seq"])
print("%.3f" % (recs[1]["t"] - recs[0]["t"]))' "$SC/mock.jsonl")
"$PYTHON3" -c "import sys; sys.exit(0 if 1.9 <= $gap <= 10 else 1)" \
  || fail "hang: the retry came ${gap}s after the hung request (timeout 2s)"
n=$(counter "$SC/final.prom" retried)
[ "$n" -gt 0 ] || fail "hang: outcome=\"retried\" is $n after a timeout"
nothing_lost hang
e2e_log "hang: ok (retried after ${gap}s)"

# --- redirects and authentication answers: configuration problems, nothing dropped ----
run_scenario config "302,401,403,404,407,200" 2
d=$(counter "$SC/final.prom" dropped)
[ "$d" -eq 0 ] || fail "config: $d samples dropped after 302/401/403/404/407 (they must stay queued)"
grep -q 'HTTP 401 (authentication or authorisation)' "$SC/agent.log" \
  || fail "config: the agent did not log the 401 as a configuration problem"
nothing_lost config
e2e_log "config: ok (0 dropped)"

# --- SIGTERM, then SIGHUP during the flush: the agent still exits ----------------------
e2e_log "== scenario stop_hup: a receiver that never answers, SIGTERM, SIGHUP"
SC=$E2E_TMP/stop_hup
mkdir -p "$SC"
MOCK_LOG=$SC/mock.jsonl
MOCK_PORT=0
mock_start hang
QUEUE_DIR=$SC/queue AGENT_PORT=$(free_port) agent_config "$SC/agent.yaml" \
  "$(QUEUE_DIR=$SC/queue REMOTE_TIMEOUT=60s remote_yaml mock "$MOCK_URL/api/v1/write")"
: >"$E2E_TMP/agent.log"
agent_start "$SC/agent.yaml"
wait_for 15 "a request to the hanging receiver" test -s "$SC/mock.jsonl"
kill -TERM "$AGENT_PID"
sleep 0.3
# A changed remote: a reload would replace the sender that is being flushed.
QUEUE_DIR=$SC/queue AGENT_PORT=${AGENT_URL##*:} agent_config "$SC/agent.yaml" \
  "$(QUEUE_DIR=$SC/queue REMOTE_TIMEOUT=59s remote_yaml mock "$MOCK_URL/api/v1/write")"
kill -HUP "$AGENT_PID" 2>/dev/null || true
# The flush window is 10 s; a generous bound, so that a busy machine cannot fail it.
agent_wait_exit 60 "(stop_hup: after SIGTERM and SIGHUP)"
rc=$AGENT_RC
e2e_untrack "$AGENT_PID"
AGENT_PID=
[ "$rc" -eq 0 ] || fail "stop_hup: exit status $rc (want 0)"
grep -qE 'SIGHUP ignored: stopping|reload ignored' "$E2E_TMP/agent.log" \
  || fail "stop_hup: the ignored reload was not logged"
mock_stop
e2e_log "stop_hup: ok"
e2e_log "PASS"
