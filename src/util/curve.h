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

#include "config.h"

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

/* power.model.curve: a map of load percent (0 to 100) to a fraction of the per-CPU TDP.
 * Builds the curve over load ratios (x = percent / 100); an empty list gives the
 * default points (docs/model.md). Returns 0 or -EINVAL with why[]. */
int jp_power_curve_from(struct jp_curve *c, const struct jp_kvlist *points, char *why, size_t why_len);
/* The config's check of the same. */
int jp_power_curve_check(const struct jp_kvlist *points, char *why, size_t why_len);

#endif
