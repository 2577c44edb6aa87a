/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the ENTSO-E A75 / acknowledgement parser, the series parser of the
 * forecast documents with the day-ahead intensity formula, the load (A65) and price (A44)
 * readers of the green surplus, and the factor formula
 * (docs/reference/configuration.md: parsers are fuzzed). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "carbon/entsoe.h"
#include "carbon/factors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jp_entsoe_result r;
	struct jp_factors f;
	if (jp_entsoe_parse(data, size, &r) == 0) {
		double g, ren;
		jp_factors_init(&f, 0, NULL);
		if (r.end_ms <= r.start_ms || !r.mix.present)
			abort();
		if (jp_factors_intensity(&f, &r.mix, &g, &ren) == 0 &&
		    (!isfinite(g) || g < 0 || g > 820 || !(ren >= 0 && ren <= 1.0000001)))
			abort();
	}
	struct jp_forecast s[JP_PSR_MAX + 1] = {{0}};
	if (jp_entsoe_parse_series(data, size, s, &r) == 0) {
		struct jp_forecast fc = {0};
		jp_factors_init(&f, 0, NULL);
		if (jp_entsoe_forecast_build(&s[0], s, &f, 400, &fc) == 0)
			for (size_t i = 0; i < fc.n; i++)
				if (!(fc.v[i].g_per_kwh >= 0 && fc.v[i].g_per_kwh <= 820.0000001) ||
				    fc.v[i].end_ms <= fc.v[i].start_ms)
					abort();
		jp_forecast_free(&fc);
	}
	for (int p = 0; p <= JP_PSR_MAX; p++)
		jp_forecast_free(&s[p]);
	struct jp_forecast one = {0};
	if (jp_entsoe_parse_load(data, size, &one, &r) == 0)
		for (size_t i = 0; i < one.n; i++)
			if (!(one.v[i].g_per_kwh >= 0) || one.v[i].end_ms <= one.v[i].start_ms)
				abort();
	jp_forecast_free(&one);
	if (jp_entsoe_parse_prices(data, size, &one, &r) == 0)
		for (size_t i = 0; i < one.n; i++)
			if (!(fabs(one.v[i].g_per_kwh) <= JP_ENTSOE_MAX_PRICE) || one.v[i].end_ms <= one.v[i].start_ms)
				abort();
	jp_forecast_free(&one);
	return 0;
}
