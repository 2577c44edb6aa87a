/* SPDX-License-Identifier: Apache-2.0 */
/* The eBPF collector on the real kernel: its per-cgroup CPU time against the cgroup's own cpu.stat. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
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

/* The node collector with the eBPF collector and the power model, as the tests use it. */
static struct jp_collector *open_ebpf_node(struct jp_config *cfg)
{
	ck_assert_int_eq(jp_config_defaults(cfg), 0);
	cfg->collector_mode = JP_COLLECTOR_EBPF;
	cfg->power_source = JP_POWER_MODEL;
	struct jp_collector *n = jp_node_ops.open(cfg);
	ck_assert_ptr_nonnull(n);
	return n;
}

/* On kernels that refuse map reads after the privilege drop, the node collector switches
 * to cgroupfs instead of failing every round (the refusal comes through the seam). */
START_TEST(test_node_falls_back_to_cgroupfs)
{
	struct jp_config cfg;
	struct jp_collector *n = open_ebpf_node(&cfg);
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

/* --- the node's listing of pods that did not run ------------------------------------- */

/* Pod-shaped cgroups for the listing test, under kubepods.slice/kubepods-besteffort.slice:
 * pod k (1..LST_PODS) with one container. The slices are made, and everything is removed,
 * by an unchecked fixture in the runner's own process, so that nothing stays behind when
 * the test fails in its forked child (whose exit runs no atexit handler). */
#define LST_PODS 3
static unsigned lst_tag;       /* the runner's pid: in every name, so runs never meet */
static int lst_made_kp, lst_made_qos;

static void lst_slices(char *kp, char *qos, size_t len)
{
	snprintf(kp, len, "%s/kubepods.slice", mount_dir);
	snprintf(qos, len, "%s/kubepods.slice/kubepods-besteffort.slice", mount_dir);
}

/* Pod k's UID (5eedTTTT-1111-4222-8333-00000000000k), its directory and its container's. */
static void lst_paths(int k, char *uid, size_t uid_len, char *pod, char *ct, size_t len)
{
	snprintf(uid, uid_len, "5eed%04x-1111-4222-8333-%012d", lst_tag & 0xffff, k);
	char us[64];
	snprintf(us, sizeof(us), "%s", uid);
	for (char *c = us; *c; c++)
		if (*c == '-')
			*c = '_';
	snprintf(pod, len, "%s/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice", mount_dir,
		 us);
	snprintf(ct, len, "%s/cri-containerd-%060x%04d.scope", pod, 0x5eedu, k);
}

static int lst_mkdir(const char *path)
{
	if (mkdir(path, 0755) == 0)
		return 1;
	if (errno != EEXIST) {
		fprintf(stderr, "check_bpf: mkdir %s: %s\n", path, strerror(errno));
		return 0;
	}
	return 0;
}

static void lst_rmdir(const char *path)
{
	/* A killed task can leave its cgroup a moment after it was reaped. */
	for (int try = 0; try < 100 && rmdir(path) < 0 && errno == EBUSY; try++)
		usleep(10000);
}

static void lst_setup(void)
{
	char kp[4300], qos[4300];
	lst_tag = (unsigned)getpid();
	lst_slices(kp, qos, sizeof(kp));
	lst_made_kp = lst_mkdir(kp);
	lst_made_qos = lst_mkdir(qos);
}

static void lst_teardown(void)
{
	char uid[64], pod[4300], ct[4400], kp[4300], qos[4300];
	for (int k = LST_PODS; k >= 1; k--) {
		lst_paths(k, uid, sizeof(uid), pod, ct, sizeof(pod));
		lst_rmdir(ct);
		lst_rmdir(pod);
	}
	lst_slices(kp, qos, sizeof(kp));
	if (lst_made_qos)
		lst_rmdir(qos);
	if (lst_made_kp)
		lst_rmdir(kp);
}

/* Make pod k and its container; the container's directory into ct (len bytes). */
static void lst_pod(int k, char *uid, size_t uid_len, char *ct, size_t len)
{
	char pod[4300];
	lst_paths(k, uid, uid_len, pod, ct, len);
	ck_assert_msg(mkdir(pod, 0755) == 0, "mkdir %s: %s", pod, strerror(errno));
	ck_assert_msg(mkdir(ct, 0755) == 0, "mkdir %s: %s", ct, strerror(errno));
}


static int lst_has(const struct jp_interval *iv, const char *uid)
{
	for (size_t i = 0; i < iv->nrows; i++)
		if (strcmp(iv->rows[i].pod_uid, uid) == 0)
			return 1;
	return 0;
}

static void lst_round(struct jp_collector *n, struct jp_store *st, struct jp_interval *iv, int64_t *t)
{
	*t += 1000;
	jp_store_begin(st, *t);
	jp_interval_reset(iv, 1000);
	ck_assert_int_eq(jp_collector_collect(n, iv), 0);
	jp_store_commit(st, NULL, NULL);
}

/* Wait (up to 5 s) until no removed cgroup is still being freed on the mount: freeing one
 * changes cgroup.stat's nr_dying_descendants, which rightly makes the node walk. */
static void lst_quiet(void)
{
	char path[4300], key[64];
	unsigned long long v;
	snprintf(path, sizeof(path), "%s/cgroup.stat", mount_dir);
	for (int i = 0; i < 100; i++) {
		FILE *f = fopen(path, "re");
		ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
		unsigned long long dying = 1;
		while (fscanf(f, "%63s %llu", key, &v) == 2)
			if (strcmp(key, "nr_dying_descendants") == 0)
				dying = v;
		fclose(f);
		if (dying == 0)
			return;
		usleep(50000);
	}
}

/* A round that walks the tree no more: other tests make and remove cgroups at the same
 * time (make check runs two at once), which rightly makes a round walk; so rounds are
 * tried until one lists from what it kept. */
static void lst_steady_round(struct jp_collector *n, struct jp_store *st, struct jp_interval *iv, int64_t *t)
{
	for (int i = 0; i < 100; i++) {
		uint64_t w = jp_node_pod_list_walks(n);
		lst_round(n, st, iv, t);
		if (jp_node_pod_list_walks(n) == w)
			return;
		usleep(50000);
	}
	ck_abort_msg("every one of 100 rounds walked the cgroup tree");
}

/* With eBPF the node lists pod cgroups (for pods that did not run) by walking the tree;
 * it keeps the listing while the tree is unchanged and walks again when the cgroup
 * mount's counts change, when a cgroup never seen runs, every 12 rounds, and on every
 * round that cannot read the counts. */
START_TEST(test_node_pod_listing_kept)
{
	char uid_a[64], uid_b[64], uid_c[64], ct_a[4400], ct_b[4400], ct_c[4400];
	lst_pod(1, uid_a, sizeof(uid_a), ct_a, sizeof(ct_a));

	struct jp_config cfg;
	struct jp_collector *n = open_ebpf_node(&cfg);
	struct jp_interval iv = {0};
	struct jp_store *st = jp_store_create(NULL, 0, 8);
	ck_assert_ptr_nonnull(st);
	int64_t t = 1000000;

	lst_round(n, st, &iv, &t);
	ck_assert_uint_ge(jp_node_pod_list_walks(n), 1);
	ck_assert_msg(lst_has(&iv, uid_a), "pod %s not listed", uid_a);
	/* Unchanged: the kept listing, with the pod that never ran still in it. */
	lst_steady_round(n, st, &iv, &t);
	ck_assert_msg(lst_has(&iv, uid_a), "pod %s missing from the kept listing", uid_a);

	/* A cgroup made while the listing is kept, then run in: the eBPF collector meets an
	 * id it never saw, and the listing is walked again. (Before any cgroup of this test is
	 * removed: a removed cgroup, freed later, changes the counts by itself.) */
	lst_pod(3, uid_c, sizeof(uid_c), ct_c, sizeof(ct_c));
	lst_quiet();
	lst_round(n, st, &iv, &t);
	lst_steady_round(n, st, &iv, &t);
	ck_assert_msg(lst_has(&iv, uid_c), "pod %s not listed", uid_c);
	uint64_t bw = jp_node_pod_list_walks(n);
	pid_t kid = spawn(ct_c, KID_BUSY, -1);
	usleep(20000);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	nkids--;
	lst_round(n, st, &iv, &t);
	ck_assert_uint_gt(jp_node_pod_list_walks(n), bw);

	/* A new pod whose container never runs: the counts changed, so it is listed. */
	lst_pod(2, uid_b, sizeof(uid_b), ct_b, sizeof(ct_b));
	uint64_t w = jp_node_pod_list_walks(n);
	lst_round(n, st, &iv, &t);
	ck_assert_uint_gt(jp_node_pod_list_walks(n), w);
	ck_assert_msg(lst_has(&iv, uid_b) && lst_has(&iv, uid_a), "new pod %s not listed", uid_b);
	/* Removed again: gone from the next round. */
	ck_assert_int_eq(rmdir(ct_b), 0);
	ck_assert_int_eq(rmdir(dirname(ct_b)), 0);
	lst_round(n, st, &iv, &t);
	ck_assert_msg(!lst_has(&iv, uid_b), "removed pod %s still listed", uid_b);

	/* Twelve rounds from the kept listing at most, then a walk. */
	lst_steady_round(n, st, &iv, &t);
	w = jp_node_pod_list_walks(n);
	for (int i = 0; i < 12; i++)
		lst_round(n, st, &iv, &t);
	ck_assert_uint_gt(jp_node_pod_list_walks(n), w);

	/* cgroup.stat unreadable (through the seam): every round walks. */
	jp_node_inject_list_error(n, -EIO);
	w = jp_node_pod_list_walks(n);
	lst_round(n, st, &iv, &t);
	lst_round(n, st, &iv, &t);
	ck_assert_uint_eq(jp_node_pod_list_walks(n), w + 2);
	ck_assert_msg(lst_has(&iv, uid_a) && lst_has(&iv, uid_c), "pods missing from a walked listing");
	jp_node_inject_list_error(n, 0);
	lst_round(n, st, &iv, &t);
	lst_steady_round(n, st, &iv, &t);

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
	TCase *tl = tcase_create("listing");
	tcase_set_timeout(tl, 60);
	tcase_add_unchecked_fixture(tl, lst_setup, lst_teardown);
	tcase_add_test(tl, test_node_pod_listing_kept);
	suite_add_tcase(s, tl);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
