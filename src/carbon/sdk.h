/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Green Software Foundation Carbon Aware SDK's rules for a forecast answer
 * (docs/carbon.md "The Carbon Aware SDK route"), as pure functions over a point array so
 * that GET /emissions/forecasts/current answers what the SDK's Web API would for the same
 * forecast. Times in ms since the epoch.
 */
#ifndef JP_CARBON_SDK_H
#define JP_CARBON_SDK_H

#include <stddef.h>
#include <stdint.h>

/* A data point: its start, its length and its value. */
struct jp_sdk_point {
	int64_t t, dur_ms;
	double v;
};

/* The SDK's filter of the data to [start, end]: the points that end after start and begin
 * at or before end (a point that begins exactly at end is kept). Writes them, in order, to
 * out (room for n) and returns how many. */
size_t jp_sdk_filter(const struct jp_sdk_point *in, size_t n, int64_t start, int64_t end, struct jp_sdk_point *out);

/* The SDK's rolling average of the filtered points for a workload of w_ms (> 0): the first
 * window starts at start (or at the first point, when start is earlier), each next one one
 * point's duration (the first point's) later; a window is given when the points read so
 * far reach its end, and no window ends after end, except that the first is judged by the
 * data alone. Each value is the time-weighted mean over the window. A window over a gap
 * between points is left out (the SDK answers the whole request with 400 there). Writes at
 * most cap windows to out (t: its start, dur_ms: w_ms) and returns how many, or -EINVAL
 * when the first point's duration is not positive. */
long jp_sdk_rolling(const struct jp_sdk_point *in, size_t n, int64_t w_ms, int64_t start, int64_t end,
		    struct jp_sdk_point *out, size_t cap);

/* The SDK's optimal points: every point whose value equals the least one (ties all kept, in
 * order). Writes their indexes to idx (room for n) and returns how many. */
size_t jp_sdk_optimal(const struct jp_sdk_point *p, size_t n, size_t *idx);

#endif
