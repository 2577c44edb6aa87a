/* SPDX-License-Identifier: Apache-2.0 */
/* The market-based method of the carbon report (docs/reports.md): the cells its
 * instruments are allocated over, by period or hour by hour. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report_internal.h"

/* ---- market-based (report/instruments.h) -------------------------------------------- */

/* The cells of the market-based allocation: each row's energy split by the label values
 * its instruments and residual mixes match on, and with the system and idle rows, what the
 * nodes' energy leaves after the rows under each set of values (the "rest" cells). */
struct cells {
	struct jp_market_cell *v;
	size_t n, cap;
	long *row;                 /* the row of each cell; -1: the rest */
	char ***values;            /* owned value arrays */
};

static void cells_free(struct cells *cs, size_t nkeys)
{
	for (size_t i = 0; i < cs->n; i++) {
		for (size_t k = 0; k < nkeys; k++)
			free(cs->values[i][k]);
		free(cs->values[i]);
	}
	free(cs->values);
	free(cs->row);
	free(cs->v);
}

/* The group label list with the matchers' labels added. */
static void cell_group(const struct jp_rctx *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s", c->by->group);
	for (size_t k = 0; k < c->r->market->nkeys; k++) {
		size_t o = strlen(buf);
		snprintf(buf + o, len - o, "%s%s", o ? ", " : "", c->r->market->keys[k]);
	}
}

static int cell_add(struct cells *cs, size_t nkeys, const struct jp_query_series *s, long row, double kwh,
		    const char *const *keys)
{
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 64;
		struct jp_market_cell *v = realloc(cs->v, cap * sizeof(*v));
		long *rw = v ? realloc(cs->row, cap * sizeof(*rw)) : NULL;
		char ***vals = rw ? realloc(cs->values, cap * sizeof(*vals)) : NULL;
		if (v)
			cs->v = v;
		if (rw)
			cs->row = rw;
		if (!vals)
			return -ENOMEM;
		cs->values = vals;
		cs->cap = cap;
	}
	char **vals = calloc(nkeys + 1, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (size_t k = 0; k < nkeys; k++) {
		const char *v = jp_query_label(s, keys[k]);
		if (v && !(vals[k] = strdup(v))) {
			for (size_t j = 0; j < k; j++)
				free(vals[j]);
			free(vals);
			return -ENOMEM;
		}
	}
	cs->values[cs->n] = vals;
	cs->row[cs->n] = row;
	cs->v[cs->n] = (struct jp_market_cell){.values = (const char *const *)vals, .energy_kwh = kwh};
	cs->n++;
	return 0;
}

static int same_values(char **a, char **b, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if ((a[k] == NULL) != (b[k] == NULL) || (a[k] && strcmp(a[k], b[k])))
			return 0;
	return 1;
}

#define HOUR_MS 3600000LL
#define MAX_HOURS (24 * 400)

/* The cell of a series of a cell query: its row (or -1 for the rest) and values. */
static long cell_of(const struct cells *cs, size_t nkeys, const char *const *keys, long row,
		    const struct jp_query_series *s)
{
	for (size_t i = 0; i < cs->n; i++) {
		if (cs->row[i] != row)
			continue;
		size_t k = 0;
		for (; k < nkeys; k++) {
			const char *v = jp_query_label(s, keys[k]), *w = cs->values[i][k];
			if ((v == NULL) != (w == NULL) || (v && strcmp(v, w)))
				break;
		}
		if (k == nkeys)
			return (long)i;
	}
	return -2;
}

/* e[cell * nh + h] += the energy (kWh) in hour h of metric's series grouped by group, for
 * every hour of the range (range queries of one-hour windows, one point per hour end,
 * chunked to the source's limit): the row cells' (rest 0) or the rest cells' (rest 1); with
 * sum_h, the sum of all series per hour instead. */
static int hourly_energy(struct jp_rctx *c, const char *what, const char *group, const char *metric, int rest,
			 struct cells *cs, double *e, size_t nh, double *sum_h)
{
	struct jp_report *r = c->r;
	struct jp_instruments *ins = r->market;
	size_t maxp = c->src->max_points ? c->src->max_points : 10000;
	char expr[EXPR_MAX];
	/* Energy series carry zones (the total-energy basis picks among them); the carbon-free
	 * counters do not. */
	int rc = strcmp(metric, jp_metric_name(JP_M_NODE_CARBON_FREE_ENERGY_JOULES_TOTAL))
			 ? jp_report_energy_expr(expr, sizeof(expr), metric, group, c->match, 3600)
			 : jp_rq_sum_expr(expr, sizeof(expr), "increase", metric, group, c->match, 3600);
	for (size_t first = 0; !rc && first < nh; first += maxp) {
		size_t last = first + maxp < nh ? first + maxp : nh;
		struct jp_query_result res;
		int64_t t0 = r->from_ms + (int64_t)(first + 1) * HOUR_MS, t1 = r->from_ms + (int64_t)last * HOUR_MS;
		if (c->src->progress)
			c->src->progress(r->queries, what);
		r->queries++;
		char w[512];
		if ((rc = c->src->range(c->src->ctx, expr, t0, t1, HOUR_MS, &res, w, sizeof(w)))) {
			snprintf(c->why, c->whylen, "%s: %s", what, w);
			return rc;
		}
		for (size_t i = 0; i < res.nseries; i++) {
			long cell = -2;
			if (sum_h) {
				cell = -1;
			} else {
				char key[512];
				jp_rq_key(&res.series[i], c->by->group, key, sizeof(key));
				struct jp_report_row *row = rest ? NULL : jp_rq_row(r, key, 0);
				/* A row query's series without a row (-3) matches no cell. */
				cell = cell_of(cs, ins->nkeys, (const char *const *)ins->keys,
					       rest ? -1 : row ? row - r->rows : -3, &res.series[i]);
			}
			for (size_t j = 0; cell != -2 && j < res.series[i].npoints; j++) {
				int64_t off = res.series[i].t_ms[j] - r->from_ms;
				if (off <= 0 || off % HOUR_MS)
					continue;
				size_t h = (size_t)(off / HOUR_MS) - 1;
				if (h >= nh)
					continue;
				double kwh = res.series[i].v[j] / J_PER_KWH;
				if (sum_h)
					sum_h[h] += kwh;
				else
					e[(size_t)cell * nh + h] += kwh * ins->pue;
			}
		}
		jp_query_result_free(&res);
	}
	return rc;
}

/* Hourly matching: the cells' energy hour by hour, the rest cells as the nodes' less the
 * rows', the grid's carbon-free share of each hour, then the allocation of each hour. */
static int market_hourly(struct jp_rctx *c, struct cells *cs, size_t ngroup, double *cell_e)
{
	struct jp_report *r = c->r;
	struct jp_instruments *ins = r->market;
	size_t nh = (size_t)((r->to_ms - r->from_ms) / HOUR_MS);
	if (nh == 0 || nh > MAX_HOURS || (r->to_ms - r->from_ms) % HOUR_MS) {
		snprintf(c->why, c->whylen, "--matching hourly needs a range of whole hours, at most %d days", MAX_HOURS / 24);
		return -EINVAL;
	}
	double *e = calloc(cs->n * nh + 1, sizeof(*e)), *cfe = calloc(nh, sizeof(*cfe)), *all = calloc(nh, sizeof(*all));
	char group[512], keys[512] = "";
	int rc = e && cfe && all ? 0 : -ENOMEM;
	cell_group(c, group, sizeof(group));
	for (size_t k = 0; k < ins->nkeys; k++) {
		size_t o = strlen(keys);
		snprintf(keys + o, sizeof(keys) - o, "%s%s", o ? ", " : "", ins->keys[k]);
	}
	if (!rc)
		rc = hourly_energy(c, "hourly energy by row", group, jp_metric_name(c->by->energy_id), 0, cs, e, nh, NULL);
	if (!rc && cs->n > ngroup)
		rc = hourly_energy(c, "hourly node energy", keys, NODE_ENERGY, 1, cs, e, nh, NULL);
	if (!rc)
		rc = hourly_energy(c, "hourly node energy", "", NODE_ENERGY, 0, cs, e, nh, all);
	if (!rc)
		rc = hourly_energy(c, "hourly carbon-free energy", "",
				   jp_metric_name(JP_M_NODE_CARBON_FREE_ENERGY_JOULES_TOTAL), 0, cs, e, nh, cfe);
	if (!rc) {
		/* The rest cells hold the nodes' energy: take the rows' off, hour by hour. */
		for (size_t i = ngroup; i < cs->n; i++)
			for (size_t j = 0; j < ngroup; j++)
				if (same_values(cs->values[j], cs->values[i], ins->nkeys))
					for (size_t h = 0; h < nh; h++)
						e[i * nh + h] -= e[j * nh + h];
		jp_market_reset(ins, cs->v, cs->n);
		for (size_t h = 0; h < nh; h++) {
			for (size_t i = 0; i < cs->n; i++) {
				cs->v[i].energy_kwh = e[i * nh + h] > 0 ? e[i * nh + h] : 0;
				cell_e[i] += cs->v[i].energy_kwh;
			}
			double share = all[h] > 0 && cfe[h] > 0 ? cfe[h] / all[h] : r->has_cfe ? 0 : -1;
			double before = 0, after = 0;
			for (size_t i = 0; i < cs->n; i++)
				before += cs->v[i].co2_g;
			jp_market_allocate_hour(ins, cs->v, cs->n, r->from_ms + (int64_t)h * HOUR_MS, r->from_ms, r->to_ms,
						share > 1 ? 1 : share);
			for (size_t i = 0; i < cs->n; i++)
				after += cs->v[i].co2_g;
			r->daily_market_g[(size_t)((int64_t)h * HOUR_MS / JP_REPORT_DAY_MS)] += after - before;
		}
	}
	if (rc == -ENOMEM)
		snprintf(c->why, c->whylen, "out of memory");
	free(e);
	free(cfe);
	free(all);
	return rc;
}

/* Ask the cells, allocate, and give each row its market-based CO2 and matched energy. */
/* The cells of the range: each row's energy by the matchers' label values, then (with the
 * system and idle rows) the nodes' energy under each set of values less the rows'. The
 * first *ngroup cells are the rows'. */
static int collect_cells(struct jp_rctx *c, int64_t range_s, struct cells *cs, size_t *ngroup)
{
	struct jp_report *r = c->r;
	struct jp_instruments *ins = r->market;
	char group[512], expr[EXPR_MAX];
	struct jp_query_result res = {0};
	cell_group(c, group, sizeof(group));
	int rc = jp_report_energy_expr(expr, sizeof(expr), jp_metric_name(c->by->energy_id), group, c->match, range_s);
	rc = rc ? rc : jp_rq(c, "energy by row and instrument labels", expr, r->to_ms, &res);
	for (size_t i = 0; !rc && i < res.nseries; i++) {
		char key[512];
		jp_rq_key(&res.series[i], c->by->group, key, sizeof(key));
		struct jp_report_row *row = jp_rq_row(r, key, 0);
		if (row && res.series[i].npoints)
			rc = cell_add(cs, ins->nkeys, &res.series[i], row - r->rows, res.series[i].v[0] / J_PER_KWH * ins->pue,
				      (const char *const *)ins->keys);
	}
	jp_query_result_free(&res);
	*ngroup = cs->n;
	if (rc || !c->by->has_system)
		return rc;
	group[0] = 0;
	for (size_t k = 0; k < ins->nkeys; k++) {
		size_t o = strlen(group);
		snprintf(group + o, sizeof(group) - o, "%s%s", o ? ", " : "", ins->keys[k]);
	}
	rc = jp_report_energy_expr(expr, sizeof(expr), NODE_ENERGY, group, c->match, range_s);
	rc = rc ? rc : jp_rq(c, "node energy by instrument labels", expr, r->to_ms, &res);
	for (size_t i = 0; !rc && i < res.nseries; i++) {
		if (!res.series[i].npoints)
			continue;
		rc = cell_add(cs, ins->nkeys, &res.series[i], -1, res.series[i].v[0] / J_PER_KWH * ins->pue,
			      (const char *const *)ins->keys);
		for (size_t j = 0; !rc && j < *ngroup; j++)
			if (same_values(cs->values[j], cs->values[cs->n - 1], ins->nkeys))
				cs->v[cs->n - 1].energy_kwh -= cs->v[j].energy_kwh;
		if (!rc && cs->v[cs->n - 1].energy_kwh < 0)
			cs->v[cs->n - 1].energy_kwh = 0;
	}
	jp_query_result_free(&res);
	return rc;
}

int jp_report_market(struct jp_rctx *c, int64_t range_s)
{
	struct jp_report *r = c->r;
	struct jp_instruments *ins = r->market;
	struct cells cs = {0};
	size_t ngroup = 0;
	int rc = collect_cells(c, range_s, &cs, &ngroup);
	if (rc) {
		if (rc == -ENOMEM)
			snprintf(c->why, c->whylen, "out of memory");
		cells_free(&cs, ins->nkeys);
		return rc;
	}
	double *cell_e = calloc(cs.n + 1, sizeof(*cell_e));
	if (!cell_e) {
		snprintf(c->why, c->whylen, "out of memory");
		cells_free(&cs, ins->nkeys);
		return -ENOMEM;
	}
	if (r->hourly) {
		rc = market_hourly(c, &cs, ngroup, cell_e);
	} else {
		jp_market_allocate(ins, cs.v, cs.n, r->from_ms, r->to_ms);
		for (size_t i = 0; i < cs.n; i++)
			cell_e[i] = cs.v[i].energy_kwh;
	}
	double rest_co2 = 0, rest_matched = 0, rest_cfe = 0, rest_hour_e = 0;
	for (size_t i = 0; !rc && i < cs.n; i++) {
		double matched = cell_e[i] - cs.v[i].uncovered_kwh, cfe = cs.v[i].covered_cfe_kwh + cs.v[i].grid_cfe_kwh;
		if (cs.row[i] >= 0) {
			struct jp_report_row *row = &r->rows[cs.row[i]];
			row->co2_market_g += cs.v[i].co2_g;
			row->matched_kwh += matched;
			row->cfe_ratio = (isnan(row->cfe_ratio) ? 0 : row->cfe_ratio) + cfe;   /* kWh for now */
			row->units_e += cell_e[i];
		} else {
			rest_co2 += cs.v[i].co2_g;
			rest_matched += matched;
			rest_cfe += cfe;
			rest_hour_e += cell_e[i];
		}
	}
	free(cell_e);
	if (rc) {
		cells_free(&cs, ins->nkeys);
		return rc;
	}
	/* The system and idle rows share the rest by their energy, as their location CO2. */
	double rest_e = 0;
	for (size_t i = 0; i < r->nrows; i++)
		if (r->rows[i].kind != JP_ROW_GROUP)
			rest_e += r->rows[i].energy_j;
	for (size_t i = 0; i < r->nrows; i++)
		if (r->rows[i].kind != JP_ROW_GROUP && rest_e > 0) {
			r->rows[i].co2_market_g = rest_co2 * r->rows[i].energy_j / rest_e;
			r->rows[i].matched_kwh = rest_matched * r->rows[i].energy_j / rest_e;
			r->rows[i].cfe_ratio = rest_hour_e > 0 ? rest_cfe / rest_hour_e : NAN;
		}
	double all_cfe = rest_cfe, all_e = rest_hour_e;
	for (size_t i = 0; i < r->nrows; i++) {
		struct jp_report_row *row = &r->rows[i];
		r->total.co2_market_g += row->co2_market_g;
		r->total.matched_kwh += row->matched_kwh;
		if (row->kind == JP_ROW_GROUP) {
			all_cfe += isnan(row->cfe_ratio) ? 0 : row->cfe_ratio;
			all_e += row->units_e;
			row->cfe_ratio = row->units_e > 0 && !isnan(row->cfe_ratio) ? row->cfe_ratio / row->units_e : NAN;
		}
	}
	r->total.cfe_ratio = all_e > 0 ? all_cfe / all_e : NAN;
	/* Period matching allocates the range as one: each day at its market-based intensity. */
	if (!r->hourly)
		for (size_t d = 0; d < r->ndays; d++)
			r->daily_market_g[d] = r->total.energy_j > 0
						       ? r->daily_energy_j[d] * r->total.co2_market_g / r->total.energy_j
						       : 0;
	cells_free(&cs, ins->nkeys);
	return 0;
}
