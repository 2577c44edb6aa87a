/* SPDX-License-Identifier: Apache-2.0 */
/* What the fuzz targets share: an invariant check that stops the fuzzer where it fails. */
#ifndef JP_FUZZ_H
#define JP_FUZZ_H

#define CHECK(cond) \
	do { \
		if (!(cond)) \
			__builtin_trap(); \
	} while (0)

#endif
