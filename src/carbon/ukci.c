/* SPDX-License-Identifier: Apache-2.0 */
/* The GB Carbon Intensity API (api.carbonintensity.org.uk): national or regional intensity. */
#include "carbon/ukci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/json_read.h"
#include "util/time.h"
#include "carbon/forecast.h"
#include "carbon/provider.h"

static struct json_object *first_of(struct json_object *o, const char *key)
{
	struct json_object *a = jp_json_get(o, key);
	if (!a || !json_object_is_type(a, json_type_array) || json_object_array_length(a) == 0)
		return NULL;
	return json_object_array_get_idx(a, 0);
}

static int str_time(struct json_object *v, int64_t *t)
{
	if (!v || !json_object_is_type(v, json_type_string))
		return -EINVAL;
	return jp_time_parse(json_object_get_string(v), (size_t)json_object_get_string_len(v), t);
}

int jp_ukci_parse(const void *buf, size_t len, double *g_per_kwh, int64_t *from_ms,
		  int64_t *to_ms, char *why, size_t whylen)
{
	struct json_object *o = jp_json_parse(buf, len, JP_JSON_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	int r = -EINVAL;
	double g = 0;
	int64_t from, to;
	struct json_object *d = first_of(o, "data");
	/* Regional answers nest the half hours one level down, under the region. */
	if (d && jp_json_get(d, "data"))
		d = first_of(d, "data");
	struct json_object *in = jp_json_get(d, "intensity");
	if (!d) {
		struct json_object *e = jp_json_get(jp_json_get(o, "error"), "message");
		snprintf(why, whylen, "no data in answer%s%.120s", e && json_object_is_type(e, json_type_string) ? ": " : "",
			 e && json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "");
		struct json_object *a = jp_json_get(o, "data");
		r = a && json_object_is_type(a, json_type_array) && json_object_array_length(a) == 0 ? -ENODATA : -EINVAL;
	} else if (!in || !json_object_is_type(in, json_type_object)) {
		snprintf(why, whylen, "no intensity object");
	} else if (str_time(jp_json_get(d, "from"), &from) || str_time(jp_json_get(d, "to"), &to) ||
		   to < from) {
		snprintf(why, whylen, "missing or bad from/to");
	} else {
		r = jp_json_get_number(jp_json_get(in, "actual"), &g);
		if (r == -ENODATA)
			r = jp_json_get_number(jp_json_get(in, "forecast"), &g);
		if (r == -ENODATA) {
			snprintf(why, whylen, "intensity actual and forecast are null");
		} else if (r) {
			snprintf(why, whylen, "intensity is not a number");
		} else if (g < 0) {
			snprintf(why, whylen, "negative intensity");
			r = -EINVAL;
		} else {
			*g_per_kwh = g;
			*from_ms = from;
			*to_ms = to;
		}
	}
	json_object_put(o);
	return r;
}

/* A region id, 1 to 99. Returns 0, or -EINVAL. */
/* The carbon-free share of a generationmix array ([{"fuel", "perc"}, ...]): biomass,
 * nuclear, hydro, solar and wind over all fuels listed. */
static int mix_carbon_free(struct json_object *mix, double *out)
{
	static const char *const cfe[] = {"biomass", "nuclear", "hydro", "solar", "wind"};
	double all = 0, free_ = 0;
	size_t n = mix && json_object_is_type(mix, json_type_array) ? json_object_array_length(mix) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(mix, i);
		struct json_object *fuel = jp_json_get(e, "fuel");
		double perc;
		if (!fuel || !json_object_is_type(fuel, json_type_string) ||
		    jp_json_get_number(jp_json_get(e, "perc"), &perc) || perc < 0 || perc > 100)
			return -EINVAL;
		all += perc;
		for (size_t k = 0; k < sizeof(cfe) / sizeof(cfe[0]); k++)
			if (!strcmp(json_object_get_string(fuel), cfe[k]))
				free_ += perc;
	}
	if (!(all > 0))
		return -ENODATA;
	*out = free_ / all;
	return 0;
}

int jp_ukci_parse_generation(const void *buf, size_t len, double *ratio, char *why, size_t whylen)
{
	struct json_object *o = jp_json_parse(buf, len, JP_JSON_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	/* National: {"data": {"generationmix": ...}} (or an array of one); regional: under the
	 * region's first half hour. */
	struct json_object *d = jp_json_get(o, "data");
	if (d && json_object_is_type(d, json_type_array))
		d = first_of(o, "data");
	if (d && jp_json_get(d, "data"))
		d = first_of(d, "data");
	int r = mix_carbon_free(jp_json_get(d, "generationmix"), ratio);
	if (r == -ENODATA)
		snprintf(why, whylen, "no generationmix in answer");
	else if (r)
		snprintf(why, whylen, "generationmix: a fuel without a name or a percentage from 0 to 100");
	json_object_put(o);
	return r;
}

char *jp_ukci_generation_url(const char *base)
{
	char *url = NULL;
	size_t bl = base ? strlen(base) : 0;
	while (bl && base[bl - 1] == '/')
		bl--;
	if (!base || asprintf(&url, "%.*s/generation", (int)bl, base) < 0) {
		errno = base ? ENOMEM : EINVAL;
		return NULL;
	}
	return url;
}

static int region_id(const char *region, long *id)
{
	char *e;
	*id = strtol(region, &e, 10);
	return *e || *id < 1 || *id > 99 ? -EINVAL : 0;
}

char *jp_ukci_url(const char *base, const char *region)
{
	char *url = NULL;
	size_t bl = base ? strlen(base) : 0;
	if (!base) {
		errno = EINVAL;
		return NULL;
	}
	while (bl && base[bl - 1] == '/')
		bl--;
	long id;
	if (region && *region) {
		if (region_id(region, &id)) {
			errno = EINVAL;
			return NULL;
		}
		if (asprintf(&url, "%.*s/regional/regionid/%ld", (int)bl, base, id) < 0)
			url = NULL;
	} else if (asprintf(&url, "%.*s/intensity", (int)bl, base) < 0) {
		url = NULL;
	}
	if (!url)
		errno = ENOMEM;
	return url;
}

/* The array of half hours in a forecast answer, national or regional. */
static struct json_object *forecast_points(struct json_object *o)
{
	struct json_object *d = jp_json_get(o, "data");
	if (d && json_object_is_type(d, json_type_array) && json_object_array_length(d) > 0) {
		struct json_object *first = json_object_array_get_idx(d, 0);
		struct json_object *inner = jp_json_get(first, "data");
		if (inner && json_object_is_type(inner, json_type_array))
			return inner;   /* [ {regionid, data: [...]} ] */
		return d;               /* national: [ {from, to, intensity}, ... ] */
	}
	if (d && json_object_is_type(d, json_type_object)) {
		struct json_object *inner = jp_json_get(d, "data");
		if (inner && json_object_is_type(inner, json_type_array))
			return inner;   /* {regionid, data: [...]} */
	}
	return d && json_object_is_type(d, json_type_array) ? d : NULL;
}

int jp_ukci_parse_forecast(const void *buf, size_t len, struct jp_forecast *out, size_t *skipped,
			   char *why, size_t whylen)
{
	struct json_object *o = jp_json_parse(buf, len, JP_JSON_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	size_t skip = 0;
	int r = 0;
	struct json_object *a = forecast_points(o);
	if (!a) {
		snprintf(why, whylen, "no forecast data in answer");
		r = -EINVAL;
	} else if (json_object_array_length(a) == 0) {
		snprintf(why, whylen, "empty forecast");
		r = -ENODATA;
	}
	for (size_t i = 0; r == 0 && a && i < json_object_array_length(a); i++) {
		struct json_object *p = json_object_array_get_idx(a, i);
		int64_t from, to;
		double g;
		if (str_time(jp_json_get(p, "from"), &from) || str_time(jp_json_get(p, "to"), &to)) {
			snprintf(why, whylen, "point %zu: missing or bad from/to", i);
			r = -EINVAL;
			break;
		}
		int nr = jp_json_get_number(jp_json_get(jp_json_get(p, "intensity"), "forecast"), &g);
		if (nr == -ENODATA) {
			skip++;
			continue;
		}
		if (nr) {
			snprintf(why, whylen, "point %zu: forecast is not a number", i);
			r = -EINVAL;
			break;
		}
		/* Bad values (negative, a reversed span) are left to jp_forecast_normalize. */
		if (jp_forecast_add(out, from, to, g)) {
			r = -ENOMEM;
			break;
		}
	}
	if (skipped)
		*skipped = skip;
	json_object_put(o);
	return r;
}

char *jp_ukci_forecast_url(const char *base, const char *region, int64_t from_ms)
{
	if (!base || from_ms < 0) {
		errno = EINVAL;
		return NULL;
	}
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		bl--;
	time_t t = (time_t)((from_ms / 1000) / 1800 * 1800);
	struct tm tm;
	char from[32];
	if (!gmtime_r(&t, &tm) || !strftime(from, sizeof(from), "%Y-%m-%dT%H:%MZ", &tm)) {
		errno = EINVAL;
		return NULL;
	}
	char *url = NULL;
	long id;
	if (region && *region) {
		if (region_id(region, &id)) {
			errno = EINVAL;
			return NULL;
		}
		if (asprintf(&url, "%.*s/regional/intensity/%s/fw48h/regionid/%ld", (int)bl, base, from, id) < 0)
			url = NULL;
	} else if (asprintf(&url, "%.*s/intensity/%s/fw48h", (int)bl, base, from) < 0) {
		url = NULL;
	}
	if (!url)
		errno = ENOMEM;
	return url;
}

/* ---- the provider row (carbon/provider.h) ------------------------------------------- */

static int ukci_setup(const struct jp_config *cfg, struct jp_provider_conf *c, char *why, size_t whylen)
{
	const char *region = cfg->ukci_region ? cfg->ukci_region : "";
	long id;
	if (*region && region_id(region, &id)) {
		snprintf(why, whylen, "carbon.ukci.region \"%.40s\" is not a region id (1 to 99)", region);
		return -EINVAL;
	}
	snprintf(c->grid_zone, sizeof(c->grid_zone), "%s", *region ? region : "GB");
	if (jp_provider_dup(&c->url, cfg->ukci_url) || jp_provider_dup(&c->zone, region))
		return -ENOMEM;
	return 0;
}

/* Document 0: the intensity (a region's carries its generation mix too); document 1, for
 * the national figure only: /generation, the mix. */
static int ukci_live_request(const struct jp_provider_conf *c, const char *token, int64_t now_ms, unsigned doc,
			     struct jp_provider_req *rq)
{
	(void)token;
	(void)now_ms;
	if (doc > 0 && *c->zone)
		return -ENOENT;
	char *url = doc == 0 ? jp_ukci_url(c->url, c->zone) : jp_ukci_generation_url(c->url);
	return url ? jp_provider_req_set(rq, url, NULL, NULL) : -errno;
}

/* The value holds for its half hour: its time is the half hour's end. */
static int ukci_live_parse(const struct jp_provider_conf *c, long status, unsigned doc, const void *body, size_t len,
			   struct jp_live *out, char *why, size_t whylen)
{
	(void)status;
	if (doc > 0)
		return jp_ukci_parse_generation(body, len, &out->carbon_free, why, whylen);
	int64_t from;
	int r = jp_ukci_parse(body, len, &out->g_per_kwh, &from, &out->data_ms, why, whylen);
	char ignored[64];
	if (r == 0 && *c->zone && jp_ukci_parse_generation(body, len, &out->carbon_free, ignored, sizeof(ignored)))
		out->carbon_free = -1;
	return r;
}

/* From the half hour in force, so that now is covered. */
static int ukci_forecast_request(const struct jp_provider_conf *c, const char *token, int64_t now_ms,
				 unsigned doc, struct jp_provider_req *rq)
{
	(void)token;
	(void)doc;
	char *url = jp_ukci_forecast_url(c->url, c->zone, now_ms - 1800000);
	return url ? jp_provider_req_set(rq, url, NULL, NULL) : -errno;
}

static int ukci_forecast_parse(const struct jp_provider_conf *c, void *scratch, unsigned doc, const void *body,
			       size_t len, struct jp_forecast *out, size_t *skipped, char *why, size_t whylen)
{
	(void)c;
	(void)scratch;
	(void)doc;
	return jp_ukci_parse_forecast(body, len, out, skipped, why, whylen);
}

const struct jp_provider jp_provider_ukci = {
	.name = "ukci",
	.id = JP_CARBON_UKCI,
	.max_bytes = JP_JSON_MAX_BYTES,
	.setup = ukci_setup,
	.live_docs = 2,
	.live_request = ukci_live_request,
	.live_parse = ukci_live_parse,
	.forecast_method = "ukci_forecast",
	.forecast_docs = 1,
	.forecast_request = ukci_forecast_request,
	.forecast_parse = ukci_forecast_parse,
};
