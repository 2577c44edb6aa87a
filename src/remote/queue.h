/* SPDX-License-Identifier: Apache-2.0 */
/* A crash-safe, checksummed on-disk queue of samples for one remote (SPEC §7). */
#ifndef JP_REMOTE_QUEUE_H
#define JP_REMOTE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "remote/batch.h"
#include "store/series.h"

struct jp_queue;

struct jp_queue_stats {
	uint64_t pending_samples;   /* appended and not yet acked */
	uint64_t disk_bytes;        /* bytes of segment files on disk */
	uint64_t dropped_samples;   /* dropped by max_disk_bytes since open */
	uint64_t corrupt_cuts;      /* torn or corrupt tails cut off since open */
};

/* Open (creating it and its parents) the queue directory dir. Recovers what a previous
 * process left: verifies every record's checksum, cuts a torn or corrupt tail off with
 * a log line, and resumes reading after the last acked position. Writing always starts
 * a new segment file. Returns NULL with errno set (and logs why). Free with
 * jp_queue_close(). */
struct jp_queue *jp_queue_open(const char *dir, uint64_t max_disk_bytes);
void jp_queue_close(struct jp_queue *q);
void jp_queue_set_max_disk_bytes(struct jp_queue *q, uint64_t max_disk_bytes);

/* Append one collection round: n samples taken at ts_ms. Series definitions are written
 * into the current segment the first time a series id appears in it. The data is
 * written and fdatasync'ed before this returns 0: then the samples count as accepted.
 * Beyond max_disk_bytes the oldest segments are deleted and their unacked samples
 * counted in dropped_samples. Returns 0 or a negative errno (the samples are then not
 * accepted; the caller counts them as dropped). */
int jp_queue_append(struct jp_queue *q, int64_t ts_ms, const struct jp_round_sample *v, size_t n);

/* Fill b (reset first) with up to max_samples samples from the read cursor on, grouped
 * per series in timestamp order. The read cursor moves past them, so the next call
 * returns the next samples; the batch stays pending until acked. Returns the number of
 * samples (0: nothing pending) or a negative errno. */
int jp_queue_read(struct jp_queue *q, struct jp_batch *b, size_t max_samples);

/* Release everything up to b->end (after a 2xx, or after a batch was dropped for a
 * 4xx): persists the ack position durably and deletes segments no longer needed.
 * Batches must be acked in the order they were read. */
int jp_queue_ack(struct jp_queue *q, const struct jp_batch *b);

/* Move the read cursor back to the ack position (e.g. to re-read after a failure that
 * lost the batch in memory). */
void jp_queue_rewind(struct jp_queue *q);

void jp_queue_get_stats(const struct jp_queue *q, struct jp_queue_stats *out);

#endif
