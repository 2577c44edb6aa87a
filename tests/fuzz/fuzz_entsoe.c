/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the ENTSO-E A75 / acknowledgement parser and the factor formula
 * (docs/reference/configuration.md: parsers are fuzzed). */
// fuzz-sources: src/carbon/entsoe.c src/carbon/factors.c src/carbon/ctime.c src/util/buf.c
// fuzz-pkgs: libxml-2.0
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
	return 0;
}
