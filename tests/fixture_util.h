/* SPDX-License-Identifier: Apache-2.0 */
/* Fixture files and times, for the unit tests. */
#ifndef JP_TESTS_FIXTURE_UTIL_H
#define JP_TESTS_FIXTURE_UTIL_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/time.h"

/* The file dir + name, whole and NUL-terminated (free it); the test fails when it cannot
 * be read. */
static inline char *jp_test_slurp(const char *dir, const char *name, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s%s", dir, name);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "fixture %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* An RFC 3339 time in ms since the epoch; the test fails when it does not parse. */
static inline int64_t jp_test_time(const char *s)
{
	int64_t t;
	ck_assert_int_eq(jp_time_parse(s, strlen(s), &t), 0);
	return t;
}

#endif
