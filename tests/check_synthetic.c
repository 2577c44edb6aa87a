/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the synthetic collector: determinism, monotonic counters, docs/model.md energy
 * conservation and the number of series it sets. */
#include <check.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/synthetic.h"
#include "pipeline.h"
#include "store/series.h"

/* The synthetic node goes through the real round (src/pipeline.c: the agent's grouping and
 * naming, then the accountant) at the static intensity the configs here set. */
#define G_PER_KWH 475

static void mkcfg(struct jp_config *cfg, uint32_t pods, uint32_t cpp, uint64_t seed, unsigned levels,
		  enum jp_idle_attr idle)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->interval_ms = 5000;
	cfg->collector_mode = JP_COLLECTOR_SYNTHETIC;
	cfg->synthetic_pods = pods;
	cfg->synthetic_containers_per_pod = cpp;
	cfg->synthetic_seed = seed;
	cfg->model_idle_watts_per_cpu = 0.74;
	cfg->model_max_watts_per_cpu = 3.5;
	cfg->idle_attribution = idle;
	cfg->pue = 1.2;
	cfg->carbon_grams_per_kwh = 475;
	cfg->metrics_levels = levels;
}

static struct jp_store *mkstore(void)
{
	struct jp_label common[] = { { "node", "n1" } };
	struct jp_store *s = jp_store_create(common, 1, 2);
	ck_assert_ptr_nonnull(s);
	return s;
}

static const char *label(const struct jp_series *sr, const char *name)
{
	for (size_t i = 0; i < sr->nlabels; i++)
		if (strcmp(sr->labels[i].name, name) == 0)
			return sr->labels[i].value;
	return NULL;
}

/* A text digest of everything a commit emitted, to compare two runs. */
struct digest {
	char *text;
	size_t len, cap;
	size_t n;
};

static int digest_cb(int64_t ts_ms, const struct jp_round_sample *v, size_t n, void *arg)
{
	struct digest *d = arg;
	d->n = n;
	for (size_t i = 0; i < n; i++) {
		char line[1024];
		int k = snprintf(line, sizeof line, "%lld %s", (long long)ts_ms, v[i].series->name);
		for (size_t j = 0; j < v[i].series->nlabels; j++)
			k += snprintf(line + k, sizeof line - (size_t)k, " %s=%s", v[i].series->labels[j].name,
				      v[i].series->labels[j].value);
		k += snprintf(line + k, sizeof line - (size_t)k, " %a\n", v[i].value);
		if (d->len + (size_t)k + 1 > d->cap) {
			d->cap = (d->cap + (size_t)k + 1) * 2;
			d->text = realloc(d->text, d->cap);
			ck_assert_ptr_nonnull(d->text);
		}
		memcpy(d->text + d->len, line, (size_t)k + 1);
		d->len += (size_t)k;
	}
	return 0;
}

static struct digest run(uint64_t seed, int rounds)
{
	struct jp_config cfg;
	mkcfg(&cfg, 20, 2, seed, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE | JP_LEVEL_CONTAINER,
	      JP_IDLE_USAGE);
	struct jp_pipeline *syn = jp_pipeline_open(&cfg);
	ck_assert_ptr_nonnull(syn);
	struct jp_store *s = mkstore();
	struct digest d = { 0 };
	for (int r = 0; r < rounds; r++) {
		jp_store_begin(s, 1000 + r * 5000);
		ck_assert_int_eq(jp_pipeline_round(syn, s, 5000, G_PER_KWH), 0);
		jp_store_commit(s, digest_cb, &d);
	}
	jp_store_destroy(s);
	jp_pipeline_destroy(syn);
	return d;
}

START_TEST(test_determinism)
{
	struct digest a = run(42, 3), b = run(42, 3), c = run(43, 3);
	ck_assert_uint_gt(a.len, 0);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert(memcmp(a.text, b.text, a.len) == 0);
	ck_assert(a.len != c.len || memcmp(a.text, c.text, a.len) != 0);
	free(a.text);
	free(b.text);
	free(c.text);
}
END_TEST

static int is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return s[n] == '\0';
}

static int check_names_cb(const struct jp_series *sr, void *arg)
{
	const char *uid = label(sr, "pod_uid");
	if (uid) {
		ck_assert_uint_eq(strlen(uid), 36);
		ck_assert(uid[8] == '-' && uid[13] == '-' && uid[18] == '-' && uid[23] == '-');
		ck_assert(uid[14] == '4');
		ck_assert(strchr("89ab", uid[19]) != NULL);
		const char *pod = label(sr, "pod");
		ck_assert_ptr_nonnull(pod);
		const char *dash = strrchr(pod, '-');
		ck_assert_ptr_nonnull(dash);
		ck_assert_uint_eq(strlen(dash + 1), 5);
		ck_assert_ptr_nonnull(label(sr, "namespace"));
	}
	const char *cid = label(sr, "container_id");
	if (cid) {
		ck_assert(is_hex(cid, 64));
		ck_assert_ptr_nonnull(label(sr, "container"));
	}
	(*(int *)arg)++;
	return 0;
}

START_TEST(test_names)
{
	struct jp_config cfg;
	mkcfg(&cfg, 30, 3, 7, JP_LEVEL_POD | JP_LEVEL_CONTAINER, JP_IDLE_NONE);
	struct jp_pipeline *syn = jp_pipeline_open(&cfg);
	struct jp_store *s = mkstore();
	jp_store_begin(s, 1);
	jp_pipeline_round(syn, s, 5000, G_PER_KWH);
	jp_store_commit(s, NULL, NULL);
	int n = 0;
	jp_store_foreach(s, check_names_cb, &n);
	ck_assert_int_gt(n, 30);
	jp_store_destroy(s);
	jp_pipeline_destroy(syn);
}
END_TEST

/* Counters never go down: remembers the last value per series id. */
struct mono {
	double *last;
	size_t cap;
	int counters;
};

static int mono_cb(int64_t ts_ms, const struct jp_round_sample *v, size_t n, void *arg)
{
	struct mono *m = arg;
	for (size_t i = 0; i < n; i++) {
		const struct jp_series *sr = v[i].series;
		size_t len = strlen(sr->name);
		if (len < 6 || strcmp(sr->name + len - 6, "_total") != 0)
			continue;
		ck_assert(!jp_is_stale_nan(v[i].value));
		ck_assert(isfinite(v[i].value));
		ck_assert_uint_lt(sr->id, m->cap);
		ck_assert_msg(v[i].value >= m->last[sr->id], "%s id %u went down", sr->name, sr->id);
		m->last[sr->id] = v[i].value;
		m->counters++;
	}
	return 0;
}

START_TEST(test_monotonic)
{
	struct jp_config cfg;
	mkcfg(&cfg, 50, 2, 3, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE | JP_LEVEL_CONTAINER,
	      JP_IDLE_EVEN);
	cfg.embodied_grams_per_node_hour = 10;
	struct jp_pipeline *syn = jp_pipeline_open(&cfg);
	struct jp_store *s = mkstore();
	struct mono m = { .cap = 100000 };
	m.last = calloc(m.cap, sizeof *m.last);
	for (int r = 0; r < 20; r++) {
		jp_store_begin(s, r * 5000);
		/* Irregular intervals, including an empty one. */
		ck_assert_int_eq(jp_pipeline_round(syn, s, r == 5 ? 0 : 1000 + 700 * (uint64_t)r, G_PER_KWH), 0);
		jp_store_commit(s, mono_cb, &m);
	}
	ck_assert_int_gt(m.counters, 1000);
	free(m.last);
	jp_store_destroy(s);
	jp_pipeline_destroy(syn);
}
END_TEST

/* Sums of the energy counters per zone, from the store's latest values. */
struct sums {
	double node[3][2], pod[3], sys[3], ns[3], cont[3];
	double node_co2, pod_co2, ns_co2;
};

static int zone_idx(const char *z)
{
	return strcmp(z, "package") == 0 ? 0 : strcmp(z, "core") == 0 ? 1 : strcmp(z, "dram") == 0 ? 2 : -1;
}

static int sums_cb(const struct jp_series *sr, void *arg)
{
	struct sums *su = arg;
	double v = jp_series_latest(sr)->value;
	const char *zone = label(sr, "zone"), *mode = label(sr, "mode");
	int z = zone ? zone_idx(zone) : -1;
	if (zone)
		ck_assert_int_ge(z, 0);
	if (strcmp(sr->name, "joulepush_node_energy_joules_total") == 0) {
		ck_assert_str_eq(label(sr, "source"), "model");
		su->node[z][strcmp(mode, "idle") == 0] += v;
	} else if (strcmp(sr->name, "joulepush_pod_energy_joules_total") == 0) {
		su->pod[z] += v;
	} else if (strcmp(sr->name, "joulepush_system_energy_joules_total") == 0) {
		su->sys[z] += v;
	} else if (strcmp(sr->name, "joulepush_namespace_energy_joules_total") == 0) {
		su->ns[z] += v;
	} else if (strcmp(sr->name, "joulepush_container_energy_joules_total") == 0) {
		su->cont[z] += v;
	} else if (strcmp(sr->name, "joulepush_node_co2_grams_total") == 0) {
		su->node_co2 += v;
	} else if (strcmp(sr->name, "joulepush_pod_co2_grams_total") == 0) {
		su->pod_co2 += v;
	} else if (strcmp(sr->name, "joulepush_namespace_co2_grams_total") == 0) {
		su->ns_co2 += v;
	}
	return 0;
}

static void near(double got, double want, const char *what)
{
	ck_assert_msg(fabs(got - want) <= 1e-9 * fabs(want), "%s: got %.17g want %.17g", what, got, want);
}

static void check_conservation(enum jp_idle_attr idle)
{
	struct jp_config cfg;
	mkcfg(&cfg, 200, 3, 11, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE | JP_LEVEL_CONTAINER, idle);
	struct jp_pipeline *syn = jp_pipeline_open(&cfg);
	struct jp_store *s = mkstore();
	for (int r = 0; r < 10; r++) {
		jp_store_begin(s, r * 5000);
		jp_pipeline_round(syn, s, 5000, G_PER_KWH);
		jp_store_commit(s, NULL, NULL);
	}
	struct sums su;
	memset(&su, 0, sizeof su);
	jp_store_foreach(s, sums_cb, &su);
	for (int z = 0; z < 3; z++) {
		double node = su.node[z][0] + su.node[z][1];
		ck_assert(node > 0);
		/* Idle energy that nobody carries stays on the node only (docs/model.md.5). */
		double unattributed = idle == JP_IDLE_NONE ? su.node[z][1] : 0;
		near(su.pod[z] + su.sys[z] + unattributed, node, "pods + system + unattributed = node");
		near(su.ns[z], su.pod[z], "namespaces = pods");
		near(su.cont[z], su.pod[z], "containers = pods");
		ck_assert(su.sys[z] > 0);
	}
	/* core lies inside package. */
	ck_assert(su.node[1][0] < su.node[0][0]);
	near(su.ns_co2, su.pod_co2, "namespace CO2 = pod CO2");
	/* The node's CO2 is of package + dram at 475 g/kWh and PUE 1.2. */
	double total = su.node[0][0] + su.node[0][1] + su.node[2][0] + su.node[2][1];
	near(su.node_co2, total / 3.6e6 * 475 * 1.2, "node CO2");
	if (idle != JP_IDLE_NONE)
		ck_assert(su.pod_co2 > 0.5 * su.node_co2);
	else
		ck_assert(su.pod_co2 < su.node_co2);
	jp_store_destroy(s);
	jp_pipeline_destroy(syn);
}

START_TEST(test_conservation_none)
{
	check_conservation(JP_IDLE_NONE);
}
END_TEST

START_TEST(test_conservation_even)
{
	check_conservation(JP_IDLE_EVEN);
}
END_TEST

START_TEST(test_conservation_usage)
{
	check_conservation(JP_IDLE_USAGE);
}
END_TEST

START_TEST(test_conservation_requests)
{
	check_conservation(JP_IDLE_REQUESTS);
}
END_TEST

static int count_cb(int64_t ts_ms, const struct jp_round_sample *v, size_t n, void *arg)
{
	*(size_t *)arg = n;
	return 0;
}

START_TEST(test_series_count)
{
	static const unsigned levels[] = {
		JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE,
		JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE | JP_LEVEL_CONTAINER,
		JP_LEVEL_NODE,
		JP_LEVEL_CONTAINER,
		0,
	};
	static const enum jp_idle_attr idles[] = { JP_IDLE_NONE, JP_IDLE_EVEN, JP_IDLE_USAGE };
	for (size_t li = 0; li < sizeof levels / sizeof levels[0]; li++) {
		for (size_t ii = 0; ii < 3; ii++) {
			for (int emb = 0; emb < 2; emb++) {
				struct jp_config cfg;
				mkcfg(&cfg, 37, 2, 5, levels[li], idles[ii]);
				cfg.embodied_grams_per_node_hour = emb ? 20 : 0;
				struct jp_pipeline *syn = jp_pipeline_open(&cfg);
				ck_assert_ptr_nonnull(syn);
				struct jp_store *s = mkstore();
				for (int r = 0; r < 3; r++) {
					size_t n = 0;
					jp_store_begin(s, r);
					jp_pipeline_round(syn, s, 5000, G_PER_KWH);
					jp_store_commit(s, count_cb, &n);
					/* No stale markers: the same series every round. */
					ck_assert_uint_eq(n, jp_synthetic_series_count(jp_pipeline_collector(syn)));
					ck_assert_uint_eq(jp_store_live_series(s), n);
				}
				jp_store_destroy(s);
				jp_pipeline_destroy(syn);
			}
		}
	}
}
END_TEST

/* Synthetic GPUs: the series count stays exact and the gpu zone adds up. */
START_TEST(test_synthetic_gpus)
{
	struct jp_config cfg;
	mkcfg(&cfg, 9, 2, 3, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE | JP_LEVEL_CONTAINER, JP_IDLE_USAGE);
	cfg.synthetic_gpus = 2;
	struct jp_pipeline *syn = jp_pipeline_open(&cfg);
	ck_assert_ptr_nonnull(syn);
	struct jp_store *s = mkstore();
	for (int r = 0; r < 3; r++) {
		size_t n = 0;
		jp_store_begin(s, r);
		ck_assert_int_eq(jp_pipeline_round(syn, s, 5000, G_PER_KWH), 0);
		jp_store_commit(s, count_cb, &n);
		ck_assert_uint_eq(n, jp_synthetic_series_count(jp_pipeline_collector(syn)));
		const struct jp_interval *iv = jp_pipeline_interval(syn);
		ck_assert_uint_eq(iv->ngpus, 2);
		double rows = 0;
		for (size_t i = 0; i < iv->nrows; i++)
			rows += iv->rows[i].gpu_j;
		ck_assert_double_eq_tol(rows + iv->system_gpu_j, iv->energy_j[JP_ZONE_GPU] * iv->gpu_usage_ratio, 1e-6);
	}
	jp_store_destroy(s);
	jp_pipeline_destroy(syn);
}
END_TEST

START_TEST(test_reresolve_on_common_change)
{
	struct jp_config cfg;
	mkcfg(&cfg, 5, 1, 1, JP_LEVEL_NODE | JP_LEVEL_POD, JP_IDLE_NONE);
	struct jp_pipeline *syn = jp_pipeline_open(&cfg);
	struct jp_store *s = mkstore();
	size_t n = 0;
	jp_store_begin(s, 0);
	jp_pipeline_round(syn, s, 5000, G_PER_KWH);
	jp_store_commit(s, count_cb, &n);
	size_t want = jp_synthetic_series_count(jp_pipeline_collector(syn));
	ck_assert_uint_eq(n, want);
	struct jp_label c2[] = { { "node", "n2" } };
	jp_store_set_common(s, c2, 1);
	jp_store_begin(s, 1);
	jp_pipeline_round(syn, s, 5000, G_PER_KWH);
	jp_store_commit(s, count_cb, &n);
	/* The new label sets, then one stale marker for each old one. */
	ck_assert_uint_eq(n, 2 * want);
	ck_assert_uint_eq(jp_store_live_series(s), want);
	jp_store_destroy(s);
	jp_pipeline_destroy(syn);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("synthetic");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_determinism);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_monotonic);
	tcase_add_test(tc, test_conservation_none);
	tcase_add_test(tc, test_conservation_even);
	tcase_add_test(tc, test_conservation_usage);
	tcase_add_test(tc, test_conservation_requests);
	tcase_add_test(tc, test_series_count);
	tcase_add_test(tc, test_reresolve_on_common_change);
	tcase_add_test(tc, test_synthetic_gpus);
	suite_add_tcase(su, tc);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
