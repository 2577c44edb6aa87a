/* SPDX-License-Identifier: Apache-2.0 */
/* eBPF collector: per-cgroup CPU time from the sched_switch probe (docs/model.md). */
#ifndef JP_COLLECT_BPF_H
#define JP_COLLECT_BPF_H

#include <stdint.h>

#include "collect/cgroup.h"

struct jp_bpf_collector;

/* Open the cgroup_cpu skeleton, size its per-cgroup map for max_cgroups entries (0: the
 * default, 16384), load it and attach it to sched_switch. cgroup_mount is the cgroup v2
 * mount (e.g. from jp_cgroup2_find_mount()); cgroup paths are reported relative to it.
 * Returns a heap object owned by the caller (free it with jp_bpf_collector_destroy()), or
 * NULL with errno set and a one-line reason in why[0..whylen): EPERM without
 * CAP_BPF/CAP_PERFMON, ENOENT without the tracepoint or the mount, others from the kernel.
 * Does not log above debug level; the caller decides whether to fall back. */
struct jp_bpf_collector *jp_bpf_collector_create(const char *cgroup_mount, uint32_t max_cgroups, char *why,
						 size_t whylen);

/* Test seam: from now on every drain returns err (a negative errno), as reads of the map
 * do after the privilege drop on kernels that refuse them without CAP_BPF. */
void jp_bpf_collector_inject_error(struct jp_bpf_collector *c, int err);

/* Inserts into the per-cgroup map that failed because it was full, since load (the
 * time of those cgroups is not in the map). */
uint64_t jp_bpf_collector_map_full(const struct jp_bpf_collector *c);

/* The per-cgroup map's capacity (entries). */
uint32_t jp_bpf_collector_capacity(const struct jp_bpf_collector *c);

/* Append to out, for every cgroup that ran since the previous drain (or since create), the
 * CPU time it used in that interval, summed over CPUs. Time of a task that is still on a CPU
 * is charged up to the moment of the drain, so consecutive drains tile time the way the
 * kernel's cpu.stat does. A cgroup that was removed before its id could be resolved is
 * reported once with path "" (its cgroup_id still set). Cgroups with no CPU time in the
 * interval are not reported. Returns 0 or a negative errno (out may then hold a partial
 * result). */
int jp_bpf_collector_drain(struct jp_bpf_collector *c, struct jp_cg_cpu_set *out);

/* The sched_switch program's fd (owned by the collector) and its kernel id, for
 * `bpftool prog show id N` and bpf_obj_get_info_by_fd(). */
int jp_bpf_collector_prog_fd(const struct jp_bpf_collector *c);
uint32_t jp_bpf_collector_prog_id(const struct jp_bpf_collector *c);

/* The sched_switch program's cumulative run time and run count, as counted by the kernel
 * while sysctl kernel.bpf_stats_enabled=1 (both stay 0 otherwise). Returns 0 or -errno. */
int jp_bpf_collector_prog_stats(const struct jp_bpf_collector *c, uint64_t *run_time_ns,
				uint64_t *run_cnt);

/* Whether drains can charge running tasks up to now (BPF_F_TEST_RUN_ON_CPU works on this
 * kernel). Without it a task's running time is charged at its next context switch. */
int jp_bpf_collector_flushes(const struct jp_bpf_collector *c);

/* How many times a drain walked the cgroup tree so far: it does when a cgroup id it has
 * never resolved shows up in the map, i.e. when a new cgroup ran. */
uint64_t jp_bpf_collector_walks(const struct jp_bpf_collector *c);

/* Detach, unload and free. Accepts NULL. */
void jp_bpf_collector_destroy(struct jp_bpf_collector *c);

#endif
