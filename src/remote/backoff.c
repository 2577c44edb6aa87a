/* SPDX-License-Identifier: Apache-2.0 */
/* Retry delays with equal jitter (remote/backoff.h). */
#include "remote/backoff.h"

/* splitmix64: small, good enough for jitter, and reproducible from a seed. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t jp_backoff_ms(uint64_t min_ms, uint64_t max_ms, unsigned attempt, uint64_t *seed)
{
	static uint64_t fallback_seed = 0x6a6f756c65707573ULL;
	if (!seed)
		seed = &fallback_seed;
	if (attempt == 0)
		attempt = 1;
	if (max_ms < min_ms)
		max_ms = min_ms;

	uint64_t d = min_ms;
	for (unsigned i = 1; i < attempt && d < max_ms; i++)
		d = d > max_ms / 2 ? max_ms : d * 2;
	if (d > max_ms)
		d = max_ms;

	/* Equal jitter: half fixed, half random, so retries of many agents spread
	 * out but none retries sooner than d/2. */
	uint64_t half = d / 2;
	uint64_t span = d - half;
	uint64_t r = next_random(seed);
	return half + (span ? r % (span + 1) : 0);
}
