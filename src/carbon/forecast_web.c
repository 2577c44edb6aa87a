/* SPDX-License-Identifier: Apache-2.0 */
/* The forecast's web face on the local server (docs/carbon.md "Forecasts"): GET
 * /v1/forecast and the Carbon Aware SDK-shaped GET /emissions/forecasts/current, their
 * parameters and their JSON. The forecaster fetches and searches; this file only answers. */
#include "carbon/forecast_web.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carbon/sdk.h"
#include "util/json.h"
#include "util/time.h"

/* {"<key>": msg} or, with a status, {"title": msg, "status": N} (RFC 7807's shape). */
static void error_json(struct jp_buf *out, const char *key, const char *msg, int status)
{
	struct jp_jw w;
	jp_jw_init(&w, out, 0);
	jp_jw_object(&w);
	jp_jw_key(&w, key);
	jp_jw_string(&w, msg);
	if (status) {
		jp_jw_key(&w, "status");
		jp_jw_number(&w, status);
	}
	jp_jw_end(&w);
	if (!jp_jw_finish(&w))
		jp_buf_append(out, "\n", 1);
}

static int forecast_json(const struct jp_forecaster *f, int64_t now, struct jp_buf *out)
{
	const struct jp_forecast *fc = f ? jp_forecaster_forecast(f) : NULL;
	const struct jp_durlist *wl = f ? jp_forecaster_windows(f) : NULL;
	double g;
	if (!f || jp_forecast_at(fc, now, &g))
		return -ENODATA;
	int64_t horizon = (int64_t)jp_forecaster_horizon_ms(f);
	char t[32];
	struct jp_jw w;
	jp_jw_init(&w, out, 0);
	jp_jw_object(&w);
	jp_jw_key(&w, "source");
	jp_jw_string(&w, jp_forecaster_source(f));
	jp_jw_key(&w, "grid_zone");
	jp_jw_string(&w, jp_forecaster_grid_zone(f));
	jp_jw_key(&w, "signal");
	jp_jw_string(&w, jp_forecaster_signal(f));
	jp_jw_key(&w, "generated_at");
	jp_time_format_rfc3339(jp_forecaster_generated_ms(f), t, sizeof(t));
	jp_jw_string(&w, t);
	jp_jw_key(&w, "points");
	jp_jw_array(&w);
	for (size_t i = 0; i < fc->n; i++) {
		const struct jp_fc_point *p = &fc->v[i];
		if (p->end_ms <= now || p->start_ms >= now + horizon)
			continue;
		jp_jw_object(&w);
		jp_jw_key(&w, "start");
		jp_time_format_rfc3339(p->start_ms, t, sizeof(t));
		jp_jw_string(&w, t);
		jp_jw_key(&w, "end");
		jp_time_format_rfc3339(p->end_ms, t, sizeof(t));
		jp_jw_string(&w, t);
		jp_jw_key(&w, "grams_per_kwh");
		jp_jw_number(&w, p->g_per_kwh);
		jp_jw_end(&w);
	}
	jp_jw_end(&w);
	jp_jw_key(&w, "windows");
	jp_jw_array(&w);
	for (unsigned i = 0; i < wl->n; i++) {
		int64_t start;
		double mean;
		if ((int64_t)wl->ms[i] > horizon || jp_forecast_best_window(fc, now, horizon, (int64_t)wl->ms[i], &start, &mean))
			continue;
		jp_jw_object(&w);
		jp_jw_key(&w, "duration_seconds");
		jp_jw_number(&w, (double)(wl->ms[i] / 1000));
		jp_jw_key(&w, "start");
		jp_time_format_rfc3339(start, t, sizeof(t));
		jp_jw_string(&w, t);
		jp_jw_key(&w, "average_grams_per_kwh");
		jp_jw_number(&w, mean);
		jp_jw_end(&w);
	}
	jp_jw_end(&w);
	jp_jw_end(&w);
	int r = jp_jw_finish(&w);
	return r ? r : jp_buf_append(out, "\n", 1);
}

/* The next parameter of a query string "a=1&b=2" from *pos: its key and its value
 * percent-decoded into buf (cut to fit). 0 when there are no more. */
static int query_next(const char **pos, char *key, size_t klen, char *buf, size_t len)
{
	const char *p = *pos;
	while (p && *p == '&')
		p++;
	if (!p || !*p)
		return 0;
	const char *amp = strchr(p, '&');
	size_t n = amp ? (size_t)(amp - p) : strlen(p);
	const char *eq = memchr(p, '=', n);
	size_t kn = eq ? (size_t)(eq - p) : n;
	snprintf(key, klen, "%.*s", (int)(kn < klen ? kn : klen - 1), p);
	size_t o = 0;
	for (size_t i = eq ? kn + 1 : n; i < n && o + 1 < len; i++) {
		unsigned hi, lo;
		if (p[i] == '%' && i + 2 < n && sscanf(p + i + 1, "%1x%1x", &hi, &lo) == 2) {
			buf[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			buf[o++] = p[i] == '+' ? ' ' : p[i];
		}
	}
	buf[o] = '\0';
	*pos = amp ? amp + 1 : NULL;
	return 1;
}

/* ---- the Carbon Aware SDK's route ------------------------------------------------------ */

#define SDK_MAX_LOCATIONS 16

/* A request as the SDK's EmissionsForecastCurrentParametersDTO binds it. */
struct sdk_req {
	char loc[SDK_MAX_LOCATIONS][128];
	unsigned nloc;
	int has_start, has_end;
	int64_t start, end, w_ms;
};

/* An answer of 400: the SDK's problem details (title, detail, and the error of one
 * parameter). */
struct sdk_error {
	const char *title, *detail;
	char key[64];     /* copied: it may name a parameter of the request being bound */
	char msg[256];
};

static int sdk_fail(struct sdk_error *e, const char *title, const char *detail, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int sdk_fail(struct sdk_error *e, const char *title, const char *detail, const char *key, const char *fmt, ...)
{
	va_list ap;
	e->title = title;
	e->detail = detail;
	snprintf(e->key, sizeof(e->key), "%s", key ? key : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return 400;
}

/* Bind the query as the SDK's Web API does: location repeated (empty ones dropped, one at
 * least), RFC 3339 times, whole minutes; then its parameter checks. */
static int sdk_bind(const char *query, struct sdk_req *rq, struct sdk_error *e)
{
	static const char *const bind_title = "One or more validation errors occurred.";
	char k[32], v[160];
	memset(rq, 0, sizeof(*rq));
	for (const char *pos = query; query_next(&pos, k, sizeof(k), v, sizeof(v));) {
		if (!strcmp(k, "location")) {
			if (!*v)
				continue;
			if (rq->nloc == SDK_MAX_LOCATIONS)
				return sdk_fail(e, bind_title, NULL, "location", "at most %d locations", SDK_MAX_LOCATIONS);
			snprintf(rq->loc[rq->nloc++], sizeof(rq->loc[0]), "%s", v);
		} else if (!strcmp(k, "dataStartAt") || !strcmp(k, "dataEndAt")) {
			int s = k[4] == 'S';
			int64_t t;
			if (jp_time_parse(v, strlen(v), &t))
				return sdk_fail(e, bind_title, NULL, k, "The value '%.60s' is not valid for %s.", v,
						s ? "dataStartAt" : "dataEndAt");
			*(s ? &rq->start : &rq->end) = t;
			*(s ? &rq->has_start : &rq->has_end) = 1;
		} else if (!strcmp(k, "windowSize")) {
			char *end;
			errno = 0;
			long m = strtol(v, &end, 10);
			/* A negative workload means nothing: refused here (the SDK binds any int). */
			if (!*v || *end || errno || m < 0 || m > 7 * 24 * 60)
				return sdk_fail(e, bind_title, NULL, "windowSize", "The value '%.60s' is not valid for windowSize.",
						v);
			rq->w_ms = (int64_t)m * 60000;
		}
	}
	if (!rq->nloc)
		return sdk_fail(e, "ArgumentException", "Invalid parameters", "location", "location is not set");
	if (rq->has_start && rq->has_end && rq->start >= rq->end)
		return sdk_fail(e, "ArgumentException", "Invalid parameters", "dataStartAt",
				"dataStartAt must be before dataEndAt");
	return 0;
}

/* The current forecast as the SDK holds it: the points that end after now. */
static size_t sdk_data(const struct jp_forecast *fc, int64_t now, struct jp_sdk_point *out)
{
	size_t n = 0;
	for (size_t i = 0; i < fc->n; i++)
		if (fc->v[i].end_ms > now)
			out[n++] = (struct jp_sdk_point){fc->v[i].start_ms, fc->v[i].end_ms - fc->v[i].start_ms,
							 fc->v[i].g_per_kwh};
	return n;
}

/* An EmissionsDataDTO: location, timestamp, duration (whole minutes), value. */
static void sdk_point(struct jp_jw *w, const char *loc, const struct jp_sdk_point *p)
{
	char ts[32];
	jp_time_format_rfc3339(p->t, ts, sizeof(ts));
	jp_jw_object(w);
	jp_jw_key(w, "location");
	jp_jw_string(w, loc);
	jp_jw_key(w, "timestamp");
	jp_jw_string(w, ts);
	jp_jw_key(w, "duration");
	jp_jw_number(w, (double)(p->dur_ms / 60000));
	jp_jw_key(w, "value");
	jp_jw_number(w, p->v);
	jp_jw_end(w);
}

static void time_member(struct jp_jw *w, const char *key, int64_t t)
{
	char ts[32];
	jp_time_format_rfc3339(t, ts, sizeof(ts));
	jp_jw_key(w, key);
	jp_jw_string(w, ts);
}

/* Write one EmissionsForecastDTO per location over data[0..nd), with its optimal points. */
static int sdk_write(const struct jp_forecaster *f, int64_t now, const struct sdk_req *rq,
		     const struct jp_sdk_point *data, size_t nd, struct jp_buf *out)
{
	size_t *opt = nd ? calloc(nd, sizeof(*opt)) : NULL;
	if (nd && !opt)
		return -ENOMEM;
	size_t nopt = nd ? jp_sdk_optimal(data, nd, opt) : 0;
	struct jp_jw w;
	jp_jw_init(&w, out, 0);
	jp_jw_array(&w);
	for (unsigned l = 0; l < rq->nloc; l++) {
		jp_jw_object(&w);
		time_member(&w, "generatedAt", jp_forecaster_generated_ms(f));
		time_member(&w, "requestedAt", now);
		jp_jw_key(&w, "location");
		jp_jw_string(&w, rq->loc[l]);
		/* Unset, they are the first and the last point given (its start). */
		time_member(&w, "dataStartAt", rq->has_start ? rq->start : data[0].t);
		time_member(&w, "dataEndAt", rq->has_end ? rq->end : data[nd - 1].t);
		jp_jw_key(&w, "windowSize");
		jp_jw_number(&w, (double)(rq->w_ms / 60000));
		jp_jw_key(&w, "optimalDataPoints");
		jp_jw_array(&w);
		for (size_t i = 0; i < nopt; i++)
			sdk_point(&w, rq->loc[l], &data[opt[i]]);
		jp_jw_end(&w);
		jp_jw_key(&w, "forecastData");
		jp_jw_array(&w);
		for (size_t i = 0; i < nd; i++)
			sdk_point(&w, rq->loc[l], &data[i]);
		jp_jw_end(&w);
		jp_jw_end(&w);
	}
	jp_jw_end(&w);
	free(opt);
	int r = jp_jw_finish(&w);
	return r ? r : jp_buf_append(out, "\n", 1);
}

/* ForecastHandler.ProcessAndValidateForecast on the points d[0..n) (n > 0), then the DTO:
 * 200 with out written, 400 with e filled, or 500. */
static int sdk_answer(const struct jp_forecaster *f, int64_t now, const struct sdk_req *rq, struct jp_sdk_point *d,
		      size_t n, struct jp_buf *out, struct sdk_error *e)
{
	int64_t min = d[0].t, max = d[n - 1].t + d[n - 1].dur_ms;
	int64_t start = rq->has_start ? rq->start : min, end = rq->has_end ? rq->end : max;
	char a[32], b[32];
	jp_time_format_rfc3339(min, a, sizeof(a));
	jp_time_format_rfc3339(max, b, sizeof(b));
	if (start >= end)
		return sdk_fail(e, "ArgumentException", "Invalid EmissionsForecast", "dataStartAt",
				"dataStartAt must be earlier than dataEndAt");
	if (start < min || start > max)
		return sdk_fail(e, "ArgumentException", "Invalid EmissionsForecast", "dataStartAt",
				"dataStartAt must be within time range of the forecasted data, '%s' through '%s'", a, b);
	if (end < min || end > max)
		return sdk_fail(e, "ArgumentException", "Invalid EmissionsForecast", "dataEndAt",
				"dataEndAt must be within time range of the forecasted data, '%s' through '%s'", a, b);
	size_t nf = jp_sdk_filter(d, n, start, end, d);
	const struct jp_sdk_point *data = d;
	long nd = (long)nf;
	struct jp_sdk_point *win = NULL;
	if (rq->w_ms > 0 && nf) {
		if (!(win = calloc(nf, sizeof(*win))) || (nd = jp_sdk_rolling(d, nf, rq->w_ms, start, end, win, nf)) < 0) {
			free(win);
			return 500;
		}
		data = win;
	}
	int st = 200;
	if ((!rq->has_start || !rq->has_end) && nd == 0)
		/* The DTO's default dataStartAt is the first point given: with none the SDK fails. */
		st = sdk_fail(e, "InvalidOperationException", "Sequence contains no elements", NULL, "%s", "");
	else if (sdk_write(f, now, rq, data, (size_t)nd, out))
		st = 500;
	free(win);
	return st;
}

static void sdk_error_json(struct jp_buf *out, const struct sdk_error *e)
{
	struct jp_jw w;
	jp_jw_init(&w, out, 0);
	jp_jw_object(&w);
	jp_jw_key(&w, "title");
	jp_jw_string(&w, e->title);
	jp_jw_key(&w, "status");
	jp_jw_number(&w, 400);
	if (e->detail) {
		jp_jw_key(&w, "detail");
		jp_jw_string(&w, e->detail);
	}
	jp_jw_key(&w, "errors");
	jp_jw_object(&w);
	if (e->key[0]) {
		jp_jw_key(&w, e->key);
		jp_jw_array(&w);
		jp_jw_string(&w, e->msg);
		jp_jw_end(&w);
	}
	jp_jw_end(&w);
	jp_jw_end(&w);
	if (!jp_jw_finish(&w))
		jp_buf_append(out, "\n", 1);
}

/* GET /emissions/forecasts/current. */
static int sdk_route(const struct jp_forecaster *f, int64_t now, const char *query, struct jp_buf *out)
{
	struct sdk_req rq;
	struct sdk_error e = {0};
	int st = sdk_bind(query, &rq, &e);
	const struct jp_forecast *fc = f ? jp_forecaster_forecast(f) : NULL;
	struct jp_sdk_point *d = NULL;
	size_t n = 0;
	if (!st && (!fc || !(d = calloc(fc->n ? fc->n : 1, sizeof(*d))) || !(n = sdk_data(fc, now, d))))
		st = 503;
	if (!st)
		st = sdk_answer(f, now, &rq, d, n, out, &e);
	free(d);
	if (st == 200)
		return st;
	jp_buf_reset(out);
	if (st == 400)
		sdk_error_json(out, &e);
	else
		error_json(out, "title", st == 503 ? "no forecast covers now" : "internal error", st);
	return st;
}


int jp_forecast_web_route(const struct jp_forecaster *f, int64_t now, const char *path, const char *query,
			  struct jp_buf *out, const char **ctype)
{
	if (strcmp(path, "/v1/forecast") == 0) {
		*ctype = "application/json";
		if (forecast_json(f, now, out) == 0)
			return 200;
		jp_buf_reset(out);
		error_json(out, "error", f ? "no forecast covers now" : "carbon.forecast.source is none", 0);
		return 503;
	}
	if (strcmp(path, "/emissions/forecasts/current") == 0) {
		*ctype = "application/json";
		return sdk_route(f, now, query, out);
	}
	return 0;
}
