/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fully anchored regular expressions for relabelling, on PCRE2 (docs/reference/remote-write.md
 * "Relabelling" says how they differ from Prometheus's RE2): a pattern P matches a string
 * only as a whole, as \A(?:P)\z; matching is bounded (a match limit and a depth limit), so
 * a pathological pattern fails to match instead of stalling the agent.
 */
#ifndef JP_UTIL_REGEX_H
#define JP_UTIL_REGEX_H

#include <stddef.h>

#include "util/buf.h"

struct jp_regex;

/* Compile pattern. Returns NULL with why filled (PCRE2's message and the offset). */
struct jp_regex *jp_regex_compile(const char *pattern, char *why, size_t whylen);
void jp_regex_free(struct jp_regex *re);

/* Match s[0..len) as a whole: 1 match, 0 no match (also when a limit is hit, which
 * *limited reports, may be NULL). The groups of the last match are kept in re for
 * jp_regex_expand (so a jp_regex is for one thread). */
int jp_regex_match(struct jp_regex *re, const char *s, size_t len, int *limited);

/* Append template to out with $1, ${1}, $name, ${name} replaced by the groups of the
 * last match against s (a group that does not exist or did not take part is empty;
 * as in Go, "$1x" names the group "1x"), and $$ by $. Returns 0 or -ENOMEM. */
int jp_regex_expand(const struct jp_regex *re, const char *s, const char *template, struct jp_buf *out);

#endif
