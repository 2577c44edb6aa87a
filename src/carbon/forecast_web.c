/* SPDX-License-Identifier: Apache-2.0 */
/* The forecast's web face on the local server (docs/carbon.md "Forecasts"): GET
 * /v1/forecast and the Carbon Aware SDK-shaped GET /emissions/forecasts/current, their
 * parameters and their JSON. The forecaster fetches and searches; this file only answers. */
#include "carbon/forecast_web.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/time.h"

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
	jp_jw_string(&w, "average");
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

/* The value of key in a query string "a=1&b=2", percent-decoded into buf; 1 when present. */
static int query_get(const char *query, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);
	for (const char *p = query; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			size_t o = 0;
			for (size_t i = kl + 1; i < n && o + 1 < len; i++) {
				unsigned hi, lo;
				if (p[i] == '%' && i + 2 < n && sscanf(p + i + 1, "%1x%1x", &hi, &lo) == 2) {
					buf[o++] = (char)(hi * 16 + lo);
					i += 2;
				} else {
					buf[o++] = p[i] == '+' ? ' ' : p[i];
				}
			}
			buf[o] = '\0';
			return 1;
		}
		p = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* A data point of the SDK's EmissionsDataDTO: its start, duration and value. */
struct sdk_pt {
	int64_t t, dur_ms;
	double v;
};

static void sdk_point(struct jp_jw *w, const char *loc, const struct sdk_pt *p)
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

static int sdk_json(const struct jp_forecaster *f, int64_t now, const char *query, struct jp_buf *out)
{
	const struct jp_forecast *fc = f ? jp_forecaster_forecast(f) : NULL;
	char loc[128] = "", tbuf[64];
	double g;
	if (!f || jp_forecast_at(fc, now, &g))
		return 503;
	if (!query_get(query, "location", loc, sizeof(loc)))
		snprintf(loc, sizeof(loc), "%s", jp_forecaster_grid_zone(f));
	int64_t from = now, to = jp_forecast_end(fc), w = 0;
	if (query_get(query, "dataStartAt", tbuf, sizeof(tbuf)) &&
	    jp_time_parse(tbuf, strlen(tbuf), &from))
		return 400;
	if (query_get(query, "dataEndAt", tbuf, sizeof(tbuf)) && jp_time_parse(tbuf, strlen(tbuf), &to))
		return 400;
	if (query_get(query, "windowSize", tbuf, sizeof(tbuf))) {
		char *e;
		long m = strtol(tbuf, &e, 10);
		if (*e || m < 0 || m > 7 * 24 * 60)
			return 400;
		w = (int64_t)m * 60000;
	}
	if (to <= from)
		return 400;
	/* The data: the points themselves, or the mean of each window of windowSize that
	 * starts at a point boundary in range and is covered. */
	struct sdk_pt *pts = fc->n ? calloc(fc->n, sizeof(*pts)) : NULL;
	size_t n = 0, best = 0;
	if (fc->n && !pts)
		return 500;
	for (size_t i = 0; i < fc->n; i++) {
		const struct jp_fc_point *p = &fc->v[i];
		int64_t t = p->start_ms < from ? from : p->start_ms;
		int64_t d = w ? w : p->end_ms - t;
		double v = p->g_per_kwh;
		if (p->end_ms <= from || t >= to || t + d > to)
			continue;
		if (w && jp_forecast_mean(fc, t, t + w, &v))
			continue;
		pts[n] = (struct sdk_pt){t, d, v};
		if (v < pts[best].v)
			best = n;
		n++;
	}
	char gen[32], s0[32], s1[32];
	jp_time_format_rfc3339(jp_forecaster_generated_ms(f), gen, sizeof(gen));
	jp_time_format_rfc3339(from, s0, sizeof(s0));
	jp_time_format_rfc3339(to, s1, sizeof(s1));
	struct jp_jw jw;
	jp_jw_init(&jw, out, 0);
	jp_jw_array(&jw);
	jp_jw_object(&jw);
	jp_jw_key(&jw, "generatedAt");
	jp_jw_string(&jw, gen);
	jp_jw_key(&jw, "requestedAt");
	jp_jw_string(&jw, gen);
	jp_jw_key(&jw, "location");
	jp_jw_string(&jw, loc);
	jp_jw_key(&jw, "dataStartAt");
	jp_jw_string(&jw, s0);
	jp_jw_key(&jw, "dataEndAt");
	jp_jw_string(&jw, s1);
	jp_jw_key(&jw, "windowSize");
	jp_jw_number(&jw, (double)(w / 60000));
	jp_jw_key(&jw, "optimalDataPoints");
	jp_jw_array(&jw);
	if (n)
		sdk_point(&jw, loc, &pts[best]);
	jp_jw_end(&jw);
	jp_jw_key(&jw, "forecastData");
	jp_jw_array(&jw);
	for (size_t i = 0; i < n; i++)
		sdk_point(&jw, loc, &pts[i]);
	jp_jw_end(&jw);
	jp_jw_end(&jw);
	jp_jw_end(&jw);
	free(pts);
	int r = jp_jw_finish(&jw);
	if (!r)
		r = jp_buf_append(out, "\n", 1);
	return r ? 500 : 200;
}

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
		int st = sdk_json(f, now, query, out);
		if (st != 200) {
			jp_buf_reset(out);
			error_json(out, "title", st == 400 ? "bad query parameter" : "no forecast covers now", st);
		}
		return st;
	}
	return 0;
}
