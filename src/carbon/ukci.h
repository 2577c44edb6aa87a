/* SPDX-License-Identifier: Apache-2.0 */
/* The GB Carbon Intensity API (api.carbonintensity.org.uk): national or regional intensity. */
#ifndef JP_CARBON_UKCI_H
#define JP_CARBON_UKCI_H

#include <stddef.h>
#include <stdint.h>

/* Parse an answer of GET /intensity ({"data":[{"from","to","intensity":{"forecast",
 * "actual","index"}}]}) or of GET /regional/regionid/<id> ({"data":[{"regionid", ...,
 * "data":[{"from","to","intensity":{"forecast","index"}, ...}]}]}). The value is
 * intensity.actual, or intensity.forecast when actual is null or absent (regional data
 * only has forecasts). Pure. Returns 0 with the value and its half hour; -ENODATA when both
 * are null or data is empty; -EINVAL (why filled) for anything malformed. */
int jp_ukci_parse(const void *buf, size_t len, double *g_per_kwh, int64_t *from_ms,
		  int64_t *to_ms, char *why, size_t whylen);

/* <base>/intensity, or <base>/regional/regionid/<region> when region is not empty (it
 * must then be a number from 1 to 99). Returns a malloc'd string, or NULL with errno set. */
char *jp_ukci_url(const char *base, const char *region);

/* The carbon-free share (biomass, nuclear, hydro, solar, wind over all fuels) of a
 * generation mix: GET /generation ({"data": {"generationmix": [{"fuel", "perc"}, ...]}})
 * or a regional answer (the mix of the region's first half hour). Pure. Returns 0 with
 * *ratio in 0..1, -ENODATA for no mix, -EINVAL (why filled). */
int jp_ukci_parse_generation(const void *buf, size_t len, double *ratio, char *why, size_t whylen);

/* <base>/generation. Returns a malloc'd string, or NULL with errno set. */
char *jp_ukci_generation_url(const char *base);

struct jp_forecast;

/* Parse a forecast answer, GET /intensity/{from}/fw48h ({"data":[{"from","to",
 * "intensity":{"forecast","actual","index"}}, ...]}) or GET
 * /regional/intensity/{from}/fw48h/regionid/{id} (the half hours under "data" of the
 * region object, which may itself be "data" or the first element of a "data" array). Each
 * half hour adds a point with intensity.forecast to *out (not normalised); points with a
 * null forecast are skipped and counted in *skipped. Pure. Returns 0, -ENODATA for an
 * empty answer, -EINVAL (why filled) for anything malformed, -ENOMEM. */
int jp_ukci_parse_forecast(const void *buf, size_t len, struct jp_forecast *out, size_t *skipped,
			   char *why, size_t whylen);

/* <base>/intensity/<from>/fw48h, or <base>/regional/intensity/<from>/fw48h/regionid/<id>
 * with <from> as "YYYY-MM-DDTHH:MMZ" (UTC, rounded down to the half hour). Returns a
 * malloc'd string, or NULL with errno set (EINVAL for a bad region). */
char *jp_ukci_forecast_url(const char *base, const char *region, int64_t from_ms);

#endif
