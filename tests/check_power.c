/* SPDX-License-Identifier: Apache-2.0 */
/* Platform power from hwmon (src/collect/hwmon.c) on fixture sysfs trees, and the power
 * model's load curve (src/util/curve.c). */
#include <check.h>
#include <sys/wait.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collect/hwmon.h"
#include "collect/collector.h"
#include "util/curve.h"
#include "tree_util.h"

static char root[256];

static void put(const char *rel, const char *text)
{
	jp_test_put(root, rel, text);
}

static void setup(void)
{
	jp_test_tree_new(root, sizeof(root), "check-power");
	/* A temperature sensor (no power), a GPU's own hwmon with power (not the meter). */
	put("class/hwmon/hwmon0/name", "coretemp\n");
	put("class/hwmon/hwmon0/temp1_input", "45000\n");
	put("class/hwmon/hwmon1/name", "amdgpu\n");
	put("class/hwmon/hwmon1/power1_average", "30000000\n");
}

static void teardown(void)
{
	jp_test_tree_remove(root);
}

START_TEST(test_hwmon_power)
{
	char why[256];
	errno = 0;
	ck_assert_ptr_null(jp_hwmon_open(root, "power_meter", 20000, why, sizeof(why)));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_msg(strstr(why, "power_meter") != NULL, "%s", why);

	/* ACPI's meter: power1_average in µW. */
	put("class/hwmon/hwmon2/name", "power_meter\n");
	put("class/hwmon/hwmon2/power1_average", "250000000\n");
	put("class/hwmon/hwmon2/power1_average_interval", "1000\n");
	struct jp_hwmon *h = jp_hwmon_open(root, "power_meter", 20000, why, sizeof(why));
	ck_assert_msg(h != NULL, "%s", why);
	ck_assert_uint_eq(jp_hwmon_channels(h), 1);
	double j;
	ck_assert_int_eq(jp_hwmon_read(h, 2.0, &j), 0);
	ck_assert_double_eq_tol(j, 500, 1e-9);
	/* 250 W then 350 W: the mean of the two over the interval. */
	put("class/hwmon/hwmon2/power1_average", "350000000\n");
	ck_assert_int_eq(jp_hwmon_read(h, 2.0, &j), 0);
	ck_assert_double_eq_tol(j, 600, 1e-9);

	/* The channel reads nothing (the file is kept open: what it reads now is empty): an
	 * error, not 0 W. */
	put("class/hwmon/hwmon2/power1_average", "");
	ck_assert_int_lt(jp_hwmon_read(h, 2.0, &j), 0);
	/* Garbage in the file. */
	put("class/hwmon/hwmon2/power1_average", "-5\n");
	ck_assert_int_eq(jp_hwmon_read(h, 2.0, &j), -EINVAL);
	put("class/hwmon/hwmon2/power1_average", "350000000\n");
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), 0);
	ck_assert_double_eq_tol(j, 350, 1e-9);
	jp_hwmon_close(h);
}
END_TEST

START_TEST(test_hwmon_energy_counter)
{
	/* A meter with an energy counter (µJ) and a power channel on a second index; two
	 * meters (two PSUs) add up. */
	put("class/hwmon/hwmon3/name", "power_meter\n");
	put("class/hwmon/hwmon3/energy1_input", "1000000000\n");
	put("class/hwmon/hwmon3/power1_input", "999000000\n");   /* ignored: the counter wins */
	put("class/hwmon/hwmon4/name", "power_meter\n");
	put("class/hwmon/hwmon4/power1_input", "100000000\n");
	char why[256];
	struct jp_hwmon *h = jp_hwmon_open(root, "power_meter", 20000, why, sizeof(why));
	ck_assert_msg(h != NULL, "%s", why);
	ck_assert_uint_eq(jp_hwmon_channels(h), 2);
	double j;
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), 0);
	ck_assert_double_eq_tol(j, 100, 1e-9);   /* the counter's baseline + 100 W × 1 s */
	put("class/hwmon/hwmon3/energy1_input", "1300000000\n");
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), 0);
	ck_assert_double_eq_tol(j, 300 + 100, 1e-9);
	/* The counter goes back: the interval is refused, then counting resumes. */
	put("class/hwmon/hwmon3/energy1_input", "5000000\n");
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), -ERANGE);
	put("class/hwmon/hwmon3/energy1_input", "55000000\n");
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), 0);
	ck_assert_double_eq_tol(j, 50 + 100, 1e-9);
	jp_hwmon_close(h);
}
END_TEST

/* A meter only root may read goes on after the drop to an unprivileged user: its channels
 * are opened once, before, and read with pread (they were reopened on every read). */
START_TEST(test_hwmon_open_before_drop)
{
	if (geteuid() != 0)
		return;
	put("class/hwmon/hwmon2/name", "power_meter\n");
	put("class/hwmon/hwmon2/power1_input", "200000000\n");
	char p[512], why[256];
	snprintf(p, sizeof(p), "%s/class/hwmon/hwmon2/power1_input", root);
	ck_assert_int_eq(chmod(p, 0400), 0);
	struct jp_hwmon *h = jp_hwmon_open(root, "power_meter", 20000, why, sizeof(why));
	ck_assert_msg(h != NULL, "%s", why);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(100);
		double j;
		_exit(jp_hwmon_read(h, 1.0, &j) == 0 && j > 199.9 && j < 200.1 ? 0 : 1);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	jp_hwmon_close(h);
}
END_TEST

/* One absurd reading is refused, not counted for ever; the baselines stay at the last
 * good values; a counter that keeps reading so is taken at its word the third time. */
START_TEST(test_hwmon_implausible)
{
	put("class/hwmon/hwmon3/name", "power_meter\n");
	put("class/hwmon/hwmon3/energy1_input", "1000000000\n");   /* 1000 J */
	put("class/hwmon/hwmon4/name", "power_meter\n");
	put("class/hwmon/hwmon4/power1_input", "100000000\n");     /* 100 W */
	char why[256];
	struct jp_hwmon *h = jp_hwmon_open(root, "power_meter", 5000, why, sizeof(why));
	ck_assert_msg(h != NULL, "%s", why);
	double j;
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), 0);
	/* 1.8e13 J in one second. */
	put("class/hwmon/hwmon3/energy1_input", "18000000000000000000\n");
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), -EDOM);
	ck_assert_uint_eq(jp_hwmon_implausible(h), 1);
	/* Back to normal: counted from the last good reading (1000 J -> 1300 J over 2 s). */
	put("class/hwmon/hwmon3/energy1_input", "1300000000\n");
	ck_assert_int_eq(jp_hwmon_read(h, 2.0, &j), 0);
	ck_assert_double_eq_tol(j, 300 + 100 * 2, 1e-6);
	/* A power reading of 90 kW. */
	put("class/hwmon/hwmon4/power1_input", "90000000000\n");
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), -EDOM);
	put("class/hwmon/hwmon4/power1_input", "100000000\n");
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), 0);
	ck_assert_double_eq_tol(j, 100, 1e-6);
	ck_assert_uint_eq(jp_hwmon_implausible(h), 2);
	/* A counter that jumped for good: refused twice, then the new baseline. */
	put("class/hwmon/hwmon3/energy1_input", "900000000000000\n");
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), -EDOM);
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), -EDOM);
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), -EDOM);
	put("class/hwmon/hwmon3/energy1_input", "900000050000000\n");
	ck_assert_int_eq(jp_hwmon_read(h, 1.0, &j), 0);
	ck_assert_double_eq_tol(j, 50 + 100, 1e-6);
	jp_hwmon_close(h);
}
END_TEST

START_TEST(test_curve_points_and_monotone)
{
	struct jp_curve c;
	char why[160];
	ck_assert_int_eq(jp_power_curve_from(&c, NULL, why, sizeof(why)), 0);
	/* Through its points exactly. */
	const double lx[] = {0, 0.10, 0.50, 1.00}, ly[] = {0.12, 0.32, 0.75, 1.02};
	for (int i = 0; i < 4; i++)
		ck_assert_double_eq_tol(jp_curve_eval(&c, lx[i]), ly[i], 1e-12);
	/* Monotone and smooth between them: never falls, no jump, stays within each segment. */
	double prev = jp_curve_eval(&c, 0);
	for (int k = 1; k <= 10000; k++) {
		double x = k / 10000.0, v = jp_curve_eval(&c, x);
		ck_assert_msg(v >= prev - 1e-15, "falls at %g: %g < %g", x, v, prev);
		ck_assert_msg(v - prev < 0.01, "jumps at %g", x);
		prev = v;
	}
	/* Steep at low load, flat near full: more than the straight line at 30 %. */
	double line30 = 0.32 + (0.75 - 0.32) * (0.30 - 0.10) / 0.40;
	ck_assert_double_gt(jp_curve_eval(&c, 0.30), line30);
	/* Outside the points: the ends. */
	ck_assert_double_eq(jp_curve_eval(&c, -1), 0.12);
	ck_assert_double_eq(jp_curve_eval(&c, 2), 1.02);

	/* A curve with a flat part does not overshoot it. */
	double x2[] = {0, 0.2, 0.4, 1}, y2[] = {0.1, 0.5, 0.5, 1};
	ck_assert_int_eq(jp_curve_init(&c, x2, y2, 4, why, sizeof(why)), 0);
	for (int k = 200; k <= 400; k++)
		ck_assert_double_eq_tol(jp_curve_eval(&c, k / 1000.0), 0.5, 1e-12);
}
END_TEST

START_TEST(test_curve_rejects)
{
	struct jp_curve c;
	char why[160];
	double x[] = {0, 0.5, 1}, y[] = {0.2, 0.1, 1};
	ck_assert_int_eq(jp_curve_init(&c, x, y, 3, why, sizeof(why)), -EINVAL);
	ck_assert_msg(strstr(why, "must not fall") != NULL, "%s", why);
	double xd[] = {0.5, 0.5}, yd[] = {0.2, 0.3};
	ck_assert_int_eq(jp_curve_init(&c, xd, yd, 2, why, sizeof(why)), -EINVAL);
	ck_assert_msg(strstr(why, "same load") != NULL, "%s", why);
	ck_assert_int_eq(jp_curve_init(&c, x, y, 1, why, sizeof(why)), -EINVAL);
	/* Points given in any order are sorted. */
	double xs[] = {1, 0, 0.5}, ys[] = {1, 0.1, 0.6};
	ck_assert_int_eq(jp_curve_init(&c, xs, ys, 3, why, sizeof(why)), 0);
	ck_assert_double_eq_tol(jp_curve_eval(&c, 0.5), 0.6, 1e-12);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("power");
	TCase *tc = tcase_create("platform");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_hwmon_power);
	tcase_add_test(tc, test_hwmon_energy_counter);
	tcase_add_test(tc, test_hwmon_open_before_drop);
	tcase_add_test(tc, test_hwmon_implausible);
	suite_add_tcase(s, tc);
	TCase *tm = tcase_create("curve");
	tcase_add_test(tm, test_curve_points_and_monotone);
	tcase_add_test(tm, test_curve_rejects);
	suite_add_tcase(s, tm);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
