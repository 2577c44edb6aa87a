/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every grid provider row (carbon/provider.h) through the one fetch machine
 * (carbon/fetch.h) with a fake transport: no sockets, a fixed wall clock, answers from the
 * handwritten fixtures of tests/fixtures/carbon. Live values and forecasts come out of the
 * real jp_intensity and jp_forecaster objects; the expected figures are worked out from the
 * fixtures in the comments. Then the one 429 rule, the same for live and forecast of every
 * HTTP provider, and redaction of the token in every reason either reports.
 */
#include <check.h>
#include <json-c/json.h>
#include <errno.h>
#include <math.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "carbon/fetch.h"
#include "carbon/forecast.h"
#include "carbon/forecast_web.h"
#include "carbon/forecaster.h"
#include "carbon/intensity.h"
#include "carbon/provider.h"
#include "carbon/entsoe.h"
#include "carbon/retry.h"
#include "carbon/watttime.h"
#include "store/series.h"
#include "config.h"
#include "util/time.h"
#include "fixture_util.h"

#define FIX JP_SRCDIR "/tests/fixtures/carbon/"
#define slurp(name, len) jp_test_slurp(FIX, name, len)
#define T(s) jp_test_time(s)
#define TOKEN "tok-77c1-SECRETSECRET"
#define AREA "10Y1001A1001A82H"

/* ---- the fake transport ------------------------------------------------------------- */

static struct fake {
	int pending;
	jp_http_done_cb cb;
	void *arg;
	char url[2048], header[256], user[64], password[64];
	size_t max_bytes;
	unsigned nreqs, cancels;
	int64_t now;
} fk;

static struct jp_http_xfer *fake_start(struct jp_http *h, const struct jp_http_request *req, jp_http_done_cb cb,
				       void *arg)
{
	(void)h;
	ck_assert_int_eq(fk.pending, 0);
	fk.pending = 1;
	fk.cb = cb;
	fk.arg = arg;
	snprintf(fk.url, sizeof(fk.url), "%s", req->url);
	snprintf(fk.header, sizeof(fk.header), "%s", req->headers && req->headers[0] ? req->headers[0] : "");
	snprintf(fk.user, sizeof(fk.user), "%s", req->username ? req->username : "");
	snprintf(fk.password, sizeof(fk.password), "%s", req->password ? req->password : "");
	fk.max_bytes = req->max_response_bytes;
	fk.nreqs++;
	return (struct jp_http_xfer *)&fk;
}

static void fake_cancel(struct jp_http_xfer *x)
{
	ck_assert_ptr_eq(x, (void *)&fk);
	fk.pending = 0;
	fk.cancels++;
}

static int64_t fake_now(void) { return fk.now; }

static const struct jp_fetch_transport fake = {fake_start, fake_cancel, fake_now};



/* Run the loop until a request is pending (at most n turns; timers are 1 ms here). */
static void wait_request(uv_loop_t *loop)
{
	for (int i = 0; i < 10000 && !fk.pending; i++)
		uv_run(loop, UV_RUN_ONCE);
	ck_assert_msg(fk.pending, "no request was sent");
}

/* Answer the pending request. */
static void answer(long status, const char *body, size_t len, int64_t retry_after_ms, int curl_code, const char *err)
{
	struct jp_http_response r = {.curl_code = curl_code, .error = err, .status = status,
				     .retry_after_ms = retry_after_ms, .body = (const uint8_t *)body,
				     .body_len = len};
	ck_assert(fk.pending);
	fk.pending = 0;
	fk.cb((struct jp_http_xfer *)&fk, &r, fk.arg);
}

static void answer_fixture(const char *name)
{
	size_t len;
	char *b = slurp(name, &len);
	answer(200, b, len, -1, 0, NULL);
	free(b);
}

/* ---- the rig ------------------------------------------------------------------------ */

struct rig {
	uv_loop_t loop;
	struct jp_config cfg;
	char dir[64], token_path[128], file_path[160];
};

static void set_str(char **field, const char *v)
{
	free(*field);
	*field = strdup(v);
}

static void rig_init(struct rig *r, enum jp_carbon_source src)
{
	memset(r, 0, sizeof(*r));
	memset(&fk, 0, sizeof(fk));
	jp_fetch_set_transport(&fake);
	ck_assert_int_eq(uv_loop_init(&r->loop), 0);
	ck_assert_int_eq(jp_config_defaults(&r->cfg), 0);
	strcpy(r->dir, "/tmp/check_providers.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(r->dir));
	snprintf(r->token_path, sizeof(r->token_path), "%s/token", r->dir);
	FILE *f = fopen(r->token_path, "w");
	fputs(TOKEN "\n", f);
	fclose(f);
	snprintf(r->file_path, sizeof(r->file_path), FIX "carbon_file.csv");
	r->cfg.carbon_source = src;
	r->cfg.forecast_source = src;
	r->cfg.carbon_refresh_ms = 1;
	r->cfg.forecast_refresh_ms = 1;
	r->cfg.carbon_max_age_ms = 3600000;
	set_str(&r->cfg.entsoe_url, "http://grid.invalid/api");
	set_str(&r->cfg.entsoe_area, AREA);
	set_str(&r->cfg.emaps_url, "http://grid.invalid/v3");
	set_str(&r->cfg.emaps_zone, "DE");
	set_str(&r->cfg.ukci_url, "http://grid.invalid");
	set_str(&r->cfg.entsoe_token_file, r->token_path);
	set_str(&r->cfg.emaps_token_file, r->token_path);
	set_str(&r->cfg.carbon_file_path, r->file_path);
	set_str(&r->cfg.wt_url, "http://grid.invalid/wt");
	char path[160];
	snprintf(path, sizeof(path), "%s/wt-user", r->dir);
	FILE *u = fopen(path, "w");
	fputs("alice\n", u);
	fclose(u);
	set_str(&r->cfg.wt_username_file, path);
	snprintf(path, sizeof(path), "%s/wt-password", r->dir);
	u = fopen(path, "w");
	fputs("PASSWORDSECRET\n", u);
	fclose(u);
	set_str(&r->cfg.wt_password_file, path);
}

static void set_flag(void *arg) { *(int *)arg = 1; }

static void rig_close(struct rig *r, struct jp_intensity *in, struct jp_forecaster *f)
{
	int a = 0, b = 0;
	jp_intensity_close(in, set_flag, &a);
	jp_forecaster_close(f, set_flag, &b);
	while (!a || !b)
		uv_run(&r->loop, UV_RUN_ONCE);
	uv_run(&r->loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&r->loop), 0);
	unlink(r->token_path);
	char path[160];
	snprintf(path, sizeof(path), "%s/wt-user", r->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/wt-password", r->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/fc.csv", r->dir);
	unlink(path);
	rmdir(r->dir);
	jp_config_free(&r->cfg);
	jp_fetch_set_transport(NULL);
}

/* ---- every provider, live and forecast ------------------------------------------------ */

struct pcase {
	enum jp_carbon_source src;
	const char *name, *grid_zone;
	/* live */
	const char *live_fixture, *live_now, *live_at;
	double live_g;
	const char *live_url;        /* part of the request URL */
	const char *live_fixture2, *live_url2;   /* the second document (carbon-free share) */
	double live_cfe;             /* the carbon-free share, or -1 */
	const char *region;          /* carbon.ukci.region */
	int no_forecast;
	/* forecast */
	const char *fc_fixtures[3];
	const char *fc_now, *fc_at;
	size_t fc_points;
	double fc_g;
	const char *fc_url;
	const char *method;
	int token;                   /* the token goes into the request */
};

static const struct pcase cases[] = {
	{
		/* entsoe_basic.xml: at 10:45-11:00, B04 1000 MW, B14 3000, B16 500, B19 2000 with
		 * lifecycle factors 490, 12, 45, 11: 570500 / 6500 g/kWh, for the point ending
		 * 11:00. The day-ahead chain: 96 quarter hours of the A71 total. */
		.src = JP_CARBON_ENTSOE, .name = "entsoe", .grid_zone = AREA,
		.live_fixture = "entsoe_basic.xml", .live_now = "2024-03-05T11:10Z", .live_at = "2024-03-05T11:05Z",
		.live_g = 570500.0 / 6500.0, .live_url = "documentType=A75&processType=A16&in_Domain=" AREA,
		.live_cfe = (3000.0 + 500 + 2000) / 6500,   /* nuclear, solar and wind */
		.fc_fixtures = {"entsoe_a75_day.xml", "entsoe_a69_day.xml", "entsoe_a71_day.xml"},
		.fc_points = 96, .fc_url = "documentType=A71&processType=A01", .method = "entsoe_day_ahead", .token = 1,
	},
	{
		/* emaps_latest.json: 302 g/kWh at 10:00. emaps_forecast.json: 412 at 12:00, 398 at
		 * 13:00, null at 14:00 (left out: 398 runs on to 15:00), 305 at 15:00, 288 at 16:00
		 * (an hour, as the one before it): 4 points, 398 at 14:30. */
		.src = JP_CARBON_ELECTRICITYMAPS, .name = "electricitymaps", .grid_zone = "DE",
		.live_fixture = "emaps_latest.json", .live_now = "2024-03-05T10:40Z", .live_at = "2024-03-05T10:30Z",
		.live_g = 302, .live_url = "/v3/carbon-intensity/latest?zone=DE",
		/* emaps_power_breakdown.json: fossilFreePercentage 62. */
		.live_fixture2 = "emaps_power_breakdown.json", .live_url2 = "/v3/power-breakdown/latest?zone=DE",
		.live_cfe = 0.62,
		.fc_fixtures = {"emaps_forecast.json"}, .fc_now = "2026-12-03T12:30Z", .fc_at = "2026-12-03T14:30Z",
		.fc_points = 4, .fc_g = 398, .fc_url = "/v3/carbon-intensity/forecast?zone=DE",
		.method = "electricitymaps_forecast", .token = 1,
	},
	{
		/* ukci_national.json: actual 181 (forecast 186) for 10:00-10:30: in force to 11:30
		 * at a max_age of 1 h. ukci_fw48h.json: 8 half hours from 10:30 to 14:30, the first
		 * with forecast 212, the one of 13:30 null (left out): 7 points. */
		.src = JP_CARBON_UKCI, .name = "ukci", .grid_zone = "GB",
		.live_fixture = "ukci_national.json", .live_now = "2024-03-05T10:40Z", .live_at = "2024-03-05T10:40Z",
		.live_g = 181, .live_url = "grid.invalid/intensity",
		/* ukci_generation.json: biomass 5.2 + nuclear 14.1 + hydro 1.7 + solar 6.3 + wind
		 * 32.1 of 100 %. */
		.live_fixture2 = "ukci_generation.json", .live_url2 = "grid.invalid/generation", .live_cfe = 0.594,
		.fc_fixtures = {"ukci_fw48h.json"}, .fc_now = "2026-12-03T10:30Z", .fc_at = "2026-12-03T10:45Z",
		.fc_points = 7, .fc_g = 212, .fc_url = "grid.invalid/intensity/2026-12-03T10:00Z/fw48h",
		.method = "ukci_forecast",
	},
	{
		/* carbon_file.csv: 410 at 09:00, 385.5 at 10:00, 372 at 11:00, 350 at 12:00 ... */
		.src = JP_CARBON_FILE, .name = "file", .grid_zone = "file",
		.live_now = "2024-03-05T10:40Z", .live_at = "2024-03-05T10:30Z", .live_g = 385.5, .live_cfe = -1,
		.fc_now = "2024-03-05T09:00Z", .fc_at = "2024-03-05T11:30Z", .fc_g = 372, .method = "file",
	},
	{
		/* ukci_regional.json, region 13: forecast 152 for 10:00-10:30, and its own mix in the
		 * same answer (no second request): biomass 6.1 + nuclear 14.8 + hydro 0.9 + solar
		 * 4.2 + wind 31.4 of 100 %. */
		.src = JP_CARBON_UKCI, .name = "ukci", .grid_zone = "13", .region = "13",
		.live_fixture = "ukci_regional.json", .live_now = "2024-03-05T10:40Z", .live_at = "2024-03-05T10:40Z",
		.live_g = 152, .live_url = "grid.invalid/regional/regionid/13", .live_cfe = 0.574, .no_forecast = 1,
	},
};

static void run_live(const struct pcase *c)
{
	struct rig r;
	rig_init(&r, c->src);
	if (c->region)
		set_str(&r.cfg.ukci_region, c->region);
	fk.now = T(c->live_now);
	struct jp_intensity *in = jp_intensity_create(&r.loop, (struct jp_http *)&r, &r.cfg);
	ck_assert_ptr_nonnull(in);
	struct jp_intensity_stats st;
	if (c->live_fixture) {
		wait_request(&r.loop);
		ck_assert_msg(strstr(fk.url, c->live_url), "%s: %s", c->name, fk.url);
		if (c->token)
			ck_assert_msg(strstr(fk.url, TOKEN) || strstr(fk.header, TOKEN), "%s: no token sent", c->name);
		else
			ck_assert_str_eq(fk.header, "");
		ck_assert_uint_eq(fk.max_bytes, jp_provider_get(c->src)->max_bytes);
		answer_fixture(c->live_fixture);
		if (c->live_fixture2) {
			wait_request(&r.loop);
			ck_assert_msg(strstr(fk.url, c->live_url2), "%s: %s", c->name, fk.url);
			answer_fixture(c->live_fixture2);
		}
		ck_assert_uint_eq(fk.nreqs, c->live_fixture2 ? 2 : 1);
	} else {
		for (int i = 0; i < 10000; i++) {
			jp_intensity_stats(in, &st);
			if (st.successes)
				break;
			uv_run(&r.loop, UV_RUN_ONCE);
		}
	}
	jp_intensity_stats(in, &st);
	ck_assert_msg(st.successes == 1 && st.failures == 0, "%s: %llu successes, %llu failures", c->name,
		      (unsigned long long)st.successes, (unsigned long long)st.failures);
	const char *src, *zone;
	double g = jp_intensity_current(in, T(c->live_at), &src, &zone);
	ck_assert_msg(g > c->live_g - 1e-9 && g < c->live_g + 1e-9, "%s: %.9f, not %.9f", c->name, g, c->live_g);
	ck_assert_str_eq(src, c->name);
	ck_assert_str_eq(zone, c->grid_zone);
	double cfe = jp_intensity_carbon_free(in, T(c->live_at));
	ck_assert_msg(cfe > c->live_cfe - 1e-9 && cfe < c->live_cfe + 1e-9, "%s: carbon-free %.9f, not %.9f", c->name,
		      cfe, c->live_cfe);
	rig_close(&r, in, NULL);
}

static void run_forecast(const struct pcase *c)
{
	struct rig r;
	rig_init(&r, c->src);
	r.cfg.carbon_source = JP_CARBON_STATIC;
	fk.now = T(c->fc_now ? c->fc_now : "2024-03-05T00:00Z");
	struct jp_forecaster *f = jp_forecaster_create(&r.loop, (struct jp_http *)&r, &r.cfg);
	ck_assert_ptr_nonnull(f);
	struct jp_forecaster_stats st;
	if (c->fc_fixtures[0]) {
		for (int d = 0; d < 3 && c->fc_fixtures[d]; d++) {
			wait_request(&r.loop);
			answer_fixture(c->fc_fixtures[d]);
		}
		ck_assert_msg(strstr(fk.url, c->fc_url), "%s: %s", c->name, fk.url);
		if (!c->fc_now) {
			/* The ENTSO-E day: its first quarter hour is "now". */
			ck_assert_uint_eq(fk.nreqs, 3);
		}
	} else {
		for (int i = 0; i < 10000; i++) {
			jp_forecaster_stats(f, &st);
			if (st.successes || st.failures)
				break;
			uv_run(&r.loop, UV_RUN_ONCE);
		}
	}
	jp_forecaster_stats(f, &st);
	ck_assert_msg(st.successes == 1, "%s: %s", c->name, jp_forecaster_last_error(f));
	const struct jp_forecast *fc = jp_forecaster_forecast(f);
	if (c->fc_points)
		ck_assert_uint_eq(fc->n, c->fc_points);
	if (c->fc_at) {
		double g;
		ck_assert_int_eq(jp_forecast_at(fc, T(c->fc_at), &g), 0);
		ck_assert_double_eq_tol(g, c->fc_g, 1e-9);
	}
	ck_assert_str_eq(jp_forecaster_source(f), c->name);
	ck_assert_str_eq(jp_forecaster_grid_zone(f), c->grid_zone);
	ck_assert_str_eq(jp_provider_get(c->src)->forecast_method, c->method);
	rig_close(&r, NULL, f);
}

START_TEST(test_provider_live)
{
	run_live(&cases[_i]);
}
END_TEST

START_TEST(test_provider_forecast)
{
	const struct pcase *c = &cases[_i];
	if (c->no_forecast)
		return;
	if (c->src == JP_CARBON_ENTSOE) {
		/* "now" at the start of the fixture day: the first A71 point. */
		struct pcase d = *c;
		size_t len;
		char *b = slurp("entsoe_a71_day.xml", &len);
		char *ps = strstr(b, "<start>");
		ck_assert_ptr_nonnull(ps);
		static char start[32];
		snprintf(start, sizeof(start), "%.17s", ps + 7);   /* 2026-..-..T..:..Z */
		free(b);
		d.fc_now = start;
		d.fc_at = NULL;
		run_forecast(&d);
		return;
	}
	run_forecast(c);
}
END_TEST

/* The table is whole: every source but none has a row with its own name; each HTTP row has
 * a live and a forecast side, and the file row a read. */
START_TEST(test_provider_table)
{
	static const char *const names[] = {[JP_CARBON_STATIC] = "static", [JP_CARBON_ENTSOE] = "entsoe",
					    [JP_CARBON_ELECTRICITYMAPS] = "electricitymaps", [JP_CARBON_UKCI] = "ukci",
					    [JP_CARBON_FILE] = "file", [JP_CARBON_WATTTIME] = "watttime"};
	ck_assert_ptr_null(jp_provider_get(JP_CARBON_NONE));
	ck_assert_ptr_null(jp_provider_get(JP_CARBON_NSOURCES));
	for (int s = JP_CARBON_STATIC; s < JP_CARBON_NSOURCES; s++) {
		const struct jp_provider *p = jp_provider_get(s);
		ck_assert_ptr_nonnull(p);
		ck_assert_int_eq(p->id, s);
		ck_assert_str_eq(p->name, names[s]);
		if (p->flags & JP_PROVIDER_FILE)
			ck_assert_ptr_nonnull(p->read);
		else if (s != JP_CARBON_STATIC)
			ck_assert(p->live_request && p->live_parse && p->forecast_request && p->forecast_parse &&
				  p->forecast_docs > 0 && p->max_bytes > 0);
	}
}
END_TEST

/* ---- one 429 rule ------------------------------------------------------------------- */

/* The delays a source schedules after: 429 x7 without Retry-After, one with a 1 s
 * Retry-After, one with a Retry-After of years, then a good answer's status (a 500). */
static void delays_429(enum jp_carbon_source src, int forecast, uint64_t out[10])
{
	struct rig r;
	rig_init(&r, src);
	fk.now = T("2026-12-03T10:30Z");
	if (forecast)
		r.cfg.carbon_source = JP_CARBON_STATIC;
	struct jp_intensity *in = forecast ? NULL : jp_intensity_create(&r.loop, (struct jp_http *)&r, &r.cfg);
	struct jp_forecaster *f = forecast ? jp_forecaster_create(&r.loop, (struct jp_http *)&r, &r.cfg) : NULL;
	ck_assert(in || f);
	static const int64_t ra[10] = {-1, -1, -1, -1, -1, -1, -1, 1000, 99999999000LL, -1};
	for (int i = 0; i < 10; i++) {
		wait_request(&r.loop);
		answer(i < 9 ? 429 : 500, "slow down", 9, ra[i], 0, NULL);
		if (f) {
			struct jp_forecaster_stats st;
			jp_forecaster_stats(f, &st);
			out[i] = st.next_delay_ms;
			ck_assert_uint_eq(st.rate_limited, i < 9 ? (unsigned)i + 1 : 9);
		} else {
			struct jp_intensity_stats st;
			jp_intensity_stats(in, &st);
			out[i] = st.next_delay_ms;
			ck_assert_uint_eq(st.rate_limited, i < 9 ? (unsigned)i + 1 : 9);
		}
		if (out[i] > 2000)
			break;   /* not waited for */
	}
	rig_close(&r, in, f);
}

START_TEST(test_429_same_live_and_forecast)
{
	static const enum jp_carbon_source http[] = {JP_CARBON_ENTSOE, JP_CARBON_ELECTRICITYMAPS, JP_CARBON_UKCI};
	/* refresh 1 ms: 2, 4, ... doubled up to 2^6; a longer Retry-After wins; one of years is
	 * capped at max(refresh, 1 h). */
	uint64_t want[10] = {2, 4, 8, 16, 32, 64, 64, 1000, 3600000};
	for (size_t i = 0; i < sizeof(http) / sizeof(http[0]); i++) {
		uint64_t live[10] = {0}, fc[10] = {0};
		delays_429(http[i], 0, live);
		delays_429(http[i], 1, fc);
		for (int k = 0; k < 9; k++) {
			ck_assert_msg(live[k] == want[k], "%s live, 429 #%d: %llu ms, not %llu",
				      jp_provider_get(http[i])->name, k + 1, (unsigned long long)live[k],
				      (unsigned long long)want[k]);
			ck_assert_msg(fc[k] == want[k], "%s forecast, 429 #%d: %llu ms, not %llu",
				      jp_provider_get(http[i])->name, k + 1, (unsigned long long)fc[k],
				      (unsigned long long)want[k]);
		}
	}
}
END_TEST

/* ---- redaction ---------------------------------------------------------------------- */

static char logged[4096];

/* A transport error whose text holds the token (libcurl echoes the URL, where ENTSO-E
 * carries it), and an answer that quotes it: neither reason may show it, live or forecast. */
START_TEST(test_token_redacted_everywhere)
{
	static const enum jp_carbon_source tok[] = {JP_CARBON_ENTSOE, JP_CARBON_ELECTRICITYMAPS};
	for (size_t i = 0; i < 2; i++) {
		for (int forecast = 0; forecast < 2; forecast++) {
			struct rig r;
			rig_init(&r, tok[i]);
			fk.now = T("2026-12-03T10:30Z");
			if (forecast)
				r.cfg.carbon_source = JP_CARBON_STATIC;
			struct jp_intensity *in =
				forecast ? NULL : jp_intensity_create(&r.loop, (struct jp_http *)&r, &r.cfg);
			struct jp_forecaster *f =
				forecast ? jp_forecaster_create(&r.loop, (struct jp_http *)&r, &r.cfg) : NULL;
			wait_request(&r.loop);
			answer(0, NULL, 0, -1, 7, "Failed to connect to grid.invalid?securityToken=" TOKEN);
			if (f) {
				snprintf(logged, sizeof(logged), "%s", jp_forecaster_last_error(f));
				ck_assert_msg(!strstr(logged, TOKEN) && strstr(logged, "REDACTED"), "%s", logged);
			}
			wait_request(&r.loop);
			const char *body = "{\"error\": \"bad token " TOKEN "\"}";
			answer(403, body, strlen(body), -1, 0, NULL);
			if (f) {
				snprintf(logged, sizeof(logged), "%s", jp_forecaster_last_error(f));
				ck_assert_msg(strstr(logged, "HTTP 403") && !strstr(logged, TOKEN), "%s", logged);
			} else {
				struct jp_intensity_stats st;
				jp_intensity_stats(in, &st);
				ck_assert_uint_eq(st.failures, 2);
			}
			rig_close(&r, in, f);
		}
	}
}
END_TEST

/* The carbon-free share's document is extra: when it fails (a plan without the power
 * breakdown answers 403), the intensity of the first stays in force, its share not known. */
START_TEST(test_second_document_optional)
{
	struct rig r;
	rig_init(&r, JP_CARBON_ELECTRICITYMAPS);
	fk.now = T("2024-03-05T10:40Z");
	struct jp_intensity *in = jp_intensity_create(&r.loop, (struct jp_http *)&r, &r.cfg);
	wait_request(&r.loop);
	answer_fixture("emaps_latest.json");
	wait_request(&r.loop);
	const char *body = "{\"message\": \"not in your plan\"}";
	answer(403, body, strlen(body), -1, 0, NULL);
	struct jp_intensity_stats st;
	jp_intensity_stats(in, &st);
	ck_assert_uint_eq(st.successes, 1);
	ck_assert_uint_eq(st.failures, 0);
	const char *src;
	ck_assert_double_eq(jp_intensity_current(in, T("2024-03-05T10:30Z"), &src, NULL), 302);
	ck_assert_str_eq(src, "electricitymaps");
	ck_assert_double_eq(jp_intensity_carbon_free(in, T("2024-03-05T10:30Z")), -1);
	/* The next refresh asks for both again; a good breakdown brings the share. */
	wait_request(&r.loop);
	answer_fixture("emaps_latest.json");
	wait_request(&r.loop);
	answer_fixture("emaps_power_breakdown.json");
	ck_assert_double_eq_tol(jp_intensity_carbon_free(in, T("2024-03-05T10:30Z")), 0.62, 1e-12);
	rig_close(&r, in, NULL);
}
END_TEST

/* Closing with a request in flight cancels it, for both kinds. */
START_TEST(test_close_cancels)
{
	struct rig r;
	rig_init(&r, JP_CARBON_ENTSOE);
	fk.now = T("2026-12-03T10:30Z");
	struct jp_intensity *in = jp_intensity_create(&r.loop, (struct jp_http *)&r, &r.cfg);
	wait_request(&r.loop);
	rig_close(&r, in, NULL);
	ck_assert_uint_eq(fk.cancels, 1);
	rig_init(&r, JP_CARBON_ENTSOE);
	r.cfg.carbon_source = JP_CARBON_STATIC;
	struct jp_forecaster *f = jp_forecaster_create(&r.loop, (struct jp_http *)&r, &r.cfg);
	wait_request(&r.loop);
	answer_fixture("entsoe_a75_day.xml");   /* the second document is in flight */
	wait_request(&r.loop);
	rig_close(&r, NULL, f);
	ck_assert_uint_eq(fk.cancels, 1);
	ck_assert_uint_eq(fk.nreqs, 2);
}
END_TEST

/* ---- WattTime: a session, a marginal signal ---------------------------------------- */

#define WT_SESSION "wt-session-7f3a9c2e-SECRETSESSION"

/* Answer the login the fetch asks for: basic authentication with the files' contents. */
static void wt_login(uv_loop_t *loop)
{
	wait_request(loop);
	ck_assert_msg(strstr(fk.url, "grid.invalid/wt/login") != NULL, "%s", fk.url);
	ck_assert_str_eq(fk.user, "alice");
	ck_assert_str_eq(fk.password, "PASSWORDSECRET");
	answer_fixture("watttime_login.json");
}

/* A refresh: a session first, then the forecast's first point (1000 lbs/MWh × 0.453592)
 * with the session as a bearer token, then the signal index (37th percentile). The
 * intensity the CO2 counters use stays the static average; the marginal rate is apart. */
START_TEST(test_watttime_live)
{
	struct rig r;
	rig_init(&r, JP_CARBON_WATTTIME);
	fk.now = T("2024-03-05T10:02Z");
	struct jp_intensity *in = jp_intensity_create(&r.loop, (struct jp_http *)&r, &r.cfg);
	ck_assert_ptr_nonnull(in);
	wt_login(&r.loop);
	wait_request(&r.loop);
	ck_assert_msg(strstr(fk.url, "/wt/v3/forecast?region=CAISO_NORTH&signal_type=co2_moer&horizon_hours=1"), "%s",
		      fk.url);
	ck_assert_str_eq(fk.header, "Authorization: Bearer " WT_SESSION);
	answer_fixture("watttime_forecast.json");
	wait_request(&r.loop);
	ck_assert_msg(strstr(fk.url, "/wt/v3/signal-index?region=CAISO_NORTH&signal_type=co2_moer"), "%s", fk.url);
	answer_fixture("watttime_index.json");
	const char *src, *zone;
	ck_assert_double_eq(jp_intensity_current(in, T("2024-03-05T10:03Z"), &src, &zone), 475);
	ck_assert_str_eq(src, "static");
	double mg;
	ck_assert_int_eq(jp_intensity_marginal(in, T("2024-03-05T10:03Z"), &mg), 0);
	ck_assert_double_eq_tol(mg, 1000 * 0.453592, 1e-9);
	struct jp_label common[] = {{"node", "n1"}};
	struct jp_store *st = jp_store_create(common, 1, 2);
	jp_store_begin(st, 1000);
	fk.now = T("2024-03-05T10:03Z");
	ck_assert_int_eq(jp_intensity_set_series(in, st), 0);
	struct jp_label ml[3] = {{"grid_zone", "CAISO_NORTH"}, {"source", "watttime"}, {"signal", "marginal"}};
	struct jp_label al[3] = {{"grid_zone", "static"}, {"source", "static"}, {"signal", "average"}};
	ck_assert_ptr_nonnull(jp_store_get(st, "joulepush_grid_carbon_intensity_grams_per_kwh", ml, 3));
	ck_assert_ptr_nonnull(jp_store_get(st, "joulepush_grid_carbon_intensity_grams_per_kwh", al, 3));
	jp_store_destroy(st);
	rig_close(&r, in, NULL);
}
END_TEST

/* The session is kept across refreshes and renewed before its 30 minutes run out (at 27);
 * an HTTP 401 logs in once more and asks for the same document again; a second 401 in the
 * same refresh is a failure. Neither the session nor the password reaches a reason. */
START_TEST(test_watttime_session)
{
	struct rig r;
	rig_init(&r, JP_CARBON_WATTTIME);
	r.cfg.carbon_source = JP_CARBON_STATIC;
	fk.now = T("2024-03-05T10:00Z");
	struct jp_forecaster *f = jp_forecaster_create(&r.loop, (struct jp_http *)&r, &r.cfg);
	ck_assert_ptr_nonnull(f);
	wt_login(&r.loop);
	wait_request(&r.loop);
	ck_assert_msg(strstr(fk.url, "v3/forecast?") && strstr(fk.url, "horizon_hours=24"), "%s", fk.url);
	answer_fixture("watttime_forecast.json");
	struct jp_forecaster_stats st;
	jp_forecaster_stats(f, &st);
	ck_assert_uint_eq(st.successes, 1);
	/* Four points of 5 minutes (the null one left out), in g/kWh. */
	ck_assert_uint_eq(jp_forecaster_forecast(f)->n, 4);
	double g;
	ck_assert_int_eq(jp_forecast_at(jp_forecaster_forecast(f), T("2024-03-05T10:17Z"), &g), 0);
	ck_assert_double_eq_tol(g, 700 * 0.453592, 1e-9);
	ck_assert_str_eq(jp_forecaster_signal(f), "marginal");
	/* 20 minutes on: the same session. */
	fk.now = T("2024-03-05T10:20Z");
	wait_request(&r.loop);
	ck_assert_msg(strstr(fk.url, "v3/forecast?") != NULL, "no new login before 27 minutes: %s", fk.url);
	ck_assert_str_eq(fk.header, "Authorization: Bearer " WT_SESSION);
	/* A 401: a new login, then the forecast again. */
	answer(401, "{\"error\": \"token expired\"}", 26, -1, 0, NULL);
	wt_login(&r.loop);
	wait_request(&r.loop);
	ck_assert_msg(strstr(fk.url, "v3/forecast?") != NULL, "%s", fk.url);
	answer_fixture("watttime_forecast.json");
	jp_forecaster_stats(f, &st);
	ck_assert_uint_eq(st.successes, 2);
	ck_assert_uint_eq(st.failures, 0);
	/* At 27 minutes after that login: renewed before the request. */
	fk.now = T("2024-03-05T10:48Z");
	wt_login(&r.loop);
	wait_request(&r.loop);
	/* 401 twice in one refresh: a failure, with no secret in its reason. */
	answer(401, "{\"error\": \"bad token " WT_SESSION "\"}", 57, -1, 0, NULL);
	wt_login(&r.loop);
	wait_request(&r.loop);
	answer(401, "nope " WT_SESSION, 5 + strlen(WT_SESSION), -1, 0, NULL);
	jp_forecaster_stats(f, &st);
	ck_assert_uint_eq(st.failures, 1);
	const char *why = jp_forecaster_last_error(f);
	ck_assert_msg(strstr(why, "HTTP 401") && !strstr(why, "SECRETSESSION") && !strstr(why, "PASSWORDSECRET"), "%s",
		      why);
	rig_close(&r, NULL, f);
}
END_TEST

/* A region the account may not see (403), a login refused (401 with the login), a 429 on
 * the login (the one rule), and answers that are not what WattTime documents. */
START_TEST(test_watttime_errors)
{
	struct rig r;
	rig_init(&r, JP_CARBON_WATTTIME);
	r.cfg.carbon_source = JP_CARBON_STATIC;
	fk.now = T("2024-03-05T10:00Z");
	struct jp_forecaster *f = jp_forecaster_create(&r.loop, (struct jp_http *)&r, &r.cfg);
	wt_login(&r.loop);
	wait_request(&r.loop);
	const char *deny = "{\"error\": \"Unauthorized region: PJM_DC\"}";
	answer(403, deny, strlen(deny), -1, 0, NULL);
	ck_assert_msg(strstr(jp_forecaster_last_error(f), "HTTP 403") &&
		      strstr(jp_forecaster_last_error(f), "Unauthorized region"), "%s", jp_forecaster_last_error(f));
	/* The next refresh keeps the session: no login. A login that is refused: */
	wait_request(&r.loop);
	answer(401, "{\"error\": \"expired\"}", 20, -1, 0, NULL);
	wait_request(&r.loop);
	ck_assert_msg(strstr(fk.url, "/login") != NULL, "%s", fk.url);
	answer(401, "{\"error\": \"bad password\"}", 25, -1, 0, NULL);
	ck_assert_msg(strstr(jp_forecaster_last_error(f), "login to") &&
		      strstr(jp_forecaster_last_error(f), "password_file"), "%s", jp_forecaster_last_error(f));
	/* No session now: the next refresh logs in, and a 429 there follows the one rule. */
	wait_request(&r.loop);
	ck_assert_msg(strstr(fk.url, "/login") != NULL, "%s", fk.url);
	answer(429, "slow", 4, 1000, 0, NULL);
	struct jp_forecaster_stats st;
	jp_forecaster_stats(f, &st);
	ck_assert_uint_eq(st.rate_limited, 1);
	ck_assert_uint_eq(st.next_delay_ms, 1000);
	rig_close(&r, NULL, f);

	/* The parsers: other units, a bad session, a percentile out of range. */
	char why[128];
	size_t skipped;
	struct jp_forecast fc = {0};
	const char *kg = "{\"data\": [{\"point_time\": \"2024-03-05T10:00:00Z\", \"value\": 1}], "
			 "\"meta\": {\"units\": \"kg_co2_per_mwh\"}}";
	ck_assert_int_eq(jp_wt_parse_forecast(kg, strlen(kg), &fc, &skipped, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "kg_co2_per_mwh"));
	jp_forecast_free(&fc);
	char *session = NULL;
	const char *bad = "{\"token\": \"two words\"}";
	ck_assert_int_eq(jp_wt_parse_login(bad, strlen(bad), &session, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_null(strstr(why, "two words"));
	double ratio;
	const char *idx = "{\"data\": [{\"point_time\": \"2024-03-05T10:00:00Z\", \"value\": 140}]}";
	ck_assert_int_eq(jp_wt_parse_index(idx, strlen(idx), &ratio, why, sizeof(why)), -EINVAL);
}
END_TEST

/* ---- green surplus (ENTSO-E A65, A44 beside A69) ------------------------------------- */

/* A surplus template with ${Hn} (h0 + n hours), ${AREA} and ${CREATED} filled in. */
static char *surplus_doc(const char *name, int64_t h0, size_t *len)
{
	size_t n;
	char *t = slurp(name, &n);
	struct jp_buf b = {0};
	for (const char *p = t; *p;) {
		const char *d = strstr(p, "${");
		if (!d) {
			jp_buf_append(&b, p, strlen(p));
			break;
		}
		jp_buf_append(&b, p, (size_t)(d - p));
		const char *e = strchr(d, '}');
		ck_assert_ptr_nonnull(e);
		char key[16], ts[32];
		snprintf(key, sizeof(key), "%.*s", (int)(e - d - 2), d + 2);
		if (key[0] == 'H') {
			time_t tt = (time_t)(h0 / 1000 + atol(key + 1) * 3600);
			struct tm tm;
			strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%MZ", gmtime_r(&tt, &tm));
			jp_buf_append(&b, ts, strlen(ts));
		} else if (!strcmp(key, "AREA")) {
			jp_buf_append(&b, AREA, strlen(AREA));
		} else {
			jp_buf_append(&b, "2026-12-03T09:55:00Z", 20);
		}
		p = e + 1;
	}
	free(t);
	*len = b.len;
	jp_buf_append(&b, "", 1);
	return (char *)b.data;
}

static void answer_doc(const char *name, int64_t h0)
{
	size_t len;
	char *d = surplus_doc(name, h0, &len);
	answer(200, d, len, -1, 0, NULL);
	free(d);
}

static double gauge(struct jp_store *st, const char *name, const struct jp_label *l, size_t n)
{
	struct jp_series *s = jp_store_get(st, name, l, n);
	const struct jp_sample *smp = s ? jp_series_latest(s) : NULL;
	return smp ? smp->value : NAN;
}

/* With carbon.forecast.surplus a refresh asks for A65 (by outBiddingZone_Domain) and A44
 * (in_Domain and out_Domain, no processType) after the three intensity documents. At
 * 10 minutes into hour 0 of the templates:
 *   ratio = (wind + solar) / load: hours 0-5 20000/40000 = 0.5 (hour 4: no load, no ratio),
 *   hours 8-11 (35000 + 10000)/40000 = 1.125, hours 12-15 (10000 + 10000)/40000 = 0.5;
 *   price 80.5 EUR until hour 10, -5.25 for hours 10-13, 60 after;
 *   the next surplus: hour 8 (ratio 1.125; the price goes negative at hour 10), 7 h 50 min. */
START_TEST(test_entsoe_surplus)
{
	struct rig r;
	rig_init(&r, JP_CARBON_ENTSOE);
	r.cfg.carbon_source = JP_CARBON_STATIC;
	r.cfg.forecast_surplus = 1;
	int64_t h0 = T("2026-12-03T10:00Z");
	fk.now = h0 + 600000;
	struct jp_forecaster *f = jp_forecaster_create(&r.loop, (struct jp_http *)&r, &r.cfg);
	ck_assert_ptr_nonnull(f);
	wait_request(&r.loop);
	answer_fixture("entsoe_a75_day.xml");
	wait_request(&r.loop);
	answer_doc("surplus_a69.xml", h0);
	wait_request(&r.loop);
	answer_doc("surplus_a71.xml", h0);
	wait_request(&r.loop);
	ck_assert_msg(strstr(fk.url, "documentType=A65&processType=A01&outBiddingZone_Domain=" AREA "&periodStart=202612031000"),
		      "%s", fk.url);
	answer_doc("surplus_a65.xml", h0);
	wait_request(&r.loop);
	ck_assert_msg(strstr(fk.url, "documentType=A44&in_Domain=" AREA "&out_Domain=" AREA "&periodStart="), "%s", fk.url);
	answer_doc("surplus_a44.xml", h0);
	struct jp_forecaster_stats fs;
	jp_forecaster_stats(f, &fs);
	ck_assert_msg(fs.successes == 1, "%s", jp_forecaster_last_error(f));

	struct jp_label common[] = {{"node", "n1"}};
	struct jp_store *st = jp_store_create(common, 1, 2);
	jp_store_begin(st, 1000);
	ck_assert_int_eq(jp_forecaster_set_series(f, st, fk.now), 0);
	static const struct {
		const char *h;
		double ratio, price;   /* NAN: not set */
	} want[] = {{"0h", 0.5, 80.5}, {"1h", 0.5, 80.5}, {"2h", 0.5, 80.5}, {"4h", NAN, 80.5},
		    {"8h", 1.125, 80.5}, {"12h", 0.5, -5.25}, {"24h", NAN, NAN}};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct jp_label l[2] = {{"grid_zone", AREA}, {"horizon", want[i].h}};
		struct jp_label pl[3] = {{"grid_zone", AREA}, {"currency", "EUR"}, {"horizon", want[i].h}};
		double g = gauge(st, "joulepush_grid_renewable_surplus_ratio", l, 2);
		double p = gauge(st, "joulepush_grid_day_ahead_price", pl, 3);
		ck_assert_msg(isnan(want[i].ratio) ? isnan(g) : fabs(g - want[i].ratio) < 1e-9, "ratio %s: %g", want[i].h, g);
		ck_assert_msg(isnan(want[i].price) ? isnan(p) : fabs(p - want[i].price) < 1e-9, "price %s: %g", want[i].h, p);
	}
	struct jp_label zl[1] = {{"grid_zone", AREA}};
	ck_assert_double_eq_tol(gauge(st, "joulepush_grid_surplus_window_start_seconds", zl, 1), 8 * 3600 - 600, 1e-9);
	jp_store_destroy(st);
	rig_close(&r, NULL, f);

	/* The parsers: a price document with two currencies is refused; a negative price kept. */
	struct jp_forecast prices = {0};
	struct jp_entsoe_result res;
	size_t len;
	char *d = surplus_doc("surplus_a44.xml", h0, &len);
	ck_assert_int_eq(jp_entsoe_parse_prices(d, len, &prices, &res), 0);
	ck_assert_str_eq(res.currency, "EUR");
	double v;
	ck_assert_int_eq(jp_forecast_at(&prices, h0 + 11 * 3600000LL, &v), 0);
	ck_assert_double_eq(v, -5.25);
	jp_forecast_free(&prices);
	char *two = strstr(d, "</TimeSeries>");
	ck_assert_ptr_nonnull(two);
	struct jp_buf b = {0};
	jp_buf_append(&b, d, (size_t)(two - d) + 13);
	const char *ts2 = "<TimeSeries><mRID>2</mRID><currency_Unit.name>GBP</currency_Unit.name>"
			  "<price_Measure_Unit.name>MWH</price_Measure_Unit.name><Period><timeInterval><start>2026-12-03T10:00Z"
			  "</start><end>2026-12-03T11:00Z</end></timeInterval><resolution>PT60M</resolution><Point><position>1"
			  "</position><price.amount>1</price.amount></Point></Period></TimeSeries>";
	jp_buf_append(&b, ts2, strlen(ts2));
	jp_buf_append(&b, two + 13, strlen(two + 13));
	ck_assert_int_eq(jp_entsoe_parse_prices(b.data, b.len, &prices, &res), 0);
	ck_assert_msg(res.skipped_series == 1 && strstr(res.reason, "currency"), "%s", res.reason);
	jp_forecast_free(&prices);
	jp_buf_free(&b);
	free(d);
}
END_TEST

/* ---- the Carbon Aware SDK's route, against its rules ----------------------------------- */

/* A forecast file of eight half hours from 10:00 to 14:00 (the last holds for the spacing
 * before it): 300 200 100 100 250 400 100 350 g/kWh. Now is 10:05. */
static struct jp_forecaster *sdk_forecaster(struct rig *r)
{
	static const char *const csv = "time,grams_per_kwh\n"
				       "2026-12-03T10:00:00Z,300\n2026-12-03T10:30:00Z,200\n"
				       "2026-12-03T11:00:00Z,100\n2026-12-03T11:30:00Z,100\n"
				       "2026-12-03T12:00:00Z,250\n2026-12-03T12:30:00Z,400\n"
				       "2026-12-03T13:00:00Z,100\n2026-12-03T13:30:00Z,350\n";
	rig_init(r, JP_CARBON_FILE);
	snprintf(r->file_path, sizeof(r->file_path), "%s/fc.csv", r->dir);
	FILE *fp = fopen(r->file_path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(csv, fp);
	fclose(fp);
	set_str(&r->cfg.carbon_file_path, r->file_path);
	r->cfg.carbon_source = JP_CARBON_STATIC;
	fk.now = T("2026-12-03T10:05Z");
	struct jp_forecaster *f = jp_forecaster_create(&r->loop, (struct jp_http *)r, &r->cfg);
	ck_assert_ptr_nonnull(f);
	struct jp_forecaster_stats st = {0};
	for (int i = 0; i < 10000 && !st.successes; i++) {
		uv_run(&r->loop, UV_RUN_ONCE);
		jp_forecaster_stats(f, &st);
	}
	ck_assert_uint_eq(st.successes, 1);
	return f;
}

/* Ask the route; the answer parsed. */
static struct json_object *sdk_ask(struct jp_forecaster *f, const char *query, int want_status)
{
	struct jp_buf out = {0};
	const char *ctype;
	int st = jp_forecast_web_route(f, fk.now, "/emissions/forecasts/current", query, &out, &ctype);
	jp_buf_append(&out, "", 1);
	ck_assert_msg(st == want_status, "%s: %d, not %d: %s", query, st, want_status, (const char *)out.data);
	struct json_object *o = json_tokener_parse((const char *)out.data);
	ck_assert_msg(o != NULL, "%s: not JSON: %s", query, (const char *)out.data);
	jp_buf_free(&out);
	return o;
}

static const char *jstr(struct json_object *o, const char *k)
{
	struct json_object *v = json_object_object_get(o, k);
	ck_assert_msg(v != NULL, "no %s", k);
	return json_object_get_string(v);
}

/* Points of an array: timestamp, duration (minutes) and value, against want. */
struct want_pt {
	const char *t;
	int dur;
	double v;
};

static void check_points(struct json_object *arr, const char *loc, const struct want_pt *w, size_t n)
{
	ck_assert_msg(json_object_array_length(arr) == n, "%zu points, not %zu: %s", json_object_array_length(arr), n,
		      json_object_to_json_string(arr));
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(arr, i);
		ck_assert_str_eq(jstr(p, "location"), loc);
		ck_assert_str_eq(jstr(p, "timestamp"), w[i].t);
		ck_assert_int_eq(json_object_get_int(json_object_object_get(p, "duration")), w[i].dur);
		ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(p, "value")), w[i].v, 1e-9);
	}
}

/* Start inside a point, a 90-minute window: the SDK's rolling windows start at dataStartAt
 * and move by one point (30 min) while they end by dataEndAt (here the data's end, 14:00):
 * 10:10 10:40 11:10 11:40 12:10. Each mean is weighted by the minutes each point covers:
 *   [10:10, 11:40] = (20×300 + 30×200 + 30×100 + 10×100) / 90 = 16000/90
 *   [10:40, 12:10] = (20×200 + 30×100 + 30×100 + 10×250) / 90 = 12500/90  (the optimum)
 *   [11:10, 12:40] = (20×100 + 30×100 + 30×250 + 10×400) / 90 = 16500/90
 *   [11:40, 13:10] = (20×100 + 30×250 + 30×400 + 10×100) / 90 = 22500/90
 *   [12:10, 13:40] = (20×250 + 30×400 + 30×100 + 10×350) / 90 = 23500/90
 * dataEndAt, not given, is the last window's start. */
START_TEST(test_sdk_start_inside_point)
{
	struct rig r;
	struct jp_forecaster *f = sdk_forecaster(&r);
	struct json_object *o = sdk_ask(f, "location=GB&dataStartAt=2026-12-03T10:10:00Z&windowSize=90", 200);
	ck_assert_int_eq((int)json_object_array_length(o), 1);
	struct json_object *e = json_object_array_get_idx(o, 0);
	static const struct want_pt w[] = {
		{"2026-12-03T10:10:00Z", 90, 16000.0 / 90}, {"2026-12-03T10:40:00Z", 90, 12500.0 / 90},
		{"2026-12-03T11:10:00Z", 90, 16500.0 / 90}, {"2026-12-03T11:40:00Z", 90, 22500.0 / 90},
		{"2026-12-03T12:10:00Z", 90, 23500.0 / 90},
	};
	check_points(json_object_object_get(e, "forecastData"), "GB", w, 5);
	check_points(json_object_object_get(e, "optimalDataPoints"), "GB", &w[1], 1);
	ck_assert_str_eq(jstr(e, "dataStartAt"), "2026-12-03T10:10:00Z");
	ck_assert_str_eq(jstr(e, "dataEndAt"), "2026-12-03T12:10:00Z");
	ck_assert_str_eq(jstr(e, "location"), "GB");
	ck_assert_str_eq(jstr(e, "generatedAt"), "2026-12-03T10:05:00Z");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(e, "windowSize")), 90);
	json_object_put(o);
	rig_close(&r, NULL, f);
}
END_TEST

/* End inside a point: the points are kept whole, the one that begins before dataEndAt
 * included (12:30-13:00 for an end at 12:45); without a window they come back as they are,
 * and every point at the least value is optimal (11:00 and 11:30, both 100). With 60
 * minutes: windows 10:00 10:30 11:00 11:30 (the next would end at 13:00, after 12:45):
 * 250, 150, 100, 175. */
START_TEST(test_sdk_end_inside_point_and_ties)
{
	struct rig r;
	struct jp_forecaster *f = sdk_forecaster(&r);
	struct json_object *o = sdk_ask(f, "location=GB&dataStartAt=2026-12-03T10:00:00Z&dataEndAt=2026-12-03T12:45:00Z", 200);
	struct json_object *e = json_object_array_get_idx(o, 0);
	static const struct want_pt pts[] = {
		{"2026-12-03T10:00:00Z", 30, 300}, {"2026-12-03T10:30:00Z", 30, 200}, {"2026-12-03T11:00:00Z", 30, 100},
		{"2026-12-03T11:30:00Z", 30, 100}, {"2026-12-03T12:00:00Z", 30, 250}, {"2026-12-03T12:30:00Z", 30, 400},
	};
	check_points(json_object_object_get(e, "forecastData"), "GB", pts, 6);
	check_points(json_object_object_get(e, "optimalDataPoints"), "GB", &pts[2], 2);
	ck_assert_str_eq(jstr(e, "dataEndAt"), "2026-12-03T12:45:00Z");
	ck_assert_int_eq(json_object_get_int(json_object_object_get(e, "windowSize")), 0);
	json_object_put(o);
	o = sdk_ask(f, "location=GB&dataStartAt=2026-12-03T10:00:00Z&dataEndAt=2026-12-03T12:45:00Z&windowSize=60", 200);
	e = json_object_array_get_idx(o, 0);
	static const struct want_pt win[] = {
		{"2026-12-03T10:00:00Z", 60, 250}, {"2026-12-03T10:30:00Z", 60, 150},
		{"2026-12-03T11:00:00Z", 60, 100}, {"2026-12-03T11:30:00Z", 60, 175},
	};
	check_points(json_object_object_get(e, "forecastData"), "GB", win, 4);
	check_points(json_object_object_get(e, "optimalDataPoints"), "GB", &win[2], 1);
	json_object_put(o);
	/* 30-minute windows from 11:00 to the end: the points themselves, three tied at 100. */
	o = sdk_ask(f, "location=GB&dataStartAt=2026-12-03T11:00:00Z&windowSize=30", 200);
	e = json_object_array_get_idx(o, 0);
	static const struct want_pt ties[] = {
		{"2026-12-03T11:00:00Z", 30, 100}, {"2026-12-03T11:30:00Z", 30, 100}, {"2026-12-03T13:00:00Z", 30, 100},
	};
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(e, "forecastData")), 6);
	check_points(json_object_object_get(e, "optimalDataPoints"), "GB", ties, 3);
	json_object_put(o);
	rig_close(&r, NULL, f);
}
END_TEST

/* A window longer than the data: no window. With both ends given the answer is empty;
 * without them the SDK's default dataStartAt (the first point given) does not exist and it
 * answers 400. */
START_TEST(test_sdk_window_longer_than_data)
{
	struct rig r;
	struct jp_forecaster *f = sdk_forecaster(&r);
	struct json_object *o = sdk_ask(f, "location=GB&dataStartAt=2026-12-03T10:00:00Z&dataEndAt=2026-12-03T14:00:00Z&"
				       "windowSize=300", 200);
	struct json_object *e = json_object_array_get_idx(o, 0);
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(e, "forecastData")), 0);
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(e, "optimalDataPoints")), 0);
	json_object_put(o);
	o = sdk_ask(f, "location=GB&windowSize=300", 400);
	ck_assert_str_eq(jstr(o, "title"), "InvalidOperationException");
	json_object_put(o);
	rig_close(&r, NULL, f);
}
END_TEST

/* Several locations: one forecast each, in order, the empty one dropped; none is a 400
 * naming the parameter, as are times outside the data and a start after the end. */
START_TEST(test_sdk_locations_and_errors)
{
	struct rig r;
	struct jp_forecaster *f = sdk_forecaster(&r);
	struct json_object *o = sdk_ask(f, "location=GB&location=&location=eastus", 200);
	ck_assert_int_eq((int)json_object_array_length(o), 2);
	ck_assert_str_eq(jstr(json_object_array_get_idx(o, 0), "location"), "GB");
	struct json_object *e = json_object_array_get_idx(o, 1);
	ck_assert_str_eq(jstr(e, "location"), "eastus");
	/* No start: the first point of the current forecast (10:00, in force at 10:05). */
	ck_assert_str_eq(jstr(e, "dataStartAt"), "2026-12-03T10:00:00Z");
	ck_assert_str_eq(jstr(e, "dataEndAt"), "2026-12-03T13:30:00Z");
	check_points(json_object_object_get(e, "optimalDataPoints"), "eastus",
		     (const struct want_pt[]){{"2026-12-03T11:00:00Z", 30, 100}, {"2026-12-03T11:30:00Z", 30, 100},
					      {"2026-12-03T13:00:00Z", 30, 100}}, 3);
	json_object_put(o);
	static const struct {
		const char *q, *title, *key;
	} bad[] = {
		{"", "ArgumentException", "location"},
		{"location=", "ArgumentException", "location"},
		{"location=GB&dataStartAt=2026-12-03T09:00:00Z", "ArgumentException", "dataStartAt"},
		{"location=GB&dataStartAt=2026-12-03T10:00:00Z&dataEndAt=2026-12-03T15:00:00Z", "ArgumentException", "dataEndAt"},
		{"location=GB&dataStartAt=2026-12-03T12:00:00Z&dataEndAt=2026-12-03T11:00:00Z", "ArgumentException", "dataStartAt"},
		{"location=GB&dataStartAt=noon", "One or more validation errors occurred.", "dataStartAt"},
		{"location=GB&windowSize=x", "One or more validation errors occurred.", "windowSize"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o = sdk_ask(f, bad[i].q, 400);
		ck_assert_str_eq(jstr(o, "title"), bad[i].title);
		ck_assert_int_eq(json_object_get_int(json_object_object_get(o, "status")), 400);
		ck_assert_msg(json_object_object_get(json_object_object_get(o, "errors"), bad[i].key) != NULL, "%s: %s",
			      bad[i].q, json_object_to_json_string(o));
		json_object_put(o);
	}
	rig_close(&r, NULL, f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("providers");
	TCase *tc = tcase_create("fetch");
	int n = (int)(sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, test_provider_table);
	tcase_add_loop_test(tc, test_provider_live, 0, n);
	tcase_add_loop_test(tc, test_provider_forecast, 0, n);
	tcase_add_test(tc, test_429_same_live_and_forecast);
	tcase_add_test(tc, test_token_redacted_everywhere);
	tcase_add_test(tc, test_close_cancels);
	tcase_add_test(tc, test_second_document_optional);
	tcase_add_test(tc, test_watttime_live);
	tcase_add_test(tc, test_watttime_session);
	tcase_add_test(tc, test_watttime_errors);
	tcase_add_test(tc, test_entsoe_surplus);
	tcase_add_test(tc, test_sdk_start_inside_point);
	tcase_add_test(tc, test_sdk_end_inside_point_and_ties);
	tcase_add_test(tc, test_sdk_window_longer_than_data);
	tcase_add_test(tc, test_sdk_locations_and_errors);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
