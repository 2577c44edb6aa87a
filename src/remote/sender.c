/* SPDX-License-Identifier: Apache-2.0 */
/* One remote: its queue, batching, one request in flight, and the retry machine (what to
 * do with each answer: docs/reference/remote-write.md). Where and how requests go -
 * URL, headers, secrets, TLS - is remote/target.c. */
#include "remote/sender.h"
#include "remote/relabel.h"
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

	/* tenant (docs/reference/remote-write.md "Tenants"): each part is one tenant's. */
	char *tenant_header, *tenant_label, *tenant_default;
	struct jp_kvlist tenant_map;
	const char **tn, **tn2;           /* per batch series: its tenant (and scratch) */
	size_t captn, captn2;
	struct jp_batch_series *tn_tmp;
	size_t cap_tn_tmp;
	size_t *tn_idx;
	size_t cap_tn_idx;
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

	/* write_relabel_configs: what the rules made of each series, by the store's series
	 * id, until the series ends (its stale marker). */
	struct jp_relabel *relabel;
	struct jp_relabel_out rl_out;
	struct rl_ent *rl_tab;
	size_t rl_cap, rl_n;
	struct jp_round_sample *rl_buf;
	size_t rl_bufcap;
	struct jp_series **rl_tmp;   /* aliases of this round that are not kept (limited matches) */
	size_t rl_ntmp, rl_tmpcap;
};

/* ---- relabelling (remote/relabel.h) ----------------------------------------------- */

enum { RL_SAME = 1, RL_DROP, RL_ALIAS };

struct rl_ent {
	uint32_t id;                  /* 0: empty */
	uint8_t kind;
	struct jp_series *alias;      /* RL_ALIAS: the relabelled series, same id */
};

static size_t rl_slot(const struct jp_sender *s, uint32_t id)
{
	return (size_t)(jp_mix64(id) & (s->rl_cap - 1));
}

static struct rl_ent *rl_find(struct jp_sender *s, uint32_t id)
{
	if (!s->rl_cap)
		return NULL;
	for (size_t i = rl_slot(s, id);; i = (i + 1) & (s->rl_cap - 1)) {
		if (s->rl_tab[i].id == id)
			return &s->rl_tab[i];
		if (!s->rl_tab[i].id)
			return NULL;
	}
}

static int rl_grow(struct jp_sender *s)
{
	size_t cap = s->rl_cap ? s->rl_cap * 2 : 256;
	struct rl_ent *t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	struct rl_ent *old = s->rl_tab;
	size_t ocap = s->rl_cap;
	s->rl_tab = t;
	s->rl_cap = cap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].id) {
			size_t j = rl_slot(s, old[i].id);
			while (t[j].id)
				j = (j + 1) & (cap - 1);
			t[j] = old[i];
		}
	free(old);
	return 0;
}

/* Remove e (backward-shift deletion keeps the probe chains whole). */
static void rl_remove(struct jp_sender *s, struct rl_ent *e)
{
	free(e->alias);
	size_t i = (size_t)(e - s->rl_tab), mask = s->rl_cap - 1;
	for (size_t j = (i + 1) & mask; s->rl_tab[j].id; j = (j + 1) & mask) {
		size_t home = rl_slot(s, s->rl_tab[j].id);
		/* Move j back to i when i lies on j's probe path (cyclically in [home, j)). */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->rl_tab[i] = s->rl_tab[j];
			i = j;
		}
	}
	s->rl_tab[i] = (struct rl_ent){0};
	s->rl_n--;
}

/* A series with out's labels under series' id, in one allocation. */
static struct jp_series *rl_alias(const struct jp_series *series, const struct jp_relabel_out *out)
{
	size_t strbytes = 0;
	for (size_t i = 0; i < out->n; i++)
		strbytes += strlen(out->labels[i].name) + strlen(out->labels[i].value) + 2;
	struct jp_series *a = calloc(1, sizeof(*a) + out->n * sizeof(struct jp_label) + strbytes);
	if (!a)
		return NULL;
	struct jp_label *l = (struct jp_label *)(a + 1);
	char *p = (char *)(l + out->n);
	for (size_t i = 0; i < out->n; i++) {
		size_t nl = strlen(out->labels[i].name) + 1, vl = strlen(out->labels[i].value) + 1;
		l[i].name = memcpy(p, out->labels[i].name, nl);
		p += nl;
		l[i].value = memcpy(p, out->labels[i].value, vl);
		p += vl;
		if (!strcmp(l[i].name, "__name__"))
			a->name = l[i].value;
	}
	a->id = series->id;
	a->nlabels = (uint16_t)out->n;
	a->labels = l;
	a->start_ms = series->start_ms;
	return a;
}

/* What the rules make of v[0..n) into s->rl_buf; returns how many samples go on, or a
 * negative errno. */
static ssize_t relabel_round(struct jp_sender *s, const struct jp_round_sample *v, size_t n)
{
	if (jp_grow((void **)&s->rl_buf, &s->rl_bufcap, n + 1, sizeof(*s->rl_buf)))
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct jp_series *src = v[i].series;
		struct rl_ent *e = rl_find(s, src->id);
		struct rl_ent once;
		if (!e) {
			int r = jp_relabel_apply(s->relabel, src->labels, src->nlabels, &s->rl_out);
			if (r < 0)
				return r;
			struct rl_ent ne = {.id = src->id, .kind = RL_DROP};
			if (r == 1 && jp_relabel_same(&s->rl_out, src->labels, src->nlabels))
				ne.kind = RL_SAME;
			else if (r == 1 && s->rl_out.n <= UINT16_MAX) {
				ne.kind = RL_ALIAS;
				if (!(ne.alias = rl_alias(src, &s->rl_out)))
					return -ENOMEM;
			}
			/* A match that could not be decided is not kept for the series' life: the
			 * rules run again next round (docs/reference/remote-write.md "Relabelling"). */
			if (s->rl_out.limited) {
				if (ne.alias && jp_grow((void **)&s->rl_tmp, &s->rl_tmpcap, s->rl_ntmp + 1, sizeof(*s->rl_tmp))) {
					free(ne.alias);
					return -ENOMEM;
				}
				if (ne.alias)
					s->rl_tmp[s->rl_ntmp++] = ne.alias;
				once = ne;
				e = &once;
				goto use;
			}
			if (2 * (s->rl_n + 1) > s->rl_cap && rl_grow(s)) {
				free(ne.alias);
				return -ENOMEM;
			}
			size_t j = rl_slot(s, src->id);
			while (s->rl_tab[j].id)
				j = (j + 1) & (s->rl_cap - 1);
			s->rl_tab[j] = ne;
			s->rl_n++;
			e = &s->rl_tab[j];
		}
use:
		if (e->kind == RL_DROP)
			continue;
		s->rl_buf[k].series = e->kind == RL_ALIAS ? e->alias : src;
		s->rl_buf[k].value = v[i].value;
		k++;
	}
	return (ssize_t)k;
}

/* Forget the series that ended this round (their stale markers went by). */
static void relabel_forget_ended(struct jp_sender *s, const struct jp_round_sample *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (jp_is_stale_nan(v[i].value)) {
			struct rl_ent *e = rl_find(s, v[i].series->id);
			if (e)
				rl_remove(s, e);
		}
}

static void relabel_free_all(struct jp_sender *s)
{
	for (size_t i = 0; i < s->rl_cap; i++)
		free(s->rl_tab[i].alias);
	free(s->rl_tab);
	free(s->rl_buf);
	free(s->rl_tmp);
	jp_relabel_out_free(&s->rl_out);
	jp_relabel_free(s->relabel);
}

static void kick(struct jp_sender *s);

/* ---- backoff ----------------------------------------------------------------- */

/* splitmix64: small, good enough for jitter, and reproducible from a seed. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t jp_backoff_ms(uint64_t min_ms, uint64_t max_ms, unsigned attempt, uint64_t *seed)
{
	static uint64_t fallback_seed = 0x6a6f756c65707573ULL;
	if (!seed)
		seed = &fallback_seed;
	if (attempt == 0)
		attempt = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;

	uint64_t d = min_ms;
	for (unsigned i = 1; i < attempt && d < max_ms; i++)
		d = d > max_ms / 2 ? max_ms : d * 2;
	if (d > max_ms)
		d = max_ms;

	/* Equal jitter: half fixed, half random, so retries of many agents spread
	 * out but none retries sooner than d/2. */
	uint64_t half = d / 2;
	uint64_t span = d - half;
	uint64_t r = next_random(seed);
	return half + (span ? r % (span + 1) : 0);
}

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
	if (s->tenant_header) {
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
		if (jp_buf_printf(&s->tenant_hdr, "%s: %s", s->tenant_header, s->tn[s->part_lo]) ||
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

/* ---- tenants ------------------------------------------------------------------------ */

static int tenant_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
			return 0;
	return n > 0 && n <= 150;
}

/* The tenant of a series: its tenant.label's value, renamed by tenant.map; the default
 * without the label, or when the value cannot be a tenant (a space, a control byte). */
static const char *series_tenant(struct jp_sender *s, const struct jp_series_def *d)
{
	const char *v = NULL;
	for (uint32_t i = 0; i < d->nlabels && !v; i++)
		if (!strcmp(d->labels[i].name, s->tenant_label))
			v = d->labels[i].value;
	if (!v)
		return s->tenant_default;
	for (size_t i = 0; i < s->tenant_map.n; i++)
		if (!strcmp(s->tenant_map.v[i].key, v))
			return s->tenant_map.v[i].value;
	if (!tenant_ok(v)) {
		jp_log_rl(&s->rl_drop, JP_LOG_WARN, MOD, "remote %s: %s value \"%.64s\" cannot be a tenant: sent as %s",
			  s->name, s->tenant_label, v, s->tenant_default);
		return s->tenant_default;
	}
	return v;
}

/* Indices by tenant, then by position: a stable order. */
static int by_tenant(const void *a, const void *b, void *arg)
{
	const char *const *tn = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(tn[x], tn[y]);
	return c ? c : (x > y) - (x < y);
}

/* Order the batch's series by tenant (stable) and make each tenant's run a part: the
 * batch is acked once every tenant's request is confirmed. Returns 0 or -ENOMEM. */
static int tenant_split(struct jp_sender *s)
{
	size_t n = s->batch.nseries;
	if (!n)
		return 0;
	if (jp_grow((void **)&s->tn, &s->captn, n, sizeof(*s->tn)) ||
	    jp_grow((void **)&s->tn2, &s->captn2, n, sizeof(*s->tn2)) ||
	    jp_grow((void **)&s->tn_idx, &s->cap_tn_idx, n, sizeof(*s->tn_idx)) ||
	    jp_grow((void **)&s->tn_tmp, &s->cap_tn_tmp, n, sizeof(*s->tn_tmp)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		s->tn_idx[i] = i;
		s->tn[i] = series_tenant(s, s->batch.series[i].def);
	}
	qsort_r(s->tn_idx, n, sizeof(*s->tn_idx), by_tenant, s->tn);
	for (size_t i = 0; i < n; i++)
		s->tn_tmp[i] = s->batch.series[s->tn_idx[i]];
	memcpy(s->batch.series, s->tn_tmp, n * sizeof(*s->tn_tmp));
	/* The tenant of each series, in the new order (tn_idx maps new -> old). */
	for (size_t i = 0; i < n; i++)
		s->tn2[i] = s->tn[s->tn_idx[i]];
	memcpy(s->tn, s->tn2, n * sizeof(*s->tn));
	/* Runs of one tenant: the first is sent now, the ends of the others are stacked
	 * so that they come off in order. */
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

/* Leave out of a new batch the samples older than queue.max_sample_age: receivers refuse
 * them anyway ("out of bounds"), and a counter's next fresh sample carries its total.
 * Samples of a series are in time order, so the old ones are a prefix of each series.
 * Returns how many were left out; series left without samples go. */
static size_t drop_too_old(struct jp_sender *s, int64_t now_ms)
{
	if (!s->max_age_ms)
		return 0;
	int64_t cutoff = now_ms - (int64_t)s->max_age_ms;
	size_t dropped = 0;
	for (size_t i = 0; i < s->batch.nseries; i++) {
		const struct jp_batch_series *bs = &s->batch.series[i];
		for (uint32_t k = 0; k < bs->count && s->batch.samples[bs->first + k].ts_ms < cutoff; k++)
			dropped++;
	}
	if (!dropped)
		return 0;
	/* Compact: the kept samples of each series, in order, at the front of a copy. */
	struct jp_sample *kept = malloc((s->batch.nsamples - dropped + 1) * sizeof(*kept));
	if (!kept)
		return 0;   /* sent as they are; the receiver decides */
	size_t keep = 0, n = 0;
	for (size_t i = 0; i < s->batch.nseries; i++) {
		struct jp_batch_series bs = s->batch.series[i];
		while (bs.count > 0 && s->batch.samples[bs.first].ts_ms < cutoff) {
			bs.first++;
			bs.count--;
		}
		if (bs.count == 0)
			continue;
		memcpy(kept + n, s->batch.samples + bs.first, bs.count * sizeof(*kept));
		bs.first = (uint32_t)n;
		n += bs.count;
		s->batch.series[keep++] = bs;
	}
	memcpy(s->batch.samples, kept, n * sizeof(*kept));
	free(kept);
	s->batch.nseries = keep;
	s->batch.nsamples = n;
	{
		s->dropped[JP_DROP_TOO_OLD] += dropped;
		jp_log_rl(&s->rl_drop, JP_LOG_WARN, MOD,
			  "remote %s: dropped %zu samples older than queue.max_sample_age (%" PRIu64 " ms)",
			  s->name, dropped, s->max_age_ms);
	}
	return dropped;
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
		drop_too_old(s, jp_now_wall_ms());
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
	if (s->tenant_header && tenant_split(s)) {
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
	relabel_free_all(s);
	free(s->tenant_header);
	jp_buf_free(&s->tenant_hdr);
	free(s->tenant_label);
	free(s->tenant_default);
	for (size_t i = 0; i < s->tenant_map.n; i++) {
		free(s->tenant_map.v[i].key);
		free(s->tenant_map.v[i].value);
	}
	free(s->tenant_map.v);
	free(s->tn);
	free(s->tn2);
	free(s->tn_idx);
	free(s->tn_tmp);
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
	if (rc->tenant_header && *rc->tenant_header) {
		if (!(s->tenant_header = strdup(rc->tenant_header)) || !(s->tenant_label = strdup(rc->tenant_label)) ||
		    !(s->tenant_default = strdup(rc->tenant_default)))
			goto fail;
		s->tenant_map.v = calloc(rc->tenant_map.n + 1, sizeof(*s->tenant_map.v));
		if (!s->tenant_map.v)
			goto fail;
		for (size_t i = 0; i < rc->tenant_map.n; i++) {
			s->tenant_map.v[i].key = strdup(rc->tenant_map.v[i].key);
			s->tenant_map.v[i].value = strdup(rc->tenant_map.v[i].value);
			s->tenant_map.n = i + 1;
			if (!s->tenant_map.v[i].key || !s->tenant_map.v[i].value)
				goto fail;
		}
	}
	if (rc->relabel.n) {
		char why[256];
		s->relabel = jp_relabel_new(&rc->relabel, why, sizeof(why));
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
		ssize_t k = relabel_round(s, v, n);
		if (k < 0) {
			s->dropped[JP_DROP_QUEUE_WRITE] += n;
			jp_log_rl(&s->rl_append, JP_LOG_ERROR, MOD, "remote %s: cannot relabel %zu samples: %s",
				  s->name, n, strerror((int)-k));
			return (int)k;
		}
		v = s->rl_buf;
		n = (size_t)k;
	}
	int rc = n ? jp_queue_append(s->q, ts_ms, v, n) : 0;
	if (s->relabel) {
		relabel_forget_ended(s, in, nin);
		for (size_t i = 0; i < s->rl_ntmp; i++)
			free(s->rl_tmp[i]);
		s->rl_ntmp = 0;
	}
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
	out->relabel_limit_hits = jp_relabel_limit_hits(s->relabel);
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
