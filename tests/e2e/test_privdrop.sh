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
agent_start "$E2E_TMP/agent.yaml"

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
agent_term
e2e_log "PASS ($mode collector as nobody)"
