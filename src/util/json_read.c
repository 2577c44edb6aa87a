/* SPDX-License-Identifier: Apache-2.0 */
/* Strict, bounded JSON parsing (json-c) shared by the JSON carbon sources. */
#include "util/json_read.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define JSON_DEPTH 32

struct json_object *jp_json_parse(const void *buf, size_t len, size_t max_bytes,
					 char *why, size_t whylen)
{
	if (len > max_bytes || len > INT_MAX) {
		snprintf(why, whylen, "body of %zu bytes is over the %zu byte limit", len, max_bytes);
		return NULL;
	}
	if (!buf || len == 0) {
		snprintf(why, whylen, "empty body");
		return NULL;
	}
	if (memchr(buf, 0, len)) {
		snprintf(why, whylen, "NUL byte in JSON");
		return NULL;
	}
	struct json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	/* Strict mode refuses what RFC 8259 does not allow (comments, single quotes, ...). */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	struct json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
	enum json_tokener_error e = json_tokener_get_error(tok);
	if (!o && e == json_tokener_continue) {
		/* The input ended inside a value: truncated. */
		snprintf(why, whylen, "truncated JSON");
	} else if (!o) {
		snprintf(why, whylen, "malformed JSON: %s", json_tokener_error_desc(e));
	} else {
		size_t end = json_tokener_get_parse_end(tok);
		const char *s = buf;
		while (end < len && (s[end] == ' ' || s[end] == '\t' || s[end] == '\r' || s[end] == '\n'))
			end++;
		if (end != len) {
			snprintf(why, whylen, "trailing data after JSON value");
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	return o;
}

struct json_object *jp_json_get(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;
	if (!obj || !json_object_is_type(obj, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(obj, key, &v))
		return NULL;
	return v;
}

int jp_json_has(struct json_object *obj, const char *key)
{
	/* json-c stands for JSON null with a NULL value, so presence needs get_ex's answer. */
	return obj && json_object_is_type(obj, json_type_object) && json_object_object_get_ex(obj, key, NULL);
}

int jp_json_get_number(struct json_object *v, double *out)
{
	if (!v || json_object_is_type(v, json_type_null))
		return -ENODATA;
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return -EINVAL;
	double d = json_object_get_double(v);
	if (!isfinite(d))
		return -EINVAL;
	*out = d;
	return 0;
}
