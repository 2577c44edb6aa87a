/* SPDX-License-Identifier: Apache-2.0 */
/* The sender's age filter (queue.max_sample_age, docs/reference/remote-write.md "Old data
 * after an outage"): pure work over a batch read from the queue. */
#ifndef JP_REMOTE_STAGE_AGE_H
#define JP_REMOTE_STAGE_AGE_H

#include <stddef.h>
#include <stdint.h>

#include "remote/batch.h"

/* Leave out of b the samples older than cutoff_ms: receivers refuse them anyway ("out of
 * bounds"), and a counter's next fresh sample carries its total. Samples of a series are
 * in time order, so the old ones are a prefix of each series; series left without samples
 * go. Returns how many samples were left out (0 when memory ran out: b is then as it was,
 * and the receiver decides). */
size_t jp_stage_age_filter(struct jp_batch *b, int64_t cutoff_ms);

#endif
