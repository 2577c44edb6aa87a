/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the query API's answers that joulepush report reads
 * (report/query.c): whatever a server or a proxy in front of it sends, the parser
 * returns series whose points are finite numbers, or an error with a reason. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jp_query_result r;
	char why[256];
	if (jp_query_parse((const char *)data, size, &r, why, sizeof(why)) != 0) {
		if (!why[0] || r.nseries)
			abort();
		return 0;
	}
	for (size_t i = 0; i < r.nseries; i++) {
		const struct jp_query_series *s = &r.series[i];
		for (size_t j = 0; j < s->npoints; j++)
			if (!isfinite(s->v[j]))
				abort();
		for (size_t j = 0; j < s->nlabels; j++)
			if (!s->labels[2 * j] || !s->labels[2 * j + 1] || jp_query_label(s, s->labels[2 * j]) == NULL)
				abort();
	}
	if (strlen(r.warnings) >= sizeof(r.warnings))
		abort();
	jp_query_result_free(&r);
	return 0;
}
