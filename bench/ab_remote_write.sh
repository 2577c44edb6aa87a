#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two joulepush builds side by side: each pushes a synthetic node of ~10,000 series every
# 1 s (state.dir on, RW 1.0) into one local VictoriaMetrics, at the same time, for
# BENCH_SECONDS (default 60). Prints each one's CPU per delivered sample (schedstat, ns)
# and their ratio. The machine's speed drifts by more than 10 % between runs of
# bench_remote_write.sh; running both builds in one window cancels that drift, so a change
# of a few percent shows. Swap the order and run again to see the noise that remains.
# Usage: bench/ab_remote_write.sh path/to/joulepush-A path/to/joulepush-B
set -euo pipefail
A=${1:?usage: ab_remote_write.sh joulepush-A joulepush-B}
B=${2:?usage: ab_remote_write.sh joulepush-A joulepush-B}
SECONDS_RUN=${BENCH_SECONDS:-60}
WARMUP=${BENCH_WARMUP:-15}
PODS=${BENCH_PODS:-1241}   # 1241 pods of 2 containers: 9,986 series, as bench_remote_write.sh
here=$(cd "$(dirname "$0")" && pwd)
BENCH_NAME=ab
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

for bin in victoria-metrics python3 curl; do
  command -v "$bin" >/dev/null || { echo "ab: $bin not found (run scripts/setup.sh)" >&2; exit 1; }
done
for bin in "$A" "$B"; do [ -x "$bin" ] || { echo "ab: $bin is not an executable" >&2; exit 1; }; done

sent() { # samples the agent counts as sent, from its /metrics
  curl -fsS "http://127.0.0.1:$1/metrics" |
    awk '$1 ~ /^joulepush_remote_samples_total\{.*outcome="sent"/ { s += $NF } END { printf "%.0f\n", s }'
}

VM_PORT=$(free_port)
victoria-metrics -httpListenAddr "127.0.0.1:$VM_PORT" -storageDataPath "$work/vm" -retentionPeriod 1d \
  >"$work/vm.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$VM_PORT/health"

declare -A pid port
for x in A B; do
  port[$x]=$(free_port)
  cat >"$work/$x.yaml" <<EOF
interval: 1s
collector: {mode: synthetic, synthetic: {pods: $PODS, containers_per_pod: 2, seed: 1}}
server: {listen: "127.0.0.1:${port[$x]}"}
state: {dir: $work/$x-state}
external_labels: {ab: "$x"}
remote_write:
  - name: vm
    url: http://127.0.0.1:$VM_PORT/api/v1/write
    queue: {dir: $work/$x-queue}
EOF
done
"$A" --config "$work/A.yaml" 2>"$work/A.log" &
pid[A]=$!; pids+=(${pid[A]})
"$B" --config "$work/B.yaml" 2>"$work/B.log" &
pid[B]=$!; pids+=(${pid[B]})
for x in A B; do wait_http "http://127.0.0.1:${port[$x]}/readyz"; done
sleep "$WARMUP"

declare -A n0 n1 s0 s1
for x in A B; do n0[$x]=$(cpu_ns "${pid[$x]}"); s0[$x]=$(sent "${port[$x]}"); done
sleep "$SECONDS_RUN"
for x in A B; do n1[$x]=$(cpu_ns "${pid[$x]}"); s1[$x]=$(sent "${port[$x]}"); done

python3 - "$A" "$B" "${n0[A]}" "${n1[A]}" "${s0[A]}" "${s1[A]}" "${n0[B]}" "${n1[B]}" "${s0[B]}" "${s1[B]}" \
  "$SECONDS_RUN" <<'EOF'
import sys
a = sys.argv[1:]
per = {}
for name, (n0, n1, s0, s1) in (("A", a[2:6]), ("B", a[6:10])):
    n0, n1, s0, s1 = (int(v) for v in (n0, n1, s0, s1))
    if s1 <= s0:
        sys.exit(f"ab: {name} delivered no samples in the window")
    per[name] = (n1 - n0) / 1e3 / (s1 - s0)
    print(f"{name} {a[0] if name == 'A' else a[1]}: {per[name]:.3f} us CPU per delivered sample "
          f"({s1 - s0} samples in {a[10]}s, schedstat)")
print(f"B/A: {per['B'] / per['A']:.3f}")
EOF
