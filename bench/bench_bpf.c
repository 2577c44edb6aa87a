/* SPDX-License-Identifier: Apache-2.0 */
/* Cost of the sched_switch probe per invocation under a context-switch-heavy load (kernel.bpf_stats_enabled). */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cgroup_cpu.skel.h"
#include "collect/bpf.h"
#include "collect/cgroup.h"

#define STATS_SYSCTL "/proc/sys/kernel/bpf_stats_enabled"

static int read_sysctl(int *v)
{
	FILE *f = fopen(STATS_SYSCTL, "re");
	if (!f)
		return -errno;
	int ok = fscanf(f, "%d", v) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

static int write_sysctl(int v)
{
	FILE *f = fopen(STATS_SYSCTL, "we");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", v);
	return fclose(f) == 0 ? 0 : -errno;
}

/* Two processes bouncing one byte over two pipes on one CPU: every hand-over is a context
 * switch, the worst case for a sched_switch probe. */
static pid_t spawn_pair(pid_t *second)
{
	int ab[2], ba[2];
	if (pipe(ab) < 0 || pipe(ba) < 0)
		return -1;
	pid_t p[2];
	for (int side = 0; side < 2; side++) {
		p[side] = fork();
		if (p[side] < 0)
			return -1;
		if (p[side] == 0) {
			char c = 'x';
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			/* Both on CPU 0: every hand-over is a direct switch between the two, so the
			 * rate (and what a switch costs) does not depend on where the scheduler
			 * happens to put them. */
			cpu_set_t one;
			CPU_ZERO(&one);
			CPU_SET(0, &one);
			sched_setaffinity(0, sizeof(one), &one);
			int in = side ? ab[0] : ba[0], out = side ? ba[1] : ab[1];
			if (side == 0 && write(out, &c, 1) != 1)
				_exit(1);
			for (;;)
				if (read(in, &c, 1) != 1 || write(out, &c, 1) != 1)
					_exit(1);
		}
	}
	close(ab[0]);
	close(ab[1]);
	close(ba[0]);
	close(ba[1]);
	*second = p[1];
	return p[0];
}

static uint64_t ctxt_switches(void)
{
	FILE *f = fopen("/proc/stat", "re");
	char line[256];
	unsigned long long v = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "ctxt %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* A program's cumulated run time and count (kernel.bpf_stats_enabled). */
static void prog_stats(int fd, uint64_t *ns, uint64_t *n)
{
	struct bpf_prog_info info = {0};
	uint32_t len = sizeof(info);
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
		*ns = info.run_time_ns;
		*n = info.run_cnt;
	}
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 10;
	char mount[4096];
	int old = 0, ret = 1;
	struct jp_bpf_collector *c = NULL;
	struct jp_cg_cpu_set set = {0};
	pid_t a = -1, b = -1;
	struct cgroup_cpu *floor = NULL;
	struct bpf_link *floor_link = NULL;

	if (geteuid() != 0) {
		printf("bench_bpf: skipped (needs root)\n");
		return 0;
	}
	if (jp_cgroup2_find_mount("/proc", mount, sizeof(mount)) < 0) {
		printf("bench_bpf: skipped (no cgroup v2 mount)\n");
		return 0;
	}
	if (read_sysctl(&old) < 0 || write_sysctl(1) < 0) {
		fprintf(stderr, "bench_bpf: cannot enable %s: %s\n", STATS_SYSCTL, strerror(errno));
		return 1;
	}
	char why[256];
	c = jp_bpf_collector_create(mount, 0, why, sizeof(why));
	if (!c) {
		fprintf(stderr, "bench_bpf: %s\n", why);
		goto out;
	}
	/* The floor, in the same run: a probe that only counts, attached beside ours. */
	floor = cgroup_cpu__open();
	if (floor) {
		struct bpf_program *p;
		bpf_object__for_each_program(p, floor->obj)
			bpf_program__set_autoload(p, p == floor->progs.jp_floor);
		if (cgroup_cpu__load(floor) == 0)
			floor_link = bpf_program__attach(floor->progs.jp_floor);
	}
	if (!floor_link)
		fprintf(stderr, "bench_bpf: the floor probe did not attach; its line is left out\n");
	uint64_t t0_ns, n0, t1_ns, n1, f0_ns = 0, fn0 = 0, f1_ns = 0, fn1 = 0;
	if (jp_bpf_collector_prog_stats(c, &t0_ns, &n0) < 0)
		goto out;
	if (floor_link)
		prog_stats(bpf_program__fd(floor->progs.jp_floor), &f0_ns, &fn0);
	uint64_t sw0 = ctxt_switches();
	a = spawn_pair(&b);
	if (a < 0) {
		perror("bench_bpf: fork");
		goto out;
	}
	/* Drain every second, as the agent would at a short interval. */
	for (int s = 0; s < seconds; s++) {
		sleep(1);
		jp_bpf_collector_drain(c, &set);
		jp_cg_cpu_set_clear(&set);
	}
	if (jp_bpf_collector_prog_stats(c, &t1_ns, &n1) < 0)
		goto out;
	if (floor_link)
		prog_stats(bpf_program__fd(floor->progs.jp_floor), &f1_ns, &fn1);
	uint64_t sw1 = ctxt_switches();
	uint64_t runs = n1 - n0;
	printf("bench_bpf: prog id %u, %d s of pipe ping-pong, %.0f context switches/s\n",
	       jp_bpf_collector_prog_id(c), seconds, (double)(sw1 - sw0) / seconds);
	printf("bench_bpf: run_cnt %llu, run_time_ns %llu, %.1f ns per invocation (target <= 200)\n",
	       (unsigned long long)runs, (unsigned long long)(t1_ns - t0_ns),
	       runs ? (double)(t1_ns - t0_ns) / (double)runs : 0.0);
	if (floor_link && fn1 > fn0)
		printf("bench_bpf: floor (a probe that only counts, same run): run_cnt %llu, %.1f ns per invocation; "
		       "the attribution costs %.1f ns above it\n",
		       (unsigned long long)(fn1 - fn0), (double)(f1_ns - f0_ns) / (double)(fn1 - fn0),
		       (double)(t1_ns - t0_ns) / (double)runs - (double)(f1_ns - f0_ns) / (double)(fn1 - fn0));
	ret = 0;
out:
	if (a > 0)
		kill(a, SIGKILL);
	if (b > 0)
		kill(b, SIGKILL);
	if (a > 0)
		waitpid(a, NULL, 0);
	if (b > 0)
		waitpid(b, NULL, 0);
	jp_cg_cpu_set_free(&set);
	jp_bpf_collector_destroy(c);
	bpf_link__destroy(floor_link);
	cgroup_cpu__destroy(floor);
	if (write_sysctl(old) < 0)
		fprintf(stderr, "bench_bpf: could not restore %s to %d\n", STATS_SYSCTL, old);
	return ret;
}
