#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make install` into a staging directory: the binary, the example config (also installed as
# the config, which --check-config accepts) and the systemd unit with the installed paths;
# `systemd-analyze verify` accepts the unit without a single warning (an unknown key or a
# missing executable would be one), and the unit keeps its hardening.
source "$(dirname "$0")/lib.sh"
require_cmd make systemd-analyze
e2e_init install

builddir=$(cd "$(dirname "$JOULEPUSH")" && pwd)
[ -f "$builddir/Makefile" ] || { e2e_log "no build directory next to $JOULEPUSH"; exit 77; }
stage=$E2E_TMP/stage
make -s --no-print-directory -C "$builddir" install DESTDIR="$stage" >"$E2E_TMP/install.log" 2>&1 || fail "make install: $(tail -5 "$E2E_TMP/install.log")"
# Where configure put things (prefix and sysconfdir as the build was configured).
prefix=$(sed -n 's/^prefix = //p' "$builddir/Makefile")
bin=$stage$prefix/bin/joulepush
unit=$stage$prefix/lib/systemd/system/joulepush.service
conf=$(find "$stage" -path '*/joulepush/joulepush.yaml' | head -n 1)
for f in "$bin" "$unit" "$conf" "${conf%/*}/joulepush.example.yaml"; do
  [ -n "$f" ] && [ -f "$f" ] || fail "make install did not install ${f:-the config}: $(find "$stage" -type f)"
done
sysconfdir=${conf#"$stage"}
sysconfdir=${sysconfdir%/joulepush/joulepush.yaml}
"$bin" --version >/dev/null || fail "the installed binary does not run"
"$bin" --config "$conf" --check-config >/dev/null || fail "the installed config does not pass --check-config"
grep -q "^ExecStart=$prefix/bin/joulepush --config $sysconfdir/joulepush/joulepush.yaml\$" "$unit" \
  || fail "the unit's ExecStart does not name the installed paths: $(grep ExecStart "$unit")"
for want in 'AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH' \
  'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH' 'NoNewPrivileges=yes' \
  'ProtectSystem=strict' 'StateDirectory=joulepush' 'Restart=on-failure' 'DynamicUser=yes'; do
  grep -qx "$want" "$unit" || fail "the unit lacks $want"
done
# systemd checks that ExecStart exists: point it at the staged binary for the check.
sed "s|$prefix/bin/joulepush|$bin|" "$unit" >"$E2E_TMP/joulepush.service"
out=$(systemd-analyze verify "$E2E_TMP/joulepush.service" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"
# A unit with an unknown key must be caught the same way (the check is not blind).
printf '[Service]\nExecStart=/bin/true\nBogusKey=1\n' >"$E2E_TMP/bogus.service"
out=$(systemd-analyze verify "$E2E_TMP/bogus.service" 2>&1)
[ -n "$out" ] || fail "systemd-analyze verify said nothing about an unknown key"
make -s --no-print-directory -C "$builddir" uninstall DESTDIR="$stage" >>"$E2E_TMP/install.log" 2>&1 || fail "make uninstall"
left=$(find "$stage" -type f | head -n 5)
[ -z "$left" ] || fail "make uninstall left files: $left"
e2e_log "install: binary, config and a systemd unit that systemd-analyze accepts; uninstall leaves nothing"
