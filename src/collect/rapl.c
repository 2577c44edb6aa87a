/* SPDX-License-Identifier: Apache-2.0 */
/* RAPL energy from the powercap zones under <sysfs>/class/powercap (docs/reference/metrics.md, docs/model.md step 1). */
#include "collect/rapl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"

#define MOD "rapl"

struct zone {
	char id[32];           /* "intel-rapl:0:1" */
	char name[32];         /* content of `name`, e.g. "package-0" */
	enum jp_rapl_kind kind;
	int fd;                /* energy_uj; -1 once the zone is gone */
	uint64_t max_range_uj; /* 0 if unknown */
	uint64_t prev_uj;
	int has_prev;
	int logged_bad;        /* a bad read was logged for this zone */
};

struct jp_rapl {
	struct zone *z;
	size_t n, cap;
	struct jp_rapl_io io;
	unsigned denied;       /* zones whose energy_uj could not be opened: EACCES/EPERM */
};

static const char *const kind_names[JP_RAPL_NKINDS] = {"package", "core", "uncore", "dram", "psys"};

const char *jp_rapl_kind_name(enum jp_rapl_kind kind)
{
	return (unsigned)kind < JP_RAPL_NKINDS ? kind_names[kind] : "unknown";
}

uint64_t jp_rapl_delta_uj(uint64_t prev, uint64_t cur, uint64_t max_range)
{
	if (cur >= prev)
		return cur - prev;
	/* powercap energy_uj counts up to max_energy_range_uj and starts again from zero
	 * (Documentation/power/powercap/powercap.rst); at the intervals we read (<= 10 min)
	 * a counter wraps at most once (the smallest range, ~262 kJ, lasts > 15 min at 250 W). */
	if (max_range == 0 || prev > max_range)
		return 0;
	return max_range - prev + cur;
}

uint64_t jp_rapl_total_uj(const struct jp_rapl_energy *e)
{
	if (e->present & JP_RAPL_BIT(JP_RAPL_PSYS))
		return e->uj[JP_RAPL_PSYS];
	return e->uj[JP_RAPL_PACKAGE] + e->uj[JP_RAPL_DRAM];
}

double jp_rapl_total_j(const struct jp_rapl_energy *e)
{
	return (double)jp_rapl_total_uj(e) / 1e6;
}

/* "intel-rapl:N" or "intel-rapl:N:M" exactly; returns the depth (1 or 2), 0 otherwise. */
static int zone_id_depth(const char *s)
{
	static const char prefix[] = "intel-rapl:";
	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	s += sizeof(prefix) - 1;
	int depth = 0;
	for (;;) {
		int digits = 0;
		while (*s >= '0' && *s <= '9' && digits < 6) {
			s++;
			digits++;
		}
		if (!digits)
			return 0;
		depth++;
		if (*s == '\0')
			return depth <= 2 ? depth : 0;
		if (*s != ':' || depth == 2)
			return 0;
		s++;
	}
}

/* Parse a sysfs number: digits, then an optional newline, then the end. */
static int parse_uj(const char *buf, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		uint64_t d = (uint64_t)(buf[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (i == 0 || (i < len && buf[i] != '\n'))
		return -EINVAL;
	*out = v;
	return 0;
}

/* Read a small text file; returns its length (newline trimmed) or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	ssize_t r = jp_read_small(path, buf, cap);
	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
		buf[--r] = '\0';
	return r;
}

/* Read energy_uj of a zone. Returns 0, -EINVAL/-ERANGE for garbage, or -errno. */
static int read_counter(const struct jp_rapl *r, int fd, uint64_t *out)
{
	char buf[32];
	ssize_t len;
	do
		len = r->io.pread_cb ? r->io.pread_cb(fd, buf, sizeof(buf), 0) : pread(fd, buf, sizeof(buf), 0);
	while (len < 0 && errno == EINTR);
	if (len < 0)
		return -errno;
	if (len == (ssize_t)sizeof(buf))
		return -EINVAL; /* no counter is 32 digits long */
	return parse_uj(buf, (size_t)len, out);
}

static int kind_from_name(const char *name, enum jp_rapl_kind *out)
{
	if (strncmp(name, "package-", 8) == 0 && name[8] >= '0' && name[8] <= '9')
		*out = JP_RAPL_PACKAGE;
	else if (strcmp(name, "core") == 0)
		*out = JP_RAPL_CORE;
	else if (strcmp(name, "uncore") == 0)
		*out = JP_RAPL_UNCORE;
	else if (strcmp(name, "dram") == 0)
		*out = JP_RAPL_DRAM;
	else if (strcmp(name, "psys") == 0)
		*out = JP_RAPL_PSYS;
	else
		return -1;
	return 0;
}

static int have_zone(const struct jp_rapl *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->z[i].id, id) == 0)
			return 1;
	return 0;
}

/* Set up the zone in directory dir (named id). Returns 0 (added or skipped) or -ENOMEM. */
static int add_zone(struct jp_rapl *r, const char *dir, const char *id)
{
	char path[4200], buf[64]; /* dir is shorter than 4096 (scan_dir) */
	struct zone z = {.fd = -1};
	snprintf(z.id, sizeof(z.id), "%.31s", id);

	snprintf(path, sizeof(path), "%s/name", dir);
	ssize_t len = read_small(path, buf, sizeof(buf));
	if (len <= 0) {
		jp_warn(MOD, "zone %s: cannot read its name (%s); skipped", id,
			len < 0 ? strerror((int)-len) : "empty");
		return 0;
	}
	if (kind_from_name(buf, &z.kind) < 0) {
		jp_warn(MOD, "zone %s: unknown name '%.31s'; skipped", id, buf);
		return 0;
	}
	snprintf(z.name, sizeof(z.name), "%.31s", buf);

	snprintf(path, sizeof(path), "%s/max_energy_range_uj", dir);
	len = read_small(path, buf, sizeof(buf));
	if (len <= 0 || parse_uj(buf, (size_t)len, &z.max_range_uj) < 0) {
		z.max_range_uj = 0;
		jp_warn(MOD, "zone %s (%s): no usable max_energy_range_uj; a wrap-around will "
			"count as zero energy", id, z.name);
	}

	snprintf(path, sizeof(path), "%s/energy_uj", dir);
	z.fd = r->io.open_cb ? r->io.open_cb(path, O_RDONLY | O_CLOEXEC) : open(path, O_RDONLY | O_CLOEXEC);
	if (z.fd < 0) {
		int err = errno;
		if (err == EACCES || err == EPERM) {
			r->denied++;
			jp_warn(MOD, "zone %s (%s): %s: %s (energy_uj is root-only on current kernels; "
				"run as root or grant read access)", id, z.name, path, strerror(err));
		} else {
			jp_warn(MOD, "zone %s (%s): %s: %s; skipped", id, z.name, path, strerror(err));
		}
		return 0;
	}
	int ret = read_counter(r, z.fd, &z.prev_uj);
	if (ret == 0) {
		z.has_prev = 1;
	} else if (ret == -EACCES || ret == -EPERM) {
		/* Some kernels let open() succeed and refuse the read. */
		r->denied++;
		jp_warn(MOD, "zone %s (%s): energy_uj: %s", id, z.name, strerror(-ret));
		close(z.fd);
		return 0;
	}

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct zone *v = realloc(r->z, cap * sizeof(*v));
		if (!v) {
			close(z.fd);
			return -ENOMEM;
		}
		r->z = v;
		r->cap = cap;
	}
	r->z[r->n++] = z;
	return 0;
}

/* Add every zone named intel-rapl:N (want_depth 1) or intel-rapl:N:M (2) found in dir.
 * Top-level zones found here also get their nested sub-zones scanned. */
static int scan_dir(struct jp_rapl *r, const char *dir, int want_depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int ret = 0;
	struct dirent *de;
	while (ret == 0 && (de = readdir(d))) {
		int depth = zone_id_depth(de->d_name);
		if (!depth || (want_depth && depth != want_depth))
			continue;
		char sub[4096];
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= sizeof(sub))
			continue;
		if (!have_zone(r, de->d_name))
			ret = add_zone(r, sub, de->d_name);
		if (ret == 0 && depth == 1)
			ret = scan_dir(r, sub, 2);
	}
	closedir(d);
	return ret;
}

struct jp_rapl *jp_rapl_open_with(const char *sysfs, const struct jp_rapl_io *io)
{
	struct jp_rapl *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (io)
		r->io = *io;
	int err = 0;
	char dir[4096];
	/* The kernel's layout: every zone is a symlink in class/powercap; the nested layout
	 * (class/powercap/intel-rapl/intel-rapl:N/intel-rapl:N:M) is scanned too, zones are
	 * de-duplicated by their id. */
	if ((size_t)snprintf(dir, sizeof(dir), "%s/class/powercap", sysfs) >= sizeof(dir)) {
		err = ENAMETOOLONG;
		goto fail;
	}
	int ret = scan_dir(r, dir, 0);
	if (ret == 0) {
		snprintf(dir, sizeof(dir), "%s/class/powercap/intel-rapl", sysfs);
		ret = scan_dir(r, dir, 1);
	}
	if (ret < 0) {
		err = -ret;
		goto fail;
	}
	if (r->n == 0) {
		err = r->denied ? EACCES : ENOENT;
		goto fail;
	}
	for (size_t i = 0; i < r->n; i++)
		jp_debug(MOD, "zone %s: %s, max_energy_range_uj %llu", r->z[i].id, r->z[i].name,
			 (unsigned long long)r->z[i].max_range_uj);
	return r;

fail:
	jp_rapl_close(r);
	errno = err;
	return NULL;
}

struct jp_rapl *jp_rapl_open(const char *sysfs)
{
	return jp_rapl_open_with(sysfs, NULL);
}

void jp_rapl_close(struct jp_rapl *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		if (r->z[i].fd >= 0)
			close(r->z[i].fd);
	free(r->z);
	free(r);
}

unsigned jp_rapl_present(const struct jp_rapl *r)
{
	unsigned mask = 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->z[i].fd >= 0)
			mask |= JP_RAPL_BIT(r->z[i].kind);
	return mask;
}

unsigned jp_rapl_zone_count(const struct jp_rapl *r)
{
	unsigned n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += r->z[i].fd >= 0;
	return n;
}

int jp_rapl_read(struct jp_rapl *r, struct jp_rapl_energy *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < r->n; i++) {
		struct zone *z = &r->z[i];
		if (z->fd < 0)
			continue;
		uint64_t cur;
		int ret = read_counter(r, z->fd, &cur);
		if (ret == -ENODEV || ret == -ENOENT || ret == -ENXIO) {
			/* The zone's device went away (driver unbound, CPU package offlined). */
			jp_warn(MOD, "zone %s (%s) vanished: %s; continuing without it", z->id,
				z->name, strerror(-ret));
			close(z->fd);
			z->fd = -1;
			continue;
		}
		if (ret < 0) {
			if (!z->logged_bad) {
				jp_warn(MOD, "zone %s (%s): bad energy_uj read: %s; skipped until it "
					"reads well (logged once)", z->id, z->name,
					ret == -EINVAL || ret == -ERANGE ? "not a number" : strerror(-ret));
				z->logged_bad = 1;
			}
			out->errors++;
			out->present |= JP_RAPL_BIT(z->kind);
			continue;
		}
		if (z->has_prev)
			out->uj[z->kind] += jp_rapl_delta_uj(z->prev_uj, cur, z->max_range_uj);
		z->prev_uj = cur;
		z->has_prev = 1;
		out->present |= JP_RAPL_BIT(z->kind);
	}
	for (int k = 0; k < JP_RAPL_NKINDS; k++)
		out->j[k] = (double)out->uj[k] / 1e6;
	return out->present ? 0 : -ENODEV;
}
