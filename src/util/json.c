/* SPDX-License-Identifier: Apache-2.0 */
/* Writing JSON values (util/json.h). */
#include "util/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- the writer ---------------------------------------------------------------------- */

void jp_jw_init(struct jp_jw *w, struct jp_buf *out, int pretty)
{
	*w = (struct jp_jw){.out = out, .pretty = pretty};
}

static void jw_newline(struct jp_jw *w)
{
	if (!w->pretty || w->err)
		return;
	if (jp_buf_append(w->out, "\n", 1))
		w->err = -ENOMEM;
	for (unsigned i = 0; i < w->depth && !w->err; i++)
		if (jp_buf_append(w->out, "  ", 2))
			w->err = -ENOMEM;
}

/* Before a value: the comma and the line break its place needs. 0 to go on. */
static int jw_value(struct jp_jw *w)
{
	if (w->err)
		return -1;
	if (w->depth == 0) {
		if (w->top) {
			w->err = -EINVAL;   /* a second top-level value */
			return -1;
		}
		w->top = 1;
		return 0;
	}
	unsigned d = w->depth - 1;
	if (w->kind[d] == '{') {
		if (!w->after_key) {
			w->err = -EINVAL;
			return -1;
		}
		w->after_key = 0;
		return 0;
	}
	if (w->count[d] && jp_buf_append(w->out, ",", 1))
		w->err = -ENOMEM;
	w->count[d] = 1;
	jw_newline(w);
	return w->err ? -1 : 0;
}

static void jw_raw(struct jp_jw *w, const char *s, size_t n)
{
	if (!w->err && jp_buf_append(w->out, s, n))
		w->err = -ENOMEM;
}

static void jw_open(struct jp_jw *w, char kind)
{
	if (jw_value(w))
		return;
	if (w->depth >= JP_JW_MAX_DEPTH) {
		w->err = -EINVAL;
		return;
	}
	jw_raw(w, &kind, 1);
	w->kind[w->depth] = (unsigned char)kind;
	w->count[w->depth] = 0;
	w->depth++;
}

void jp_jw_object(struct jp_jw *w) { jw_open(w, '{'); }
void jp_jw_array(struct jp_jw *w) { jw_open(w, '['); }

void jp_jw_end(struct jp_jw *w)
{
	if (w->err)
		return;
	if (!w->depth || w->after_key) {
		w->err = -EINVAL;
		return;
	}
	w->depth--;
	char close = w->kind[w->depth] == '{' ? '}' : ']';
	if (w->count[w->depth])
		jw_newline(w);
	jw_raw(w, &close, 1);
}

void jp_jw_key(struct jp_jw *w, const char *key)
{
	if (w->err)
		return;
	unsigned d = w->depth - 1;
	if (!w->depth || w->kind[d] != '{' || w->after_key) {
		w->err = -EINVAL;
		return;
	}
	if (w->count[d])
		jw_raw(w, ",", 1);
	w->count[d] = 1;
	jw_newline(w);
	if (!w->err && jp_json_string(w->out, key))
		w->err = -ENOMEM;
	jw_raw(w, ":", 1);
	w->after_key = 1;
}

void jp_jw_string(struct jp_jw *w, const char *s)
{
	if (!s) {
		jp_jw_null(w);
		return;
	}
	if (!jw_value(w) && jp_json_string(w->out, s))
		w->err = -ENOMEM;
}

void jp_jw_number(struct jp_jw *w, double v)
{
	if (!jw_value(w) && jp_json_number(w->out, v))
		w->err = -ENOMEM;
}

void jp_jw_bool(struct jp_jw *w, int b)
{
	if (!jw_value(w))
		jw_raw(w, b ? "true" : "false", b ? 4 : 5);
}

void jp_jw_null(struct jp_jw *w)
{
	if (!jw_value(w))
		jw_raw(w, "null", 4);
}

int jp_jw_finish(struct jp_jw *w)
{
	if (!w->err && (w->depth || w->after_key || !w->top))
		w->err = -EINVAL;
	return w->err;
}
