/* SPDX-License-Identifier: Apache-2.0 */
/* rapl_advance: copy a fixture powercap tree and advance its counters at given wattages,
 * so that an end-to-end test can check the watts joulepush reports. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rapl_advance_lib.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: rapl_advance [--copy FIXTURE] --root SYSFS [--period-ms N] [--duration-ms N]\n"
		   "                    KEY=WATTS...\n"
		   "  --copy FIXTURE  copy the fixture tree (e.g. tests/fixtures/powercap/two-sockets) to SYSFS first\n"
		   "  --root SYSFS    the sysfs root joulepush reads (host.sysfs)\n"
		   "  --period-ms N   rewrite the counters every N ms (default 100)\n"
		   "  --duration-ms N stop after N ms (default: until SIGTERM/SIGINT)\n"
		   "  KEY=WATTS       KEY is a zone id (intel-rapl:0:1), a zone name (package-1) or a kind\n"
		   "                  (package, core, uncore, dram, psys: every socket's zone of that kind)\n"
		   "Prints \"ready\" once the tree is in place; counters wrap at max_energy_range_uj.\n");
}

int main(int argc, char **argv)
{
	const char *copy = NULL, *root = NULL;
	long period_ms = 100, duration_ms = -1;
	int i = 1;
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (strcmp(argv[i], "--copy") == 0)
			copy = argv[++i];
		else if (strcmp(argv[i], "--root") == 0)
			root = argv[++i];
		else if (strcmp(argv[i], "--period-ms") == 0)
			period_ms = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--duration-ms") == 0)
			duration_ms = strtol(argv[++i], NULL, 10);
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!root || period_ms <= 0 || i == argc) {
		usage(stderr);
		return 2;
	}
	if (copy && rapl_adv_copy(copy, root) < 0) {
		fprintf(stderr, "rapl_advance: cannot copy %s to %s\n", copy, root);
		return 1;
	}
	struct rapl_adv *a = rapl_adv_open(root, argv + i, (size_t)(argc - i));
	if (!a)
		return 1;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	double t0 = mono_s();
	if (rapl_adv_set(a, 0) < 0) {
		perror("rapl_advance: write");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	struct timespec period = {period_ms / 1000, (period_ms % 1000) * 1000000};
	while (!g_stop) {
		nanosleep(&period, NULL);
		double el = mono_s() - t0;
		if (rapl_adv_set(a, el) < 0) {
			perror("rapl_advance: write");
			break;
		}
		if (duration_ms >= 0 && el * 1000 >= (double)duration_ms)
			break;
	}
	rapl_adv_close(a);
	return 0;
}
