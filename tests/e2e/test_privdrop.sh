#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# README.md: with `user: nobody` the agent opens what needs root, then runs as nobody and
# keeps collecting (the eBPF collector too) and delivering from its queue, which it
# hands over to that user.
source "$(dirname "$0")/lib.sh"
require_cmd curl "$PYTHON3"
e2e_init privdrop
if [ "$(id -u)" -ne 0 ]; then
  [ "${CI:-}" = true ] && fail "needs root on CI"
  e2e_log "SKIP: needs root to switch users"
  exit 77
fi
id nobody >/dev/null 2>&1 || fail "no user nobody"

mock_start "200"
mode=synthetic
# The eBPF probe needs root to load; what it left open must keep working as nobody.
if [ -r /sys/kernel/btf/vmlinux ]; then mode=ebpf; fi
agent_config "$E2E_TMP/agent.yaml" "$(remote_yaml mock "$MOCK_URL/api/v1/write")"
sed -i "s/^  mode: synthetic/  mode: $mode/" "$E2E_TMP/agent.yaml"
printf 'user: nobody\n' >>"$E2E_TMP/agent.yaml"
# nobody reads the config again on SIGHUP.
chmod 0755 "$E2E_TMP"
chmod 0644 "$E2E_TMP/agent.yaml"
agent_start "$E2E_TMP/agent.yaml"
! grep -q 'reloads (SIGHUP) will fail' "$E2E_TMP/agent.log" || fail "a readable config is said to be unreadable"

owner=$(ps -o user= -p "$AGENT_PID" | tr -d ' ')
[ "$owner" = nobody ] || fail "the agent runs as '$owner', not nobody"
grep -q 'running as user nobody' "$E2E_TMP/agent.log" || fail "no log line about the switch"
# No capability is left, none can come back through execve.
st=/proc/$AGENT_PID/status
for f in CapPrm CapEff CapInh CapAmb; do
  v=$(awk -v f="$f:" '$1 == f {print $2}' "$st")
  [ "$v" = 0000000000000000 ] || fail "$f is $v after the switch (want none)"
done
[ "$(awk '$1 == "NoNewPrivs:" {print $2}' "$st")" = 1 ] || fail "no_new_privs is not set"
qowner=$(stat -c %U "$E2E_TMP/queue/mock")
[ "$qowner" = nobody ] || fail "the queue directory belongs to '$qowner'"
# state.dir (auto: next to the queue) is handed over too, and written as nobody.
sowner=$(stat -c %U "$E2E_TMP/state")
[ "$sowner" = nobody ] || fail "the state directory belongs to '$sowner'"
wait_for 10 "the counters file written as nobody" bash -c "[ \"\$(stat -c %U '$E2E_TMP/state/counters' 2>/dev/null)\" = nobody ]"
! grep -q 'cannot save the counters' "$E2E_TMP/agent.log" || fail "the counters could not be saved as nobody"

# It keeps collecting and delivering as nobody.
wait_for 15 "samples delivered as nobody" bash -c \
  "curl -fsS '$AGENT_URL/metrics' | grep -E 'joulepush_remote_samples_total\\{.*outcome=\"sent\".*\\} [1-9]'"
scrape "$E2E_TMP/m1.prom"
c1=$(metric "$E2E_TMP/m1.prom" 'joulepush_collections_total' --sum)
sleep 2.5
scrape "$E2E_TMP/m2.prom"
c2=$(metric "$E2E_TMP/m2.prom" 'joulepush_collections_total' --sum)
[ "${c2%.*}" -gt "${c1%.*}" ] || fail "collections stopped after the switch ($c1 -> $c2)"
errs=$(metric "$E2E_TMP/m2.prom" "joulepush_collection_errors_total" --sum)
[ "${errs%.*}" -eq 0 ] || fail "$errs collection errors as nobody"
grep -q "collector=\"$mode\"" "$E2E_TMP/m2.prom" || fail "build_info does not say collector=$mode"

# A reload that changes a collector key would reopen the collector as nobody, which can
# no longer load the eBPF probe: it is refused, naming the key, and the probe stays.
if [ "$mode" = ebpf ]; then
  sed -i "s/^collector:/collector:\n  bpf_map_entries: 20000/" "$E2E_TMP/agent.yaml"
  kill -HUP "$AGENT_PID"
  wait_for 10 "the reload to be answered" grep -q 'reload rejected' "$E2E_TMP/agent.log"
  grep 'reload rejected' "$E2E_TMP/agent.log" | grep -q 'collector.bpf_map_entries' \
    || fail "the rejected reload does not name the key: $(grep 'reload rejected' "$E2E_TMP/agent.log")"
  grep 'reload rejected' "$E2E_TMP/agent.log" | grep -qE 'eBPF|without privileges' || fail "the rejected reload does not say why"
  sleep 2.2
  scrape "$E2E_TMP/m3.prom"
  grep -q 'collector="ebpf"' "$E2E_TMP/m3.prom" || fail "the collector changed after the reload: $(grep build_info "$E2E_TMP/m3.prom")"
  ! grep -q 'falling back to cgroupfs' "$E2E_TMP/agent.log" || fail "eBPF fell back to cgroupfs after the reload"
fi
agent_term

# A secret the agent reads again after the drop (a rotated bearer token) that nobody
# cannot read: the start is refused, naming the file, instead of failing at the rotation.
install -m 0600 /dev/null "$E2E_TMP/token"
echo secret-token >"$E2E_TMP/token"
agent_config "$E2E_TMP/secret.yaml" "$(remote_yaml mock "$MOCK_URL/api/v1/write")
    bearer_token_file: $E2E_TMP/token"
printf 'user: nobody\n' >>"$E2E_TMP/secret.yaml"
agent_start_refused "$E2E_TMP/secret.yaml" "although nobody cannot read the token"
grep -q "$E2E_TMP/token is not readable by uid" "$E2E_TMP/agent.log" \
  || fail "the refusal does not name the token file: $(tail -3 "$E2E_TMP/agent.log")"
# Readable by nobody's group (a Secret volume with fsGroup and mode 0440): it starts.
chgrp "$(id -gn nobody)" "$E2E_TMP/token" && chmod 0440 "$E2E_TMP/token"
: >"$E2E_TMP/agent.log"
agent_start "$E2E_TMP/secret.yaml"
agent_term
e2e_log "PASS ($mode collector as nobody)"
