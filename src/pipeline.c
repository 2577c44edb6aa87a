/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's assembly step (pipeline.h): rows of a collector's interval are grouped into
 * pods, the pods are named, and the accountant gets one struct jp_acct_input.
 *
 * Grouping keeps first-appearance order: pods in the order their first row came, each
 * pod's containers likewise; rows of the same pod and container add up. The order is the
 * collector's (sorted by UID for a real node, generation order for the synthetic one), so
 * that floating-point sums come out the same every time for the same input.
 */
#include "pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

struct jp_pipeline {
	struct jp_collector *c;
	struct jp_account *acct;
	struct jp_interval iv;
	jp_pod_lookup_cb lookup;
	void *lookup_arg;
	int saw_unknown;
	double carbon_free;        /* the grid's carbon-free share for the next round; < 0 unknown */
	const char *grid_source;   /* the intensity's source for the next round */

	/* scratch, grown as needed */
	size_t *order;             /* row indices, sorted */
	size_t cap_order;
	size_t *first;             /* per row: the index of its pod's first row */
	size_t cap_first;
	uint64_t *sum;             /* per row: the CPU time of its (pod, container) */
	size_t cap_sum;
	double *gsum;              /* per row: the active GPU energy of its (pod, container) */
	size_t cap_gsum;
	struct jp_acct_pod *pods;
	size_t npods, cap_pods;
	struct jp_acct_container *conts;
	size_t cap_conts;
};

struct jp_pipeline *jp_pipeline_create(const struct jp_config *cfg, struct jp_collector *c)
{
	struct jp_pipeline *p = calloc(1, sizeof(*p));
	if (!p) {
		jp_collector_close(c);
		errno = ENOMEM;
		return NULL;
	}
	p->carbon_free = -1;
	p->c = c;
	p->acct = jp_account_create(cfg);
	if (!p->acct) {
		int e = errno;
		jp_pipeline_destroy(p);
		errno = e;
		return NULL;
	}
	return p;
}

struct jp_pipeline *jp_pipeline_open(const struct jp_config *cfg)
{
	struct jp_collector *c = jp_collector_open(cfg);
	return c ? jp_pipeline_create(cfg, c) : NULL;
}

void jp_pipeline_destroy(struct jp_pipeline *p)
{
	if (!p)
		return;
	jp_collector_close(p->c);
	jp_account_destroy(p->acct);
	jp_interval_free(&p->iv);
	free(p->order);
	free(p->first);
	free(p->sum);
	free(p->gsum);
	free(p->pods);
	free(p->conts);
	free(p);
}

struct jp_collector *jp_pipeline_collector(const struct jp_pipeline *p) { return p->c; }
const struct jp_interval *jp_pipeline_interval(const struct jp_pipeline *p) { return &p->iv; }
size_t jp_pipeline_pods(const struct jp_pipeline *p) { return p->npods; }
int jp_pipeline_saw_unknown_pod(const struct jp_pipeline *p) { return p->saw_unknown; }

void jp_pipeline_set_collector(struct jp_pipeline *p, struct jp_collector *c)
{
	jp_collector_close(p->c);
	p->c = c;
}

void jp_pipeline_set_lookup(struct jp_pipeline *p, jp_pod_lookup_cb cb, void *arg)
{
	p->lookup = cb;
	p->lookup_arg = arg;
}

int jp_pipeline_reconfigure(struct jp_pipeline *p, const struct jp_config *cfg)
{
	return jp_account_reconfigure(p->acct, cfg);
}

/* qsort has no context argument: the rows being sorted (one loop, one thread). */
static const struct jp_cgroup_row *sort_rows;

/* By pod, then container, then position: equal rows end up adjacent, first one first. */
static int cmp_row(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	int c = strcmp(sort_rows[a].pod_uid, sort_rows[b].pod_uid);
	if (!c)
		c = strcmp(sort_rows[a].container_id, sort_rows[b].container_id);
	return c ? c : (a > b) - (a < b);
}

static const size_t *sort_first;

/* By the pod's first row, then the row's own position. */
static int cmp_appearance(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	size_t fa = sort_first[a], fb = sort_first[b];
	if (fa != fb)
		return (fa > fb) - (fa < fb);
	return (a > b) - (a < b);
}

/* Group iv's rows into p->pods and p->conts, and name the pods. */
static int assemble(struct jp_pipeline *p, const struct jp_interval *iv)
{
	size_t n = iv->nrows;
	p->npods = 0;
	p->saw_unknown = 0;
	if (jp_grow((void **)&p->order, &p->cap_order, n + 1, sizeof(*p->order)) ||
	    jp_grow((void **)&p->first, &p->cap_first, n + 1, sizeof(*p->first)) ||
	    jp_grow((void **)&p->sum, &p->cap_sum, n + 1, sizeof(*p->sum)) ||
	    jp_grow((void **)&p->gsum, &p->cap_gsum, n + 1, sizeof(*p->gsum)) ||
	    jp_grow((void **)&p->pods, &p->cap_pods, n + 1, sizeof(*p->pods)) ||
	    jp_grow((void **)&p->conts, &p->cap_conts, n + 1, sizeof(*p->conts)))
		return -ENOMEM;
	const struct jp_cgroup_row *rows = iv->rows;
	for (size_t i = 0; i < n; i++)
		p->order[i] = i;
	sort_rows = rows;
	if (n > 1)
		qsort(p->order, n, sizeof(*p->order), cmp_row);

	/* Merge equal (pod, container) rows into the first of them. */
	uint64_t *sum = p->sum;
	double *gsum = p->gsum;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		size_t r = p->order[i];
		if (k && strcmp(rows[r].pod_uid, rows[p->order[k - 1]].pod_uid) == 0 &&
		    strcmp(rows[r].container_id, rows[p->order[k - 1]].container_id) == 0) {
			sum[p->order[k - 1]] += rows[r].cpu_ns;
			gsum[p->order[k - 1]] += rows[r].gpu_j;
			continue;
		}
		p->order[k++] = r;
		sum[r] = rows[r].cpu_ns;
		gsum[r] = rows[r].gpu_j;
	}
	/* Each pod's first row: the smallest index among its rows. */
	for (size_t i = 0; i < k;) {
		size_t j = i, m = p->order[i];
		while (j < k && strcmp(rows[p->order[j]].pod_uid, rows[p->order[i]].pod_uid) == 0) {
			if (p->order[j] < m)
				m = p->order[j];
			j++;
		}
		for (size_t q = i; q < j; q++)
			p->first[p->order[q]] = m;
		i = j;
	}
	sort_first = p->first;
	if (k > 1)
		qsort(p->order, k, sizeof(*p->order), cmp_appearance);

	/* Pods with their containers. */
	size_t nc = 0;
	for (size_t i = 0; i < k; i++) {
		const struct jp_cgroup_row *row = &rows[p->order[i]];
		struct jp_acct_pod *pod = p->npods ? &p->pods[p->npods - 1] : NULL;
		if (!pod || strcmp(pod->uid, row->pod_uid) != 0) {
			pod = &p->pods[p->npods++];
			*pod = (struct jp_acct_pod){.uid = row->pod_uid, .containers = &p->conts[nc]};
		}
		pod->cpu_ns += sum[p->order[i]];
		pod->gpu_j += gsum[p->order[i]];
		/* The pod's own cgroup (empty container ID) counts for the pod only. */
		if (row->container_id[0]) {
			p->conts[nc++] = (struct jp_acct_container){.id = row->container_id, .cpu_ns = sum[p->order[i]],
								    .gpu_j = gsum[p->order[i]]};
			pod->ncontainers++;
		}
	}

	/* docs/reference/metrics.md: without metadata, the pod is named by its UID in
	 * namespace "unknown", a container by its ID. */
	for (size_t i = 0; i < p->npods; i++) {
		struct jp_acct_pod *pod = &p->pods[i];
		struct jp_pod_meta meta = {0};
		/* The kubelet first, then what the collector itself knows (the synthetic node). */
		int known = p->lookup && p->lookup(pod->uid, &meta, p->lookup_arg) == 0;
		if (!known && p->c->lookup)
			known = p->c->lookup(pod->uid, &meta, p->c->lookup_arg) == 0;
		if (!known)
			p->saw_unknown = 1;
		pod->ns = known && meta.ns ? meta.ns : "unknown";
		pod->name = known && meta.name ? meta.name : pod->uid;
		pod->cpu_request = known ? meta.cpu_request : 0;
		for (size_t j = 0; j < pod->ncontainers; j++) {
			struct jp_acct_container *c = (struct jp_acct_container *)&pod->containers[j];
			const char *cname = known && meta.container_name ? meta.container_name(meta.ctx, c->id) : NULL;
			c->name = cname ? cname : c->id;
		}
	}
	return 0;
}

void jp_pipeline_set_grid(struct jp_pipeline *p, double carbon_free, const char *source)
{
	p->carbon_free = carbon_free;
	p->grid_source = source;
}

int jp_pipeline_round(struct jp_pipeline *p, struct jp_store *st, uint64_t nominal_ms, double g_per_kwh)
{
	jp_interval_reset(&p->iv, nominal_ms);
	int r = jp_collector_collect(p->c, &p->iv);
	if (r)
		return r;
	r = assemble(p, &p->iv);
	if (r)
		return r;
	struct jp_acct_input in = {
		.interval_s = p->iv.seconds, .power_source = p->iv.power_source,
		.usage_ratio = p->iv.usage_ratio, .system_cpu_ns = p->iv.system_cpu_ns,
		.pods = p->pods, .npods = p->npods, .intensity_g_per_kwh = g_per_kwh,
		.carbon_free_known = p->carbon_free >= 0 && p->carbon_free <= 1, .carbon_free_ratio = p->carbon_free,
		.intensity_source = p->grid_source,
		.zone_mask = p->iv.zone_mask, .gpu_usage_ratio = p->iv.gpu_usage_ratio,
		.system_gpu_j = p->iv.system_gpu_j, .gpus = p->iv.gpus, .ngpus = p->iv.ngpus,
		.bound_low_w = p->iv.bound_low_w, .bound_high_w = p->iv.bound_high_w,
		.bound_mask = p->iv.bound_mask,
	};
	memcpy(in.energy_j, p->iv.energy_j, sizeof(in.energy_j));
	return jp_account_round(p->acct, st, &in);
}
