/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the JSON and CSV carbon parsers: Electricity Maps (intensity,
 * forecast, power breakdown), UK Carbon Intensity (current, forecast with the window search
 * over what it gives, generation mix), WattTime (login, forecast, signal index) and the
 * carbon.file time series (docs/reference/configuration.md: parsers are fuzzed). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "carbon/cfile.h"
#include "carbon/electricitymaps.h"
#include "carbon/forecast.h"
#include "carbon/ukci.h"
#include "carbon/watttime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];
	double g;
	int64_t t, from, to;
	if (jp_emaps_parse(data, size, &g, &t, why, sizeof(why)) == 0 && (!isfinite(g) || g < 0))
		abort();
	if (jp_ukci_parse(data, size, &g, &from, &to, why, sizeof(why)) == 0 && (!isfinite(g) || g < 0 || to < from))
		abort();
	struct jp_forecast fc = {0};
	if (jp_ukci_parse_forecast(data, size, &fc, NULL, why, sizeof(why)) == 0 && jp_forecast_normalize(&fc, NULL) == 0) {
		for (size_t i = 0; i < fc.n; i++)
			if (fc.v[i].end_ms <= fc.v[i].start_ms || !(fc.v[i].g_per_kwh >= 0) ||
			    (i && fc.v[i].start_ms < fc.v[i - 1].end_ms))
				abort();
		int64_t start;
		double mean;
		if (fc.n && jp_forecast_best_window(&fc, fc.v[0].start_ms, 48 * 3600000LL, 3600000, &start, &mean) == 0 &&
		    (start < fc.v[0].start_ms || !(mean >= 0)))
			abort();
	}
	jp_forecast_free(&fc);
	if (jp_emaps_parse_forecast(data, size, &fc, NULL, why, sizeof(why)) == 0 && jp_forecast_normalize(&fc, NULL) == 0)
		for (size_t i = 0; i < fc.n; i++)
			if (fc.v[i].end_ms <= fc.v[i].start_ms || !(fc.v[i].g_per_kwh >= 0))
				abort();
	jp_forecast_free(&fc);
	double ratio;
	if (jp_emaps_parse_breakdown(data, size, &ratio, why, sizeof(why)) == 0 && !(ratio >= 0 && ratio <= 1))
		abort();
	if (jp_ukci_parse_generation(data, size, &ratio, why, sizeof(why)) == 0 && !(ratio >= 0 && ratio <= 1))
		abort();
	if (jp_wt_parse_index(data, size, &ratio, why, sizeof(why)) == 0 && !(ratio >= 0 && ratio <= 1))
		abort();
	char *session = NULL;
	if (jp_wt_parse_login(data, size, &session, why, sizeof(why)) == 0) {
		for (const char *c = session; *c; c++)
			if (*c <= 0x20 || *c >= 0x7f)
				abort();
		free(session);
	}
	size_t skipped;
	if (jp_wt_parse_forecast(data, size, &fc, &skipped, why, sizeof(why)) == 0 && jp_forecast_normalize(&fc, NULL) == 0)
		for (size_t i = 0; i < fc.n; i++)
			if (fc.v[i].end_ms <= fc.v[i].start_ms || !(fc.v[i].g_per_kwh >= 0))
				abort();
	jp_forecast_free(&fc);
	struct jp_carbon_series s;
	if (jp_carbon_file_parse(data, size, &s, why, sizeof(why)) == 0) {
		for (size_t i = 1; i < s.n; i++)
			if (s.v[i].time_ms <= s.v[i - 1].time_ms)
				abort();
		for (size_t i = 0; i < s.n; i++)
			if (s.v[i].carbon_free > 1)
				abort();
		if (s.n) {
			const struct jp_carbon_entry *e = jp_carbon_series_at(&s, s.v[s.n - 1].time_ms);
			if (e != &s.v[s.n - 1])
				abort();
		}
		jp_carbon_series_free(&s);
	}
	return 0;
}
