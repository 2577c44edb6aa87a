/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fetch machine of the grid sources (carbon/fetch.h).
 *
 * A refresh of an HTTP provider: read the token (when the provider takes one), build
 * document 0, send it; on the answer, parse it with the row; when the row has more
 * documents, build and send the next; after the last, hand the result to the owner. Any
 * failure ends the refresh. The token lives for one refresh and is wiped with the request.
 * Every reason that leaves this file has the token replaced by "REDACTED".
 */
#include "carbon/fetch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "carbon/cfile.h"
#include "carbon/forecast.h"
#include "carbon/retry.h"
#include "util/closer.h"
#include "util/log.h"
#include "util/secret.h"

#ifndef JP_VERSION
#define JP_VERSION "0.0.0"
#endif

#define REQUEST_TIMEOUT_MS 30000
#define FILE_CHECK_MAX_MS 10000
#define WHY_MAX 512
#define TOKEN_MAX_BYTES 4096

struct jp_fetch {
	uv_loop_t *loop;
	struct jp_http *http;
	const struct jp_provider *p;
	const struct jp_provider_conf *c;
	enum jp_fetch_kind kind;
	uint64_t refresh_ms;
	const struct jp_fetch_ops *ops;
	void *owner;

	uv_timer_t timer;
	struct jp_http_xfer *xfer;
	struct jp_provider_req rq;    /* the document in flight */
	const char *headers[2];
	char *token;                  /* this refresh's token: wiped at its end */
	unsigned doc;                 /* the document of the refresh in flight */
	void *scratch;                /* the provider's, for a multi-document forecast */
	struct jp_live live;          /* the live answer, filled by the documents in turn */
	char *session;                /* a login's session token (JP_PROVIDER_LOGIN), across refreshes */
	int64_t session_renew_ms;     /* when to log in again */
	int in_login;                 /* the request in flight is the login */
	int relogged;                 /* this refresh logged in again after a 401 */
	unsigned n429;

	struct stat fst;              /* the file as last read */
	int file_loaded;

	struct jp_fetch_stats st;
	struct jp_closer closer;
};

static struct jp_fetch_transport transport = {jp_http_start, jp_http_cancel, jp_now_wall_ms};

void jp_fetch_set_transport(const struct jp_fetch_transport *t)
{
	transport.start = t && t->start ? t->start : jp_http_start;
	transport.cancel = t && t->cancel ? t->cancel : jp_http_cancel;
	transport.now_ms = t && t->now_ms ? t->now_ms : jp_now_wall_ms;
}

int64_t jp_fetch_now(void)
{
	return transport.now_ms();
}

/* ---- a refresh's end ----------------------------------------------------------------- */

/* Copy src to dst with every occurrence of token replaced (never logged). */
static void redact(char *dst, size_t cap, const char *src, const char *token)
{
	size_t tl = token ? strlen(token) : 0, o = 0;
	if (!cap)
		return;
	while (src && *src && o + 1 < cap) {
		if (tl && !strncmp(src, token, tl)) {
			for (const char *r = "REDACTED"; *r && o + 1 < cap;)
				dst[o++] = *r++;
			src += tl;
		} else {
			dst[o++] = *src++;
		}
	}
	dst[o] = 0;
}

/* msg into dst with the refresh's token and the session replaced. */
static void scrub(const struct jp_fetch *f, char *dst, size_t cap, const char *msg)
{
	char tmp[WHY_MAX];
	redact(tmp, sizeof(tmp), msg, f->token);
	redact(dst, cap, tmp, f->session);
}

static void drop_session(struct jp_fetch *f)
{
	jp_secret_free(f->session);
	f->session = NULL;
}

static void timer_cb(uv_timer_t *t);

static void free_scratch(struct jp_fetch *f)
{
	if (f->scratch && f->p->scratch_free)
		f->p->scratch_free(f->scratch);
	free(f->scratch);
	f->scratch = NULL;
}

/* Forget the request, the token and the scratch of the refresh. */
static void end_request(struct jp_fetch *f)
{
	jp_provider_req_free(&f->rq);
	jp_secret_free(f->token);
	f->token = NULL;
	free_scratch(f);
	f->doc = 0;
	f->in_login = 0;
}

/* End the refresh: count, tell the owner (why redacted), schedule the next one. */
static void finish(struct jp_fetch *f, enum jp_fetch_outcome o, uint64_t next_ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void finish(struct jp_fetch *f, enum jp_fetch_outcome o, uint64_t next_ms, const char *fmt, ...)
{
	char msg[WHY_MAX], clean[WHY_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	scrub(f, clean, sizeof(clean), msg);
	end_request(f);
	if (o == JP_FETCH_OK)
		f->st.successes++;
	else if (o == JP_FETCH_NODATA)
		f->st.no_data++;
	else if (o == JP_FETCH_FAILED)
		f->st.failures++;
	f->st.next_delay_ms = next_ms;
	uv_timer_start(&f->timer, timer_cb, next_ms, 0);
	f->ops->done(f->owner, o, clean);
}

static void deliver(struct jp_fetch *f, struct jp_fetch_result *res, uint64_t next_ms);

/* A document failed. The live documents after the first only add to the answer: their
 * failure keeps what the first gave, with the reason as a note. Anything else ends the
 * refresh as failed. */
static void doc_failed(struct jp_fetch *f, uint64_t next_ms, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void doc_failed(struct jp_fetch *f, uint64_t next_ms, const char *fmt, ...)
{
	char msg[WHY_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (f->kind == JP_FETCH_LIVE && f->doc > 0) {
		scrub(f, f->live.note, sizeof(f->live.note), msg);
		struct jp_fetch_result res = {.live = &f->live};
		deliver(f, &res, next_ms);
		return;
	}
	finish(f, JP_FETCH_FAILED, next_ms, "%s", msg);
}

/* Hand a result to the owner and end the refresh with what it says. */
static void deliver(struct jp_fetch *f, struct jp_fetch_result *res, uint64_t next_ms)
{
	char why[WHY_MAX] = "";
	int r = f->ops->take(f->owner, res, why, sizeof(why));
	finish(f, r == 0 ? JP_FETCH_OK : r == -ENODATA ? JP_FETCH_NODATA : JP_FETCH_FAILED, next_ms, "%s", why);
}

/* ---- HTTP ---------------------------------------------------------------------------- */

static int send_doc(struct jp_fetch *f);
static int send_rq(struct jp_fetch *f);
static void login(struct jp_fetch *f);

/* A body excerpt for a reason: at most 200 bytes, as text. */
static void excerpt(char *dst, size_t cap, const struct jp_http_response *r)
{
	size_t n = r->body_len < 200 ? r->body_len : 200;
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = r->body[i] >= 0x20 && r->body[i] != 0x7f ? (char)r->body[i] : ' ';
	dst[n] = 0;
}

/* Parse an accepted answer with the row. Returns 1 when the next document was sent. */
static int parse_answer(struct jp_fetch *f, const struct jp_http_response *r)
{
	char why[WHY_MAX] = "";
	const char *url = f->rq.log_url;
	if (f->kind == JP_FETCH_LIVE) {
		int k = f->p->live_parse(f->c, r->status, f->doc, r->body, r->body_len, &f->live, why, sizeof(why));
		if (k && f->doc == 0) {
			finish(f, k == -ENODATA ? JP_FETCH_NODATA : JP_FETCH_FAILED, f->refresh_ms, "answer from %s: %s",
			       url, k == -ENOMEM ? "out of memory" : why);
		} else if (k) {
			doc_failed(f, f->refresh_ms, "answer from %s: %s", url, k == -ENOMEM ? "out of memory" : why);
		} else if (f->doc + 1 < (f->p->live_docs ? f->p->live_docs : 1)) {
			jp_provider_req_free(&f->rq);
			f->doc++;
			return send_doc(f) == 0;
		} else {
			struct jp_fetch_result res = {.live = &f->live};
			deliver(f, &res, f->refresh_ms);
		}
		return 0;
	}
	struct jp_forecast fresh = {0};
	size_t skipped = 0;
	int k = f->p->forecast_parse(f->c, f->scratch, f->doc, r->body, r->body_len, &fresh, &skipped, why,
				     sizeof(why));
	if (k) {
		jp_forecast_free(&fresh);
		finish(f, JP_FETCH_FAILED, f->refresh_ms, "forecast from %s: %s", url,
		       k == -ENOMEM ? "out of memory" : why);
		return 0;
	}
	if (f->doc + 1 < f->c->forecast_docs) {
		jp_provider_req_free(&f->rq);
		f->doc++;
		return send_doc(f) == 0;
	}
	struct jp_fetch_result res = {.forecast = &fresh, .skipped = skipped,
				      .extra = f->p->scratch_extra && f->scratch ? f->p->scratch_extra(f->scratch) : NULL};
	deliver(f, &res, f->refresh_ms);
	jp_forecast_free(&fresh);
	return 0;
}

/* The login's answer: keep the session and ask for the document the refresh is at. */
static void login_answer(struct jp_fetch *f, const struct jp_http_response *r)
{
	char why[WHY_MAX] = "";
	f->in_login = 0;
	if (r->status != 200) {
		finish(f, JP_FETCH_FAILED, f->refresh_ms, "login to %s: HTTP %ld (check carbon.%s.username_file and "
		       "password_file)", f->rq.log_url, r->status, f->p->name);
		return;
	}
	uint64_t ttl = 0;
	char *session = NULL;
	int k = f->p->login_parse(r->body, r->body_len, &session, &ttl, why, sizeof(why));
	if (k) {
		finish(f, JP_FETCH_FAILED, f->refresh_ms, "login to %s: %s", f->rq.log_url, why);
		return;
	}
	drop_session(f);
	f->session = session;
	f->session_renew_ms = transport.now_ms() + (int64_t)(ttl - ttl / 10);
	jp_provider_req_free(&f->rq);
	send_doc(f);
}

static void http_done_cb(struct jp_http_xfer *x, const struct jp_http_response *r, void *arg)
{
	(void)x;
	struct jp_fetch *f = arg;
	char ex[256];
	f->xfer = NULL;
	if (r->curl_code != 0) {
		if (r->body_truncated)
			doc_failed(f, f->refresh_ms, "answer from %s is over the size limit: refused", f->rq.log_url);
		else
			doc_failed(f, f->refresh_ms, "request to %s failed: %s", f->rq.log_url, r->error ? r->error : "error");
		return;
	}
	if (r->status == 429) {
		/* docs/carbon.md "Rate limits": one rule for every source, live and forecast. */
		f->st.rate_limited++;
		uint64_t d = jp_carbon_retry_delay_ms(f->refresh_ms, &f->n429, r->retry_after_ms);
		doc_failed(f, d, "HTTP 429 (rate limited) from %s: next request in %llu ms", f->rq.log_url,
			   (unsigned long long)d);
		return;
	}
	f->n429 = 0;
	if (f->in_login) {
		login_answer(f, r);
		return;
	}
	if (r->status == 401 && (f->p->flags & JP_PROVIDER_LOGIN) && !f->relogged) {
		/* The session ended early (revoked, or the clocks disagree): log in once more and
		 * ask for the same document again. */
		f->relogged = 1;
		drop_session(f);
		jp_provider_req_free(&f->rq);
		login(f);
		return;
	}
	if ((r->status < 200 || r->status > 299) && !(r->status == 400 && (f->p->flags & JP_PROVIDER_ACK_400))) {
		excerpt(ex, sizeof(ex), r);
		doc_failed(f, f->refresh_ms, "HTTP %ld from %s: %s", r->status, f->rq.log_url, ex);
		return;
	}
	parse_answer(f, r);
}

/* Build and send document f->doc. Returns 0, or -1 when the refresh ended. */
static int send_doc(struct jp_fetch *f)
{
	int64_t now = transport.now_ms();
	const char *tok = (f->p->flags & JP_PROVIDER_LOGIN) ? f->session : f->token;
	int k = f->kind == JP_FETCH_LIVE ? f->p->live_request(f->c, tok, now, f->doc, &f->rq)
		: f->p->forecast_request(f->c, tok, now, f->doc, &f->rq);
	if (k == -ENOENT && f->kind == JP_FETCH_LIVE && f->doc > 0) {
		/* Nothing more to ask for this configuration: the answer is whole. */
		struct jp_fetch_result res = {.live = &f->live};
		deliver(f, &res, f->refresh_ms);
		return -1;
	}
	if (k) {
		doc_failed(f, f->refresh_ms, "cannot build the request: %s", strerror(-k));
		return -1;
	}
	return send_rq(f);
}

/* Send the request in f->rq. Returns 0, or -1 when the refresh ended. */
static int send_rq(struct jp_fetch *f)
{
	f->headers[0] = f->rq.header;
	f->headers[1] = NULL;
	struct jp_http_request req = {
		.method = "GET",
		.url = f->rq.url,
		.headers = f->rq.header ? f->headers : NULL,
		.timeout_ms = REQUEST_TIMEOUT_MS,
		.user_agent = "joulepush/" JP_VERSION,
		.max_response_bytes = f->p->max_bytes,
		.username = f->rq.user,
		.password = f->rq.password,
	};
	f->st.requests++;
	f->xfer = transport.start(f->http, &req, http_done_cb, f);
	if (!f->xfer) {
		doc_failed(f, f->refresh_ms, "cannot start the request to %s: %s", f->rq.log_url, strerror(errno));
		return -1;
	}
	return 0;
}

/* The token in a token file: its first line, without surrounding blanks, read without
 * blocking (util/secret.h). Returns a string to free with jp_secret_free, or NULL with why
 * filled (never with the file's contents). */
static char *read_token(const char *path, char *why, size_t whylen)
{
	if (!path || !*path) {
		snprintf(why, whylen, "no token_file configured");
		return NULL;
	}
	char *buf = jp_secret_read(path);   /* never blocks on a FIFO; refuses a NUL */
	if (!buf) {
		snprintf(why, whylen, "cannot read token file %s: %s", path, strerror(errno));
		return NULL;
	}
	char *s = buf;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	size_t l = strcspn(s, "\r\n");
	while (l && (s[l - 1] == ' ' || s[l - 1] == '\t'))
		l--;
	s[l] = 0;
	char *t = l && l <= TOKEN_MAX_BYTES ? strdup(s) : NULL;
	if (!l)
		snprintf(why, whylen, "token file %s is empty", path);
	else if (l > TOKEN_MAX_BYTES)
		snprintf(why, whylen, "token file %s holds more than %d bytes", path, TOKEN_MAX_BYTES);
	else if (!t)
		snprintf(why, whylen, "out of memory");
	jp_secret_free(buf);
	return t;
}

/* A credential file's first line, trimmed; NULL with why filled. Free with jp_secret_free. */
static char *read_credential(const char *path, const char *what, char *why, size_t whylen)
{
	char tmp[256];
	char *v = read_token(path, tmp, sizeof(tmp));
	if (!v)
		snprintf(why, whylen, "%s: %s", what, tmp);
	return v;
}

/* Log in with the credentials read afresh; the answer goes to login_answer. */
static void login(struct jp_fetch *f)
{
	char why[320];
	char *user = read_credential(f->c->user_file, "username_file", why, sizeof(why));
	char *password = user ? read_credential(f->c->password_file, "password_file", why, sizeof(why)) : NULL;
	if (!user || !password) {
		jp_secret_free(user);
		finish(f, JP_FETCH_FAILED, f->refresh_ms, "carbon.%s: %s", f->p->name, why);
		return;
	}
	int k = f->p->login_request(f->c, user, password, &f->rq);
	jp_secret_free(user);
	jp_secret_free(password);
	if (k) {
		finish(f, JP_FETCH_FAILED, f->refresh_ms, "cannot build the login request: %s", strerror(-k));
		return;
	}
	f->in_login = 1;
	send_rq(f);
}

static void refresh_http(struct jp_fetch *f)
{
	char why[256];
	end_request(f);
	f->relogged = 0;
	f->live = (struct jp_live){.carbon_free = -1, .signal_index = -1};
	if (f->p->flags & JP_PROVIDER_TOKEN) {
		f->token = read_token(f->c->token_file, why, sizeof(why));
		if (!f->token) {
			finish(f, JP_FETCH_FAILED, f->refresh_ms, "carbon.%s: %s", f->p->name, why);
			return;
		}
	}
	if (f->kind == JP_FETCH_FORECAST && f->p->forecast_scratch &&
	    !(f->scratch = calloc(1, f->p->forecast_scratch))) {
		finish(f, JP_FETCH_FAILED, f->refresh_ms, "out of memory");
		return;
	}
	if ((f->p->flags & JP_PROVIDER_LOGIN) && (!f->session || transport.now_ms() >= f->session_renew_ms))
		login(f);   /* a session first, or a new one before this one ends */
	else
		send_doc(f);
}

/* ---- the file ------------------------------------------------------------------------ */

/* Read the file when it changed (mtime, size or inode). */
static void refresh_file(struct jp_fetch *f)
{
	uint64_t next = f->refresh_ms < FILE_CHECK_MAX_MS ? f->refresh_ms : FILE_CHECK_MAX_MS;
	const char *path = f->c->file_path;
	struct stat st;
	if (!path || !*path) {
		finish(f, JP_FETCH_FAILED, next, "carbon.file.path is not set");
		return;
	}
	if (stat(path, &st) != 0) {
		finish(f, JP_FETCH_FAILED, next, "cannot stat %s: %s", path, strerror(errno));
		return;
	}
	if (f->file_loaded && st.st_mtim.tv_sec == f->fst.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == f->fst.st_mtim.tv_nsec && st.st_size == f->fst.st_size && st.st_ino == f->fst.st_ino) {
		finish(f, JP_FETCH_UNCHANGED, next, "%s", "");
		return;
	}
	f->st.requests++;
	char why[256];
	struct jp_carbon_series s = {0};
	int r = f->p->read(path, &s, why, sizeof(why));
	f->fst = st;
	f->file_loaded = 1;   /* not again until it changes */
	if (r == -EAGAIN) {
		f->file_loaded = 0;
		finish(f, JP_FETCH_FAILED, next, "%s; will read it again", why);
	} else if (r == -EINVAL) {
		finish(f, JP_FETCH_FAILED, next, "%s: %s (keeping the previous contents)", path, why);
	} else if (r) {
		if (r != -EFBIG)
			f->file_loaded = 0;   /* an open or read error: try again */
		finish(f, JP_FETCH_FAILED, next, "%s", why);
	} else {
		struct jp_fetch_result res = {.series = &s};
		deliver(f, &res, next);
	}
	jp_carbon_series_free(&s);
}

static void timer_cb(uv_timer_t *t)
{
	struct jp_fetch *f = t->data;
	if (f->p->flags & JP_PROVIDER_FILE)
		refresh_file(f);
	else
		refresh_http(f);
}

/* ---- public -------------------------------------------------------------------------- */

struct jp_fetch *jp_fetch_create(uv_loop_t *loop, struct jp_http *http, const struct jp_provider *p,
				 const struct jp_provider_conf *c, enum jp_fetch_kind kind, uint64_t refresh_ms,
				 const struct jp_fetch_ops *ops, void *owner)
{
	int file = p && (p->flags & JP_PROVIDER_FILE);
	int can = file ? p->read != NULL
		  : p && http && (kind == JP_FETCH_LIVE ? p->live_request && p->live_parse
				  : p->forecast_request && p->forecast_parse && p->forecast_docs);
	if (!can) {
		errno = EINVAL;
		return NULL;
	}
	struct jp_fetch *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	*f = (struct jp_fetch){.loop = loop, .http = http, .p = p, .c = c, .kind = kind,
			       .refresh_ms = refresh_ms ? refresh_ms : 1, .ops = ops, .owner = owner};
	if (uv_timer_init(loop, &f->timer) != 0) {
		free(f);
		errno = EINVAL;
		return NULL;
	}
	f->timer.data = f;
	uv_timer_start(&f->timer, timer_cb, 0, 0);
	return f;
}

void jp_fetch_stats(const struct jp_fetch *f, struct jp_fetch_stats *out)
{
	if (f)
		*out = f->st;
	else
		memset(out, 0, sizeof(*out));
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct jp_fetch *f = h->data;
	void (*closed)(void *);
	void *arg;
	if (!jp_closer_done(&f->closer, &closed, &arg))
		return;
	end_request(f);
	drop_session(f);
	free(f);
	jp_closer_none(closed, arg);
}

void jp_fetch_close(struct jp_fetch *f, void (*closed)(void *arg), void *arg)
{
	if (!f) {
		jp_closer_none(closed, arg);
		return;
	}
	if (!jp_closer_begin(&f->closer, closed, arg))
		return;   /* already closing */
	if (f->xfer) {
		transport.cancel(f->xfer);
		f->xfer = NULL;
	}
	uv_timer_stop(&f->timer);
	jp_closer_close(&f->closer, (uv_handle_t *)&f->timer, timer_closed_cb);
}
