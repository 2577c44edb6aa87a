/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The forecast source on the loop (carbon/forecaster.h).
 *
 * carbon/fetch.c drives refreshes. A refresh replaces the forecast only when it produced at
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
#include "carbon/fetch.h"
#include "carbon/provider.h"
#include "metrics.h"
#include "util/log.h"
#include "util/time.h"

#define MOD "forecast"

/* The fixed horizons of joulepush_grid_carbon_intensity_forecast_grams_per_kwh. */
static const int64_t horizons_ms[] = {3600000, 7200000, 14400000, 28800000, 43200000, 86400000};
#define NHORIZONS (sizeof(horizons_ms) / sizeof(horizons_ms[0]))

struct jp_forecaster {
	const struct jp_provider *p;
	struct jp_provider_conf conf;
	struct jp_fetch *fetch;
	uint64_t horizon_ms;
	struct jp_durlist windows;

	struct jp_forecast fc;
	struct jp_grid_extra extra;     /* the surplus series of the last good refresh */
	int64_t generated_ms;
	char last_error[256];
	unsigned short_window_logged;   /* bit i: window i is longer than the horizon, logged */

	void (*on_refresh)(void *arg, int ok);
	void *on_refresh_arg;

	size_t points, dropped;         /* of the last good forecast */
	struct jp_ratelimit rl_fail;
	int closing;
	void (*closed)(void *arg);
	void *closed_arg;
};

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

/* The file's entries as a forecast: each holds until the next one; the last one for as long
 * as the spacing before it (30 minutes when there is a single entry). */
static int from_series(const struct jp_carbon_series *s, struct jp_forecast *out)
{
	for (size_t i = 0; i < s->n; i++) {
		int64_t end = i + 1 < s->n ? s->v[i + 1].time_ms
			      : s->v[i].time_ms + (i > 0 ? s->v[i].time_ms - s->v[i - 1].time_ms : 1800000);
		if (jp_forecast_add(out, s->v[i].time_ms, end, s->v[i].g_per_kwh))
			return -ENOMEM;
	}
	return 0;
}

static void free_extra(struct jp_grid_extra *x)
{
	jp_forecast_free(&x->renewables);
	jp_forecast_free(&x->load);
	jp_forecast_free(&x->price);
	memset(x, 0, sizeof(*x));
}

/* Take the points a refresh produced: normalise, and replace the forecast when something
 * usable is left. */
static int take(void *owner, struct jp_fetch_result *res, char *why, size_t whylen)
{
	struct jp_forecaster *f = owner;
	struct jp_forecast file_fc = {0}, *fresh = res->forecast ? res->forecast : &file_fc;
	size_t dropped = 0;
	if (res->series && from_series(res->series, fresh)) {
		jp_forecast_free(fresh);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	fresh->max = JP_FORECAST_MAX_G_PER_KWH;   /* an intensity: anything above is a broken source */
	if (jp_forecast_normalize(fresh, &dropped)) {
		jp_forecast_free(fresh);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	dropped += res->skipped;
	int64_t now = jp_fetch_now();
	if (fresh->n == 0 || jp_forecast_end(fresh) <= now) {
		snprintf(why, whylen, "%s forecast has no point after now (%zu dropped)", f->p->name, dropped);
		jp_forecast_free(fresh);
		return -EINVAL;
	}
	jp_forecast_free(&f->fc);
	f->fc = *fresh;
	*fresh = (struct jp_forecast){0};
	free_extra(&f->extra);
	if (res->extra) {
		/* Moved out of the fetch's scratch. */
		f->extra = *res->extra;
		*res->extra = (struct jp_grid_extra){0};
	}
	f->generated_ms = now;
	f->points = f->fc.n;
	f->dropped = dropped;
	if (dropped)
		jp_log(JP_LOG_INFO, MOD, "%zu forecast points dropped (values outside 0..%.0f g/kWh, bad times, "
		       "duplicates)", dropped, JP_FORECAST_MAX_G_PER_KWH);
	return 0;
}

static void done(void *owner, enum jp_fetch_outcome o, const char *why)
{
	struct jp_forecaster *f = owner;
	if (o == JP_FETCH_UNCHANGED)
		return;
	if (o == JP_FETCH_OK) {
		f->last_error[0] = '\0';
	} else {
		snprintf(f->last_error, sizeof(f->last_error), "%s", why);
		jp_log_rl(&f->rl_fail, JP_LOG_WARN, MOD, "%s (keeping the last forecast)", f->last_error);
	}
	if (f->on_refresh)
		f->on_refresh(f->on_refresh_arg, o == JP_FETCH_OK);
}

static const struct jp_fetch_ops fetch_ops = {.take = take, .done = done};

/* ---- public ------------------------------------------------------------------------------ */

struct jp_forecaster *jp_forecaster_create(uv_loop_t *loop, struct jp_http *http, const struct jp_config *cfg)
{
	char why[256];
	const struct jp_provider *p = jp_provider_get(cfg->forecast_source);
	if (!p || !p->forecast_method || (!(p->flags & JP_PROVIDER_FILE) && !http)) {
		errno = EINVAL;
		return NULL;
	}
	struct jp_forecaster *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->p = p;
	f->horizon_ms = cfg->forecast_horizon_ms;
	f->windows = cfg->forecast_windows;
	f->rl_fail.interval_ms = 60000;
	int r = jp_provider_conf_init(p, cfg, &f->conf, why, sizeof(why));
	if (r) {
		jp_log(JP_LOG_ERROR, MOD, "%s", why);
		free(f);
		errno = -r;
		return NULL;
	}
	uint64_t refresh = cfg->forecast_refresh_ms ? cfg->forecast_refresh_ms : 1800000;
	f->fetch = jp_fetch_create(loop, http, p, &f->conf, JP_FETCH_FORECAST, refresh, &fetch_ops, f);
	if (!f->fetch) {
		int e = errno;
		jp_provider_conf_free(&f->conf);
		free(f);
		errno = e;
		return NULL;
	}
	jp_log(JP_LOG_INFO, MOD, "%s forecast every %" PRIu64 " s, greenest windows over %" PRIu64 " h", p->name,
	       refresh / 1000, f->horizon_ms / 3600000);
	return f;
}

static void fetch_closed(void *arg)
{
	struct jp_forecaster *f = arg;
	void (*closed)(void *) = f->closed;
	void *carg = f->closed_arg;
	jp_forecast_free(&f->fc);
	free_extra(&f->extra);
	jp_provider_conf_free(&f->conf);
	free(f);
	if (closed)
		closed(carg);
}

void jp_forecaster_close(struct jp_forecaster *f, void (*closed)(void *arg), void *arg)
{
	if (!f) {
		if (closed)
			closed(arg);
		return;
	}
	if (f->closing)
		return;
	f->closing = 1;
	f->closed = closed;
	f->closed_arg = arg;
	f->on_refresh = NULL;
	jp_fetch_close(f->fetch, fetch_closed, f);
}

void jp_forecaster_on_refresh(struct jp_forecaster *f, void (*cb)(void *arg, int ok), void *arg)
{
	f->on_refresh = cb;
	f->on_refresh_arg = arg;
}

const struct jp_forecast *jp_forecaster_forecast(const struct jp_forecaster *f) { return &f->fc; }
const char *jp_forecaster_source(const struct jp_forecaster *f) { return f->p->name; }
const char *jp_forecaster_signal(const struct jp_forecaster *f) { return f->conf.signal; }
const char *jp_forecaster_grid_zone(const struct jp_forecaster *f) { return f->conf.grid_zone; }
int64_t jp_forecaster_generated_ms(const struct jp_forecaster *f) { return f->generated_ms; }
uint64_t jp_forecaster_horizon_ms(const struct jp_forecaster *f) { return f->horizon_ms; }
const struct jp_durlist *jp_forecaster_windows(const struct jp_forecaster *f) { return &f->windows; }
const char *jp_forecaster_last_error(const struct jp_forecaster *f) { return f->last_error; }
void jp_forecaster_stats(const struct jp_forecaster *f, struct jp_forecaster_stats *out)
{
	struct jp_fetch_stats st;
	jp_fetch_stats(f->fetch, &st);
	*out = (struct jp_forecaster_stats){.requests = st.requests, .successes = st.successes,
					    .failures = st.failures, .rate_limited = st.rate_limited,
					    .points = f->points, .dropped = f->dropped,
					    .next_delay_ms = st.next_delay_ms};
}

static void set(struct jp_store *st, enum jp_metric_id id, const struct jp_label *l, size_t n, double v)
{
	struct jp_series *s = jp_store_get(st, jp_metric_name(id), l, n);
	if (s)
		jp_store_set(st, s, v);
}

/* Wind and solar over the load at t (both known, the load positive). */
static int surplus_ratio(const struct jp_grid_extra *x, int64_t t, double *ratio)
{
	double ren, load;
	if (jp_forecast_at(&x->renewables, t, &ren) || jp_forecast_at(&x->load, t, &load) || !(load > 0))
		return -ENODATA;
	*ratio = ren / load;
	return 0;
}

/* Whether there is a surplus at t: wind and solar reach the load, or power costs nothing. */
static int surplus_at(const struct jp_grid_extra *x, int64_t t)
{
	double v;
	return (surplus_ratio(x, t, &v) == 0 && v >= 1) || (jp_forecast_at(&x->price, t, &v) == 0 && v <= 0);
}

/* The next time from now_ms within the horizon with a surplus: now, or the start of a
 * point of one of the series. Returns 0 with *start, or -ENODATA. */
static int surplus_next(const struct jp_grid_extra *x, int64_t now, int64_t horizon, int64_t *start)
{
	if (surplus_at(x, now)) {
		*start = now;
		return 0;
	}
	const struct jp_forecast *ser[3] = {&x->renewables, &x->load, &x->price};
	int64_t best = INT64_MAX;
	for (int k = 0; k < 3; k++)
		for (size_t i = 0; i < ser[k]->n; i++) {
			int64_t t = ser[k]->v[i].start_ms;
			if (t > now && t <= now + horizon && t < best && surplus_at(x, t))
				best = t;
		}
	if (best == INT64_MAX)
		return -ENODATA;
	*start = best;
	return 0;
}

/* The green-surplus gauges of docs/carbon.md "Green surplus", for the horizons now (0h)
 * and those of the forecast gauges. */
static void set_surplus(struct jp_forecaster *f, struct jp_store *st, int64_t now)
{
	const struct jp_grid_extra *x = &f->extra;
	char lab[32];
	struct jp_label l[2] = {{"grid_zone", f->conf.grid_zone}, {"horizon", lab}};
	struct jp_label pl[3] = {{"grid_zone", f->conf.grid_zone}, {"currency", x->currency}, {"horizon", lab}};
	for (size_t i = 0; i <= NHORIZONS; i++) {
		int64_t h = i ? horizons_ms[i - 1] : 0;
		double v;
		if ((uint64_t)h > f->horizon_ms)
			continue;
		if (i)
			dur_label((uint64_t)h, lab, sizeof(lab));
		else
			snprintf(lab, sizeof(lab), "0h");
		if (surplus_ratio(x, now + h, &v) == 0)
			set(st, JP_M_GRID_RENEWABLE_SURPLUS_RATIO, l, 2, v);
		if (x->currency[0] && jp_forecast_at(&x->price, now + h, &v) == 0)
			set(st, JP_M_GRID_DAY_AHEAD_PRICE, pl, 3, v);
	}
	int64_t start;
	if (surplus_next(x, now, (int64_t)f->horizon_ms, &start) == 0)
		set(st, JP_M_GRID_SURPLUS_WINDOW_START_SECONDS, l, 1, (double)(start - now) / 1000.0);
}

int jp_forecaster_set_series(struct jp_forecaster *f, struct jp_store *st, int64_t now)
{
	if (f && f->conf.surplus)
		set_surplus(f, st, now);   /* its own series: they need no intensity forecast */
	double g;
	if (!f || jp_forecast_at(&f->fc, now, &g))
		return 0;   /* no forecast in force: the gauges end */
	const char *src = f->p->name;
	char lab[32];
	struct jp_label l[4] = {{"grid_zone", f->conf.grid_zone}, {"source", src}, {"signal", f->conf.signal},
				{"horizon", lab}};
	for (size_t i = 0; i < NHORIZONS; i++) {
		if ((uint64_t)horizons_ms[i] > f->horizon_ms || jp_forecast_at(&f->fc, now + horizons_ms[i], &g))
			continue;
		dur_label((uint64_t)horizons_ms[i], lab, sizeof(lab));
		set(st, JP_M_GRID_CARBON_INTENSITY_FORECAST_GRAMS_PER_KWH, l, 4, g);
	}
	struct jp_label lw[2] = {{"grid_zone", f->conf.grid_zone}, {"window", lab}};
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
	struct jp_label li[4] = {{"grid_zone", f->conf.grid_zone}, {"source", src},
				 {"method", f->p->forecast_method},
				 {"signal", f->conf.signal}};
	set(st, JP_M_GRID_FORECAST_INFO, li, 4, 1);
	return 0;
}
