/* SPDX-License-Identifier: Apache-2.0 */
/* The blocking form of the HTTP client, for the commands that run without an agent
 * (joulepush when, top, report, --probe): one request run to its end on a private loop
 * through remote/http.c, so that TLS, authentication, size caps and header checks are the
 * agent's own. */
#ifndef JP_REMOTE_HTTP_SYNC_H
#define JP_REMOTE_HTTP_SYNC_H

#include <stdint.h>

#include "remote/http.h"
#include "util/buf.h"

struct jp_http_reply {
	long status;                 /* the HTTP status */
	struct jp_buf body;          /* the body (capped at req->max_response_bytes); free with jp_buf_free */
	int64_t retry_after_ms;      /* -1 if none */
	char content_type[128];      /* "" if none */
};

/* Run req (its on_body must be NULL) and wait for the answer. Returns 0 with *out filled
 * for any HTTP status; or -ETIMEDOUT, -EFBIG (an answer over max_response_bytes), -EINVAL
 * (a bad request: URL, header) or -EIO with why "URL: curl's reason". The URL goes into
 * why as given: a caller with a secret in it passes a redacted copy in log_url (or NULL to
 * use req->url). */
int jp_http_run(const struct jp_http_request *req, const char *log_url, struct jp_http_reply *out, char *why,
		size_t whylen);

#endif
