/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for the cgroupfs collector (src/collect/cgroupfs.c): fixture trees whose counters the
 * test rewrites, and (built with -DJP_CGROUPFS_LIVE) a live pod-shaped cgroup on the real mount. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collect/cgroup.h"
#include "collect/cgroupfs.h"
#include "util/log.h"

#define U_ "0f3e2c1a_9b8d_4e7f_a6b5_c4d3e2f1a0b9"
#define U2_ "7c1d5e9a_0b2c_4d3e_8f4a_5b6c7d8e9f01"
#define C1 "3b7e1f9a2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e1f"
#define C2 "f00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dface"
#define C3 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define POD1 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" U_ ".slice"
#define POD2 "/kubepods.slice/kubepods-pod" U2_ ".slice"
#define POD3 "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod2a2b2c2d_3e3f_4a4b_8c8d_9e9f0a0b0c0d.slice"
#define CT1 POD1 "/cri-containerd-" C1 ".scope"
#define CT2 POD1 "/cri-containerd-" C2 ".scope"
#define CT3 POD2 "/cri-containerd-" C3 ".scope"

static const struct jp_cg_cpu *find(const struct jp_cg_cpu_set *set, const char *path)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i].path, path) == 0)
			return &set->v[i];
	return NULL;
}

static uint64_t delta_of(const struct jp_cg_cpu_set *set, const char *path)
{
	const struct jp_cg_cpu *c = find(set, path);
	ck_assert_msg(c != NULL, "no entry for %s", path);
	return c->cpu_ns;
}

static uint64_t sum_of(const struct jp_cg_cpu_set *set)
{
	uint64_t s = 0;
	for (size_t i = 0; i < set->n; i++)
		s += set->v[i].cpu_ns;
	return s;
}

static __attribute__((unused)) void write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CREAT, 0644);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

#ifndef JP_CGROUPFS_LIVE

#define FIX JP_SRCDIR "/tests/fixtures/cgroup2/"
#define SEC 1000000000ull

static char root[256], cgroot[300], procroot[300];
static uint64_t tick_ns;

static void setup(void)
{
	jp_log_configure(JP_LOG_ERROR, 0);
	snprintf(root, sizeof(root), "/tmp/jp-cgroupfs-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	char cmd[700];
	snprintf(cmd, sizeof(cmd), "cp -a %s/. %s/", FIX, root);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(cgroot, sizeof(cgroot), "%s/node", root);
	snprintf(procroot, sizeof(procroot), "%s/proc", root);
	tick_ns = 1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK);
}

static void teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cleanup of %s failed\n", root);
}

/* Rewrite a cgroup's cpu.stat (usage in µs) in place. */
static void set_usage(const char *rel, uint64_t usec)
{
	char path[4600], buf[256];
	snprintf(path, sizeof(path), "%s%s/cpu.stat", cgroot, rel);
	snprintf(buf, sizeof(buf), "usage_usec %llu\nuser_usec %llu\nsystem_usec %llu\n",
		 (unsigned long long)usec, (unsigned long long)usec / 2,
		 (unsigned long long)(usec - usec / 2));
	write_file(path, buf);
}

/* Set the node's busy time to the fixture's 15000 ticks plus extra_ns. */
static void set_busy(uint64_t extra_ns)
{
	char path[400], buf[256];
	snprintf(path, sizeof(path), "%s/stat", procroot);
	snprintf(buf, sizeof(buf), "cpu  %llu 0 5000 80000 100 0 0 0 0 0\ncpu0 1 0 0 1\ncpu1 1 0 0 1\n",
		 (unsigned long long)(10000 + extra_ns / tick_ns));
	write_file(path, buf);
}

static void make_cgroup(const char *rel, uint64_t usec)
{
	char path[4600];
	snprintf(path, sizeof(path), "%s%s", cgroot, rel);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	set_usage(rel, usec);
}

/* jp_cgroup_walk: every directory once, parents first, children skipped on request. */
struct walk_log {
	char seen[64][512];
	int n;
};
static int walk_cb(const char *rel, void *arg)
{
	struct walk_log *w = arg;
	ck_assert_int_lt(w->n, 64);
	snprintf(w->seen[w->n++], sizeof(w->seen[0]), "%s", rel);
	/* Do not look inside pod cgroups. */
	return strstr(rel, "-pod") ? 1 : 0;
}
static int walk_seen(const struct walk_log *w, const char *suffix)
{
	int c = 0;
	for (int i = 0; i < w->n; i++) {
		size_t a = strlen(w->seen[i]), b = strlen(suffix);
		if (a >= b && strcmp(w->seen[i] + a - b, suffix) == 0)
			c++;
	}
	return c;
}
START_TEST(test_walk)
{
	char fixture_root[512];
	snprintf(fixture_root, sizeof(fixture_root), "%s/tests/fixtures/cgroup2/node", JP_SRCDIR);
	struct walk_log w = {.n = 0};
	ck_assert_int_eq(jp_cgroup_walk(fixture_root, 8, walk_cb, &w), 0);
	ck_assert_int_eq(walk_seen(&w, "/kubepods.slice"), 1);
	ck_assert_int_eq(walk_seen(&w, "/system.slice/kubelet.service"), 1);
	ck_assert_int_eq(walk_seen(&w, "pod7c1d5e9a_0b2c_4d3e_8f4a_5b6c7d8e9f01.slice"), 1);
	/* Skipped: nothing below a pod was visited. */
	for (int i = 0; i < w.n; i++)
		ck_assert_msg(strstr(w.seen[i], ".scope") == NULL, "visited %s", w.seen[i]);
	for (int i = 0; i < w.n; i++)
		ck_assert(w.seen[i][0] == '/');
	/* Depth 1: only the top level. */
	struct walk_log top = {.n = 0};
	ck_assert_int_eq(jp_cgroup_walk(fixture_root, 1, walk_cb, &top), 0);
	for (int i = 0; i < top.n; i++)
		ck_assert_msg(strchr(top.seen[i] + 1, '/') == NULL, "too deep: %s", top.seen[i]);
	ck_assert_int_lt(jp_cgroup_walk("/nonexistent/cgroup", 8, walk_cb, &top), 0);
}
END_TEST

START_TEST(test_deltas_add_up)
{
	struct jp_cgroupfs *cg = jp_cgroupfs_create(cgroot, procroot, "");
	ck_assert_ptr_nonnull(cg);
	struct jp_cg_cpu_set set = {0};
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	/* "/", three pods, three containers; nothing moved. */
	ck_assert_uint_eq(set.n, 7);
	ck_assert_uint_eq(sum_of(&set), 0);
	jp_cg_cpu_set_clear(&set);

	set_usage(CT1, 6000000 + 1000000);
	set_usage(CT2, 3000000 + 500000);
	set_usage(POD1, 10000000 + 2000000);
	set_usage(CT3, 7500000 + 250000);
	set_usage(POD2, 8000000 + 250000);
	set_usage("/system.slice", 99000000); /* not listed on its own: part of "/" */
	set_busy(5 * SEC);
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	ck_assert_uint_eq(delta_of(&set, CT1), 1 * SEC);
	ck_assert_uint_eq(delta_of(&set, CT2), SEC / 2);
	ck_assert_uint_eq(delta_of(&set, POD1), SEC / 2);  /* the pod's own: 2 s - 1.5 s */
	ck_assert_uint_eq(delta_of(&set, CT3), SEC / 4);
	ck_assert_uint_eq(delta_of(&set, POD2), 0);
	ck_assert_uint_eq(delta_of(&set, POD3), 0);
	ck_assert_uint_eq(delta_of(&set, "/"), 5 * SEC - 2 * SEC - SEC / 4);
	ck_assert_ptr_null(find(&set, "/system.slice"));
	ck_assert_ptr_null(find(&set, "/kubepods.slice"));
	/* Disjoint entries: they add up to the node's busy time. */
	ck_assert_uint_eq(sum_of(&set), 5 * SEC);

	struct stat sb;
	char path[4600];
	snprintf(path, sizeof(path), "%s%s", cgroot, CT1);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_uint_eq(find(&set, CT1)->cgroup_id, (uint64_t)sb.st_ino);

	struct jp_cgroupfs_stats st;
	jp_cgroupfs_get_stats(cg, &st);
	ck_assert_int_eq(st.version, 2);
	ck_assert_uint_eq(st.pods, 3);
	ck_assert_uint_eq(st.containers, 3);
	ck_assert_uint_eq(st.walks, 2);
	ck_assert_uint_eq(st.vanished + st.read_errors + st.new_cgroups + st.clamped, 0);
	jp_cg_cpu_set_free(&set);
	jp_cgroupfs_destroy(cg);
}
END_TEST

START_TEST(test_new_cgroups)
{
	struct jp_cgroupfs *cg = jp_cgroupfs_create(cgroot, procroot, "");
	ck_assert_ptr_nonnull(cg);
	usleep(200000);
	/* Created after the baseline: all their usage is this interval's. */
	const char *np = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
			 "11111111_2222_4333_8444_555555555555.slice";
	char nc[512];
	snprintf(nc, sizeof(nc), "%s/crio-%s.scope", np, C2);
	make_cgroup(np, 100000);
	make_cgroup(nc, 60000);
	char c4[512];
	snprintf(c4, sizeof(c4), "%s/cri-containerd-%s.scope", POD1, C3);
	make_cgroup(c4, 20000);
	set_usage(POD1, 10000000 + 20000);
	/* A "new" cgroup with more CPU time than the interval allows was only missed
	 * before: its reading becomes the baseline. */
	char c5[512];
	snprintf(c5, sizeof(c5), "%s/cri-containerd-%s.scope", POD2, C1);
	make_cgroup(c5, 1000000000);
	set_usage(POD2, 8000000 + 1000000000);
	set_busy(1 * SEC);

	struct jp_cg_cpu_set set = {0};
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	ck_assert_uint_eq(delta_of(&set, np), 40000000);
	ck_assert_uint_eq(delta_of(&set, nc), 60000000);
	ck_assert_uint_eq(delta_of(&set, c4), 20000000);
	ck_assert_uint_eq(delta_of(&set, POD1), 0);
	ck_assert_uint_eq(delta_of(&set, c5), 0);
	struct jp_cgroupfs_stats st;
	jp_cgroupfs_get_stats(cg, &st);
	ck_assert_uint_eq(st.new_cgroups, 3);
	ck_assert_uint_eq(st.clamped, 1);
	jp_cg_cpu_set_clear(&set);

	/* From then on, plain deltas. */
	set_usage(c5, 1000000000 + 3000);
	set_usage(nc, 60000 + 5000);
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	ck_assert_uint_eq(delta_of(&set, c5), 3000000);
	ck_assert_uint_eq(delta_of(&set, nc), 5000000);
	jp_cg_cpu_set_free(&set);
	jp_cgroupfs_destroy(cg);
}
END_TEST

START_TEST(test_vanished_and_reused)
{
	struct jp_cgroupfs *cg = jp_cgroupfs_create(cgroot, procroot, "");
	ck_assert_ptr_nonnull(cg);
	char path[4600], cmd[4700];
	/* Listed but gone before its counter is read: the directory is there, cpu.stat not. */
	snprintf(path, sizeof(path), "%s%s/cpu.stat", cgroot, CT2);
	ck_assert_int_eq(unlink(path), 0);
	/* A pod gone entirely. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s%s'", cgroot, POD3);
	ck_assert_int_eq(system(cmd), 0);
	/* A container removed and created again under the same path: another inode, new. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s%s'", cgroot, CT3);
	ck_assert_int_eq(system(cmd), 0);
	usleep(100000);
	make_cgroup(CT3, 50000);
	set_usage(POD2, 8000000 + 50000);

	struct jp_cg_cpu_set set = {0};
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	ck_assert_ptr_null(find(&set, CT2));
	ck_assert_ptr_null(find(&set, POD3));
	ck_assert_uint_eq(delta_of(&set, CT3), 50000000);
	ck_assert_uint_eq(delta_of(&set, POD2), 0);
	struct jp_cgroupfs_stats st;
	jp_cgroupfs_get_stats(cg, &st);
	ck_assert_uint_eq(st.vanished, 1);
	ck_assert_uint_eq(st.read_errors, 0);
	ck_assert_uint_eq(st.pods, 2);
	jp_cg_cpu_set_free(&set);
	jp_cgroupfs_destroy(cg);
}
END_TEST

START_TEST(test_garbage_keeps_last_good)
{
	struct jp_cgroupfs *cg = jp_cgroupfs_create(cgroot, procroot, "");
	ck_assert_ptr_nonnull(cg);
	char path[4600];
	snprintf(path, sizeof(path), "%s%s/cpu.stat", cgroot, CT1);
	static const char *const bad[] = {"garbage\n", "", "usage_usec\n", "usage_usec 12x\n",
					  "usage_usec 99999999999999999999999\n", "user_usec 5\n"};
	struct jp_cg_cpu_set set = {0};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i]);
		ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
		ck_assert_uint_eq(delta_of(&set, CT1), 0);
		jp_cg_cpu_set_clear(&set);
	}
	struct jp_cgroupfs_stats st;
	jp_cgroupfs_get_stats(cg, &st);
	ck_assert_uint_eq(st.read_errors, sizeof(bad) / sizeof(bad[0]));
	/* A good read again: the time since the last good one, not a "new" cgroup. */
	set_usage(CT1, 6000000 + 2000000);
	set_usage(POD1, 10000000 + 2000000);
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	ck_assert_uint_eq(delta_of(&set, CT1), 2 * SEC);
	jp_cgroupfs_get_stats(cg, &st);
	ck_assert_uint_eq(st.new_cgroups + st.clamped, 0);

	/* Garbage in <procfs>/stat: the system bucket is zero this time and catches up. */
	jp_cg_cpu_set_clear(&set);
	char sp[400];
	snprintf(sp, sizeof(sp), "%s/stat", procroot);
	write_file(sp, "cpu  garbage\n");
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	ck_assert_uint_eq(delta_of(&set, "/"), 0);
	jp_cg_cpu_set_clear(&set);
	set_busy(10 * SEC);
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	ck_assert_uint_eq(delta_of(&set, "/"), 10 * SEC);
	jp_cg_cpu_set_free(&set);
	jp_cgroupfs_destroy(cg);
}
END_TEST

START_TEST(test_cgroup_v1_cpuacct)
{
	char v1[400];
	snprintf(v1, sizeof(v1), "%s/v1-cpuacct", root);
	struct jp_cgroupfs *cg = jp_cgroupfs_create(v1, procroot, "");
	ck_assert_ptr_nonnull(cg);
	const char *pod = "/kubepods/burstable/pod0f3e2c1a-9b8d-4e7f-a6b5-c4d3e2f1a0b9";
	char ct[300], path[800];
	snprintf(ct, sizeof(ct), "%s/%s", pod, C1);
	snprintf(path, sizeof(path), "%s%s/cpuacct.usage", v1, ct);
	write_file(path, "9000000000\n");
	snprintf(path, sizeof(path), "%s%s/cpuacct.usage", v1, pod);
	write_file(path, "10500000000\n");
	set_busy(3 * SEC);
	struct jp_cg_cpu_set set = {0};
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	ck_assert_uint_eq(set.n, 3);
	ck_assert_uint_eq(delta_of(&set, ct), SEC);
	ck_assert_uint_eq(delta_of(&set, pod), SEC / 2);
	ck_assert_uint_eq(delta_of(&set, "/"), 3 * SEC / 2);
	struct jp_cgroupfs_stats st;
	jp_cgroupfs_get_stats(cg, &st);
	ck_assert_int_eq(st.version, 1);
	jp_cg_cpu_set_free(&set);
	jp_cgroupfs_destroy(cg);
}
END_TEST

START_TEST(test_bad_mounts_and_deep_trees)
{
	errno = 0;
	ck_assert_ptr_null(jp_cgroupfs_create(procroot, procroot, ""));
	ck_assert_int_eq(errno, ENOTSUP);
	errno = 0;
	ck_assert_ptr_null(jp_cgroupfs_create(cgroot, "/nonexistent-procfs", ""));
	ck_assert_int_eq(errno, ENOENT);
	jp_cgroupfs_destroy(NULL);

	/* A chain 40 levels deep with a pod at the bottom: beyond the walk's depth bound,
	 * so it is not listed (its time stays in "/"), and nothing breaks. */
	char rel[4096] = "";
	for (int i = 0; i < 40; i++)
		strcat(rel, "/d");
	char path[4600], cmd[9400];
	snprintf(path, sizeof(path), "%s%s/kubepods/pod0f3e2c1a-9b8d-4e7f-a6b5-c4d3e2f1a0b9", cgroot, rel);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && echo 'usage_usec 5' > '%s/cpu.stat'", path, path);
	ck_assert_int_eq(system(cmd), 0);
	struct jp_cgroupfs *cg = jp_cgroupfs_create(cgroot, procroot, "");
	ck_assert_ptr_nonnull(cg);
	struct jp_cg_cpu_set set = {0};
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	ck_assert_uint_eq(set.n, 7);
	jp_cg_cpu_set_free(&set);
	jp_cgroupfs_destroy(cg);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cgroupfs");
	TCase *tc = tcase_create("fixtures");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_walk);
	tcase_add_test(tc, test_deltas_add_up);
	tcase_add_test(tc, test_new_cgroups);
	tcase_add_test(tc, test_vanished_and_reused);
	tcase_add_test(tc, test_garbage_keeps_last_good);
	tcase_add_test(tc, test_cgroup_v1_cpuacct);
	tcase_add_test(tc, test_bad_mounts_and_deep_trees);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#else /* JP_CGROUPFS_LIVE: a pod-shaped cgroup on the real cgroup v2 mount */

static char mnt[4096];
static char kp[4200], qos[4300], pod[4400], ct1[4600], ct2[4600];
static int made_kp, made_qos;

static void rand_hex(char *out, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY);
	unsigned char b[64];
	ck_assert_int_eq(read(fd, b, n / 2 + 1), (ssize_t)(n / 2 + 1));
	close(fd);
	for (size_t i = 0; i < n; i++)
		out[i] = "0123456789abcdef"[(b[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[n] = '\0';
}

static int mkdir_new(const char *path)
{
	if (mkdir(path, 0755) == 0)
		return 1;
	ck_assert_msg(errno == EEXIST, "mkdir %s: %s", path, strerror(errno));
	return 0;
}

/* rmdir, retrying while the last process of the cgroup is still being torn down. */
static void rmdir_retry(const char *path)
{
	for (int i = 0; i < 100; i++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return;
		usleep(20000);
	}
	fprintf(stderr, "live cgroupfs test: cannot remove %s: %s\n", path, strerror(errno));
}

/* Unchecked fixture: runs in the runner's own process, so the cgroups are removed also
 * when a test fails or crashes in its forked child. */
static void live_setup(void)
{
	jp_log_configure(JP_LOG_ERROR, 0);
	char h[33], id1[65], id2[65], uid[40];
	rand_hex(h, 32);
	snprintf(uid, sizeof(uid), "%.8s_%.4s_4%.3s_8%.3s_%.12s", h, h + 8, h + 12, h + 15, h + 18);
	rand_hex(id1, 64);
	rand_hex(id2, 64);
	snprintf(kp, sizeof(kp), "%s/kubepods.slice", mnt);
	snprintf(qos, sizeof(qos), "%s/kubepods-burstable.slice", kp);
	snprintf(pod, sizeof(pod), "%s/kubepods-burstable-pod%s.slice", qos, uid);
	snprintf(ct1, sizeof(ct1), "%s/cri-containerd-%s.scope", pod, id1);
	snprintf(ct2, sizeof(ct2), "%s/cri-containerd-%s.scope", pod, id2);
	made_kp = mkdir_new(kp);
	made_qos = mkdir_new(qos);
	ck_assert_int_eq(mkdir(pod, 0755), 0);
	ck_assert_int_eq(mkdir(ct1, 0755), 0);
}

static void live_teardown(void)
{
	rmdir_retry(ct2);
	rmdir_retry(ct1);
	rmdir_retry(pod);
	if (made_qos)
		rmdir_retry(qos);
	if (made_kp)
		rmdir_retry(kp);
}

static uint64_t usage_ns_of(const char *dir)
{
	char path[4700], buf[4096];
	snprintf(path, sizeof(path), "%s/cpu.stat", dir);
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	unsigned long long us;
	ck_assert_int_eq(sscanf(buf, "usage_usec %llu", &us), 1);
	return us * 1000;
}

/* Run a child inside cgroup dir that burns ms of CPU, and wait for it to end. */
static void burn_in(const char *dir, int ms)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char path[4700], buf[32];
		snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
		snprintf(buf, sizeof(buf), "%d\n", getpid());
		int fd = open(path, O_WRONLY);
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			_exit(3);
		close(fd);
		struct timespec t;
		volatile unsigned long x = 0;
		do {
			for (int i = 0; i < 100000; i++)
				x += (unsigned long)i;
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
		} while (t.tv_sec * 1000 + t.tv_nsec / 1000000 < ms);
		_exit(0);
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "busy child failed (%d)", st);
}

START_TEST(test_live_pod_cgroup)
{
	const char *rel_ct1 = ct1 + strlen(mnt), *rel_ct2 = ct2 + strlen(mnt), *rel_pod = pod + strlen(mnt);
	struct jp_cgroupfs *cg = jp_cgroupfs_create(mnt, "/proc", "");
	ck_assert_ptr_nonnull(cg);
	uint64_t base1 = usage_ns_of(ct1);

	burn_in(ct1, 300);
	struct jp_cg_cpu_set set = {0};
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	/* The child has exited, so cpu.stat no longer moves: the delta must match it. */
	uint64_t want = usage_ns_of(ct1) - base1;
	ck_assert_uint_ge(want, 250000000);
	ck_assert_uint_eq(delta_of(&set, rel_ct1), want);
	ck_assert_uint_eq(delta_of(&set, rel_pod), 0);
	jp_cg_cpu_set_clear(&set);

	/* A container created after the last walk: all its usage is this interval's. The
	 * pod's link count changed: its directory is listed again. */
	struct jp_cgroupfs_stats s0, s1;
	jp_cgroupfs_get_stats(cg, &s0);
	ck_assert_int_eq(mkdir(ct2, 0755), 0);
	burn_in(ct2, 200);
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	jp_cgroupfs_get_stats(cg, &s1);
	ck_assert_uint_ge(s1.pod_listings, s0.pod_listings + 1);
	uint64_t want2 = usage_ns_of(ct2);
	ck_assert_uint_ge(want2, 150000000);
	ck_assert_uint_eq(delta_of(&set, rel_ct2), want2);
	ck_assert_uint_eq(delta_of(&set, rel_ct1), 0);
	/* The system bucket is the node's busy time minus the pods': the whole set adds up
	 * to at least what our children burnt. */
	ck_assert_uint_ge(sum_of(&set), want2);
	jp_cg_cpu_set_clear(&set);

	/* The walks keep each cpu.stat open and read it again with pread. A container removed
	 * and made again under the same path: the kept descriptor reads ENODEV on cgroupfs,
	 * the path is opened afresh, and the new cgroup counts from 0. */
	ck_assert_int_eq(rmdir(ct2), 0);
	ck_assert_int_eq(mkdir(ct2, 0755), 0);
	burn_in(ct2, 100);
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	uint64_t want3 = usage_ns_of(ct2);
	ck_assert_uint_ge(want3, 50000000);
	ck_assert_uint_eq(delta_of(&set, rel_ct2), want3);
	jp_cg_cpu_set_clear(&set);
	/* And a kept descriptor goes on reading the same cgroup, the pod's directory not
	 * listed (its containers are the same). */
	burn_in(ct1, 100);
	jp_cgroupfs_get_stats(cg, &s0);
	uint64_t base_ct1 = usage_ns_of(ct1);
	ck_assert_int_eq(jp_cgroupfs_collect(cg, &set), 0);
	jp_cgroupfs_get_stats(cg, &s1);
	ck_assert_uint_eq(s1.pod_listings, s0.pod_listings);
	ck_assert_uint_ge(delta_of(&set, rel_ct1), 50000000);
	ck_assert_uint_le(delta_of(&set, rel_ct1), base_ct1);
	jp_cg_cpu_set_free(&set);
	jp_cgroupfs_destroy(cg);
}
END_TEST

int main(void)
{
	int ci = getenv("CI") && strcmp(getenv("CI"), "true") == 0;
	const char *why = NULL;
	if (geteuid() != 0)
		why = "not root";
	else if (jp_cgroup2_find_mount("/proc", mnt, sizeof(mnt)) != 0)
		why = "no cgroup v2 mount";
	if (why) {
		fprintf(stderr, "check_cgroupfs_live: %s\n", why);
		return ci ? EXIT_FAILURE : 77;
	}
	Suite *s = suite_create("cgroupfs_live");
	TCase *tc = tcase_create("live");
	tcase_add_unchecked_fixture(tc, live_setup, live_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_live_pod_cgroup);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
