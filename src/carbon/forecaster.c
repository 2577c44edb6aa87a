/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The forecast source on the loop (carbon/forecaster.h).
 *
 * One timer drives refreshes. A refresh replaces the forecast only when it produced at
 * least one usable point; a failed or empty one keeps the last good forecast, which ages
 * out by itself: once no point covers now, no gauge is set and the store ends them with
 * stale markers. Nothing here touches the intensity in force or the accounting: a broken
 * forecast costs the forecast gauges and nothing else.
 */
#include "carbon/forecaster.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "carbon/cfile.h"
#include "util/json_read.h"
#include "carbon/retry.h"
#include "util/time.h"
#include "carbon/electricitymaps.h"
#include "carbon/entsoe.h"
#include "carbon/factors.h"
#include "carbon/intensity.h"
#include "carbon/ukci.h"
#include "util/json.h"
#include "metrics.h"
#include "util/closer.h"
#include "util/secret.h"
#include "util/log.h"

#ifndef JP_VERSION
#define JP_VERSION "0.0.0"
#endif

#define MOD "forecast"
#define REQUEST_TIMEOUT_MS 30000
/* A UK 48 h forecast with the regional generation mix is about 60 KB. */
#define MAX_ANSWER_BYTES (4u << 20)

/* The fixed horizons of joulepush_grid_carbon_intensity_forecast_grams_per_kwh. */
static const int64_t horizons_ms[] = {3600000, 7200000, 14400000, 28800000, 43200000, 86400000};
#define NHORIZONS (sizeof(horizons_ms) / sizeof(horizons_ms[0]))

struct jp_forecaster {
	uv_loop_t *loop;
	struct jp_http *http;
	enum jp_forecast_source src;
	char *base_url, *region, *file_path;
	char *emaps_url, *emaps_zone, *emaps_token_file;
	char *auth_header;                /* "auth-token: ..." of the request in flight */
	const char *headers[2];
	char *log_url;                    /* the URL in flight, token redacted */
	/* ENTSO-E: a refresh is three requests, A75 (the actual mix), A69 (wind and solar
	 * forecast), A71 (total forecast); docs/carbon.md "Forecasts". */
	char *entsoe_url, *entsoe_area, *entsoe_token_file;
	struct jp_factors factors;
	int step;
	double ef_rest;
	struct jp_forecast ws[JP_PSR_MAX + 1];
	char grid_zone[40];
	uint64_t refresh_ms, horizon_ms;
	struct jp_durlist windows;

	uv_timer_t timer;
	struct jp_http_xfer *xfer;
	char *url;
	unsigned n429;

	struct jp_forecast fc;
	int64_t generated_ms;
	char last_error[256];
	unsigned short_window_logged;   /* bit i: window i is longer than the horizon, logged */

	void (*on_refresh)(void *arg, int ok);
	void *on_refresh_arg;

	struct jp_forecaster_stats st;
	struct jp_ratelimit rl_fail;
	struct jp_closer closer;
};

static const char *const source_names[] = {[JP_FORECAST_NONE] = "none", [JP_FORECAST_UKCI] = "ukci",
					   [JP_FORECAST_FILE] = "file",
					   [JP_FORECAST_ELECTRICITYMAPS] = "electricitymaps",
					   [JP_FORECAST_ENTSOE] = "entsoe"};

/* "1h", "90m", "45s": the label value of a duration. */
static void dur_label(uint64_t ms, char *buf, size_t len)
{
	if (ms % 3600000 == 0)
		snprintf(buf, len, "%" PRIu64 "h", ms / 3600000);
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%" PRIu64 "m", ms / 60000);
	else
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
}

/* ---- refreshing ------------------------------------------------------------------------ */

static void timer_cb(uv_timer_t *t);

static void refreshed(struct jp_forecaster *f, int ok, uint64_t next_ms)
{
	f->st.next_delay_ms = next_ms;
	uv_timer_start(&f->timer, timer_cb, next_ms, 0);
	if (f->on_refresh)
		f->on_refresh(f->on_refresh_arg, ok);
}

static void __attribute__((format(printf, 2, 3))) failed(struct jp_forecaster *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->last_error, sizeof(f->last_error), fmt, ap);
	va_end(ap);
	f->st.failures++;
	jp_log_rl(&f->rl_fail, JP_LOG_WARN, MOD, "%s (keeping the last forecast)", f->last_error);
}

/* Take the points a source produced in *fresh: normalise, and replace the forecast when
 * something usable is left. Returns 1 when it replaced it. */
static int take(struct jp_forecaster *f, struct jp_forecast *fresh, size_t skipped)
{
	size_t dropped = 0;
	fresh->max = JP_FORECAST_MAX_G_PER_KWH;   /* an intensity: anything above is a broken source */
	if (jp_forecast_normalize(fresh, &dropped)) {
		failed(f, "out of memory");
		jp_forecast_free(fresh);
		return 0;
	}
	dropped += skipped;
	int64_t now = jp_now_wall_ms();
	if (fresh->n == 0 || jp_forecast_end(fresh) <= now) {
		failed(f, "%s forecast has no point after now (%zu dropped)", source_names[f->src], dropped);
		jp_forecast_free(fresh);
		return 0;
	}
	jp_forecast_free(&f->fc);
	f->fc = *fresh;
	f->generated_ms = now;
	f->last_error[0] = '\0';
	f->st.successes++;
	f->st.points = f->fc.n;
	f->st.dropped = dropped;
	if (dropped)
		jp_log(JP_LOG_INFO, MOD, "%zu forecast points dropped (values outside 0..%.0f g/kWh, bad times, "
		       "duplicates)", dropped, JP_FORECAST_MAX_G_PER_KWH);
	return 1;
}

static void refresh_http(struct jp_forecaster *f);

/* Forget the request in flight: its URL (with a token, for ENTSO-E), the redacted one,
 * the Electricity Maps header. */
static void end_request(struct jp_forecaster *f)
{
	free(f->url);
	f->url = NULL;
	free(f->log_url);
	f->log_url = NULL;
	jp_secret_free(f->auth_header);
	f->auth_header = NULL;
}

/* One ENTSO-E document of a refresh. Returns 1 when the next one is to be fetched, 0 when
 * the refresh is over (f->step == 3 when it produced a forecast). */
static int entsoe_step(struct jp_forecaster *f, const struct jp_http_response *r)
{
	static const char *const names[] = {"A75 (actual generation)", "A69 (wind and solar forecast)",
					    "A71 (generation forecast)"};
	struct jp_entsoe_result res;
	int pr;
	if (f->step == 0) {
		pr = jp_entsoe_parse(r->body, r->body_len, &res);
		if (pr == 0 && jp_factors_rest(&f->factors, &res.mix, &f->ef_rest))
			pr = -ENODATA;
	} else {
		if (f->step == 1)
			for (int p = 0; p <= JP_PSR_MAX; p++)
				jp_forecast_free(&f->ws[p]);
		/* A71 goes to ws[0] (no PsrType); A69 to ws[16], ws[18], ws[19]. */
		pr = jp_entsoe_parse_series(r->body, r->body_len, f->ws, &res);
	}
	if (pr) {
		failed(f, "ENTSO-E %s from %s: %s", names[f->step], f->log_url,
		       pr == -ENOMEM ? "out of memory" : res.reason[0] ? res.reason : "no data");
		return 0;
	}
	if (f->step < 2)
		return 1;
	struct jp_forecast fresh = {0};
	if (!f->ws[0].n) {
		failed(f, "ENTSO-E A71 from %s has no total generation series", f->log_url);
		return 0;
	}
	if (jp_entsoe_forecast_build(&f->ws[0], f->ws, &f->factors, f->ef_rest, &fresh)) {
		failed(f, "out of memory");
		jp_forecast_free(&fresh);
		return 0;
	}
	f->step = take(f, &fresh, 0) ? 3 : 0;
	return 0;
}

static void http_done_cb(struct jp_http_xfer *x, const struct jp_http_response *r, void *arg)
{
	(void)x;
	struct jp_forecaster *f = arg;
	f->xfer = NULL;
	uint64_t next = f->refresh_ms;
	int ok = 0;
	if (r->curl_code != 0) {
		failed(f, r->body_truncated ? "answer from %s is over the size limit" : "request to %s failed: %s",
		       f->log_url, r->error ? r->error : "error");
	} else if (r->status == 429) {
		next = jp_carbon_retry_delay_ms(f->refresh_ms, &f->n429, r->retry_after_ms);
		f->st.rate_limited++;
		failed(f, "HTTP 429 from %s: next request in %" PRIu64 " ms", f->log_url, next);
	} else if (r->status < 200 || r->status > 299) {
		failed(f, "HTTP %ld from %s", r->status, f->log_url);
	} else if (f->src == JP_FORECAST_ENTSOE) {
		f->n429 = 0;
		if (entsoe_step(f, r)) {
			/* The next document of this refresh. */
			end_request(f);
			f->step++;
			refresh_http(f);
			return;
		}
		ok = f->step == 3;
	} else {
		f->n429 = 0;
		char why[256] = "";
		size_t skipped = 0;
		struct jp_forecast fresh = {0};
		int pr = f->src == JP_FORECAST_ELECTRICITYMAPS
			 ? jp_emaps_parse_forecast(r->body, r->body_len, &fresh, &skipped, why, sizeof(why))
			 : jp_ukci_parse_forecast(r->body, r->body_len, &fresh, &skipped, why, sizeof(why));
		if (pr) {
			failed(f, "forecast from %s: %s", f->log_url, pr == -ENOMEM ? "out of memory" : why);
			jp_forecast_free(&fresh);
		} else {
			ok = take(f, &fresh, skipped);
		}
	}
	f->step = 0;
	end_request(f);
	refreshed(f, ok, next);
}

/* The HTTP sources: the UK API, or Electricity Maps with its token read afresh (rotated
 * tokens need no restart). */
static void refresh_http(struct jp_forecaster *f)
{
	int64_t now = jp_now_wall_ms();
	if (f->src == JP_FORECAST_ELECTRICITYMAPS) {
		char why[256];
		char *tok = jp_carbon_read_token(f->emaps_token_file, why, sizeof(why));
		if (!tok || asprintf(&f->auth_header, "auth-token: %s", tok) < 0) {
			f->auth_header = NULL;
			failed(f, "carbon.electricitymaps: %s", tok ? "out of memory" : why);
			free(tok);
			refreshed(f, 0, f->refresh_ms);
			return;
		}
		free(tok);
		f->url = jp_emaps_forecast_url(f->emaps_url, f->emaps_zone);
		f->log_url = f->url ? strdup(f->url) : NULL;
	} else if (f->src == JP_FORECAST_ENTSOE) {
		char why[256];
		char *tok = jp_carbon_read_token(f->entsoe_token_file, why, sizeof(why));
		if (!tok) {
			failed(f, "carbon.entsoe: %s", why);
			f->step = 0;
			refreshed(f, 0, f->refresh_ms);
			return;
		}
		static const char *const docs[][2] = {{"A75", "A16"}, {"A69", "A01"}, {"A71", "A01"}};
		int64_t hour = now / 3600000 * 3600000;
		/* The actual mix of the last day; the forecasts from the hour in force on. */
		int64_t from = f->step == 0 ? hour - 24 * 3600000LL : hour;
		int64_t to = f->step == 0 ? hour + 3600000 : hour + 48 * 3600000LL;
		f->url = jp_entsoe_url_doc(f->entsoe_url, docs[f->step][0], docs[f->step][1], f->entsoe_area, tok, from, to);
		f->log_url = jp_entsoe_url_doc(f->entsoe_url, docs[f->step][0], docs[f->step][1], f->entsoe_area, NULL, from,
					       to);
		jp_secret_free(tok);
	} else {
		/* From the half hour in force, so that now is covered. */
		f->url = jp_ukci_forecast_url(f->base_url, f->region, now - 1800000);
		f->log_url = f->url ? strdup(f->url) : NULL;
	}
	f->headers[0] = f->auth_header;
	f->headers[1] = NULL;
	if (!f->url || !f->log_url) {
		failed(f, "cannot build the forecast URL: %s", strerror(errno ? errno : ENOMEM));
		end_request(f);
		f->step = 0;
		refreshed(f, 0, f->refresh_ms);
		return;
	}
	struct jp_http_request req = {
		.method = "GET",
		.url = f->url,
		.headers = f->auth_header ? f->headers : NULL,
		.timeout_ms = REQUEST_TIMEOUT_MS,
		.user_agent = "joulepush/" JP_VERSION,
		.max_response_bytes = f->src == JP_FORECAST_ENTSOE ? JP_ENTSOE_MAX_BYTES : MAX_ANSWER_BYTES,
	};
	f->st.requests++;
	f->xfer = jp_http_start(f->http, &req, http_done_cb, f);
	if (!f->xfer) {
		failed(f, "cannot start the request to %s: %s", f->log_url, strerror(errno));
		end_request(f);
		f->step = 0;
		refreshed(f, 0, f->refresh_ms);
	}
}

/* The file source: each entry holds until the next one; the last one for as long as the
 * spacing before it (30 minutes when there is a single entry). */
static void refresh_file(struct jp_forecaster *f)
{
	char why[256];
	struct jp_carbon_series s = {0};
	f->st.requests++;
	int r = f->file_path && *f->file_path ? jp_carbon_file_load(f->file_path, &s, why, sizeof(why)) : -EINVAL;
	if (r) {
		failed(f, "%s", f->file_path && *f->file_path ? why : "carbon.file.path is not set");
		refreshed(f, 0, f->refresh_ms);
		return;
	}
	struct jp_forecast fresh = {0};
	int ok = 1;
	for (size_t i = 0; i < s.n && ok; i++) {
		int64_t end = i + 1 < s.n ? s.v[i + 1].time_ms
			      : s.v[i].time_ms + (i > 0 ? s.v[i].time_ms - s.v[i - 1].time_ms : 1800000);
		ok = jp_forecast_add(&fresh, s.v[i].time_ms, end, s.v[i].g_per_kwh) == 0;
	}
	jp_carbon_series_free(&s);
	if (!ok) {
		failed(f, "out of memory");
		jp_forecast_free(&fresh);
		refreshed(f, 0, f->refresh_ms);
		return;
	}
	refreshed(f, take(f, &fresh, 0), f->refresh_ms);
}

static void timer_cb(uv_timer_t *t)
{
	struct jp_forecaster *f = t->data;
	if (f->src == JP_FORECAST_FILE)
		refresh_file(f);
	else
		refresh_http(f);
}

/* ---- public ------------------------------------------------------------------------------ */

static void free_forecaster(struct jp_forecaster *f)
{
	free(f->base_url);
	free(f->region);
	free(f->file_path);
	free(f->emaps_url);
	free(f->emaps_zone);
	free(f->emaps_token_file);
	end_request(f);
	free(f->entsoe_url);
	free(f->entsoe_area);
	free(f->entsoe_token_file);
	for (int p = 0; p <= JP_PSR_MAX; p++)
		jp_forecast_free(&f->ws[p]);
	jp_forecast_free(&f->fc);
	free(f);
}

struct jp_forecaster *jp_forecaster_create(uv_loop_t *loop, struct jp_http *http, const struct jp_config *cfg)
{
	if (cfg->forecast_source == JP_FORECAST_NONE || (cfg->forecast_source != JP_FORECAST_FILE && !http)) {
		errno = EINVAL;
		return NULL;
	}
	struct jp_forecaster *f = calloc(1, sizeof(*f));
	if (!f) {
		errno = ENOMEM;
		return NULL;
	}
	f->loop = loop;
	f->http = http;
	f->src = cfg->forecast_source;
	f->refresh_ms = cfg->forecast_refresh_ms ? cfg->forecast_refresh_ms : 1800000;
	f->horizon_ms = cfg->forecast_horizon_ms;
	f->windows = cfg->forecast_windows;
	f->rl_fail.interval_ms = 60000;
	f->base_url = strdup(cfg->ukci_url ? cfg->ukci_url : "");
	f->region = strdup(cfg->ukci_region ? cfg->ukci_region : "");
	f->file_path = strdup(cfg->carbon_file_path ? cfg->carbon_file_path : "");
	f->emaps_url = strdup(cfg->emaps_url ? cfg->emaps_url : "");
	f->emaps_zone = strdup(cfg->emaps_zone ? cfg->emaps_zone : "");
	f->emaps_token_file = strdup(cfg->emaps_token_file ? cfg->emaps_token_file : "");
	f->entsoe_url = strdup(cfg->entsoe_url ? cfg->entsoe_url : "");
	f->entsoe_area = strdup(cfg->entsoe_area ? cfg->entsoe_area : "");
	f->entsoe_token_file = strdup(cfg->entsoe_token_file ? cfg->entsoe_token_file : "");
	if (jp_factors_init(&f->factors, cfg->carbon_factors_direct, &cfg->carbon_factor_overrides)) {
		free_forecaster(f);
		errno = EINVAL;
		return NULL;
	}
	if (!f->base_url || !f->region || !f->file_path || !f->emaps_url || !f->emaps_zone || !f->emaps_token_file ||
	    !f->entsoe_url || !f->entsoe_area || !f->entsoe_token_file) {
		free_forecaster(f);
		errno = ENOMEM;
		return NULL;
	}
	if (f->src == JP_FORECAST_UKCI) {
		char *probe = jp_ukci_forecast_url(f->base_url, f->region, 0);
		if (!probe) {
			int e = errno;
			jp_log(JP_LOG_ERROR, MOD, "carbon.ukci.region \"%s\" is not a region id (1 to 99)", f->region);
			free_forecaster(f);
			errno = e;
			return NULL;
		}
		free(probe);
		snprintf(f->grid_zone, sizeof(f->grid_zone), "%s", *f->region ? f->region : "GB");
	} else if (f->src == JP_FORECAST_ELECTRICITYMAPS) {
		snprintf(f->grid_zone, sizeof(f->grid_zone), "%s", f->emaps_zone);
	} else if (f->src == JP_FORECAST_ENTSOE) {
		snprintf(f->grid_zone, sizeof(f->grid_zone), "%s", f->entsoe_area);
	} else {
		snprintf(f->grid_zone, sizeof(f->grid_zone), "file");
	}
	uv_timer_init(loop, &f->timer);
	f->timer.data = f;
	uv_timer_start(&f->timer, timer_cb, 0, 0);
	jp_log(JP_LOG_INFO, MOD, "%s forecast every %" PRIu64 " s, greenest windows over %" PRIu64 " h",
	       source_names[f->src], f->refresh_ms / 1000, f->horizon_ms / 3600000);
	return f;
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct jp_forecaster *f = h->data;
	void (*closed)(void *);
	void *arg;
	if (!jp_closer_done(&f->closer, &closed, &arg))
		return;
	free_forecaster(f);
	jp_closer_none(closed, arg);
}

void jp_forecaster_close(struct jp_forecaster *f, void (*closed)(void *arg), void *arg)
{
	if (!f) {
		jp_closer_none(closed, arg);
		return;
	}
	if (!jp_closer_begin(&f->closer, closed, arg))
		return;
	if (f->xfer) {
		jp_http_cancel(f->xfer);
		f->xfer = NULL;
	}
	f->on_refresh = NULL;
	uv_timer_stop(&f->timer);
	jp_closer_close(&f->closer, (uv_handle_t *)&f->timer, timer_closed_cb);
}

void jp_forecaster_on_refresh(struct jp_forecaster *f, void (*cb)(void *arg, int ok), void *arg)
{
	f->on_refresh = cb;
	f->on_refresh_arg = arg;
}

const struct jp_forecast *jp_forecaster_forecast(const struct jp_forecaster *f) { return &f->fc; }
const char *jp_forecaster_source(const struct jp_forecaster *f) { return source_names[f->src]; }
const char *jp_forecaster_grid_zone(const struct jp_forecaster *f) { return f->grid_zone; }
int64_t jp_forecaster_generated_ms(const struct jp_forecaster *f) { return f->generated_ms; }
uint64_t jp_forecaster_horizon_ms(const struct jp_forecaster *f) { return f->horizon_ms; }
const struct jp_durlist *jp_forecaster_windows(const struct jp_forecaster *f) { return &f->windows; }
const char *jp_forecaster_last_error(const struct jp_forecaster *f) { return f->last_error; }
void jp_forecaster_stats(const struct jp_forecaster *f, struct jp_forecaster_stats *out) { *out = f->st; }

static void set(struct jp_store *st, enum jp_metric_id id, const struct jp_label *l, size_t n, double v)
{
	struct jp_series *s = jp_store_get(st, jp_metric_name(id), l, n);
	if (s)
		jp_store_set(st, s, v);
}

int jp_forecaster_set_series(struct jp_forecaster *f, struct jp_store *st, int64_t now)
{
	double g;
	if (!f || jp_forecast_at(&f->fc, now, &g))
		return 0;   /* no forecast in force: the gauges end */
	const char *src = source_names[f->src];
	char lab[32];
	struct jp_label l[3] = {{"grid_zone", f->grid_zone}, {"source", src}, {"horizon", lab}};
	for (size_t i = 0; i < NHORIZONS; i++) {
		if ((uint64_t)horizons_ms[i] > f->horizon_ms || jp_forecast_at(&f->fc, now + horizons_ms[i], &g))
			continue;
		dur_label((uint64_t)horizons_ms[i], lab, sizeof(lab));
		set(st, JP_M_GRID_CARBON_INTENSITY_FORECAST_GRAMS_PER_KWH, l, 3, g);
	}
	struct jp_label lw[2] = {{"grid_zone", f->grid_zone}, {"window", lab}};
	for (unsigned i = 0; i < f->windows.n; i++) {
		int64_t start;
		double mean;
		int64_t w = (int64_t)f->windows.ms[i];
		if ((uint64_t)w > f->horizon_ms) {
			if (!(f->short_window_logged & (1u << i))) {
				f->short_window_logged |= 1u << i;
				jp_log(JP_LOG_WARN, MOD, "window %" PRIu64 " ms is longer than carbon.forecast.horizon: not "
				       "exported", (uint64_t)w);
			}
			continue;
		}
		if (jp_forecast_best_window(&f->fc, now, (int64_t)f->horizon_ms, w, &start, &mean))
			continue;   /* the forecast does not reach that far */
		dur_label((uint64_t)w, lab, sizeof(lab));
		set(st, JP_M_GRID_GREENEST_WINDOW_START_SECONDS, lw, 2, (double)(start - now) / 1000.0);
		set(st, JP_M_GRID_GREENEST_WINDOW_GRAMS_PER_KWH, lw, 2, mean);
	}
	double rank;
	if (jp_forecast_rank(&f->fc, now, (int64_t)f->horizon_ms, &rank) == 0)
		set(st, JP_M_GRID_CARBON_INTENSITY_RANK_RATIO, l, 1, rank);
	struct jp_label li[4] = {{"grid_zone", f->grid_zone}, {"source", src},
				 {"method", f->src == JP_FORECAST_UKCI ? "ukci_forecast"
					    : f->src == JP_FORECAST_ELECTRICITYMAPS ? "electricitymaps_forecast"
					    : f->src == JP_FORECAST_ENTSOE ? "entsoe_day_ahead" : "file"},
				 {"signal", "average"}};
	set(st, JP_M_GRID_FORECAST_INFO, li, 4, 1);
	return 0;
}
