/* SPDX-License-Identifier: Apache-2.0 */
/* NVIDIA GPUs through NVML loaded at run time (collect/gpu.h, docs/model.md "GPU energy"). */
#include "collect/gpu.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collect/cgroup_pods.h"
#include "collect/nvml_api.h"
#include "util/buf.h"
#include "util/log.h"

#define MOD "gpu"

struct nvml_fns {
#define X(ret, name, args) ret(*name) args;
	JP_NVML_FUNCS(X)
#undef X
};

struct dev {
	nvmlDevice_t h;
	struct jp_gpu_device out;
	int energy_counter;            /* nvmlDeviceGetTotalEnergyConsumption works */
	int have_base;
	unsigned long long base_mj;    /* the counter at the last good reading */
	unsigned long long last_ts;    /* newest process sample seen (µs) */
	double max_w;                  /* twice the enforced power limit: more is implausible */
	unsigned implausible_run;      /* readings refused in a row */
	int mig_said;
};

/* One process's SM share of a device in the interval. */
struct proc_w {
	unsigned pid;
	double w;
	unsigned long long first_us;   /* its earliest sample (wall µs), 0 for equal shares */
};

struct jp_gpu {
	void *lib;
	struct nvml_fns f;
	char procfs[PATH_MAX];
	char cgroup_root[JP_CGROUP_ROOT_MAX + 1];
	struct dev *devs;
	unsigned ndevs;
	struct jp_gpu_device *out;     /* iv->gpus */
	nvmlProcessInfo_t *procs;
	unsigned cap_procs;
	nvmlProcessUtilizationSample_t *samples;
	unsigned cap_samples;
	struct proc_w *pw;
	size_t npw, cap_pw;
	struct jp_ratelimit rl_err, rl_back, rl_implausible;
	uint64_t implausible;          /* readings refused so far, all devices */
};

static const char *nvml_err(const struct jp_gpu *g, nvmlReturn_t r)
{
	const char *s = g->f.nvmlErrorString ? g->f.nvmlErrorString(r) : NULL;
	return s ? s : "unknown NVML error";
}

static int fail(char *why, size_t n, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t n, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	errno = err;
	return -err;
}

struct jp_gpu *jp_gpu_open(const char *library, const char *procfs, const char *cgroup_root, char *why,
			   size_t why_len)
{
	struct jp_gpu *g = calloc(1, sizeof(*g));
	if (!g) {
		errno = ENOMEM;
		return NULL;
	}
	snprintf(g->procfs, sizeof(g->procfs), "%s", procfs ? procfs : "/proc");
	snprintf(g->cgroup_root, sizeof(g->cgroup_root), "%s", cgroup_root ? cgroup_root : "");
	dlerror();
	g->lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
	if (!g->lib) {
		const char *e = dlerror();
		fail(why, why_len, ENOENT, "%s", e ? e : library);
		goto out;
	}
#define X(ret, name, args) \
	*(void **)&g->f.name = dlsym(g->lib, #name); \
	if (!g->f.name) { \
		fail(why, why_len, EIO, "%s has no %s", library, #name); \
		goto out; \
	}
	JP_NVML_FUNCS(X)
#undef X
	nvmlReturn_t r = g->f.nvmlInit_v2();
	if (r != JP_NVML_SUCCESS) {
		fail(why, why_len, EIO, "nvmlInit_v2: %s", nvml_err(g, r));
		g->f.nvmlShutdown = NULL;   /* nothing to shut down */
		goto out;
	}
	unsigned n = 0;
	r = g->f.nvmlDeviceGetCount_v2(&n);
	if (r != JP_NVML_SUCCESS) {
		fail(why, why_len, EIO, "nvmlDeviceGetCount_v2: %s", nvml_err(g, r));
		goto out;
	}
	if (n == 0) {
		fail(why, why_len, ENODEV, "NVML sees no device");
		goto out;
	}
	if (n > 64)
		n = 64;
	g->devs = calloc(n, sizeof(*g->devs));
	g->out = calloc(n, sizeof(*g->out));
	if (!g->devs || !g->out) {
		fail(why, why_len, ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < n; i++) {
		struct dev *d = &g->devs[g->ndevs];
		if ((r = g->f.nvmlDeviceGetHandleByIndex_v2(i, &d->h)) != JP_NVML_SUCCESS) {
			/* A device NVML cannot open (lost, no permission) is left out, and said. */
			jp_log(JP_LOG_WARN, MOD, "GPU %u: nvmlDeviceGetHandleByIndex_v2: %s; leaving it out", i,
			       nvml_err(g, r));
			continue;
		}
		d->out.index = i;
		if (g->f.nvmlDeviceGetUUID(d->h, d->out.uuid, sizeof(d->out.uuid)) != JP_NVML_SUCCESS)
			snprintf(d->out.uuid, sizeof(d->out.uuid), "GPU-index-%u", i);
		if (g->f.nvmlDeviceGetName(d->h, d->out.model, sizeof(d->out.model)) != JP_NVML_SUCCESS)
			snprintf(d->out.model, sizeof(d->out.model), "unknown");
		d->out.uuid[sizeof(d->out.uuid) - 1] = d->out.model[sizeof(d->out.model) - 1] = 0;
		unsigned long long mj;
		r = g->f.nvmlDeviceGetTotalEnergyConsumption(d->h, &mj);
		d->energy_counter = r != JP_NVML_ERROR_NOT_SUPPORTED;
		/* No device draws twice its enforced limit; without one, a bound above any GPU made. */
		unsigned limit_mw = 0;
		d->max_w = g->f.nvmlDeviceGetEnforcedPowerLimit(d->h, &limit_mw) == JP_NVML_SUCCESS && limit_mw
				   ? 2.0 * limit_mw / 1000.0
				   : JP_GPU_MAX_W_WITHOUT_LIMIT;
		jp_log(JP_LOG_INFO, MOD, "GPU %u: %s (%s), energy from %s", i, d->out.model, d->out.uuid,
		       d->energy_counter ? "its energy counter" : "power x time (no energy counter)");
		g->ndevs++;
	}
	if (!g->ndevs) {
		fail(why, why_len, ENODEV, "NVML lists %u device(s) but none could be opened", n);
		goto out;
	}
	return g;
out:;
	int e = errno;
	jp_gpu_close(g);
	errno = e;
	return NULL;
}

void jp_gpu_close(struct jp_gpu *g)
{
	if (!g)
		return;
	if (g->lib && g->f.nvmlShutdown && g->f.nvmlInit_v2)
		g->f.nvmlShutdown();
	if (g->lib)
		dlclose(g->lib);
	free(g->devs);
	free(g->out);
	free(g->procs);
	free(g->samples);
	free(g->pw);
	free(g);
}

uint64_t jp_gpu_implausible(const struct jp_gpu *g)
{
	return g ? g->implausible : 0;
}

unsigned jp_gpu_count(const struct jp_gpu *g)
{
	return g ? g->ndevs : 0;
}

static void dev_error(struct jp_gpu *g, struct dev *d, const char *call, nvmlReturn_t r)
{
	d->out.errors++;
	jp_log_rl(&g->rl_err, JP_LOG_WARN, MOD, "GPU %u: %s: %s; the device is skipped for this interval",
		  d->out.index, call, nvml_err(g, r));
}

/* A reading that implies more than the device can draw (docs/reference/metrics.md
 * joulepush_node_implausible_readings_total): counted and logged; 1 when the caller should
 * take it as the new baseline anyway (the third in a row: the counter really moved). */
static int refuse_implausible(struct jp_gpu *g, struct dev *d, double w)
{
	g->implausible++;
	jp_log_rl(&g->rl_implausible, JP_LOG_WARN, MOD, "GPU %u: a reading implies %.0f W, more than twice "
		  "its power limit (%.0f W); skipping the interval", d->out.index, w, d->max_w / 2);
	if (++d->implausible_run < 3)
		return 0;
	d->implausible_run = 0;
	return 1;
}

/* The device's energy in the interval; 0 with *ok = 0 when it cannot be read. */
static double read_energy(struct jp_gpu *g, struct dev *d, double seconds, int *ok)
{
	nvmlReturn_t r;
	*ok = 0;
	if (!d->energy_counter) {
		unsigned mw = 0;
		if ((r = g->f.nvmlDeviceGetPowerUsage(d->h, &mw)) != JP_NVML_SUCCESS) {
			dev_error(g, d, "nvmlDeviceGetPowerUsage", r);
			return 0;
		}
		if ((double)mw / 1000.0 > d->max_w) {
			refuse_implausible(g, d, (double)mw / 1000.0);
			return 0;
		}
		d->implausible_run = 0;
		*ok = 1;
		return (double)mw / 1000.0 * seconds;
	}
	unsigned long long mj = 0;
	if ((r = g->f.nvmlDeviceGetTotalEnergyConsumption(d->h, &mj)) != JP_NVML_SUCCESS) {
		dev_error(g, d, "nvmlDeviceGetTotalEnergyConsumption", r);
		return 0;
	}
	if (!d->have_base) {
		d->have_base = 1;
		d->base_mj = mj;
		return 0;   /* a baseline: the interval has no energy yet */
	}
	if (mj < d->base_mj) {
		/* The counter counts from the driver's load: a reload (or a bad reading)
		 * restarts it. Start again from here; the interval is skipped. */
		jp_log_rl(&g->rl_back, JP_LOG_WARN, MOD, "GPU %u: the energy counter went back from %llu to %llu mJ "
			  "(driver reloaded?); skipping the interval", d->out.index, d->base_mj, mj);
		d->base_mj = mj;
		return 0;
	}
	double e = (double)(mj - d->base_mj) / 1000.0;
	if (seconds > 0 && e / seconds > d->max_w) {
		/* The baseline stays at the last good reading, unless this keeps happening. */
		if (refuse_implausible(g, d, e / seconds))
			d->base_mj = mj;
		return 0;
	}
	d->implausible_run = 0;
	d->base_mj = mj;
	*ok = 1;
	return e;
}

static int pw_add(struct jp_gpu *g, unsigned pid, double w, unsigned long long ts_us)
{
	for (size_t i = 0; i < g->npw; i++) {
		if (g->pw[i].pid == pid) {
			g->pw[i].w += w;
			if (ts_us && ts_us < g->pw[i].first_us)
				g->pw[i].first_us = ts_us;
			return 0;
		}
	}
	if (jp_grow((void **)&g->pw, &g->cap_pw, g->npw + 1, sizeof(*g->pw)))
		return -ENOMEM;
	g->pw[g->npw++] = (struct proc_w){pid, w, ts_us};
	return 0;
}

/* The processes running on the device (NVML's list). Returns their number, or -1 when the
 * call failed (counted). */
static int list_procs(struct jp_gpu *g, struct dev *d)
{
	for (int tries = 0; tries < 3; tries++) {
		unsigned n = g->cap_procs;
		nvmlReturn_t r = g->f.nvmlDeviceGetComputeRunningProcesses_v3(d->h, &n, g->procs);
		if (r == JP_NVML_SUCCESS)
			return (int)(n < g->cap_procs ? n : g->cap_procs);
		if (r != JP_NVML_ERROR_INSUFFICIENT_SIZE) {
			d->out.errors++;
			jp_log_rl(&g->rl_err, JP_LOG_WARN, MOD, "GPU %u: nvmlDeviceGetComputeRunningProcesses_v3: %s; "
				  "its active energy goes to the system bucket", d->out.index, nvml_err(g, r));
			return -1;
		}
		unsigned cap = n + 16;
		void *v = realloc(g->procs, cap * sizeof(*g->procs));
		if (!v)
			return -1;
		g->procs = v;
		g->cap_procs = cap;
	}
	return -1;
}

/* SM utilisation samples since the last call, summed per process into g->pw. Returns 1
 * if any process had a non-zero share, 0 if none (or not supported: shares are then
 * equal among the running processes). */
static int sample_procs(struct jp_gpu *g, struct dev *d)
{
	unsigned n = 0;
	nvmlReturn_t r = g->f.nvmlDeviceGetProcessUtilization(d->h, NULL, &n, d->last_ts);
	if (r == JP_NVML_SUCCESS && n == 0)
		return 0;
	if (r != JP_NVML_ERROR_INSUFFICIENT_SIZE && r != JP_NVML_SUCCESS)
		return 0;   /* NOT_SUPPORTED (MIG, older devices), NOT_FOUND (no samples): equal shares */
	if (n > g->cap_samples) {
		void *v = realloc(g->samples, (n + 16) * sizeof(*g->samples));
		if (!v)
			return 0;
		g->samples = v;
		g->cap_samples = n + 16;
	}
	n = g->cap_samples;
	r = g->f.nvmlDeviceGetProcessUtilization(d->h, g->samples, &n, d->last_ts);
	if (r != JP_NVML_SUCCESS)
		return 0;
	if (n > g->cap_samples)
		n = g->cap_samples;
	int any = 0;
	unsigned long long newest = d->last_ts;
	for (unsigned i = 0; i < n; i++) {
		const nvmlProcessUtilizationSample_t *s = &g->samples[i];
		if (s->timeStamp <= d->last_ts)
			continue;
		if (s->timeStamp > newest)
			newest = s->timeStamp;
		unsigned sm = s->smUtil > 100 ? 100 : s->smUtil;
		if (sm && pw_add(g, s->pid, sm, s->timeStamp) == 0)
			any = 1;
	}
	d->last_ts = newest;
	return any;
}

/* The pod of a process from <procfs>/<pid>/cgroup ("0::<path>", cgroup v2). Returns 1
 * with *ref filled for a pod, 0 for anything else (outside pods, gone, unreadable). */
static int pid_pod(const struct jp_gpu *g, unsigned pid, struct jp_pod_ref *ref)
{
	char path[PATH_MAX + 32], buf[8192];
	snprintf(path, sizeof(path), "%s/%u/cgroup", g->procfs, pid);
	if (jp_read_small(path, buf, sizeof(buf)) <= 0)
		return 0;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (strncmp(line, "0::", 3) == 0)
			return jp_cgroup_pod_parse_under(g->cgroup_root, line + 3, ref);
	}
	return 0;
}

/* When process pid started, in wall-clock µs, from field 22 of <procfs>/<pid>/stat (clock
 * ticks since boot) and the boot time that CLOCK_REALTIME - CLOCK_BOOTTIME gives to the
 * tick. 0 and *us when readable, -1 when not (gone, or not a process). */
static int pid_start_us(const struct jp_gpu *g, unsigned pid, unsigned long long *us)
{
	char path[PATH_MAX + 32], buf[1024];
	snprintf(path, sizeof(path), "%s/%u/stat", g->procfs, pid);
	if (jp_read_small(path, buf, sizeof(buf)) <= 0)
		return -1;
	const char *p = strrchr(buf, ')');   /* the command may hold spaces and parentheses */
	if (!p)
		return -1;
	for (int field = 2; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	char *end;
	unsigned long long ticks = strtoull(p + 1, &end, 10);
	long hz = sysconf(_SC_CLK_TCK);
	struct timespec rt, bt;
	if (end == p + 1 || hz <= 0 || clock_gettime(CLOCK_REALTIME, &rt) || clock_gettime(CLOCK_BOOTTIME, &bt))
		return -1;
	long long boot_us = ((long long)rt.tv_sec - bt.tv_sec) * 1000000LL + (rt.tv_nsec - bt.tv_nsec) / 1000;
	*us = (unsigned long long)(boot_us + (long long)(ticks * 1000000ULL / (unsigned long long)hz));
	return 0;
}

/* Whether the samples of w belong to the process that now has its PID: a PID is reused
 * when its process ends, and the cgroup read at the end of the interval would then name
 * whoever has it now (another pod). A process that started after its first sample, or
 * one whose start cannot be read and that NVML does not list as running this round, is
 * not charged: its share goes to the system bucket. */
static int same_process(const struct jp_gpu *g, const struct proc_w *w, int np)
{
	if (!w->first_us)
		return 1;   /* equal shares: taken from this round's running list */
	unsigned long long start;
	if (pid_start_us(g, w->pid, &start) == 0)
		return start <= w->first_us;
	for (int i = 0; i < np; i++)
		if (g->procs[i].pid == w->pid)
			return 1;
	return 0;
}

/* Share the device's active energy among its processes. */
static int attribute_dev(struct jp_gpu *g, struct dev *d, double active, struct jp_interval *iv)
{
	g->npw = 0;
	int np = list_procs(g, d);
	int mig = 0;
	for (int i = 0; i < np; i++)
		if (g->procs[i].gpuInstanceId != JP_NVML_VALUE_NOT_AVAILABLE)
			mig = 1;
	if (mig && !d->mig_said) {
		d->mig_said = 1;
		jp_log(JP_LOG_INFO, MOD, "GPU %u runs MIG instances: its energy is reported for the whole "
		       "device and shared among the processes of all its instances (per-instance "
		       "attribution is not done)", d->out.index);
	}
	if (np < 0) {
		iv->system_gpu_j += active;   /* who used it is unknown this time */
		return 0;
	}
	int sampled = sample_procs(g, d);
	if (!sampled) {
		/* No per-process samples: equal shares among the running compute processes. */
		g->npw = 0;
		for (int i = 0; i < np; i++)
			if (pw_add(g, g->procs[i].pid, 1.0, 0))
				return -ENOMEM;
	}
	double tot = 0;
	for (size_t i = 0; i < g->npw; i++)
		tot += g->pw[i].w;
	if (!(tot > 0)) {
		iv->system_gpu_j += active;   /* nobody known used it */
		return 0;
	}
	for (size_t i = 0; i < g->npw; i++) {
		double part = active * (g->pw[i].w / tot);
		struct jp_pod_ref ref;
		if (same_process(g, &g->pw[i], np) && pid_pod(g, g->pw[i].pid, &ref)) {
			if (jp_interval_add_gpu_row(iv, ref.pod_uid, ref.container_id, part))
				return -ENOMEM;
		} else {
			iv->system_gpu_j += part;   /* outside pods, or gone */
		}
	}
	return 0;
}

int jp_gpu_collect(struct jp_gpu *g, double seconds, struct jp_interval *iv)
{
	double e_sum = 0, active_sum = 0;
	for (unsigned i = 0; i < g->ndevs; i++) {
		struct dev *d = &g->devs[i];
		int ok;
		nvmlUtilization_t u = {0};
		nvmlReturn_t r = g->f.nvmlDeviceGetUtilizationRates(d->h, &u);
		double e = 0;
		if (r != JP_NVML_SUCCESS) {
			/* Leave the energy counter's baseline alone: its energy is counted next time. */
			dev_error(g, d, "nvmlDeviceGetUtilizationRates", r);
			ok = 0;
		} else {
			e = read_energy(g, d, seconds, &ok);
		}
		d->out.ok = ok;
		d->out.energy_j = ok ? e : 0;
		d->out.util = ok ? (u.gpu > 100 ? 1.0 : u.gpu / 100.0) : 0;
		if (ok) {
			double active = e * d->out.util;
			e_sum += e;
			active_sum += active;
			int rr = attribute_dev(g, d, active, iv);
			if (rr)
				return rr;
		}
		g->out[i] = d->out;   /* with the errors of this round */
	}
	iv->zone_mask |= 1u << JP_ZONE_GPU;
	iv->energy_j[JP_ZONE_GPU] = e_sum;
	iv->gpu_usage_ratio = e_sum > 0 ? active_sum / e_sum : 0;
	iv->gpus = g->out;
	iv->ngpus = g->ndevs;
	return 0;
}
