#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Outage (docs/reference/remote-write.md): the receivers go away for more than 60 s; meanwhile the agent is
# SIGKILLed and restarted on the same queue. After the receivers return, every
# interval's sample of every checked series must be there exactly once, with gaps only
# where the agent was dead. Receivers: a real Prometheus, plus mock_receiver.py, whose
# log shows every accepted sample and so catches anything sent twice (Prometheus
# silently drops an identical duplicate).
source "$(dirname "$0")/lib.sh"
require_cmd "$PROMETHEUS" curl "$PYTHON3"
e2e_init outage

OUTAGE_SECONDS=${OUTAGE_SECONDS:-62}

prom_start
MOCK_LOG=$E2E_TMP/mock.jsonl
mock_start 200
QUEUE_DIR=$E2E_TMP/queue
remotes="$(remote_yaml prom "$PROM_URL/api/v1/write")
$(remote_yaml mock "$MOCK_URL/api/v1/write")"
agent_config "$E2E_TMP/agent.yaml" "$remotes"

pending_zero() {
  local f=$E2E_TMP/pending.prom v
  curl -fsS --max-time 2 "$AGENT_URL/metrics" -o "$f" || return 1
  v=$(metric "$f" 'joulepush_remote_pending_samples{}' --sum) || return 1
  [ "$(printf '%.0f' "$v")" = 0 ]
}

# Run 1: normal delivery.
sleep_to_mid_interval
agent_start "$E2E_TMP/agent.yaml"
run1_start=$AGENT_START_MS
sleep 4
wait_for 10 "first samples delivered" pending_zero

# The receivers go away.
sleep_to_mid_interval
down_ms=$(now_ms)
prom_stop
mock_stop
e2e_log "receivers down"

# While they are down, the agent is killed and restarted on the same queue.
sleep 14
sleep_to_mid_interval
agent_kill9
run1_stop=$AGENT_STOP_MS
sleep 4
sleep_to_mid_interval
agent_start "$E2E_TMP/agent.yaml"
run2_start=$AGENT_START_MS
queued=$(curl -fsS "$AGENT_URL/metrics" | grep -E '^joulepush_remote_pending_samples\{' | head -2 | tr '\n' ' ')
e2e_log "restarted agent reports: $queued"

# The receivers come back after the outage, on the same addresses and storage.
left=$((down_ms + OUTAGE_SECONDS * 1000 - $(now_ms)))
[ "$left" -gt 0 ] && sleep "$(awk "BEGIN{print $left/1000}")"
prom_start "$PROM_DATA"
mock_start 200
e2e_log "receivers back after $((($(now_ms) - down_ms) / 1000)) s"
agent_alive || fail "the agent died during the outage"
wait_for 60 "the queue to drain after the outage" pending_zero
e2e_log "queue drained $((($(now_ms) - down_ms) / 1000)) s after the outage began"

sleep 2
sleep_to_mid_interval
scrape "$E2E_TMP/final.prom"
agent_term
run2_stop=$AGENT_STOP_MS

runs="$run1_start:$run1_stop,$run2_start:$run2_stop"
e2e_log "agent runs: $runs"
prom_fetch "$CHECK_SELECTOR" "$E2E_TMP/prom.json" || fail "cannot query Prometheus"
e2e_py verify --samples "$E2E_TMP/prom.json" --rounds "$ROUND_LOG" --names "$CHECK_NAMES" \
  --killed || fail "Prometheus: samples lost or misplaced across the outage"
e2e_py mock-log "$MOCK_LOG" --check-unique --samples-out "$E2E_TMP/mock.json" \
  || fail "the mock receiver accepted samples twice or out of order"
e2e_py verify --samples "$E2E_TMP/mock.json" --rounds "$ROUND_LOG" --names "$CHECK_NAMES" \
  --killed || fail "mock receiver: samples lost or duplicated across the outage"
e2e_log "PASS"
