/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Grid intensity forecasts and the greenest window (docs/carbon.md "Forecasts").
 *
 * A forecast is a list of points, each a span [start, end) of wall time with the
 * intensity expected over it. The functions here are pure: they take the forecast and
 * "now" and compute what the agent exports and what `joulepush when` prints.
 */
#ifndef JP_CARBON_FORECAST_H
#define JP_CARBON_FORECAST_H

#include <stddef.h>
#include <stdint.h>

struct jp_fc_point {
	int64_t start_ms, end_ms;   /* [start, end) */
	double g_per_kwh;
};

/* Points sorted by start, not overlapping, each with end > start and a value in [0, max]
 * (jp_forecast_normalize makes them so). Gaps are allowed. */
/* No grid's intensity comes near this (the dirtiest, lignite, is about 1,200 g/kWh; a
 * marginal signal about 1,100): a point above it is a broken source and is dropped. */
#define JP_FORECAST_MAX_G_PER_KWH 10000.0
/* The bound of any other series (megawatts, prices): 10^9 is a million times Europe's load. */
#define JP_FORECAST_MAX_VALUE 1e9

struct jp_forecast {
	struct jp_fc_point *v;
	size_t n, cap;
	double max;     /* points above are dropped by normalize; 0: JP_FORECAST_MAX_VALUE */
	int signed_values;   /* values down to -max are kept (prices); else negatives are dropped */
	/* Prefix sums for the window search: sum_j[i] is the integral of the points before
	 * i (g/kWh x ms), len_ms[i] the time they cover. Built by jp_forecast_normalize. */
	double *sum;
	int64_t *covered;
};

/* The number of points that start at or before t (a binary search): the point in force
 * at t, if any, is the one before that index. */
size_t jp_forecast_index(const struct jp_forecast *f, int64_t t);

/* Append a point as a source read it (any order, anything). Returns 0 or -ENOMEM. */
int jp_forecast_add(struct jp_forecast *f, int64_t start_ms, int64_t end_ms, double g_per_kwh);

/* Make the points usable: drop those with a non-finite or negative value or an empty or
 * reversed span, sort by start, keep the later of two points with the same start (the
 * source's correction), cut a point's end where the next one starts. Counts what was
 * dropped in *dropped (may be NULL). Returns 0 or -ENOMEM. */
int jp_forecast_normalize(struct jp_forecast *f, size_t *dropped);

void jp_forecast_free(struct jp_forecast *f);
/* Empty it, keeping the memory. */
void jp_forecast_clear(struct jp_forecast *f);

/* The value of the point in force at t. Returns 0, or -ENODATA in a gap or outside. */
int jp_forecast_at(const struct jp_forecast *f, int64_t t_ms, double *g_per_kwh);

/* The time-weighted mean over [a, b) (b > a). Returns 0, or -ENODATA unless the points
 * cover all of it. */
int jp_forecast_mean(const struct jp_forecast *f, int64_t a_ms, int64_t b_ms, double *mean);

/* The last time the forecast covers (the end of its last point), or 0 when empty. */
int64_t jp_forecast_end(const struct jp_forecast *f);

/*
 * The greenest start for a job of window_ms, searched in [now, now + horizon - window]:
 * the candidates are now and every point boundary (start or end) in that range, a
 * candidate counts only when the points cover all of [s, s + window), and the one with
 * the lowest time-weighted mean wins; of equal means (within 1e-9 relative) the earliest.
 * Returns 0 with *start_ms and *mean, or -ENODATA when no candidate is covered (the
 * horizon is shorter than the window, or the forecast does not reach that far).
 */
int jp_forecast_best_window(const struct jp_forecast *f, int64_t now_ms, int64_t horizon_ms,
			    int64_t window_ms, int64_t *start_ms, double *mean);

/* Where the point in force now sits among the points that overlap [now, now + horizon):
 * the share of the others that are greener, 0 (greenest) to 1 (dirtiest); 0 when it is
 * the only one. Returns 0, or -ENODATA when no point is in force now. */
int jp_forecast_rank(const struct jp_forecast *f, int64_t now_ms, int64_t horizon_ms, double *rank);

#endif
