#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# joulepush on the real kernel (docs/model.md): pod-shaped cgroups with systemd-driver
# paths in the cgroup v2 hierarchy, names from a mock kubelet over HTTPS, and per-pod CPU
# seconds checked against the kernel's own cpu.stat, first with the eBPF collector, then
# with an eBPF map too small for the node (the containers it misses come from cpu.stat),
# then with the cgroupfs collector.
#
# Pod A runs two spinners (two containers), pod B one, pod C sleeps. The three spinners
# are pinned to one CPU so that the scheduler shares it 1:1:1 whatever the machine.
# The agent's counters move only at round boundaries, so the comparison with cpu.stat
# runs over whole rounds: /metrics is polled every 50 ms and cpu.stat is read at the
# moments joulepush_collections_total changes.
#
# env: NODE_PODS_MODES ("ebpf cgroupfs"), NODE_PODS_ROUNDS (4 rounds of 2 s compared).
source "$(dirname "$0")/lib.sh"

# --- can this machine run it? -------------------------------------------------------------
CG_MOUNT=$(cgroup2_mount)
[ "$(id -u)" -eq 0 ] || skip_or_fail "not root: cannot create cgroups or load eBPF"
[ -n "$CG_MOUNT" ] && [ -w "$CG_MOUNT" ] || skip_or_fail "no writable cgroup v2 mount"
require_cmd curl openssl taskset "$PYTHON3"

e2e_init node_pods
MOCK_KUBELET=$E2E_DIR/../fixtures/kubelet/mock_kubelet.py
PODLIST=$E2E_DIR/../fixtures/kubelet/e2e-node-pods.json
[ -f "$MOCK_KUBELET" ] && [ -f "$PODLIST" ] || fail "fixtures missing next to $E2E_DIR"
INTERVAL_MS=2000
ROUNDS=${NODE_PODS_ROUNDS:-4}

# The pods of e2e-node-pods.json: UID, QoS slice, container ids.
UID_A=7c1e4a52-0b3d-4f6e-9a81-2d5c6b7e8f01
UID_B=3f8a9c10-6d2e-4b7a-8c95-1e0f2a3b4c02
UID_C=9b2d7e64-5a1f-4c3e-b0d8-6f7a8e9c0d03
CID_A1=a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f01
CID_A2=b1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f02
CID_B=c1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f03
CID_C=d1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f04

# The pods live under a cgroup root of this test's own (kubernetes.cgroup_root, as on a
# kind node): the pods of tests that run beside it (make check -j2) are not this agent's.
CG_ROOT_REL=/jp-e2e-node-pods
KP=$CG_MOUNT$CG_ROOT_REL/kubepods.slice
pod_dir() { # QOS UID: the kubelet's systemd-driver pod slice
  echo "$KP/kubepods-$1.slice/kubepods-$1-pod${2//-/_}.slice"
}
POD_A=$(pod_dir burstable $UID_A)
POD_B=$(pod_dir burstable $UID_B)
POD_C=$(pod_dir besteffort $UID_C)
LEAVES=("$POD_A/cri-containerd-$CID_A1.scope" "$POD_A/cri-containerd-$CID_A2.scope"
  "$POD_B/cri-containerd-$CID_B.scope" "$POD_C/cri-containerd-$CID_C.scope")
PODS=("$POD_A" "$POD_B" "$POD_C")
CREATED=()   # directories this test made, parents first

# --- cgroups: made here, always removed (EXIT trap, also on failure) -----------------------
cg_kill_all() { # DIR: kill every process in DIR and below, wait until it is empty
  local d=$1 i p
  [ -d "$d" ] || return 0
  if [ -e "$d/cgroup.kill" ]; then
    echo 1 >"$d/cgroup.kill" 2>/dev/null
  else
    for p in $(cat "$d"/cgroup.procs "$d"/*/cgroup.procs 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  fi
  for ((i = 0; i < 50; i++)); do
    grep -q '^populated 0' "$d/cgroup.events" 2>/dev/null && return 0
    sleep 0.1
  done
  e2e_log "cgroup $d still populated after kill"
}
cg_cleanup() {
  local d i
  for d in "${PODS[@]}"; do cg_kill_all "$d"; done
  # Leaf first: the reverse of the creation order.
  for ((i = ${#CREATED[@]} - 1; i >= 0; i--)); do
    d=${CREATED[i]}
    [ -d "$d" ] || continue
    rmdir "$d" 2>/dev/null || e2e_log "cannot remove cgroup $d (another user of it?)"
  done
}
trap 'rc=$?; cg_cleanup; (exit $rc); e2e_cleanup' EXIT

mkcg() { # DIR: mkdir -p that remembers what it created
  local parts=() d=$1
  while [ ! -d "$d" ]; do
    parts=("$d" "${parts[@]+"${parts[@]}"}")
    d=$(dirname "$d")
  done
  for d in "${parts[@]+"${parts[@]}"}"; do
    if mkdir "$d" 2>/dev/null; then
      CREATED+=("$d")
    else
      [ -d "$d" ] || fail "cannot create cgroup $d"   # made by someone else meanwhile
    fi
  done
}

# Left over from an earlier run that was killed before its trap ran: the same UIDs.
for d in "${PODS[@]}"; do
  if [ -d "$d" ]; then
    e2e_log "removing leftover $d"
    cg_kill_all "$d"
    rmdir "$d"/*/ "$d" 2>/dev/null
  fi
done
for d in "${LEAVES[@]}"; do mkcg "$d"; done

# in_cgroup DIR CMD...: CMD in the background inside cgroup DIR (it moves itself in before exec).
in_cgroup() {
  local d=$1
  shift
  sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$d" "$@" </dev/null >/dev/null 2>&1 &
  # Not tracked: cg_cleanup kills them through their cgroups; disowned so that bash does
  # not report each "Killed" job then.
  disown $!
}
SPIN_CPU=$("$PYTHON3" -c 'import os; print(min(os.sched_getaffinity(0)))')
SPIN=(taskset -c "$SPIN_CPU" sh -c 'while :; do :; done')
in_cgroup "${LEAVES[0]}" "${SPIN[@]}"
in_cgroup "${LEAVES[1]}" "${SPIN[@]}"
in_cgroup "${LEAVES[2]}" "${SPIN[@]}"
in_cgroup "${LEAVES[3]}" sleep 1000
for d in "${LEAVES[@]}"; do
  wait_for 5 "a process in $d" grep -q . "$d/cgroup.procs"
done
e2e_log "pods A (2 spinners), B (1 spinner), C (sleeping) under $KP; spinners on CPU $SPIN_CPU"

# --- the mock kubelet: HTTPS with a certificate made now -------------------------------------
KDIR=$E2E_TMP/kubelet
mkdir -p "$KDIR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$KDIR/server.key" -out "$KDIR/server.crt" -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 >"$E2E_TMP/openssl.log" 2>&1 || fail "openssl could not make a certificate"
cp "$PODLIST" "$KDIR/body"
echo e2e-token >"$E2E_TMP/token"
"$PYTHON3" "$MOCK_KUBELET" "$KDIR" "$KDIR/server.crt" "$KDIR/server.key" >>"$E2E_TMP/kubelet.log" 2>&1 &
KUBELET_PID=$!
e2e_track $KUBELET_PID
wait_for 10 "the mock kubelet" test -s "$KDIR/port"
KUBELET_URL=https://127.0.0.1:$(cat "$KDIR/port")
curl -fsS --cacert "$KDIR/server.crt" -o /dev/null "$KUBELET_URL/pods" || fail "the mock kubelet does not answer on $KUBELET_URL"
e2e_log "mock kubelet $KUBELET_PID on $KUBELET_URL"

# --- the measurement: whole rounds, agent vs cpu.stat ------------------------------------------
cat >"$E2E_TMP/measure.py" <<'EOF'
"""Poll /metrics every 50 ms; at each change of joulepush_collections_total read the pods'
cpu.stat; over ROUNDS whole rounds compare the agent's per-pod CPU seconds with cpu.stat,
and check names, namespaces, containers and build_info. Exit 1 with the reasons."""
import json, re, sys, time, urllib.request

url, collector, rounds, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
pods = json.loads(sys.argv[5])   # uid -> {dir, name, namespace, containers, role}
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape():
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    series = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        if m:
            series.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return text, series


def usage_s(d):
    with open(d + "/cpu.stat") as f:
        for line in f:
            k, v = line.split()
            if k == "usage_usec":
                return int(v) / 1e6
    raise RuntimeError("no usage_usec in %s/cpu.stat" % d)


def pod_cpu(series):
    got = {}
    for name, labels, v in series:
        if name == "joulepush_pod_cpu_seconds_total" and labels.get("pod_uid") in pods:
            got[labels["pod_uid"]] = got.get(labels["pod_uid"], 0.0) + v
    return got


def collections(series):
    for name, labels, v in series:
        if name == "joulepush_collections_total":
            return v
    return None


def named(series):
    ok = set()
    for name, labels, v in series:
        p = pods.get(labels.get("pod_uid"))
        if name == "joulepush_pod_cpu_seconds_total" and p and labels.get("pod") == p["name"]:
            ok.add(labels["pod_uid"])
    return ok


# Wait for the busy pods under their kubelet names; whether the idle pod is there too
# is checked below, so that its absence is reported with everything else.
busy = {u for u, p in pods.items() if p["role"] != "idle"}
deadline = time.time() + 30
text, series = scrape()
while not busy <= named(series):
    if time.time() > deadline:
        sys.exit("the busy pods never appeared with their kubelet names in /metrics within 30 s: %s"
                 % sorted(named(series)))
    time.sleep(0.2)
    text, series = scrape()

# Boundaries: (collections, agent cpu per uid, cpu.stat per uid). cpu.stat is read right
# after every scrape; the agent's round fell between the previous scrape and this one,
# so the midpoint of the two readings is the estimate (the error is at most half a poll).
bounds = []
prev_c = collections(series)
prev_u = {u: usage_s(p["dir"]) for u, p in pods.items()}
deadline = time.time() + (rounds + 3) * 5 + 30
while len(bounds) <= rounds:
    if time.time() > deadline:
        sys.exit("only %d round boundaries seen before the deadline" % len(bounds))
    time.sleep(0.05)
    text, series = scrape()
    now_u = {u: usage_s(p["dir"]) for u, p in pods.items()}
    c = collections(series)
    if c is not None and prev_c is not None and c != prev_c:
        if c != prev_c + 1:
            sys.exit("joulepush_collections_total jumped from %g to %g between two polls 50 ms apart"
                     % (prev_c, c))
        bounds.append((c, pod_cpu(series), {u: (prev_u[u] + now_u[u]) / 2 for u in pods}, time.time()))
    prev_c, prev_u = c, now_u
with open(out, "w") as f:
    f.write(text)

errors = []
first, last = bounds[0], bounds[-1]
window = last[3] - first[3]
res = {}
print("%s: %d rounds (%g..%g), %.2f s" % (collector, rounds, first[0], last[0], window))
for u, p in pods.items():
    if u not in first[1] or u not in last[1]:
        errors.append("no joulepush_pod_cpu_seconds_total for %s (%s)" % (p["name"], u))
        continue
    agent = last[1][u] - first[1][u]
    kern = last[2][u] - first[2][u]
    res[u] = (agent, kern)
    print("  %-28s agent %8.4f s   cpu.stat %8.4f s   diff %+6.2f %%" % (
        p["name"], agent, kern, 100 * (agent - kern) / kern if kern > 0 else 0.0))
# (b) each pod agrees with its cgroup's cpu.stat over the same whole rounds.
for u, (agent, kern) in res.items():
    p = pods[u]
    if p["role"] == "idle":
        if abs(agent - kern) > 0.02:
            errors.append("%s: agent %.4f s vs cpu.stat %.4f s" % (p["name"], agent, kern))
    elif abs(agent - kern) > 0.05 * kern:
        errors.append("%s: agent %.4f s vs cpu.stat %.4f s: more than 5 %% apart" % (p["name"], agent, kern))
# (a) two spinners against one, sharing one CPU fairly.
a = [res[u][0] for u, p in pods.items() if p["role"] == "busy2" and u in res]
b = [res[u][0] for u, p in pods.items() if p["role"] == "busy1" and u in res]
if a and b:
    if b[0] <= 0.1 * window / 3:
        errors.append("pod B got %.4f s in %.1f s: the spinner did not run?" % (b[0], window))
    else:
        ratio = a[0] / b[0]
        print("  ratio A:B = %.3f (want 2 +- 10 %%)" % ratio)
        if abs(ratio - 2) > 0.2:
            errors.append("pods A:B CPU seconds %.3f, want 2:1 within 10 %%" % ratio)
# (c) the idle pod is near zero: under 0.5 % of one CPU.
for u, p in pods.items():
    if p["role"] == "idle" and u in res and res[u][0] > 0.005 * window:
        errors.append("idle pod %s used %.4f s in %.1f s" % (p["name"], res[u][0], window))
# (d) names, namespaces and containers from the kubelet; no "unknown" left over.
_, series = scrape()
for name, labels, v in series:
    uid = labels.get("pod_uid")
    if uid not in pods or not name.startswith(("joulepush_pod_", "joulepush_container_")):
        continue
    p = pods[uid]
    if labels.get("pod") != p["name"] or labels.get("namespace") != p["namespace"]:
        errors.append("%s for %s has pod=%r namespace=%r, want %r %r"
                      % (name, uid, labels.get("pod"), labels.get("namespace"), p["name"], p["namespace"]))
    if name == "joulepush_container_cpu_seconds_total":
        want = p["containers"].get(labels.get("container_id"))
        if labels.get("container") != want:
            errors.append("container %s of %s is named %r, want %r"
                          % (labels.get("container_id"), p["name"], labels.get("container"), want))
for u, p in pods.items():
    have = {l.get("container_id") for n, l, v in series
            if n == "joulepush_container_cpu_seconds_total" and l.get("pod_uid") == u}
    for cid in p["containers"]:
        if cid not in have:
            errors.append("no joulepush_container_cpu_seconds_total for container %s of %s" % (cid, p["name"]))
ns = {l.get("namespace") for n, l, v in series if n == "joulepush_namespace_energy_joules_total"}
for p in pods.values():
    if p["namespace"] not in ns:
        errors.append("no joulepush_namespace_energy_joules_total{namespace=%r}" % p["namespace"])
# (e) the collector that ran.
bi = [l for n, l, v in series if n == "joulepush_build_info" and v == 1]
if not any(l.get("collector") == collector for l in bi):
    errors.append("joulepush_build_info does not say collector=%r: %r" % (collector, bi))
for e in errors:
    print("ERROR: " + e)
sys.exit(1 if errors else 0)
EOF

PODS_JSON=$(cat <<EOF
{"$UID_A": {"dir": "$POD_A", "name": "cruncher-5f7d8c9b4-k2m7q", "namespace": "batch-jobs", "role": "busy2",
            "containers": {"$CID_A1": "worker", "$CID_A2": "helper"}},
 "$UID_B": {"dir": "$POD_B", "name": "api-6c8d9f7b5-x4w2p", "namespace": "shop", "role": "busy1",
            "containers": {"$CID_B": "api"}},
 "$UID_C": {"dir": "$POD_C", "name": "idler-0", "namespace": "monitoring", "role": "idle",
            "containers": {"$CID_C": "sleeper"}}}
EOF
)

run_mode() { # MODE: ebpf, cgroupfs, or ebpf-full (an eBPF map of 2 entries: full at once)
  local mode=$1 cfg=$E2E_TMP/agent-$1.yaml t0 collector=$1 entries=0
  if [ "$mode" = ebpf-full ]; then collector=ebpf; entries=2; fi
  AGENT_PORT=$(free_port)
  AGENT_URL=http://127.0.0.1:$AGENT_PORT
  cat >"$cfg" <<EOF
node_name: e2e-node
interval: ${INTERVAL_MS}ms
collector:
  mode: $collector
  bpf_map_entries: $entries
kubernetes:
  cgroup_root: $CG_ROOT_REL
  kubelet_url: $KUBELET_URL
  token_file: $E2E_TMP/token
  ca_file: $KDIR/server.crt
metrics:
  levels: [node, pod, namespace, container]
server:
  listen: 127.0.0.1:$AGENT_PORT
log: {level: info, format: text}
EOF
  echo "==== collector $mode" >>"$E2E_TMP/agent.log"
  t0=$(now_ms)
  agent_start "$cfg"
  "$PYTHON3" "$E2E_TMP/measure.py" "$AGENT_URL/metrics" "$collector" "$ROUNDS" "$E2E_TMP/metrics-$mode.prom" \
    "$PODS_JSON" >"$E2E_TMP/measure-$mode.out" 2>&1
  local rc=$?
  if [ "$mode" = ebpf-full ]; then
    # The full map was seen, said once, counted, and the pods' time still matched cpu.stat.
    grep -q 'the eBPF cgroup map is full (2 entries)' "$E2E_TMP/agent.log" \
      || { e2e_log "ebpf-full: no log line about the full map"; rc=1; }
    v=$(metric "$E2E_TMP/metrics-$mode.prom" joulepush_bpf_map_full_total --sum 2>/dev/null) || v=0
    "$PYTHON3" -c "import sys; sys.exit(0 if float('$v') > 0 else 1)" \
      || { e2e_log "ebpf-full: joulepush_bpf_map_full_total is $v"; rc=1; }
  fi
  cat "$E2E_TMP/measure-$mode.out" >&2
  grep -q "^/pods Bearer e2e-token$" "$KDIR/requests" \
    || fail "collector $mode: the kubelet was not asked for /pods with the token: $(tail -n 3 "$KDIR/requests")"
  agent_term
  if [ "$rc" -ne 0 ]; then
    e2e_log "collector $mode FAILED the checks above ($(($(now_ms) - t0)) ms)"
    FAILED+=("$mode")
  else
    e2e_log "collector $mode passed in $(($(now_ms) - t0)) ms"
  fi
}

# Both collectors run even when the first fails, so that one run shows both.
FAILED=()
for m in ${NODE_PODS_MODES:-ebpf ebpf-full cgroupfs}; do run_mode "$m"; done
[ ${#FAILED[@]} -eq 0 ] || fail "collector(s) ${FAILED[*]}: see the ERROR lines above"
echo "PASS: $E2E_NAME"
