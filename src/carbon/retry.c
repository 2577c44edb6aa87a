/* SPDX-License-Identifier: Apache-2.0 */
/* The one back-off rule of every grid source (carbon/retry.h). */
#include "carbon/retry.h"

uint64_t jp_carbon_retry_delay_ms(uint64_t refresh_ms, unsigned *n429, int64_t retry_after_ms)
{
	if (*n429 < JP_CARBON_MAX_BACKOFF_SHIFT)
		(*n429)++;
	uint64_t cap = refresh_ms > JP_CARBON_RETRY_CAP_MS ? refresh_ms : JP_CARBON_RETRY_CAP_MS;
	uint64_t d = refresh_ms > cap >> *n429 ? cap : refresh_ms << *n429;
	if (retry_after_ms > 0 && (uint64_t)retry_after_ms > d)
		d = (uint64_t)retry_after_ms;
	return d < cap ? d : cap;
}
