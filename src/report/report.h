/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The carbon report: energy and CO2 per namespace, pod, node or cluster over a time
 * range, from what the agents pushed to a Prometheus-compatible store
 * (docs/reports.md). Every figure is one PromQL query aggregated on the server; this
 * module builds the queries and assembles their answers into rows that add up to the
 * nodes' total.
 */
#ifndef JP_REPORT_REPORT_H
#define JP_REPORT_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report/instruments.h"
#include "report/query.h"

#define JP_REPORT_DAY_MS 86400000LL

enum jp_report_by { JP_BY_NAMESPACE, JP_BY_POD, JP_BY_NODE, JP_BY_CLUSTER };

enum jp_report_kind {
	JP_ROW_GROUP,   /* a namespace, pod, node or cluster */
	JP_ROW_SYSTEM,  /* host processes and the kernel outside any pod */
	JP_ROW_IDLE,    /* idle energy no pod carries (idle_attribution: none) */
	JP_ROW_TOTAL,
};

struct jp_report_row {
	char *key;            /* the label value(s): "ns", "ns/pod", "node", "cluster" */
	enum jp_report_kind kind;
	double energy_j;
	double co2_g;
	double embodied_g;
	double *daily_co2_g;  /* ndays values */
	/* Market-based (with instruments): its CO2 and the energy instruments covered. */
	double co2_market_g;
	double matched_kwh;
	double cfe_j;         /* carbon-free energy, from the agents' counters */
	double units;         /* --sci-unit: the functional units of the row; NAN: none */
	double cfe_ratio;     /* hourly matching: covered by carbon-free instruments plus uncovered
	                         × the hour's grid carbon-free share, over energy; NAN: none */
	double units_e;       /* (the hourly energy the ratio is over, while it is built) */
};

/* The share of the energy converted with each intensity source (data quality). */
struct jp_report_source_share {
	char name[32];
	double joules;
};

struct jp_report {
	int64_t from_ms, to_ms;
	enum jp_report_by by;
	int has_embodied;           /* some pod had embodied emissions in the range */
	struct jp_report_row *rows; /* groups by CO2, largest first; then system and idle */
	size_t nrows;
	struct jp_report_row total;
	size_t ndays;               /* days of the chart: [from + i d, min(from + (i+1) d, to)] */
	int *day_has_data;
	struct jp_instruments *market;   /* the instruments, with their results; NULL: location-based only */
	double *daily_energy_j;     /* with market: the nodes' energy per day */
	double *daily_market_g;     /* with market: market-based CO2 per day (hourly matching: the
	                               hours' own; by period: each day at the period's intensity) */
	int has_cfe;                /* carbon-free energy counters were found */
	int has_sci;                /* --sci-unit was given */
	int hourly;                 /* --matching hourly */
	int no_node_series;         /* the store keeps no node series: no system and idle rows */
	struct jp_report_source_share sources[8];   /* energy by intensity source */
	size_t nsources;
	size_t queries;             /* queries asked */
	char warnings[1024];        /* days without samples, the server's warnings */
};

/* Where the numbers come from: the query API (jp_report_query_source), or a test's
 * stand-in. */
struct jp_report_source {
	int (*instant)(void *ctx, const char *expr, int64_t t_ms, struct jp_query_result *out,
		       char *why, size_t whylen);
	int (*range)(void *ctx, const char *expr, int64_t start_ms, int64_t end_ms, int64_t step_ms,
		     struct jp_query_result *out, char *why, size_t whylen);
	void *ctx;
	size_t max_points;          /* per range query, as servers limit them; 0: 10000 */
	/* Called before each query with the number asked so far (for progress on a
	 * terminal); may be NULL. */
	void (*progress)(size_t done, const char *what);
};

/* A source that asks q. */
struct jp_report_source jp_report_query_source(struct jp_query *q);

struct jp_report_params {
	int64_t from_ms, to_ms;
	enum jp_report_by by;
	const char *match;          /* "{cluster=\"edge-7\"}" or NULL */
	struct jp_instruments *instruments;   /* --instruments: the market-based method too */
	const char *sci_unit;       /* --sci-unit: PromQL of the functional units, $range for the range */
	int hourly;                 /* --matching hourly (with instruments) */
};

/* Builds the report. Returns 0, or a negative errno with why filled: a failed query, or
 * no data at all (naming the missing metric and the usual causes). */
int jp_report_build(const struct jp_report_source *src, const struct jp_report_params *p,
		    struct jp_report *out, char *why, size_t whylen);
void jp_report_free(struct jp_report *r);

/* "namespace", "pod", "node", "cluster". */
const char *jp_report_by_name(enum jp_report_by by);
int jp_report_by_parse(const char *s, enum jp_report_by *out);

/* The PromQL of the energy of metric over window_s seconds summed by group (a label
 * list, may be ""), on the total-energy basis: psys where a node has it, else package +
 * dram. match is the inside of a selector ("" or "cluster=\"x\""). Into buf; returns 0
 * or -ENOSPC. Exposed for the tests. */
int jp_report_energy_expr(char *buf, size_t len, const char *metric, const char *group,
			  const char *match, int64_t window_s);

/* Parse "YYYY-MM-DD" (UTC midnight) or RFC 3339 into ms; 0 or -EINVAL. */
int jp_report_time_parse(const char *s, int64_t *out_ms);
/* "YYYY-MM" into the first day of that month and of the next; 0 or -EINVAL. */
int jp_report_month_parse(const char *s, int64_t *from_ms, int64_t *to_ms);
/* t as "YYYY-MM-DDTHH:MM:SSZ" (or "YYYY-MM-DD" when date_only) into buf. */
void jp_report_time_format(int64_t t_ms, int date_only, char *buf, size_t len);

/* ---- output (report/render.c) ---- */
enum jp_report_format { JP_FMT_TABLE, JP_FMT_CSV, JP_FMT_JSON, JP_FMT_HTML };
int jp_report_format_parse(const char *s, enum jp_report_format *out);

/* Write r to f in fmt; chart_top: groups drawn on their own in the HTML chart, the rest
 * as "other". Returns 0 or -EIO. */
int jp_report_render(const struct jp_report *r, enum jp_report_format fmt, size_t chart_top, FILE *f);

#endif
