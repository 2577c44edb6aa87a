/* SPDX-License-Identifier: Apache-2.0 */
/* A batch of samples read from a remote's queue, grouped by series, ready to encode. */
#ifndef JP_REMOTE_BATCH_H
#define JP_REMOTE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "store/series.h"

/* A series definition as the queue reader knows it. Owned by the queue; valid while
 * the batch that points to it is not yet acked or released. The encoder may cache
 * the series' encoded labels in enc (it allocates with malloc; the owner frees). Only
 * the encoder sets enc: the block holds encoder-private data after enc_len bytes. */
struct jp_series_def {
	uint32_t nlabels;
	struct jp_label *labels;  /* sorted bytewise by name, unique, non-empty */
	uint8_t *enc;             /* cached protobuf encoding of the labels (RW 1.0), or NULL */
	size_t enc_len;
	int64_t start_ms;         /* when the series began counting, 0 unknown (RW 2.0) */
};

/* The samples of one series in a batch: samples[first .. first+count), in
 * timestamp order. */
struct jp_batch_series {
	struct jp_series_def *def;
	uint32_t first;
	uint32_t count;
};

/* A position in a queue (segment number, byte offset of a record, index of the next
 * sample inside that record). */
struct jp_queue_pos {
	uint64_t segment;
	uint64_t offset;
	uint32_t index;
};

struct jp_batch {
	struct jp_batch_series *series;
	size_t nseries, cap_series;
	struct jp_sample *samples;  /* grouped per series as described above */
	size_t nsamples, cap_samples;
	int64_t oldest_ts_ms;       /* the first sample's time, for the deadline and metrics */
	struct jp_queue_pos start, end;  /* what the batch covers; ack end to release it */
};

void jp_batch_reset(struct jp_batch *b);
void jp_batch_free(struct jp_batch *b);

#endif
