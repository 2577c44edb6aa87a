/* SPDX-License-Identifier: Apache-2.0 */
/* Text that leaves the agent for a person or a program: terminals, CSV, JSON, URLs in errors. */
#ifndef JP_UTIL_TEXT_H
#define JP_UTIL_TEXT_H

#include <stddef.h>
#include <stdio.h>

#include "util/buf.h"

/* Append s to out as text a terminal shows literally: C0 control bytes, DEL, C1 controls
 * (U+0080..U+009F) and bytes that are not valid UTF-8 become '?'. A label value with an
 * escape sequence cannot then move the cursor, retitle the window or clear the screen.
 * Returns 0 or -ENOMEM. */
int jp_text_printable(struct jp_buf *out, const char *s);

/* Append s to out as valid UTF-8: every byte that does not start a valid sequence becomes
 * U+FFFD. Returns 0 or -ENOMEM. */
int jp_text_utf8(struct jp_buf *out, const char *s);

/* Write s as one CSV field (RFC 4180: quoted when it holds a comma, quote, CR or LF). A
 * field that a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a
 * CR) gets a leading ' (OWASP's advice for CSV injection). */
void jp_csv_field(const char *s, FILE *f);

/* Whether an http(s) URL carries userinfo ("user:password@host"). */
int jp_url_has_userinfo(const char *url);

/* Whether s holds a CR or LF (a header value that would start another header). */
int jp_has_line_break(const char *s);

#endif
