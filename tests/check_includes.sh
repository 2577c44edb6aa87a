#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# make check: the dependency direction of the sources (scripts/check-includes.sh).
top=${E2E_SRCDIR:+$E2E_SRCDIR/../..}
exec bash "${top:-$(dirname "$0")/..}/scripts/check-includes.sh" "${top:-$(dirname "$0")/..}"
