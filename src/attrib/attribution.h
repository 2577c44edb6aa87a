/* SPDX-License-Identifier: Apache-2.0 */
/* Sharing one interval's node energy among workloads, exactly conserved (docs/model.md). */
#ifndef JP_ATTRIB_ATTRIBUTION_H
#define JP_ATTRIB_ATTRIBUTION_H

#include <stddef.h>
#include <stdint.h>

#include "collect/collector.h"   /* enum jp_zone, jp_power_model_watts */
#include "config.h"

/* "package", "core", ... */
const char *jp_zone_name(enum jp_zone z);

/* One workload of the interval: a pod (the sum of its containers) or the system
 * bucket (everything outside pods, kernel threads included). */
struct jp_attr_workload {
	uint64_t cpu_ns;            /* CPU time in the interval */
	double cpu_request;         /* requested cores, for idle_attribution: requests; 0 = none */
	int is_pod;                 /* 0 for the system bucket */
	double gpu_j;               /* active GPU energy of its processes: the gpu zone's weight */
	double active_j[JP_ZONE_COUNT];   /* out: attributed active energy */
	double idle_j[JP_ZONE_COUNT];     /* out: attributed idle energy */
};

struct jp_attr_node {
	double energy_j[JP_ZONE_COUNT];   /* E per zone for the interval */
	unsigned zone_mask;               /* bit z set: zone z exists */
	double usage_ratio;               /* u in [0, 1]; clamped */
	double gpu_usage_ratio;           /* the gpu zone's u: its active share */
	enum jp_idle_attr idle_mode;
	/* out: */
	double active_j[JP_ZONE_COUNT];           /* E × u */
	double idle_j[JP_ZONE_COUNT];             /* E − E_active */
	double unattributed_idle_j[JP_ZONE_COUNT];/* idle energy that stays on the node only */
};

/* Share node->energy_j among the n workloads as docs/model.md says: active energy by CPU
 * time over every workload (pods and the system bucket), idle energy by
 * node->idle_mode. The gpu zone's active part (gpu_usage_ratio) goes by gpu_j instead, its
 * idle part by GPU use when idle_mode is usage. The platform zone gives the part the GPUs
 * used as the gpu zone was given, the rest by CPU time. If no workload has a weight,
 * active energy goes to the first system workload, or to the unattributed remainder
 * when there is none. For every zone: Σ active + Σ idle + unattributed idle == energy,
 * to rounding.
 * Returns 0, or -EINVAL for negative or non-finite energy. */
int jp_attribute(struct jp_attr_node *node, struct jp_attr_workload *w, size_t n);

/* Grams of CO2-equivalent for joules at an intensity in g/kWh, times PUE (docs/model.md step 6). */
static inline double jp_co2_grams(double joules, double grams_per_kwh, double pue)
{
	return joules / 3.6e6 * grams_per_kwh * pue;
}

#endif
