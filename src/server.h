/* SPDX-License-Identifier: Apache-2.0 */
/* The local HTTP server on the libuv loop: /healthz, /readyz and /metrics. */
#ifndef JP_SERVER_H
#define JP_SERVER_H

#include <uv.h>

#include "util/buf.h"

struct jp_server;

struct jp_server_ops {
	/* Append the /metrics exposition to out; return 0 or a negative errno (500). */
	int (*metrics)(struct jp_buf *out, void *arg);
	/* Non-zero once the agent is ready (first collection succeeded). */
	int (*ready)(void *arg);
	void *arg;
};

/* Listen on "host:port" ("127.0.0.1:9465", "[::1]:9465", ":9465" for every address).
 * Returns NULL with errno set and *err pointing to a static reason. */
struct jp_server *jp_server_create(uv_loop_t *loop, const char *listen,
				   const struct jp_server_ops *ops, const char **err);

/* Close the listener and every connection, free the server, then call closed(arg).
 * Accepts NULL. */
void jp_server_close(struct jp_server *srv, void (*closed)(void *arg), void *arg);

#endif
