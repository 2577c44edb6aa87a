/* SPDX-License-Identifier: Apache-2.0 */
/* The one back-off rule of every grid source, live and forecast (docs/carbon.md "Rate limits"). */
#ifndef JP_CARBON_RETRY_H
#define JP_CARBON_RETRY_H

#include <stdint.h>

/* Doublings of refresh after 429s in a row, at most. */
#define JP_CARBON_MAX_BACKOFF_SHIFT 6
/* The longest wait a 429 can impose when refresh is shorter. */
#define JP_CARBON_RETRY_CAP_MS (3600u * 1000u)

/* The delay before the next request after an HTTP 429: refresh doubled for each 429 in a
 * row (*n429, which this counts up to the limit), or the Retry-After when longer, and
 * never more than max(refresh, 1 h): a Retry-After of years, or a long run of 429s, must
 * not switch the source off until a restart. retry_after_ms <= 0: none given. */
uint64_t jp_carbon_retry_delay_ms(uint64_t refresh_ms, unsigned *n429, int64_t retry_after_ms);

#endif
