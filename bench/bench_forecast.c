/* SPDX-License-Identifier: Apache-2.0 */
/* The greenest-window search (carbon/forecast.c) on a 72 h forecast at 5-minute resolution
 * (864 points) for windows of 1 to 12 hours: prints microseconds per search. Then the
 * ENTSO-E forecast build (carbon/entsoe.c) from a total and three wind and solar series of
 * two weeks at 15 minutes, where every value changes: milliseconds per build. */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "carbon/entsoe.h"
#include "carbon/factors.h"
#include "carbon/forecast.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
	struct jp_forecast f = {0};
	const int64_t step = 5 * 60000;
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 864; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* A daily wave plus noise, as a real grid looks. */
		double g = 250 + 120 * __builtin_sin((double)i / 288.0 * 6.283185307) + (double)(x % 40);
		jp_forecast_add(&f, i * step, (i + 1) * step, g);
	}
	if (jp_forecast_normalize(&f, NULL))
		return 1;
	printf("forecast: %zu points of 5 min (72 h)\n", f.n);
	static const int hours[] = {1, 2, 4, 8, 12};
	for (size_t k = 0; k < sizeof(hours) / sizeof(hours[0]); k++) {
		int h = hours[k];
		const int reps = 2000;
		int64_t start = 0;
		double mean = 0, t0 = now_s();
		for (int r = 0; r < reps; r++)
			if (jp_forecast_best_window(&f, r % 12 * step, 72 * 3600000LL - 12 * step, h * 3600000LL, &start,
						    &mean))
				return 1;
		double us = (now_s() - t0) / reps * 1e6;
		printf("window %2d h: %.1f us per search (best start %+.0f min, mean %.1f g/kWh)\n", h, us,
		       (double)start / 60000, mean);
	}
	jp_forecast_free(&f);

	/* The day-ahead build: 1,344 points per series, each value different. */
	struct jp_forecast total = {0}, ws[JP_PSR_MAX + 1] = {{0}};
	const int64_t q = 15 * 60000;
	for (int i = 0; i < 14 * 96; i++) {
		jp_forecast_add(&total, i * q, (i + 1) * q, 40000 + i % 97);
		jp_forecast_add(&ws[16], i * q, (i + 1) * q, 1000 + i % 13);
		jp_forecast_add(&ws[18], i * q, (i + 1) * q, 2000 + i % 17);
		jp_forecast_add(&ws[19], i * q, (i + 1) * q, 3000 + i % 19);
	}
	if (jp_forecast_normalize(&total, NULL) || jp_forecast_normalize(&ws[16], NULL) ||
	    jp_forecast_normalize(&ws[18], NULL) || jp_forecast_normalize(&ws[19], NULL))
		return 1;
	struct jp_factors fac;
	if (jp_factors_init(&fac, 0, NULL))
		return 1;
	const int reps = 20;
	double t0 = now_s();
	size_t built = 0;
	for (int r = 0; r < reps; r++) {
		struct jp_forecast out = {0};
		if (jp_entsoe_forecast_build(&total, ws, &fac, 400, &out))
			return 1;
		built = out.n;
		jp_forecast_free(&out);
	}
	printf("entsoe build: %.2f ms per build of %zu points from 4 x %zu\n", (now_s() - t0) / reps * 1e3, built,
	       total.n);
	jp_forecast_free(&total);
	for (int p = 0; p <= JP_PSR_MAX; p++)
		jp_forecast_free(&ws[p]);
	return 0;
}
