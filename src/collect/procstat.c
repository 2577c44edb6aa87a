/* SPDX-License-Identifier: Apache-2.0 */
/* Node CPU usage per interval from the aggregate "cpu" line of <procfs>/stat (docs/model.md step 2). */
#include "collect/procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"

/* A node with thousands of CPUs has a /proc/stat of a few hundred KiB; refuse more
 * than this rather than grow without bound on a hostile file. */
#define PROCSTAT_MAX_BYTES (8u << 20)

struct jp_procstat {
	int fd;
	uint64_t tick_ns;
	char *buf;
	size_t cap;
	struct jp_cpu_totals last;      /* last good read */
	struct jp_cpu_interval interval; /* last good interval */
};

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Parse one unsigned decimal at *p (after spaces) up to end; -1 if none or overflow. */
static int parse_u64(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	while (s < end && *s == ' ')
		s++;
	if (s == end || !is_digit(*s))
		return -1;
	uint64_t v = 0;
	while (s < end && is_digit(*s)) {
		uint64_t d = (uint64_t)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		s++;
	}
	if (s < end && *s != ' ' && *s != '\n')
		return -1;
	*p = s;
	*out = v;
	return 0;
}

int jp_procstat_parse(const char *buf, size_t len, uint64_t tick_ns, struct jp_cpu_totals *out)
{
	const char *end = buf + len;
	if (len < 5 || memcmp(buf, "cpu ", 4) != 0)
		return -EINVAL;
	const char *eol = memchr(buf, '\n', len);
	if (!eol)
		return -EINVAL; /* truncated inside the aggregate line */

	/* user nice system idle iowait irq softirq steal guest guest_nice; kernels before
	 * 2.6.x have fewer fields, missing ones count as zero. At least four are required. */
	uint64_t f[10] = {0};
	const char *p = buf + 4;
	int n = 0;
	while (n < 10) {
		const char *q = p;
		while (q < eol && *q == ' ')
			q++;
		if (q == eol)
			break;
		if (parse_u64(&p, eol, &f[n]) < 0)
			return -EINVAL;
		n++;
	}
	if (n < 4)
		return -EINVAL;

	/* steal (f[7]) is not work this machine did: on a VM it is the time the hypervisor
	 * ran someone else on our CPUs. guest and guest_nice are already inside user and nice. */
	uint64_t busy = f[0] + f[1] + f[2] + f[5] + f[6];
	uint64_t idle = f[3] + f[4];
	uint64_t steal = f[7];
	if (tick_ns && (busy > UINT64_MAX / tick_ns || idle > UINT64_MAX / tick_ns || steal > UINT64_MAX / tick_ns))
		return -EINVAL;

	unsigned ncpus = 0;
	for (const char *l = eol + 1; l + 4 < end; ) {
		if (memcmp(l, "cpu", 3) == 0 && is_digit(l[3]))
			ncpus++;
		else if (memcmp(l, "cpu", 3) != 0)
			break; /* the per-CPU lines come right after the aggregate one */
		const char *nl = memchr(l, '\n', (size_t)(end - l));
		if (!nl)
			break;
		l = nl + 1;
	}
	if (ncpus == 0)
		return -EINVAL; /* truncated before the first per-CPU line */

	out->busy_ns = busy * tick_ns;
	out->idle_ns = idle * tick_ns;
	out->steal_ns = steal * tick_ns;
	out->ncpus = ncpus;
	return 0;
}

/* Read the whole file from offset 0, growing the buffer. Returns the length or -errno. */
static ssize_t read_all(struct jp_procstat *ps)
{
	size_t len = 0;
	for (;;) {
		if (len == ps->cap) {
			if (ps->cap >= PROCSTAT_MAX_BYTES)
				return -EFBIG;
			size_t cap = ps->cap ? ps->cap * 2 : 8192;
			char *b = realloc(ps->buf, cap);
			if (!b)
				return -ENOMEM;
			ps->buf = b;
			ps->cap = cap;
		}
		ssize_t r = pread(ps->fd, ps->buf + len, ps->cap - len, (off_t)len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return (ssize_t)len;
		len += (size_t)r;
	}
}

struct jp_procstat *jp_procstat_create(const char *procfs)
{
	struct jp_procstat *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	int err;
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/stat", procfs) >= sizeof(path)) {
		err = ENAMETOOLONG;
		goto fail_free;
	}
	ps->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ps->fd < 0) {
		err = errno;
		goto fail_free;
	}
	long hz = sysconf(_SC_CLK_TCK);
	ps->tick_ns = 1000000000u / (uint64_t)(hz > 0 ? hz : 100);
	ssize_t len = read_all(ps);
	if (len < 0) {
		err = (int)-len;
		goto fail_close;
	}
	if (jp_procstat_parse(ps->buf, (size_t)len, ps->tick_ns, &ps->last) < 0) {
		err = EINVAL;
		goto fail_close;
	}
	ps->interval.ncpus = ps->last.ncpus;
	return ps;

fail_close:
	close(ps->fd);
fail_free:
	free(ps->buf);
	free(ps);
	errno = err;
	return NULL;
}

void jp_procstat_destroy(struct jp_procstat *ps)
{
	if (!ps)
		return;
	close(ps->fd);
	free(ps->buf);
	free(ps);
}

int jp_procstat_sample(struct jp_procstat *ps, struct jp_cpu_interval *out)
{
	struct jp_cpu_totals cur;
	ssize_t len = read_all(ps);
	int ret = len < 0 ? (int)len : jp_procstat_parse(ps->buf, (size_t)len, ps->tick_ns, &cur);
	if (ret < 0) {
		*out = ps->interval;
		return ret;
	}
	struct jp_cpu_interval iv = {
		.busy_ns = cur.busy_ns > ps->last.busy_ns ? cur.busy_ns - ps->last.busy_ns : 0,
		.idle_ns = cur.idle_ns > ps->last.idle_ns ? cur.idle_ns - ps->last.idle_ns : 0,
		.steal_ns = cur.steal_ns > ps->last.steal_ns ? cur.steal_ns - ps->last.steal_ns : 0,
		.ncpus = cur.ncpus,
	};
	/* Stolen time is in the wall time but not in the work: it lowers the usage. */
	uint64_t total = iv.busy_ns + iv.idle_ns + iv.steal_ns;
	/* busy / (busy + idle) equals docs/model.md's busy / (CPUs x interval) for the CPUs that were
	 * online, without the jitter of comparing tick counts with a wall-clock interval. */
	iv.usage_ratio = total ? (double)iv.busy_ns / (double)total : 0.0;
	ps->last = cur;
	ps->interval = iv;
	*out = iv;
	return 0;
}

const struct jp_cpu_totals *jp_procstat_totals(const struct jp_procstat *ps)
{
	return &ps->last;
}

int jp_procstat_mem_total_kib(const char *procfs, uint64_t *kib)
{
	char path[PATH_MAX], buf[4096];
	snprintf(path, sizeof(path), "%s/meminfo", procfs);
	ssize_t n = jp_read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	const char *p = strstr(buf, "MemTotal:");
	if (!p || (p != buf && p[-1] != '\n'))
		return -EINVAL;
	char *end;
	unsigned long long v = strtoull(p + 9, &end, 10);
	if (end == p + 9 || v == 0)
		return -EINVAL;
	*kib = v;
	return 0;
}
