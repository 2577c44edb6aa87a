#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end into a real Prometheus (remote-write receiver): run the agent in synthetic
# mode for a few intervals, SIGTERM it, then check that Prometheus holds exactly one
# sample per interval for every checked series, with the values the agent showed.
source "$(dirname "$0")/lib.sh"
require_cmd "$PROMETHEUS" curl "$PYTHON3"
e2e_init prometheus

RUN_SECONDS=${RUN_SECONDS:-8}

prom_start
agent_config "$E2E_TMP/agent.yaml" "$(remote_yaml prom "$PROM_URL/api/v1/write")"
"$JOULEPUSH" --config "$E2E_TMP/agent.yaml" --check-config >/dev/null || fail "the test's config is rejected"

# Start and stop in the middle of an interval so which rounds ran is unambiguous.
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

sent=$(metric "$E2E_TMP/final.prom" 'joulepush_remote_samples_total{outcome="sent",remote="prom"}' --sum) \
  || fail "no joulepush_remote_samples_total{outcome=\"sent\"} on /metrics"
e2e_log "agent had sent $sent samples before SIGTERM"

prom_fetch "$CHECK_SELECTOR" "$E2E_TMP/samples.json" || fail "cannot query Prometheus"
e2e_py verify --samples "$E2E_TMP/samples.json" --rounds "$ROUND_LOG" --names "$CHECK_NAMES" \
  || fail "Prometheus does not hold what the agent collected"

# The agent flushed on SIGTERM: nothing is left pending on disk.
grep -qiE 'error|fatal' "$E2E_TMP/prometheus.log" && e2e_log "prometheus logged errors (see prometheus.log)"
e2e_log "PASS"
