/* SPDX-License-Identifier: Apache-2.0 */
/* The grid carbon intensity in force (docs/carbon.md): the configured source, refreshed on the
 * loop, with staleness and the fallback value. */
#ifndef JP_CARBON_INTENSITY_H
#define JP_CARBON_INTENSITY_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "remote/http.h"
#include "store/series.h"

struct jp_intensity;

/* Create the intensity source described by cfg's carbon.* keys. For a live source the
 * first refresh starts on the next loop iteration, then one every carbon.refresh (never
 * faster; after HTTP 429 the interval doubles per 429 in a row, up to 64 x refresh, and is
 * at least the Retry-After). The file source looks at the file's mtime every
 * min(refresh, 10 s) and re-reads it when it changed. http (not owned) carries every
 * request and must outlive the object; cfg is copied. Returns NULL with errno set
 * (EINVAL: bad carbon.factors override, or a ukci region that is not a number). Free with
 * jp_intensity_close. */
struct jp_intensity *jp_intensity_create(uv_loop_t *loop, struct jp_http *http, const struct jp_config *cfg);

/* The intensity in force at wall time now_ms, in g/kWh, and the label values that go with
 * it: *source is "static", "entsoe", "electricitymaps", "ukci", "file" or "fallback";
 * *grid_zone is the ENTSO-E area, the Electricity Maps zone, the UK region id ("GB" for
 * the national figure), "file" or "static". The last good value of a live source is kept
 * through failed refreshes and "no data" answers while it is at most carbon.max_age old
 * (measured from the time the value is for: the end of the ENTSO-E point's interval, the
 * Electricity Maps datetime, the end of the UK half hour, the file entry's time); when it
 * is older, or there has never been one, the answer is carbon.grams_per_kwh with source
 * "fallback". The strings are owned by the object and live until it is closed. Either
 * pointer argument may be NULL. */
double jp_intensity_current(struct jp_intensity *in, int64_t now_ms, const char **source,
			    const char **grid_zone);

/* The marginal rate in force at now_ms of a marginal source (WattTime): 0 with it in
 * *g_per_kwh (g/kWh), or -ENODATA (an average source, or no fresh value). The intensity of
 * jp_intensity_current stays the average one: for a marginal source, carbon.grams_per_kwh
 * with source "static" (docs/carbon.md "WattTime, a marginal signal"). */
int jp_intensity_marginal(const struct jp_intensity *in, int64_t now_ms, double *g_per_kwh);

/* The carbon-free share (renewable and nuclear generation, 0..1) that goes with the
 * intensity in force at now_ms: the live source's, the file entry's, or
 * carbon.carbon_free_ratio for the static value and the fallback; -1 when not known. */
double jp_intensity_carbon_free(const struct jp_intensity *in, int64_t now_ms);

/* Set, in the store's current round (between jp_store_begin and jp_store_commit), at the
 * current wall time:
 *   joulepush_grid_carbon_intensity_grams_per_kwh{grid_zone, source, signal}   (the average in
 *                                      force; for a marginal source, also its fresh rate)
 *   joulepush_grid_signal_index_ratio{grid_zone, source}              (marginal, when known)
 *   joulepush_grid_carbon_free_ratio{grid_zone, source}               (when known)
 *   joulepush_grid_generation_megawatts{grid_zone, psr_type, fuel}  (ENTSO-E, fresh mix only;
 *                                                                     storage included)
 *   joulepush_grid_renewable_ratio{grid_zone}                        (idem)
 *   joulepush_grid_fossil_ratio{grid_zone}                           (idem: coal, gas, oil)
 *   joulepush_carbon_refresh_failures_total{source}                  (live sources only)
 * Returns 0 or a negative errno from the store. */
int jp_intensity_set_series(struct jp_intensity *in, struct jp_store *store);

/* Counters for tests and diagnostics. */
struct jp_intensity_stats {
	uint64_t requests;        /* HTTP requests started, or file reads */
	uint64_t successes;       /* refreshes that produced a value */
	uint64_t no_data;         /* "no data" answers (acknowledgement 999, null values) */
	uint64_t failures;        /* failed refreshes (also the self-metric) */
	uint64_t rate_limited;    /* HTTP 429 answers */
	uint64_t next_delay_ms;   /* the delay last scheduled */
};
void jp_intensity_stats(const struct jp_intensity *in, struct jp_intensity_stats *out);

/* Cancel any transfer, stop the timer and free the object; closed(arg) runs from the loop
 * once its handles are closed (at once for NULL). A second close while the first runs does
 * nothing. */
void jp_intensity_close(struct jp_intensity *in, void (*closed)(void *arg), void *arg);

#endif
