#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end into a real VictoriaMetrics: run the agent in synthetic mode for a few
# intervals, SIGTERM it, then export the raw samples (VictoriaMetrics keeps duplicates,
# so a sample sent twice shows) and check one sample per interval per series, with
# the values the agent showed on its /metrics.
source "$(dirname "$0")/lib.sh"
require_cmd "$VICTORIA_METRICS" curl "$PYTHON3"
e2e_init victoriametrics

RUN_SECONDS=${RUN_SECONDS:-8}

vm_start
agent_config "$E2E_TMP/agent.yaml" "$(remote_yaml vm "$VM_URL/api/v1/write")"

sleep_to_mid_interval
agent_start "$E2E_TMP/agent.yaml"
start_ms=$AGENT_START_MS
scrape_loop_start "$E2E_TMP/scrapes.jsonl"
sleep $((RUN_SECONDS - 1))
sleep_to_mid_interval
scrape "$E2E_TMP/final.prom"
agent_term
stop_ms=$AGENT_STOP_MS
scrape_loop_stop

# VictoriaMetrics stores floats as decimals (up to 15-16 significant digits), so
# values are compared with a relative tolerance of 1e-12.
vm_fetch "$CHECK_SELECTOR" "$E2E_TMP/samples.json" || fail "cannot export from VictoriaMetrics"
e2e_py verify --samples "$E2E_TMP/samples.json" --rounds "$ROUND_LOG" --names "$CHECK_NAMES" --rel 1e-12 \
  || fail "VictoriaMetrics does not hold what the agent collected"

# The same data through the query API: count_over_time of one node counter. Freshly
# ingested rows become searchable within about a second, so ask again briefly.
q='count_over_time(joulepush_node_energy_joules_total{zone="package",mode="active"}[5m])'
want=$(grep -c '^# round ' "$ROUND_LOG")
for _ in $(seq 1 10); do
  curl -fsS --max-time 10 "$VM_URL/internal/force_flush" >/dev/null 2>&1 || true
  n=$(curl -fsS --max-time 10 "$VM_URL/api/v1/query" --data-urlencode "query=$q" \
        --data-urlencode "time=$(( (stop_ms + 1000) / 1000 ))" \
    | "$PYTHON3" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)')
  [ "${n%.*}" = "${want%.*}" ] && break
  sleep 0.5
done
[ "${n%.*}" = "${want%.*}" ] || fail "count_over_time says $n samples, the agent ran $want rounds"
e2e_log "PASS"
