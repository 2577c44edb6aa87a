/* SPDX-License-Identifier: Apache-2.0 */
/* An HTTP client that drives libcurl's multi interface from a libuv loop. */
#include "remote/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/log.h"

#define JP_HTTP_DEFAULT_MAX_RESPONSE (1024u * 1024u)
#define JP_HTTP_DEFAULT_CONNECT_MS 10000u

/* One uv_poll_t per socket curl asks us to watch. It is created on the first
 * CURL_POLL_IN/OUT for the socket and closed on CURL_POLL_REMOVE; the memory is
 * released in the close callback because libuv still owns it until then. */
struct sock_ctx {
	uv_poll_t poll;
	curl_socket_t fd;
	struct jp_http *h;
	struct sock_ctx *prev, *next;   /* the client's list of open polls */
};

struct jp_http_xfer {
	struct jp_http *h;
	CURL *easy;
	struct curl_slist *headers;
	jp_http_done_cb done;
	void *arg;
	struct jp_buf body;
	size_t max_body;
	int truncated;
	int (*on_body)(const void *data, size_t len, void *arg);
	void *body_arg;
	int body_err;
	size_t streamed;
	size_t turn_bytes;              /* streamed since the loop last turned */
	int paused;
	int64_t retry_after_ms;
	int64_t rw_samples_written;
	char *content_type;
	int in_done;                    /* the done callback is running: cancel is a no-op */
	char errbuf[CURL_ERROR_SIZE];
	struct jp_http_xfer *prev, *next;
};

struct jp_http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;               /* curl's single timeout */
	uv_idle_t unpause;              /* resumes streamed transfers on the next loop turn */
	struct sock_ctx *socks;
	struct jp_http_xfer *xfers;
	size_t nactive;
	unsigned pending_closes;        /* handles whose close callback has not run yet */
	int closing;
	void (*closed)(void *arg);
	void *closed_arg;
};

static void drain_done(struct jp_http *h);

/* ---- handle bookkeeping --------------------------------------------------------- */

static void maybe_finish_close(struct jp_http *h)
{
	if (!h->closing || h->pending_closes != 0)
		return;
	void (*closed)(void *) = h->closed;
	void *arg = h->closed_arg;
	free(h);
	if (closed)
		closed(arg);
}

static void sock_closed_cb(uv_handle_t *handle)
{
	struct sock_ctx *c = handle->data;
	struct jp_http *h = c->h;
	free(c);
	h->pending_closes--;
	maybe_finish_close(h);
}

static void sock_close(struct jp_http *h, struct sock_ctx *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		h->socks = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	/* uv_close stops the watcher at once, so curl may close (and the kernel may
	 * reuse) the fd as soon as we return. */
	h->pending_closes++;
	uv_close((uv_handle_t *)&c->poll, sock_closed_cb);
}

static void timer_closed_cb(uv_handle_t *handle)
{
	struct jp_http *h = handle->data;
	h->pending_closes--;
	maybe_finish_close(h);
}

static void xfer_unlink(struct jp_http_xfer *x)
{
	struct jp_http *h = x->h;
	if (x->prev)
		x->prev->next = x->next;
	else if (h->xfers == x)
		h->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	h->nactive--;
}

static void xfer_free(struct jp_http_xfer *x)
{
	if (!x)
		return;
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	jp_buf_free(&x->body);
	free(x->content_type);
	free(x);
}

/* ---- curl -> libuv ------------------------------------------------------------ */

static void poll_cb(uv_poll_t *p, int status, int events)
{
	struct sock_ctx *c = p->data;
	struct jp_http *h = c->h;
	int flags = 0, running;

	/* libuv reports POLLERR/POLLHUP without readable data as a negative status;
	 * curl must hear about it or it would wait for the transfer timeout. */
	if (status < 0) {
		flags = CURL_CSELECT_ERR;
	} else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	/* c may be freed (CURL_POLL_REMOVE) during this call: do not touch it after. */
	curl_multi_socket_action(h->multi, c->fd, flags, &running);
	drain_done(h);
}

static void timer_cb(uv_timer_t *t)
{
	struct jp_http *h = t->data;
	int running;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain_done(h);
}

/* CURLMOPT_SOCKETFUNCTION. Runs inside curl: it must not call back into the multi
 * handle except curl_multi_assign. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct jp_http *h = userp;
	struct sock_ctx *c = socketp;

	if (what == CURL_POLL_REMOVE) {
		if (c) {
			curl_multi_assign(h->multi, s, NULL);
			sock_close(h, c);
		}
		return 0;
	}
	/* While closing, curl may ask to watch cached connections once more before
	 * it removes them; there is nobody left to serve that. */
	if (h->closing)
		return 0;

	int events = 0;
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= UV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= UV_WRITABLE;

	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return -1;
		c->fd = s;
		c->h = h;
		if (uv_poll_init_socket(h->loop, &c->poll, s) != 0) {
			free(c);
			return -1;   /* curl fails the transfer that owns the socket */
		}
		c->poll.data = c;
		c->next = h->socks;
		if (h->socks)
			h->socks->prev = c;
		h->socks = c;
		curl_multi_assign(h->multi, s, c);
	}
	if (uv_poll_start(&c->poll, events, poll_cb) != 0)
		return -1;
	return 0;
}

/* CURLMOPT_TIMERFUNCTION. A zero timeout still goes through the uv timer so that
 * curl_multi_socket_action never runs from inside a curl callback. */
static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct jp_http *h = userp;
	if (h->closing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, timer_cb, (uint64_t)timeout_ms, 0);
	return 0;
}

/* ---- completion ------------------------------------------------------------------ */

static void xfer_complete(struct jp_http_xfer *x, CURLcode code)
{
	struct jp_http *h = x->h;
	struct jp_http_response r;
	long status = 0;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(h->multi, x->easy);
	xfer_unlink(x);

	memset(&r, 0, sizeof(r));
	r.curl_code = (int)code;
	if (code != CURLE_OK)
		r.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(code);
	r.status = status;
	r.retry_after_ms = x->retry_after_ms;
	r.rw_samples_written = x->rw_samples_written;
	r.body = x->body.data;
	r.body_len = x->body.len;
	r.body_truncated = x->truncated || code == CURLE_FILESIZE_EXCEEDED;
	r.body_error = x->body_err;
	r.body_streamed = x->streamed;
	r.content_type = x->content_type;

	x->in_done = 1;
	if (x->done)
		x->done(x, &r, x->arg);
	xfer_free(x);
}

/* Deliver every finished transfer. A done callback may start transfers, cancel
 * others or close the client; the latter ends the drain. */
static void drain_done(struct jp_http *h)
{
	CURLMsg *m;
	int left;
	while (!h->closing && (m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct jp_http_xfer *x = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		CURLcode code = m->data.result;   /* m is invalid after remove_handle */
		if (x)
			xfer_complete(x, code);
	}
}

/* ---- per-transfer callbacks ---------------------------------------------------- */

/* Bytes of a streamed body handed over per turn of the loop. */
#define JP_HTTP_STREAM_TURN_BYTES (256u * 1024u)

/* An idle handle, not a 0 ms timer: a timer started from a timer callback runs in the
 * same pass of the loop's timer phase, and curl's own 0 ms timeout after the resume
 * would make the whole body one pass again. */
static void unpause_cb(uv_idle_t *t)
{
	struct jp_http *h = t->data;
	uv_idle_stop(t);
	for (struct jp_http_xfer *x = h->xfers; x && !h->closing;) {
		struct jp_http_xfer *next = x->next;
		if (x->paused) {
			x->paused = 0;
			x->turn_bytes = 0;
			/* May call write_cb at once with the piece it kept. */
			curl_easy_pause(x->easy, CURLPAUSE_CONT);
		}
		x = next;
	}
	if (!h->closing)
		drain_done(h);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct jp_http_xfer *x = userp;
	size_t n = size * nmemb;
	if (x->on_body) {
		long st = 0;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
		if (st >= 200 && st < 300) {
			if (x->streamed + n > x->max_body) {
				x->truncated = 1;
				return 0;
			}
			/* curl reads as long as the socket has data: a fast sender would keep
			 * the loop in here for a whole large body. Past a budget per turn, pause
			 * (curl keeps this piece and hands it over again) and resume from the
			 * loop's next turn, so other handles run in between. */
			if (x->turn_bytes >= JP_HTTP_STREAM_TURN_BYTES) {
				if (!x->paused) {
					x->paused = 1;
					uv_idle_start(&x->h->unpause, unpause_cb);
				}
				return CURL_WRITEFUNC_PAUSE;
			}
			x->turn_bytes += n;
			x->streamed += n;
			int r = x->on_body(ptr, n, x->body_arg);
			if (r < 0) {
				x->body_err = r;
				return 0;   /* aborts with CURLE_WRITE_ERROR */
			}
			return n;
		}
	}
	if (x->body.len + n > x->max_body) {
		/* Keep what fits so the caller can still show an excerpt. */
		size_t room = x->max_body - x->body.len;
		if (room && jp_buf_append(&x->body, ptr, room) != 0)
			return 0;
		x->truncated = 1;
		return 0;   /* aborts with CURLE_WRITE_ERROR */
	}
	if (jp_buf_append(&x->body, ptr, n) != 0)
		return 0;
	return n;
}

/* Parse a Retry-After value: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * Returns milliseconds from now (>= 0) or -1 if the value is not understood. */
int64_t jp_http_parse_retry_after(const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v >= '0' && *v <= '9') {
		char *end;
		errno = 0;
		unsigned long long secs = strtoull(v, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end != '\0')
			return -1;
		if (errno == ERANGE || secs > INT64_MAX / 1000)
			return INT64_MAX / 1000 * 1000;
		return (int64_t)secs * 1000;
	}
	/* curl_getdate knows the three HTTP date formats and does not block. */
	time_t t = curl_getdate(v, NULL);
	if (t == (time_t)-1)
		return -1;
	int64_t delta = (int64_t)t * 1000 - jp_now_wall_ms();
	return delta > 0 ? delta : 0;
}

int64_t jp_http_parse_count(const char *v)
{
	/* Digits only: strtoll would also take a sign, leading blanks and overflow. */
	if (!*v)
		return -1;
	int64_t c = 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (c > (INT64_MAX - (*p - '0')) / 10)
			return -1;
		c = c * 10 + (*p - '0');
	}
	return c;
}

static char *trimmed_dup(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	return strndup(p, n);
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userp)
{
	struct jp_http_xfer *x = userp;
	size_t n = size * nitems;

	/* A new status line (after a 100 Continue or an auth round) starts a new
	 * response: forget what the previous one said. */
	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		x->retry_after_ms = -1;
		x->rw_samples_written = -1;
		free(x->content_type);
		x->content_type = NULL;
		return n;
	}
	const char *colon = memchr(buf, ':', n);
	if (!colon)
		return n;
	size_t namelen = (size_t)(colon - buf);
	const char *val = colon + 1;
	size_t vallen = n - namelen - 1;

	if (namelen == 11 && strncasecmp(buf, "Retry-After", 11) == 0) {
		char *v = trimmed_dup(val, vallen);
		if (v) {
			x->retry_after_ms = jp_http_parse_retry_after(v);
			free(v);
		}
	} else if (namelen == 41 && strncasecmp(buf, "X-Prometheus-Remote-Write-Samples-Written", 41) == 0) {
		char *v = trimmed_dup(val, vallen);
		if (v) {
			x->rw_samples_written = jp_http_parse_count(v);
			free(v);
		}
	} else if (namelen == 12 && strncasecmp(buf, "Content-Type", 12) == 0) {
		free(x->content_type);
		x->content_type = trimmed_dup(val, vallen);
	}
	return n;
}

/* ---- public API ---------------------------------------------------------------- */

struct jp_http *jp_http_create(uv_loop_t *loop)
{
	static int global_ok;
	struct jp_http *h = NULL;

	if (!global_ok) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			errno = EIO;
			return NULL;
		}
		global_ok = 1;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->loop = loop;
	h->multi = curl_multi_init();
	if (!h->multi)
		goto fail_free;
	if (uv_timer_init(loop, &h->timer) != 0)
		goto fail_multi;
	h->timer.data = h;
	uv_idle_init(loop, &h->unpause);   /* cannot fail */
	h->unpause.data = h;
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;

fail_multi:
	curl_multi_cleanup(h->multi);
fail_free:
	free(h);
	errno = ENOMEM;
	return NULL;
}

#define SETOPT(opt, val)                                                 \
	do {                                                             \
		if (curl_easy_setopt(x->easy, opt, val) != CURLE_OK)      \
			goto fail;                                       \
	} while (0)

struct jp_http_xfer *jp_http_start(struct jp_http *h, const struct jp_http_request *req,
				   jp_http_done_cb done, void *arg)
{
	struct jp_http_xfer *x = NULL;
	int err = EINVAL;

	if (!h || h->closing || !req || !req->url || !req->method) {
		errno = EINVAL;
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		errno = ENOMEM;
		return NULL;
	}
	x->h = h;
	x->done = done;
	x->arg = arg;
	x->retry_after_ms = -1;
	x->rw_samples_written = -1;
	x->max_body = req->max_response_bytes ? req->max_response_bytes : JP_HTTP_DEFAULT_MAX_RESPONSE;
	x->on_body = req->on_body;
	x->body_arg = req->body_arg;
	x->easy = curl_easy_init();
	if (!x->easy) {
		err = ENOMEM;
		goto fail;
	}

	SETOPT(CURLOPT_PRIVATE, (void *)x);
	SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, (void *)x);
	SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(CURLOPT_HEADERDATA, (void *)x);
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_body);

	if (strcmp(req->method, "GET") == 0) {
		SETOPT(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(req->method, "POST") == 0) {
		SETOPT(CURLOPT_POST, 1L);
		/* No copy: the caller keeps the body alive until done or cancel. */
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		SETOPT(CURLOPT_POSTFIELDS, req->body ? req->body : "");
	} else {
		SETOPT(CURLOPT_CUSTOMREQUEST, req->method);
		if (req->body) {
			SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
			SETOPT(CURLOPT_POSTFIELDS, req->body);
		}
	}

	if (req->headers) {
		for (const char *const *p = req->headers; *p; p++) {
			/* A header is one line "Name: value": a line break would start another. */
			if (strpbrk(*p, "\r\n") || !strchr(*p, ':')) {
				err = EINVAL;
				goto fail;
			}
			struct curl_slist *n = curl_slist_append(x->headers, *p);
			if (!n) {
				err = ENOMEM;
				goto fail;
			}
			x->headers = n;
		}
	}
	/* Remote-write receivers do not expect "Expect: 100-continue"; without this
	 * curl would wait for a 100 on large bodies. */
	if (req->body) {
		struct curl_slist *n = curl_slist_append(x->headers, "Expect:");
		if (!n) {
			err = ENOMEM;
			goto fail;
		}
		x->headers = n;
	}
	if (x->headers)
		SETOPT(CURLOPT_HTTPHEADER, x->headers);

	uint64_t connect_ms = req->connect_timeout_ms;
	if (connect_ms == 0) {
		connect_ms = JP_HTTP_DEFAULT_CONNECT_MS;
		if (req->timeout_ms && req->timeout_ms < connect_ms)
			connect_ms = req->timeout_ms;
	}
	SETOPT(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
	if (req->accept_encoding)
		SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	if (req->user_agent)
		SETOPT(CURLOPT_USERAGENT, req->user_agent);
	if (req->username && req->username[0]) {
		SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SETOPT(CURLOPT_USERNAME, req->username);
		SETOPT(CURLOPT_PASSWORD, req->password ? req->password : "");
	}
	if (req->ca_file && req->ca_file[0])
		SETOPT(CURLOPT_CAINFO, req->ca_file);
	if (req->cert_file && req->cert_file[0])
		SETOPT(CURLOPT_SSLCERT, req->cert_file);
	if (req->key_file && req->key_file[0])
		SETOPT(CURLOPT_SSLKEY, req->key_file);
	if (req->insecure_skip_verify) {
		SETOPT(CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(CURLOPT_SSL_VERIFYHOST, 0L);
	}

	/* add_handle only arms curl's timer (through timer_fn); the transfer itself,
	 * and so the done callback, runs later from the loop. */
	if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
		err = ENOMEM;
		goto fail;
	}
	x->next = h->xfers;
	if (h->xfers)
		h->xfers->prev = x;
	h->xfers = x;
	h->nactive++;
	return x;

fail:
	xfer_free(x);
	errno = err;
	return NULL;
}

void jp_http_cancel(struct jp_http_xfer *x)
{
	if (!x || x->in_done)
		return;
	struct jp_http *h = x->h;
	curl_multi_remove_handle(h->multi, x->easy);
	xfer_unlink(x);
	xfer_free(x);
}

size_t jp_http_active(const struct jp_http *h)
{
	return h ? h->nactive : 0;
}

void jp_http_close(struct jp_http *h, void (*closed)(void *arg), void *arg)
{
	if (!h) {
		if (closed)
			closed(arg);
		return;
	}
	if (h->closing)
		return;
	h->closing = 1;
	h->closed = closed;
	h->closed_arg = arg;

	while (h->xfers) {
		struct jp_http_xfer *x = h->xfers;
		curl_multi_remove_handle(h->multi, x->easy);
		xfer_unlink(x);
		xfer_free(x);
	}
	/* Cleanup closes cached connections; curl reports them with CURL_POLL_REMOVE. */
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	while (h->socks)
		sock_close(h, h->socks);
	uv_timer_stop(&h->timer);
	uv_idle_stop(&h->unpause);
	h->pending_closes += 2;
	uv_close((uv_handle_t *)&h->timer, timer_closed_cb);
	uv_close((uv_handle_t *)&h->unpause, timer_closed_cb);
}
