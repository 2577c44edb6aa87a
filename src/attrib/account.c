/* SPDX-License-Identifier: Apache-2.0 */
/* Per-interval accounting: attributes one interval's node energy, keeps the node, pod,
 * container, namespace and system counters, converts joules to CO2 and sets every
 * series of docs/reference/metrics.md in the store's current round. Real and synthetic collectors feed it. */
#include "attrib/account.h"
#include "metrics.h"
#include "util/hash.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMODES 2
static const char *const mode_names[NMODES] = {"active", "idle"};

/* Series pointers stay valid while the series is set every round (store/series.h);
 * they are dropped when the store's common labels change or the labels do. */
struct cont_acc {
	char *id, *name;
	double e[JP_ZONE_COUNT][NMODES];
	double cpu_s;
	double d_j[JP_ZONE_COUNT];    /* this round's energy (active + idle), for power gauges */
	uint64_t round;               /* the last round the container was seen in */
	struct jp_series *s_e[JP_ZONE_COUNT][NMODES], *s_cpu;
	struct jp_series *k_e[JP_ZONE_COUNT], *k_w[JP_ZONE_COUNT];   /* metrics.compat kepler */
};

struct pod_acc {
	char *uid, *ns, *name;
	double e[JP_ZONE_COUNT][NMODES];
	double cpu_s, co2_g, embodied_g, cfe_j;
	struct cont_acc *conts;
	size_t nconts;
	uint64_t round;               /* the last round the pod was seen in */
	struct ns_acc *nsa;           /* its namespace's, NULL until looked up (namespaces stay) */
	struct jp_series *s_e[JP_ZONE_COUNT][NMODES], *s_w[JP_ZONE_COUNT], *s_cpu, *s_co2, *s_emb, *s_cfe;
	struct jp_series *k_e[JP_ZONE_COUNT], *k_w[JP_ZONE_COUNT];   /* metrics.compat kepler */
};

struct ns_acc {
	char *ns;
	double e[JP_ZONE_COUNT][NMODES];
	double co2_g, cfe_j;
	struct jp_series *s_e[JP_ZONE_COUNT][NMODES], *s_co2, *s_cfe;
};

/* The node's energy converted with an intensity of one source (static, entsoe, ...,
 * fallback): a handful of labels, kept in a small array. */
#define MAX_CONVERTED 8
struct converted {
	char source[32];
	double j;
};

/* One GPU's counters, by UUID (a device index can change across driver reloads). */
struct gpu_acc {
	char uuid[JP_GPU_UUID_MAX];
	double e;
	uint64_t round;
};

/* A string-keyed open-addressing index into an array of pointers. */
struct strmap {
	char **keys;      /* borrowed from the values */
	void **vals;
	size_t cap, n;
};

struct jp_account {
	enum jp_idle_attr idle_mode;
	double pue;
	unsigned levels;
	int kepler;                 /* metrics.compat kepler: also the Kepler 0.10 names */
	char *node_name;            /* Kepler's node_name label */
	double embodied_g_per_hour;
	uint64_t round;
	uint64_t store_gen;
	uint64_t store_round;       /* jp_store_round after our last round */
	unsigned last_mask;

	double node_e[JP_ZONE_COUNT][NMODES];
	double node_co2_g;
	double node_cfe_j;            /* carbon-free energy, where the share was known */
	int cfe_seen;                 /* a share was known in some round: the counters exist */
	struct converted conv[MAX_CONVERTED];
	size_t nconv;
	double sys_e[JP_ZONE_COUNT][NMODES];

	struct gpu_acc *gpus;
	size_t ngpus;

	struct strmap pods;       /* uid -> struct pod_acc */
	struct strmap nss;        /* namespace -> struct ns_acc */

	/* scratch, grown as needed */
	struct jp_attr_workload *w;
	size_t wcap;
	struct pod_acc **cur;
	size_t curcap;
};

static uint64_t hash_str(const char *s)
{
	return jp_hash_ident(s, 0);
}

static void *strmap_get(const struct strmap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hash_str(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (!m->keys[i])
			return NULL;
		if (strcmp(m->keys[i], key) == 0)
			return m->vals[i];
	}
}

static int strmap_grow(struct strmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	char **keys = calloc(cap, sizeof(*keys));
	void **vals = calloc(cap, sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = hash_str(m->keys[i]) & (cap - 1);
		while (keys[j])
			j = (j + 1) & (cap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

static int strmap_put(struct strmap *m, char *key, void *val)
{
	if ((m->n + 1) * 2 > m->cap && strmap_grow(m))
		return -ENOMEM;
	size_t i = hash_str(key) & (m->cap - 1);
	while (m->keys[i])
		i = (i + 1) & (m->cap - 1);
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
	return 0;
}

/* Remove the entries for which drop(val) is true; the map is rebuilt (rare: pods left). */
static int strmap_filter(struct strmap *m, int (*drop)(void *val, void *arg), void *arg)
{
	struct strmap nm = {0};
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		if (drop(m->vals[i], arg))
			continue;
		if (strmap_put(&nm, m->keys[i], m->vals[i]))
			return -ENOMEM;
	}
	free(m->keys);
	free(m->vals);
	*m = nm;
	return 0;
}

double jp_total_energy_j(const double *zone_j, unsigned mask)
{
	static const enum jp_zone of[JP_BASIS_N] = {
		[JP_BASIS_PACKAGE] = JP_ZONE_PACKAGE, [JP_BASIS_DRAM] = JP_ZONE_DRAM, [JP_BASIS_PSYS] = JP_ZONE_PSYS,
		[JP_BASIS_PLATFORM] = JP_ZONE_PLATFORM, [JP_BASIS_GPU] = JP_ZONE_GPU,
	};
	double v[JP_BASIS_N];
	unsigned m = 0;
	for (int b = 0; b < JP_BASIS_N; b++) {
		v[b] = zone_j[of[b]];
		if (mask & (1u << of[b]))
			m |= 1u << b;
	}
	return jp_basis_total(v, m);
}

struct jp_account *jp_account_create(const struct jp_config *cfg)
{
	struct jp_account *a = calloc(1, sizeof(*a));
	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	a->idle_mode = cfg->idle_attribution;
	a->pue = cfg->pue > 0 ? cfg->pue : 1.0;
	a->levels = cfg->metrics_levels;
	a->kepler = cfg->metrics_compat_kepler;
	a->node_name = strdup(cfg->node_name ? cfg->node_name : "");
	if (!a->node_name) {
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	a->embodied_g_per_hour = cfg->embodied_grams_per_node_hour;
	return a;
}

static void free_pod(struct pod_acc *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nconts; i++) {
		free(p->conts[i].id);
		free(p->conts[i].name);
	}
	free(p->conts);
	free(p->uid);
	free(p->ns);
	free(p->name);
	free(p);
}

void jp_account_destroy(struct jp_account *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->pods.cap; i++)
		if (a->pods.keys[i])
			free_pod(a->pods.vals[i]);
	for (size_t i = 0; i < a->nss.cap; i++) {
		if (a->nss.keys[i]) {
			struct ns_acc *n = a->nss.vals[i];
			free(n->ns);
			free(n);
		}
	}
	free(a->pods.keys);
	free(a->pods.vals);
	free(a->nss.keys);
	free(a->nss.vals);
	free(a->w);
	free(a->cur);
	free(a->gpus);
	free(a->node_name);
	free(a);
}

static int str_eq(const char *x, const char *y)
{
	/* Collectors that keep their strings pass the same pointers every round. */
	if (x == y)
		return 1;
	return strcmp(x ? x : "", y ? y : "") == 0;
}

static int replace_str(char **dst, const char *src)
{
	char *s = strdup(src ? src : "");
	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static void clear_pod_series(struct pod_acc *p)
{
	memset(p->s_e, 0, sizeof(p->s_e));
	memset(p->s_w, 0, sizeof(p->s_w));
	p->s_cpu = p->s_co2 = p->s_emb = p->s_cfe = NULL;
	memset(p->k_e, 0, sizeof(p->k_e));
	memset(p->k_w, 0, sizeof(p->k_w));
	for (size_t i = 0; i < p->nconts; i++) {
		memset(p->conts[i].s_e, 0, sizeof(p->conts[i].s_e));
		memset(p->conts[i].k_e, 0, sizeof(p->conts[i].k_e));
		memset(p->conts[i].k_w, 0, sizeof(p->conts[i].k_w));
		p->conts[i].s_cpu = NULL;
	}
}

/* Find or create the pod's accumulator and bring its names and containers up to date. */
static struct pod_acc *pod_get(struct jp_account *a, const struct jp_acct_pod *in)
{
	struct pod_acc *p = strmap_get(&a->pods, in->uid);
	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p || !(p->uid = strdup(in->uid)) || replace_str(&p->ns, in->ns) ||
		    replace_str(&p->name, in->name) || strmap_put(&a->pods, p->uid, p)) {
			free_pod(p);
			return NULL;
		}
	} else if (!str_eq(p->ns, in->ns) || !str_eq(p->name, in->name)) {
		/* The kubelet told us the pod's name: new label sets, the old series go stale. */
		p->nsa = NULL;
		if (replace_str(&p->ns, in->ns) || replace_str(&p->name, in->name))
			return NULL;
		clear_pod_series(p);
	}
	return p;
}

static struct cont_acc *cont_get(struct pod_acc *p, const struct jp_acct_container *c)
{
	for (size_t i = 0; i < p->nconts; i++) {
		if (str_eq(p->conts[i].id, c->id)) {
			if (!str_eq(p->conts[i].name, c->name)) {
				if (replace_str(&p->conts[i].name, c->name))
					return NULL;
				memset(p->conts[i].s_e, 0, sizeof(p->conts[i].s_e));
				memset(p->conts[i].k_e, 0, sizeof(p->conts[i].k_e));
				memset(p->conts[i].k_w, 0, sizeof(p->conts[i].k_w));
				p->conts[i].s_cpu = NULL;
			}
			return &p->conts[i];
		}
	}
	struct cont_acc *v = realloc(p->conts, (p->nconts + 1) * sizeof(*v));
	if (!v)
		return NULL;
	p->conts = v;
	struct cont_acc *n = &p->conts[p->nconts];
	memset(n, 0, sizeof(*n));
	if (replace_str(&n->id, c->id) || replace_str(&n->name, c->name))
		return NULL;
	p->nconts++;
	return n;
}

static struct ns_acc *ns_get(struct jp_account *a, const char *ns)
{
	struct ns_acc *n = strmap_get(&a->nss, ns);
	if (n)
		return n;
	n = calloc(1, sizeof(*n));
	if (!n || !(n->ns = strdup(ns)) || strmap_put(&a->nss, n->ns, n)) {
		if (n)
			free(n->ns);
		free(n);
		return NULL;
	}
	return n;
}

/* Set a series, resolving (and caching) its pointer on first use. */
static void put(struct jp_store *st, struct jp_series **cache, const char *name,
		const struct jp_label *l, size_t n, double v)
{
	if (!*cache)
		*cache = jp_store_get(st, name, l, n);
	if (*cache)
		jp_store_set(st, *cache, v);
}

static void set_once(struct jp_store *st, const char *name, const struct jp_label *l, size_t n, double v)
{
	struct jp_series *s = jp_store_get(st, name, l, n);
	if (s)
		jp_store_set(st, s, v);
}

/* Kepler 0.10's node series (metrics.compat kepler), for existing dashboards. */
static void emit_kepler_node(struct jp_account *a, struct jp_store *st, const struct jp_attr_node *node,
			     unsigned mask, double interval_s)
{
	struct jp_label k[2] = {{"node_name", a->node_name}, {"zone", NULL}};
	for (int z = 0; z < JP_ZONE_COUNT; z++) {
		if (!(mask & (1u << z)))
			continue;
		k[1].value = jp_zone_name((enum jp_zone)z);
		double act = node->active_j[z], idl = node->idle_j[z];
		set_once(st, jp_metric_name(JP_M_KEPLER_NODE_CPU_JOULES_TOTAL), k, 2, a->node_e[z][0] + a->node_e[z][1]);
		set_once(st, jp_metric_name(JP_M_KEPLER_NODE_CPU_ACTIVE_JOULES_TOTAL), k, 2, a->node_e[z][0]);
		set_once(st, jp_metric_name(JP_M_KEPLER_NODE_CPU_IDLE_JOULES_TOTAL), k, 2, a->node_e[z][1]);
		if (interval_s > 0) {
			set_once(st, jp_metric_name(JP_M_KEPLER_NODE_CPU_WATTS), k, 2, (act + idl) / interval_s);
			set_once(st, jp_metric_name(JP_M_KEPLER_NODE_CPU_ACTIVE_WATTS), k, 2, act / interval_s);
			set_once(st, jp_metric_name(JP_M_KEPLER_NODE_CPU_IDLE_WATTS), k, 2, idl / interval_s);
		}
	}
	double u = node->usage_ratio;
	set_once(st, jp_metric_name(JP_M_KEPLER_NODE_CPU_USAGE_RATIO), k, 1, u > 1 ? 1 : u < 0 ? 0 : u);
}

/* The power model's band (docs/model.md "Bounds"), per zone, beside the estimate. */
static void emit_bounds(struct jp_store *st, const struct jp_acct_input *in)
{
	if (!in->bound_mask || !in->bound_low_w || !in->bound_high_w)
		return;
	struct jp_label l[2] = {{"zone", NULL}, {"bound", NULL}};
	for (int z = 0; z < JP_ZONE_COUNT; z++) {
		if (!(in->bound_mask & in->zone_mask & (1u << z)))
			continue;
		l[0].value = jp_zone_name((enum jp_zone)z);
		l[1].value = "low";
		set_once(st, jp_metric_name(JP_M_NODE_POWER_BOUND_WATTS), l, 2, in->bound_low_w[z]);
		l[1].value = "high";
		set_once(st, jp_metric_name(JP_M_NODE_POWER_BOUND_WATTS), l, 2, in->bound_high_w[z]);
	}
}

static struct gpu_acc *gpu_get(struct jp_account *a, const char *uuid)
{
	for (size_t i = 0; i < a->ngpus; i++)
		if (strcmp(a->gpus[i].uuid, uuid) == 0)
			return &a->gpus[i];
	struct gpu_acc *v = realloc(a->gpus, (a->ngpus + 1) * sizeof(*v));
	if (!v)
		return NULL;
	a->gpus = v;
	struct gpu_acc *g = &a->gpus[a->ngpus++];
	memset(g, 0, sizeof(*g));
	snprintf(g->uuid, sizeof(g->uuid), "%s", uuid);
	return g;
}

/* Per-device series: energy counter, utilisation, failed reads; Kepler's node GPU names
 * with metrics.compat kepler. A device not read this interval keeps its counter and has
 * no utilisation gauge (it goes stale). */
static void emit_gpus(struct jp_account *a, struct jp_store *st, const struct jp_acct_input *in)
{
	for (size_t i = 0; i < in->ngpus; i++) {
		const struct jp_gpu_device *d = &in->gpus[i];
		struct gpu_acc *g = gpu_get(a, d->uuid);
		if (!g)
			continue;
		g->round = a->round;
		if (d->ok && isfinite(d->energy_j) && d->energy_j > 0)
			g->e += d->energy_j;
		char idx[16];
		snprintf(idx, sizeof(idx), "%u", d->index);
		struct jp_label l[3] = {{"gpu", idx}, {"uuid", d->uuid}, {"model", d->model}};
		set_once(st, jp_metric_name(JP_M_GPU_ENERGY_JOULES_TOTAL), l, 3, g->e);
		set_once(st, jp_metric_name(JP_M_GPU_READ_ERRORS_TOTAL), l, 3, (double)d->errors);
		if (d->ok)
			set_once(st, jp_metric_name(JP_M_GPU_UTILIZATION_RATIO), l, 3, d->util);
		if (!a->kepler)
			continue;
		struct jp_label k[4] = {{"gpu", idx}, {"gpu_uuid", d->uuid}, {"vendor", "nvidia"},
					{"node_name", a->node_name}};
		set_once(st, jp_metric_name(JP_M_KEPLER_NODE_GPU_JOULES_TOTAL), k, 4, g->e);
		if (d->ok && in->interval_s > 0)
			set_once(st, jp_metric_name(JP_M_KEPLER_NODE_GPU_WATTS), k, 4, d->energy_j / in->interval_s);
	}
}

static int drop_unseen(void *val, void *arg)
{
	struct pod_acc *p = val;
	struct jp_account *a = arg;
	if (p->round == a->round)
		return 0;
	free_pod(p);
	return 1;
}

static void invalidate_all(struct jp_account *a)
{
	for (size_t i = 0; i < a->pods.cap; i++)
		if (a->pods.keys[i])
			clear_pod_series(a->pods.vals[i]);
	for (size_t i = 0; i < a->nss.cap; i++) {
		if (a->nss.keys[i]) {
			struct ns_acc *n = a->nss.vals[i];
			memset(n->s_e, 0, sizeof(n->s_e));
			n->s_co2 = n->s_cfe = NULL;
		}
	}
}

/* Containers that did not run in this round are gone: forget them (the store marks
 * their series stale since nobody sets them). */
static void drop_gone_containers(struct pod_acc *p, uint64_t round)
{
	size_t k = 0;
	for (size_t i = 0; i < p->nconts; i++) {
		if (p->conts[i].round == round) {
			p->conts[k++] = p->conts[i];
		} else {
			free(p->conts[i].id);
			free(p->conts[i].name);
		}
	}
	p->nconts = k;
}

static void emit_pod(struct jp_account *a, struct jp_store *st, struct pod_acc *p,
		     const double *pod_j, double interval_s, unsigned mask)
{
	struct jp_label l[7] = {
		{"namespace", p->ns}, {"pod", p->name}, {"pod_uid", p->uid}, {"zone", NULL}, {"mode", NULL},
	};
	for (int z = 0; z < JP_ZONE_COUNT; z++) {
		if (!(mask & (1u << z)))
			continue;
		l[3].value = jp_zone_name((enum jp_zone)z);
		for (int m = 0; m < NMODES; m++) {
			if (m == 1 && a->idle_mode == JP_IDLE_NONE)
				continue;   /* pods never carry idle energy then: no all-zero series */
			l[4].value = mode_names[m];
			put(st, &p->s_e[z][m], jp_metric_name(JP_M_POD_ENERGY_JOULES_TOTAL), l, 5, p->e[z][m]);
		}
		put(st, &p->s_w[z], jp_metric_name(JP_M_POD_POWER_WATTS), l, 4,
		    interval_s > 0 ? pod_j[z] / interval_s : 0);
	}
	put(st, &p->s_cpu, jp_metric_name(JP_M_POD_CPU_SECONDS_TOTAL), l, 3, p->cpu_s);
	if (a->kepler) {
		/* Kepler 0.10's pod series: its joules are the pod's attributed energy (active,
		 * plus idle where idle_attribution gives pods any), its state is "running". */
		struct jp_label k[6] = {{"pod_id", p->uid}, {"pod_name", p->name}, {"pod_namespace", p->ns},
					{"state", "running"}, {"node_name", a->node_name}, {"zone", NULL}};
		for (int z = 0; z < JP_ZONE_COUNT; z++) {
			if (!(mask & (1u << z)))
				continue;
			k[5].value = jp_zone_name((enum jp_zone)z);
			put(st, &p->k_e[z], jp_metric_name(JP_M_KEPLER_POD_CPU_JOULES_TOTAL), k, 6, p->e[z][0] + p->e[z][1]);
			put(st, &p->k_w[z], jp_metric_name(JP_M_KEPLER_POD_CPU_WATTS), k, 6, interval_s > 0 ? pod_j[z] / interval_s : 0);
		}
	}
	put(st, &p->s_co2, jp_metric_name(JP_M_POD_CO2_GRAMS_TOTAL), l, 3, p->co2_g);
	if (a->cfe_seen)
		put(st, &p->s_cfe, jp_metric_name(JP_M_POD_CARBON_FREE_ENERGY_JOULES_TOTAL), l, 3, p->cfe_j);
	if (a->embodied_g_per_hour > 0)
		put(st, &p->s_emb, jp_metric_name(JP_M_POD_EMBODIED_CO2_GRAMS_TOTAL), l, 3, p->embodied_g);
}

static void emit_containers(struct jp_account *a, struct jp_store *st, struct pod_acc *p, unsigned mask,
			    double interval_s)
{
	for (size_t i = 0; i < p->nconts; i++) {
		struct cont_acc *c = &p->conts[i];
		struct jp_label l[7] = {
			{"namespace", p->ns}, {"pod", p->name}, {"pod_uid", p->uid},
			{"container", c->name}, {"container_id", c->id}, {"zone", NULL}, {"mode", NULL},
		};
		for (int z = 0; z < JP_ZONE_COUNT; z++) {
			if (!(mask & (1u << z)))
				continue;
			l[5].value = jp_zone_name((enum jp_zone)z);
			for (int m = 0; m < NMODES; m++) {
				if (m == 1 && a->idle_mode == JP_IDLE_NONE)
					continue;
				l[6].value = mode_names[m];
				put(st, &c->s_e[z][m], jp_metric_name(JP_M_CONTAINER_ENERGY_JOULES_TOTAL), l, 7, c->e[z][m]);
			}
		}
		put(st, &c->s_cpu, jp_metric_name(JP_M_CONTAINER_CPU_SECONDS_TOTAL), l, 5, c->cpu_s);
		if (!a->kepler)
			continue;
		struct jp_label k[7] = {{"container_id", c->id}, {"container_name", c->name},
					{"pod_id", p->uid}, {"state", "running"}, {"node_name", a->node_name},
					{"zone", NULL}};
		for (int z = 0; z < JP_ZONE_COUNT; z++) {
			if (!(mask & (1u << z)))
				continue;
			k[5].value = jp_zone_name((enum jp_zone)z);
			put(st, &c->k_e[z], jp_metric_name(JP_M_KEPLER_CONTAINER_CPU_JOULES_TOTAL), k, 6, c->e[z][0] + c->e[z][1]);
			put(st, &c->k_w[z], jp_metric_name(JP_M_KEPLER_CONTAINER_CPU_WATTS), k, 6,
			    interval_s > 0 ? c->d_j[z] / interval_s : 0);
		}
	}
}

/* Share a pod's attributed energy among its containers by CPU time, evenly when none
 * ran; the parts add up to the pod's (docs/model.md step 4). */
static void share_to_containers(struct pod_acc *p, const struct jp_acct_pod *in,
				const size_t *ci, const struct jp_attr_workload *w)
{
	size_t n = in->ncontainers;
	uint64_t tot = 0;
	double gtot = 0;
	for (size_t i = 0; i < n; i++) {
		tot += in->containers[i].cpu_ns;
		gtot += in->containers[i].gpu_j;
	}
	for (int z = 0; z < JP_ZONE_COUNT; z++) {
		/* The gpu zone by the containers' GPU use where they have any. */
		int by_gpu = z == JP_ZONE_GPU && gtot > 0;
		for (int m = 0; m < NMODES; m++) {
			double e = m == 0 ? w->active_j[z] : w->idle_j[z];
			double given = 0;
			for (size_t i = 0; i < n; i++) {
				double part = i + 1 == n ? e - given
					: by_gpu ? e * (in->containers[i].gpu_j / gtot)
					: tot ? e * ((double)in->containers[i].cpu_ns / (double)tot)
					      : e / (double)n;
				given += part;
				if (ci[i] != SIZE_MAX) {
					p->conts[ci[i]].e[z][m] += part;
					p->conts[ci[i]].d_j[z] += part;
				}
			}
		}
	}
}

int jp_account_reconfigure(struct jp_account *a, const struct jp_config *cfg)
{
	if (replace_str(&a->node_name, cfg->node_name))
		return -ENOMEM;
	a->idle_mode = cfg->idle_attribution;
	a->pue = cfg->pue > 0 ? cfg->pue : 1.0;
	a->levels = cfg->metrics_levels;
	a->kepler = cfg->metrics_compat_kepler;
	a->embodied_g_per_hour = cfg->embodied_grams_per_node_hour;
	/* Series that are no longer set go stale at the next commit: no cached pointer may
	 * outlive that. */
	invalidate_all(a);
	return 0;
}

/* Room for n workloads (the system bucket and the pods). 0 or -ENOMEM. */
static int reserve_workloads(struct jp_account *a, size_t n)
{
	if (n <= a->wcap)
		return 0;
	size_t cap = n * 2;
	struct jp_attr_workload *w = realloc(a->w, cap * sizeof(*w));
	struct pod_acc **cur = w ? realloc(a->cur, cap * sizeof(*cur)) : NULL;
	if (w)
		a->w = w;
	if (!w || !cur)
		return -ENOMEM;
	a->cur = cur;
	a->wcap = cap;
	return 0;
}

/* Cached series pointers are valid only while their series is set every round: a change
 * of common labels or of the zone set ends some series, and so does a round the store
 * committed without us (a failed collection), so start over. */
static void begin_round(struct jp_account *a, struct jp_store *st, unsigned zone_mask)
{
	uint64_t gen = jp_store_generation(st);
	if (gen != a->store_gen || zone_mask != a->last_mask || jp_store_round(st) != a->store_round) {
		invalidate_all(a);
		a->store_gen = gen;
		a->last_mask = zone_mask;
	}
	a->store_round = jp_store_round(st) + 1;
	a->round++;
}

/* The interval's workloads for the attribution (docs/model.md): the system bucket first. */
static void fill_workloads(struct jp_attr_workload *w, const struct jp_acct_input *in)
{
	memset(w, 0, (in->npods + 1) * sizeof(*w));
	w[0].cpu_ns = in->system_cpu_ns;
	w[0].gpu_j = in->system_gpu_j;
	for (size_t i = 0; i < in->npods; i++) {
		w[i + 1].cpu_ns = in->pods[i].cpu_ns;
		w[i + 1].gpu_j = in->pods[i].gpu_j;
		w[i + 1].cpu_request = in->pods[i].cpu_request;
		w[i + 1].is_pod = 1;
	}
}

/* A pod's containers: their CPU time, their share of the pod's energy, and those gone. */
static void account_containers(struct jp_account *a, struct pod_acc *p, const struct jp_acct_pod *ip,
			       const struct jp_attr_workload *w)
{
	size_t ci_stack[64];
	/* Indices, not pointers: cont_get may move the array. */
	size_t *ci = ip->ncontainers <= 64 ? ci_stack : calloc(ip->ncontainers, sizeof(*ci));
	if (ci && ip->ncontainers) {
		for (size_t k = 0; k < ip->ncontainers; k++) {
			struct cont_acc *c = cont_get(p, &ip->containers[k]);
			ci[k] = c ? (size_t)(c - p->conts) : SIZE_MAX;
		}
		for (size_t k = 0; k < ip->ncontainers; k++) {
			if (ci[k] == SIZE_MAX)
				continue;
			p->conts[ci[k]].cpu_s += (double)ip->containers[k].cpu_ns / 1e9;
			p->conts[ci[k]].round = a->round;
			memset(p->conts[ci[k]].d_j, 0, sizeof(p->conts[ci[k]].d_j));
		}
		share_to_containers(p, ip, ci, w);
	}
	if (ci != ci_stack)
		free(ci);
	drop_gone_containers(p, a->round);
}

/* Pods, their containers and namespaces: the interval's shares added to their counters,
 * and their series set. */
static void account_pods(struct jp_account *a, struct jp_store *st, const struct jp_acct_input *in, double g_per_j)
{
	double cfe_ratio = in->carbon_free_known && in->carbon_free_ratio >= 0 && in->carbon_free_ratio <= 1
			   ? in->carbon_free_ratio : -1;
	const struct jp_attr_workload *w = a->w;
	unsigned mask = in->zone_mask;
	/* Embodied emissions (SCI "M"): the node's share of its hardware footprint for
	 * the interval, given to pods by CPU time share among pods. */
	double embodied = a->embodied_g_per_hour * in->interval_s / 3600.0;
	uint64_t pods_cpu = 0;
	for (size_t i = 0; i < in->npods; i++)
		pods_cpu += in->pods[i].cpu_ns;
	for (size_t i = 0; i < in->npods; i++) {
		const struct jp_acct_pod *ip = &in->pods[i];
		struct pod_acc *p = pod_get(a, ip);
		a->cur[i] = p;
		if (!p)
			continue;   /* out of memory: this pod is skipped for the round */
		p->round = a->round;
		double pod_j[JP_ZONE_COUNT];
		for (int z = 0; z < JP_ZONE_COUNT; z++) {
			p->e[z][0] += w[i + 1].active_j[z];
			p->e[z][1] += w[i + 1].idle_j[z];
			pod_j[z] = w[i + 1].active_j[z] + w[i + 1].idle_j[z];
		}
		p->cpu_s += (double)ip->cpu_ns / 1e9;
		double pod_total = jp_total_energy_j(pod_j, mask);
		double co2 = pod_total * g_per_j, cfe = cfe_ratio >= 0 ? pod_total * cfe_ratio : 0;
		p->co2_g += co2;
		p->cfe_j += cfe;
		if (embodied > 0 && pods_cpu > 0)
			p->embodied_g += embodied * ((double)ip->cpu_ns / (double)pods_cpu);
		if (!p->nsa)
			p->nsa = ns_get(a, p->ns);
		struct ns_acc *ns = p->nsa;
		if (ns) {
			for (int z = 0; z < JP_ZONE_COUNT; z++) {
				ns->e[z][0] += w[i + 1].active_j[z];
				ns->e[z][1] += w[i + 1].idle_j[z];
			}
			ns->co2_g += co2;
			ns->cfe_j += cfe;
		}
		if (a->levels & JP_LEVEL_CONTAINER)
			account_containers(a, p, ip, &w[i + 1]);
		if (a->levels & JP_LEVEL_POD)
			emit_pod(a, st, p, pod_j, in->interval_s, mask);
		if (a->levels & JP_LEVEL_CONTAINER)
			emit_containers(a, st, p, mask, in->interval_s);
	}
	/* Pods that left: their series are not set this round, so the store marks them
	 * stale; their energy stays in the namespace counters. */
	if (a->pods.n > in->npods)
		strmap_filter(&a->pods, drop_unseen, a);
}

/* The node's and the system bucket's series. */
static void emit_node(struct jp_account *a, struct jp_store *st, const struct jp_acct_input *in,
		      const struct jp_attr_node *node)
{
	unsigned mask = in->zone_mask;
	double interval_s = in->interval_s;
	struct jp_label l[3] = {{"zone", NULL}, {"mode", NULL}, {"source", in->power_source}};
	for (int z = 0; z < JP_ZONE_COUNT; z++) {
		if (!(mask & (1u << z)))
			continue;
		l[0].value = jp_zone_name((enum jp_zone)z);
		for (int m = 0; m < NMODES; m++) {
			l[1].value = mode_names[m];
			struct jp_series *s = jp_store_get(st, jp_metric_name(JP_M_NODE_ENERGY_JOULES_TOTAL), l, 3);
			if (s)
				jp_store_set(st, s, a->node_e[z][m]);
			s = jp_store_get(st, jp_metric_name(JP_M_NODE_POWER_WATTS), l, 3);
			if (s)
				jp_store_set(st, s, interval_s > 0 ? (m ? node->idle_j[z] : node->active_j[z]) / interval_s : 0);
			struct jp_label sl[2] = {l[0], l[1]};
			s = jp_store_get(st, jp_metric_name(JP_M_SYSTEM_ENERGY_JOULES_TOTAL), sl, 2);
			if (s)
				jp_store_set(st, s, a->sys_e[z][m]);
		}
	}
	struct jp_series *s = jp_store_get(st, jp_metric_name(JP_M_NODE_CPU_USAGE_RATIO), NULL, 0);
	if (s)
		jp_store_set(st, s, node->usage_ratio > 1 ? 1 : node->usage_ratio < 0 ? 0 : node->usage_ratio);
	s = jp_store_get(st, jp_metric_name(JP_M_NODE_CO2_GRAMS_TOTAL), NULL, 0);
	if (s)
		jp_store_set(st, s, a->node_co2_g);
	if (a->cfe_seen)
		set_once(st, jp_metric_name(JP_M_NODE_CARBON_FREE_ENERGY_JOULES_TOTAL), NULL, 0, a->node_cfe_j);
	for (size_t i = 0; i < a->nconv; i++) {
		struct jp_label cl[1] = {{"intensity_source", a->conv[i].source}};
		set_once(st, jp_metric_name(JP_M_NODE_CONVERTED_ENERGY_JOULES_TOTAL), cl, 1, a->conv[i].j);
	}
	if (a->kepler)
		emit_kepler_node(a, st, node, mask, interval_s);
	emit_bounds(st, in);
}

/* The namespaces' series: they survive pod churn (docs/reference/metrics.md). */
static void emit_namespaces(struct jp_account *a, struct jp_store *st, unsigned mask)
{
	for (size_t i = 0; i < a->nss.cap; i++) {
		if (!a->nss.keys[i])
			continue;
		struct ns_acc *ns = a->nss.vals[i];
		struct jp_label l[3] = {{"namespace", ns->ns}, {"zone", NULL}, {"mode", NULL}};
		for (int z = 0; z < JP_ZONE_COUNT; z++) {
			if (!(mask & (1u << z)))
				continue;
			l[1].value = jp_zone_name((enum jp_zone)z);
			for (int m = 0; m < NMODES; m++) {
				if (m == 1 && a->idle_mode == JP_IDLE_NONE)
					continue;
				l[2].value = mode_names[m];
				put(st, &ns->s_e[z][m], jp_metric_name(JP_M_NAMESPACE_ENERGY_JOULES_TOTAL), l, 3, ns->e[z][m]);
			}
		}
		put(st, &ns->s_co2, jp_metric_name(JP_M_NAMESPACE_CO2_GRAMS_TOTAL), l, 1, ns->co2_g);
		if (a->cfe_seen)
			put(st, &ns->s_cfe, jp_metric_name(JP_M_NAMESPACE_CARBON_FREE_ENERGY_JOULES_TOTAL), l, 1, ns->cfe_j);
	}
}

/* The node's carbon-free energy (total x the share, where known) and the energy
 * converted with an intensity of this round's source. */
static void convert(struct jp_account *a, double total_j, double cfe_ratio, const char *source)
{
	if (cfe_ratio >= 0 && cfe_ratio <= 1) {
		a->node_cfe_j += total_j * cfe_ratio;
		a->cfe_seen = 1;
	}
	if (!source || !*source)
		return;
	size_t i = 0;
	while (i < a->nconv && strcmp(a->conv[i].source, source))
		i++;
	if (i == a->nconv) {
		if (a->nconv == MAX_CONVERTED)
			return;   /* more labels than sources exist: not one of ours */
		snprintf(a->conv[i].source, sizeof(a->conv[i].source), "%s", source);
		a->conv[i].j = 0;
		a->nconv++;
	}
	a->conv[i].j += total_j;
}

int jp_account_round(struct jp_account *a, struct jp_store *st, const struct jp_acct_input *in)
{
	size_t n = in->npods + 1;   /* the system bucket is workload 0 */
	if (reserve_workloads(a, n))
		return -ENOMEM;
	begin_round(a, st, in->zone_mask);
	fill_workloads(a->w, in);
	struct jp_attr_node node = {.zone_mask = in->zone_mask, .usage_ratio = in->usage_ratio,
				    .gpu_usage_ratio = in->gpu_usage_ratio, .idle_mode = a->idle_mode};
	memcpy(node.energy_j, in->energy_j, sizeof(node.energy_j));
	int r = jp_attribute(&node, a->w, n);
	if (r)
		return r;
	double g_per_j = in->intensity_g_per_kwh / 3.6e6 * a->pue;
	for (int z = 0; z < JP_ZONE_COUNT; z++) {
		a->node_e[z][0] += node.active_j[z];
		a->node_e[z][1] += node.idle_j[z];
		/* The system bucket: its active share and whatever idle energy it was given. */
		a->sys_e[z][0] += a->w[0].active_j[z];
		a->sys_e[z][1] += a->w[0].idle_j[z];
	}
	double total = jp_total_energy_j(in->energy_j, in->zone_mask);
	a->node_co2_g += total * g_per_j;
	convert(a, total, in->carbon_free_known ? in->carbon_free_ratio : -1, in->intensity_source);
	account_pods(a, st, in, g_per_j);
	if (a->levels & JP_LEVEL_NODE)
		emit_node(a, st, in, &node);
	if (in->ngpus)
		emit_gpus(a, st, in);
	if (a->levels & JP_LEVEL_NAMESPACE)
		emit_namespaces(a, st, in->zone_mask);
	return 0;
}
