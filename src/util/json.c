/* SPDX-License-Identifier: Apache-2.0 */
/* Writing JSON values (util/json.h). */
#include "util/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/text.h"

int jp_json_number(struct jp_buf *out, double v)
{
	if (!isfinite(v))
		return jp_buf_append(out, "null", 4);
	char num[40];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(num, sizeof(num), "%.*g", prec, v);
		if (strtod(num, NULL) == v)
			break;
	}
	return jp_buf_printf(out, "%s", num);
}

int jp_json_string(struct jp_buf *out, const char *s)
{
	struct jp_buf u = {0};
	int r = jp_text_utf8(&u, s) || jp_buf_append(&u, "", 1) ? -ENOMEM : 0;
	if (!r)
		r = jp_buf_append(out, "\"", 1);
	for (const unsigned char *p = u.data; !r && p && *p; p++) {
		if (*p == '"' || *p == '\\')
			r = jp_buf_printf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			r = jp_buf_printf(out, "\\u%04x", *p);
		else
			r = jp_buf_append(out, p, 1);
	}
	if (!r)
		r = jp_buf_append(out, "\"", 1);
	jp_buf_free(&u);
	return r;
}
