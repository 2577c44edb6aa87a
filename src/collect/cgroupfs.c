/* SPDX-License-Identifier: Apache-2.0 */
/* The cgroupfs collector: per-interval CPU time of pods, containers and the system bucket from cpu.stat (docs/model.md). */
#include "collect/cgroupfs.h"
#include "util/hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "collect/cgroup_pods.h"
#include "collect/procstat.h"
#include "util/log.h"

#define MOD "cgroupfs"
/* Kubernetes puts pods at most a few levels deep (kubepods, QoS, pod, container, plus
 * a cgroup root or a nested node's prefix); a deeper tree is not searched. */
#define WALK_MAX_DEPTH 16
/* A bound on the cgroups one walk records, against a runaway or hostile tree. */
#define WALK_MAX_RECORDS 200000

enum rec_kind { REC_POD, REC_CONTAINER };

struct rec {
	char *path;        /* relative to the mount, starts with '/' */
	uint64_t ino;
	uint64_t usage_ns; /* cumulative */
	uint64_t delta_ns;
	enum rec_kind kind;
	long pod;          /* index of the pod record of a container, -1 if none */
	int fd;            /* its cpu.stat kept open for the next walk, or -1 */
	uint64_t file_ino; /* that file's inode (checked on filesystems other than cgroupfs) */
	uint64_t nlink;    /* a pod's directory: its link count (2 + its subdirectories) */
};

struct table {
	struct rec *v;
	size_t n, cap;
	uint32_t *slot;    /* open addressing by path: index + 1, 0 empty */
	size_t nslot;
};

struct jp_cgroupfs {
	char *mount;
	char *root;        /* kubernetes.cgroup_root */
	int version;
	struct jp_procstat *ps;
	struct table prev;
	uint64_t prev_mono_ns;
	struct jp_cgroupfs_stats st;
	struct jp_ratelimit rl;
	char rel[4096];    /* the walk's current relative path */
	/* cpu.stat descriptors kept open between walks (read again with pread): at most
	 * max_fds of them, a share of RLIMIT_NOFILE. On cgroupfs a removed cgroup's file reads
	 * ENODEV; on other filesystems (test trees) the path is checked to be the same inode. */
	size_t nfds, max_fds;
	int kernfs;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t hash_str(const char *s)
{
	return jp_fnv1a_str(s);
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].path);
		if (t->v[i].fd >= 0)
			close(t->v[i].fd);
	}
	free(t->v);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

static void table_truncate(struct table *t, size_t n)
{
	while (t->n > n) {
		free(t->v[--t->n].path);
		if (t->v[t->n].fd >= 0)
			close(t->v[t->n].fd);
	}
}

static struct rec *table_add(struct table *t, const char *path, enum rec_kind kind, long pod)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct rec *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		t->v = v;
		t->cap = cap;
	}
	char *p = strdup(path);
	if (!p)
		return NULL;
	struct rec *r = &t->v[t->n++];
	*r = (struct rec){.path = p, .kind = kind, .pod = pod, .fd = -1};
	return r;
}

/* Build the path index once the walk is complete. */
static int table_index(struct table *t)
{
	size_t nslot = 16;
	while (nslot < t->n * 2)
		nslot *= 2;
	uint32_t *slot = calloc(nslot, sizeof(*slot));
	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t h = (size_t)hash_str(t->v[i].path) & (nslot - 1);
		while (slot[h])
			h = (h + 1) & (nslot - 1);
		slot[h] = (uint32_t)(i + 1);
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = nslot;
	return 0;
}

static struct rec *table_find(const struct table *t, const char *path)
{
	if (!t->nslot)
		return NULL;
	size_t h = (size_t)hash_str(path) & (t->nslot - 1);
	for (; t->slot[h]; h = (h + 1) & (t->nslot - 1)) {
		struct rec *r = &t->v[t->slot[h] - 1];
		if (strcmp(r->path, path) == 0)
			return r;
	}
	return NULL;
}

static int gone(int err)
{
	return err == ENOENT || err == ENODEV || err == ESTALE;
}

/* Parse "usage_usec N" out of a v2 cpu.stat, or the single number of v1 cpuacct.usage. */
static int parse_usage(int version, const char *buf, size_t len, uint64_t *out_ns)
{
	const char *p = buf, *end = buf + len;
	if (version == 2) {
		for (;;) {
			if ((size_t)(end - p) > 11 && memcmp(p, "usage_usec ", 11) == 0) {
				p += 11;
				break;
			}
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl)
				return -EINVAL;
			p = nl + 1;
		}
	}
	uint64_t v = 0;
	const char *s = p;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		uint64_t d = (uint64_t)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (p == s || (p < end && *p != '\n'))
		return -EINVAL;
	if (version == 2) {
		if (v > UINT64_MAX / 1000)
			return -ERANGE;
		v *= 1000;
	}
	*out_ns = v;
	return 0;
}

static int pread_usage(struct jp_cgroupfs *cg, int fd, uint64_t *usage_ns)
{
	char buf[4096];
	ssize_t r;
	do
		r = pread(fd, buf, sizeof(buf), 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return gone(errno) ? -ENOENT : -errno;
	return parse_usage(cg->version, buf, (size_t)r, usage_ns);
}

/* The last walk's open cpu.stat of cgroup rel, read again: 0 with the usage, and the
 * descriptor and inode moved to *fd and *ino; -1 when there is none or it no longer
 * names that cgroup (then it is closed and the caller opens the path afresh). */
static int read_kept(struct jp_cgroupfs *cg, const char *rel, uint64_t *usage_ns, uint64_t *ino, int *fd,
		     uint64_t *file_ino)
{
	struct rec *p = table_find(&cg->prev, rel);
	if (!p || p->fd < 0)
		return -1;
	int kept = p->fd;
	p->fd = -1;
	int ret = pread_usage(cg, kept, usage_ns);
	if (ret == 0 && !cg->kernfs) {
		char path[8192];
		struct stat sb;
		ret = (size_t)snprintf(path, sizeof(path), "%s%s/%s", cg->mount, rel,
				       cg->version == 2 ? "cpu.stat" : "cpuacct.usage") < sizeof(path) &&
				      stat(path, &sb) == 0 && (uint64_t)sb.st_ino == p->file_ino
			      ? 0
			      : -ENOENT;
	}
	if (ret < 0) {
		close(kept);
		cg->nfds--;
		return -1;
	}
	*fd = kept;
	*ino = p->ino;
	*file_ino = p->file_ino;
	return 0;
}

/* Read the cumulative CPU time and the inode of cgroup rel. Returns 0, -ENOENT when the
 * cgroup is gone, or another negative errno. *fd gets its cpu.stat, kept open for the
 * next walk while there is room (else -1). */
static int read_usage(struct jp_cgroupfs *cg, const char *rel, uint64_t *usage_ns, uint64_t *ino, int *fd,
		      uint64_t *file_ino)
{
	*fd = -1;
	*file_ino = 0;
	if (read_kept(cg, rel, usage_ns, ino, fd, file_ino) == 0)
		return 0;
	char path[8192];
	if ((size_t)snprintf(path, sizeof(path), "%s%s", cg->mount, rel) >= sizeof(path))
		return -ENAMETOOLONG;
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return gone(errno) ? -ENOENT : -errno;
	struct stat sb;
	int ret = 0;
	if (fstat(dfd, &sb) < 0) {
		ret = -errno;
		goto out_dir;
	}
	*ino = (uint64_t)sb.st_ino;
	int sfd = openat(dfd, cg->version == 2 ? "cpu.stat" : "cpuacct.usage", O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (sfd < 0) {
		ret = gone(errno) ? -ENOENT : -errno;
		goto out_dir;
	}
	ret = pread_usage(cg, sfd, usage_ns);
	if (ret == 0 && !cg->kernfs)
		*file_ino = fstat(sfd, &sb) == 0 ? (uint64_t)sb.st_ino : 0;
	if (ret == 0 && cg->nfds < cg->max_fds && (cg->kernfs || *file_ino)) {
		*fd = sfd;
		cg->nfds++;
	} else {
		close(sfd);
	}
out_dir:
	close(dfd);
	return ret;
}

int jp_cgroup_v2_usage_ns(const char *mount, const char *rel, uint64_t *usage_ns)
{
	char path[8192];
	if ((size_t)snprintf(path, sizeof(path), "%s%s/cpu.stat", mount, rel) >= sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	char buf[4096];
	ssize_t r;
	do
		r = pread(fd, buf, sizeof(buf), 0);
	while (r < 0 && errno == EINTR);
	int ret = r < 0 ? -errno : parse_usage(2, buf, (size_t)r, usage_ns);
	close(fd);
	return ret;
}

/* Count a failed read: vanished cgroups silently, others rate-limited in the log.
 * Returns the previous walk's record of a cgroup that still exists but could not be read
 * (garbage, EIO): the caller keeps it, so that the next good read reports the CPU time
 * of both intervals instead of treating the cgroup as new (docs/reference/configuration.md: last good value). */
static const struct rec *note_read_error(struct jp_cgroupfs *cg, const char *rel, int err)
{
	if (err == -ENOENT) {
		cg->st.vanished++;
		return NULL;
	}
	cg->st.read_errors++;
	jp_log_rl(&cg->rl, JP_LOG_WARN, MOD, "%.512s: cannot read CPU usage: %s", rel,
		  err == -EINVAL || err == -ERANGE ? "malformed counter" : strerror(-err));
	return table_find(&cg->prev, rel);
}

/* Record a cgroup's reading, or after a failed read its last good one (if any). */
static int record(struct jp_cgroupfs *cg, struct table *t, enum rec_kind kind, long pod)
{
	uint64_t usage, ino, file_ino;
	int fd;
	int ret = read_usage(cg, cg->rel, &usage, &ino, &fd, &file_ino);
	if (ret < 0) {
		const struct rec *p = note_read_error(cg, cg->rel, ret);
		if (!p)
			return 0;
		usage = p->usage_ns;
		ino = p->ino;
	}
	struct rec *r = table_add(t, cg->rel, kind, pod);
	if (!r) {
		if (fd >= 0) {
			close(fd);
			cg->nfds--;
		}
		return -ENOMEM;
	}
	r->usage_ns = usage;
	r->ino = ino;
	r->fd = fd;
	r->file_ino = file_ino;
	return 0;
}

/* Is the entry a directory? kernfs fills d_type; other filesystems may not. */
static int is_dir(DIR *d, const struct dirent *de)
{
	if (de->d_type == DT_DIR)
		return 1;
	if (de->d_type != DT_UNKNOWN)
		return 0;
	struct stat sb;
	return fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode);
}

static DIR *open_rel(struct jp_cgroupfs *cg, const char *rel)
{
	char path[8192];
	if ((size_t)snprintf(path, sizeof(path), "%s%s", cg->mount, rel) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return opendir(path);
}

/* Append "/name" to cg->rel; returns the old length, or -1 if it does not fit. */
static long rel_push(struct jp_cgroupfs *cg, const char *name)
{
	size_t len = strlen(cg->rel), nl = strlen(name);
	if (len + 1 + nl + 1 > sizeof(cg->rel))
		return -1;
	cg->rel[len] = '/';
	memcpy(cg->rel + len + 1, name, nl + 1);
	return (long)len;
}

/* The last walk's containers of the pod at cg->rel, read again through their kept
 * descriptors without listing the pod's directory: on cgroupfs a directory's link count
 * is 2 + its subdirectories, so an unchanged count with every old container still
 * readable means the same containers (one removed and another made reads ENODEV on the
 * removed one's descriptor). Returns 1 when done, 0 when the directory must be listed
 * (nothing added to t), or a negative errno. */
static int pod_containers_kept(struct jp_cgroupfs *cg, struct table *t, size_t pod_idx, const struct stat *sb)
{
	const struct rec *pp = table_find(&cg->prev, cg->rel);
	if (!cg->kernfs || !pp || pp->kind != REC_POD || pp->ino != (uint64_t)sb->st_ino || pp->nlink != (uint64_t)sb->st_nlink)
		return 0;
	size_t pi = (size_t)(pp - cg->prev.v), nkids = 0;
	for (size_t j = pi + 1; j < cg->prev.n && cg->prev.v[j].pod == (long)pi; j++, nkids++)
		if (cg->prev.v[j].fd < 0)
			return 0;
	if (nkids + 2 != (uint64_t)sb->st_nlink)
		return 0;
	char pod_rel[sizeof(cg->rel)];
	memcpy(pod_rel, cg->rel, sizeof(pod_rel));
	int ret = 1;
	for (size_t j = pi + 1; ret == 1 && j < pi + 1 + nkids; j++) {
		snprintf(cg->rel, sizeof(cg->rel), "%s", cg->prev.v[j].path);
		size_t before = t->n;
		int r = record(cg, t, REC_CONTAINER, (long)pod_idx);
		if (r < 0)
			ret = r;
		else if (t->n == before || t->v[t->n - 1].fd < 0)
			ret = 0;   /* gone or not kept: list the directory */
	}
	memcpy(cg->rel, pod_rel, sizeof(pod_rel));
	if (ret == 0)
		table_truncate(t, pod_idx + 1);
	return ret;
}

/* The pod cgroup at cg->rel: its container children first, then the pod itself, so
 * that the pod's reading is the later one and not smaller than its children's sum. */
static int walk_pod(struct jp_cgroupfs *cg, struct table *t)
{
	size_t pod_idx = t->n;
	if (!table_add(t, cg->rel, REC_POD, -1))
		return -ENOMEM;
	int ret = 0;
	char path[8192];
	struct stat sb;
	int have_sb = (size_t)snprintf(path, sizeof(path), "%s%s", cg->mount, cg->rel) < sizeof(path) && stat(path, &sb) == 0;
	int kept = have_sb ? pod_containers_kept(cg, t, pod_idx, &sb) : 0;
	if (kept < 0)
		return kept;
	DIR *d = kept ? NULL : open_rel(cg, cg->rel);
	if (d) {
		cg->st.pod_listings++;
		struct dirent *de;
		while (ret == 0 && (de = readdir(d))) {
			if (de->d_name[0] == '.' || !is_dir(d, de))
				continue;
			long old = rel_push(cg, de->d_name);
			if (old < 0)
				continue;
			struct jp_pod_ref ref;
			if (jp_cgroup_pod_parse_under(cg->root, cg->rel, &ref) && ref.container_end == strlen(cg->rel) &&
			    t->n < WALK_MAX_RECORDS)
				ret = record(cg, t, REC_CONTAINER, (long)pod_idx);
			cg->rel[old] = '\0';
		}
		closedir(d);
	}
	if (ret < 0)
		return ret;
	uint64_t usage, ino, file_ino;
	int fd;
	ret = read_usage(cg, cg->rel, &usage, &ino, &fd, &file_ino);
	if (ret < 0) {
		const struct rec *p = note_read_error(cg, cg->rel, ret);
		if (!p) {
			/* The pod went away (its containers with it): forget all of it. */
			table_truncate(t, pod_idx);
			return 0;
		}
		usage = p->usage_ns;
		ino = p->ino;
	}
	t->v[pod_idx].usage_ns = usage;
	t->v[pod_idx].ino = ino;
	t->v[pod_idx].fd = fd;
	t->v[pod_idx].file_ino = file_ino;
	t->v[pod_idx].nlink = have_sb ? (uint64_t)sb.st_nlink : 0;
	return 0;
}

static int walk(struct jp_cgroupfs *cg, struct table *t, int depth)
{
	DIR *d = open_rel(cg, cg->rel);
	if (!d) {
		if (gone(errno))
			cg->st.vanished++;
		return 0;
	}
	int ret = 0;
	struct dirent *de;
	while (ret == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !is_dir(d, de))
			continue;
		if (t->n >= WALK_MAX_RECORDS) {
			jp_log_rl(&cg->rl, JP_LOG_WARN, MOD, "more than %d pod and container cgroups; "
				  "the rest are counted as system", WALK_MAX_RECORDS);
			break;
		}
		long old = rel_push(cg, de->d_name);
		if (old < 0)
			continue;
		struct jp_pod_ref ref;
		size_t len = strlen(cg->rel);
		if (jp_cgroup_pod_parse_under(cg->root, cg->rel, &ref)) {
			if (ref.pod_end == len) {
				ret = walk_pod(cg, t);
			} else if (ref.pod_end == 0 && ref.container_end == len) {
				/* A container named "<pod slice>:cri-containerd:<id>" has no pod
				 * cgroup of its own (see cgroup_pods.h). */
				ret = record(cg, t, REC_CONTAINER, -1);
			}
		} else if (depth < WALK_MAX_DEPTH) {
			ret = walk(cg, t, depth + 1);
		}
		cg->rel[old] = '\0';
	}
	closedir(d);
	return ret;
}

static int walk_all(struct jp_cgroupfs *cg, struct table *t)
{
	cg->rel[0] = '\0';
	int ret = walk(cg, t, 0);
	if (ret == 0)
		ret = table_index(t);
	if (ret < 0)
		table_free(t);
	return ret;
}

struct jp_cgroupfs *jp_cgroupfs_create(const char *mount, const char *procfs, const char *root)
{
	struct jp_cgroupfs *cg = calloc(1, sizeof(*cg));
	if (!cg)
		return NULL;
	int err;
	cg->rl.interval_ms = 60000;
	cg->mount = strdup(mount);
	cg->root = strdup(root ? root : "");
	if (!cg->mount || !cg->root) {
		err = ENOMEM;
		goto fail;
	}
	/* The hierarchy's version, detected at run time from its root (STYLE: no #if). */
	char path[8192];
	snprintf(path, sizeof(path), "%s/cgroup.controllers", mount);
	if (access(path, F_OK) == 0) {
		cg->version = 2;
	} else {
		snprintf(path, sizeof(path), "%s/cpuacct.usage", mount);
		if (access(path, F_OK) != 0) {
			err = ENOTSUP;
			goto fail;
		}
		cg->version = 1;
	}
	cg->st.version = cg->version;
	struct statfs fs;
	cg->kernfs = statfs(mount, &fs) == 0 && (fs.f_type == 0x63677270 /* CGROUP2_SUPER_MAGIC */ ||
						 fs.f_type == 0x27e0eb /* CGROUP_SUPER_MAGIC */);
	struct rlimit nofile;
	cg->max_fds = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur > 512 ? (nofile.rlim_cur - 256) / 2 : 0;
	if (cg->max_fds > 8192)
		cg->max_fds = 8192;
	cg->ps = jp_procstat_create(procfs);
	if (!cg->ps) {
		err = errno;
		goto fail;
	}
	cg->prev_mono_ns = mono_ns();
	int ret = walk_all(cg, &cg->prev);
	if (ret < 0) {
		err = -ret;
		goto fail;
	}
	return cg;

fail:
	jp_cgroupfs_destroy(cg);
	errno = err;
	return NULL;
}

void jp_cgroupfs_destroy(struct jp_cgroupfs *cg)
{
	if (!cg)
		return;
	table_free(&cg->prev);
	jp_procstat_destroy(cg->ps);
	free(cg->mount);
	free(cg->root);
	free(cg);
}

int jp_cgroupfs_collect(struct jp_cgroupfs *cg, struct jp_cg_cpu_set *out)
{
	struct table cur = {0};
	uint64_t now = mono_ns();
	int ret = walk_all(cg, &cur);
	if (ret < 0)
		return ret;
	cg->st.walks++;

	/* The most CPU time a cgroup created since the last walk can have used. */
	unsigned ncpus = jp_procstat_totals(cg->ps)->ncpus;
	uint64_t max_new_ns = (now - cg->prev_mono_ns + 10000000u) * (ncpus ? ncpus : 1);

	uint64_t pods_ns = 0;
	cg->st.pods = cg->st.containers = 0;
	for (size_t i = 0; i < cur.n; i++) {
		struct rec *r = &cur.v[i];
		const struct rec *p = table_find(&cg->prev, r->path);
		/* A cgroup's usage never goes down; if it did, the path and even the inode number
		 * (on filesystems that reuse them quickly, unlike kernfs) belong to a new cgroup. */
		if (p && p->ino == r->ino && r->usage_ns >= p->usage_ns) {
			r->delta_ns = r->usage_ns - p->usage_ns;
		} else if (r->usage_ns <= max_new_ns) {
			r->delta_ns = r->usage_ns;
			cg->st.new_cgroups++;
		} else {
			r->delta_ns = 0;
			cg->st.clamped++;
		}
		if (r->kind == REC_POD) {
			cg->st.pods++;
			pods_ns += r->delta_ns;
		} else {
			cg->st.containers++;
			if (r->pod < 0)
				pods_ns += r->delta_ns;
		}
	}

	/* The node's busy time; on a failed read it is taken as zero this time and comes
	 * with the next good read (procstat keeps its baseline). */
	struct jp_cpu_interval iv;
	uint64_t busy_ns = 0;
	if (jp_procstat_sample(cg->ps, &iv) == 0)
		busy_ns = iv.busy_ns;
	else
		jp_log_rl(&cg->rl, JP_LOG_WARN, MOD, "cannot read the node's CPU time; system "
			  "bucket is zero this interval");

	ret = jp_cg_cpu_set_add(out, "/", 0, busy_ns > pods_ns ? busy_ns - pods_ns : 0);
	for (size_t i = 0; ret == 0 && i < cur.n; i++) {
		const struct rec *r = &cur.v[i];
		uint64_t v = r->delta_ns;
		if (r->kind == REC_POD) {
			/* Containers follow their pod record contiguously. */
			uint64_t children = 0;
			for (size_t j = i + 1; j < cur.n && cur.v[j].pod == (long)i; j++)
				children += cur.v[j].delta_ns;
			v = v > children ? v - children : 0;
		}
		ret = jp_cg_cpu_set_add(out, r->path, r->ino, v);
	}
	table_free(&cg->prev);   /* closes the descriptors of cgroups that are gone */
	cg->prev = cur;
	cg->prev_mono_ns = now;
	cg->nfds = 0;
	for (size_t i = 0; i < cur.n; i++)
		cg->nfds += cur.v[i].fd >= 0;
	return ret;
}

void jp_cgroupfs_get_stats(const struct jp_cgroupfs *cg, struct jp_cgroupfs_stats *out)
{
	*out = cg->st;
}
