/* SPDX-License-Identifier: Apache-2.0 */
/* Emission factors per ENTSO-E production type and the grid intensity formula (docs/carbon.md). */
#ifndef JP_CARBON_FACTORS_H
#define JP_CARBON_FACTORS_H

#include <stdint.h>

#include "config.h"

/* PsrTypes are numbered as in their codes: B01 is 1 ... B25 is 25; 0 is "none". */
#define JP_PSR_MAX 25

/* A generation mix: megawatts per PsrType, valid where the bit (1u << psr) is set. */
struct jp_mix {
	double mw[JP_PSR_MAX + 1];
	uint32_t present;
};

/* Factors in g CO2eq/kWh per PsrType. */
struct jp_factors {
	double g_per_kwh[JP_PSR_MAX + 1];
};

/* "B01" .. "B25" -> 1 .. 25; anything else -> 0. */
int jp_psr_parse(const char *s);
/* The code "B01" .. "B25" of psr, or NULL when psr is out of range. Static storage. */
const char *jp_psr_code(int psr);
/* The fuel label of docs/carbon.md ("biomass", "coal", ..., "storage", "unknown"), or NULL for the
 * PsrTypes that are grid equipment rather than production (B21 .. B24). Static storage. */
const char *jp_psr_fuel(int psr);
/* Non-zero when psr counts in the mix: production, not storage (B10, B25) nor grid equipment. */
int jp_psr_in_mix(int psr);
/* Non-zero for the renewable set of docs/carbon.md: B01, B09, B11, B12, B13, B15, B16, B18, B19. */
int jp_psr_renewable(int psr);

/* Fill f with the lifecycle (direct == 0) or direct (direct != 0) table of docs/carbon.md, then
 * apply overrides (PsrType code -> g/kWh as text; may be NULL). An override of a type
 * outside the mix (storage, grid equipment) is accepted and has no effect. Returns 0, or
 * -EINVAL for an unknown PsrType or a value that is not a finite number >= 0 (f is then
 * left with the table without overrides). */
int jp_factors_init(struct jp_factors *f, int direct, const struct jp_kvlist *overrides);

/* The intensity Σ(MW × factor) / ΣMW over the production types in the mix (storage and
 * absent types left out), and the renewable share of that same ΣMW. Either output may be
 * NULL. Returns 0, or -ENODATA when the mix has no generation (ΣMW == 0). */
int jp_factors_intensity(const struct jp_factors *f, const struct jp_mix *mix,
			 double *g_per_kwh, double *renewable_ratio);

/* The share of coal, gas and oil (B02-B08) in the same total as jp_factors_intensity
 * (the types that count in the mix, storage left out). Returns 0, or -ENODATA for an
 * empty mix. */
int jp_mix_fossil_ratio(const struct jp_mix *mix, double *ratio);

/* The carbon-free share of the same total: the renewable set and nuclear (B14). Returns 0,
 * or -ENODATA for an empty mix. */
int jp_mix_carbon_free_ratio(const struct jp_mix *mix, double *ratio);

/* The factor of the mix without wind and solar (B16, B18, B19): the weighted mean of the
 * other types that count in the mix. Returns 0, or -ENODATA when nothing else is there. */
int jp_factors_rest(const struct jp_factors *f, const struct jp_mix *mix, double *g_per_kwh);

#endif
