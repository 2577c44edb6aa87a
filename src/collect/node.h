/* SPDX-License-Identifier: Apache-2.0 */
/* The real node collector: node CPU usage, RAPL or the power model, per-cgroup CPU time
 * from eBPF or cgroupfs, pods from cgroup paths; hands each interval to the accounting. */
#ifndef JP_COLLECT_NODE_H
#define JP_COLLECT_NODE_H

#include <stdint.h>

#include "attrib/account.h"
#include "config.h"
#include "store/series.h"

struct jp_node;

/* What a pod's metadata lookup returns (kubelet); strings borrowed until the next call. */
struct jp_pod_meta {
	const char *ns, *name;
	double cpu_request;
	/* The container's name for a container id, or NULL when unknown. */
	const char *(*container_name)(const void *ctx, const char *container_id);
	const void *ctx;
};
/* Returns 0 and fills *out when the pod UID is known, -ENOENT otherwise. */
typedef int (*jp_pod_lookup_cb)(const char *uid, struct jp_pod_meta *out, void *arg);

/* Open the node's sources as cfg says (collector.mode auto|ebpf|cgroupfs, power.source
 * auto|rapl|model, host paths); auto modes fall back with a log line saying why.
 * Returns NULL with errno set, having logged the reason. Free with jp_node_destroy. */
struct jp_node *jp_node_create(const struct jp_config *cfg);
void jp_node_destroy(struct jp_node *n);

/* "ebpf" or "cgroupfs"; "rapl" or "model". */
const char *jp_node_collector_name(const struct jp_node *n);
const char *jp_node_power_source(const struct jp_node *n);

/* Set the pod metadata lookup (NULL: pods are named by UID in namespace "unknown"). */
void jp_node_set_pod_lookup(struct jp_node *n, jp_pod_lookup_cb cb, void *arg);

/* Grid intensity (g/kWh) for the next intervals; the configured static value until set. */
void jp_node_set_intensity(struct jp_node *n, double g_per_kwh);

/* Measure the interval that ends now (elapsed_ms long) and set every series in the
 * store's current round. The first call after create only takes baselines unless
 * the sources already had one. Returns 0 or a negative errno (the round then
 * carries no energy series; counters continue at the next good round). */
int jp_node_collect(struct jp_node *n, struct jp_store *store, uint64_t elapsed_ms);

/* Number of pods seen in the last interval, and whether an unknown UID appeared. */
unsigned jp_node_pods(const struct jp_node *n);
/* Inserts the eBPF map refused because it was full (0 without eBPF). */
uint64_t jp_node_bpf_map_full(const struct jp_node *n);

/* Test seam: make the eBPF collector's reads fail with err (see jp_bpf_collector_inject_error). */
void jp_node_inject_bpf_error(struct jp_node *n, int err);
int jp_node_saw_unknown_pod(const struct jp_node *n);

#endif
