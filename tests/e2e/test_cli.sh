#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The command line of docs/reference/configuration.md: --version, --help, --check-config on good and bad files
# (exit codes and FILE:LINE: key: reason), --once (exposition text, nothing pushed),
# SIGHUP with a bad and then a good config, SIGINT.
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3"
e2e_init cli

# --- --version and --help -----------------------------------------------------------
out=$("$JOULEPUSH" --version) || fail "--version exited with $?"
[[ $out =~ ^joulepush\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail "--version printed '$out'"
out=$("$JOULEPUSH" --help) || fail "--help exited with $?"
for w in --config --check-config --once --version; do
  grep -q -- "$w" <<<"$out" || fail "--help does not mention $w"
done
"$JOULEPUSH" --no-such-option >/dev/null 2>&1 && fail "an unknown option was accepted"

# --- --check-config -----------------------------------------------------------------
AGENT_PORT=$(free_port)
agent_config "$E2E_TMP/good.yaml"
out=$("$JOULEPUSH" --config "$E2E_TMP/good.yaml" --check-config 2>&1) \
  || fail "--check-config rejects a good file: $out"
if [ -f "$E2E_DIR/../../config/joulepush.example.yaml" ]; then
  out=$("$JOULEPUSH" --config "$E2E_DIR/../../config/joulepush.example.yaml" --check-config 2>&1) \
    || fail "--check-config rejects config/joulepush.example.yaml: $out"
fi

# bad_config NAME LINE KEY_PATTERN CONTENT: --check-config must exit 1 and say
# FILE:LINE: key: reason, with the key matching KEY_PATTERN.
bad_config() {
  local name=$1 line=$2 key=$3 f=$E2E_TMP/$1.yaml out rc
  printf '%s\n' "$4" >"$f"
  out=$("$JOULEPUSH" --config "$f" --check-config 2>&1)
  rc=$?
  [ "$rc" -eq 1 ] || fail "$name: --check-config exited with $rc (want 1): $out"
  grep -qE "^$(printf '%s' "$f" | sed 's/[.[\*^$/]/\\&/g'):$line: $key: .+" <<<"$out" \
    || fail "$name: want '$f:$line: <$key>: reason', got: $out"
}
bad_config unknown_key 3 'bogus_key' $'node_name: n\ninterval: 1s\nbogus_key: 1'
bad_config nested_unknown 4 '[^ ]*bogus' $'interval: 1s\ncollector:\n  mode: synthetic\n  bogus: 1'
bad_config bad_duration 2 '[^ ]*interval' $'node_name: n\ninterval: 5 parsecs'
bad_config interval_range 1 '[^ ]*interval' 'interval: 100ms'
bad_config bad_enum 3 '[^ ]*mode' $'interval: 1s\ncollector:\n  mode: magic'
bad_config bad_size 7 '[^ ]*max_disk_bytes' $'interval: 1s\nremote_write:\n  - name: a\n    url: http://127.0.0.1:1/api/v1/write\n    queue:\n      dir: /tmp/x\n      max_disk_bytes: lots'
bad_config bad_listen 2 '[^ ]*listen' $'server:\n  listen: nowhere'
bad_config yaml_syntax 3 '.*' $'interval: 1s\ncollector: [mode: synthetic\nserver: {}'
out=$("$JOULEPUSH" --config "$E2E_TMP/does-not-exist.yaml" --check-config 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "a missing config file: exit $rc (want 1)"
grep -q "does-not-exist.yaml" <<<"$out" || fail "a missing config file: the message does not name it: $out"

# --- --once: exposition on stdout, nothing pushed -------------------------------------
mock_start 200
AGENT_PORT=$(free_port)
agent_config "$E2E_TMP/once.yaml" "$(remote_yaml mock "$MOCK_URL/api/v1/write")"
t0=$(now_ms)
timeout 30 "$JOULEPUSH" --config "$E2E_TMP/once.yaml" --once >"$E2E_TMP/once.prom" 2>"$E2E_TMP/once.log"
rc=$?
t1=$(now_ms)
[ "$rc" -eq 0 ] || fail "--once exited with $rc: $(tail -3 "$E2E_TMP/once.log")"
[ $((t1 - t0)) -ge 900 ] || fail "--once took $((t1 - t0)) ms; it collects twice, one interval (1s) apart"
e2e_py parse-expo "$E2E_TMP/once.prom" --typed \
  --require joulepush_node_energy_joules_total --require joulepush_node_power_watts \
  --require joulepush_node_cpu_usage_ratio --require joulepush_node_co2_grams_total \
  --require joulepush_pod_energy_joules_total --require joulepush_pod_power_watts \
  --require joulepush_pod_cpu_seconds_total --require joulepush_pod_co2_grams_total \
  --require joulepush_namespace_energy_joules_total --require joulepush_namespace_co2_grams_total \
  --require joulepush_grid_carbon_intensity_grams_per_kwh --require joulepush_build_info \
  || fail "--once output is not valid exposition text with the expected metrics"
pods=$(grep -c '^joulepush_pod_cpu_seconds_total{' "$E2E_TMP/once.prom")
[ "$pods" -eq 3 ] || fail "--once shows $pods pods, the config asks for 3"
grep -q 'node="e2e-node"' "$E2E_TMP/once.prom" || fail "--once output lacks node=\"e2e-node\""
grep -q 'cluster="e2e"' "$E2E_TMP/once.prom" || fail "--once output lacks the external label cluster=\"e2e\""
sleep 1
[ ! -s "$MOCK_LOG" ] || fail "--once pushed to the remote: $(head -c 300 "$MOCK_LOG")"
mock_stop

# --- SIGHUP: a bad config is logged and the old one kept; a good one applies -----------
AGENT_PORT=$(free_port)
agent_config "$E2E_TMP/run.yaml"
agent_start "$E2E_TMP/run.yaml"
cp "$E2E_TMP/run.yaml" "$E2E_TMP/run.good"
printf 'interval: 1s\nbogus_key: 1\n' >"$E2E_TMP/run.yaml"
lines_before=$(wc -l <"$E2E_TMP/agent.log")
kill -HUP "$AGENT_PID"
sleep 2
agent_alive || fail "the agent died on SIGHUP with a bad config"
[ "$(http_status "$AGENT_URL/healthz")" = 200 ] || fail "/healthz fails after SIGHUP with a bad config"
tail -n +$((lines_before + 1)) "$E2E_TMP/agent.log" | grep -q 'bogus_key' \
  || fail "the agent did not log why the new config is bad"
scrape "$E2E_TMP/after-bad.prom"
grep -q 'cluster="e2e"' "$E2E_TMP/after-bad.prom" || fail "the old config was not kept after a bad reload"

sed 's/cluster: e2e/cluster: reloaded/' "$E2E_TMP/run.good" >"$E2E_TMP/run.yaml"
kill -HUP "$AGENT_PID"
wait_for 5 "external label from the reloaded config on /metrics" \
  bash -c "curl -fsS '$AGENT_URL/metrics' | grep -q 'cluster=\"reloaded\"'"
agent_alive || fail "the agent died on SIGHUP with a good config"

# --probe: the exec probe of the DaemonSet.
"$JOULEPUSH" --probe "$AGENT_URL/healthz" >/dev/null || fail "--probe $AGENT_URL/healthz failed"
"$JOULEPUSH" --probe "$AGENT_URL/readyz" >/dev/null || fail "--probe $AGENT_URL/readyz failed"
"$JOULEPUSH" --probe "$AGENT_URL/nope" >/dev/null 2>&1 && fail "--probe succeeded on a 404"
"$JOULEPUSH" --probe "http://127.0.0.1:$(free_port)/healthz" >/dev/null 2>&1 \
  && fail "--probe succeeded with nothing listening"
"$JOULEPUSH" --probe "http://192.0.2.1/healthz" >/dev/null 2>&1; rc=$?
[ "$rc" -eq 2 ] || fail "--probe to a non-loopback URL: exit $rc (want 2, refused)"

# SIGINT stops like SIGTERM, with status 0.
kill -INT "$AGENT_PID"
for ((i = 0; i < 150; i++)); do agent_alive || break; sleep 0.1; done
agent_alive && fail "the agent did not stop within 15 s of SIGINT"
wait "$AGENT_PID"
rc=$?
e2e_untrack "$AGENT_PID"
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGINT (want 0)"

# The shipped example config and the DaemonSet's config are valid.
"$JOULEPUSH" --config "$E2E_DIR/../../config/joulepush.example.yaml" --check-config >/dev/null \
  || fail "config/joulepush.example.yaml does not pass --check-config"
# The Kubernetes base's config (the overlays' are checked by test_kustomize.sh).
NODE_NAME=n1 NODE_IP=10.0.0.1 "$JOULEPUSH" --config "$E2E_DIR/../../config/kubernetes/base/joulepush.yaml" \
  --check-config >/dev/null || fail "config/kubernetes/base/joulepush.yaml does not pass --check-config"

# --- a FIFO where a queue segment or the ack file should be: start-up neither hangs nor
# ignores SIGTERM, and the FIFOs are left alone ------------------------------------------
AGENT_PORT=$(free_port)
mkdir -p "$E2E_TMP/fifoq/mock"
mkfifo "$E2E_TMP/fifoq/mock/0000000000000001.seg" "$E2E_TMP/fifoq/mock/ack"
QUEUE_DIR=$E2E_TMP/fifoq agent_config "$E2E_TMP/fifo.yaml" \
  "$(QUEUE_DIR=$E2E_TMP/fifoq remote_yaml mock "http://127.0.0.1:$(free_port)/api/v1/write")"
agent_start "$E2E_TMP/fifo.yaml"
grep -q 'not a regular file' "$E2E_TMP/agent.log" || fail "the FIFOs in the queue were not reported"
agent_term
[ -p "$E2E_TMP/fifoq/mock/0000000000000001.seg" ] || fail "the FIFO segment was removed"

# --- the summary line: at info level once a minute (JOULEPUSH_SUMMARY_MS shortens the
# minute here), with the remote's counts, the node's power, pods and intensity; none at
# log.level warn ------------------------------------------------------------------------
mock_start 200
AGENT_PORT=$(free_port)
agent_config "$E2E_TMP/summary.yaml" "$(remote_yaml mock "$MOCK_URL/api/v1/write")"
: >"$E2E_TMP/agent.log"
JOULEPUSH_SUMMARY_MS=1500 agent_start "$E2E_TMP/summary.yaml"
wait_for 15 "a summary line" grep -q 'summary: ' "$E2E_TMP/agent.log"
line=$(grep 'summary: ' "$E2E_TMP/agent.log" | tail -n 1)
[[ $line =~ summary:\ node\ [0-9.]+\ W\ \(model\),\ 3\ pods,\ grid\ [0-9]+\ g/kWh\ \(static\),\ [0-9]+\ series\;\ mock\ sent\ [0-9]+\ pending\ [0-9]+\ dropped\ 0 ]] \
  || fail "unexpected summary line: $line"
agent_term
sed -i 's/level: info/level: warn/' "$E2E_TMP/summary.yaml"
: >"$E2E_TMP/agent.log"
JOULEPUSH_SUMMARY_MS=500 agent_start "$E2E_TMP/summary.yaml"
sleep 2.5
agent_term
grep -q 'summary: ' "$E2E_TMP/agent.log" && fail "a summary line at log.level warn"

# report: credentials in --url are refused, never echoed; a bearer token file with a line
# break (a second header) is refused, as the daemon refuses it.
noport=$(free_port)
"$JOULEPUSH" report --url "http://alice:s3cr3t-pw@127.0.0.1:$noport" --month 2026-01 >/dev/null 2>"$E2E_TMP/err.txt"; rc=$?
[ $rc -eq 2 ] || fail "report with userinfo in --url: exit $rc (want 2)"
grep -q 's3cr3t-pw' "$E2E_TMP/err.txt" && fail "report printed the password from --url: $(cat "$E2E_TMP/err.txt")"
grep -q 'basic-auth' "$E2E_TMP/err.txt" || fail "report does not say what to use instead: $(cat "$E2E_TMP/err.txt")"
printf 'tok123\nX-Injected: 1\n' >"$E2E_TMP/token2"
"$JOULEPUSH" report --url "http://127.0.0.1:$noport" --bearer-token-file "$E2E_TMP/token2" --month 2026-01 \
  >/dev/null 2>"$E2E_TMP/err.txt"; rc=$?
[ $rc -ne 0 ] || fail "report accepted a bearer token file with two lines"
grep -q 'more than one line' "$E2E_TMP/err.txt" || fail "report: unexpected error for a two-line token: $(cat "$E2E_TMP/err.txt")"
grep -q 'tok123' "$E2E_TMP/err.txt" && fail "report printed the token"
e2e_log "PASS"
