/* SPDX-License-Identifier: Apache-2.0 */
/* The machine's power meter through hwmon (collect/hwmon.h). */
#include "collect/hwmon.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"

#define MAX_CHANNELS 32

struct channel {
	char path[PATH_MAX];
	int energy;                /* µJ counter; else µW power */
	int have_prev;
	uint64_t prev;             /* last good reading */
};

struct jp_hwmon {
	struct channel ch[MAX_CHANNELS];
	unsigned n;
	char where[PATH_MAX];
};

/* A sysfs value: one unsigned decimal number. */
static int read_u64(const char *path, uint64_t *v)
{
	char buf[64];
	ssize_t n = jp_read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(buf, &end, 10);
	if (end == buf || errno || (*end && *end != '\n') || buf[0] == '-')
		return -EINVAL;
	*v = x;
	return 0;
}

static int read_name(const char *dir, char *out, size_t len)
{
	char path[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/name", dir);
	ssize_t n = jp_read_small(path, out, len);
	if (n <= 0)
		return n < 0 ? (int)n : -EINVAL;
	out[strcspn(out, "\n")] = 0;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add the channels of one device: for each index, energy<N>_input, else power<N>_input,
 * else power<N>_average. */
static void add_channels(struct jp_hwmon *h, const char *dir)
{
	for (unsigned idx = 1; idx <= 16 && h->n < MAX_CHANNELS; idx++) {
		static const char *const kinds[] = {"energy", "power", "power"};
		static const char *const suffix[] = {"input", "input", "average"};
		for (int k = 0; k < 3; k++) {
			char file[32];
			snprintf(file, sizeof(file), "%s%u_%s", kinds[k], idx, suffix[k]);
			struct channel *c = &h->ch[h->n];
			if ((size_t)snprintf(c->path, sizeof(c->path), "%s/%s", dir, file) >= sizeof(c->path))
				break;
			if (access(c->path, F_OK) != 0)
				continue;
			c->energy = k == 0;
			h->n++;
			break;
		}
	}
}

struct jp_hwmon *jp_hwmon_open(const char *sysfs, const char *name, char *why, size_t why_len)
{
	char base[PATH_MAX];
	snprintf(base, sizeof(base), "%s/class/hwmon", sysfs);
	DIR *d = opendir(base);
	if (!d) {
		int e = errno;
		snprintf(why, why_len, "%s: %s", base, strerror(e));
		errno = e;
		return NULL;
	}
	struct jp_hwmon *h = calloc(1, sizeof(*h));
	char **names = NULL;
	size_t nn = 0, cap = 0;
	struct dirent *de;
	while (h && (de = readdir(d))) {
		if (strncmp(de->d_name, "hwmon", 5) != 0)
			continue;
		if (jp_grow((void **)&names, &cap, nn + 1, sizeof(*names)) || !(names[nn] = strdup(de->d_name)))
			break;
		nn++;
	}
	closedir(d);
	if (nn > 1)
		qsort(names, nn, sizeof(*names), cmp_str);
	for (size_t i = 0; h && i < nn; i++) {
		char dir[PATH_MAX], got[128];
		if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", base, names[i]) >= sizeof(dir))
			continue;
		if (read_name(dir, got, sizeof(got)) || strcmp(got, name) != 0)
			continue;
		unsigned before = h->n;
		add_channels(h, dir);
		if (h->n > before && !h->where[0])
			snprintf(h->where, sizeof(h->where), "%s", dir);
	}
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	if (!h->n) {
		snprintf(why, why_len, "no hwmon device named \"%s\" with a power or energy channel under %s", name, base);
		free(h);
		errno = ENOENT;
		return NULL;
	}
	return h;
}

void jp_hwmon_close(struct jp_hwmon *h)
{
	free(h);
}

unsigned jp_hwmon_channels(const struct jp_hwmon *h)
{
	return h->n;
}

const char *jp_hwmon_where(const struct jp_hwmon *h)
{
	return h->where;
}

int jp_hwmon_read(struct jp_hwmon *h, double seconds, double *joules)
{
	uint64_t v[MAX_CHANNELS];
	/* Read everything first: one bad channel fails the interval and moves no baseline. */
	for (unsigned i = 0; i < h->n; i++) {
		int r = read_u64(h->ch[i].path, &v[i]);
		if (r)
			return r;
	}
	int back = 0;
	double j = 0;
	for (unsigned i = 0; i < h->n; i++) {
		struct channel *c = &h->ch[i];
		if (c->energy) {
			if (c->have_prev && v[i] < c->prev)
				back = 1;   /* reset or wrap: start again from here */
			else if (c->have_prev)
				j += (double)(v[i] - c->prev) / 1e6;
		} else {
			double w = (double)v[i] / 1e6;
			double pw = c->have_prev ? (double)c->prev / 1e6 : w;
			j += (w + pw) / 2 * seconds;
		}
		c->prev = v[i];
		c->have_prev = 1;
	}
	*joules = j;
	return back ? -ERANGE : 0;
}
