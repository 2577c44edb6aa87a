#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# On a machine with a real NVIDIA GPU: NVML's own power (nvidia-smi) next to joulepush's
# (the rate of joulepush_gpu_energy_joules_total) per device, for an idle phase and a busy
# one. Prints numbers; asserts nothing.
#
#   bench/bench_gpu.sh                     # idle phase only
#   BUSY_CMD='./gpu_burn 60' bench/bench_gpu.sh
#
# env: JOULEPUSH (build/joulepush), PHASE_SECONDS (30), BUSY_CMD (a command that keeps the
# GPUs busy for at least PHASE_SECONDS; none: the busy phase is skipped), NVML_LIBRARY
# (libnvidia-ml.so.1). Exits 77 where there is no NVIDIA GPU (no nvidia-smi, or it lists
# none): nothing is measured then.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
JOULEPUSH=${JOULEPUSH:-$top/build/joulepush}
PHASE=${PHASE_SECONDS:-30}
LIB=${NVML_LIBRARY:-libnvidia-ml.so.1}
command -v nvidia-smi >/dev/null 2>&1 || { echo "bench_gpu: no nvidia-smi: no NVIDIA GPU here, nothing measured" >&2; exit 77; }
n=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | wc -l)
[ "$n" -gt 0 ] || { echo "bench_gpu: nvidia-smi lists no GPU, nothing measured" >&2; exit 77; }
[ -x "$JOULEPUSH" ] || { echo "bench_gpu: no agent at $JOULEPUSH (build first)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/jp-bench-gpu.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/agent.yaml" <<EOC
interval: 2s
collector: {mode: cgroupfs}
gpu: {source: nvml, nvml_library: $LIB}
server: {listen: 127.0.0.1:$port}
log: {level: warn}
EOC
"$JOULEPUSH" --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
agent=$!
trap 'kill $agent 2>/dev/null; wait $agent 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
sleep 5   # the first round takes the counters' baselines

# counters FILE: "index joules" per device from /metrics.
counters() {
  curl -fsS "http://127.0.0.1:$port/metrics" |
    sed -n 's/^joulepush_gpu_energy_joules_total{.*gpu="\([0-9]*\)".*} \(.*\)$/\1 \2/p' | sort -n >"$1"
}

phase() { # NAME
  local t0 t1
  counters "$tmp/c0"
  t0=$(date +%s.%N)
  : >"$tmp/smi"
  for ((i = 0; i < PHASE; i++)); do
    nvidia-smi --query-gpu=index,power.draw --format=csv,noheader,nounits >>"$tmp/smi" 2>/dev/null
    sleep 1
  done
  counters "$tmp/c1"
  t1=$(date +%s.%N)
  python3 - "$1" "$tmp/smi" "$tmp/c0" "$tmp/c1" "$t0" "$t1" <<'PY'
import sys
name, smi, c0, c1, t0, t1 = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), float(sys.argv[6])
w = {}
for line in open(smi):
    parts = [p.strip() for p in line.split(",")]
    if len(parts) == 2 and parts[1] not in ("[N/A]", ""):
        w.setdefault(parts[0], []).append(float(parts[1]))
a = dict(l.split() for l in open(c0))
b = dict(l.split() for l in open(c1))
# The agent's counters move at round boundaries (every 2 s): over PHASE seconds the rate is
# within one round of the phase.
for dev in sorted(w, key=int):
    smi_w = sum(w[dev]) / len(w[dev])
    ours = (float(b.get(dev, 0)) - float(a.get(dev, 0))) / (t1 - t0) if dev in a and dev in b else float("nan")
    print("%-5s GPU %s: nvidia-smi %8.2f W   joulepush %8.2f W   %+6.2f %%" % (name, dev, smi_w, ours, 100 * (ours - smi_w) / smi_w))
PY
}

phase idle
if [ -n "${BUSY_CMD:-}" ]; then
  sh -c "$BUSY_CMD" >"$tmp/busy.log" 2>&1 &
  busy=$!
  sleep 3
  phase busy
  kill "$busy" 2>/dev/null
  wait "$busy" 2>/dev/null
else
  echo "busy phase skipped (set BUSY_CMD to a command that keeps the GPUs busy)"
fi
