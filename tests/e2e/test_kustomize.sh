#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Kustomize base and overlays (config/kubernetes/): `kubectl kustomize` renders each;
# the rendered ConfigMap's config passes `joulepush --check-config`; the DaemonSet is not
# privileged, adds only the capabilities docs/kubernetes.md names and drops the rest, has a
# read-only root filesystem, requests and limits, no port, and probes that run inside the
# container against a loopback server; each overlay carries what it is for (edge: the
# Thanos tenant and a hostPath queue; mimir: X-Scope-OrgID and basic auth from a mounted
# Secret; single-cluster: an in-cluster Prometheus; gpu: GPU nodes only, the NVIDIA
# runtime, gpu.source nvml).
source "$(dirname "$0")/lib.sh"
require_cmd kubectl "$PYTHON3"
e2e_init kustomize
K8S=$(cd "$E2E_DIR/../../config/kubernetes" && pwd)
kubectl version --client 2>/dev/null | head -1 >&2

for o in base overlays/edge overlays/mimir overlays/single-cluster overlays/gpu; do
  name=${o#overlays/}
  kubectl kustomize "$K8S/$o" >"$E2E_TMP/$name.yaml" 2>"$E2E_TMP/$name.err" ||
    fail "kubectl kustomize $o: $(cat "$E2E_TMP/$name.err")"
  "$PYTHON3" - "$E2E_TMP/$name.yaml" "$name" "$E2E_TMP/$name.conf" <<'PY' || fail "the rendering of $o"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
name, conf_out = sys.argv[2], sys.argv[3]
kinds = sorted(d["kind"] for d in docs)
assert kinds == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "Namespace", "ServiceAccount"], kinds
for d in docs:
    if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
        assert d["metadata"].get("namespace") == "joulepush", (d["kind"], d["metadata"])
role = [d for d in docs if d["kind"] == "ClusterRole"][0]
assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}], role["rules"]
cm = [d for d in docs if d["kind"] == "ConfigMap"][0]
ds = [d for d in docs if d["kind"] == "DaemonSet"][0]
pod = ds["spec"]["template"]["spec"]
assert pod["serviceAccountName"] == "joulepush"
assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), "host namespaces"
vols = {v["name"]: v for v in pod["volumes"]}
assert vols["config"]["configMap"]["name"] == cm["metadata"]["name"], "the DaemonSet mounts another ConfigMap"
(c,) = pod["containers"]
assert c["image"] == "registry.example/joulepush:0.1.0", c["image"]
sc = c["securityContext"]
assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False, sc
assert sc["readOnlyRootFilesystem"] is True, sc
assert sc["capabilities"]["drop"] == ["ALL"], sc
assert sorted(sc["capabilities"]["add"]) == ["BPF", "CHOWN", "PERFMON", "SETGID", "SETUID"], sc
assert sc["seccompProfile"]["type"] == "RuntimeDefault"
res = c["resources"]
for k in ("cpu", "memory"):
    assert k in res["requests"] and k in res["limits"], res
assert "ports" not in c, "the container exposes a port"
for p in ("startupProbe", "livenessProbe", "readinessProbe"):
    cmd = c[p]["exec"]["command"]
    assert cmd[:2] == ["/usr/bin/joulepush", "--probe"] and cmd[2].startswith("http://127.0.0.1:9465/"), (p, cmd)
for m in c["volumeMounts"]:
    if m["name"] != "queue":
        assert m.get("readOnly") is True, m
cfg = yaml.safe_load(cm["data"]["joulepush.yaml"])
# Files the agent reads after dropping to nobody (rotated secrets, the service account
# token) belong to nobody's group through fsGroup.
assert pod.get("securityContext", {}).get("fsGroup") == 65534, pod.get("securityContext")
assert cfg["server"]["listen"] == "127.0.0.1:9465", cfg["server"]
assert cfg["user"] == "nobody"
(rw,) = cfg["remote_write"]
mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
assert rw["queue"]["dir"].startswith("/var/lib/joulepush/"), rw["queue"]
assert "hostPath" in vols["queue"], "the queue is not on the node's disk"
if name == "edge":
    assert rw["url"].startswith("https://") and rw["url"].endswith("/api/v1/receive"), rw["url"]
    assert rw["headers"]["THANOS-TENANT"] == cfg["external_labels"]["cluster"], rw
elif name == "mimir":
    assert rw["headers"]["X-Scope-OrgID"], rw
    pw = rw["basic_auth"]["password_file"]
    d = pw.rsplit("/", 1)[0]
    assert d in mounts and mounts[d]["readOnly"], "the password's directory is not mounted"
    sec = vols[mounts[d]["name"]]["secret"]
    assert sec["secretName"] == "joulepush-mimir" and pw.endswith("/password"), sec
    # The agent re-reads the password as nobody (uid and gid 65534) after a rotation: the
    # Secret's files are its group's (fsGroup) and group-readable.
    assert sec.get("defaultMode", 0o644) & 0o040, "the Secret's files are not group-readable: %o" % sec.get("defaultMode")
elif name == "single-cluster":
    assert ".svc" in rw["url"] and rw["url"].endswith("/api/v1/write"), rw["url"]
elif name == "gpu":
    assert cfg["gpu"]["source"] == "nvml" and cfg["gpu"]["nvml_library"].endswith("/libnvidia-ml.so.1"), cfg["gpu"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}, pod.get("nodeSelector")
    assert pod["runtimeClassName"] == "nvidia", pod.get("runtimeClassName")
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env.get("NVIDIA_VISIBLE_DEVICES") == "all" and env.get("NVIDIA_DRIVER_CAPABILITIES") == "utility", env
    assert "nvidia.com/gpu" not in str(res), "the agent must not take a GPU from the workloads"
open(conf_out, "w").write(cm["data"]["joulepush.yaml"])
print("%s: %d objects; DaemonSet and config as required" % (name, len(docs)))
PY
  # The config as the agent will read it (the mimir password file exists on the node only).
  sed "s|/etc/joulepush-secrets/mimir/password|$E2E_TMP/password|" "$E2E_TMP/$name.conf" >"$E2E_TMP/$name.check.yaml"
  echo secret >"$E2E_TMP/password"
  NODE_NAME=n1 NODE_IP=10.0.0.1 "$JOULEPUSH" --config "$E2E_TMP/$name.check.yaml" --check-config >"$E2E_TMP/check.out" 2>&1 ||
    fail "$o: the ConfigMap's config fails --check-config: $(cat "$E2E_TMP/check.out")"
done
e2e_log "kustomize: base and four overlays render and pass the checks"
