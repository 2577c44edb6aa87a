/* SPDX-License-Identifier: Apache-2.0 */
/* The real node collector on fixture trees (procfs, sysfs without RAPL, an empty cgroup v2
 * root): the power model's linear and curve estimates for a known usage, steal left out,
 * the memory zone, the band around the estimate, and the platform meter, also when it
 * fails. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collect/collector.h"
#include "config.h"
#include "tree_util.h"

static char dir[256];

static void put(const char *rel, const char *text)
{
	jp_test_put(dir, rel, text);   /* in place: the collector keeps /proc/stat open */
}

/* /proc/stat of four CPUs with the given aggregate ticks. */
static void stat_ticks(unsigned long user, unsigned long idle, unsigned long steal)
{
	char t[512];
	snprintf(t, sizeof(t),
		 "cpu  %lu 0 0 %lu 0 0 0 %lu 0 0\ncpu0 0 0 0 0 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\n"
		 "cpu2 0 0 0 0 0 0 0 0 0 0\ncpu3 0 0 0 0 0 0 0 0 0 0\nintr 0\n", user, idle, steal);
	put("proc/stat", t);
}

static void setup(void)
{
	jp_test_tree_new(dir, sizeof(dir), "check-node");
	stat_ticks(1000, 1000, 0);
	put("proc/meminfo", "MemTotal:        8388608 kB\nMemFree:         1000000 kB\n");
	put("cg/cgroup.controllers", "cpu memory\n");
	put("sys/class/hwmon/hwmon0/name", "coretemp\n");
}

static void teardown(void)
{
	jp_test_tree_remove(dir);
}

static struct jp_collector *open_node(struct jp_config *cfg, const char *power)
{
	char y[1024], err[512];
	snprintf(y, sizeof(y),
		 "collector: {mode: cgroupfs}\nhost: {procfs: %s/proc, sysfs: %s/sys, cgroupfs: %s/cg}\n"
		 "gpu: {source: none}\npower:\n  source: model\n%s", dir, dir, dir, power);
	ck_assert_msg(jp_config_load_buffer(cfg, "test.yaml", y, strlen(y), err, sizeof(err)) == 0, "%s", err);
	struct jp_collector *c = jp_collector_open(cfg);
	ck_assert_msg(c != NULL, "open: %s", strerror(errno));
	return c;
}

/* One interval at usage 0.5 (400 busy and 400 idle ticks more), with `steal` stolen
 * ticks besides. */
static void round_half(struct jp_collector *c, struct jp_interval *iv, unsigned long steal)
{
	jp_interval_reset(iv, 1000);
	ck_assert_int_eq(jp_collector_collect(c, iv), 0);   /* baseline */
	stat_ticks(1400 + steal, 1400 + steal, 0);           /* move every counter on a little */
	jp_interval_reset(iv, 1000);
	ck_assert_int_eq(jp_collector_collect(c, iv), 0);
	stat_ticks(1800 + steal, 1800 + steal, steal);
	usleep(20000);
	jp_interval_reset(iv, 1000);
	ck_assert_int_eq(jp_collector_collect(c, iv), 0);
}

static double watts(const struct jp_interval *iv, int z)
{
	return iv->energy_j[z] / iv->seconds;
}

START_TEST(test_curve_memory_bounds)
{
	struct jp_config cfg = {0};
	struct jp_collector *c = open_node(&cfg, "  model: {shape: curve, tdp_watts_per_cpu: 4, memory_watts_per_gib: 0.5}\n");
	struct jp_interval iv = {0};
	round_half(c, &iv, 0);
	ck_assert_str_eq(iv.power_source, "model");
	ck_assert_double_eq_tol(iv.usage_ratio, 0.5, 1e-9);
	/* Curve at 50 %: 0.75 × 4 W × 4 CPUs; linear: 4 × (0.74 + 0.5 × 2.76). */
	ck_assert_double_eq_tol(watts(&iv, JP_ZONE_PACKAGE), 12.0, 1e-6);
	ck_assert_double_eq_tol(iv.bound_low_w[JP_ZONE_PACKAGE], 8.48, 1e-9);
	ck_assert_double_eq_tol(iv.bound_high_w[JP_ZONE_PACKAGE], 12.0, 1e-9);
	/* Memory: 0.5 W/GiB × 8 GiB, its own zone, its bounds the estimate. */
	ck_assert(iv.zone_mask & (1u << JP_ZONE_DRAM));
	ck_assert_double_eq_tol(watts(&iv, JP_ZONE_DRAM), 4.0, 1e-6);
	ck_assert_double_eq_tol(iv.bound_low_w[JP_ZONE_DRAM], 4.0, 1e-9);
	ck_assert_double_eq_tol(iv.bound_high_w[JP_ZONE_DRAM], 4.0, 1e-9);
	ck_assert(!(iv.zone_mask & (1u << JP_ZONE_PLATFORM)));
	jp_interval_free(&iv);
	jp_collector_close(c);
	jp_config_free(&cfg);
}
END_TEST

START_TEST(test_linear_and_steal)
{
	/* The default shape is linear; stolen ticks are neither busy nor a reason to
	 * estimate more: 400 busy, 400 idle and 800 stolen give u = 400 / 1600. */
	struct jp_config cfg = {0};
	struct jp_collector *c = open_node(&cfg, "");
	struct jp_interval iv = {0};
	round_half(c, &iv, 800);
	ck_assert_double_eq_tol(iv.usage_ratio, 0.25, 1e-9);
	double lin = 4 * (0.74 + 0.25 * (3.5 - 0.74));
	ck_assert_double_eq_tol(watts(&iv, JP_ZONE_PACKAGE), lin, 1e-6);
	ck_assert_double_eq_tol(iv.bound_low_w[JP_ZONE_PACKAGE], lin, 1e-9);
	ck_assert(iv.bound_high_w[JP_ZONE_PACKAGE] > lin);
	ck_assert(!(iv.zone_mask & (1u << JP_ZONE_DRAM)));   /* memory_watts_per_gib 0: no zone */
	jp_interval_free(&iv);
	jp_collector_close(c);
	jp_config_free(&cfg);
}
END_TEST

START_TEST(test_platform_meter)
{
	put("sys/class/hwmon/hwmon1/name", "power_meter\n");
	put("sys/class/hwmon/hwmon1/power1_average", "90000000\n");
	struct jp_config cfg = {0};
	struct jp_collector *c = open_node(&cfg, "");
	struct jp_interval iv = {0};
	round_half(c, &iv, 0);
	ck_assert(iv.zone_mask & (1u << JP_ZONE_PLATFORM));
	ck_assert_double_eq_tol(watts(&iv, JP_ZONE_PLATFORM), 90.0, 1e-6);
	/* The meter unreadable (it reads empty): the round goes on without zone platform. */
	put("sys/class/hwmon/hwmon1/power1_average", "");
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_collector_collect(c, &iv), 0);
	ck_assert(!(iv.zone_mask & (1u << JP_ZONE_PLATFORM)));
	ck_assert(iv.zone_mask & (1u << JP_ZONE_PACKAGE));
	jp_interval_free(&iv);
	jp_collector_close(c);
	jp_config_free(&cfg);

	/* A FIFO where the file should be, already at start-up: no data, no hang. */
	char p[512];
	snprintf(p, sizeof(p), "%s/sys/class/hwmon/hwmon1/power1_average", dir);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	c = open_node(&cfg, "");
	memset(&iv, 0, sizeof(iv));
	for (int i = 0; i < 2; i++) {
		jp_interval_reset(&iv, 1000);
		ck_assert_int_eq(jp_collector_collect(c, &iv), 0);
	}
	ck_assert(!(iv.zone_mask & (1u << JP_ZONE_PLATFORM)));
	ck_assert(iv.zone_mask & (1u << JP_ZONE_PACKAGE));
	jp_interval_free(&iv);
	jp_collector_close(c);
	jp_config_free(&cfg);

	/* power.platform.source hwmon without a meter: the collector refuses to open. */
	ck_assert_int_eq(unlink(p), 0);
	char y[1024], err[512];
	snprintf(y, sizeof(y),
		 "collector: {mode: cgroupfs}\nhost: {procfs: %s/proc, sysfs: %s/sys, cgroupfs: %s/cg}\n"
		 "gpu: {source: none}\npower: {source: model, platform: {source: hwmon, hwmon_name: nothing_here}}\n",
		 dir, dir, dir);
	struct jp_config cfg2 = {0};
	ck_assert_int_eq(jp_config_load_buffer(&cfg2, "t.yaml", y, strlen(y), err, sizeof(err)), 0);
	errno = 0;
	ck_assert_ptr_null(jp_collector_open(&cfg2));
	ck_assert_int_eq(errno, ENOENT);
	jp_config_free(&cfg2);
}
END_TEST

START_TEST(test_bad_curve_refused)
{
	struct jp_config cfg = {0};
	char y[256], err[512];
	snprintf(y, sizeof(y), "power: {model: {curve: {0: 0.5, 50: 0.4, 100: 1}}}\n");
	ck_assert_int_ne(jp_config_load_buffer(&cfg, "t.yaml", y, strlen(y), err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "power.model.curve") && strstr(err, "must not fall"), "%s", err);
	jp_config_free(&cfg);
	snprintf(y, sizeof(y), "power: {model: {curve: {0: 0.5, 150: 1}}}\n");
	ck_assert_int_ne(jp_config_load_buffer(&cfg, "t.yaml", y, strlen(y), err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "power.model.curve.150") && strstr(err, "percentage"), "%s", err);
	jp_config_free(&cfg);
	snprintf(y, sizeof(y), "power: {model: {curve: {50: 0.5}}}\n");
	ck_assert_int_ne(jp_config_load_buffer(&cfg, "t.yaml", y, strlen(y), err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, "2 to 32 points"), "%s", err);
	jp_config_free(&cfg);
}
END_TEST

/* Each collector keeps its own kubernetes.cgroup_root: opening a second one with another
 * root (a reload that is then rejected) must not change which paths the running one
 * counts as pods. It did when the root was process-wide. */
START_TEST(test_cgroup_root_per_collector)
{
	const char *pod = "cg/kubepods.slice/kubepods-besteffort.slice/"
			  "kubepods-besteffort-pod7c1e4a52_0b3d_4f6e_9a81_2d5c6b7e8f01.slice";
	char rel[512];
	snprintf(rel, sizeof(rel), "%s/cpu.stat", pod);
	put(rel, "usage_usec 1000\nuser_usec 1000\nsystem_usec 0\n");
	struct jp_config cfg = {0};
	struct jp_collector *c = open_node(&cfg, "");
	struct jp_interval iv = {0};
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_collector_collect(c, &iv), 0);
	put(rel, "usage_usec 501000\nuser_usec 501000\nsystem_usec 0\n");
	stat_ticks(1400, 1400, 0);
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_collector_collect(c, &iv), 0);
	ck_assert_uint_eq(iv.nrows, 1);
	ck_assert_str_eq(iv.rows[0].pod_uid, "7c1e4a52-0b3d-4f6e-9a81-2d5c6b7e8f01");

	/* A second collector, for a config with another root, opened and closed. */
	char y[1024], err[512];
	snprintf(y, sizeof(y),
		 "collector: {mode: cgroupfs}\nhost: {procfs: %s/proc, sysfs: %s/sys, cgroupfs: %s/cg}\n"
		 "gpu: {source: none}\npower: {source: model}\nkubernetes: {cgroup_root: /nested}\n", dir, dir, dir);
	struct jp_config cfg2 = {0};
	ck_assert_msg(jp_config_load_buffer(&cfg2, "t.yaml", y, strlen(y), err, sizeof(err)) == 0, "%s", err);
	struct jp_collector *c2 = jp_collector_open(&cfg2);
	ck_assert_ptr_nonnull(c2);
	jp_collector_close(c2);
	jp_config_free(&cfg2);

	/* The running collector still sees the pod. */
	put(rel, "usage_usec 1001000\nuser_usec 1001000\nsystem_usec 0\n");
	stat_ticks(1800, 1800, 0);
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_collector_collect(c, &iv), 0);
	ck_assert_uint_eq(iv.nrows, 1);
	ck_assert_uint_eq(iv.rows[0].cpu_ns, 500000000ull);
	jp_interval_free(&iv);
	jp_collector_close(c);
	jp_config_free(&cfg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("node_model");
	TCase *tc = tcase_create("fixture");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_curve_memory_bounds);
	tcase_add_test(tc, test_linear_and_steal);
	tcase_add_test(tc, test_platform_meter);
	tcase_add_test(tc, test_cgroup_root_per_collector);
	tcase_add_test(tc, test_bad_curve_refused);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
