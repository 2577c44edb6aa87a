/* SPDX-License-Identifier: Apache-2.0 */
/* The real node collector (collect/collector.h): node CPU usage from /proc/stat, energy
 * from RAPL or the power model, per-cgroup CPU time from eBPF or cgroupfs, and the pod
 * UID and container ID of each cgroup from its path. */
#ifndef JP_COLLECT_NODE_H
#define JP_COLLECT_NODE_H

#include <stdint.h>

#include "collect/collector.h"

/* open: the node's sources as cfg says (collector.mode auto|ebpf|cgroupfs, power.source
 * auto|rapl|model, host paths, kubernetes.cgroup_root); auto modes fall back with a log
 * line saying why. collect: base.name becomes "cgroupfs" if the eBPF map cannot be read
 * any more (after the privilege drop on some kernels). */
extern const struct jp_collector_ops jp_node_ops;

/* Test seam: make the eBPF collector's reads fail with err (see jp_bpf_collector_inject_error).
 * Does nothing for another kind of collector or without eBPF. */
void jp_node_inject_bpf_error(struct jp_collector *c, int err);

/* Test seam: make reading the cgroup mount's cgroup.stat fail with err (0: no longer),
 * so that the eBPF collector walks the tree for pods every round. */
void jp_node_inject_list_error(struct jp_collector *c, int err);
/* How many times the eBPF collector walked the tree to list pods (0 with cgroupfs, which
 * lists them in its own walk). */
uint64_t jp_node_pod_list_walks(const struct jp_collector *c);

#endif
