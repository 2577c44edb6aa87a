/* SPDX-License-Identifier: Apache-2.0 */
/* Opening the agent's own directories (queue.dir, state.dir) without following symbolic links. */
#include "util/safedir.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Why a component could not be opened as a directory: a link, something else, or errno. */
static int explain(int parent, const char *path, size_t plen, const char *comp, int err, char *why, size_t whylen)
{
	struct stat sb;
	if (fstatat(parent, comp, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(sb.st_mode)) {
			jp_why(why, whylen, "%.*s is a symbolic link (give the resolved path)", (int)plen, path);
			return -ELOOP;
		}
		if (!S_ISDIR(sb.st_mode)) {
			jp_why(why, whylen, "%.*s is not a directory", (int)plen, path);
			return -ENOTDIR;
		}
	}
	jp_why(why, whylen, "%.*s: %s", (int)plen, path, strerror(err));
	return -err;
}

static int check_final(int fd, const char *path, uid_t owner_uid, char *why, size_t whylen)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		jp_why(why, whylen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (sb.st_uid != 0 && sb.st_uid != geteuid() && sb.st_uid != owner_uid) {
		jp_why(why, whylen, "%s is owned by uid %u, not by root or the agent's user", path,
		       (unsigned)sb.st_uid);
		return -EPERM;
	}
	if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
		jp_why(why, whylen, "%s is writable by group or others (mode %04o)", path,
		       (unsigned)(sb.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int jp_safedir_open(const char *path, int create, mode_t mode, uid_t owner_uid, char *why, size_t whylen)
{
	if (!path || !*path) {
		jp_why(why, whylen, "%s", "empty path");
		return -EINVAL;
	}
	int fd = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		jp_why(why, whylen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	const char *p = path;
	char comp[256];
	int r = 0;
	while (*p) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		size_t plen = (size_t)(p - path) + n;
		if (n >= sizeof(comp)) {
			jp_why(why, whylen, "%.*s: name too long", (int)plen, path);
			r = -ENAMETOOLONG;
			goto out;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			jp_why(why, whylen, "%s: a \"..\" component is not allowed", path);
			r = -EINVAL;
			goto out;
		}
		int nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, mode) < 0 && errno != EEXIST) {
				jp_why(why, whylen, "cannot create %.*s: %s", (int)plen, path, strerror(errno));
				r = -errno;
				goto out;
			}
			nfd = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			r = explain(fd, path, plen, comp, errno, why, whylen);
			goto out;
		}
		close(fd);
		fd = nfd;
	}
	if ((r = check_final(fd, path, owner_uid, why, whylen)))
		goto out;
	r = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r < 0) {
		r = -errno;
		jp_why(why, whylen, "%s: %s", path, strerror(-r));
	}
out:
	close(fd);
	return r;
}

int jp_safedir_chown(int dirfd, uid_t uid, gid_t gid)
{
	if (fchown(dirfd, uid, gid) != 0)
		return -errno;
	int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = -errno;
		close(dfd);
		return e;
	}
	struct dirent *e;
	int r = 0;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		/* O_PATH opens nothing (no FIFO blocks, no device acts) and O_NOFOLLOW keeps a
		 * link a link; the checks and the chown then act on this very inode. */
		int fd = openat(dirfd, e->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat sb;
		if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_nlink == 1 &&
		    fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0 && r == 0)
			r = -errno;
		close(fd);
	}
	closedir(d);
	return r;
}
