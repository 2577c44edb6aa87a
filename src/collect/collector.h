/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The collector interface: what every source of measurements hands over, and nothing else.
 *
 * A collector is opened from the configuration, then asked once per round to fill a
 * struct jp_interval: the node's energy per zone with the name of its source, the node's
 * CPU usage, the interval's real length, the CPU time outside pods and one row per cgroup
 * of a pod (pod UID, container ID, nanoseconds). It knows nothing of pod names, grid
 * intensity, attribution or series: the agent names the pods, attaches the intensity in
 * force and hands the interval to the accountant (src/attrib/account.c), the only module
 * that turns intervals into series (docs/design.md).
 *
 * Kinds are small ops tables, one per source: the real node (eBPF or cgroupfs for CPU
 * time, RAPL or the power model for energy; collect/node.c) and the synthetic node
 * (collect/synthetic.c). A new source implements open, collect and close, and the agent
 * needs no new branch.
 *
 * Nothing under src/collect/ includes attrib/, store/, kube/, carbon/ or remote/
 * (scripts/check-includes.sh, run by make check).
 */
#ifndef JP_COLLECT_COLLECTOR_H
#define JP_COLLECT_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "podmeta.h"
#include "util/curve.h"

/* Energy zones of docs/reference/metrics.md: the RAPL domains, the machine's power
 * meter (hwmon) and the GPUs (NVML). */
enum jp_zone {
	JP_ZONE_PACKAGE = 0,
	JP_ZONE_CORE,
	JP_ZONE_UNCORE,
	JP_ZONE_DRAM,
	JP_ZONE_PSYS,
	JP_ZONE_PLATFORM,
	JP_ZONE_GPU,
	JP_ZONE_COUNT
};

/* Sizes of the identifiers in a row (a pod UID is 8-4-4-4-12; a container ID 64 hex). */
#define JP_POD_UID_MAX 36
#define JP_CONTAINER_ID_LEN 64

/* The CPU time one cgroup of a pod used in the interval. Several rows may name the same
 * pod and container (nested cgroups of one container): they add up. An empty container
 * ID is the pod's own cgroup (conmon, processes outside containers): its time counts
 * for the pod only. */
struct jp_cgroup_row {
	char pod_uid[JP_POD_UID_MAX + 1];
	char container_id[JP_CONTAINER_ID_LEN + 1];
	uint64_t cpu_ns;
	double gpu_j;              /* active GPU energy of the cgroup's processes (zone gpu) */
};

/* Sizes of NVML's UUID and name buffers (NVML_DEVICE_UUID_V2_BUFFER_SIZE and
 * NVML_DEVICE_NAME_V2_BUFFER_SIZE in NVIDIA's API documentation). */
#define JP_GPU_UUID_MAX 96
#define JP_GPU_NAME_MAX 96

/* One GPU in the interval (collect/gpu.h). */
struct jp_gpu_device {
	unsigned index;
	char uuid[JP_GPU_UUID_MAX];
	char model[JP_GPU_NAME_MAX];
	int ok;                    /* read in this interval; else skipped (energy 0) */
	double energy_j;           /* energy in the interval */
	double util;               /* busy ratio in [0, 1] */
	uint64_t errors;           /* NVML calls that failed so far */
};

struct jp_interval {
	/* in: the time between the agent's rounds (the collection interval, or what really
	 * passed); a source with its own clock measures instead. */
	uint64_t nominal_ms;

	/* out: */
	double seconds;                      /* the length the sources measured */
	double energy_j[JP_ZONE_COUNT];      /* node energy per zone over the interval */
	unsigned zone_mask;                  /* bit z: zone z exists */
	const char *power_source;            /* "rapl" | "model" (static string) */
	double usage_ratio;                  /* node CPU busy time / capacity, in [0, 1] */
	/* The power model's band (source "model"): node power per zone, low and high bound,
	 * in watts; bound_mask has bit z where zone z has one. */
	double bound_low_w[JP_ZONE_COUNT], bound_high_w[JP_ZONE_COUNT];
	unsigned bound_mask;
	/* GPUs: energy_j[JP_ZONE_GPU] is their sum; gpu_usage_ratio the active part of it
	 * (Σ E × utilisation / Σ E); rows carry the pods' active GPU energy and
	 * system_gpu_j the part of processes outside pods or unknown. */
	double gpu_usage_ratio;
	double system_gpu_j;
	struct jp_gpu_device *gpus;          /* owned by the collector, valid until its next round */
	size_t ngpus;
	uint64_t system_cpu_ns;              /* CPU time outside pods */
	uint64_t bpf_map_full;               /* eBPF map inserts refused so far (0 without eBPF) */
	uint64_t implausible[JP_ZONE_COUNT]; /* readings refused as implausible so far, per zone */
	struct jp_cgroup_row *rows;          /* owned by the interval */
	size_t nrows, cap_rows;
};

/* Forget the previous round's output (keeps the row array) and set nominal_ms. */
void jp_interval_reset(struct jp_interval *iv, uint64_t nominal_ms);
/* Append a row; strings are copied (truncated to their sizes). Returns 0 or -ENOMEM. */
int jp_interval_add_row(struct jp_interval *iv, const char *pod_uid, const char *container_id,
			uint64_t cpu_ns);
/* Append a row of active GPU energy (no CPU time). Returns 0 or -ENOMEM. */
int jp_interval_add_gpu_row(struct jp_interval *iv, const char *pod_uid, const char *container_id,
			    double gpu_j);
void jp_interval_free(struct jp_interval *iv);

struct jp_collector;

struct jp_collector_ops {
	/* "node" or "synthetic": the kind, for logs. */
	const char *kind;
	/* Open from cfg; NULL with errno set, having logged why. */
	struct jp_collector *(*open)(const struct jp_config *cfg);
	/* Fill iv for the interval that ends now. The first call after open may only take
	 * baselines (an interval with no energy and no rows). Returns 0 or a negative errno
	 * (the round then has no energy series; counters continue at the next good one). */
	int (*collect)(struct jp_collector *c, struct jp_interval *iv);
	void (*close)(struct jp_collector *c);
};

/* The part every collector starts with. */
struct jp_collector {
	const struct jp_collector_ops *ops;
	const char *name;                    /* "ebpf" | "cgroupfs" | "synthetic"; may change
	                                        (eBPF falls back to cgroupfs) */
	const char *power_source;            /* "rapl" | "model" */
	unsigned sources;                    /* JP_SRC_*: what it holds open that may need privileges */
	/* Pod metadata the source itself knows (the synthetic node names its pods); NULL
	 * for real nodes, whose pods the kubelet names. */
	jp_pod_lookup_cb lookup;
	void *lookup_arg;
};

/* Sources a collector holds open that may need privileges to open (the eBPF probe, RAPL's
 * root-only counters, the platform meter, the GPUs): after a privilege drop a reload must
 * not lose one of them by reopening it as the user (docs/reference/configuration.md `user`). */
#define JP_SRC_BPF 1u
#define JP_SRC_RAPL 2u
#define JP_SRC_PLATFORM 4u
#define JP_SRC_GPU 8u
/* Names of the bits set in `sources` into out ("eBPF, RAPL"), for a log line. */
void jp_collector_sources_str(unsigned sources, char *out, size_t len);

/* Open the collector cfg->collector_mode asks for. NULL with errno set, having logged. */
struct jp_collector *jp_collector_open(const struct jp_config *cfg);

static inline int jp_collector_collect(struct jp_collector *c, struct jp_interval *iv)
{
	return c->ops->collect(c, iv);
}

static inline void jp_collector_close(struct jp_collector *c)
{
	if (c)
		c->ops->close(c);
}

/* The linear power model for machines without RAPL (docs/model.md "Power model"):
 * W = cpus × (idle + u × (max − idle)), u clamped to [0, 1]. */
double jp_power_model_watts(unsigned cpus, double usage_ratio, double idle_w_per_cpu, double max_w_per_cpu);

/* The CPU power model as configured (docs/model.md "the power model on VMs"): the linear
 * model and the load curve; power.model.shape picks the estimate, the band spans both. */
struct jp_power_model {
	double idle_w, max_w, tdp_w;       /* per CPU */
	int use_curve;
	struct jp_curve curve;             /* fractions of tdp_w over the usage ratio */
};

/* power.model.curve: a map of load percent (0 to 100) to a fraction of the per-CPU TDP.
 * Builds the curve over load ratios; an empty list gives the default points (docs/model.md).
 * Returns 0 or -EINVAL with why[]. */
int jp_power_curve_from(struct jp_curve *c, const struct jp_kvlist *points, char *why, size_t why_len);

/* From cfg's power.model keys. Returns 0, or -EINVAL with why[] for a bad curve. */
int jp_power_model_init(struct jp_power_model *m, const struct jp_config *cfg, char *why, size_t why_len);
/* The estimate in watts for cpus at usage u (clamped to [0, 1]); *low and *high get the
 * band. */
double jp_power_model_estimate(const struct jp_power_model *m, unsigned cpus, double u, double *low, double *high);

#endif
