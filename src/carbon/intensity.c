/* SPDX-License-Identifier: Apache-2.0 */
/* The grid carbon intensity in force (docs/carbon.md): the configured source, refreshed on the
 * loop, with staleness and the fallback value. */
#include "carbon/intensity.h"
#include "carbon/retry.h"
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "carbon/cfile.h"
#include "util/json_read.h"
#include "carbon/electricitymaps.h"
#include "carbon/entsoe.h"
#include "carbon/factors.h"
#include "carbon/ukci.h"
#include "util/closer.h"
#include "util/log.h"
#include "util/secret.h"

#define MOD "carbon"
#define HOUR_MS 3600000LL
#define REQUEST_TIMEOUT_MS 30000
#define FILE_CHECK_MAX_MS 10000
#define TOKEN_MAX_BYTES 4096

struct jp_intensity {
	uv_loop_t *loop;
	struct jp_http *http;
	enum jp_carbon_source src;
	const char *src_name;
	double fallback_g;
	uint64_t max_age_ms, refresh_ms;
	char *base_url, *token_file, *zone, *grid_zone, *file_path;
	struct jp_factors factors;

	uv_timer_t timer;
	struct jp_http_xfer *xfer;
	char *req_url;        /* with the token: never logged */
	char *log_url;        /* the same with the token redacted */
	char *auth_header;    /* "auth-token: <token>" for Electricity Maps */
	const char *headers[2];
	char *token;          /* the token of the request in flight, for redaction */

	/* The last good value. */
	int has_value;
	double g;
	int64_t data_ms;
	int has_mix;
	struct jp_mix mix;
	double renewable;

	/* The file source. */
	struct jp_carbon_series fseries;
	int file_loaded;
	struct stat fst;

	unsigned n429;
	struct jp_intensity_stats st;
	struct jp_ratelimit rl_fail, rl_nodata, rl_skip;

	struct jp_closer closer;
};

static const char *const source_names[] = {
	[JP_CARBON_STATIC] = "static",
	[JP_CARBON_ENTSOE] = "entsoe",
	[JP_CARBON_ELECTRICITYMAPS] = "electricitymaps",
	[JP_CARBON_UKCI] = "ukci",
	[JP_CARBON_FILE] = "file",
};

/* ---- secrets ------------------------------------------------------------------------- */

/* Copy src to dst with every occurrence of token replaced (README.md: never logged). */
static void redact(char *dst, size_t cap, const char *src, const char *token)
{
	size_t tl = token ? strlen(token) : 0, o = 0;
	if (!cap)
		return;
	while (src && *src && o + 1 < cap) {
		if (tl && !strncmp(src, token, tl)) {
			const char *r = "REDACTED";
			while (*r && o + 1 < cap)
				dst[o++] = *r++;
			src += tl;
		} else {
			dst[o++] = *src++;
		}
	}
	dst[o] = 0;
}

/* Read a token file: the first line, without surrounding blanks. Returns a malloc'd
 * string or NULL with why filled (never with the file's contents). */
char *jp_carbon_read_token(const char *path, char *why, size_t whylen)
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

static void free_request(struct jp_intensity *in)
{
	free(in->req_url);
	free(in->log_url);
	if (in->auth_header)
		explicit_bzero(in->auth_header, strlen(in->auth_header));
	free(in->auth_header);
	if (in->token)
		explicit_bzero(in->token, strlen(in->token));
	free(in->token);
	in->req_url = in->log_url = in->auth_header = in->token = NULL;
}

/* ---- outcomes -------------------------------------------------------------------------- */

static void fail(struct jp_intensity *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct jp_intensity *in, const char *fmt, ...)
{
	char msg[512], clean[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	redact(clean, sizeof(clean), msg, in->token);
	in->st.failures++;
	jp_log_rl(&in->rl_fail, JP_LOG_WARN, MOD, "%s: refresh failed: %s; %s", in->src_name, clean,
		  in->has_value ? "keeping the last good value while it is fresh" : "using the fallback intensity");
}

static void no_data(struct jp_intensity *in, const char *why)
{
	char clean[256];
	redact(clean, sizeof(clean), why, in->token);
	in->st.no_data++;
	jp_log_rl(&in->rl_nodata, JP_LOG_INFO, MOD, "%s: no data: %s", in->src_name, clean);
}

static void got_value(struct jp_intensity *in, double g, int64_t data_ms)
{
	int64_t age = jp_now_wall_ms() - data_ms;
	in->has_value = 1;
	in->g = g;
	in->data_ms = data_ms;
	in->st.successes++;
	if (age > (int64_t)in->max_age_ms)
		jp_log_rl(&in->rl_nodata, JP_LOG_INFO, MOD,
			  "%s: newest data is %lld s old (over carbon.max_age): using the fallback intensity",
			  in->src_name, (long long)(age / 1000));
	else
		jp_debug(MOD, "%s: %.1f g/kWh for %s", in->src_name, g, in->grid_zone);
}

/* A body excerpt for a log line: at most 200 bytes, as text. */
static void excerpt(char *dst, size_t cap, const struct jp_http_response *r)
{
	size_t n = r->body_len < 200 ? r->body_len : 200;
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = r->body[i] ? (char)r->body[i] : ' ';
	dst[n] = 0;
}

/* Retry policy shared by the HTTP sources. Returns the delay before the next request. */
static uint64_t after_response(struct jp_intensity *in, const struct jp_http_response *r)
{
	if (r->curl_code == 0 && r->status == 429) {
		/* docs/carbon.md: back off on 429. Each 429 in a row doubles the interval; Retry-After, when
		 * longer, wins. Never shorter than refresh. */
		in->st.rate_limited++;
		return jp_carbon_retry_delay_ms(in->refresh_ms, &in->n429, r->retry_after_ms);
	}
	in->n429 = 0;
	return in->refresh_ms;
}

/* ---- the sources ------------------------------------------------------------------------- */

static void handle_entsoe(struct jp_intensity *in, const struct jp_http_response *r)
{
	char ex[256];
	/* An Acknowledgement may come with 200 or 400 (docs/carbon.md), so both are parsed. */
	if (r->status != 200 && r->status != 400) {
		excerpt(ex, sizeof(ex), r);
		fail(in, "HTTP %ld from %s: %s", r->status, in->log_url, ex);
		return;
	}
	struct jp_entsoe_result res;
	int k = jp_entsoe_parse(r->body, r->body_len, &res);
	if (res.skipped_series)
		jp_log_rl(&in->rl_skip, JP_LOG_WARN, MOD, "entsoe: %u of %u series rejected: %s",
			  res.skipped_series, res.series, res.reason);
	if (res.negative_points || res.nan_points)
		jp_log_rl(&in->rl_skip, JP_LOG_INFO, MOD, "entsoe: %u negative quantities taken as 0 MW, %u NaN points left out",
			  res.negative_points, res.nan_points);
	/* ENTSO-E answers reason 999 with 200 for "no matching data" but with 400 for a
	 * request it cannot serve (a mistyped area, a bad parameter): the second is a
	 * configuration error, counted as a failure and logged with the document's text. */
	if (k == -ENODATA && r->status == 400) {
		fail(in, "HTTP 400 from %s: %s (check carbon.entsoe.area and the token)", in->log_url,
		     res.reason);
		return;
	}
	if (k == -ENODATA && (res.ack_code == JP_ENTSOE_ACK_NO_DATA || r->status == 200)) {
		no_data(in, res.reason);
		return;
	}
	if (k != 0 || r->status != 200) {
		excerpt(ex, sizeof(ex), r);
		fail(in, "HTTP %ld from %s: %s", r->status, in->log_url, k ? res.reason : ex);
		return;
	}
	double g, ren;
	if (jp_factors_intensity(&in->factors, &res.mix, &g, &ren)) {
		no_data(in, "the newest complete point has no generation");
		return;
	}
	in->mix = res.mix;
	in->renewable = ren;
	in->has_mix = 1;
	got_value(in, g, res.end_ms);
}

static void handle_emaps(struct jp_intensity *in, const struct jp_http_response *r)
{
	char why[256], ex[256];
	double g;
	int64_t t;
	if (r->status != 200) {
		excerpt(ex, sizeof(ex), r);
		fail(in, "HTTP %ld from %s: %s", r->status, in->log_url, ex);
		return;
	}
	int k = jp_emaps_parse(r->body, r->body_len, &g, &t, why, sizeof(why));
	if (k == -ENODATA)
		no_data(in, why);
	else if (k)
		fail(in, "%s", why);
	else {
		in->has_mix = 0;
		got_value(in, g, t);
	}
}

static void handle_ukci(struct jp_intensity *in, const struct jp_http_response *r)
{
	char why[256], ex[256];
	double g;
	int64_t from, to;
	if (r->status != 200) {
		excerpt(ex, sizeof(ex), r);
		fail(in, "HTTP %ld from %s: %s", r->status, in->log_url, ex);
		return;
	}
	int k = jp_ukci_parse(r->body, r->body_len, &g, &from, &to, why, sizeof(why));
	if (k == -ENODATA)
		no_data(in, why);
	else if (k)
		fail(in, "%s", why);
	else {
		in->has_mix = 0;
		got_value(in, g, to);
	}
}

static void timer_cb(uv_timer_t *t);

static void http_done_cb(struct jp_http_xfer *x, const struct jp_http_response *r, void *arg)
{
	struct jp_intensity *in = arg;
	in->xfer = NULL;
	if (r->curl_code != 0) {
		char err[256];
		redact(err, sizeof(err), r->error ? r->error : "error", in->token);
		if (r->body_truncated)
			fail(in, "answer from %s is over the size limit: refused", in->log_url);
		else
			fail(in, "request to %s failed: %s", in->log_url, err);
	} else if (r->status == 429) {
		/* handled by after_response */
	} else if (in->src == JP_CARBON_ENTSOE) {
		handle_entsoe(in, r);
	} else if (in->src == JP_CARBON_ELECTRICITYMAPS) {
		handle_emaps(in, r);
	} else {
		handle_ukci(in, r);
	}
	uint64_t d = after_response(in, r);
	if (r->curl_code == 0 && r->status == 429)
		fail(in, "HTTP 429 (rate limited) from %s: next request in %llu ms", in->log_url,
		     (unsigned long long)d);
	free_request(in);
	in->st.next_delay_ms = d;
	uv_timer_start(&in->timer, timer_cb, d, 0);
}

static int start_fetch(struct jp_intensity *in)
{
	char why[256];
	int64_t now = jp_now_wall_ms();

	free_request(in);
	if (in->src == JP_CARBON_ENTSOE) {
		in->token = jp_carbon_read_token(in->token_file, why, sizeof(why));
		if (!in->token) {
			fail(in, "carbon.entsoe: %s", why);
			return -1;
		}
		/* Ask for the window that can still hold fresh data, in whole hours. */
		int64_t back = (int64_t)in->max_age_ms < 24 * HOUR_MS ? (int64_t)in->max_age_ms : 24 * HOUR_MS;
		int64_t start = (now - back) / HOUR_MS * HOUR_MS;
		int64_t end = now / HOUR_MS * HOUR_MS + HOUR_MS;
		in->req_url = jp_entsoe_url(in->base_url, in->zone, in->token, start, end);
		in->log_url = jp_entsoe_url(in->base_url, in->zone, NULL, start, end);
	} else if (in->src == JP_CARBON_ELECTRICITYMAPS) {
		in->token = jp_carbon_read_token(in->token_file, why, sizeof(why));
		if (!in->token) {
			fail(in, "carbon.electricitymaps: %s", why);
			return -1;
		}
		if (asprintf(&in->auth_header, "auth-token: %s", in->token) < 0)
			in->auth_header = NULL;
		in->req_url = jp_emaps_url(in->base_url, in->zone);
		in->log_url = in->req_url ? strdup(in->req_url) : NULL;
	} else {
		in->req_url = jp_ukci_url(in->base_url, in->zone);
		in->log_url = in->req_url ? strdup(in->req_url) : NULL;
	}
	if (!in->req_url || !in->log_url || (in->src == JP_CARBON_ELECTRICITYMAPS && !in->auth_header)) {
		fail(in, "cannot build the request: %s", strerror(errno ? errno : ENOMEM));
		return -1;
	}
	in->headers[0] = in->auth_header;
	in->headers[1] = NULL;
	struct jp_http_request req = {
		.method = "GET",
		.url = in->req_url,
		.headers = in->auth_header ? in->headers : NULL,
		.timeout_ms = REQUEST_TIMEOUT_MS,
		.user_agent = "joulepush/" JP_VERSION,
		.max_response_bytes = in->src == JP_CARBON_ENTSOE ? JP_ENTSOE_MAX_BYTES : JP_JSON_MAX_BYTES,
	};
	in->st.requests++;
	in->xfer = jp_http_start(in->http, &req, http_done_cb, in);
	if (!in->xfer) {
		fail(in, "cannot start the request to %s: %s", in->log_url, strerror(errno));
		return -1;
	}
	return 0;
}

/* The file source: re-read when the file changed (mtime, size or inode). */
static void check_file(struct jp_intensity *in)
{
	struct stat st;
	if (!in->file_path || !*in->file_path) {
		fail(in, "carbon.file.path is not set");
		return;
	}
	if (stat(in->file_path, &st) != 0) {
		fail(in, "cannot stat %s: %s", in->file_path, strerror(errno));
		return;
	}
	if (in->file_loaded && st.st_mtim.tv_sec == in->fst.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == in->fst.st_mtim.tv_nsec && st.st_size == in->fst.st_size &&
	    st.st_ino == in->fst.st_ino)
		return;
	in->st.requests++;
	char why[256];
	struct jp_carbon_series s;
	int r = jp_carbon_file_load(in->file_path, &s, why, sizeof(why));
	in->fst = st;
	in->file_loaded = 1;   /* not again until it changes */
	if (r == -EAGAIN) {
		fail(in, "%s; will read it again", why);
		in->file_loaded = 0;
		return;
	}
	if (r == -EINVAL) {
		fail(in, "%s: %s (keeping the previous contents)", in->file_path, why);
		return;
	}
	if (r) {
		fail(in, "%s", why);
		if (r != -EFBIG)
			in->file_loaded = 0;   /* an open or read error: try again */
		return;
	}
	jp_carbon_series_free(&in->fseries);
	in->fseries = s;
	in->st.successes++;
	jp_info(MOD, "file: read %zu entries from %s", s.n, in->file_path);
}

static void timer_cb(uv_timer_t *t)
{
	struct jp_intensity *in = t->data;
	if (in->src == JP_CARBON_FILE) {
		check_file(in);
		uint64_t d = in->refresh_ms < FILE_CHECK_MAX_MS ? in->refresh_ms : FILE_CHECK_MAX_MS;
		in->st.next_delay_ms = d;
		uv_timer_start(&in->timer, timer_cb, d, 0);
		return;
	}
	if (start_fetch(in) != 0) {
		free_request(in);
		in->st.next_delay_ms = in->refresh_ms;
		uv_timer_start(&in->timer, timer_cb, in->refresh_ms, 0);
	}
}

/* ---- public --------------------------------------------------------------------------- */

struct jp_intensity *jp_intensity_create(uv_loop_t *loop, struct jp_http *http, const struct jp_config *cfg)
{
	struct jp_intensity *in = calloc(1, sizeof(*in));
	int err = ENOMEM;
	if (!in)
		goto fail;
	in->loop = loop;
	in->http = http;
	in->src = cfg->carbon_source;
	in->src_name = source_names[in->src];
	in->fallback_g = cfg->carbon_grams_per_kwh;
	in->max_age_ms = cfg->carbon_max_age_ms;
	in->refresh_ms = cfg->carbon_refresh_ms ? cfg->carbon_refresh_ms : 1;
	in->rl_fail.interval_ms = in->rl_nodata.interval_ms = in->rl_skip.interval_ms = 60000;
	if (jp_factors_init(&in->factors, cfg->carbon_factors_direct, &cfg->carbon_factor_overrides)) {
		err = EINVAL;
		goto fail;
	}
	const char *url = NULL, *tf = NULL, *zone = NULL, *label = NULL;
	switch (in->src) {
	case JP_CARBON_STATIC: label = "static"; break;
	case JP_CARBON_ENTSOE: url = cfg->entsoe_url; tf = cfg->entsoe_token_file; zone = label = cfg->entsoe_area; break;
	case JP_CARBON_ELECTRICITYMAPS: url = cfg->emaps_url; tf = cfg->emaps_token_file; zone = label = cfg->emaps_zone; break;
	case JP_CARBON_UKCI:
		url = cfg->ukci_url;
		zone = cfg->ukci_region ? cfg->ukci_region : "";
		label = *zone ? zone : "GB";
		break;
	case JP_CARBON_FILE: label = "file"; break;
	default: err = EINVAL; goto fail;
	}
	if (in->src == JP_CARBON_UKCI) {
		char *probe = jp_ukci_url(url ? url : "", zone);
		if (!probe) {
			err = errno;
			goto fail;
		}
		free(probe);
	}
	if ((url && !(in->base_url = strdup(url))) || (tf && !(in->token_file = strdup(tf))) ||
	    (zone && !(in->zone = strdup(zone))) || !(in->grid_zone = strdup(label && *label ? label : "unknown")) ||
	    (cfg->carbon_file_path && !(in->file_path = strdup(cfg->carbon_file_path))))
		goto fail;
	if (uv_timer_init(loop, &in->timer) != 0) {
		err = EINVAL;
		goto fail;
	}
	in->timer.data = in;
	if (in->src != JP_CARBON_STATIC)
		uv_timer_start(&in->timer, timer_cb, 0, 0);
	return in;
fail:
	if (in) {
		free(in->base_url);
		free(in->token_file);
		free(in->zone);
		free(in->grid_zone);
		free(in->file_path);
		free(in);
	}
	errno = err;
	return NULL;
}

double jp_intensity_current(struct jp_intensity *in, int64_t now_ms, const char **source, const char **grid_zone)
{
	double g = in->fallback_g;
	const char *s = "fallback";
	if (in->src == JP_CARBON_STATIC) {
		s = "static";
	} else if (in->src == JP_CARBON_FILE) {
		const struct jp_carbon_entry *e = jp_carbon_series_at(&in->fseries, now_ms);
		if (e && now_ms - e->time_ms <= (int64_t)in->max_age_ms) {
			g = e->g_per_kwh;
			s = in->src_name;
		}
	} else if (in->has_value && now_ms - in->data_ms <= (int64_t)in->max_age_ms) {
		g = in->g;
		s = in->src_name;
	}
	if (source)
		*source = s;
	if (grid_zone)
		*grid_zone = in->grid_zone;
	return g;
}

int jp_intensity_set_series(struct jp_intensity *in, struct jp_store *store)
{
	const char *src, *zone;
	double g = jp_intensity_current(in, jp_now_wall_ms(), &src, &zone);
	struct jp_label l[3] = {{"grid_zone", zone}, {"source", src}};
	struct jp_series *s = jp_store_get(store, jp_metric_name(JP_M_GRID_CARBON_INTENSITY_GRAMS_PER_KWH), l, 2);
	if (!s)
		return -errno;
	jp_store_set(store, s, g);

	/* The mix is shown only while it is the one in force. */
	if (in->src == JP_CARBON_ENTSOE && in->has_mix && !strcmp(src, in->src_name)) {
		for (int p = 1; p <= JP_PSR_MAX; p++) {
			if (!(in->mix.present & (1u << p)) || !jp_psr_fuel(p))
				continue;
			struct jp_label gl[3] = {{"grid_zone", zone}, {"psr_type", jp_psr_code(p)}, {"fuel", jp_psr_fuel(p)}};
			s = jp_store_get(store, jp_metric_name(JP_M_GRID_GENERATION_MEGAWATTS), gl, 3);
			if (!s)
				return -errno;
			jp_store_set(store, s, in->mix.mw[p]);
		}
		s = jp_store_get(store, jp_metric_name(JP_M_GRID_RENEWABLE_RATIO), l, 1);
		if (!s)
			return -errno;
		jp_store_set(store, s, in->renewable);
		double fossil;
		if (jp_mix_fossil_ratio(&in->mix, &fossil) == 0) {
			s = jp_store_get(store, jp_metric_name(JP_M_GRID_FOSSIL_RATIO), l, 1);
			if (!s)
				return -errno;
			jp_store_set(store, s, fossil);
		}
	}
	if (in->src != JP_CARBON_STATIC) {
		struct jp_label fl[1] = {{"source", in->src_name}};
		s = jp_store_get(store, jp_metric_name(JP_M_CARBON_REFRESH_FAILURES_TOTAL), fl, 1);
		if (!s)
			return -errno;
		jp_store_set(store, s, (double)in->st.failures);
	}
	return 0;
}

void jp_intensity_stats(const struct jp_intensity *in, struct jp_intensity_stats *out)
{
	*out = in->st;
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct jp_intensity *in = h->data;
	void (*closed)(void *);
	void *arg;
	if (!jp_closer_done(&in->closer, &closed, &arg))
		return;
	free_request(in);
	jp_carbon_series_free(&in->fseries);
	free(in->base_url);
	free(in->token_file);
	free(in->zone);
	free(in->grid_zone);
	free(in->file_path);
	free(in);
	jp_closer_none(closed, arg);
}

void jp_intensity_close(struct jp_intensity *in, void (*closed)(void *arg), void *arg)
{
	if (!in) {
		jp_closer_none(closed, arg);
		return;
	}
	if (!jp_closer_begin(&in->closer, closed, arg))
		return;   /* already closing */
	if (in->xfer) {
		jp_http_cancel(in->xfer);
		in->xfer = NULL;
	}
	uv_timer_stop(&in->timer);
	jp_closer_close(&in->closer, (uv_handle_t *)&in->timer, timer_closed_cb);
}
