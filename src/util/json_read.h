/* SPDX-License-Identifier: Apache-2.0 */
/* Strict, bounded JSON parsing (json-c) shared by the grid sources and the report's queries. */
#ifndef JP_UTIL_JSON_READ_H
#define JP_UTIL_JSON_READ_H

#include <stddef.h>

#include <json-c/json.h>

/* Answers of the JSON APIs are small; larger bodies are refused unparsed. */
#define JP_JSON_MAX_BYTES (1024u * 1024)

/* Parse exactly one JSON value from len bytes (trailing blanks allowed; NUL bytes,
 * trailing garbage, nesting deeper than 32 and len > max_bytes refused). Returns a new
 * reference the caller releases with json_object_put(), or NULL with why filled. */
struct json_object *jp_json_parse(const void *buf, size_t len, size_t max_bytes,
					 char *why, size_t whylen);

/* obj[key] when obj is an object, else NULL (borrowed reference). */
struct json_object *jp_json_get(struct json_object *obj, const char *key);

/* Non-zero when obj is an object with member key (whose value may be JSON null). */
int jp_json_has(struct json_object *obj, const char *key);

/* A finite number (JSON int or double) into *out: 0; JSON null or absent: -ENODATA;
 * anything else: -EINVAL. */
int jp_json_get_number(struct json_object *v, double *out);

#endif
