/* SPDX-License-Identifier: Apache-2.0 */
/* The machine's power meter through hwmon (collect/hwmon.h). */
#include "collect/hwmon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"

#define MAX_CHANNELS 32

/* A channel that reads implausibly this many times in a row is taken at its word: the
 * counter really moved (replaced meter, firmware reset), and counting starts again there. */
#define REBASE_AFTER 3

struct channel {
	char path[PATH_MAX];
	int fd;                    /* opened once, at start-up (before a privilege drop) */
	int energy;                /* µJ counter; else µW power */
	int have_prev;
	uint64_t prev;             /* last good reading */
	unsigned implausible_run;  /* readings refused in a row */
};

struct jp_hwmon {
	struct channel ch[MAX_CHANNELS];
	unsigned n;
	char where[PATH_MAX];
	double max_w;              /* power.platform.max_watts */
	uint64_t implausible;      /* readings refused so far */
};

/* A sysfs value: one unsigned decimal number, read again from offset 0 of the open file
 * (sysfs produces the value afresh on each read at offset 0). */
static int read_u64(int fd, uint64_t *v)
{
	char buf[64];
	ssize_t n;
	do
		n = pread(fd, buf, sizeof(buf) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
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
 * else power<N>_average. Each is opened now and kept: a meter that only root may read
 * goes on working after the agent drops to its user. *open_err gets the first failure. */
static void add_channels(struct jp_hwmon *h, const char *dir, int *open_err, char *err_path, size_t err_len)
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
			/* Non-blocking: a FIFO where the file should be reads as an error, not a hang. */
			c->fd = open(c->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			if (c->fd < 0) {
				if (!*open_err) {
					*open_err = errno;
					snprintf(err_path, err_len, "%s", c->path);
				}
				break;
			}
			c->energy = k == 0;
			c->have_prev = 0;
			c->implausible_run = 0;
			h->n++;
			break;
		}
	}
}

struct jp_hwmon *jp_hwmon_open(const char *sysfs, const char *name, double max_w, char *why, size_t why_len)
{
	int open_err = 0;
	char err_path[PATH_MAX] = "";
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
	if (h)
		h->max_w = max_w;
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
		add_channels(h, dir, &open_err, err_path, sizeof(err_path));
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
		if (open_err)
			snprintf(why, why_len, "cannot open %s: %s", err_path, strerror(open_err));
		else
			snprintf(why, why_len, "no hwmon device named \"%s\" with a power or energy channel under %s",
				 name, base);
		free(h);
		errno = open_err ? open_err : ENOENT;
		return NULL;
	}
	return h;
}

void jp_hwmon_close(struct jp_hwmon *h)
{
	if (!h)
		return;
	for (unsigned i = 0; i < h->n; i++)
		close(h->ch[i].fd);
	free(h);
}

uint64_t jp_hwmon_implausible(const struct jp_hwmon *h)
{
	return h->implausible;
}

unsigned jp_hwmon_channels(const struct jp_hwmon *h)
{
	return h->n;
}

const char *jp_hwmon_where(const struct jp_hwmon *h)
{
	return h->where;
}

/* Whether a channel's new reading implies more power than max_w: a counter step over
 * the interval, or a power reading itself. */
static int implausible(const struct jp_hwmon *h, const struct channel *c, uint64_t v, double seconds)
{
	if (!(h->max_w > 0))
		return 0;
	if (!c->energy)
		return (double)v / 1e6 > h->max_w;
	if (!c->have_prev || v < c->prev || !(seconds > 0))
		return 0;
	return (double)(v - c->prev) / 1e6 / seconds > h->max_w;
}

int jp_hwmon_read(struct jp_hwmon *h, double seconds, double *joules)
{
	uint64_t v[MAX_CHANNELS];
	/* Read everything first: one bad channel fails the interval and moves no baseline. */
	for (unsigned i = 0; i < h->n; i++) {
		int r = read_u64(h->ch[i].fd, &v[i]);
		if (r)
			return r;
	}
	/* One absurd reading (a firmware glitch, a bit flip) would be counted for ever: the
	 * interval is refused and every baseline stays at its last good value. */
	int bad = 0;
	for (unsigned i = 0; i < h->n; i++) {
		struct channel *c = &h->ch[i];
		if (!implausible(h, c, v[i], seconds)) {
			c->implausible_run = 0;
			continue;
		}
		bad = 1;
		h->implausible++;
		if (++c->implausible_run >= REBASE_AFTER) {
			c->have_prev = 0;   /* taken as the new baseline below */
			c->implausible_run = 0;
		}
	}
	if (bad) {
		for (unsigned i = 0; i < h->n; i++)
			if (!h->ch[i].have_prev) {
				h->ch[i].prev = v[i];
				h->ch[i].have_prev = 1;
			}
		return -EDOM;
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
