/* SPDX-License-Identifier: Apache-2.0 */
/* The real node collector (collect/collector.h): node CPU usage, RAPL or the power model,
 * per-cgroup CPU time from eBPF or cgroupfs, pod UID and container ID from cgroup paths. */
#include "collect/node.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect/bpf.h"
#include "collect/cgroup.h"
#include "collect/cgroup_pods.h"
#include "collect/cgroupfs.h"
#include "collect/gpu.h"
#include "collect/hwmon.h"
#include "collect/procstat.h"
#include "collect/rapl.h"
#include "util/buf.h"
#include "util/log.h"

#define MOD "node"

struct cont_row {
	char uid[JP_POD_UID_MAX + 1];
	char id[JP_CONTAINER_ID_LEN + 1];
	uint64_t cpu_ns;
	int from_map;              /* some of its time came from the eBPF map */
	const char *path;          /* a listed container cgroup (for the cpu.stat fallback) */
};

/* A container cgroup the eBPF map does not hold, read from cpu.stat instead. */
struct fallback_row {
	char uid[JP_POD_UID_MAX + 1];
	char id[JP_CONTAINER_ID_LEN + 1];
	uint64_t usage_ns;         /* cpu.stat at the previous round */
	uint64_t round;
};

/* eBPF: the pod and container cgroups the last walk of the tree listed, and what says the
 * tree has not changed since (see list_pods). */
struct pod_list {
	char *paths;               /* n paths relative to the mount, each NUL-terminated */
	size_t len, cap, n;
	int valid;                 /* paths is a whole walk's listing */
	int stat_fd;               /* <mount>/cgroup.stat, kept open; -1: open it next time */
	uint64_t desc, dying;      /* its nr_descendants and nr_dying_descendants then */
	uint64_t bpf_walks;        /* jp_bpf_collector_walks() then */
	uint32_t rounds;           /* rounds that used the listing since the walk */
	uint64_t walks;            /* walks so far (jp_node_pod_list_walks) */
	int inject_err;            /* test seam: reading cgroup.stat fails with this */
};

struct jp_node {
	struct jp_collector base;  /* first: a struct jp_collector * is a struct jp_node * */
	struct jp_procstat *ps;
	struct jp_rapl *rapl;
	struct jp_bpf_collector *bpf;
	struct jp_cgroupfs *cgfs;
	char cgroup_mount[PATH_MAX];
	char procfs[PATH_MAX];
	char cgroup_root[JP_CGROUP_ROOT_MAX + 1];   /* kubernetes.cgroup_root, this collector's own */
	struct jp_power_model model;
	double mem_w;              /* memory power: W per GiB × GiB, 0 = none */
	struct jp_hwmon *hwmon;    /* the machine's meter (zone platform), or NULL */
	struct jp_gpu *gpu;        /* NVIDIA GPUs (zone gpu), or NULL */

	struct jp_cg_cpu_set set;
	struct cont_row *conts;
	size_t nconts, cap_conts;
	uint64_t last_mono_ms;     /* when the sources took their previous reading */

	/* eBPF map full: container cgroups missing from the map are read from cpu.stat. */
	uint64_t map_full, round;
	int fallback;
	struct fallback_row *fb;
	size_t nfb, cap_fb;
	struct cont_row *prev;     /* the previous round's containers (uid, id), sorted */
	size_t nprev, cap_prev;
	size_t nmap;               /* rows of the set that came from the map */
	struct pod_list list;      /* eBPF: the pod and container cgroups, as last listed */
	uint64_t fallback_rows;    /* container intervals read from cpu.stat */
	struct jp_ratelimit rl_cpu, rl_rapl, rl_stat, rl_hwmon;
};

static const enum jp_zone rapl_to_zone[JP_RAPL_NKINDS] = {
	[JP_RAPL_PACKAGE] = JP_ZONE_PACKAGE, [JP_RAPL_CORE] = JP_ZONE_CORE,
	[JP_RAPL_UNCORE] = JP_ZONE_UNCORE, [JP_RAPL_DRAM] = JP_ZONE_DRAM, [JP_RAPL_PSYS] = JP_ZONE_PSYS,
};

static int count_cb(const char *rel, void *arg)
{
	(void)rel;
	(*(uint64_t *)arg)++;
	return 0;
}

/* The eBPF map holds one entry per cgroup that ran: size it for the node, with room for
 * the cgroups that come and go (collector.bpf_map_entries overrides). */
static uint32_t auto_map_entries(const char *mount)
{
	uint64_t n = 0;
	jp_cgroup_walk(mount, 16, count_cb, &n);
	uint64_t e = n * 4 > 16384 ? n * 4 : 16384;
	return e > (1u << 22) ? (1u << 22) : (uint32_t)e;
}

static int open_cpu_source(struct jp_node *n, const struct jp_config *cfg)
{
	const char *procfs = cfg->host_procfs;
	snprintf(n->procfs, sizeof(n->procfs), "%s", procfs);
	if (cfg->host_cgroupfs && strcmp(cfg->host_cgroupfs, "auto") != 0) {
		snprintf(n->cgroup_mount, sizeof(n->cgroup_mount), "%s", cfg->host_cgroupfs);
	} else {
		int r = jp_cgroup2_find_mount(procfs, n->cgroup_mount, sizeof(n->cgroup_mount));
		if (r) {
			jp_log(JP_LOG_ERROR, MOD, "host.cgroupfs auto: no cgroup v2 mount in %s/self/mountinfo: %s",
			       procfs, strerror(-r));
			return r;
		}
	}
	if (cfg->collector_mode == JP_COLLECTOR_AUTO || cfg->collector_mode == JP_COLLECTOR_EBPF) {
		uint32_t entries = cfg->bpf_map_entries ? cfg->bpf_map_entries : auto_map_entries(n->cgroup_mount);
		char why[256];
		n->bpf = jp_bpf_collector_create(n->cgroup_mount, entries, why, sizeof(why));
		if (n->bpf) {
			n->base.name = "ebpf";
			n->base.sources |= JP_SRC_BPF;
			return 0;
		}
		int e = errno;
		if (cfg->collector_mode == JP_COLLECTOR_EBPF) {
			jp_log(JP_LOG_ERROR, MOD, "collector.mode ebpf: %s", why);
			return -e;
		}
		jp_log(JP_LOG_WARN, MOD, "eBPF collector unavailable (%s); falling back to cgroupfs", why);
	}
	n->cgfs = jp_cgroupfs_create(n->cgroup_mount, procfs, n->cgroup_root);
	if (!n->cgfs) {
		int e = errno;
		jp_log(JP_LOG_ERROR, MOD, "cgroupfs collector on %s: %s", n->cgroup_mount, strerror(e));
		return -e;
	}
	n->base.name = "cgroupfs";
	return 0;
}

static int open_power_source(struct jp_node *n, const struct jp_config *cfg)
{
	if (cfg->power_source != JP_POWER_MODEL) {
		n->rapl = jp_rapl_open(cfg->host_sysfs);
		if (n->rapl) {
			n->base.power_source = "rapl";
			n->base.sources |= JP_SRC_RAPL;
			jp_log(JP_LOG_INFO, MOD, "RAPL: %u zone(s) under %s/class/powercap",
			       jp_rapl_zone_count(n->rapl), cfg->host_sysfs);
			return 0;
		}
		int e = errno;
		if (cfg->power_source == JP_POWER_RAPL) {
			jp_log(JP_LOG_ERROR, MOD, "power.source rapl: no readable RAPL zone under %s/class/powercap: %s",
			       cfg->host_sysfs, strerror(e));
			return -e;
		}
		jp_log(JP_LOG_INFO, MOD, "no RAPL (%s); estimating power with the model (source=\"model\")",
		       strerror(e));
	}
	n->base.power_source = "model";
	char why[160];
	if (jp_power_model_init(&n->model, cfg, why, sizeof(why))) {
		jp_log(JP_LOG_ERROR, MOD, "power.model.curve: %s", why);
		return -EINVAL;
	}
	if (cfg->model_memory_watts_per_gib > 0) {
		uint64_t kib = 0;
		int r = jp_procstat_mem_total_kib(cfg->host_procfs, &kib);
		if (r) {
			jp_log(JP_LOG_ERROR, MOD, "power.model.memory_watts_per_gib: MemTotal from %s/meminfo: %s",
			       cfg->host_procfs, strerror(-r));
			return r;
		}
		n->mem_w = cfg->model_memory_watts_per_gib * ((double)kib / (1024.0 * 1024.0));
	}
	jp_log(JP_LOG_INFO, MOD, "power model: %s%s", n->model.use_curve ? "curve" : "linear",
	       n->mem_w > 0 ? ", memory as zone dram" : "");
	return 0;
}

/* The machine's power meter (zone platform) and the GPUs (zone gpu), where present. */
static int open_extra_sources(struct jp_node *n, const struct jp_config *cfg)
{
	char why[512];
	if (cfg->platform_source != JP_PLATFORM_NONE) {
		n->hwmon = jp_hwmon_open(cfg->host_sysfs, cfg->platform_hwmon_name, cfg->platform_max_watts, why,
					 sizeof(why));
		if (n->hwmon) {
			n->base.sources |= JP_SRC_PLATFORM;
			jp_log(JP_LOG_INFO, MOD, "platform power: %u channel(s) of hwmon \"%s\" (%s)",
			       jp_hwmon_channels(n->hwmon), cfg->platform_hwmon_name, jp_hwmon_where(n->hwmon));
		} else if (cfg->platform_source == JP_PLATFORM_HWMON) {
			int e = errno;
			jp_log(JP_LOG_ERROR, MOD, "power.platform.source hwmon: %s", why);
			return -e;
		} else {
			jp_log(JP_LOG_DEBUG, MOD, "no platform power meter: %s", why);
		}
	}
	if (cfg->gpu_source != JP_GPU_NONE) {
		n->gpu = jp_gpu_open(cfg->gpu_nvml_library, cfg->host_procfs, n->cgroup_root, why, sizeof(why));
		if (n->gpu) {
			n->base.sources |= JP_SRC_GPU;
			jp_log(JP_LOG_INFO, MOD, "GPUs: %u through NVML (%s)", jp_gpu_count(n->gpu), cfg->gpu_nvml_library);
		} else if (cfg->gpu_source == JP_GPU_NVML) {
			int e = errno;
			jp_log(JP_LOG_ERROR, MOD, "gpu.source nvml: %s", why);
			return -e;
		} else {
			jp_log(JP_LOG_INFO, MOD, "no GPU energy (gpu.source auto): %s", why);
		}
	}
	return 0;
}

static void node_close(struct jp_collector *c);

static struct jp_collector *node_open(const struct jp_config *cfg)
{
	if (jp_cgroup_root_check(cfg->kube_cgroup_root) < 0) {
		jp_log(JP_LOG_ERROR, MOD, "kubernetes.cgroup_root is too long");
		errno = ENAMETOOLONG;
		return NULL;
	}
	struct jp_node *n = calloc(1, sizeof(*n));
	int r;
	if (!n) {
		errno = ENOMEM;
		return NULL;
	}
	n->base.ops = &jp_node_ops;
	n->list.stat_fd = -1;
	snprintf(n->cgroup_root, sizeof(n->cgroup_root), "%s", cfg->kube_cgroup_root ? cfg->kube_cgroup_root : "");
	n->ps = jp_procstat_create(cfg->host_procfs);
	if (!n->ps) {
		r = -errno;
		jp_log(JP_LOG_ERROR, MOD, "%s/stat: %s", cfg->host_procfs, strerror(errno));
		goto fail;
	}
	r = open_cpu_source(n, cfg);
	if (r)
		goto fail;
	r = open_power_source(n, cfg);
	if (r)
		goto fail;
	r = open_extra_sources(n, cfg);
	if (r)
		goto fail;
	n->last_mono_ms = jp_now_mono_ms();
	return &n->base;
fail:
	node_close(&n->base);
	errno = -r;
	return NULL;
}

static void node_close(struct jp_collector *c)
{
	struct jp_node *n = (struct jp_node *)c;
	if (!n)
		return;
	jp_procstat_destroy(n->ps);
	jp_rapl_close(n->rapl);
	jp_hwmon_close(n->hwmon);
	jp_gpu_close(n->gpu);
	jp_bpf_collector_destroy(n->bpf);
	jp_cgroupfs_destroy(n->cgfs);
	jp_cg_cpu_set_free(&n->set);
	if (n->list.stat_fd >= 0)
		close(n->list.stat_fd);
	free(n->list.paths);
	free(n->conts);
	free(n->fb);
	free(n->prev);
	free(n);
}

void jp_node_inject_list_error(struct jp_collector *c, int err)
{
	struct jp_node *n = (struct jp_node *)c;
	if (c->ops == &jp_node_ops)
		n->list.inject_err = err;
}

uint64_t jp_node_pod_list_walks(const struct jp_collector *c)
{
	const struct jp_node *n = (const struct jp_node *)c;
	return c->ops == &jp_node_ops ? n->list.walks : 0;
}

void jp_node_inject_bpf_error(struct jp_collector *c, int err)
{
	struct jp_node *n = (struct jp_node *)c;
	if (c->ops == &jp_node_ops && n->bpf)
		jp_bpf_collector_inject_error(n->bpf, err);
}

static int cmp_cont(const void *x, const void *y)
{
	const struct cont_row *a = x, *b = y;
	int c = strcmp(a->uid, b->uid);
	return c ? c : strcmp(a->id, b->id);
}

/* The eBPF collector reports only cgroups that ran. A pod that slept through an interval
 * is still on the node: list pod and container cgroups so that it gets a row with no CPU
 * time, keeps its counters and its share of idle energy, instead of looking deleted.
 *
 * Listing means walking the whole tree (opening and reading every directory down to the
 * pods, some 1,400 syscalls a round on a node of 200 pods), so the listing is kept and
 * walked again only when the tree may have changed: when the mount's cgroup.stat counts
 * (nr_descendants, nr_dying_descendants) differ from the walk's, when the eBPF collector
 * met a cgroup id it had never seen (a new cgroup ran), and in any case every
 * LIST_REWALK_ROUNDS rounds. A cgroup removed and another made between two rounds, the
 * removed one already freed, leaves the counts as they were; the new one is seen when it
 * runs, or at the next periodic walk. */
#define LIST_REWALK_ROUNDS 12

struct list_ctx {
	struct jp_node *n;
	int err;
};

static int list_add(struct jp_node *n, const char *rel)
{
	struct pod_list *pl = &n->list;
	size_t l = strlen(rel) + 1;
	if (jp_cg_cpu_set_add(&n->set, rel, 0, 0) < 0 ||
	    jp_grow((void **)&pl->paths, &pl->cap, pl->len + l, 1) < 0)
		return -ENOMEM;
	memcpy(pl->paths + pl->len, rel, l);
	pl->len += l;
	pl->n++;
	return 0;
}

static int list_pods_cb(const char *rel, void *arg)
{
	struct list_ctx *ctx = arg;
	struct jp_pod_ref ref;
	if (!jp_cgroup_pod_parse_under(ctx->n->cgroup_root, rel, &ref))
		return 0;   /* kubepods.slice, a QoS slice, or not Kubernetes: keep looking */
	size_t len = strlen(rel);
	if (len != ref.pod_end && len != ref.container_end)
		return 1;   /* something inside a container: its time is the container's */
	if (list_add(ctx->n, rel) < 0) {
		ctx->err = -ENOMEM;
		return -ENOMEM;
	}
	return len == ref.pod_end ? 0 : 1;
}

/* The value of `key` in a cgroup.stat text ("key N" lines), or -1. */
static int64_t stat_field(const char *buf, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtoll(p + kl + 1, NULL, 10);
	return -1;
}

/* nr_descendants and nr_dying_descendants of the mount's root: 0, or a negative errno
 * (then the tree is walked). */
static int tree_counts(struct jp_node *n, uint64_t *desc, uint64_t *dying)
{
	struct pod_list *pl = &n->list;
	char buf[512];
	if (pl->inject_err)
		return pl->inject_err;
	if (pl->stat_fd < 0) {
		char path[PATH_MAX + 16];
		snprintf(path, sizeof(path), "%s/cgroup.stat", n->cgroup_mount);
		pl->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (pl->stat_fd < 0)
			return -errno;
	}
	ssize_t got = pread(pl->stat_fd, buf, sizeof(buf) - 1, 0);
	if (got <= 0) {
		int err = got < 0 ? errno : ENODATA;
		close(pl->stat_fd);
		pl->stat_fd = -1;
		return -err;
	}
	buf[got] = '\0';
	int64_t d = stat_field(buf, "nr_descendants"), y = stat_field(buf, "nr_dying_descendants");
	if (d < 0 || y < 0)
		return -EINVAL;
	*desc = (uint64_t)d;
	*dying = (uint64_t)y;
	return 0;
}

/* The pod and container cgroups into n->set with no CPU time: from the kept listing
 * while the tree is unchanged, else from a fresh walk (which becomes the listing). */
static int list_pods(struct jp_node *n)
{
	struct pod_list *pl = &n->list;
	uint64_t desc = 0, dying = 0, bpf_walks = jp_bpf_collector_walks(n->bpf);
	int counted = tree_counts(n, &desc, &dying);
	if (counted == 0 && pl->valid && desc == pl->desc && dying == pl->dying && bpf_walks == pl->bpf_walks &&
	    pl->rounds < LIST_REWALK_ROUNDS) {
		const char *p = pl->paths;
		for (size_t i = 0; i < pl->n; i++, p += strlen(p) + 1)
			if (jp_cg_cpu_set_add(&n->set, p, 0, 0) < 0)
				return -ENOMEM;
		pl->rounds++;
		return 0;
	}
	pl->len = pl->n = 0;
	pl->valid = 0;
	pl->walks++;
	/* Pod cgroups sit a few levels down (kubepods.slice/<qos>.slice/<pod>.slice/<ctr>,
	 * or nested under a kubelet slice): eight levels cover every known layout. Rows
	 * for cgroups that also ran merge with them in merge_rows. */
	struct list_ctx ctx = {n, 0};
	jp_cgroup_walk(n->cgroup_mount, 8, list_pods_cb, &ctx);
	if (ctx.err)
		return ctx.err;
	if (counted == 0) {
		pl->valid = 1;
		pl->desc = desc;
		pl->dying = dying;
		pl->bpf_walks = bpf_walks;
		pl->rounds = 0;
	}
	return 0;
}

static struct fallback_row *fb_find(struct jp_node *n, const struct cont_row *c)
{
	for (size_t i = 0; i < n->nfb; i++)
		if (strcmp(n->fb[i].uid, c->uid) == 0 && strcmp(n->fb[i].id, c->id) == 0)
			return &n->fb[i];
	return NULL;
}

/*
 * The eBPF map was full: a container whose cgroup is not in it ran (or may have run)
 * unseen by the probe. Its time for the interval comes from the kernel's own cpu.stat
 * instead: the difference to the previous round's reading; for a container that was not
 * there at the previous round, everything since it was created. A container that was
 * listed at the previous round but read from the map then has no reading to start from:
 * it gets one now (its time of this one interval is lost - that only happens in the
 * round the map filled up, or when the map dropped an entry).
 */
static int fallback_fill(struct jp_node *n)
{
	size_t keep = 0;
	for (size_t i = 0; i < n->nconts; i++) {
		struct cont_row *c = &n->conts[i];
		if (c->from_map || !c->path || !c->id[0])
			continue;
		uint64_t usage;
		if (jp_cgroup_v2_usage_ns(n->cgroup_mount, c->path, &usage) < 0)
			continue;   /* gone: nothing to add */
		struct fallback_row *f = fb_find(n, c);
		int listed_before = n->nprev && bsearch(c, n->prev, n->nprev, sizeof(*n->prev), cmp_cont) != NULL;
		if (f && f->round + 1 == n->round)
			c->cpu_ns += usage > f->usage_ns ? usage - f->usage_ns : 0;
		else if (!listed_before)
			c->cpu_ns += usage;
		n->fallback_rows++;
		if (!f) {
			if (jp_grow((void **)&n->fb, &n->cap_fb, n->nfb + 1, sizeof(*n->fb)))
				return -ENOMEM;
			f = &n->fb[n->nfb++];
			memcpy(f->uid, c->uid, sizeof(f->uid));
			memcpy(f->id, c->id, sizeof(f->id));
		}
		f->usage_ns = usage;
		f->round = n->round;
	}
	/* Forget containers that are gone or tracked by the map again. */
	for (size_t i = 0; i < n->nfb; i++)
		if (n->fb[i].round == n->round)
			n->fb[keep++] = n->fb[i];
	n->nfb = keep;
	return 0;
}

/* Parse per-cgroup times into (pod, container) rows and the system bucket, merging the
 * rows of one container (eBPF reports its nested cgroups separately), then fill in from
 * cpu.stat what a full eBPF map missed. */
static int merge_rows(struct jp_node *n, uint64_t *system_ns)
{
	n->nconts = 0;
	*system_ns = 0;
	for (size_t i = 0; i < n->set.n; i++) {
		const struct jp_cg_cpu *e = &n->set.v[i];
		struct jp_pod_ref ref;
		if (!e->path[0] || !jp_cgroup_pod_parse_under(n->cgroup_root, e->path, &ref)) {
			*system_ns += e->cpu_ns;
			continue;
		}
		if (jp_grow((void **)&n->conts, &n->cap_conts, n->nconts + 1, sizeof(*n->conts)))
			return -ENOMEM;
		struct cont_row *c = &n->conts[n->nconts++];
		memcpy(c->uid, ref.pod_uid, sizeof(c->uid));
		memcpy(c->id, ref.container_id, sizeof(c->id));
		c->cpu_ns = e->cpu_ns;
		/* Map rows come first in the set, then the listed cgroups. */
		c->from_map = i < n->nmap;
		c->path = !c->from_map && ref.container_id[0] && strlen(e->path) == ref.container_end ? e->path : NULL;
	}
	/* Sort so that each pod's cgroups are adjacent, then merge duplicates (eBPF
	 * reports nested cgroups of one container separately). */
	if (n->nconts > 1)   /* qsort must not get the NULL array of a node with no pods */
		qsort(n->conts, n->nconts, sizeof(*n->conts), cmp_cont);
	size_t k = 0;
	for (size_t i = 0; i < n->nconts; i++) {
		if (k && strcmp(n->conts[k - 1].uid, n->conts[i].uid) == 0 &&
		    strcmp(n->conts[k - 1].id, n->conts[i].id) == 0) {
			n->conts[k - 1].cpu_ns += n->conts[i].cpu_ns;
			n->conts[k - 1].from_map |= n->conts[i].from_map;
			if (!n->conts[k - 1].path)
				n->conts[k - 1].path = n->conts[i].path;
		} else {
			n->conts[k++] = n->conts[i];
		}
	}
	n->nconts = k;
	if (n->fallback) {
		int r = fallback_fill(n);
		if (r)
			return r;
	}
	return 0;
}

/* Per-cgroup CPU time into n->set: from the eBPF map, or from cgroupfs. Kernels that
 * refuse map reads without CAP_BPF (unprivileged_bpf_disabled, as before 5.19's fd-based
 * checks) do so once the agent has dropped to its user: collect from cgroupfs from then on
 * rather than stop collecting. 0 or a negative errno, logged. */
static int collect_cpu(struct jp_node *n)
{
	jp_cg_cpu_set_clear(&n->set);
	int r = n->bpf ? jp_bpf_collector_drain(n->bpf, &n->set) : jp_cgroupfs_collect(n->cgfs, &n->set);
	if ((r == -EPERM || r == -EACCES) && n->bpf) {
		jp_log(JP_LOG_WARN, MOD, "reading the eBPF map: %s (this kernel refuses it after the privilege "
		       "drop; see docs/ebpf.md): switching to the cgroupfs collector", strerror(-r));
		jp_bpf_collector_destroy(n->bpf);
		n->bpf = NULL;
		n->cgfs = jp_cgroupfs_create(n->cgroup_mount, n->procfs, n->cgroup_root);
		if (!n->cgfs) {
			r = -errno;
			jp_log(JP_LOG_ERROR, MOD, "cgroupfs collector on %s: %s", n->cgroup_mount, strerror(-r));
			return r;
		}
		n->base.name = "cgroupfs";
		n->base.sources &= ~JP_SRC_BPF;
		jp_cg_cpu_set_clear(&n->set);
		r = jp_cgroupfs_collect(n->cgfs, &n->set);
	}
	if (r) {
		jp_log_rl(&n->rl_cpu, JP_LOG_WARN, MOD, "per-cgroup CPU time: %s", strerror(-r));
		return r;
	}
	n->nmap = n->set.n;
	if (!n->bpf)
		return 0;
	uint64_t full = jp_bpf_collector_map_full(n->bpf);
	if (full > n->map_full && !n->fallback) {
		/* Once: from now on, containers the map misses are read from cpu.stat. */
		jp_log(JP_LOG_WARN, MOD, "the eBPF cgroup map is full (%u entries): reading cpu.stat "
		       "for the containers it misses; raise collector.bpf_map_entries",
		       jp_bpf_collector_capacity(n->bpf));
		n->fallback = 1;
	}
	n->map_full = full;
	return list_pods(n);
}

/* The node's energy over interval_s: RAPL's zones, or the power model with its band
 * (docs/model.md "Bounds"); then the platform meter and the GPUs, where present. 0 or a
 * negative errno (RAPL or NVML failing: the round has no energy). */
static int collect_energy(struct jp_node *n, const struct jp_cpu_interval *cpu, double interval_s,
			  struct jp_interval *iv)
{
	int r;
	if (n->rapl) {
		struct jp_rapl_energy e;
		r = jp_rapl_read(n->rapl, &e);
		if (r) {
			jp_log_rl(&n->rl_rapl, JP_LOG_WARN, MOD, "RAPL: %s", strerror(-r));
			return r;
		}
		for (int k = 0; k < JP_RAPL_NKINDS; k++) {
			if (!(e.present & JP_RAPL_BIT(k)))
				continue;
			iv->zone_mask |= 1u << rapl_to_zone[k];
			iv->energy_j[rapl_to_zone[k]] = e.j[k];
		}
	} else {
		/* The model estimates the whole CPU's power; it is reported as the package. */
		double w = jp_power_model_estimate(&n->model, cpu->ncpus, cpu->usage_ratio,
						   &iv->bound_low_w[JP_ZONE_PACKAGE], &iv->bound_high_w[JP_ZONE_PACKAGE]);
		iv->zone_mask = 1u << JP_ZONE_PACKAGE;
		iv->energy_j[JP_ZONE_PACKAGE] = w * interval_s;
		iv->bound_mask = 1u << JP_ZONE_PACKAGE;
		if (n->mem_w > 0) {
			/* Memory draws about the same power whatever the load: one figure, no
			 * published spread, so its bounds are the estimate itself. */
			iv->zone_mask |= 1u << JP_ZONE_DRAM;
			iv->energy_j[JP_ZONE_DRAM] = n->mem_w * interval_s;
			iv->bound_low_w[JP_ZONE_DRAM] = iv->bound_high_w[JP_ZONE_DRAM] = n->mem_w;
			iv->bound_mask |= 1u << JP_ZONE_DRAM;
		}
	}
	if (n->hwmon) {
		double j;
		r = jp_hwmon_read(n->hwmon, interval_s, &j);
		if (r == 0) {
			iv->zone_mask |= 1u << JP_ZONE_PLATFORM;
			iv->energy_j[JP_ZONE_PLATFORM] = j;
		} else {
			/* Without the meter the interval's total falls back to the other zones. */
			jp_log_rl(&n->rl_hwmon, JP_LOG_WARN, MOD, "platform power (%s): %s; zone platform left out "
				  "of this interval", jp_hwmon_where(n->hwmon),
				  r == -ERANGE ? "an energy counter went back"
				  : r == -EDOM ? "a reading implies more than power.platform.max_watts"
				  : strerror(-r));
		}
		iv->implausible[JP_ZONE_PLATFORM] = jp_hwmon_implausible(n->hwmon);
	}
	if (n->gpu) {
		r = jp_gpu_collect(n->gpu, interval_s, iv);
		iv->implausible[JP_ZONE_GPU] = jp_gpu_implausible(n->gpu);
		if (r)
			return r;
	}
	return 0;
}

static int node_collect(struct jp_collector *c, struct jp_interval *iv)
{
	struct jp_node *n = (struct jp_node *)c;
	struct jp_cpu_interval cpu = {0};
	int r = jp_procstat_sample(n->ps, &cpu);
	if (r)
		jp_log_rl(&n->rl_stat, JP_LOG_WARN, MOD, "node CPU usage: %s; using the last good interval",
			  strerror(-r));
	if ((r = collect_cpu(n)))
		return r;
	uint64_t system_ns;
	n->round++;
	r = merge_rows(n, &system_ns);
	if (r)
		return r;
	/* The containers of this round, for the next one's fallback. */
	if (n->bpf) {
		if (jp_grow((void **)&n->prev, &n->cap_prev, n->nconts + 1, sizeof(*n->prev)))
			return -ENOMEM;
		if (n->nconts)   /* memcpy must not get the NULL array of a node with no pods */
			memcpy(n->prev, n->conts, n->nconts * sizeof(*n->prev));
		n->nprev = n->nconts;
	}
	/* The sources measured from their previous reading to now, which is what the
	 * model's energy and the power gauges must use, not the nominal interval. */
	uint64_t now = jp_now_mono_ms();
	double interval_s = (double)(now - n->last_mono_ms) / 1000.0;
	n->last_mono_ms = now;
	iv->seconds = interval_s;
	iv->power_source = n->base.power_source;
	iv->usage_ratio = cpu.usage_ratio;
	iv->system_cpu_ns = system_ns;
	iv->bpf_map_full = n->map_full;
	if ((r = collect_energy(n, &cpu, interval_s, iv)))
		return r;
	for (size_t i = 0; i < n->nconts; i++) {
		const struct cont_row *cr = &n->conts[i];
		if (jp_interval_add_row(iv, cr->uid, cr->id, cr->cpu_ns))
			return -ENOMEM;
	}
	return 0;
}

const struct jp_collector_ops jp_node_ops = {
	.kind = "node", .open = node_open, .collect = node_collect, .close = node_close,
};
