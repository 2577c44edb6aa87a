/* SPDX-License-Identifier: Apache-2.0 */
/* Pod UID, container id, QoS class and runtime from a cgroup path (docs/model.md "Pods from cgroup paths"). */
#ifndef JP_COLLECT_CGROUP_PODS_H
#define JP_COLLECT_CGROUP_PODS_H

#include <stdbool.h>
#include <stddef.h>

#include "collect/collector.h"   /* JP_POD_UID_MAX, JP_CONTAINER_ID_LEN */

enum jp_pod_qos {
	JP_QOS_UNKNOWN = 0,
	JP_QOS_GUARANTEED,
	JP_QOS_BURSTABLE,
	JP_QOS_BESTEFFORT,
};

enum jp_pod_runtime {
	JP_RUNTIME_UNKNOWN = 0, /* cgroupfs driver: a bare <64 hex> is containerd's or Docker's */
	JP_RUNTIME_CONTAINERD,
	JP_RUNTIME_CRIO,
	JP_RUNTIME_DOCKER,
};


struct jp_pod_ref {
	bool is_pod;
	/* The pod UID with '-' (converted from the '_' of systemd slice names); either the
	 * API server's 8-4-4-4-12 form or, for static pods, the 32-hex config hash the
	 * kubelet uses as their UID. */
	char pod_uid[JP_POD_UID_MAX + 1];
	/* 64 lowercase hex, or "" for the pod-level cgroup, a CRI-O conmon scope and any
	 * child of the pod cgroup that is not a container (their CPU time is the pod's). */
	char container_id[JP_CONTAINER_ID_LEN + 1];
	enum jp_pod_qos qos;
	enum jp_pod_runtime runtime;
	bool conmon;        /* crio-conmon-<id>: CRI-O's monitor process, charged to the pod */
	/* Offsets into the parsed path: the end of the pod cgroup's component and of the
	 * container's (0 when there is no container). A path whose length equals pod_end
	 * is the pod cgroup itself; equal to container_end is the container cgroup. */
	size_t pod_end, container_end;
};

/* Parse a cgroup path (relative to the cgroup mount, or a /proc/<pid>/cgroup line) into
 * *out. The kubelet's hierarchy must start at the cgroup root (jp_cgroup_pod_parse), or
 * directly below `root` (jp_cgroup_pod_parse_under: kubernetes.cgroup_root, for nested
 * nodes such as kind): a pod-shaped path anywhere else - below a user's delegated subtree,
 * a service or a scope - is not a pod (kubernetes.cgroup_root in config/joulepush.example.yaml).
 * Recognised: the kubelet's systemd driver (kubepods.slice/kubepods-<qos>.slice/
 * kubepods-<qos>-pod<uid_>.slice, guaranteed pods directly under kubepods.slice, with a
 * cgroup-root prefix such as kind's kubelet-kubepods-...), the cgroupfs driver
 * (kubepods/<qos>/pod<uid>, guaranteed kubepods/pod<uid>), and the containers
 * cri-containerd-<id>.scope, crio-<id>.scope, crio-conmon-<id>.scope, docker-<id>.scope,
 * a bare <id> (cgroupfs), and containerd's "<pod slice>:cri-containerd:<id>" name under
 * containerd.service. The first pod found wins: on a host that runs Kubernetes nodes in
 * pods, the outer pod owns everything below it. Everything else is not a pod (the system
 * bucket), including the QoS and kubepods cgroups themselves. Never reads past the NUL;
 * any length is fine. A pod sandbox (pause) container looks like any other container:
 * only the kubelet's pod list can tell it apart. Returns out->is_pod. */
bool jp_cgroup_pod_parse(const char *path, struct jp_pod_ref *out);
/* The same below root, a cgroup relative to the mount (e.g. "/kubelet" or
 * "/docker/<id>/kubelet"; NULL or "" for the root). There is no process-wide root: each
 * collector keeps its own, so a reload that is rejected changes nothing. */
bool jp_cgroup_pod_parse_under(const char *root, const char *path, struct jp_pod_ref *out);

#define JP_CGROUP_ROOT_MAX 1024

/* 0, or -1 when root is longer than JP_CGROUP_ROOT_MAX. */
int jp_cgroup_root_check(const char *root);

const char *jp_pod_qos_name(enum jp_pod_qos qos);         /* "guaranteed", ... "" */
const char *jp_pod_runtime_name(enum jp_pod_runtime rt);  /* "containerd", ... "unknown" */

#endif
