#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages joulepush needs to build, test and run (idempotent).
set -euo pipefail

PKGS=(
  autoconf automake libtool pkg-config make gcc clang llvm
  bpftool libbpf-dev libelf-dev zlib1g-dev
  protobuf-c-compiler libprotobuf-c-dev libsnappy-dev
  check libsubunit-dev libuv1-dev libcurl4-openssl-dev libyaml-dev
  libjson-c-dev libexpat1-dev libpcre2-dev libclang-rt-14-dev
  prometheus victoria-metrics python3 python3-yaml curl procps iproute2 openssl util-linux
  chromium mmdebstrap podman
)
# `kubectl kustomize` renders the Kubernetes overlays in the tests: Debian's
# kubernetes-client, unless a kubectl is already installed.
command -v kubectl >/dev/null 2>&1 || PKGS+=(kubernetes-client)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Debian's prometheus package would start a node-wide service where an init system
  # runs; the tests start their own servers on loopback ports instead.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all build and test dependencies are installed"
