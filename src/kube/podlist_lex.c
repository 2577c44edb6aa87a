/* SPDX-License-Identifier: Apache-2.0 */
/* The PodList's JSON grammar, one byte at a time (RFC 8259, strictly): strings with their
 * escapes and surrogate pairs, numbers, literals, separators. What a value means is
 * kube/podlist.c's; see it for the whole design. */
#include "kube/podlist_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Append one decoded byte to the string being lexed (kept strings only). */
static inline void str_byte(struct jp_podlist_parser *ps, char c)
{
	if (ps->str_is_key || ps->str_role == R_KIND || ps->str_role == R_CPU) {
		/* Keys, kind and CPU quantities share the small key buffer. */
		if (ps->key_len < MAX_KEY)
			ps->key[ps->key_len++] = c;
		else
			ps->key_long = 1;
		ps->key[ps->key_len] = '\0';
		return;
	}
	struct field *f = ps->str_dst;
	if (!f)
		return;
	if (f->len < MAX_STR)
		f->s[f->len] = c;
	if (f->len <= MAX_STR)
		f->len++;
}

static void str_codepoint(struct jp_podlist_parser *ps, unsigned cp)
{
	if (cp == 0)
		ps->str_nul = 1;
	if (cp < 0x80) {
		str_byte(ps, (char)cp);
	} else if (cp < 0x800) {
		str_byte(ps, (char)(0xC0 | (cp >> 6)));
		str_byte(ps, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		str_byte(ps, (char)(0xE0 | (cp >> 12)));
		str_byte(ps, (char)(0x80 | ((cp >> 6) & 0x3F)));
		str_byte(ps, (char)(0x80 | (cp & 0x3F)));
	} else {
		str_byte(ps, (char)(0xF0 | (cp >> 18)));
		str_byte(ps, (char)(0x80 | ((cp >> 12) & 0x3F)));
		str_byte(ps, (char)(0x80 | ((cp >> 6) & 0x3F)));
		str_byte(ps, (char)(0x80 | (cp & 0x3F)));
	}
}

/* The string ended (the closing quote). */
static int string_end(struct jp_podlist_parser *ps)
{
	if (ps->u_high) {
		str_codepoint(ps, 0xFFFD);
		ps->u_high = 0;
	}
	if (ps->str_is_key) {
		struct frame *f = &ps->stack[ps->depth - 1];
		int which = 0;
		f->key_role = (unsigned char)(ps->key_long || ps->str_nul ? R_SKIP :
					      jp_pl_key_role((enum role)f->role, ps->key, &which));
		f->which = (unsigned char)which;
		ps->lex = L_COLON;
		return 0;
	}
	int r = jp_pl_string_done(ps, ps->str_role);
	if (r)
		return r;
	jp_pl_after_value(ps);
	return 0;
}

int jp_pl_number_finish(struct jp_podlist_parser *ps)
{
	if (ps->num == N_SIGN || ps->num == N_DOT || ps->num == N_E || ps->num == N_ESIGN)
		return jp_pl_syntax(ps, "malformed number");
	jp_pl_number_done(ps);
	jp_pl_after_value(ps);
	return 0;
}

static inline int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Feed one byte to the automaton. */
/* A member name starts (or the object ends) where one may. */
static int member_begins(struct jp_podlist_parser *ps, char c)
{
	if (c == '}' && ps->lex == L_OBJ_FIRST)
		return jp_pl_pop_frame(ps);
	if (c != '"')
		return jp_pl_syntax(ps, "expected a member name");
	ps->lex = L_STR;
	ps->str_is_key = 1;
	ps->str_role = R_SKIP;
	ps->str_dst = NULL;
	ps->str_nul = 0;
	ps->u_high = 0;
	ps->key_len = 0;
	ps->key_long = 0;
	ps->key[0] = '\0';
	return 0;
}

/* After a value in an object or an array: a separator, or the end. */
static int separator(struct jp_podlist_parser *ps, char c, char close, enum lex next)
{
	if (c == ',') {
		ps->lex = next;
		return 0;
	}
	if (c == close)
		return jp_pl_pop_frame(ps);
	return jp_pl_syntax(ps, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* A byte of a string's text. */
static int string_char(struct jp_podlist_parser *ps, char c)
{
	if (c == '"')
		return string_end(ps);
	if (c == '\\') {
		ps->lex = L_STR_ESC;
		return 0;
	}
	if ((unsigned char)c < 0x20)
		return jp_pl_syntax(ps, "control character in a string");
	if (ps->u_high) {
		str_codepoint(ps, 0xFFFD);   /* a high surrogate with no low one after it */
		ps->u_high = 0;
	}
	str_byte(ps, c);
	return 0;
}

/* The character after a backslash. */
static int string_escape(struct jp_podlist_parser *ps, char c)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	if (c == 'u') {
		ps->lex = L_STR_U;
		ps->u_val = 0;
		ps->u_digits = 0;
		return 0;
	}
	const char *e = c ? strchr(from, c) : NULL;
	if (!e)
		return jp_pl_syntax(ps, "bad escape in a string");
	if (ps->u_high) {
		str_codepoint(ps, 0xFFFD);
		ps->u_high = 0;
	}
	str_byte(ps, to[e - from]);
	ps->lex = L_STR;
	return 0;
}

/* A hex digit of \uXXXX; surrogate pairs are joined, lone halves become U+FFFD. */
static int string_unicode(struct jp_podlist_parser *ps, char c)
{
	int h = hexval(c);
	if (h < 0)
		return jp_pl_syntax(ps, "bad \\u escape in a string");
	ps->u_val = ps->u_val << 4 | (unsigned)h;
	if (++ps->u_digits < 4)
		return 0;
	unsigned v = ps->u_val;
	ps->lex = L_STR;
	if (v >= 0xD800 && v <= 0xDBFF) {
		if (ps->u_high)
			str_codepoint(ps, 0xFFFD);
		ps->u_high = v;
	} else if (v >= 0xDC00 && v <= 0xDFFF && ps->u_high) {
		str_codepoint(ps, 0x10000 + ((ps->u_high - 0xD800) << 10) + (v - 0xDC00));
		ps->u_high = 0;
	} else {
		if (ps->u_high)
			str_codepoint(ps, 0xFFFD);
		ps->u_high = 0;
		str_codepoint(ps, v >= 0xDC00 && v <= 0xDFFF ? 0xFFFD : v);
	}
	return 0;
}

/* A character in a number: 1 when it is part of it, 0 when it is not (the number ended
 * before it), or a negative errno. */
static int number_char(struct jp_podlist_parser *ps, char c)
{
	enum num_state n = ps->num;
	if (c >= '0' && c <= '9') {
		if (n == N_SIGN)
			ps->num = c == '0' ? N_ZERO : N_INT;
		else if (n == N_ZERO)
			return jp_pl_syntax(ps, "leading zero in a number");
		else if (n == N_DOT)
			ps->num = N_FRAC;
		else if (n == N_E || n == N_ESIGN)
			ps->num = N_EXP;
	} else if (c == '.' && (n == N_ZERO || n == N_INT)) {
		ps->num = N_DOT;
	} else if ((c == 'e' || c == 'E') && (n == N_ZERO || n == N_INT || n == N_FRAC)) {
		ps->num = N_E;
	} else if ((c == '+' || c == '-') && n == N_E) {
		ps->num = N_ESIGN;
	} else {
		return 0;
	}
	if (ps->num_len < MAX_NUM)
		ps->numbuf[ps->num_len] = c;
	if (ps->num_len <= MAX_NUM)
		ps->num_len++;
	return 1;
}

int jp_pl_step(struct jp_podlist_parser *ps, char c)
{
	for (;;) {
		int r;
		switch (ps->lex) {
		case L_VALUE:
			if (is_ws(c))
				return 0;
			ps->seen_value = 1;
			return jp_pl_begin_value(ps, c);
		case L_OBJ_FIRST:
		case L_OBJ_KEY:
			return is_ws(c) ? 0 : member_begins(ps, c);
		case L_COLON:
			if (is_ws(c))
				return 0;
			if (c != ':')
				return jp_pl_syntax(ps, "expected ':'");
			ps->lex = L_VALUE;
			return 0;
		case L_OBJ_NEXT:
			return is_ws(c) ? 0 : separator(ps, c, '}', L_OBJ_KEY);
		case L_ARR_FIRST:
			if (is_ws(c))
				return 0;
			return c == ']' ? jp_pl_pop_frame(ps) : jp_pl_begin_value(ps, c);
		case L_ARR_NEXT:
			return is_ws(c) ? 0 : separator(ps, c, ']', L_VALUE);
		case L_STR:
			return string_char(ps, c);
		case L_STR_ESC:
			return string_escape(ps, c);
		case L_STR_U:
			return string_unicode(ps, c);
		case L_NUM:
			r = number_char(ps, c);
			if (r)
				return r < 0 ? r : 0;
			/* The number ended at c: finish it, then look at c again. */
			if ((r = jp_pl_number_finish(ps)))
				return r;
			continue;
		case L_LIT:
			if (c != ps->lit[ps->lit_pos])
				return jp_pl_syntax(ps, "unexpected character");
			/* A literal's type was checked when it began; null fields are absent. */
			if (!ps->lit[++ps->lit_pos])
				jp_pl_after_value(ps);
			return 0;
		case L_END:
			if (is_ws(c))
				return 0;
			jp_pl_problem(&ps->p, NULL, "not JSON: trailing data at byte %zu", ps->fed);
			return jp_pl_fail(ps, EINVAL);
		}
		return jp_pl_syntax(ps, "internal state");
	}
}
