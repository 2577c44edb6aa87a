/* SPDX-License-Identifier: Apache-2.0 */
/* Electricity Maps API v3: GET <url>/carbon-intensity/latest?zone=<zone> (docs/carbon.md). */
#include "carbon/electricitymaps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json_read.h"
#include "util/time.h"
#include "carbon/forecast.h"
#include "carbon/provider.h"
#include "util/buf.h"

int jp_emaps_parse(const void *buf, size_t len, double *g_per_kwh, int64_t *time_ms,
		   char *why, size_t whylen)
{
	struct json_object *o = jp_json_parse(buf, len, JP_JSON_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	int r;
	double g = 0;
	int64_t t;
	struct json_object *dt = jp_json_get(o, "datetime");
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "answer is not a JSON object");
		r = -EINVAL;
	} else if ((r = jp_json_get_number(jp_json_get(o, "carbonIntensity"), &g)) != 0) {
		if (r == -ENODATA && !jp_json_has(o, "carbonIntensity")) {
			/* An error answer ({"error": ...} or {"message": ...}) has no carbonIntensity. */
			struct json_object *m = jp_json_get(o, "error");
			if (!m)
				m = jp_json_get(o, "message");
			snprintf(why, whylen, "no carbonIntensity in answer%s%.120s",
				 m && json_object_is_type(m, json_type_string) ? ": " : "",
				 m && json_object_is_type(m, json_type_string) ? json_object_get_string(m) : "");
			r = -EINVAL;
		} else {
			snprintf(why, whylen, r == -ENODATA ? "carbonIntensity is null" : "carbonIntensity is not a number");
		}
	} else if (g < 0) {
		snprintf(why, whylen, "negative carbonIntensity");
		r = -EINVAL;
	} else if (!dt || !json_object_is_type(dt, json_type_string) ||
		   jp_time_parse(json_object_get_string(dt), (size_t)json_object_get_string_len(dt), &t)) {
		snprintf(why, whylen, "missing or bad datetime");
		r = -EINVAL;
	} else {
		*g_per_kwh = g;
		*time_ms = t;
		r = 0;
	}
	json_object_put(o);
	return r;
}

/* <base>/<route>?zone=<zone>. */
static char *emaps_route(const char *base, const char *route, const char *zone)
{
	struct jp_buf b = {0};
	size_t bl = base ? strlen(base) : 0;
	if (!base || !zone) {
		errno = EINVAL;
		return NULL;
	}
	while (bl && base[bl - 1] == '/')
		bl--;
	int r = jp_buf_append(&b, base, bl);
	r = r ? r : jp_buf_printf(&b, "/%s?zone=", route);
	r = r ? r : jp_buf_append_urlencoded(&b, zone);
	r = r ? r : jp_buf_append(&b, "", 1);
	if (r) {
		jp_buf_free(&b);
		errno = ENOMEM;
		return NULL;
	}
	return (char *)b.data;
}

char *jp_emaps_url(const char *base, const char *zone)
{
	return emaps_route(base, "carbon-intensity/latest", zone);
}

char *jp_emaps_forecast_url(const char *base, const char *zone)
{
	return emaps_route(base, "carbon-intensity/forecast", zone);
}

char *jp_emaps_breakdown_url(const char *base, const char *zone)
{
	return emaps_route(base, "power-breakdown/latest", zone);
}

int jp_emaps_parse_breakdown(const void *buf, size_t len, double *ratio, char *why, size_t whylen)
{
	struct json_object *o = jp_json_parse(buf, len, JP_JSON_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	double v = 0;
	int r = jp_json_get_number(jp_json_get(o, "fossilFreePercentage"), &v);
	if (r == -ENODATA)
		snprintf(why, whylen, "fossilFreePercentage is null or absent");
	else if (r || v < 0 || v > 100) {
		snprintf(why, whylen, "fossilFreePercentage is not a number from 0 to 100");
		r = -EINVAL;
	} else {
		*ratio = v / 100;
	}
	json_object_put(o);
	return r;
}

int jp_emaps_parse_forecast(const void *buf, size_t len, struct jp_forecast *out, size_t *skipped,
			    char *why, size_t whylen)
{
	struct json_object *o = jp_json_parse(buf, len, JP_JSON_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	struct json_object *a = jp_json_get(o, "forecast");
	int r = 0;
	size_t skip = 0, n = a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
	int64_t *t = n ? calloc(n, sizeof(*t)) : NULL;
	double *g = n ? calloc(n, sizeof(*g)) : NULL;
	if (!a || !json_object_is_type(a, json_type_array)) {
		struct json_object *e = jp_json_get(o, "error");
		snprintf(why, whylen, "no forecast array in answer%s%.120s", e && json_object_is_type(e, json_type_string) ? ": " : "",
			 e && json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "");
		r = -EINVAL;
	} else if (n == 0) {
		snprintf(why, whylen, "empty forecast");
		r = -ENODATA;
	} else if (!t || !g) {
		r = -ENOMEM;
	}
	/* Points are the hours that start at each datetime; each lasts until the next one,
	 * the last one as long as the one before it (an hour when it is alone). */
	size_t k = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct json_object *p = json_object_array_get_idx(a, i);
		struct json_object *dt = jp_json_get(p, "datetime");
		int64_t ts;
		double v;
		if (!dt || !json_object_is_type(dt, json_type_string) ||
		    jp_time_parse(json_object_get_string(dt), (size_t)json_object_get_string_len(dt), &ts)) {
			snprintf(why, whylen, "point %zu: missing or bad datetime", i);
			r = -EINVAL;
			break;
		}
		int nr = jp_json_get_number(jp_json_get(p, "carbonIntensity"), &v);
		if (nr == -ENODATA) {
			skip++;
			continue;
		}
		if (nr) {
			snprintf(why, whylen, "point %zu: carbonIntensity is not a number", i);
			r = -EINVAL;
			break;
		}
		t[k] = ts;
		g[k] = v;
		k++;
	}
	for (size_t i = 0; r == 0 && i < k; i++) {
		int64_t end = i + 1 < k ? t[i + 1] : t[i] + (i ? t[i] - t[i - 1] : 3600000);
		if (jp_forecast_add(out, t[i], end, g[i]))
			r = -ENOMEM;
	}
	if (skipped)
		*skipped = skip;
	free(t);
	free(g);
	json_object_put(o);
	return r;
}

/* ---- the provider row (carbon/provider.h) ------------------------------------------- */

static int emaps_setup(const struct jp_config *cfg, struct jp_provider_conf *c, char *why, size_t whylen)
{
	(void)why;
	(void)whylen;
	snprintf(c->grid_zone, sizeof(c->grid_zone), "%s", cfg->emaps_zone ? cfg->emaps_zone : "");
	if (jp_provider_dup(&c->url, cfg->emaps_url) || jp_provider_dup(&c->token_file, cfg->emaps_token_file) ||
	    jp_provider_dup(&c->zone, cfg->emaps_zone))
		return -ENOMEM;
	return 0;
}

/* The token goes in an "auth-token" header, never in the URL. */
static int emaps_live_request(const struct jp_provider_conf *c, const char *token, int64_t now_ms, unsigned doc,
			      struct jp_provider_req *rq)
{
	(void)now_ms;
	char *url = doc == 0 ? jp_emaps_url(c->url, c->zone) : jp_emaps_breakdown_url(c->url, c->zone);
	return url ? jp_provider_req_set(rq, url, "auth-token", token) : -errno;
}

/* Document 0: the intensity; document 1: the power breakdown, for the carbon-free share. */
static int emaps_live_parse(const struct jp_provider_conf *c, long status, unsigned doc, const void *body, size_t len,
			    struct jp_live *out, char *why, size_t whylen)
{
	(void)c;
	(void)status;
	if (doc == 0)
		return jp_emaps_parse(body, len, &out->g_per_kwh, &out->data_ms, why, whylen);
	return jp_emaps_parse_breakdown(body, len, &out->carbon_free, why, whylen);
}

static int emaps_forecast_request(const struct jp_provider_conf *c, const char *token, int64_t now_ms,
				  unsigned doc, struct jp_provider_req *rq)
{
	(void)now_ms;
	(void)doc;
	char *url = jp_emaps_forecast_url(c->url, c->zone);
	return url ? jp_provider_req_set(rq, url, "auth-token", token) : -errno;
}

static int emaps_forecast_parse(const struct jp_provider_conf *c, void *scratch, unsigned doc, const void *body,
				size_t len, struct jp_forecast *out, size_t *skipped, char *why, size_t whylen)
{
	(void)c;
	(void)scratch;
	(void)doc;
	return jp_emaps_parse_forecast(body, len, out, skipped, why, whylen);
}

const struct jp_provider jp_provider_electricitymaps = {
	.name = "electricitymaps",
	.id = JP_CARBON_ELECTRICITYMAPS,
	.flags = JP_PROVIDER_TOKEN,
	.max_bytes = JP_JSON_MAX_BYTES,
	.setup = emaps_setup,
	.live_docs = 2,
	.live_request = emaps_live_request,
	.live_parse = emaps_live_parse,
	.forecast_method = "electricitymaps_forecast",
	.forecast_docs = 1,
	.forecast_request = emaps_forecast_request,
	.forecast_parse = emaps_forecast_parse,
};
