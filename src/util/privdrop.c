/* SPDX-License-Identifier: Apache-2.0 */
/* Dropping root to an unprivileged user once privileged files and BPF maps are open (README.md). */
#include "util/privdrop.h"
#include "util/log.h"
#include "util/safedir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Hand a queue or state directory (flat) to the user, walking its path again without
 * following links (util/safedir.h) and changing owners through descriptors only. */
static int chown_tree(const char *dir, uid_t uid, gid_t gid, char *why, size_t whylen)
{
	int fd = jp_safedir_open(dir, 0, 0, uid, why, whylen);
	if (fd < 0)
		return fd;
	int r = jp_safedir_chown(fd, uid, gid);
	close(fd);
	if (r)
		jp_why(why, whylen, "cannot hand %s to the user: %s", dir, strerror(-r));
	return r;
}

int jp_privdrop_lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int e = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (e || !res)
		return e ? -e : -ENOENT;
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return 0;
}

int jp_privdrop_check_readable(uid_t uid, gid_t gid, const char *const *paths, size_t n, char *why, size_t whylen)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(p[0]);
		close(p[1]);
		return e;
	}
	if (pid == 0) {
		/* The child becomes the user exactly as jp_privdrop() will (no supplementary
		 * groups) and opens each file: that answers for modes, ACLs and directories on
		 * the way alike. A file that does not exist is not this check's business. */
		int res[2] = {-1, 0};
		if (setgroups(0, NULL) || setgid(gid) || setuid(uid)) {
			res[1] = errno;
		} else {
			for (size_t i = 0; i < n; i++) {
				int fd = open(paths[i], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
				if (fd >= 0) {
					close(fd);
					continue;
				}
				if (errno == ENOENT)
					continue;
				res[0] = (int)i;
				res[1] = errno;
				break;
			}
		}
		ssize_t w = write(p[1], res, sizeof(res));
		_exit(w == (ssize_t)sizeof(res) ? 0 : 1);
	}
	close(p[1]);
	int res[2] = {-1, EIO};
	ssize_t got;
	do
		got = read(p[0], res, sizeof(res));
	while (got < 0 && errno == EINTR);
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (got != (ssize_t)sizeof(res)) {
		jp_why(why, whylen, "%s", "cannot check the secret files as the user");
		return -EIO;
	}
	if (res[1] == 0)
		return 0;
	if (res[0] < 0) {
		jp_why(why, whylen, "cannot become uid %u to check the secret files", (unsigned)uid);
		return -res[1];
	}
	jp_why(why, whylen, "%s is not readable by uid %u gid %u, which must read it again after a rotation: %s",
	       paths[res[0]], (unsigned)uid, (unsigned)gid, strerror(res[1]));
	return -res[1];
}

int jp_privdrop_caps(char *why, size_t whylen)
{
	/* Ambient capabilities would survive an execve; none is needed after start-up. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
		jp_why(why, whylen, "%s", "cannot clear the ambient capabilities");
		return -errno;
	}
	/* Permitted, effective and inheritable all empty: lowering them needs no privilege.
	 * The eBPF program, its maps and RAPL's counters stay open as descriptors. */
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) != 0) {
		jp_why(why, whylen, "%s", "cannot clear the capabilities");
		return -errno;
	}
	/* Nothing the agent runs (it runs nothing) can gain privileges through execve. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		jp_why(why, whylen, "%s", "cannot set no_new_privs");
		return -errno;
	}
	return 0;
}

/* Drop every capability from the bounding set while that is still allowed (it needs
 * CAP_SETPCAP, which a container may not have: then the capset and no_new_privs after
 * the switch are what keeps the capabilities out). */
static void bounding_drop(void)
{
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
			(void)prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
}

int jp_privdrop(const char *user, const char *const *owned, size_t nowned, char *why, size_t whylen)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int e = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (e || !res) {
		jp_why(why, whylen, "%s", "no such user");
		return e ? -e : -ENOENT;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw.pw_uid)
			return jp_privdrop_caps(why, whylen);   /* already that user: drop the rest */
		jp_why(why, whylen, "%s", "switching users needs root");
		return -EPERM;
	}
	for (size_t i = 0; i < nowned; i++) {
		int r = chown_tree(owned[i], pw.pw_uid, pw.pw_gid, why, whylen);
		if (r)
			return r;
	}
	bounding_drop();
	/* Order matters: groups first, then gid, then uid (after setuid nothing else is allowed). */
	if (setgroups(0, NULL) != 0 || setgid(pw.pw_gid) != 0 || setuid(pw.pw_uid) != 0) {
		jp_why(why, whylen, "%s", "setgroups/setgid/setuid failed");
		return -errno;
	}
	/* A process that could regain root has not dropped anything. */
	if (setuid(0) == 0) {
		jp_why(why, whylen, "%s", "root could be regained after setuid");
		return -EPERM;
	}
	return jp_privdrop_caps(why, whylen);
}
