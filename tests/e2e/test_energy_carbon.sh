#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# End to end, energy and carbon (docs/reference/metrics.md, docs/model.md, docs/carbon.md): fixture RAPL counters advanced at known
# wattages (and wrapping at a small max_energy_range_uj), two real pod-shaped cgroups with
# busy processes in ratio 2:1, a TLS mock kubelet that names them, a mock ENTSO-E API
# serving an A75 document whose newest point is a few minutes old, and a real Prometheus
# receiving remote write. After ~8 intervals and a SIGTERM, PromQL over what Prometheus
# holds must show: node watts = the helper's wattage (3 %), pod energy 2:1 (10 %), pods +
# system + unattributed idle = node per zone (1 %), pod CO2 = joules / 3.6e6 x the
# document's intensity x PUE (1 %), and the grid gauges equal to the document's values.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
  [ "${CI:-}" = true ] && fail "needs root (pod cgroups, eBPF, energy_uj) and CI=true"
  echo "SKIP: needs root" >&2
  exit 77
fi
require_cmd "$PROMETHEUS" curl "$PYTHON3" openssl taskset

# The cgroup v2 mount, as the agent finds it (host.cgroupfs: auto).
CGROOT=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -z "$CGROOT" ] || [ ! -w "$CGROOT/cgroup.procs" ]; then
  [ "${CI:-}" = true ] && fail "no writable cgroup v2 mount and CI=true"
  echo "SKIP: no writable cgroup v2 mount" >&2
  exit 77
fi

e2e_init energy_carbon

RAPL_ADVANCE=${RAPL_ADVANCE:-$(dirname "$JOULEPUSH")/tests/rapl_advance}
[ -x "$RAPL_ADVANCE" ] || fail "no rapl_advance at $RAPL_ADVANCE (make tests/rapl_advance, or set RAPL_ADVANCE)"
FIXTURES=$E2E_DIR/../fixtures
INTERVAL_S=2
RUN_INTERVALS=${RUN_INTERVALS:-8}
COLLECTOR=${E2E_COLLECTOR:-ebpf}
AREA=10Y1001A1001A82H
PUE=1.25
FALLBACK_G=999

# --- fixture RAPL: one socket, package and dram wrapping every few seconds -----------------
# package 42 W against a 200 J range wraps every 4.8 s; dram 7.5 W against 30 J every 4 s.
# Both ranges are larger than one interval's energy (a counter may wrap at most once per
# read, docs/model.md step 1), and each counter starts close to its top so it wraps soon.
declare -A WATTS=([package]=42 [core]=30 [uncore]=4 [dram]=7.5)
SYSFS=$E2E_TMP/sysfs
mkdir -p "$SYSFS"
cp -r "$FIXTURES/powercap/one-socket/." "$SYSFS/"
PC=$SYSFS/class/powercap
echo 200000000 >"$PC/intel-rapl:0/max_energy_range_uj"
echo 195000000 >"$PC/intel-rapl:0/energy_uj"
echo 30000000 >"$PC/intel-rapl:0:2/max_energy_range_uj"
echo 29000000 >"$PC/intel-rapl:0:2/energy_uj"
"$RAPL_ADVANCE" --root "$SYSFS" --period-ms 20 package=${WATTS[package]} core=${WATTS[core]} \
  uncore=${WATTS[uncore]} dram=${WATTS[dram]} >"$E2E_TMP/rapl_advance.log" 2>&1 &
RAPL_PID=$!
e2e_track "$RAPL_PID"
wait_for 10 "rapl_advance" grep -q ready "$E2E_TMP/rapl_advance.log"

# --- two pods, kubelet systemd-driver paths, busy processes 2:1 ----------------------------
POD_A_UID=5e0a1c2d-3b4f-4a6e-8d7c-e2e0000000a1
POD_B_UID=5e0a1c2d-3b4f-4a6e-8d7c-e2e0000000b2
CID_A=$(printf 'a%.0s' {1..8})e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5
CID_B=$(printf 'b%.0s' {1..8})e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5e2e5
QOS=$CGROOT/kubepods.slice/kubepods-burstable.slice
pod_dir() { echo "$QOS/kubepods-burstable-pod${1//-/_}.slice"; }
CG_A=$(pod_dir "$POD_A_UID")/cri-containerd-$CID_A.scope
CG_B=$(pod_dir "$POD_B_UID")/cri-containerd-$CID_B.scope
SPIN_PIDS=()

# Kill whatever is left in our pod cgroups and remove them (and the QoS slices when no
# other test uses them: rmdir only removes empty directories).
cgroups_remove() {
  local d p i
  for d in "$CG_A" "$CG_B"; do
    [ -d "$d" ] || continue
    for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    for ((i = 0; i < 50; i++)); do
      rmdir "$d" 2>/dev/null && break
      sleep 0.1
    done
  done
  rmdir "$(pod_dir "$POD_A_UID")" "$(pod_dir "$POD_B_UID")" 2>/dev/null
  rmdir "$QOS" "$CGROOT/kubepods.slice" 2>/dev/null
  return 0
}

energy_carbon_cleanup() {
  local rc=$? p
  for p in "${SPIN_PIDS[@]+"${SPIN_PIDS[@]}"}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${SPIN_PIDS[@]+"${SPIN_PIDS[@]}"}"; do wait "$p" 2>/dev/null; done
  cgroups_remove
  (exit "$rc")
  e2e_cleanup
}
trap energy_carbon_cleanup EXIT

cgroups_remove   # leftovers of a run that was killed
mkdir -p "$CG_A" "$CG_B" || fail "cannot create pod cgroups under $QOS"

# All three spinners share one CPU, so each gets a third of it: pod A (two spinners) twice
# what pod B (one) gets. Where the cpu controller is enabled on the v2 hierarchy, cgroups
# are scheduled as groups, so the pods' weights are set 2:1 as well.
SPIN_CPU=$(($(nproc) - 1))
[ -w "$CG_A/cpu.weight" ] && { echo 200 >"$CG_A/cpu.weight"; echo 100 >"$CG_B/cpu.weight"; }
spin() {
  taskset -c "$SPIN_CPU" bash -c 'echo $$ >"$1/cgroup.procs" && while :; do :; done' spin "$1" &
  SPIN_PIDS+=($!)
}
spin "$CG_A"
spin "$CG_A"
spin "$CG_B"
sleep 0.3
[ "$(wc -l <"$CG_A/cgroup.procs")" -eq 2 ] && [ "$(wc -l <"$CG_B/cgroup.procs")" -eq 1 ] \
  || fail "spinners did not move into the pod cgroups"
e2e_log "pods: A $CG_A (2 spinners), B $CG_B (1 spinner), on CPU $SPIN_CPU"

# --- mock kubelet (TLS, as tests/check_kubelet.c does it) ---------------------------------
KDIR=$E2E_TMP/kubelet
mkdir -p "$KDIR"
(cd "$KDIR" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout server.key -out server.crt -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1) || fail "openssl could not make a certificate"
echo kubelet-e2e-token >"$KDIR/token"
pod_json() {   # UID NAME NAMESPACE CONTAINER_ID CPU_REQUEST
  cat <<EOF
    {"metadata": {"name": "$2", "namespace": "$3", "uid": "$1"},
     "spec": {"containers": [{"name": "burn", "image": "busybox",
                              "resources": {"requests": {"cpu": "$5"}}}]},
     "status": {"phase": "Running", "qosClass": "Burstable",
                "containerStatuses": [{"name": "burn", "containerID": "containerd://$4", "ready": true}]}}
EOF
}
{
  echo '{"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": ['
  pod_json "$POD_A_UID" spinner-a team-a "$CID_A" 500m
  echo ','
  pod_json "$POD_B_UID" spinner-b team-b "$CID_B" 250m
  echo ']}'
} >"$KDIR/body"
"$PYTHON3" "$FIXTURES/kubelet/mock_kubelet.py" "$KDIR" "$KDIR/server.crt" "$KDIR/server.key" \
  >>"$E2E_TMP/kubelet.log" 2>&1 &
e2e_track $!
wait_for 10 "mock kubelet" test -s "$KDIR/port"
KUBELET_URL=https://127.0.0.1:$(cat "$KDIR/port")

# --- mock ENTSO-E ----------------------------------------------------------------------------
ENTSOE_TOKEN=e2e-entsoe-$RANDOM$RANDOM-secret
echo "$ENTSOE_TOKEN" >"$E2E_TMP/entsoe.token"
"$PYTHON3" "$E2E_DIR/mock_entsoe.py" --template "$FIXTURES/carbon/entsoe_e2e_template.xml" \
  --token-file "$E2E_TMP/entsoe.token" --area "$AREA" --port-file "$E2E_TMP/entsoe.port" \
  --log "$E2E_TMP/entsoe.jsonl" >>"$E2E_TMP/entsoe.log" 2>&1 &
e2e_track $!
wait_for 10 "mock ENTSO-E" test -s "$E2E_TMP/entsoe.port"
ENTSOE_URL=http://127.0.0.1:$(cat "$E2E_TMP/entsoe.port")/api

# --- a procfs whose CPU usage ratio is known, for the second agent -------------------------
# This machine's own /proc/stat says whatever else runs on it (on a busy CI runner the usage
# ratio is often 1 and there is no idle energy to share). The second agent reads a stat file
# that advances at exactly EVEN_USAGE over 2 CPUs, rewritten in place (fixed-width numbers,
# so a read never sees a shorter file's leftovers) as the kernel's would change under an
# open fd.
EVEN_USAGE=0.4
mkdir -p "$E2E_TMP/procfs"
"$PYTHON3" - "$E2E_TMP/procfs/stat" "$EVEN_USAGE" >>"$E2E_TMP/procstat.log" 2>&1 <<'PY' &
import os, sys, time
path, u = sys.argv[1], float(sys.argv[2])
hz, ncpu, base = os.sysconf("SC_CLK_TCK"), 2, 10 ** 9


def render(el):
    ticks = int(el * hz)            # per CPU
    busy = int(ticks * u)
    lines = ["cpu  %012d 0 0 %012d 0 0 0 0 0 0" % (base + ncpu * busy, base + ncpu * (ticks - busy))]
    lines += ["cpu%d %012d 0 0 %012d 0 0 0 0 0 0" % (i, base + busy, base + ticks - busy) for i in range(ncpu)]
    return ("\n".join(lines) + "\nintr 0\nctxt 0\n").encode()


with open(path, "wb") as f:
    f.write(render(0))
fd = os.open(path, os.O_WRONLY)
parent, t0 = os.getppid(), time.monotonic()
while os.getppid() == parent:
    data = render(time.monotonic() - t0)
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))
    time.sleep(0.01)
PY
e2e_track $!
wait_for 10 "the procstat writer" test -s "$E2E_TMP/procfs/stat"

# --- Prometheus and two agents ----------------------------------------------------------------
# Both read the same fixture counters and pods: "e2e-energy" keeps idle energy on the node
# (idle_attribution none) and reads the real /proc/stat; "e2e-energy-even" shares idle
# energy evenly among running pods and reads the procfs above.
prom_start
agent_yaml() {   # NODE IDLE_ATTRIBUTION PORT [HOST_EXTRA_YAML]
  cat <<EOF
node_name: $1
interval: ${INTERVAL_S}s
external_labels: {cluster: e2e}
host:
  sysfs: $SYSFS
${4:-}
collector:
  mode: $COLLECTOR
power:
  source: rapl
  idle_attribution: $2
  pue: $PUE
kubernetes:
  kubelet_url: $KUBELET_URL
  token_file: $KDIR/token
  ca_file: $KDIR/server.crt
carbon:
  source: entsoe
  grams_per_kwh: $FALLBACK_G
  max_age: 2h
  refresh: 15m
  entsoe: {url: "$ENTSOE_URL", token_file: "$E2E_TMP/entsoe.token", area: "$AREA"}
metrics:
  levels: [node, pod, namespace, container]
  compat: kepler
server:
  listen: 127.0.0.1:$3
log: {level: info, format: text}
remote_write:
$(QUEUE_DIR=$E2E_TMP/queue-$1 remote_yaml prom "$PROM_URL/api/v1/write")
EOF
}
EVEN_PORT=$(free_port)
agent_yaml e2e-energy-even even "$EVEN_PORT" "  procfs: $E2E_TMP/procfs
  cgroupfs: $CGROOT" >"$E2E_TMP/agent-even.yaml"
AGENT_PORT=$(free_port)
# shellcheck disable=SC2034  # read by agent_start (lib.sh)
AGENT_URL=http://127.0.0.1:$AGENT_PORT
agent_yaml e2e-energy none "$AGENT_PORT" >"$E2E_TMP/agent.yaml"
for f in agent.yaml agent-even.yaml; do
  "$JOULEPUSH" --config "$E2E_TMP/$f" --check-config >/dev/null || fail "the test's config $f is rejected"
done

sleep_to_mid_interval $((INTERVAL_S * 1000))
"$JOULEPUSH" --config "$E2E_TMP/agent-even.yaml" >>"$E2E_TMP/agent-even.log" 2>&1 &
EVEN_PID=$!
e2e_track "$EVEN_PID"
agent_start "$E2E_TMP/agent.yaml"
wait_for 15 "the second joulepush" http_ok "http://127.0.0.1:$EVEN_PORT/readyz"
sleep $((RUN_INTERVALS * INTERVAL_S))
sleep_to_mid_interval $((INTERVAL_S * 1000))
kill -TERM "$EVEN_PID"
agent_term
wait "$EVEN_PID"
rc=$?
e2e_untrack "$EVEN_PID"
[ "$rc" -eq 0 ] || fail "the second joulepush exited with $rc after SIGTERM"
kill -TERM "$RAPL_PID"

# --- what the agent asked for, and what it did not log ---------------------------------------
grep -qF "$ENTSOE_TOKEN" "$E2E_TMP/agent.log" "$E2E_TMP/agent-even.log" && fail "the ENTSO-E token appears in the agent's log"
"$PYTHON3" - "$E2E_TMP/entsoe.jsonl" <<'PY' || fail "the agent's ENTSO-E requests are not right"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not recs:
    sys.exit("FAIL: the agent never asked the mock ENTSO-E")
bad = [r for r in recs if r["status"] != 200]
for r in bad[:3]:
    print("FAIL: request answered %d: %s" % (r["status"], "; ".join(r["problems"])))
# refresh is 15m: one request per agent at start-up, never more during a short run.
if len(recs) != 2:
    print("FAIL: %d requests to ENTSO-E from two agents with refresh 15m (want 2)" % len(recs))
    sys.exit(1)
sys.exit(1 if bad else 0)
PY

# --- PromQL checks, once per agent --------------------------------------------------------------
cat >"$E2E_TMP/checks.py" <<'PY'
import json, math, os, sys, urllib.parse, urllib.request

PROM = sys.argv[1]
IV = float(os.environ["INTERVAL_S"])
PUE = float(os.environ["PUE"])
AREA = os.environ["AREA"]
WATTS = {k: float(v) for k, v in (kv.split("=") for kv in os.environ["WATTS"].split(","))}
UID_A, UID_B = os.environ["POD_A_UID"], os.environ["POD_B_UID"]
NODE, IDLE = os.environ["NODE"], os.environ["IDLE"]
errors = []


def N(sel):
    """The selector restricted to this agent's series (every series carries node, docs/reference/metrics.md)."""
    if "{" in sel:
        return sel.replace("{", '{node="%s",' % NODE, 1)
    return '%s{node="%s"}' % (sel, NODE)


def check(ok, msg):
    print(("ok:   " if ok else "FAIL: ") + msg)
    if not ok:
        errors.append(msg)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def query(expr, t=None):
    p = {"query": expr}
    if t is not None:
        p["time"] = "%.3f" % t
    with urllib.request.urlopen("%s/api/v1/query?%s" % (PROM, urllib.parse.urlencode(p)), timeout=30) as r:
        d = json.load(r)
    if d.get("status") != "success":
        sys.exit("FAIL: query %s: %s" % (expr, d))
    return d["data"]


def vector(expr, t):
    return [(s["metric"], float(s["value"][1])) for s in query(expr, t)["result"]]


def scalar(expr, t, what):
    v = vector(expr, t)
    if len(v) != 1:
        sys.exit("FAIL: %s: %s gave %d series, want 1" % (what, expr, len(v)))
    return v[0][1]


def raw(selector):
    """Every raw sample of selector in the last hour: {labels: [(ts_s, value)]}."""
    import time
    out = {}
    for s in query("%s[1h]" % N(selector), time.time() + 1)["result"]:
        out[json.dumps(s["metric"], sort_keys=True)] = [(float(t), float(v)) for t, v in s["values"]]
    return out


# docs/carbon.md lifecycle factors and renewable types, restated here rather than taken from the agent.
LIFECYCLE = {"B01": 230, "B02": 820, "B03": 490, "B04": 490, "B05": 820, "B06": 650, "B07": 820,
             "B08": 820, "B09": 38, "B11": 24, "B12": 24, "B13": 700, "B14": 12, "B15": 700,
             "B16": 45, "B17": 230, "B18": 11, "B19": 11, "B20": 700}
RENEWABLE = {"B01", "B09", "B11", "B12", "B13", "B15", "B16", "B18", "B19"}
FUEL = {"B02": "coal", "B04": "gas", "B10": "storage", "B12": "hydro", "B14": "nuclear",
        "B16": "solar", "B19": "wind"}
# The newest complete point of tests/fixtures/carbon/entsoe_e2e_template.xml (the last quarter
# hour of the served hour), read off the document by hand: B02 is an A03 curve whose last
# position repeats the third, B14 one hourly point, B16 the second half-hour point; B10 is
# storage (exported, outside the mix) and its 900 MW pumping series is consumption.
MIX = {"B02": 2200, "B04": 1200, "B12": 380, "B14": 4000, "B16": 600, "B19": 2400}
STORAGE = {"B10": 150}
total_mw = sum(MIX.values())
want_g = sum(mw * LIFECYCLE[p] for p, mw in MIX.items()) / total_mw
want_ren = sum(mw for p, mw in MIX.items() if p in RENEWABLE) / total_mw
# Carbon-free: the renewable set and nuclear (B14).
want_cfe = sum(mw for p, mw in MIX.items() if p in RENEWABLE or p == "B14") / total_mw
print("expected grid intensity %.6f g/kWh, renewable ratio %.6f, carbon-free ratio %.6f"
      % (want_g, want_ren, want_cfe))

# The measured window: from the first round at which both pods carry their kubelet names and
# the ENTSO-E value is in force, to the last round.
rounds = raw('joulepush_node_energy_joules_total{zone="package",mode="active"}')
if len(rounds) != 1:
    sys.exit("FAIL: %d node package series in Prometheus, want 1" % len(rounds))
ts = [t for t, _ in next(iter(rounds.values()))]
firsts = []
for sel in ('joulepush_pod_cpu_seconds_total{namespace="team-a",pod="spinner-a",pod_uid="%s"}' % UID_A,
            'joulepush_pod_cpu_seconds_total{namespace="team-b",pod="spinner-b",pod_uid="%s"}' % UID_B,
            'joulepush_grid_carbon_intensity_grams_per_kwh{source="entsoe",grid_zone="%s"}' % AREA):
    r = raw(sel)
    if not r:
        sys.exit("FAIL: Prometheus has no %s" % sel)
    firsts.append(min(t for pts in r.values() for t, _ in pts))
start, end = max(firsts), max(ts)
n_iv = round((end - start) / IV)
print("window %.3f .. %.3f: %d intervals (%d rounds in Prometheus, first %.3f)" % (start, end, n_iv, len(ts), min(ts)))
if n_iv < int(os.environ["MIN_INTERVALS"]):
    sys.exit("FAIL: only %d intervals with named pods and ENTSO-E data (want >= %s)" % (n_iv, os.environ["MIN_INTERVALS"]))
secs = end - start
W = "%dms" % round(secs * 1000)


def inc(sel):
    """Per series, the counter's growth over the window: its last value up to the end minus its
    value at the start (0 for a series that appeared later)."""
    sel = N(sel)
    last = "last_over_time(%s[%s] @ %.3f)" % (sel, W, end)
    return "(%s - (%s @ %.3f or %s * 0))" % (last, sel, start, last)


def by(label, expr):
    return {m.get(label, ""): v for m, v in vector("sum by (%s) (%s)" % (label, expr), end)}


# 1. Node energy against the helper's wattage, per zone (3 %).
node = by("zone", inc("joulepush_node_energy_joules_total"))
for z, w in WATTS.items():
    got = node.get(z, math.nan) / secs
    check(rel(got, w) <= 0.03, "node %-7s %.3f W over %.1f s, helper %.3f W (%.2f %%)" % (z, got, secs, w, 100 * rel(got, w)))
# The ranges are small enough that both counters wrapped during the window.
check(WATTS["package"] * secs > 200 and WATTS["dram"] * secs > 30,
      "package and dram counters wrapped at least %d and %d times in the window"
      % (WATTS["package"] * secs // 200, WATTS["dram"] * secs // 30))

# 2. The two pods' energy 2:1 (10 %), total energy = package + dram (docs/reference/metrics.md).
def pod_sel(uid, name="joulepush_pod_energy_joules_total", extra=""):
    return '%s{pod_uid="%s"%s}' % (name, uid, extra)


pod_zone = {}
for uid in (UID_A, UID_B):
    pod_zone[uid] = by("zone", inc(pod_sel(uid)))
tot = {uid: pod_zone[uid].get("package", 0) + pod_zone[uid].get("dram", 0) for uid in pod_zone}
cpu = {uid: scalar("sum(%s)" % inc(pod_sel(uid, "joulepush_pod_cpu_seconds_total")), end, "cpu") for uid in pod_zone}
ratio = tot[UID_A] / tot[UID_B] if tot[UID_B] else math.inf
print("pod A %.3f J (%.3f CPU s), pod B %.3f J (%.3f CPU s)" % (tot[UID_A], cpu[UID_A], tot[UID_B], cpu[UID_B]))
if IDLE == "none":
    check(abs(ratio - 2) <= 0.2, "pod energy ratio A:B = %.4f (want 2 +- 10 %%)" % ratio)
else:
    # Idle energy is shared evenly among running pods: only the active part goes 2:1.
    act = {uid: scalar('sum(%s)' % inc(pod_sel(uid, extra=',mode="active",zone=~"package|dram"')), end, "active")
           for uid in pod_zone}
    r = act[UID_A] / act[UID_B] if act[UID_B] else math.inf
    check(abs(r - 2) <= 0.2, "pod active energy ratio A:B = %.4f (want 2 +- 10 %%)" % r)
    idl = {uid: by("zone", inc(pod_sel(uid, extra=',mode="idle"'))) for uid in pod_zone}
    check(all(rel(idl[UID_A].get(z, 0), idl[UID_B].get(z, 0)) <= 1e-6 or max(idl[UID_A].get(z, 0), idl[UID_B].get(z, 0)) < 1e-9
              for z in WATTS),
          "idle_attribution even: both pods got the same idle energy %s" % {z: round(idl[UID_A].get(z, 0), 4) for z in WATTS})
check(cpu[UID_A] + cpu[UID_B] >= 0.25 * secs,
      "the spinners ran: %.2f CPU s over %.1f s" % (cpu[UID_A] + cpu[UID_B], secs))
print("node CPU usage ratio over the window: %.3f" % scalar(
    "avg_over_time(%s[%s] @ %.3f)" % (N("joulepush_node_cpu_usage_ratio"), W, end), end, "usage"))

# 3. Conservation per zone (1 %): pods + system + unattributed idle = node. With
# idle_attribution none the unattributed idle is the node's idle energy and pods have no
# idle series at all; with even, every round has running pods, so nothing stays unattributed.
pods = by("zone", inc("joulepush_pod_energy_joules_total"))
system = by("zone", inc("joulepush_system_energy_joules_total"))
node_idle = by("zone", inc('joulepush_node_energy_joules_total{mode="idle"}'))
unattributed = node_idle if IDLE == "none" else {}
for z in WATTS:
    s = pods.get(z, 0) + system.get(z, 0) + unattributed.get(z, 0)
    check(rel(s, node[z]) <= 0.01,
          "conservation %-7s pods %.3f + system %.3f + unattributed idle %.3f = %.3f J, node %.3f J (%.4f %%)"
          % (z, pods.get(z, 0), system.get(z, 0), unattributed.get(z, 0), s, node[z], 100 * rel(s, node[z])))
idle_pod_series = vector('count(%s)' % N('joulepush_pod_energy_joules_total{mode="idle"}'), end)
if IDLE == "none":
    check(not idle_pod_series, "no pod idle series with idle_attribution none")
else:
    u = float(os.environ["EVEN_USAGE"])
    for z in WATTS:
        f = node_idle[z] / node[z]
        check(abs(f - (1 - u)) <= 0.03 * (1 - u),
              "idle %-7s %.4f of the node's energy, procfs usage ratio %.2f gives %.4f" % (z, f, u, 1 - u))
    pods_idle = by("zone", inc('joulepush_pod_energy_joules_total{mode="idle"}'))
    for z in WATTS:
        check(rel(pods_idle.get(z, 0), node_idle[z]) <= 0.01 or node_idle[z] < 1e-6,
              "idle %-7s pods got %.3f J of the node's %.3f J idle" % (z, pods_idle.get(z, 0), node_idle[z]))
# Containers add up to their pod.
for uid in pod_zone:
    c = by("zone", inc('joulepush_container_energy_joules_total{pod_uid="%s"}' % uid))
    check(all(rel(c.get(z, 0), pod_zone[uid][z]) <= 1e-6 for z in WATTS),
          "containers of %s add up to the pod" % uid[-2:])

# 4. CO2: pod and namespace grams = pod joules / 3.6e6 x intensity x PUE (1 %).
fallback = raw('joulepush_grid_carbon_intensity_grams_per_kwh{source="fallback"}')
in_window = [t for pts in fallback.values() for t, _ in pts if start <= t <= end]
check(not in_window, "no fallback intensity inside the window (%d fallback samples in all)"
      % sum(len(p) for p in fallback.values()))
for uid, ns in ((UID_A, "team-a"), (UID_B, "team-b")):
    g = scalar("sum(%s)" % inc(pod_sel(uid, "joulepush_pod_co2_grams_total")), end, "pod co2")
    want = tot[uid] / 3.6e6 * want_g * PUE
    check(rel(g, want) <= 0.01, "pod %s CO2 %.6g g, joules %.3f / 3.6e6 x %.3f g/kWh x PUE %.2f = %.6g g (%.4f %%)"
          % (ns, g, tot[uid], want_g, PUE, want, 100 * rel(g, want)))
    n = scalar('sum(%s)' % inc('joulepush_namespace_co2_grams_total{namespace="%s"}' % ns), end, "ns co2")
    check(rel(n, g) <= 1e-6, "namespace %s CO2 %.6g g = its pod's" % (ns, n))
node_total = node["package"] + node["dram"]
g = scalar("sum(%s)" % inc("joulepush_node_co2_grams_total"), end, "node co2")
want = node_total / 3.6e6 * want_g * PUE
check(rel(g, want) <= 0.01, "node CO2 %.6g g, want %.6g g (%.4f %%)" % (g, want, 100 * rel(g, want)))

# 4b. Carbon-free energy, counted as CO2 is: joules x the mix's carbon-free share (no PUE),
# for the pods, their namespaces and the node; and the node's energy converted with the
# ENTSO-E intensity is all of it (no fallback in the window, checked above).
for uid, ns in ((UID_A, "team-a"), (UID_B, "team-b")):
    c = scalar("sum(%s)" % inc(pod_sel(uid, "joulepush_pod_carbon_free_energy_joules_total")), end, "pod cfe")
    want = tot[uid] * want_cfe
    check(rel(c, want) <= 0.01, "pod %s carbon-free %.6g J, joules %.3f x %.4f = %.6g J"
          % (ns, c, tot[uid], want_cfe, want))
    n = scalar('sum(%s)' % inc('joulepush_namespace_carbon_free_energy_joules_total{namespace="%s"}' % ns),
               end, "ns cfe")
    check(rel(n, c) <= 1e-6, "namespace %s carbon-free %.6g J = its pod's" % (ns, n))
c = scalar("sum(%s)" % inc("joulepush_node_carbon_free_energy_joules_total"), end, "node cfe")
check(rel(c, node_total * want_cfe) <= 0.01, "node carbon-free %.6g J, want %.6g J" % (c, node_total * want_cfe))
conv = scalar('sum(%s)' % inc('joulepush_node_converted_energy_joules_total{intensity_source="entsoe"}'), end,
              "converted")
check(rel(conv, node_total) <= 0.01, "node energy converted with entsoe %.6g J, want %.6g J" % (conv, node_total))

# 5. The grid gauges equal the document's values.
gi = vector('%s @ %.3f' % (N('joulepush_grid_carbon_intensity_grams_per_kwh{source="entsoe"}'), end), end)
check(len(gi) == 1 and gi[0][0].get("grid_zone") == AREA and rel(gi[0][1], want_g) <= 1e-9,
      "grid intensity %s, want %.6f g/kWh {source=\"entsoe\",grid_zone=\"%s\"}"
      % ([(m.get("grid_zone"), v) for m, v in gi], want_g, AREA))
gen = {(m.get("psr_type"), m.get("fuel"), m.get("grid_zone")): v
       for m, v in vector("%s @ %.3f" % (N("joulepush_grid_generation_megawatts"), end), end)}
want_gen = {(p, FUEL[p], AREA): float(mw) for p, mw in list(MIX.items()) + list(STORAGE.items())}
check(gen == want_gen, "generation MW per psr_type %s, want %s" % (sorted(gen.items()), sorted(want_gen.items())))
ren = vector("%s @ %.3f" % (N("joulepush_grid_renewable_ratio"), end), end)
check(len(ren) == 1 and rel(ren[0][1], want_ren) <= 1e-9,
      "renewable ratio %s, want %.6f" % ([v for _, v in ren], want_ren))
cfe = vector("%s @ %.3f" % (N('joulepush_grid_carbon_free_ratio{source="entsoe"}'), end), end)
check(len(cfe) == 1 and rel(cfe[0][1], want_cfe) <= 1e-9,
      "carbon-free ratio %s, want %.6f" % ([v for _, v in cfe], want_cfe))

# 6. metrics.compat kepler: the Kepler 0.10 names carry the same joules.
kn = by("zone", inc('joulepush_node_energy_joules_total'))
kk = by("zone", inc('kepler_node_cpu_joules_total{node_name="%s"}' % NODE))
check(all(rel(kk.get(z, 0), kn[z]) <= 1e-6 for z in WATTS), "kepler_node_cpu_joules_total = node joules per zone")
kp = by("zone", inc('kepler_pod_cpu_joules_total{pod_id="%s",pod_name="spinner-a",pod_namespace="team-a",state="running"}' % UID_A))
check(all(rel(kp.get(z, 0), pod_zone[UID_A][z]) <= 1e-6 for z in WATTS), "kepler_pod_cpu_joules_total = pod A's joules per zone")

if errors:
    sys.exit("FAIL: %d checks failed" % len(errors))
print("all energy and carbon checks passed for %s" % NODE)
PY
for run in e2e-energy:none e2e-energy-even:even; do
  e2e_log "checks for node ${run%%:*} (idle_attribution ${run#*:})"
  NODE=${run%%:*} IDLE=${run#*:} INTERVAL_S=$INTERVAL_S PUE=$PUE AREA=$AREA \
    WATTS="package=${WATTS[package]},core=${WATTS[core]},uncore=${WATTS[uncore]},dram=${WATTS[dram]}" \
    POD_A_UID=$POD_A_UID POD_B_UID=$POD_B_UID MIN_INTERVALS=$((RUN_INTERVALS - 2)) EVEN_USAGE=$EVEN_USAGE \
    "$PYTHON3" "$E2E_TMP/checks.py" "$PROM_URL" || fail "energy and carbon checks failed for ${run%%:*} (numbers above)"
done

grep -qiE 'level=error|error' "$E2E_TMP/prometheus.log" && e2e_log "prometheus logged errors (see prometheus.log)"
e2e_log "PASS"
