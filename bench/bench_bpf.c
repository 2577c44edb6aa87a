/* SPDX-License-Identifier: Apache-2.0 */
/* Cost of the sched_switch probe per invocation under a context-switch-heavy load (kernel.bpf_stats_enabled). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* Two processes bouncing one byte over two pipes: every round trip is two context switches
 * per CPU involved, the worst case for a sched_switch probe. */
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

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 10;
	char mount[4096];
	int old = 0, ret = 1;
	struct jp_bpf_collector *c = NULL;
	struct jp_cg_cpu_set set = {0};
	pid_t a = -1, b = -1;

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
	uint64_t t0_ns, n0, t1_ns, n1;
	if (jp_bpf_collector_prog_stats(c, &t0_ns, &n0) < 0)
		goto out;
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
	uint64_t sw1 = ctxt_switches();
	uint64_t runs = n1 - n0;
	printf("bench_bpf: prog id %u, %d s of pipe ping-pong, %.0f context switches/s\n",
	       jp_bpf_collector_prog_id(c), seconds, (double)(sw1 - sw0) / seconds);
	printf("bench_bpf: run_cnt %llu, run_time_ns %llu, %.1f ns per invocation (target <= 300)\n",
	       (unsigned long long)runs, (unsigned long long)(t1_ns - t0_ns),
	       runs ? (double)(t1_ns - t0_ns) / (double)runs : 0.0);
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
	if (write_sysctl(old) < 0)
		fprintf(stderr, "bench_bpf: could not restore %s to %d\n", STATS_SYSCTL, old);
	return ret;
}
