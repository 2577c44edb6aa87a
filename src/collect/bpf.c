/* SPDX-License-Identifier: Apache-2.0 */
/* eBPF collector: loads the sched_switch probe and turns its per-CPU map into per-cgroup CPU time. */
#include "collect/bpf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cgroup_cpu.h"
#include "collect/bpf_loader.h"
#include "util/log.h"

#define MOD "bpf"

/* Handle type of kernfs (and so cgroupfs) file handles: the 8-byte node id, which is the
 * cgroup id (include/linux/exportfs.h FILEID_KERNFS). */
#define JP_FILEID_KERNFS 0xfe
/* Entries fetched per BPF_MAP_LOOKUP_BATCH call; grown if the kernel says a hash bucket
 * holds more (ENOSPC). */
#define JP_BATCH_ENTRIES 256
/* Drains an unresolvable id survives before its map entry is dropped as dead, when the
 * kernel cannot tell us directly (open_by_handle_at needs CAP_DAC_READ_SEARCH). */
#define JP_MAX_MISSES 2

/* One cgroup id: its path (in the paths table) or its last cumulative value (in the
 * cumulative table). */
struct idtab_ent {
	uint64_t id;       /* 0: empty slot; cgroup ids start at 1 */
	uint64_t cum_ns;   /* cumulative table: sum over CPUs at the previous drain */
	uint32_t misses;   /* cumulative table: consecutive drains the path stayed unknown */
	char *path;        /* paths table: malloc'd, relative to the mount */
};

/* Open addressing with linear probing; cap is a power of two, at most half full. Entries
 * are never removed one by one: tables are rebuilt (walk, drain) instead. */
struct idtab {
	struct idtab_ent *v;
	size_t cap, n;
};

/* One map entry as read in a drain. */
struct kv {
	uint64_t id;
	uint64_t sum_ns;
};

struct jp_bpf_collector {
	int map_fd, flush_fd, mount_fd;
	int full_fd;           /* cg_full: failed inserts, per CPU */
	int inject_err;        /* test seam: every drain fails with this */
	uint32_t capacity;     /* cg_cpu's max_entries */
	int prog_fd;           /* the sched_switch program */
	int link_fd;           /* its attachment: closing the last descriptor detaches it */
	char *mount;           /* canonical path of the cgroup v2 mount */
	int ncpus;             /* possible CPUs: the length of a per-CPU value */
	bool flush_ok;         /* BPF_F_TEST_RUN_ON_CPU works */
	uint64_t flush_errors; /* transient failures of the flush program */
	bool batch_ok;         /* BPF_MAP_LOOKUP_BATCH works on this map */
	bool handle_ok;        /* open_by_handle_at works (privilege, kernel) */
	struct idtab paths;    /* cgroup id -> path, from the last walk and single lookups */
	uint64_t walks;        /* drains that walked the tree (a cgroup id never seen ran) */
	struct idtab cum;      /* cgroup id -> cumulative ns at the previous drain */
	struct kv *kv;         /* scratch: the map's content in a drain */
	size_t kv_n, kv_cap;
	uint64_t *vals;        /* scratch: per-CPU values, batch_cap * ncpus */
	struct jp_cgcpu_key *keys;
	uint32_t batch_cap;
};


/* --- id tables --------------------------------------------------------------------- */

static size_t idtab_slot(const struct idtab *t, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & (t->cap - 1);
}

static struct idtab_ent *idtab_find(const struct idtab *t, uint64_t id)
{
	if (!t->cap)
		return NULL;
	for (size_t i = idtab_slot(t, id);; i = (i + 1) & (t->cap - 1)) {
		if (t->v[i].id == id)
			return &t->v[i];
		if (!t->v[i].id)
			return NULL;
	}
}

static int idtab_grow(struct idtab *t)
{
	struct idtab nt = {.cap = t->cap ? t->cap * 2 : 64};
	nt.v = calloc(nt.cap, sizeof(*nt.v));
	if (!nt.v)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->v[i].id)
			continue;
		size_t j = idtab_slot(&nt, t->v[i].id);
		while (nt.v[j].id)
			j = (j + 1) & (nt.cap - 1);
		nt.v[j] = t->v[i];
	}
	nt.n = t->n;
	free(t->v);
	*t = nt;
	return 0;
}

/* The entry for id, added zeroed if absent; NULL on ENOMEM. */
static struct idtab_ent *idtab_get(struct idtab *t, uint64_t id)
{
	struct idtab_ent *e = idtab_find(t, id);
	if (e)
		return e;
	if ((t->n + 1) * 2 > t->cap && idtab_grow(t) < 0)
		return NULL;
	size_t i = idtab_slot(t, id);
	while (t->v[i].id)
		i = (i + 1) & (t->cap - 1);
	t->v[i] = (struct idtab_ent){.id = id};
	t->n++;
	return &t->v[i];
}

static void idtab_free(struct idtab *t)
{
	for (size_t i = 0; i < t->cap; i++)
		free(t->v[i].path);
	free(t->v);
	*t = (struct idtab){0};
}

/* --- cgroup id -> path ---------------------------------------------------------------- */

static int paths_put(struct idtab *t, uint64_t id, const char *path)
{
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	struct idtab_ent *e = idtab_get(t, id);
	if (!e) {
		free(p);
		return -ENOMEM;
	}
	free(e->path);
	e->path = p;
	return 0;
}

/* Add every cgroup below dfd (whose path is path[0..len)) to t. On cgroup v2 a cgroup's id
 * is its kernfs node id, which is also the inode number of its directory: readdir's d_ino
 * carries it, so no stat() per cgroup is needed. Cgroups that vanish while we walk are
 * skipped. */
static int walk_dir(struct idtab *t, int dfd, char *path, size_t len, int depth)
{
	int ret = 0;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		/* cgroup names cannot start with '.' in practice ("." and ".." are the only
		 * ones kernfs shows); skipping them keeps the walk inside the tree. */
		size_t nl = strlen(de->d_name);
		if (len + 1 + nl + 1 > PATH_MAX)
			continue;
		path[len] = '/';
		memcpy(path + len + 1, de->d_name, nl + 1);
		ret = paths_put(t, (uint64_t)de->d_ino, path);
		if (ret < 0)
			break;
		if (depth < 64) {
			int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0) {
				ret = walk_dir(t, fd, path, len + 1 + nl, depth + 1);
				if (ret < 0)
					break;
			}
		}
	}
	path[len] = '\0';
	closedir(d);
	return ret;
}

/* Replace the paths table with a fresh walk of the whole v2 tree. */
static int walk_tree(struct jp_bpf_collector *c)
{
	struct idtab t = {0};
	struct stat st;
	char *path = malloc(PATH_MAX);
	int ret = -ENOMEM;
	if (!path)
		goto out;
	if (fstat(c->mount_fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	ret = paths_put(&t, (uint64_t)st.st_ino, "/");
	if (ret < 0)
		goto out;
	int fd = openat(c->mount_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	path[0] = '\0';
	ret = walk_dir(&t, fd, path, 0, 0);
	if (ret < 0)
		goto out;
	idtab_free(&c->paths);
	c->paths = t;
	t = (struct idtab){0};
out:
	idtab_free(&t);
	free(path);
	return ret;
}

/* Ask the kernel directly about one id: open the cgroup by its kernfs file handle and read
 * back its path. Returns 0 (path cached), -ESTALE if the cgroup no longer exists, or
 * another negative errno if the kernel cannot tell (then handle_ok is cleared when the
 * reason is lasting, e.g. no CAP_DAC_READ_SEARCH). */
static int resolve_by_handle(struct jp_bpf_collector *c, uint64_t id)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h;
	char link[64], target[PATH_MAX];

	if (!c->handle_ok)
		return -EOPNOTSUPP;
	h.fh.handle_bytes = sizeof(uint64_t);
	h.fh.handle_type = JP_FILEID_KERNFS;
	memcpy(h.fh.f_handle, &id, sizeof(id));
	int fd = open_by_handle_at(c->mount_fd, &h.fh, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		if (err == EPERM || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL) {
			jp_debug(MOD, "open_by_handle_at on the cgroup mount: %s; unknown cgroup ids "
				 "are resolved by tree walks only", strerror(err));
			c->handle_ok = false;
		}
		return -err;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return -err;
	target[n] = '\0';
	size_t ml = strlen(c->mount);
	if (strncmp(target, c->mount, ml) != 0 || (target[ml] != '/' && target[ml] != '\0'))
		return -ENOENT;
	return paths_put(&c->paths, id, target[ml] ? target + ml : "/");
}

/* --- reading the map ------------------------------------------------------------------- */

static int kv_push(struct jp_bpf_collector *c, uint64_t id, const uint64_t *percpu)
{
	if (c->kv_n == c->kv_cap) {
		size_t cap = c->kv_cap ? c->kv_cap * 2 : 256;
		struct kv *v = realloc(c->kv, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		c->kv = v;
		c->kv_cap = cap;
	}
	uint64_t sum = 0;
	for (int i = 0; i < c->ncpus; i++)
		sum += percpu[i];
	c->kv[c->kv_n++] = (struct kv){.id = id, .sum_ns = sum};
	return 0;
}

static int batch_alloc(struct jp_bpf_collector *c, uint32_t entries)
{
	struct jp_cgcpu_key *k = realloc(c->keys, entries * sizeof(*k));
	if (!k)
		return -ENOMEM;
	c->keys = k;
	uint64_t *v = realloc(c->vals, (size_t)entries * c->ncpus * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->vals = v;
	c->batch_cap = entries;
	return 0;
}

/* BPF_MAP_LOOKUP_BATCH over the whole map: one syscall per JP_BATCH_ENTRIES entries.
 * Returns 0, -EOPNOTSUPP if the kernel has no batch ops for this map, or -errno. */
static int read_map_batch(struct jp_bpf_collector *c)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint64_t token = 0; /* the hash map's batch token is a bucket index */
	bool first = true;

	for (;;) {
		uint32_t count = c->batch_cap;
		/* Valgrind does not model what BPF_MAP_LOOKUP_BATCH writes; zeroing keeps the
		 * suite clean under it for a few KiB of memset per drain. */
		memset(c->keys, 0, (size_t)count * sizeof(*c->keys));
		memset(c->vals, 0, (size_t)count * c->ncpus * sizeof(*c->vals));
		int err = bpf_map_lookup_batch(c->map_fd, first ? NULL : &token, &token, c->keys,
					       c->vals, &count, &opts);
		if (err < 0 && err != -ENOENT) {
			if (err == -ENOSPC && c->batch_cap < (1u << 20)) {
				if (batch_alloc(c, c->batch_cap * 2) < 0)
					return -ENOMEM;
				continue;
			}
			if (first && (err == -EINVAL || err == -EOPNOTSUPP || err == -524))
				return -EOPNOTSUPP;
			return err;
		}
		for (uint32_t i = 0; i < count; i++)
			if (kv_push(c, c->keys[i].cgroup_id, c->vals + (size_t)i * c->ncpus) < 0)
				return -ENOMEM;
		if (err == -ENOENT)
			return 0;
		first = false;
	}
}

/* Key iteration for kernels without batch ops. Entries inserted meanwhile may or may not
 * be seen; either way their time is counted at the next drain. */
static int read_map_iter(struct jp_bpf_collector *c)
{
	struct jp_cgcpu_key key, next;
	bool first = true;

	for (;;) {
		int err = bpf_map_get_next_key(c->map_fd, first ? NULL : &key, &next);
		if (err == -ENOENT)
			return 0;
		if (err < 0)
			return err;
		first = false;
		key = next;
		err = bpf_map_lookup_elem(c->map_fd, &key, c->vals);
		if (err == -ENOENT)
			continue;
		if (err < 0)
			return err;
		if (kv_push(c, key.cgroup_id, c->vals) < 0)
			return -ENOMEM;
	}
}

/* Charge what is running on every CPU up to its last update_curr() (at most a tick ago,
 * which is what cpu.stat knows too). BPF_PROG_TEST_RUN of a raw_tp program with
 * BPF_F_TEST_RUN_ON_CPU runs it in an IPI on that CPU (or directly, preemption off, on our
 * own), where current is the task that was running there; an idle CPU runs pid 0, which is
 * not charged. */
static void flush_cpus(struct jp_bpf_collector *c)
{
	if (!c->flush_ok)
		return;
	for (int cpu = 0; cpu < c->ncpus; cpu++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = (uint32_t)cpu);
		int err = bpf_prog_test_run_opts(c->flush_fd, &o);
		if (err == -ENXIO) /* offline CPU */
			continue;
		if (err == -EINVAL || err == -ENOTSUP || err == -EOPNOTSUPP || err == -EPERM || err == -EACCES) {
			/* This kernel cannot do it (no BPF_F_TEST_RUN_ON_CPU, or not allowed). */
			jp_debug(MOD, "running the flush program on CPU %d: %s; running tasks are "
				 "charged at their next switch", cpu, strerror(-err));
			c->flush_ok = false;
			return;
		}
		if (err < 0) {
			/* Anything else (EBUSY, EINTR, ENOMEM) passes: try again at the next drain
			 * rather than give up the flush for good. */
			c->flush_errors++;
			jp_debug(MOD, "running the flush program on CPU %d: %s (this drain only)", cpu,
				 strerror(-err));
		}
	}
}

/* --- public API -------------------------------------------------------------------------- */

struct jp_bpf_collector *jp_bpf_collector_create(const char *cgroup_mount, uint32_t max_cgroups, char *why,
						 size_t whylen)
{
	struct jp_bpf_collector *c = NULL;
	int err;

	if (why && whylen)
		why[0] = '\0';

	c = calloc(1, sizeof(*c));
	if (!c) {
		err = ENOMEM;
		jp_why(why, whylen, "out of memory");
		goto fail;
	}
	c->map_fd = c->flush_fd = c->mount_fd = c->prog_fd = c->link_fd = c->full_fd = -1;
	c->flush_ok = c->batch_ok = c->handle_ok = true;

	c->mount = realpath(cgroup_mount, NULL);
	if (!c->mount) {
		err = errno;
		jp_why(why, whylen, "cgroup v2 mount %s: %s", cgroup_mount, strerror(err));
		goto fail;
	}
	c->mount_fd = open(c->mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->mount_fd < 0) {
		err = errno;
		jp_why(why, whylen, "cgroup v2 mount %s: %s", c->mount, strerror(err));
		goto fail;
	}

	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		err = c->ncpus < 0 ? -c->ncpus : EINVAL;
		jp_why(why, whylen, "cannot count possible CPUs: %s", strerror(err));
		goto fail;
	}
	if (batch_alloc(c, JP_BATCH_ENTRIES) < 0) {
		err = ENOMEM;
		jp_why(why, whylen, "out of memory");
		goto fail;
	}

	struct jp_bpf_fds fds;
	err = -jp_bpf_load(max_cgroups, &fds, why, whylen);
	if (err)
		goto fail;
	c->map_fd = fds.map;
	c->flush_fd = fds.flush;
	c->prog_fd = fds.prog;
	c->link_fd = fds.link;
	c->full_fd = fds.full;
	c->capacity = max_cgroups ? max_cgroups : JP_CGCPU_DEFAULT_MAX_CGROUPS;
	return c;

fail:
	jp_bpf_collector_destroy(c);
	errno = err;
	return NULL;
}

/* Why cumulative values and no lookup-and-delete: the program adds to a value in place
 * through a pointer from bpf_map_lookup_elem(). Deleting the entry from user space loses
 * whatever is added between the copy and the delete, and with a preallocated hash the
 * freed element can be reused for another cgroup while a program still writes through the
 * old pointer. Values that only grow, read with a plain lookup, lose nothing: the interval's
 * time is the difference to the previous drain. Entries are deleted only for cgroups that
 * no longer exist, which no task can run in any more. */
void jp_bpf_collector_inject_error(struct jp_bpf_collector *c, int err)
{
	c->inject_err = err;
}

int jp_bpf_collector_drain(struct jp_bpf_collector *c, struct jp_cg_cpu_set *out)
{
	struct idtab next = {0};
	bool walked = false;
	int ret;

	if (c->inject_err)
		return c->inject_err;

	flush_cpus(c);

	c->kv_n = 0;
	ret = -EOPNOTSUPP;
	if (c->batch_ok) {
		ret = read_map_batch(c);
		if (ret == -EOPNOTSUPP) {
			jp_debug(MOD, "no batch lookup for the cgroup map; iterating keys");
			c->batch_ok = false;
			c->kv_n = 0;
		}
	}
	if (!c->batch_ok)
		ret = read_map_iter(c);
	if (ret < 0)
		return ret;

	/* Walk the tree again (once) if an id appeared that we have never resolved. Ids that
	 * stayed unresolved in the previous drain do not trigger walks over and over. */
	for (size_t i = 0; i < c->kv_n && !walked; i++) {
		if (idtab_find(&c->paths, c->kv[i].id) || idtab_find(&c->cum, c->kv[i].id))
			continue;
		c->walks++;
		ret = walk_tree(c);
		if (ret < 0)
			jp_debug(MOD, "walking %s: %s", c->mount, strerror(-ret));
		walked = true;
	}

	ret = 0;
	for (size_t i = 0; i < c->kv_n; i++) {
		uint64_t id = c->kv[i].id, sum = c->kv[i].sum_ns;
		struct idtab_ent *old = idtab_find(&c->cum, id);
		uint64_t prev = old ? old->cum_ns : 0;
		uint32_t misses = old ? old->misses : 0;
		/* A value below the previous one means the entry was deleted and recreated. */
		uint64_t delta = sum >= prev ? sum - prev : sum;
		struct idtab_ent *p = idtab_find(&c->paths, id);
		bool dead = false;

		if (!p) {
			int r = resolve_by_handle(c, id);
			if (r == 0)
				p = idtab_find(&c->paths, id);
			else if (r == -ESTALE)
				dead = true;
			else if (++misses > JP_MAX_MISSES)
				dead = true;
		}
		if (delta > 0 && (ret = jp_cg_cpu_set_add(out, p ? p->path : "", id, delta)) < 0)
			break;
		if (dead) {
			/* The cgroup is gone; a task that was still exiting may add a few more
			 * nanoseconds after this, which then start again from zero. */
			bpf_map_delete_elem(c->map_fd, &(struct jp_cgcpu_key){.cgroup_id = id});
			continue;
		}
		struct idtab_ent *e = idtab_get(&next, id);
		if (!e) {
			ret = -ENOMEM;
			break;
		}
		e->cum_ns = sum;
		e->misses = p ? 0 : misses;
	}
	if (ret < 0) {
		/* Keep the old baseline so that the next drain reports this interval too. */
		idtab_free(&next);
		return ret;
	}
	idtab_free(&c->cum);
	c->cum = next;
	return 0;
}

int jp_bpf_collector_prog_fd(const struct jp_bpf_collector *c)
{
	return c->prog_fd;
}

static int prog_info(const struct jp_bpf_collector *c, struct bpf_prog_info *info)
{
	uint32_t len = sizeof(*info);
	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(jp_bpf_collector_prog_fd(c), info, &len);
}

uint32_t jp_bpf_collector_prog_id(const struct jp_bpf_collector *c)
{
	struct bpf_prog_info info;
	return prog_info(c, &info) < 0 ? 0 : info.id;
}

int jp_bpf_collector_prog_stats(const struct jp_bpf_collector *c, uint64_t *run_time_ns,
				uint64_t *run_cnt)
{
	struct bpf_prog_info info;
	int err = prog_info(c, &info);
	if (err < 0)
		return err;
	*run_time_ns = info.run_time_ns;
	*run_cnt = info.run_cnt;
	return 0;
}

uint64_t jp_bpf_collector_walks(const struct jp_bpf_collector *c)
{
	return c ? c->walks : 0;
}

int jp_bpf_collector_flushes(const struct jp_bpf_collector *c)
{
	return c->flush_ok;
}

uint64_t jp_bpf_collector_map_full(const struct jp_bpf_collector *c)
{
	if (!c || c->full_fd < 0 || c->ncpus <= 0)
		return 0;
	/* A per-CPU array returns one 8-byte slot per possible CPU. */
	uint64_t *v = calloc((size_t)c->ncpus, sizeof(*v));
	if (!v)
		return 0;
	uint32_t zero = 0;
	uint64_t sum = 0;
	if (bpf_map_lookup_elem(c->full_fd, &zero, v) == 0)
		for (int i = 0; i < c->ncpus; i++)
			sum += v[i];
	free(v);
	return sum;
}

uint32_t jp_bpf_collector_capacity(const struct jp_bpf_collector *c)
{
	return c ? c->capacity : 0;
}

void jp_bpf_collector_destroy(struct jp_bpf_collector *c)
{
	if (!c)
		return;
	/* The link first: the program stops running before its maps go. */
	int fds[] = {c->link_fd, c->prog_fd, c->flush_fd, c->map_fd, c->full_fd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (c->mount_fd >= 0)
		close(c->mount_fd);
	idtab_free(&c->paths);
	idtab_free(&c->cum);
	free(c->kv);
	free(c->vals);
	free(c->keys);
	free(c->mount);
	free(c);
}
