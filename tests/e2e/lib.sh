# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Helpers for the end-to-end tests: temporary directories, free loopback ports, real
# Prometheus and VictoriaMetrics servers, the agent under test, and cleanup that kills
# everything a test started even when it fails. Source it; then call e2e_init NAME.

set -uo pipefail

E2E_DIR=${E2E_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
# Debian's interpreter, whose modules (python3-yaml) scripts/setup.sh installs.
if [ -z "${PYTHON3:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON3=/usr/bin/python3; else PYTHON3=python3; fi
fi
PROMETHEUS=${PROMETHEUS:-prometheus}
VICTORIA_METRICS=${VICTORIA_METRICS:-victoria-metrics}

# automake runs the tests from the top build directory; by hand, from anywhere with
# JOULEPUSH set, or from an in-tree build.
if [ -z "${JOULEPUSH:-}" ]; then
  if [ -x ./joulepush ]; then JOULEPUSH=$PWD/joulepush; else JOULEPUSH=$E2E_DIR/../../joulepush; fi
fi

E2E_PIDS=()
E2E_TMP=
E2E_NAME=e2e

e2e_log() { printf '[%s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
e2e_py() { "$PYTHON3" "$E2E_DIR/e2e.py" "$@"; }

# Fail the test with a reason; the EXIT trap cleans up and shows the logs.
fail() {
  printf 'FAIL: %s: %s\n' "$E2E_NAME" "$*" >&2
  exit 1
}

e2e_track() { E2E_PIDS+=("$1"); }
e2e_untrack() {
  local keep=() p
  for p in "${E2E_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  E2E_PIDS=("${keep[@]+"${keep[@]}"}")
}

# Stop a process we started: SIGTERM, then SIGKILL after $2 seconds (default 10).
e2e_kill() {
  local pid=$1 grace=${2:-10} i
  kill -TERM "$pid" 2>/dev/null || { e2e_untrack "$pid"; return 0; }
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  e2e_untrack "$pid"
}

e2e_cleanup() {
  local rc=$? p f
  trap - EXIT INT TERM
  for p in "${E2E_PIDS[@]+"${E2E_PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${E2E_PIDS[@]+"${E2E_PIDS[@]}"}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [ -n "$E2E_TMP" ] && [ -d "$E2E_TMP" ]; then
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
      for f in "$E2E_TMP"/*.log; do
        [ -s "$f" ] || continue
        echo "---- last lines of $(basename "$f")" >&2
        tail -n 40 "$f" >&2
      done
    fi
    if [ "${E2E_KEEP:-0}" = 1 ]; then
      echo "kept $E2E_TMP" >&2
    else
      rm -rf "$E2E_TMP"
    fi
  fi
  exit "$rc"
}

# e2e_init NAME: a temporary directory in E2E_TMP and the cleanup traps.
e2e_init() {
  E2E_NAME=$1
  E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/jp-e2e-$1.XXXXXX") || exit 99
  trap e2e_cleanup EXIT
  trap 'exit 130' INT TERM
  [ -x "$JOULEPUSH" ] || fail "no joulepush binary at $JOULEPUSH (set JOULEPUSH)"
  e2e_log "$E2E_NAME: binary $JOULEPUSH, temporary files in $E2E_TMP"
}

# skip_or_fail WHY: skip (77) when this machine cannot run the test, unless on CI where
# every end-to-end test must run.
skip_or_fail() {
  if [ "${CI:-}" = true ]; then fail "$1 (required on CI)"; fi
  echo "SKIP: $1" >&2
  exit 77
}

# cgroup2_mount: the cgroup v2 mount point, from mountinfo as the agent finds it (the
# filesystem type follows the " - "); empty without one.
cgroup2_mount() {
  awk '{for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break }}' \
    /proc/self/mountinfo
}

# require_cmd CMD...: skip (77) when a command is missing, unless on CI where every
# end-to-end test must run.
require_cmd() {
  local c
  for c in "$@"; do
    if ! command -v "$c" >/dev/null 2>&1; then
      if [ "${CI:-}" = true ]; then
        fail "$c is not installed (required on CI)"
      fi
      echo "SKIP: $c is not installed" >&2
      exit 77
    fi
  done
}

free_port() { e2e_py free-port; }
now_ms() { date +%s%3N; }

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$(($(date +%s%3N) + secs * 1000))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s%3N)" -lt "$deadline" ] || fail "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }
http_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1"; }

# Sleep until the wall clock is in the middle of an interval (default 1000 ms), so
# that what the test does then is unambiguously between two collection rounds.
sleep_to_mid_interval() {
  local iv=${1:-1000}
  "$PYTHON3" -c "
import time
iv = $iv / 1000.0
t = time.time()
d = (iv / 2 - t % iv) % iv
time.sleep(d if d > 0.05 else d + iv)
"
}

# --- Prometheus ----------------------------------------------------------------------

# prom_start [DATA_DIR]: Prometheus as a remote-write receiver on PROM_PORT (picked
# once and reused, so a restart keeps the same address), no scrape targets.
prom_start() {
  PROM_DATA=${1:-${PROM_DATA:-$E2E_TMP/prometheus-data}}
  PROM_PORT=${PROM_PORT:-$(free_port)}
  PROM_URL=http://127.0.0.1:$PROM_PORT
  mkdir -p "$PROM_DATA"
  cat >"$E2E_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 15s
  evaluation_interval: 15s
EOF
  "$PROMETHEUS" --config.file="$E2E_TMP/prometheus.yml" \
    --storage.tsdb.path="$PROM_DATA" --storage.tsdb.retention.time="${PROM_RETENTION:-1d}" \
    --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver \
    --log.level=warn >>"$E2E_TMP/prometheus.log" 2>&1 &
  PROM_PID=$!
  e2e_track "$PROM_PID"
  wait_for 60 "Prometheus on $PROM_URL" http_ok "$PROM_URL/-/ready"
  e2e_log "prometheus $PROM_PID ready on $PROM_URL"
}

prom_stop() {
  [ -n "${PROM_PID:-}" ] || return 0
  e2e_kill "$PROM_PID" 30
  e2e_log "prometheus $PROM_PID stopped"
  PROM_PID=
}

# prom_fetch SELECTOR OUT: every raw sample of SELECTOR in the last hour, as JSON.
prom_fetch() { e2e_py fetch-prom "$PROM_URL" "$1" "$2"; }

# --- VictoriaMetrics -------------------------------------------------------------------

vm_start() {
  VM_DATA=${1:-${VM_DATA:-$E2E_TMP/vm-data}}
  VM_PORT=${VM_PORT:-$(free_port)}
  VM_URL=http://127.0.0.1:$VM_PORT
  "$VICTORIA_METRICS" -httpListenAddr "127.0.0.1:$VM_PORT" -storageDataPath "$VM_DATA" \
    -retentionPeriod "${VM_RETENTION:-1d}" -loggerLevel WARN -search.latencyOffset 0s \
    >>"$E2E_TMP/victoria-metrics.log" 2>&1 &
  VM_PID=$!
  e2e_track "$VM_PID"
  wait_for 60 "VictoriaMetrics on $VM_URL" http_ok "$VM_URL/health"
  e2e_log "victoria-metrics $VM_PID ready on $VM_URL"
}

vm_stop() {
  [ -n "${VM_PID:-}" ] || return 0
  e2e_kill "$VM_PID" 30
  VM_PID=
}

vm_fetch() { e2e_py fetch-vm "$VM_URL" "$1" "$2"; }

# --- the mock receiver -----------------------------------------------------------------

# mock_start SCENARIO [ARGS...]: mock_receiver.py on MOCK_PORT, logging to MOCK_LOG.
mock_start() {
  local scenario=$1
  shift
  MOCK_LOG=${MOCK_LOG:-$E2E_TMP/mock.jsonl}
  rm -f "$E2E_TMP/mock.port"
  "$PYTHON3" "$E2E_DIR/mock_receiver.py" "$scenario" --port "${MOCK_PORT:-0}" \
    --port-file "$E2E_TMP/mock.port" --log "$MOCK_LOG" --decode "$@" \
    >>"$E2E_TMP/mock.log" 2>&1 &
  MOCK_PID=$!
  e2e_track "$MOCK_PID"
  wait_for 10 "mock receiver" test -s "$E2E_TMP/mock.port"
  MOCK_PORT=$(cat "$E2E_TMP/mock.port")
  MOCK_URL=http://127.0.0.1:$MOCK_PORT
  wait_for 10 "mock receiver on $MOCK_URL" http_ok "$MOCK_URL/"
  e2e_log "mock receiver $MOCK_PID ($scenario) on $MOCK_URL"
}

mock_stop() {
  [ -n "${MOCK_PID:-}" ] || return 0
  e2e_kill "$MOCK_PID" 5
  MOCK_PID=
}

# --- the agent -------------------------------------------------------------------------

# remote_yaml NAME URL [QUEUE_EXTRA_YAML] [ENTRY_EXTRA_YAML]: one remote_write entry.
remote_yaml() {
  cat <<EOF
  - name: $1
    url: $2
    timeout: ${REMOTE_TIMEOUT:-5s}
${4:-}    queue:
      dir: ${QUEUE_DIR:-$E2E_TMP/queue}
      batch_send_deadline: 500ms
      min_backoff: 100ms
      max_backoff: 1s
${3:-}
EOF
}

# agent_config OUT REMOTE_YAML: a synthetic-mode config with AGENT_PODS pods,
# AGENT_INTERVAL, the agent's server on AGENT_PORT.
agent_config() {
  AGENT_PORT=${AGENT_PORT:-$(free_port)}
  AGENT_URL=http://127.0.0.1:$AGENT_PORT
  cat >"$1" <<EOF
node_name: e2e-node
interval: ${AGENT_INTERVAL:-1s}
external_labels: {cluster: e2e}
collector:
  mode: synthetic
  synthetic: {pods: ${AGENT_PODS:-3}, containers_per_pod: 2, seed: 7, gpus: ${AGENT_GPUS:-0}}
server:
  listen: 127.0.0.1:$AGENT_PORT
log: {level: ${AGENT_LOG_LEVEL:-info}, format: text}
EOF
  if [ -n "${2:-}" ]; then
    printf 'remote_write:\n%s\n' "$2" >>"$1"
  fi
}

# agent_start CONFIG: run joulepush in the background (AGENT_PID), wait for /readyz.
# Every round it hands to its senders goes to rounds.log beside CONFIG (ROUND_LOG), which
# `e2e_py verify --rounds` compares with a receiver once the agent has stopped.
agent_start() {
  ROUND_LOG=$(dirname "$1")/rounds.log
  JOULEPUSH_ROUND_LOG=$ROUND_LOG "$JOULEPUSH" --config "$1" >>"$E2E_TMP/agent.log" 2>&1 &
  AGENT_PID=$!
  e2e_track "$AGENT_PID"
  AGENT_START_MS=$(now_ms)
  wait_for 15 "joulepush /readyz on $AGENT_URL" http_ok "$AGENT_URL/readyz"
  e2e_log "joulepush $AGENT_PID ready on $AGENT_URL"
}

# agent_term: SIGTERM; the agent must exit 0 within 15 s (docs/reference/configuration.md: 10 s flush).
# agent_wait_exit SECONDS WHAT: wait for the agent to exit (SIGKILL and fail after SECONDS);
# its exit status goes to AGENT_RC.
agent_wait_exit() {
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    kill -0 "$AGENT_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -KILL "$AGENT_PID"
    fail "joulepush did not exit within $1 s $2"
  fi
  wait "$AGENT_PID"
  AGENT_RC=$?
}

agent_term() {
  local i rc
  AGENT_STOP_MS=$(now_ms)
  kill -TERM "$AGENT_PID" 2>/dev/null || fail "joulepush $AGENT_PID was not running at SIGTERM"
  agent_wait_exit 15 "of SIGTERM"
  rc=$AGENT_RC
  e2e_untrack "$AGENT_PID"
  e2e_log "joulepush $AGENT_PID exited with $rc after SIGTERM ($(($(now_ms) - AGENT_STOP_MS)) ms)"
  [ "$rc" -eq 0 ] || fail "joulepush exited with status $rc after SIGTERM (want 0)"
  AGENT_PID=
}

agent_kill9() {
  AGENT_STOP_MS=$(now_ms)
  kill -KILL "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null
  e2e_untrack "$AGENT_PID"
  e2e_log "joulepush $AGENT_PID killed with SIGKILL"
  AGENT_PID=
}

# agent_start_refused CONFIG WHAT: the agent must refuse to start with CONFIG (exit
# non-zero within 10 s); its log is then in agent.log (emptied first).
agent_start_refused() {
  : >"$E2E_TMP/agent.log"
  "$JOULEPUSH" --config "$1" >>"$E2E_TMP/agent.log" 2>&1 &
  AGENT_PID=$!
  e2e_track "$AGENT_PID"
  agent_wait_exit 10 "$2"
  e2e_untrack "$AGENT_PID"
  AGENT_PID=
  [ "$AGENT_RC" -ne 0 ] || fail "the agent started $2"
}

agent_alive() { [ -n "${AGENT_PID:-}" ] && kill -0 "$AGENT_PID" 2>/dev/null; }

# scrape OUT: the agent's /metrics into a file.
scrape() { curl -fsS --max-time 5 "$AGENT_URL/metrics" -o "$1" || fail "cannot scrape $AGENT_URL/metrics"; }

# metric FILE SERIES: one value from an exposition file (labels sorted, e.g.
# 'joulepush_remote_samples_total{outcome="sent",remote="r1"}'); --sum adds up every
# series of the name that has the given labels.
metric() { e2e_py value "$@"; }

# scrape_loop_start OUT: scrape /metrics every 200 ms in the background.
scrape_loop_start() {
  # Not through e2e_py: $! must be the Python process itself, not a subshell.
  "$PYTHON3" "$E2E_DIR/e2e.py" scrape-loop "$AGENT_URL/metrics" "$1" 0.2 >/dev/null 2>&1 &
  SCRAPER_PID=$!
  e2e_track "$SCRAPER_PID"
}

scrape_loop_stop() {
  [ -n "${SCRAPER_PID:-}" ] || return 0
  e2e_kill "$SCRAPER_PID" 2
  SCRAPER_PID=
}

# The counter and gauge families the pipeline tests compare sample by sample.
CHECK_NAMES=joulepush_node_energy_joules_total,joulepush_node_co2_grams_total,joulepush_pod_energy_joules_total,joulepush_pod_cpu_seconds_total,joulepush_pod_co2_grams_total,joulepush_namespace_energy_joules_total,joulepush_namespace_co2_grams_total,joulepush_node_cpu_usage_ratio
CHECK_SELECTOR='{__name__=~"joulepush_(node_energy_joules_total|node_co2_grams_total|pod_energy_joules_total|pod_cpu_seconds_total|pod_co2_grams_total|namespace_energy_joules_total|namespace_co2_grams_total|node_cpu_usage_ratio)"}'
