/* SPDX-License-Identifier: Apache-2.0 */
/* The blocking HTTP request (remote/http_sync.h): the loop client on a loop of its own. */
#include "remote/http_sync.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

struct run {
	struct jp_http_reply *out;
	int done, rc;
	char *why;
	size_t whylen;
	const char *url;
};

static void done_cb(struct jp_http_xfer *x, const struct jp_http_response *r, void *arg)
{
	(void)x;
	struct run *run = arg;
	run->done = 1;
	if (r->curl_code != 0) {
		run->rc = r->body_truncated ? -EFBIG : r->curl_code == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
		if (r->body_truncated)
			snprintf(run->why, run->whylen, "%s: the answer is over the size limit", run->url);
		else
			snprintf(run->why, run->whylen, "%s: %s", run->url, r->error ? r->error : "transfer failed");
		return;
	}
	run->out->status = r->status;
	run->out->retry_after_ms = r->retry_after_ms;
	snprintf(run->out->content_type, sizeof(run->out->content_type), "%s", r->content_type ? r->content_type : "");
	if (r->body_len && jp_buf_append(&run->out->body, r->body, r->body_len)) {
		run->rc = -ENOMEM;
		snprintf(run->why, run->whylen, "out of memory");
	}
}

static void closed_cb(void *arg) { *(int *)arg = 1; }

int jp_http_run(const struct jp_http_request *req, const char *log_url, struct jp_http_reply *out, char *why,
		size_t whylen)
{
	uv_loop_t loop;
	struct run run = {.out = out, .why = why, .whylen = whylen, .url = log_url ? log_url : req->url};
	memset(out, 0, sizeof(*out));
	out->retry_after_ms = -1;
	if (req->on_body || uv_loop_init(&loop) != 0) {
		snprintf(why, whylen, "%s: cannot start the request", run.url);
		return -EINVAL;
	}
	struct jp_http *h = jp_http_create(&loop);
	if (!h) {
		snprintf(why, whylen, "cannot start the HTTP client: %s", strerror(errno));
		uv_loop_close(&loop);
		return -EIO;
	}
	if (!jp_http_start(h, req, done_cb, &run)) {
		run.rc = errno == EINVAL ? -EINVAL : -EIO;
		snprintf(why, whylen, "%s: cannot start the request: %s", run.url, strerror(errno));
		run.done = 1;
	}
	while (!run.done && uv_run(&loop, UV_RUN_ONCE))
		;
	int closed = 0;
	jp_http_close(h, closed_cb, &closed);
	while (!closed && uv_run(&loop, UV_RUN_ONCE))
		;
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_loop_close(&loop);
	if (!run.done && !run.rc) {
		run.rc = -EIO;
		snprintf(why, whylen, "%s: no answer", run.url);
	}
	if (run.rc)
		jp_buf_free(&out->body);
	return run.rc;
}
