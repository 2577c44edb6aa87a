/* SPDX-License-Identifier: Apache-2.0 */
/* collector.mode synthetic: a deterministic fake node whose pods burn CPU at their own rates, with
 * model-based energy attributed and conserved as in SPEC §5, for load tests and benchmarks. */
#include "collect/synthetic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fake node is a small VM: the power model of SPEC §3 with four CPUs. */
#define SYN_CPUS 4

/* Zones of a machine without psys. The model's total power is package + dram (SPEC §4: the
 * total energy is package + dram where there is no psys); core lies inside package and is
 * reported for detail only, so it never enters a sum of zones. */
enum { Z_PACKAGE, Z_CORE, Z_DRAM, NZONES };
static const char *const zone_name[NZONES] = { "package", "core", "dram" };
static const double zone_share[NZONES] = { 0.8, 0.8 * 0.7, 0.2 };

enum { M_ACTIVE, M_IDLE, NMODES };
static const char *const mode_name[NMODES] = { "active", "idle" };

/* The host processes and kernel threads outside any pod use this many CPUs on average. */
#define SYS_RATE_CORES 0.15
/* Per interval, a workload's CPU time is its rate times a factor in [JIT_LO, JIT_LO + JIT_SPAN). */
#define JIT_LO 0.7
#define JIT_SPAN 0.6

struct ns_def {
	const char *name;
	const char *apps[4];
	unsigned weight;
};

static const struct ns_def namespaces[] = {
	{ "payments", { "payments-api", "ledger", "fraud-scorer", "settlement-worker" }, 3 },
	{ "checkout", { "checkout-api", "cart", "pricing", "promo-engine" }, 3 },
	{ "kube-system", { "coredns", "metrics-server", "kube-proxy", "csi-node" }, 2 },
	{ "monitoring", { "prometheus", "grafana", "alertmanager", "node-exporter" }, 2 },
	{ "ml-training", { "trainer", "feature-store", "notebook", "tensorboard" }, 1 },
	{ "web", { "frontend", "ingress-nginx-controller", "image-resizer", "search" }, 3 },
	{ "data", { "kafka-broker", "postgres", "redis", "debezium-connect" }, 2 },
};
#define NNS (sizeof namespaces / sizeof namespaces[0])

static const char *const sidecars[] = { "istio-proxy", "log-shipper", "config-reloader" };

struct syn_container {
	char name[48];
	char id[65];
	double weight;             /* share of the pod's CPU time; the pod's weights sum to 1 */
	double cpu_s;
	double energy_j[NZONES][NMODES];
	struct jp_series *s_energy[NZONES][NMODES];
	struct jp_series *s_cpu;
};

struct syn_pod {
	unsigned ns;
	char name[80];
	char uid[37];
	double rate_cores;
	double t_s;                /* CPU time of the current interval */
	double cpu_s, co2_g, embodied_g;
	double energy_j[NZONES][NMODES];
	double d_energy_j[NZONES][NMODES];   /* the current interval's increments */
	struct jp_series *s_energy[NZONES][NMODES];
	struct jp_series *s_power[NZONES];
	struct jp_series *s_cpu, *s_co2, *s_embodied;
	struct syn_container *c;
};

struct syn_ns {
	unsigned npods;
	double co2_g;
	double energy_j[NZONES][NMODES];
	struct jp_series *s_energy[NZONES][NMODES];
	struct jp_series *s_co2;
};

struct jp_synthetic {
	uint64_t rng;
	unsigned levels;
	enum jp_idle_attr idle;
	double idle_w, max_w, pue, intensity, embodied_gph;
	uint32_t npods, ncont;
	struct syn_pod *pods;
	struct syn_container *containers;
	struct syn_ns ns[NNS];

	double node_energy_j[NZONES][NMODES];
	double node_co2_g;
	double sys_energy_j[NZONES][NMODES];
	struct jp_series *s_node_energy[NZONES][NMODES];
	struct jp_series *s_node_power[NZONES][NMODES];
	struct jp_series *s_node_cpu, *s_node_co2, *s_grid;
	struct jp_series *s_sys_energy[NZONES][NMODES];

	/* The store the series pointers belong to, and its generation when resolved. */
	struct jp_store *store;
	uint64_t generation;
	size_t nseries;
};

/* splitmix64: tiny, fast and fully determined by the seed. */
static uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *state)
{
	return (double)(rng_next(state) >> 11) * 0x1.0p-53;
}

static double rng_range(uint64_t *state, double lo, double hi)
{
	return lo + (hi - lo) * rng_unit(state);
}

/* The alphabet Kubernetes uses for generated name suffixes (no vowels, no look-alikes). */
static void rand_suffix(uint64_t *state, char *out, size_t n)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	for (size_t i = 0; i < n; i++)
		out[i] = alphabet[rng_next(state) % (sizeof alphabet - 1)];
	out[n] = '\0';
}

static void rand_hex(uint64_t *state, char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++)
		out[i] = hex[rng_next(state) & 15];
	out[n] = '\0';
}

static void rand_uuid4(uint64_t *state, char out[37])
{
	uint8_t b[16];
	uint64_t a = rng_next(state), c = rng_next(state);
	memcpy(b, &a, 8);
	memcpy(b + 8, &c, 8);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);   /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static unsigned pick_ns(uint64_t *state)
{
	unsigned total = 0;
	for (size_t i = 0; i < NNS; i++)
		total += namespaces[i].weight;
	unsigned r = (unsigned)(rng_next(state) % total);
	for (unsigned i = 0; i < NNS; i++) {
		if (r < namespaces[i].weight)
			return i;
		r -= namespaces[i].weight;
	}
	return 0;
}

static size_t count_series(const struct jp_synthetic *syn)
{
	size_t modes = syn->idle == JP_IDLE_NONE ? 1 : 2;
	size_t n = 1;   /* the grid intensity */
	if (syn->levels & JP_LEVEL_NODE)
		n += NZONES * NMODES * 2 + 2;
	if (syn->levels & JP_LEVEL_POD) {
		size_t per_pod = NZONES * modes + NZONES + 2 + (syn->embodied_gph > 0);
		n += syn->npods * per_pod + NZONES * modes;   /* + the system bucket */
	}
	if (syn->levels & JP_LEVEL_CONTAINER)
		n += (size_t)syn->npods * syn->ncont * (NZONES * modes + 1);
	if (syn->levels & JP_LEVEL_NAMESPACE)
		for (size_t i = 0; i < NNS; i++)
			if (syn->ns[i].npods)
				n += NZONES * modes + 1;
	return n;
}

struct jp_synthetic *jp_synthetic_create(const struct jp_config *cfg)
{
	if (!cfg || cfg->synthetic_pods > 1000000 || cfg->synthetic_containers_per_pod > 64 ||
	    !(cfg->pue > 0) || cfg->carbon_grams_per_kwh < 0) {
		errno = EINVAL;
		return NULL;
	}
	struct jp_synthetic *syn = calloc(1, sizeof *syn);
	if (!syn)
		goto nomem;
	syn->rng = cfg->synthetic_seed;
	syn->levels = cfg->metrics_levels;
	syn->idle = cfg->idle_attribution;
	syn->idle_w = cfg->model_idle_watts_per_cpu;
	syn->max_w = cfg->model_max_watts_per_cpu;
	syn->pue = cfg->pue;
	syn->intensity = cfg->carbon_grams_per_kwh;
	syn->embodied_gph = cfg->embodied_grams_per_node_hour;
	syn->npods = cfg->synthetic_pods;
	syn->ncont = cfg->synthetic_containers_per_pod;
	if (syn->npods) {
		syn->pods = calloc(syn->npods, sizeof *syn->pods);
		if (!syn->pods)
			goto nomem;
		if (syn->ncont) {
			syn->containers = calloc((size_t)syn->npods * syn->ncont, sizeof *syn->containers);
			if (!syn->containers)
				goto nomem;
		}
	}

	double sum_rate = 0;
	for (uint32_t i = 0; i < syn->npods; i++) {
		struct syn_pod *p = &syn->pods[i];
		uint64_t *r = &syn->rng;
		p->ns = pick_ns(r);
		syn->ns[p->ns].npods++;
		const char *app = namespaces[p->ns].apps[rng_next(r) % 4];
		char rs[11], sfx[6];
		rand_suffix(r, rs, 9 + rng_next(r) % 2);
		rand_suffix(r, sfx, 5);
		snprintf(p->name, sizeof p->name, "%s-%s-%s", app, rs, sfx);
		rand_uuid4(r, p->uid);
		/* A few busy pods, many light ones and a long idle tail, as on a real node. */
		double cls = rng_unit(r);
		if (cls < 0.15)
			p->rate_cores = rng_range(r, 0.4, 1.6);
		else if (cls < 0.6)
			p->rate_cores = rng_range(r, 0.02, 0.25);
		else
			p->rate_cores = rng_range(r, 0.0005, 0.01);
		sum_rate += p->rate_cores;

		p->c = syn->ncont ? &syn->containers[(size_t)i * syn->ncont] : NULL;
		double wsum = 0;
		for (uint32_t k = 0; k < syn->ncont; k++) {
			struct syn_container *c = &p->c[k];
			if (k == 0)
				snprintf(c->name, sizeof c->name, "%s", app);
			else if (k <= sizeof sidecars / sizeof sidecars[0])
				snprintf(c->name, sizeof c->name, "%s", sidecars[k - 1]);
			else
				snprintf(c->name, sizeof c->name, "sidecar-%u", (unsigned)k);
			rand_hex(r, c->id, 64);
			/* The main container does most of the work. */
			c->weight = k == 0 ? 4.0 : rng_range(r, 0.1, 1.0);
			wsum += c->weight;
		}
		for (uint32_t k = 0; k < syn->ncont; k++)
			p->c[k].weight /= wsum;
	}
	/* Keep the node below 90% busy even at the top of the jitter, so that u <= 1. */
	double room = 0.9 * SYN_CPUS - SYS_RATE_CORES * (JIT_LO + JIT_SPAN);
	if (sum_rate * (JIT_LO + JIT_SPAN) > room)
		for (uint32_t i = 0; i < syn->npods; i++)
			syn->pods[i].rate_cores *= room / (sum_rate * (JIT_LO + JIT_SPAN));

	syn->nseries = count_series(syn);
	return syn;
nomem:
	jp_synthetic_destroy(syn);
	errno = ENOMEM;
	return NULL;
}

void jp_synthetic_destroy(struct jp_synthetic *syn)
{
	if (!syn)
		return;
	free(syn->containers);
	free(syn->pods);
	free(syn);
}

size_t jp_synthetic_series_count(const struct jp_synthetic *syn)
{
	return syn->nseries;
}

/* ---- series resolution: once per store (and per change of its common labels) ---- */

#define L(n, v) ((struct jp_label){ (n), (v) })

static int get(struct jp_store *st, struct jp_series **out, const char *name, const struct jp_label *l, size_t n)
{
	*out = jp_store_get(st, name, l, n);
	return *out ? 0 : -(errno ? errno : ENOMEM);
}

static int resolve(struct jp_synthetic *syn, struct jp_store *st)
{
	int r = 0;
	int nmodes = syn->idle == JP_IDLE_NONE ? 1 : 2;

	struct jp_label g[] = { L("grid_zone", "static"), L("source", "static") };
	if ((r = get(st, &syn->s_grid, "joulepush_grid_carbon_intensity_grams_per_kwh", g, 2)))
		return r;

	if (syn->levels & JP_LEVEL_NODE) {
		for (int z = 0; z < NZONES; z++) {
			for (int m = 0; m < NMODES; m++) {
				struct jp_label l[] = { L("zone", zone_name[z]), L("mode", mode_name[m]),
							L("source", "model") };
				if ((r = get(st, &syn->s_node_energy[z][m], "joulepush_node_energy_joules_total", l, 3)) ||
				    (r = get(st, &syn->s_node_power[z][m], "joulepush_node_power_watts", l, 3)))
					return r;
			}
		}
		if ((r = get(st, &syn->s_node_cpu, "joulepush_node_cpu_usage_ratio", NULL, 0)) ||
		    (r = get(st, &syn->s_node_co2, "joulepush_node_co2_grams_total", NULL, 0)))
			return r;
	}
	if (syn->levels & JP_LEVEL_POD) {
		for (int z = 0; z < NZONES; z++)
			for (int m = 0; m < nmodes; m++) {
				struct jp_label l[] = { L("zone", zone_name[z]), L("mode", mode_name[m]) };
				if ((r = get(st, &syn->s_sys_energy[z][m], "joulepush_system_energy_joules_total", l, 2)))
					return r;
			}
	}
	if (syn->levels & JP_LEVEL_NAMESPACE) {
		for (unsigned i = 0; i < NNS; i++) {
			struct syn_ns *ns = &syn->ns[i];
			if (!ns->npods)
				continue;
			struct jp_label l[] = { L("namespace", namespaces[i].name), L("zone", ""), L("mode", "") };
			for (int z = 0; z < NZONES; z++)
				for (int m = 0; m < nmodes; m++) {
					l[1].value = zone_name[z];
					l[2].value = mode_name[m];
					if ((r = get(st, &ns->s_energy[z][m], "joulepush_namespace_energy_joules_total", l, 3)))
						return r;
				}
			if ((r = get(st, &ns->s_co2, "joulepush_namespace_co2_grams_total", l, 1)))
				return r;
		}
	}
	for (uint32_t i = 0; i < syn->npods; i++) {
		struct syn_pod *p = &syn->pods[i];
		struct jp_label l[] = { L("namespace", namespaces[p->ns].name), L("pod", p->name),
					L("pod_uid", p->uid), L("zone", ""), L("mode", ""),
					L("container", ""), L("container_id", "") };
		if (syn->levels & JP_LEVEL_POD) {
			for (int z = 0; z < NZONES; z++) {
				l[3].value = zone_name[z];
				for (int m = 0; m < nmodes; m++) {
					l[4].value = mode_name[m];
					if ((r = get(st, &p->s_energy[z][m], "joulepush_pod_energy_joules_total", l, 5)))
						return r;
				}
				if ((r = get(st, &p->s_power[z], "joulepush_pod_power_watts", l, 4)))
					return r;
			}
			if ((r = get(st, &p->s_cpu, "joulepush_pod_cpu_seconds_total", l, 3)) ||
			    (r = get(st, &p->s_co2, "joulepush_pod_co2_grams_total", l, 3)))
				return r;
			if (syn->embodied_gph > 0 &&
			    (r = get(st, &p->s_embodied, "joulepush_pod_embodied_co2_grams_total", l, 3)))
				return r;
		}
		if (syn->levels & JP_LEVEL_CONTAINER) {
			for (uint32_t k = 0; k < syn->ncont; k++) {
				struct syn_container *c = &p->c[k];
				l[5].value = c->name;
				l[6].value = c->id;
				/* Zone and mode are empty (dropped) for the CPU series. */
				l[3].value = l[4].value = "";
				if ((r = get(st, &c->s_cpu, "joulepush_container_cpu_seconds_total", l, 7)))
					return r;
				for (int z = 0; z < NZONES; z++)
					for (int m = 0; m < nmodes; m++) {
						l[3].value = zone_name[z];
						l[4].value = mode_name[m];
						if ((r = get(st, &c->s_energy[z][m],
							     "joulepush_container_energy_joules_total", l, 7)))
							return r;
					}
			}
		}
	}
	return 0;
}

/* ---- one collection ------------------------------------------------------------------ */

/* Grams of CO2-equivalent for joules at the static intensity, with PUE (SPEC §5.6). */
static inline double co2_g(const struct jp_synthetic *syn, double j)
{
	return j / 3.6e6 * syn->intensity * syn->pue;
}

int jp_synthetic_collect(struct jp_synthetic *syn, struct jp_store *store, uint64_t elapsed_ms)
{
	if (syn->store != store || syn->generation != jp_store_generation(store)) {
		int r = resolve(syn, store);
		if (r) {
			syn->store = NULL;
			return r;
		}
		syn->store = store;
		syn->generation = jp_store_generation(store);
	}

	double dt = (double)elapsed_ms / 1000.0;
	int nmodes = syn->idle == JP_IDLE_NONE ? 1 : 2;

	/* CPU time of every workload over the interval. */
	double t_pods = 0;
	for (uint32_t i = 0; i < syn->npods; i++) {
		struct syn_pod *p = &syn->pods[i];
		p->t_s = p->rate_cores * dt * (JIT_LO + JIT_SPAN * rng_unit(&syn->rng));
		t_pods += p->t_s;
	}
	double t_sys = SYS_RATE_CORES * dt * (JIT_LO + JIT_SPAN * rng_unit(&syn->rng));
	double t_all = t_pods + t_sys;
	double cap_s = SYN_CPUS * dt;
	double u = cap_s > 0 ? t_all / cap_s : 0;
	if (u > 1)
		u = 1;

	/* SPEC §3 power model, then §5.3 active/idle split per zone. */
	double watts = SYN_CPUS * (syn->idle_w + u * (syn->max_w - syn->idle_w));
	double e_act[NZONES], e_idle[NZONES];
	for (int z = 0; z < NZONES; z++) {
		double e = watts * zone_share[z] * dt;
		e_act[z] = e * u;
		e_idle[z] = e - e_act[z];
		syn->node_energy_j[z][M_ACTIVE] += e_act[z];
		syn->node_energy_j[z][M_IDLE] += e_idle[z];
	}
	syn->node_co2_g += co2_g(syn, (e_act[Z_PACKAGE] + e_idle[Z_PACKAGE]) + (e_act[Z_DRAM] + e_idle[Z_DRAM]));

	/* §5.4-5.5: active energy by CPU share over every workload, idle energy per
	 * idle_attribution. The system bucket takes what the pods leave, so the shares add up
	 * to the node's energy exactly rather than to within n rounding errors. */
	double sum_act[NZONES] = { 0 }, sum_idle[NZONES] = { 0 };
	double inv_t = t_all > 0 ? 1.0 / t_all : 0;
	double even = syn->npods ? 1.0 / syn->npods : 0;
	double emb = syn->embodied_gph * dt / 3600.0;
	double inv_tp = t_pods > 0 ? 1.0 / t_pods : 0;
	struct { double co2_g, e[NZONES][NMODES]; } d_ns[NNS];
	memset(d_ns, 0, sizeof d_ns);

	for (uint32_t i = 0; i < syn->npods; i++) {
		struct syn_pod *p = &syn->pods[i];
		double share = p->t_s * inv_t;
		double idle_share = syn->idle == JP_IDLE_USAGE ? share :
				    (syn->idle == JP_IDLE_EVEN || syn->idle == JP_IDLE_REQUESTS) ? even : 0;
		for (int z = 0; z < NZONES; z++) {
			double a = e_act[z] * share, d = e_idle[z] * idle_share;
			p->d_energy_j[z][M_ACTIVE] = a;
			p->d_energy_j[z][M_IDLE] = d;
			p->energy_j[z][M_ACTIVE] += a;
			p->energy_j[z][M_IDLE] += d;
			sum_act[z] += a;
			sum_idle[z] += d;
			d_ns[p->ns].e[z][M_ACTIVE] += a;
			d_ns[p->ns].e[z][M_IDLE] += d;
		}
		double g = co2_g(syn, p->d_energy_j[Z_PACKAGE][M_ACTIVE] + p->d_energy_j[Z_PACKAGE][M_IDLE] +
					      p->d_energy_j[Z_DRAM][M_ACTIVE] + p->d_energy_j[Z_DRAM][M_IDLE]);
		p->co2_g += g;
		d_ns[p->ns].co2_g += g;
		p->cpu_s += p->t_s;
		p->embodied_g += emb * p->t_s * inv_tp;

		/* Containers share out their pod the same way; the last one takes the rest. */
		if (syn->ncont && (syn->levels & JP_LEVEL_CONTAINER)) {
			double left[NZONES][NMODES];
			memcpy(left, p->d_energy_j, sizeof left);
			for (uint32_t k = 0; k < syn->ncont; k++) {
				struct syn_container *c = &p->c[k];
				c->cpu_s += p->t_s * c->weight;
				for (int z = 0; z < NZONES; z++)
					for (int m = 0; m < NMODES; m++) {
						double e = k + 1 == syn->ncont ? left[z][m] : p->d_energy_j[z][m] * c->weight;
						left[z][m] -= e;
						c->energy_j[z][m] += e;
					}
			}
		}
	}
	for (int z = 0; z < NZONES; z++) {
		double sa = e_act[z] - sum_act[z];
		syn->sys_energy_j[z][M_ACTIVE] += sa > 0 ? sa : 0;
		if (syn->idle == JP_IDLE_USAGE) {
			double si = e_idle[z] - sum_idle[z];
			syn->sys_energy_j[z][M_IDLE] += si > 0 ? si : 0;
		}
	}
	for (unsigned n = 0; n < NNS; n++) {
		syn->ns[n].co2_g += d_ns[n].co2_g;
		for (int z = 0; z < NZONES; z++)
			for (int m = 0; m < NMODES; m++)
				syn->ns[n].energy_j[z][m] += d_ns[n].e[z][m];
	}

	/* Publish. */
	struct jp_store *st = store;
	jp_store_set(st, syn->s_grid, syn->intensity);
	if (syn->levels & JP_LEVEL_NODE) {
		for (int z = 0; z < NZONES; z++) {
			jp_store_set(st, syn->s_node_energy[z][M_ACTIVE], syn->node_energy_j[z][M_ACTIVE]);
			jp_store_set(st, syn->s_node_energy[z][M_IDLE], syn->node_energy_j[z][M_IDLE]);
			jp_store_set(st, syn->s_node_power[z][M_ACTIVE], dt > 0 ? e_act[z] / dt : 0);
			jp_store_set(st, syn->s_node_power[z][M_IDLE], dt > 0 ? e_idle[z] / dt : 0);
		}
		jp_store_set(st, syn->s_node_cpu, u);
		jp_store_set(st, syn->s_node_co2, syn->node_co2_g);
	}
	if (syn->levels & JP_LEVEL_POD) {
		for (int z = 0; z < NZONES; z++)
			for (int m = 0; m < nmodes; m++)
				jp_store_set(st, syn->s_sys_energy[z][m], syn->sys_energy_j[z][m]);
		for (uint32_t i = 0; i < syn->npods; i++) {
			struct syn_pod *p = &syn->pods[i];
			for (int z = 0; z < NZONES; z++) {
				for (int m = 0; m < nmodes; m++)
					jp_store_set(st, p->s_energy[z][m], p->energy_j[z][m]);
				jp_store_set(st, p->s_power[z],
					     dt > 0 ? (p->d_energy_j[z][M_ACTIVE] + p->d_energy_j[z][M_IDLE]) / dt : 0);
			}
			jp_store_set(st, p->s_cpu, p->cpu_s);
			jp_store_set(st, p->s_co2, p->co2_g);
			if (p->s_embodied)
				jp_store_set(st, p->s_embodied, p->embodied_g);
		}
	}
	if (syn->levels & JP_LEVEL_CONTAINER) {
		for (size_t i = 0; i < (size_t)syn->npods * syn->ncont; i++) {
			struct syn_container *c = &syn->containers[i];
			jp_store_set(st, c->s_cpu, c->cpu_s);
			for (int z = 0; z < NZONES; z++)
				for (int m = 0; m < nmodes; m++)
					jp_store_set(st, c->s_energy[z][m], c->energy_j[z][m]);
		}
	}
	if (syn->levels & JP_LEVEL_NAMESPACE) {
		for (unsigned n = 0; n < NNS; n++) {
			struct syn_ns *ns = &syn->ns[n];
			if (!ns->npods)
				continue;
			for (int z = 0; z < NZONES; z++)
				for (int m = 0; m < nmodes; m++)
					jp_store_set(st, ns->s_energy[z][m], ns->energy_j[z][m]);
			jp_store_set(st, ns->s_co2, ns->co2_g);
		}
	}
	return 0;
}
