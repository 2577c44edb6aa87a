/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the CPU-time collectors: the cgroup v2 mount and per-cgroup CPU time sets. */
#include "collect/cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
