/* SPDX-License-Identifier: Apache-2.0 */
/* Loading and attaching the sched_switch probe (bpf/cgroup_cpu.bpf.c) for the eBPF
 * collector (collect/bpf.c). */
#ifndef JP_COLLECT_BPF_LOADER_H
#define JP_COLLECT_BPF_LOADER_H

#include <stddef.h>
#include <stdint.h>

/* The kernel objects, as descriptors the caller owns (close them to unload). */
struct jp_bpf_fds {
	int map;      /* cg_cpu: per-cgroup CPU time, per CPU */
	int flush;    /* jp_flush: charges the running task (BPF_PROG_TEST_RUN) */
	int prog;     /* jp_on_switch */
	int link;     /* its raw_tp attachment */
	int full;     /* cg_full: inserts refused by a full map */
};

/* Load the probe with a per-cgroup map of max_cgroups entries (0: the default) and attach
 * it, in a short-lived child process that hands the descriptors back: libbpf's BTF
 * indexing for CO-RE costs some 12 MB for a moment, which must not stay in the agent's
 * peak RSS. Returns 0 and fills *out, or a negative errno with a one-line reason in
 * why[0..whylen) (HACKING.md "Errors"). Logs only at debug level. */
int jp_bpf_load(uint32_t max_cgroups, struct jp_bpf_fds *out, char *why, size_t whylen);

#endif
