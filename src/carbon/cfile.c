/* SPDX-License-Identifier: Apache-2.0 */
/* The file carbon source (carbon.file.path): a local time series of grid intensity for
 * sites without Internet access, as JSON or CSV. */
#include "carbon/cfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/json_read.h"
#include "util/time.h"
#include "carbon/provider.h"

struct ent {
	struct jp_carbon_entry e;
	size_t order;
};

struct vec {
	struct ent *v;
	size_t n, cap;
};

static int push(struct vec *a, int64_t t, double g, double cfe)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct ent *v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	a->v[a->n] = (struct ent){{t, g, cfe}, a->n};
	a->n++;
	return 0;
}

static int parse_json(const char *buf, size_t len, struct vec *a, char *why, size_t whylen)
{
	struct json_object *o = jp_json_parse(buf, len, JP_CARBON_FILE_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	int r = 0;
	if (!json_object_is_type(o, json_type_array)) {
		snprintf(why, whylen, "not a JSON array");
		r = -EINVAL;
	}
	size_t n = r ? 0 : json_object_array_length(o);
	for (size_t i = 0; i < n && !r; i++) {
		struct json_object *e = json_object_array_get_idx(o, i);
		struct json_object *t = jp_json_get(e, "time");
		double g;
		int64_t tm;
		if (!t || !json_object_is_type(t, json_type_string) ||
		    jp_time_parse(json_object_get_string(t), (size_t)json_object_get_string_len(t), &tm)) {
			snprintf(why, whylen, "entry %zu: missing or bad time", i + 1);
			r = -EINVAL;
		} else if (jp_json_get_number(jp_json_get(e, "grams_per_kwh"), &g) || g < 0) {
			snprintf(why, whylen, "entry %zu: grams_per_kwh is not a number >= 0", i + 1);
			r = -EINVAL;
		} else {
			double cfe = -1;
			int k = jp_json_get_number(jp_json_get(e, "carbon_free_ratio"), &cfe);
			if (k == -ENODATA) {
				cfe = -1;   /* absent or null: not known */
			} else if (k || cfe < 0 || cfe > 1) {
				snprintf(why, whylen, "entry %zu: carbon_free_ratio is not a number from 0 to 1", i + 1);
				r = -EINVAL;
				break;
			}
			r = push(a, tm, g, cfe);
		}
	}
	json_object_put(o);
	return r;
}

static int csv_blank(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] != ' ' && v[i] != '\t')
			return 0;
	return 1;
}

/* A CSV cell [v, v + n) as a finite number (blanks around it allowed). 0 or -EINVAL. */
static int csv_number(const char *v, size_t n, double *out)
{
	char num[64], *end;
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(num) || memchr(v, ',', n))
		return -EINVAL;
	memcpy(num, v, n);
	num[n] = 0;
	*out = strtod(num, &end);
	return *end || !isfinite(*out) ? -EINVAL : 0;
}

static int parse_csv(const char *buf, size_t len, struct vec *a, char *why, size_t whylen)
{
	size_t pos = 0, line = 0;
	while (pos < len) {
		const char *s = buf + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - s) : len - pos;
		pos += l + (nl ? 1 : 0);
		line++;
		while (l && (s[l - 1] == '\r' || s[l - 1] == ' ' || s[l - 1] == '\t'))
			l--;
		size_t b = 0;
		while (b < l && (s[b] == ' ' || s[b] == '\t'))
			b++;
		if (b == l || s[b] == '#')
			continue;
		const char *comma = memchr(s + b, ',', l - b);
		if (!comma) {
			snprintf(why, whylen, "line %zu: expected time,grams_per_kwh[,carbon_free_ratio]", line);
			return -EINVAL;
		}
		size_t tl = (size_t)(comma - (s + b));
		if (line == 1 || a->n == 0) {
			/* The header, if any, comes before the first entry. */
			if (tl >= 4 && !strncmp(s + b, "time", 4) && a->n == 0)
				continue;
		}
		int64_t tm;
		if (jp_time_parse(s + b, tl, &tm)) {
			snprintf(why, whylen, "line %zu: bad time", line);
			return -EINVAL;
		}
		const char *v = comma + 1;
		const char *comma2 = memchr(v, ',', (size_t)(s + l - v));
		double g, cfe = -1;
		if (csv_number(v, (size_t)((comma2 ? comma2 : s + l) - v), &g) || g < 0) {
			snprintf(why, whylen, "line %zu: grams_per_kwh is not a number >= 0", line);
			return -EINVAL;
		}
		/* An optional third column: the carbon-free share, 0 to 1 (empty: not known). */
		if (comma2 && !csv_blank(comma2 + 1, (size_t)(s + l - comma2 - 1)) &&
		    (csv_number(comma2 + 1, (size_t)(s + l - comma2 - 1), &cfe) || cfe < 0 || cfe > 1)) {
			snprintf(why, whylen, "line %zu: carbon_free_ratio is not a number from 0 to 1", line);
			return -EINVAL;
		}
		int r = push(a, tm, g, cfe);
		if (r)
			return r;
	}
	return 0;
}

static int cmp_ent(const void *x, const void *y)
{
	const struct ent *a = x, *b = y;
	if (a->e.time_ms != b->e.time_ms)
		return (a->e.time_ms > b->e.time_ms) - (a->e.time_ms < b->e.time_ms);
	return (a->order > b->order) - (a->order < b->order);
}

int jp_carbon_file_parse(const void *buf, size_t len, struct jp_carbon_series *out,
			 char *why, size_t whylen)
{
	const char *s = buf;
	struct vec a = {0};
	int r;

	out->v = NULL;
	out->n = 0;
	if (len > JP_CARBON_FILE_MAX_BYTES) {
		snprintf(why, whylen, "file of %zu bytes is over the %u byte limit", len, JP_CARBON_FILE_MAX_BYTES);
		return -EFBIG;
	}
	size_t i = 0;
	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	if (i < len && s[i] == '[')
		r = parse_json(s, len, &a, why, whylen);
	else if (len && memchr(s, 0, len)) {
		snprintf(why, whylen, "NUL byte in CSV");
		r = -EINVAL;
	} else
		r = parse_csv(s, len, &a, why, whylen);
	if (r) {
		free(a.v);
		return r;
	}
	if (a.n)
		qsort(a.v, a.n, sizeof(*a.v), cmp_ent);
	out->v = a.n ? malloc(a.n * sizeof(*out->v)) : NULL;
	if (a.n && !out->v) {
		free(a.v);
		return -ENOMEM;
	}
	for (size_t k = 0; k < a.n; k++) {
		/* Equal times: the later entry (sorted after) replaces the earlier. */
		if (out->n && out->v[out->n - 1].time_ms == a.v[k].e.time_ms)
			out->n--;
		out->v[out->n++] = a.v[k].e;
	}
	free(a.v);
	return 0;
}

const struct jp_carbon_entry *jp_carbon_series_at(const struct jp_carbon_series *s, int64_t now_ms)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->v[mid].time_ms <= now_ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &s->v[lo - 1] : NULL;
}

void jp_carbon_series_free(struct jp_carbon_series *s)
{
	if (!s)
		return;
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

int jp_carbon_file_load(const char *path, struct jp_carbon_series *out, char *why, size_t whylen)
{
	/* O_NONBLOCK: a FIFO in place of the file must not block the loop. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(why, whylen, "%s is not a regular file", path);
		return -ENOTSUP;
	}
	if (st.st_size > (off_t)JP_CARBON_FILE_MAX_BYTES) {
		close(fd);
		snprintf(why, whylen, "%s is over %u bytes: refused", path, JP_CARBON_FILE_MAX_BYTES);
		return -EFBIG;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap);
	ssize_t n = 0;
	while (buf && len < cap && (n = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)n;
	int e = errno;
	close(fd);
	if (!buf || n < 0) {
		snprintf(why, whylen, "cannot read %s: %s", path, buf ? strerror(e) : "out of memory");
		free(buf);
		return buf ? -e : -ENOMEM;
	}
	if (len >= cap) {
		free(buf);
		snprintf(why, whylen, "%s grew while being read", path);
		return -EAGAIN;
	}
	int r = jp_carbon_file_parse(buf, len, out, why, whylen);
	free(buf);
	return r;
}

/* ---- the provider row (carbon/provider.h) ------------------------------------------- */

static int file_setup(const struct jp_config *cfg, struct jp_provider_conf *c, char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	snprintf(c->grid_zone, sizeof(c->grid_zone), "file");
	return jp_provider_dup(&c->file_path, cfg->carbon_file_path);
}

const struct jp_provider jp_provider_file = {
	.name = "file",
	.id = JP_CARBON_FILE,
	.flags = JP_PROVIDER_FILE,
	.max_bytes = JP_CARBON_FILE_MAX_BYTES,
	.setup = file_setup,
	.forecast_method = "file",
	.read = jp_carbon_file_load,
};
