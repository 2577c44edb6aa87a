#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds every tests/fuzz/fuzz_*.c through automake (a build directory configured with
# CC=clang --enable-fuzz: the library itself with ASan, UBSan and libFuzzer's coverage;
# `make fuzz` links each target to it), runs each for $FUZZ_SECONDS seconds (default 30),
# prints one line per target, and exits non-zero if any target fails to build or crashes.
# A target missing from FUZZ_TARGETS in Makefile.am fails to build.
# Seeds, if any, are read from tests/fuzz/corpus/<target>/. Corpora, logs and crash
# inputs are kept under $FUZZ_OUT (default /tmp/joulepush-fuzz); the build under
# $FUZZ_BUILD (default build-fuzz).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${FUZZ_SECONDS:-30}
out=${FUZZ_OUT:-/tmp/joulepush-fuzz}
build=${FUZZ_BUILD:-$top/build-fuzz}
mkdir -p "$out" "$build"

targets=("$top"/tests/fuzz/fuzz_*.c)
if [ ! -e "${targets[0]}" ]; then
  echo "fuzz: no targets"
  exit 0
fi

blog="$out/build.log"
( cd "$top" && { [ -x configure ] && [ ! configure.ac -nt configure ] && [ ! Makefile.am -nt Makefile.in ]; } \
    || autoreconf -fi ) >"$blog" 2>&1
( cd "$build" && { [ -f Makefile ] || CC=${CLANG:-clang} "$top/configure" -q --enable-fuzz; } \
    && make -j"$(nproc)" fuzz ) >>"$blog" 2>&1
built=$?

failed=0
for src in "${targets[@]}"; do
  name=$(basename "$src" .c)
  log="$out/$name.log"
  : >"$log"
  bin="$build/tests/fuzz/$name"
  if [ $built -ne 0 ] || [ ! -x "$bin" ]; then
    make -C "$build" "tests/fuzz/$name" >>"$log" 2>&1
  fi
  if [ ! -x "$bin" ]; then
    echo "$name: BUILD FAILED (logs: $blog, $log)"
    failed=1
    continue
  fi
  mkdir -p "$out/$name/corpus" "$out/$name/crashes"
  seeds=()
  [ -d "$top/tests/fuzz/corpus/$name" ] && seeds+=("$top/tests/fuzz/corpus/$name")
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$out/$name/crashes/" "$out/$name/corpus" "${seeds[@]}" >>"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "$name: CRASH (exit $rc) after ${runs:-?} runs; input: ${crash:-none}; log: $log"
    failed=1
  else
    echo "$name: ok, ${runs:-?} runs in ${secs} s"
  fi
done
exit $failed
