#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The dependency direction of docs/design.md, checked from the #include lines:
#   - src/collect/ produces intervals and includes nothing from attrib/, store/, kube/,
#     carbon/ or remote/ (nor the agent or the pipeline that assemble rounds);
#   - src/kube/ includes nothing from collect/;
#   - src/util/ includes only util/ (no config.h: what is policy is not util);
#   - src/attrib/ includes nothing from kube/, carbon/ or remote/;
#   - src/report/ includes nothing from collect/, attrib/, store/, kube/, carbon/, nor from
#     remote/ but the blocking HTTP client remote/http_sync.h;
#   - src/config/ includes nothing but config and util/ (the names it checks live in config.h).
# Prints each offending line and exits 1, or prints a count and exits 0.
set -uo pipefail
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top/src" || { echo "check-includes: no src/ under $top" >&2; exit 2; }

bad=0
# rule DIR REGEX WHY: no file under DIR may include a header matching REGEX.
rule() {
  local dir=$1 re=$2 why=$3 hits
  hits=$(grep -nP "^[[:space:]]*#[[:space:]]*include[[:space:]]+\"($re)" -r "$dir" --include='*.c' --include='*.h' || true)
  if [ -n "$hits" ]; then
    printf '%s\n' "$hits" | sed "s|^|src/|; s|\$|   <- $why|" >&2
    bad=$((bad + $(printf '%s\n' "$hits" | wc -l)))
  fi
}
rule collect 'attrib/|store/|kube/|carbon/|remote/|agent\.h|pipeline\.h|server\.h' 'collectors only fill intervals'
rule kube 'collect/' 'pod metadata does not depend on collectors (use podmeta.h)'
rule util 'attrib/|store/|kube/|carbon/|remote/|collect/|report/|config|agent\.h|pipeline\.h|server\.h' 'util/ is the bottom layer'
rule attrib 'kube/|carbon/|remote/' 'the accountant gets names and intensity handed in'
rule report 'collect/|attrib/|store/|kube/|carbon/|remote/(?!http_sync\.h)|agent\.h|pipeline\.h|server\.h' 'reports read a central store, not a node (through remote/http_sync.h alone)'
rule config 'collect/|attrib/|store/|kube/|carbon/|remote/|report/|agent\.h|pipeline\.h|server\.h' 'the config is data: it depends on util/ only'

nfiles=$(find collect kube util attrib report config -name '*.[ch]' | wc -l)
if [ "$bad" -ne 0 ]; then
  echo "check-includes: $bad include(s) against the dependency direction" >&2
  exit 1
fi
echo "check-includes: $nfiles files under collect/ kube/ util/ attrib/ report/ config/ follow the dependency direction"
