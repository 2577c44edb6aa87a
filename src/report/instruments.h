/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The market-based method of Scope 2 (docs/reports.md "Market-based"): the instruments file
 * of `joulepush report --instruments FILE` and the allocation of what its instruments
 * supply to the report's energy, in file order, shared among the parts they match by their
 * uncovered energy.
 */
#ifndef JP_REPORT_INSTRUMENTS_H
#define JP_REPORT_INSTRUMENTS_H

#include <stddef.h>
#include <stdint.h>

/* label = value; an instrument or a residual mix applies where every one holds. */
struct jp_match {
	char *key, *value;
};

/* Supply of one UTC hour of a profile. */
struct jp_hour_kwh {
	int64_t hour_ms;
	double kwh;
};

struct jp_instrument {
	char *name;
	char *kind;                   /* "ppa", "eac" (guarantees of origin, RECs) or "contract" */
	double g_per_kwh;             /* its emission factor */
	int has_volume;               /* volume_kwh over [from, to) ... */
	double volume_kwh;
	int64_t from_ms, to_ms;
	struct jp_hour_kwh *profile;  /* ... or an hourly profile */
	size_t nprofile;
	struct jp_match *match;
	size_t nmatch;
	int line;                     /* where it is in the file */
	/* The allocation's results. */
	double available_kwh, used_kwh;
};

/* A residual mix: the first whose matchers hold applies; one without matchers always does. */
struct jp_residual {
	struct jp_match *match;
	size_t nmatch;
	double g_per_kwh;
};

struct jp_instruments {
	struct jp_residual *residual;
	size_t nresidual;
	char *residual_source;        /* residual_mix_source: where the residual mix comes from; NULL: unsaid */
	double pue;                   /* pue: the measured energy times this is the electricity bought (1) */
	int has_supplier;
	double supplier_g_per_kwh;    /* the supplier's rate for energy no instrument covers */
	struct jp_instrument *v;
	size_t n;
	char **keys;                  /* every label name a matcher uses, once */
	size_t nkeys;
};

/* Load and check the instruments file at path (YAML; profiles are CSV files, relative to
 * it). Every error names FILE:LINE: an unknown key, a negative volume or factor, a period
 * that ends before it starts, two instruments of one name with overlapping periods, a
 * profile hour that is not a whole UTC hour, a gap, a repeated hour, negative kWh. Returns
 * 0, or -EINVAL / -ENOMEM / -errno with why filled. Free with jp_instruments_free. */
int jp_instruments_load(const char *path, struct jp_instruments *out, char *why, size_t whylen);
void jp_instruments_free(struct jp_instruments *ins);

/* A part of the report's energy: a row (or the system and idle rest of it) under one set of
 * the matchers' label values. values[k] is the value of ins->keys[k], or NULL. */
struct jp_market_cell {
	const char *const *values;
	double energy_kwh;
	/* Results. */
	double uncovered_kwh;
	double covered_cfe_kwh;       /* covered by instruments of factor 0 */
	double grid_cfe_kwh;          /* hourly: uncovered × that hour's grid carbon-free share */
	double co2_g;                 /* market-based */
};

/* What an instrument supplies in [from_ms, to_ms): its volume times the share of its period
 * in the range, or its profile's kWh in the range (a partial hour pro rata). */
double jp_instrument_supply(const struct jp_instrument *in, int64_t from_ms, int64_t to_ms);

/* Allocate the instruments over the cells for [from_ms, to_ms) (period matching): each in
 * file order covers min(its supply, the uncovered energy of the cells it matches), shared
 * by their uncovered energy; what stays uncovered takes the supplier's rate, else the
 * residual mix that matches (none matching: the first residual mix). Fills the cells'
 * results and each instrument's available_kwh and used_kwh. */
void jp_market_allocate(struct jp_instruments *ins, struct jp_market_cell *cells, size_t n, int64_t from_ms,
			int64_t to_ms);

/* Hourly matching (docs/reports.md): zero the results, then for each UTC hour of the range
 * set the cells' energy_kwh to that hour's and allocate the instruments' supply of that
 * hour (a profile's kWh; a volume spread evenly over its period's hours; the range's first
 * and last hours pro rata). The results add up over the hours; grid_cfe_share (negative:
 * not known) counts the grid's carbon-free part of the uncovered energy. */
void jp_market_reset(struct jp_instruments *ins, struct jp_market_cell *cells, size_t n);
void jp_market_allocate_hour(struct jp_instruments *ins, struct jp_market_cell *cells, size_t n, int64_t hour_ms,
			     int64_t from_ms, int64_t to_ms, double grid_cfe_share);

/* Whether a set of label values (values[k] for ins->keys[k]) matches m[0..n). */
int jp_market_matches(const struct jp_instruments *ins, const char *const *values, const struct jp_match *m, size_t n);

#endif
