/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal HTTP/1.1 server on the libuv loop for /healthz, /readyz, /metrics and the
 * routes of jp_server_ops.route. */
#include "server.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

#define MOD "server"

/* A request head larger than this gets 431 and the connection is closed: the
 * endpoints take no parameters, so a legitimate client never comes close. */
#define JP_SERVER_HEAD_MAX 8192
/* Each connection must deliver its request head within this time from accept, and
 * take its response within JP_SERVER_DEADLINE_MS from accept; neither is extended,
 * so slow clients (slowloris) cannot hold connections open. A kubelet probe sends
 * its request at once: 2 s is generous. */
#define JP_SERVER_HEAD_DEADLINE_MS 2000
#define JP_SERVER_DEADLINE_MS 10000
/* At this many connections a new one closes the oldest that has not sent a complete
 * request yet (or the oldest of all), so that idle connections opened by anyone who
 * can reach the port never starve the health probes. */
#define JP_SERVER_MAX_CONNS 64
/* Response bytes buffered for all connections together: a /metrics request beyond
 * this gets 503, so that many slow readers cannot make the agent hold many copies of
 * a large exposition. */
#define JP_SERVER_MAX_BUFFERED (32u << 20)

struct jp_server_conn {
	struct jp_server *srv;
	struct jp_server_conn *prev, *next;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t write_req;
	uv_shutdown_t shutdown_req;
	int open_handles; /* freed when both handles are closed */
	int responding;   /* stopped reading, a response is being written */
	int closing;
	uint64_t accepted_ms;      /* the loop time of accept */
	size_t head_len;
	struct jp_buf resp;        /* the status line and headers, or a short whole response */
	struct jp_buf body;        /* a large body, taken over from its builder, not copied */
	char head[JP_SERVER_HEAD_MAX];
};

struct jp_server {
	uv_loop_t *loop;
	uv_tcp_t *listener; /* on the heap so that a failed bind can be retried */
	struct jp_server_ops ops;
	struct jp_server_conn *conns;
	int nconns;
	int pending_closes; /* handles (listener, rejected sockets) whose close is pending */
	int closing;
	void (*closed)(void *arg);
	void *closed_arg;
	uint64_t head_deadline_ms, deadline_ms;
	int max_conns;
	size_t buffered;           /* response bytes held by all connections */
	struct jp_ratelimit rl_reject;
};

static void server_maybe_finish(struct jp_server *srv)
{
	if (!srv->closing || srv->pending_closes > 0 || srv->conns)
		return;
	void (*closed)(void *) = srv->closed;
	void *arg = srv->closed_arg;
	free(srv);
	if (closed)
		closed(arg);
}

/* --- connections ----------------------------------------------------------- */

static void conn_handle_closed_cb(uv_handle_t *h)
{
	struct jp_server_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	struct jp_server *srv = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	srv->buffered -= c->resp.len + c->body.len;
	jp_buf_free(&c->resp);
	jp_buf_free(&c->body);
	free(c);
	server_maybe_finish(srv);
}

static void conn_close(struct jp_server_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed_cb);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed_cb);
}

static void conn_timeout_cb(uv_timer_t *t)
{
	conn_close(t->data);
}

static void conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct jp_server_conn *c = h->data;
	/* Read straight into the head buffer: a full buffer without the end of
	 * the head is the "too large" case, so no second buffer is needed. */
	size_t room = sizeof(c->head) - c->head_len;
	buf->base = c->head + c->head_len;
	buf->len = room;
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
	conn_close(req->data);
}

static void conn_write_cb(uv_write_t *req, int status)
{
	struct jp_server_conn *c = req->data;
	if (status < 0 || c->closing) {
		conn_close(c);
		return;
	}
	/* Half-close first so the client sees the whole response before EOF
	 * rather than a reset; the deadline timer still bounds the wait. */
	c->shutdown_req.data = c;
	if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, conn_shutdown_cb) < 0)
		conn_close(c);
}

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* Queue the response (status line, headers, body unless HEAD) and close after it. With
 * take, the body's buffer is taken over (body is left empty) instead of copied: a
 * large exposition is then held once, not twice. */
static void conn_respond(struct jp_server_conn *c, int status, const char *content_type,
			 struct jp_buf *body, int take, int head_only, const char *extra_header)
{
	c->responding = 1;
	uv_read_stop((uv_stream_t *)&c->tcp);
	/* The head arrived: the rest of the overall deadline is for the response. */
	uint64_t spent = uv_now(c->srv->loop) - c->accepted_ms;
	uv_timer_start(&c->timer, conn_timeout_cb,
		       c->srv->deadline_ms > spent ? c->srv->deadline_ms - spent : 1, 0);
	size_t body_len = body ? body->len : 0;
	c->srv->buffered -= c->resp.len + c->body.len;
	jp_buf_reset(&c->resp);
	jp_buf_free(&c->body);
	int r = jp_buf_printf(&c->resp,
			      "HTTP/1.1 %d %s\r\n"
			      "Content-Type: %s\r\n"
			      "Content-Length: %zu\r\n"
			      "%s"
			      "Cache-Control: no-store\r\n"
			      "Connection: close\r\n"
			      "\r\n",
			      status, status_text(status), content_type, body_len,
			      extra_header ? extra_header : "");
	if (!r && body_len && !head_only) {
		if (take) {
			c->body = *body;
			*body = (struct jp_buf){0};
		} else {
			r = jp_buf_append(&c->resp, body->data, body_len);
		}
	}
	if (r) {
		conn_close(c);
		return;
	}
	c->srv->buffered += c->resp.len + c->body.len;
	uv_buf_t b[2] = {uv_buf_init((char *)c->resp.data, (unsigned int)c->resp.len),
			 uv_buf_init((char *)c->body.data, (unsigned int)c->body.len)};
	c->write_req.data = c;
	if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, b, c->body.len ? 2 : 1, conn_write_cb) < 0)
		conn_close(c);
}

static void conn_respond_text(struct jp_server_conn *c, int status, const char *text,
			      int head_only, const char *extra_header)
{
	struct jp_buf body = {(uint8_t *)text, strlen(text), strlen(text)};
	conn_respond(c, status, "text/plain; charset=utf-8", &body, 0, head_only, extra_header);
}

/* Find the end of the request head: an empty line, CRLF or (leniently) bare LF.
 * Only bytes from `from` on are new, so a client that sends one byte at a time
 * costs linear, not quadratic, work. */
static int head_complete(const char *p, size_t n, size_t from)
{
	for (size_t i = from > 3 ? from - 3 : 0; i + 1 < n; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return 1;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return 1;
	}
	return 0;
}

int jp_server_parse_request(char *head, size_t len, struct jp_server_request *out)
{
	memset(out, 0, sizeof(*out));
	/* Request line: METHOD SP request-target SP HTTP-version (RFC 9112 §3). */
	char *line = head;
	char *eol = memchr(line, '\n', len);
	if (!eol)
		return 400;
	if (memchr(line, '\0', (size_t)(eol - line)))
		return 400;   /* a NUL inside the request line */
	*eol = '\0';
	if (eol > line && eol[-1] == '\r')
		eol[-1] = '\0';
	char *method = line;
	char *sp1 = strchr(method, ' ');
	char *target = sp1 ? sp1 + 1 : NULL;
	char *sp2 = target ? strchr(target, ' ') : NULL;
	if (!sp1 || !sp2 || sp1 == method || sp2 == target || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return 400;
	*sp1 = '\0';
	*sp2 = '\0';
	out->head_only = strcmp(method, "HEAD") == 0;
	out->method = method;
	if (!out->head_only && strcmp(method, "GET") != 0)
		return 405;
	/* The query string goes to the routes that take one; a fragment is dropped. */
	target[strcspn(target, "#")] = '\0';
	char *q = strchr(target, '?');
	out->query = "";
	if (q) {
		*q = '\0';
		out->query = q + 1;
	}
	out->target = target;
	return 0;
}

static void conn_handle_request(struct jp_server_conn *c)
{
	struct jp_server *srv = c->srv;
	struct jp_server_request req;
	int st = jp_server_parse_request(c->head, c->head_len, &req);
	if (st == 405) {
		conn_respond_text(c, 405, "method not allowed\n", 0, "Allow: GET, HEAD\r\n");
		return;
	}
	if (st) {
		conn_respond_text(c, 400, "bad request\n", 0, NULL);
		return;
	}
	const char *target = req.target;
	int head_only = req.head_only;

	if (strcmp(target, "/healthz") == 0) {
		conn_respond_text(c, 200, "ok\n", head_only, NULL);
	} else if (strcmp(target, "/readyz") == 0) {
		int ready = srv->ops.ready ? srv->ops.ready(srv->ops.arg) : 1;
		if (ready)
			conn_respond_text(c, 200, "ready\n", head_only, NULL);
		else
			conn_respond_text(c, 503, "not ready\n", head_only, NULL);
	} else if (strcmp(target, "/metrics") == 0) {
		struct jp_buf body = {0};
		int r = srv->ops.metrics ? srv->ops.metrics(&body, srv->ops.arg) : 0;
		if (r < 0)
			conn_respond_text(c, 500, "metrics unavailable\n", head_only, NULL);
		else if (srv->buffered + body.len > JP_SERVER_MAX_BUFFERED)
			conn_respond_text(c, 503, "busy: too many responses in flight\n", head_only,
					  "Retry-After: 1\r\n");
		else
			conn_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", &body, 1,
				     head_only, NULL);
		jp_buf_free(&body);
	} else {
		struct jp_buf body = {0};
		const char *ctype = "application/json";
		int status = srv->ops.route ? srv->ops.route(target, req.query, &body, &ctype, srv->ops.arg) : 0;
		if (status == 0)
			conn_respond_text(c, 404, "not found\n", head_only, NULL);
		else if (srv->buffered + body.len > JP_SERVER_MAX_BUFFERED)
			conn_respond_text(c, 503, "busy: too many responses in flight\n", head_only,
					  "Retry-After: 1\r\n");
		else
			conn_respond(c, status, ctype, &body, 1, head_only, NULL);
		jp_buf_free(&body);
	}
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct jp_server_conn *c = s->data;
	if (c->closing || c->responding)
		return;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	size_t from = c->head_len;
	c->head_len += (size_t)nread;
	if (head_complete(c->head, c->head_len, from)) {
		conn_handle_request(c);
		return;
	}
	if (c->head_len >= sizeof(c->head))
		conn_respond_text(c, 431, "request header too large\n", 0, NULL);
}

static void reject_closed_cb(uv_handle_t *h)
{
	struct jp_server *srv = h->data;
	free(h);
	srv->pending_closes--;
	server_maybe_finish(srv);
}

/* Over the connection cap: accept (libuv stops watching the listener until
 * pending connections are accepted) and close at once. */
static void server_reject(struct jp_server *srv)
{
	uv_tcp_t *t = malloc(sizeof(*t));
	if (!t || uv_tcp_init(srv->loop, t) < 0) {
		free(t);
		return;
	}
	t->data = srv;
	uv_accept((uv_stream_t *)srv->listener, (uv_stream_t *)t);
	srv->pending_closes++;
	uv_close((uv_handle_t *)t, reject_closed_cb);
	jp_log_rl(&srv->rl_reject, JP_LOG_WARN, MOD,
		  "too many connections (%d): refusing new ones", srv->max_conns);
}

/* At the cap: close the oldest connection that is still waiting for its request
 * head (idle or slow), or else the oldest of all. Returns 0 if one was closed. */
static int server_evict(struct jp_server *srv)
{
	struct jp_server_conn *idle = NULL, *any = NULL;
	for (struct jp_server_conn *c = srv->conns; c; c = c->next) {
		if (c->closing)
			continue;
		if (!any || c->accepted_ms <= any->accepted_ms)
			any = c;
		if (!c->responding && (!idle || c->accepted_ms <= idle->accepted_ms))
			idle = c;
	}
	struct jp_server_conn *victim = idle ? idle : any;
	if (!victim)
		return -1;
	jp_log_rl(&srv->rl_reject, JP_LOG_WARN, MOD,
		  "%d connections open: closing the oldest %s one to serve a new one",
		  srv->max_conns, victim == idle ? "idle" : "busy");
	conn_close(victim);
	return 0;
}

static void server_connection_cb(uv_stream_t *listener, int status)
{
	struct jp_server *srv = listener->data;
	if (status < 0 || srv->closing)
		return;
	/* Connections being closed still count until their handles are gone, so the
	 * count of live ones decides. */
	int live = 0;
	for (struct jp_server_conn *c = srv->conns; c; c = c->next)
		live += !c->closing;
	if (live >= srv->max_conns && server_evict(srv) < 0) {
		server_reject(srv);
		return;
	}
	struct jp_server_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		server_reject(srv);
		return;
	}
	c->srv = srv;
	if (uv_tcp_init(srv->loop, &c->tcp) < 0) {
		free(c);
		server_reject(srv);
		return;
	}
	uv_timer_init(srv->loop, &c->timer); /* cannot fail */
	c->tcp.data = c;
	c->timer.data = c;
	c->open_handles = 2;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb) < 0) {
		conn_close(c);
		return;
	}
	c->accepted_ms = uv_now(srv->loop);
	uv_timer_start(&c->timer, conn_timeout_cb,
		       srv->head_deadline_ms < srv->deadline_ms ? srv->head_deadline_ms : srv->deadline_ms, 0);
}

/* --- listen address -------------------------------------------------------- */

/* Parse "host:port", "[v6]:port" or ":port" into addr. The host must be a
 * numeric address or "localhost": resolving names would block the loop. */
static int parse_listen(const char *listen, struct sockaddr_storage *addr, int *any,
			int *port_out, const char **err)
{
	char host[64];
	const char *port_s;
	int bracketed = listen && listen[0] == '[';
	*any = 0;
	if (!listen || !*listen) {
		*err = "empty listen address";
		return -EINVAL;
	}
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':') {
			*err = "expected [address]:port";
			return -EINVAL;
		}
		size_t n = (size_t)(close - listen - 1);
		if (n == 0 || n >= sizeof(host)) {
			*err = "bad IPv6 address";
			return -EINVAL;
		}
		memcpy(host, listen + 1, n);
		host[n] = '\0';
		port_s = close + 2;
	} else {
		const char *colon = strrchr(listen, ':');
		if (!colon) {
			*err = "expected host:port";
			return -EINVAL;
		}
		if (memchr(listen, ':', (size_t)(colon - listen))) {
			*err = "an IPv6 address must be in brackets: [address]:port";
			return -EINVAL;
		}
		size_t n = (size_t)(colon - listen);
		if (n >= sizeof(host)) {
			*err = "host too long";
			return -EINVAL;
		}
		memcpy(host, listen, n);
		host[n] = '\0';
		port_s = colon + 1;
	}
	if (!*port_s || strlen(port_s) > 5 || strspn(port_s, "0123456789") != strlen(port_s)) {
		*err = "bad port";
		return -EINVAL;
	}
	long port = strtol(port_s, NULL, 10);
	if (port > 65535) {
		*err = "port out of range";
		return -EINVAL;
	}
	*port_out = (int)port;
	if (!*host) {
		*any = 1;
		strcpy(host, "::");
	} else if (strcasecmp(host, "localhost") == 0) {
		strcpy(host, "127.0.0.1");
	}
	if (!bracketed && uv_ip4_addr(host, (int)port, (struct sockaddr_in *)addr) == 0)
		return 0;
	if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)addr) == 0)
		return 0;
	*err = "host is not a numeric IP address";
	return -EINVAL;
}

/* --- public API -------------------------------------------------------------- */

static void listener_closed_cb(uv_handle_t *h)
{
	struct jp_server *srv = h->data;
	free(h);
	srv->pending_closes--;
	server_maybe_finish(srv);
}

/* Close a listener handle; the server stays alive until its close callback ran. */
static void listener_close(struct jp_server *srv, uv_tcp_t *l)
{
	srv->pending_closes++;
	uv_close((uv_handle_t *)l, listener_closed_cb);
}

static int listener_open(struct jp_server *srv, const struct sockaddr *addr, uv_tcp_t **out)
{
	uv_tcp_t *l = malloc(sizeof(*l));
	if (!l)
		return UV_ENOMEM;
	int r = uv_tcp_init(srv->loop, l);
	if (r < 0) {
		free(l);
		return r;
	}
	l->data = srv;
	r = uv_tcp_bind(l, addr, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)l, 128, server_connection_cb);
	if (r < 0) {
		listener_close(srv, l);
		return r;
	}
	*out = l;
	return 0;
}

/* The reason into the caller's buffer (HACKING.md "Errors"); returns NULL. */
static struct jp_server *fail_why(char *why, size_t whylen, const char *reason)
{
	jp_why(why, whylen, "%s", reason ? reason : strerror(errno));
	return NULL;
}

struct jp_server *jp_server_create(uv_loop_t *loop, const char *listen,
				   const struct jp_server_ops *ops, char *why, size_t whylen)
{
	const char *reason = NULL;
	if (why && whylen)
		why[0] = '\0';
	struct sockaddr_storage addr;
	int any, port;
	int r = parse_listen(listen, &addr, &any, &port, &reason);
	if (r < 0) {
		errno = -r;
		return fail_why(why, whylen, reason);
	}
	struct jp_server *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		reason = "out of memory";
		errno = ENOMEM;
		return fail_why(why, whylen, reason);
	}
	srv->loop = loop;
	if (ops)
		srv->ops = *ops;
	srv->rl_reject.interval_ms = 60000;
	srv->deadline_ms = JP_SERVER_DEADLINE_MS;
	srv->head_deadline_ms = JP_SERVER_HEAD_DEADLINE_MS;
	srv->max_conns = JP_SERVER_MAX_CONNS;
	r = listener_open(srv, (struct sockaddr *)&addr, &srv->listener);
	if (r < 0 && any) {
		/* ":port" on a host without IPv6: every IPv4 address instead. */
		struct sockaddr_in v4;
		uv_ip4_addr("0.0.0.0", port, &v4);
		r = listener_open(srv, (struct sockaddr *)&v4, &srv->listener);
	}
	if (r < 0) {
		reason = r == UV_EADDRINUSE ? "address already in use" :
		       r == UV_EADDRNOTAVAIL ? "address not available on this host" :
		       r == UV_EACCES ? "permission denied" : "cannot listen";
		/* Failed listeners close on the loop; the server is freed when their
		 * close callbacks have run, and nobody needs to be told. */
		srv->closing = 1;
		server_maybe_finish(srv);
		errno = -r;
		return fail_why(why, whylen, reason);
	}
	return srv;
}

int jp_server_port(const struct jp_server *srv)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	if (!srv)
		return -EINVAL;
	int r = uv_tcp_getsockname(srv->listener, (struct sockaddr *)&ss, &len);
	if (r < 0)
		return r;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

void jp_server_set_limits(struct jp_server *srv, uint64_t head_deadline_ms, uint64_t deadline_ms,
			  int max_conns)
{
	if (head_deadline_ms)
		srv->head_deadline_ms = head_deadline_ms;
	if (deadline_ms)
		srv->deadline_ms = deadline_ms;
	if (max_conns > 0)
		srv->max_conns = max_conns;
}

void jp_server_close(struct jp_server *srv, void (*closed)(void *arg), void *arg)
{
	if (!srv) {
		if (closed)
			closed(arg);
		return;
	}
	if (srv->closing)
		return;
	srv->closing = 1;
	srv->closed = closed;
	srv->closed_arg = arg;
	if (srv->listener)
		listener_close(srv, srv->listener);
	srv->listener = NULL;
	for (struct jp_server_conn *c = srv->conns; c; c = c->next)
		conn_close(c);
}
