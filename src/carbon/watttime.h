/* SPDX-License-Identifier: Apache-2.0 */
/* WattTime's API v3 (docs/carbon.md "WattTime, a marginal signal"): a session from /login,
 * the marginal operating emissions rate from /v3/forecast, its rank from /v3/signal-index. */
#ifndef JP_CARBON_WATTTIME_H
#define JP_CARBON_WATTTIME_H

#include <stddef.h>
#include <stdint.h>

struct jp_forecast;

/* lbs CO2/MWh to g/kWh: 453.592 g / 1000 kWh. */
#define JP_WT_G_PER_KWH_PER_LBS_PER_MWH 0.453592
/* A session lasts 30 minutes. */
#define JP_WT_SESSION_MS (30u * 60u * 1000u)
/* Answers larger than this are refused (a 72-hour forecast of 5-minute points is ~60 KiB). */
#define JP_WT_MAX_BYTES (1u << 20)

/* Parse a /login answer {"token": "..."}: *session gets a copy (at most 4 KiB, printable
 * ASCII). Pure. Returns 0, or -EINVAL with why filled (never with the token), -ENOMEM. */
int jp_wt_parse_login(const void *buf, size_t len, char **session, char *why, size_t whylen);

/* Parse a /v3/forecast answer {"data": [{"point_time", "value"}, ...], "meta": {"units":
 * "lbs_co2_per_mwh", "data_point_period_seconds": 300, ...}}: each point lasts the period
 * (5 minutes when not given), its value converted to g/kWh. Adds to *out without
 * normalising; non-finite or negative values are skipped and counted in *skipped. Pure.
 * Returns 0, -ENODATA for no points, -EINVAL (why filled: other units, bad times), -ENOMEM. */
int jp_wt_parse_forecast(const void *buf, size_t len, struct jp_forecast *out, size_t *skipped, char *why,
			 size_t whylen);

/* Parse a /v3/signal-index answer ({"data": [{"point_time", "value": percentile}], ...})
 * into a ratio 0..1. Pure. Returns 0, -ENODATA, -EINVAL (why filled). */
int jp_wt_parse_index(const void *buf, size_t len, double *ratio, char *why, size_t whylen);

#endif
