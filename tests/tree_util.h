/* SPDX-License-Identifier: Apache-2.0 */
/* Fixture trees (a fake /proc, /sys or cgroup root) in a scratch directory, for the unit
 * tests. */
#ifndef JP_TESTS_TREE_UTIL_H
#define JP_TESTS_TREE_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Make a scratch directory /tmp/jp-<tag>-XXXXXX into root (at least 64 bytes). */
static inline void jp_test_tree_new(char *root, size_t len, const char *tag)
{
	snprintf(root, len, "/tmp/jp-%s-XXXXXX", tag);
	ck_assert_ptr_nonnull(mkdtemp(root));
}

/* Write text to root/rel, making the directories on the way. The file is rewritten in
 * place (same inode), as sysfs and procfs files change under an open descriptor. */
static inline void jp_test_put(const char *root, const char *rel, const char *text)
{
	char p[1024];
	ck_assert_int_lt(snprintf(p, sizeof(p), "%s/%s", root, rel), (int)sizeof(p));
	for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = 0;
		mkdir(p, 0755);
		*s = '/';
	}
	FILE *f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static inline void jp_test_tree_remove(const char *root)
{
	char cmd[1100];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ck_assert_int_eq(system(cmd), 0);
}

#endif
