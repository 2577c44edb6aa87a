/* SPDX-License-Identifier: Apache-2.0 */
/* Round-trip tests of the remote-write encoders: encode, snappy-uncompress, unpack, compare. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

#include "remote.pb-c.h"
#include "types.pb-c.h"
#include "write_v2.pb-c.h"

#include "metrics.h"
#include "remote/encode.h"

#define STALE_BITS 0x7ff0000000000002ULL

static double from_bits(uint64_t bits)
{
	double v;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

static uint64_t to_bits(double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	return bits;
}

/* ---- building batches by hand ---------------------------------------------------- */

struct fixture {
	struct jp_batch b;
	struct jp_series_def *defs;
	size_t ndefs;
	char **strings;           /* every string the labels point to */
	size_t nstrings;
};

static char *keep(struct fixture *f, char *s)
{
	f->strings = realloc(f->strings, (f->nstrings + 1) * sizeof(*f->strings));
	ck_assert_ptr_nonnull(f->strings);
	f->strings[f->nstrings++] = s;
	return s;
}

static char *keepf(struct fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *keepf(struct fixture *f, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&s, fmt, ap), 0);
	va_end(ap);
	return keep(f, s);
}

static void fixture_init(struct fixture *f, size_t nseries, size_t nsamples)
{
	memset(f, 0, sizeof(*f));
	f->defs = calloc(nseries ? nseries : 1, sizeof(*f->defs));
	f->b.series = calloc(nseries ? nseries : 1, sizeof(*f->b.series));
	f->b.samples = calloc(nsamples ? nsamples : 1, sizeof(*f->b.samples));
	ck_assert(f->defs && f->b.series && f->b.samples);
	f->b.cap_series = nseries;
	f->b.cap_samples = nsamples;
}

/* Add a series with labels given as name, value, ..., NULL (already sorted). */
static struct jp_series_def *fixture_def(struct fixture *f, uint32_t nlabels, const char *const *kv)
{
	struct jp_series_def *d = &f->defs[f->ndefs++];
	d->nlabels = nlabels;
	d->labels = calloc(nlabels ? nlabels : 1, sizeof(*d->labels));
	ck_assert_ptr_nonnull(d->labels);
	for (uint32_t i = 0; i < nlabels; i++) {
		d->labels[i].name = kv[2 * i];
		d->labels[i].value = kv[2 * i + 1];
	}
	return d;
}

static void fixture_series(struct fixture *f, struct jp_series_def *d, const struct jp_sample *s,
			   uint32_t count)
{
	ck_assert_uint_le(f->b.nseries + 1, f->b.cap_series);
	ck_assert_uint_le(f->b.nsamples + count, f->b.cap_samples);
	f->b.series[f->b.nseries++] = (struct jp_batch_series){ d, (uint32_t)f->b.nsamples, count };
	memcpy(f->b.samples + f->b.nsamples, s, count * sizeof(*s));
	f->b.nsamples += count;
}

static void fixture_free(struct fixture *f)
{
	for (size_t i = 0; i < f->ndefs; i++) {
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

/* A pod-like series: 8 labels, sorted. */
static struct jp_series_def *pod_def(struct fixture *f, size_t i)
{
	const char *kv[16] = {
		"__name__", "joulepush_pod_energy_joules_total",
		"cluster", "edge-7",
		"mode", (i & 1) ? "idle" : "active",
		"namespace", keepf(f, "ns-%zu", i % 13),
		"node", "worker-3",
		"pod", keepf(f, "app-%zu-7d9f8c6b5-x2k4q", i / 4),
		"pod_uid", keepf(f, "6f1c2a3b-%04zx-4e5f-8a9b-0c1d2e3f4a5b", i / 4),
		"zone", (i & 2) ? "dram" : "package",
	};
	return fixture_def(f, 8, kv);
}

/* ---- decoding and comparing ------------------------------------------------------ */

static uint8_t *uncompress(const struct jp_buf *c, size_t *len)
{
	ck_assert_int_eq(snappy_uncompressed_length((const char *)c->data, c->len, len), SNAPPY_OK);
	uint8_t *raw = malloc(*len ? *len : 1);
	ck_assert_ptr_nonnull(raw);
	ck_assert_int_eq(snappy_uncompress((const char *)c->data, c->len, (char *)raw, len), SNAPPY_OK);
	return raw;
}

static void assert_sample(const struct jp_sample *want, int64_t ts, double value)
{
	ck_assert_int_eq(ts, want->ts_ms);
	ck_assert_uint_eq(to_bits(value), to_bits(want->value));
}

static void check_v1(const struct jp_batch *b, const struct jp_buf *compressed)
{
	size_t len;
	uint8_t *raw = uncompress(compressed, &len);
	Prometheus__WriteRequest *wr = prometheus__write_request__unpack(NULL, len, raw);
	ck_assert_ptr_nonnull(wr);
	ck_assert_uint_eq(wr->n_timeseries, b->nseries);
	for (size_t i = 0; i < b->nseries; i++) {
		const struct jp_batch_series *s = &b->series[i];
		const Prometheus__TimeSeries *ts = wr->timeseries[i];
		ck_assert_uint_eq(ts->n_labels, s->def->nlabels);
		for (size_t k = 0; k < ts->n_labels; k++) {
			ck_assert_str_eq(ts->labels[k]->name, s->def->labels[k].name);
			ck_assert_str_eq(ts->labels[k]->value, s->def->labels[k].value);
		}
		ck_assert_uint_eq(ts->n_samples, s->count);
		for (size_t k = 0; k < ts->n_samples; k++)
			assert_sample(&b->samples[s->first + k], ts->samples[k]->timestamp,
				      ts->samples[k]->value);
	}
	prometheus__write_request__free_unpacked(wr, NULL);
	free(raw);
}

static void check_v2(const struct jp_batch *b, const struct jp_buf *compressed)
{
	size_t len;
	uint8_t *raw = uncompress(compressed, &len);
	Io__Prometheus__Write__V2__Request *rq = io__prometheus__write__v2__request__unpack(NULL, len, raw);
	ck_assert_ptr_nonnull(rq);
	ck_assert_uint_ge(rq->n_symbols, 1);
	ck_assert_str_eq(rq->symbols[0], "");
	/* Symbols are unique: each string appears once. */
	for (size_t k = 1; k < rq->n_symbols && rq->n_symbols < 200; k++)
		for (size_t j = 0; j < k; j++)
			ck_assert_str_ne(rq->symbols[j], rq->symbols[k]);
	ck_assert_uint_eq(rq->n_timeseries, b->nseries);
	for (size_t i = 0; i < b->nseries; i++) {
		const struct jp_batch_series *s = &b->series[i];
		const Io__Prometheus__Write__V2__TimeSeries *ts = rq->timeseries[i];
		ck_assert_uint_eq(ts->n_labels_refs, 2 * (size_t)s->def->nlabels);
		for (size_t k = 0; k < s->def->nlabels; k++) {
			uint32_t nr = ts->labels_refs[2 * k], vr = ts->labels_refs[2 * k + 1];
			ck_assert_uint_gt(nr, 0);
			ck_assert_uint_gt(vr, 0);
			ck_assert_uint_lt(nr, rq->n_symbols);
			ck_assert_uint_lt(vr, rq->n_symbols);
			ck_assert_str_eq(rq->symbols[nr], s->def->labels[k].name);
			ck_assert_str_eq(rq->symbols[vr], s->def->labels[k].value);
		}
		ck_assert_uint_eq(ts->n_samples, s->count);
		for (size_t k = 0; k < ts->n_samples; k++)
			assert_sample(&b->samples[s->first + k], ts->samples[k]->timestamp,
				      ts->samples[k]->value);
		/* Metadata: the metric table's type, help and unit (RW 2.0); a name the table
		 * does not know is a counter when it ends in _total, else a gauge. */
		const char *name = NULL;
		for (size_t k = 0; k < s->def->nlabels; k++)
			if (!strcmp(s->def->labels[k].name, "__name__"))
				name = s->def->labels[k].value;
		const struct jp_metric_def *m = jp_metric_find(name);
		size_t nl = strlen(name);
		int counter = m ? m->type == JP_COUNTER : nl > 6 && !strcmp(name + nl - 6, "_total");
		ck_assert_ptr_nonnull(ts->metadata);
		ck_assert_int_eq(ts->metadata->type, counter ? IO__PROMETHEUS__WRITE__V2__METADATA__METRIC_TYPE__METRIC_TYPE_COUNTER
							     : IO__PROMETHEUS__WRITE__V2__METADATA__METRIC_TYPE__METRIC_TYPE_GAUGE);
		ck_assert_uint_lt(ts->metadata->help_ref, rq->n_symbols);
		ck_assert_uint_lt(ts->metadata->unit_ref, rq->n_symbols);
		ck_assert_str_eq(rq->symbols[ts->metadata->help_ref], m ? m->help : "");
		ck_assert_str_eq(rq->symbols[ts->metadata->unit_ref], m ? jp_metric_unit_word(m) : "");
		/* Counters carry when they began counting, on every sample (2.0-rc.4's
		 * Sample.start_timestamp) and on the series (the older created_timestamp);
		 * gauges never. */
		int64_t want_start = counter && s->def->start_ms > 0 ? s->def->start_ms : 0;
		ck_assert_int_eq(ts->created_timestamp, want_start);
		for (size_t k = 0; k < ts->n_samples; k++)
			ck_assert_int_eq(ts->samples[k]->start_timestamp, want_start);
	}
	io__prometheus__write__v2__request__free_unpacked(rq, NULL);
	free(raw);
}

static void check_both(const struct jp_batch *b)
{
	struct jp_buf out = { 0 };
	ck_assert_int_eq(jp_encode_v1(b, &out), 0);
	check_v1(b, &out);
	ck_assert_int_eq(jp_encode_v2(b, &out), 0);
	check_v2(b, &out);
	jp_buf_free(&out);
}

/* ---- tests ----------------------------------------------------------------------- */

START_TEST(test_round_trip_pods)
{
	struct fixture f;
	fixture_init(&f, 100, 100);
	for (size_t i = 0; i < 100; i++) {
		struct jp_sample s = { 1700000000000 + (int64_t)i, (double)i * 1.25 };
		fixture_series(&f, pod_def(&f, i), &s, 1);
	}
	check_both(&f.b);
	fixture_free(&f);
}
END_TEST

/* Every kind of metadata in one request: counters and gauges of the table with their
 * units, a table metric without a unit, names the table does not know. */
START_TEST(test_metadata)
{
	static const char *const names[] = {
		"joulepush_node_energy_joules_total", "joulepush_node_power_watts",
		"joulepush_grid_carbon_intensity_grams_per_kwh", "joulepush_collections_total",
		"kepler_node_cpu_watts", "custom_thing_total", "custom_gauge", "x_total_not",
	};
	struct fixture f;
	fixture_init(&f, 8, 8);
	for (size_t i = 0; i < 8; i++) {
		const char *kv[] = {"__name__", names[i], "node", "n1"};
		struct jp_sample s = {1700000000000, 1.0};
		struct jp_series_def *d = fixture_def(&f, 2, kv);
		d->start_ms = i % 3 ? 1699999990000 + (int64_t)i : 0;   /* some with a start, some without */
		fixture_series(&f, d, &s, 1);
	}
	check_both(&f.b);
	/* The units as words, spot-checked against the table's symbols. */
	ck_assert_str_eq(jp_metric_unit_word(jp_metric_find("joulepush_node_power_watts")), "watts");
	ck_assert_str_eq(jp_metric_unit_word(jp_metric_find("joulepush_pod_co2_grams_total")), "grams");
	ck_assert_str_eq(jp_metric_unit_word(jp_metric_find("joulepush_collections_total")), "");
	/* Twice more: the cached help and unit refs of the next requests are right too. */
	check_both(&f.b);
	check_both(&f.b);
	fixture_free(&f);
}
END_TEST

START_TEST(test_samples_in_order)
{
	struct fixture f;
	fixture_init(&f, 3, 30);
	for (size_t i = 0; i < 3; i++) {
		struct jp_sample s[10];
		for (int k = 0; k < 10; k++)
			s[k] = (struct jp_sample){ 1000 * (k + 1) + (int64_t)i, k * 0.5 - 2 };
		fixture_series(&f, pod_def(&f, i), s, 10);
	}
	check_both(&f.b);
	fixture_free(&f);
}
END_TEST

START_TEST(test_special_values)
{
	/* Stale marker, other NaNs, infinities, -0.0 and 0.0, time 0 and before 1970: every
	 * value must come back bit for bit. */
	static const uint64_t bits[] = {
		STALE_BITS, 0x7ff8000000000000ULL, 0xfff8000000000001ULL, 0x7ff0000000000000ULL,
		0xfff0000000000000ULL, 0x8000000000000000ULL, 0, 0x0000000000000001ULL,
	};
	const size_t n = sizeof(bits) / sizeof(bits[0]);
	struct fixture f;
	fixture_init(&f, 1, n);
	struct jp_sample s[sizeof(bits) / sizeof(bits[0])];
	for (size_t k = 0; k < n; k++)
		s[k] = (struct jp_sample){ (int64_t)k * 1000 - 2000, from_bits(bits[k]) };
	const char *kv[] = { "__name__", "up" };
	fixture_series(&f, fixture_def(&f, 1, kv), s, (uint32_t)n);
	check_both(&f.b);

	/* And the stale marker's bytes are literally in the raw body. */
	struct jp_buf raw = { 0 };
	ck_assert_int_eq(jp_encode_v1_raw(&f.b, &raw), 0);
	const uint8_t want[] = { 0x09, 0x02, 0, 0, 0, 0, 0, 0xf0, 0x7f };
	ck_assert_ptr_nonnull(memmem(raw.data, raw.len, want, sizeof(want)));
	ck_assert_int_eq(jp_encode_v2_raw(&f.b, &raw), 0);
	ck_assert_ptr_nonnull(memmem(raw.data, raw.len, want, sizeof(want)));
	jp_buf_free(&raw);
	fixture_free(&f);
}
END_TEST

START_TEST(test_extreme_timestamps)
{
	struct fixture f;
	fixture_init(&f, 1, 4);
	struct jp_sample s[] = {
		{ INT64_MIN, 1 }, { -1, 2 }, { 1, 3 }, { INT64_MAX, 4 },
	};
	const char *kv[] = { "__name__", "m", "a\xff", "\x01" };
	/* Bytewise order: "__name__" (0x5f) < "a\xff" (0x61). */
	fixture_series(&f, fixture_def(&f, 2, kv), s, 4);
	check_both(&f.b);
	fixture_free(&f);
}
END_TEST

START_TEST(test_empty_batch)
{
	struct fixture f;
	fixture_init(&f, 0, 0);
	struct jp_buf out = { 0 }, raw = { 0 };
	ck_assert_int_eq(jp_encode_v1_raw(&f.b, &raw), 0);
	ck_assert_uint_eq(raw.len, 0);
	ck_assert_int_eq(jp_encode_v2_raw(&f.b, &raw), 0);
	ck_assert_uint_eq(raw.len, 2);   /* symbols = [""] */
	check_both(&f.b);
	jp_buf_free(&out);
	jp_buf_free(&raw);
	fixture_free(&f);
}
END_TEST

START_TEST(test_cache_reuse)
{
	struct fixture f;
	fixture_init(&f, 50, 50);
	for (size_t i = 0; i < 50; i++) {
		struct jp_sample s = { 5000, 42.0 + (double)i };
		fixture_series(&f, pod_def(&f, i), &s, 1);
	}
	for (size_t i = 0; i < 50; i++)
		ck_assert_ptr_null(f.defs[i].enc);

	struct jp_buf a = { 0 }, b = { 0 };
	ck_assert_int_eq(jp_encode_v1(&f.b, &a), 0);
	uint8_t *enc0 = f.defs[0].enc;
	ck_assert_ptr_nonnull(enc0);
	ck_assert_uint_gt(f.defs[0].enc_len, 0);
	/* The second call uses the cache (same pointer) and yields the same bytes. */
	ck_assert_int_eq(jp_encode_v1(&f.b, &b), 0);
	ck_assert_ptr_eq(f.defs[0].enc, enc0);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_mem_eq(a.data, b.data, a.len);

	/* v2 is deterministic too, also after a v1 call in between. */
	ck_assert_int_eq(jp_encode_v2(&f.b, &a), 0);
	ck_assert_int_eq(jp_encode_v1(&f.b, &b), 0);
	ck_assert_int_eq(jp_encode_v2(&f.b, &b), 0);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_mem_eq(a.data, b.data, a.len);

	/* A smaller batch after a big one: nothing from the previous request leaks in. */
	struct jp_batch small = f.b;
	small.nseries = 2;
	small.nsamples = 2;
	check_both(&small);
	check_both(&f.b);

	jp_buf_free(&a);
	jp_buf_free(&b);
	fixture_free(&f);
}
END_TEST

START_TEST(test_large_label_value)
{
	struct fixture f;
	fixture_init(&f, 2, 2);
	size_t n = 64 * 1024;
	char *big = keep(&f, malloc(n + 1));
	for (size_t i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	big[n] = 0;
	const char *kv1[] = { "__name__", "big", "blob", big };
	const char *kv2[] = { "__name__", "big", "blob", big, "other", "x" };
	struct jp_sample s = { 1, 2 };
	fixture_series(&f, fixture_def(&f, 2, kv1), &s, 1);
	fixture_series(&f, fixture_def(&f, 3, kv2), &s, 1);
	check_both(&f.b);
	fixture_free(&f);
}
END_TEST

START_TEST(test_many_series)
{
	const size_t n = 10000;
	struct fixture f;
	fixture_init(&f, n, 2 * n);
	for (size_t i = 0; i < n; i++) {
		struct jp_sample s[2] = { { 1000, (double)i }, { 2000, from_bits(STALE_BITS) } };
		fixture_series(&f, pod_def(&f, i), s, 2);
	}
	check_both(&f.b);
	/* Again, now from the cache and with tables already sized. */
	check_both(&f.b);
	/* A small request, then the big one again: the RW 2.0 dictionary is now far
	 * larger than what the last request used, so it starts a new epoch and every
	 * series is interned afresh. */
	struct jp_batch small = f.b;
	small.nseries = 3;
	small.nsamples = 6;
	check_both(&small);
	check_both(&f.b);
	check_both(&small);
	fixture_free(&f);
}
END_TEST

START_TEST(test_many_labels)
{
	/* More labels than def_cache keeps on its stack. */
	const uint32_t nl = 100;
	struct fixture f;
	fixture_init(&f, 1, 1);
	const char **kv = calloc(2 * nl, sizeof(*kv));
	ck_assert_ptr_nonnull(kv);
	kv[0] = "__name__";
	kv[1] = "wide";
	for (uint32_t i = 1; i < nl; i++) {
		kv[2 * i] = keepf(&f, "l%03u", i);
		kv[2 * i + 1] = keepf(&f, "v%u", i % 7);
	}
	struct jp_sample s = { 7, 7 };
	fixture_series(&f, fixture_def(&f, nl, kv), &s, 1);
	check_both(&f.b);
	free(kv);
	fixture_free(&f);
}
END_TEST

/* Invalid label sets are a bug upstream: an assertion in debug builds, -EINVAL
 * otherwise; never sent, never silently skipped. */
static void encode_invalid(const char *const *kv, uint32_t nl)
{
	struct fixture f;
	fixture_init(&f, 1, 1);
	struct jp_sample s = { 1, 1 };
	fixture_series(&f, fixture_def(&f, nl, kv), &s, 1);
	struct jp_buf out = { 0 };
	ck_assert_int_eq(jp_encode_v1(&f.b, &out), -EINVAL);
	ck_assert_int_eq(jp_encode_v2(&f.b, &out), -EINVAL);
	ck_assert_ptr_null(f.defs[0].enc);
	jp_buf_free(&out);
	fixture_free(&f);
}

START_TEST(test_invalid_unsorted)
{
	const char *kv[] = { "__name__", "m", "b", "1", "a", "2" };
	encode_invalid(kv, 3);
}
END_TEST

START_TEST(test_invalid_duplicate)
{
	const char *kv[] = { "__name__", "m", "a", "1", "a", "2" };
	encode_invalid(kv, 3);
}
END_TEST

START_TEST(test_invalid_empty_value)
{
	const char *kv[] = { "__name__", "m", "a", "" };
	encode_invalid(kv, 2);
}
END_TEST

START_TEST(test_invalid_no_name)
{
	const char *kv[] = { "a", "1" };
	encode_invalid(kv, 1);
}
END_TEST

static Suite *encode_suite(void)
{
	Suite *s = suite_create("encode");
	TCase *tc = tcase_create("round trip");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip_pods);
	tcase_add_test(tc, test_metadata);
	tcase_add_test(tc, test_samples_in_order);
	tcase_add_test(tc, test_special_values);
	tcase_add_test(tc, test_extreme_timestamps);
	tcase_add_test(tc, test_empty_batch);
	tcase_add_test(tc, test_cache_reuse);
	tcase_add_test(tc, test_large_label_value);
	tcase_add_test(tc, test_many_series);
	tcase_add_test(tc, test_many_labels);
	suite_add_tcase(s, tc);

	TCase *inv = tcase_create("invalid labels");
#ifdef NDEBUG
	tcase_add_test(inv, test_invalid_unsorted);
	tcase_add_test(inv, test_invalid_duplicate);
	tcase_add_test(inv, test_invalid_empty_value);
	tcase_add_test(inv, test_invalid_no_name);
#else
	tcase_add_test_raise_signal(inv, test_invalid_unsorted, SIGABRT);
	tcase_add_test_raise_signal(inv, test_invalid_duplicate, SIGABRT);
	tcase_add_test_raise_signal(inv, test_invalid_empty_value, SIGABRT);
	tcase_add_test_raise_signal(inv, test_invalid_no_name, SIGABRT);
#endif
	suite_add_tcase(s, inv);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(encode_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
