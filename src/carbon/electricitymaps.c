/* SPDX-License-Identifier: Apache-2.0 */
/* Electricity Maps API v3: GET <url>/carbon-intensity/latest?zone=<zone> (docs/carbon.md). */
#include "carbon/electricitymaps.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "carbon/cjson.h"
#include "carbon/ctime.h"
#include "util/buf.h"

int jp_emaps_parse(const void *buf, size_t len, double *g_per_kwh, int64_t *time_ms,
		   char *why, size_t whylen)
{
	struct json_object *o = jp_carbon_json_parse(buf, len, JP_CARBON_JSON_MAX_BYTES, why, whylen);
	if (!o)
		return -EINVAL;
	int r;
	double g = 0;
	int64_t t;
	struct json_object *dt = jp_carbon_json_get(o, "datetime");
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "answer is not a JSON object");
		r = -EINVAL;
	} else if ((r = jp_carbon_json_number(jp_carbon_json_get(o, "carbonIntensity"), &g)) != 0) {
		if (r == -ENODATA && !jp_carbon_json_has(o, "carbonIntensity")) {
			/* An error answer ({"error": ...} or {"message": ...}) has no carbonIntensity. */
			struct json_object *m = jp_carbon_json_get(o, "error");
			if (!m)
				m = jp_carbon_json_get(o, "message");
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
		   jp_carbon_time_parse(json_object_get_string(dt), (size_t)json_object_get_string_len(dt), &t)) {
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

char *jp_emaps_url(const char *base, const char *zone)
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
	r = r ? r : jp_buf_printf(&b, "/carbon-intensity/latest?zone=");
	r = r ? r : jp_buf_append_urlencoded(&b, zone);
	r = r ? r : jp_buf_append(&b, "", 1);
	if (r) {
		jp_buf_free(&b);
		errno = ENOMEM;
		return NULL;
	}
	return (char *)b.data;
}
