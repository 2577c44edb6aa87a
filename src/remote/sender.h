/* SPDX-License-Identifier: Apache-2.0 */
/* One remote-write target: its on-disk queue, batching, retries with backoff, and its
 * self-metrics (docs/reference/remote-write.md, docs/reference/metrics.md joulepush_remote_*). */
#ifndef JP_REMOTE_SENDER_H
#define JP_REMOTE_SENDER_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "remote/backoff.h"
#include "remote/http.h"
#include "store/series.h"

struct jp_sender;

/* Why samples were dropped: the `reason` label of
 * joulepush_remote_samples_total{outcome="dropped"} (docs/reference/remote-write.md, "Drop reasons"). */
enum jp_drop_reason {
	JP_DROP_REJECTED,     /* the receiver refused the data: HTTP 400, 409, 422 */
	JP_DROP_TOO_LARGE,    /* HTTP 413 for a single series */
	JP_DROP_DISK_LIMIT,   /* the queue was over max_disk_bytes */
	JP_DROP_QUEUE_WRITE,  /* the queue could not be written */
	JP_DROP_ENCODE,       /* the batch could not be encoded */
	JP_DROP_TOO_OLD,      /* older than queue.max_sample_age when it was to be sent */
	JP_DROP_NREASONS
};

/* The label value of a reason ("rejected", ...). */
const char *jp_drop_reason_name(enum jp_drop_reason r);

struct jp_sender_stats {
	uint64_t samples_sent;      /* acknowledged by a 2xx */
	uint64_t samples_retried;   /* sent again after a retryable failure */
	uint64_t samples_dropped;   /* the sum of dropped_by_reason */
	uint64_t dropped_by_reason[JP_DROP_NREASONS];
	uint64_t bytes_sent;        /* compressed request bodies acknowledged by a 2xx */
	uint64_t pending_samples;
	uint64_t queue_bytes;
	int64_t last_success_ms;    /* wall time of the last 2xx, 0 if none */
	uint64_t relabel_limit_hits; /* relabel matches that could not be decided */
	int relabelling;            /* write_relabel_configs are set */
};

/* Create a sender for rc on loop, using the shared HTTP client. Opens the queue at
 * <rc->queue_dir>/<rc->name> and starts delivering what it holds. Reads the secrets
 * files now (and again on each reload). Returns NULL with errno set, having logged why.
 * The sender copies what it needs from rc. */
struct jp_sender *jp_sender_create(uv_loop_t *loop, struct jp_http *http,
				   const struct jp_remote_config *rc, const char *user_agent);

/* Queue one round of samples (durably) and wake the sender. Returns 0, or a negative
 * errno if the queue could not take them (they are then counted as dropped). */
int jp_sender_append(struct jp_sender *s, int64_t ts_ms, const struct jp_round_sample *v, size_t n);

/* Send everything that can be sent by deadline (monotonic ms), then call done(arg).
 * What is not sent stays in the queue on disk. */
void jp_sender_flush(struct jp_sender *s, uint64_t deadline_mono_ms, void (*done)(void *arg), void *arg);

void jp_sender_get_stats(const struct jp_sender *s, struct jp_sender_stats *out);
const char *jp_sender_name(const struct jp_sender *s);

/* Stop timers, abort the transfer in flight (its batch stays queued), close the
 * queue and free the sender; closed(arg) runs from the loop when all handles are
 * closed. Accepts NULL (closed is then called at once if given). */
void jp_sender_close(struct jp_sender *s, void (*closed)(void *arg), void *arg);


#endif
