/* SPDX-License-Identifier: Apache-2.0 */
/* Prints the cost of the series store (set + commit per series) and of a synthetic collection at
 * 10,000 series, with the store's accounted memory and the process' resident set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collect/synthetic.h"
#include "pipeline.h"
#include "config.h"
#include "store/series.h"

/* The synthetic node goes through the real round (src/pipeline.c: the agent's grouping and
 * naming, then the accountant) at the static intensity the configs here set. */
#define G_PER_KWH 475

#define NSERIES 10000
#define ROUNDS 500

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* Stands in for the queue writer: touches every sample so the emit is not optimised away. */
static int emit_cb(int64_t ts_ms, const struct jp_round_sample *v, size_t n, void *arg)
{
	double *sink = arg;
	for (size_t i = 0; i < n; i++)
		*sink += v[i].value;
	return 0;
}

static void bench_store(void)
{
	long rss0 = rss_kib();
	struct jp_label common[] = { { "node", "worker-3.eu-west-1.compute.internal" }, { "cluster", "edge-7" } };
	struct jp_store *s = jp_store_create(common, 2, 2);
	struct jp_series **v = malloc(NSERIES * sizeof *v);
	static const char *ns[] = { "payments", "checkout", "kube-system", "monitoring", "ml-training" };
	static const char *zones[] = { "package", "core", "dram" };
	char pod[64], uid[64];
	double t0 = now_ns();
	for (int i = 0; i < NSERIES; i++) {
		int p = i / 6;
		snprintf(pod, sizeof pod, "checkout-api-7d9f8b6c5-%05d", p);
		snprintf(uid, sizeof uid, "0f0e8a4c-1b2d-4e5f-9a8b-%012d", p);
		struct jp_label l[] = { { "namespace", ns[p % 5] }, { "pod", pod }, { "pod_uid", uid },
					{ "zone", zones[i % 3] }, { "mode", (i / 3) % 2 ? "idle" : "active" } };
		v[i] = jp_store_get(s, "joulepush_pod_energy_joules_total", l, 5);
	}
	double t_get = (now_ns() - t0) / NSERIES;
	double sink = 0;
	/* Warm up, then measure. */
	for (int r = 0; r < 10; r++) {
		jp_store_begin(s, r);
		for (int i = 0; i < NSERIES; i++)
			jp_store_set(s, v[i], r + i);
		jp_store_commit(s, emit_cb, &sink);
	}
	double w0 = now_ns(), c0 = cpu_ns();
	for (int r = 0; r < ROUNDS; r++) {
		jp_store_begin(s, r);
		for (int i = 0; i < NSERIES; i++)
			jp_store_set(s, v[i], r + i);
		jp_store_commit(s, emit_cb, &sink);
	}
	double wall = (now_ns() - w0) / ((double)ROUNDS * NSERIES);
	double cpu = (cpu_ns() - c0) / ((double)ROUNDS * NSERIES);
	printf("store: %d series x %u labels: get %.0f ns/series (first resolve), set+commit %.1f ns/series wall, %.1f ns cpu\n",
	       NSERIES, (unsigned)v[0]->nlabels, t_get, wall, cpu);
	printf("store: memory %zu bytes (%.0f per series), RSS growth %ld KiB\n", jp_store_memory_bytes(s),
	       jp_store_memory_bytes(s) / (double)NSERIES, rss_kib() - rss0);
	if (sink == 42)
		puts("");
	free(v);
	jp_store_destroy(s);
}

static size_t count_for(const struct jp_config *cfg)
{
	struct jp_pipeline *syn = jp_pipeline_open(cfg);
	size_t n = jp_synthetic_series_count(jp_pipeline_collector(syn));
	jp_pipeline_destroy(syn);
	return n;
}

static void bench_synthetic(void)
{
	struct jp_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.collector_mode = JP_COLLECTOR_SYNTHETIC;
	cfg.synthetic_containers_per_pod = 2;
	cfg.synthetic_seed = 1;
	cfg.model_idle_watts_per_cpu = 0.74;
	cfg.model_max_watts_per_cpu = 3.5;
	cfg.pue = 1.0;
	cfg.carbon_grams_per_kwh = 475;
	cfg.metrics_levels = JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE;
	cfg.idle_attribution = JP_IDLE_NONE;
	/* Pick the pod count that gives about 10,000 series. */
	cfg.synthetic_pods = 100;
	size_t n100 = count_for(&cfg);
	cfg.synthetic_pods = 200;
	size_t per_pod = (count_for(&cfg) - n100) / 100;
	cfg.synthetic_pods = (uint32_t)(100 + (NSERIES - n100) / per_pod);
	while (count_for(&cfg) < NSERIES)
		cfg.synthetic_pods++;

	long rss0 = rss_kib();
	struct jp_label common[] = { { "node", "worker-3.eu-west-1.compute.internal" } };
	struct jp_store *s = jp_store_create(common, 1, 2);
	struct jp_pipeline *syn = jp_pipeline_open(&cfg);
	double sink = 0;
	jp_store_begin(s, 0);
	jp_pipeline_round(syn, s, 5000, G_PER_KWH);
	jp_store_commit(s, emit_cb, &sink);
	double c_col = 0, c_all = 0;
	for (int r = 1; r <= ROUNDS; r++) {
		double c0 = cpu_ns();
		jp_store_begin(s, r);
		jp_pipeline_round(syn, s, 5000, G_PER_KWH);
		double c1 = cpu_ns();
		jp_store_commit(s, emit_cb, &sink);
		c_col += c1 - c0;
		c_all += cpu_ns() - c0;
	}
	size_t n = jp_synthetic_series_count(jp_pipeline_collector(syn));
	printf("synthetic: %u pods, %zu series: collect %.1f us cpu (%.1f ns/series), collect+commit %.1f ns/series\n",
	       cfg.synthetic_pods, n, c_col / ROUNDS / 1e3, c_col / ROUNDS / n, c_all / ROUNDS / n);
	printf("synthetic: store memory %zu bytes, RSS growth %ld KiB, process RSS %ld KiB\n",
	       jp_store_memory_bytes(s), rss_kib() - rss0, rss_kib());
	jp_pipeline_destroy(syn);
	jp_store_destroy(s);
}

int main(int argc, char **argv)
{
	/* "synthetic" alone measures the resident set of a fresh process. */
	int only_syn = argc > 1 && strcmp(argv[1], "synthetic") == 0;
	if (!only_syn)
		bench_store();
	bench_synthetic();
	return 0;
}
