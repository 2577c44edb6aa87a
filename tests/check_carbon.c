/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the grid carbon intensity: factors and formula, the ENTSO-E, Electricity Maps, UK
 * and file parsers on handwritten fixtures, hostile input, and jp_intensity on a real uv loop
 * against a loopback mock server (429 and Retry-After, acknowledgements, size cap, secrets). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include "carbon/cfile.h"
#include "util/time.h"
#include "fixture_util.h"
#include "carbon/electricitymaps.h"
#include "carbon/entsoe.h"
#include "carbon/factors.h"
#include "carbon/forecast_web.h"
#include "carbon/forecaster.h"
#include "carbon/retry.h"
#include "carbon/intensity.h"
#include "carbon/ukci.h"
#include "config.h"
#include "remote/http.h"
#include "remote/http_sync.h"
#include "store/series.h"
#include "util/log.h"

#define FIX JP_SRCDIR "/tests/fixtures/carbon/"
#define slurp(name, len) jp_test_slurp(FIX, name, len)
#define T(s) jp_test_time(s)
#define TOKEN "tok-3f9a1c77-5e2b-4d0a-9c41-SECRETSECRET"
#define EPS 1e-9



static int entsoe_fixture(const char *name, struct jp_entsoe_result *r)
{
	size_t n;
	char *b = slurp(name, &n);
	int k = jp_entsoe_parse(b, n, r);
	free(b);
	return k;
}

/* ---- time ------------------------------------------------------------------------ */

START_TEST(test_time)
{
	int64_t t;
	ck_assert_int_eq(jp_time_parse("1970-01-01T00:00Z", 17, &t), 0);
	ck_assert_int_eq(t, 0);
	/* 2024-03-05 is day 19787 after the epoch (54 years, 13 leap days, + 31 + 29 + 4). */
	int64_t day = (54 * 365 + 13 + 31 + 29 + 4) * 86400000LL;
	ck_assert_int_eq(T("2024-03-05T10:00Z"), day + 10 * 3600000LL);
	ck_assert_int_eq(T("2024-03-05T10:00:00.000Z"), day + 10 * 3600000LL);
	ck_assert_int_eq(T("2024-03-05T10:00:07.25Z"), day + 10 * 3600000LL + 7250);
	ck_assert_int_eq(T("2024-03-05T12:00:00+01:00"), day + 11 * 3600000LL);
	ck_assert_int_eq(T("2024-03-05 10:00:00-00:30"), day + 10 * 3600000LL + 1800000);
	const char *bad[] = {"2024-03-05T10:00", "2024-02-30T10:00Z", "2023-02-29T00:00Z", "2024-13-01T00:00Z",
			     "2024-03-05T24:00Z", "2024-03-05T10:00Zjunk", "", "2024-03-05", "x024-03-05T10:00Z"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(jp_time_parse(bad[i], strlen(bad[i]), &t) == -EINVAL, "%s", bad[i]);
	int64_t d;
	ck_assert_int_eq(jp_time_duration_parse("PT15M", &d), 0);
	ck_assert_int_eq(d, 900000);
	ck_assert_int_eq(jp_time_duration_parse("PT60M", &d), 0);
	ck_assert_int_eq(d, 3600000);
	ck_assert_int_eq(jp_time_duration_parse("PT1H", &d), 0);
	ck_assert_int_eq(d, 3600000);
	ck_assert_int_eq(jp_time_duration_parse("P1D", &d), 0);
	ck_assert_int_eq(d, 86400000);
	ck_assert_int_eq(jp_time_duration_parse("P1M", &d), -EINVAL);
	ck_assert_int_eq(jp_time_duration_parse("PT", &d), -EINVAL);
	ck_assert_int_eq(jp_time_duration_parse("PT0M", &d), -EINVAL);
	char buf[16];
	ck_assert_int_eq(jp_time_format_compact(T("2024-03-05T09:00Z"), buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "202403050900");
}
END_TEST

/* ---- factors and the formula ------------------------------------------------------ */

START_TEST(test_factor_table)
{
	struct jp_factors f;
	ck_assert_int_eq(jp_factors_init(&f, 0, NULL), 0);
	ck_assert_double_eq(f.g_per_kwh[1], 230);
	ck_assert_double_eq(f.g_per_kwh[2], 820);
	ck_assert_double_eq(f.g_per_kwh[4], 490);
	ck_assert_double_eq(f.g_per_kwh[6], 650);
	ck_assert_double_eq(f.g_per_kwh[9], 38);
	ck_assert_double_eq(f.g_per_kwh[12], 24);
	ck_assert_double_eq(f.g_per_kwh[14], 12);
	ck_assert_double_eq(f.g_per_kwh[16], 45);
	ck_assert_double_eq(f.g_per_kwh[18], 11);
	ck_assert_double_eq(f.g_per_kwh[20], 700);
	ck_assert_int_eq(jp_factors_init(&f, 1, NULL), 0);
	ck_assert_double_eq(f.g_per_kwh[1], 0);
	ck_assert_double_eq(f.g_per_kwh[8], 760);
	ck_assert_double_eq(f.g_per_kwh[3], 370);
	ck_assert_double_eq(f.g_per_kwh[6], 406);
	ck_assert_double_eq(f.g_per_kwh[15], 575);
	ck_assert_double_eq(f.g_per_kwh[19], 0);
	ck_assert_str_eq(jp_psr_fuel(17), "biomass");
	ck_assert_str_eq(jp_psr_fuel(7), "coal");
	ck_assert_str_eq(jp_psr_fuel(10), "storage");
	ck_assert_str_eq(jp_psr_fuel(25), "storage");
	ck_assert_str_eq(jp_psr_fuel(13), "unknown");
	ck_assert_ptr_null(jp_psr_fuel(22));
	ck_assert(!jp_psr_in_mix(10) && !jp_psr_in_mix(25) && !jp_psr_in_mix(21) && jp_psr_in_mix(20));
	int ren[] = {1, 9, 11, 12, 13, 15, 16, 18, 19};
	int nren = 0;
	for (int p = 1; p <= JP_PSR_MAX; p++)
		nren += jp_psr_renewable(p);
	ck_assert_int_eq(nren, 9);
	for (size_t i = 0; i < 9; i++)
		ck_assert(jp_psr_renewable(ren[i]));
	ck_assert_int_eq(jp_psr_parse("B07"), 7);
	ck_assert_int_eq(jp_psr_parse("B26"), 0);
	ck_assert_int_eq(jp_psr_parse("B7"), 0);
	ck_assert_int_eq(jp_psr_parse("B00"), 0);
}
END_TEST

START_TEST(test_factor_overrides)
{
	struct jp_kv kv[] = {{"B02", "1000"}, {"B19", "7.5"}};
	struct jp_kvlist l = {kv, 2};
	struct jp_factors f;
	ck_assert_int_eq(jp_factors_init(&f, 0, &l), 0);
	ck_assert_double_eq(f.g_per_kwh[2], 1000);
	ck_assert_double_eq(f.g_per_kwh[19], 7.5);
	ck_assert_double_eq(f.g_per_kwh[5], 820);
	ck_assert_int_eq(jp_factors_init(&f, 1, &l), 0);   /* over the direct table */
	ck_assert_double_eq(f.g_per_kwh[2], 1000);
	ck_assert_double_eq(f.g_per_kwh[5], 760);
	struct jp_kv bad1[] = {{"B30", "1"}}, bad2[] = {{"B04", "-1"}}, bad3[] = {{"B04", "nan"}}, bad4[] = {{"B04", "12x"}};
	struct jp_kv *bads[] = {bad1, bad2, bad3, bad4};
	for (int i = 0; i < 4; i++) {
		struct jp_kvlist bl = {bads[i], 1};
		ck_assert_int_eq(jp_factors_init(&f, 0, &bl), -EINVAL);
		ck_assert_double_eq(f.g_per_kwh[4], 490);
	}
}
END_TEST

static void mix_set(struct jp_mix *m, int psr, double mw)
{
	m->mw[psr] = mw;
	m->present |= 1u << psr;
}

START_TEST(test_formula)
{
	struct jp_factors f;
	struct jp_mix m;
	double g, r;
	jp_factors_init(&f, 0, NULL);

	/* A coal-heavy mix: 4000 MW lignite, 1000 MW gas, 2000 MW wind onshore, 500 MW biomass. */
	memset(&m, 0, sizeof(m));
	mix_set(&m, 2, 4000);
	mix_set(&m, 4, 1000);
	mix_set(&m, 19, 2000);
	mix_set(&m, 1, 500);
	ck_assert_int_eq(jp_factors_intensity(&f, &m, &g, &r), 0);
	ck_assert_double_eq_tol(g, (4000.0 * 820 + 1000.0 * 490 + 2000.0 * 11 + 500.0 * 230) / 7500.0, EPS);
	ck_assert_double_eq_tol(g, 3907000.0 / 7500.0, EPS);   /* 520.9333... */
	ck_assert_double_eq_tol(r, 2500.0 / 7500.0, EPS);

	/* Storage generation and an absent type with a value left in the array do not count. */
	mix_set(&m, 10, 3000);
	m.mw[14] = 99999;   /* not present */
	ck_assert_int_eq(jp_factors_intensity(&f, &m, &g, &r), 0);
	ck_assert_double_eq_tol(g, 3907000.0 / 7500.0, EPS);

	/* Nuclear and hydro, direct factors: zero. */
	memset(&m, 0, sizeof(m));
	mix_set(&m, 14, 6000);
	mix_set(&m, 11, 1500);
	jp_factors_init(&f, 1, NULL);
	ck_assert_int_eq(jp_factors_intensity(&f, &m, &g, &r), 0);
	ck_assert_double_eq_tol(g, 0, EPS);
	ck_assert_double_eq_tol(r, 0.2, EPS);

	/* Every type once at 100 MW, lifecycle: the plain mean of the 21 mix factors. */
	jp_factors_init(&f, 0, NULL);
	memset(&m, 0, sizeof(m));
	for (int p = 1; p <= 25; p++)
		mix_set(&m, p, 100);
	double sum = 230 + 820 + 490 + 490 + 820 + 650 + 820 + 820 + 38 + 24 + 24 + 700 + 12 + 700 + 45 + 230 + 11 +
		     11 + 700;   /* B01..B20 without B10: 19 types */
	ck_assert_int_eq(jp_factors_intensity(&f, &m, &g, &r), 0);
	ck_assert_double_eq_tol(g, sum / 19.0, EPS);
	ck_assert_double_eq_tol(r, 9.0 / 19.0, EPS);

	/* Only storage, or nothing: no intensity. */
	memset(&m, 0, sizeof(m));
	mix_set(&m, 25, 50);
	ck_assert_int_eq(jp_factors_intensity(&f, &m, &g, &r), -ENODATA);
	memset(&m, 0, sizeof(m));
	mix_set(&m, 4, 0);
	ck_assert_int_eq(jp_factors_intensity(&f, &m, &g, NULL), -ENODATA);
}
END_TEST

/* ---- ENTSO-E ---------------------------------------------------------------------- */

START_TEST(test_entsoe_basic)
{
	struct jp_entsoe_result r;
	struct jp_factors f;
	double g, ren;
	ck_assert_int_eq(entsoe_fixture("entsoe_basic.xml", &r), 0);
	ck_assert_int_eq(r.series, 4);
	ck_assert_int_eq(r.generation_series, 4);
	ck_assert_int_eq(r.start_ms, T("2024-03-05T10:45Z"));
	ck_assert_int_eq(r.end_ms, T("2024-03-05T11:00Z"));
	ck_assert_uint_eq(r.mix.present, (1u << 4) | (1u << 14) | (1u << 16) | (1u << 19));
	ck_assert_double_eq(r.mix.mw[4], 1000);
	ck_assert_double_eq(r.mix.mw[14], 3000);
	ck_assert_double_eq(r.mix.mw[16], 500);
	ck_assert_double_eq(r.mix.mw[19], 2000);
	jp_factors_init(&f, 0, NULL);
	ck_assert_int_eq(jp_factors_intensity(&f, &r.mix, &g, &ren), 0);
	ck_assert_double_eq_tol(g, (1000.0 * 490 + 3000.0 * 12 + 500.0 * 45 + 2000.0 * 11) / 6500.0, EPS);
	ck_assert_double_eq_tol(ren, 2500.0 / 6500.0, EPS);
}
END_TEST

START_TEST(test_entsoe_namespace_versions)
{
	struct jp_entsoe_result r;
	ck_assert_int_eq(entsoe_fixture("entsoe_ns31.xml", &r), 0);
	ck_assert_int_eq(r.start_ms, T("2024-06-01T12:00Z"));
	ck_assert_double_eq(r.mix.mw[14], 37500);
	ck_assert_double_eq(r.mix.mw[5], 2500);
	ck_assert_int_eq(entsoe_fixture("entsoe_ack_v81.xml", &r), -ENODATA);
	ck_assert_int_eq(r.ack_code, 999);
}
END_TEST

START_TEST(test_entsoe_consumption)
{
	struct jp_entsoe_result r;
	struct jp_factors f;
	double g;
	ck_assert_int_eq(entsoe_fixture("entsoe_consumption.xml", &r), 0);
	ck_assert_int_eq(r.series, 5);
	ck_assert_int_eq(r.consumption_series, 2);
	/* B10 turbining is generation (shown as storage), the pumping and the gas
	 * own-consumption series are not. */
	ck_assert_uint_eq(r.mix.present, (1u << 10) | (1u << 11) | (1u << 14));
	ck_assert_double_eq(r.mix.mw[10], 400);
	jp_factors_init(&f, 0, NULL);
	ck_assert_int_eq(jp_factors_intensity(&f, &r.mix, &g, NULL), 0);
	ck_assert_double_eq_tol(g, (1500.0 * 24 + 2900.0 * 12) / 4400.0, EPS);
}
END_TEST

START_TEST(test_entsoe_mixed_resolution)
{
	struct jp_entsoe_result r;
	ck_assert_int_eq(entsoe_fixture("entsoe_mixed_resolution.xml", &r), 0);
	/* Gas (PT15M) stops at 10:45, so 10:30 is the newest instant all three cover. */
	ck_assert_int_eq(r.start_ms, T("2024-03-05T10:30Z"));
	ck_assert_int_eq(r.end_ms, T("2024-03-05T10:45Z"));
	ck_assert_double_eq(r.mix.mw[4], 800);
	ck_assert_double_eq(r.mix.mw[12], 2200);   /* PT60M 10:00-11:00 */
	ck_assert_double_eq(r.mix.mw[19], 700);    /* PT30M 10:30-11:00 */
}
END_TEST

START_TEST(test_entsoe_a03)
{
	struct jp_entsoe_result r;
	ck_assert_int_eq(entsoe_fixture("entsoe_a03.xml", &r), 0);
	/* Without filling forward gas would stop at 10:45 and nuclear at 10:15. */
	ck_assert_int_eq(r.start_ms, T("2024-03-05T10:45Z"));
	ck_assert_int_eq(r.end_ms, T("2024-03-05T11:00Z"));
	ck_assert_double_eq(r.mix.mw[4], 4200);
	ck_assert_double_eq(r.mix.mw[14], 485);
	ck_assert_double_eq(r.mix.mw[19], 3400);
	ck_assert_double_eq(r.mix.mw[1], 330);
}
END_TEST

START_TEST(test_entsoe_ack)
{
	struct jp_entsoe_result r;
	ck_assert_int_eq(entsoe_fixture("entsoe_ack.xml", &r), -ENODATA);
	ck_assert_int_eq(r.ack_code, 999);
	ck_assert_ptr_nonnull(strstr(r.reason, "No matching data"));
	const char *other = "<Acknowledgement_MarketDocument xmlns=\"urn:iec62325.351:tc57wg16:451-1:"
			    "acknowledgementdocument:7:0\"><Reason><code>A01</code><text>x</text></Reason>"
			    "</Acknowledgement_MarketDocument>";
	ck_assert_int_eq(jp_entsoe_parse(other, strlen(other), &r), -EREMOTEIO);
}
END_TEST

START_TEST(test_entsoe_hostile)
{
	struct jp_entsoe_result r;
	ck_assert_int_eq(entsoe_fixture("entsoe_truncated.xml", &r), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(r.reason, "malformed"));
	ck_assert_int_eq(entsoe_fixture("entsoe_wrong_ns.xml", &r), -EBADMSG);
	ck_assert_int_eq(entsoe_fixture("entsoe_no_ns.xml", &r), -EBADMSG);
	ck_assert_int_eq(entsoe_fixture("entsoe_billion_laughs.xml", &r), -EBADMSG);
	ck_assert_ptr_nonnull(strstr(r.reason, "DOCTYPE"));
	ck_assert_int_eq(entsoe_fixture("entsoe_xxe.xml", &r), -EBADMSG);
	ck_assert_int_eq(jp_entsoe_parse("", 0, &r), -EBADMSG);
	ck_assert_int_eq(jp_entsoe_parse("{\"json\": 1}", 11, &r), -EBADMSG);

	/* Over 100 MB: refused by size before any parsing (the pages are never touched). */
	size_t big = 101u * 1024 * 1024;
	char *b = malloc(big);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(jp_entsoe_parse(b, big, &r), -EFBIG);
	free(b);
}
END_TEST

START_TEST(test_entsoe_negative_nan)
{
	struct jp_entsoe_result r;
	ck_assert_int_eq(entsoe_fixture("entsoe_negative_nan.xml", &r), 0);
	/* The negative solar point counts as 0 MW; the NaN oil point is left out, and with
	 * it the only point of that series. Neither takes the rest of its series along. */
	ck_assert_int_eq(r.negative_points, 1);
	ck_assert_int_eq(r.nan_points, 1);
	ck_assert_uint_eq(r.mix.present & ((1u << 2) | (1u << 4)), (1u << 2) | (1u << 4));
	ck_assert_double_eq(r.mix.mw[2], 5300);
	ck_assert_double_eq(r.mix.mw[4], 700);
	ck_assert_double_eq(r.mix.mw[16], 0);
}
END_TEST

START_TEST(test_entsoe_url)
{
	int64_t s = T("2024-03-05T09:00Z"), e = T("2024-03-05T12:00Z");
	char *u = jp_entsoe_url("https://web-api.tp.entsoe.eu/api", "10Y1001A1001A82H", "ab c&d", s, e);
	ck_assert_str_eq(u, "https://web-api.tp.entsoe.eu/api?documentType=A75&processType=A16&in_Domain="
			    "10Y1001A1001A82H&periodStart=202403050900&periodEnd=202403051200&securityToken=ab%20c%26d");
	free(u);
	u = jp_entsoe_url("http://x/api?a=1", "A", NULL, s, e);
	ck_assert_str_eq(u, "http://x/api?a=1&documentType=A75&processType=A16&in_Domain=A&periodStart=202403050900"
			    "&periodEnd=202403051200&securityToken=REDACTED");
	free(u);
}
END_TEST

/* ---- JSON sources ------------------------------------------------------------------ */

START_TEST(test_emaps)
{
	size_t n;
	char why[256];
	double g;
	int64_t t;
	char *b = slurp("emaps_latest.json", &n);
	ck_assert_int_eq(jp_emaps_parse(b, n, &g, &t, why, sizeof(why)), 0);
	ck_assert_double_eq(g, 302);
	ck_assert_int_eq(t, T("2024-03-05T10:00Z"));
	ck_assert_int_eq(jp_emaps_parse(b, n - 10, &g, &t, why, sizeof(why)), -EINVAL);   /* truncated */
	free(b);
	b = slurp("emaps_null.json", &n);
	ck_assert_int_eq(jp_emaps_parse(b, n, &g, &t, why, sizeof(why)), -ENODATA);
	free(b);
	b = slurp("emaps_error.json", &n);
	ck_assert_int_eq(jp_emaps_parse(b, n, &g, &t, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "does not exist"));
	free(b);
	const char *bad[] = {"{\"carbonIntensity\": -3, \"datetime\": \"2024-03-05T10:00:00.000Z\"}",
			     "{\"carbonIntensity\": \"302\", \"datetime\": \"2024-03-05T10:00:00.000Z\"}",
			     "{\"carbonIntensity\": 302, \"datetime\": \"yesterday\"}",
			     "{\"carbonIntensity\": 302}",
			     "[302]", "{\"carbonIntensity\": 302, \"datetime\": \"2024-03-05T10:00Z\"} x",
			     "{\"carbonIntensity\": 1e999, \"datetime\": \"2024-03-05T10:00Z\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(jp_emaps_parse(bad[i], strlen(bad[i]), &g, &t, why, sizeof(why)) == -EINVAL, "%s", bad[i]);
	char *u = jp_emaps_url("https://api.electricitymap.org/v3/", "US-CAL-CISO");
	ck_assert_str_eq(u, "https://api.electricitymap.org/v3/carbon-intensity/latest?zone=US-CAL-CISO");
	free(u);
}
END_TEST

START_TEST(test_ukci)
{
	size_t n;
	char why[256];
	double g;
	int64_t from, to;
	char *b = slurp("ukci_national.json", &n);
	ck_assert_int_eq(jp_ukci_parse(b, n, &g, &from, &to, why, sizeof(why)), 0);
	ck_assert_double_eq(g, 181);   /* actual, not the forecast */
	ck_assert_int_eq(from, T("2024-03-05T10:00Z"));
	ck_assert_int_eq(to, T("2024-03-05T10:30Z"));
	free(b);
	b = slurp("ukci_national_forecast.json", &n);
	ck_assert_int_eq(jp_ukci_parse(b, n, &g, &from, &to, why, sizeof(why)), 0);
	ck_assert_double_eq(g, 174);
	free(b);
	b = slurp("ukci_regional.json", &n);
	ck_assert_int_eq(jp_ukci_parse(b, n, &g, &from, &to, why, sizeof(why)), 0);
	ck_assert_double_eq(g, 152);
	ck_assert_int_eq(to, T("2024-03-05T10:30Z"));
	free(b);
	b = slurp("ukci_error.json", &n);
	ck_assert_int_eq(jp_ukci_parse(b, n, &g, &from, &to, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "valid region"));
	free(b);
	const char *nulls = "{\"data\":[{\"from\":\"2024-03-05T10:00Z\",\"to\":\"2024-03-05T10:30Z\","
			    "\"intensity\":{\"forecast\":null,\"actual\":null,\"index\":\"moderate\"}}]}";
	ck_assert_int_eq(jp_ukci_parse(nulls, strlen(nulls), &g, &from, &to, why, sizeof(why)), -ENODATA);
	ck_assert_int_eq(jp_ukci_parse("{\"data\":[]}", 11, &g, &from, &to, why, sizeof(why)), -ENODATA);
	const char *deep = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]";
	ck_assert_int_eq(jp_ukci_parse(deep, strlen(deep), &g, &from, &to, why, sizeof(why)), -EINVAL);
	char *u = jp_ukci_url("https://api.carbonintensity.org.uk", "");
	ck_assert_str_eq(u, "https://api.carbonintensity.org.uk/intensity");
	free(u);
	u = jp_ukci_url("https://api.carbonintensity.org.uk/", "13");
	ck_assert_str_eq(u, "https://api.carbonintensity.org.uk/regional/regionid/13");
	free(u);
	ck_assert_ptr_null(jp_ukci_url("http://x", "../../etc"));
}
END_TEST

START_TEST(test_file_parse)
{
	const char *names[] = {"carbon_file.json", "carbon_file.csv"};
	for (int i = 0; i < 2; i++) {
		size_t n;
		char why[256];
		struct jp_carbon_series s;
		char *b = slurp(names[i], &n);
		ck_assert_msg(jp_carbon_file_parse(b, n, &s, why, sizeof(why)) == 0, "%s: %s", names[i], why);
		free(b);
		ck_assert_uint_eq(s.n, 4);
		ck_assert_ptr_null(jp_carbon_series_at(&s, T("2024-03-05T08:59Z")));
		ck_assert_double_eq(jp_carbon_series_at(&s, T("2024-03-05T09:00Z"))->g_per_kwh, 410);
		ck_assert_double_eq(jp_carbon_series_at(&s, T("2024-03-05T10:59Z"))->g_per_kwh, 385.5);
		ck_assert_double_eq(jp_carbon_series_at(&s, T("2024-03-05T11:00Z"))->g_per_kwh, 372);
		ck_assert_double_eq(jp_carbon_series_at(&s, T("2030-01-01T00:00Z"))->g_per_kwh, 350);
		jp_carbon_series_free(&s);
	}
	size_t n;
	char why[256];
	struct jp_carbon_series s;
	char *b = slurp("carbon_file_bad.csv", &n);
	ck_assert_int_eq(jp_carbon_file_parse(b, n, &s, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "line 3"));
	free(b);
	const char *bad[] = {"[{\"time\":\"2024-03-05T09:00:00Z\",\"grams_per_kwh\":\"x\"}]",
			     "[{\"time\":\"2024-03-05T09:00:00Z\"}]", "[1,2]", "{\"time\":1}", "2024-03-05T09:00:00Z;410\n",
			     "2024-03-05T09:00:00Z,nan\n", "2024-03-05T09:00:00Z,1,2\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(jp_carbon_file_parse(bad[i], strlen(bad[i]), &s, why, sizeof(why)) == -EINVAL, "%s", bad[i]);
	/* Duplicated times: the later line wins; no trailing newline. */
	const char *dup = "2024-03-05T09:00:00Z,1\n2024-03-05T09:00:00Z,2";
	ck_assert_int_eq(jp_carbon_file_parse(dup, strlen(dup), &s, why, sizeof(why)), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_double_eq(s.v[0].g_per_kwh, 2);
	jp_carbon_series_free(&s);
	ck_assert_int_eq(jp_carbon_file_parse("", 0, &s, why, sizeof(why)), 0);
	ck_assert_uint_eq(s.n, 0);
}
END_TEST

/* ---- a loopback mock server ---------------------------------------------------------- */

#define MAX_SCRIPT 16
#define MAX_REQS 32

struct mock_resp {
	int status;
	const char *headers;    /* extra header lines, each ending in \r\n */
	const char *fixture;    /* body from tests/fixtures/carbon/, or */
	const char *body;       /* a literal body */
	int big;                /* announce a 100 MB body and stream until the client gives up */
};

struct mock {
	int lfd, port, wake[2];
	pthread_t th;
	pthread_mutex_t mu;
	struct mock_resp script[MAX_SCRIPT];
	int nscript;
	struct mock_resp dflt;
	char reqs[MAX_REQS][2048];
	uint64_t req_ms[MAX_REQS];
	int nreqs;
};

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static void mock_serve(struct mock *m, int fd)
{
	char head[2048];
	size_t len = 0;
	struct pollfd p = {fd, POLLIN, 0};
	while (len < sizeof(head) - 1 && !memmem(head, len, "\r\n\r\n", 4)) {
		if (poll(&p, 1, 2000) <= 0)
			return;
		ssize_t r = recv(fd, head + len, sizeof(head) - 1 - len, 0);
		if (r <= 0)
			return;
		len += (size_t)r;
	}
	head[len] = 0;
	pthread_mutex_lock(&m->mu);
	int idx = m->nreqs;
	if (idx < MAX_REQS) {
		memcpy(m->reqs[idx], head, len + 1);
		m->req_ms[idx] = jp_now_mono_ms();
		m->nreqs++;
	}
	struct mock_resp a = idx < m->nscript ? m->script[idx] : m->dflt;
	pthread_mutex_unlock(&m->mu);

	size_t blen = 0;
	char *body = NULL;
	if (a.fixture)
		body = slurp(a.fixture, &blen);
	else if (a.body)
		body = strdup(a.body), blen = strlen(a.body);
	char h[1024];
	size_t announced = a.big ? (size_t)100 * 1024 * 1024 + 100 : blen;
	int hl = snprintf(h, sizeof(h), "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
			  a.status, a.fixture && strstr(a.fixture, ".xml") ? "text/xml" : "application/json", announced,
			  a.headers ? a.headers : "");
	send_all(fd, h, (size_t)hl);
	if (a.big) {
		static char chunk[65536];
		memset(chunk, 'x', sizeof(chunk));
		for (size_t sent = 0; sent < announced; sent += sizeof(chunk)) {
			ssize_t w = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
			if (w <= 0)
				break;
		}
	} else if (blen) {
		send_all(fd, body, blen);
	}
	free(body);
}

static void *mock_main(void *arg)
{
	struct mock *m = arg;
	for (;;) {
		struct pollfd p[2] = {{m->lfd, POLLIN, 0}, {m->wake[0], POLLIN, 0}};
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return NULL;
		int fd = accept(m->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		mock_serve(m, fd);
		shutdown(fd, SHUT_WR);
		close(fd);
	}
}

static struct mock *mock_start(void)
{
	struct mock *m = calloc(1, sizeof(*m));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	m->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(m->lfd, 0);
	ck_assert_int_eq(bind(m->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(m->lfd, 16), 0);
	getsockname(m->lfd, (struct sockaddr *)&a, &al);
	m->port = ntohs(a.sin_port);
	ck_assert_int_eq(pipe(m->wake), 0);
	pthread_mutex_init(&m->mu, NULL);
	m->dflt.status = 500;
	m->dflt.body = "default";
	pthread_create(&m->th, NULL, mock_main, m);
	return m;
}

static void mock_script(struct mock *m, const struct mock_resp *s, int n)
{
	pthread_mutex_lock(&m->mu);
	for (int i = 0; i < n; i++)
		m->script[i] = s[i];
	m->nscript = n;
	pthread_mutex_unlock(&m->mu);
}

static int mock_nreqs(struct mock *m)
{
	pthread_mutex_lock(&m->mu);
	int n = m->nreqs;
	pthread_mutex_unlock(&m->mu);
	return n;
}

static void mock_stop(struct mock *m)
{
	ck_assert_int_eq(write(m->wake[1], "x", 1), 1);
	pthread_join(m->th, NULL);
	close(m->lfd);
	close(m->wake[0]);
	close(m->wake[1]);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* ---- a uv loop with the intensity object ------------------------------------------------ */

struct rig {
	uv_loop_t loop;
	uv_timer_t tick;
	struct jp_http *http;
	struct jp_intensity *in;
	struct jp_config cfg;
	struct mock *mock;
	char dir[64];
	char token_path[128];
};

static void tick_cb(uv_timer_t *t) { (void)t; }

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = strdup(v);
}

static void rig_init(struct rig *r, enum jp_carbon_source src)
{
	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(uv_loop_init(&r->loop), 0);
	uv_timer_init(&r->loop, &r->tick);
	uv_timer_start(&r->tick, tick_cb, 10, 10);
	r->http = jp_http_create(&r->loop);
	ck_assert_ptr_nonnull(r->http);
	ck_assert_int_eq(jp_config_defaults(&r->cfg), 0);
	strcpy(r->dir, "/tmp/check_carbon.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(r->dir));
	snprintf(r->token_path, sizeof(r->token_path), "%s/token", r->dir);
	FILE *f = fopen(r->token_path, "w");
	fputs(TOKEN "\n", f);
	fclose(f);
	r->cfg.carbon_source = src;
	r->cfg.carbon_refresh_ms = 60000;
	r->cfg.carbon_max_age_ms = 2 * 3600000;
	if (src != JP_CARBON_STATIC && src != JP_CARBON_FILE) {
		char url[128];
		r->mock = mock_start();
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/api", r->mock->port);
		set_str(&r->cfg.entsoe_url, url);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/v3", r->mock->port);
		set_str(&r->cfg.emaps_url, url);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d", r->mock->port);
		set_str(&r->cfg.ukci_url, url);
	}
	set_str(&r->cfg.entsoe_token_file, r->token_path);
	set_str(&r->cfg.emaps_token_file, r->token_path);
}

static void rig_create(struct rig *r)
{
	r->in = jp_intensity_create(&r->loop, r->http, &r->cfg);
	ck_assert_ptr_nonnull(r->in);
}

static struct jp_intensity_stats stats(struct rig *r)
{
	struct jp_intensity_stats s;
	jp_intensity_stats(r->in, &s);
	return s;
}

/* Run the loop until field of the stats reaches want, or timeout. */
#define RUN_UNTIL(r, field, want, timeout_ms)                                                    \
	do {                                                                                     \
		uint64_t t0_ = jp_now_mono_ms();                                                 \
		while (stats(r).field < (want) && jp_now_mono_ms() - t0_ < (timeout_ms))         \
			uv_run(&(r)->loop, UV_RUN_ONCE);                                         \
		ck_assert_msg(stats(r).field >= (want), #field " = %llu, want %llu",             \
			      (unsigned long long)stats(r).field, (unsigned long long)(want));   \
	} while (0)

static void set_flag(void *arg) { *(int *)arg = 1; }

static void rig_close(struct rig *r)
{
	int a = 0, b = 0;
	jp_intensity_close(r->in, set_flag, &a);
	jp_http_close(r->http, set_flag, &b);
	uv_close((uv_handle_t *)&r->tick, NULL);
	while (!a || !b)
		uv_run(&r->loop, UV_RUN_ONCE);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&r->loop), 0);
	if (r->mock)
		mock_stop(r->mock);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
	ck_assert_int_eq(system(cmd), 0);
	jp_config_free(&r->cfg);
}

/* ---- intensity --------------------------------------------------------------------- */

START_TEST(test_intensity_static)
{
	struct rig r;
	const char *src, *zone;
	rig_init(&r, JP_CARBON_STATIC);
	r.cfg.carbon_grams_per_kwh = 321;
	r.cfg.carbon_source = JP_CARBON_STATIC;   /* the mock answers the forecaster alone */
	rig_create(&r);
	ck_assert_double_eq(jp_intensity_current(r.in, jp_now_wall_ms(), &src, &zone), 321);
	ck_assert_str_eq(src, "static");
	ck_assert_str_eq(zone, "static");
	rig_close(&r);
}
END_TEST

static void count_cb(void *arg) { (*(int *)arg)++; }

/* A second close while the first is under way is ignored (the close idiom of
 * util/closer.h): the handle is closed once and the callback runs once. */
START_TEST(test_intensity_double_close)
{
	struct rig r;
	rig_init(&r, JP_CARBON_STATIC);
	rig_create(&r);
	int a = 0, b = 0, c = 0;
	jp_intensity_close(r.in, count_cb, &a);
	jp_intensity_close(r.in, count_cb, &c);
	jp_http_close(r.http, set_flag, &b);
	uv_close((uv_handle_t *)&r.tick, NULL);
	uv_run(&r.loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(a, 1);
	ck_assert_int_eq(c, 0);
	ck_assert_int_eq(uv_loop_close(&r.loop), 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", r.dir);
	ck_assert_int_eq(system(cmd), 0);
	jp_config_free(&r.cfg);
}
END_TEST

START_TEST(test_intensity_bad_config)
{
	struct rig r;
	rig_init(&r, JP_CARBON_UKCI);
	set_str(&r.cfg.ukci_region, "London");
	ck_assert_ptr_null(jp_intensity_create(&r.loop, r.http, &r.cfg));
	ck_assert_int_eq(errno, EINVAL);
	set_str(&r.cfg.ukci_region, "");
	r.cfg.carbon_source = JP_CARBON_STATIC;
	rig_create(&r);
	rig_close(&r);
}
END_TEST

START_TEST(test_intensity_entsoe)
{
	struct rig r;
	const char *src, *zone;
	rig_init(&r, JP_CARBON_ENTSOE);
	struct mock_resp s[] = {{.status = 200, .fixture = "entsoe_basic.xml"}};
	mock_script(r.mock, s, 1);
	rig_create(&r);
	RUN_UNTIL(&r, successes, 1, 5000);
	ck_assert_int_eq(mock_nreqs(r.mock), 1);
	const char *req = r.mock->reqs[0];
	ck_assert_ptr_nonnull(strstr(req, "GET /api?documentType=A75&processType=A16&in_Domain=10Y1001A1001A82H&periodStart="));
	ck_assert_ptr_nonnull(strstr(req, "&securityToken=" TOKEN " HTTP/1.1"));

	double want = (1000.0 * 490 + 3000.0 * 12 + 500.0 * 45 + 2000.0 * 11) / 6500.0;
	/* Fresh at 11:05 on the fixture's day: 5 minutes after the point's end. */
	ck_assert_double_eq_tol(jp_intensity_current(r.in, T("2024-03-05T11:05Z"), &src, &zone), want, EPS);
	ck_assert_str_eq(src, "entsoe");
	ck_assert_str_eq(zone, "10Y1001A1001A82H");
	/* Exactly max_age after the end still counts; a millisecond later is stale. */
	ck_assert_double_eq_tol(jp_intensity_current(r.in, T("2024-03-05T13:00Z"), &src, NULL), want, EPS);
	ck_assert_double_eq(jp_intensity_current(r.in, T("2024-03-05T13:00Z") + 1, &src, &zone), 475);
	ck_assert_str_eq(src, "fallback");
	ck_assert_str_eq(zone, "10Y1001A1001A82H");
	/* Today the fixture is long stale. */
	ck_assert_double_eq(jp_intensity_current(r.in, jp_now_wall_ms(), &src, NULL), 475);
	ck_assert_str_eq(src, "fallback");
	ck_assert_uint_eq(stats(&r).next_delay_ms, 60000);   /* refresh, not sooner */
	rig_close(&r);
}
END_TEST

/* Collects a commit's samples by a printable key: name{label=value,...} without common labels. */
struct seen {
	int n;
	char key[32][256];
	double v[32];
};

static int seen_cb(int64_t ts_ms, const struct jp_round_sample *v, size_t n, void *arg)
{
	struct seen *s = arg;
	for (size_t i = 0; i < n && s->n < 32; i++) {
		char *k = s->key[s->n];
		size_t o = (size_t)snprintf(k, 256, "%s{", v[i].series->name);
		for (uint16_t j = 0; j < v[i].series->nlabels; j++) {
			const struct jp_label *l = &v[i].series->labels[j];
			if (!strcmp(l->name, "__name__") || !strcmp(l->name, "node"))
				continue;
			o += (size_t)snprintf(k + o, 256 - o, "%s=%s,", l->name, l->value);
		}
		snprintf(k + o, 256 - o, "}");
		s->v[s->n++] = v[i].value;
	}
	return 0;
}

static double seen_get(const struct seen *s, const char *key)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->key[i], key))
			return s->v[i];
	ck_abort_msg("no series %s", key);
	return NAN;
}

static int seen_has(const struct seen *s, const char *prefix)
{
	for (int i = 0; i < s->n; i++)
		if (!strncmp(s->key[i], prefix, strlen(prefix)))
			return 1;
	return 0;
}

/* Coal, gas and oil over everything that counts in the mix; storage does not count. */
START_TEST(test_fossil_ratio)
{
	struct jp_mix m = {0};
	int types[] = {2, 4, 6, 10, 14, 19};
	double mw[] = {100, 300, 50, 500, 400, 150};
	for (int i = 0; i < 6; i++) {
		m.mw[types[i]] = mw[i];
		m.present |= 1u << types[i];
	}
	double r;
	ck_assert_int_eq(jp_mix_fossil_ratio(&m, &r), 0);
	ck_assert_double_eq_tol(r, 450.0 / 1000.0, 1e-12);
	struct jp_mix empty = {0};
	ck_assert_int_eq(jp_mix_fossil_ratio(&empty, &r), -ENODATA);
}
END_TEST

START_TEST(test_intensity_series)
{
	struct rig r;
	rig_init(&r, JP_CARBON_ENTSOE);
	/* A max_age of a century keeps the 2024 fixture fresh at the wall clock's now. */
	r.cfg.carbon_max_age_ms = 100ULL * 366 * 86400000;
	struct mock_resp s[] = {{.status = 200, .fixture = "entsoe_consumption.xml"}};
	mock_script(r.mock, s, 1);
	rig_create(&r);
	RUN_UNTIL(&r, successes, 1, 5000);

	struct jp_label common[] = {{"node", "n1"}};
	struct jp_store *st = jp_store_create(common, 1, 2);
	struct seen seen = {0};
	jp_store_begin(st, 1000);
	ck_assert_int_eq(jp_intensity_set_series(r.in, st), 0);
	jp_store_commit(st, seen_cb, &seen);
	ck_assert_double_eq_tol(seen_get(&seen, "joulepush_grid_carbon_intensity_grams_per_kwh{grid_zone=10Y1001A1001A82H,signal=average,source=entsoe,}"),
				(1500.0 * 24 + 2900.0 * 12) / 4400.0, EPS);
	ck_assert_double_eq(seen_get(&seen, "joulepush_grid_generation_megawatts{fuel=hydro,grid_zone=10Y1001A1001A82H,psr_type=B11,}"), 1500);
	ck_assert_double_eq(seen_get(&seen, "joulepush_grid_generation_megawatts{fuel=nuclear,grid_zone=10Y1001A1001A82H,psr_type=B14,}"), 2900);
	ck_assert_double_eq(seen_get(&seen, "joulepush_grid_generation_megawatts{fuel=storage,grid_zone=10Y1001A1001A82H,psr_type=B10,}"), 400);
	ck_assert_double_eq_tol(seen_get(&seen, "joulepush_grid_renewable_ratio{grid_zone=10Y1001A1001A82H,}"), 1500.0 / 4400.0, EPS);
	ck_assert_double_eq(seen_get(&seen, "joulepush_grid_fossil_ratio{grid_zone=10Y1001A1001A82H,}"), 0);
	ck_assert_double_eq(seen_get(&seen, "joulepush_carbon_refresh_failures_total{source=entsoe,}"), 0);
	/* Carbon-free: hydro (renewable) 1500 MW and nuclear 2900 MW of 4400 (storage left out). */
	ck_assert_double_eq_tol(seen_get(&seen, "joulepush_grid_carbon_free_ratio{grid_zone=10Y1001A1001A82H,source=entsoe,}"),
				(1500.0 + 2900.0) / 4400.0, EPS);
	ck_assert_int_eq(seen.n, 8);
	jp_store_destroy(st);
	rig_close(&r);
}
END_TEST

START_TEST(test_intensity_fallback_no_mix)
{
	struct rig r;
	rig_init(&r, JP_CARBON_ENTSOE);
	struct mock_resp s[] = {{.status = 503, .body = "<html>down for maintenance</html>"}};
	mock_script(r.mock, s, 1);
	r.cfg.carbon_grams_per_kwh = 400;
	rig_create(&r);
	RUN_UNTIL(&r, failures, 1, 5000);
	struct jp_label common[] = {{"node", "n1"}};
	struct jp_store *st = jp_store_create(common, 1, 2);
	struct seen seen = {0};
	jp_store_begin(st, 1000);
	ck_assert_int_eq(jp_intensity_set_series(r.in, st), 0);
	jp_store_commit(st, seen_cb, &seen);
	ck_assert_double_eq(seen_get(&seen, "joulepush_grid_carbon_intensity_grams_per_kwh{grid_zone=10Y1001A1001A82H,signal=average,source=fallback,}"), 400);
	ck_assert_double_eq(seen_get(&seen, "joulepush_carbon_refresh_failures_total{source=entsoe,}"), 1);
	ck_assert(!seen_has(&seen, "joulepush_grid_generation_megawatts"));
	ck_assert(!seen_has(&seen, "joulepush_grid_renewable_ratio"));
	ck_assert(!seen_has(&seen, "joulepush_grid_fossil_ratio"));
	ck_assert(!seen_has(&seen, "joulepush_grid_carbon_free_ratio"));   /* not known for the fallback */
	jp_store_destroy(st);
	rig_close(&r);
}
END_TEST

START_TEST(test_intensity_429)
{
	struct rig r;
	rig_init(&r, JP_CARBON_ENTSOE);
	r.cfg.carbon_refresh_ms = 100;
	struct mock_resp s[] = {
		{.status = 429, .body = "slow down"},
		{.status = 429, .body = "slow down"},
		{.status = 429, .headers = "Retry-After: 1\r\n", .body = "slow down"},
		{.status = 200, .fixture = "entsoe_basic.xml"},
	};
	mock_script(r.mock, s, 4);
	r.mock->dflt = s[3];
	rig_create(&r);
	RUN_UNTIL(&r, successes, 1, 10000);
	ck_assert_int_eq(stats(&r).rate_limited, 3);
	ck_assert_int_eq(mock_nreqs(r.mock), 4);
	uint64_t *t = r.mock->req_ms;
	/* 100 ms doubled per 429 in a row: 200, 400, then 800 < Retry-After 1 s. */
	ck_assert_uint_ge(t[1] - t[0], 190);
	ck_assert_uint_ge(t[2] - t[1], 390);
	ck_assert_uint_ge(t[3] - t[2], 990);
	/* After a success the interval is refresh again. */
	ck_assert_uint_eq(stats(&r).next_delay_ms, 100);
	rig_close(&r);
}
END_TEST

/* ---- forecasts (carbon/forecaster.c) ------------------------------------------------- */

static struct jp_forecaster_stats fstats(struct jp_forecaster *f)
{
	struct jp_forecaster_stats st;
	jp_forecaster_stats(f, &st);
	return st;
}

#define RUN_UNTIL_F(r, f, field, want, timeout_ms)                                               \
	do {                                                                                     \
		uint64_t t0_ = jp_now_mono_ms();                                                 \
		while (fstats(f).field < (want) && jp_now_mono_ms() - t0_ < (timeout_ms))        \
			uv_run(&(r)->loop, UV_RUN_ONCE);                                         \
		ck_assert_msg(fstats(f).field >= (want), #field " = %llu, want %llu",            \
			      (unsigned long long)fstats(f).field, (unsigned long long)(want));  \
	} while (0)

static void close_forecaster(struct rig *r, struct jp_forecaster *f)
{
	int done = 0;
	jp_forecaster_close(f, set_flag, &done);
	while (!done)
		uv_run(&r->loop, UV_RUN_ONCE);
}

/* A UK forecast with a valley an hour away: the gauges name its start and mean. */
START_TEST(test_forecaster_ukci)
{
	struct rig r;
	rig_init(&r, JP_CARBON_UKCI);
	r.cfg.carbon_source = JP_CARBON_STATIC;   /* the mock answers the forecaster alone */
	rig_create(&r);
	int64_t now = jp_now_wall_ms();
	int64_t h0 = now / 1800000 * 1800000;
	static char body[2048];
	size_t o = (size_t)snprintf(body, sizeof(body), "{\"data\":[");
	static const int g[] = {300, 300, 300, 80, 80, 300, 300, 300};
	for (int i = 0; i < 8; i++) {
		char a[32], b[32];
		jp_time_format_rfc3339(h0 + (i - 1) * 1800000LL, a, sizeof(a));
		jp_time_format_rfc3339(h0 + i * 1800000LL, b, sizeof(b));
		o += (size_t)snprintf(body + o, sizeof(body) - o, "%s{\"from\":\"%s\",\"to\":\"%s\",\"intensity\":{\"forecast\":%d}}",
				      i ? "," : "", a, b, g[i]);
	}
	snprintf(body + o, sizeof(body) - o, "]}");
	struct mock_resp s[] = {{.status = 200, .body = body}};
	mock_script(r.mock, s, 1);
	r.cfg.forecast_source = JP_CARBON_UKCI;
	r.cfg.forecast_horizon_ms = 3 * 3600000;
	r.cfg.forecast_windows = (struct jp_durlist){.ms = {3600000, 4 * 3600000}, .n = 2};
	struct jp_forecaster *f = jp_forecaster_create(&r.loop, r.http, &r.cfg);
	ck_assert_ptr_nonnull(f);
	RUN_UNTIL_F(&r, f, successes, 1, 5000);
	ck_assert_str_eq(jp_forecaster_grid_zone(f), "GB");

	struct jp_label common[] = {{"node", "n1"}};
	struct jp_store *st = jp_store_create(common, 1, 2);
	struct seen seen = {0};
	now = jp_now_wall_ms();
	jp_store_begin(st, now);
	ck_assert_int_eq(jp_forecaster_set_series(f, st, now), 0);
	jp_store_commit(st, seen_cb, &seen);
	ck_assert_double_eq_tol(seen_get(&seen, "joulepush_grid_greenest_window_start_seconds{grid_zone=GB,window=1h,}"),
				(double)(h0 + 2 * 1800000LL - now) / 1000.0, 1e-6);
	ck_assert_double_eq(seen_get(&seen, "joulepush_grid_greenest_window_grams_per_kwh{grid_zone=GB,window=1h,}"), 80);
	/* The 4 h window is longer than the 3 h horizon: not exported. */
	ck_assert(!seen_has(&seen, "joulepush_grid_greenest_window_start_seconds{grid_zone=GB,window=4h,}"));
	ck_assert_double_eq(seen_get(&seen, "joulepush_grid_carbon_intensity_forecast_grams_per_kwh{grid_zone=GB,horizon=1h,signal=average,source=ukci,}"),
			    g[(int)((now + 3600000 - (h0 - 1800000)) / 1800000)]);
	ck_assert(seen_has(&seen, "joulepush_grid_forecast_info{grid_zone=GB,method=ukci_forecast,signal=average,source=ukci,}"));
	ck_assert(seen_has(&seen, "joulepush_grid_carbon_intensity_rank_ratio{grid_zone=GB,}"));
	jp_store_destroy(st);
	close_forecaster(&r, f);
	rig_close(&r);
}
END_TEST

/* The one back-off rule (carbon/retry.h): refresh doubled per 429 in a row, a longer
 * Retry-After wins, never past max(refresh, 1 h). */
START_TEST(test_retry_rule)
{
	unsigned n = 0;
	ck_assert_uint_eq(jp_carbon_retry_delay_ms(100, &n, 0), 200);
	ck_assert_uint_eq(jp_carbon_retry_delay_ms(100, &n, 0), 400);
	ck_assert_uint_eq(jp_carbon_retry_delay_ms(100, &n, 1000), 1000);
	for (int i = 0; i < 10; i++)
		jp_carbon_retry_delay_ms(100, &n, 0);
	ck_assert_uint_eq(n, JP_CARBON_MAX_BACKOFF_SHIFT);
	ck_assert_uint_eq(jp_carbon_retry_delay_ms(100, &n, 0), 100u << JP_CARBON_MAX_BACKOFF_SHIFT);
	n = 0;
	ck_assert_uint_eq(jp_carbon_retry_delay_ms(60000, &n, 99999999000LL), 3600000);
	n = 0;   /* refresh 2 h: the cap is the refresh itself, not 3.2 years */
	ck_assert_uint_eq(jp_carbon_retry_delay_ms(7200000, &n, 99999999000LL), 7200000);
	n = 0;
	ck_assert_uint_eq(jp_carbon_retry_delay_ms(UINT64_MAX / 2, &n, 0), UINT64_MAX / 2);
}
END_TEST

/* A huge Retry-After does not switch a source off until a restart: the live source and
 * the forecast wait max(refresh, 1 h), at a refresh of 1 min and of 2 h (the forecaster
 * used to skip its cap when refresh was 1 h or more and scheduled the next request 3.2
 * years away). */
START_TEST(test_retry_after_capped)
{
	static const uint64_t refresh[] = {60000, 7200000}, want[] = {3600000, 7200000};
	for (int i = 0; i < 2; i++) {
		struct rig r;
		rig_init(&r, JP_CARBON_UKCI);
		r.cfg.carbon_refresh_ms = refresh[i];
		struct mock_resp s[] = {{.status = 429, .headers = "Retry-After: 99999999\r\n", .body = "slow down"}};
		mock_script(r.mock, s, 1);
		r.mock->dflt = s[0];
		rig_create(&r);
		RUN_UNTIL(&r, rate_limited, 1, 5000);
		ck_assert_uint_eq(stats(&r).next_delay_ms, want[i]);
		r.cfg.forecast_source = JP_CARBON_UKCI;
		r.cfg.forecast_refresh_ms = refresh[i];
		struct jp_forecaster *f = jp_forecaster_create(&r.loop, r.http, &r.cfg);
		ck_assert_ptr_nonnull(f);
		RUN_UNTIL_F(&r, f, rate_limited, 1, 5000);
		ck_assert_uint_eq(fstats(f).next_delay_ms, want[i]);
		close_forecaster(&r, f);
		rig_close(&r);
	}
}
END_TEST

/* One absurd forecast value (1e308) is dropped and counted, instead of making every window
 * sum infinite; the JSON routes never print inf or nan; a hostile location comes back as
 * valid UTF-8 with its control characters escaped. */
START_TEST(test_forecast_hostile_values)
{
	struct rig r;
	rig_init(&r, JP_CARBON_UKCI);
	r.cfg.carbon_source = JP_CARBON_STATIC;
	rig_create(&r);
	int64_t now = jp_now_wall_ms();
	int64_t h0 = now / 1800000 * 1800000;
	static char body[2048];
	size_t o = (size_t)snprintf(body, sizeof(body), "{\"data\":[");
	static const char *const g[] = {"300", "300", "1e308", "300", "80", "80", "300", "300"};
	for (int i = 0; i < 8; i++) {
		char a[32], b[32];
		jp_time_format_rfc3339(h0 + (i - 1) * 1800000LL, a, sizeof(a));
		jp_time_format_rfc3339(h0 + i * 1800000LL, b, sizeof(b));
		o += (size_t)snprintf(body + o, sizeof(body) - o, "%s{\"from\":\"%s\",\"to\":\"%s\",\"intensity\":{\"forecast\":%s}}",
				      i ? "," : "", a, b, g[i]);
	}
	snprintf(body + o, sizeof(body) - o, "]}");
	struct mock_resp s[] = {{.status = 200, .body = body}};
	mock_script(r.mock, s, 1);
	r.cfg.forecast_source = JP_CARBON_UKCI;
	r.cfg.forecast_horizon_ms = 3 * 3600000;
	r.cfg.forecast_windows = (struct jp_durlist){.ms = {3600000}, .n = 1};
	struct jp_forecaster *f = jp_forecaster_create(&r.loop, r.http, &r.cfg);
	ck_assert_ptr_nonnull(f);
	RUN_UNTIL_F(&r, f, successes, 1, 5000);
	ck_assert_uint_ge(fstats(f).dropped, 1);
	now = jp_now_wall_ms();
	struct jp_buf out = {0};
	const char *ctype;
	ck_assert_int_eq(jp_forecast_web_route(f, now, "/v1/forecast", "", &out, &ctype), 200);
	jp_buf_append(&out, "", 1);
	const char *j = (const char *)out.data;
	ck_assert_msg(!strstr(j, "inf") && !strstr(j, "nan") && !strstr(j, "e+308"), "%s", j);
	/* The best hour is the two 80 g points, whatever lies around them. */
	ck_assert_msg(strstr(j, "\"average_grams_per_kwh\":80}") != NULL, "%s", j);
	jp_buf_free(&out);
	ck_assert_int_eq(jp_forecast_web_route(f, now, "/emissions/forecasts/current", "location=%ff%01x%22&windowSize=60",
					       &out, &ctype), 200);
	jp_buf_append(&out, "", 1);
	j = (const char *)out.data;
	ck_assert_msg(!strchr(j, '\xff') && !strchr(j, '\x01'), "%s", j);
	ck_assert_msg(strstr(j, "\"location\":\"\xef\xbf\xbd\\u0001x\\\"\"") != NULL, "%s", j);
	ck_assert_msg(!strstr(j, "inf") && !strstr(j, "nan"), "%s", j);
	jp_buf_free(&out);
	close_forecaster(&r, f);
	rig_close(&r);
}
END_TEST

/* A forecast wholly in the past is refused with a reason and sets no gauge; a 429 backs
 * off with the Retry-After, capped at an hour; neither touches the intensity in force. */
START_TEST(test_forecaster_stale_and_429)
{
	struct rig r;
	rig_init(&r, JP_CARBON_UKCI);
	r.cfg.carbon_grams_per_kwh = 321;
	r.cfg.carbon_source = JP_CARBON_STATIC;   /* the mock answers the forecaster alone */
	rig_create(&r);
	struct mock_resp s[] = {
		{.status = 200, .fixture = "ukci_fw48h.json"},   /* 2026-12-03 10:30-14:30 */
		{.status = 429, .headers = "Retry-After: 99999999\r\n", .body = "slow down"},
	};
	mock_script(r.mock, s, 2);
	r.mock->dflt = s[1];
	r.cfg.forecast_source = JP_CARBON_UKCI;
	r.cfg.forecast_refresh_ms = 50;
	struct jp_forecaster *f = jp_forecaster_create(&r.loop, r.http, &r.cfg);
	ck_assert_ptr_nonnull(f);
	RUN_UNTIL_F(&r, f, failures, 1, 5000);
	/* The fixture ends on 2026-12-03 at 14:30 UTC, before any run of this test. */
	ck_assert_msg(strstr(jp_forecaster_last_error(f), "no point after now") != NULL, "%s",
		      jp_forecaster_last_error(f));
	struct jp_label common[] = {{"node", "n1"}};
	struct jp_store *st = jp_store_create(common, 1, 2);
	struct seen seen = {0};
	int64_t now = jp_now_wall_ms();
	jp_store_begin(st, now);
	ck_assert_int_eq(jp_forecaster_set_series(f, st, now), 0);
	jp_store_commit(st, seen_cb, &seen);
	ck_assert_int_eq(seen.n, 0);
	RUN_UNTIL_F(&r, f, rate_limited, 1, 5000);
	ck_assert_uint_eq(fstats(f).next_delay_ms, 3600u * 1000u);
	ck_assert_double_eq(jp_intensity_current(r.in, now, NULL, NULL), 321);
	jp_store_destroy(st);
	close_forecaster(&r, f);
	rig_close(&r);
}
END_TEST

/* ENTSO-E: a refresh asks for A75, A69 and A71 in turn, with the token in the request and
 * never in a log line; the fixture day lies in the past, so the forecast it builds is
 * refused as stale (the arithmetic itself: check_forecast, test_entsoe_day_ahead). An
 * acknowledgement "no data" stops the refresh with its reason. */
START_TEST(test_forecaster_entsoe_chain)
{
	struct rig r;
	rig_init(&r, JP_CARBON_ENTSOE);
	r.cfg.carbon_source = JP_CARBON_STATIC;   /* the mock answers the forecaster alone */
	rig_create(&r);
	struct mock_resp s[] = {
		{.status = 200, .fixture = "entsoe_a75_day.xml"},
		{.status = 200, .fixture = "entsoe_a69_day.xml"},
		{.status = 200, .fixture = "entsoe_a71_day.xml"},
		{.status = 200, .fixture = "entsoe_ack.xml"},
	};
	mock_script(r.mock, s, 4);
	r.mock->dflt = s[3];
	r.cfg.forecast_source = JP_CARBON_ENTSOE;
	r.cfg.forecast_refresh_ms = 50;
	struct jp_forecaster *f = jp_forecaster_create(&r.loop, r.http, &r.cfg);
	ck_assert_ptr_nonnull(f);
	RUN_UNTIL_F(&r, f, failures, 1, 5000);
	ck_assert_msg(strstr(jp_forecaster_last_error(f), "no point after now") != NULL, "%s", jp_forecaster_last_error(f));
	ck_assert_str_eq(jp_forecaster_grid_zone(f), "10Y1001A1001A82H");
	pthread_mutex_lock(&r.mock->mu);
	ck_assert_int_ge(r.mock->nreqs, 3);
	ck_assert_ptr_nonnull(strstr(r.mock->reqs[0], "documentType=A75&processType=A16"));
	ck_assert_ptr_nonnull(strstr(r.mock->reqs[1], "documentType=A69&processType=A01"));
	ck_assert_ptr_nonnull(strstr(r.mock->reqs[2], "documentType=A71&processType=A01"));
	ck_assert_ptr_nonnull(strstr(r.mock->reqs[0], "securityToken=" TOKEN));
	pthread_mutex_unlock(&r.mock->mu);
	ck_assert_ptr_null(strstr(jp_forecaster_last_error(f), TOKEN));
	/* The next refresh gets the acknowledgement: its reason, not a crash. */
	RUN_UNTIL_F(&r, f, failures, 2, 5000);
	ck_assert_ptr_nonnull(strstr(jp_forecaster_last_error(f), "acknowledgement"));
	ck_assert_ptr_null(strstr(jp_forecaster_last_error(f), TOKEN));
	close_forecaster(&r, f);
	rig_close(&r);
}
END_TEST

START_TEST(test_intensity_ack_keeps_value)
{
	struct rig r;
	const char *src;
	rig_init(&r, JP_CARBON_ENTSOE);
	r.cfg.carbon_refresh_ms = 50;
	struct mock_resp s[] = {
		{.status = 200, .fixture = "entsoe_basic.xml"},
		{.status = 400, .fixture = "entsoe_ack.xml"},
		{.status = 200, .fixture = "entsoe_ack.xml"},
		{.status = 200, .fixture = "entsoe_truncated.xml"},
	};
	mock_script(r.mock, s, 4);
	r.mock->dflt = s[1];
	rig_create(&r);
	RUN_UNTIL(&r, failures, 2, 5000);
	ck_assert_uint_eq(stats(&r).successes, 1);
	/* 999 with HTTP 200 is "no matching data"; 999 with 400 is a request the service
	 * refuses (a mistyped area): a failure, as is the truncated document. */
	ck_assert_uint_eq(stats(&r).no_data, 1);
	ck_assert_uint_eq(stats(&r).failures, 2);
	double want = (1000.0 * 490 + 3000.0 * 12 + 500.0 * 45 + 2000.0 * 11) / 6500.0;
	ck_assert_double_eq_tol(jp_intensity_current(r.in, T("2024-03-05T11:05Z"), &src, NULL), want, EPS);
	ck_assert_str_eq(src, "entsoe");
	rig_close(&r);
}
END_TEST

START_TEST(test_intensity_size_cap)
{
	struct rig r;
	rig_init(&r, JP_CARBON_ENTSOE);
	struct mock_resp s[] = {{.status = 200, .big = 1}};
	mock_script(r.mock, s, 1);
	rig_create(&r);
	RUN_UNTIL(&r, failures, 1, 10000);
	ck_assert_uint_eq(stats(&r).successes, 0);
	rig_close(&r);
}
END_TEST

START_TEST(test_token_never_logged)
{
	struct rig r;
	char logpath[160];
	rig_init(&r, JP_CARBON_ENTSOE);
	r.cfg.carbon_refresh_ms = 30;
	snprintf(logpath, sizeof(logpath), "%s/stderr.log", r.dir);
	/* Everything that gets logged: errors echoing the request, 429, a 400 that is not an
	 * acknowledgement, rejected series, no data, success (at debug). */
	struct mock_resp s[] = {
		{.status = 500, .body = "internal error for GET /api?securityToken=" TOKEN},
		{.status = 429, .body = "rate limited token " TOKEN},
		{.status = 400, .body = "<html>bad request " TOKEN "</html>"},
		{.status = 401, .body = "<html>Unauthorized</html>"},
		{.status = 200, .fixture = "entsoe_negative_nan.xml"},
		{.status = 200, .fixture = "entsoe_ack.xml"},
		{.status = 200, .body = "<?xml version=\"1.0\"?><x>" TOKEN},
	};
	mock_script(r.mock, s, 7);
	r.mock->dflt = s[0];

	fflush(stderr);
	int saved = dup(2);
	int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	dup2(fd, 2);
	close(fd);
	jp_log_configure(JP_LOG_DEBUG, 0);
	rig_create(&r);
	RUN_UNTIL(&r, failures, 6, 10000);
	RUN_UNTIL(&r, successes, 1, 10000);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	jp_log_configure(JP_LOG_INFO, 0);

	/* The token went to the server... */
	ck_assert_ptr_nonnull(strstr(r.mock->reqs[0], "securityToken=" TOKEN));
	/* ...and never to the log, which did say what happened. */
	FILE *f = fopen(logpath, "r");
	char log[65536];
	size_t n = fread(log, 1, sizeof(log) - 1, f);
	fclose(f);
	log[n] = 0;
	ck_assert_msg(n > 0, "nothing was logged");
	ck_assert_msg(strstr(log, "SECRETSECRET") == NULL, "token in log:\n%s", log);
	ck_assert_ptr_nonnull(strstr(log, "entsoe"));
	ck_assert_ptr_nonnull(strstr(log, "securityToken=REDACTED"));
	ck_assert_ptr_nonnull(strstr(log, "negative quantities taken as 0 MW"));
	rig_close(&r);
}
END_TEST

START_TEST(test_intensity_connect_refused)
{
	struct rig r;
	const char *src;
	rig_init(&r, JP_CARBON_ELECTRICITYMAPS);
	/* A port with nobody listening: take one and close it. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &al);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v3", ntohs(a.sin_port));
	close(fd);
	set_str(&r.cfg.emaps_url, url);
	rig_create(&r);
	RUN_UNTIL(&r, failures, 1, 5000);
	ck_assert_double_eq(jp_intensity_current(r.in, jp_now_wall_ms(), &src, NULL), 475);
	ck_assert_str_eq(src, "fallback");
	rig_close(&r);
}
END_TEST

START_TEST(test_intensity_no_token)
{
	struct rig r;
	rig_init(&r, JP_CARBON_ENTSOE);
	set_str(&r.cfg.entsoe_token_file, "");
	rig_create(&r);
	RUN_UNTIL(&r, failures, 1, 5000);
	ck_assert_int_eq(mock_nreqs(r.mock), 0);
	rig_close(&r);
}
END_TEST

START_TEST(test_intensity_emaps)
{
	struct rig r;
	const char *src, *zone;
	rig_init(&r, JP_CARBON_ELECTRICITYMAPS);
	struct mock_resp s[] = {{.status = 200, .fixture = "emaps_latest.json"}};
	mock_script(r.mock, s, 1);
	rig_create(&r);
	RUN_UNTIL(&r, successes, 1, 5000);
	ck_assert_ptr_nonnull(strstr(r.mock->reqs[0], "GET /v3/carbon-intensity/latest?zone=DE HTTP/1.1"));
	ck_assert_ptr_nonnull(strcasestr(r.mock->reqs[0], "\r\nauth-token: " TOKEN "\r\n"));
	ck_assert_double_eq(jp_intensity_current(r.in, T("2024-03-05T10:30Z"), &src, &zone), 302);
	ck_assert_str_eq(src, "electricitymaps");
	ck_assert_str_eq(zone, "DE");
	rig_close(&r);
}
END_TEST

START_TEST(test_intensity_ukci)
{
	struct rig r;
	const char *src, *zone;
	rig_init(&r, JP_CARBON_UKCI);
	set_str(&r.cfg.ukci_region, "13");
	struct mock_resp s[] = {{.status = 200, .fixture = "ukci_regional.json"}};
	mock_script(r.mock, s, 1);
	rig_create(&r);
	RUN_UNTIL(&r, successes, 1, 5000);
	ck_assert_ptr_nonnull(strstr(r.mock->reqs[0], "GET /regional/regionid/13 HTTP/1.1"));
	ck_assert_double_eq(jp_intensity_current(r.in, T("2024-03-05T10:20Z"), &src, &zone), 152);
	ck_assert_str_eq(src, "ukci");
	ck_assert_str_eq(zone, "13");
	rig_close(&r);

	rig_init(&r, JP_CARBON_UKCI);
	struct mock_resp s2[] = {{.status = 200, .fixture = "ukci_national.json"}};
	mock_script(r.mock, s2, 1);
	rig_create(&r);
	RUN_UNTIL(&r, successes, 1, 5000);
	ck_assert_ptr_nonnull(strstr(r.mock->reqs[0], "GET /intensity HTTP/1.1"));
	ck_assert_double_eq(jp_intensity_current(r.in, T("2024-03-05T10:20Z"), &src, &zone), 181);
	ck_assert_str_eq(zone, "GB");
	rig_close(&r);
}
END_TEST

static void write_file(const char *path, const char *text, time_t mtime)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	struct timeval tv[2] = {{mtime, 0}, {mtime, 0}};
	ck_assert_int_eq(utimes(path, tv), 0);
}

START_TEST(test_intensity_file)
{
	struct rig r;
	const char *src, *zone;
	char path[160];
	rig_init(&r, JP_CARBON_FILE);
	snprintf(path, sizeof(path), "%s/intensity.csv", r.dir);
	write_file(path, "time,grams_per_kwh\n2024-03-05T09:00:00Z,410\n2024-03-05T10:00:00Z,385.5\n", 1000000);
	set_str(&r.cfg.carbon_file_path, path);
	r.cfg.carbon_refresh_ms = 20;
	r.cfg.carbon_max_age_ms = 3600000;
	rig_create(&r);
	RUN_UNTIL(&r, successes, 1, 5000);
	ck_assert_double_eq(jp_intensity_current(r.in, T("2024-03-05T09:30Z"), &src, &zone), 410);
	ck_assert_str_eq(src, "file");
	ck_assert_str_eq(zone, "file");
	ck_assert_double_eq(jp_intensity_current(r.in, T("2024-03-05T11:00Z"), &src, NULL), 385.5);
	/* Staleness: the latest entry is more than max_age old. */
	ck_assert_double_eq(jp_intensity_current(r.in, T("2024-03-05T11:00Z") + 1, &src, NULL), 475);
	ck_assert_str_eq(src, "fallback");
	/* Before the first entry there is no value in force. */
	ck_assert_double_eq(jp_intensity_current(r.in, T("2024-03-05T08:00Z"), &src, NULL), 475);

	/* The file changes (new mtime): re-read, now as JSON. */
	write_file(path, "[{\"time\": \"2024-03-05T11:00:00Z\", \"grams_per_kwh\": 300}]", 2000000);
	RUN_UNTIL(&r, successes, 2, 5000);
	ck_assert_double_eq(jp_intensity_current(r.in, T("2024-03-05T11:30Z"), &src, NULL), 300);
	/* A bad rewrite is refused and the previous contents stay. */
	write_file(path, "time,grams_per_kwh\n2024-03-05T12:00:00Z,-1\n", 3000000);
	RUN_UNTIL(&r, failures, 1, 5000);
	ck_assert_double_eq(jp_intensity_current(r.in, T("2024-03-05T11:30Z"), &src, NULL), 300);
	ck_assert_uint_eq(stats(&r).successes, 2);
	/* An unchanged file is not read again. */
	uint64_t req = stats(&r).requests;
	uint64_t t0 = jp_now_mono_ms();
	while (jp_now_mono_ms() - t0 < 100)
		uv_run(&r.loop, UV_RUN_ONCE);
	ck_assert_uint_eq(stats(&r).requests, req);
	/* A missing file is a failure, not a crash. */
	unlink(path);
	RUN_UNTIL(&r, failures, 2, 5000);
	rig_close(&r);
}
END_TEST

/* The blocking client of the commands (remote/http_sync.h), on this file's loopback mock:
 * any status comes back with its body; an answer over the cap is refused; a header with a
 * line break is refused before anything is sent. */
START_TEST(test_http_run)
{
	struct mock *m = mock_start();
	struct mock_resp s[] = {
		{.status = 200, .body = "hello"},
		{.status = 503, .headers = "Retry-After: 7\r\n", .body = "busy"},
		{.status = 200, .fixture = "ukci_fw48h.json"},
	};
	mock_script(m, s, 3);
	char url[128], why[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", m->port);
	struct jp_http_request req = {.method = "GET", .url = url, .timeout_ms = 5000};
	struct jp_http_reply rep;
	ck_assert_int_eq(jp_http_run(&req, NULL, &rep, why, sizeof(why)), 0);
	ck_assert_int_eq(rep.status, 200);
	ck_assert_uint_eq(rep.body.len, 5);
	ck_assert_int_eq(memcmp(rep.body.data, "hello", 5), 0);
	jp_buf_free(&rep.body);
	ck_assert_int_eq(jp_http_run(&req, NULL, &rep, why, sizeof(why)), 0);
	ck_assert_int_eq(rep.status, 503);
	ck_assert_int_eq(rep.retry_after_ms, 7000);
	jp_buf_free(&rep.body);
	req.max_response_bytes = 100;   /* the fixture is larger */
	ck_assert_int_eq(jp_http_run(&req, "http://REDACTED/x", &rep, why, sizeof(why)), -EFBIG);
	ck_assert_ptr_nonnull(strstr(why, "http://REDACTED/x"));
	ck_assert_uint_eq(rep.body.len, 0);
	const char *bad[] = {"X-A: 1\r\nX-Injected: 2", NULL};
	req.headers = bad;
	int n = mock_nreqs(m);
	ck_assert_int_eq(jp_http_run(&req, NULL, &rep, why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(mock_nreqs(m), n);
	mock_stop(m);
}
END_TEST

START_TEST(test_close_in_flight)
{
	struct rig r;
	rig_init(&r, JP_CARBON_ENTSOE);
	struct mock_resp s[] = {{.status = 200, .big = 1}};
	mock_script(r.mock, s, 1);
	rig_create(&r);
	RUN_UNTIL(&r, requests, 1, 5000);
	rig_close(&r);   /* cancels the transfer; uv_loop_close must succeed */
}
END_TEST

static Suite *carbon_suite(void)
{
	Suite *s = suite_create("carbon");
	TCase *p = tcase_create("parsers");
	tcase_add_test(p, test_time);
	tcase_add_test(p, test_factor_table);
	tcase_add_test(p, test_factor_overrides);
	tcase_add_test(p, test_formula);
	tcase_add_test(p, test_entsoe_basic);
	tcase_add_test(p, test_entsoe_namespace_versions);
	tcase_add_test(p, test_entsoe_consumption);
	tcase_add_test(p, test_entsoe_mixed_resolution);
	tcase_add_test(p, test_entsoe_a03);
	tcase_add_test(p, test_entsoe_ack);
	tcase_add_test(p, test_entsoe_hostile);
	tcase_add_test(p, test_entsoe_negative_nan);
	tcase_add_test(p, test_entsoe_url);
	tcase_add_test(p, test_emaps);
	tcase_add_test(p, test_ukci);
	tcase_add_test(p, test_file_parse);
	suite_add_tcase(s, p);
	TCase *i = tcase_create("intensity");
	tcase_set_timeout(i, 60);
	tcase_add_test(i, test_fossil_ratio);
	tcase_add_test(i, test_forecaster_ukci);
	tcase_add_test(i, test_forecaster_stale_and_429);
	tcase_add_test(i, test_forecaster_entsoe_chain);
	tcase_add_test(i, test_intensity_double_close);
	tcase_add_test(i, test_intensity_static);
	tcase_add_test(i, test_intensity_bad_config);
	tcase_add_test(i, test_intensity_entsoe);
	tcase_add_test(i, test_intensity_series);
	tcase_add_test(i, test_intensity_fallback_no_mix);
	tcase_add_test(i, test_intensity_429);
	tcase_add_test(i, test_retry_rule);
	tcase_add_test(i, test_forecast_hostile_values);
	tcase_add_test(i, test_retry_after_capped);
	tcase_add_test(i, test_intensity_ack_keeps_value);
	tcase_add_test(i, test_intensity_size_cap);
	tcase_add_test(i, test_token_never_logged);
	tcase_add_test(i, test_intensity_connect_refused);
	tcase_add_test(i, test_intensity_no_token);
	tcase_add_test(i, test_intensity_emaps);
	tcase_add_test(i, test_intensity_ukci);
	tcase_add_test(i, test_intensity_file);
	tcase_add_test(i, test_close_in_flight);
	tcase_add_test(i, test_http_run);
	suite_add_tcase(s, i);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(carbon_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
