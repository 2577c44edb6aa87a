/* SPDX-License-Identifier: Apache-2.0 */
/* A list of string pairs, in the order they were given (labels, headers, maps of the config). */
#ifndef JP_UTIL_KV_H
#define JP_UTIL_KV_H

#include <stddef.h>

struct jp_kv {
	char *key;
	char *value;
};
struct jp_kvlist {
	struct jp_kv *v;
	size_t n;
};

#endif
