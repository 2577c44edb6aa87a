/* SPDX-License-Identifier: Apache-2.0 */
/* The grid intensity forecast of carbon.forecast (docs/carbon.md "Forecasts"): fetched on
 * the loop, searched for the greenest windows, exported as gauges and as JSON. */
#ifndef JP_CARBON_FORECASTER_H
#define JP_CARBON_FORECASTER_H

#include <stdint.h>
#include <uv.h>

#include "carbon/forecast.h"
#include "config.h"
#include "remote/http.h"
#include "store/series.h"
#include "util/buf.h"

struct jp_forecaster;

/* Create the forecast source of cfg->forecast_source (its provider row, carbon/provider.h),
 * fetched by carbon/fetch.c: the first refresh runs on the next loop iteration, then one
 * every carbon.forecast.refresh (the file source: when the file changed, looked at every
 * min(refresh, 10 s)); HTTP 429 follows the one rule of carbon/retry.h. http (not owned)
 * must outlive it; cfg is copied. Returns NULL with errno set: EINVAL for source none, a
 * source without a forecast, or a bad ukci region. Free with jp_forecaster_close. */
struct jp_forecaster *jp_forecaster_create(uv_loop_t *loop, struct jp_http *http, const struct jp_config *cfg);

/* Cancel any transfer, stop the timer and free; closed(arg) runs once the handle is
 * closed. A second close while the first runs does nothing. NULL is accepted. */
void jp_forecaster_close(struct jp_forecaster *f, void (*closed)(void *arg), void *arg);

/* Called after each refresh, good or bad (for `joulepush when`). */
void jp_forecaster_on_refresh(struct jp_forecaster *f, void (*cb)(void *arg, int ok), void *arg);

/* The forecast last fetched (empty before the first good refresh), its source label
 * ("ukci", "file"), grid zone ("GB", a region id, "file") and when it was fetched. */
const struct jp_forecast *jp_forecaster_forecast(const struct jp_forecaster *f);
const char *jp_forecaster_source(const struct jp_forecaster *f);
/* "average", or "marginal" for a marginal source (WattTime). */
const char *jp_forecaster_signal(const struct jp_forecaster *f);
const char *jp_forecaster_grid_zone(const struct jp_forecaster *f);
int64_t jp_forecaster_generated_ms(const struct jp_forecaster *f);
uint64_t jp_forecaster_horizon_ms(const struct jp_forecaster *f);
const struct jp_durlist *jp_forecaster_windows(const struct jp_forecaster *f);
/* The reason the last refresh failed, or "" after a good one. */
const char *jp_forecaster_last_error(const struct jp_forecaster *f);

/* Set, in the store's current round, the gauges of docs/reference/metrics.md for now_ms:
 * the forecast at now + 1h, 2h, 4h, 8h, 12h, 24h (where covered and within the horizon),
 * the greenest start and mean for each configured window, the rank of now, and the
 * forecast's info series. Nothing is set when the forecast does not cover now: the
 * previous values then end with stale markers. Returns 0 or a negative errno. */
int jp_forecaster_set_series(struct jp_forecaster *f, struct jp_store *st, int64_t now_ms);


struct jp_forecaster_stats {
	uint64_t requests, successes, failures, rate_limited;
	uint64_t points, dropped;   /* of the last good forecast */
	uint64_t next_delay_ms;     /* the delay last scheduled */
};
void jp_forecaster_stats(const struct jp_forecaster *f, struct jp_forecaster_stats *out);


#endif
