/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the CPU-time collectors: the cgroup v2 mount and per-cgroup CPU time sets. */
#include "collect/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int jp_cg_cpu_set_add(struct jp_cg_cpu_set *set, const char *path, uint64_t cgroup_id, uint64_t cpu_ns)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		struct jp_cg_cpu *v = realloc(set->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		set->v = v;
		set->cap = cap;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	set->v[set->n++] = (struct jp_cg_cpu){.path = p, .cgroup_id = cgroup_id, .cpu_ns = cpu_ns};
	return 0;
}

void jp_cg_cpu_set_clear(struct jp_cg_cpu_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->v[i].path);
	set->n = 0;
}

void jp_cg_cpu_set_free(struct jp_cg_cpu_set *set)
{
	jp_cg_cpu_set_clear(set);
	free(set->v);
	set->v = NULL;
	set->cap = 0;
}

static int walk_dir(int dfd, char *rel, size_t len, size_t cap, unsigned depth, unsigned max_depth,
		    int (*cb)(const char *rel, void *arg), void *arg)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	struct dirent *e;
	int r = 0;
	while (r >= 0 && (e = readdir(d)) != NULL) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		size_t nl = strlen(e->d_name);
		if (len + 1 + nl + 1 > cap)
			continue;   /* a path too long to be a pod's */
		rel[len] = '/';
		memcpy(rel + len + 1, e->d_name, nl + 1);
		int c = cb(rel, arg);
		if (c < 0) {
			r = c;
		} else if (c == 0 && depth + 1 < max_depth) {
			int cfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (cfd >= 0)
				r = walk_dir(cfd, rel, len + 1 + nl, cap, depth + 1, max_depth, cb, arg);
		}
		rel[len] = '\0';
	}
	closedir(d);
	return r;
}

int jp_cgroup_walk(const char *mount, unsigned max_depth, int (*cb)(const char *rel, void *arg), void *arg)
{
	int dfd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	char rel[4096] = "";
	return walk_dir(dfd, rel, 0, sizeof(rel), 0, max_depth, cb, arg);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo (proc(5)). */
static void unescape_octal(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

int jp_cgroup2_find_mount(const char *procfs, char *out, size_t outlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/self/mountinfo", procfs);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	int ret = -ENOENT;
	while (getline(&line, &cap, f) > 0) {
		/* id parent major:minor root mountpoint options [optional...] - fstype source superopts */
		char *sep = strstr(line, " - ");
		if (!sep)
			continue;
		if (strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		*sep = '\0';
		char *save = NULL, *tok = strtok_r(line, " ", &save);
		for (int i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &save);
		if (!tok)
			continue;
		unescape_octal(tok);
		if (strlen(tok) + 1 > outlen) {
			ret = -ENAMETOOLONG;
			break;
		}
		memcpy(out, tok, strlen(tok) + 1);
		ret = 0;
		break;
	}
	free(line);
	fclose(f);
	return ret;
}
