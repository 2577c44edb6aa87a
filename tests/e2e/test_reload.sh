#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGHUP on the real binary, as docs/reference/configuration.md describes it: a reload that turns on
# metrics.compat kepler writes the Kepler series at the next round; one that changes
# node_name and external_labels starts the series under the new labels and ends every
# old one with a stale marker, which the receiver gets; counters continue across it.
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3"
e2e_init reload

mock_start 200
AGENT_PODS=4
cfg=$E2E_TMP/agent.yaml
agent_config "$cfg" "$(remote_yaml mock "$MOCK_URL/api/v1/write")"
agent_start "$cfg"
sleep 2.5
scrape "$E2E_TMP/before.prom"
grep -q '^kepler_' "$E2E_TMP/before.prom" && fail "Kepler series before metrics.compat was set"
grep -q 'cluster="e2e"' "$E2E_TMP/before.prom" || fail "no series with cluster=\"e2e\" before the reload"
before_j=$(metric "$E2E_TMP/before.prom" 'joulepush_node_energy_joules_total' --sum)

# The new file: Kepler names, another node name and cluster label.
sed -i 's/^node_name: e2e-node$/node_name: e2e-node-2/; s/^external_labels: {cluster: e2e}$/external_labels: {cluster: e2e-b}/' "$cfg"
printf 'metrics:\n  compat: kepler\n' >>"$cfg"
"$JOULEPUSH" --config "$cfg" --check-config >/dev/null || fail "the changed config does not pass --check-config"
kill -HUP "$AGENT_PID"
wait_for 10 "the reload in the log" grep -q 'config reloaded from' "$E2E_TMP/agent.log"
grep 'config reloaded from' "$E2E_TMP/agent.log" | tail -n 1 | grep -q 'metrics.compat (live)' \
  || fail "the reload log line does not name metrics.compat: $(grep 'config reloaded' "$E2E_TMP/agent.log" | tail -n 1)"

# Two rounds later: Kepler series, the new labels only.
sleep 2.5
scrape "$E2E_TMP/after.prom"
nk=$(grep -c '^kepler_' "$E2E_TMP/after.prom")
[ "$nk" -gt 0 ] || fail "no kepler_ series after the reload that set metrics.compat: kepler"
grep -q 'cluster="e2e"' "$E2E_TMP/after.prom" && fail "series with the old cluster label are still exposed"
grep -q 'node="e2e-node"' "$E2E_TMP/after.prom" && fail "series with the old node name are still exposed"
grep -q 'node="e2e-node-2"' "$E2E_TMP/after.prom" || fail "no series with the new node name"
after_j=$(metric "$E2E_TMP/after.prom" 'joulepush_node_energy_joules_total' --sum)
"$PYTHON3" -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if b > a else 1)" \
  "$before_j" "$after_j" || fail "node energy went from $before_j to $after_j J across the reload (counters must continue)"

sleep 1.5
agent_term
mock_stop

# What the receiver got: stale markers for the old label sets, samples for the new ones.
"$PYTHON3" - "$MOCK_LOG" <<'PY' || fail "the receiver's view of the reload is wrong"
import json, sys
stale_old = live_new = live_old_after = 0
first_new = None
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
samples = [s for r in recs if r.get("status") == 200 for s in r.get("samples", [])]
for key, ts, v, stale in samples:
    if 'cluster="e2e-b"' in key and not stale:
        live_new += 1
        first_new = ts if first_new is None else min(first_new, ts)
for key, ts, v, stale in samples:
    if 'cluster="e2e"' in key:
        if stale:
            stale_old += 1
        elif first_new is not None and ts >= first_new:
            live_old_after += 1
print(f"stale markers for old label sets: {stale_old}; samples with the new labels: {live_new}; "
      f"old-label samples after the reload: {live_old_after}")
ok = stale_old > 0 and live_new > 0 and live_old_after == 0
# Every old series ended: as many stale markers as series carried the old labels in one round.
old_series = {k for k, ts, v, st in samples if 'cluster="e2e"' in k and not st}
stale_series = {k for k, ts, v, st in samples if 'cluster="e2e"' in k and st}
missing = old_series - stale_series
if missing:
    print("old series without a stale marker:", sorted(missing)[:5])
    ok = False
sys.exit(0 if ok else 1)
PY
e2e_log "reload: $nk Kepler series after SIGHUP; old label sets ended with stale markers"
