/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A monotone curve through measured points (power.model.curve, docs/model.md "Power
 * curve"): piecewise cubic Hermite with Fritsch-Carlson tangents, so that it passes
 * through every point, is smooth, and never overshoots: between two points it stays
 * between their values, and where the points rise it rises.
 */
#ifndef JP_UTIL_CURVE_H
#define JP_UTIL_CURVE_H

#include <stddef.h>

#include "util/kv.h"

#define JP_CURVE_MAX 32

struct jp_curve {
	size_t n;
	double x[JP_CURVE_MAX], y[JP_CURVE_MAX], m[JP_CURVE_MAX];
};

/* Build from points (x ascending after sorting, distinct; y non-decreasing in x). At
 * least two points. Returns 0, or -EINVAL with why[] saying what is wrong. */
int jp_curve_init(struct jp_curve *c, const double *x, const double *y, size_t n, char *why, size_t why_len);
/* The curve at x; x outside the points takes the value of the nearest end. */
double jp_curve_eval(const struct jp_curve *c, double x);

/* Build from points written as text, x as the key and y as the value of each pair (as a
 * config map gives them), x multiplied by x_scale. Returns 0, or -EINVAL with why[] for
 * text that is not a number, too many points, or what jp_curve_init refuses. */
int jp_curve_from_text(struct jp_curve *c, const struct jp_kvlist *points, double x_scale, char *why,
		       size_t why_len);

#endif
