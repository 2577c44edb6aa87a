/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Types shared by the sched_switch eBPF program and its user-space loader (fixed-width only). */
#ifndef JP_BPF_CGROUP_CPU_H
#define JP_BPF_CGROUP_CPU_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Default capacity of the cg_cpu map; user space sets the real one before load
 * (collector.bpf_map_entries, or max(16384, 4 x the cgroups at start)). */
#define JP_CGCPU_DEFAULT_MAX_CGROUPS 16384

/* cg_cpu map (BPF_MAP_TYPE_PERCPU_HASH): key is the cgroup v2 id, which equals the inode
 * number of the cgroup's directory under the v2 mount. */
struct jp_cgcpu_key {
	__u64 cgroup_id;
};

/* Per CPU: nanoseconds that tasks of the cgroup ran on that CPU since the program was
 * loaded. The value only grows (user space computes deltas), so no increment is ever lost
 * to a concurrent delete. */
struct jp_cgcpu_val {
	__u64 cpu_ns;
};

#endif
