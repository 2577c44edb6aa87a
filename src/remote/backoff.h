/* SPDX-License-Identifier: Apache-2.0 */
/* Retry delays for the remote-write sender (docs/reference/remote-write.md "What each answer means"). */
#ifndef JP_REMOTE_BACKOFF_H
#define JP_REMOTE_BACKOFF_H

#include <stdint.h>

/* The backoff before retry number `attempt` (1-based): min(max, min * 2^(attempt-1)),
 * with "equal jitter" (a uniform random value in [d/2, d]) drawn from *seed (NULL: a
 * process-wide seed). */
uint64_t jp_backoff_ms(uint64_t min_ms, uint64_t max_ms, unsigned attempt, uint64_t *seed);

#endif
