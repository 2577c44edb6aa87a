/* SPDX-License-Identifier: Apache-2.0 */
/* The collector interface (collect/collector.h): the interval's row array, the power
 * model, and the table of collector kinds. */
#include "collect/collector.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/node.h"
#include "collect/synthetic.h"
#include "util/buf.h"

void jp_interval_reset(struct jp_interval *iv, uint64_t nominal_ms)
{
	struct jp_cgroup_row *rows = iv->rows;
	size_t cap = iv->cap_rows;
	memset(iv, 0, sizeof(*iv));
	iv->rows = rows;
	iv->cap_rows = cap;
	iv->nominal_ms = nominal_ms;
}

/* s (NULL: "") into dst of cap bytes, cut to fit and NUL-terminated. */
static void copy_id(char *dst, size_t cap, const char *s)
{
	size_t n = s ? strnlen(s, cap - 1) : 0;
	memcpy(dst, s ? s : "", n);
	dst[n] = '\0';
}

int jp_interval_add_row(struct jp_interval *iv, const char *pod_uid, const char *container_id,
			uint64_t cpu_ns)
{
	if (jp_grow((void **)&iv->rows, &iv->cap_rows, iv->nrows + 1, sizeof(*iv->rows)))
		return -ENOMEM;
	struct jp_cgroup_row *r = &iv->rows[iv->nrows++];
	/* Every row of every round comes through here: a copy, not a formatted print. */
	copy_id(r->pod_uid, sizeof(r->pod_uid), pod_uid);
	copy_id(r->container_id, sizeof(r->container_id), container_id);
	r->cpu_ns = cpu_ns;
	r->gpu_j = 0;
	return 0;
}

int jp_interval_add_gpu_row(struct jp_interval *iv, const char *pod_uid, const char *container_id,
			    double gpu_j)
{
	int r = jp_interval_add_row(iv, pod_uid, container_id, 0);
	if (!r)
		iv->rows[iv->nrows - 1].gpu_j = gpu_j;
	return r;
}

void jp_interval_free(struct jp_interval *iv)
{
	free(iv->rows);
	memset(iv, 0, sizeof(*iv));
}

double jp_power_model_watts(unsigned cpus, double u, double idle_w, double max_w)
{
	if (!(u >= 0))
		u = 0;
	if (u > 1)
		u = 1;
	return (double)cpus * (idle_w + u * (max_w - idle_w));
}

/* docs/model.md "Power curve": the default points, as fractions of the per-CPU TDP. */
static const double default_load[] = {0, 0.10, 0.50, 1.00};
static const double default_frac[] = {0.12, 0.32, 0.75, 1.02};

int jp_power_curve_from(struct jp_curve *c, const struct jp_kvlist *points, char *why, size_t why_len)
{
	if (!points || !points->n)
		return jp_curve_init(c, default_load, default_frac, sizeof(default_load) / sizeof(default_load[0]), why,
				     why_len);
	return jp_curve_from_text(c, points, 0.01, why, why_len);   /* load in percent */
}

int jp_power_model_init(struct jp_power_model *m, const struct jp_config *cfg, char *why, size_t why_len)
{
	m->idle_w = cfg->model_idle_watts_per_cpu;
	m->max_w = cfg->model_max_watts_per_cpu;
	m->tdp_w = cfg->model_tdp_watts_per_cpu;
	m->use_curve = cfg->model_shape == JP_SHAPE_CURVE;
	return jp_power_curve_from(&m->curve, &cfg->model_curve, why, why_len);
}

double jp_power_model_estimate(const struct jp_power_model *m, unsigned cpus, double u, double *low, double *high)
{
	u = u > 1 ? 1 : u > 0 ? u : 0;
	double lin = jp_power_model_watts(cpus, u, m->idle_w, m->max_w);
	double cur = (double)cpus * m->tdp_w * jp_curve_eval(&m->curve, u);
	*low = lin < cur ? lin : cur;
	*high = lin < cur ? cur : lin;
	return m->use_curve ? cur : lin;
}

struct jp_collector *jp_collector_open(const struct jp_config *cfg)
{
	/* Every mode but synthetic measures the real node (auto, ebpf and cgroupfs choose
	 * its CPU-time source). */
	const struct jp_collector_ops *ops =
		cfg->collector_mode == JP_COLLECTOR_SYNTHETIC ? &jp_synthetic_ops : &jp_node_ops;
	return ops->open(cfg);
}

void jp_collector_sources_str(unsigned sources, char *out, size_t len)
{
	static const char *const names[] = {"the eBPF probe", "RAPL", "the platform meter", "the GPUs"};
	size_t used = 0;
	out[0] = '\0';
	for (unsigned b = 0; b < 4; b++)
		if (sources & (1u << b) && used < len)
			used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ", " : "", names[b]);
}
