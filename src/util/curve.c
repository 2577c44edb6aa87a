/* SPDX-License-Identifier: Apache-2.0 */
/* Monotone piecewise cubic Hermite curves (util/curve.h). */
#include "util/curve.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int jp_curve_init(struct jp_curve *c, const double *x, const double *y, size_t n, char *why, size_t why_len)
{
	if (n < 2 || n > JP_CURVE_MAX) {
		snprintf(why, why_len, "needs 2 to %d points, has %zu", JP_CURVE_MAX, n);
		return -EINVAL;
	}
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(x[i]) || !isfinite(y[i])) {
			snprintf(why, why_len, "a point is not a finite number");
			return -EINVAL;
		}
		c->x[i] = x[i];
		c->y[i] = y[i];
	}
	/* Insertion sort by x: a handful of points. */
	for (size_t i = 1; i < n; i++) {
		for (size_t j = i; j > 0 && c->x[j - 1] > c->x[j]; j--) {
			double tx = c->x[j], ty = c->y[j];
			c->x[j] = c->x[j - 1];
			c->y[j] = c->y[j - 1];
			c->x[j - 1] = tx;
			c->y[j - 1] = ty;
		}
	}
	double d[JP_CURVE_MAX];
	for (size_t i = 0; i + 1 < n; i++) {
		if (!(c->x[i + 1] > c->x[i])) {
			snprintf(why, why_len, "two points at the same load (%g %%)", c->x[i] * 100);
			return -EINVAL;
		}
		if (c->y[i + 1] < c->y[i]) {
			snprintf(why, why_len, "power falls from %g at %g %% load to %g at %g %%: it must not fall as load rises",
				 c->y[i], c->x[i] * 100, c->y[i + 1], c->x[i + 1] * 100);
			return -EINVAL;
		}
		d[i] = (c->y[i + 1] - c->y[i]) / (c->x[i + 1] - c->x[i]);
	}
	/* Fritsch-Carlson: mean secants as tangents, zero on flat segments, and scaled down
	 * where they would make the cubic overshoot (alpha^2 + beta^2 > 9). */
	c->m[0] = d[0];
	c->m[n - 1] = d[n - 2];
	for (size_t i = 1; i + 1 < n; i++)
		c->m[i] = (d[i - 1] == 0 || d[i] == 0) ? 0 : (d[i - 1] + d[i]) / 2;
	for (size_t i = 0; i + 1 < n; i++) {
		if (d[i] == 0) {
			c->m[i] = c->m[i + 1] = 0;
			continue;
		}
		double a = c->m[i] / d[i], b = c->m[i + 1] / d[i];
		double s = a * a + b * b;
		if (s > 9) {
			double t = 3 / sqrt(s);
			c->m[i] = t * a * d[i];
			c->m[i + 1] = t * b * d[i];
		}
	}
	return 0;
}

double jp_curve_eval(const struct jp_curve *c, double x)
{
	if (!(x > c->x[0]))
		return c->y[0];
	if (x >= c->x[c->n - 1])
		return c->y[c->n - 1];
	size_t i = 0;
	while (i + 2 < c->n && x >= c->x[i + 1])
		i++;
	double h = c->x[i + 1] - c->x[i];
	double t = (x - c->x[i]) / h, t2 = t * t, t3 = t2 * t;
	double h00 = 2 * t3 - 3 * t2 + 1, h10 = t3 - 2 * t2 + t, h01 = -2 * t3 + 3 * t2, h11 = t3 - t2;
	double v = h00 * c->y[i] + h10 * h * c->m[i] + h01 * c->y[i + 1] + h11 * h * c->m[i + 1];
	/* Rounding must not step outside the segment's values. */
	if (v < c->y[i])
		v = c->y[i];
	if (v > c->y[i + 1])
		v = c->y[i + 1];
	return v;
}

int jp_curve_from_text(struct jp_curve *c, const struct jp_kvlist *points, double x_scale, char *why,
		       size_t why_len)
{
	double x[JP_CURVE_MAX], y[JP_CURVE_MAX];
	if (points->n > JP_CURVE_MAX) {
		snprintf(why, why_len, "at most %d points", JP_CURVE_MAX);
		return -EINVAL;
	}
	for (size_t n = 0; n < points->n; n++) {
		char *end;
		x[n] = strtod(points->v[n].key, &end) * x_scale;
		if (end == points->v[n].key || *end) {
			snprintf(why, why_len, "invalid load \"%.32s\"", points->v[n].key);
			return -EINVAL;
		}
		y[n] = strtod(points->v[n].value, &end);
		if (end == points->v[n].value || *end) {
			snprintf(why, why_len, "invalid fraction \"%.32s\"", points->v[n].value);
			return -EINVAL;
		}
	}
	return jp_curve_init(c, x, y, points->n, why, why_len);
}
