#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Soak: the agent against a receiver that cycles through 500, 429, 401, a request that
# never gets an answer and 2xx, SIGKILLed at random moments and restarted, then a long
# outage that takes the queue over max_disk_bytes once. At the end every sample of every
# series is at the receiver exactly once, except in the rounds when the agent was dead
# and the rounds the disk bound dropped; the samples missing in the middle of runs are all
# counted by the agent as joulepush_remote_samples_total{reason="disk_limit"}, and that
# count is no more than all that is missing, edges of runs included
# (docs/reference/remote-write.md).
#
# SOAK_SECONDS (default 150) sets the length; CI runs the default, longer runs are for
# people: SOAK_SECONDS=1800 bash tests/e2e/test_soak.sh.
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3"
e2e_init soak

T=${SOAK_SECONDS:-150}
[ "$T" -ge 150 ] || fail "SOAK_SECONDS must be at least 150"
KILL_END=$((T * 30 / 100))      # kills happen before this
OUTAGE_START=$((T * 33 / 100))
OUTAGE_LEN=75                   # long enough to take the queue over its disk bound
seed=${SOAK_SEED:-$$}
RANDOM=$seed
e2e_log "soak: ${T}s, kills until ${KILL_END}s, outage ${OUTAGE_START}s..$((OUTAGE_START + OUTAGE_LEN))s, SOAK_SEED=$seed"

MOCK_LOG=$E2E_TMP/mock.jsonl
MOCK_PORT=$(free_port)
mock_start "500,429:retry-after=1,401,hang,200,200,200,200,200,200" --cycle
AGENT_PORT=$(free_port)
# 20 pods of 2 containers: about 200 series, 30 KB of series definitions per segment and
# 2.4 KB a round, so a 64 KiB segment holds about 14 rounds and 256 KiB of disk about 56:
# room for the segments that restarts leave behind while the receiver misbehaves, less than
# the outage's backlog. Batches take everything pending, so that acks (and with them the
# disk bound's drops) fall on round boundaries.
AGENT_PODS=20 REMOTE_TIMEOUT=2s agent_config "$E2E_TMP/agent.yaml" "$(remote_yaml mock "$MOCK_URL/api/v1/write")"
sed -i 's/^      min_backoff: 100ms/      max_disk_bytes: 256KiB\n      max_samples_per_send: 100000\n      min_backoff: 100ms/' "$E2E_TMP/agent.yaml"
grep -q 'max_disk_bytes: 256KiB' "$E2E_TMP/agent.yaml" || fail "could not set max_disk_bytes"

t0=$(now_ms)
elapsed() { echo $(( ($(now_ms) - t0) / 1000 )); }
runs=()
agent_start "$E2E_TMP/agent.yaml"
run_start=$AGENT_START_MS

# --- random SIGKILLs while the receiver misbehaves ------------------------------------
kills=0
while [ "$(elapsed)" -lt "$KILL_END" ]; do
  sleep "$((3 + RANDOM % 6)).$((RANDOM % 10))"
  [ "$(elapsed)" -lt "$KILL_END" ] || break
  agent_alive || fail "the agent died on its own"
  kill -KILL "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null
  e2e_untrack "$AGENT_PID"
  runs+=("$run_start:$(now_ms)")
  kills=$((kills + 1))
  sleep "$((RANDOM % 3)).$((RANDOM % 10))"
  agent_start "$E2E_TMP/agent.yaml"
  run_start=$AGENT_START_MS
done
e2e_log "$kills SIGKILLs"
[ "$kills" -ge 2 ] || fail "only $kills kills happened"

# --- a long outage: the queue goes over max_disk_bytes -----------------------------------
while [ "$(elapsed)" -lt "$OUTAGE_START" ]; do sleep 0.5; done
cp "$E2E_TMP/agent.log" "$E2E_TMP/agent.log.before"
mock_stop
e2e_log "receiver down for ${OUTAGE_LEN}s"
sleep "$OUTAGE_LEN"
agent_alive || fail "the agent died during the outage"
grep -q 'over max_disk_bytes' "$E2E_TMP/agent.log" || fail "the outage did not reach max_disk_bytes"
before_outage=$(grep -c 'over max_disk_bytes' "$E2E_TMP/agent.log.before" 2>/dev/null || true)
[ "$before_outage" -eq 0 ] || fail "the disk bound dropped data before the outage ($before_outage times): the soak's sizes are off"
MOCK_LOG=$E2E_TMP/mock.jsonl
mock_start "200"

pending_zero() {
  local f=$E2E_TMP/pending.prom v
  curl -fsS --max-time 2 "$AGENT_URL/metrics" -o "$f" || return 1
  v=$(metric "$f" 'joulepush_remote_pending_samples{remote="mock"}' --sum) || return 1
  [ "$(printf '%.0f' "$v")" = 0 ]
}
while [ "$(elapsed)" -lt "$T" ]; do sleep 0.5; done
wait_for 60 "the queue to drain" pending_zero
sleep_to_mid_interval
scrape "$E2E_TMP/final.prom"
agent_term
runs+=("$run_start:$AGENT_STOP_MS")
mock_stop
printf '%s\n' "${runs[@]}" >"$E2E_TMP/runs.txt"

# --- what arrived ---------------------------------------------------------------------------
# The check lets the last 2xx batch before a kill come once more (the agent was killed
# before it read the answer) and nothing else: first on a made-up log, to show it can fail.
printf '%s\n' '{"t": 1.0, "seq": 1, "status": 200, "samples": [["a", 1000, 1, false]]}' \
  '{"t": 2.0, "seq": 2, "status": 200, "samples": [["a", 2000, 2, false]]}' \
  '{"t": 3.0, "seq": 3, "status": 200, "samples": [["a", 2000, 2, false]]}' >"$E2E_TMP/resent.jsonl"
{ head -2 "$E2E_TMP/resent.jsonl"
  echo '{"t": 3.0, "seq": 3, "status": 200, "samples": [["a", 1000, 1, false]]}'; } >"$E2E_TMP/twice.jsonl"
printf '0:2500\n2600:4000\n' >"$E2E_TMP/fake-runs.txt"
e2e_py mock-log "$E2E_TMP/resent.jsonl" --check-unique --kills "$E2E_TMP/fake-runs.txt" >/dev/null ||
  fail "the batch resent after a kill was not let through"
e2e_py mock-log "$E2E_TMP/twice.jsonl" --check-unique --kills "$E2E_TMP/fake-runs.txt" >/dev/null 2>&1 &&
  fail "an older batch accepted twice was let through"
e2e_py mock-log "$MOCK_LOG" --check-unique --kills "$E2E_TMP/runs.txt" --samples-out "$E2E_TMP/accepted.json" \
  || fail "a sample was accepted twice or out of order"
dropped=$(metric "$E2E_TMP/final.prom" 'joulepush_remote_samples_total{outcome="dropped",reason="disk_limit",remote="mock"}' --sum) \
  || fail "no disk_limit drop counter on /metrics"
other=$(metric "$E2E_TMP/final.prom" 'joulepush_remote_samples_total{outcome="dropped",remote="mock"}' --sum)
"$PYTHON3" - "$E2E_TMP/accepted.json" "$dropped" "$other" "${runs[@]}" <<'EOF' || fail "samples lost, duplicated or miscounted (see above)"
import json, sys
acc = json.load(open(sys.argv[1]))
dropped, other = int(float(sys.argv[2])), int(float(sys.argv[3]))
runs = [tuple(map(int, r.split(":"))) for r in sys.argv[4:]]
IV = 1000
# Series that exist from the first round to the last: the node, pod and namespace
# families of a synthetic node (the agent's own series come and go with its state).
fams = ("joulepush_node_energy_joules_total", "joulepush_pod_energy_joules_total",
        "joulepush_pod_cpu_seconds_total", "joulepush_namespace_energy_joules_total",
        "joulepush_node_co2_grams_total", "joulepush_pod_co2_grams_total")
keys = [k for k in acc if k.split("{")[0] in fams]
if not keys:
    print("ERROR: no samples of %s" % (fams,)); sys.exit(1)
# Every round of every run; the first and the last boundary of a run may be missing (the
# agent started just after it, or was killed before the round reached the disk).
interior, edges = set(), set()
for start, stop in runs:
    bs = list(range((start // IV + 1) * IV, stop + 1, IV))
    if len(bs) < 3:
        continue
    edges.update((bs[0], bs[-1], bs[0] - IV))
    interior.update(bs[1:-1])
errors = []
missing_rounds = None
for k in keys:
    ts = {p[0] for p in acc[k]}
    if len(ts) != len(acc[k]):
        errors.append("%s: duplicate timestamps" % k)
    extra = ts - interior - edges
    if extra:
        errors.append("%s: samples outside every run: %s" % (k, sorted(extra)[:3]))
    miss = interior - ts
    if missing_rounds is None:
        missing_rounds = miss
    elif miss != missing_rounds:
        errors.append("%s: missing rounds %s differ from other series' %s" % (k, sorted(miss)[:5], sorted(missing_rounds)[:5]))
        break
missing_rounds = missing_rounds or set()
# Rounds at the edges of runs that are missing: killed before they reached the disk, or in a
# segment the disk bound dropped (the oldest segments hold the last rounds of earlier runs).
first = {p[0] for p in acc[keys[0]]}
edge_missing = {t for t in edges if t not in first}
# The disk bound drops whole rounds (every series of them): as many samples as the nearest
# round that arrived held.
all_at = {}
for k, pts in acc.items():
    for t, _v in pts:
        all_at[t] = all_at.get(t, 0) + 1
got = sorted(all_at)
def round_size(t):
    return all_at[min(got, key=lambda u: abs(u - t))]
lost = sum(round_size(t) for t in missing_rounds)
lost_edges = sum(round_size(t) for t in edge_missing - missing_rounds)
print("soak: %d series checked, %d rounds in runs, %d rounds missing in the middle of a run "
      "(%d samples), %d more at the edges of runs (%d samples); disk_limit counter %d, all drops %d"
      % (len(keys), len(interior), len(missing_rounds), lost, len(edge_missing - missing_rounds),
         lost_edges, dropped, other))
if dropped <= 0:
    errors.append("the disk bound dropped nothing")
# Every sample missing in the middle of a run was dropped by the disk bound and counted;
# the count cannot exceed what is missing at all.
if not lost <= dropped <= lost + lost_edges:
    errors.append("%d samples missing in the middle of runs (%d more at their edges), the agent counted %d dropped"
                  % (lost, lost_edges, dropped))
if other != dropped:
    errors.append("samples dropped for other reasons: %d" % (other - dropped))
for e in errors[:10]:
    print("ERROR: " + e)
sys.exit(1 if errors else 0)
EOF
e2e_log "PASS"
