/* SPDX-License-Identifier: Apache-2.0 */
/* Node CPU usage per interval from the aggregate "cpu" line of <procfs>/stat (docs/model.md step 2). */
#ifndef JP_COLLECT_PROCSTAT_H
#define JP_COLLECT_PROCSTAT_H

#include <stddef.h>
#include <stdint.h>

/* Cumulative CPU time of all CPUs since boot, as one read of <procfs>/stat gives it. */
struct jp_cpu_totals {
	uint64_t busy_ns;   /* user + nice + system + irq + softirq: work this machine did */
	uint64_t idle_ns;   /* idle + iowait */
	uint64_t steal_ns;  /* time a hypervisor gave this VM's CPUs to others: not its work */
	unsigned ncpus;     /* "cpuN" lines, i.e. online CPUs */
};

/* One interval: deltas between two good reads. */
struct jp_cpu_interval {
	uint64_t busy_ns;
	uint64_t idle_ns;
	uint64_t steal_ns;
	unsigned ncpus;
	double usage_ratio;  /* busy / (busy + idle + steal), in [0, 1]: stolen time is wall
	                        time in which this VM did no work (docs/model.md) */
};

struct jp_procstat;

/* Parse the text of /proc/stat (len bytes, need not be NUL-terminated). The guest
 * fields are not added: the kernel already counts guest time inside user and guest_nice
 * inside nice (proc(5)). tick_ns is the length of one USER_HZ tick. Returns 0 or -EINVAL
 * when the aggregate line is missing, truncated or not numeric. Pure; for tests and fuzzing. */
int jp_procstat_parse(const char *buf, size_t len, uint64_t tick_ns, struct jp_cpu_totals *out);

/* Open <procfs>/stat, keep the fd and take the first reading as the baseline.
 * Returns NULL with errno set (ENOENT, EACCES, EINVAL for an unparsable file, ENOMEM).
 * The caller owns the result; free it with jp_procstat_destroy(). */
struct jp_procstat *jp_procstat_create(const char *procfs);
void jp_procstat_destroy(struct jp_procstat *ps);

/* Read the file again (pread on the kept fd) and fill *out with the deltas since the
 * previous good read. On a bad read (truncated, garbage, I/O error) the baseline is
 * kept, *out gets the last good interval and a negative errno is returned; the next
 * good read then spans the whole time since the last good one, so no CPU time is lost.
 * Counters that go backwards (seen with iowait on some kernels) give a zero delta. */
int jp_procstat_sample(struct jp_procstat *ps, struct jp_cpu_interval *out);

/* The cumulative totals of the last good read (never NULL). */
const struct jp_cpu_totals *jp_procstat_totals(const struct jp_procstat *ps);

/* MemTotal of <procfs>/meminfo in KiB. Returns 0 or a negative errno (-EINVAL: no such
 * line). */
int jp_procstat_mem_total_kib(const char *procfs, uint64_t *kib);

#endif
