#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# For a fixed synthetic seed, --once prints the same series with the same values every
# time: each config in tests/fixtures/once/ must print exactly its .prom file (the build
# info line, which carries the version, left out). The files were written by the agent
# before the collector/accounting redesign; a change to them is a change of the numbers
# users see and must be deliberate (regenerate with GOLDEN_UPDATE=1).
source "$(dirname "$0")/lib.sh"
e2e_init once_golden

dir="$E2E_DIR/../fixtures/once"
n=0
for cfg in "$dir"/*.yaml; do
  name=$(basename "$cfg" .yaml)
  out="$E2E_TMP/$name.prom"
  timeout 60 "$JOULEPUSH" --config "$cfg" --once 2>"$E2E_TMP/$name.log" | grep -v '^joulepush_build_info' >"$out"
  [ "${PIPESTATUS[0]}" -eq 0 ] || fail "$name: --once failed"
  if [ "${GOLDEN_UPDATE:-0}" = 1 ]; then
    cp "$out" "$dir/$name.prom"
  elif ! diff -u "$dir/$name.prom" "$out" >"$E2E_TMP/$name.diff"; then
    head -n 40 "$E2E_TMP/$name.diff" >&2
    fail "$name: --once output differs from tests/fixtures/once/$name.prom"
  fi
  n=$((n + 1))
done
[ "$n" -ge 3 ] || fail "only $n golden configs found in $dir"
e2e_log "$n golden --once outputs match"
