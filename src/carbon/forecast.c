/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The forecast arithmetic of carbon/forecast.h.
 *
 * The window search runs on prefix sums: with S(t) the integral of the forecast from its
 * first point to t, and C(t) the time covered up to t, a window [s, s + W) is covered
 * when C(s + W) - C(s) == W and its mean is (S(s + W) - S(s)) / W. Each of S and C at a
 * time t is one binary search and one partial point, so the search over every candidate
 * costs O(n log n) for n points: 864 points (72 h at 5 minutes) take microseconds
 * (bench/bench_forecast.c). The sums cannot overflow: the points are bounded (one value of
 * 1e308 made every sum after it infinite and the means NaN); an intensity forecast to
 * [0, JP_FORECAST_MAX_G_PER_KWH], any other series to [0, JP_FORECAST_MAX_VALUE].
 */
#include "carbon/forecast.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

int jp_forecast_add(struct jp_forecast *f, int64_t start_ms, int64_t end_ms, double g)
{
	if (jp_grow((void **)&f->v, &f->cap, f->n + 1, sizeof(*f->v)))
		return -ENOMEM;
	f->v[f->n++] = (struct jp_fc_point){start_ms, end_ms, g};
	return 0;
}

static int cmp_start(const void *x, const void *y)
{
	const struct jp_fc_point *a = x, *b = y;
	if (a->start_ms != b->start_ms)
		return a->start_ms < b->start_ms ? -1 : 1;
	/* The same start: keep the order they came in (the later one wins below). */
	return a < b ? -1 : a > b;
}

int jp_forecast_normalize(struct jp_forecast *f, size_t *dropped)
{
	size_t k = 0, drop = 0;
	double max = f->max > 0 ? f->max : JP_FORECAST_MAX_VALUE;
	for (size_t i = 0; i < f->n; i++) {
		const struct jp_fc_point *p = &f->v[i];
		if (!isfinite(p->g_per_kwh) || p->g_per_kwh < (f->signed_values ? -max : 0) || p->g_per_kwh > max ||
		    p->end_ms <= p->start_ms) {
			drop++;
			continue;
		}
		f->v[k++] = *p;
	}
	f->n = k;
	/* qsort is not stable; the comparison on addresses makes it so for equal starts,
	 * because the array is sorted in place from the order the points came in. */
	if (f->n > 1)
		qsort(f->v, f->n, sizeof(*f->v), cmp_start);
	k = 0;
	for (size_t i = 0; i < f->n; i++) {
		if (k && f->v[k - 1].start_ms == f->v[i].start_ms) {
			f->v[k - 1] = f->v[i];   /* a correction of the same point */
			drop++;
			continue;
		}
		f->v[k++] = f->v[i];
	}
	f->n = k;
	for (size_t i = 0; i + 1 < f->n; i++)
		if (f->v[i].end_ms > f->v[i + 1].start_ms)
			f->v[i].end_ms = f->v[i + 1].start_ms;
	free(f->sum);
	free(f->covered);
	f->sum = malloc((f->n + 1) * sizeof(*f->sum));
	f->covered = malloc((f->n + 1) * sizeof(*f->covered));
	if (!f->sum || !f->covered) {
		free(f->sum);
		free(f->covered);
		f->sum = NULL;
		f->covered = NULL;
		return -ENOMEM;
	}
	f->sum[0] = 0;
	f->covered[0] = 0;
	for (size_t i = 0; i < f->n; i++) {
		int64_t len = f->v[i].end_ms - f->v[i].start_ms;
		f->sum[i + 1] = f->sum[i] + f->v[i].g_per_kwh * (double)len;
		f->covered[i + 1] = f->covered[i] + len;
	}
	if (dropped)
		*dropped = drop;
	return 0;
}

void jp_forecast_clear(struct jp_forecast *f)
{
	f->n = 0;
	free(f->sum);
	free(f->covered);
	f->sum = NULL;
	f->covered = NULL;
}

void jp_forecast_free(struct jp_forecast *f)
{
	jp_forecast_clear(f);
	free(f->v);
	memset(f, 0, sizeof(*f));
}

int64_t jp_forecast_end(const struct jp_forecast *f)
{
	return f->n ? f->v[f->n - 1].end_ms : 0;
}

size_t jp_forecast_index(const struct jp_forecast *f, int64_t t)
{
	size_t lo = 0, hi = f->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->v[mid].start_ms <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int jp_forecast_at(const struct jp_forecast *f, int64_t t, double *g)
{
	size_t i = jp_forecast_index(f, t);
	if (i == 0 || t >= f->v[i - 1].end_ms)
		return -ENODATA;
	*g = f->v[i - 1].g_per_kwh;
	return 0;
}

/* S(t) and C(t): the integral and the covered time from the first point to t. */
static void integral_at(const struct jp_forecast *f, int64_t t, double *s, int64_t *c)
{
	size_t i = jp_forecast_index(f, t);
	*s = f->sum[i];
	*c = f->covered[i];
	if (i == 0)
		return;
	const struct jp_fc_point *p = &f->v[i - 1];
	if (t < p->end_ms) {
		/* Inside point i - 1: take back the part after t. */
		int64_t after = p->end_ms - t;
		*s -= p->g_per_kwh * (double)after;
		*c -= after;
	}
}

int jp_forecast_mean(const struct jp_forecast *f, int64_t a, int64_t b, double *mean)
{
	if (b <= a || !f->n || !f->sum)
		return -ENODATA;
	double sa, sb;
	int64_t ca, cb;
	integral_at(f, a, &sa, &ca);
	integral_at(f, b, &sb, &cb);
	if (cb - ca != b - a)
		return -ENODATA;
	*mean = (sb - sa) / (double)(b - a);
	return 0;
}

static int better(double m, double best, int have)
{
	return !have || m < best - 1e-9 * fabs(best);
}

int jp_forecast_best_window(const struct jp_forecast *f, int64_t now, int64_t horizon, int64_t window,
			    int64_t *start_ms, double *mean)
{
	if (window <= 0 || horizon < window || !f->n)
		return -ENODATA;
	int64_t last = now + horizon - window;   /* the latest start allowed */
	int have = 0;
	double best = 0;
	int64_t best_s = 0, m_s;
	double m;
	/* Candidates in time order, so that the first of equal means is the earliest. */
	if (jp_forecast_mean(f, now, now + window, &m) == 0) {
		have = 1;
		best = m;
		best_s = now;
	}
	for (size_t i = jp_forecast_index(f, now) ? jp_forecast_index(f, now) - 1 : 0; i < f->n; i++) {
		for (int k = 0; k < 2; k++) {
			m_s = k ? f->v[i].end_ms : f->v[i].start_ms;
			if (m_s <= now || m_s > last)
				continue;
			if (jp_forecast_mean(f, m_s, m_s + window, &m) == 0 && better(m, best, have)) {
				have = 1;
				best = m;
				best_s = m_s;
			}
		}
		if (f->v[i].start_ms > last)
			break;
	}
	if (!have)
		return -ENODATA;
	*start_ms = best_s;
	*mean = best;
	return 0;
}

int jp_forecast_rank(const struct jp_forecast *f, int64_t now, int64_t horizon, double *rank)
{
	double cur;
	if (jp_forecast_at(f, now, &cur))
		return -ENODATA;
	size_t others = 0, greener = 0;
	size_t i = jp_forecast_index(f, now);
	for (i = i ? i - 1 : 0; i < f->n && f->v[i].start_ms < now + horizon; i++) {
		if (f->v[i].end_ms <= now || (f->v[i].start_ms <= now && now < f->v[i].end_ms))
			continue;   /* past, or the point in force itself */
		others++;
		greener += f->v[i].g_per_kwh < cur;
	}
	*rank = others ? (double)greener / (double)others : 0;
	return 0;
}
