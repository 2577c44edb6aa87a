/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for the on-disk remote-write queue: round trips, limits, recovery and crashes. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "remote/queue.h"
#include "util/crc32c.h"
#include "util/safedir.h"

/* --- fixtures ---------------------------------------------------------------- */

static char tmpdir[64];
static char qdir[128];

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	chmod(path, 0700);
	return remove(path);
}

static void setup(void)
{
	strcpy(tmpdir, "/tmp/jpq-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(qdir, sizeof(qdir), "%s/q/default", tmpdir);
}

static void teardown(void)
{
	chmod(tmpdir, 0700);
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Test series: m{i="<n>", node="n1"}, id n+1. */
struct tseries {
	struct jp_series s;
	struct jp_label labels[3];
	char ibuf[16];
};

static struct tseries *make_series(int n)
{
	struct tseries *t = calloc((size_t)n, sizeof(*t));
	for (int i = 0; i < n; i++) {
		snprintf(t[i].ibuf, sizeof(t[i].ibuf), "%d", i);
		t[i].labels[0] = (struct jp_label){"__name__", "m"};
		t[i].labels[1] = (struct jp_label){"i", t[i].ibuf};
		t[i].labels[2] = (struct jp_label){"node", "n1"};
		t[i].s.id = (uint32_t)i + 1;
		t[i].s.nlabels = 3;
		t[i].s.labels = t[i].labels;
		t[i].s.name = "m";
	}
	return t;
}

/* A round of 10 series with ids that run on, as the writer stores it (a RUNS record):
 * record header 12, ts and count 12, one run's first id and length 8, 10 values of 8. */
#define ROUND10 (12 + 12 + 8 + 10 * 8)

static double val(int64_t round, int i)
{
	return (double)round * 1000.0 + i;
}

/* Append round `round` (ts = round * 1000) with n series. */
static int append_round(struct jp_queue *q, struct tseries *t, int n, int64_t round)
{
	struct jp_round_sample *v = calloc((size_t)n, sizeof(*v));
	for (int i = 0; i < n; i++) {
		v[i].series = &t[i].s;
		v[i].value = val(round, i);
	}
	int r = jp_queue_append(q, round * 1000, v, (size_t)n);
	free(v);
	return r;
}

struct got {
	int i;          /* the series' "i" label */
	int64_t ts;
	double value;
	const struct jp_series_def *def;
};

struct gotlist {
	struct got *v;
	size_t n, cap;
	size_t batches;
};

static int label_i(const struct jp_series_def *d)
{
	ck_assert_uint_eq(d->nlabels, 3);
	ck_assert_str_eq(d->labels[0].name, "__name__");
	ck_assert_str_eq(d->labels[0].value, "m");
	ck_assert_str_eq(d->labels[1].name, "i");
	ck_assert_str_eq(d->labels[2].name, "node");
	ck_assert_str_eq(d->labels[2].value, "n1");
	return atoi(d->labels[1].value);
}

/* Check a batch's shape (a partition into series, each def once, each in strictly
 * increasing time) and add its samples to g. */
static void take_batch(const struct jp_batch *b, struct gotlist *g)
{
	size_t total = 0;
	for (size_t k = 0; k < b->nseries; k++) {
		const struct jp_batch_series *bs = &b->series[k];
		ck_assert_uint_eq(bs->first, total);
		ck_assert_uint_gt(bs->count, 0);
		total += bs->count;
		for (size_t j = 0; j < k; j++)
			ck_assert_ptr_ne(b->series[j].def, bs->def);
		int i = label_i(bs->def);
		for (uint32_t s = 0; s < bs->count; s++) {
			const struct jp_sample *sm = &b->samples[bs->first + s];
			if (s)
				ck_assert_int_gt(sm->ts_ms, sm[-1].ts_ms);
			ck_assert_int_ge(sm->ts_ms, b->oldest_ts_ms);
			if (g->n == g->cap) {
				g->cap = g->cap ? g->cap * 2 : 1024;
				g->v = realloc(g->v, g->cap * sizeof(*g->v));
			}
			g->v[g->n++] = (struct got){i, sm->ts_ms, sm->value, bs->def};
		}
	}
	ck_assert_uint_eq(total, b->nsamples);
	g->batches++;
}

/* Read (and ack, if ack) everything pending in batches of at most max. */
static void read_all(struct jp_queue *q, size_t max, int ack, struct gotlist *g)
{
	struct jp_batch b = {0};
	for (;;) {
		int n = jp_queue_read(q, &b, max);
		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		ck_assert_uint_le((size_t)n, max);
		take_batch(&b, g);
		if (ack)
			ck_assert_int_eq(jp_queue_ack(q, &b), 0);
	}
	jp_batch_free(&b);
}

static int cmp_got(const void *a, const void *b)
{
	const struct got *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return x->i - y->i;
}

/* Read everything (read_all), expect want samples, and sort them by time and series. */
static void read_sorted(struct jp_queue *q, size_t max, int ack, size_t want, struct gotlist *g)
{
	read_all(q, max, ack, g);
	ck_assert_uint_eq(g->n, want);
	qsort(g->v, g->n, sizeof(*g->v), cmp_got);
}

/* Assert that g holds exactly rounds [from, to] of n series, each sample once. */
static void expect_rounds(struct gotlist *g, int nser, int64_t from, int64_t to)
{
	ck_assert_uint_eq(g->n, (size_t)(to - from + 1) * (size_t)nser);
	qsort(g->v, g->n, sizeof(*g->v), cmp_got);
	size_t k = 0;
	for (int64_t r = from; r <= to; r++) {
		for (int i = 0; i < nser; i++, k++) {
			ck_assert_int_eq(g->v[k].ts, r * 1000);
			ck_assert_int_eq(g->v[k].i, i);
			ck_assert(g->v[k].value == val(r, i));
		}
	}
}

static void gl_free(struct gotlist *g)
{
	free(g->v);
	memset(g, 0, sizeof(*g));
}

static char segpath[512];

/* The path of the idx-th segment file (sorted), or NULL. */
static const char *nth_segment(int idx)
{
	struct dirent **ents;
	int n = scandir(qdir, &ents, NULL, alphasort), k = 0;
	const char *ret = NULL;
	for (int i = 0; i < n; i++) {
		if (strstr(ents[i]->d_name, ".seg") && k++ == idx) {
			snprintf(segpath, sizeof(segpath), "%s/%s", qdir, ents[i]->d_name);
			ret = segpath;
		}
		free(ents[i]);
	}
	free(ents);
	return ret;
}

static int count_segments(void)
{
	int n = 0;
	while (nth_segment(n))
		n++;
	return n;
}

static off_t file_size(const char *path)
{
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* stderr capture, to check the log lines. */
static int saved_stderr = -1;
static char logpath[128];

static void capture_start(void)
{
	fflush(stderr);
	snprintf(logpath, sizeof(logpath), "%s/log.txt", tmpdir);
	int fd = open(logpath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

/* Returns the captured text (static buffer). */
static const char *capture_stop(void)
{
	static char text[65536];
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	FILE *f = fopen(logpath, "r");
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

static int count_lines_with(const char *text, const char *needle)
{
	int n = 0;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char *copy = strndup(line, len);
		if (strstr(copy, needle))
			n++;
		free(copy);
		line += len + (nl ? 1 : 0);
	}
	return n;
}

static uint64_t pending(struct jp_queue *q)
{
	struct jp_queue_stats st;
	jp_queue_get_stats(q, &st);
	return st.pending_samples;
}

/* A queue with rounds [from, to] of nser series written by one process and closed. */
static struct tseries *queue_with_rounds(int nser, int from, int to)
{
	struct tseries *t = make_series(nser);
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	ck_assert_ptr_nonnull(q);
	for (int r = from; r <= to; r++)
		ck_assert_int_eq(append_round(q, t, nser, r), 0);
	jp_queue_close(q);
	return t;
}

/* --- tests --------------------------------------------------------------------- */

START_TEST(test_roundtrip)
{
	struct tseries *t = make_series(3);
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	ck_assert_ptr_nonnull(q);
	for (int r = 1; r <= 5; r++)
		ck_assert_int_eq(append_round(q, t, 3, r), 0);
	ck_assert_uint_eq(pending(q), 15);

	struct jp_batch b = {0};
	ck_assert_int_eq(jp_queue_read(q, &b, 1000), 15);
	ck_assert_uint_eq(b.nseries, 3);
	ck_assert_int_eq(b.oldest_ts_ms, 1000);
	for (size_t k = 0; k < 3; k++) {
		const struct jp_batch_series *bs = &b.series[k];
		ck_assert_uint_eq(bs->count, 5);
		int i = label_i(bs->def);
		ck_assert_str_eq(bs->def->labels[1].value, t[i].ibuf);
		for (uint32_t s = 0; s < 5; s++) {
			ck_assert_int_eq(b.samples[bs->first + s].ts_ms, (int64_t)(s + 1) * 1000);
			ck_assert(b.samples[bs->first + s].value == val(s + 1, i));
		}
	}
	/* Nothing more until something new is appended. */
	struct jp_batch b2 = {0};
	ck_assert_int_eq(jp_queue_read(q, &b2, 1000), 0);
	ck_assert_int_eq(jp_queue_ack(q, &b), 0);
	ck_assert_uint_eq(pending(q), 0);
	ck_assert_int_eq(append_round(q, t, 3, 6), 0);
	ck_assert_int_eq(jp_queue_read(q, &b2, 1000), 3);
	ck_assert_int_eq(b2.oldest_ts_ms, 6000);
	jp_batch_free(&b);
	jp_batch_free(&b2);
	jp_queue_close(q);
	free(t);
}
END_TEST

/* A hand-made segment, with a CRC32C computed independently, pins the format. */
static uint32_t crc32c_bitwise(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

static size_t put_record(uint8_t *out, uint32_t type, const uint8_t *payload, uint32_t len)
{
	memcpy(out, &len, 4);
	memcpy(out + 4, &type, 4);
	memcpy(out + 12, payload, len);
	uint32_t crc = crc32c_bitwise(crc32c_bitwise(0, out, 8), payload, len);
	memcpy(out + 8, &crc, 4);
	return 12 + len;
}

static size_t put_str(uint8_t *p, const char *s)
{
	uint32_t l = (uint32_t)strlen(s);
	memcpy(p, &l, 4);
	memcpy(p + 4, s, l);
	return 4 + l;
}

/* Write file[0..len), a segment made by hand, as segment num of qdir (made if missing). */
static void write_seg(uint64_t num, const uint8_t *file, size_t len)
{
	char d1[160], path[256];
	snprintf(d1, sizeof(d1), "%s/q", tmpdir);
	mkdir(d1, 0755);
	mkdir(qdir, 0755);
	snprintf(path, sizeof(path), "%s/%016" PRIu64 ".seg", qdir, num);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(file, 1, len, f), len);
	fclose(f);
}

START_TEST(test_format)
{
	const uint8_t check[] = "123456789";
	ck_assert_uint_eq(crc32c_bitwise(0, check, 9), 0xE3069283u);

	uint8_t file[1024], pl[256];
	size_t off = 0;
	memcpy(file, "JPQSEG01", 8);
	off = 8;
	/* SERIES id 7: {__name__="up", job="x"} */
	size_t p = 0;
	uint32_t id = 7, nl = 2;
	memcpy(pl, &id, 4);
	memcpy(pl + 4, &nl, 4);
	p = 8;
	p += put_str(pl + p, "__name__");
	p += put_str(pl + p, "up");
	p += put_str(pl + p, "job");
	p += put_str(pl + p, "x");
	off += put_record(file + off, 1, pl, (uint32_t)p);
	/* an unknown record type is skipped */
	off += put_record(file + off, 99, (const uint8_t *)"future", 6);
	/* SAMPLES ts 5000, 2 samples of id 7 (the second the stale marker) */
	int64_t ts = 5000;
	uint32_t cnt = 2;
	uint64_t one = 0x3ff0000000000000ULL, stale = JP_STALE_NAN_BITS;
	memcpy(pl, &ts, 8);
	memcpy(pl + 8, &cnt, 4);
	memcpy(pl + 12, &id, 4);
	memcpy(pl + 16, &one, 8);
	memcpy(pl + 24, &id, 4);
	memcpy(pl + 28, &stale, 8);
	off += put_record(file + off, 2, pl, 36);
	write_seg(3, file, off);

	struct jp_queue *q = jp_queue_open(qdir, 1 << 30);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(pending(q), 2);
	struct jp_batch b = {0};
	ck_assert_int_eq(jp_queue_read(q, &b, 100), 2);
	ck_assert_uint_eq(b.nseries, 1);
	ck_assert_str_eq(b.series[0].def->labels[1].value, "x");
	ck_assert_uint_eq(b.series[0].count, 2);
	/* Both samples have the same time (a malformed but valid-looking record):
	 * they come out in the written order. */
	ck_assert(b.samples[0].value == 1.0);
	uint64_t bits;
	memcpy(&bits, &b.samples[1].value, 8);
	ck_assert_uint_eq(bits, JP_STALE_NAN_BITS);
	jp_batch_free(&b);
	struct jp_queue_stats st;
	jp_queue_get_stats(q, &st);
	ck_assert_uint_eq(st.corrupt_cuts, 0);
	jp_queue_close(q);
}
END_TEST

/* A record whose every sample names a series the segment never defined: nothing to
 * send. The batch comes out empty, without touching buffers it never allocated (found
 * by fuzz_queue: the one-round layout copied from a null buffer). */
START_TEST(test_undefined_ids_only)
{
	/* SAMPLES at 5000 ms: one sample (1.0) of id 9, which no SERIES record defines. */
	const uint8_t pl[24] = {0x88, 0x13, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0,
				0, 0, 0, 0, 0, 0, 0xf0, 0x3f};
	uint8_t file[64] = "JPQSEG01";
	size_t off = 8 + put_record(file + 8, 2, pl, sizeof(pl));
	write_seg(1, file, off);

	struct jp_queue *q = jp_queue_open(qdir, 1 << 30);
	ck_assert_ptr_nonnull(q);
	struct jp_batch b = {0};
	ck_assert_int_eq(jp_queue_read(q, &b, 100), 0);
	ck_assert_uint_eq(b.nseries, 0);
	ck_assert_uint_eq(b.nsamples, 0);
	jp_batch_free(&b);
	jp_queue_close(q);
}
END_TEST

START_TEST(test_batch_limits)
{
	struct tseries *t = make_series(10);
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	ck_assert_ptr_nonnull(q);
	for (int r = 1; r <= 10; r++)
		ck_assert_int_eq(append_round(q, t, 10, r), 0);
	struct gotlist g = {0};
	struct jp_batch b = {0};
	size_t sizes = 0;
	for (;;) {
		int n = jp_queue_read(q, &b, 7);
		if (n == 0)
			break;
		ck_assert_int_eq(n, g.n + 7 <= 100 ? 7 : 100 - (int)g.n);
		take_batch(&b, &g);
		sizes += (size_t)n;
		ck_assert_uint_eq(pending(q), 100 - (sizes - (size_t)n));
		ck_assert_int_eq(jp_queue_ack(q, &b), 0);
		ck_assert_uint_eq(pending(q), 100 - sizes);
	}
	ck_assert_uint_eq(g.batches, 15);
	/* In reading order every series' samples are in time order. */
	int64_t last[10] = {0};
	for (size_t k = 0; k < g.n; k++) {
		ck_assert_int_gt(g.v[k].ts, last[g.v[k].i]);
		last[g.v[k].i] = g.v[k].ts;
	}
	expect_rounds(&g, 10, 1, 10);

	/* A batch with several rounds groups by series. */
	for (int r = 11; r <= 14; r++)
		ck_assert_int_eq(append_round(q, t, 10, r), 0);
	ck_assert_int_eq(jp_queue_read(q, &b, 35), 35);
	ck_assert_uint_eq(b.nseries, 10);
	for (size_t k = 0; k < b.nseries; k++)
		ck_assert_uint_eq(b.series[k].count, label_i(b.series[k].def) < 5 ? 4 : 3);
	jp_batch_free(&b);
	gl_free(&g);
	jp_queue_close(q);
	free(t);
}
END_TEST

START_TEST(test_rotation)
{
	struct tseries *t = make_series(100);
	/* max/8 = 64 KiB: segments of 64 KiB. */
	struct jp_queue *q = jp_queue_open(qdir, 512 << 10);
	ck_assert_ptr_nonnull(q);
	for (int r = 1; r <= 150; r++)
		ck_assert_int_eq(append_round(q, t, 100, r), 0);
	int nseg = count_segments();
	ck_assert_int_ge(nseg, 3);
	for (int i = 0; i < nseg; i++)
		ck_assert_int_le(file_size(nth_segment(i)), 64 << 10);
	struct jp_queue_stats st;
	jp_queue_get_stats(q, &st);
	ck_assert_uint_eq(st.dropped_samples, 0);

	struct gotlist g = {0};
	read_all(q, 333, 0, &g);
	/* Defs are shared across segments: one def per label set. */
	const struct jp_series_def *defs[100] = {0};
	for (size_t k = 0; k < g.n; k++) {
		if (!defs[g.v[k].i])
			defs[g.v[k].i] = g.v[k].def;
		ck_assert_ptr_eq(defs[g.v[k].i], g.v[k].def);
	}
	expect_rounds(&g, 100, 1, 150);
	gl_free(&g);

	/* Ack everything: only the segment still written to remains. */
	jp_queue_rewind(q);
	read_all(q, 5000, 1, &g);
	expect_rounds(&g, 100, 1, 150);
	ck_assert_int_eq(count_segments(), 1);
	ck_assert_uint_eq(pending(q), 0);
	gl_free(&g);
	jp_queue_close(q);
	free(t);
}
END_TEST

START_TEST(test_reopen_after_ack)
{
	struct tseries *t = make_series(40);
	struct jp_queue *q = jp_queue_open(qdir, 1 << 20);
	ck_assert_ptr_nonnull(q);
	for (int r = 1; r <= 50; r++)
		ck_assert_int_eq(append_round(q, t, 40, r), 0);
	struct gotlist g = {0};
	struct jp_batch b = {0};
	/* 3 batches of 333: the last ack lands inside a record. */
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(jp_queue_read(q, &b, 333), 333);
		take_batch(&b, &g);
		ck_assert_int_eq(jp_queue_ack(q, &b), 0);
	}
	ck_assert_uint_ne(b.end.index, 0);
	/* Read one more batch without acking it: it must come back. */
	ck_assert_int_eq(jp_queue_read(q, &b, 100), 100);
	jp_queue_close(q);

	q = jp_queue_open(qdir, 1 << 20);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(pending(q), 2000 - 999);
	read_all(q, 500, 1, &g);
	expect_rounds(&g, 40, 1, 50);
	ck_assert_uint_eq(pending(q), 0);
	jp_queue_close(q);

	/* Everything acked: a reopen finds nothing, and new data is numbered after it. */
	q = jp_queue_open(qdir, 1 << 20);
	ck_assert_uint_eq(pending(q), 0);
	gl_free(&g);
	read_all(q, 500, 1, &g);
	ck_assert_uint_eq(g.n, 0);
	ck_assert_int_eq(append_round(q, t, 40, 51), 0);
	jp_queue_close(q);
	q = jp_queue_open(qdir, 1 << 20);
	ck_assert_uint_eq(pending(q), 40);
	read_all(q, 500, 1, &g);
	expect_rounds(&g, 40, 51, 51);
	jp_batch_free(&b);
	gl_free(&g);
	jp_queue_close(q);
	free(t);
}
END_TEST

static void flip_byte(const char *path, off_t off);

/* A power loss that tears the write of the newest ack slot: the other slot holds the
 * previous position, so the queue resumes there (re-sending one batch, losing nothing). */
START_TEST(test_torn_ack_slot)
{
	struct tseries *t = make_series(10);
	struct jp_queue *q = jp_queue_open(qdir, 1 << 20);
	ck_assert_ptr_nonnull(q);
	for (int r = 1; r <= 10; r++)
		ck_assert_int_eq(append_round(q, t, 10, r), 0);
	struct gotlist g = {0};
	struct jp_batch b = {0};
	/* Acks number 1, 2, 3: slot 1, 0, 1. The newest (3, 30 samples acked) is in slot 1. */
	for (int k = 0; k < 3; k++) {
		ck_assert_int_eq(jp_queue_read(q, &b, 10), 10);
		take_batch(&b, &g);
		ck_assert_int_eq(jp_queue_ack(q, &b), 0);
	}
	jp_queue_close(q);
	char p[256];
	snprintf(p, sizeof(p), "%s/ack", qdir);
	ck_assert_int_eq((int)file_size(p), 64 + 40);
	flip_byte(p, 64 + 20);    /* inside slot 1's segment field */

	q = jp_queue_open(qdir, 1 << 20);
	ck_assert_ptr_nonnull(q);
	/* Back to ack number 2: rounds 3..10 are pending again. */
	ck_assert_uint_eq(pending(q), 80);
	gl_free(&g);
	read_all(q, 7, 1, &g);
	expect_rounds(&g, 10, 3, 10);
	jp_queue_close(q);
	/* The acks after the recovery went on numbering past the surviving slot. */
	q = jp_queue_open(qdir, 1 << 20);
	ck_assert_uint_eq(pending(q), 0);
	jp_queue_close(q);
	jp_batch_free(&b);
	gl_free(&g);
	free(t);
}
END_TEST

START_TEST(test_reopen_without_ack)
{
	struct tseries *t = make_series(20);
	struct jp_queue *q = jp_queue_open(qdir, 1 << 20);
	for (int r = 1; r <= 30; r++)
		ck_assert_int_eq(append_round(q, t, 20, r), 0);
	struct gotlist g = {0};
	read_all(q, 64, 0, &g);
	expect_rounds(&g, 20, 1, 30);
	jp_queue_close(q);
	gl_free(&g);

	q = jp_queue_open(qdir, 1 << 20);
	ck_assert_uint_eq(pending(q), 600);
	/* New data of a new process goes to a new segment with ids of its own. */
	struct tseries *t2 = make_series(20);
	for (int i = 0; i < 20; i++)
		t2[i].s.id = (uint32_t)(20 - i);
	ck_assert_int_eq(append_round(q, t2, 20, 31), 0);
	read_all(q, 64, 0, &g);
	expect_rounds(&g, 20, 1, 31);
	gl_free(&g);
	/* Rewind re-reads from the ack position. */
	jp_queue_rewind(q);
	read_all(q, 1000, 1, &g);
	expect_rounds(&g, 20, 1, 31);
	gl_free(&g);
	jp_queue_close(q);
	free(t);
	free(t2);
}
END_TEST

/* Rounds whose ids run on only in part: stored as RUNS of several runs, or as SAMPLES
 * when runs would take more; both read back whole, also in batches that end inside a
 * run, and after a reopen. */
static void check_id_order(const uint32_t *ids, off_t want_round_bytes)
{
	struct tseries *t = make_series(10);
	for (int i = 0; i < 10; i++)
		t[i].s.id = ids[i];
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(append_round(q, t, 10, 1), 0);
	off_t one = file_size(nth_segment(0));
	for (int r = 2; r <= 5; r++)
		ck_assert_int_eq(append_round(q, t, 10, r), 0);
	ck_assert_int_eq(file_size(nth_segment(0)) - one, 4 * want_round_bytes);
	struct gotlist g = {0};
	read_all(q, 3, 0, &g);          /* 3: batches end inside runs and records */
	expect_rounds(&g, 10, 1, 5);
	gl_free(&g);
	jp_queue_close(q);
	q = jp_queue_open(qdir, 64 << 20);
	ck_assert_ptr_nonnull(q);
	memset(&g, 0, sizeof(g));
	read_all(q, 7, 1, &g);
	expect_rounds(&g, 10, 1, 5);
	gl_free(&g);
	jp_queue_close(q);
	free(t);
}

START_TEST(test_runs_of_ids)
{
	/* Four runs: 1-5, 20-21, 9-10, 40. */
	static const uint32_t some[10] = {1, 2, 3, 4, 5, 20, 21, 9, 10, 40};
	check_id_order(some, 12 + 12 + 4 * 8 + 10 * 8);
}
END_TEST

START_TEST(test_ids_out_of_order)
{
	/* Ten runs of one would take 184 bytes: SAMPLES, 144. */
	static const uint32_t shuffled[10] = {10, 1, 9, 2, 8, 3, 7, 4, 6, 5};
	check_id_order(shuffled, 12 + 12 + 10 * 12);
}
END_TEST

/* A RUNS record whose checksum holds but whose runs do not add up to its count (only a
 * bug or a hand could make one) is damage: skipped like a record that fails its CRC. */
static size_t put_rec(uint8_t *out, uint32_t type, const uint8_t *body, uint32_t len)
{
	uint8_t h[8];
	memcpy(h, &len, 4);
	memcpy(h + 4, &type, 4);
	uint32_t crc = jp_crc32c(jp_crc32c(0, h, 8), body, len);
	memcpy(out, h, 8);
	memcpy(out + 8, &crc, 4);
	memcpy(out + 12, body, len);
	return 12 + len;
}

static uint32_t runs_body(uint8_t *b, int64_t ts, uint32_t count, uint32_t run_n, double v)
{
	memcpy(b, &ts, 8);
	memcpy(b + 8, &count, 4);
	uint32_t first = 1;
	memcpy(b + 12, &first, 4);
	memcpy(b + 16, &run_n, 4);
	for (uint32_t k = 0; k < run_n; k++)
		memcpy(b + 20 + 8 * k, &v, 8);
	return 20 + 8 * run_n;
}

START_TEST(test_runs_bad_body)
{
	uint8_t seg[1024], body[256];
	size_t off = 8;
	memcpy(seg, "JPQSEG01", 8);
	/* SERIES: id 1, {__name__="m", i="0", node="n1"}. */
	uint32_t w[2] = {1, 3};
	size_t p = 0;
	memcpy(body, w, 8);
	p = 8;
	const char *strs[6] = {"__name__", "m", "i", "0", "node", "n1"};
	for (int k = 0; k < 6; k++) {
		uint32_t l = (uint32_t)strlen(strs[k]);
		memcpy(body + p, &l, 4);
		memcpy(body + p + 4, strs[k], l);
		p += 4 + l;
	}
	off += put_rec(seg + off, 1, body, (uint32_t)p);
	off += put_rec(seg + off, 3, body, runs_body(body, 1000, 1, 1, 1000.0));   /* good */
	size_t bad_at = off;
	off += put_rec(seg + off, 3, body, runs_body(body, 2000, 1, 2, 2000.0));   /* runs 2, count 1 */
	off += put_rec(seg + off, 3, body, runs_body(body, 3000, 1, 1, 3000.0));   /* good */
	jp_queue_close(jp_queue_open(qdir, 64 << 20));   /* makes the directory, no segment */
	ck_assert_int_eq(count_segments(), 0);
	write_seg(1, seg, off);

	capture_start();
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	const char *log = capture_stop();
	ck_assert_ptr_nonnull(q);
	char where[64];
	snprintf(where, sizeof(where), "offset %zu", bad_at);
	ck_assert_msg(strstr(log, where) != NULL, "%s", log);
	struct gotlist g = {0};
	read_sorted(q, 10, 1, 2, &g);
	ck_assert_int_eq(g.v[0].ts, 1000);
	ck_assert_double_eq(g.v[0].value, 1000.0);
	ck_assert_int_eq(g.v[1].ts, 3000);
	ck_assert_double_eq(g.v[1].value, 3000.0);
	gl_free(&g);
	jp_queue_close(q);
}
END_TEST

START_TEST(test_torn_tail)
{
	struct tseries *t = make_series(10);
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	for (int r = 1; r <= 10; r++)
		ck_assert_int_eq(append_round(q, t, 10, r), 0);
	jp_queue_close(q);
	const char *seg = nth_segment(0);
	off_t size = file_size(seg);
	/* Cut 5 bytes off the last round. */
	ck_assert_int_eq(truncate(seg, size - 5), 0);

	capture_start();
	q = jp_queue_open(qdir, 64 << 20);
	const char *log = capture_stop();
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(count_lines_with(log, "torn"), 1);
	ck_assert_int_eq(count_lines_with(log, strrchr(seg, '/') + 1), 1);
	char where[64];
	snprintf(where, sizeof(where), "offset %lld", (long long)(size - ROUND10));
	ck_assert_ptr_nonnull(strstr(log, where));
	ck_assert_int_eq(file_size(seg), size - ROUND10);
	struct jp_queue_stats st;
	jp_queue_get_stats(q, &st);
	ck_assert_uint_eq(st.corrupt_cuts, 1);
	ck_assert_uint_eq(st.pending_samples, 90);

	struct gotlist g = {0};
	read_all(q, 1000, 0, &g);
	expect_rounds(&g, 10, 1, 9);
	gl_free(&g);
	/* The queue carries on. */
	ck_assert_int_eq(append_round(q, t, 10, 11), 0);
	read_all(q, 1000, 0, &g);
	expect_rounds(&g, 10, 11, 11);
	gl_free(&g);
	jp_queue_close(q);

	/* Zero-length and header-only leftovers are removed quietly. */
	char p[256];
	snprintf(p, sizeof(p), "%s/0000000000000098.seg", qdir);
	close(open(p, O_CREAT | O_WRONLY, 0644));
	snprintf(p, sizeof(p), "%s/0000000000000099.seg", qdir);
	FILE *f = fopen(p, "w");
	fputs("JPQSEG01", f);
	fclose(f);
	q = jp_queue_open(qdir, 64 << 20);
	ck_assert_uint_eq(pending(q), 100);
	ck_assert_int_eq(count_segments(), 2);
	jp_queue_close(q);
	free(t);
}
END_TEST

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t c;
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

START_TEST(test_corrupt_record)
{
	struct tseries *t = make_series(10);
	/* Two processes: two segments. */
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	for (int r = 1; r <= 10; r++)
		ck_assert_int_eq(append_round(q, t, 10, r), 0);
	jp_queue_close(q);
	q = jp_queue_open(qdir, 64 << 20);
	for (int r = 11; r <= 20; r++)
		ck_assert_int_eq(append_round(q, t, 10, r), 0);
	jp_queue_close(q);
	ck_assert_int_eq(count_segments(), 2);

	/* Segment 1: magic, 10 SERIES records, then rounds of ROUND10 bytes. Flip a value
	 * byte of round 5 in the older segment: the records carry their own length and
	 * checksum, so the scan jumps to round 6 and only round 5 is lost. */
	char seg1[256];
	strcpy(seg1, nth_segment(0));
	off_t size1 = file_size(seg1);
	off_t round5 = size1 - 6 * ROUND10;
	flip_byte(seg1, round5 + 12 + 12 + 8 + 3 * 8 + 2);   /* the fourth sample's value */

	capture_start();
	q = jp_queue_open(qdir, 64 << 20);
	const char *log = capture_stop();
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(count_lines_with(log, "checksum mismatch"), 1);
	char where[128];
	snprintf(where, sizeof(where), "offset %lld: skipped %d bytes to the next valid record at offset %lld",
		 (long long)round5, ROUND10, (long long)round5 + ROUND10);
	ck_assert_ptr_nonnull(strstr(log, where));
	ck_assert_int_eq(file_size(seg1), size1);   /* nothing cut */
	struct jp_queue_stats st;
	jp_queue_get_stats(q, &st);
	ck_assert_uint_eq(st.corrupt_skipped_bytes, ROUND10);
	ck_assert_uint_eq(st.corrupt_skipped_regions, 1);
	ck_assert_uint_eq(st.corrupt_cuts, 0);
	ck_assert_uint_eq(st.pending_samples, 190);
	struct gotlist g = {0};
	read_sorted(q, 1000, 0, 190, &g);
	ck_assert_int_eq(g.v[0].ts, 1000);
	ck_assert_int_eq(g.v[39].ts, 4000);
	ck_assert_int_eq(g.v[40].ts, 6000);
	ck_assert_int_eq(g.v[189].ts, 20000);
	gl_free(&g);
	jp_queue_close(q);

	/* A flipped length in the newest segment's last record: nothing valid follows,
	 * so that is a bad tail and is cut. */
	const char *seg2 = nth_segment(1);
	off_t size2 = file_size(seg2);
	flip_byte(seg2, size2 - ROUND10 + 1);
	capture_start();
	q = jp_queue_open(qdir, 64 << 20);
	log = capture_stop();
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(count_lines_with(log, seg2 + strlen(qdir) + 1), 1);
	ck_assert_uint_eq(pending(q), 180);
	ck_assert_int_eq(file_size(seg2), size2 - ROUND10);
	jp_queue_close(q);

	/* Several damaged records, a damaged series definition among them: the samples
	 * of the lost definition are skipped, everything else is read. */
	q = jp_queue_open(qdir, 64 << 20);
	struct gotlist g2 = {0};
	read_all(q, 1000, 1, &g2);   /* ack all: one fresh segment below */
	gl_free(&g2);
	for (int r = 21; r <= 30; r++)
		ck_assert_int_eq(append_round(q, t, 10, r), 0);
	jp_queue_close(q);
	const char *seg3 = nth_segment(0);
	off_t size3 = file_size(seg3);
	ck_assert_int_eq(count_segments(), 1);
	flip_byte(seg3, size3 - 2 * ROUND10 + 20);      /* round 29 */
	flip_byte(seg3, size3 - 8 * ROUND10 + 20);      /* round 23 */
	q = jp_queue_open(qdir, 64 << 20);
	read_all(q, 7, 1, &g2);
	ck_assert_uint_eq(g2.n, 80);
	gl_free(&g2);
	jp_queue_get_stats(q, &st);
	ck_assert_uint_eq(st.corrupt_skipped_regions, 2);
	ck_assert_uint_eq(st.pending_samples, 0);
	jp_queue_close(q);
	free(t);
}
END_TEST

/* --- I/O errors through the pread seam ------------------------------------------ */

static int seam_fail_after = -1;   /* calls that succeed before the failures start */
static int seam_failures;          /* how many calls fail (then pread again) */
static int seam_errno = EIO;
static int seam_calls;

static ssize_t seam_pread(int fd, void *buf, size_t len, off_t off)
{
	seam_calls++;
	if (seam_fail_after >= 0 && seam_calls > seam_fail_after && seam_failures > 0) {
		seam_failures--;
		errno = seam_errno;
		return -1;
	}
	return pread(fd, buf, len, off);
}

static void seam_arm(int after, int failures, int err)
{
	seam_calls = 0;
	seam_fail_after = after;
	seam_failures = failures;
	seam_errno = err;
	jp_queue_set_pread(seam_pread);
}

static void seam_disarm(void)
{
	seam_fail_after = -1;
	jp_queue_set_pread(NULL);
}

/* One read error at start-up must not delete or cut anything: the segment is read
 * later, before any newer data goes out. err is the injected errno, after the number
 * of reads that succeed first. */
static void check_io_error_at_open(int after, int err)
{
	struct tseries *t = queue_with_rounds(10, 1, 50);
	struct jp_queue *q;
	char seg[512];
	strcpy(seg, nth_segment(0));
	off_t size = file_size(seg);

	/* No ack file yet: the first read is the segment's. */
	seam_arm(after, 1, err);
	capture_start();
	q = jp_queue_open(qdir, 64 << 20);
	const char *log = capture_stop();
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(seam_failures, 0);
	ck_assert_int_eq(count_lines_with(log, "cannot read"), 1);
	ck_assert_int_eq(count_lines_with(log, "removing"), 0);
	ck_assert_int_eq(count_lines_with(log, "cut"), 0);
	ck_assert_int_eq(file_size(seg), size);
	struct jp_queue_stats st;
	jp_queue_get_stats(q, &st);
	ck_assert_uint_eq(st.unreadable_segments, 1);

	/* New rounds go to a new segment; the reader still fails on the old one. */
	ck_assert_int_eq(append_round(q, t, 10, 51), 0);
	struct jp_batch b = {0};
	seam_arm(0, 1, err);
	ck_assert_int_lt(jp_queue_read(q, &b, 1000), 0);
	ck_assert_uint_eq(b.nsamples, 0);
	ck_assert_int_eq(file_size(seg), size);
	seam_disarm();
	jp_batch_free(&b);

	/* The disk answers again: all 510 samples, in order, none lost. */
	struct gotlist g = {0};
	read_all(q, 64, 1, &g);
	expect_rounds(&g, 10, 1, 51);
	gl_free(&g);
	jp_queue_get_stats(q, &st);
	ck_assert_uint_eq(st.unreadable_segments, 0);
	ck_assert_uint_eq(st.pending_samples, 0);
	jp_queue_close(q);
	free(t);
}

START_TEST(test_eio_at_open_magic)
{
	check_io_error_at_open(0, EIO);
}
END_TEST

START_TEST(test_eio_at_open_middle)
{
	/* The scan reads in windows of 256 KiB; make the file larger than one. */
	struct tseries *t = queue_with_rounds(200, 1, 350);
	struct jp_queue *q;
	char seg[512];
	strcpy(seg, nth_segment(0));
	off_t size = file_size(seg);
	ck_assert_int_gt(size, 2 * (256 << 10));
	seam_arm(2, 1, EIO);
	capture_start();
	q = jp_queue_open(qdir, 64 << 20);
	const char *log = capture_stop();
	seam_disarm();
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(count_lines_with(log, "cannot read"), 1);
	ck_assert_int_eq(file_size(seg), size);
	struct gotlist g = {0};
	read_all(q, 5000, 1, &g);
	expect_rounds(&g, 200, 1, 350);
	gl_free(&g);
	jp_queue_close(q);
	free(t);
}
END_TEST

START_TEST(test_enomem_at_open)
{
	check_io_error_at_open(0, ENOMEM);
}
END_TEST

/* An I/O error while reading (not at open) fails that read and skips nothing. */
START_TEST(test_eio_while_reading)
{
	struct tseries *t = queue_with_rounds(10, 1, 20);
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	struct jp_batch b = {0};
	seam_arm(0, 3, EIO);
	ck_assert_int_lt(jp_queue_read(q, &b, 1000), 0);
	seam_disarm();
	jp_batch_free(&b);
	jp_queue_rewind(q);
	struct gotlist g = {0};
	read_all(q, 30, 1, &g);
	expect_rounds(&g, 10, 1, 20);
	gl_free(&g);
	jp_queue_close(q);
	free(t);
}
END_TEST

/* A FIFO or a symbolic link under a segment's name: opening the queue neither blocks
 * nor follows the link, and the thing is left alone. */
START_TEST(test_fifo_segment)
{
	struct tseries *t = queue_with_rounds(5, 1, 3);
	struct jp_queue *q;
	char p[256], target[256];
	snprintf(p, sizeof(p), "%s/0000000000000050.seg", qdir);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	snprintf(target, sizeof(target), "%s/elsewhere", tmpdir);
	FILE *f = fopen(target, "w");
	fputs("JPQSEG01 not ours", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/0000000000000051.seg", qdir);
	ck_assert_int_eq(symlink(target, p), 0);

	snprintf(p, sizeof(p), "%s/ack", qdir);
	ck_assert_int_eq(mkfifo(p, 0600), 0);

	capture_start();
	q = jp_queue_open(qdir, 64 << 20);
	const char *log = capture_stop();
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(count_lines_with(log, "not a regular file"), 3);
	ck_assert_uint_eq(pending(q), 15);
	/* Acks cannot be written to a FIFO: they fail (logged), nothing blocks. */
	capture_start();
	struct jp_batch b = {0};
	ck_assert_int_eq(jp_queue_read(q, &b, 100), 15);
	ck_assert_int_lt(jp_queue_ack(q, &b), 0);
	jp_batch_free(&b);
	capture_stop();
	ck_assert_int_eq(append_round(q, t, 5, 4), 0);
	jp_queue_close(q);
	struct stat st;
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_int_eq((int)st.st_size, 17);
	free(t);
}
END_TEST

START_TEST(test_garbage_files)
{
	struct tseries *t = make_series(5);
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	for (int r = 1; r <= 3; r++)
		ck_assert_int_eq(append_round(q, t, 5, r), 0);
	jp_queue_close(q);

	char p[256];
	/* A segment with a huge length field, one with a bad magic. */
	snprintf(p, sizeof(p), "%s/0000000000000050.seg", qdir);
	FILE *f = fopen(p, "w");
	fwrite("JPQSEG01\xff\xff\xff\x7f\x02\0\0\0\0\0\0\0garbage", 1, 27, f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/0000000000000051.seg", qdir);
	f = fopen(p, "w");
	fputs("hello, world", f);
	fclose(f);
	/* A corrupt ack file. */
	snprintf(p, sizeof(p), "%s/ack", qdir);
	f = fopen(p, "w");
	fputs("JPQACK02 this is not an ack", f);
	fclose(f);

	capture_start();
	q = jp_queue_open(qdir, 64 << 20);
	const char *log = capture_stop();
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(count_lines_with(log, "corrupt ack file"), 1);
	ck_assert_int_eq(count_lines_with(log, "0000000000000050.seg"), 1);
	ck_assert_int_eq(count_lines_with(log, "0000000000000051.seg"), 1);
	ck_assert_uint_eq(pending(q), 15);
	struct gotlist g = {0};
	read_all(q, 4, 1, &g);
	expect_rounds(&g, 5, 1, 3);
	gl_free(&g);
	jp_queue_close(q);
	free(t);
}
END_TEST

START_TEST(test_max_disk_drops)
{
	struct tseries *t = make_series(100);
	const uint64_t max = 512 << 10;   /* segments of 64 KiB */
	struct jp_queue *q = jp_queue_open(qdir, max);
	ck_assert_ptr_nonnull(q);
	/* Read and ack a little first, and keep one batch in flight across the drops. */
	for (int r = 1; r <= 10; r++)
		ck_assert_int_eq(append_round(q, t, 100, r), 0);
	struct jp_batch b = {0}, inflight = {0};
	ck_assert_int_eq(jp_queue_read(q, &b, 250), 250);
	ck_assert_int_eq(jp_queue_ack(q, &b), 0);
	ck_assert_int_eq(jp_queue_read(q, &inflight, 250), 250);

	capture_start();
	int rounds = 10;
	for (; rounds < 600; rounds++)
		ck_assert_int_eq(append_round(q, t, 100, rounds + 1), 0);
	const char *log = capture_stop();
	struct jp_queue_stats st;
	jp_queue_get_stats(q, &st);
	ck_assert_uint_gt(st.dropped_samples, 0);
	ck_assert_uint_le(st.disk_bytes, max);
	ck_assert_uint_eq(st.dropped_samples + st.pending_samples + 250, (uint64_t)rounds * 100);
	ck_assert_int_ge(count_lines_with(log, "dropped"), 1);
	/* Whole segments go: every drop is at least a segment's worth of rounds. */
	ck_assert_uint_eq(st.dropped_samples % 100, 50);

	/* The defs of the in-flight batch are still valid; acking it is harmless. */
	for (size_t k = 0; k < inflight.nseries; k++)
		label_i(inflight.series[k].def);
	ck_assert_int_eq(jp_queue_ack(q, &inflight), 0);
	jp_queue_get_stats(q, &st);
	uint64_t left = st.pending_samples;

	struct gotlist g = {0};
	read_all(q, 1000, 0, &g);
	ck_assert_uint_eq(g.n, left);
	int64_t first = (int64_t)rounds - (int64_t)left / 100 + 1;
	expect_rounds(&g, 100, first, rounds);
	jp_batch_free(&b);
	jp_batch_free(&inflight);
	gl_free(&g);
	jp_queue_close(q);

	/* Pending is the same after a reopen. */
	q = jp_queue_open(qdir, max);
	ck_assert_uint_eq(pending(q), left);
	jp_queue_close(q);
	free(t);
}
END_TEST

START_TEST(test_stale_nan)
{
	struct tseries *t = make_series(2);
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	uint64_t bits[2] = {JP_STALE_NAN_BITS, 0x7ff8000000000001ULL};
	struct jp_round_sample v[2] = {0};
	for (int i = 0; i < 2; i++) {
		v[i].series = &t[i].s;
		memcpy(&v[i].value, &bits[i], 8);
	}
	ck_assert_int_eq(jp_queue_append(q, 1000, v, 2), 0);
	jp_queue_close(q);
	q = jp_queue_open(qdir, 64 << 20);
	struct jp_batch b = {0};
	ck_assert_int_eq(jp_queue_read(q, &b, 10), 2);
	for (size_t k = 0; k < 2; k++) {
		uint64_t got;
		memcpy(&got, &b.samples[b.series[k].first].value, 8);
		ck_assert_uint_eq(got, bits[label_i(b.series[k].def)]);
	}
	jp_batch_free(&b);
	jp_queue_close(q);
	free(t);
}
END_TEST

START_TEST(test_bad_series_skipped)
{
	struct tseries *t = make_series(3);
	t[1].labels[2].value = "";   /* empty values break docs/reference/remote-write.md: never written */
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	ck_assert_int_eq(append_round(q, t, 3, 1), 0);
	ck_assert_uint_eq(pending(q), 2);
	struct gotlist g = {0};
	read_all(q, 10, 1, &g);
	ck_assert_uint_eq(g.n, 2);
	gl_free(&g);
	jp_queue_close(q);
	free(t);
}
END_TEST

/* Body of the read-only test; returns 0 when all went as expected. */
static int readonly_body(void)
{
	struct tseries *t = make_series(3);
	char sub[256];
	snprintf(sub, sizeof(sub), "%s/ro/q", tmpdir);
	char ro[256];
	snprintf(ro, sizeof(ro), "%s/ro", tmpdir);
	if (mkdir(ro, 0555) < 0)
		return 1;
	errno = 0;
	if (jp_queue_open(sub, 1 << 20) != NULL || errno != EACCES)
		return 2;
	struct jp_queue *q = jp_queue_open(qdir, 1 << 20);
	if (!q)
		return 3;
	if (append_round(q, t, 3, 1) != 0)
		return 4;
	if (chmod(qdir, 0555) < 0)
		return 5;
	/* The current segment rotates only when full: force a new one by reopening. */
	jp_queue_close(q);
	q = jp_queue_open(qdir, 1 << 20);
	if (!q)
		return 6;
	int r = append_round(q, t, 3, 2);
	if (r != -EACCES)
		return 7;
	if (pending(q) != 3)
		return 8;
	chmod(qdir, 0755);
	if (append_round(q, t, 3, 3) != 0)
		return 9;
	struct jp_batch b = {0};
	if (jp_queue_read(q, &b, 100) != 6)
		return 10;
	jp_batch_free(&b);
	jp_queue_close(q);
	free(t);
	return 0;
}

START_TEST(test_readonly_dir)
{
	if (geteuid() != 0) {
		ck_assert_int_eq(readonly_body(), 0);
		return;
	}
	/* root ignores permissions: run the body as nobody. */
	chown(tmpdir, 65534, 65534);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(100);
		_exit(readonly_body());
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* A write that fails half way (RLIMIT_FSIZE makes the kernel write part of it and
 * then refuse with EFBIG) must leave the segment as it was. */
START_TEST(test_partial_write)
{
	struct tseries *t = make_series(100);
	signal(SIGXFSZ, SIG_IGN);
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);
	for (int r = 1; r <= 5; r++)
		ck_assert_int_eq(append_round(q, t, 100, r), 0);
	const char *seg = nth_segment(0);
	off_t size = file_size(seg);
	struct rlimit old, lim;
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 100;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	capture_start();
	int r = append_round(q, t, 100, 6);
	const char *log = capture_stop();
	ck_assert_int_eq(r, -EFBIG);
	ck_assert_int_eq(count_lines_with(log, "write failed"), 1);
	ck_assert_int_eq(file_size(seg), size);
	ck_assert_uint_eq(pending(q), 500);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(append_round(q, t, 100, 7), 0);
	struct gotlist g = {0};
	read_all(q, 1000, 0, &g);
	ck_assert_uint_eq(g.n, 600);
	gl_free(&g);
	jp_queue_close(q);

	q = jp_queue_open(qdir, 64 << 20);
	struct jp_queue_stats st;
	jp_queue_get_stats(q, &st);
	ck_assert_uint_eq(st.corrupt_cuts, 0);
	ck_assert_uint_eq(st.pending_samples, 600);
	jp_queue_close(q);
	free(t);
}
END_TEST

/* --- crash test ------------------------------------------------------------------ */

#define CRASH_SERIES 20
#define CRASH_KILLS 6

/* Append rounds base+1, base+2, ... for ever; report "A <round>" after each append
 * and "K <round>" after acking every round up to <round>. */
static void crash_child(int wfd, int64_t base)
{
	struct tseries *t = make_series(CRASH_SERIES);
	struct jp_queue *q = jp_queue_open(qdir, 8 << 20);
	if (!q)
		_exit(1);
	struct jp_batch b = {0};
	char line[64];
	for (int64_t r = base + 1;; r++) {
		if (append_round(q, t, CRASH_SERIES, r) != 0)
			_exit(2);
		int n = snprintf(line, sizeof(line), "A %" PRId64 "\n", r);
		if (write(wfd, line, (size_t)n) != n)
			_exit(3);
		if (r % 5 == 0) {
			/* Batches of whole rounds: every record is one round. */
			int got = jp_queue_read(q, &b, CRASH_SERIES * 3);
			if (got < 0)
				_exit(4);
			if (got == 0)
				continue;
			int64_t maxts = 0;
			for (size_t k = 0; k < b.nsamples; k++)
				if (b.samples[k].ts_ms > maxts)
					maxts = b.samples[k].ts_ms;
			if (jp_queue_ack(q, &b) != 0)
				_exit(5);
			n = snprintf(line, sizeof(line), "K %" PRId64 "\n", maxts / 1000);
			if (write(wfd, line, (size_t)n) != n)
				_exit(6);
		}
	}
}

START_TEST(test_crash)
{
	srand((unsigned)time(NULL));
	int64_t maxa[CRASH_KILLS] = {0}, maxk[CRASH_KILLS] = {0}, mina[CRASH_KILLS];
	for (int k = 0; k < CRASH_KILLS; k++) {
		int pfd[2];
		ck_assert_int_eq(pipe(pfd), 0);
		int64_t base = (int64_t)(k + 1) * 1000000;
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			close(pfd[0]);
			int devnull = open("/dev/null", O_WRONLY);
			dup2(devnull, 2);
			crash_child(pfd[1], base);
		}
		close(pfd[1]);
		struct timespec ts = {0, (20 + rand() % 150) * 1000000L};
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		int status;
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert(WIFSIGNALED(status));
		FILE *f = fdopen(pfd[0], "r");
		char c;
		int64_t r, prev = base;
		mina[k] = 0;
		while (fscanf(f, " %c %" SCNd64, &c, &r) == 2) {
			if (c == 'A') {
				ck_assert_int_eq(r, prev + 1);
				prev = r;
				maxa[k] = r;
				if (!mina[k])
					mina[k] = r;
			} else {
				maxk[k] = r;
			}
		}
		fclose(f);
		ck_assert_int_gt(maxa[k], base);
	}

	struct jp_queue *q = jp_queue_open(qdir, 8 << 20);
	ck_assert_ptr_nonnull(q);
	struct jp_queue_stats st;
	jp_queue_get_stats(q, &st);
	ck_assert_uint_eq(st.dropped_samples, 0);
	struct gotlist g = {0};
	read_all(q, 1000, 0, &g);
	jp_queue_close(q);

	/* Reading order: rounds in order, each complete and exactly once. */
	int64_t *seen = calloc(g.n / CRASH_SERIES + 1, sizeof(*seen));
	size_t nseen = 0;
	for (size_t k = 0; k < g.n; k++) {
		int64_t round = g.v[k].ts / 1000;
		ck_assert(g.v[k].value == val(round, g.v[k].i));
	}
	qsort(g.v, g.n, sizeof(*g.v), cmp_got);
	ck_assert_uint_eq(g.n % CRASH_SERIES, 0);
	for (size_t k = 0; k < g.n; k += CRASH_SERIES) {
		for (int i = 0; i < CRASH_SERIES; i++) {
			ck_assert_int_eq(g.v[k + (size_t)i].ts, g.v[k].ts);
			ck_assert_int_eq(g.v[k + (size_t)i].i, i);
		}
		seen[nseen++] = g.v[k].ts / 1000;
	}
	/* Acks are in queue order, and the queue is in round order: nothing at or below
	 * the highest reported ack may remain. Every round reported as appended after
	 * the first one still queued must be there. Before it, only the rounds of one
	 * ack that the child made durable but was killed before reporting may be gone. */
	int64_t acked = 0;
	for (int k = 0; k < CRASH_KILLS; k++)
		if (maxk[k] > acked)
			acked = maxk[k];
	int64_t first = nseen ? seen[0] : INT64_MAX;
	ck_assert_int_gt(first, acked);
	size_t j = 0;
	int64_t unexplained = 0;
	for (int k = 0; k < CRASH_KILLS; k++) {
		for (int64_t r = mina[k]; r && r <= maxa[k]; r++) {
			if (r <= acked)
				continue;
			if (r < first) {
				unexplained++;
				continue;
			}
			ck_assert_uint_lt(j, nseen);
			ck_assert_int_eq(seen[j], r);
			j++;
		}
		/* The round after the last reported one may have made it to disk. */
		if (j < nseen && seen[j] == maxa[k] + 1)
			j++;
	}
	ck_assert_uint_gt(nseen, 0);
	ck_assert_uint_eq(j, nseen);
	ck_assert_int_le(unexplained, 3);
	free(seen);
	gl_free(&g);
}
END_TEST


/* --- recovery cuts through the scanned descriptor (docs/reference/remote-write.md) --- */

static char victim[256];
static int swap_fifo;    /* 1: a FIFO takes the segment's name; 0: a link to the victim */

/* Between the scan and the cut, whoever owns the queue directory swaps the segment's
 * name for a link to a file of root's, or for a FIFO. */
static void swap_hook(int dirfd, const char *name)
{
	char moved[64];
	snprintf(moved, sizeof(moved), "%s.moved", name);
	ck_assert_int_eq(renameat(dirfd, name, dirfd, moved), 0);
	if (swap_fifo)
		ck_assert_int_eq(mkfifoat(dirfd, name, 0600), 0);
	else
		ck_assert_int_eq(symlinkat(victim, dirfd, name), 0);
}

static void check_cut_swap(int fifo)
{
	struct tseries *t = queue_with_rounds(10, 1, 10);
	const char *seg = nth_segment(0);
	char moved[600];
	snprintf(moved, sizeof(moved), "%s.moved", seg);
	off_t size = file_size(seg);
	ck_assert_int_eq(truncate(seg, size - 5), 0);     /* a torn last round */
	snprintf(victim, sizeof(victim), "%s/victim", tmpdir);
	FILE *f = fopen(victim, "w");
	for (int i = 0; i < 100; i++)
		fputs("0123456789", f);
	fclose(f);
	swap_fifo = fifo;
	jp_queue_set_cut_hook(swap_hook);
	capture_start();
	struct jp_queue *q = jp_queue_open(qdir, 64 << 20);   /* the old code hung here on a FIFO */
	capture_stop();
	jp_queue_set_cut_hook(NULL);
	ck_assert_ptr_nonnull(q);
	jp_queue_close(q);
	/* The file behind the link is untouched (it was cut to 8 bytes before); the cut
	 * went to the segment that was scanned, wherever its name went. */
	ck_assert_int_eq((int)file_size(victim), 1000);
	ck_assert_int_eq((int)file_size(moved), (int)(size - ROUND10));
	free(t);
}

START_TEST(test_cut_swapped_for_link)
{
	check_cut_swap(0);
}
END_TEST

START_TEST(test_cut_swapped_for_fifo)
{
	check_cut_swap(1);
}
END_TEST

/* --- the queue directory is walked without following links (util/safedir.h) ----------- */

START_TEST(test_dir_link_refused)
{
	/* queue.dir under a world-writable parent, where another user planted a link. */
	char ww[256], target[256], link[300], dir[320];
	snprintf(ww, sizeof(ww), "%s/ww", tmpdir);
	ck_assert_int_eq(mkdir(ww, 0777), 0);
	ck_assert_int_eq(chmod(ww, 01777), 0);
	snprintf(target, sizeof(target), "%s/target", tmpdir);
	ck_assert_int_eq(mkdir(target, 0700), 0);
	snprintf(link, sizeof(link), "%s/q", ww);
	ck_assert_int_eq(symlink(target, link), 0);
	snprintf(dir, sizeof(dir), "%s/default", link);
	capture_start();
	struct jp_queue *q = jp_queue_open(dir, 1 << 20);
	const char *log = capture_stop();
	ck_assert_ptr_null(q);
	ck_assert_ptr_nonnull(strstr(log, "is a symbolic link"));
	ck_assert_ptr_nonnull(strstr(log, link));
	/* Nothing was made behind the link. */
	char behind[320];
	snprintf(behind, sizeof(behind), "%s/default", target);
	ck_assert_int_ne(access(behind, F_OK), 0);
}
END_TEST

START_TEST(test_dir_owner_and_mode)
{
	char dir[256], why[256];
	snprintf(dir, sizeof(dir), "%s/owned", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	int fd = jp_safedir_open(dir, 0, 0755, (uid_t)-1, why, sizeof(why));
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* Writable by others: refused, naming the path and the mode. */
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(jp_safedir_open(dir, 0, 0755, (uid_t)-1, why, sizeof(why)), -EPERM);
	ck_assert_ptr_nonnull(strstr(why, "writable by group or others"));
	ck_assert_ptr_nonnull(strstr(why, dir));
	ck_assert_int_eq(chmod(dir, 0700), 0);
	if (geteuid() != 0)
		return;
	/* Owned by someone else than root, us or the agent's user: refused. */
	ck_assert_int_eq(chown(dir, 4242, 4242), 0);
	ck_assert_int_eq(jp_safedir_open(dir, 0, 0755, (uid_t)-1, why, sizeof(why)), -EPERM);
	ck_assert_ptr_nonnull(strstr(why, "owned by uid 4242"));
	fd = jp_safedir_open(dir, 0, 0755, 4242, why, sizeof(why));
	ck_assert_int_ge(fd, 0);
	close(fd);
	/* A file where a component should be, and "..". */
	char file[300];
	snprintf(file, sizeof(file), "%s/f", tmpdir);
	close(open(file, O_CREAT | O_WRONLY, 0600));
	snprintf(dir, sizeof(dir), "%s/f/q", tmpdir);
	ck_assert_int_eq(jp_safedir_open(dir, 1, 0755, (uid_t)-1, why, sizeof(why)), -ENOTDIR);
	snprintf(dir, sizeof(dir), "%s/../x", tmpdir);
	ck_assert_int_eq(jp_safedir_open(dir, 1, 0755, (uid_t)-1, why, sizeof(why)), -EINVAL);
}
END_TEST

/* Handing the directory to the user changes regular files with one link only: a link or
 * a hard link to root's files stays root's. */
START_TEST(test_chown_regular_files_only)
{
	if (geteuid() != 0)
		return;
	char dir[256], p[320], secret[256], linked[256];
	snprintf(dir, sizeof(dir), "%s/own", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(secret, sizeof(secret), "%s/secret", tmpdir);
	close(open(secret, O_CREAT | O_WRONLY, 0600));
	snprintf(linked, sizeof(linked), "%s/linked", tmpdir);
	close(open(linked, O_CREAT | O_WRONLY, 0600));
	snprintf(p, sizeof(p), "%s/seg", dir);
	close(open(p, O_CREAT | O_WRONLY, 0600));
	snprintf(p, sizeof(p), "%s/sym", dir);
	ck_assert_int_eq(symlink(secret, p), 0);
	snprintf(p, sizeof(p), "%s/hard", dir);
	ck_assert_int_eq(link(linked, p), 0);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	char why[256];
	int fd = jp_safedir_open(dir, 0, 0755, (uid_t)-1, why, sizeof(why));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(jp_safedir_chown(fd, 65534, 65534), 0);
	close(fd);
	struct stat st;
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_uint_eq(st.st_uid, 65534);
	snprintf(p, sizeof(p), "%s/seg", dir);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, 65534);
	ck_assert_int_eq(stat(secret, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	ck_assert_int_eq(stat(linked, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	snprintf(p, sizeof(p), "%s/sym", dir);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
	snprintf(p, sizeof(p), "%s/fifo", dir);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_uid, 0);
}
END_TEST

static Suite *queue_suite(void)
{
	Suite *s = suite_create("queue");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_undefined_ids_only);
	tcase_add_test(tc, test_batch_limits);
	tcase_add_test(tc, test_rotation);
	tcase_add_test(tc, test_reopen_after_ack);
	tcase_add_test(tc, test_reopen_without_ack);
	tcase_add_test(tc, test_torn_ack_slot);
	tcase_add_test(tc, test_torn_tail);
	tcase_add_test(tc, test_runs_of_ids);
	tcase_add_test(tc, test_ids_out_of_order);
	tcase_add_test(tc, test_runs_bad_body);
	tcase_add_test(tc, test_corrupt_record);
	tcase_add_test(tc, test_garbage_files);
	tcase_add_test(tc, test_max_disk_drops);
	tcase_add_test(tc, test_stale_nan);
	tcase_add_test(tc, test_bad_series_skipped);
	tcase_add_test(tc, test_readonly_dir);
	tcase_add_test(tc, test_partial_write);
	tcase_add_test(tc, test_crash);
	tcase_add_test(tc, test_eio_at_open_magic);
	tcase_add_test(tc, test_eio_at_open_middle);
	tcase_add_test(tc, test_enomem_at_open);
	tcase_add_test(tc, test_eio_while_reading);
	tcase_add_test(tc, test_fifo_segment);
	tcase_add_test(tc, test_cut_swapped_for_link);
	tcase_add_test(tc, test_cut_swapped_for_fifo);
	tcase_add_test(tc, test_dir_link_refused);
	tcase_add_test(tc, test_dir_owner_and_mode);
	tcase_add_test(tc, test_chown_regular_files_only);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(queue_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
