/* SPDX-License-Identifier: Apache-2.0 */
/* Prints the CPU cost per sample and the compressed size of remote-write 1.0 and 2.0 bodies. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "remote/encode.h"

/* A batch shaped like what the agent sends: pod series with 8 labels (docs/reference/metrics.md), label
 * sets cached as they are in steady state, values that change like counters. */
struct shape {
	const char *name;
	size_t nseries;
	uint32_t per_series;
};

struct fixture {
	struct jp_batch b;
	struct jp_series_def *defs;
	char **strings;
	size_t nstrings;
};

static char *xstrdupf(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *xstrdupf(struct fixture *f, const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		abort();
	f->strings[f->nstrings++] = s;
	return s;
}

static void fixture_build(struct fixture *f, const struct shape *sh)
{
	memset(f, 0, sizeof(*f));
	size_t ns = sh->nseries, nsmp = ns * sh->per_series;
	f->defs = calloc(ns, sizeof(*f->defs));
	f->strings = calloc(3 * ns, sizeof(*f->strings));
	f->b.series = calloc(ns, sizeof(*f->b.series));
	f->b.samples = calloc(nsmp, sizeof(*f->b.samples));
	if (!f->defs || !f->strings || !f->b.series || !f->b.samples)
		abort();
	for (size_t i = 0; i < ns; i++) {
		struct jp_series_def *d = &f->defs[i];
		struct jp_label *l = calloc(8, sizeof(*l));
		if (!l)
			abort();
		l[0] = (struct jp_label){ "__name__", (i & 4) ? "joulepush_pod_co2_grams_total"
							 : "joulepush_pod_energy_joules_total" };
		l[1] = (struct jp_label){ "cluster", "edge-7" };
		l[2] = (struct jp_label){ "mode", (i & 1) ? "idle" : "active" };
		l[3] = (struct jp_label){ "namespace", xstrdupf(f, "team-%zu", i % 13) };
		l[4] = (struct jp_label){ "node", "ip-10-0-3-17.eu-west-1.compute.internal" };
		l[5] = (struct jp_label){ "pod", xstrdupf(f, "checkout-%zu-7d9f8c6b5-x2k4q", i / 8) };
		l[6] = (struct jp_label){ "pod_uid", xstrdupf(f, "6f1c2a3b-%04zx-4e5f-8a9b-0c1d2e3f4a5b", i / 8) };
		l[7] = (struct jp_label){ "zone", (i & 2) ? "dram" : "package" };
		d->nlabels = 8;
		d->labels = l;
		f->b.series[i] = (struct jp_batch_series){ d, (uint32_t)(i * sh->per_series), sh->per_series };
		for (uint32_t k = 0; k < sh->per_series; k++)
			f->b.samples[i * sh->per_series + k] = (struct jp_sample){
				1763766000000 + 5000 * (int64_t)k, 1234.5 + (double)i * 0.37 + k * 11.125,
			};
	}
	f->b.nseries = f->b.cap_series = ns;
	f->b.nsamples = f->b.cap_samples = nsmp;
}

static void fixture_free(struct fixture *f)
{
	for (size_t i = 0; i < f->b.nseries; i++) {
		free(f->defs[i].labels);
		free(f->defs[i].enc);
	}
	for (size_t i = 0; i < f->nstrings; i++)
		free(f->strings[i]);
	free(f->strings);
	free(f->defs);
	free(f->b.series);
	free(f->b.samples);
}

static double cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* CPU time of one call, the best of several rounds: the machine may be busy with other
 * work, and the minimum is the cost of the code itself. */
static double measure(int (*fn)(const struct jp_batch *, struct jp_buf *), const struct jp_batch *b,
		      struct jp_buf *out)
{
	const int rounds = 7, iters = 200;
	double best = 1e300;
	if (fn(b, out))   /* warm-up: fills the label cache and sizes the buffers */
		abort();
	for (int r = 0; r < rounds; r++) {
		double t0 = cpu_ns();
		for (int i = 0; i < iters; i++)
			if (fn(b, out))
				abort();
		double t = (cpu_ns() - t0) / iters;
		if (t < best)
			best = t;
	}
	return best;
}

int main(void)
{
	static const struct shape shapes[] = {
		{ "2000 series x 1 sample", 2000, 1 },
		{ "200 series x 10 samples", 200, 10 },
	};
	struct jp_buf out = { 0 };
	printf("%-24s %-4s %13s %13s %13s %13s\n", "batch", "rw", "encode ns/smp", "total ns/smp",
	       "raw B/smp", "snappy B/smp");
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct fixture f;
		fixture_build(&f, &shapes[s]);
		double n = (double)f.b.nsamples;
		struct {
			const char *rw;
			int (*raw)(const struct jp_batch *, struct jp_buf *);
			int (*full)(const struct jp_batch *, struct jp_buf *);
		} v[] = { { "1.0", jp_encode_v1_raw, jp_encode_v1 }, { "2.0", jp_encode_v2_raw, jp_encode_v2 } };
		for (size_t k = 0; k < 2; k++) {
			double raw_ns = measure(v[k].raw, &f.b, &out);
			size_t raw_len = out.len;
			double full_ns = measure(v[k].full, &f.b, &out);
			printf("%-24s %-4s %13.1f %13.1f %13.1f %13.1f\n", shapes[s].name, v[k].rw,
			       raw_ns / n, full_ns / n, (double)raw_len / n, (double)out.len / n);
		}
		fixture_free(&f);
	}
	jp_buf_free(&out);
	return 0;
}
