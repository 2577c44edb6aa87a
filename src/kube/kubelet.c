/* SPDX-License-Identifier: Apache-2.0 */
/* Polls the kubelet's /pods over the shared libcurl-on-libuv client and keeps the last good pod table. */
#include "kube/kubelet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/podlist.h"
#include "util/closer.h"
#include "util/log.h"
#include "util/secret.h"

#define MOD "kubelet"
/* A service-account token is a JWT of about 1 KiB; anything much larger is not one. */
#define MAX_TOKEN_BYTES (16 * 1024)
#define BEARER "Authorization: Bearer "
/* Parsing longer than this is worth a line (it is CPU the agent spends every refresh). */
#define SLOW_PARSE_MS 200.0

struct jp_kubelet {
	uv_loop_t *loop;
	struct jp_http *http;
	char *url;                   /* <kubelet_url>/pods */
	char *token_file;            /* NULL: no Authorization header */
	char *ca_file;
	int insecure;
	uint64_t refresh_ms, min_gap_ms, timeout_ms;
	size_t max_body;

	char *auth;                  /* "Authorization: Bearer <token>", or NULL */
	const char *headers[3];      /* auth (optional), Accept, NULL: alive while in flight */
	struct jp_http_xfer *xfer;
	uint64_t last_start_ms;
	int started;                 /* a refresh has started at least once */
	int extra_pending;

	/* The answer is parsed as it arrives, in the pieces curl hands over (a few KiB each),
	 * so that neither the loop nor memory ever holds the whole body. */
	struct jp_podlist_parser *parser;
	size_t body_len;
	uint64_t parse_ns, parse_max_step_ns;
	uint64_t pieces;
	size_t max_piece;

	uv_timer_t refresh_timer, extra_timer;
	struct jp_closer closer;          /* util/closer.h */

	struct jp_podlist *pods;     /* the last good table, or NULL */
	struct jp_kubelet_stats stats;

	struct jp_ratelimit rl_fail, rl_token, rl_problem;
};

static void wipe_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* Read the token file into a ready header line. Returns 0 or a negative errno; the
 * token itself never appears in a message. */
static int read_token(const char *path, char **header)
{
	char *tok = jp_secret_read(path);   /* never blocks on a FIFO; refuses a NUL */
	if (!tok)
		return -errno;
	size_t len = strlen(tok);
	int err = 0;
	if (len == 0 || len > MAX_TOKEN_BYTES) {
		err = len ? -EFBIG : -ENODATA;
		goto out;
	}
	/* Bearer tokens are visible ASCII (RFC 6750 b64token); anything else could split the
	 * header line. */
	for (size_t i = 0; i < len; i++) {
		if (tok[i] < 0x21 || tok[i] > 0x7e) {
			err = -EINVAL;
			goto out;
		}
	}
	char *h = malloc(sizeof(BEARER) + len);
	if (!h) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(h, BEARER, sizeof(BEARER) - 1);
	memcpy(h + sizeof(BEARER) - 1, tok, len);
	h[sizeof(BEARER) - 1 + len] = '\0';
	*header = h;
out:
	jp_secret_free(tok);
	return err;
}

static const char *token_error(int err)
{
	switch (err) {
	case -ENODATA: return "empty";
	case -EFBIG: return "larger than 16 KiB";
	case -EINVAL: return "holds characters a bearer token cannot have";
	default: return strerror(-err);
	}
}

/* A body excerpt safe for one log line. */
static void excerpt(const uint8_t *body, size_t len, char *out, size_t outlen)
{
	size_t n = len < outlen - 1 ? len : outlen - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = body[i] >= 0x20 && body[i] < 0x7f ? (char)body[i] : '.';
	out[n] = '\0';
}

static void parse_end(struct jp_kubelet *k)
{
	jp_podlist_parser_destroy(k->parser);
	k->parser = NULL;
	k->stats.in_flight = 0;
}

static void install(struct jp_kubelet *k)
{
	struct jp_podlist_report rep;
	uint64_t t0 = uv_hrtime();
	int w = jp_podlist_parser_work(k->parser, SIZE_MAX);
	k->parse_ns += uv_hrtime() - t0;
	(void)w;
	struct jp_podlist *pl = jp_podlist_parser_finish(k->parser, &rep);
	int e = errno;
	double ms = (double)k->parse_ns / 1e6;
	size_t len = k->body_len;
	k->stats.last_parse_ms = ms;
	k->stats.last_parse_max_step_ms = (double)k->parse_max_step_ns / 1e6;
	k->stats.last_parse_pieces = k->pieces;
	k->stats.last_parse_max_piece_bytes = k->max_piece;
	parse_end(k);
	if (ms > SLOW_PARSE_MS)
		jp_info(MOD, "parsing %zu bytes of /pods took %.0f ms in pieces of at most %.1f ms", len, ms,
			k->stats.last_parse_max_step_ms);
	if (!pl) {
		k->stats.refreshes_failed++;
		if (e == ENOMEM)
			jp_log_rl(&k->rl_fail, JP_LOG_WARN, MOD, "%s: out of memory parsing %zu bytes; keeping the last pod list",
				  k->url, len);
		else
			jp_log_rl(&k->rl_fail, JP_LOG_WARN, MOD, "%s: %s; keeping the last pod list", k->url, rep.first);
		return;
	}
	if (rep.skipped_pods || rep.skipped_fields)
		jp_log_rl(&k->rl_problem, JP_LOG_WARN, MOD, "%s: skipped %u pods and %u fields, first: %s",
			  k->url, rep.skipped_pods, rep.skipped_fields, rep.first);
	/* The collector holds no pointer into the old table past its own callback (see
	 * jp_kubelet_lookup), so it can go now. */
	jp_podlist_destroy(k->pods);
	k->pods = pl;
	k->stats.refreshes_ok++;
	k->stats.pods = jp_podlist_count(pl);
	k->stats.last_success_wall_ms = jp_now_wall_ms();
	jp_debug(MOD, "%zu pods from %s (%.1f ms to parse %zu bytes)", k->stats.pods, k->url, ms, len);
}

/* A piece of a 200 answer: straight into the parser. */
static int body_cb(const void *data, size_t len, void *arg)
{
	struct jp_kubelet *k = arg;
	if (!k->parser)
		return -ECANCELED;
	uint64_t t0 = uv_hrtime();
	int r = jp_podlist_parser_feed(k->parser, data, len);
	uint64_t d = uv_hrtime() - t0;
	k->parse_ns += d;
	if (d > k->parse_max_step_ns)
		k->parse_max_step_ns = d;
	k->body_len += len;
	k->pieces++;
	if (len > k->max_piece)
		k->max_piece = len;
	return r < 0 ? r : 0;
}

static void done_cb(struct jp_http_xfer *x, const struct jp_http_response *resp, void *arg)
{
	struct jp_kubelet *k = arg;
	(void)x;
	k->xfer = NULL;
	k->stats.in_flight = 0;
	if (resp->body_truncated) {
		k->stats.refreshes_failed++;
		jp_log_rl(&k->rl_fail, JP_LOG_WARN, MOD, "%s: response refused: larger than %zu bytes "
			  "(kubernetes.max_response_bytes); keeping the last pod list", k->url, k->max_body);
		parse_end(k);
	} else if (resp->body_error) {
		/* The parser refused the document part way: install() logs why. */
		install(k);
	} else if (resp->curl_code != 0) {
		k->stats.refreshes_failed++;
		jp_log_rl(&k->rl_fail, JP_LOG_WARN, MOD, "%s: %s; keeping the last pod list", k->url,
			  resp->error ? resp->error : "transfer failed");
		parse_end(k);
	} else if (resp->status != 200) {
		char ex[129];
		excerpt(resp->body, resp->body_len, ex, sizeof(ex));
		k->stats.refreshes_failed++;
		jp_log_rl(&k->rl_fail, JP_LOG_WARN, MOD, "%s: HTTP %ld: %s; keeping the last pod list", k->url,
			  resp->status, ex);
		parse_end(k);
	} else {
		install(k);
	}
}

static int refresh_start(struct jp_kubelet *k)
{
	if (k->closer.closing)
		return -ECANCELED;
	if (k->xfer || k->parser)
		return -EBUSY;
	if (k->token_file) {
		char *h = NULL;
		int r = read_token(k->token_file, &h);
		if (r == 0) {
			wipe_free(k->auth);
			k->auth = h;
		} else {
			jp_log_rl(&k->rl_token, JP_LOG_WARN, MOD, "token file %s: %s; using the previous token",
				  k->token_file, token_error(r));
		}
	}
	size_t i = 0;
	if (k->auth)
		k->headers[i++] = k->auth;
	k->headers[i++] = "Accept: application/json";
	k->headers[i] = NULL;

	k->parser = jp_podlist_parser_create();
	if (!k->parser) {
		k->stats.refreshes_failed++;
		jp_log_rl(&k->rl_fail, JP_LOG_WARN, MOD, "%s: out of memory; keeping the last pod list", k->url);
		return -ENOMEM;
	}
	k->body_len = 0;
	k->parse_ns = 0;
	k->parse_max_step_ns = 0;
	k->pieces = 0;
	k->max_piece = 0;
	struct jp_http_request req = {
		.method = "GET",
		.url = k->url,
		.headers = k->headers,
		.timeout_ms = k->timeout_ms,
		.user_agent = "joulepush/" JP_VERSION,
		.ca_file = k->ca_file,
		.insecure_skip_verify = k->insecure,
		.max_response_bytes = k->max_body,
		.on_body = body_cb,
		.body_arg = k,
	};
	k->last_start_ms = jp_now_mono_ms();
	k->started = 1;
	k->xfer = jp_http_start(k->http, &req, done_cb, k);
	if (!k->xfer) {
		int e = errno;
		k->stats.refreshes_failed++;
		jp_log_rl(&k->rl_fail, JP_LOG_WARN, MOD, "%s: cannot start the request: %s", k->url, strerror(e));
		parse_end(k);
		return -e;
	}
	k->stats.in_flight = 1;
	return 0;
}

static void refresh_timer_cb(uv_timer_t *t)
{
	refresh_start(t->data);
}

static void extra_timer_cb(uv_timer_t *t)
{
	struct jp_kubelet *k = t->data;
	k->extra_pending = 0;
	if (refresh_start(k) == 0)
		k->stats.extra_refreshes++;
}

int jp_kubelet_request_refresh(struct jp_kubelet *k)
{
	if (!k || k->closer.closing)
		return -ECANCELED;
	if (k->xfer || k->parser || k->extra_pending)
		return -EBUSY;
	uint64_t now = jp_now_mono_ms();
	uint64_t since = now - k->last_start_ms;
	if (!k->started || since >= k->min_gap_ms) {
		int r = refresh_start(k);
		if (r == 0)
			k->stats.extra_refreshes++;
		return r;
	}
	k->extra_pending = 1;
	uv_timer_start(&k->extra_timer, extra_timer_cb, k->min_gap_ms - since, 0);
	return 0;
}

static const char *container_name_cb(const void *ctx, const char *container_id)
{
	return jp_kube_pod_container_name(ctx, container_id);
}

int jp_kubelet_lookup(const char *uid, struct jp_pod_meta *out, void *arg)
{
	struct jp_kubelet *k = arg;
	const struct jp_kube_pod *p = k ? jp_podlist_find(k->pods, uid) : NULL;
	if (!p)
		return -ENOENT;
	out->ns = p->ns;
	out->name = p->name;
	out->cpu_request = p->cpu_request;
	out->container_name = container_name_cb;
	out->ctx = p;
	return 0;
}

void jp_kubelet_get_stats(const struct jp_kubelet *k, struct jp_kubelet_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (k)
		*out = k->stats;
}

void jp_kubelet_set_limits(struct jp_kubelet *k, uint64_t min_gap_ms, uint64_t timeout_ms, size_t max_body_bytes)
{
	if (min_gap_ms)
		k->min_gap_ms = min_gap_ms;
	if (timeout_ms)
		k->timeout_ms = timeout_ms;
	if (max_body_bytes)
		k->max_body = max_body_bytes;
}

static void free_kubelet(struct jp_kubelet *k)
{
	jp_podlist_destroy(k->pods);
	wipe_free(k->auth);
	free(k->url);
	free(k->token_file);
	free(k->ca_file);
	free(k);
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct jp_kubelet *k = h->data;
	void (*closed)(void *);
	void *arg;
	if (!jp_closer_done(&k->closer, &closed, &arg))
		return;
	free_kubelet(k);
	jp_closer_none(closed, arg);
}

struct jp_kubelet *jp_kubelet_create(uv_loop_t *loop, struct jp_http *http, const struct jp_config *cfg)
{
	int err = EINVAL;
	struct jp_kubelet *k = NULL;
	if (!loop || !http || !cfg || !cfg->kubelet_url || !cfg->kubelet_url[0])
		goto fail;
	k = calloc(1, sizeof(*k));
	if (!k) {
		err = ENOMEM;
		goto fail;
	}
	k->loop = loop;
	k->http = http;
	k->refresh_ms = cfg->kube_refresh_ms ? cfg->kube_refresh_ms : 15000;
	k->min_gap_ms = cfg->interval_ms ? cfg->interval_ms : 5000;
	k->timeout_ms = JP_KUBELET_DEFAULT_TIMEOUT_MS;
	k->max_body = cfg->kube_max_response_bytes ? (size_t)cfg->kube_max_response_bytes
						   : JP_KUBELET_DEFAULT_MAX_BODY_BYTES;
	k->insecure = cfg->kube_insecure_skip_verify;
	k->rl_fail.interval_ms = 60000;
	k->rl_token.interval_ms = 60000;
	k->rl_problem.interval_ms = 600000;

	size_t ulen = strlen(cfg->kubelet_url);
	while (ulen && cfg->kubelet_url[ulen - 1] == '/')
		ulen--;
	if (asprintf(&k->url, "%.*s/pods", (int)ulen, cfg->kubelet_url) < 0) {
		k->url = NULL;
		err = ENOMEM;
		goto fail;
	}
	if ((cfg->kube_token_file && cfg->kube_token_file[0] && !(k->token_file = strdup(cfg->kube_token_file))) ||
	    (cfg->kube_ca_file && cfg->kube_ca_file[0] && !(k->ca_file = strdup(cfg->kube_ca_file)))) {
		err = ENOMEM;
		goto fail;
	}
	if (k->token_file && !cfg->kube_token_file_explicit && access(k->token_file, F_OK) != 0 &&
	    errno == ENOENT) {
		/* The default path outside a pod, or a kubelet on its read-only port: no
		 * token to send. A token file named in the config must exist (below). */
		jp_warn(MOD, "no service-account token at %s: asking the kubelet without Authorization",
			k->token_file);
		free(k->token_file);
		k->token_file = NULL;
	}
	if (k->token_file) {
		int r = read_token(k->token_file, &k->auth);
		if (r) {
			jp_error(MOD, "token file %s: %s", k->token_file, token_error(r));
			err = -r;
			goto fail;
		}
	}
	int https = strncmp(k->url, "https://", 8) == 0;
	if (!https && k->token_file)
		jp_warn(MOD, "%s is plain http: the bearer token from %s is sent unencrypted", k->url,
			k->token_file);
	if (https && k->ca_file && access(k->ca_file, R_OK) != 0 && !k->insecure)
		jp_warn(MOD, "CA file %s: %s; TLS verification will fail until it appears", k->ca_file, strerror(errno));

	uv_timer_init(loop, &k->refresh_timer);
	uv_timer_init(loop, &k->extra_timer);
	k->refresh_timer.data = k;
	k->extra_timer.data = k;
	/* The first refresh runs from the loop, at once; then every refresh_ms. */
	uv_timer_start(&k->refresh_timer, refresh_timer_cb, 0, k->refresh_ms);
	jp_info(MOD, "pod metadata from %s every %llu ms", k->url, (unsigned long long)k->refresh_ms);
	return k;

fail:
	if (k)
		free_kubelet(k);
	if (err == EINVAL && (!cfg || !cfg->kubelet_url || !cfg->kubelet_url[0]))
		jp_error(MOD, "no kubelet_url configured");
	errno = err;
	return NULL;
}

void jp_kubelet_close(struct jp_kubelet *k, void (*closed)(void *arg), void *arg)
{
	if (!k) {
		jp_closer_none(closed, arg);
		return;
	}
	if (!jp_closer_begin(&k->closer, closed, arg))
		return;   /* already closing */
	if (k->xfer) {
		jp_http_cancel(k->xfer);
		k->xfer = NULL;
	}
	parse_end(k);
	uv_timer_stop(&k->refresh_timer);
	uv_timer_stop(&k->extra_timer);
	jp_closer_close(&k->closer, (uv_handle_t *)&k->refresh_timer, handle_closed_cb);
	jp_closer_close(&k->closer, (uv_handle_t *)&k->extra_timer, handle_closed_cb);
}
