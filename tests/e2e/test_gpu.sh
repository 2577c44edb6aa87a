#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# GPU energy end to end (docs/model.md "GPU energy"): the agent loads the stand-in NVML
# library (tests/nvml_standin.so) as it would load libnvidia-ml.so.1, two devices at known
# watts (tests/e2e/nvml_fixture.py advances their energy counters), and real processes in
# real pod-shaped cgroups that the stand-in reports with SM shares 3:1. Checked from
# /metrics over several rounds: the node's GPU power (within 3 % of the fixture's), the
# pods' shares (within 10 % of the SM ratio), conservation of the gpu zone (within 1 %),
# GPU energy in the CO2 basis; then the library missing (auto: runs without GPUs, one
# info line; nvml: refuses to start) and failing to initialise.
#
# env: GPU_ROUNDS (4 rounds of 2 s compared).
source "$(dirname "$0")/lib.sh"

CG_MOUNT=$(cgroup2_mount)
[ "$(id -u)" -eq 0 ] || skip_or_fail "not root: cannot create cgroups"
[ -n "$CG_MOUNT" ] && [ -w "$CG_MOUNT" ] || skip_or_fail "no writable cgroup v2 mount"
require_cmd curl "$PYTHON3"

e2e_init gpu
STANDIN=${NVML_STANDIN:-$(dirname "$JOULEPUSH")/tests/nvml_standin.so}
[ -f "$STANDIN" ] || fail "no stand-in NVML library at $STANDIN (make check builds it)"
ROUNDS=${GPU_ROUNDS:-4}

UID_A=5a0e1c2d-3b4f-4a6b-8c7d-9e0f1a2b3c41
UID_B=6b1f2d3e-4c5a-4b7c-9d8e-0f1a2b3c4d52
CID_A=e1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f11
CID_B=f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f12
# The pods live under a cgroup root of this test's own (kubernetes.cgroup_root, as on a
# kind node): the pods of tests that run beside it (make check -j2) are not this agent's
# pods, and their coming and going cannot change what it counts.
CG_ROOT_REL=/jp-e2e-gpu
KP=$CG_MOUNT$CG_ROOT_REL/kubepods.slice
POD_A=$KP/kubepods-burstable.slice/kubepods-burstable-pod${UID_A//-/_}.slice
POD_B=$KP/kubepods-burstable.slice/kubepods-burstable-pod${UID_B//-/_}.slice
LEAF_A=$POD_A/cri-containerd-$CID_A.scope
LEAF_B=$POD_B/cri-containerd-$CID_B.scope
CREATED=()

cg_cleanup() {
  local d i p
  for d in "$LEAF_A" "$LEAF_B"; do
    for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  done
  for d in "$LEAF_A" "$LEAF_B"; do
    for ((i = 0; i < 50; i++)); do
      grep -q '^populated 0' "$d/cgroup.events" 2>/dev/null && break
      sleep 0.1
    done
  done
  for ((i = ${#CREATED[@]} - 1; i >= 0; i--)); do
    d=${CREATED[i]}
    [ -d "$d" ] && { rmdir "$d" 2>/dev/null || e2e_log "cannot remove cgroup $d"; }
  done
}
trap 'rc=$?; cg_cleanup; (exit $rc); e2e_cleanup' EXIT
mkcg() {
  local parts=() d=$1
  while [ ! -d "$d" ]; do parts=("$d" "${parts[@]+"${parts[@]}"}"); d=$(dirname "$d"); done
  for d in "${parts[@]+"${parts[@]}"}"; do
    mkdir "$d" 2>/dev/null && CREATED+=("$d")
    [ -d "$d" ] || fail "cannot create cgroup $d"
  done
}
mkcg "$LEAF_A"
mkcg "$LEAF_B"
start_in() { # DIR: a sleeping process inside DIR; prints its pid
  sh -c 'echo $$ >"$1/cgroup.procs" && exec sleep 1000' sh "$1" </dev/null >/dev/null 2>&1 &
  disown $!
  echo $!
}
PID_A=$(start_in "$LEAF_A")
PID_B=$(start_in "$LEAF_B")
wait_for 5 "pod A's process" grep -qx "$PID_A" "$LEAF_A/cgroup.procs"
wait_for 5 "pod B's process" grep -qx "$PID_B" "$LEAF_B/cgroup.procs"
# A GPU process outside any pod: the agent's own shell (host processes go to the system bucket).
PID_HOST=$$

FIXTURE=$E2E_TMP/nvml.txt
W0=250
W1=150
"$PYTHON3" "$E2E_DIR/nvml_fixture.py" "$FIXTURE" \
  "$W0:80:GPU-e2e-0000:NVIDIA A100-SXM4-40GB" "$W1:60:GPU-e2e-1111:Tesla T4" \
  --proc 0 "$PID_A" 60 --proc 0 "$PID_B" 20 --proc 1 "$PID_A" 30 --proc 1 "$PID_B" 10 \
  --proc 1 "$PID_HOST" 0 >"$E2E_TMP/fixture.log" 2>&1 &
FIX_PID=$!
e2e_track "$FIX_PID"
wait_for 5 "the fixture file" test -s "$FIXTURE"
export JP_NVML_STANDIN=$FIXTURE

AGENT_PORT=$(free_port)
AGENT_URL=http://127.0.0.1:$AGENT_PORT
gpu_config() { # OUT SOURCE LIBRARY
  cat >"$1" <<EOC
node_name: e2e-gpu
interval: 2s
collector: {mode: cgroupfs}
power:
  source: model
  idle_attribution: usage
gpu:
  source: $2
  nvml_library: $3
carbon: {source: static, grams_per_kwh: 300}
kubernetes: {cgroup_root: $CG_ROOT_REL}
server: {listen: 127.0.0.1:$AGENT_PORT}
log: {level: info, format: text}
EOC
}
gpu_config "$E2E_TMP/gpu.yaml" nvml "$STANDIN"
agent_start "$E2E_TMP/gpu.yaml"
grep -q "GPUs: 2 through NVML" "$E2E_TMP/agent.log" || fail "the agent did not report 2 GPUs: $(tail -5 "$E2E_TMP/agent.log")"

# Wait for the rounds, then compare each round's gauges (they cover one whole interval).
M=$E2E_TMP/m.prom
last=-1
checked=0
for ((t = 0; t < (ROUNDS + 3) * 25 && checked < ROUNDS; t++)); do
  sleep 0.1
  scrape "$M"
  n=$(metric --sum "$M" joulepush_collections_total 2>/dev/null || echo 0)
  n=${n%.*}
  [ "$n" != "$last" ] || continue
  last=$n
  [ "$n" -ge 3 ] || continue   # the first round takes the counters' baselines
  "$PYTHON3" - "$E2E_DIR" "$M" "$W0" "$W1" <<'EOP' || fail "round $n: see above"
import sys
sys.path.insert(0, sys.argv[1])
from e2e import parse_expo, sum_matching
path, w0, w1 = sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
vals, _ = parse_expo(open(path).read())
def s(name, **want):
    return sum_matching(vals, name, want)[0]
node_w = s("joulepush_node_power_watts", zone="gpu")
want = w0 + w1
err = abs(node_w - want) / want
print("node GPU power %.2f W (fixture %.0f W), error %.2f %%" % (node_w, want, 100 * err))
assert err <= 0.03, "node GPU power off by more than 3 %"
# Active: device 0 at 80 %, A:B 60:20; device 1 at 60 %, A:B:host 30:10:0 -> A:B = 3:1.
a = s("joulepush_pod_power_watts", zone="gpu", pod_uid="5a0e1c2d-3b4f-4a6b-8c7d-9e0f1a2b3c41")
b = s("joulepush_pod_power_watts", zone="gpu", pod_uid="6b1f2d3e-4c5a-4b7c-9d8e-0f1a2b3c4d52")
ratio = a / b if b else 0
print("pod A %.2f W, pod B %.2f W, A/B %.3f (SM ratio 3)" % (a, b, ratio))
assert abs(ratio - 3) / 3 <= 0.10, "pod shares off the SM ratio by more than 10 %"
# Conservation (idle_attribution usage gives pods the idle part too): counters.
node_j = s("joulepush_node_energy_joules_total", zone="gpu")
pods_j = s("joulepush_pod_energy_joules_total", zone="gpu")
sys_j = s("joulepush_system_energy_joules_total", zone="gpu")
cons = abs(pods_j + sys_j - node_j) / node_j
print("gpu zone: node %.1f J, pods %.1f J + system %.1f J, off by %.4f %%" % (node_j, pods_j, sys_j, 100 * cons))
assert cons <= 0.01, "gpu zone not conserved within 1 %"
dev_j = s("joulepush_gpu_energy_joules_total")
assert abs(dev_j - node_j) <= 1e-6 * node_j + 1e-9, "per-device counters %.3f != node gpu %.3f" % (dev_j, node_j)
u0 = s("joulepush_gpu_utilization_ratio", gpu="0", uuid="GPU-e2e-0000", model="NVIDIA A100-SXM4-40GB")
assert abs(u0 - 0.8) < 1e-9, "device 0 utilisation %g" % u0
# CO2: (package + gpu) x 300 g/kWh.
total = s("joulepush_node_energy_joules_total", zone="package") + node_j
co2 = s("joulepush_node_co2_grams_total")
want_g = total / 3.6e6 * 300
assert abs(co2 - want_g) <= 0.01 * want_g, "CO2 %.4f g, want %.4f g from package + gpu" % (co2, want_g)
print("CO2 %.4f g = (package + gpu) x 300 g/kWh" % co2)
# The CPU's estimate is the model's, labelled so, and lies in its band.
est = s("joulepush_node_power_watts", zone="package", source="model")
assert est > 0, "no package power with source=model"
lo = s("joulepush_node_power_bound_watts", zone="package", bound="low")
hi = s("joulepush_node_power_bound_watts", zone="package", bound="high")
assert 0 < lo <= est * (1 + 1e-9) and est <= hi * (1 + 1e-9), "model %.3f W outside its band [%.3f, %.3f]" % (est, lo, hi)
print("model package %.3f W in [%.3f, %.3f] W" % (est, lo, hi))
EOP
  checked=$((checked + 1))
done
[ "$checked" -ge "$ROUNDS" ] || fail "only $checked rounds compared (collections_total $last)"
agent_term

# The machine's power meter (hwmon power_meter, a fixture sysfs tree at 600 W) beside the
# GPUs: zone platform, the CO2 basis is the meter alone (it sees the GPUs), and a pod's
# platform share holds its GPU share plus CPU-time share of the rest.
SYSFS=$E2E_TMP/sysfs
mkdir -p "$SYSFS/class/hwmon/hwmon0" "$SYSFS/class/hwmon/hwmon1"
echo coretemp >"$SYSFS/class/hwmon/hwmon0/name"
echo 41000 >"$SYSFS/class/hwmon/hwmon0/temp1_input"
echo power_meter >"$SYSFS/class/hwmon/hwmon1/name"
echo 600000000 >"$SYSFS/class/hwmon/hwmon1/power1_average"
gpu_config "$E2E_TMP/platform.yaml" nvml "$STANDIN"
printf 'host: {sysfs: %s}\n' "$SYSFS" >>"$E2E_TMP/platform.yaml"
agent_start "$E2E_TMP/platform.yaml"
grep -q 'platform power: 1 channel(s) of hwmon "power_meter"' "$E2E_TMP/agent.log" || fail "no platform meter found"
sleep 6.5
scrape "$M"
"$PYTHON3" - "$E2E_DIR" "$M" <<'EOP' || fail "platform: see above"
import sys
sys.path.insert(0, sys.argv[1])
from e2e import parse_expo, sum_matching
vals, _ = parse_expo(open(sys.argv[2]).read())
def s(name, **want):
    return sum_matching(vals, name, want)[0]
p_w = s("joulepush_node_power_watts", zone="platform")
print("platform power %.2f W (meter 600 W)" % p_w)
assert abs(p_w - 600) <= 0.01 * 600, "platform power off"
plat = s("joulepush_node_energy_joules_total", zone="platform")
co2 = s("joulepush_node_co2_grams_total")
want_g = plat / 3.6e6 * 300
assert abs(co2 - want_g) <= 0.01 * want_g, "CO2 %.5f g, want %.5f g from the meter alone" % (co2, want_g)
pods = s("joulepush_pod_energy_joules_total", zone="platform")
sysj = s("joulepush_system_energy_joules_total", zone="platform")
assert abs(pods + sysj - plat) <= 0.01 * plat, "platform zone not conserved"
a_gpu = s("joulepush_pod_energy_joules_total", zone="gpu", pod_uid="5a0e1c2d-3b4f-4a6b-8c7d-9e0f1a2b3c41")
a_plat = s("joulepush_pod_energy_joules_total", zone="platform", pod_uid="5a0e1c2d-3b4f-4a6b-8c7d-9e0f1a2b3c41")
assert a_plat >= a_gpu * 0.999, "pod A's platform share %.1f J lacks its GPU share %.1f J" % (a_plat, a_gpu)
print("platform: %.1f J, CO2 from the meter alone, conserved; pod A platform %.1f J >= its GPU %.1f J" % (plat, a_plat, a_gpu))
EOP
agent_term

# The library missing: auto runs without GPUs and says so once; nvml refuses to start.
: >"$E2E_TMP/agent.log"
gpu_config "$E2E_TMP/auto.yaml" auto /nonexistent/libnvidia-ml.so.1
agent_start "$E2E_TMP/auto.yaml"
sleep 2.5
scrape "$M"
grep -q 'zone="gpu"' "$M" && fail "gpu series without a GPU library"
[ "$(grep -c "no GPU energy" "$E2E_TMP/agent.log")" -eq 1 ] || fail "want one line about the missing library: $(cat "$E2E_TMP/agent.log")"
agent_term
gpu_config "$E2E_TMP/nvml.yaml" nvml /nonexistent/libnvidia-ml.so.1
"$JOULEPUSH" --config "$E2E_TMP/nvml.yaml" >"$E2E_TMP/refused.log" 2>&1 &
AGENT_PID=$!
agent_wait_exit 10 "with gpu.source nvml and no library"
[ "$AGENT_RC" -ne 0 ] || fail "gpu.source nvml without the library exited 0"
grep -q "gpu.source nvml: .*/nonexistent/libnvidia-ml.so.1" "$E2E_TMP/refused.log" ||
  fail "no error naming the library: $(cat "$E2E_TMP/refused.log")"
# Failing to initialise (the driver not loaded): same refusal, with NVML's reason.
e2e_kill "$FIX_PID" 2
echo "init fail" >"$FIXTURE"
gpu_config "$E2E_TMP/nvml2.yaml" nvml "$STANDIN"
"$JOULEPUSH" --config "$E2E_TMP/nvml2.yaml" >"$E2E_TMP/refused2.log" 2>&1 &
AGENT_PID=$!
agent_wait_exit 10 "with NVML failing to initialise"
[ "$AGENT_RC" -ne 0 ] || fail "NVML failing to initialise: exited 0"
grep -q "nvmlInit_v2" "$E2E_TMP/refused2.log" || fail "no nvmlInit_v2 in: $(cat "$E2E_TMP/refused2.log")"
AGENT_PID=
e2e_log "GPU: $checked rounds within 3 % (power), 10 % (shares), 1 % (conservation); missing and failing library handled"
echo "PASS: $E2E_NAME"
