/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for reading secret files: trimming, and files that are not what they should be. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/secret.h"

static char dir[64];

static const char *put(const char *name, const void *data, size_t n)
{
	static char p[128];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
	return p;
}

static void setup(void)
{
	strcpy(dir, "/tmp/check_secret.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_trimmed)
{
	char *s = jp_secret_read(put("a", "tok-123\n", 8));
	ck_assert_str_eq(s, "tok-123");
	jp_secret_free(s);
	s = jp_secret_read(put("b", "pass word \r\n\t ", 14));
	ck_assert_str_eq(s, "pass word");
	jp_secret_free(s);
	s = jp_secret_read(put("c", "", 0));
	ck_assert_str_eq(s, "");
	jp_secret_free(s);
	jp_secret_free(NULL);
}
END_TEST

/* A NUL would cut the secret short where it is used as a string (found by fuzzing). */
START_TEST(test_nul_refused)
{
	errno = 0;
	ck_assert_ptr_null(jp_secret_read(put("n", "ok\n\n\0evil", 10)));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_not_a_regular_file)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	errno = 0;
	ck_assert_ptr_null(jp_secret_read(p));   /* does not block */
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(jp_secret_read(dir));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	snprintf(p, sizeof(p), "%s/missing", dir);
	ck_assert_ptr_null(jp_secret_read(p));
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_too_large)
{
	size_t n = JP_SECRET_MAX_BYTES + 1;
	char *big = malloc(n);
	memset(big, 'x', n);
	errno = 0;
	ck_assert_ptr_null(jp_secret_read(put("big", big, n)));
	ck_assert_int_eq(errno, EFBIG);
	free(big);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("secret");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_trimmed);
	tcase_add_test(tc, test_nul_refused);
	tcase_add_test(tc, test_not_a_regular_file);
	tcase_add_test(tc, test_too_large);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
