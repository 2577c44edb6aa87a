/* SPDX-License-Identifier: Apache-2.0 */
/* The local HTTP server on the libuv loop: /healthz, /readyz, /metrics, and the routes the
 * agent adds (the forecast's JSON). */
#ifndef JP_SERVER_H
#define JP_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "util/buf.h"

struct jp_server;

struct jp_server_ops {
	/* Append the /metrics exposition to out; return 0 or a negative errno (500). */
	int (*metrics)(struct jp_buf *out, void *arg);
	/* Non-zero once the agent is ready (first collection succeeded). */
	int (*ready)(void *arg);
	/* Any other GET: append the body for path (query: the raw query string, "" when
	 * none) to out, set *content_type, and return the HTTP status; 0 for a path it does
	 * not serve (404). May be NULL. */
	int (*route)(const char *path, const char *query, struct jp_buf *out, const char **content_type, void *arg);
	void *arg;
};

/* Listen on "host:port" ("127.0.0.1:9465", "[::1]:9465", ":9465" for every address).
 * Returns NULL with errno set and a one-line reason in why[0..whylen) (may be NULL). */
struct jp_server *jp_server_create(uv_loop_t *loop, const char *listen,
				   const struct jp_server_ops *ops, char *why, size_t whylen);

/* The local port the server listens on (useful after listening on port 0), or a
 * negative errno. */
int jp_server_port(const struct jp_server *srv);

/* Override the per-connection deadlines (default 2 s from accept to the end of the
 * request head, 10 s from accept to the end of the response) and the number of
 * connections at which a new one closes the oldest idle one (default 64); zero keeps
 * the default. Applies to connections accepted afterwards. */
void jp_server_set_limits(struct jp_server *srv, uint64_t head_deadline_ms, uint64_t deadline_ms,
			  int max_conns);

/* A parsed request line. Pointers into the head passed to jp_server_parse_request. */
struct jp_server_request {
	const char *method;
	const char *target;    /* without a query string or fragment */
	const char *query;     /* the query string without '?', "" when none */
	int head_only;         /* HEAD */
};

/* Parse the request line of a complete request head (head[0..len), modified in place).
 * Returns 0, 400 for a malformed line, or 405 for a method other than GET and HEAD.
 * Exposed for the fuzz target. */
int jp_server_parse_request(char *head, size_t len, struct jp_server_request *out);

/* Close the listener and every connection, free the server, then call closed(arg).
 * Accepts NULL. */
void jp_server_close(struct jp_server *srv, void (*closed)(void *arg), void *arg);

#endif
