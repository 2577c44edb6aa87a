/* SPDX-License-Identifier: Apache-2.0 */
/* The grid carbon intensity in force (docs/carbon.md): the configured source, refreshed on the
 * loop, with staleness and the fallback value. */
#include "carbon/intensity.h"
#include "metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carbon/cfile.h"
#include "carbon/factors.h"
#include "carbon/fetch.h"
#include "carbon/provider.h"
#include "util/log.h"
#include "util/time.h"

#define MOD "carbon"

struct jp_intensity {
	const struct jp_provider *p;
	struct jp_provider_conf conf;
	struct jp_fetch *fetch;       /* NULL for the static source */
	double fallback_g, fallback_cfe;
	uint64_t max_age_ms;

	/* The last good value. */
	int has_value;
	double g;
	int64_t data_ms;
	int has_mix;
	struct jp_mix mix;
	double renewable;
	double carbon_free;   /* of the last good value; < 0: not known */
	double signal_index;  /* its rank among recent values (marginal sources); < 0: not known */

	struct jp_carbon_series fseries;   /* the file source */

	struct jp_ratelimit rl_fail, rl_nodata, rl_skip;
	uv_timer_t handle;            /* never started: makes the close go through the loop */
	int closing;
	void (*closed)(void *arg);
	void *closed_arg;
};

/* ---- what a refresh brings ----------------------------------------------------------- */

static int take(void *owner, struct jp_fetch_result *res, char *why, size_t whylen)
{
	struct jp_intensity *in = owner;
	(void)why;
	(void)whylen;
	if (res->series) {
		jp_carbon_series_free(&in->fseries);
		in->fseries = *res->series;
		*res->series = (struct jp_carbon_series){0};
		jp_info(MOD, "file: read %zu entries from %s", in->fseries.n, in->conf.file_path);
		return 0;
	}
	const struct jp_live *v = res->live;
	if (v->note[0])
		jp_log_rl(&in->rl_skip, JP_LOG_INFO, MOD, "%s: %s", in->p->name, v->note);
	in->has_value = 1;
	in->g = v->g_per_kwh;
	in->data_ms = v->data_ms;
	in->carbon_free = v->carbon_free;
	in->signal_index = v->signal_index;
	in->has_mix = v->has_mix;
	if (v->has_mix) {
		in->mix = v->mix;
		in->renewable = v->renewable;
	}
	int64_t age = jp_fetch_now() - v->data_ms;
	if (age > (int64_t)in->max_age_ms)
		jp_log_rl(&in->rl_nodata, JP_LOG_INFO, MOD,
			  "%s: newest data is %lld s old (over carbon.max_age): using the fallback intensity",
			  in->p->name, (long long)(age / 1000));
	else
		jp_debug(MOD, "%s: %.1f g/kWh for %s", in->p->name, in->g, in->conf.grid_zone);
	return 0;
}

static void done(void *owner, enum jp_fetch_outcome o, const char *why)
{
	struct jp_intensity *in = owner;
	if (o == JP_FETCH_FAILED)
		jp_log_rl(&in->rl_fail, JP_LOG_WARN, MOD, "%s: refresh failed: %s; %s", in->p->name, why,
			  in->has_value ? "keeping the last good value while it is fresh" : "using the fallback intensity");
	else if (o == JP_FETCH_NODATA)
		jp_log_rl(&in->rl_nodata, JP_LOG_INFO, MOD, "%s: no data: %s", in->p->name, why);
}

static const struct jp_fetch_ops fetch_ops = {.take = take, .done = done};

static void handle_closed_cb(uv_handle_t *h);

/* ---- public --------------------------------------------------------------------------- */

struct jp_intensity *jp_intensity_create(uv_loop_t *loop, struct jp_http *http, const struct jp_config *cfg)
{
	char why[256];
	const struct jp_provider *p = jp_provider_get(cfg->carbon_source);
	if (!p || p->id == JP_CARBON_NONE) {
		errno = EINVAL;
		return NULL;
	}
	struct jp_intensity *in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->p = p;
	in->fallback_g = cfg->carbon_grams_per_kwh;
	in->fallback_cfe = cfg->carbon_free_ratio;
	in->carbon_free = in->signal_index = -1;
	in->max_age_ms = cfg->carbon_max_age_ms;
	in->rl_fail.interval_ms = in->rl_nodata.interval_ms = in->rl_skip.interval_ms = 60000;
	int r = jp_provider_conf_init(p, cfg, &in->conf, why, sizeof(why));
	if (r) {
		jp_log(JP_LOG_ERROR, MOD, "%s", why);
		free(in);
		errno = -r;
		return NULL;
	}
	if (uv_timer_init(loop, &in->handle) != 0) {
		jp_provider_conf_free(&in->conf);
		free(in);
		errno = EINVAL;
		return NULL;
	}
	in->handle.data = in;
	if (p->live_request || p->read) {
		in->fetch = jp_fetch_create(loop, http, p, &in->conf, JP_FETCH_LIVE, cfg->carbon_refresh_ms, &fetch_ops, in);
		if (!in->fetch) {
			/* The handle is closed by the caller's loop; the object goes with it. */
			int e = errno;
			in->closing = 1;
			uv_close((uv_handle_t *)&in->handle, handle_closed_cb);
			errno = e;
			return NULL;
		}
	}
	return in;
}

static int marginal(const struct jp_intensity *in)
{
	return !strcmp(in->conf.signal, "marginal");
}

/* The source's own value at now_ms, or the fallback when it has none in force. */
static double own_value(const struct jp_intensity *in, int64_t now_ms, const char **source)
{
	double g = in->fallback_g;
	*source = "fallback";
	if (!in->fetch) {
		*source = in->p->name;   /* static */
	} else if (in->p->flags & JP_PROVIDER_FILE) {
		const struct jp_carbon_entry *e = jp_carbon_series_at(&in->fseries, now_ms);
		if (e && now_ms - e->time_ms <= (int64_t)in->max_age_ms) {
			g = e->g_per_kwh;
			*source = in->p->name;
		}
	} else if (in->has_value && now_ms - in->data_ms <= (int64_t)in->max_age_ms) {
		g = in->g;
		*source = in->p->name;
	}
	return g;
}

double jp_intensity_current(struct jp_intensity *in, int64_t now_ms, const char **source, const char **grid_zone)
{
	const char *s;
	double g;
	if (marginal(in)) {
		/* A marginal rate is no inventory figure: the counters keep the average. */
		g = in->fallback_g;
		s = "static";
	} else {
		g = own_value(in, now_ms, &s);
	}
	if (source)
		*source = s;
	if (grid_zone)
		*grid_zone = marginal(in) ? "static" : in->conf.grid_zone;
	return g;
}

int jp_intensity_marginal(const struct jp_intensity *in, int64_t now_ms, double *g_per_kwh)
{
	const char *s;
	if (!marginal(in))
		return -ENODATA;
	*g_per_kwh = own_value(in, now_ms, &s);
	return strcmp(s, "fallback") ? 0 : -ENODATA;
}

double jp_intensity_carbon_free(const struct jp_intensity *in, int64_t now_ms)
{
	double r = in->fallback_cfe;   /* static, and the fallback */
	if (in->p->flags & JP_PROVIDER_FILE) {
		const struct jp_carbon_entry *e = jp_carbon_series_at(&in->fseries, now_ms);
		if (e && now_ms - e->time_ms <= (int64_t)in->max_age_ms)
			r = e->carbon_free;
	} else if (in->fetch && !marginal(in) && in->has_value && now_ms - in->data_ms <= (int64_t)in->max_age_ms) {
		r = in->carbon_free;
	}
	return r >= 0 && r <= 1 ? r : -1;
}

int jp_intensity_set_series(struct jp_intensity *in, struct jp_store *store)
{
	const char *src, *zone;
	int64_t now = jp_now_wall_ms();
	double g = jp_intensity_current(in, now, &src, &zone);
	struct jp_label l[3] = {{"grid_zone", zone}, {"source", src}, {"signal", "average"}};
	struct jp_series *s = jp_store_get(store, jp_metric_name(JP_M_GRID_CARBON_INTENSITY_GRAMS_PER_KWH), l, 3);
	if (!s)
		return -errno;
	jp_store_set(store, s, g);
	double mg;
	if (jp_intensity_marginal(in, now, &mg) == 0) {
		struct jp_label ml[3] = {{"grid_zone", in->conf.grid_zone}, {"source", in->p->name}, {"signal", "marginal"}};
		s = jp_store_get(store, jp_metric_name(JP_M_GRID_CARBON_INTENSITY_GRAMS_PER_KWH), ml, 3);
		if (!s)
			return -errno;
		jp_store_set(store, s, mg);
		if (in->signal_index >= 0) {
			s = jp_store_get(store, jp_metric_name(JP_M_GRID_SIGNAL_INDEX_RATIO), ml, 2);
			if (!s)
				return -errno;
			jp_store_set(store, s, in->signal_index);
		}
	}
	double cfe = jp_intensity_carbon_free(in, now);
	if (cfe >= 0) {
		s = jp_store_get(store, jp_metric_name(JP_M_GRID_CARBON_FREE_RATIO), l, 2);
		if (!s)
			return -errno;
		jp_store_set(store, s, cfe);
	}

	/* The mix is shown only while it is the one in force. */
	if (in->has_mix && !strcmp(src, in->p->name)) {
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
	if (in->fetch) {
		struct jp_fetch_stats st;
		jp_fetch_stats(in->fetch, &st);
		struct jp_label fl[1] = {{"source", in->p->name}};
		s = jp_store_get(store, jp_metric_name(JP_M_CARBON_REFRESH_FAILURES_TOTAL), fl, 1);
		if (!s)
			return -errno;
		jp_store_set(store, s, (double)st.failures);
	}
	return 0;
}

void jp_intensity_stats(const struct jp_intensity *in, struct jp_intensity_stats *out)
{
	struct jp_fetch_stats st;
	jp_fetch_stats(in->fetch, &st);
	*out = (struct jp_intensity_stats){.requests = st.requests, .successes = st.successes, .no_data = st.no_data,
					   .failures = st.failures, .rate_limited = st.rate_limited,
					   .next_delay_ms = st.next_delay_ms};
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct jp_intensity *in = h->data;
	void (*closed)(void *) = in->closed;
	void *carg = in->closed_arg;
	jp_carbon_series_free(&in->fseries);
	jp_provider_conf_free(&in->conf);
	free(in);
	if (closed)
		closed(carg);
}

static void fetch_closed(void *arg)
{
	struct jp_intensity *in = arg;
	uv_close((uv_handle_t *)&in->handle, handle_closed_cb);
}

void jp_intensity_close(struct jp_intensity *in, void (*closed)(void *arg), void *arg)
{
	if (!in) {
		if (closed)
			closed(arg);
		return;
	}
	if (in->closing)
		return;   /* already closing */
	in->closing = 1;
	in->closed = closed;
	in->closed_arg = arg;
	if (in->fetch)
		jp_fetch_close(in->fetch, fetch_closed, in);
	else
		fetch_closed(in);
}
