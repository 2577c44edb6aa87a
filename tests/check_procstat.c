/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the node CPU usage reader (src/collect/procstat.c) against fixture stat files. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect/procstat.h"
#include "util/log.h"

#define FIX JP_SRCDIR "/tests/fixtures/procstat/"
#define TICK 10000000ull /* 10 ms: USER_HZ 100 */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	static char buf[65536];
	*len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return buf;
}

static int parse_fixture(const char *name, struct jp_cpu_totals *t)
{
	size_t len;
	char path[512];
	snprintf(path, sizeof(path), FIX "%s", name);
	char *buf = slurp(path, &len);
	return jp_procstat_parse(buf, len, TICK, t);
}

/* Overwrite a file in place (same inode), as the kernel's /proc/stat changes under an open fd. */
static void rewrite(const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void rewrite_fixture(const char *path, const char *name)
{
	size_t len;
	char fp[512];
	snprintf(fp, sizeof(fp), FIX "%s", name);
	char *buf = slurp(fp, &len);
	rewrite(path, buf, len);
}

static char tmpdir[256], statpath[300];

static void setup(void)
{
	jp_log_configure(JP_LOG_ERROR, 0);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/jp-procstat-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(statpath, sizeof(statpath), "%s/stat", tmpdir);
	int fd = open(statpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void teardown(void)
{
	unlink(statpath);
	rmdir(tmpdir);
}

START_TEST(test_parse_fields)
{
	struct jp_cpu_totals t;
	ck_assert_int_eq(parse_fixture("stat.t0", &t), 0);
	/* user+nice+system+irq+softirq = 1000+100+500+30+20; steal (10) apart: on a VM it is
	 * time the hypervisor gave our CPUs to others, not work of ours. */
	ck_assert_uint_eq(t.busy_ns, 1650 * TICK);
	ck_assert_uint_eq(t.idle_ns, (8000 + 200) * TICK);
	ck_assert_uint_eq(t.steal_ns, 10 * TICK);
	ck_assert_uint_eq(t.ncpus, 2);
}
END_TEST

START_TEST(test_guest_not_double_counted)
{
	struct jp_cpu_totals t;
	ck_assert_int_eq(parse_fixture("stat.guest", &t), 0);
	/* guest (4000) and guest_nice (600) are already inside user and nice. */
	ck_assert_uint_eq(t.busy_ns, (5000 + 700 + 1000) * TICK);
	ck_assert_uint_eq(t.idle_ns, 20000 * TICK);
	ck_assert_uint_eq(t.ncpus, 4);
}
END_TEST

START_TEST(test_old_kernel_four_fields)
{
	struct jp_cpu_totals t;
	ck_assert_int_eq(parse_fixture("stat.old4", &t), 0);
	ck_assert_uint_eq(t.busy_ns, 150 * TICK);
	ck_assert_uint_eq(t.idle_ns, 400 * TICK);
	ck_assert_uint_eq(t.ncpus, 1);
}
END_TEST

START_TEST(test_bad_files_rejected)
{
	static const char *const bad[] = {"stat.truncated", "stat.nocpus", "stat.garbage",
					  "stat.badfield", "stat.overflow"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct jp_cpu_totals t = {0};
		ck_assert_msg(parse_fixture(bad[i], &t) == -EINVAL, "%s accepted", bad[i]);
	}
	struct jp_cpu_totals t;
	ck_assert_int_eq(jp_procstat_parse("", 0, TICK, &t), -EINVAL);
	ck_assert_int_eq(jp_procstat_parse("cpu 1 2 3\ncpu0 1 2 3 4\n", 24, TICK, &t), -EINVAL);
	ck_assert_int_eq(jp_procstat_parse("cpu  1 2 3 -4\ncpu0 1\n", 21, TICK, &t), -EINVAL);
	/* Not NUL-terminated: the parser must stop at len. */
	char nonul[12];
	memcpy(nonul, "cpu  1 2 3 4", 12);
	ck_assert_int_eq(jp_procstat_parse(nonul, sizeof(nonul), TICK, &t), -EINVAL);
}
END_TEST

START_TEST(test_random_bytes_never_crash)
{
	unsigned seed = 42;
	char buf[512];
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % (int)sizeof(buf));
		for (size_t j = 0; j < len; j++) {
			int r = rand_r(&seed) % 16;
			buf[j] = r < 8 ? (char)('0' + r) : r < 11 ? ' ' : r < 12 ? '\n' : (char)rand_r(&seed);
		}
		if (len > 4 && (i & 1))
			memcpy(buf, "cpu ", 4);
		struct jp_cpu_totals t;
		(void)jp_procstat_parse(buf, len, TICK, &t);
	}
}
END_TEST

START_TEST(test_interval_and_keep_last_good)
{
	rewrite_fixture(statpath, "stat.t0");
	struct jp_procstat *ps = jp_procstat_create(tmpdir);
	ck_assert_ptr_nonnull(ps);
	uint64_t tick = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);

	rewrite_fixture(statpath, "stat.t1");
	struct jp_cpu_interval iv;
	ck_assert_int_eq(jp_procstat_sample(ps, &iv), 0);
	ck_assert_uint_eq(iv.busy_ns, 520 * tick);
	ck_assert_uint_eq(iv.idle_ns, 350 * tick);
	ck_assert_uint_eq(iv.steal_ns, 20 * tick);
	ck_assert_uint_eq(iv.ncpus, 2);
	ck_assert_double_eq_tol(iv.usage_ratio, 520.0 / 890.0, 1e-12);

	/* Truncated and garbage reads: an error, the last good interval, the baseline kept. */
	rewrite_fixture(statpath, "stat.truncated");
	struct jp_cpu_interval bad;
	ck_assert_int_eq(jp_procstat_sample(ps, &bad), -EINVAL);
	ck_assert_double_eq_tol(bad.usage_ratio, iv.usage_ratio, 1e-12);
	rewrite_fixture(statpath, "stat.garbage");
	ck_assert_int_eq(jp_procstat_sample(ps, &bad), -EINVAL);
	rewrite(statpath, "", 0);
	ck_assert_int_eq(jp_procstat_sample(ps, &bad), -EINVAL);
	ck_assert_uint_eq(jp_procstat_totals(ps)->busy_ns, 2170 * tick);

	/* The next good read spans the time since the last good one. */
	const char *t2 = "cpu  1400 150 650 8400 250 40 30 30 0 0\ncpu0 1 1 1 1\ncpu1 1 1 1 1\n";
	rewrite(statpath, t2, strlen(t2));
	ck_assert_int_eq(jp_procstat_sample(ps, &iv), 0);
	ck_assert_uint_eq(iv.busy_ns, 100 * tick);
	ck_assert_uint_eq(iv.idle_ns, 100 * tick);
	ck_assert_double_eq_tol(iv.usage_ratio, 0.5, 1e-12);

	/* A VM whose hypervisor stole half of the interval: the stolen time counts as
	 * neither work nor idle, so the usage that drives the power model is 100 of 300. */
	const char *ts = "cpu  1500 150 650 8450 250 40 30 180 0 0\ncpu0 1 1 1 1\ncpu1 1 1 1 1\n";
	rewrite(statpath, ts, strlen(ts));
	ck_assert_int_eq(jp_procstat_sample(ps, &iv), 0);
	ck_assert_uint_eq(iv.busy_ns, 100 * tick);
	ck_assert_uint_eq(iv.steal_ns, 150 * tick);
	ck_assert_double_eq_tol(iv.usage_ratio, 100.0 / 300.0, 1e-12);

	/* Counters that go backwards give zero, not a huge unsigned delta. */
	const char *t3 = "cpu  1400 150 650 8300 200 40 30 30 0 0\ncpu0 1 1 1 1\ncpu1 1 1 1 1\n";
	rewrite(statpath, t3, strlen(t3));
	ck_assert_int_eq(jp_procstat_sample(ps, &iv), 0);
	ck_assert_uint_eq(iv.busy_ns, 0);
	ck_assert_uint_eq(iv.idle_ns, 0);
	ck_assert_double_eq(iv.usage_ratio, 0.0);
	jp_procstat_destroy(ps);
}
END_TEST

START_TEST(test_large_file)
{
	/* 4096 CPUs: far beyond the first read buffer. */
	size_t cap = 4096 * 64 + 256, len = 0;
	char *big = malloc(cap);
	ck_assert_ptr_nonnull(big);
	len += (size_t)snprintf(big + len, cap - len, "cpu  4096 0 0 4096 0 0 0 0 0 0\n");
	for (int i = 0; i < 4096; i++)
		len += (size_t)snprintf(big + len, cap - len, "cpu%d 1 0 0 1 0 0 0 0 0 0\n", i);
	rewrite(statpath, big, len);
	struct jp_procstat *ps = jp_procstat_create(tmpdir);
	ck_assert_ptr_nonnull(ps);
	ck_assert_uint_eq(jp_procstat_totals(ps)->ncpus, 4096);
	jp_procstat_destroy(ps);
	free(big);
}
END_TEST

START_TEST(test_missing_and_bad_at_create)
{
	errno = 0;
	ck_assert_ptr_null(jp_procstat_create("/nonexistent-procfs"));
	ck_assert_int_eq(errno, ENOENT);
	rewrite_fixture(statpath, "stat.garbage");
	errno = 0;
	ck_assert_ptr_null(jp_procstat_create(tmpdir));
	ck_assert_int_eq(errno, EINVAL);
	jp_procstat_destroy(NULL);
}
END_TEST

START_TEST(test_real_proc)
{
	struct jp_procstat *ps = jp_procstat_create("/proc");
	ck_assert_ptr_nonnull(ps);
	ck_assert_uint_eq(jp_procstat_totals(ps)->ncpus, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
	usleep(50000);
	struct jp_cpu_interval iv;
	ck_assert_int_eq(jp_procstat_sample(ps, &iv), 0);
	ck_assert(iv.usage_ratio >= 0.0 && iv.usage_ratio <= 1.0);
	jp_procstat_destroy(ps);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("procstat");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parse_fields);
	tcase_add_test(tc, test_guest_not_double_counted);
	tcase_add_test(tc, test_old_kernel_four_fields);
	tcase_add_test(tc, test_bad_files_rejected);
	tcase_add_test(tc, test_random_bytes_never_crash);
	tcase_add_test(tc, test_interval_and_keep_last_good);
	tcase_add_test(tc, test_large_file);
	tcase_add_test(tc, test_missing_and_bad_at_create);
	tcase_add_test(tc, test_real_proc);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
