/* SPDX-License-Identifier: Apache-2.0 */
/* The carbon report's queries and the rows they add up to (docs/reports.md). */
#include "report/report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "report/report_internal.h"
#include "util/time.h"


#define NODE_CO2 jp_metric_name(JP_M_NODE_CO2_GRAMS_TOTAL)
#define SYSTEM_ENERGY jp_metric_name(JP_M_SYSTEM_ENERGY_JOULES_TOTAL)
#define POD_EMBODIED jp_metric_name(JP_M_POD_EMBODIED_CO2_GRAMS_TOTAL)
#define CONVERTED jp_metric_name(JP_M_NODE_CONVERTED_ENERGY_JOULES_TOTAL)

static const struct jp_by_def by_defs[] = {
	[JP_BY_NAMESPACE] = {"namespace", JP_M_NAMESPACE_ENERGY_JOULES_TOTAL, JP_M_NAMESPACE_CO2_GRAMS_TOTAL,
			     "namespace", 1},
	[JP_BY_POD] = {"pod", JP_M_POD_ENERGY_JOULES_TOTAL, JP_M_POD_CO2_GRAMS_TOTAL, "namespace, pod", 1},
	[JP_BY_NODE] = {"node", JP_M_NODE_ENERGY_JOULES_TOTAL, JP_M_NODE_CO2_GRAMS_TOTAL, "node", 0},
	[JP_BY_CLUSTER] = {"cluster", JP_M_NODE_ENERGY_JOULES_TOTAL, JP_M_NODE_CO2_GRAMS_TOTAL, "cluster", 0},
};

const char *jp_report_by_name(enum jp_report_by by)
{
	return by_defs[by].name;
}

int jp_report_by_parse(const char *s, enum jp_report_by *out)
{
	for (size_t i = 0; i < sizeof(by_defs) / sizeof(by_defs[0]); i++)
		if (!strcmp(s, by_defs[i].name)) {
			*out = (enum jp_report_by)i;
			return 0;
		}
	return -EINVAL;
}

/* ---- time ------------------------------------------------------------------------- */

int jp_report_time_parse(const char *s, int64_t *out_ms)
{
	char buf[64];
	size_t n = strlen(s);
	if (n == 10 && s[4] == '-' && s[7] == '-') {
		snprintf(buf, sizeof(buf), "%sT00:00:00Z", s);
		return jp_time_parse(buf, strlen(buf), out_ms);
	}
	return jp_time_parse(s, n, out_ms);
}

int jp_report_month_parse(const char *s, int64_t *from_ms, int64_t *to_ms)
{
	int y, m;
	char tail;
	char buf[32];
	if (strlen(s) != 7 || sscanf(s, "%4d-%2d%c", &y, &m, &tail) != 2 || m < 1 || m > 12 || y < 1970)
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%04d-%02d-01T00:00:00Z", y, m);
	if (jp_time_parse(buf, strlen(buf), from_ms))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%04d-%02d-01T00:00:00Z", m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1);
	return jp_time_parse(buf, strlen(buf), to_ms) ? -EINVAL : 0;
}

void jp_report_time_format(int64_t t_ms, int date_only, char *buf, size_t len)
{
	time_t t = (time_t)(t_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, len, date_only ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- queries ------------------------------------------------------------------------ */

/* The grouping of the per-node half of an energy query: cluster, node and group, once. */
static void inner_group(char *buf, size_t len, const char *group)
{
	snprintf(buf, len, "cluster, node");
	if (!*group)
		return;
	char g[256];
	snprintf(g, sizeof(g), "%s", group);
	for (char *save, *tok = strtok_r(g, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
		if (strcmp(tok, "cluster") && strcmp(tok, "node")) {
			size_t o = strlen(buf);
			snprintf(buf + o, len - o, ", %s", tok);
		}
}

int jp_report_energy_expr(char *buf, size_t len, const char *metric, const char *group,
			  const char *match, int64_t window_s)
{
	char inner[300];
	const char *sep = *match ? ", " : "";
	inner_group(inner, sizeof(inner), group);
	/* The total-energy basis of docs/reference/metrics.md per (cluster, node, group):
	 * platform where the node has a power meter (it sees the GPUs too); else psys where
	 * it has psys, package + dram elsewhere (core and uncore lie inside package); plus
	 * gpu where there is any. A node's zones are on every series of it (node, system,
	 * pod, namespace), so `or` picks per label set, and `(C + gpu) or C` adds the GPU
	 * energy only where it exists. */
	char sel[4][700], zones[4][64];   /* platform, psys, package + dram, gpu */
	snprintf(zones[0], sizeof(zones[0]), "zone=\"%s\"", jp_basis_zone_name(JP_BASIS_PLATFORM));
	snprintf(zones[1], sizeof(zones[1]), "zone=\"%s\"", jp_basis_zone_name(JP_BASIS_PSYS));
	snprintf(zones[2], sizeof(zones[2]), "zone=~\"%s|%s\"", jp_basis_zone_name(JP_BASIS_PACKAGE),
		 jp_basis_zone_name(JP_BASIS_DRAM));
	snprintf(zones[3], sizeof(zones[3]), "zone=\"%s\"", jp_basis_zone_name(JP_BASIS_GPU));
	for (int i = 0; i < 4; i++) {
		int k = snprintf(sel[i], sizeof(sel[i]), "sum by (%s) (increase(%s{%s%s%s}[%" PRId64 "s]))", inner,
				 metric, zones[i], sep, match, window_s);
		if (k < 0 || (size_t)k >= sizeof(sel[i]))
			return -ENOSPC;
	}
	int n = snprintf(buf, len, "sum by (%s) (%s or ((%s or %s) + %s) or %s or %s)", group, sel[0], sel[1], sel[2],
			 sel[3], sel[1], sel[2]);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int jp_rq_sum_expr(char *buf, size_t len, const char *fn, const char *metric, const char *group,
		    const char *match, int64_t window_s)
{
	int n = snprintf(buf, len, "sum by (%s) (%s(%s{%s}[%" PRId64 "s]))", group, fn, metric, match, window_s);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}


/* One query: instant at t_ms, or a range [t_ms, end_ms] by one-day steps when end_ms > 0.
 * Counts it, shows progress, names it in the error, keeps the server's warnings. */
int jp_rq_any(struct jp_rctx *c, const char *what, const char *expr, int64_t t_ms, int64_t end_ms,
		   struct jp_query_result *out)
{
	if (c->src->progress)
		c->src->progress(c->r->queries, what);
	c->r->queries++;
	char w[512];
	int rc = end_ms > 0 ? c->src->range(c->src->ctx, expr, t_ms, end_ms, JP_REPORT_DAY_MS, out, w, sizeof(w))
			    : c->src->instant(c->src->ctx, expr, t_ms, out, w, sizeof(w));
	if (rc) {
		snprintf(c->why, c->whylen, "%s: %s", what, w);
		return rc;
	}
	if (out->warnings[0]) {
		size_t o = strlen(c->r->warnings);
		snprintf(c->r->warnings + o, sizeof(c->r->warnings) - o, "%sthe server warns: %s",
			 o ? "\n" : "", out->warnings);
	}
	return 0;
}

int jp_rq(struct jp_rctx *c, const char *what, const char *expr, int64_t t_ms, struct jp_query_result *out)
{
	return jp_rq_any(c, what, expr, t_ms, 0, out);
}

/* The key of a series of a group query: its group labels joined by '/'. */
void jp_rq_key(const struct jp_query_series *s, const char *group, char *buf, size_t len)
{
	char g[256];
	buf[0] = '\0';
	snprintf(g, sizeof(g), "%s", group);
	size_t o = 0;
	for (char *save, *tok = strtok_r(g, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		const char *v = jp_query_label(s, tok);
		int n = snprintf(buf + o, len - o, "%s%s", o ? "/" : "", v ? v : "");
		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
	}
}

struct jp_report_row *jp_rq_row(struct jp_report *r, const char *key, int create)
{
	for (size_t i = 0; i < r->nrows; i++)
		if (r->rows[i].kind == JP_ROW_GROUP && !strcmp(r->rows[i].key, key))
			return &r->rows[i];
	if (!create)
		return NULL;
	struct jp_report_row *n = realloc(r->rows, (r->nrows + 1) * sizeof(*n));
	if (!n)
		return NULL;
	r->rows = n;
	struct jp_report_row *row = &r->rows[r->nrows];
	memset(row, 0, sizeof(*row));
	row->key = strdup(key);
	row->daily_co2_g = calloc(r->ndays + 1, sizeof(double));
	if (!row->key || !row->daily_co2_g) {
		free(row->key);
		free(row->daily_co2_g);
		return NULL;
	}
	r->nrows++;
	return row;
}

enum figure { F_ENERGY, F_CO2, F_EMBODIED, F_CFE };

/* Ask expr at to and add each answer series to its row's figure. */
static int group_figure(struct jp_rctx *c, const char *what, const char *expr, enum figure f, int create,
			size_t *nseries)
{
	struct jp_query_result res;
	int rc = jp_rq(c, what, expr, c->r->to_ms, &res);
	if (rc)
		return rc;
	*nseries = 0;
	for (size_t i = 0; i < res.nseries; i++) {
		if (!res.series[i].npoints)
			continue;
		char key[512];
		jp_rq_key(&res.series[i], c->by->group, key, sizeof(key));
		struct jp_report_row *row = jp_rq_row(c->r, key, create);
		if (!row && create) {
			jp_query_result_free(&res);
			snprintf(c->why, c->whylen, "out of memory");
			return -ENOMEM;
		}
		if (!row)
			continue;
		double v = res.series[i].v[0];
		if (f == F_ENERGY)
			row->energy_j += v;
		else if (f == F_CO2)
			row->co2_g += v;
		else if (f == F_CFE)
			row->cfe_j += v;
		else
			row->embodied_g += v;
		(*nseries)++;
	}
	jp_query_result_free(&res);
	return 0;
}

/* One number: the sum of expr's answer at to (0 when it has none). */
static int scalar(struct jp_rctx *c, const char *what, const char *expr, double *out, size_t *nseries)
{
	struct jp_query_result res;
	int rc = jp_rq(c, what, expr, c->r->to_ms, &res);
	if (rc)
		return rc;
	*out = 0;
	*nseries = 0;
	for (size_t i = 0; i < res.nseries; i++)
		if (res.series[i].npoints) {
			*out += res.series[i].v[0];
			(*nseries)++;
		}
	jp_query_result_free(&res);
	return 0;
}

/* Day index of a range point at t (the end of its day), or -1. */
static long day_of(const struct jp_report *r, int64_t t_ms)
{
	if (t_ms <= r->from_ms)
		return -1;
	int64_t d = (t_ms - r->from_ms + JP_REPORT_DAY_MS - 1) / JP_REPORT_DAY_MS - 1;
	return d >= 0 && (size_t)d < r->ndays ? (long)d : -1;
}

/* The per-day values of an expression built by mk(window): full days by range queries
 * (chunked to the source's point limit), a partial last day by one instant query. For
 * each series and day, add(ctx, series, day, value). */
typedef int (*mk_fn)(struct jp_rctx *c, char *buf, size_t len, int64_t window_s);
typedef int (*add_fn)(struct jp_rctx *c, const struct jp_query_series *s, size_t day, double v);

static int daily(struct jp_rctx *c, const char *what, mk_fn mk, add_fn add)
{
	struct jp_report *r = c->r;
	size_t full = (size_t)((r->to_ms - r->from_ms) / JP_REPORT_DAY_MS);
	size_t maxp = c->src->max_points ? c->src->max_points : 10000;
	char expr[EXPR_MAX];
	int rc;
	for (size_t first = 0; first < full; first += maxp) {
		size_t last = first + maxp < full ? first + maxp : full; /* days [first, last) */
		if ((rc = mk(c, expr, sizeof(expr), JP_REPORT_DAY_MS / 1000)))
			return rc;
		struct jp_query_result res;
		if ((rc = jp_rq_any(c, what, expr, r->from_ms + (int64_t)(first + 1) * JP_REPORT_DAY_MS,
				  r->from_ms + (int64_t)last * JP_REPORT_DAY_MS, &res)))
			return rc;
		for (size_t i = 0; i < res.nseries && !rc; i++)
			for (size_t j = 0; j < res.series[i].npoints && !rc; j++) {
				long d = day_of(r, res.series[i].t_ms[j]);
				if (d >= (long)first && d < (long)last)
					rc = add(c, &res.series[i], (size_t)d, res.series[i].v[j]);
			}
		jp_query_result_free(&res);
		if (rc)
			return rc;
	}
	if (full < r->ndays) {
		int64_t tail_s = (r->to_ms - r->from_ms - (int64_t)full * JP_REPORT_DAY_MS + 999) / 1000;
		if ((rc = mk(c, expr, sizeof(expr), tail_s)))
			return rc;
		struct jp_query_result res;
		if ((rc = jp_rq(c, what, expr, r->to_ms, &res)))
			return rc;
		for (size_t i = 0; i < res.nseries && !rc; i++)
			if (res.series[i].npoints)
				rc = add(c, &res.series[i], full, res.series[i].v[0]);
		jp_query_result_free(&res);
	}
	return rc;
}

static int mk_group_co2(struct jp_rctx *c, char *buf, size_t len, int64_t w)
{
	return jp_rq_sum_expr(buf, len, "increase", jp_metric_name(c->by->co2_id), c->by->group, c->match, w);
}

static int mk_node_co2(struct jp_rctx *c, char *buf, size_t len, int64_t w)
{
	return jp_rq_sum_expr(buf, len, "increase", NODE_CO2, "", c->match, w);
}

static int mk_count(struct jp_rctx *c, char *buf, size_t len, int64_t w)
{
	return jp_rq_sum_expr(buf, len, "count_over_time", c->r->no_node_series ? jp_metric_name(c->by->energy_id) : NODE_ENERGY,
			"", c->match, w);
}

static int add_group_co2(struct jp_rctx *c, const struct jp_query_series *s, size_t day, double v)
{
	char key[512];
	jp_rq_key(s, c->by->group, key, sizeof(key));
	struct jp_report_row *row = jp_rq_row(c->r, key, 0);
	if (row)
		row->daily_co2_g[day] += v;
	return 0;
}

static int add_total_co2(struct jp_rctx *c, const struct jp_query_series *s, size_t day, double v)
{
	c->r->total.daily_co2_g[day] += v;
	return 0;
}

static int mk_node_energy(struct jp_rctx *c, char *buf, size_t len, int64_t w)
{
	return jp_report_energy_expr(buf, len, c->r->no_node_series ? jp_metric_name(c->by->energy_id) : NODE_ENERGY, "",
				     c->match, w);
}

static int add_total_energy(struct jp_rctx *c, const struct jp_query_series *s, size_t day, double v)
{
	c->r->daily_energy_j[day] += v;
	return 0;
}

static int add_count(struct jp_rctx *c, const struct jp_query_series *s, size_t day, double v)
{
	if (v > 0)
		c->r->day_has_data[day] = 1;
	return 0;
}

static int by_co2(const void *a, const void *b)
{
	const struct jp_report_row *x = a, *y = b;
	if (x->co2_g != y->co2_g)
		return x->co2_g < y->co2_g ? 1 : -1;
	if (x->energy_j != y->energy_j)
		return x->energy_j < y->energy_j ? 1 : -1;
	return strcmp(x->key, y->key);
}

static int missing(struct jp_rctx *c, const char *metric)
{
	char f[32], t[32];
	jp_report_time_format(c->r->from_ms, 0, f, sizeof(f));
	jp_report_time_format(c->r->to_ms, 0, t, sizeof(t));
	snprintf(c->why, c->whylen,
		 "no %s{%s} between %s and %s. Usual causes: no agent pushes to this URL (its "
		 "remote_write url), the tenant header (X-Scope-OrgID, THANOS-TENANT) differs from "
		 "the agents', --match selects nothing, or the range lies before the first push",
		 metric, c->match, f, t);
	return -ENODATA;
}

/* Append the system and idle rows of a namespace or pod report. */
static int add_rest_rows(struct jp_rctx *c, double node_e, double node_co2, double system_e)
{
	struct jp_report *r = c->r;
	double groups_e = 0, groups_co2 = 0;
	for (size_t i = 0; i < r->nrows; i++) {
		groups_e += r->rows[i].energy_j;
		groups_co2 += r->rows[i].co2_g;
	}
	double idle_e = node_e - groups_e - system_e;
	/* Counters of one node are written in one round, so the difference is rounding,
	 * unless the namespace series were left out (metrics.levels). */
	if (idle_e < -1e-6 * node_e) {
		size_t o = strlen(r->warnings);
		snprintf(r->warnings + o, sizeof(r->warnings) - o,
			 "%sthe rows exceed the nodes' energy by %.3g J (%.2g %%): the node series are "
			 "missing for part of the range", o ? "\n" : "", -idle_e, node_e > 0 ? -100 * idle_e / node_e : 0);
	}
	if (idle_e < 0)
		idle_e = 0;
	/* The system and idle CO2 are not series of their own: they share what the nodes'
	 * CO2 leaves after the rows, in proportion to their energy. */
	double rest_co2 = node_co2 - groups_co2;
	if (rest_co2 < 0)
		rest_co2 = 0;
	double rest_e = system_e + idle_e;
	struct jp_report_row *n = realloc(r->rows, (r->nrows + 2) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	r->rows = n;
	const struct {
		const char *key;
		enum jp_report_kind kind;
		double e;
	} rest[] = {{"(system)", JP_ROW_SYSTEM, system_e}, {"(idle, unattributed)", JP_ROW_IDLE, idle_e}};
	for (size_t k = 0; k < 2; k++) {
		struct jp_report_row *row = &r->rows[r->nrows];
		memset(row, 0, sizeof(*row));
		row->key = strdup(rest[k].key);
		row->daily_co2_g = calloc(r->ndays + 1, sizeof(double));
		if (!row->key || !row->daily_co2_g) {
			free(row->key);
			free(row->daily_co2_g);
			return -ENOMEM;
		}
		row->kind = rest[k].kind;
		row->energy_j = rest[k].e;
		row->co2_g = rest_e > 0 ? rest_co2 * rest[k].e / rest_e : 0;
		r->nrows++;
	}
	return 0;
}

/* ---- data quality and carbon-free energy ---------------------------------------------- */

/* The carbon-free energy counter of the rows of a --by. */
static enum jp_metric_id cfe_metric(enum jp_report_by by)
{
	return by == JP_BY_NAMESPACE ? JP_M_NAMESPACE_CARBON_FREE_ENERGY_JOULES_TOTAL
	       : by == JP_BY_POD ? JP_M_POD_CARBON_FREE_ENERGY_JOULES_TOTAL : JP_M_NODE_CARBON_FREE_ENERGY_JOULES_TOTAL;
}

/* The energy by intensity source (how much of the CO2 rests on the fallback), and the
 * carbon-free energy of each row: the rows' own counters, and for the system and idle rows
 * what the nodes' leaves after the rows, shared by their energy. */
static int quality(struct jp_rctx *c, int64_t range_s)
{
	struct jp_report *r = c->r;
	char expr[EXPR_MAX];
	struct jp_query_result res;
	int rc = jp_rq_sum_expr(expr, sizeof(expr), "increase", jp_metric_name(JP_M_NODE_CONVERTED_ENERGY_JOULES_TOTAL),
			  "intensity_source", c->match, range_s);
	rc = rc ? rc : jp_rq(c, "energy by intensity source", expr, r->to_ms, &res);
	if (rc)
		return rc;
	for (size_t i = 0; i < res.nseries && r->nsources < sizeof(r->sources) / sizeof(r->sources[0]); i++) {
		const char *name = jp_query_label(&res.series[i], "intensity_source");
		if (res.series[i].npoints && name) {
			snprintf(r->sources[r->nsources].name, sizeof(r->sources[0].name), "%s", name);
			r->sources[r->nsources++].joules = res.series[i].v[0];
		}
	}
	jp_query_result_free(&res);
	size_t n = 0;
	double node_cfe = 0;
	if ((rc = jp_rq_sum_expr(expr, sizeof(expr), "increase", jp_metric_name(cfe_metric(r->by)), c->by->group, c->match,
			   range_s)) ||
	    (rc = group_figure(c, "carbon-free energy by row", expr, F_CFE, 0, &n)))
		return rc;
	r->has_cfe = n > 0;
	if (r->has_cfe && c->by->has_system && !r->no_node_series) {
		if ((rc = jp_rq_sum_expr(expr, sizeof(expr), "increase", jp_metric_name(JP_M_NODE_CARBON_FREE_ENERGY_JOULES_TOTAL),
				   "", c->match, range_s)) ||
		    (rc = scalar(c, "node carbon-free energy", expr, &node_cfe, &n)))
			return rc;
		double rest_cfe = node_cfe, rest_e = 0;
		for (size_t i = 0; i < r->nrows; i++) {
			if (r->rows[i].kind == JP_ROW_GROUP)
				rest_cfe -= r->rows[i].cfe_j;
			else
				rest_e += r->rows[i].energy_j;
		}
		for (size_t i = 0; i < r->nrows; i++)
			if (r->rows[i].kind != JP_ROW_GROUP && rest_e > 0 && rest_cfe > 0)
				r->rows[i].cfe_j = rest_cfe * r->rows[i].energy_j / rest_e;
	}
	for (size_t i = 0; i < r->nrows; i++)
		r->total.cfe_j += r->rows[i].cfe_j;
	return 0;
}

/* ---- SCI per functional unit -------------------------------------------------------- */

/* --sci-unit: the functional units per row, from the user's PromQL with $range replaced by
 * the range and summed by the rows' labels (SCI = (location CO2 + embodied) / units). */
static int sci(struct jp_rctx *c, const char *unit_expr, int64_t range_s)
{
	struct jp_report *r = c->r;
	char expr[EXPR_MAX], range[32];
	size_t o = 0;
	snprintf(range, sizeof(range), "%" PRId64 "s", range_s);
	o += (size_t)snprintf(expr, sizeof(expr), "sum by (%s) (", c->by->group);
	for (const char *p = unit_expr; *p && o + 40 < sizeof(expr);) {
		if (!strncmp(p, "$range", 6)) {
			o += (size_t)snprintf(expr + o, sizeof(expr) - o, "%s", range);
			p += 6;
		} else {
			expr[o++] = *p++;
		}
	}
	if (o + 2 >= sizeof(expr)) {
		snprintf(c->why, c->whylen, "--sci-unit is too long");
		return -EINVAL;
	}
	expr[o++] = ')';
	expr[o] = 0;
	r->has_sci = 1;
	for (size_t i = 0; i < r->nrows; i++)
		r->rows[i].units = NAN;
	r->total.units = 0;
	struct jp_query_result res;
	int rc = jp_rq(c, "functional units by row", expr, r->to_ms, &res);
	if (rc)
		return rc;
	for (size_t i = 0; i < res.nseries; i++) {
		char key[512];
		jp_rq_key(&res.series[i], c->by->group, key, sizeof(key));
		struct jp_report_row *row = jp_rq_row(r, key, 0);
		if (row && res.series[i].npoints) {
			row->units = (isnan(row->units) ? 0 : row->units) + res.series[i].v[0];
			r->total.units += res.series[i].v[0];
		}
	}
	jp_query_result_free(&res);
	return 0;
}

/* The nodes' figures: their energy, CO2 and whether the store holds them at all. A store
 * that keeps the namespace series alone still gives their rows, without the system and
 * idle rows the nodes' series make. */
struct node_figures {
	double e, co2, system_e;
	size_t nconv;   /* series of the converted-energy counter */
};

static int node_figures(struct jp_rctx *c, int64_t range_s, struct node_figures *nf)
{
	struct jp_report *r = c->r;
	char expr[EXPR_MAX];
	size_t n;
	int rc;
	if ((rc = jp_report_energy_expr(expr, sizeof(expr), NODE_ENERGY, "", c->match, range_s)) ||
	    (rc = scalar(c, "node energy", expr, &nf->e, &n)))
		return rc;
	if (!n && !c->by->has_system)
		return missing(c, NODE_ENERGY);
	r->no_node_series = !n;
	if (r->no_node_series)
		return 0;
	if ((rc = jp_rq_sum_expr(expr, sizeof(expr), "increase", NODE_CO2, "", c->match, range_s)) ||
	    (rc = scalar(c, "node CO2", expr, &nf->co2, &n)))
		return rc;
	/* The energy the nodes' CO2 was converted from: one counter per intensity source, so
	 * the store extrapolates it exactly as the CO2 counter. The zone series are several
	 * per node, started apart (active, idle), and extrapolated each their own way at the
	 * edges of a range the agent started in; what the rows leave is then the difference
	 * of two figures taken from the same windows, and with one intensity it is exactly
	 * that intensity. Stores from agents without the counter keep the zone sum. */
	double conv_e = 0;
	if ((rc = jp_rq_sum_expr(expr, sizeof(expr), "increase", CONVERTED, "", c->match, range_s)) ||
	    (rc = scalar(c, "converted energy", expr, &conv_e, &nf->nconv)))
		return rc;
	if (nf->nconv)
		nf->e = conv_e;
	return 0;
}

/* The rows' energy, CO2 and embodied CO2; the system energy where rows are parts of nodes. */
static int row_figures(struct jp_rctx *c, int64_t range_s, struct node_figures *nf)
{
	struct jp_report *r = c->r;
	char expr[EXPR_MAX];
	size_t n;
	/* Rows that are whole nodes or clusters take the same converted energy. */
	int rc = nf->nconv && !c->by->has_system
			 ? jp_rq_sum_expr(expr, sizeof(expr), "increase", CONVERTED, c->by->group, c->match, range_s)
			 : jp_report_energy_expr(expr, sizeof(expr), jp_metric_name(c->by->energy_id), c->by->group,
						 c->match, range_s);
	if (rc || (rc = group_figure(c, "energy by row", expr, F_ENERGY, 1, &n)))
		return rc;
	if (!n)   /* neither: nothing is stored for this range; name the node series as ever */
		return missing(c, r->no_node_series ? NODE_ENERGY : jp_metric_name(c->by->energy_id));
	if ((rc = jp_rq_sum_expr(expr, sizeof(expr), "increase", jp_metric_name(c->by->co2_id), c->by->group, c->match,
				 range_s)) ||
	    (rc = group_figure(c, "CO2 by row", expr, F_CO2, 1, &n)))
		return rc;
	if ((rc = jp_rq_sum_expr(expr, sizeof(expr), "increase", POD_EMBODIED, c->by->group, c->match, range_s)) ||
	    (rc = group_figure(c, "embodied CO2 by row", expr, F_EMBODIED, 0, &n)))
		return rc;
	r->has_embodied = n > 0;
	if (c->by->has_system && !r->no_node_series &&
	    ((rc = jp_report_energy_expr(expr, sizeof(expr), SYSTEM_ENERGY, "", c->match, range_s)) ||
	     (rc = scalar(c, "system energy", expr, &nf->system_e, &n))))
		return rc;
	return 0;
}

/* The total: the nodes' own counters where the rows are parts of nodes (each day's system
 * and idle CO2 is then what the nodes' CO2 leaves after the rows); the sum of the rows
 * where rows are whole nodes or clusters. */
static void totals(struct jp_report *r, int rest_rows, const struct node_figures *nf)
{
	for (size_t i = 0; i < r->nrows; i++) {
		struct jp_report_row *row = &r->rows[i];
		r->total.embodied_g += row->embodied_g;
		if (!rest_rows) {
			r->total.energy_j += row->energy_j;
			r->total.co2_g += row->co2_g;
		}
	}
	if (!rest_rows)
		return;
	r->total.energy_j = nf->e;
	r->total.co2_g = nf->co2;
	for (size_t d = 0; d < r->ndays; d++) {
		double rest = r->total.daily_co2_g[d];
		for (size_t i = 0; i < r->nrows; i++)
			if (r->rows[i].kind == JP_ROW_GROUP)
				rest -= r->rows[i].daily_co2_g[d];
		double sys_e = r->rows[r->nrows - 2].energy_j, idle_e = r->rows[r->nrows - 1].energy_j;
		rest = rest > 0 ? rest : 0;
		r->rows[r->nrows - 2].daily_co2_g[d] = sys_e + idle_e > 0 ? rest * sys_e / (sys_e + idle_e) : 0;
		r->rows[r->nrows - 1].daily_co2_g[d] = sys_e + idle_e > 0 ? rest * idle_e / (sys_e + idle_e) : 0;
	}
}

/* The notes on what the report rests on: no node series, days without a sample. */
static void data_warnings(struct jp_rctx *c)
{
	struct jp_report *r = c->r;
	if (r->no_node_series) {
		size_t o = strlen(r->warnings);
		snprintf(r->warnings + o, sizeof(r->warnings) - o,
			 "%sno %s{%s} in the store: the rows are the %ss' own counters, without the (system) and "
			 "(idle, unattributed) rows the node series give, and the total is their sum",
			 o ? "\n" : "", NODE_ENERGY, c->match, c->by->name);
	}
	size_t nmiss = 0;
	char days[512] = "";
	for (size_t d = 0; d < r->ndays; d++)
		if (!r->day_has_data[d]) {
			char day[16];
			jp_report_time_format(r->from_ms + (int64_t)d * JP_REPORT_DAY_MS, 1, day, sizeof(day));
			size_t o = strlen(days);
			if (nmiss < 10)
				snprintf(days + o, sizeof(days) - o, "%s%s", nmiss ? ", " : "", day);
			nmiss++;
		}
	if (nmiss) {
		size_t o = strlen(r->warnings);
		snprintf(r->warnings + o, sizeof(r->warnings) - o, "%spartial data: %zu of %zu days have no samples (%s%s)",
			 o ? "\n" : "", nmiss, r->ndays, days, nmiss > 10 ? ", ..." : "");
	}
}

/* The report's range, its days and its total row, before any query. */
static int report_init(struct jp_rctx *c, const struct jp_report_params *p)
{
	struct jp_report *r = c->r;
	if (p->match && *p->match) {
		size_t n = strlen(p->match);
		if (p->match[0] != '{' || p->match[n - 1] != '}' || n - 2 >= sizeof(c->match)) {
			snprintf(c->why, c->whylen, "--match must be a selector in braces, such as {cluster=\"edge-7\"}");
			return -EINVAL;
		}
		memcpy(c->match, p->match + 1, n - 2);
		c->match[n - 2] = '\0';
	}
	r->from_ms = p->from_ms;
	r->to_ms = p->to_ms;
	r->by = p->by;
	r->market = p->instruments;
	r->hourly = p->hourly;
	r->total.cfe_ratio = NAN;
	r->ndays = (size_t)((p->to_ms - p->from_ms + JP_REPORT_DAY_MS - 1) / JP_REPORT_DAY_MS);
	r->day_has_data = calloc(r->ndays + 1, sizeof(int));
	r->total.daily_co2_g = calloc(r->ndays + 1, sizeof(double));
	r->total.key = strdup("(total)");
	r->total.kind = JP_ROW_TOTAL;
	if (r->market) {
		r->daily_energy_j = calloc(r->ndays + 1, sizeof(double));
		r->daily_market_g = calloc(r->ndays + 1, sizeof(double));
	}
	if (!r->day_has_data || !r->total.daily_co2_g || !r->total.key ||
	    (r->market && (!r->daily_energy_j || !r->daily_market_g))) {
		snprintf(c->why, c->whylen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int jp_report_build(const struct jp_report_source *src, const struct jp_report_params *p,
		    struct jp_report *r, char *why, size_t whylen)
{
	memset(r, 0, sizeof(*r));
	if (p->to_ms <= p->from_ms) {
		snprintf(why, whylen, "the range is empty: --to must be after --from");
		return -EINVAL;
	}
	struct jp_rctx c = {.src = src, .by = &by_defs[p->by], .r = r, .why = why, .whylen = whylen};
	int64_t range_s = (p->to_ms - p->from_ms + 999) / 1000;
	struct node_figures nf = {0};
	int rc;
	if ((rc = report_init(&c, p)) || (rc = node_figures(&c, range_s, &nf)) || (rc = row_figures(&c, range_s, &nf)))
		goto fail;
	/* The chart: CO2 per row and per day, the nodes' daily CO2 (the rows' without node
	 * series), and which days have samples at all. */
	if ((rc = daily(&c, "daily CO2 by row", mk_group_co2, add_group_co2)) ||
	    (rc = daily(&c, "daily node CO2", r->no_node_series ? mk_group_co2 : mk_node_co2, add_total_co2)) ||
	    (rc = daily(&c, "samples per day", mk_count, add_count)))
		goto fail;
	qsort(r->rows, r->nrows, sizeof(*r->rows), by_co2);
	int rest_rows = c.by->has_system && !r->no_node_series;
	if (rest_rows && (rc = add_rest_rows(&c, nf.e, nf.co2, nf.system_e))) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	totals(r, rest_rows, &nf);
	if ((r->market && (rc = daily(&c, "daily node energy", mk_node_energy, add_total_energy))) ||
	    (rc = quality(&c, range_s)) || (r->market && (rc = jp_report_market(&c, range_s))) ||
	    (p->sci_unit && (rc = sci(&c, p->sci_unit, range_s))))
		goto fail;
	data_warnings(&c);
	return 0;
fail:
	jp_report_free(r);
	return rc;
}

void jp_report_free(struct jp_report *r)
{
	for (size_t i = 0; i < r->nrows; i++) {
		free(r->rows[i].key);
		free(r->rows[i].daily_co2_g);
	}
	free(r->rows);
	free(r->total.key);
	free(r->total.daily_co2_g);
	free(r->day_has_data);
	free(r->daily_energy_j);
	free(r->daily_market_g);
	r->daily_energy_j = r->daily_market_g = NULL;
	r->rows = NULL;
	r->nrows = 0;
	r->total.key = NULL;
	r->total.daily_co2_g = NULL;
	r->day_has_data = NULL;
}

/* ---- the query API as a source ----------------------------------------------------------- */

static int q_instant(void *ctx, const char *expr, int64_t t_ms, struct jp_query_result *out, char *why,
		     size_t whylen)
{
	return jp_query_instant(ctx, expr, t_ms, out, why, whylen);
}

static int q_range(void *ctx, const char *expr, int64_t s, int64_t e, int64_t step,
		   struct jp_query_result *out, char *why, size_t whylen)
{
	return jp_query_range(ctx, expr, s, e, step, out, why, whylen);
}

struct jp_report_source jp_report_query_source(struct jp_query *q)
{
	return (struct jp_report_source){.instant = q_instant, .range = q_range, .ctx = q};
}
