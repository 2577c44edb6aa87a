/* SPDX-License-Identifier: Apache-2.0 */
/* A crash-safe, checksummed on-disk queue of samples for one remote (docs/reference/remote-write.md). */
#ifndef JP_REMOTE_QUEUE_H
#define JP_REMOTE_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "remote/batch.h"
#include "store/series.h"

struct jp_queue;

struct jp_queue_stats {
	uint64_t pending_samples;   /* appended and not yet acked */
	uint64_t disk_bytes;        /* bytes of segment files on disk */
	uint64_t dropped_samples;   /* dropped by max_disk_bytes since open */
	uint64_t corrupt_cuts;      /* torn or corrupt tails cut off since open */
	uint64_t corrupt_skipped_bytes;    /* damaged bytes between valid records, jumped over */
	uint64_t corrupt_skipped_regions;  /* how many such damaged regions */
	uint64_t unreadable_segments;      /* segments kept unread after an I/O error, for now */
};

/* Test seam: every read of queue files goes through fn instead of pread(2) (NULL
 * restores pread). Not for production use; not thread-safe. */
void jp_queue_set_pread(ssize_t (*fn)(int fd, void *buf, size_t len, off_t off));
/* Test seam: fn(dirfd, name) runs after recovery has scanned a damaged segment and
 * before it cuts it (NULL: none). */
void jp_queue_set_cut_hook(void (*fn)(int dirfd, const char *name));

/* Open (creating it and its parents) the queue directory dir. Recovers what a previous
 * process left: verifies every record's checksum, jumps over a damaged record in the
 * middle of a segment to the next valid one, cuts a torn or corrupt tail off with a log
 * line, and resumes reading after the last acked position. A segment that cannot be
 * read (an I/O error, no memory) is never deleted or cut: it is kept and read when the
 * reader reaches it, and nothing after it is sent before it. Writing always starts
 * a new segment file. Returns NULL with errno set (and logs why). Free with
 * jp_queue_close(). */
struct jp_queue *jp_queue_open(const char *dir, uint64_t max_disk_bytes);
/* The same, for an agent that drops to `owner_uid` (util/safedir.h): the directory is
 * walked without following links and must be owned by root, this process's user or
 * owner_uid, and writable by nobody else; otherwise NULL, logged with the path. */
struct jp_queue *jp_queue_open_owned(const char *dir, uint64_t max_disk_bytes, uid_t owner_uid);
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
