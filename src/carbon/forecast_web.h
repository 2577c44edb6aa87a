/* SPDX-License-Identifier: Apache-2.0 */
/* The forecast's web face on the local server: GET /v1/forecast and GET
 * /emissions/forecasts/current (the Carbon Aware SDK's route, docs/carbon.md). */
#ifndef JP_CARBON_FORECAST_WEB_H
#define JP_CARBON_FORECAST_WEB_H

#include <stdint.h>

#include "carbon/forecaster.h"
#include "util/buf.h"

/* Answer path (with its query string) for now_ms from forecaster f (NULL: no forecast
 * configured): the HTTP status with the body in out and its type in *ctype, or 0 when
 * path is not one of these routes.
 *   /v1/forecast: source, grid_zone, generated_at, the points from now to the horizon,
 *     and the greenest window of each configured length; 503 when no forecast covers now.
 *   /emissions/forecasts/current: as the SDK's WebApi answers, for tools written for the
 *     SDK: location (echoed as valid UTF-8; the node has one grid zone), dataStartAt and
 *     dataEndAt (RFC 3339; default now and the end of the forecast), windowSize (minutes;
 *     0 gives the points themselves); 400 for a bad parameter, 503 without a forecast. */
int jp_forecast_web_route(const struct jp_forecaster *f, int64_t now_ms, const char *path, const char *query,
			  struct jp_buf *out, const char **ctype);

#endif
