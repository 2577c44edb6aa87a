/* SPDX-License-Identifier: Apache-2.0 */
/* One remote: its queue, batching, one request in flight, and the retry machine (what to
 * do with each answer: docs/reference/remote-write.md). Where and how requests go -
 * URL, headers, secrets, TLS - is remote/target.c. */
#include "remote/sender.h"
#include "remote/backoff.h"
#include "remote/stage_age.h"
#include "remote/stage_relabel.h"
#include "remote/stage_tenant.h"
#include "util/hash.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "remote/batch.h"
#include "remote/encode.h"
#include "remote/queue.h"
#include "remote/target.h"
#include "util/buf.h"
#include "util/closer.h"
#include "util/log.h"
#include "util/secret.h"

#define MOD "sender"

/* A Retry-After longer than this is not believed: a misconfigured proxy must not
 * park the remote for hours while the disk queue fills up. */
#define JP_RETRY_AFTER_CAP_MS (5u * 60u * 1000u)
/* Bytes of a rejected response's body that are logged (docs/reference/remote-write.md). */
#define JP_BODY_EXCERPT_BYTES 256
/* Rejected responses carry short error texts; do not buffer more. */
#define JP_MAX_RESPONSE_BYTES (64u * 1024u)

enum timer_role { TIMER_IDLE, TIMER_DEADLINE, TIMER_BACKOFF };

/* The values of the `reason` label of dropped samples (docs/reference/remote-write.md, "Drop reasons"). */
static const char *const drop_reason_names[JP_DROP_NREASONS] = {
	[JP_DROP_REJECTED] = "rejected",
	[JP_DROP_TOO_LARGE] = "too_large",
	[JP_DROP_DISK_LIMIT] = "disk_limit",
	[JP_DROP_QUEUE_WRITE] = "queue_write",
	[JP_DROP_ENCODE] = "encode",
	[JP_DROP_TOO_OLD] = "too_old",
};

const char *jp_drop_reason_name(enum jp_drop_reason r)
{
	return (unsigned)r < JP_DROP_NREASONS ? drop_reason_names[r] : "unknown";
}

struct jp_sender {
	uv_loop_t *loop;
	struct jp_http *http;

	/* Copied from the config. */
	char *name;
	struct jp_rw_target t;            /* where and how requests go (remote/target.c) */
	uint32_t max_samples;
	uint64_t deadline_ms, min_backoff_ms, max_backoff_ms;
	uint64_t max_age_ms;              /* queue.max_sample_age, 0: off */

	struct jp_queue *q;
	uv_timer_t timer;                 /* the batch deadline or the retry backoff */
	enum timer_role timer_role;
	uint64_t backoff_until_ms;        /* monotonic, while timer_role == TIMER_BACKOFF */
	uv_timer_t flush_timer;

	/* The batch being delivered: read from the queue, not yet acked. */
	struct jp_batch batch;
	int have_batch;
	unsigned batch_sends;             /* how often this batch went out */
	/* After a 413, or with tenants, the batch goes out in parts: series [part_lo,
	 * part_hi) now, then up to each end on the stack in turn. The batch is acked when
	 * all are done. */
	int split;
	size_t part_lo, part_hi;
	size_t *part_stack;
	size_t nstack, capstack;

	/* The stages a round or a batch goes through (remote/stage_*.h): relabelling before
	 * the queue, the age filter and the tenant split after it. NULL when not configured. */
	struct jp_stage_relabel *relabel;
	struct jp_stage_tenant *tenants;
	const char *const *tn;            /* with tenants: each batch series' tenant */
	struct jp_buf tenant_hdr;         /* "Header: tenant" of the part in flight, NUL-terminated */
	const char **req_headers;
	size_t cap_req_headers;
	struct jp_buf body;
	int body_valid;
	enum jp_rw_protocol body_proto;
	struct jp_http_xfer *xfer;

	/* Samples in the queue that are in no batch yet: since when they wait. */
	int have_unread;
	uint64_t oldest_unread_ms;

	unsigned attempt;                 /* failures in a row; 0 after a success */
	long config_status;               /* the last 3xx/4xx that meant a setup problem */
	uint64_t seed;

	uint64_t sent, retried;
	uint64_t dropped[JP_DROP_NREASONS];
	uint64_t sent_bytes;
	int64_t last_success_ms;

	int flushing;
	int flush_completing;
	uint64_t flush_deadline_ms;
	void (*flush_done)(void *arg);
	void *flush_arg;

	struct jp_closer closer;              /* util/closer.h */
	void (*close_flush_done)(void *arg);  /* a flush cut short by the close */
	void *close_flush_arg;

	int logged_fallback;
	struct jp_ratelimit rl_append, rl_retry, rl_drop, rl_queue, rl_config;
};

static void kick(struct jp_sender *s);

/* ---- helpers --------------------------------------------------------------------- */

static uint64_t unread_samples(const struct jp_sender *s)
{
	struct jp_queue_stats qs;
	jp_queue_get_stats(s->q, &qs);
	uint64_t inflight = s->have_batch ? s->batch.nsamples : 0;
	return qs.pending_samples > inflight ? qs.pending_samples - inflight : 0;
}

static uint64_t queued_samples(const struct jp_sender *s)
{
	struct jp_queue_stats qs;
	jp_queue_get_stats(s->q, &qs);
	return qs.pending_samples;
}

/* The first bytes of a response body as one printable line. */
static void body_excerpt(char *dst, size_t cap, const uint8_t *body, size_t len)
{
	size_t n = len < JP_BODY_EXCERPT_BYTES ? len : JP_BODY_EXCERPT_BYTES;
	if (n > cap - 1)
		n = cap - 1;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = body[i];
		dst[i] = (c < 0x20 || c >= 0x7f) ? ' ' : (char)c;
	}
	dst[n] = '\0';
}

/* ---- flush -------------------------------------------------------------------- */

static void flush_timer_cb(uv_timer_t *t)
{
	struct jp_sender *s = t->data;
	if (!s->flushing)
		return;
	s->flushing = 0;
	s->flush_completing = 0;
	void (*done)(void *) = s->flush_done;
	void *arg = s->flush_arg;
	s->flush_done = NULL;
	if (done)
		done(arg);
}

/* The flush is over (queue empty, or nothing more fits before the deadline): call
 * its done callback from the loop, never from inside the caller. */
static void flush_complete(struct jp_sender *s)
{
	if (!s->flushing || s->flush_completing)
		return;
	s->flush_completing = 1;
	uv_timer_start(&s->flush_timer, flush_timer_cb, 0, 0);
}

/* ---- timers ---------------------------------------------------------------------- */

static void timer_cb(uv_timer_t *t)
{
	struct jp_sender *s = t->data;
	s->timer_role = TIMER_IDLE;
	kick(s);
}

static void timer_arm(struct jp_sender *s, enum timer_role role, uint64_t delay_ms)
{
	s->timer_role = role;
	uv_timer_start(&s->timer, timer_cb, delay_ms, 0);
}

static void timer_disarm(struct jp_sender *s)
{
	uv_timer_stop(&s->timer);
	s->timer_role = TIMER_IDLE;
}

/* ---- delivery ---------------------------------------------------------------------- */

static void send_batch(struct jp_sender *s);

static void release_batch(struct jp_sender *s)
{
	s->have_batch = 0;
	s->batch_sends = 0;
	s->body_valid = 0;
	s->split = 0;
}

/* Ack the batch to the queue: after a 2xx, or when the remote refused it for good. */
static void ack_batch(struct jp_sender *s)
{
	int rc = jp_queue_ack(s->q, &s->batch);
	if (rc < 0)
		jp_log_rl(&s->rl_queue, JP_LOG_ERROR, MOD,
			  "remote %s: cannot persist the queue ack: %s", s->name, strerror(-rc));
	release_batch(s);
}

/* Samples in series [lo, hi) of the batch. */
static size_t part_samples(const struct jp_sender *s, size_t lo, size_t hi)
{
	size_t n = 0;
	for (size_t i = lo; i < hi; i++)
		n += s->batch.series[i].count;
	return n;
}

/* Samples in the request in flight: the part after a 413 split, else the whole batch. */
static size_t inflight_samples(const struct jp_sender *s)
{
	return s->split ? part_samples(s, s->part_lo, s->part_hi) : s->batch.nsamples;
}

/* The part in flight is done (delivered or dropped): go on with the next part, or
 * ack the whole batch when it was the last. */
static void part_done(struct jp_sender *s)
{
	s->body_valid = 0;
	s->batch_sends = 0;
	if (!s->split || s->nstack == 0) {
		ack_batch(s);
		return;
	}
	s->part_lo = s->part_hi;
	s->part_hi = s->part_stack[--s->nstack];
}

/* Halve the part in flight after a 413; 0 if it is a single series already. */
static int part_split(struct jp_sender *s)
{
	if (!s->split) {
		s->split = 1;
		s->part_lo = 0;
		s->part_hi = s->batch.nseries;
		s->nstack = 0;
	}
	if (s->part_hi - s->part_lo <= 1 ||
	    jp_grow((void **)&s->part_stack, &s->capstack, s->nstack + 1, sizeof(*s->part_stack)))
		return 0;
	s->part_stack[s->nstack++] = s->part_hi;
	s->part_hi = s->part_lo + (s->part_hi - s->part_lo) / 2;
	s->body_valid = 0;
	s->batch_sends = 0;
	return 1;
}

/* Re-read the secret files, so that a token or password rotated on disk is used from
 * the next request on without a restart. A file that cannot be read now keeps the
 * secret we have (logged at most once a minute). */
/* Retry the current batch later. retry_after_ms is the server's Retry-After, or -1.
 * The wait is the exponential backoff, or the Retry-After if that is longer (capped
 * at JP_RETRY_AFTER_CAP_MS): a server that asks for more time gets it, one that asks
 * for less still gets the backoff so a failing receiver is not hammered. */
static void schedule_retry(struct jp_sender *s, int64_t retry_after_ms)
{
	if (s->attempt < 64)
		s->attempt++;
	uint64_t d = jp_backoff_ms(s->min_backoff_ms, s->max_backoff_ms, s->attempt, &s->seed);
	if (retry_after_ms >= 0) {
		uint64_t ra = (uint64_t)retry_after_ms;
		if (ra > JP_RETRY_AFTER_CAP_MS)
			ra = JP_RETRY_AFTER_CAP_MS;
		if (ra > d)
			d = ra;
	}
	uint64_t now = jp_now_mono_ms();
	s->backoff_until_ms = now + d;
	timer_arm(s, TIMER_BACKOFF, d);
	/* A flush does not wait past its deadline. */
	if (s->flushing && now + d > s->flush_deadline_ms)
		flush_complete(s);
}

/* Drop the part in flight (the whole batch unless a 413 split it). */
static void drop_part(struct jp_sender *s, enum jp_drop_reason reason, const char *why)
{
	size_t n = inflight_samples(s);
	s->dropped[reason] += n;
	jp_log_rl(&s->rl_drop, JP_LOG_ERROR, MOD, "remote %s: dropped %zu samples (%s): %s",
		  s->name, n, jp_drop_reason_name(reason), why);
	part_done(s);
}

/* What an HTTP answer means for the data (docs/reference/remote-write.md). */
enum answer_class { ANSWER_OK, ANSWER_RETRY, ANSWER_CONFIG, ANSWER_REJECTED, ANSWER_TOO_LARGE };

static enum answer_class classify(long st)
{
	if (st >= 200 && st < 300)
		return ANSWER_OK;
	if (st >= 500 || st == 429 || st == 408)
		return ANSWER_RETRY;
	/* The receiver refused the data itself: sending it again cannot help. */
	if (st == 400 || st == 409 || st == 422)
		return ANSWER_REJECTED;
	if (st == 413)
		return ANSWER_TOO_LARGE;
	/* 3xx, 401, 403, 404, 407 and the rest: the URL, the credentials or a proxy are
	 * wrong, not the data. Keep it queued until the operator fixes the setup. */
	return ANSWER_CONFIG;
}

static void done_cb(struct jp_http_xfer *x, const struct jp_http_response *r, void *arg)
{
	struct jp_sender *s = arg;
	size_t n = inflight_samples(s);
	long st = r->status;
	/* A response whose body was cut at our size limit still has a valid status. */
	int answered = st >= 100 && (r->curl_code == 0 || r->body_truncated);
	(void)x;

	s->xfer = NULL;
	/* Remote write 2.0 receivers confirm what they stored with
	 * X-Prometheus-Remote-Write-Samples-Written. A 2xx without it comes from a 1.0-only
	 * receiver that read the 2.0 body as an empty 1.0 request (Prometheus 2.x answers
	 * 204 that way): nothing was stored, so this is a 415 in disguise. */
	if (answered && st >= 200 && st < 300 && s->t.proto == JP_RW_V2 && r->rw_samples_written < 0 &&
	    n > 0)
		st = 415;
	if (answered && st == 415 && s->t.proto == JP_RW_V2) {
		/* A receiver that does not speak 2.0 gets 1.0 from now on. The same samples
		 * go out again at once; that is not counted as a retry. */
		if (!s->logged_fallback)
			jp_warn(MOD, "remote %s: %s for remote write 2.0, falling back to 1.0", s->name,
				r->status == 415 ? "HTTP 415" : "a 2xx without X-Prometheus-Remote-Write-Samples-Written");
		s->logged_fallback = 1;
		s->t.proto = JP_RW_V1;
		jp_rw_target_set_protocol(&s->t, s->t.proto);
		s->batch_sends = 0;
		send_batch(s);
		return;
	}
	if (!answered) {
		jp_log_rl(&s->rl_retry, JP_LOG_WARN, MOD, "remote %s: %s, retrying %zu samples (attempt %u)",
			  s->name, r->error ? r->error : "transfer failed", n, s->attempt + 1);
		schedule_retry(s, -1);
		return;
	}
	char excerpt[JP_BODY_EXCERPT_BYTES + 1], why[JP_BODY_EXCERPT_BYTES + 64];
	switch (classify(st)) {
	case ANSWER_OK:
		s->sent += n;
		s->sent_bytes += s->body.len;
		s->last_success_ms = jp_now_wall_ms();
		if (s->attempt)
			jp_info(MOD, "remote %s: delivering again after %u failed attempts", s->name, s->attempt);
		s->attempt = 0;
		part_done(s);
		kick(s);
		return;
	case ANSWER_RETRY:
		jp_log_rl(&s->rl_retry, JP_LOG_WARN, MOD,
			  "remote %s: HTTP %ld, retrying %zu samples (attempt %u)", s->name, st, n,
			  s->attempt + 1);
		schedule_retry(s, r->retry_after_ms);
		return;
	case ANSWER_CONFIG:
		/* Once a minute, and at once when the status changes. */
		if (st != s->config_status)
			s->rl_config = (struct jp_ratelimit){.interval_ms = s->rl_config.interval_ms};
		s->config_status = st;
		body_excerpt(excerpt, sizeof(excerpt), r->body, r->body_len);
		jp_log_rl(&s->rl_config, JP_LOG_ERROR, MOD,
			  "remote %s: HTTP %ld%s: check the url, credentials and proxy; keeping %" PRIu64
			  " samples queued and retrying: %s",
			  s->name, st, st == 401 || st == 403 ? " (authentication or authorisation)" :
			  st == 404 ? " (not found)" : st == 407 ? " (proxy authentication)" :
			  st >= 300 && st < 400 ? " (redirect: point url at the final address)" : "",
			  queued_samples(s), excerpt);
		schedule_retry(s, r->retry_after_ms);
		return;
	case ANSWER_TOO_LARGE:
		if (part_split(s)) {
			jp_log_rl(&s->rl_drop, JP_LOG_WARN, MOD,
				  "remote %s: HTTP 413: sending the batch in smaller parts (%zu series now)",
				  s->name, s->part_hi - s->part_lo);
			send_batch(s);
			return;
		}
		body_excerpt(excerpt, sizeof(excerpt), r->body, r->body_len);
		snprintf(why, sizeof(why), "HTTP 413 for a single series: %s", excerpt);
		s->attempt = 0;
		drop_part(s, JP_DROP_TOO_LARGE, why);
		if (s->have_batch)
			send_batch(s);
		else
			kick(s);
		return;
	case ANSWER_REJECTED:
		body_excerpt(excerpt, sizeof(excerpt), r->body, r->body_len);
		snprintf(why, sizeof(why), "HTTP %ld: %s", st, excerpt);
		s->attempt = 0;
		drop_part(s, JP_DROP_REJECTED, why);
		if (s->have_batch)
			send_batch(s);
		else
			kick(s);
		return;
	}
}

static void send_batch(struct jp_sender *s)
{
	while (!s->body_valid || s->body_proto != s->t.proto) {
		/* A part after a 413 is a view of the batch: some of its series, the same
		 * sample array. */
		struct jp_batch view = s->batch;
		if (s->split) {
			view.series = s->batch.series + s->part_lo;
			view.nseries = s->part_hi - s->part_lo;
		}
		int rc = s->t.proto == JP_RW_V2 ? jp_encode_v2(&view, &s->body)
					      : jp_encode_v1(&view, &s->body);
		if (rc < 0) {
			/* The batch cannot be encoded; keeping it would block the queue. */
			char why[96];
			snprintf(why, sizeof(why), "cannot encode: %s", strerror(-rc));
			drop_part(s, JP_DROP_ENCODE, why);
			if (!s->have_batch) {
				kick(s);
				return;
			}
			continue;
		}
		s->body_valid = 1;
		s->body_proto = s->t.proto;
	}
	if (s->batch_sends > 0)
		jp_rw_target_refresh_secrets(&s->t);

	const char *const *headers = s->t.headers;
	if (s->tenants) {
		/* The target's headers and this part's tenant. */
		size_t nh = 0;
		while (s->t.headers && s->t.headers[nh])
			nh++;
		if (jp_grow((void **)&s->req_headers, &s->cap_req_headers, nh + 2, sizeof(*s->req_headers))) {
			schedule_retry(s, -1);
			return;
		}
		for (size_t i = 0; i < nh; i++)
			s->req_headers[i] = s->t.headers[i];
		/* Built whole or not at all: a header cut short would put the data under
		 * another tenant. */
		jp_buf_reset(&s->tenant_hdr);
		if (jp_buf_printf(&s->tenant_hdr, "%s: %s", jp_stage_tenant_header(s->tenants), s->tn[s->part_lo]) ||
		    jp_buf_append(&s->tenant_hdr, "", 1)) {
			schedule_retry(s, -1);
			return;
		}
		s->req_headers[nh] = (const char *)s->tenant_hdr.data;
		s->req_headers[nh + 1] = NULL;
		headers = s->req_headers;
	}
	struct jp_http_request req = {
		.method = "POST",
		.url = s->t.url,
		.headers = headers,
		.body = s->body.data,
		.body_len = s->body.len,
		.timeout_ms = s->t.timeout_ms,
		.user_agent = s->t.user_agent,
		.username = s->t.username,
		.password = s->t.password,
		.ca_file = s->t.ca_file,
		.cert_file = s->t.cert_file,
		.key_file = s->t.key_file,
		.insecure_skip_verify = s->t.insecure,
		.max_response_bytes = JP_MAX_RESPONSE_BYTES,
	};
	s->xfer = jp_http_start(s->http, &req, done_cb, s);
	if (!s->xfer) {
		jp_log_rl(&s->rl_retry, JP_LOG_WARN, MOD, "remote %s: cannot start a request: %s",
			  s->name, strerror(errno));
		schedule_retry(s, -1);
		return;
	}
	if (s->batch_sends > 0)
		s->retried += s->batch.nsamples;
	s->batch_sends++;
}

/* queue.max_sample_age on a batch just read (remote/stage_age.h), counted and logged. */
static void drop_too_old(struct jp_sender *s)
{
	if (!s->max_age_ms)
		return;
	size_t dropped = jp_stage_age_filter(&s->batch, jp_now_wall_ms() - (int64_t)s->max_age_ms);
	if (!dropped)
		return;
	s->dropped[JP_DROP_TOO_OLD] += dropped;
	jp_log_rl(&s->rl_drop, JP_LOG_WARN, MOD, "remote %s: dropped %zu samples older than queue.max_sample_age (%" PRIu64 " ms)",
		  s->name, dropped, s->max_age_ms);
}

/* Order the batch by tenant (remote/stage_tenant.h) and make each tenant's run a part:
 * the first is sent now, the ends of the others are stacked so that they come off in
 * order; the batch is acked once every tenant's request is confirmed. 0 or -ENOMEM. */
static int tenant_split(struct jp_sender *s)
{
	size_t n = s->batch.nseries;
	if (!n)
		return 0;
	if (jp_stage_tenant_order(s->tenants, &s->batch, &s->tn))
		return -ENOMEM;
	size_t nruns = 0;
	for (size_t i = 1; i <= n; i++)
		if (i == n || strcmp(s->tn[i], s->tn[i - 1]))
			nruns++;
	if (jp_grow((void **)&s->part_stack, &s->capstack, nruns, sizeof(*s->part_stack)))
		return -ENOMEM;
	s->split = 1;
	s->part_lo = 0;
	s->nstack = 0;
	for (size_t i = n; i >= 1; i--)
		if (i == n || strcmp(s->tn[i], s->tn[i - 1]))
			s->part_stack[s->nstack++] = i;
	s->part_hi = s->part_stack[--s->nstack];
	return 0;
}

/* Batches that were all too old are acknowledged in a loop, at most this many per turn of
 * the event loop; the rest continue in the next turn (a backlog of days is thousands of
 * batches, and neither the stack nor the loop may pay for it at once). */
#define TOO_OLD_BATCHES_PER_TURN 64

static void read_and_send(struct jp_sender *s, uint64_t unread)
{
	for (unsigned k = 0;; k++) {
		int n = jp_queue_read(s->q, &s->batch, s->max_samples);
		if (n < 0) {
			jp_log_rl(&s->rl_queue, JP_LOG_ERROR, MOD, "remote %s: cannot read the queue: %s",
				  s->name, strerror(-n));
			jp_queue_rewind(s->q);
			schedule_retry(s, -1);
			return;
		}
		if (n == 0) {
			s->have_unread = 0;
			if (s->flushing)
				flush_complete(s);
			return;
		}
		s->have_batch = 1;
		s->batch_sends = 0;
		s->body_valid = 0;
		s->split = 0;
		/* What is left was either there before (and keeps its age) or arrives later. */
		if ((uint64_t)n >= unread)
			s->have_unread = 0;
		drop_too_old(s);
		if (s->batch.nseries > 0)
			break;
		/* All too old: nothing to send; acknowledge and read on. */
		ack_batch(s);
		if (k + 1 == TOO_OLD_BATCHES_PER_TURN) {
			timer_arm(s, TIMER_DEADLINE, 0);   /* kick() again in the next turn */
			return;
		}
		unread = unread_samples(s);
	}
	if (s->tenants && tenant_split(s)) {
		/* Not sent unsplit: that would put one tenant's data under another's. */
		jp_log_rl(&s->rl_queue, JP_LOG_ERROR, MOD, "remote %s: out of memory splitting a batch by tenant", s->name);
		release_batch(s);
		jp_queue_rewind(s->q);
		schedule_retry(s, -1);
		return;
	}
	send_batch(s);
}

/* Decide what to do next: nothing while a request or a backoff is under way;
 * otherwise resend the failed batch, or send a new one when it is full, when its
 * oldest sample has waited batch_send_deadline, or when flushing. */
static void kick(struct jp_sender *s)
{
	if (s->closer.closing || s->xfer || s->timer_role == TIMER_BACKOFF)
		return;
	if (s->have_batch) {
		send_batch(s);
		return;
	}
	uint64_t unread = unread_samples(s);
	if (unread == 0) {
		if (s->timer_role == TIMER_DEADLINE)
			timer_disarm(s);
		s->have_unread = 0;
		if (s->flushing)
			flush_complete(s);
		return;
	}
	uint64_t now = jp_now_mono_ms();
	if (!s->have_unread) {
		s->have_unread = 1;
		s->oldest_unread_ms = now;
	}
	uint64_t due = s->oldest_unread_ms + s->deadline_ms;
	if (unread >= s->max_samples || s->flushing || now >= due) {
		if (s->timer_role == TIMER_DEADLINE)
			timer_disarm(s);
		read_and_send(s, unread);
		return;
	}
	if (s->timer_role != TIMER_DEADLINE)
		timer_arm(s, TIMER_DEADLINE, due - now);
}

/* ---- public API ---------------------------------------------------------------- */

static void free_sender(struct jp_sender *s)
{
	jp_stage_relabel_destroy(s->relabel);
	jp_stage_tenant_destroy(s->tenants);
	jp_buf_free(&s->tenant_hdr);
	free(s->req_headers);
	free(s->part_stack);
	jp_buf_free(&s->body);
	jp_rw_target_free(&s->t);
	free(s->name);
	free(s);
}

struct jp_sender *jp_sender_create(uv_loop_t *loop, struct jp_http *http,
				   const struct jp_remote_config *rc, const char *user_agent)
{
	struct jp_sender *s = NULL;
	char *qdir = NULL;
	int err = ENOMEM;

	if (!loop || !http || !rc || !rc->name || !rc->url || !rc->queue_dir) {
		errno = EINVAL;
		return NULL;
	}
	/* The name becomes a directory under queue_dir: it must stay inside it. */
	if (!rc->name[0] || strchr(rc->name, '/') || strcmp(rc->name, ".") == 0 ||
	    strcmp(rc->name, "..") == 0) {
		jp_error(MOD, "remote %s: the name cannot be used as a queue directory", rc->name);
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		jp_error(MOD, "remote %s: out of memory", rc->name);
		return NULL;
	}
	s->loop = loop;
	s->http = http;
	s->name = strdup(rc->name);
	if (!s->name)
		goto fail;
	s->max_samples = rc->max_samples_per_send ? rc->max_samples_per_send : 2000;
	s->deadline_ms = rc->batch_send_deadline_ms;
	s->min_backoff_ms = rc->min_backoff_ms;
	s->max_backoff_ms = rc->max_backoff_ms;
	s->max_age_ms = rc->max_sample_age_ms;
	s->seed = jp_now_mono_ms() ^ ((uint64_t)(uintptr_t)s << 16) ^ (uint64_t)getpid();
	s->rl_append.interval_ms = s->rl_retry.interval_ms = 10000;
	s->rl_drop.interval_ms = s->rl_queue.interval_ms = 10000;
	/* Configuration problems: at most one line a minute. */
	s->rl_config.interval_ms = 60000;
	int rt = jp_rw_target_init(&s->t, rc, user_agent);   /* logs why it failed */
	if (rt < 0) {
		err = -rt;
		goto fail;
	}
	s->tenants = jp_stage_tenant_create(rc, s->name);
	if (!s->tenants && errno)
		goto fail;
	if (rc->relabel.n) {
		char why[256];
		s->relabel = jp_stage_relabel_create(&rc->relabel, why, sizeof(why));
		if (!s->relabel) {
			err = errno ? errno : EINVAL;
			jp_error(MOD, "remote %s: %s", s->name, why);
			goto fail;
		}
	}

	if (asprintf(&qdir, "%s/%s", rc->queue_dir, rc->name) < 0) {
		qdir = NULL;
		goto fail;
	}
	s->q = jp_queue_open_owned(qdir, rc->queue_max_disk_bytes, rc->queue_owner_uid);
	if (!s->q) {
		err = errno;
		jp_error(MOD, "remote %s: cannot open the queue %s: %s", s->name, qdir, strerror(err));
		goto fail;
	}
	free(qdir);
	qdir = NULL;

	uv_timer_init(loop, &s->timer);
	uv_timer_init(loop, &s->flush_timer);
	s->timer.data = s;
	s->flush_timer.data = s;

	/* Whatever an earlier process left in the queue is old: send it at once. */
	if (unread_samples(s) > 0) {
		s->have_unread = 1;
		s->oldest_unread_ms = 0;
	}
	kick(s);
	return s;

fail:
	if (err == ENOMEM)
		jp_error(MOD, "remote %s: out of memory", rc->name);
	free(qdir);
	if (s->q)
		jp_queue_close(s->q);
	free_sender(s);
	errno = err ? err : ENOMEM;
	return NULL;
}

int jp_sender_append(struct jp_sender *s, int64_t ts_ms, const struct jp_round_sample *v, size_t n)
{
	if (!s || s->closer.closing)
		return -EINVAL;
	if (n == 0)
		return 0;
	const struct jp_round_sample *in = v;
	size_t nin = n;
	if (s->relabel) {
		ssize_t k = jp_stage_relabel_apply(s->relabel, v, n, &v);
		if (k < 0) {
			s->dropped[JP_DROP_QUEUE_WRITE] += n;
			jp_log_rl(&s->rl_append, JP_LOG_ERROR, MOD, "remote %s: cannot relabel %zu samples: %s",
				  s->name, n, strerror((int)-k));
			return (int)k;
		}
		n = (size_t)k;
	}
	int rc = n ? jp_queue_append(s->q, ts_ms, v, n) : 0;
	if (s->relabel)
		jp_stage_relabel_end_round(s->relabel, in, nin);
	if (!n)
		return 0;   /* the rules dropped them all */
	if (rc < 0) {
		s->dropped[JP_DROP_QUEUE_WRITE] += n;
		jp_log_rl(&s->rl_append, JP_LOG_ERROR, MOD, "remote %s: cannot queue %zu samples: %s",
			  s->name, n, strerror(-rc));
		return rc;
	}
	if (!s->have_unread) {
		s->have_unread = 1;
		s->oldest_unread_ms = jp_now_mono_ms();
	}
	kick(s);
	return 0;
}

void jp_sender_flush(struct jp_sender *s, uint64_t deadline_mono_ms, void (*done)(void *arg), void *arg)
{
	if (!s || s->closer.closing) {
		if (done)
			done(arg);
		return;
	}
	uint64_t now = jp_now_mono_ms();
	s->flushing = 1;
	s->flush_completing = 0;
	s->flush_deadline_ms = deadline_mono_ms;
	s->flush_done = done;
	s->flush_arg = arg;
	uv_timer_start(&s->flush_timer, flush_timer_cb, deadline_mono_ms > now ? deadline_mono_ms - now : 0, 0);

	if (s->timer_role == TIMER_DEADLINE)
		timer_disarm(s);
	if (s->timer_role == TIMER_BACKOFF && s->backoff_until_ms > deadline_mono_ms) {
		flush_complete(s);
		return;
	}
	kick(s);
}

void jp_sender_get_stats(const struct jp_sender *s, struct jp_sender_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return;
	struct jp_queue_stats qs = {0};
	if (s->q)
		jp_queue_get_stats(s->q, &qs);
	out->samples_sent = s->sent;
	out->bytes_sent = s->sent_bytes;
	out->samples_retried = s->retried;
	for (int i = 0; i < JP_DROP_NREASONS; i++)
		out->dropped_by_reason[i] = s->dropped[i];
	out->dropped_by_reason[JP_DROP_DISK_LIMIT] += qs.dropped_samples;
	for (int i = 0; i < JP_DROP_NREASONS; i++)
		out->samples_dropped += out->dropped_by_reason[i];
	out->pending_samples = qs.pending_samples;
	out->queue_bytes = qs.disk_bytes;
	out->last_success_ms = s->last_success_ms;
	out->relabel_limit_hits = jp_stage_relabel_limit_hits(s->relabel);
	out->relabelling = s->relabel != NULL;
}

const char *jp_sender_name(const struct jp_sender *s)
{
	return s ? s->name : NULL;
}

static void sender_handle_closed_cb(uv_handle_t *handle)
{
	struct jp_sender *s = handle->data;
	void (*closed)(void *);
	void *arg;
	if (!jp_closer_done(&s->closer, &closed, &arg))
		return;
	void (*flush_done)(void *) = s->close_flush_done;
	void *flush_arg = s->close_flush_arg;
	free_sender(s);
	/* Every flush ends in its callback, also one that a close cut short. */
	if (flush_done)
		flush_done(flush_arg);
	jp_closer_none(closed, arg);
}

void jp_sender_close(struct jp_sender *s, void (*closed)(void *arg), void *arg)
{
	if (!s) {
		jp_closer_none(closed, arg);
		return;
	}
	if (!jp_closer_begin(&s->closer, closed, arg))
		return;   /* already closing */
	/* The batch in flight was never acked: it stays in the queue on disk and the
	 * next process sends it. A pending flush ends: its callback runs from the loop
	 * once the handles are closed, just before closed. */
	if (s->xfer) {
		jp_http_cancel(s->xfer);
		s->xfer = NULL;
	}
	if (s->flushing) {
		s->close_flush_done = s->flush_done;
		s->close_flush_arg = s->flush_arg;
	}
	s->flush_done = NULL;
	s->flushing = 0;
	uv_timer_stop(&s->timer);
	uv_timer_stop(&s->flush_timer);
	jp_batch_free(&s->batch);
	jp_queue_close(s->q);
	s->q = NULL;
	jp_closer_close(&s->closer, (uv_handle_t *)&s->timer, sender_handle_closed_cb);
	jp_closer_close(&s->closer, (uv_handle_t *)&s->flush_timer, sender_handle_closed_cb);
}
