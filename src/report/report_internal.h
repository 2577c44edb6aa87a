/* SPDX-License-Identifier: Apache-2.0 */
/* What the report's parts share (report.c, market.c): the query context and helpers. */
#ifndef JP_REPORT_REPORT_INTERNAL_H
#define JP_REPORT_REPORT_INTERNAL_H

#include "metrics.h"
#include "report/report.h"

#define EXPR_MAX 8192
#define J_PER_KWH 3.6e6
#define NODE_ENERGY jp_metric_name(JP_M_NODE_ENERGY_JOULES_TOTAL)

/* What each --by reads: the energy and CO2 series and the labels that name a row. */
struct jp_by_def {
	const char *name;
	enum jp_metric_id energy_id, co2_id;
	const char *group;
	int has_system;  /* rows do not cover the node: add the system and idle rows */
};

struct jp_rctx {
	const struct jp_report_source *src;
	const struct jp_by_def *by;
	char match[512];
	struct jp_report *r;
	char *why;
	size_t whylen;
};

/* One query: instant at t_ms, or a range [t_ms, end_ms] by one-day steps when end_ms > 0.
 * Counts it, shows progress, names it in the error, keeps the server's warnings. */
int jp_rq_any(struct jp_rctx *c, const char *what, const char *expr, int64_t t_ms, int64_t end_ms,
	      struct jp_query_result *out);
int jp_rq(struct jp_rctx *c, const char *what, const char *expr, int64_t t_ms, struct jp_query_result *out);
/* The key of a series of a group query: its group labels joined by '/'. */
void jp_rq_key(const struct jp_query_series *s, const char *group, char *buf, size_t len);
/* The group row of key; with create, a new one when there is none (NULL: no memory). */
struct jp_report_row *jp_rq_row(struct jp_report *r, const char *key, int create);
/* sum by (group) (fn(metric{match}[window])). */
int jp_rq_sum_expr(char *buf, size_t len, const char *fn, const char *metric, const char *group,
		   const char *match, int64_t window_s);

/* The market-based method (report/instruments.h): each row's market-based CO2, matched
 * energy and carbon-free ratio, by period or hour by hour (market.c). */
int jp_report_market(struct jp_rctx *c, int64_t range_s);

#endif
