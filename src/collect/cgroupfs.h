/* SPDX-License-Identifier: Apache-2.0 */
/* The cgroupfs collector: per-interval CPU time of pods, containers and the system bucket from cpu.stat (docs/model.md). */
#ifndef JP_COLLECT_CGROUPFS_H
#define JP_COLLECT_CGROUPFS_H

#include <stdint.h>

#include "collect/cgroup.h"

struct jp_cgroupfs;

struct jp_cgroupfs_stats {
	int version;           /* 2 (cpu.stat usage_usec) or 1 (cpuacct.usage) */
	uint64_t walks;
	uint64_t pods, containers;  /* found by the last walk */
	uint64_t vanished;     /* cgroups gone between listing and reading (total) */
	uint64_t read_errors;  /* unreadable or garbage counters (total) */
	uint64_t new_cgroups;  /* cgroups first seen after the baseline walk (total) */
	uint64_t clamped;      /* first readings too large to be new, taken as a baseline (total) */
	uint64_t pod_listings; /* pod directories listed to find their containers (total); a pod
	                          whose containers are unchanged is read without (cgroupfs only) */
};

/* Create a collector for the cgroup hierarchy mounted at mount (cgroup v2, or a v1
 * hierarchy with cpuacct, detected by cgroup.controllers / cpuacct.usage at its root) and
 * the node's <procfs>/stat; takes the baseline walk. Returns NULL with errno: ENOTSUP for
 * a mount that is neither, or the error of opening <procfs>/stat. Owned by the caller:
 * jp_cgroupfs_destroy(). */
struct jp_cgroupfs *jp_cgroupfs_create(const char *mount, const char *procfs, const char *root);
void jp_cgroupfs_destroy(struct jp_cgroupfs *cg);

/* Walk the hierarchy and append to out (not cleared) the CPU time since the previous walk,
 * as disjoint entries that add up to the node's busy time, like the eBPF collector's
 * per-cgroup times:
 *   - every container cgroup of a pod: its usage (its descendants included);
 *   - every pod cgroup: its usage minus its containers' (processes in the pod cgroup
 *     itself, CRI-O's conmon, containers that ended during the interval);
 *   - "/" (the system bucket): the node's busy time from <procfs>/stat minus all pods'.
 *     The v2 root cgroup has no usable cpu.stat on older kernels, and newer ones derive
 *     it from the same per-CPU counters as /proc/stat; using /proc/stat on v1 and v2 also
 *     keeps Σ t equal to the busy time of the usage ratio u (docs/model.md step 2).
 * Only pods are listed individually; the walk does not descend below container cgroups.
 * A cgroup that vanished between listing and reading is skipped and counted. A cgroup
 * first seen in this walk was created after the previous walk (the listing of that walk
 * would have found it), so all of its usage belongs to this interval and is reported;
 * as a guard against a cgroup merely missed before, a first reading larger than the
 * elapsed time times the CPU count is taken as a baseline only (counted as clamped).
 * A cgroup whose path is reused by a new cgroup (another inode) counts as new.
 * Returns 0 or -ENOMEM. Read errors are counted, not returned. */
int jp_cgroupfs_collect(struct jp_cgroupfs *cg, struct jp_cg_cpu_set *out);

/* The cumulative CPU time of one cgroup v2 (<mount><rel>/cpu.stat usage_usec, in ns).
 * Returns 0 or a negative errno. */
int jp_cgroup_v2_usage_ns(const char *mount, const char *rel, uint64_t *usage_ns);

void jp_cgroupfs_get_stats(const struct jp_cgroupfs *cg, struct jp_cgroupfs_stats *out);

#endif
