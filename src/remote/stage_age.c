/* SPDX-License-Identifier: Apache-2.0 */
/* The sender's age filter (remote/stage_age.h). */
#include "remote/stage_age.h"

#include <stdlib.h>
#include <string.h>

size_t jp_stage_age_filter(struct jp_batch *b, int64_t cutoff_ms)
{
	size_t dropped = 0;
	for (size_t i = 0; i < b->nseries; i++) {
		const struct jp_batch_series *bs = &b->series[i];
		for (uint32_t k = 0; k < bs->count && b->samples[bs->first + k].ts_ms < cutoff_ms; k++)
			dropped++;
	}
	if (!dropped)
		return 0;
	/* Compact: the kept samples of each series, in order, at the front of a copy. */
	struct jp_sample *kept = malloc((b->nsamples - dropped + 1) * sizeof(*kept));
	if (!kept)
		return 0;
	size_t keep = 0, n = 0;
	for (size_t i = 0; i < b->nseries; i++) {
		struct jp_batch_series bs = b->series[i];
		while (bs.count > 0 && b->samples[bs.first].ts_ms < cutoff_ms) {
			bs.first++;
			bs.count--;
		}
		if (bs.count == 0)
			continue;
		memcpy(kept + n, b->samples + bs.first, bs.count * sizeof(*kept));
		bs.first = (uint32_t)n;
		n += bs.count;
		b->series[keep++] = bs;
	}
	memcpy(b->samples, kept, n * sizeof(*kept));
	free(kept);
	b->nseries = keep;
	b->nsamples = n;
	return dropped;
}
