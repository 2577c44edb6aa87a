/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the /proc/stat parser (docs/reference/configuration.md: procfs files can be hostile). */
#include <stddef.h>
#include <stdint.h>

#include "collect/procstat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jp_cpu_totals t;
	if (jp_procstat_parse((const char *)data, size, 10000000, &t) == 0) {
		/* A parse that succeeds gives at least one CPU and counters that fit. */
		if (t.ncpus == 0)
			__builtin_trap();
	}
	return 0;
}
