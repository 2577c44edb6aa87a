/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: advance the energy_uj counters of a fixture powercap tree at given wattages. */
#include "rapl_advance_lib.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct adv_zone {
	char dir[4096];
	char id[64], name[64];
	int fd;
	uint64_t max_uj, start_uj;
	double watts;
	int prio;   /* how specific the key that set watts was */
};

struct rapl_adv {
	struct adv_zone *z;
	size_t n, cap;
};

int rapl_adv_copy(const char *src, const char *dst)
{
	char from[4200];
	snprintf(from, sizeof(from), "%s/.", src);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("mkdir", "mkdir", "-p", dst, (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execlp("cp", "cp", "-a", from, dst, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

static int read_text(const char *dir, const char *file, char *buf, size_t cap)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

static struct rapl_adv *g_walk; /* nftw has no user pointer */

static int walk_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	if (type != FTW_F || strcmp(path + ftw->base, "energy_uj") != 0)
		return 0;
	struct rapl_adv *a = g_walk;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		struct adv_zone *v = realloc(a->z, cap * sizeof(*v));
		if (!v)
			return -1;
		a->z = v;
		a->cap = cap;
	}
	struct adv_zone *z = &a->z[a->n];
	memset(z, 0, sizeof(*z));
	snprintf(z->dir, sizeof(z->dir), "%.*s", (int)(ftw->base - 1), path);
	const char *slash = strrchr(z->dir, '/');
	snprintf(z->id, sizeof(z->id), "%.63s", slash ? slash + 1 : z->dir);
	char buf[64];
	if (read_text(z->dir, "name", z->name, sizeof(z->name)) < 0)
		z->name[0] = '\0';
	if (read_text(z->dir, "max_energy_range_uj", buf, sizeof(buf)) == 0)
		z->max_uj = strtoull(buf, NULL, 10);
	if (read_text(z->dir, "energy_uj", buf, sizeof(buf)) == 0)
		z->start_uj = strtoull(buf, NULL, 10);
	z->fd = open(path, O_WRONLY | O_CLOEXEC);
	if (z->fd < 0) {
		fprintf(stderr, "rapl_advance: %s: %s\n", path, strerror(errno));
		return -1;
	}
	a->n++;
	return 0;
}

static int key_prio(const struct adv_zone *z, const char *key, size_t klen)
{
	if (strlen(z->id) == klen && memcmp(z->id, key, klen) == 0)
		return 3;
	if (strlen(z->name) == klen && memcmp(z->name, key, klen) == 0)
		return 2;
	if (klen == 7 && memcmp(key, "package", 7) == 0 && strncmp(z->name, "package-", 8) == 0)
		return 1;
	return 0;
}

struct rapl_adv *rapl_adv_open(const char *root, char *const *specs, size_t nspecs)
{
	struct rapl_adv *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	g_walk = a;
	if (nftw(root, walk_cb, 16, FTW_PHYS) != 0 || a->n == 0) {
		fprintf(stderr, "rapl_advance: no zones under %s\n", root);
		rapl_adv_close(a);
		return NULL;
	}
	for (size_t i = 0; i < nspecs; i++) {
		const char *eq = strchr(specs[i], '=');
		char *end;
		double w = eq ? strtod(eq + 1, &end) : NAN;
		if (!eq || end == eq + 1 || *end || !(w >= 0)) {
			fprintf(stderr, "rapl_advance: bad spec '%s' (want KEY=WATTS)\n", specs[i]);
			rapl_adv_close(a);
			return NULL;
		}
		int matched = 0;
		for (size_t j = 0; j < a->n; j++) {
			int p = key_prio(&a->z[j], specs[i], (size_t)(eq - specs[i]));
			if (p && p >= a->z[j].prio) {
				a->z[j].watts = w;
				a->z[j].prio = p;
			}
			matched |= p != 0;
		}
		if (!matched) {
			fprintf(stderr, "rapl_advance: no zone matches '%s'\n", specs[i]);
			rapl_adv_close(a);
			return NULL;
		}
	}
	return a;
}

void rapl_adv_close(struct rapl_adv *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		if (a->z[i].fd >= 0)
			close(a->z[i].fd);
	free(a->z);
	free(a);
}

static int write_counter(int fd, uint64_t v)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)v);
	/* pwrite first, then cut the tail: a reader in between sees the new number followed by
	 * a newline and leftovers, which reads as the new value. */
	if (pwrite(fd, buf, (size_t)len, 0) != len || ftruncate(fd, len) < 0)
		return -1;
	return 0;
}

int rapl_adv_set(struct rapl_adv *a, double elapsed_s)
{
	for (size_t i = 0; i < a->n; i++) {
		struct adv_zone *z = &a->z[i];
		uint64_t inc = (uint64_t)llround(z->watts * elapsed_s * 1e6);
		uint64_t v = z->start_uj + inc;
		if (z->max_uj)
			v %= z->max_uj;
		if (write_counter(z->fd, v) < 0)
			return -1;
	}
	return 0;
}

int rapl_adv_set_range(struct rapl_adv *a, const char *zone, uint64_t max_uj, uint64_t start_uj)
{
	for (size_t i = 0; i < a->n; i++) {
		struct adv_zone *z = &a->z[i];
		if (strcmp(z->id, zone) != 0)
			continue;
		char path[4200];
		snprintf(path, sizeof(path), "%s/max_energy_range_uj", z->dir);
		int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (fd < 0)
			return -1;
		int ret = write_counter(fd, max_uj);
		close(fd);
		z->max_uj = max_uj;
		z->start_uj = start_uj;
		return ret < 0 ? -1 : write_counter(z->fd, start_uj);
	}
	return -1;
}

size_t rapl_adv_zone_count(const struct rapl_adv *a)
{
	return a->n;
}
