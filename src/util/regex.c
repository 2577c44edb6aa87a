/* SPDX-License-Identifier: Apache-2.0 */
/* Anchored, bounded regular expressions on PCRE2 (util/regex.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "util/regex.h"

#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on one match: far beyond what a label pattern needs, small enough that a
 * catastrophic pattern ends in microseconds to milliseconds. */
#define MATCH_LIMIT 100000u
#define DEPTH_LIMIT 1000u

/* The DFA matcher's workspace, in ints: enough for label patterns; a pattern that needs
 * more reports a limit rather than a wrong answer. */
#define DFA_WORKSPACE 4096

struct jp_regex {
	pcre2_code *code;
	pcre2_code *dfa_code;  /* the same pattern without PCRE2_MATCH_INVALID_UTF, which the DFA lacks */
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	int dfa_ok;    /* the pattern has nothing the DFA matcher lacks (back-references) */
	int ngroups;   /* capturing groups of the last capture, plus the whole match; 0 after none */
};

/* PCRE2's DFA matcher tries every alternative at once, in one pass over the subject: it
 * cannot backtrack, so it has no exponential case and needs no match limit, which makes
 * its yes/no as reliable as RE2's (Prometheus's engine). It gives no groups: those come
 * from the backtracking matcher, bounded, and only after the DFA said yes. */
static int dfa(const struct jp_regex *re, const char *s, size_t len)
{
	int ws[DFA_WORKSPACE];
	return pcre2_dfa_match(re->dfa_code, (PCRE2_SPTR)s, len, 0, 0, re->md, NULL, ws, DFA_WORKSPACE);
}

struct jp_regex *jp_regex_compile(const char *pattern, char *why, size_t whylen)
{
	struct jp_buf p = {0};
	/* \A and \z: only the whole string; `$` would also match before a final newline. */
	if (jp_buf_printf(&p, "\\A(?:%s)\\z", pattern) || jp_buf_append(&p, "", 1)) {
		jp_buf_free(&p);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	int err;
	PCRE2_SIZE off;
	pcre2_code *code = pcre2_compile((PCRE2_SPTR)p.data, PCRE2_ZERO_TERMINATED,
					 PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL);
	pcre2_code *dfa_code = code ? pcre2_compile((PCRE2_SPTR)p.data, PCRE2_ZERO_TERMINATED,
						    PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C, &err, &off, NULL)
				    : NULL;
	jp_buf_free(&p);
	if (code && !dfa_code) {
		pcre2_code_free(code);
		code = NULL;
	}
	if (!code) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(err, msg, sizeof(msg));
		/* The offset is in the wrapped pattern: 5 bytes of "\A(?:" before the user's. */
		snprintf(why, whylen, "%s at offset %zu", (const char *)msg, off >= 5 ? (size_t)off - 5 : 0);
		return NULL;
	}
	struct jp_regex *re = calloc(1, sizeof(*re));
	if (re) {
		re->code = code;
		re->dfa_code = dfa_code;
		re->md = pcre2_match_data_create_from_pattern(code, NULL);
		re->mctx = pcre2_match_context_create(NULL);
	}
	if (!re || !re->md || !re->mctx) {
		snprintf(why, whylen, "out of memory");
		if (re) {
			jp_regex_free(re);
		} else {
			pcre2_code_free(code);
			pcre2_code_free(dfa_code);
		}
		return NULL;
	}
	pcre2_set_match_limit(re->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, DEPTH_LIMIT);
	int probe = dfa(re, "", 0);
	re->dfa_ok = probe != PCRE2_ERROR_DFA_UITEM && probe != PCRE2_ERROR_DFA_UCOND && probe != PCRE2_ERROR_DFA_UFUNC;
	/* JIT where the platform has it; the interpreter otherwise (same results). */
	(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	return re;
}

void jp_regex_free(struct jp_regex *re)
{
	if (!re)
		return;
	pcre2_match_data_free(re->md);
	pcre2_match_context_free(re->mctx);
	pcre2_code_free(re->code);
	pcre2_code_free(re->dfa_code);
	free(re);
}

static int limit_error(int rc)
{
	return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT ||
	       rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_DFA_WSSIZE || rc == PCRE2_ERROR_DFA_RECURSE;
}

int jp_regex_match(struct jp_regex *re, const char *s, size_t len, int *limited)
{
	if (limited)
		*limited = 0;
	re->ngroups = 0;
	if (!re->dfa_ok)
		return jp_regex_capture(re, s, len, limited);
	int rc = dfa(re, s, len);
	if (rc >= 0)
		return 1;   /* 0: a match, with more of them than the vector holds */
	/* Invalid UTF-8 in the value (PCRE2's UTF-8 errors run from -3 to -23): the DFA
	 * cannot take it, the other matcher can. */
	if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
		return jp_regex_capture(re, s, len, limited);
	if (limited && rc != PCRE2_ERROR_NOMATCH)
		*limited = 1;
	return 0;
}

int jp_regex_capture(struct jp_regex *re, const char *s, size_t len, int *limited)
{
	if (limited)
		*limited = 0;
	int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, re->md, re->mctx);
	if (rc > 0) {
		re->ngroups = rc;
		return 1;
	}
	re->ngroups = 0;
	if (limited && limit_error(rc))
		*limited = 1;
	return 0;
}

/* Group n of the last match into out (nothing when it did not take part). */
static int put_group(const struct jp_regex *re, const char *s, int n, struct jp_buf *out)
{
	if (n < 0 || n >= re->ngroups)
		return 0;
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
	if (ov[2 * n] == PCRE2_UNSET)
		return 0;
	return jp_buf_append(out, s + ov[2 * n], ov[2 * n + 1] - ov[2 * n]) ? -ENOMEM : 0;
}

/* A name character of Go's regexp.Expand: a letter, a digit or '_' (Go takes Unicode
 * letters and digits; every byte of a multi-byte UTF-8 character is taken as one here). */
static int name_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c >= 0x80;
}

/*
 * Go's regexp.Expand, which Prometheus uses for `replacement` and `target_label`, to the
 * letter: after '$' comes a name, the longest run of name characters, or one in braces
 * that must be closed right after it; anything else leaves the '$' as it is ("${}",
 * "${1 }", "$-"). A name of digits only, without a leading zero, and below 10^8 is a
 * group number; any other name ("01", "1x") is a group name, and a group that does not
 * exist or did not take part gives nothing.
 */
int jp_regex_expand(const struct jp_regex *re, const char *s, const char *t, struct jp_buf *out)
{
	while (*t) {
		const char *d = strchr(t, '$');
		if (!d)
			return jp_buf_append(out, t, strlen(t)) ? -ENOMEM : 0;
		if (jp_buf_append(out, t, (size_t)(d - t)))
			return -ENOMEM;
		t = d + 1;
		if (*t == '$') {
			if (jp_buf_append(out, "$", 1))
				return -ENOMEM;
			t++;
			continue;
		}
		int brace = *t == '{';
		const char *p = t + brace, *name = p;
		while (*p && name_char((unsigned char)*p))
			p++;
		size_t nl = (size_t)(p - name);
		if (nl == 0 || (brace && *p != '}')) {
			if (jp_buf_append(out, "$", 1))   /* malformed: the '$' is text */
				return -ENOMEM;
			continue;
		}
		t = p + brace;
		long num = 0;
		for (size_t i = 0; i < nl; i++) {
			if (!isdigit((unsigned char)name[i]) || num >= 100000000L) {
				num = -1;
				break;
			}
			num = num * 10 + (name[i] - '0');
		}
		if (name[0] == '0' && nl > 1)
			num = -1;
		int n = -1;
		if (num >= 0) {
			n = num < 1000 ? (int)num : -1;
		} else {
			char buf[256];
			if (nl < sizeof(buf)) {
				memcpy(buf, name, nl);
				buf[nl] = '\0';
				int r = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)buf);
				n = r >= 0 ? r : -1;
			}
		}
		if (put_group(re, s, n, out))
			return -ENOMEM;
	}
	return 0;
}
