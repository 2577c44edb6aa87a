/* SPDX-License-Identifier: Apache-2.0 */
/* The sender's stages on their own (remote/stage_*.h): relabelling with its per-series
 * cache, the tenant split and the age filter, without a queue or a socket. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "remote/stage_age.h"
#include "remote/stage_relabel.h"
#include "remote/stage_tenant.h"
#include "store/series.h"

/* ---- relabelling ---------------------------------------------------------------------- */

static struct jp_label lab[3][3] = {
	{{"__name__", "m"}, {"job", "a"}, {"namespace", "tmp-x"}},
	{{"__name__", "m"}, {"job", "b"}, {"namespace", "team"}},
	{{"__name__", "m"}, {"job", "c"}, {"namespace", "team"}},
};
static struct jp_series ser[3] = {
	{.id = 1, .nlabels = 3, .labels = lab[0], .name = "m"},
	{.id = 2, .nlabels = 3, .labels = lab[1], .name = "m"},
	{.id = 3, .nlabels = 3, .labels = lab[2], .name = "m"},
};

/* Drop tmp-* namespaces, copy job into team: each series is relabelled once, kept until its
 * stale marker, and the surviving samples carry the rules' labels. */
START_TEST(test_relabel_stage)
{
	char *ns_src[] = {"namespace"}, *job_src[] = {"job"};
	struct jp_relabel_config rules[] = {
		{.source_labels = ns_src, .nsource = 1, .separator = ";", .regex = "tmp-.*", .target_label = "",
		 .replacement = "$1", .action = JP_RELABEL_DROP},
		{.source_labels = job_src, .nsource = 1, .separator = ";", .regex = "(.*)", .target_label = "team",
		 .replacement = "t-$1", .action = JP_RELABEL_REPLACE},
	};
	struct jp_relabel_list list = {rules, 2};
	char why[256];
	struct jp_stage_relabel *st = jp_stage_relabel_create(&list, why, sizeof(why));
	ck_assert_msg(st != NULL, "%s", why);
	struct jp_round_sample v[3] = {{&ser[0], 1}, {&ser[1], 2}, {&ser[2], 3}};
	const struct jp_round_sample *out;
	ck_assert_int_eq(jp_stage_relabel_apply(st, v, 3, &out), 2);
	ck_assert_uint_eq(out[0].series->id, 2);
	ck_assert_uint_eq(out[0].series->nlabels, 4);
	ck_assert_str_eq(out[0].series->labels[3].name, "team");
	ck_assert_str_eq(out[0].series->labels[3].value, "t-b");
	ck_assert_double_eq(out[1].value, 3);
	jp_stage_relabel_end_round(st, v, 3);
	ck_assert_uint_eq(jp_stage_relabel_cached(st), 3);
	/* Series 2 ends (a stale marker): forgotten after the round. */
	struct jp_round_sample stale = {&ser[1], jp_stale_nan()};
	ck_assert_int_eq(jp_stage_relabel_apply(st, &stale, 1, &out), 1);
	jp_stage_relabel_end_round(st, &stale, 1);
	ck_assert_uint_eq(jp_stage_relabel_cached(st), 2);
	ck_assert_uint_eq(jp_stage_relabel_limit_hits(st), 0);
	jp_stage_relabel_destroy(st);
	/* No rules: no stage. */
	struct jp_relabel_list none = {NULL, 0};
	errno = 1;
	ck_assert_ptr_null(jp_stage_relabel_create(&none, why, sizeof(why)));
	ck_assert_int_eq(errno, 0);
}
END_TEST

/* A replace whose groups hit the matcher's limit is applied to no series and not cached:
 * the next round tries again. */
START_TEST(test_relabel_stage_limited)
{
	char *src[] = {"namespace"};
	struct jp_relabel_config rule = {.source_labels = src, .nsource = 1, .separator = ";",
					 .regex = "(?:(a|aa)+x|((a|aa)+)b)", .target_label = "t", .replacement = "$2",
					 .action = JP_RELABEL_REPLACE};
	struct jp_relabel_list list = {&rule, 1};
	char why[256], val[128];
	memset(val, 'a', 100);
	strcpy(val + 100, "b");
	struct jp_label l[] = {{"__name__", "m"}, {"namespace", val}};
	struct jp_series s = {.id = 9, .nlabels = 2, .labels = l, .name = "m"};
	struct jp_stage_relabel *st = jp_stage_relabel_create(&list, why, sizeof(why));
	ck_assert_ptr_nonnull(st);
	struct jp_round_sample v = {&s, 1};
	const struct jp_round_sample *out;
	for (int round = 1; round <= 2; round++) {
		ck_assert_int_eq(jp_stage_relabel_apply(st, &v, 1, &out), 1);
		ck_assert_uint_eq(out[0].series->nlabels, 2);
		jp_stage_relabel_end_round(st, &v, 1);
		ck_assert_uint_eq(jp_stage_relabel_cached(st), 0);
		ck_assert_uint_eq(jp_stage_relabel_limit_hits(st), (uint64_t)round);
	}
	jp_stage_relabel_destroy(st);
}
END_TEST

/* ---- tenants and age ---------------------------------------------------------------------- */

static struct jp_label dl[4][2] = {
	{{"__name__", "m"}, {"namespace", "zeta"}},
	{{"__name__", "m"}, {"namespace", "alpha"}},
	{{"__name__", "m"}, {"namespace", "bad tenant"}},
	{{"__name__", "m"}},
};
static struct jp_series_def defs[4] = {
	{.nlabels = 2, .labels = dl[0]}, {.nlabels = 2, .labels = dl[1]}, {.nlabels = 2, .labels = dl[2]},
	{.nlabels = 1, .labels = dl[3]},
};

static void make_batch(struct jp_batch *b, int64_t t0)
{
	memset(b, 0, sizeof(*b));
	b->series = calloc(4, sizeof(*b->series));
	b->samples = calloc(8, sizeof(*b->samples));
	for (int i = 0; i < 4; i++) {
		b->series[i] = (struct jp_batch_series){.def = &defs[i], .first = (uint32_t)(2 * i), .count = 2};
		b->samples[2 * i] = (struct jp_sample){t0 + i, i};
		b->samples[2 * i + 1] = (struct jp_sample){t0 + 100 + i, i};
	}
	b->nseries = 4;
	b->nsamples = 8;
}

START_TEST(test_tenant_stage)
{
	struct jp_kv map[] = {{"alpha", "team-a"}};
	struct jp_remote_config rc = {.tenant_header = "X-Scope-OrgID", .tenant_label = "namespace",
				      .tenant_default = "platform", .tenant_map = {map, 1}};
	struct jp_stage_tenant *t = jp_stage_tenant_create(&rc, "r");
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(jp_stage_tenant_header(t), "X-Scope-OrgID");
	struct jp_batch b;
	make_batch(&b, 1000);
	const char *const *tn;
	ck_assert_int_eq(jp_stage_tenant_order(t, &b, &tn), 0);
	/* platform (the bad value, then the series without the label), team-a, zeta. */
	static const char *const want[] = {"platform", "platform", "team-a", "zeta"};
	static const struct jp_series_def *const want_def[] = {&defs[2], &defs[3], &defs[1], &defs[0]};
	for (int i = 0; i < 4; i++) {
		ck_assert_str_eq(tn[i], want[i]);
		ck_assert_ptr_eq(b.series[i].def, want_def[i]);
	}
	jp_batch_free(&b);
	jp_stage_tenant_destroy(t);
	struct jp_remote_config off = {.tenant_header = ""};
	errno = 1;
	ck_assert_ptr_null(jp_stage_tenant_create(&off, "r"));
	ck_assert_int_eq(errno, 0);
}
END_TEST

START_TEST(test_age_stage)
{
	struct jp_batch b;
	make_batch(&b, 1000);
	ck_assert_uint_eq(jp_stage_age_filter(&b, 0), 0);         /* nothing older */
	ck_assert_uint_eq(jp_stage_age_filter(&b, 1003), 3);      /* the first samples of series 0..2 */
	ck_assert_uint_eq(b.nseries, 4);
	ck_assert_uint_eq(b.nsamples, 5);
	ck_assert_uint_eq(b.series[0].count, 1);
	ck_assert_int_eq(b.samples[b.series[0].first].ts_ms, 1100);
	ck_assert_uint_eq(b.series[3].count, 2);
	ck_assert_uint_eq(jp_stage_age_filter(&b, 1102), 3);      /* series 0 and 1 go */
	ck_assert_uint_eq(b.nseries, 2);
	ck_assert_ptr_eq(b.series[0].def, &defs[2]);
	ck_assert_uint_eq(jp_stage_age_filter(&b, 5000), 2);
	ck_assert_uint_eq(b.nseries, 0);
	ck_assert_uint_eq(b.nsamples, 0);
	jp_batch_free(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stages");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_relabel_stage);
	tcase_add_test(tc, test_relabel_stage_limited);
	tcase_add_test(tc, test_tenant_stage);
	tcase_add_test(tc, test_age_stage);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
