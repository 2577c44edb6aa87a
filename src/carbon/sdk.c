/* SPDX-License-Identifier: Apache-2.0 */
/* The Carbon Aware SDK's forecast rules (carbon/sdk.h). */
#include "carbon/sdk.h"

#include <errno.h>
#include <stdlib.h>

size_t jp_sdk_filter(const struct jp_sdk_point *in, size_t n, int64_t start, int64_t end, struct jp_sdk_point *out)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (in[i].t + in[i].dur_ms > start && in[i].t <= end)
			out[k++] = in[i];
	return k;
}

/* The time-weighted mean of p[q[0..nq)] over [ws, we]; -1 when the points are not one
 * continuous run covering both ends of the window. */
static int window_mean(const struct jp_sdk_point *p, const size_t *q, size_t nq, int64_t ws, int64_t we, double *out)
{
	double sum = 0;
	int covers_start = 0, covers_end = 0;
	for (size_t k = 0; k < nq; k++) {
		const struct jp_sdk_point *c = &p[q[k]];
		int64_t ce = c->t + c->dur_ms;
		if (k > 0 && c->t != p[q[k - 1]].t + p[q[k - 1]].dur_ms)
			return -1;   /* a gap */
		if (ce > ws && c->t < we) {
			int64_t lo = ws > c->t ? ws : c->t, hi = we < ce ? we : ce;
			sum += c->v * (double)(hi - lo) / (double)(we - ws);
		}
		covers_start |= ws >= c->t && ws < ce;
		covers_end |= we <= ce && we > c->t;
	}
	if (!covers_start || !covers_end)
		return -1;
	*out = sum;
	return 0;
}

long jp_sdk_rolling(const struct jp_sdk_point *in, size_t n, int64_t w_ms, int64_t start, int64_t end,
		    struct jp_sdk_point *out, size_t cap)
{
	if (n == 0)
		return 0;
	int64_t tick = in[0].dur_ms;
	if (tick <= 0 || w_ms <= 0)
		return -EINVAL;
	size_t *q = malloc(n * sizeof(*q));
	if (!q)
		return -ENOMEM;
	size_t qh = 0, qt = 0, i = 0, nout = 0;
	long last = -1;
	int64_t ws = start < in[0].t ? in[0].t : start, we = ws + w_ms;
	for (;;) {
		/* Take in the points that begin before the window ends. */
		for (; i < n && we > in[i].t; i++) {
			if (ws <= in[i].t + in[i].dur_ms)
				q[qt++] = i;
			last = (long)i;
		}
		double mean;
		if (last >= 0 && in[last].t + in[last].dur_ms >= we &&
		    window_mean(in, q + qh, qt - qh, ws, we, &mean) == 0 && nout < cap)
			out[nout++] = (struct jp_sdk_point){ws, w_ms, mean};
		ws += tick;
		we = ws + w_ms;
		if (we > end)
			break;
		while (qh < qt && in[q[qh]].t + in[q[qh]].dur_ms < ws)
			qh++;
		if (i >= n)
			break;   /* the data is read: the SDK stops here */
	}
	free(q);
	return (long)nout;
}

size_t jp_sdk_optimal(const struct jp_sdk_point *p, size_t n, size_t *idx)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && p[i].v < p[idx[0]].v)
			k = 0;
		if (!k || p[i].v == p[idx[0]].v)
			idx[k++] = i;
	}
	return k;
}
