/* SPDX-License-Identifier: Apache-2.0 */
/* Sharing one interval's node energy among workloads, exactly conserved (docs/model.md). */
#include "attrib/attribution.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const char *const zone_names[JP_ZONE_COUNT] = {"package", "core", "uncore", "dram", "psys"};

const char *jp_zone_name(enum jp_zone z)
{
	return (unsigned)z < JP_ZONE_COUNT ? zone_names[z] : "unknown";
}

/* Share `total` over weights so that the parts add up to total: each part is
 * total × weight / sum, and the last part with a non-zero weight takes what rounding
 * left over. Returns 0 if the weights sum to zero (nothing shared). */
static int share(double total, const double *weight, size_t n, double *part)
{
	double sum = 0;
	size_t last = n;
	for (size_t i = 0; i < n; i++) {
		part[i] = 0;
		if (weight[i] > 0) {
			sum += weight[i];
			last = i;
		}
	}
	if (last == n || !(sum > 0))
		return 0;
	double given = 0;
	for (size_t i = 0; i < n; i++) {
		if (weight[i] > 0 && i != last) {
			part[i] = total * (weight[i] / sum);
			given += part[i];
		}
	}
	part[last] = total - given;
	return 1;
}

int jp_attribute(struct jp_attr_node *node, struct jp_attr_workload *w, size_t n)
{
	double u = node->usage_ratio;
	if (!(u >= 0))
		u = 0;
	if (u > 1)
		u = 1;
	for (int z = 0; z < JP_ZONE_COUNT; z++) {
		double e = node->energy_j[z];
		if ((node->zone_mask & (1u << z)) && (!isfinite(e) || e < 0))
			return -EINVAL;
	}

	double wt_cpu[n ? n : 1], wt_idle[n ? n : 1], part[n ? n : 1];
	size_t first_system = n;
	for (size_t i = 0; i < n; i++) {
		wt_cpu[i] = (double)w[i].cpu_ns;
		if (!w[i].is_pod && first_system == n)
			first_system = i;
		switch (node->idle_mode) {
		case JP_IDLE_EVEN: wt_idle[i] = w[i].is_pod ? 1.0 : 0.0; break;
		case JP_IDLE_USAGE: wt_idle[i] = (double)w[i].cpu_ns; break;
		case JP_IDLE_REQUESTS: wt_idle[i] = w[i].is_pod && w[i].cpu_request > 0 ? w[i].cpu_request : 0.0; break;
		default: wt_idle[i] = 0; break;
		}
		memset(w[i].active_j, 0, sizeof(w[i].active_j));
		memset(w[i].idle_j, 0, sizeof(w[i].idle_j));
	}

	for (int z = 0; z < JP_ZONE_COUNT; z++) {
		node->active_j[z] = node->idle_j[z] = node->unattributed_idle_j[z] = 0;
		if (!(node->zone_mask & (1u << z)))
			continue;
		double e = node->energy_j[z];
		double active = e * u;
		double idle = e - active;
		node->active_j[z] = active;
		node->idle_j[z] = idle;

		if (share(active, wt_cpu, n, part)) {
			for (size_t i = 0; i < n; i++)
				w[i].active_j[z] = part[i];
		} else if (first_system < n) {
			w[first_system].active_j[z] = active;
		} else {
			/* Nobody to give it to: it stays on the node, so the sum still holds. */
			node->unattributed_idle_j[z] += active;
		}

		if (node->idle_mode != JP_IDLE_NONE && share(idle, wt_idle, n, part)) {
			for (size_t i = 0; i < n; i++)
				w[i].idle_j[z] = part[i];
		} else {
			node->unattributed_idle_j[z] += idle;
		}
	}
	return 0;
}
