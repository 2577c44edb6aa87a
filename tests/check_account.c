/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of per-interval accounting: counters in the store add up, pods come and go,
 * CO2 follows the intensity of each interval. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attrib/account.h"
#include "config.h"
#include "store/series.h"
#include "store_util.h"
#include "util/hash.h"

static struct jp_config cfg;
static struct jp_store *st;
static struct jp_account *acct;
static int64_t now_ms;

static void setup_with(enum jp_idle_attr idle, unsigned levels, double pue)
{
	memset(&cfg, 0, sizeof(cfg));
	ck_assert_int_eq(jp_config_defaults(&cfg), 0);
	cfg.idle_attribution = idle;
	cfg.metrics_levels = levels;
	cfg.pue = pue;
	struct jp_label common[] = {{"node", "n1"}};
	st = jp_store_create(common, 1, 4);
	ck_assert_ptr_nonnull(st);
	acct = jp_account_create(&cfg);
	ck_assert_ptr_nonnull(acct);
	now_ms = 1700000000000;
}

static void teardown(void)
{
	jp_account_destroy(acct);
	jp_store_destroy(st);
	jp_config_free(&cfg);
}

/* Latest value of the one series with these labels (NaN if absent). */
static double value_of(const char *name, const char *const *kv)
{
	struct jp_label l[8];
	size_t n = 0;
	for (; kv && kv[2 * n]; n++)
		l[n] = (struct jp_label){kv[2 * n], kv[2 * n + 1]};
	struct jp_series *s = jp_store_get(st, name, l, n);
	if (!s)
		return NAN;
	const struct jp_sample *smp = jp_series_latest(s);
	return smp ? smp->value : NAN;
}

static double sum_of(const char *name, const char *key, const char *val, size_t *count)
{
	return jp_test_sum_of(st, name, key, val, count);
}

struct stale_arg {
	size_t stale;
	const char *pod;
};
static int count_stale_cb(int64_t ts, const struct jp_round_sample *v, size_t n, void *arg)
{
	struct stale_arg *a = arg;
	(void)ts;
	for (size_t i = 0; i < n; i++) {
		if (!jp_is_stale_nan(v[i].value))
			continue;
		for (size_t k = 0; k < v[i].series->nlabels; k++)
			if (strcmp(v[i].series->labels[k].name, "pod") == 0 &&
			    strcmp(v[i].series->labels[k].value, a->pod) == 0)
				a->stale++;
	}
	return 0;
}

static int round_with(const struct jp_acct_input *in, struct stale_arg *sa)
{
	now_ms += 5000;
	jp_store_begin(st, now_ms);
	int r = jp_account_round(acct, st, in);
	jp_store_commit(st, sa ? count_stale_cb : NULL, sa);
	return r;
}

/* GPUs: per-device counters keep counting across a skipped read, the gpu zone is shared
 * by the pods' GPU energy and among containers by theirs, GPU energy is in the CO2 basis,
 * and Kepler's node GPU names come with metrics.compat kepler. */
START_TEST(test_gpu_series)
{
	setup_with(JP_IDLE_NONE, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE | JP_LEVEL_CONTAINER, 1.0);
	cfg.metrics_compat_kepler = 1;
	ck_assert_int_eq(jp_account_reconfigure(acct, &cfg), 0);
	struct jp_acct_container ca[] = {{"train", "aaaa", 1000000000ULL, 90}, {"log", "bbbb", 3000000000ULL, 10}};
	struct jp_acct_pod pods[] = {
		{"uid-a", "ml", "trainer-1", 0, 4000000000ULL, ca, 2, 100},
		{"uid-b", "web", "api-1", 0, 4000000000ULL, NULL, 0, 0},
	};
	struct jp_gpu_device gpus[2] = {
		{.index = 0, .uuid = "GPU-a", .model = "NVIDIA A100", .ok = 1, .energy_j = 150, .util = 0.8},
		{.index = 1, .uuid = "GPU-b", .model = "Tesla T4", .ok = 1, .energy_j = 50, .util = 0.4},
	};
	struct jp_acct_input in = {
		.interval_s = 5, .zone_mask = (1u << JP_ZONE_PACKAGE) | (1u << JP_ZONE_GPU),
		.power_source = "rapl", .usage_ratio = 0.5, .system_cpu_ns = 0,
		.pods = pods, .npods = 2, .intensity_g_per_kwh = 360,
		.gpu_usage_ratio = 140.0 / 200.0, .system_gpu_j = 40, .gpus = gpus, .ngpus = 2,
	};
	in.energy_j[JP_ZONE_PACKAGE] = 100;
	in.energy_j[JP_ZONE_GPU] = 200;
	ck_assert_int_eq(round_with(&in, NULL), 0);
	/* Device 1 not read in the second round: its counter stays, its utilisation goes. */
	gpus[1].ok = 0;
	gpus[1].energy_j = 0;
	gpus[1].errors = 1;
	in.energy_j[JP_ZONE_GPU] = 150;
	in.gpu_usage_ratio = 0.8;
	in.system_gpu_j = 20;
	ck_assert_int_eq(round_with(&in, NULL), 0);

	const char *d0[] = {"gpu", "0", "uuid", "GPU-a", "model", "NVIDIA A100", NULL};
	const char *d1[] = {"gpu", "1", "uuid", "GPU-b", "model", "Tesla T4", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_gpu_energy_joules_total", d0), 300, 1e-9);
	ck_assert_double_eq_tol(value_of("joulepush_gpu_energy_joules_total", d1), 50, 1e-9);
	ck_assert_double_eq_tol(value_of("joulepush_gpu_read_errors_total", d1), 1, 1e-9);
	ck_assert_double_eq_tol(value_of("joulepush_gpu_utilization_ratio", d0), 0.8, 1e-9);
	/* Node gpu zone: 200 + 150 J; active 140 + 120. */
	const char *ga[] = {"zone", "gpu", "mode", "active", "source", "rapl", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_node_energy_joules_total", ga), 260, 1e-9);
	/* Pod A: its GPU joules 100 of 140, then 100 of 120; pod B none. */
	const char *pa[] = {"namespace", "ml", "pod", "trainer-1", "pod_uid", "uid-a", "zone", "gpu", "mode", "active", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_pod_energy_joules_total", pa), 200, 1e-9);
	const char *pb[] = {"namespace", "web", "pod", "api-1", "pod_uid", "uid-b", "zone", "gpu", "mode", "active", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_pod_energy_joules_total", pb), 0, 1e-9);
	/* Containers by their GPU joules (9 : 1), not CPU time (1 : 3). */
	const char *ct[] = {"namespace", "ml", "pod", "trainer-1", "pod_uid", "uid-a", "container", "train",
			    "container_id", "aaaa", "zone", "gpu", "mode", "active", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_container_energy_joules_total", ct), 180, 1e-9);
	/* Conservation of the gpu zone: pods + system = node active (idle stays on the node). */
	double pods_j = sum_of("joulepush_pod_energy_joules_total", "zone", "gpu", NULL);
	double sys_j = sum_of("joulepush_system_energy_joules_total", "zone", "gpu", NULL);
	const char *gi[] = {"zone", "gpu", "mode", "idle", "source", "rapl", NULL};
	ck_assert_double_eq_tol(pods_j + sys_j + value_of("joulepush_node_energy_joules_total", gi), 350, 1e-9);
	/* CO2 of package + gpu: (200 + 350) J at 360 g/kWh. */
	ck_assert_double_eq_tol(value_of("joulepush_node_co2_grams_total", NULL), 550 / 3.6e6 * 360, 1e-12);
	/* Kepler's names. */
	const char *k0[] = {"gpu", "0", "gpu_uuid", "GPU-a", "vendor", "nvidia", "node_name", cfg.node_name, NULL};
	ck_assert_double_eq_tol(value_of("kepler_node_gpu_joules_total", k0), 300, 1e-9);
	ck_assert_double_eq_tol(value_of("kepler_node_gpu_watts", k0), 30, 1e-9);
	teardown();
}
END_TEST

/* Pod UIDs and namespaces that collide in the accountant's quick hash (same length, same
 * first and last eight bytes: util/hash.h jp_hash_ident) are still told apart. */
START_TEST(test_colliding_keys)
{
	const char *ns1 = "payments-eu-west-1-prod", *ns2 = "payments-us-west-1-prod";
	const char *u1 = "0f3e2c1a-9b8d-4e7f-a6b5-c4d3e2f1a0b9", *u2 = "0f3e2c1a-1111-2222-3333-c4d3e2f1a0b9";
	ck_assert_uint_eq(jp_hash_ident(ns1, 0), jp_hash_ident(ns2, 0));
	ck_assert_uint_eq(jp_hash_ident(u1, 0), jp_hash_ident(u2, 0));
	setup_with(JP_IDLE_NONE, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE, 1.0);
	struct jp_acct_pod pods[] = {
		{u1, ns1, "a", 0, 3000000000ULL, NULL, 0},
		{u2, ns2, "b", 0, 1000000000ULL, NULL, 0},
	};
	struct jp_acct_input in = {
		.interval_s = 5, .zone_mask = 1u << JP_ZONE_PACKAGE, .power_source = "rapl", .usage_ratio = 1,
		.pods = pods, .npods = 2, .intensity_g_per_kwh = 400,
	};
	in.energy_j[JP_ZONE_PACKAGE] = 100;
	ck_assert_int_eq(round_with(&in, NULL), 0);
	ck_assert_int_eq(round_with(&in, NULL), 0);
	size_t n;
	double a = sum_of("joulepush_namespace_energy_joules_total", "namespace", ns1, &n);
	ck_assert_uint_eq(n, 1);
	double b = sum_of("joulepush_namespace_energy_joules_total", "namespace", ns2, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_double_eq_tol(a, 3 * b, 1e-9);
	ck_assert_double_eq_tol(a + b, 200, 1e-9);
	sum_of("joulepush_pod_cpu_seconds_total", "pod_uid", u2, &n);
	ck_assert_uint_eq(n, 1);
	teardown();
}
END_TEST

START_TEST(test_counters_add_up)
{
	setup_with(JP_IDLE_EVEN, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE | JP_LEVEL_CONTAINER, 1.0);
	struct jp_acct_container ca[] = {{"web", "aaaa", 3000000000ULL}, {"sidecar", "bbbb", 1000000000ULL}};
	struct jp_acct_pod pods[] = {
		{"uid-a", "shop", "web-1", 0.5, 4000000000ULL, ca, 2},
		{"uid-b", "shop", "db-1", 0, 2000000000ULL, NULL, 0},
	};
	struct jp_acct_input in = {
		.interval_s = 5, .zone_mask = (1u << JP_ZONE_PACKAGE) | (1u << JP_ZONE_DRAM),
		.power_source = "rapl", .usage_ratio = 0.7, .system_cpu_ns = 1000000000ULL,
		.pods = pods, .npods = 2, .intensity_g_per_kwh = 400,
	};
	in.energy_j[JP_ZONE_PACKAGE] = 100;
	in.energy_j[JP_ZONE_DRAM] = 20;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(round_with(&in, NULL), 0);

	/* Node counters: 3 rounds of 100 J package, split 70/30. */
	const char *pa[] = {"zone", "package", "mode", "active", "source", "rapl", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_node_energy_joules_total", pa), 210.0, 1e-9);
	const char *pi[] = {"zone", "package", "mode", "idle", "source", "rapl", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_node_energy_joules_total", pi), 90.0, 1e-9);
	ck_assert_double_eq_tol(value_of("joulepush_node_power_watts", pa), 14.0, 1e-9);

	/* Conservation per zone: pods + system + unattributed idle = node. With "even"
	 * all idle goes to the two pods, so unattributed is 0. */
	const char *zones[] = {"package", "dram"};
	double node_j[] = {300, 60};
	for (int z = 0; z < 2; z++) {
		double pods_j = sum_of("joulepush_pod_energy_joules_total", "zone", zones[z], NULL);
		double sys_j = sum_of("joulepush_system_energy_joules_total", "zone", zones[z], NULL);
		ck_assert_double_eq_tol(pods_j + sys_j, node_j[z], 1e-9);
		/* Containers add up to their pod. */
		double cont = sum_of("joulepush_container_energy_joules_total", "zone", zones[z], NULL);
		const char *a_act[] = {"namespace", "shop", "pod", "web-1", "pod_uid", "uid-a", "zone",
				       zones[z], "mode", "active", NULL};
		const char *a_idl[] = {"namespace", "shop", "pod", "web-1", "pod_uid", "uid-a", "zone",
				       zones[z], "mode", "idle", NULL};
		double pod_a = value_of("joulepush_pod_energy_joules_total", a_act) +
			       value_of("joulepush_pod_energy_joules_total", a_idl);
		ck_assert_double_eq_tol(cont, pod_a, 1e-9);
		/* Namespace = sum of its pods. */
		double ns = sum_of("joulepush_namespace_energy_joules_total", "zone", zones[z], NULL);
		ck_assert_double_eq_tol(ns, pods_j, 1e-9);
	}
	/* Pod a: active share 4/7 of 70 J per round; idle half of 30 J. */
	const char *a_act[] = {"namespace", "shop", "pod", "web-1", "pod_uid", "uid-a", "zone", "package",
			       "mode", "active", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_pod_energy_joules_total", a_act), 3 * 70.0 * 4 / 7, 1e-9);
	const char *a_cpu[] = {"namespace", "shop", "pod", "web-1", "pod_uid", "uid-a", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_pod_cpu_seconds_total", a_cpu), 12.0, 1e-9);
	/* CO2 of pod a: (package + dram) joules / 3.6e6 × 400. */
	double a_j = 3 * ((70.0 * 4 / 7 + 15) + (14.0 * 4 / 7 + 3));
	ck_assert_double_eq_tol(value_of("joulepush_pod_co2_grams_total", a_cpu), a_j / 3.6e6 * 400, 1e-12);
	ck_assert_double_eq_tol(value_of("joulepush_node_co2_grams_total", NULL), 360 / 3.6e6 * 400, 1e-12);
	teardown();
}
END_TEST

START_TEST(test_pod_leaves_namespace_stays)
{
	setup_with(JP_IDLE_NONE, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE, 1.5);
	struct jp_acct_pod pods[] = {
		{"uid-a", "shop", "web-1", 0, 1000000000ULL, NULL, 0},
		{"uid-b", "shop", "db-1", 0, 1000000000ULL, NULL, 0},
	};
	struct jp_acct_input in = {
		.interval_s = 5, .zone_mask = 1u << JP_ZONE_PACKAGE, .power_source = "model",
		.usage_ratio = 0.5, .system_cpu_ns = 0, .pods = pods, .npods = 2,
		.intensity_g_per_kwh = 100, 
	};
	in.energy_j[JP_ZONE_PACKAGE] = 40;
	struct stale_arg sa = {0, "db-1"};
	ck_assert_int_eq(round_with(&in, &sa), 0);
	ck_assert_int_eq(round_with(&in, &sa), 0);
	ck_assert_uint_eq(sa.stale, 0);
	/* With idle none, pods have no idle series at all. */
	size_t n_idle = 0;
	sum_of("joulepush_pod_energy_joules_total", "mode", "idle", &n_idle);
	ck_assert_uint_eq(n_idle, 0);

	/* db-1 leaves: each of its series gets one stale marker, then nothing. */
	in.npods = 1;
	ck_assert_int_eq(round_with(&in, &sa), 0);
	size_t db_series = sa.stale;
	ck_assert_uint_eq(db_series, 4);   /* energy{package,active}, power{package}, cpu, co2 */
	ck_assert_int_eq(round_with(&in, &sa), 0);
	ck_assert_uint_eq(sa.stale, db_series);

	/* The namespace kept db-1's two rounds: 2 × 10 J + web-1's 10 + 10 + 20 + 20 J. */
	const char *ns[] = {"namespace", "shop", "zone", "package", "mode", "active", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_namespace_energy_joules_total", ns), 80.0, 1e-9);
	/* PUE scales CO2, not joules. */
	const char *nsc[] = {"namespace", "shop", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_namespace_co2_grams_total", nsc), 80 / 3.6e6 * 100 * 1.5, 1e-12);

	/* db-1 comes back: a fresh pod; counters restart from its new usage. */
	in.npods = 2;
	ck_assert_int_eq(round_with(&in, &sa), 0);
	const char *db[] = {"namespace", "shop", "pod", "db-1", "pod_uid", "uid-b", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_pod_cpu_seconds_total", db), 1.0, 1e-12);
	teardown();
}
END_TEST

START_TEST(test_rename_and_zone_change)
{
	setup_with(JP_IDLE_USAGE, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE, 1.0);
	struct jp_acct_pod pods[] = {{"uid-a", "unknown", "uid-a", 0, 1000000000ULL, NULL, 0}};
	struct jp_acct_input in = {
		.interval_s = 1, .zone_mask = 1u << JP_ZONE_PACKAGE, .power_source = "rapl",
		.usage_ratio = 1, .system_cpu_ns = 0, .pods = pods, .npods = 1,
		.intensity_g_per_kwh = 100, 
	};
	in.energy_j[JP_ZONE_PACKAGE] = 10;
	struct stale_arg sa = {0, "uid-a"};
	ck_assert_int_eq(round_with(&in, &sa), 0);
	/* The kubelet names the pod: the UID-named series end, the named ones continue the count. */
	pods[0].ns = "shop";
	pods[0].name = "web-1";
	ck_assert_int_eq(round_with(&in, &sa), 0);
	ck_assert_uint_gt(sa.stale, 0);
	const char *a[] = {"namespace", "shop", "pod", "web-1", "pod_uid", "uid-a", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_pod_cpu_seconds_total", a), 2.0, 1e-12);
	/* The namespaces: the first round's energy stays with "unknown", the second is shop's. */
	const char *nu[] = {"namespace", "unknown", "zone", "package", "mode", "active", NULL};
	const char *ns[] = {"namespace", "shop", "zone", "package", "mode", "active", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_namespace_energy_joules_total", nu), 10.0, 1e-9);
	ck_assert_double_eq_tol(value_of("joulepush_namespace_energy_joules_total", ns), 10.0, 1e-9);
	/* A zone appears (dram): everything still adds up. */
	in.zone_mask |= 1u << JP_ZONE_DRAM;
	in.energy_j[JP_ZONE_DRAM] = 5;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(round_with(&in, NULL), 0);
	const char *d[] = {"namespace", "shop", "pod", "web-1", "pod_uid", "uid-a", "zone", "dram", "mode",
			   "active", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_pod_energy_joules_total", d), 15.0, 1e-9);
	/* Bad energy: refused, nothing counted. */
	in.energy_j[JP_ZONE_DRAM] = -5;
	ck_assert_int_lt(round_with(&in, NULL), 0);
	teardown();
}
END_TEST

START_TEST(test_kepler_compat)
{
	setup_with(JP_IDLE_NONE, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE | JP_LEVEL_CONTAINER, 1.0);
	jp_account_destroy(acct);
	cfg.metrics_compat_kepler = 1;
	acct = jp_account_create(&cfg);
	struct jp_acct_container ca[] = {{"web", "aaaa", 3000000000ULL}, {"sidecar", "bbbb", 1000000000ULL}};
	struct jp_acct_pod pods[] = {{"uid-a", "shop", "web-1", 0, 4000000000ULL, ca, 2}};
	struct jp_acct_input in = {
		.interval_s = 5, .zone_mask = 1u << JP_ZONE_PACKAGE, .power_source = "rapl",
		.usage_ratio = 0.8, .system_cpu_ns = 4000000000ULL, .pods = pods, .npods = 1,
		.intensity_g_per_kwh = 100, 
	};
	in.energy_j[JP_ZONE_PACKAGE] = 50;
	ck_assert_int_eq(round_with(&in, NULL), 0);
	ck_assert_int_eq(round_with(&in, NULL), 0);
	const char *nn = cfg.node_name;
	/* Node: 2 × 50 J, 80 % active. */
	const char *kn[] = {"node_name", nn, "zone", "package", NULL};
	ck_assert_double_eq_tol(value_of("kepler_node_cpu_joules_total", kn), 100.0, 1e-9);
	ck_assert_double_eq_tol(value_of("kepler_node_cpu_active_joules_total", kn), 80.0, 1e-9);
	ck_assert_double_eq_tol(value_of("kepler_node_cpu_idle_watts", kn), 2.0, 1e-9);
	/* Pod: half the active energy (4 of 8 CPU seconds). */
	const char *kp[] = {"pod_id", "uid-a", "pod_name", "web-1", "pod_namespace", "shop", "state", "running",
			    "node_name", nn, "zone", "package", NULL};
	ck_assert_double_eq_tol(value_of("kepler_pod_cpu_joules_total", kp), 40.0, 1e-9);
	ck_assert_double_eq_tol(value_of("kepler_pod_cpu_watts", kp), 4.0, 1e-9);
	/* Containers 3:1 of the pod. */
	const char *kc[] = {"container_id", "aaaa", "container_name", "web", "pod_id", "uid-a", "state", "running",
			    "node_name", nn, "zone", "package", NULL};
	ck_assert_double_eq_tol(value_of("kepler_container_cpu_joules_total", kc), 30.0, 1e-9);
	ck_assert_double_eq_tol(value_of("kepler_container_cpu_watts", kc), 3.0, 1e-9);
	teardown();
}
END_TEST

/* SCI "M": grams_per_node_hour × interval given to pods by CPU share among pods. */
START_TEST(test_embodied)
{
	setup_with(JP_IDLE_NONE, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE, 1.0);
	jp_account_destroy(acct);
	cfg.embodied_grams_per_node_hour = 36;   /* 0.01 g per second */
	acct = jp_account_create(&cfg);
	struct jp_acct_pod pods[] = {
		{"uid-a", "shop", "web-1", 0, 3000000000ULL, NULL, 0},
		{"uid-b", "shop", "db-1", 0, 1000000000ULL, NULL, 0},
	};
	struct jp_acct_input in = {
		.interval_s = 10, .zone_mask = 1u << JP_ZONE_PACKAGE, .power_source = "model",
		.usage_ratio = 0.5, .system_cpu_ns = 5000000000ULL, .pods = pods, .npods = 2,
		.intensity_g_per_kwh = 100,
	};
	in.energy_j[JP_ZONE_PACKAGE] = 10;
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(round_with(&in, NULL), 0);
	/* 3 rounds × 10 s × 0.01 g/s = 0.3 g, split 3:1 (the system bucket carries none). */
	const char *a[] = {"namespace", "shop", "pod", "web-1", "pod_uid", "uid-a", NULL};
	const char *b[] = {"namespace", "shop", "pod", "db-1", "pod_uid", "uid-b", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_pod_embodied_co2_grams_total", a), 0.225, 1e-12);
	ck_assert_double_eq_tol(value_of("joulepush_pod_embodied_co2_grams_total", b), 0.075, 1e-12);
	teardown();
}
END_TEST

/* Carbon-free energy is counted as CO2 is: each round's total energy (package + dram) times
 * the share in force, for the node, each pod and namespace, and conserved: pods + system +
 * unattributed idle = node. A round whose share is not known adds nothing; the converted
 * energy is kept per intensity source. With idle_attribution none the idle energy stays on
 * the node, so the conservation has all three terms. */
START_TEST(test_carbon_free_energy)
{
	setup_with(JP_IDLE_NONE, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE, 1.5);
	struct jp_acct_pod pods[] = {
		{"uid-a", "shop", "web-1", 0.5, 4000000000ULL, NULL, 0},
		{"uid-b", "data", "db-1", 0, 2000000000ULL, NULL, 0},
	};
	struct jp_acct_input in = {
		.interval_s = 5, .zone_mask = (1u << JP_ZONE_PACKAGE) | (1u << JP_ZONE_DRAM),
		.power_source = "rapl", .usage_ratio = 0.7, .system_cpu_ns = 1000000000ULL,
		.pods = pods, .npods = 2, .intensity_g_per_kwh = 400,
		.carbon_free_known = 1, .carbon_free_ratio = 0.4, .intensity_source = "entsoe",
	};
	in.energy_j[JP_ZONE_PACKAGE] = 100;
	in.energy_j[JP_ZONE_DRAM] = 20;
	ck_assert_int_eq(round_with(&in, NULL), 0);
	ck_assert_int_eq(round_with(&in, NULL), 0);
	in.carbon_free_known = 0;   /* the fallback: not known */
	in.intensity_source = "fallback";
	ck_assert_int_eq(round_with(&in, NULL), 0);

	/* Node: two rounds of 120 J at 0.4 (no PUE: it is energy, not CO2). */
	ck_assert_double_eq_tol(value_of("joulepush_node_carbon_free_energy_joules_total", NULL), 2 * 120 * 0.4, 1e-9);
	const char *ce[] = {"intensity_source", "entsoe", NULL}, *cf[] = {"intensity_source", "fallback", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_node_converted_energy_joules_total", ce), 240, 1e-9);
	ck_assert_double_eq_tol(value_of("joulepush_node_converted_energy_joules_total", cf), 120, 1e-9);
	/* Pod a: its package and dram active shares, 4/7 of 70 J and of 14 J, two rounds. */
	const char *a[] = {"namespace", "shop", "pod", "web-1", "pod_uid", "uid-a", NULL};
	double a_j = (70.0 + 14.0) * 4 / 7;
	ck_assert_double_eq_tol(value_of("joulepush_pod_carbon_free_energy_joules_total", a), 2 * a_j * 0.4, 1e-9);
	const char *ns[] = {"namespace", "shop", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_namespace_carbon_free_energy_joules_total", ns), 2 * a_j * 0.4, 1e-9);
	/* Conservation, from the energy counters of the rounds whose share was known. */
	double pods_cfe = sum_of("joulepush_pod_carbon_free_energy_joules_total", NULL, NULL, NULL);
	double sys_j = sum_of("joulepush_system_energy_joules_total", NULL, NULL, NULL) * 2 / 3;
	double idle_j = 0;
	const char *zs[] = {"package", "dram"};
	for (int z = 0; z < 2; z++) {
		const char *kv[] = {"zone", zs[z], "mode", "idle", "source", "rapl", NULL};
		idle_j += value_of("joulepush_node_energy_joules_total", kv) * 2 / 3;
	}
	ck_assert_double_eq_tol(pods_cfe + (sys_j + idle_j) * 0.4,
				value_of("joulepush_node_carbon_free_energy_joules_total", NULL), 1e-9);
	teardown();
}
END_TEST

/* With no share ever known, no carbon-free series is made (nor a zero one). */
START_TEST(test_carbon_free_unknown)
{
	setup_with(JP_IDLE_EVEN, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE, 1.0);
	struct jp_acct_pod pods[] = {{"uid-a", "shop", "web-1", 0.5, 4000000000ULL, NULL, 0}};
	struct jp_acct_input in = {
		.interval_s = 5, .zone_mask = 1u << JP_ZONE_PACKAGE, .power_source = "rapl", .usage_ratio = 0.5,
		.pods = pods, .npods = 1, .intensity_g_per_kwh = 400, .intensity_source = "static",
	};
	in.energy_j[JP_ZONE_PACKAGE] = 100;
	ck_assert_int_eq(round_with(&in, NULL), 0);
	ck_assert(isnan(value_of("joulepush_node_carbon_free_energy_joules_total", NULL)));
	size_t n = 1;
	sum_of("joulepush_pod_carbon_free_energy_joules_total", NULL, NULL, &n);
	ck_assert_uint_eq(n, 0);
	const char *cs[] = {"intensity_source", "static", NULL};
	ck_assert_double_eq_tol(value_of("joulepush_node_converted_energy_joules_total", cs), 100, 1e-9);
	teardown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("account");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_counters_add_up);
	tcase_add_test(tc, test_pod_leaves_namespace_stays);
	tcase_add_test(tc, test_rename_and_zone_change);
	tcase_add_test(tc, test_kepler_compat);
	tcase_add_test(tc, test_embodied);
	tcase_add_test(tc, test_gpu_series);
	tcase_add_test(tc, test_carbon_free_energy);
	tcase_add_test(tc, test_carbon_free_unknown);
	tcase_add_test(tc, test_colliding_keys);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
