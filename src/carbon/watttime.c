/* SPDX-License-Identifier: Apache-2.0 */
/* WattTime's API v3, and its provider row (carbon/watttime.h, carbon/provider.h). */
#include "carbon/watttime.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carbon/forecast.h"
#include "carbon/provider.h"
#include "util/buf.h"
#include "util/json_read.h"
#include "util/time.h"

#define SESSION_MAX 4096
#define MAX_POINTS 100000

int jp_wt_parse_login(const void *buf, size_t len, char **session, char *why, size_t whylen)
{
	struct json_object *o = jp_json_parse(buf, len, JP_WT_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	struct json_object *t = jp_json_get(o, "token");
	int r = 0;
	const char *s = t && json_object_is_type(t, json_type_string) ? json_object_get_string(t) : NULL;
	size_t n = s ? strlen(s) : 0;
	for (size_t i = 0; s && i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			s = NULL;   /* it goes into a header: printable ASCII only */
	if (!s || n == 0 || n > SESSION_MAX) {
		snprintf(why, whylen, "the login answer has no usable token");
		r = -EINVAL;
	} else if (!(*session = strdup(s))) {
		r = -ENOMEM;
	}
	if (t && json_object_is_type(t, json_type_string))
		explicit_bzero((char *)json_object_get_string(t), n);
	json_object_put(o);
	return r;
}

/* An answer's data array, or NULL. */
static struct json_object *data_array(struct json_object *o)
{
	struct json_object *a = jp_json_get(o, "data");
	return a && json_object_is_type(a, json_type_array) ? a : NULL;
}

static int units_are(struct json_object *o, const char *want, char *why, size_t whylen)
{
	struct json_object *u = jp_json_get(jp_json_get(o, "meta"), "units");
	if (!u)
		return 0;   /* not said: taken as documented */
	if (!json_object_is_type(u, json_type_string) || strcmp(json_object_get_string(u), want)) {
		snprintf(why, whylen, "units \"%.40s\", not %s", json_object_is_type(u, json_type_string)
			 ? json_object_get_string(u) : "?", want);
		return -EINVAL;
	}
	return 0;
}

int jp_wt_parse_forecast(const void *buf, size_t len, struct jp_forecast *out, size_t *skipped, char *why,
			 size_t whylen)
{
	struct json_object *o = jp_json_parse(buf, len, JP_WT_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	struct json_object *a = data_array(o);
	size_t n = a ? json_object_array_length(a) : 0, skip = 0;
	int r = 0;
	double period_s = 300;
	struct json_object *p = jp_json_get(jp_json_get(o, "meta"), "data_point_period_seconds");
	if (!a) {
		struct json_object *e = jp_json_get(o, "error");
		snprintf(why, whylen, "no data array in answer%s%.120s", e && json_object_is_type(e, json_type_string) ? ": " : "",
			 e && json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "");
		r = -EINVAL;
	} else if ((r = units_are(o, "lbs_co2_per_mwh", why, whylen))) {
		/* refused */
	} else if (p && (jp_json_get_number(p, &period_s) || period_s < 60 || period_s > 3600)) {
		snprintf(why, whylen, "data_point_period_seconds is not 60 to 3600");
		r = -EINVAL;
	} else if (n == 0) {
		snprintf(why, whylen, "no forecast points");
		r = -ENODATA;
	} else if (n > MAX_POINTS) {
		snprintf(why, whylen, "more than %d points", MAX_POINTS);
		r = -EINVAL;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct json_object *pt = json_object_array_get_idx(a, i);
		struct json_object *t = jp_json_get(pt, "point_time");
		int64_t ts;
		double v;
		if (!t || !json_object_is_type(t, json_type_string) ||
		    jp_time_parse(json_object_get_string(t), (size_t)json_object_get_string_len(t), &ts)) {
			snprintf(why, whylen, "point %zu: missing or bad point_time", i);
			r = -EINVAL;
		} else if (jp_json_get_number(jp_json_get(pt, "value"), &v) || !isfinite(v) || v < 0) {
			skip++;
		} else if (jp_forecast_add(out, ts, ts + (int64_t)(period_s * 1000), v * JP_WT_G_PER_KWH_PER_LBS_PER_MWH)) {
			r = -ENOMEM;
		}
	}
	if (skipped)
		*skipped = skip;
	json_object_put(o);
	return r;
}

int jp_wt_parse_index(const void *buf, size_t len, double *ratio, char *why, size_t whylen)
{
	struct json_object *o = jp_json_parse(buf, len, JP_WT_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	struct json_object *a = data_array(o);
	double v;
	int r = units_are(o, "percentile", why, whylen);
	if (!r && (!a || json_object_array_length(a) == 0)) {
		snprintf(why, whylen, "no signal index in answer");
		r = -ENODATA;
	} else if (!r && (jp_json_get_number(jp_json_get(json_object_array_get_idx(a, 0), "value"), &v) || v < 0 ||
			  v > 100)) {
		snprintf(why, whylen, "the signal index is not a percentile");
		r = -EINVAL;
	} else if (!r) {
		*ratio = v / 100;
	}
	json_object_put(o);
	return r;
}

/* ---- the provider row (carbon/provider.h) ------------------------------------------- */

static int wt_setup(const struct jp_config *cfg, struct jp_provider_conf *c, char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	snprintf(c->grid_zone, sizeof(c->grid_zone), "%s", cfg->wt_region ? cfg->wt_region : "");
	if (jp_provider_dup(&c->url, cfg->wt_url) || jp_provider_dup(&c->zone, cfg->wt_region) ||
	    jp_provider_dup(&c->user_file, cfg->wt_username_file) ||
	    jp_provider_dup(&c->password_file, cfg->wt_password_file) ||
	    jp_provider_dup(&c->signal_type, cfg->wt_signal_type && *cfg->wt_signal_type ? cfg->wt_signal_type : "co2_moer"))
		return -ENOMEM;
	/* co2_moer: the marginal operating emissions rate; co2_aoer: the average one. */
	c->signal = strcmp(c->signal_type, "co2_aoer") ? "marginal" : "average";
	return 0;
}

/* <url>/<route>?region=<region>&signal_type=<signal>[&horizon_hours=<h>], with the session. */
static int wt_req(const struct jp_provider_conf *c, const char *route, int horizon_h, const char *session,
		  struct jp_provider_req *rq)
{
	struct jp_buf b = {0};
	size_t bl = strlen(c->url);
	while (bl && c->url[bl - 1] == '/')
		bl--;
	int r = jp_buf_append(&b, c->url, bl);
	r = r ? r : jp_buf_printf(&b, "/%s?region=", route);
	r = r ? r : jp_buf_append_urlencoded(&b, c->zone);
	r = r ? r : jp_buf_printf(&b, "&signal_type=");
	r = r ? r : jp_buf_append_urlencoded(&b, c->signal_type);
	if (!r && horizon_h >= 0)
		r = jp_buf_printf(&b, "&horizon_hours=%d", horizon_h);
	r = r ? r : jp_buf_append(&b, "", 1);
	if (r) {
		jp_buf_free(&b);
		return -ENOMEM;
	}
	if (jp_provider_req_set(rq, (char *)b.data, NULL, NULL))
		return -ENOMEM;
	if (session && asprintf(&rq->header, "Authorization: Bearer %s", session) < 0) {
		rq->header = NULL;
		jp_provider_req_free(rq);
		return -ENOMEM;
	}
	return 0;
}

/* Document 0: the forecast's first point, the rate in force; document 1: its signal index. */
static int wt_live_request(const struct jp_provider_conf *c, const char *session, int64_t now_ms, unsigned doc,
			   struct jp_provider_req *rq)
{
	(void)now_ms;
	return doc == 0 ? wt_req(c, "v3/forecast", 1, session, rq) : wt_req(c, "v3/signal-index", -1, session, rq);
}

static int wt_live_parse(const struct jp_provider_conf *c, long status, unsigned doc, const void *body, size_t len,
			 struct jp_live *out, char *why, size_t whylen)
{
	(void)c;
	(void)status;
	if (doc > 0)
		return jp_wt_parse_index(body, len, &out->signal_index, why, whylen);
	struct jp_forecast fc = {0};
	size_t skipped;
	int r = jp_wt_parse_forecast(body, len, &fc, &skipped, why, whylen);
	if (r == 0 && fc.n == 0) {
		snprintf(why, whylen, "no usable point (%zu left out)", skipped);
		r = -ENODATA;
	} else if (r == 0) {
		const struct jp_fc_point *first = &fc.v[0];
		for (size_t i = 1; i < fc.n; i++)
			if (fc.v[i].start_ms < first->start_ms)
				first = &fc.v[i];
		out->g_per_kwh = first->g_per_kwh;
		out->data_ms = first->end_ms;
	}
	jp_forecast_free(&fc);
	return r;
}

static int wt_forecast_request(const struct jp_provider_conf *c, const char *session, int64_t now_ms, unsigned doc,
			       struct jp_provider_req *rq)
{
	(void)now_ms;
	(void)doc;
	return wt_req(c, "v3/forecast", 24, session, rq);
}

static int wt_forecast_parse(const struct jp_provider_conf *c, void *scratch, unsigned doc, const void *body,
			     size_t len, struct jp_forecast *out, size_t *skipped, char *why, size_t whylen)
{
	(void)c;
	(void)scratch;
	(void)doc;
	return jp_wt_parse_forecast(body, len, out, skipped, why, whylen);
}

/* GET <url>/login with HTTP basic authentication. */
static int wt_login_request(const struct jp_provider_conf *c, const char *user, const char *password,
			    struct jp_provider_req *rq)
{
	size_t bl = strlen(c->url);
	while (bl && c->url[bl - 1] == '/')
		bl--;
	char *url = NULL;
	if (asprintf(&url, "%.*s/login", (int)bl, c->url) < 0)
		return -ENOMEM;
	if (jp_provider_req_set(rq, url, NULL, NULL))
		return -ENOMEM;
	if (!(rq->user = strdup(user)) || !(rq->password = strdup(password))) {
		jp_provider_req_free(rq);
		return -ENOMEM;
	}
	return 0;
}

static int wt_login_parse(const void *body, size_t len, char **session, uint64_t *ttl_ms, char *why, size_t whylen)
{
	*ttl_ms = JP_WT_SESSION_MS;
	return jp_wt_parse_login(body, len, session, why, whylen);
}

const struct jp_provider jp_provider_watttime = {
	.name = "watttime",
	.id = JP_CARBON_WATTTIME,
	.flags = JP_PROVIDER_LOGIN,
	.max_bytes = JP_WT_MAX_BYTES,
	.setup = wt_setup,
	.live_docs = 2,
	.live_request = wt_live_request,
	.live_parse = wt_live_parse,
	.forecast_method = "watttime_forecast",
	.forecast_docs = 1,
	.forecast_request = wt_forecast_request,
	.forecast_parse = wt_forecast_parse,
	.login_request = wt_login_request,
	.login_parse = wt_login_parse,
};
