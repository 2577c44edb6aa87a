/* SPDX-License-Identifier: Apache-2.0 */
/* The Prometheus text exposition format 0.0.4 of the store's live series, with the help and
 * type of each metric from the table of metrics.h. */
#include "store/expo.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

const char *jp_metric_name_at(size_t i)
{
	return i < JP_M_COUNT ? jp_metric((enum jp_metric_id)i)->name : NULL;
}

const char *jp_metric_help(const char *name)
{
	const struct jp_metric_def *m = jp_metric_find(name);
	return m ? m->help : NULL;
}

const char *jp_metric_type(const char *name)
{
	const struct jp_metric_def *m = jp_metric_find(name);
	return m ? jp_metric_type_name(m->type) : "untyped";
}

/* Prometheus' text format spells the special values +Inf, -Inf and NaN; everything else
 * gets the shortest %g that parses back to the same double. */
static int format_value(char *out, size_t len, double v)
{
	if (isnan(v))
		return snprintf(out, len, "NaN");
	if (isinf(v))
		return snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(out, len, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	return n;
}

/* Escape a label value (\\, \", \n) or, with quote == 0, a HELP text (\\, \n). */
static int append_escaped(struct jp_buf *b, const char *s, int quote)
{
	const char *run = s;
	int r = 0;
	for (; *s; s++) {
		const char *esc = NULL;
		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (*s == '"' && quote)
			esc = "\\\"";
		if (!esc)
			continue;
		if ((r = jp_buf_append(b, run, (size_t)(s - run))) || (r = jp_buf_append(b, esc, 2)))
			return r;
		run = s + 1;
	}
	return jp_buf_append(b, run, (size_t)(s - run));
}

static int series_cmp(const void *pa, const void *pb)
{
	const struct jp_series *a = *(const struct jp_series *const *)pa;
	const struct jp_series *b = *(const struct jp_series *const *)pb;
	int c = strcmp(a->name, b->name);
	if (c)
		return c;
	size_t n = a->nlabels < b->nlabels ? a->nlabels : b->nlabels;
	for (size_t i = 0; i < n; i++) {
		if ((c = strcmp(a->labels[i].name, b->labels[i].name)))
			return c;
		if ((c = strcmp(a->labels[i].value, b->labels[i].value)))
			return c;
	}
	return (int)a->nlabels - (int)b->nlabels;
}

struct collect_ctx {
	const struct jp_series **v;
	size_t n, cap;
};

static int collect_cb(const struct jp_series *series, void *arg)
{
	struct collect_ctx *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		const struct jp_series **v = realloc(c->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = series;
	return 0;
}

static int write_series(struct jp_buf *out, const struct jp_series *sr, const struct jp_sample *smp,
			int with_timestamps)
{
	int r = jp_buf_append(out, sr->name, strlen(sr->name));
	int first = 1;
	for (size_t i = 0; !r && i < sr->nlabels; i++) {
		const struct jp_label *l = &sr->labels[i];
		if (strcmp(l->name, "__name__") == 0)
			continue;
		if ((r = jp_buf_append(out, first ? "{" : ",", 1)) ||
		    (r = jp_buf_append(out, l->name, strlen(l->name))) ||
		    (r = jp_buf_append(out, "=\"", 2)) || (r = append_escaped(out, l->value, 1)) ||
		    (r = jp_buf_append(out, "\"", 1)))
			return r;
		first = 0;
	}
	if (!r && !first)
		r = jp_buf_append(out, "}", 1);
	if (r)
		return r;
	char num[40];
	format_value(num, sizeof num, smp->value);
	if (with_timestamps)
		return jp_buf_printf(out, " %s %" PRId64 "\n", num, smp->ts_ms);
	return jp_buf_printf(out, " %s\n", num);
}

int jp_expo_write_sample(struct jp_buf *out, const struct jp_series *sr, double value, int64_t ts_ms)
{
	struct jp_sample smp = {.ts_ms = ts_ms, .value = value};
	return write_series(out, sr, &smp, 1);
}

int jp_expo_write_store(struct jp_buf *out, struct jp_store *s, int with_timestamps)
{
	struct collect_ctx c = { 0 };
	int r = jp_store_foreach(s, collect_cb, &c);
	if (r)
		goto out;
	/* Sorted output keeps every metric's samples together (the format requires one
	 * group per name) and makes the text stable from one scrape to the next. */
	if (c.n > 1)   /* an empty store has no array, and qsort must not get NULL */
		qsort(c.v, c.n, sizeof *c.v, series_cmp);
	const char *group = NULL;
	for (size_t i = 0; i < c.n; i++) {
		const struct jp_series *sr = c.v[i];
		const struct jp_sample *smp = jp_series_latest(sr);
		/* docs/reference/remote-write.md: stale markers belong to remote write only, never to the text format. */
		if (!smp || jp_is_stale_nan(smp->value))
			continue;
		if (!group || strcmp(group, sr->name) != 0) {
			group = sr->name;
			const char *help = jp_metric_help(group);
			if (help) {
				if ((r = jp_buf_printf(out, "# HELP %s ", group)) ||
				    (r = append_escaped(out, help, 0)) || (r = jp_buf_append(out, "\n", 1)))
					goto out;
			}
			if ((r = jp_buf_printf(out, "# TYPE %s %s\n", group, jp_metric_type(group))))
				goto out;
		}
		if ((r = write_series(out, sr, smp, with_timestamps)))
			goto out;
	}
out:
	free(c.v);
	return r;
}
