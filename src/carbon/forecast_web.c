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
	const struct jp_durlist *w = f ? jp_forecaster_windows(f) : NULL;
	double g;
	if (!f || jp_forecast_at(fc, now, &g))
		return -ENODATA;
	char t0[32], t1[32];
	jp_time_format_rfc3339(jp_forecaster_generated_ms(f), t0, sizeof(t0));
	int r = jp_buf_printf(out, "{\"source\":\"%s\",\"grid_zone\":\"%s\",\"signal\":\"average\",\"generated_at\":\"%s\","
			      "\"points\":[", jp_forecaster_source(f), jp_forecaster_grid_zone(f), t0);
	int first = 1;
	for (size_t i = 0; r == 0 && i < fc->n; i++) {
		const struct jp_fc_point *p = &fc->v[i];
		if (p->end_ms <= now || p->start_ms >= now + (int64_t)jp_forecaster_horizon_ms(f))
			continue;
		jp_time_format_rfc3339(p->start_ms, t0, sizeof(t0));
		jp_time_format_rfc3339(p->end_ms, t1, sizeof(t1));
		r = jp_buf_printf(out, "%s{\"start\":\"%s\",\"end\":\"%s\",\"grams_per_kwh\":", first ? "" : ",", t0, t1);
		if (!r)
			r = jp_json_number(out, p->g_per_kwh);
		if (!r)
			r = jp_buf_append(out, "}", 1);
		first = 0;
	}
	if (r == 0)
		r = jp_buf_printf(out, "],\"windows\":[");
	first = 1;
	for (unsigned i = 0; r == 0 && i < w->n; i++) {
		int64_t start;
		double mean;
		if ((uint64_t)w->ms[i] > jp_forecaster_horizon_ms(f) ||
		    jp_forecast_best_window(fc, now, (int64_t)jp_forecaster_horizon_ms(f), (int64_t)w->ms[i], &start, &mean))
			continue;
		jp_time_format_rfc3339(start, t0, sizeof(t0));
		r = jp_buf_printf(out, "%s{\"duration_seconds\":%" PRIu64 ",\"start\":\"%s\",\"average_grams_per_kwh\":",
				  first ? "" : ",", w->ms[i] / 1000, t0);
		if (!r)
			r = jp_json_number(out, mean);
		if (!r)
			r = jp_buf_append(out, "}", 1);
		first = 0;
	}
	if (r == 0)
		r = jp_buf_printf(out, "]}\n");
	return r;
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

static int sdk_point(struct jp_buf *out, int first, const char *loc, int64_t t, int64_t dur_ms, double v)
{
	char ts[32];
	jp_time_format_rfc3339(t, ts, sizeof(ts));
	int r = jp_buf_printf(out, "%s{\"location\":", first ? "" : ",");
	if (!r)
		r = jp_json_string(out, loc);
	if (!r)
		r = jp_buf_printf(out, ",\"timestamp\":\"%s\",\"duration\":%" PRId64 ",\"value\":", ts, dur_ms / 60000);
	if (!r)
		r = jp_json_number(out, v);
	if (!r)
		r = jp_buf_append(out, "}", 1);
	return r;
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
	struct jp_buf data = {0};
	int first = 1, have = 0, r = 0;
	int64_t best_t = 0, best_d = 0;
	double best = 0;
	for (size_t i = 0; !r && i < fc->n; i++) {
		const struct jp_fc_point *p = &fc->v[i];
		int64_t t = p->start_ms < from ? from : p->start_ms;
		int64_t d = w ? w : p->end_ms - t;
		double v = p->g_per_kwh;
		if (p->end_ms <= from || t >= to || t + d > to)
			continue;
		if (w && jp_forecast_mean(fc, t, t + w, &v))
			continue;
		r = sdk_point(&data, first, loc, t, d, v);
		first = 0;
		if (!have || v < best) {
			have = 1;
			best = v;
			best_t = t;
			best_d = d;
		}
	}
	char gen[32], s0[32], s1[32];
	jp_time_format_rfc3339(jp_forecaster_generated_ms(f), gen, sizeof(gen));
	jp_time_format_rfc3339(from, s0, sizeof(s0));
	jp_time_format_rfc3339(to, s1, sizeof(s1));
	if (!r)
		r = jp_buf_printf(out, "[{\"generatedAt\":\"%s\",\"requestedAt\":\"%s\",\"location\":", gen, gen);
	if (!r)
		r = jp_json_string(out, loc);
	if (!r)
		r = jp_buf_printf(out, ",\"dataStartAt\":\"%s\",\"dataEndAt\":\"%s\",\"windowSize\":%" PRId64
				  ",\"optimalDataPoints\":[", s0, s1, w / 60000);
	if (!r && have)
		r = sdk_point(out, 1, loc, best_t, best_d, best);
	if (!r)
		r = jp_buf_printf(out, "],\"forecastData\":[");
	if (!r && data.len)
		r = jp_buf_append(out, data.data, data.len);
	if (!r)
		r = jp_buf_printf(out, "]}]\n");
	jp_buf_free(&data);
	return r ? 500 : 200;
}

int jp_forecast_web_route(const struct jp_forecaster *f, int64_t now, const char *path, const char *query,
			  struct jp_buf *out, const char **ctype)
{
	if (strcmp(path, "/v1/forecast") == 0) {
		*ctype = "application/json";
		if (forecast_json(f, now, out) == 0)
			return 200;
		jp_buf_reset(out);
		jp_buf_printf(out, "{\"error\":\"%s\"}\n", f ? "no forecast covers now" : "carbon.forecast.source is none");
		return 503;
	}
	if (strcmp(path, "/emissions/forecasts/current") == 0) {
		*ctype = "application/json";
		int st = sdk_json(f, now, query, out);
		if (st != 200) {
			jp_buf_reset(out);
			jp_buf_printf(out, "{\"title\":\"%s\",\"status\":%d}\n",
				      st == 400 ? "bad query parameter" : "no forecast covers now", st);
		}
		return st;
	}
	return 0;
}
