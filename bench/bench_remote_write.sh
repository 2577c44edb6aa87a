#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Remote-write cost benchmark: joulepush (synthetic node, ~10,000 series, 1 s interval) and
# Debian's vmagent (scraping an equivalent 10,000-series exposition every 1 s) push into one
# local VictoriaMetrics for BENCH_SECONDS (default 60). Prints, for both: CPU seconds per
# million samples delivered, peak RSS, and bytes on the wire (request bodies) per sample;
# for joulepush also the RSS of the same agent with no series, and peak PSS and USS (RSS
# counts every page of the shared libraries it maps: libcurl's TLS stacks, expat).
# Usage: bench/bench_remote_write.sh [path/to/joulepush]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
JOULEPUSH=${1:-${JOULEPUSH:-$here/../build/joulepush}}
SECONDS_RUN=${BENCH_SECONDS:-60}
WARMUP=${BENCH_WARMUP:-10}
TARGET_SERIES=${BENCH_SERIES:-10000}
BENCH_NAME=bench
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

for bin in victoria-metrics vmagent python3 curl; do
  command -v "$bin" >/dev/null || { echo "bench: $bin not found (run scripts/setup.sh)" >&2; exit 1; }
done
[ -x "$JOULEPUSH" ] || { echo "bench: $JOULEPUSH is not built" >&2; exit 1; }

metric() { # metric URL NAME_REGEX -> sum of matching sample values
  curl -fsS "$1" | awk -v re="$2" '$1 ~ re { s += $NF } END { printf "%.0f\n", s }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

VM_PORT=$(free_port); JP_PORT=$(free_port); EXPO_PORT=$(free_port); VMA_PORT=$(free_port)
victoria-metrics -httpListenAddr "127.0.0.1:$VM_PORT" -storageDataPath "$work/vm" -retentionPeriod 1d \
  -search.latencyOffset 1s >"$work/vm.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$VM_PORT/health"

# Pick the pod count that gives TARGET_SERIES series: one synthetic round reports its size.
probe_cfg="$work/probe.yaml"
printf 'interval: 1s\ncollector: {mode: synthetic, synthetic: {pods: 1000, containers_per_pod: 2, seed: 1}}\nserver: {listen: ""}\n' >"$probe_cfg"
per1000=$("$JOULEPUSH" --config "$probe_cfg" --once 2>/dev/null | grep -c '^joulepush_')
printf 'interval: 1s\ncollector: {mode: synthetic, synthetic: {pods: 0, containers_per_pod: 2, seed: 1}}\nserver: {listen: ""}\n' >"$probe_cfg"
base=$("$JOULEPUSH" --config "$probe_cfg" --once 2>/dev/null | grep -c '^joulepush_')
pods=$(( (TARGET_SERIES - base) * 1000 / (per1000 - base) ))

cat >"$work/jp.yaml" <<YML
interval: 1s
external_labels: {bench: joulepush}
collector:
  mode: synthetic
  synthetic: {pods: $pods, containers_per_pod: 2, seed: 1}
remote_write:
  - name: vm
    url: http://127.0.0.1:$VM_PORT/api/v1/write
    queue: {dir: $work/queue}
server:
  listen: 127.0.0.1:$JP_PORT
log: {level: warn}
YML

# The equivalent exposition for vmagent: what joulepush itself prints for that node,
# served as a static file (the server's CPU is not counted).
"$JOULEPUSH" --config "$work/jp.yaml" --once 2>/dev/null | grep -v '^joulepush_remote' >"$work/metrics"
series=$(grep -c '^joulepush_' "$work/metrics")
(cd "$work" && exec python3 -m http.server "$EXPO_PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
wait_http "http://127.0.0.1:$EXPO_PORT/metrics"
cat >"$work/scrape.yaml" <<YML
scrape_configs:
  - job_name: expo
    scrape_interval: 1s
    static_configs: [{targets: ["127.0.0.1:$EXPO_PORT"]}]
YML

# The same agent with no pods: what the process costs before any series (libraries
# mapped and relocated: libcurl with its TLS stacks, expat, libbpf), for context.
sed 's/pods: [0-9]*/pods: 0/; s/listen: 127.0.0.1:[0-9]*/listen: ""/; s|dir: .*queue}|dir: '"$work"'/queue0}|' \
  "$work/jp.yaml" >"$work/jp0.yaml"
"$JOULEPUSH" --config "$work/jp0.yaml" 2>"$work/jp0.log" &
jp0_pid=$!; pids+=($jp0_pid)

"$JOULEPUSH" --config "$work/jp.yaml" 2>"$work/jp.log" &
jp_pid=$!; pids+=($jp_pid)
vmagent -httpListenAddr "127.0.0.1:$VMA_PORT" -promscrape.config "$work/scrape.yaml" \
  -remoteWrite.url "http://127.0.0.1:$VM_PORT/api/v1/write" -remoteWrite.tmpDataPath "$work/vmagent" \
  -remoteWrite.label bench=vmagent >"$work/vmagent.log" 2>&1 &
vma_pid=$!; pids+=($vma_pid)
wait_http "http://127.0.0.1:$JP_PORT/readyz"
wait_http "http://127.0.0.1:$VMA_PORT/metrics"
sleep "$WARMUP"

hz=$(getconf CLK_TCK)
jp_c0=$(cpu_ticks $jp_pid); vma_c0=$(cpu_ticks $vma_pid); jp_n0=$(cpu_ns $jp_pid); vma_n0=$(cpu_ns $vma_pid)
jp_s0=$(metric "http://127.0.0.1:$JP_PORT/metrics" '^joulepush_remote_samples_total\\{.*outcome="sent"')
jp_b0=$(metric "http://127.0.0.1:$JP_PORT/metrics" '^joulepush_remote_sent_bytes_total')
vma_s0=$(metric "http://127.0.0.1:$VMA_PORT/metrics" '^vmagent_remotewrite_rows_pushed_after_relabel_total')
vma_b0=$(metric "http://127.0.0.1:$VMA_PORT/metrics" '^vmagent_remotewrite_bytes_sent_total')
# Sample the agent's memory every second: peak PSS (shared library pages divided among the
# processes that map them) and peak USS (pages only this process has), besides VmHWM.
: >"$work/jp_mem"
for _ in $(seq 1 "$SECONDS_RUN"); do
  awk '/^Pss:/ { p = $2 } /^Private_Clean:/ { u += $2 } /^Private_Dirty:/ { u += $2 } END { print p, u }' \
    "/proc/$jp_pid/smaps_rollup" >>"$work/jp_mem" 2>/dev/null || true
  sleep 1
done
jp_pss=$(awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }' "$work/jp_mem")
jp_uss=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$work/jp_mem")
jp_c1=$(cpu_ticks $jp_pid); vma_c1=$(cpu_ticks $vma_pid); jp_n1=$(cpu_ns $jp_pid); vma_n1=$(cpu_ns $vma_pid)
jp_s1=$(metric "http://127.0.0.1:$JP_PORT/metrics" '^joulepush_remote_samples_total\\{.*outcome="sent"')
jp_b1=$(metric "http://127.0.0.1:$JP_PORT/metrics" '^joulepush_remote_sent_bytes_total')
vma_s1=$(metric "http://127.0.0.1:$VMA_PORT/metrics" '^vmagent_remotewrite_rows_pushed_after_relabel_total')
vma_b1=$(metric "http://127.0.0.1:$VMA_PORT/metrics" '^vmagent_remotewrite_bytes_sent_total')
jp_hwm=$(hwm_kib $jp_pid); vma_hwm=$(hwm_kib $vma_pid); jp0_hwm=$(hwm_kib $jp0_pid)
jp_anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$jp_pid/status")
jp_rss=$(rss_kib $jp_pid); vma_rss=$(rss_kib $vma_pid)

# Cross-check against what the server stored over the measured window.
curl -fsS "http://127.0.0.1:$VM_PORT/internal/force_flush" >/dev/null 2>&1 || true
sleep 2
stored() {
  curl -fsS "http://127.0.0.1:$VM_PORT/api/v1/export" --data-urlencode "match[]={bench=\"$1\"}" \
    --data-urlencode "start=-$((SECONDS_RUN + WARMUP + 5))s" |
    python3 -c 'import sys,json; print(sum(len(json.loads(l)["values"]) for l in sys.stdin if l.strip()))'
}
jp_stored=$(stored joulepush); vma_stored=$(stored vmagent)

python3 - "$hz" "$series" "$pods" "$SECONDS_RUN" "$jp0_hwm" "$jp_anon" "$jp_pss" "$jp_uss" \
  "$jp_c0" "$jp_c1" "$jp_s0" "$jp_s1" "$jp_b0" "$jp_b1" "$jp_hwm" "$jp_stored" "$jp_rss" \
  "$vma_c0" "$vma_c1" "$vma_s0" "$vma_s1" "$vma_b0" "$vma_b1" "$vma_hwm" "$vma_stored" "$vma_rss" <<'PY'
import sys
a = sys.argv[1:]
hz, series, pods, secs = float(a[0]), int(a[1]), int(a[2]), int(a[3])
jp0_hwm, jp_anon, jp_pss, jp_uss = int(a[4]), int(a[5]), int(a[6]), int(a[7])
a = a[:4] + a[8:]
def row(name, c0, c1, s0, s1, b0, b1, hwm, stored, rss):
    cpu = (float(c1) - float(c0)) / hz
    n = float(s1) - float(s0)
    if n <= 0:
        print(f"{name:10s} delivered no samples in the window (stored in total: {stored})")
        return None
    us = cpu / n * 1e6
    wire = (float(b1) - float(b0)) / n if float(b1) > 0 else float('nan')
    print(f"{name:10s} samples={n:10.0f}  cpu={cpu:6.2f}s  cpu_per_million={cpu / n * 1e6:7.3f}s "
          f"({us:6.3f} us/sample)  peak_rss={int(hwm) / 1024:6.1f}MiB  rss_end={int(rss) / 1024:6.1f}MiB  "
          f"wire={wire:6.2f}B/sample  "
          f"stored_total={stored}")
    return us
print(f"series per interval: {series} (synthetic pods: {pods}); measured window: {secs}s at 1s interval")
jp = row("joulepush", *a[4:13])
print(f"joulepush  peak_rss with 0 series (same config, no pods): {jp0_hwm / 1024:.1f}MiB; "
      f"anonymous RSS at the end with {series} series: {jp_anon / 1024:.1f}MiB; "
      f"peak PSS {jp_pss / 1024:.1f}MiB, peak USS (private) {jp_uss / 1024:.1f}MiB (sampled each second)")
vma = row("vmagent", *a[13:22])
if jp and vma:
    print(f"joulepush/vmagent CPU per sample: {jp / vma:.3f}")
PY
# The same CPU from schedstat (live threads, nanoseconds): no tick rounding.
awk -v jn=$((jp_n1 - jp_n0)) -v js=$((jp_s1 - jp_s0)) -v vn=$((vma_n1 - vma_n0)) -v vs=$((vma_s1 - vma_s0)) 'BEGIN {
  if (js > 0 && vs > 0 && vn > 0)
    printf "schedstat (live threads, ns): joulepush %.3f us/sample, vmagent %.3f us/sample, ratio %.3f\n",
      jn / js / 1000, vn / vs / 1000, (jn / js) / (vn / vs) }'
