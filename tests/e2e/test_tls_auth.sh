#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Remote write over HTTPS and with credentials (docs/reference/configuration.md remote_write, §7, §9), against
# mock_receiver.py in TLS mode with certificates made here by the openssl CLI: mutual
# TLS, an untrusted server (nothing sent, data kept, delivered after a SIGHUP that adds
# the CA), insecure_skip_verify, basic auth and bearer token read from files and never
# logged, custom and protocol headers, and reserved headers refused by --check-config.
source "$(dirname "$0")/lib.sh"
require_cmd openssl curl "$PYTHON3"
e2e_init tls_auth

VERSION=$("$JOULEPUSH" --version | awk '{print $2; exit}')
[ -n "$VERSION" ] || fail "joulepush --version printed no version"

# --- certificates ------------------------------------------------------------------------
PKI=$E2E_TMP/pki
mkdir -p "$PKI"
ossl() { openssl "$@" >>"$E2E_TMP/openssl.log" 2>&1 || fail "openssl $1 failed (see openssl.log)"; }
ec_key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

ec_key "$PKI/ca.key"
ossl req -x509 -new -key "$PKI/ca.key" -out "$PKI/ca.crt" -days 2 -subj "/CN=joulepush e2e CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
# sign NAME CN EXTENSIONS: NAME.key and NAME.crt, signed by the CA.
sign() {
  ec_key "$PKI/$1.key"
  ossl req -new -key "$PKI/$1.key" -out "$PKI/$1.csr" -subj "/CN=$2"
  printf '%b' "$3" >"$PKI/$1.ext"
  ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -out "$PKI/$1.crt" -days 2 -extfile "$PKI/$1.ext"
}
sign server 127.0.0.1 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n'
sign client joulepush-e2e-client 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n'
e2e_log "CA, server (IP:127.0.0.1) and client certificates in $PKI"

# --- helpers -------------------------------------------------------------------------------

# tls_mock_start DIR [ARGS...]: mock_receiver.py over HTTPS (accepting every request),
# logging to DIR/mock.jsonl; MOCK_URL is its https:// address.
tls_mock_start() {
  local dir=$1
  shift
  MOCK_LOG=$dir/mock.jsonl
  rm -f "$dir/mock.port"
  "$PYTHON3" "$E2E_DIR/mock_receiver.py" "${MOCK_SCENARIO:-200}" --port 0 --port-file "$dir/mock.port" \
    --log "$MOCK_LOG" --decode --tls-cert "$PKI/server.crt" --tls-key "$PKI/server.key" "$@" \
    >>"$E2E_TMP/mock.log" 2>&1 &
  MOCK_PID=$!
  e2e_track "$MOCK_PID"
  wait_for 10 "mock receiver" test -s "$dir/mock.port"
  MOCK_URL=https://127.0.0.1:$(cat "$dir/mock.port")
  wait_for 10 "mock receiver on $MOCK_URL" curl -fsS -o /dev/null --max-time 2 --cacert "$PKI/ca.crt" \
    --cert "$PKI/client.crt" --key "$PKI/client.key" "$MOCK_URL/"
  e2e_log "mock receiver $MOCK_PID (TLS $*) on $MOCK_URL"
}

# remote_entry URL EXTRA_YAML: one remote "r" with a quick batch deadline, so that a
# round's samples are sent well before the middle of the interval.
remote_entry() {
  cat <<EOF
  - name: r
    url: $1
    timeout: 5s
$2
    queue:
      dir: $SC/queue
      batch_send_deadline: 100ms
      min_backoff: 100ms
      max_backoff: 1s
EOF
}

counter() {
  local v
  v=$(metric "$1" "joulepush_remote_samples_total{outcome=\"$2\",remote=\"r\"}" --sum 2>/dev/null) || v=0
  printf '%.0f\n' "$v"
}
pending() {
  local v
  v=$(metric "$1" 'joulepush_remote_pending_samples{remote="r"}' --sum 2>/dev/null) || v=-1
  printf '%.0f\n' "$v"
}
pending_zero() {
  curl -fsS --max-time 2 "$AGENT_URL/metrics" -o "$SC/pending.prom" || return 1
  [ "$(pending "$SC/pending.prom")" = 0 ]
}

# accepted_samples LOG [UNTIL]: samples (stale markers included) in requests answered
# 2xx, only those the receiver logged at or before the Unix time UNTIL if given.
accepted_samples() {
  "$PYTHON3" -c '
import json, sys
until = float(sys.argv[2]) if len(sys.argv) > 2 else float("inf")
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("status") is not None and 200 <= r["status"] < 300 and r["t"] <= until:
        n += len(r.get("samples", []))
print(n)' "$@"
}
posts() { grep -c '"method": "POST"' "$1" 2>/dev/null || true; }

# begin NAME ENTRY_EXTRA_YAML: a fresh directory SC, config and agent (the mock must be
# running); the run starts in the middle of an interval.
begin() {
  e2e_log "== $1"
  AGENT_PORT=$(free_port) agent_config "$SC/agent.yaml" "$(remote_entry "$MOCK_URL/api/v1/write" "$2")"
  "$JOULEPUSH" --config "$SC/agent.yaml" --check-config >"$SC/check.out" 2>&1 \
    || fail "$1: the test's config is rejected: $(cat "$SC/check.out")"
  : >"$E2E_TMP/agent.log"
  sleep_to_mid_interval
  agent_start "$SC/agent.yaml"
  SC_START=$AGENT_START_MS
}

new_case() {
  SC=$E2E_TMP/$1
  mkdir -p "$SC"
}

# finish NAME: wait until the queue is empty, scrape in the middle of an interval (with
# nothing pending), SIGTERM; then every round's samples must have been accepted
# exactly once and in timestamp order per series, with the values the agent showed,
# and the agent's sent counter must match what the receiver accepted.
finish() {
  local name=$1 i p
  wait_for 20 "$name: pending samples to drain" pending_zero
  for ((i = 0; i < 5; i++)); do
    sleep_to_mid_interval
    scrape "$SC/final.prom"
    p=$(pending "$SC/final.prom")
    [ "$p" = 0 ] && break
  done
  [ "$p" = 0 ] || fail "$name: $p samples still pending in the middle of every interval"
  agent_term
  SC_STOP=$AGENT_STOP_MS
  cp "$E2E_TMP/agent.log" "$SC/agent.log"
  mock_stop
  e2e_py mock-log "$MOCK_LOG" --check-unique --samples-out "$SC/accepted.json" \
    || fail "$name: the receiver accepted a sample twice or out of order"
  e2e_py verify --samples "$SC/accepted.json" --rounds "$SC/rounds.log" --names "$CHECK_NAMES" \
    || fail "$name: the receiver does not hold exactly what the agent collected"
  # /metrics shows the self-metrics as of the last collection round (they are also
  # pushed as series), so sent is compared with what the receiver had accepted up to
  # the last success that the same exposition reports.
  local sent acc dropped last
  sent=$(counter "$SC/final.prom" sent)
  dropped=$(counter "$SC/final.prom" dropped)
  last=$(metric "$SC/final.prom" 'joulepush_remote_last_success_timestamp_seconds{remote="r"}' --sum) \
    || fail "$name: no joulepush_remote_last_success_timestamp_seconds on /metrics"
  acc=$(accepted_samples "$MOCK_LOG" "$last")
  [ "$sent" -gt 0 ] || fail "$name: outcome=\"sent\" is $sent"
  [ "$sent" -eq "$acc" ] || fail "$name: outcome=\"sent\" is $sent, the receiver had accepted $acc samples by $last"
  [ "$dropped" -eq 0 ] || fail "$name: outcome=\"dropped\" is $dropped"
  e2e_log "$name: $(accepted_samples "$MOCK_LOG") samples accepted exactly once; sent=$sent at the last round"
}

# every_request LOG PYTHON_EXPR: the expression (over h, the request's headers with
# lower-case names, and r, the record) holds for every POST, and there is one.
every_request() {
  "$PYTHON3" - "$1" "$2" <<'EOF' || return 1
import json, sys
log, expr = sys.argv[1], sys.argv[2]
n = 0
for line in open(log):
    r = json.loads(line)
    if r.get("method") != "POST":
        continue
    n += 1
    h = {k.lower(): v for k, v in r["headers"].items()}
    if not eval(expr, {}, {"h": h, "r": r}):
        print("FAIL: request %d: %s does not hold; headers %s" % (r["seq"], expr, r["headers"]))
        sys.exit(1)
if not n:
    print("FAIL: no request")
    sys.exit(1)
EOF
}

TLS_FILES="    tls: {ca_file: $PKI/ca.crt, cert_file: $PKI/client.crt, key_file: $PKI/client.key}"

# --- (1) mutual TLS, with (6) custom and protocol headers ------------------------------
new_case mtls
tls_mock_start "$SC" --tls-client-ca "$PKI/ca.crt"
begin mtls "$TLS_FILES
    headers: {THANOS-TENANT: edge-7, X-Scope-OrgID: team-a}"
sleep 4
finish mtls
every_request "$MOCK_LOG" 'r["tls"]["client_cn"] == "joulepush-e2e-client"' \
  || fail "mtls: a request came without the client certificate"
grep -q '"event": "tls_error"' "$MOCK_LOG" && fail "mtls: the receiver saw a failed TLS handshake"
every_request "$MOCK_LOG" 'h.get("thanos-tenant") == "edge-7" and h.get("x-scope-orgid") == "team-a"' \
  || fail "headers: a request lacks THANOS-TENANT: edge-7 or X-Scope-OrgID: team-a"
every_request "$MOCK_LOG" "h.get('content-encoding') == 'snappy' and h.get('content-type') == 'application/x-protobuf' and h.get('x-prometheus-remote-write-version') == '0.1.0' and h.get('user-agent') == 'joulepush/$VERSION'" \
  || fail "headers: the protocol headers are not those of docs/reference/remote-write.md"
# Each header once: http.server keeps repeated headers, and the log would show both.
"$PYTHON3" - "$MOCK_LOG" <<'EOF' || fail "headers: a header was sent twice"
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("method") == "POST":
        names = [k.lower() for k in r["headers"]]
        dup = sorted({k for k in names if names.count(k) > 1})
        if dup:
            print("FAIL: request %d repeats %s" % (r["seq"], dup))
            sys.exit(1)
EOF
e2e_log "mtls and headers: ok"

# --- (2) an untrusted server: nothing sent, data kept; SIGHUP with the CA delivers ----
new_case untrusted
tls_mock_start "$SC"
begin untrusted ""
sleep 2.5
scrape "$SC/early.prom"
sleep 2
scrape "$SC/later.prom"
p1=$(pending "$SC/early.prom")
p2=$(pending "$SC/later.prom")
[ "$p1" -gt 0 ] || fail "untrusted: pending is $p1 while the server cannot be verified"
[ "$p2" -gt "$p1" ] || fail "untrusted: pending did not grow ($p1 then $p2)"
[ "$(counter "$SC/later.prom" sent)" -eq 0 ] || fail "untrusted: samples counted as sent to an untrusted server"
[ "$(counter "$SC/later.prom" dropped)" -eq 0 ] || fail "untrusted: samples dropped on a TLS error"
[ "$(posts "$MOCK_LOG")" -eq 0 ] || fail "untrusted: the agent sent $(posts "$MOCK_LOG") requests to an unverified server"
grep -q '"event": "tls_error"' "$MOCK_LOG" || fail "untrusted: the receiver saw no failed handshake"
grep -iqE 'ssl|tls|certificate' "$E2E_TMP/agent.log" || fail "untrusted: the agent did not log a TLS error"
e2e_log "untrusted: pending $p1 -> $p2, nothing sent; agent said: $(grep -iE 'ssl|tls|certificate' "$E2E_TMP/agent.log" | head -n 1)"
# The fixed config: the same remote, now with the CA.
AGENT_PORT=${AGENT_URL##*:} agent_config "$SC/agent.yaml" \
  "$(remote_entry "$MOCK_URL/api/v1/write" "    tls: {ca_file: $PKI/ca.crt}")"
kill -HUP "$AGENT_PID"
wait_for 10 "untrusted: the agent to reload" grep -q 'config reloaded' "$E2E_TMP/agent.log"
finish untrusted
e2e_log "untrusted: ok (everything queued was delivered after the reload)"

# --- (3) insecure_skip_verify: delivered without the CA --------------------------------
new_case insecure
tls_mock_start "$SC"
begin insecure "    tls: {insecure_skip_verify: true}"
sleep 3
finish insecure
e2e_log "insecure: ok"

# --- (4) basic auth from a password file ------------------------------------------------
new_case basic
PASSWORD="pw-$RANDOM-$RANDOM-s3cr3t"
printf '%s\n' "$PASSWORD" >"$SC/password"
chmod 600 "$SC/password"
# A 500 first, so that the retry path (which logs) runs with the credentials in use.
MOCK_SCENARIO=500,200 tls_mock_start "$SC"
AGENT_LOG_LEVEL=debug begin basic "    tls: {ca_file: $PKI/ca.crt}
    basic_auth: {username: edge-agent, password_file: $SC/password}"
sleep 3
finish basic
[ "$(counter "$SC/final.prom" retried)" -gt 0 ] || fail "basic: the 500 was not counted as retried"
want=$(printf '%s' "edge-agent:$PASSWORD" | base64 -w0)
every_request "$MOCK_LOG" "h.get('authorization') == 'Basic $want'" \
  || fail "basic: Authorization is not Basic base64(user:password)"
grep -qF "$PASSWORD" "$SC/agent.log" "$SC/check.out" && fail "basic: the password appears in the agent's log"
grep -qF "$want" "$SC/agent.log" && fail "basic: the encoded credentials appear in the agent's log"
grep -qF "$PASSWORD" "$SC/final.prom" && fail "basic: the password appears on /metrics"
e2e_log "basic: ok"

# --- (5) bearer token from a file --------------------------------------------------------
new_case bearer
TOKEN="tok-$RANDOM$RANDOM-eyJhbGciOi"
printf '%s\n' "$TOKEN" >"$SC/token"
chmod 600 "$SC/token"
MOCK_SCENARIO=500,200 tls_mock_start "$SC"
AGENT_LOG_LEVEL=debug begin bearer "    tls: {ca_file: $PKI/ca.crt}
    bearer_token_file: $SC/token"
sleep 3
finish bearer
[ "$(counter "$SC/final.prom" retried)" -gt 0 ] || fail "bearer: the 500 was not counted as retried"
every_request "$MOCK_LOG" "h.get('authorization') == 'Bearer $TOKEN'" \
  || fail "bearer: Authorization is not 'Bearer <token>'"
grep -qF "$TOKEN" "$SC/agent.log" "$SC/check.out" "$SC/final.prom" && fail "bearer: the token appears in the agent's output"
e2e_log "bearer: ok"

# --- (6) reserved headers are refused with FILE:LINE ------------------------------------
new_case reserved
for h in Content-Type content-encoding User-Agent X-Prometheus-Remote-Write-Version Authorization; do
  cfg=$SC/reserved-$h.yaml
  AGENT_PORT=1 agent_config "$cfg" "$(remote_entry "https://127.0.0.1:1/api/v1/write" "    headers:
      THANOS-TENANT: edge-7
      $h: x")"
  line=$(grep -n "^      $h: x\$" "$cfg" | cut -d: -f1)
  out=$("$JOULEPUSH" --config "$cfg" --check-config 2>&1)
  rc=$?
  [ "$rc" -eq 1 ] || fail "reserved: --check-config exits $rc for a '$h' header (want 1): $out"
  printf '%s\n' "$out" | grep -qE "^$cfg:$line: [^ ]*$h: " \
    || fail "reserved: --check-config said '$out' for '$h' on line $line (want $cfg:$line: key: reason)"
done
e2e_log "reserved: ok ($(printf '%s' "$out" | head -n 1))"
e2e_log "PASS"
