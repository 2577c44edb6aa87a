# SPDX-License-Identifier: Apache-2.0
# Sourced by the remote-write benchmarks: a work directory removed at exit with every
# process listed in pids, free loopback ports, waiting for an HTTP endpoint, CPU time.
# The caller sets BENCH_NAME (for messages) before sourcing.
work=$(mktemp -d "/tmp/jp-${BENCH_NAME:-bench}.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {
  for _ in $(seq 1 100); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "${BENCH_NAME:-bench}: $1 did not answer" >&2
  return 1
}
# On-CPU time in nanoseconds of a process's live threads (schedstat): finer than ticks.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
