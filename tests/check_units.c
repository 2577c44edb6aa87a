/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for duration and size parsing and ${VAR} expansion (src/util/units.c). */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/units.h"
#include <math.h>

static uint64_t dur(const char *s)
{
	uint64_t ms = 12345;
	ck_assert_msg(jp_parse_duration_ms(s, &ms) == 0, "duration \"%s\" should parse", s);
	return ms;
}

static int dur_err(const char *s)
{
	uint64_t ms = 12345;
	int r = jp_parse_duration_ms(s, &ms);
	ck_assert_msg(r < 0, "duration \"%s\" should be refused", s);
	ck_assert_uint_eq(ms, 12345);   /* untouched on error */
	return r;
}

START_TEST(test_duration_units)
{
	ck_assert_uint_eq(dur("500ms"), 500);
	ck_assert_uint_eq(dur("5s"), 5000);
	ck_assert_uint_eq(dur("15m"), 15 * 60000);
	ck_assert_uint_eq(dur("2h"), 2 * 3600000);
	ck_assert_uint_eq(dur("30ms"), 30);
	ck_assert_uint_eq(dur("0"), 0);
}
END_TEST

START_TEST(test_duration_compound_and_fraction)
{
	ck_assert_uint_eq(dur("1h30m"), 5400000);
	ck_assert_uint_eq(dur("1m30s"), 90000);
	ck_assert_uint_eq(dur("1.5s"), 1500);
	ck_assert_uint_eq(dur("0.5m"), 30000);
}
END_TEST

START_TEST(test_duration_errors)
{
	ck_assert_int_eq(dur_err(""), -EINVAL);
	ck_assert_int_eq(dur_err("5"), -EINVAL);
	ck_assert_int_eq(dur_err("5x"), -EINVAL);
	ck_assert_int_eq(dur_err("-1s"), -EINVAL);
	ck_assert_int_eq(dur_err("s"), -EINVAL);
	ck_assert_int_eq(dur_err("5 s"), -EINVAL);
	ck_assert_int_eq(dur_err("5s "), -EINVAL);
	ck_assert_int_eq(dur_err("1h30"), -EINVAL);
	ck_assert_int_eq(dur_err("99999999999999999999h"), -ERANGE);
	ck_assert_int_lt(jp_parse_duration_ms(NULL, &(uint64_t){0}), 0);
}
END_TEST

static uint64_t size(const char *s)
{
	uint64_t b = 12345;
	ck_assert_msg(jp_parse_size_bytes(s, &b) == 0, "size \"%s\" should parse", s);
	return b;
}

START_TEST(test_sizes)
{
	ck_assert_uint_eq(size("512KiB"), 512 * 1024);
	ck_assert_uint_eq(size("64MiB"), 64ull << 20);
	ck_assert_uint_eq(size("1GiB"), 1ull << 30);
	ck_assert_uint_eq(size("4096"), 4096);
	ck_assert_uint_eq(size("4096B"), 4096);
	ck_assert_uint_eq(size("1.5KiB"), 1536);
	ck_assert_uint_eq(size("2MB"), 2000000);
	ck_assert_uint_eq(size("0"), 0);
}
END_TEST

START_TEST(test_size_errors)
{
	static const char *const bad[] = {"", "KiB", "1XiB", "-1", "1 GiB", "1GiBx", "1.5.5MiB", "1kib",
					  "0x10"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t b = 12345;
		ck_assert_msg(jp_parse_size_bytes(bad[i], &b) < 0, "size \"%s\" should be refused", bad[i]);
		ck_assert_uint_eq(b, 12345);
	}
	uint64_t b;
	ck_assert_int_eq(jp_parse_size_bytes("99999999999TiB", &b), -ERANGE);
}
END_TEST

static void expect_expand(const char *in, const char *want)
{
	const char *why = NULL;
	char *got = jp_expand_env(in, &why);
	ck_assert_msg(got != NULL, "\"%s\" should expand (%s)", in, why ? why : "?");
	ck_assert_str_eq(got, want);
	free(got);
}

static void expect_expand_error(const char *in)
{
	const char *why = NULL;
	errno = 0;
	char *got = jp_expand_env(in, &why);
	ck_assert_msg(got == NULL, "\"%s\" should be refused, got \"%s\"", in, got ? got : "");
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(why);
}

START_TEST(test_env_set)
{
	setenv("JPT_A", "hello", 1);
	expect_expand("${JPT_A}", "hello");
	expect_expand("x-${JPT_A}-y", "x-hello-y");
	expect_expand("${JPT_A}${JPT_A}", "hellohello");
	expect_expand("${JPT_A:-dflt}", "hello");
	expect_expand("no variables", "no variables");
	expect_expand("", "");
	unsetenv("JPT_A");
}
END_TEST

START_TEST(test_env_unset_and_defaults)
{
	unsetenv("JPT_UNSET");
	expect_expand("${JPT_UNSET}", "");
	expect_expand("a${JPT_UNSET}b", "ab");
	expect_expand("${JPT_UNSET:-dflt}", "dflt");
	expect_expand("${JPT_UNSET:-}", "");
	expect_expand("${JPT_UNSET:-http://h:9090/x}", "http://h:9090/x");
	/* As in the shell, ":-" also replaces a variable that is set but empty. */
	setenv("JPT_EMPTY", "", 1);
	expect_expand("${JPT_EMPTY:-dflt}", "dflt");
	expect_expand("${JPT_EMPTY}", "");
	unsetenv("JPT_EMPTY");
}
END_TEST

START_TEST(test_env_dollar)
{
	setenv("JPT_A", "hello", 1);
	expect_expand("$$", "$");
	expect_expand("a$$b", "a$b");
	expect_expand("$${JPT_A}", "${JPT_A}");
	expect_expand("$JPT_A", "$JPT_A");   /* only the braced form expands */
	expect_expand("cost: 5$", "cost: 5$");
	unsetenv("JPT_A");
}
END_TEST

START_TEST(test_env_errors)
{
	expect_expand_error("${JPT_A");
	expect_expand_error("abc ${");
	expect_expand_error("${}");
	expect_expand_error("${:-x}");
	expect_expand_error("${A-B}");
	expect_expand_error("${A B}");
	expect_expand_error("${A.B}");
}
END_TEST

/* The one JSON writer (util/json.h): the exact text, compact and pretty; non-finite
 * numbers as null; bytes that are not UTF-8 replaced; every misuse an error. */
START_TEST(test_json_writer)
{
	struct jp_buf b = {0};
	struct jp_jw w;
	jp_jw_init(&w, &b, 0);
	jp_jw_object(&w);
	jp_jw_key(&w, "a");
	jp_jw_array(&w);
	jp_jw_number(&w, 1.5);
	jp_jw_number(&w, NAN);
	jp_jw_number(&w, -INFINITY);
	jp_jw_string(&w, "x\"\x01\xff");
	jp_jw_bool(&w, 1);
	jp_jw_null(&w);
	jp_jw_object(&w);
	jp_jw_end(&w);
	jp_jw_array(&w);
	jp_jw_end(&w);
	jp_jw_end(&w);
	jp_jw_key(&w, "b");
	jp_jw_string(&w, NULL);
	jp_jw_end(&w);
	ck_assert_int_eq(jp_jw_finish(&w), 0);
	ck_assert_int_eq((int)b.len, (int)strlen("{\"a\":[1.5,null,null,\"x\\\"\\u0001\xef\xbf\xbd\",true,null,{},[]],\"b\":null}"));
	ck_assert_int_eq(memcmp(b.data, "{\"a\":[1.5,null,null,\"x\\\"\\u0001\xef\xbf\xbd\",true,null,{},[]],\"b\":null}", b.len), 0);
	jp_buf_free(&b);

	jp_jw_init(&w, &b, 1);
	jp_jw_object(&w);
	jp_jw_key(&w, "k");
	jp_jw_array(&w);
	jp_jw_number(&w, 2);
	jp_jw_number(&w, 3);
	jp_jw_end(&w);
	jp_jw_end(&w);
	ck_assert_int_eq(jp_jw_finish(&w), 0);
	const char *pretty = "{\n  \"k\":[\n    2,\n    3\n  ]\n}";
	ck_assert_int_eq((int)b.len, (int)strlen(pretty));
	ck_assert_int_eq(memcmp(b.data, pretty, b.len), 0);
	jp_buf_free(&b);

	/* Misuse: a value without its key, a key in an array, an end too many, a document
	 * left open, a second top-level value, nothing at all. */
	jp_jw_init(&w, &b, 0); jp_jw_object(&w); jp_jw_number(&w, 1); jp_jw_end(&w);
	ck_assert_int_eq(jp_jw_finish(&w), -EINVAL);
	jp_buf_free(&b);
	jp_jw_init(&w, &b, 0); jp_jw_array(&w); jp_jw_key(&w, "k"); jp_jw_end(&w);
	ck_assert_int_eq(jp_jw_finish(&w), -EINVAL);
	jp_buf_free(&b);
	jp_jw_init(&w, &b, 0); jp_jw_array(&w); jp_jw_end(&w); jp_jw_end(&w);
	ck_assert_int_eq(jp_jw_finish(&w), -EINVAL);
	jp_buf_free(&b);
	jp_jw_init(&w, &b, 0); jp_jw_object(&w); jp_jw_key(&w, "k");
	ck_assert_int_eq(jp_jw_finish(&w), -EINVAL);
	jp_buf_free(&b);
	jp_jw_init(&w, &b, 0); jp_jw_number(&w, 1); jp_jw_number(&w, 2);
	ck_assert_int_eq(jp_jw_finish(&w), -EINVAL);
	jp_buf_free(&b);
	jp_jw_init(&w, &b, 0);
	ck_assert_int_eq(jp_jw_finish(&w), -EINVAL);
	/* Nesting deeper than the limit. */
	jp_jw_init(&w, &b, 0);
	for (int i = 0; i <= JP_JW_MAX_DEPTH; i++)
		jp_jw_array(&w);
	ck_assert_int_eq(jp_jw_finish(&w), -EINVAL);
	jp_buf_free(&b);
}
END_TEST

static Suite *units_suite(void)
{
	Suite *s = suite_create("units");
	TCase *tc = tcase_create("duration");
	tcase_add_test(tc, test_duration_units);
	tcase_add_test(tc, test_duration_compound_and_fraction);
	tcase_add_test(tc, test_duration_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("size");
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_size_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("env");
	tcase_add_test(tc, test_env_set);
	tcase_add_test(tc, test_env_unset_and_defaults);
	tcase_add_test(tc, test_env_dollar);
	tcase_add_test(tc, test_env_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("json");
	tcase_add_test(tc, test_json_writer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(units_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
