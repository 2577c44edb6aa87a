#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds joulepush's OCI image without pulling a base image from any registry:
# mmdebstrap extracts exactly the Debian packages that hold the libraries the binary
# loads (and what they depend on) into a root filesystem, without a shell, dpkg
# database, docs, man pages or locales; the binary, the CA bundle, a passwd/group with
# root and nobody, and an example config are added; `podman import` makes it an image
# with its entrypoint. docs/kubernetes.md says how to push it.
#
# usage: scripts/image.sh [BINARY]   (default: build/joulepush, built by scripts/build.sh)
# env:   IMAGE (default localhost/joulepush:<version>), OUT (default build/image): where
#        rootfs.tar and, with SAVE=1, the image as an OCI archive (image.oci.tar) go.
#        SOURCES: the apt sources to fetch from (default: this machine's).
#        NO_PODMAN=1: stop after the root filesystem (rootfs.tar and rootfs/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$top/build/joulepush}
OUT=${OUT:-$top/build/image}
[ -x "$BIN" ] || { echo "image: no binary at $BIN (run scripts/build.sh first)" >&2; exit 1; }
VERSION=$("$BIN" --version | awk '{print $NF}')
IMAGE=${IMAGE:-localhost/joulepush:$VERSION}
for c in mmdebstrap dpkg-query ldd; do
  command -v "$c" >/dev/null || { echo "image: $c is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

# The apt sources: a deb822 .sources file or a one-line .list of this machine.
if [ -z "${SOURCES:-}" ]; then
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    [ -s "$f" ] && grep -q '^[^#]' "$f" && { SOURCES=$f; break; }
  done
fi
[ -n "${SOURCES:-}" ] || { echo "image: no apt sources found; set SOURCES" >&2; exit 1; }

# The packages that own the libraries the binary loads (merged /usr: a library found as
# /lib/x86_64-linux-gnu/... is owned as /usr/lib/... and the other way round).
owner() {
  local p=$1 q
  for q in "$p" "$(readlink -f "$p")" "/usr$p" "${p#/usr}"; do
    dpkg-query -S "$q" 2>/dev/null | head -1 | cut -d: -f1 && return 0
  done
  echo "image: no package owns $p" >&2
  return 1
}
pkgs=()
while read -r lib; do
  pkgs+=("$(owner "$lib")")
done < <(ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
echo "image: packages: ${pkgs[*]}"

rm -rf "$OUT"
mkdir -p "$OUT"
# extract: unpack the packages and their dependencies, run no maintainer script (there
# is no shell to run one). mmdebstrap runs no hooks for this variant, so the tree is
# finished here: drop what a daemon never reads (glibc's iconv modules too: the only
# text the agent converts is ENTSO-E's XML, which expat decodes itself), add the binary
# and the files a process expects.
root=$OUT/rootfs
mmdebstrap --variant=extract --mode=root --quiet \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --include="$(IFS=,; echo "${pkgs[*]}")" \
  bookworm "$root" "$SOURCES"
rm -rf "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale "$root"/usr/share/info \
  "$root"/usr/share/lintian "$root"/usr/share/gdb "$root"/usr/share/gcc \
  "$root"/usr/lib/x86_64-linux-gnu/gconv "$root"/var/lib/dpkg "$root"/var/lib/apt "$root"/var/cache/apt \
  "$root"/var/log "$root"/etc/apt
mkdir -p "$root"/usr/bin "$root"/etc/ssl/certs "$root"/etc/joulepush "$root"/var/lib/joulepush \
  "$root"/tmp "$root"/proc "$root"/sys "$root"/dev "$root"/run
chmod 1777 "$root"/tmp
install -m 0755 "$BIN" "$root"/usr/bin/joulepush
install -m 0644 "$top"/config/joulepush.example.yaml "$root"/etc/joulepush/joulepush.example.yaml
cp /etc/ssl/certs/ca-certificates.crt "$root"/etc/ssl/certs/ca-certificates.crt
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root"/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root"/etc/group
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root"/etc/nsswitch.conf
tar --numeric-owner --sort=name -C "$root" -cf "$OUT/rootfs.tar" .

for bad in bin/sh usr/bin/sh bin/bash usr/bin/dpkg; do
  if tar -tf "$OUT/rootfs.tar" "./$bad" >/dev/null 2>&1; then
    echo "image: $bad is in the root filesystem" >&2
    exit 1
  fi
done
size_kib=$(du -sk "$root" | cut -f1)
echo "image: root filesystem $((size_kib / 1024)) MiB ($size_kib KiB) in $root"
[ "${NO_PODMAN:-0}" = 1 ] && exit 0

command -v podman >/dev/null || { echo "image: podman is missing (scripts/setup.sh installs it)" >&2; exit 1; }
podman import --quiet \
  --change 'ENTRYPOINT ["/usr/bin/joulepush"]' \
  --change 'CMD ["--config", "/etc/joulepush/joulepush.yaml"]' \
  --change 'USER 0' \
  --change "LABEL org.opencontainers.image.title=joulepush org.opencontainers.image.version=$VERSION" \
  "$OUT/rootfs.tar" "$IMAGE" >/dev/null
bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "image: $IMAGE, $((bytes / 1024 / 1024)) MiB ($bytes bytes)"
podman image inspect --format 'image: entrypoint {{.Config.Entrypoint}} cmd {{.Config.Cmd}}' "$IMAGE"
if [ "${SAVE:-0}" = 1 ]; then
  podman save --quiet --format oci-archive -o "$OUT/image.oci.tar" "$IMAGE"
  echo "image: saved as $OUT/image.oci.tar ($(du -m "$OUT/image.oci.tar" | cut -f1) MiB)"
fi
