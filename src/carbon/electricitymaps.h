/* SPDX-License-Identifier: Apache-2.0 */
/* Electricity Maps API v3: GET <url>/carbon-intensity/latest?zone=<zone> (docs/carbon.md). */
#ifndef JP_CARBON_ELECTRICITYMAPS_H
#define JP_CARBON_ELECTRICITYMAPS_H

#include <stddef.h>
#include <stdint.h>

/* Parse a carbon-intensity/latest answer: {"zone": .., "carbonIntensity": N,
 * "datetime": RFC 3339, ...}. Pure. Returns 0 with the intensity (g/kWh, finite, >= 0)
 * and the time it is for; -ENODATA when carbonIntensity is null; -EINVAL (why filled) for
 * anything malformed, oversized or negative. */
int jp_emaps_parse(const void *buf, size_t len, double *g_per_kwh, int64_t *time_ms,
		   char *why, size_t whylen);

/* The request URL <base>/carbon-intensity/latest?zone=<zone> (zone percent-encoded).
 * The token goes in an "auth-token" header, never in the URL. Returns a malloc'd string
 * or NULL with errno set. */
char *jp_emaps_url(const char *base, const char *zone);

/* <base>/power-breakdown/latest?zone=<zone> (the token in an "auth-token" header). Returns
 * a malloc'd string or NULL with errno set. */
char *jp_emaps_breakdown_url(const char *base, const char *zone);

/* Parse its answer's fossilFreePercentage into a ratio (0..1). Pure. Returns 0, -ENODATA
 * when it is null or absent, -EINVAL (why filled) for anything else wrong. */
int jp_emaps_parse_breakdown(const void *buf, size_t len, double *ratio, char *why, size_t whylen);

struct jp_forecast;

/* The forecast route <base>/carbon-intensity/forecast?zone=<zone> (a paid tier; the token
 * in an "auth-token" header). Returns a malloc'd string or NULL with errno set. */
char *jp_emaps_forecast_url(const char *base, const char *zone);

/* Parse its answer {"zone", "forecast": [{"carbonIntensity": N, "datetime": RFC 3339},
 * ...], "updatedAt"}: each point lasts until the next datetime (the last as long as the
 * one before it). Points with a null intensity are skipped and counted in *skipped. Adds
 * to *out without normalising. Pure. Returns 0, -ENODATA for an empty forecast, -EINVAL
 * (why filled), -ENOMEM. */
int jp_emaps_parse_forecast(const void *buf, size_t len, struct jp_forecast *out, size_t *skipped,
			    char *why, size_t whylen);

#endif
