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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/hash.h"

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
	size_t *ht;                /* the hash tables of assemble */
	size_t cap_ht;
	size_t *next;              /* per group: its pod's next group; then the groups in order */
	size_t cap_next;
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
	free(p->ht);
	free(p->next);
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

/* The rows' (pod, container) groups and pods, found by hashing in one pass: a round's
 * work grows with its rows, never n log n string comparisons. */
static uint32_t hash_str(uint32_t h, const char *s)
{
	return (uint32_t)jp_hash_ident(s, h);
}

/* The slot of key (a row index) in table t (cap a power of two; entries are index + 1). */
static size_t find_slot(const size_t *t, size_t cap, uint32_t h, const struct jp_cgroup_row *rows, size_t r,
			int with_container)
{
	size_t i = h & (cap - 1);
	while (t[i]) {
		const struct jp_cgroup_row *o = &rows[t[i] - 1];
		if (!strcmp(o->pod_uid, rows[r].pod_uid) &&
		    (!with_container || !strcmp(o->container_id, rows[r].container_id)))
			break;
		i = (i + 1) & (cap - 1);
	}
	return i;
}

/* Group iv's rows into p->pods and p->conts, and name the pods. */
static int assemble(struct jp_pipeline *p, const struct jp_interval *iv)
{
	size_t n = iv->nrows;
	p->npods = 0;
	p->saw_unknown = 0;
	size_t cap = 16;
	while (cap < 2 * n + 2)
		cap *= 2;
	if (jp_grow((void **)&p->order, &p->cap_order, n + 1, sizeof(*p->order)) ||
	    jp_grow((void **)&p->first, &p->cap_first, n + 1, sizeof(*p->first)) ||
	    jp_grow((void **)&p->sum, &p->cap_sum, n + 1, sizeof(*p->sum)) ||
	    jp_grow((void **)&p->gsum, &p->cap_gsum, n + 1, sizeof(*p->gsum)) ||
	    jp_grow((void **)&p->pods, &p->cap_pods, n + 1, sizeof(*p->pods)) ||
	    jp_grow((void **)&p->conts, &p->cap_conts, n + 1, sizeof(*p->conts)) ||
	    jp_grow((void **)&p->ht, &p->cap_ht, 2 * cap, sizeof(*p->ht)) ||
	    jp_grow((void **)&p->next, &p->cap_next, 2 * n + 2, sizeof(*p->next)))
		return -ENOMEM;
	const struct jp_cgroup_row *rows = iv->rows;
	size_t *groups = p->ht, *podt = p->ht + cap;   /* (pod, container) -> row; pod -> row */
	memset(p->ht, 0, 2 * cap * sizeof(*p->ht));
	/* A group is named by its first row r: sum[r] and gsum[r] add up its rows, next[r] is
	 * its pod's next group. A pod is named by its first row f: tail[f] is its last group
	 * so far; the pods in order of their first rows go to pod_first (p->order, until the
	 * final order replaces it). */
	size_t *next = p->next, *tail = p->first, npod = 0, *pod_first = p->order;
	for (size_t r = 0; r < n; r++) {
		uint32_t hp = hash_str(2166136261u, rows[r].pod_uid);
		size_t gs = find_slot(groups, cap, hash_str(hp ^ 0x9e3779b9u, rows[r].container_id), rows, r, 1);
		if (groups[gs]) {
			size_t g = groups[gs] - 1;   /* merged into the first row of its group */
			p->sum[g] += rows[r].cpu_ns;
			p->gsum[g] += rows[r].gpu_j;
			continue;
		}
		groups[gs] = r + 1;
		p->sum[r] = rows[r].cpu_ns;
		p->gsum[r] = rows[r].gpu_j;
		next[r] = SIZE_MAX;
		size_t ps = find_slot(podt, cap, hp, rows, r, 0);
		if (!podt[ps]) {
			podt[ps] = r + 1;
			pod_first[npod++] = r;
			tail[r] = r;
		} else {
			size_t f = podt[ps] - 1;
			next[tail[f]] = r;
			tail[f] = r;
		}
	}
	/* Pods by their first row, each pod's groups by theirs. */
	size_t k = 0, *flat = next + n + 1;
	for (size_t i = 0; i < npod; i++)
		for (size_t g = pod_first[i]; g != SIZE_MAX; g = next[g])
			flat[k++] = g;
	memcpy(p->order, flat, k * sizeof(*p->order));
	const uint64_t *sum = p->sum;
	const double *gsum = p->gsum;

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
