/* SPDX-License-Identifier: Apache-2.0 */
/* Per-interval accounting: attributes one interval's node energy, keeps the node, pod,
 * container, namespace and system counters, converts joules to CO2 and sets every
 * series of docs/reference/metrics.md in the store's current round: the only module that
 * turns measurements into series. The agent feeds it (src/pipeline.c). */
#ifndef JP_ATTRIB_ACCOUNT_H
#define JP_ATTRIB_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "attrib/attribution.h"
#include "config.h"
#include "store/series.h"

/* One container's CPU time in the interval. Strings are borrowed for the call. */
struct jp_acct_container {
	const char *name;          /* "" or NULL when unknown */
	const char *id;            /* the runtime's container id */
	uint64_t cpu_ns;
	double gpu_j;              /* active GPU energy of its processes */
};

/* One pod's CPU time in the interval (the sum of its containers plus its own cgroup). */
struct jp_acct_pod {
	const char *uid;
	const char *ns;            /* namespace; "unknown" when the kubelet does not know it */
	const char *name;          /* the pod name; the UID when unknown */
	double cpu_request;        /* cores, 0 when none */
	uint64_t cpu_ns;
	const struct jp_acct_container *containers;
	size_t ncontainers;
	double gpu_j;              /* active GPU energy of its processes (containers and its own cgroup) */
};

struct jp_acct_input {
	double interval_s;                   /* length of the interval */
	double energy_j[JP_ZONE_COUNT];      /* node energy per zone */
	unsigned zone_mask;                  /* zones that exist */
	const char *power_source;            /* "rapl" | "model" */
	double usage_ratio;                  /* node CPU usage in the interval */
	uint64_t system_cpu_ns;              /* CPU time outside pods */
	double gpu_usage_ratio;              /* active share of the gpu zone */
	double system_gpu_j;                 /* active GPU energy outside pods */
	const struct jp_gpu_device *gpus;    /* per-device readings (collect/collector.h) */
	size_t ngpus;
	const double *bound_low_w, *bound_high_w;   /* the power model's band per zone, or NULL */
	unsigned bound_mask;
	const struct jp_acct_pod *pods;
	size_t npods;
	double intensity_g_per_kwh;          /* grid intensity in force for the interval (the
	                                        intensity gauge itself is the carbon module's) */
	int carbon_free_known;               /* the grid's carbon-free share is known: */
	double carbon_free_ratio;            /* then it is this, 0..1 (else none is counted) */
	const char *intensity_source;        /* the intensity's source label; NULL: none */
};

struct jp_account;

/* Create the accounting state from cfg (idle_attribution, pue, metrics levels,
 * embodied emissions). Returns NULL with errno set. Free with jp_account_destroy. */
struct jp_account *jp_account_create(const struct jp_config *cfg);
void jp_account_destroy(struct jp_account *acct);

/* Take cfg's idle_attribution, pue, metrics levels and compat, embodied emissions and
 * node_name from the next round on; counters continue. Returns 0 or -ENOMEM. */
int jp_account_reconfigure(struct jp_account *acct, const struct jp_config *cfg);

/* Account one interval and set the series in the store's current round (between
 * jp_store_begin and jp_store_commit). Pods absent from `in` are forgotten (the store
 * then emits their stale markers); namespace counters keep what they used.
 * Returns 0 or a negative errno (bad energy values: nothing is counted). */
int jp_account_round(struct jp_account *acct, struct jp_store *store, const struct jp_acct_input *in);

/* docs/reference/metrics.md total energy of a zone set: platform where present (the
 * machine's meter sees everything, GPUs included); else psys where present, else
 * package + dram; plus gpu. */
double jp_total_energy_j(const double *zone_j, unsigned zone_mask);

#endif
