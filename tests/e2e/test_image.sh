#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The container image of scripts/image.sh. Containers cannot run on the test machines (the
# hybrid cgroup layout stops the OCI runtime), so the image's root filesystem runs under
# chroot with the host's /proc, /sys and /dev bound in, in a private mount namespace:
# `--version`, `--once` on this node (every library the binary loads is in the image) and
# the daemon dropping to "nobody" from the image's own passwd, serving /healthz and
# answering its own `--probe`. The root filesystem has no shell, package database or docs;
# podman holds the image with its entrypoint, and its size is printed.
source "$(dirname "$0")/lib.sh"
require_cmd mmdebstrap podman unshare chroot curl
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (chroot, mounts)" >&2; exit 77; }
e2e_init image
TOP=$(cd "$E2E_DIR/../.." && pwd)
TAG=localhost/joulepush-e2e:$$
ROOT=$E2E_TMP/image/rootfs

OUT=$E2E_TMP/image IMAGE=$TAG bash "$TOP/scripts/image.sh" "$JOULEPUSH" >"$E2E_TMP/image.log" 2>&1 ||
  fail "scripts/image.sh failed: $(tail -5 "$E2E_TMP/image.log")"
cat "$E2E_TMP/image.log" >&2
cleanup_image() { podman rmi -f "$TAG" >/dev/null 2>&1; }
trap 'cleanup_image; e2e_cleanup' EXIT

for f in bin/sh usr/bin/sh bin/bash usr/bin/apt var/lib/dpkg usr/share/doc usr/share/man usr/share/locale; do
  [ -e "$ROOT/$f" ] && fail "the image holds $f"
done
[ -s "$ROOT/etc/ssl/certs/ca-certificates.crt" ] || fail "no CA bundle in the image"

# in_root CMD...: CMD in the image's root with the host's /proc, /sys and /dev.
in_root() {
  unshare -m --propagation private sh -c '
    r=$1; shift
    mount --rbind /proc "$r/proc" && mount --rbind /sys "$r/sys" && mount --rbind /dev "$r/dev" &&
      mount -t tmpfs tmpfs "$r/run" && exec chroot "$r" "$@"' in_root "$ROOT" "$@"
}

v=$(in_root /usr/bin/joulepush --version) || fail "--version in the image: $v"
[ "$v" = "$("$JOULEPUSH" --version)" ] || fail "--version in the image says '$v'"
in_root /usr/bin/joulepush --once >"$E2E_TMP/once.prom" 2>"$E2E_TMP/once.err" ||
  fail "--once in the image: $(tail -3 "$E2E_TMP/once.err")"
grep -q '^joulepush_node_energy_joules_total{' "$E2E_TMP/once.prom" &&
  grep -q '^joulepush_build_info{' "$E2E_TMP/once.prom" || fail "--once in the image printed no node energy"
e2e_log "image: --version and --once run in the image's root ($(grep -c . "$E2E_TMP/once.prom") series)"

# The daemon as the DaemonSet runs it: root at start, then nobody from the image's passwd.
PORT=$(free_port)
cat >"$ROOT/etc/joulepush/joulepush.yaml" <<EOF
node_name: image-test
user: nobody
interval: 1s
server: {listen: "127.0.0.1:$PORT"}
EOF
in_root /usr/bin/joulepush --config /etc/joulepush/joulepush.yaml >"$E2E_TMP/agent.log" 2>&1 &
e2e_track $!
wait_for 30 "the agent in the image" http_ok "http://127.0.0.1:$PORT/healthz"
pid=$(pgrep -f "^/usr/bin/joulepush --config /etc/joulepush/joulepush.yaml" | head -1)
[ -n "$pid" ] || fail "cannot find the agent's process"
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
[ "$uid" = 65534 ] || fail "the agent in the image runs as uid $uid, not nobody"
wait_for 30 "--probe /readyz in the image" in_root /usr/bin/joulepush --probe "http://127.0.0.1:$PORT/readyz"
kill -TERM "$pid"
e2e_log "image: the daemon drops to nobody, serves /healthz and answers its probe"

# podman holds it with the entrypoint the manifests expect.
[ "$(podman image inspect --format '{{json .Config.Entrypoint}}' "$TAG")" = '["/usr/bin/joulepush"]' ] ||
  fail "wrong entrypoint"
e2e_log "image: $(grep '^image: localhost' "$E2E_TMP/image.log" | sed 's/^image: //')"
