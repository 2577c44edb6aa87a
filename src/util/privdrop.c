/* SPDX-License-Identifier: Apache-2.0 */
/* Dropping root to an unprivileged user once privileged files and BPF maps are open (SPEC §9). */
#include "util/privdrop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* chown the directory and the entries directly inside it (a queue is flat). */
static int chown_tree(const char *dir, uid_t uid, gid_t gid)
{
	if (chown(dir, uid, gid) != 0)
		return -errno;
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *e;
	int r = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fchownat(dirfd(d), e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && r == 0)
			r = -errno;
	}
	closedir(d);
	return r;
}

int jp_privdrop(const char *user, const char *const *owned, size_t nowned, const char **why)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int e = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (e || !res) {
		*why = "no such user";
		return e ? -e : -ENOENT;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw.pw_uid)
			return 0;   /* already that user */
		*why = "switching users needs root";
		return -EPERM;
	}
	for (size_t i = 0; i < nowned; i++) {
		int r = chown_tree(owned[i], pw.pw_uid, pw.pw_gid);
		if (r) {
			*why = "cannot hand the queue directory to the user";
			return r;
		}
	}
	/* Order matters: groups first, then gid, then uid (after setuid nothing else is allowed). */
	if (setgroups(0, NULL) != 0 || setgid(pw.pw_gid) != 0 || setuid(pw.pw_uid) != 0) {
		*why = "setgroups/setgid/setuid failed";
		return -errno;
	}
	/* A process that could regain root has not dropped anything. */
	if (setuid(0) == 0) {
		*why = "root could be regained after setuid";
		return -EPERM;
	}
	return 0;
}
