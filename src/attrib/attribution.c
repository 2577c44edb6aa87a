/* SPDX-License-Identifier: Apache-2.0 */
/* Sharing one interval's node energy among workloads, exactly conserved (docs/model.md). */
#include "attrib/attribution.h"

#include <errno.h>
#include <math.h>
#include <string.h>

static const char *const zone_names[JP_ZONE_COUNT] = {"package", "core", "uncore", "dram", "psys",
								  "platform", "gpu"};

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

/* Share e of one zone: active = e × u by wt_act (to the first system workload when no
 * weight, else unattributed), idle = e − active by wt_idle when idle_on (else
 * unattributed). Parts are added to w[i].active_j[z] / idle_j[z] scaled by `scale` (the
 * platform zone takes the GPU zone's parts scaled), and the node's sums likewise. */
struct zone_job {
	struct jp_attr_node *node;
	struct jp_attr_workload *w;
	size_t n, first_system;
	double *part;
};

static void share_zone(const struct zone_job *j, int z, double e, double u, const double *wt_act,
		       const double *wt_idle, int idle_on)
{
	double active = e * u;
	double idle = e - active;
	j->node->active_j[z] += active;
	j->node->idle_j[z] += idle;
	if (share(active, wt_act, j->n, j->part)) {
		for (size_t i = 0; i < j->n; i++)
			j->w[i].active_j[z] += j->part[i];
	} else if (j->first_system < j->n) {
		j->w[j->first_system].active_j[z] += active;
	} else {
		/* Nobody to give it to: it stays on the node, so the sum still holds. */
		j->node->unattributed_idle_j[z] += active;
	}
	if (idle_on && share(idle, wt_idle, j->n, j->part)) {
		for (size_t i = 0; i < j->n; i++)
			j->w[i].idle_j[z] += j->part[i];
	} else {
		j->node->unattributed_idle_j[z] += idle;
	}
}

static double clamp01(double u)
{
	if (!(u >= 0))
		return 0;
	return u > 1 ? 1 : u;
}

int jp_attribute(struct jp_attr_node *node, struct jp_attr_workload *w, size_t n)
{
	double u = clamp01(node->usage_ratio);
	double ug = clamp01(node->gpu_usage_ratio);
	for (int z = 0; z < JP_ZONE_COUNT; z++) {
		double e = node->energy_j[z];
		if ((node->zone_mask & (1u << z)) && (!isfinite(e) || e < 0))
			return -EINVAL;
	}

	size_t m = n ? n : 1;
	double wt_cpu[m], wt_idle[m], wt_gpu[m], wt_gidle[m], part[m];
	size_t first_system = n;
	for (size_t i = 0; i < n; i++) {
		wt_cpu[i] = (double)w[i].cpu_ns;
		wt_gpu[i] = isfinite(w[i].gpu_j) && w[i].gpu_j > 0 ? w[i].gpu_j : 0;
		if (!w[i].is_pod && first_system == n)
			first_system = i;
		switch (node->idle_mode) {
		case JP_IDLE_EVEN: wt_idle[i] = w[i].is_pod ? 1.0 : 0.0; break;
		case JP_IDLE_USAGE: wt_idle[i] = (double)w[i].cpu_ns; break;
		case JP_IDLE_REQUESTS: wt_idle[i] = w[i].is_pod && w[i].cpu_request > 0 ? w[i].cpu_request : 0.0; break;
		default: wt_idle[i] = 0; break;
		}
		/* A GPU's idle energy by usage follows GPU use, not CPU time. */
		wt_gidle[i] = node->idle_mode == JP_IDLE_USAGE ? wt_gpu[i] : wt_idle[i];
		memset(w[i].active_j, 0, sizeof(w[i].active_j));
		memset(w[i].idle_j, 0, sizeof(w[i].idle_j));
	}
	memset(node->active_j, 0, sizeof(node->active_j));
	memset(node->idle_j, 0, sizeof(node->idle_j));
	memset(node->unattributed_idle_j, 0, sizeof(node->unattributed_idle_j));

	struct zone_job j = {.node = node, .w = w, .n = n, .first_system = first_system, .part = part};
	int idle_on = node->idle_mode != JP_IDLE_NONE;
	unsigned mask = node->zone_mask;
	for (int z = 0; z < JP_ZONE_COUNT; z++) {
		if (!(mask & (1u << z)) || z == JP_ZONE_PLATFORM)
			continue;
		if (z == JP_ZONE_GPU)
			share_zone(&j, z, node->energy_j[z], ug, wt_gpu, wt_gidle, idle_on);
		else
			share_zone(&j, z, node->energy_j[z], u, wt_cpu, wt_idle, idle_on);
	}

	/* The machine's power meter also measures the GPUs: the part of it that the GPUs
	 * used is shared as the gpu zone was, the rest by CPU time as psys is. */
	if (mask & (1u << JP_ZONE_PLATFORM)) {
		const int P = JP_ZONE_PLATFORM, G = JP_ZONE_GPU;
		double e = node->energy_j[P], eg = 0;
		if ((mask & (1u << G)) && node->energy_j[G] > 0) {
			eg = node->energy_j[G] < e ? node->energy_j[G] : e;
			double f = eg / node->energy_j[G];
			for (size_t i = 0; i < n; i++) {
				w[i].active_j[P] = w[i].active_j[G] * f;
				w[i].idle_j[P] = w[i].idle_j[G] * f;
			}
			node->active_j[P] = node->active_j[G] * f;
			node->idle_j[P] = node->idle_j[G] * f;
			node->unattributed_idle_j[P] = node->unattributed_idle_j[G] * f;
		}
		share_zone(&j, P, e - eg, u, wt_cpu, wt_idle, idle_on);
	}
	return 0;
}
