/* SPDX-License-Identifier: Apache-2.0 */
/* The forecast arithmetic (carbon/forecast.c): normalising what sources send, values at a
 * time, means, the rank, and the greenest-window search against a brute-force reference
 * on thousands of random forecasts with uneven point lengths, gaps and ties. */
#include <check.h>
#include <unistd.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carbon/forecast.h"
#include "carbon/electricitymaps.h"
#include "carbon/entsoe.h"
#include "carbon/factors.h"
#include "carbon/ukci.h"

#define FIX JP_SRCDIR "/tests/fixtures/carbon/"

#define MIN 60000LL
#define HOUR (60 * MIN)

START_TEST(test_normalize)
{
	struct jp_forecast f = {0};
	jp_forecast_add(&f, 2 * HOUR, 3 * HOUR, 200);
	jp_forecast_add(&f, 0, HOUR, 100);
	jp_forecast_add(&f, HOUR, 2 * HOUR + 10 * MIN, 150);   /* overlaps the next: cut */
	jp_forecast_add(&f, 3 * HOUR, 4 * HOUR, NAN);           /* dropped */
	jp_forecast_add(&f, 4 * HOUR, 5 * HOUR, -1);            /* dropped */
	jp_forecast_add(&f, 5 * HOUR, 5 * HOUR, 10);            /* empty: dropped */
	jp_forecast_add(&f, 0, HOUR, 110);                      /* same start, later: wins */
	size_t dropped = 0;
	ck_assert_int_eq(jp_forecast_normalize(&f, &dropped), 0);
	ck_assert_uint_eq(dropped, 4);
	ck_assert_uint_eq(f.n, 3);
	ck_assert_double_eq(f.v[0].g_per_kwh, 110);
	ck_assert_int_eq(f.v[1].end_ms, 2 * HOUR);
	double g;
	ck_assert_int_eq(jp_forecast_at(&f, 90 * MIN, &g), 0);
	ck_assert_double_eq(g, 150);
	ck_assert_int_eq(jp_forecast_at(&f, 3 * HOUR, &g), -ENODATA);   /* after the end */
	ck_assert_int_eq(jp_forecast_at(&f, -1, &g), -ENODATA);
	double m;
	ck_assert_int_eq(jp_forecast_mean(&f, 30 * MIN, 150 * MIN, &m), 0);
	ck_assert_double_eq_tol(m, (30 * 110 + 60 * 150 + 30 * 200) / 120.0, 1e-9);
	ck_assert_int_eq(jp_forecast_mean(&f, 150 * MIN, 200 * MIN, &m), -ENODATA);   /* past the end */
	ck_assert_int_eq(jp_forecast_end(&f), 3 * HOUR);
	jp_forecast_free(&f);
}
END_TEST

/* A valley: 300 everywhere except 100 from 5 h to 7 h. */
START_TEST(test_valley)
{
	struct jp_forecast f = {0};
	for (int h = 0; h < 24; h++)
		for (int half = 0; half < 2; half++) {
			int64_t s = h * HOUR + half * 30 * MIN;
			jp_forecast_add(&f, s, s + 30 * MIN, h >= 5 && h < 7 ? 100 : 300);
		}
	ck_assert_int_eq(jp_forecast_normalize(&f, NULL), 0);
	int64_t start;
	double mean;
	ck_assert_int_eq(jp_forecast_best_window(&f, 10 * MIN, 24 * HOUR, 2 * HOUR, &start, &mean), 0);
	ck_assert_int_eq(start, 5 * HOUR);
	ck_assert_double_eq_tol(mean, 100, 1e-9);
	/* A 4 h job: the valley plus the cleanest of what surrounds it (all 300): the
	 * earliest start that contains the whole valley. */
	ck_assert_int_eq(jp_forecast_best_window(&f, 10 * MIN, 24 * HOUR, 4 * HOUR, &start, &mean), 0);
	ck_assert_int_eq(start, 3 * HOUR);
	ck_assert_double_eq_tol(mean, 200, 1e-9);
	/* Now inside the valley: now is best. */
	ck_assert_int_eq(jp_forecast_best_window(&f, 5 * HOUR + 10 * MIN, 24 * HOUR, HOUR, &start, &mean), 0);
	ck_assert_int_eq(start, 5 * HOUR + 10 * MIN);
	/* A horizon shorter than the window, or past the forecast: no answer. */
	ck_assert_int_eq(jp_forecast_best_window(&f, 0, HOUR, 2 * HOUR, &start, &mean), -ENODATA);
	ck_assert_int_eq(jp_forecast_best_window(&f, 23 * HOUR, 24 * HOUR, 2 * HOUR, &start, &mean), -ENODATA);
	double rank;
	ck_assert_int_eq(jp_forecast_rank(&f, 5 * HOUR + MIN, 24 * HOUR, &rank), 0);
	ck_assert_double_eq(rank, 0);
	ck_assert_int_eq(jp_forecast_rank(&f, 0, 8 * HOUR, &rank), 0);
	ck_assert_double_eq_tol(rank, 4.0 / 15.0, 1e-12);   /* 4 of the 15 other half hours are greener */
	jp_forecast_free(&f);
}
END_TEST

/* ---- the reference: the same definition, computed the slow way ---- */

static int naive_mean(const struct jp_forecast *f, int64_t a, int64_t b, double *mean)
{
	double sum = 0;
	int64_t cov = 0;
	for (size_t i = 0; i < f->n; i++) {
		int64_t lo = f->v[i].start_ms > a ? f->v[i].start_ms : a;
		int64_t hi = f->v[i].end_ms < b ? f->v[i].end_ms : b;
		if (hi > lo) {
			sum += f->v[i].g_per_kwh * (double)(hi - lo);
			cov += hi - lo;
		}
	}
	if (cov != b - a)
		return -ENODATA;
	*mean = sum / (double)(b - a);
	return 0;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return (a > b) - (a < b);
}

static int naive_best(const struct jp_forecast *f, int64_t now, int64_t horizon, int64_t w, int64_t *start,
		      double *mean)
{
	int64_t *cand = malloc((2 * f->n + 1) * sizeof(*cand));
	size_t nc = 0;
	cand[nc++] = now;
	for (size_t i = 0; i < f->n; i++) {
		if (f->v[i].start_ms > now && f->v[i].start_ms <= now + horizon - w)
			cand[nc++] = f->v[i].start_ms;
		if (f->v[i].end_ms > now && f->v[i].end_ms <= now + horizon - w)
			cand[nc++] = f->v[i].end_ms;
	}
	qsort(cand, nc, sizeof(*cand), cmp_i64);
	int have = 0;
	double best = 0;
	int64_t bs = 0;
	for (size_t i = 0; i < nc; i++) {
		double m;
		if (cand[i] + w > now + horizon || naive_mean(f, cand[i], cand[i] + w, &m))
			continue;
		if (!have || m < best - 1e-9 * fabs(best)) {
			have = 1;
			best = m;
			bs = cand[i];
		}
	}
	free(cand);
	if (!have)
		return -ENODATA;
	*start = bs;
	*mean = best;
	return 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

START_TEST(test_window_property)
{
	size_t cases = 0, answered = 0;
	for (int c = 0; c < 4000; c++) {
		struct jp_forecast f = {0};
		int64_t t = (int64_t)(rnd() % (2 * HOUR)) - HOUR;
		int n = 1 + (int)(rnd() % 60);
		for (int i = 0; i < n; i++) {
			/* Uneven lengths (5 min to 2 h), some gaps, values from a small set so
			 * that ties happen. */
			int64_t len = (int64_t)(1 + rnd() % 24) * 5 * MIN;
			if (rnd() % 8 == 0)
				t += (int64_t)(1 + rnd() % 6) * 5 * MIN;
			jp_forecast_add(&f, t, t + len, (double)(50 * (1 + rnd() % 6)));
			t += len;
		}
		ck_assert_int_eq(jp_forecast_normalize(&f, NULL), 0);
		int64_t now = (int64_t)(rnd() % HOUR);
		int64_t horizon = (int64_t)(1 + rnd() % 48) * 30 * MIN;
		int64_t w = (int64_t)(1 + rnd() % 16) * 15 * MIN;
		int64_t s1 = 0, s2 = 0;
		double m1 = 0, m2 = 0;
		int r1 = jp_forecast_best_window(&f, now, horizon, w, &s1, &m1);
		int r2 = naive_best(&f, now, horizon, w, &s2, &m2);
		ck_assert_msg(r1 == r2, "case %d: fast %d, reference %d", c, r1, r2);
		if (r1 == 0) {
			ck_assert_msg(fabs(m1 - m2) <= 1e-9 * fabs(m2) + 1e-12, "case %d: mean %.17g vs %.17g", c, m1, m2);
			ck_assert_msg(s1 == s2, "case %d: start %lld vs %lld", c, (long long)s1, (long long)s2);
			ck_assert(s1 >= now && s1 + w <= now + horizon);
			answered++;
		}
		cases++;
		jp_forecast_free(&f);
	}
	ck_assert_uint_ge(answered, cases / 4);   /* the generator must exercise the search */
	printf("window search: %zu random forecasts, %zu with a covered window, all equal to the reference\n", cases,
	       answered);
}
END_TEST

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s", path);
	static char buf[1 << 20];
	*len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return buf;
}

/* The UK national answer: one half hour with a null forecast is skipped, the others are
 * points; the regional answer nests them under the region. */
START_TEST(test_ukci_forecast_fixtures)
{
	char why[256];
	size_t len, skipped;
	struct jp_forecast f = {0};
	char *b = slurp(FIX "ukci_fw48h.json", &len);
	ck_assert_int_eq(jp_ukci_parse_forecast(b, len, &f, &skipped, why, sizeof(why)), 0);
	ck_assert_uint_eq(skipped, 1);
	ck_assert_int_eq(jp_forecast_normalize(&f, NULL), 0);
	ck_assert_uint_eq(f.n, 7);
	ck_assert_double_eq(f.v[0].g_per_kwh, 212);   /* the forecast, not the actual */
	int64_t t0 = f.v[0].start_ms, start;
	double mean, g;
	/* 13:30-14:00 is a gap: a window across it is not covered. */
	ck_assert_int_eq(jp_forecast_at(&f, t0 + 3 * HOUR + 10 * MIN, &g), -ENODATA);
	ck_assert_int_eq(jp_forecast_best_window(&f, t0, 4 * HOUR, HOUR, &start, &mean), 0);
	ck_assert_int_eq(start, t0 + 2 * HOUR);   /* 12:30-13:30: (98 + 104) / 2 */
	ck_assert_double_eq_tol(mean, 101, 1e-9);
	jp_forecast_free(&f);

	b = slurp(FIX "ukci_fw48h_regional.json", &len);
	ck_assert_int_eq(jp_ukci_parse_forecast(b, len, &f, &skipped, why, sizeof(why)), 0);
	ck_assert_int_eq(jp_forecast_normalize(&f, NULL), 0);
	ck_assert_uint_eq(f.n, 3);
	ck_assert_double_eq(f.v[2].g_per_kwh, 140);
	jp_forecast_free(&f);
}
END_TEST

/* What a broken or hostile answer gets: a reason, no crash, nothing half-added that
 * normalising would keep as a future point. */
START_TEST(test_ukci_forecast_hostile)
{
	static const char *const bad[] = {
		"", "null", "[]", "{\"data\":7}", "{\"data\":[{\"from\":\"x\"}]}",
		"{\"data\":[{\"from\":\"2026-12-03T10:30Z\",\"to\":\"2026-12-03T11:00Z\",\"intensity\":{\"forecast\":\"hi\"}}]}",
		"{\"data\":[{\"from\":\"2026-12-03T10:30Z\",\"to\":\"2026-12-03T11:00Z\",\"intensity\":7}]}",
		"{\"data\":{\"regionid\":1}}", "{\"error\":{\"code\":\"400 Bad Request\",\"message\":\"Please enter a valid ISO 8601 datetime\"}}",
	};
	char why[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct jp_forecast f = {0};
		size_t skipped = 0;
		why[0] = '\0';
		int r = jp_ukci_parse_forecast(bad[i], strlen(bad[i]), &f, &skipped, why, sizeof(why));
		/* A point whose intensity is not an object has no forecast: skipped, not an error. */
		if (r == 0) {
			ck_assert_int_eq(jp_forecast_normalize(&f, NULL), 0);
			ck_assert_msg(f.n == 0, "answer %zu gave %zu points", i, f.n);
		} else {
			ck_assert_msg(why[0] != '\0', "answer %zu: no reason", i);
		}
		jp_forecast_free(&f);
	}
	/* An empty forecast is "no data", not an error. */
	struct jp_forecast f = {0};
	ck_assert_int_eq(jp_ukci_parse_forecast("{\"data\":[]}", 11, &f, NULL, why, sizeof(why)), -ENODATA);
	jp_forecast_free(&f);
	/* Negative, NaN-like and reversed points are dropped by normalising. */
	const char *odd = "{\"data\":[{\"from\":\"2026-12-03T11:00Z\",\"to\":\"2026-12-03T10:30Z\",\"intensity\":{\"forecast\":5}},"
			  "{\"from\":\"2026-12-03T11:00Z\",\"to\":\"2026-12-03T11:30Z\",\"intensity\":{\"forecast\":-5}}]}";
	ck_assert_int_eq(jp_ukci_parse_forecast(odd, strlen(odd), &f, NULL, why, sizeof(why)), 0);
	size_t dropped;
	ck_assert_int_eq(jp_forecast_normalize(&f, &dropped), 0);
	ck_assert_uint_eq(f.n, 0);
	ck_assert_uint_eq(dropped, 2);
	jp_forecast_free(&f);
}
END_TEST

/* Electricity Maps: hourly points until the next datetime; a null intensity is skipped
 * (its hour then is not covered: the previous point ends where the next datetime is). */
START_TEST(test_emaps_forecast)
{
	char why[256];
	size_t len, skipped = 0;
	struct jp_forecast f = {0};
	char *b = slurp(FIX "emaps_forecast.json", &len);
	ck_assert_int_eq(jp_emaps_parse_forecast(b, len, &f, &skipped, why, sizeof(why)), 0);
	ck_assert_uint_eq(skipped, 1);
	ck_assert_int_eq(jp_forecast_normalize(&f, NULL), 0);
	ck_assert_uint_eq(f.n, 4);
	ck_assert_int_eq(f.v[1].end_ms - f.v[1].start_ms, 2 * HOUR);   /* 13:00 until 15:00 */
	ck_assert_int_eq(f.v[3].end_ms - f.v[3].start_ms, HOUR);       /* the last: as long as the one before */
	int64_t start;
	double mean;
	ck_assert_int_eq(jp_forecast_best_window(&f, f.v[0].start_ms, 5 * HOUR, HOUR, &start, &mean), 0);
	ck_assert_double_eq(mean, 288);
	jp_forecast_free(&f);
	static const char *const bad[] = {"", "{}", "{\"forecast\":7}", "{\"forecast\":[{\"carbonIntensity\":3}]}",
					  "{\"forecast\":[{\"carbonIntensity\":\"x\",\"datetime\":\"2026-12-03T12:00:00Z\"}]}",
					  "{\"error\":\"zone not found\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		ck_assert_int_lt(jp_emaps_parse_forecast(bad[i], strlen(bad[i]), &f, NULL, why, sizeof(why)), 0);
		ck_assert_msg(why[0] != '\0', "answer %zu: no reason", i);
		jp_forecast_free(&f);
	}
	ck_assert_int_eq(jp_emaps_parse_forecast("{\"forecast\":[]}", 15, &f, NULL, why, sizeof(why)), -ENODATA);
	char *u = jp_emaps_forecast_url("http://h/v3/", "US-CAL-CISO");
	ck_assert_str_eq(u, "http://h/v3/carbon-intensity/forecast?zone=US-CAL-CISO");
	free(u);
}
END_TEST

/* The actual mix at t from the A75 series per production type. */
static struct jp_mix mix_at(const struct jp_forecast *a75, int64_t t)
{
	struct jp_mix m = {0};
	for (int p = 1; p <= JP_PSR_MAX; p++) {
		double mw;
		if (a75[p].n && jp_forecast_at(&a75[p], t, &mw) == 0) {
			m.mw[p] = mw;
			m.present |= 1u << p;
		}
	}
	return m;
}

static void series_free(struct jp_forecast *s)
{
	for (int p = 0; p <= JP_PSR_MAX; p++)
		jp_forecast_free(&s[p]);
}

/* Peak memory of a child that parses doc (RSS grown past what it had before, in KiB). */
static long parse_peak_kib(const char *doc, size_t len, int *rc)
{
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rusage before, after;
		getrusage(RUSAGE_SELF, &before);
		struct jp_entsoe_result res;
		struct jp_forecast series[JP_PSR_MAX + 1];
		memset(series, 0, sizeof(series));
		long out[2];
		out[0] = jp_entsoe_parse_series(doc, len, series, &res);
		getrusage(RUSAGE_SELF, &after);
		out[1] = after.ru_maxrss - before.ru_maxrss;
		_exit(write(fds[1], out, sizeof(out)) == sizeof(out) ? 0 : 1);
	}
	close(fds[1]);
	long out[2] = {0, -1};
	ck_assert_int_eq(read(fds[0], out, sizeof(out)), (int)sizeof(out));
	close(fds[0]);
	int status;
	waitpid(pid, &status, 0);
	*rc = (int)out[0];
	return out[1];
}

/* An 8 MiB document costs memory in proportion to what the reader keeps: names are
 * interned, blanks dropped, text kept at its size, elements bounded. Measured in a child
 * (its peak RSS); the tree used to take 745 MiB to 4 GiB for such documents. */
START_TEST(test_entsoe_memory_bounded)
{
	const char *head = "<?xml version=\"1.0\"?>\n<GL_MarketDocument xmlns=\"urn:iec62325.351:tc57wg16:451-6:"
			   "generationloaddocument:3:0\">\n";
	size_t cap = JP_ENTSOE_MAX_BYTES, len = 0;
	char *doc = malloc(cap);
	/* (a) 2 million empty elements: refused at the element bound. */
	len = (size_t)snprintf(doc, cap, "%s", head);
	while (len + 40 < cap)
		len += (size_t)snprintf(doc + len, cap - len, "<a/>");
	len += (size_t)snprintf(doc + len, cap - len, "</GL_MarketDocument>");
	int rc;
	long kib = parse_peak_kib(doc, len, &rc);
	ck_assert_int_eq(rc, -EBADMSG);
	ck_assert_msg(kib < 64 * 1024, "peak %ld KiB for 2M empty elements", kib);
	/* (b) A near-8 MiB series of indented points (as ENTSO-E writes them): parsed, and the
	 * tree stays small. */
	len = (size_t)snprintf(doc, cap, "%s<TimeSeries><MktPSRType><psrType>B16</psrType></MktPSRType>"
			       "<Period><timeInterval><start>2026-01-01T00:00Z</start><end>2026-04-01T00:00Z</end>"
			       "</timeInterval><resolution>PT15M</resolution>\n", head);
	for (int pos = 1; len + 200 < cap && pos <= 8640; pos++)
		len += (size_t)snprintf(doc + len, cap - len, "\t\t\t<Point>\n\t\t\t\t<position>%d</position>\n"
					"\t\t\t\t<quantity>%d</quantity>\n\t\t\t</Point>\n", pos, 1000 + pos % 100);
	/* Pad with comments to 8 MiB. */
	while (len + 200 < cap)
		len += (size_t)snprintf(doc + len, cap - len, "<!-- %0150d -->\n", 0);
	len += (size_t)snprintf(doc + len, cap - len, "</Period></TimeSeries></GL_MarketDocument>");
	kib = parse_peak_kib(doc, len, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(kib < 64 * 1024, "peak %ld KiB for an 8 MiB document", kib);
	free(doc);
}
END_TEST

/* A total series (A71, no production type) with an error is named "total" in the reason,
 * not printed from a NULL code. */
START_TEST(test_entsoe_total_error)
{
	const char *doc = "<GL_MarketDocument xmlns=\"urn:iec62325.351:tc57wg16:451-6:generationloaddocument:3:0\">"
			  "<TimeSeries><quantity_Measure_Unit.name>KWH</quantity_Measure_Unit.name><Period>"
			  "<timeInterval><start>2026-11-30T00:00Z</start><end>2026-11-30T01:00Z</end></timeInterval>"
			  "<resolution>PT60M</resolution><Point><position>1</position><quantity>5</quantity></Point>"
			  "</Period></TimeSeries></GL_MarketDocument>";
	struct jp_entsoe_result res;
	struct jp_forecast series[JP_PSR_MAX + 1];
	memset(series, 0, sizeof(series));
	jp_entsoe_parse_series(doc, strlen(doc), series, &res);
	ck_assert_msg(strstr(res.reason, "total: unit is not MAW") != NULL, "%s", res.reason);
	ck_assert_ptr_null(strstr(res.reason, "(null)"));
	series_free(series);
}
END_TEST

/*
 * ENTSO-E day-ahead forecasts on a fixture day (2026-11-30, bidding zone DE-LU):
 *   A69 wind (PT60M, curveType A03) and solar (PT60M), A71 total (PT15M, no PsrType),
 *   A75 actual generation per type (PT60M) for the same day.
 * The intensity forecast is built with the non-wind/solar factor of the actual mix at
 * 00:00 (the latest actual a day-ahead forecast would have), then compared hour by hour with
 * the intensity of the actual mix: its mean absolute percentage error is printed (and must
 * stay modest on this day).
 */
START_TEST(test_entsoe_day_ahead)
{
	size_t len;
	struct jp_entsoe_result res;
	struct jp_forecast a69[JP_PSR_MAX + 1], a71[JP_PSR_MAX + 1], a75[JP_PSR_MAX + 1];
	memset(a69, 0, sizeof(a69));
	memset(a71, 0, sizeof(a71));
	memset(a75, 0, sizeof(a75));
	char *b = slurp(FIX "entsoe_a69_day.xml", &len);
	ck_assert_int_eq(jp_entsoe_parse_series(b, len, a69, &res), 0);
	ck_assert_uint_eq(a69[16].n, 24);
	ck_assert_uint_gt(a69[19].n, 0);   /* A03: repeated values left out, spans merged back */
	b = slurp(FIX "entsoe_a71_day.xml", &len);
	ck_assert_int_eq(jp_entsoe_parse_series(b, len, a71, &res), 0);
	ck_assert_uint_eq(a71[0].n, 96);   /* the total, PT15M */
	b = slurp(FIX "entsoe_a75_day.xml", &len);
	ck_assert_int_eq(jp_entsoe_parse_series(b, len, a75, &res), 0);

	struct jp_factors f;
	ck_assert_int_eq(jp_factors_init(&f, 0, NULL), 0);
	int64_t day = a71[0].v[0].start_ms;
	struct jp_mix m0 = mix_at(a75, day);
	double ef_rest;
	ck_assert_int_eq(jp_factors_rest(&f, &m0, &ef_rest), 0);
	struct jp_forecast fc = {0};
	ck_assert_int_eq(jp_entsoe_forecast_build(&a71[0], a69, &f, ef_rest, &fc), 0);
	ck_assert_uint_eq(fc.n, 96);
	ck_assert_int_eq(jp_forecast_end(&fc) - day, 24 * HOUR);

	double sum_ape = 0;
	for (int h = 0; h < 24; h++) {
		int64_t t = day + h * HOUR;
		struct jp_mix m = mix_at(a75, t);
		double act, fcv;
		ck_assert_int_eq(jp_factors_intensity(&f, &m, &act, NULL), 0);
		ck_assert_int_eq(jp_forecast_mean(&fc, t, t + HOUR, &fcv), 0);
		sum_ape += fabs(fcv - act) / act;
	}
	double mape = sum_ape / 24;
	printf("entsoe_day_ahead on the fixture day: MAPE %.1f %% against the actual A75 intensity (24 hours)\n",
	       100 * mape);
	ck_assert_msg(mape < 0.15, "MAPE %.3f", mape);
	jp_forecast_free(&fc);
	series_free(a69);
	series_free(a71);
	series_free(a75);
}
END_TEST

START_TEST(test_ukci_forecast_url)
{
	char *u = jp_ukci_forecast_url("http://127.0.0.1:8080/", "", 1764757800000LL + 17 * MIN);
	ck_assert_str_eq(u, "http://127.0.0.1:8080/intensity/2025-12-03T10:30Z/fw48h");
	free(u);
	u = jp_ukci_forecast_url("http://h", "13", 1764757800000LL);
	ck_assert_str_eq(u, "http://h/regional/intensity/2025-12-03T10:30Z/fw48h/regionid/13");
	free(u);
	ck_assert_ptr_null(jp_ukci_forecast_url("http://h", "x", 0));
	ck_assert_ptr_null(jp_ukci_forecast_url("http://h", "100", 0));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("forecast");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_normalize);
	tcase_add_test(tc, test_valley);
	tcase_add_test(tc, test_window_property);
	tcase_add_test(tc, test_ukci_forecast_fixtures);
	tcase_add_test(tc, test_ukci_forecast_hostile);
	tcase_add_test(tc, test_ukci_forecast_url);
	tcase_add_test(tc, test_emaps_forecast);
	tcase_add_test(tc, test_entsoe_day_ahead);
	tcase_add_test(tc, test_entsoe_memory_bounded);
	tcase_add_test(tc, test_entsoe_total_error);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
