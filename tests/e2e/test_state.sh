#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Counters across restarts (state.dir). A synthetic agent is run, SIGKILLed, restarted,
# SIGKILLed and restarted again, pushing into real Prometheus. In Prometheus its namespace
# energy and CO2 counters must never go down, and their final values must be what the
# three runs measured together: a fresh synthetic node with the same seed repeats the
# same rounds, so a reference agent that runs without interruption gives what each run
# added (its value after as many rounds as that run had), and the sum must match within
# one interval's energy. The same kills with state.dir: none must make the counters go
# down, so the check can fail. A run started after the state file is corrupted logs it
# and starts from 0.
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3" "$PROMETHEUS"
e2e_init state
prom_start

# run_agent NODE STATE SECONDS [kill|term]
run_agent() {
  local node=$1 state=$2 secs=$3 how=$4 cfg=$E2E_TMP/$1.yaml
  AGENT_PORT=$(free_port) AGENT_INTERVAL=1s AGENT_PODS=4 \
    QUEUE_DIR=$E2E_TMP/queue-$node agent_config "$cfg" "$(QUEUE_DIR=$E2E_TMP/queue-$node remote_yaml prom "$PROM_URL/api/v1/write")"
  sed -i "s/^node_name: .*/node_name: $node/" "$cfg"
  printf 'state: {dir: %s}\n' "$state" >>"$cfg"
  agent_start "$cfg"
  sleep "$secs"
  if [ "$how" = kill ]; then agent_kill9; else agent_term; fi
}

run_agent ref none 9 term
for how in kill kill term; do run_agent resumed "$E2E_TMP/state" 3.5 "$how"; done
for how in kill kill term; do run_agent nostate none 3.5 "$how"; done
sleep 2   # the last rounds reach Prometheus

for n in ref resumed nostate; do
  prom_fetch "{__name__=~\"joulepush_namespace_(energy_joules|co2_grams)_total|joulepush_collections_total\",node=\"$n\"}" \
    "$E2E_TMP/$n.json" >/dev/null || fail "cannot query Prometheus for $n"
done

check() { # check NODE EXPECT(ok|decreases)
  "$PYTHON3" - "$E2E_TMP/ref.json" "$E2E_TMP/$1.json" "$2" <<'PY'
import json, sys
ref, run, expect = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
def base(key):  # the series key without the node label
    return key.replace(',node="resumed"', "").replace(',node="nostate"', "").replace(',node="ref"', "")
refs = {base(k): v for k, v in ref.items()}
coll = [v for k, v in run.items() if k.startswith("joulepush_collections_total")][0]
# Runs: collections_total starts again at every restart (it is not kept).
starts, prev = [], None
for ts, v in coll:
    if prev is None or v <= prev:
        starts.append(ts)
    prev = v
assert len(starts) == 3, "want 3 runs, found %d (%s)" % (len(starts), starts)
ends = starts[1:] + [float("inf")]
decreased, checked, worst = [], 0, 0.0
for key, samples in run.items():
    if key.startswith("joulepush_collections_total"):
        continue
    r = refs[base(key)]
    for (t0, v0), (t1, v1) in zip(samples, samples[1:]):
        if v1 < v0:
            decreased.append((key, t1, v0, v1))
    # What each run added: the reference's value after as many rounds.
    want = 0.0
    for a, b in zip(starts, ends):
        n = sum(1 for ts, _ in samples if a <= ts < b)
        assert 0 < n <= len(r), "%s: %d rounds in a run, reference has %d" % (key, n, len(r))
        want += r[n - 1][1]
    step = max(b[1] - a[1] for a, b in zip(r, r[1:]))
    got = samples[-1][1]
    worst = max(worst, abs(got - want) / step)
    if expect == "ok" and abs(got - want) > step * 1.001:
        sys.exit("%s: final %.6f, the runs measured %.6f (one interval is %.6f)" % (key, got, want, step))
    checked += 1
if expect == "ok":
    if decreased:
        sys.exit("counters went down: %s" % decreased[:3])
    print("%d counters never went down across 2 SIGKILLs; final values within %.2f intervals of what the runs measured" % (checked, worst))
else:
    if not decreased:
        sys.exit("without state.dir the counters did not go down: the check would pass anything")
    print("without state.dir %d decreases were seen, as expected" % len(decreased))
PY
}
check resumed ok || fail "counters across restarts"
check nostate decreases || fail "the control run"

# A corrupted state file is logged and ignored: counters start at 0.
printf 'JPSTATE1%030d' 0 >"$E2E_TMP/state/counters"
AGENT_PORT=$(free_port) AGENT_INTERVAL=1s agent_config "$E2E_TMP/bad.yaml" ""
printf 'state: {dir: %s}\n' "$E2E_TMP/state" >>"$E2E_TMP/bad.yaml"
agent_start "$E2E_TMP/bad.yaml"
agent_term
grep -q "state.dir: ignoring $E2E_TMP/state/counters: checksum mismatch (torn or corrupt); counters start at 0" "$E2E_TMP/agent.log" ||
  fail "the corrupt state file was not reported"

# A state or queue directory reached through a symbolic link (planted under a
# world-writable directory) is refused at start, naming the link; nothing is written
# behind it.
mkdir -p "$E2E_TMP/ww" "$E2E_TMP/elsewhere"
chmod 1777 "$E2E_TMP/ww"
ln -s "$E2E_TMP/elsewhere" "$E2E_TMP/ww/link"
refused() { # WHAT YAML_LINE
  AGENT_PORT=$(free_port) agent_config "$E2E_TMP/link.yaml" "$(QUEUE_DIR=${3:-$E2E_TMP/q2} remote_yaml r http://127.0.0.1:9/api/v1/write)"
  printf '%s\n' "$2" >>"$E2E_TMP/link.yaml"
  agent_start_refused "$E2E_TMP/link.yaml" "with $1 through a symbolic link"
  grep -q "$E2E_TMP/ww/link is a symbolic link" "$E2E_TMP/agent.log" || fail "$1: the link is not named: $(tail -3 "$E2E_TMP/agent.log")"
  [ -z "$(ls -A "$E2E_TMP/elsewhere")" ] || fail "$1: something was written behind the link"
}
refused state.dir "state: {dir: $E2E_TMP/ww/link/state}"
refused queue.dir "state: {dir: $E2E_TMP/state2}" "$E2E_TMP/ww/link/queue"
e2e_log "state: counters go on across SIGKILLs and restarts"
