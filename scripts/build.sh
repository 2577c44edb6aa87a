#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds joulepush out of tree in ${BUILD_DIR:-build}; extra arguments go to configure.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
  autoreconf -fi >/dev/null
fi
mkdir -p "$build"
cd "$build"
"$top/configure" -q "$@"
make -j"$(nproc)" >/dev/null
echo "build: $build/joulepush"
