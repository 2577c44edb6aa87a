/* SPDX-License-Identifier: Apache-2.0 */
/* The GB Carbon Intensity API (api.carbonintensity.org.uk): national or regional intensity. */
#include "carbon/ukci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carbon/cjson.h"
#include "carbon/ctime.h"

static struct json_object *first_of(struct json_object *o, const char *key)
{
	struct json_object *a = jp_carbon_json_get(o, key);
	if (!a || !json_object_is_type(a, json_type_array) || json_object_array_length(a) == 0)
		return NULL;
	return json_object_array_get_idx(a, 0);
}

static int str_time(struct json_object *v, int64_t *t)
{
	if (!v || !json_object_is_type(v, json_type_string))
		return -EINVAL;
	return jp_carbon_time_parse(json_object_get_string(v), (size_t)json_object_get_string_len(v), t);
}

int jp_ukci_parse(const void *buf, size_t len, double *g_per_kwh, int64_t *from_ms,
		  int64_t *to_ms, char *why, size_t whylen)
{
	struct json_object *o = jp_carbon_json_parse(buf, len, JP_CARBON_JSON_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	int r = -EINVAL;
	double g = 0;
	int64_t from, to;
	struct json_object *d = first_of(o, "data");
	/* Regional answers nest the half hours one level down, under the region. */
	if (d && jp_carbon_json_get(d, "data"))
		d = first_of(d, "data");
	struct json_object *in = jp_carbon_json_get(d, "intensity");
	if (!d) {
		struct json_object *e = jp_carbon_json_get(jp_carbon_json_get(o, "error"), "message");
		snprintf(why, whylen, "no data in answer%s%.120s", e && json_object_is_type(e, json_type_string) ? ": " : "",
			 e && json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "");
		struct json_object *a = jp_carbon_json_get(o, "data");
		r = a && json_object_is_type(a, json_type_array) && json_object_array_length(a) == 0 ? -ENODATA : -EINVAL;
	} else if (!in || !json_object_is_type(in, json_type_object)) {
		snprintf(why, whylen, "no intensity object");
	} else if (str_time(jp_carbon_json_get(d, "from"), &from) || str_time(jp_carbon_json_get(d, "to"), &to) ||
		   to < from) {
		snprintf(why, whylen, "missing or bad from/to");
	} else {
		r = jp_carbon_json_number(jp_carbon_json_get(in, "actual"), &g);
		if (r == -ENODATA)
			r = jp_carbon_json_number(jp_carbon_json_get(in, "forecast"), &g);
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
	if (region && *region) {
		char *e;
		long id = strtol(region, &e, 10);
		if (*e || id < 1 || id > 99) {
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
