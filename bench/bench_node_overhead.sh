#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# joulepush's own overhead on a node with 200 pod-shaped cgroups:
# its CPU use as a share of one core, the sched_switch program's cost (ns per call and CPU
# share, from kernel.bpf_stats_enabled), and its peak RSS; with the eBPF collector, then
# with cgroupfs. Needs root and a cgroup v2 mount; without them it says SKIP and exits 0,
# so that `make bench` goes on with the others.
#
# usage: JOULEPUSH=./joulepush bench/bench_node_overhead.sh
# env:   BENCH_PODS (200), BENCH_BUSY (10 lightly busy pods among them), BENCH_WARMUP (10 s),
#        BENCH_WINDOW (60 s), BENCH_MODES ("ebpf cgroupfs")
set -uo pipefail

PODS=${BENCH_PODS:-200}
BUSY=${BENCH_BUSY:-10}
WARMUP=${BENCH_WARMUP:-10}
WINDOW=${BENCH_WINDOW:-60}
MODES=${BENCH_MODES:-ebpf cgroupfs}
PYTHON3=${PYTHON3:-python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${JOULEPUSH:-}" ]; then
  if [ -x ./joulepush ]; then JOULEPUSH=$PWD/joulepush; else JOULEPUSH=$HERE/../joulepush; fi
fi
# Targets: agent + eBPF under a tenth of a percent of one core, peak RSS under 20 MiB.
TARGET_CPU_PCT=0.1
TARGET_RSS_KB=$((20 * 1024))

skip() { echo "SKIP: bench_node_overhead: $*" >&2; exit 0; }
die() { echo "bench_node_overhead: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "not root"
CG_MOUNT=$(awk '{for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break }}' \
  /proc/self/mountinfo)
[ -n "$CG_MOUNT" ] || skip "no cgroup v2 mount"
for c in bpftool curl "$PYTHON3"; do command -v "$c" >/dev/null || skip "$c is not installed"; done
[ -x "$JOULEPUSH" ] || die "no joulepush binary at $JOULEPUSH (set JOULEPUSH)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/jp-bench-node.XXXXXX") || exit 1
KP=$CG_MOUNT/kubepods.slice
CREATED=()
POD_DIRS=()
AGENT_PID=
STATS_OLD=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)

cleanup() {
  local d i
  trap - EXIT INT TERM
  if [ -n "$AGENT_PID" ]; then
    kill -TERM "$AGENT_PID" 2>/dev/null
    wait "$AGENT_PID" 2>/dev/null
  fi
  sysctl -q -w kernel.bpf_stats_enabled="$STATS_OLD" >/dev/null 2>&1
  for d in "${POD_DIRS[@]+"${POD_DIRS[@]}"}"; do
    [ -e "$d/cgroup.kill" ] && echo 1 >"$d/cgroup.kill" 2>/dev/null
  done
  for d in "${POD_DIRS[@]+"${POD_DIRS[@]}"}"; do
    for p in $(cat "$d"/*/cgroup.procs 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    for ((i = 0; i < 50; i++)); do
      grep -q '^populated 0' "$d/cgroup.events" 2>/dev/null && break
      sleep 0.05
    done
  done
  for ((i = ${#CREATED[@]} - 1; i >= 0; i--)); do
    rmdir "${CREATED[i]}" 2>/dev/null || { [ -d "${CREATED[i]}" ] && echo "cannot remove ${CREATED[i]}" >&2; }
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkcg() {
  local parts=() d=$1
  while [ ! -d "$d" ]; do
    parts=("$d" "${parts[@]+"${parts[@]}"}")
    d=$(dirname "$d")
  done
  for d in "${parts[@]+"${parts[@]}"}"; do
    if mkdir "$d" 2>/dev/null; then CREATED+=("$d"); else [ -d "$d" ] || die "cannot create cgroup $d"; fi
  done
}

# --- 200 pods, one container and one process each ------------------------------------------
# The QoS classes rotate; pods 0..BUSY-1 do a little work five times a second, the rest sleep.
QOS=(burstable besteffort guaranteed)
for ((i = 0; i < PODS; i++)); do
  uid=$(printf 'b3c0%04x-0e4c-4d0a-9b11-%012x' "$i" "$i")
  cid=$(printf 'c0ffee%058x' "$i")
  q=${QOS[i % 3]}
  if [ "$q" = guaranteed ]; then
    pod=$KP/kubepods-pod${uid//-/_}.slice
  else
    pod=$KP/kubepods-$q.slice/kubepods-$q-pod${uid//-/_}.slice
  fi
  leaf=$pod/cri-containerd-$cid.scope
  [ -d "$pod" ] && { echo 1 >"$pod/cgroup.kill"; sleep 0.2; rmdir "$pod"/*/ "$pod" 2>/dev/null; }
  mkcg "$leaf"
  POD_DIRS+=("$pod")
  if ((i < BUSY)); then
    cmd='while :; do i=0; while [ $i -lt 400 ]; do i=$((i+1)); done; sleep 0.2; done'
  else
    cmd='exec sleep 100000'
  fi
  sh -c 'echo $$ >"$1/cgroup.procs" && exec sh -c "$2"' sh "$leaf" "$cmd" </dev/null >/dev/null 2>&1 &
  disown $!
done
sleep 1
n=0
for d in "${POD_DIRS[@]}"; do grep -q . "$d"/*/cgroup.procs && n=$((n + 1)); done
echo "pods: $n of $PODS pod cgroups hold a process ($BUSY lightly busy), under $KP"
[ "$n" -eq "$PODS" ] || die "not every pod cgroup got its process"
echo "machine: $(nproc) CPUs, $(uname -r), window ${WINDOW}s after ${WARMUP}s warm-up, interval 5s"

# --- measurements ------------------------------------------------------------------------------
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, clock ticks
run_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {print s + 0}'; }  # on-CPU ns, live threads
# The BPF program ids the agent holds (fdinfo of its bpf-prog fds), as "id,id".
agent_prog_ids() {
  grep -h '^prog_id:' /proc/"$1"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u | paste -sd,
}
# run_time_ns and run_cnt of the agent's sched_switch program (name jp_on_switch, see
# bpf/cgroup_cpu.bpf.c) and the sum over all its programs: "switch_ns switch_cnt all_ns".
prog_stats() {
  bpftool prog show --json | "$PYTHON3" -c '
import json, sys
ids = {int(x) for x in sys.argv[1].split(",") if x}
sw_ns = sw_cnt = all_ns = 0
for p in json.load(sys.stdin):
    if p["id"] not in ids:
        continue
    all_ns += p.get("run_time_ns", 0)
    if p.get("name", "").startswith("jp_on_switch"):
        sw_ns += p.get("run_time_ns", 0)
        sw_cnt += p.get("run_cnt", 0)
print(sw_ns, sw_cnt, all_ns)' "$1"
}
ctxt() { awk '$1 == "ctxt" {print $2}' /proc/stat; }
port=$("$PYTHON3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HZ=$(getconf CLK_TCK)

bench_mode() {
  local mode=$1 cfg=$TMP/$1.yaml ids t0 t1 c0 c1 r0 r1 x0 x1 s0 s1 hwm rss npods
  cat >"$cfg" <<EOF
node_name: bench-node
interval: 5s
collector:
  mode: $mode
server:
  listen: 127.0.0.1:$port
log: {level: info, format: text}
EOF
  sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null || die "cannot set kernel.bpf_stats_enabled"
  "$JOULEPUSH" --config "$cfg" >"$TMP/agent-$mode.log" 2>&1 &
  AGENT_PID=$!
  sleep "$WARMUP"
  kill -0 "$AGENT_PID" 2>/dev/null || { cat "$TMP/agent-$mode.log" >&2; die "$mode: joulepush exited"; }
  ids=$(agent_prog_ids "$AGENT_PID")
  [ "$mode" != ebpf ] || [ -n "$ids" ] || die "ebpf: the agent holds no BPF program"
  t0=$(date +%s%N); c0=$(cpu_ticks "$AGENT_PID"); r0=$(run_ns "$AGENT_PID"); x0=$(ctxt)
  read -r -a s0 <<<"$(prog_stats "$ids")"
  sleep "$WINDOW"
  t1=$(date +%s%N); c1=$(cpu_ticks "$AGENT_PID"); r1=$(run_ns "$AGENT_PID"); x1=$(ctxt)
  read -r -a s1 <<<"$(prog_stats "$ids")"
  hwm=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$AGENT_PID/status")
  rss=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$AGENT_PID/status")
  npods=$(curl -fsS --max-time 5 "http://127.0.0.1:$port/metrics" |
    grep -c '^joulepush_pod_cpu_seconds_total{.*pod_uid="b3c0')
  kill -TERM "$AGENT_PID"
  wait "$AGENT_PID"
  AGENT_PID=
  sysctl -q -w kernel.bpf_stats_enabled="$STATS_OLD" >/dev/null
  "$PYTHON3" - "$mode" "$t0" "$t1" "$c0" "$c1" "$r0" "$r1" "$x0" "$x1" "$HZ" "$hwm" "$npods" \
    "$TARGET_CPU_PCT" "$TARGET_RSS_KB" "$rss" "${s0[@]}" "${s1[@]}" <<'EOF'
import sys
a = sys.argv[1:]
mode = a[0]
t0, t1, c0, c1, r0, r1, x0, x1, hz, hwm, npods = (int(v) for v in a[1:12])
tcpu, trss, rss = float(a[12]), int(a[13]), int(a[14])
sw_ns0, sw_cnt0, all_ns0, sw_ns1, sw_cnt1, all_ns1 = (int(v) for v in a[15:21])
win = (t1 - t0) / 1e9
user_pct = 100.0 * (c1 - c0) / hz / win
sched_pct = 100.0 * (r1 - r0) / 1e9 / win
calls = sw_cnt1 - sw_cnt0
ns_call = (sw_ns1 - sw_ns0) / calls if calls else 0.0
bpf_pct = 100.0 * (all_ns1 - all_ns0) / 1e9 / win
# schedstat, not ticks: at this cost a 60 s window holds a handful of 10 ms ticks or none.
total = sched_pct + bpf_pct
print("== collector %s, %.1f s window, node %.0f context switches/s" % (mode, win, (x1 - x0) / win))
print("  pods reported in /metrics:   %d" % npods)
print("  joulepush CPU (utime+stime): %.3f %% of one core (%d ticks at %d Hz)" % (user_pct, c1 - c0, hz))
print("  joulepush CPU (schedstat):   %.3f %% of one core (live threads, ns resolution)" % sched_pct)
if mode == "ebpf":
    print("  sched_switch program:        %.1f ns per call, %d calls (%.0f/s)" % (ns_call, calls, calls / win))
    print("  eBPF programs' CPU:          %.3f %% of one core" % bpf_pct)
print("  total (schedstat + eBPF):    %.3f %% of one core   target < %.1f %%: %s"
      % (total, tcpu, "ok" if total < tcpu else "OVER"))
print("  peak RSS (VmHWM):            %.1f MiB             target < %d MiB: %s"
      % (hwm / 1024.0, trss // 1024, "ok" if hwm < trss else "OVER"))
print("  RSS at the end (VmRSS):      %.1f MiB" % (rss / 1024.0))
EOF
}

for m in $MODES; do bench_mode "$m"; done
