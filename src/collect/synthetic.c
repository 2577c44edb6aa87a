/* SPDX-License-Identifier: Apache-2.0 */
/* collector.mode synthetic: a deterministic fake node whose pods burn CPU at their own rates,
 * with model-based energy, for load tests and benchmarks. It fills the same interval as a
 * real node (collect/collector.h), one row per container and one for each pod's own
 * cgroup, and names its pods through the same lookup the kubelet answers on a real node:
 * the grouping, naming and accounting it goes through are the real ones. */
#include "collect/synthetic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hash.h"


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
	struct jp_collector base;  /* first */
	uint64_t rng;
	unsigned levels;
	enum jp_idle_attr idle;
	double embodied_gph;
	struct jp_power_model model;
	uint32_t npods, ncont;
	uint32_t ngpus;
	uint64_t grng;             /* the GPUs' own stream: CPU figures do not depend on them */
	struct jp_gpu_device *gpus;
	struct syn_pod *pods;
	struct syn_container *containers;
	unsigned ns_pods[NNS];     /* pods per namespace */
	uint32_t *by_uid;          /* the lookup's index by UID: pod index + 1, 0 empty */
	size_t uid_mask;           /* its size - 1 (a power of two, at least twice the pods) */
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
	size_t nz = NZONES + (syn->ngpus ? 1 : 0);   /* with GPUs, every workload has zone gpu */
	size_t n = 3 * (size_t)syn->ngpus;          /* per device: energy, errors, utilisation */
	if (syn->levels & JP_LEVEL_NODE)
		/* node energy, power, system energy; usage, CO2; the model's band (package, dram) */
		n += nz * NMODES * 3 + 2 + 4;
	if (syn->levels & JP_LEVEL_POD)
		n += syn->npods * (nz * modes + nz + 2 + (syn->embodied_gph > 0));
	if (syn->levels & JP_LEVEL_CONTAINER)
		n += (size_t)syn->npods * syn->ncont * (nz * modes + 1);
	if (syn->levels & JP_LEVEL_NAMESPACE)
		for (size_t i = 0; i < NNS; i++)
			if (syn->ns_pods[i])
				n += nz * modes + 1;
	return n;
}

/* Where uid is, or would go, in the index (linear probing), as the kubelet's pod table
 * finds its pods: a hash, not a search by comparison. */
static size_t uid_slot(const struct jp_synthetic *syn, const char *uid)
{
	size_t i = (size_t)jp_hash_ident(uid, 0) & syn->uid_mask;
	while (syn->by_uid[i] && strcmp(syn->pods[syn->by_uid[i] - 1].uid, uid) != 0)
		i = (i + 1) & syn->uid_mask;
	return i;
}

static const char *container_name(const void *ctx, const char *id)
{
	const struct syn_pod *p = ctx;
	for (uint32_t k = 0; p->c && p->c[k].name[0]; k++)
		if (strcmp(p->c[k].id, id) == 0)
			return p->c[k].name;
	return NULL;
}

/* The fake kubelet: names, namespaces, requests and container names of the fake pods. */
static int syn_lookup(const char *uid, struct jp_pod_meta *out, void *arg)
{
	struct jp_synthetic *syn = arg;
	uint32_t ix = syn->by_uid[uid_slot(syn, uid)];
	if (!ix)
		return -ENOENT;
	const struct syn_pod *hit = &syn->pods[ix - 1];
	*out = (struct jp_pod_meta){
		.ns = namespaces[hit->ns].name, .name = hit->name,
		.cpu_request = hit->request_cores, .container_name = container_name, .ctx = hit,
	};
	return 0;
}

static void syn_close(struct jp_collector *c);

/* Pod i of the fake node, drawn from the seeded generator (the draws' order is what makes
 * a seed give the same node every time): name, UID, CPU rate and request, containers.
 * Returns its CPU rate in cores. */
static double make_pod(struct jp_synthetic *syn, uint32_t i)
{
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

	p->c = syn->ncont ? &syn->containers[(size_t)i * (syn->ncont + 1)] : NULL;
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
	return p->rate_cores;
}

static struct jp_collector *syn_open(const struct jp_config *cfg)
{
	if (!cfg || cfg->synthetic_pods > 1000000 || cfg->synthetic_containers_per_pod > 64 ||
	    !(cfg->pue > 0) || cfg->carbon_grams_per_kwh < 0) {
		errno = EINVAL;
		return NULL;
	}
	struct jp_synthetic *syn = calloc(1, sizeof *syn);
	if (!syn)
		goto nomem;
	syn->base = (struct jp_collector){
		.ops = &jp_synthetic_ops, .name = "synthetic", .power_source = "model",
		.lookup = syn_lookup, .lookup_arg = syn,
	};
	syn->rng = cfg->synthetic_seed;
	syn->levels = cfg->metrics_levels;
	syn->idle = cfg->idle_attribution;
	syn->ngpus = cfg->synthetic_gpus;
	syn->grng = cfg->synthetic_seed ^ 0x6770750000000000ULL;
	char why[160];
	if (jp_power_model_init(&syn->model, cfg, why, sizeof(why))) {
		free(syn);
		errno = EINVAL;
		return NULL;
	}
	syn->embodied_gph = cfg->embodied_grams_per_node_hour;
	syn->npods = cfg->synthetic_pods;
	syn->ncont = cfg->synthetic_containers_per_pod;
	if (syn->npods) {
		syn->pods = calloc(syn->npods, sizeof *syn->pods);
		if (!syn->pods)
			goto nomem;
		if (syn->ncont) {
			/* One spare entry per pod: an empty name ends a pod's containers. */
		syn->containers = calloc((size_t)syn->npods * (syn->ncont + 1), sizeof *syn->containers);
			if (!syn->containers)
				goto nomem;
		}
	}

	double sum_rate = 0;
	for (uint32_t i = 0; i < syn->npods; i++)
		sum_rate += make_pod(syn, i);
	/* Keep the node below 90% busy even at the top of the jitter, so that u <= 1. */
	double room = 0.9 * SYN_CPUS - SYS_RATE_CORES * (JIT_LO + JIT_SPAN);
	if (sum_rate * (JIT_LO + JIT_SPAN) > room)
		for (uint32_t i = 0; i < syn->npods; i++)
			syn->pods[i].rate_cores *= room / (sum_rate * (JIT_LO + JIT_SPAN));

	size_t cap = 2;
	while (cap < 2 * (size_t)syn->npods)
		cap *= 2;
	syn->uid_mask = cap - 1;
	syn->by_uid = calloc(cap, sizeof *syn->by_uid);
	if (!syn->by_uid)
		goto nomem;
	for (uint32_t i = 0; i < syn->npods; i++) {
		size_t slot = uid_slot(syn, syn->pods[i].uid);
		if (!syn->by_uid[slot])   /* the seeded UIDs are unique; a repeat keeps the first */
			syn->by_uid[slot] = i + 1;
	}
	if (syn->ngpus) {
		syn->gpus = calloc(syn->ngpus, sizeof *syn->gpus);
		if (!syn->gpus)
			goto nomem;
		for (uint32_t d = 0; d < syn->ngpus; d++) {
			syn->gpus[d].index = d;
			snprintf(syn->gpus[d].uuid, sizeof syn->gpus[d].uuid, "GPU-5e11d000-0000-4000-8000-%012x", d);
			snprintf(syn->gpus[d].model, sizeof syn->gpus[d].model, "Synthetic GPU");
		}
	}
	syn->nseries = count_series(syn);
	return &syn->base;
nomem:
	syn_close(syn ? &syn->base : NULL);
	errno = ENOMEM;
	return NULL;
}

static void syn_close(struct jp_collector *c)
{
	struct jp_synthetic *syn = (struct jp_synthetic *)c;
	if (!syn)
		return;
	free(syn->by_uid);
	free(syn->gpus);
	free(syn->containers);
	free(syn->pods);
	free(syn);
}

size_t jp_synthetic_series_count(const struct jp_collector *c)
{
	return c->ops == &jp_synthetic_ops ? ((const struct jp_synthetic *)c)->nseries : 0;
}

/* Synthetic GPUs: each draws 60 W idle to 300 W busy at a random utilisation; every
 * other pod uses one (pod i the device i / 2 mod N) at a random SM share, the system
 * bucket 5 % of each device's active energy. */
static int syn_gpus(struct jp_synthetic *syn, double dt, struct jp_interval *iv)
{
	double e_sum = 0, a_sum = 0;
	for (uint32_t d = 0; d < syn->ngpus; d++) {
		struct jp_gpu_device *g = &syn->gpus[d];
		g->util = rng_range(&syn->grng, 0.3, 0.95);
		g->energy_j = (60 + 240 * g->util) * dt;
		g->ok = 1;
		double active = g->energy_j * g->util, wsum = 0;
		e_sum += g->energy_j;
		a_sum += active;
		double w[64];
		uint32_t users[64], nu = 0;
		for (uint32_t i = 0; i < syn->npods && nu < 64; i += 2) {
			if ((i / 2) % syn->ngpus != d)
				continue;
			users[nu] = i;
			w[nu] = rng_range(&syn->grng, 0.2, 1.0);
			wsum += w[nu++];
		}
		iv->system_gpu_j += active * (nu ? 0.05 : 1.0);
		for (uint32_t k = 0; k < nu; k++) {
			const struct syn_pod *p = &syn->pods[users[k]];
			if (jp_interval_add_gpu_row(iv, p->uid, syn->ncont ? p->c[0].id : "", active * 0.95 * w[k] / wsum))
				return -ENOMEM;
		}
	}
	iv->zone_mask |= 1u << JP_ZONE_GPU;
	iv->energy_j[JP_ZONE_GPU] = e_sum;
	iv->gpu_usage_ratio = e_sum > 0 ? a_sum / e_sum : 0;
	iv->gpus = syn->gpus;
	iv->ngpus = syn->ngpus;
	return 0;
}

/* The fake node has no clock of its own: the interval is the agent's nominal one, so a
 * fixed seed gives the same values every time. */
static int syn_collect(struct jp_collector *c, struct jp_interval *iv)
{
	struct jp_synthetic *syn = (struct jp_synthetic *)c;
	double dt = (double)iv->nominal_ms / 1000.0;

	/* CPU time of every workload over the interval. */
	double t_all = 0;
	for (uint32_t i = 0; i < syn->npods; i++) {
		struct syn_pod *p = &syn->pods[i];
		double t = p->rate_cores * dt * (JIT_LO + JIT_SPAN * rng_unit(&syn->rng));
		uint64_t pod_ns = (uint64_t)(t * 1e9), sum = 0;
		for (uint32_t k = 0; k < syn->ncont; k++) {
			uint64_t ns = (uint64_t)(t * p->c[k].weight * 1e9);
			if (jp_interval_add_row(iv, p->uid, p->c[k].id, ns))
				return -ENOMEM;
			sum += ns;
		}
		/* The pod's own cgroup gets what its containers' rounding left over. */
		if ((pod_ns > sum || !syn->ncont) && jp_interval_add_row(iv, p->uid, "", pod_ns > sum ? pod_ns - sum : 0))
			return -ENOMEM;
		t_all += t;
	}
	double t_sys = SYS_RATE_CORES * dt * (JIT_LO + JIT_SPAN * rng_unit(&syn->rng));
	t_all += t_sys;
	double cap_s = SYN_CPUS * dt;
	double u = cap_s > 0 ? t_all / cap_s : 0;
	if (u > 1)
		u = 1;

	/* docs/model.md power model (the shape power.model.shape names, the band spanning
	 * both); the zones are fixed shares of it. */
	double low, high;
	double watts = jp_power_model_estimate(&syn->model, SYN_CPUS, u, &low, &high);
	static const enum jp_zone zone_of[NZONES] = {JP_ZONE_PACKAGE, JP_ZONE_CORE, JP_ZONE_DRAM};
	iv->seconds = dt;
	iv->power_source = "model";
	iv->usage_ratio = u;
	iv->system_cpu_ns = (uint64_t)(t_sys * 1e9);
	for (int z = 0; z < NZONES; z++) {
		iv->zone_mask |= 1u << zone_of[z];
		iv->energy_j[zone_of[z]] = watts * zone_share[z] * dt;
		if (zone_of[z] == JP_ZONE_CORE)
			continue;   /* inside package: no band of its own */
		iv->bound_low_w[zone_of[z]] = low * zone_share[z];
		iv->bound_high_w[zone_of[z]] = high * zone_share[z];
		iv->bound_mask |= 1u << zone_of[z];
	}
	return syn->ngpus ? syn_gpus(syn, dt, iv) : 0;
}

const struct jp_collector_ops jp_synthetic_ops = {
	.kind = "synthetic", .open = syn_open, .collect = syn_collect, .close = syn_close,
};
