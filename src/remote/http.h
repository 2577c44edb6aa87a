/* SPDX-License-Identifier: Apache-2.0 */
/* An HTTP client: libcurl's multi interface driven by the libuv loop (one uv_timer_t
 * for curl's timer, one uv_poll_t per socket). Shared by the remote-write senders,
 * the kubelet client and the carbon sources. */
#ifndef JP_REMOTE_HTTP_H
#define JP_REMOTE_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/buf.h"

struct jp_http;
struct jp_http_xfer;

/* What to send. Everything the request points to must stay valid until the done
 * callback runs or the transfer is cancelled. */
struct jp_http_request {
	const char *method;            /* "GET" or "POST" */
	const char *url;
	const char *const *headers;    /* "Name: value" strings, NULL-terminated, or NULL; one with
	                                  a CR or LF, or without ':', is refused (EINVAL) */
	const void *body;
	size_t body_len;
	uint64_t timeout_ms;           /* whole transfer; 0: none */
	uint64_t connect_timeout_ms;   /* 0: min(timeout, 10 s) */
	const char *user_agent;
	const char *username, *password;   /* basic auth, or NULL */
	const char *ca_file, *cert_file, *key_file;
	int insecure_skip_verify;
	size_t max_response_bytes;     /* larger bodies abort the transfer; 0: 1 MiB */
	int accept_encoding;           /* ask for a compressed answer (any encoding libcurl reads) */
	/* Optional: a 2xx body is handed to on_body(data, len, body_arg) as it arrives and
	 * not buffered, so that a large answer costs no more memory than its consumer keeps.
	 * Return 0 to go on, or a negative errno to abort the transfer (the response then
	 * has curl_code != 0 and body_error set). Other statuses are buffered as usual, up
	 * to max_response_bytes, for an excerpt; max_response_bytes caps the stream too. */
	int (*on_body)(const void *data, size_t len, void *arg);
	void *body_arg;
};

struct jp_http_response {
	int curl_code;                 /* CURLE_OK (0) when a response arrived */
	const char *error;             /* curl's error text when curl_code != 0 */
	long status;                   /* HTTP status, 0 when none */
	int64_t retry_after_ms;        /* from a Retry-After header (seconds or HTTP date); -1 if none */
	int64_t rw_samples_written;    /* X-Prometheus-Remote-Write-Samples-Written, -1 if absent
	                                  (remote write 2.0 receivers send it on success) */
	const uint8_t *body;           /* the response body (not NUL-terminated), valid during the callback */
	size_t body_len;
	int body_truncated;            /* max_response_bytes was exceeded */
	int body_error;                /* on_body's negative errno that aborted the transfer, or 0 */
	size_t body_streamed;          /* bytes handed to on_body */
	const char *content_type;      /* or NULL */
};

typedef void (*jp_http_done_cb)(struct jp_http_xfer *x, const struct jp_http_response *resp, void *arg);

/* A Retry-After value (delta-seconds or an HTTP-date, RFC 9110 §10.2.3) in milliseconds
 * from now (>= 0), or -1 if it is not understood. Exposed for the fuzz target. */
int64_t jp_http_parse_retry_after(const char *v);

/* A non-negative decimal count (X-Prometheus-Remote-Write-*-Written), or -1. */
int64_t jp_http_parse_count(const char *v);

/* Create a client on loop. Returns NULL with errno set. */
struct jp_http *jp_http_create(uv_loop_t *loop);

/* Start a transfer; done runs exactly once, from the loop, unless the transfer is
 * cancelled first. Returns NULL with errno set if it could not start. */
struct jp_http_xfer *jp_http_start(struct jp_http *h, const struct jp_http_request *req,
				   jp_http_done_cb done, void *arg);

/* Abort a running transfer; its done callback will not run. */
void jp_http_cancel(struct jp_http_xfer *x);

/* Number of transfers in flight. */
size_t jp_http_active(const struct jp_http *h);

/* Abort every transfer (their callbacks do not run), close all handles and free the
 * client; closed(arg) runs from the loop once every handle is closed. */
void jp_http_close(struct jp_http *h, void (*closed)(void *arg), void *arg);

#endif
