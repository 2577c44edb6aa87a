/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVIDIA GPUs through NVML, loaded with dlopen() (docs/model.md "GPU energy"): per device
 * and interval the energy (the mJ counter, or power × time where the device has none),
 * the utilisation, and the active energy shared among the processes that used the device
 * by their SM utilisation samples; each process is mapped to its pod through
 * <procfs>/<pid>/cgroup.
 */
#ifndef JP_COLLECT_GPU_H
#define JP_COLLECT_GPU_H

#include <stddef.h>

#include "collect/collector.h"

struct jp_gpu;

/* Load `library` (a name for the dynamic linker's search or a path), resolve the entry
 * points of collect/nvml_api.h, initialise NVML and list the devices. NULL with errno
 * set and why[] filled when the library is missing (ENOENT), lacks an entry point or fails
 * to initialise (EIO), or sees no device (ENODEV). procfs: the host's /proc, for the
 * processes' cgroups. */
struct jp_gpu *jp_gpu_open(const char *library, const char *procfs, const char *cgroup_root, char *why,
			   size_t why_len);
void jp_gpu_close(struct jp_gpu *g);
unsigned jp_gpu_count(const struct jp_gpu *g);
/* Readings refused so far because they implied more than twice a device's enforced power
 * limit (JP_GPU_MAX_W_WITHOUT_LIMIT where NVML gives none): the device's interval is
 * skipped and its baseline kept, unless it reads so three times in a row. */
#define JP_GPU_MAX_W_WITHOUT_LIMIT 5000.0
uint64_t jp_gpu_implausible(const struct jp_gpu *g);

/* Read every device for the interval of `seconds` that ends now and add to iv: the gpu
 * zone (energy_j, zone_mask), gpu_usage_ratio, the per-device readings (iv->gpus, valid
 * until the next call), one row of active GPU energy per pod cgroup that used a device,
 * and system_gpu_j for processes outside pods or gone. A device whose energy or
 * utilisation cannot be read is skipped for the interval (its energy is counted at its
 * next good reading) and its error counter grows. The first call after open takes the
 * energy counters' baselines. Returns 0 or -ENOMEM. */
int jp_gpu_collect(struct jp_gpu *g, double seconds, struct jp_interval *iv);

#endif
