/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* sched_switch probe: CPU time per cgroup v2 id, kept per CPU (docs/model.md "CPU time per cgroup"). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "cgroup_cpu.h"

/* Reading task fields needs bpf_probe_read_kernel() or BTF pointers, which the kernel
 * offers to GPL-compatible programs only; hence the dual licence of this one file. */
char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Task fields are read as plain loads through BTF-typed pointers, not with a helper call
 * per field: current from bpf_get_current_task_btf(), the task switched in through
 * bpf_rdonly_cast() (a raw tracepoint's arguments are untyped). The verifier turns such a
 * load into one instruction that cannot fault (a bad address reads 0), and each probe read
 * it replaces cost a helper call on every context switch (docs/ebpf.md, "Cost"). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* Kernels before 6.2 (no bpf_rdonly_cast) read the incoming task's run time with a probe
 * read, as all kernels did; libbpf resolves the test at load and the verifier drops the
 * branch not taken. */
static __always_inline __u64 sum_of(__u64 p)
{
	if (bpf_rdonly_cast) {
		struct task_struct *t = bpf_rdonly_cast((void *)p, bpf_core_type_id_kernel(struct task_struct));
		return t->se.sum_exec_runtime;
	}
	return BPF_CORE_READ((struct task_struct *)p, se.sum_exec_runtime);
}

/* Per CPU: the task that was switched in last and its se.sum_exec_runtime at that moment.
 *
 * Why the task's own run time and not bpf_ktime_get_ns() between switches: the kernel
 * charges a woken task from the run-queue clock of its wake-up (wakeup_preempt() sets
 * rq_clock_skip_update(), so __schedule() reuses that clock), i.e. cpu.stat includes the
 * idle-exit latency before the switch. On a VM that is several microseconds per wake-up,
 * and a ktime sum read 10-20 % low for tasks that sleep briefly and often. The delta of
 * sum_exec_runtime between switch-in and switch-out is exactly what update_curr() passed
 * to cgroup_account_cputime(), so it matches cpu.stat for every scheduling pattern (and
 * leaves out steal time the same way). */
struct cpu_slot {
	__u64 task;      /* task_struct pointer of the task switched in last; 0 at first */
	__u64 sum_ns;    /* its se.sum_exec_runtime then, or at the last flush */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cpu_slot);
} last SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, JP_CGCPU_DEFAULT_MAX_CGROUPS);
	__type(key, struct jp_cgcpu_key);
	__type(value, struct jp_cgcpu_val);
} cg_cpu SEC(".maps");

/* Inserts into cg_cpu that failed (the map was full): that time is not in the map, and
 * user space falls back to cpu.stat for the cgroups the map does not track. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cg_full SEC(".maps");

/* Where the uncharged run time of task `cur` (== current) on this CPU starts.
 *
 * Normally the slot names cur: it was set when cur was switched in (or at the last
 * flush). Yet a switch-out sometimes finds the slot naming another task (seen under load,
 * a few times a second, for slices of up to tens of milliseconds): a switch-in this
 * program did not see. For a task of the fair class the kernel itself knows where the
 * slice began: set_next_entity() copies se.sum_exec_runtime to se.prev_sum_exec_runtime
 * each time it puts the task on the CPU, so the slice is charged from there instead of
 * being lost. A slice a flush already charged always leaves the slot naming cur (the
 * flush takes it over), so nothing is counted twice. Other classes (prio < 100: RT,
 * deadline, a boosted task) keep no such mark; their slice starts at the slot or not at
 * all. Returns 0 when the start is unknown (a new task starts at 0, so 0 is no marker). */
static __always_inline int slice_start(const struct cpu_slot *slot, struct task_struct *cur, __u64 *start)
{
	/* Both loads are made: one instruction may not load through a map value here and a
	 * task there (the verifier refuses it), which is what a compiler makes of a select. */
	__u64 mark = cur->se.prev_sum_exec_runtime, kept = slot->sum_ns;
	__asm__ volatile("" : "+r"(mark), "+r"(kept));
	if (slot->task == (__u64)cur) {
		*start = kept;
		return 1;
	}
	if (cur->prio >= 100) {
		*start = mark;
		return 1;
	}
	return 0;
}

/* Charge the run time of task `cur` (== current) since its slice_start() to the cgroup
 * of current. Both callers run where this CPU cannot switch under them: sched_switch
 * fires inside __schedule() with interrupts off, the flush program in an IPI or with
 * preemption disabled; so the per-CPU slots need no atomics. */
static __always_inline void charge(struct cpu_slot *slot, struct task_struct *cur)
{
	__u64 now_sum = cur->se.sum_exec_runtime;
	__u64 start = 0;

	/* The idle task is pid 0 on every CPU; its time is idle time, not a cgroup's. */
	if (cur->pid == 0 || !slice_start(slot, cur, &start) || now_sum <= start)
		return;

	__u64 delta = now_sum - start;
	/* The cgroup v2 id of current, as bpf_get_current_cgroup_id() finds it, by loads. */
	struct jp_cgcpu_key key = {.cgroup_id = cur->cgroups->dfl_cgrp->kn->id};
	struct jp_cgcpu_val *val = bpf_map_lookup_elem(&cg_cpu, &key);

	if (val) {
		val->cpu_ns += delta;
		return;
	}
	/* A percpu hash insert from a program sets this CPU's slot and zeroes the others. If
	 * the map is full the insert fails: count it, so that user space knows to read
	 * cpu.stat for the cgroups the map does not hold (and says so). */
	struct jp_cgcpu_val init = {.cpu_ns = delta};
	if (bpf_map_update_elem(&cg_cpu, &key, &init, BPF_NOEXIST) != 0) {
		__u32 zero = 0;
		__u64 *full = bpf_map_lookup_elem(&cg_full, &zero);
		if (full)
			(*full)++;
	}
}

/* raw_tp rather than tracepoint/sched/sched_switch: it skips building the perf trace
 * record and does not need tracefs. Arguments: (bool preempt, struct task_struct *prev,
 * struct task_struct *next, unsigned int prev_state). At this point current is still prev
 * (trace_sched_switch() runs before context_switch()), and prev's sum_exec_runtime is up
 * to date (put_prev_task() or the dequeue called update_curr()). */
SEC("raw_tp/sched_switch")
int jp_on_switch(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 zero = 0;
	struct cpu_slot *slot = bpf_map_lookup_elem(&last, &zero);

	if (!slot)
		return 0;
	/* prev is current here. */
	charge(slot, bpf_get_current_task_btf());
	slot->task = ctx->args[2];
	slot->sum_ns = sum_of(ctx->args[2]);
	return 0;
}

/* Run by user space on every CPU (BPF_PROG_TEST_RUN with BPF_F_TEST_RUN_ON_CPU) just
 * before it reads the map, so that a task running for the whole interval without a switch
 * is charged up to its last update_curr() (at most a tick ago, as cpu.stat is) instead of
 * at its next switch. It then takes the slot over for that task, whose switch-in may not
 * have been seen (it was running when the program was attached). Never attached. */
SEC("raw_tp")
int jp_flush(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 zero = 0;
	struct cpu_slot *slot = bpf_map_lookup_elem(&last, &zero);
	struct task_struct *cur = bpf_get_current_task_btf();

	if (!slot)
		return 0;
	charge(slot, cur);
	slot->task = (__u64)cur;
	slot->sum_ns = cur->se.sum_exec_runtime;
	return 0;
}

/* The floor of a sched_switch probe: count the switches and nothing else. Never loaded
 * by the agent; bench/bench_bpf.c attaches it beside jp_on_switch, so that one run shows
 * what the attribution costs above the price of being called at all. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} floor_count SEC(".maps");

SEC("raw_tp/sched_switch")
int jp_floor(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&floor_count, &zero);
	if (n)
		(*n)++;
	return 0;
}
