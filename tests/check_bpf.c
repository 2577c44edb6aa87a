/* SPDX-License-Identifier: Apache-2.0 */
/* The eBPF collector on the real kernel: its per-cgroup CPU time against the cgroup's own cpu.stat. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collect/bpf.h"
#include "collect/node.h"
#include "config.h"
#include "store/series.h"
#include "collect/cgroup.h"

#define MAX_KIDS 16
#define MAX_CGS 8

static char mount_dir[4096];
static char test_dir[4096]; /* <mount>/jp-test-<pid> */
static pid_t kids[MAX_KIDS];
static int nkids;
static char cgs[MAX_CGS][4200];
static int ncgs;

/* Kill every child and remove every cgroup this test made. Safe to call twice; also
 * registered with atexit() so that a failed assertion (which exits the test's process)
 * still leaves no cgroup behind. */
static void cleanup(void)
{
	for (int i = 0; i < nkids; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < nkids; i++)
		waitpid(kids[i], NULL, 0);
	nkids = 0;
	for (int i = ncgs - 1; i >= 0; i--) {
		/* A reaped task can leave its cgroup a moment after waitpid() returns. */
		for (int try = 0; try < 100 && rmdir(cgs[i]) < 0 && errno == EBUSY; try++)
			usleep(10000);
	}
	ncgs = 0;
}

static const char *cg_create(const char *name)
{
	ck_assert_int_lt(ncgs, MAX_CGS);
	char *p = cgs[ncgs];
	if (name)
		snprintf(p, sizeof(cgs[0]), "%s/%s", test_dir, name);
	else
		snprintf(p, sizeof(cgs[0]), "%s", test_dir);
	ck_assert_msg(mkdir(p, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", p, strerror(errno));
	ncgs++;
	return p;
}

/* The path the collector reports: relative to the mount, starting with '/'. */
static const char *cg_rel(const char *abs)
{
	return abs + strlen(mount_dir);
}

static void cg_attach(const char *cg, pid_t pid)
{
	char path[4300];
	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	FILE *f = fopen(path, "we");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fprintf(f, "%d\n", (int)pid);
	ck_assert_msg(fclose(f) == 0, "moving %d to %s: %s", (int)pid, cg, strerror(errno));
}

static uint64_t cg_usage_ns(const char *cg)
{
	char path[4300], key[64];
	unsigned long long v;
	uint64_t usec = 0;
	snprintf(path, sizeof(path), "%s/cpu.stat", cg);
	FILE *f = fopen(path, "re");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fscanf(f, "%63s %llu", key, &v) == 2)
		if (strcmp(key, "usage_usec") == 0)
			usec = v;
	fclose(f);
	return usec * 1000;
}

static void pin_to(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

enum kid_kind { KID_BUSY, KID_SLEEPY };

/* Fork a child that dies with us, optionally pinned to one CPU, move it into cg, then let it
 * run its pattern. The child waits on a pipe until it is in the cgroup. */
static pid_t spawn(const char *cg, enum kid_kind kind, int cpu)
{
	int go[2];
	ck_assert_int_eq(pipe(go), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char c;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(go[1]);
		if (cpu >= 0)
			pin_to(cpu);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		volatile uint64_t x = 0;
		if (kind == KID_BUSY)
			for (;;)
				x++;
		/* Many short runs: spin ~50 us, sleep ~200 us. */
		for (;;) {
			struct timespec t0, t1, nap = {0, 200000};
			clock_gettime(CLOCK_MONOTONIC, &t0);
			do {
				for (int i = 0; i < 1000; i++)
					x++;
				clock_gettime(CLOCK_MONOTONIC, &t1);
			} while ((t1.tv_sec - t0.tv_sec) * 1000000000L + t1.tv_nsec - t0.tv_nsec < 50000);
			nanosleep(&nap, NULL);
		}
	}
	close(go[0]);
	kids[nkids++] = pid;
	cg_attach(cg, pid);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	close(go[1]);
	return pid;
}

/* Two processes in cg that bounce one byte over two pipes for ever: every run is a few
 * microseconds, so the time is made of thousands of context switches. */
static void spawn_ping_pong(const char *cg)
{
	int ab[2], ba[2];
	ck_assert_int_eq(pipe(ab), 0);
	ck_assert_int_eq(pipe(ba), 0);
	for (int side = 0; side < 2; side++) {
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			char c = 'p';
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			int in = side ? ab[0] : ba[0], out = side ? ba[1] : ab[1];
			/* Wait until both are in the cgroup: the parent sends the first byte. */
			for (;;) {
				if (read(in, &c, 1) != 1)
					_exit(1);
				if (write(out, &c, 1) != 1)
					_exit(1);
			}
		}
		kids[nkids++] = pid;
		cg_attach(cg, pid);
	}
	/* Start the ball: side 1 reads ab. */
	ck_assert_int_eq(write(ab[1], "x", 1), 1);
	close(ab[0]);
	close(ab[1]);
	close(ba[0]);
	close(ba[1]);
}

static uint64_t find_ns(const struct jp_cg_cpu_set *set, const char *rel)
{
	uint64_t ns = 0;
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->v[i].path, rel) == 0)
			ns += set->v[i].cpu_ns;
	return ns;
}

static struct jp_bpf_collector *collector(void)
{
	char why[256];
	struct jp_bpf_collector *c = jp_bpf_collector_create(mount_dir, 0, why, sizeof(why));
	ck_assert_msg(c != NULL, "jp_bpf_collector_create: %s", why);
	return c;
}

/* Measure `n` cgroups over `ms` milliseconds: eBPF ns from one drain at each end. cpu.stat
 * is read just before and just after each drain, so that the kernel's own figure for the
 * same drain-to-drain window lies between after-before and the wider bracket; the value
 * compared is the point of that bracket nearest to eBPF's. A test process that is
 * descheduled between a drain and its read of cpu.stat (a busy CI machine) then cannot make
 * a correct collector look wrong. */
/* Stop (or continue) every child. Stopped, each has ended its running slice, which the
 * sched_switch program counts when a slice ends: a process that runs on an otherwise idle
 * CPU can go seconds without a switch, and its open slice would be counted in the next
 * window, not this one (docs/ebpf.md). The comparison is then between the same slices. */
static void kids_stop(int stop)
{
	for (int i = 0; i < nkids; i++) {
		kill(kids[i], stop ? SIGSTOP : SIGCONT);
		if (stop) {
			int st;
			while (waitpid(kids[i], &st, WUNTRACED) < 0 && errno == EINTR)
				;
		}
	}
}

static void measure(struct jp_bpf_collector *c, const char *const *cg, int n, int ms,
		    uint64_t *bpf_ns, uint64_t *stat_ns)
{
	struct jp_cg_cpu_set set = {0};
	uint64_t b0[MAX_CGS], b1[MAX_CGS];

	usleep(100000); /* let the children settle into their pattern */
	kids_stop(1);
	for (int i = 0; i < n; i++)
		b0[i] = cg_usage_ns(cg[i]);
	ck_assert_int_eq(jp_bpf_collector_drain(c, &set), 0);
	for (int i = 0; i < n; i++)
		b1[i] = cg_usage_ns(cg[i]);
	kids_stop(0);
	jp_cg_cpu_set_clear(&set);
	usleep((useconds_t)ms * 1000);
	uint64_t a0[MAX_CGS];
	kids_stop(1);
	for (int i = 0; i < n; i++)
		a0[i] = cg_usage_ns(cg[i]);
	ck_assert_int_eq(jp_bpf_collector_drain(c, &set), 0);
	kids_stop(0);
	for (int i = 0; i < n; i++) {
		uint64_t a1 = cg_usage_ns(cg[i]);
		uint64_t lo = a0[i] - b1[i], hi = a1 - b0[i];
		bpf_ns[i] = find_ns(&set, cg_rel(cg[i]));
		stat_ns[i] = bpf_ns[i] < lo ? lo : bpf_ns[i] > hi ? hi : bpf_ns[i];
	}
	jp_cg_cpu_set_free(&set);
}

static double rel_err(uint64_t a, uint64_t b)
{
	return b ? fabs((double)a - (double)b) / (double)b : 1.0;
}

START_TEST(test_single_busy)
{
	const char *cg[1];
	uint64_t b[1], s[1];
	cg_create(NULL);
	cg[0] = cg_create("one");
	spawn(cg[0], KID_BUSY, -1);
	struct jp_bpf_collector *c = collector();
	measure(c, cg, 1, 2000, b, s);
	ck_assert_int_gt(jp_bpf_collector_prog_id(c), 0);
	jp_bpf_collector_destroy(c);
	cleanup();
	printf("single busy: bpf %.3f s, cpu.stat %.3f s, error %.2f %%\n", b[0] / 1e9, s[0] / 1e9,
	       100 * rel_err(b[0], s[0]));
	ck_assert_msg(s[0] > 200000000ull, "the busy child ran only %.3f s", s[0] / 1e9);
	ck_assert_msg(rel_err(b[0], s[0]) <= 0.05, "bpf %llu ns vs cpu.stat %llu ns",
		      (unsigned long long)b[0], (unsigned long long)s[0]);
}
END_TEST

/* A task that is already running when the program is attached, alone on its CPU, may
 * not be switched out for seconds. The flush must take it over (and charge it from then
 * on) although its switch-in was never seen: before it did, such a task was charged
 * nothing until its first switch-out. The drains here do not stop the child, so its first
 * switch-out may come long after the second one. */
START_TEST(test_running_at_attach)
{
	const char *cg[1];
	uint64_t b0, b1, a0, a1;
	int cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
	cg_create(NULL);
	cg[0] = cg_create("early");
	spawn(cg[0], KID_BUSY, cpu);
	usleep(200000);
	struct jp_bpf_collector *c = collector();
	struct jp_cg_cpu_set set = {0};
	b0 = cg_usage_ns(cg[0]);
	ck_assert_int_eq(jp_bpf_collector_drain(c, &set), 0);
	b1 = cg_usage_ns(cg[0]);
	jp_cg_cpu_set_clear(&set);
	usleep(1000000);
	a0 = cg_usage_ns(cg[0]);
	ck_assert_int_eq(jp_bpf_collector_drain(c, &set), 0);
	a1 = cg_usage_ns(cg[0]);
	uint64_t bpf = find_ns(&set, cg_rel(cg[0]));
	jp_cg_cpu_set_free(&set);
	jp_bpf_collector_destroy(c);
	cleanup();
	uint64_t lo = a0 - b1, hi = a1 - b0;
	uint64_t stat = bpf < lo ? lo : bpf > hi ? hi : bpf;
	printf("running at attach: bpf %.3f s, cpu.stat %.3f s\n", bpf / 1e9, stat / 1e9);
	ck_assert_msg(stat > 200000000ull, "the busy child ran only %.3f s", stat / 1e9);
	ck_assert_msg(rel_err(bpf, stat) <= 0.05, "bpf %llu ns vs cpu.stat %llu ns",
		      (unsigned long long)bpf, (unsigned long long)stat);
}
END_TEST

START_TEST(test_two_to_one)
{
	const char *cg[2];
	uint64_t b[2], s[2];
	/* All three on one CPU, so that the scheduler's fairness between tasks gives exactly
	 * 1/3 each; spread over two CPUs, three tasks do not share evenly. */
	int cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
	cg_create(NULL);
	cg[0] = cg_create("a");
	cg[1] = cg_create("b");
	spawn(cg[0], KID_BUSY, cpu);
	spawn(cg[1], KID_BUSY, cpu);
	spawn(cg[1], KID_BUSY, cpu);
	struct jp_bpf_collector *c = collector();
	measure(c, cg, 2, 2000, b, s);
	jp_bpf_collector_destroy(c);
	cleanup();
	double ratio = b[0] ? (double)b[1] / (double)b[0] : 0;
	printf("2:1: bpf a %.3f s, b %.3f s, ratio %.3f; cpu.stat a %.3f s, b %.3f s\n", b[0] / 1e9,
	       b[1] / 1e9, ratio, s[0] / 1e9, s[1] / 1e9);
	ck_assert_msg(fabs(ratio - 2.0) <= 0.2, "b/a = %.3f, want 2 +- 10 %%", ratio);
	for (int i = 0; i < 2; i++)
		ck_assert_msg(rel_err(b[i], s[i]) <= 0.05, "%s: bpf %llu ns vs cpu.stat %llu ns",
			      cg[i], (unsigned long long)b[i], (unsigned long long)s[i]);
}
END_TEST

START_TEST(test_short_runs)
{
	const char *cg[2];
	uint64_t b[2], s[2];
	cg_create(NULL);
	cg[0] = cg_create("pingpong");
	cg[1] = cg_create("sleepy");
	spawn_ping_pong(cg[0]);
	spawn(cg[1], KID_SLEEPY, -1);
	struct jp_bpf_collector *c = collector();
	measure(c, cg, 2, 2000, b, s);
	jp_bpf_collector_destroy(c);
	cleanup();
	printf("ping-pong: bpf %.3f s, cpu.stat %.3f s, error %.2f %%\n", b[0] / 1e9, s[0] / 1e9,
	       100 * rel_err(b[0], s[0]));
	printf("sleepy: bpf %.3f s, cpu.stat %.3f s, error %.2f %%\n", b[1] / 1e9, s[1] / 1e9,
	       100 * rel_err(b[1], s[1]));
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(s[i] > 100000000ull, "%s ran only %.3f s", cg[i], s[i] / 1e9);
		ck_assert_msg(rel_err(b[i], s[i]) <= 0.05, "%s: bpf %llu ns vs cpu.stat %llu ns",
			      cg[i], (unsigned long long)b[i], (unsigned long long)s[i]);
	}
}
END_TEST

/* A map of two entries on a node with many cgroups that run: the inserts it refuses
 * are counted, never silently lost, and the map says its capacity. */
START_TEST(test_map_full_counted)
{
	const char *cg[1];
	cg_create(NULL);
	cg[0] = cg_create("busy");
	spawn(cg[0], KID_BUSY, -1);
	char why[256];
	struct jp_bpf_collector *c = jp_bpf_collector_create(mount_dir, 2, why, sizeof(why));
	ck_assert_msg(c != NULL, "jp_bpf_collector_create: %s", why);
	ck_assert_uint_eq(jp_bpf_collector_capacity(c), 2);
	/* Children in three more cgroups, each waking often. */
	const char *more[3] = {cg_create("w1"), cg_create("w2"), cg_create("w3")};
	for (int i = 0; i < 3; i++)
		spawn(more[i], KID_SLEEPY, -1);
	usleep(500000);
	struct jp_cg_cpu_set set = {0};
	ck_assert_int_eq(jp_bpf_collector_drain(c, &set), 0);
	uint64_t full = jp_bpf_collector_map_full(c);
	printf("map of 2 entries: %zu rows, %llu refused inserts\n", set.n, (unsigned long long)full);
	ck_assert_uint_le(set.n, 2);
	ck_assert_uint_gt(full, 0);
	jp_cg_cpu_set_free(&set);
	/* A map of the default size refuses nothing here. */
	struct jp_bpf_collector *d = collector();
	ck_assert_uint_ge(jp_bpf_collector_capacity(d), 16384);
	usleep(300000);
	ck_assert_uint_eq(jp_bpf_collector_map_full(d), 0);
	jp_bpf_collector_destroy(d);
	jp_bpf_collector_destroy(c);
	cleanup();
}
END_TEST

/* On kernels that refuse map reads after the privilege drop, the node collector switches
 * to cgroupfs instead of failing every round (the refusal comes through the seam). */
START_TEST(test_node_falls_back_to_cgroupfs)
{
	struct jp_config cfg;
	ck_assert_int_eq(jp_config_defaults(&cfg), 0);
	cfg.collector_mode = JP_COLLECTOR_EBPF;
	cfg.power_source = JP_POWER_MODEL;
	struct jp_collector *n = jp_node_ops.open(&cfg);
	ck_assert_ptr_nonnull(n);
	ck_assert_str_eq(n->name, "ebpf");
	struct jp_interval iv = {0};
	struct jp_store *st = jp_store_create(NULL, 0, 8);
	ck_assert_ptr_nonnull(st);
	int64_t t = 1000000;
	jp_store_begin(st, t);
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_collector_collect(n, &iv), 0);
	jp_store_commit(st, NULL, NULL);
	jp_node_inject_bpf_error(n, -EPERM);
	for (int i = 1; i <= 2; i++) {
		jp_store_begin(st, t + i * 1000);
		jp_interval_reset(&iv, 1000);
		ck_assert_int_eq(jp_collector_collect(n, &iv), 0);
		jp_store_commit(st, NULL, NULL);
	}
	ck_assert_str_eq(n->name, "cgroupfs");
	jp_collector_close(n);
	jp_interval_free(&iv);
	jp_store_destroy(st);
	jp_config_free(&cfg);
}
END_TEST

START_TEST(test_bad_mount)
{
	errno = 0;
	char why[256];
	struct jp_bpf_collector *c = jp_bpf_collector_create("/nonexistent/cgroup", 0, why, sizeof(why));
	ck_assert_ptr_null(c);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_msg(strstr(why, "/nonexistent/cgroup") != NULL, "%s", why);
	jp_bpf_collector_destroy(NULL);
}
END_TEST

int main(void)
{
	const char *ci = getenv("CI");
	int strict = ci && strcmp(ci, "true") == 0;
	const char *why = NULL;

	if (geteuid() != 0)
		why = "needs root (CAP_BPF, CAP_PERFMON, writing cgroup.procs)";
	else if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		why = "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
	else if (jp_cgroup2_find_mount("/proc", mount_dir, sizeof(mount_dir)) < 0)
		why = "no cgroup v2 mount";
	if (why) {
		fprintf(stderr, "check_bpf: %s\n", why);
		return strict ? 1 : 77;
	}
	snprintf(test_dir, sizeof(test_dir), "%s/jp-test-%d", mount_dir, (int)getpid());
	atexit(cleanup);

	Suite *s = suite_create("bpf");
	TCase *tc = tcase_create("kernel");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_bad_mount);
	tcase_add_test(tc, test_map_full_counted);
	tcase_add_test(tc, test_node_falls_back_to_cgroupfs);
	tcase_add_test(tc, test_single_busy);
	tcase_add_test(tc, test_running_at_attach);
	tcase_add_test(tc, test_two_to_one);
	tcase_add_test(tc, test_short_runs);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
