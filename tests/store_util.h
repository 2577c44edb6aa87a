/* SPDX-License-Identifier: Apache-2.0 */
/* Reading what a round left in a store, for the unit tests. */
#ifndef JP_TESTS_STORE_UTIL_H
#define JP_TESTS_STORE_UTIL_H

#include <stddef.h>
#include <string.h>

#include "store/series.h"

struct jp_test_sum {
	const char *name, *key, *val;
	double sum;
	size_t n;
};

static int jp_test_sum_cb(const struct jp_series *s, void *arg)
{
	struct jp_test_sum *a = arg;
	if (strcmp(s->name, a->name) != 0)
		return 0;
	int ok = a->key == NULL;
	for (size_t i = 0; i < s->nlabels && !ok; i++)
		if (strcmp(s->labels[i].name, a->key) == 0 && strcmp(s->labels[i].value, a->val) == 0)
			ok = 1;
	const struct jp_sample *smp = jp_series_latest(s);
	if (ok && smp && !jp_is_stale_nan(smp->value)) {
		a->sum += smp->value;
		a->n++;
	}
	return 0;
}

/* The sum of the latest values of the live series `name` that have label key=val (every
 * one when key is NULL); *count (may be NULL) gets how many there were. */
static inline double jp_test_sum_of(struct jp_store *st, const char *name, const char *key, const char *val,
				    size_t *count)
{
	struct jp_test_sum a = {name, key, val, 0, 0};
	jp_store_foreach(st, jp_test_sum_cb, &a);
	if (count)
		*count = a.n;
	return a.sum;
}

#endif
