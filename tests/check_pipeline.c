/* SPDX-License-Identifier: Apache-2.0 */
/* The round without a daemon: a fake collector hands hand-made intervals to the real
 * grouping, naming and accounting (src/pipeline.c), at an intensity the test chooses.
 * Conservation, naming with and without metadata, nested rows, pod churn with stale
 * markers, a collector swap that keeps the counters, live reconfiguration. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/collector.h"
#include "config.h"
#include "pipeline.h"
#include "store/series.h"
#include "store_util.h"

#define UID_A "aaaaaaaa-0000-4000-8000-000000000001"
#define UID_B "bbbbbbbb-0000-4000-8000-000000000002"
#define UID_C "cccccccc-0000-4000-8000-000000000003"
#define CID(c) c c c c c c c c c c c c c c c c   /* 16 × 4 hex = 64 */

/* ---- the fake collector: returns the interval the test set, or an error ---- */
struct fake {
	struct jp_collector base;
	struct jp_cgroup_row rows[16];
	size_t nrows;
	double seconds, energy_pkg, energy_dram, usage;
	uint64_t system_ns;
	int err;
	unsigned collects;
	int *closed;
};

static int fake_collect(struct jp_collector *c, struct jp_interval *iv)
{
	struct fake *f = (struct fake *)c;
	f->collects++;
	if (f->err)
		return f->err;
	iv->seconds = f->seconds;
	iv->power_source = "rapl";
	iv->usage_ratio = f->usage;
	iv->system_cpu_ns = f->system_ns;
	iv->zone_mask = (1u << JP_ZONE_PACKAGE) | (1u << JP_ZONE_DRAM);
	iv->energy_j[JP_ZONE_PACKAGE] = f->energy_pkg;
	iv->energy_j[JP_ZONE_DRAM] = f->energy_dram;
	for (size_t i = 0; i < f->nrows; i++)
		if (jp_interval_add_row(iv, f->rows[i].pod_uid, f->rows[i].container_id, f->rows[i].cpu_ns))
			return -ENOMEM;
	return 0;
}

static void fake_close(struct jp_collector *c)
{
	struct fake *f = (struct fake *)c;
	if (f->closed)
		(*f->closed)++;
	free(f);
}

static const struct jp_collector_ops fake_ops = {.kind = "fake", .collect = fake_collect, .close = fake_close};

static struct fake *fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	ck_assert_ptr_nonnull(f);
	f->base = (struct jp_collector){.ops = &fake_ops, .name = "fake", .power_source = "rapl"};
	f->seconds = 5;
	f->energy_pkg = 100;
	f->energy_dram = 20;
	f->usage = 0.6;
	f->system_ns = 1000000000ULL;
	return f;
}

static void fake_row(struct fake *f, const char *uid, const char *cid, double seconds)
{
	ck_assert_uint_lt(f->nrows, 16);
	struct jp_cgroup_row *r = &f->rows[f->nrows++];
	snprintf(r->pod_uid, sizeof(r->pod_uid), "%s", uid);
	snprintf(r->container_id, sizeof(r->container_id), "%s", cid);
	r->cpu_ns = (uint64_t)(seconds * 1e9);
}

/* ---- a fake kubelet: knows pod A only ---- */
static const char *cname(const void *ctx, const char *id)
{
	(void)ctx;
	return strcmp(id, CID("a1a1")) == 0 ? "web" : strcmp(id, CID("a2a2")) == 0 ? "sidecar" : NULL;
}

static int lookup(const char *uid, struct jp_pod_meta *out, void *arg)
{
	(*(int *)arg)++;
	if (strcmp(uid, UID_A) != 0)
		return -ENOENT;
	*out = (struct jp_pod_meta){.ns = "shop", .name = "web-1", .cpu_request = 0.5, .container_name = cname};
	return 0;
}

/* ---- the store ---- */
static struct jp_config cfg;
static struct jp_store *st;
static struct jp_pipeline *pipe_;
static struct fake *fk;
static int lookups;
static int64_t now_ms;
static size_t stale_seen;

static void setup_levels(unsigned levels, enum jp_idle_attr idle)
{
	ck_assert_int_eq(jp_config_defaults(&cfg), 0);
	cfg.metrics_levels = levels;
	cfg.idle_attribution = idle;
	struct jp_label common[] = {{"node", "n1"}};
	st = jp_store_create(common, 1, 4);
	ck_assert_ptr_nonnull(st);
	fk = fake_new();
	pipe_ = jp_pipeline_create(&cfg, &fk->base);
	ck_assert_ptr_nonnull(pipe_);
	lookups = 0;
	jp_pipeline_set_lookup(pipe_, lookup, &lookups);
	now_ms = 1700000000000;
}

static void setup(void)
{
	setup_levels(JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE | JP_LEVEL_CONTAINER, JP_IDLE_USAGE);
}

static void teardown(void)
{
	jp_pipeline_destroy(pipe_);
	jp_store_destroy(st);
	jp_config_free(&cfg);
}

static int count_stale_cb(int64_t ts, const struct jp_round_sample *v, size_t n, void *arg)
{
	(void)ts;
	(void)arg;
	for (size_t i = 0; i < n; i++)
		if (jp_is_stale_nan(v[i].value))
			stale_seen++;
	return 0;
}

static int round_at(double g_per_kwh)
{
	now_ms += 5000;
	jp_store_begin(st, now_ms);
	int r = jp_pipeline_round(pipe_, st, 5000, g_per_kwh);
	jp_store_commit(st, count_stale_cb, NULL);
	return r;
}

/* Sum of the live series `name` with label key=val (any when key is NULL). */
static double sum_of(const char *name, const char *key, const char *val, size_t *count)
{
	return jp_test_sum_of(st, name, key, val, count);
}

/* Pod A: two containers, one of them in two nested cgroups, plus its own cgroup; pod B:
 * unknown to the kubelet, one container. Rows come interleaved. */
static void two_pods(void)
{
	fake_row(fk, UID_A, CID("a1a1"), 1.5);
	fake_row(fk, UID_B, CID("b1b1"), 1.0);
	fake_row(fk, UID_A, CID("a2a2"), 0.5);
	fake_row(fk, UID_A, CID("a1a1"), 0.5);   /* nested cgroup of the same container */
	fake_row(fk, UID_A, "", 0.25);           /* the pod's own cgroup */
}

START_TEST(test_conservation_and_naming)
{
	two_pods();
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(round_at(400), 0);
	ck_assert_uint_eq(jp_pipeline_pods(pipe_), 2);
	ck_assert_int_eq(jp_pipeline_saw_unknown_pod(pipe_), 1);
	ck_assert_uint_eq(fk->collects, 3);

	/* Every joule of the node is in a pod or the system bucket (idle by usage). */
	const char *zones[] = {"package", "dram"};
	double node_j[] = {300, 60};
	for (int z = 0; z < 2; z++) {
		double pods = sum_of("joulepush_pod_energy_joules_total", "zone", zones[z], NULL);
		double sys = sum_of("joulepush_system_energy_joules_total", "zone", zones[z], NULL);
		double node = sum_of("joulepush_node_energy_joules_total", "zone", zones[z], NULL);
		ck_assert_double_eq_tol(node, node_j[z], 1e-9);
		ck_assert_double_eq_tol(pods + sys, node_j[z], 1e-9);
		double ns = sum_of("joulepush_namespace_energy_joules_total", "zone", zones[z], NULL);
		ck_assert_double_eq_tol(ns, pods, 1e-9);
	}
	/* Pod A's CPU: 1.5 + 0.5 + 0.5 + 0.25 s per round, its own cgroup included. */
	size_t n;
	ck_assert_double_eq_tol(sum_of("joulepush_pod_cpu_seconds_total", "pod", "web-1", &n), 3 * 2.75, 1e-9);
	ck_assert_uint_eq(n, 1);
	/* The nested rows of container web add up; the pod's own cgroup is no container. */
	ck_assert_double_eq_tol(sum_of("joulepush_container_cpu_seconds_total", "container", "web", &n), 3 * 2.0,
				1e-9);
	ck_assert_uint_eq(n, 1);
	ck_assert_double_eq_tol(sum_of("joulepush_container_cpu_seconds_total", "container", "sidecar", &n),
				3 * 0.5, 1e-9);
	sum_of("joulepush_container_cpu_seconds_total", "pod", "web-1", &n);
	ck_assert_uint_eq(n, 2);
	/* Pod B without metadata: named by its UID in namespace "unknown", its container by ID. */
	ck_assert_double_eq_tol(sum_of("joulepush_pod_cpu_seconds_total", "pod", UID_B, &n), 3.0, 1e-9);
	ck_assert_uint_eq(n, 1);
	sum_of("joulepush_pod_cpu_seconds_total", "namespace", "unknown", &n);
	ck_assert_uint_eq(n, 1);
	sum_of("joulepush_container_cpu_seconds_total", "container", CID("b1b1"), &n);
	ck_assert_uint_eq(n, 1);
	/* CO2 at the intensity handed in: (100 + 20) J × 3 / 3.6e6 × 400. */
	ck_assert_double_eq_tol(sum_of("joulepush_node_co2_grams_total", NULL, NULL, NULL), 360 / 3.6e6 * 400,
				1e-12);
	double pods_co2 = sum_of("joulepush_pod_co2_grams_total", NULL, NULL, NULL);
	ck_assert(pods_co2 > 0 && pods_co2 < 360 / 3.6e6 * 400);
}
END_TEST

/* The intensity is the one in force for each interval: the node's CO2 follows it. */
START_TEST(test_intensity_per_interval)
{
	two_pods();
	ck_assert_int_eq(round_at(100), 0);
	ck_assert_int_eq(round_at(500), 0);
	ck_assert_double_eq_tol(sum_of("joulepush_node_co2_grams_total", NULL, NULL, NULL),
				120 / 3.6e6 * 100 + 120 / 3.6e6 * 500, 1e-12);
}
END_TEST

/* A pod that leaves gets stale markers; its namespace keeps what it used; one that comes
 * back starts from zero; a failed collection sets no energy series and keeps counters. */
START_TEST(test_pod_churn)
{
	two_pods();
	ck_assert_int_eq(round_at(400), 0);
	ck_assert_int_eq(round_at(400), 0);
	double shop_before = sum_of("joulepush_namespace_co2_grams_total", "namespace", "shop", NULL);
	ck_assert(shop_before > 0);

	/* Pod A leaves. */
	fk->nrows = 0;
	fake_row(fk, UID_B, CID("b1b1"), 1.0);
	stale_seen = 0;
	ck_assert_int_eq(round_at(400), 0);
	ck_assert_uint_gt(stale_seen, 0);
	size_t n;
	sum_of("joulepush_pod_cpu_seconds_total", "pod", "web-1", &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_double_eq_tol(sum_of("joulepush_namespace_co2_grams_total", "namespace", "shop", NULL),
				shop_before, 1e-15);

	/* A new pod C arrives, pod A comes back: A starts from its new interval only. */
	fake_row(fk, UID_C, CID("c1c1"), 2.0);
	fake_row(fk, UID_A, CID("a1a1"), 1.0);
	ck_assert_int_eq(round_at(400), 0);
	ck_assert_uint_eq(jp_pipeline_pods(pipe_), 3);
	ck_assert_double_eq_tol(sum_of("joulepush_pod_cpu_seconds_total", "pod", "web-1", NULL), 1.0, 1e-9);
	ck_assert_double_eq_tol(sum_of("joulepush_pod_cpu_seconds_total", "pod", UID_C, NULL), 2.0, 1e-9);

	/* A failing collector: the round returns its error and nothing is counted. */
	double node_before = sum_of("joulepush_node_energy_joules_total", NULL, NULL, NULL);
	fk->err = -EIO;
	ck_assert_int_eq(round_at(400), -EIO);
	fk->err = 0;
	ck_assert_int_eq(round_at(400), 0);
	ck_assert_double_eq_tol(sum_of("joulepush_node_energy_joules_total", NULL, NULL, NULL), node_before + 120,
				1e-9);
}
END_TEST

/* A reload of class "collector": the new collector feeds the same accountant, so the
 * node's counters continue; the old collector is closed. */
START_TEST(test_collector_swap_keeps_counters)
{
	two_pods();
	ck_assert_int_eq(round_at(400), 0);
	ck_assert_int_eq(round_at(400), 0);
	int closed = 0;
	fk->closed = &closed;
	struct fake *f2 = fake_new();
	f2->energy_pkg = 50;
	f2->energy_dram = 10;
	fake_row(f2, UID_A, CID("a1a1"), 1.0);
	jp_pipeline_set_collector(pipe_, &f2->base);
	ck_assert_int_eq(closed, 1);
	fk = f2;
	ck_assert_int_eq(round_at(400), 0);
	ck_assert_double_eq_tol(sum_of("joulepush_node_energy_joules_total", "zone", "package", NULL), 250, 1e-9);
	ck_assert_double_eq_tol(sum_of("joulepush_pod_cpu_seconds_total", "pod", "web-1", NULL), 2 * 2.75 + 1.0,
				1e-9);
}
END_TEST

/* Live settings: levels and compat change which series are written, counters continue. */
START_TEST(test_reconfigure_live)
{
	two_pods();
	ck_assert_int_eq(round_at(400), 0);
	size_t n;
	sum_of("kepler_node_cpu_joules_total", NULL, NULL, &n);
	ck_assert_uint_eq(n, 0);
	cfg.metrics_compat_kepler = 1;
	cfg.metrics_levels = JP_LEVEL_NODE | JP_LEVEL_POD;
	ck_assert_int_eq(jp_pipeline_reconfigure(pipe_, &cfg), 0);
	stale_seen = 0;
	ck_assert_int_eq(round_at(400), 0);
	sum_of("kepler_node_cpu_joules_total", NULL, NULL, &n);
	ck_assert_uint_gt(n, 0);
	sum_of("kepler_pod_cpu_joules_total", NULL, NULL, &n);
	ck_assert_uint_gt(n, 0);
	/* Namespace and container series ended with stale markers. */
	ck_assert_uint_gt(stale_seen, 0);
	sum_of("joulepush_namespace_energy_joules_total", NULL, NULL, &n);
	ck_assert_uint_eq(n, 0);
	sum_of("joulepush_container_cpu_seconds_total", NULL, NULL, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_double_eq_tol(sum_of("joulepush_node_energy_joules_total", "zone", "package", NULL), 200, 1e-9);
}
END_TEST

/* Without a lookup of the agent's, the collector's own names are used (the synthetic
 * node's); without either, pods are named by UID. */
START_TEST(test_collector_lookup)
{
	jp_pipeline_set_lookup(pipe_, NULL, NULL);
	int own = 0;
	fk->base.lookup = lookup;
	fk->base.lookup_arg = &own;
	two_pods();
	ck_assert_int_eq(round_at(400), 0);
	ck_assert_int_eq(own, 2);
	size_t n;
	sum_of("joulepush_pod_cpu_seconds_total", "pod", "web-1", &n);
	ck_assert_uint_eq(n, 1);
	fk->base.lookup = NULL;
	ck_assert_int_eq(round_at(400), 0);
	sum_of("joulepush_pod_cpu_seconds_total", "pod", UID_A, &n);
	ck_assert_uint_eq(n, 1);
}
END_TEST

/* An interval with no rows (a node without pods) and many rows of one pod. */
START_TEST(test_empty_and_many_rows)
{
	ck_assert_int_eq(round_at(400), 0);
	ck_assert_uint_eq(jp_pipeline_pods(pipe_), 0);
	ck_assert_double_eq_tol(sum_of("joulepush_system_energy_joules_total", "zone", "package", NULL), 100, 1e-9);
	for (int i = 0; i < 16; i++)
		fake_row(fk, UID_A, i % 2 ? CID("a1a1") : CID("a2a2"), 0.125);
	ck_assert_int_eq(round_at(400), 0);
	ck_assert_uint_eq(jp_pipeline_pods(pipe_), 1);
	ck_assert_double_eq_tol(sum_of("joulepush_container_cpu_seconds_total", "container", "web", NULL), 1.0, 1e-9);
}
END_TEST

static Suite *pipeline_suite(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("round");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_conservation_and_naming);
	tcase_add_test(tc, test_intensity_per_interval);
	tcase_add_test(tc, test_pod_churn);
	tcase_add_test(tc, test_collector_swap_keeps_counters);
	tcase_add_test(tc, test_reconfigure_live);
	tcase_add_test(tc, test_collector_lookup);
	tcase_add_test(tc, test_empty_and_many_rows);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pipeline_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
