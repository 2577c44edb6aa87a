#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds every tests/fuzz/fuzz_*.c with libFuzzer, ASan and UBSan, runs each for
# $FUZZ_SECONDS seconds (default 30), prints one line per target, and exits non-zero if
# any target fails to build or crashes.
#
# A target says what it needs in lines near its top (either comment style works):
#   // fuzz-sources: src/util/units.c src/util/buf.c proto/types.pb-c.c
#   // fuzz-pkgs: yaml-0.1 libprotobuf-c
# Sources are relative to the repository; proto/<name>.pb-c.c is generated here with
# protoc-c from proto/<name>.proto. Packages are pkg-config names.
# Seeds, if any, are read from tests/fuzz/corpus/<target>/. Corpora, logs and crash
# inputs are kept under $FUZZ_OUT (default /tmp/joulepush-fuzz).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
secs=${FUZZ_SECONDS:-30}
out=${FUZZ_OUT:-/tmp/joulepush-fuzz}
CLANG=${CLANG:-clang}
PROTOC_C=${PROTOC_C:-protoc-c}

work=$(mktemp -d "${TMPDIR:-/tmp}/joulepush-fuzz-build.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "$work/bin"

# The value of "key:" in the first lines of a file, without comment markers.
meta() {
  sed -n "1,30{s/^.*$1:[[:space:]]*//p}" "$2" | sed 's/[[:space:]]*\*\/.*$//' | tr '\n' ' '
}

proto_done=0
gen_proto() {
  [ "$proto_done" -eq 1 ] && return 0
  mkdir -p "$work/proto"
  "$PROTOC_C" -I"$top/proto" --c_out="$work/proto" "$top"/proto/*.proto || return 1
  proto_done=1
}

targets=("$top"/tests/fuzz/fuzz_*.c)
if [ ! -e "${targets[0]}" ]; then
  echo "fuzz: no targets"
  exit 0
fi

failed=0
for src in "${targets[@]}"; do
  name=$(basename "$src" .c)
  log="$out/$name.log"
  : >"$log"
  srcs=() ok=1
  for s in $(meta fuzz-sources "$src"); do
    case "$s" in
      proto/*.pb-c.c) gen_proto >>"$log" 2>&1 || ok=0; srcs+=("$work/$s") ;;
      *) srcs+=("$top/$s") ;;
    esac
  done
  # A target that includes generated headers without linking their code still needs them.
  if grep -q '\.pb-c\.h' "$src"; then gen_proto >>"$log" 2>&1 || ok=0; fi
  pkgs=$(meta fuzz-pkgs "$src")
  pkgflags=""
  if [ -n "${pkgs// /}" ]; then
    # shellcheck disable=SC2086
    pkgflags=$(pkg-config --cflags --libs $pkgs 2>>"$log") || ok=0
  fi
  bin="$work/bin/$name"
  if [ $ok -eq 1 ]; then
    # shellcheck disable=SC2086
    "$CLANG" -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -fno-omit-frame-pointer -D_GNU_SOURCE -DJP_SRCDIR="\"$top\"" \
      -I"$top/src" -I"$work/proto" "$src" "${srcs[@]}" $pkgflags -lm -o "$bin" >>"$log" 2>&1 || ok=0
  fi
  if [ $ok -eq 0 ]; then
    echo "$name: BUILD FAILED (log: $log)"
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
