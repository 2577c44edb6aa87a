/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stand-in for NVIDIA's libnvidia-ml.so.1, built by the tests: the entry points of
 * src/collect/nvml_api.h, answering from a fixture file named by $JP_NVML_STANDIN, read
 * again on every call so that a test (or tests/e2e/nvml_fixture.py) can advance it.
 *
 * Fixture lines (# starts a comment):
 *   init fail                        nvmlInit_v2 fails
 *   device <energy_mj|=W@T|unsupported|fail> <power_mw|fail> <util %|fail> <procs ok|fail>
 *          <procutil ok|unsupported> <mig 0|1> <uuid> <name, the rest of the line>
 *   proc <device index> <pid> <sm %>
 *   limit <device index> <enforced power limit, mW>   (without: NOT_SUPPORTED)
 * =W@T is a counter that runs at W watts from 1000000 mJ at T (seconds of CLOCK_MONOTONIC):
 * its value is taken at the call, as a device's own counter would be, so a loaded machine
 * that runs the caller late does not make the counter lag behind the caller's clock.
 * Devices are numbered in file order. Process samples carry the current time, so every
 * call after the previous one's timestamp sees each process once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collect/nvml_api.h"

#define MAXD 8
#define MAXP 64

struct sdev {
	char energy[32], power[32], util[32], procs[16], procutil[16];
	int mig;
	char uuid[96], name[96];
};

struct sproc {
	unsigned dev, pid, sm;
};

static struct sdev devs[MAXD];
static unsigned ndevs;
static unsigned limits_mw[MAXD];
static struct sproc procs[MAXP];
static unsigned nprocs;
static int init_fail, inited;

/* Handles are 1-based indices in disguise. */
static unsigned idx_of(nvmlDevice_t d)
{
	return (unsigned)(uintptr_t)d - 1;
}

static int load(void)
{
	const char *path = getenv("JP_NVML_STANDIN");
	FILE *f = path ? fopen(path, "r") : NULL;
	ndevs = nprocs = 0;
	init_fail = 0;
	memset(limits_mw, 0, sizeof(limits_mw));
	if (!f)
		return -1;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (line[0] == '#' || !line[0])
			continue;
		if (!strcmp(line, "init fail")) {
			init_fail = 1;
		} else if (!strncmp(line, "device ", 7) && ndevs < MAXD) {
			struct sdev *d = &devs[ndevs];
			int off = 0;
			if (sscanf(line + 7, "%31s %31s %31s %15s %15s %d %95s %n", d->energy, d->power, d->util, d->procs,
				   d->procutil, &d->mig, d->uuid, &off) >= 7) {
				snprintf(d->name, sizeof(d->name), "%s", line + 7 + off);
				ndevs++;
			}
		} else if (!strncmp(line, "limit ", 6)) {
			unsigned i, mw;
			if (sscanf(line + 6, "%u %u", &i, &mw) == 2 && i < MAXD)
				limits_mw[i] = mw;
		} else if (!strncmp(line, "proc ", 5) && nprocs < MAXP) {
			struct sproc *p = &procs[nprocs];
			if (sscanf(line + 5, "%u %u %u", &p->dev, &p->pid, &p->sm) == 3)
				nprocs++;
		}
	}
	fclose(f);
	return 0;
}

static unsigned long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000;
}

static struct sdev *dev(nvmlDevice_t h)
{
	load();
	unsigned i = idx_of(h);
	return i < ndevs ? &devs[i] : NULL;
}

nvmlReturn_t nvmlInit_v2(void)
{
	if (load() || init_fail)
		return JP_NVML_ERROR_UNKNOWN;
	inited = 1;
	return JP_NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void)
{
	inited = 0;
	return JP_NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t r)
{
	switch (r) {
	case JP_NVML_SUCCESS: return "Success";
	case JP_NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
	case JP_NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
	case JP_NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
	case JP_NVML_ERROR_NOT_FOUND: return "Not Found";
	default: return "Unknown Error";
	}
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n)
{
	if (!inited)
		return JP_NVML_ERROR_UNINITIALIZED;
	load();
	*n = ndevs;
	return JP_NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *h)
{
	load();
	if (i >= ndevs)
		return JP_NVML_ERROR_INVALID_ARGUMENT;
	*h = (nvmlDevice_t)(uintptr_t)(i + 1);
	return JP_NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t h, char *out, unsigned int len)
{
	struct sdev *d = dev(h);
	if (!d)
		return JP_NVML_ERROR_INVALID_ARGUMENT;
	snprintf(out, len, "%s", d->uuid);
	return JP_NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t h, char *out, unsigned int len)
{
	struct sdev *d = dev(h);
	if (!d)
		return JP_NVML_ERROR_INVALID_ARGUMENT;
	snprintf(out, len, "%s", d->name);
	return JP_NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t h, unsigned long long *mj)
{
	struct sdev *d = dev(h);
	if (!d)
		return JP_NVML_ERROR_INVALID_ARGUMENT;
	if (!strcmp(d->energy, "unsupported"))
		return JP_NVML_ERROR_NOT_SUPPORTED;
	if (!strcmp(d->energy, "fail"))
		return JP_NVML_ERROR_GPU_IS_LOST;
	double w, t0;
	if (sscanf(d->energy, "=%lf@%lf", &w, &t0) == 2) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		double dt = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0;
		*mj = 1000000ULL + (unsigned long long)(w * (dt > 0 ? dt : 0) * 1000);
		return JP_NVML_SUCCESS;
	}
	*mj = strtoull(d->energy, NULL, 10);
	return JP_NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t h, unsigned int *mw)
{
	struct sdev *d = dev(h);
	if (!d)
		return JP_NVML_ERROR_INVALID_ARGUMENT;
	if (!strcmp(d->power, "fail"))
		return JP_NVML_ERROR_UNKNOWN;
	*mw = (unsigned)strtoul(d->power, NULL, 10);
	return JP_NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t h, unsigned int *mw)
{
	struct sdev *d = dev(h);
	if (!d)
		return JP_NVML_ERROR_INVALID_ARGUMENT;
	if (!limits_mw[idx_of(h)])
		return JP_NVML_ERROR_NOT_SUPPORTED;
	*mw = limits_mw[idx_of(h)];
	return JP_NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t h, nvmlUtilization_t *u)
{
	struct sdev *d = dev(h);
	if (!d)
		return JP_NVML_ERROR_INVALID_ARGUMENT;
	if (!strcmp(d->util, "fail"))
		return JP_NVML_ERROR_UNKNOWN;
	u->gpu = (unsigned)strtoul(d->util, NULL, 10);
	u->memory = 0;
	return JP_NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t h, unsigned int *count, nvmlProcessInfo_t *out)
{
	struct sdev *d = dev(h);
	if (!d)
		return JP_NVML_ERROR_INVALID_ARGUMENT;
	if (!strcmp(d->procs, "fail"))
		return JP_NVML_ERROR_UNKNOWN;
	unsigned n = 0, di = idx_of(h);
	for (unsigned i = 0; i < nprocs; i++)
		n += procs[i].dev == di;
	if (n > *count || (!out && n)) {
		*count = n;
		return JP_NVML_ERROR_INSUFFICIENT_SIZE;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < nprocs; i++) {
		if (procs[i].dev != di)
			continue;
		out[k].pid = procs[i].pid;
		out[k].usedGpuMemory = 1u << 30;
		out[k].gpuInstanceId = d->mig ? 1 : JP_NVML_VALUE_NOT_AVAILABLE;
		out[k].computeInstanceId = d->mig ? 0 : JP_NVML_VALUE_NOT_AVAILABLE;
		k++;
	}
	*count = k;
	return JP_NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t h, nvmlProcessUtilizationSample_t *out, unsigned int *count,
					     unsigned long long last_seen)
{
	struct sdev *d = dev(h);
	if (!d)
		return JP_NVML_ERROR_INVALID_ARGUMENT;
	if (!strcmp(d->procutil, "unsupported") || d->mig)
		return JP_NVML_ERROR_NOT_SUPPORTED;
	unsigned long long ts = now_us();
	unsigned n = 0, di = idx_of(h);
	for (unsigned i = 0; i < nprocs; i++)
		n += procs[i].dev == di;
	if (ts <= last_seen || n == 0) {
		*count = 0;
		return JP_NVML_ERROR_NOT_FOUND;
	}
	if (!out || n > *count) {
		*count = n;
		return JP_NVML_ERROR_INSUFFICIENT_SIZE;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < nprocs; i++) {
		if (procs[i].dev != di)
			continue;
		out[k] = (nvmlProcessUtilizationSample_t){.pid = procs[i].pid, .timeStamp = ts, .smUtil = procs[i].sm};
		k++;
	}
	*count = k;
	return JP_NVML_SUCCESS;
}
