/* SPDX-License-Identifier: Apache-2.0 */
/* The NVML source (src/collect/gpu.c) against the stand-in library tests/nvml_standin.c:
 * energy from the counter and from power × time, shares by SM samples and equal shares,
 * processes mapped to pods through a fixture procfs, and every failure the issue of a
 * real driver can bring: missing library, failing init, failing calls, a counter that
 * goes back, MIG. */
#include <check.h>
#include <time.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collect/gpu.h"
#include "tree_util.h"

#ifndef NVML_STANDIN
#error "NVML_STANDIN: the path of the stand-in library"
#endif

static char dir[256], fixture[300], procfs[300];

#define UID_A "7c1e4a52-0b3d-4f6e-9a81-2d5c6b7e8f01"
#define UID_B "3f8a9c10-6d2e-4b7a-8c95-1e0f2a3b4c02"
#define CID_A "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f01"
#define CID_B "c1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f03"

/* The stand-in's fixture file. */
static void fixture_put(const char *text)
{
	jp_test_put(dir, "nvml.txt", text);
}

static void fake_pid(unsigned pid, const char *cgroup)
{
	char rel[64], line[512];
	snprintf(rel, sizeof(rel), "proc/%u/cgroup", pid);
	snprintf(line, sizeof(line), "0::%s\n", cgroup);
	jp_test_put(dir, rel, line);
}

static void setup(void)
{
	jp_test_tree_new(dir, sizeof(dir), "check-gpu");
	snprintf(fixture, sizeof(fixture), "%s/nvml.txt", dir);
	snprintf(procfs, sizeof(procfs), "%s/proc", dir);
	setenv("JP_NVML_STANDIN", fixture, 1);
	/* pid 101: pod A's container; 102: pod B's container; 103: a host service; 104 and
	 * up: gone (no entry). */
	fake_pid(101, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c1e4a52_0b3d_4f6e_9a81_2d5c6b7e8f01.slice/"
		      "cri-containerd-" CID_A ".scope");
	fake_pid(102, "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod3f8a9c10_6d2e_4b7a_8c95_1e0f2a3b4c02.slice/"
		      "cri-containerd-" CID_B ".scope");
	fake_pid(103, "/system.slice/render.service");
}

static void teardown(void)
{
	jp_test_tree_remove(dir);
}

/* One round of 1 s with the stand-in's fixture set to text. */
static void collect_with(struct jp_gpu *g, struct jp_interval *iv, const char *text)
{
	fixture_put(text);
	jp_interval_reset(iv, 1000);
	ck_assert_int_eq(jp_gpu_collect(g, 1.0, iv), 0);
}

static double row_j(const struct jp_interval *iv, const char *uid)
{
	double j = 0;
	for (size_t i = 0; i < iv->nrows; i++)
		if (!strcmp(iv->rows[i].pod_uid, uid))
			j += iv->rows[i].gpu_j;
	return j;
}

static double rows_total(const struct jp_interval *iv)
{
	double j = 0;
	for (size_t i = 0; i < iv->nrows; i++)
		j += iv->rows[i].gpu_j;
	return j;
}

static struct jp_gpu *open_ok(void)
{
	char why[256] = "";
	struct jp_gpu *g = jp_gpu_open(NVML_STANDIN, procfs, "", why, sizeof(why));
	ck_assert_msg(g != NULL, "open: %s", why);
	return g;
}

#define DEV0(e, util, procs) "device " e " 0 " util " " procs " ok 0 GPU-0000-aaaa NVIDIA A100-SXM4-40GB\n"

START_TEST(test_shares)
{
	/* Device 0: an energy counter, 50 % busy; SM samples 60 (pod A), 20 (pod B), 20 (a
	 * host service), 20 (a process that is gone). Device 1: no energy counter (power ×
	 * time at 100 W), 100 % busy, no per-process samples: pods A and B share equally. */
	const char *procs = "proc 0 101 60\nproc 0 102 20\nproc 0 103 20\nproc 0 104 20\nproc 1 101 5\nproc 1 102 90\n";
	char text[1024];
	snprintf(text, sizeof(text), DEV0("1000000", "50", "ok")
		 "device unsupported 100000 100 ok unsupported 0 GPU-1111-bbbb Tesla T4\n%s", procs);
	fixture_put(text);
	struct jp_gpu *g = open_ok();
	ck_assert_uint_eq(jp_gpu_count(g), 2);
	struct jp_interval iv = {0};

	/* First round: device 0 takes its baseline; device 1 has power already. */
	jp_interval_reset(&iv, 2000);
	ck_assert_int_eq(jp_gpu_collect(g, 2.0, &iv), 0);
	ck_assert_uint_eq(iv.ngpus, 2);
	ck_assert_int_eq(iv.gpus[0].ok, 0);
	ck_assert_int_eq(iv.gpus[1].ok, 1);
	ck_assert_double_eq_tol(iv.energy_j[JP_ZONE_GPU], 200, 1e-9);

	/* Second round: device 0 used 200 J (its counter + 200000 mJ). */
	snprintf(text, sizeof(text), DEV0("1200000", "50", "ok")
		 "device unsupported 100000 100 ok unsupported 0 GPU-1111-bbbb Tesla T4\n%s", procs);
	fixture_put(text);
	jp_interval_reset(&iv, 2000);
	ck_assert_int_eq(jp_gpu_collect(g, 2.0, &iv), 0);
	ck_assert(iv.zone_mask & (1u << JP_ZONE_GPU));
	ck_assert_double_eq_tol(iv.energy_j[JP_ZONE_GPU], 400, 1e-9);
	ck_assert_double_eq_tol(iv.gpu_usage_ratio, 300.0 / 400.0, 1e-12);
	ck_assert_str_eq(iv.gpus[0].uuid, "GPU-0000-aaaa");
	ck_assert_str_eq(iv.gpus[0].model, "NVIDIA A100-SXM4-40GB");
	ck_assert_double_eq_tol(iv.gpus[0].util, 0.5, 1e-12);
	/* Device 0's 100 J active: 60 / 120 to A, 20 / 120 to B, the rest to the system;
	 * device 1's 200 J: 100 each. */
	ck_assert_double_eq_tol(row_j(&iv, UID_A), 50 + 100, 1e-9);
	ck_assert_double_eq_tol(row_j(&iv, UID_B), 100.0 / 6 + 100, 1e-9);
	ck_assert_double_eq_tol(iv.system_gpu_j, 100.0 / 3, 1e-9);
	ck_assert_double_eq_tol(rows_total(&iv) + iv.system_gpu_j, 300, 1e-9);
	for (size_t i = 0; i < iv.nrows; i++)
		ck_assert_uint_eq(iv.rows[i].cpu_ns, 0);
	jp_interval_free(&iv);
	jp_gpu_close(g);
}
END_TEST

START_TEST(test_call_failures)
{
	const char *procs = "proc 0 101 50\nproc 0 102 50\n";
	char text[1024];
	snprintf(text, sizeof(text), DEV0("5000", "100", "ok") "%s", procs);
	fixture_put(text);
	struct jp_gpu *g = open_ok();
	struct jp_interval iv = {0};
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_gpu_collect(g, 1.0, &iv), 0);   /* baseline */

	/* Utilisation fails: the device is skipped, counted, and its counter's baseline kept. */
	snprintf(text, sizeof(text), DEV0("105000", "fail", "ok") "%s", procs);
	collect_with(g, &iv, text);
	ck_assert_int_eq(iv.gpus[0].ok, 0);
	ck_assert_uint_eq(iv.gpus[0].errors, 1);
	ck_assert_double_eq(iv.energy_j[JP_ZONE_GPU], 0);

	/* The energy counter fails: skipped and counted again. */
	snprintf(text, sizeof(text), DEV0("fail", "100", "ok") "%s", procs);
	collect_with(g, &iv, text);
	ck_assert_int_eq(iv.gpus[0].ok, 0);
	ck_assert_uint_eq(iv.gpus[0].errors, 2);

	/* Back: the energy of the skipped intervals is counted now (205 J), nothing lost. */
	snprintf(text, sizeof(text), DEV0("210000", "100", "ok") "%s", procs);
	collect_with(g, &iv, text);
	ck_assert_int_eq(iv.gpus[0].ok, 1);
	ck_assert_double_eq_tol(iv.energy_j[JP_ZONE_GPU], 205, 1e-9);
	ck_assert_double_eq_tol(row_j(&iv, UID_A), 102.5, 1e-9);

	/* The counter goes back (a driver reload): the interval is skipped, not negative. */
	snprintf(text, sizeof(text), DEV0("1000", "100", "ok") "%s", procs);
	collect_with(g, &iv, text);
	ck_assert_int_eq(iv.gpus[0].ok, 0);
	ck_assert_double_eq(iv.energy_j[JP_ZONE_GPU], 0);
	snprintf(text, sizeof(text), DEV0("11000", "100", "ok") "%s", procs);
	collect_with(g, &iv, text);
	ck_assert_double_eq_tol(iv.energy_j[JP_ZONE_GPU], 10, 1e-9);

	/* The process list fails: the energy counts, its active part goes to the system. */
	snprintf(text, sizeof(text), DEV0("21000", "100", "fail") "%s", procs);
	collect_with(g, &iv, text);
	ck_assert_int_eq(iv.gpus[0].ok, 1);
	ck_assert_uint_eq(iv.gpus[0].errors, 3);
	ck_assert_double_eq_tol(iv.system_gpu_j, 10, 1e-9);
	ck_assert_uint_eq(iv.nrows, 0);
	jp_interval_free(&iv);
	jp_gpu_close(g);
}
END_TEST

/* An absurd counter step (1.8e16 J) or power reading is refused, not counted for ever:
 * the bound is twice the enforced power limit (400 W here), the baseline stays at the
 * last good reading. Without a limit from NVML, JP_GPU_MAX_W_WITHOUT_LIMIT. */
START_TEST(test_implausible)
{
	const char *procs = "proc 0 101 50\nproc 0 102 50\nlimit 0 400000\n";
	char text[1024];
	snprintf(text, sizeof(text), DEV0("5000", "100", "ok") "%s", procs);
	fixture_put(text);
	struct jp_gpu *g = open_ok();
	struct jp_interval iv = {0};
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_gpu_collect(g, 1.0, &iv), 0);   /* baseline */
	snprintf(text, sizeof(text), DEV0("18000000000000000000", "100", "ok") "%s", procs);
	collect_with(g, &iv, text);
	ck_assert_int_eq(iv.gpus[0].ok, 0);
	ck_assert_double_eq(iv.energy_j[JP_ZONE_GPU], 0);
	ck_assert_uint_eq(jp_gpu_implausible(g), 1);
	/* 700 W over 1 s is under 2 x 400 W: counted, from the last good reading. */
	snprintf(text, sizeof(text), DEV0("705000", "100", "ok") "%s", procs);
	collect_with(g, &iv, text);
	ck_assert_double_eq_tol(iv.energy_j[JP_ZONE_GPU], 700, 1e-9);
	/* 900 W is not. */
	snprintf(text, sizeof(text), DEV0("1605000", "100", "ok") "%s", procs);
	collect_with(g, &iv, text);
	ck_assert_int_eq(iv.gpus[0].ok, 0);
	ck_assert_uint_eq(jp_gpu_implausible(g), 2);
	jp_interval_free(&iv);
	jp_gpu_close(g);

	/* Power × time on a device without a counter or a limit: 6 kW is refused. */
	fixture_put("device unsupported 6000000 100 ok unsupported 0 GPU-1111-bbbb Tesla T4\n");
	g = open_ok();
	memset(&iv, 0, sizeof(iv));
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_gpu_collect(g, 1.0, &iv), 0);
	ck_assert_int_eq(iv.gpus[0].ok, 0);
	ck_assert_uint_eq(jp_gpu_implausible(g), 1);
	fixture_put("device unsupported 250000 100 ok unsupported 0 GPU-1111-bbbb Tesla T4\n");
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_gpu_collect(g, 1.0, &iv), 0);
	ck_assert_double_eq_tol(iv.energy_j[JP_ZONE_GPU], 250, 1e-9);
	jp_interval_free(&iv);
	jp_gpu_close(g);
}
END_TEST

/* /proc/<pid>/stat with the process's start (field 22) `after_s` seconds after now, in
 * clock ticks since boot (negative: before). */
static void fake_stat(unsigned pid, double after_s)
{
	struct timespec bt;
	clock_gettime(CLOCK_BOOTTIME, &bt);
	double since_boot = (double)bt.tv_sec + bt.tv_nsec / 1e9 + after_s;
	if (since_boot < 0)
		since_boot = 0;   /* a machine up for less than |after_s| */
	unsigned long long ticks = (unsigned long long)(since_boot * (double)sysconf(_SC_CLK_TCK));
	char rel[64], line[512];
	snprintf(rel, sizeof(rel), "proc/%u/stat", pid);
	snprintf(line, sizeof(line), "%u (python3 (a) b) S 1 1 1 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 %llu 1000 10\n",
		 pid, ticks);
	jp_test_put(dir, rel, line);
}

/* PID reuse: the SM samples cover the interval, the cgroup is read at its end. A process
 * that started after its first sample is not the one that used the GPU (the PID was
 * reused, here by pod A's new process): its share goes to the system bucket instead of
 * pod A. One that started before keeps its share. */
START_TEST(test_pid_reuse)
{
	const char *procs = "proc 0 101 50\nproc 0 102 50\n";
	char text[1024];
	snprintf(text, sizeof(text), DEV0("5000", "100", "ok") "%s", procs);
	fixture_put(text);
	fake_stat(101, 3600);     /* "started" an hour from now: after every sample */
	fake_stat(102, -3600);
	struct jp_gpu *g = open_ok();
	struct jp_interval iv = {0};
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_gpu_collect(g, 1.0, &iv), 0);   /* baseline */
	snprintf(text, sizeof(text), DEV0("205000", "100", "ok") "%s", procs);
	collect_with(g, &iv, text);
	ck_assert_double_eq_tol(iv.energy_j[JP_ZONE_GPU], 200, 1e-9);
	ck_assert_double_eq_tol(row_j(&iv, UID_A), 0, 1e-9);
	ck_assert_double_eq_tol(row_j(&iv, UID_B), 100, 1e-9);
	ck_assert_double_eq_tol(iv.system_gpu_j, 100, 1e-9);
	/* The same process, started before: charged to its pod again. */
	fake_stat(101, -10);
	fixture_put(text);
	snprintf(text, sizeof(text), DEV0("405000", "100", "ok") "%s", procs);
	collect_with(g, &iv, text);
	ck_assert_double_eq_tol(row_j(&iv, UID_A), 100, 1e-9);
	jp_interval_free(&iv);
	jp_gpu_close(g);
}
END_TEST

START_TEST(test_mig)
{
	/* A MIG device: per-process samples are not supported, so its processes share its
	 * active energy equally, at the parent device. */
	fixture_put("device 0 0 100 ok ok 1 GPU-2222-cccc NVIDIA A100 MIG\nproc 0 101 90\nproc 0 102 10\n");
	struct jp_gpu *g = open_ok();
	struct jp_interval iv = {0};
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_gpu_collect(g, 1.0, &iv), 0);
	fixture_put("device 40000 0 100 ok ok 1 GPU-2222-cccc NVIDIA A100 MIG\nproc 0 101 90\nproc 0 102 10\n");
	jp_interval_reset(&iv, 1000);
	ck_assert_int_eq(jp_gpu_collect(g, 1.0, &iv), 0);
	ck_assert_double_eq_tol(row_j(&iv, UID_A), 20, 1e-9);
	ck_assert_double_eq_tol(row_j(&iv, UID_B), 20, 1e-9);
	jp_interval_free(&iv);
	jp_gpu_close(g);
}
END_TEST

START_TEST(test_open_failures)
{
	char why[256];
	fixture_put(DEV0("0", "0", "ok"));
	errno = 0;
	ck_assert_ptr_null(jp_gpu_open("/nonexistent/libnvidia-ml.so.1", procfs, "", why, sizeof(why)));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_msg(strstr(why, "/nonexistent/libnvidia-ml.so.1") != NULL, "%s", why);

	/* A library without NVML's entry points. */
	ck_assert_ptr_null(jp_gpu_open("libm.so.6", procfs, "", why, sizeof(why)));
	ck_assert_int_eq(errno, EIO);
	ck_assert_msg(strstr(why, "has no nvmlInit_v2") != NULL, "%s", why);

	fixture_put("init fail\n");
	ck_assert_ptr_null(jp_gpu_open(NVML_STANDIN, procfs, "", why, sizeof(why)));
	ck_assert_int_eq(errno, EIO);
	ck_assert_msg(strstr(why, "nvmlInit_v2") != NULL, "%s", why);

	fixture_put("# no devices\n");
	ck_assert_ptr_null(jp_gpu_open(NVML_STANDIN, procfs, "", why, sizeof(why)));
	ck_assert_int_eq(errno, ENODEV);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("gpu");
	TCase *tc = tcase_create("nvml");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_shares);
	tcase_add_test(tc, test_call_failures);
	tcase_add_test(tc, test_mig);
	tcase_add_test(tc, test_pid_reuse);
	tcase_add_test(tc, test_implausible);
	tcase_add_test(tc, test_open_failures);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
