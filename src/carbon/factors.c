/* SPDX-License-Identifier: Apache-2.0 */
/* Emission factors per ENTSO-E production type and the grid intensity formula (docs/carbon.md). */
#include "carbon/factors.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MIX_NO = 0, MIX_YES = 1 };

/* docs/carbon.md. Lifecycle values are the IPCC AR5 WGIII Annex III medians; direct values count
 * combustion only. Production types without an AR5 category (marine, other renewable,
 * other) take a conservative "unknown" factor. docs/carbon.md gives the sources. */
static const struct psr_row {
	const char *code;
	const char *fuel;
	double lifecycle, direct;
	int in_mix, renewable;
} rows[JP_PSR_MAX + 1] = {
	[1] = {"B01", "biomass", 230, 0, MIX_YES, 1},          /* Biomass */
	[2] = {"B02", "coal", 820, 760, MIX_YES, 0},           /* Fossil brown coal/lignite */
	[3] = {"B03", "gas", 490, 370, MIX_YES, 0},            /* Fossil coal-derived gas */
	[4] = {"B04", "gas", 490, 370, MIX_YES, 0},            /* Fossil gas */
	[5] = {"B05", "coal", 820, 760, MIX_YES, 0},           /* Fossil hard coal */
	[6] = {"B06", "oil", 650, 406, MIX_YES, 0},            /* Fossil oil */
	[7] = {"B07", "coal", 820, 760, MIX_YES, 0},           /* Fossil oil shale */
	[8] = {"B08", "coal", 820, 760, MIX_YES, 0},           /* Fossil peat */
	[9] = {"B09", "geothermal", 38, 0, MIX_YES, 1},        /* Geothermal */
	[10] = {"B10", "storage", 0, 0, MIX_NO, 0},            /* Hydro pumped storage */
	[11] = {"B11", "hydro", 24, 0, MIX_YES, 1},            /* Hydro run-of-river and poundage */
	[12] = {"B12", "hydro", 24, 0, MIX_YES, 1},            /* Hydro water reservoir */
	[13] = {"B13", "unknown", 700, 575, MIX_YES, 1},       /* Marine */
	[14] = {"B14", "nuclear", 12, 0, MIX_YES, 0},          /* Nuclear */
	[15] = {"B15", "unknown", 700, 575, MIX_YES, 1},       /* Other renewable */
	[16] = {"B16", "solar", 45, 0, MIX_YES, 1},            /* Solar */
	[17] = {"B17", "biomass", 230, 0, MIX_YES, 0},         /* Waste */
	[18] = {"B18", "wind", 11, 0, MIX_YES, 1},             /* Wind offshore */
	[19] = {"B19", "wind", 11, 0, MIX_YES, 1},             /* Wind onshore */
	[20] = {"B20", "unknown", 700, 575, MIX_YES, 0},       /* Other */
	/* B21 AC link, B22 DC link, B23 substation, B24 transformer: grid equipment. */
	[21] = {"B21", NULL, 0, 0, MIX_NO, 0},
	[22] = {"B22", NULL, 0, 0, MIX_NO, 0},
	[23] = {"B23", NULL, 0, 0, MIX_NO, 0},
	[24] = {"B24", NULL, 0, 0, MIX_NO, 0},
	[25] = {"B25", "storage", 0, 0, MIX_NO, 0},            /* Energy storage */
};

int jp_psr_parse(const char *s)
{
	if (!s || s[0] != 'B' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' || s[3])
		return 0;
	int n = (s[1] - '0') * 10 + (s[2] - '0');
	return n >= 1 && n <= JP_PSR_MAX ? n : 0;
}

const char *jp_psr_code(int psr)
{
	return psr >= 1 && psr <= JP_PSR_MAX ? rows[psr].code : NULL;
}

const char *jp_psr_fuel(int psr)
{
	return psr >= 1 && psr <= JP_PSR_MAX ? rows[psr].fuel : NULL;
}

int jp_psr_in_mix(int psr)
{
	return psr >= 1 && psr <= JP_PSR_MAX && rows[psr].in_mix;
}

int jp_psr_renewable(int psr)
{
	return psr >= 1 && psr <= JP_PSR_MAX && rows[psr].renewable;
}

int jp_factors_init(struct jp_factors *f, int direct, const struct jp_kvlist *overrides)
{
	f->g_per_kwh[0] = 0;
	for (int p = 1; p <= JP_PSR_MAX; p++)
		f->g_per_kwh[p] = direct ? rows[p].direct : rows[p].lifecycle;
	if (!overrides)
		return 0;
	struct jp_factors tmp = *f;
	for (size_t i = 0; i < overrides->n; i++) {
		int p = jp_psr_parse(overrides->v[i].key);
		const char *s = overrides->v[i].value;
		char *end;
		if (!p || !s || !*s)
			return -EINVAL;
		double d = strtod(s, &end);
		if (*end || !isfinite(d) || d < 0)
			return -EINVAL;
		tmp.g_per_kwh[p] = d;
	}
	*f = tmp;
	return 0;
}

/* The total of the types that count in the mix, and its weighted, renewable and fossil
 * parts (f may be NULL when the weighted sum is not wanted). */
static double mix_totals(const struct jp_factors *f, const struct jp_mix *mix, double *weighted,
			 double *renewable, double *fossil)
{
	double total = 0;
	*weighted = *renewable = *fossil = 0;
	for (int p = 1; p <= JP_PSR_MAX; p++) {
		if (!(mix->present & (1u << p)) || !rows[p].in_mix)
			continue;
		double mw = mix->mw[p];
		if (!isfinite(mw) || mw <= 0)
			continue;
		total += mw;
		if (f)
			*weighted += mw * f->g_per_kwh[p];
		if (rows[p].renewable)
			*renewable += mw;
		const char *fuel = rows[p].fuel;
		if (fuel && (!strcmp(fuel, "coal") || !strcmp(fuel, "gas") || !strcmp(fuel, "oil")))
			*fossil += mw;
	}
	return total;
}

int jp_factors_intensity(const struct jp_factors *f, const struct jp_mix *mix,
			 double *g_per_kwh, double *renewable_ratio)
{
	double weighted, renewable, fossil;
	double total = mix_totals(f, mix, &weighted, &renewable, &fossil);
	if (!(total > 0))
		return -ENODATA;
	if (g_per_kwh)
		*g_per_kwh = weighted / total;
	if (renewable_ratio)
		*renewable_ratio = renewable / total;
	return 0;
}

int jp_mix_fossil_ratio(const struct jp_mix *mix, double *ratio)
{
	double weighted, renewable, fossil;
	double total = mix_totals(NULL, mix, &weighted, &renewable, &fossil);
	if (!(total > 0))
		return -ENODATA;
	*ratio = fossil / total;
	return 0;
}

int jp_mix_carbon_free_ratio(const struct jp_mix *mix, double *ratio)
{
	double weighted, renewable, fossil;
	double total = mix_totals(NULL, mix, &weighted, &renewable, &fossil);
	if (!(total > 0))
		return -ENODATA;
	double nuclear = (mix->present & (1u << 14)) && isfinite(mix->mw[14]) && mix->mw[14] > 0 ? mix->mw[14] : 0;
	*ratio = (renewable + nuclear) / total;
	return 0;
}

int jp_factors_rest(const struct jp_factors *f, const struct jp_mix *mix, double *g_per_kwh)
{
	struct jp_mix rest = *mix;
	rest.present &= ~((1u << 16) | (1u << 18) | (1u << 19));
	return jp_factors_intensity(f, &rest, g_per_kwh, NULL);
}
