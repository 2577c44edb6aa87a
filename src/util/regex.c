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

struct jp_regex {
	pcre2_code *code;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	int ngroups;   /* capturing groups of the last match, plus the whole match; 0 after none */
};

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
	jp_buf_free(&p);
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
		re->md = pcre2_match_data_create_from_pattern(code, NULL);
		re->mctx = pcre2_match_context_create(NULL);
	}
	if (!re || !re->md || !re->mctx) {
		snprintf(why, whylen, "out of memory");
		if (re)
			jp_regex_free(re);
		else
			pcre2_code_free(code);
		return NULL;
	}
	pcre2_set_match_limit(re->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, DEPTH_LIMIT);
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
	free(re);
}

int jp_regex_match(struct jp_regex *re, const char *s, size_t len, int *limited)
{
	if (limited)
		*limited = 0;
	int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, re->md, re->mctx);
	if (rc > 0) {
		re->ngroups = rc;
		return 1;
	}
	re->ngroups = 0;
	if (limited && (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT))
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
		char name[64];
		size_t nl = 0;
		const char *end;
		if (*t == '{') {
			end = strchr(t, '}');
			if (!end) {
				/* Go leaves a malformed reference as it is. */
				if (jp_buf_append(out, "$", 1))
					return -ENOMEM;
				continue;
			}
			const char *p = t + 1;
			for (; p < end && nl + 1 < sizeof(name); p++)
				name[nl++] = *p;
			t = end + 1;
		} else {
			const char *p = t;
			while (*p && (isalnum((unsigned char)*p) || *p == '_')) {
				if (nl + 1 < sizeof(name))
					name[nl++] = *p;
				p++;
			}
			if (p == t) {
				if (jp_buf_append(out, "$", 1))
					return -ENOMEM;
				continue;
			}
			t = p;
		}
		name[nl] = '\0';
		if (!nl)
			continue;
		int n = -1;
		size_t k = 0;
		while (k < nl && isdigit((unsigned char)name[k]))
			k++;
		if (k == nl) {
			n = nl < 6 ? atoi(name) : -1;
		} else {
			int r = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name);
			n = r >= 0 ? r : -1;
		}
		if (put_group(re, s, n, out))
			return -ENOMEM;
	}
	return 0;
}
