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

/* <base>/carbon-intensity/<route>?zone=<zone>. */
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
	r = r ? r : jp_buf_printf(&b, "/carbon-intensity/%s?zone=", route);
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
	return emaps_route(base, "latest", zone);
}

char *jp_emaps_forecast_url(const char *base, const char *zone)
{
	return emaps_route(base, "forecast", zone);
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
