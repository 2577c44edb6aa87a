/* SPDX-License-Identifier: Apache-2.0 */
/* Writing JSON values: numbers that are always valid JSON, strings that are always valid UTF-8. */
#ifndef JP_UTIL_JSON_H
#define JP_UTIL_JSON_H

#include "util/buf.h"

/* Append v as a JSON number: the shortest "%.17g" form that reads back the same, and
 * `null` for NaN and the infinities, which JSON has no spelling for. 0 or -ENOMEM. */
int jp_json_number(struct jp_buf *out, double v);

/* Append s as a JSON string, quotes included: ", \ and control characters escaped, and
 * bytes that are not valid UTF-8 replaced by U+FFFD (RFC 8259 requires UTF-8). 0 or -ENOMEM. */
int jp_json_string(struct jp_buf *out, const char *s);

/* The one JSON writer: a document built value by value, commas, nesting and (when pretty)
 * two-space indentation handled here, numbers and strings by the two functions above. The
 * first error sticks and the calls after it do nothing; jp_jw_finish returns it.
 *
 *     struct jp_jw w;
 *     jp_jw_init(&w, &buf, 1);
 *     jp_jw_object(&w);
 *     jp_jw_key(&w, "start"); jp_jw_string(&w, "2026-12-07T10:00:00Z");
 *     jp_jw_key(&w, "grams_per_kwh"); jp_jw_number(&w, 212);
 *     jp_jw_end(&w);
 *     if (jp_jw_finish(&w)) ...
 */
#define JP_JW_MAX_DEPTH 32

struct jp_jw {
	struct jp_buf *out;
	int pretty;
	unsigned depth;
	unsigned char kind[JP_JW_MAX_DEPTH];    /* '{' or '[' per open level */
	unsigned char count[JP_JW_MAX_DEPTH];   /* 0: nothing written yet at that level */
	int after_key;
	int top;                                /* the top-level value has begun */
	int err;
};

void jp_jw_init(struct jp_jw *w, struct jp_buf *out, int pretty);
void jp_jw_object(struct jp_jw *w);
void jp_jw_array(struct jp_jw *w);
/* Close the innermost object or array. */
void jp_jw_end(struct jp_jw *w);
/* A member's name, in an object; its value comes next. */
void jp_jw_key(struct jp_jw *w, const char *key);
void jp_jw_string(struct jp_jw *w, const char *s);     /* NULL: null */
void jp_jw_number(struct jp_jw *w, double v);          /* non-finite: null */
void jp_jw_bool(struct jp_jw *w, int b);
void jp_jw_null(struct jp_jw *w);
/* 0 when the document is whole, else the first error: -ENOMEM, or -EINVAL for a misuse
 * (a value without a key in an object, a key in an array, an end too many or missing,
 * nesting deeper than JP_JW_MAX_DEPTH). */
int jp_jw_finish(struct jp_jw *w);

#endif
