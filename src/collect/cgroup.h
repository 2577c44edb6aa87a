/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the CPU-time collectors: the cgroup v2 mount and per-cgroup CPU time sets. */
#ifndef JP_COLLECT_CGROUP_H
#define JP_COLLECT_CGROUP_H

#include <stddef.h>
#include <stdint.h>

/* CPU time one cgroup used over an interval. path is relative to the cgroup v2 mount
 * and starts with '/' ("/" itself is the root cgroup). */
struct jp_cg_cpu {
	char *path;               /* malloc'd; owned by the set */
	uint64_t cgroup_id;       /* the cgroup v2 id (its directory's inode), 0 if unknown */
	uint64_t cpu_ns;          /* CPU time during the interval */
};

struct jp_cg_cpu_set {
	struct jp_cg_cpu *v;
	size_t n, cap;
};

/* Append a copy of path with cpu_ns; returns 0 or -ENOMEM. */
int jp_cg_cpu_set_add(struct jp_cg_cpu_set *set, const char *path, uint64_t cgroup_id, uint64_t cpu_ns);
/* Empty the set (frees the paths, keeps the array). */
void jp_cg_cpu_set_clear(struct jp_cg_cpu_set *set);
void jp_cg_cpu_set_free(struct jp_cg_cpu_set *set);

/* Call cb with the path (relative to mount, starting with '/') of every directory in the
 * cgroup hierarchy down to max_depth levels, parents before children. cb returns 0 to
 * descend into the directory, 1 to skip its children, or a negative errno to stop.
 * Directories that vanish while being listed are skipped. Returns 0 or the negative errno
 * that stopped the walk (-ENOENT if mount cannot be opened). */
int jp_cgroup_walk(const char *mount, unsigned max_depth,
		   int (*cb)(const char *rel, void *arg), void *arg);

/* Find the cgroup v2 mount point in <procfs>/self/mountinfo (the first "cgroup2"
 * filesystem, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified on a hybrid host). Writes
 * it to out. Returns 0, -ENOENT if there is none, -ENAMETOOLONG, or another negative
 * errno if mountinfo cannot be read. */
int jp_cgroup2_find_mount(const char *procfs, char *out, size_t outlen);

#endif
