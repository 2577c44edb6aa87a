#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs every test: unit and end-to-end tests
# (make check), the unit tests again under ASan+UBSan, and a short fuzzing pass.
# Ends with one line "summary: N passed, N failed, N skipped".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

pass=0 fail=0 skip=0
failed_parts=()

# Adds the counts of an automake test-suite.log to the totals.
count_suite() {
  local log=$1 p f s x e
  p=$(sed -n 's/^# PASS: *//p' "$log" | head -1); f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
  s=$(sed -n 's/^# SKIP: *//p' "$log" | head -1); x=$(sed -n 's/^# XFAIL: *//p' "$log" | head -1)
  e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
  pass=$((pass + ${p:-0} + ${x:-0})); fail=$((fail + ${f:-0} + ${e:-0})); skip=$((skip + ${s:-0}))
}

bash scripts/setup.sh || { echo "summary: 0 passed, 1 failed, 0 skipped"; exit 1; }

# Tracepoints are attached through tracefs; a fresh machine may not have it mounted.
if [ "$(id -u)" -eq 0 ] && [ ! -e /sys/kernel/tracing/events ] && [ -d /sys/kernel/tracing ]; then
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi

echo "== build"
if ! BUILD_DIR="$top/build" bash scripts/build.sh; then
  echo "summary: 0 passed, 1 failed, 0 skipped"; exit 1
fi

echo "== make check (unit and end-to-end tests)"
make -C build -j2 check >build/check.out 2>&1
rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|ERROR):' build/check.out
[ -f build/test-suite.log ] && count_suite build/test-suite.log
if [ $rc -ne 0 ]; then
  failed_parts+=("make check")
  [ -f build/test-suite.log ] && cat build/test-suite.log | head -400
  [ -f build/test-suite.log ] || tail -50 build/check.out
fi

echo "== unit tests under AddressSanitizer and UndefinedBehaviorSanitizer"
if BUILD_DIR="$top/build-asan" bash scripts/build.sh --enable-asan; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    make -C build-asan -j2 unit-check >build-asan/check.out 2>&1
  rc=$?
  grep -E '^(PASS|FAIL|SKIP|XFAIL|ERROR):' build-asan/check.out | sed 's/^/asan /'
  [ -f build-asan/test-suite.log ] && count_suite build-asan/test-suite.log
  if [ $rc -ne 0 ]; then
    failed_parts+=("asan unit tests")
    [ -f build-asan/test-suite.log ] && head -400 build-asan/test-suite.log
  fi
  # The daemon itself under the sanitizers: end-to-end scripts whose agent must exit 0
  # (an ASan or UBSan report, or a leak at exit, makes it exit non-zero).
  make -C build-asan -j2 joulepush >/dev/null 2>&1
  for t in test_cli test_prometheus test_faults; do
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
       JOULEPUSH="$top/build-asan/joulepush" bash "tests/e2e/$t.sh" >"build-asan/$t.log" 2>&1; then
      echo "asan PASS: tests/e2e/$t.sh"; pass=$((pass + 1))
    else
      echo "asan FAIL: tests/e2e/$t.sh"; fail=$((fail + 1)); failed_parts+=("asan $t")
      tail -40 "build-asan/$t.log"
    fi
  done
else
  failed_parts+=("asan build"); fail=$((fail + 1))
fi

echo "== fuzzing (${FUZZ_SECONDS:=20} s per target)"
if [ -f tests/fuzz/run.sh ]; then
  # One line per target: "name: ok, ..." or a failure; each target counts as a test.
  FUZZ_SECONDS=$FUZZ_SECONDS bash tests/fuzz/run.sh >build/fuzz.out 2>&1
  frc=$?
  cat build/fuzz.out
  fok=$(grep -cE '^fuzz_[a-z0-9_]+: ok' build/fuzz.out)
  fbad=$(grep -E '^fuzz_[a-z0-9_]+:' build/fuzz.out | grep -vcE '^fuzz_[a-z0-9_]+: ok')
  pass=$((pass + fok)); fail=$((fail + fbad))
  if [ $frc -ne 0 ]; then
    failed_parts+=("fuzzing")
    [ "$fbad" -eq 0 ] && fail=$((fail + 1))
  fi
fi

if [ ${#failed_parts[@]} -gt 0 ]; then
  echo "failed: ${failed_parts[*]}"
fi
echo "summary: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ ${#failed_parts[@]} -eq 0 ]
