/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fully anchored regular expressions for relabelling, on PCRE2 (docs/reference/remote-write.md
 * "Relabelling" says how they differ from Prometheus's RE2): a pattern P matches a string
 * only as a whole, as \A(?:P)\z. Whether it matches is decided without backtracking (PCRE2's
 * DFA matcher), as RE2 would; only groups come from the backtracking matcher, bounded by a
 * match and a depth limit, so a pathological pattern cannot stall the agent.
 */
#ifndef JP_UTIL_REGEX_H
#define JP_UTIL_REGEX_H

#include <stddef.h>

#include "util/buf.h"

struct jp_regex;

/* Compile pattern. Returns NULL with why filled (PCRE2's message and the offset). */
struct jp_regex *jp_regex_compile(const char *pattern, char *why, size_t whylen);
void jp_regex_free(struct jp_regex *re);

/* Whether s[0..len) matches as a whole: 1 or 0. Decided by PCRE2's DFA matcher, which
 * cannot backtrack and so hits no limit on any pattern (a pattern with back-references,
 * which RE2 refuses anyway, falls back to jp_regex_capture). *limited (may be NULL) is 1
 * when no answer could be had (then 0 is returned): a caller must not keep that answer. */
int jp_regex_match(struct jp_regex *re, const char *s, size_t len, int *limited);

/* Match with the backtracking matcher, bounded, keeping the groups in re for
 * jp_regex_expand (so a jp_regex is for one thread): 1, or 0 for no match or a limit hit
 * (*limited set). */
int jp_regex_capture(struct jp_regex *re, const char *s, size_t len, int *limited);

/* Append template to out with $1, ${1}, $name, ${name} replaced by the groups of the
 * last capture against s, exactly as Go's regexp.Expand (see regex.c), and $$ by $.
 * Returns 0 or -ENOMEM. */
int jp_regex_expand(const struct jp_regex *re, const char *s, const char *template, struct jp_buf *out);

#endif
