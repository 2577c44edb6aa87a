/* SPDX-License-Identifier: Apache-2.0 */
/* sched_switch probe: CPU time per cgroup v2 id, kept per CPU (SPEC §5 "CPU time per cgroup"). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "cgroup_cpu.h"

/* The program calls no GPL-only helper (ktime, pid/tgid, cgroup id and map helpers are
 * all available to non-GPL programs), so it carries the project's own licence. */
char LICENSE[] SEC("license") = "Apache-2.0";

/* Per CPU: bpf_ktime_get_ns() at the last accounting point on that CPU (a context switch
 * or a flush). 0 until the first one, so that the time before the program was attached is
 * never charged to anybody. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} last_ns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, JP_CGCPU_DEFAULT_MAX_CGROUPS);
	__type(key, struct jp_cgcpu_key);
	__type(value, struct jp_cgcpu_val);
} cg_cpu SEC(".maps");

/* Charge the time since the last accounting point on this CPU to the cgroup of the task
 * that is current. Both callers run with the CPU's run queue unable to switch under them:
 * sched_switch fires inside __schedule() with interrupts off, and the flush program runs in
 * an IPI or with preemption disabled, so the per-CPU slots need no atomics. */
static __always_inline void charge_current(void)
{
	__u32 zero = 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&last_ns, &zero);

	if (!last)
		return;
	__u64 prev = *last;
	*last = now;
	/* The idle task is pid 0 on every CPU; its time is idle time, not a cgroup's. */
	if (!prev || (__u32)bpf_get_current_pid_tgid() == 0)
		return;

	struct jp_cgcpu_key key = {.cgroup_id = bpf_get_current_cgroup_id()};
	struct jp_cgcpu_val *val = bpf_map_lookup_elem(&cg_cpu, &key);

	if (val) {
		val->cpu_ns += now - prev;
		return;
	}
	/* A percpu hash insert from a program sets this CPU's slot and zeroes the others. If
	 * the map is full the time is dropped; user space sizes the map for the node. */
	struct jp_cgcpu_val init = {.cpu_ns = now - prev};
	bpf_map_update_elem(&cg_cpu, &key, &init, BPF_NOEXIST);
}

/* raw_tp rather than tracepoint/sched/sched_switch: it skips building the perf trace
 * record and does not need tracefs. At this tracepoint current is still the outgoing task
 * (trace_sched_switch() runs before context_switch()), so the helpers below describe prev
 * and the program reads none of the tracepoint's arguments. */
SEC("raw_tp/sched_switch")
int jp_on_switch(struct bpf_raw_tracepoint_args *ctx)
{
	charge_current();
	return 0;
}

/* Run by user space on every CPU (BPF_PROG_TEST_RUN with BPF_F_TEST_RUN_ON_CPU) just
 * before it reads the map, so that a task running for the whole interval without a switch
 * is charged up to now instead of at its next switch. Never attached. */
SEC("raw_tp")
int jp_flush(struct bpf_raw_tracepoint_args *ctx)
{
	charge_current();
	return 0;
}
