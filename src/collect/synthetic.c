/* SPDX-License-Identifier: Apache-2.0 */
/* collector.mode synthetic: a deterministic fake node whose pods burn CPU at their own rates, with
 * model-based energy attributed and conserved as in docs/model.md, for load tests and benchmarks. */
#include "collect/synthetic.h"

#include "attrib/account.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The fake node is a small VM: the power model of docs/reference/configuration.md with four CPUs. */
#define SYN_CPUS 4

/* Zones of a machine without psys. The model's total power is package + dram (docs/reference/metrics.md: the
 * total energy is package + dram where there is no psys); core lies inside package and is
 * reported for detail only, so it never enters a sum of zones. */
enum { NZONES = 3 };   /* package, core, dram */
static const double zone_share[NZONES] = { 0.8, 0.8 * 0.7, 0.2 };

enum { NMODES = 2 };   /* active, idle */

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
};

struct syn_pod {
	unsigned ns;
	char name[80];
	char uid[37];
	double rate_cores;
	double request_cores;      /* 0 for a best-effort pod */
	struct syn_container *c;
};

struct jp_synthetic {
	uint64_t rng;
	unsigned levels;
	enum jp_idle_attr idle;
	double idle_w, max_w, intensity, embodied_gph;
	uint32_t npods, ncont;
	struct syn_pod *pods;
	struct syn_container *containers;
	unsigned ns_pods[NNS];     /* pods per namespace */

	/* The round's input to the accounting, which does the attribution, the counters
	 * and the series exactly as for a real node (src/attrib/account.c). */
	struct jp_account *acct;
	struct jp_acct_pod *in_pods;
	struct jp_acct_container *in_conts;
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

/* The series one round sets; mirrors what jp_account_round emits (check_synthetic
 * compares it with the store). */
static size_t count_series(const struct jp_synthetic *syn)
{
	size_t modes = syn->idle == JP_IDLE_NONE ? 1 : 2;
	size_t n = 0;
	if (syn->levels & JP_LEVEL_NODE)
		n += NZONES * NMODES * 3 + 2;   /* node energy, power, system energy; usage, CO2 */
	if (syn->levels & JP_LEVEL_POD)
		n += syn->npods * (NZONES * modes + NZONES + 2 + (syn->embodied_gph > 0));
	if (syn->levels & JP_LEVEL_CONTAINER)
		n += (size_t)syn->npods * syn->ncont * (NZONES * modes + 1);
	if (syn->levels & JP_LEVEL_NAMESPACE)
		for (size_t i = 0; i < NNS; i++)
			if (syn->ns_pods[i])
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
		syn->ns_pods[p->ns]++;
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
		/* CPU requests as people set them: round figures near the usual use; one pod
		 * in five is best-effort and requests nothing. */
		static const double req_steps[] = {0.05, 0.1, 0.25, 0.5, 1, 2};
		if (rng_unit(r) >= 0.2) {
			p->request_cores = req_steps[5];
			for (size_t k = 0; k < sizeof req_steps / sizeof req_steps[0]; k++) {
				if (req_steps[k] >= p->rate_cores) {
					p->request_cores = req_steps[k];
					break;
				}
			}
		}

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

	syn->acct = jp_account_create(cfg);
	syn->in_pods = calloc(syn->npods ? syn->npods : 1, sizeof *syn->in_pods);
	syn->in_conts = calloc(syn->npods && syn->ncont ? (size_t)syn->npods * syn->ncont : 1,
			       sizeof *syn->in_conts);
	if (!syn->acct || !syn->in_pods || !syn->in_conts)
		goto nomem;
	for (uint32_t i = 0; i < syn->npods; i++) {
		struct syn_pod *p = &syn->pods[i];
		syn->in_pods[i] = (struct jp_acct_pod){
			.uid = p->uid, .ns = namespaces[p->ns].name, .name = p->name,
			.cpu_request = p->request_cores,
			.containers = syn->ncont ? &syn->in_conts[(size_t)i * syn->ncont] : NULL,
			.ncontainers = syn->ncont,
		};
		for (uint32_t k = 0; k < syn->ncont; k++)
			syn->in_conts[(size_t)i * syn->ncont + k] =
				(struct jp_acct_container){.name = p->c[k].name, .id = p->c[k].id};
	}
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
	jp_account_destroy(syn->acct);
	free(syn->in_pods);
	free(syn->in_conts);
	free(syn->containers);
	free(syn->pods);
	free(syn);
}

void jp_synthetic_set_intensity(struct jp_synthetic *syn, double g_per_kwh)
{
	syn->intensity = g_per_kwh;
}

size_t jp_synthetic_series_count(const struct jp_synthetic *syn)
{
	return syn->nseries;
}

int jp_synthetic_collect(struct jp_synthetic *syn, struct jp_store *store, uint64_t elapsed_ms)
{
	double dt = (double)elapsed_ms / 1000.0;

	/* CPU time of every workload over the interval. */
	double t_all = 0;
	for (uint32_t i = 0; i < syn->npods; i++) {
		struct syn_pod *p = &syn->pods[i];
		double t = p->rate_cores * dt * (JIT_LO + JIT_SPAN * rng_unit(&syn->rng));
		struct jp_acct_pod *ip = &syn->in_pods[i];
		ip->cpu_ns = (uint64_t)(t * 1e9);
		for (uint32_t k = 0; k < syn->ncont; k++)
			syn->in_conts[(size_t)i * syn->ncont + k].cpu_ns = (uint64_t)(t * p->c[k].weight * 1e9);
		t_all += t;
	}
	double t_sys = SYS_RATE_CORES * dt * (JIT_LO + JIT_SPAN * rng_unit(&syn->rng));
	t_all += t_sys;
	double cap_s = SYN_CPUS * dt;
	double u = cap_s > 0 ? t_all / cap_s : 0;
	if (u > 1)
		u = 1;

	/* docs/reference/configuration.md power model; the zones are fixed shares of it. */
	double watts = jp_power_model_watts(SYN_CPUS, u, syn->idle_w, syn->max_w);
	static const enum jp_zone zone_of[NZONES] = {JP_ZONE_PACKAGE, JP_ZONE_CORE, JP_ZONE_DRAM};
	struct jp_acct_input in = {
		.interval_s = dt, .power_source = "model", .usage_ratio = u,
		.system_cpu_ns = (uint64_t)(t_sys * 1e9), .pods = syn->in_pods, .npods = syn->npods,
		.intensity_g_per_kwh = syn->intensity,
	};
	for (int z = 0; z < NZONES; z++) {
		in.zone_mask |= 1u << zone_of[z];
		in.energy_j[zone_of[z]] = watts * zone_share[z] * dt;
	}
	return jp_account_round(syn->acct, store, &in);
}
