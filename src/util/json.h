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

#endif
