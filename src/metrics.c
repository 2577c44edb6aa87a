/* SPDX-License-Identifier: Apache-2.0 */
/* The table of metrics.h. */
#include "metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const struct jp_metric_def defs[JP_M_COUNT] = {
#define JP_METRIC_DEF(id, n, t, u, l, h) [JP_M_##id] = {.name = n, .type = t, .unit = u, .labels = l, .help = h},
	JP_METRICS(JP_METRIC_DEF)
#undef JP_METRIC_DEF
};

const struct jp_metric_def *jp_metric(enum jp_metric_id id)
{
	return &defs[(unsigned)id < JP_M_COUNT ? id : 0];
}

/* The table by name, for a binary search: the counters file asks for every counter of
 * every round (store/state.c). Built once. */
static const struct jp_metric_def *by_name[JP_M_COUNT];
static pthread_once_t by_name_once = PTHREAD_ONCE_INIT;

static int cmp_def(const void *a, const void *b)
{
	return strcmp((*(const struct jp_metric_def *const *)a)->name, (*(const struct jp_metric_def *const *)b)->name);
}

static void by_name_build(void)
{
	for (size_t i = 0; i < JP_M_COUNT; i++)
		by_name[i] = &defs[i];
	qsort(by_name, JP_M_COUNT, sizeof(by_name[0]), cmp_def);
}

const struct jp_metric_def *jp_metric_find(const char *name)
{
	if (!name)
		return NULL;
	pthread_once(&by_name_once, by_name_build);
	size_t lo = 0, hi = JP_M_COUNT;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(by_name[mid]->name, name);
		if (c == 0)
			return by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *jp_metric_unit_word(const struct jp_metric_def *m)
{
	static const struct {
		const char *unit, *word;
	} words[] = {
		{"J", "joules"}, {"W", "watts"}, {"g", "grams"}, {"s", "seconds"}, {"ratio", "ratio"},
		{"bytes", "bytes"}, {"MW", "megawatts"}, {"g/kWh", "grams_per_kwh"},
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(m->unit, words[i].unit))
			return words[i].word;
	return "";
}

const char *jp_metric_type_name(enum jp_metric_type t)
{
	return t == JP_COUNTER ? "counter" : "gauge";
}

static const char *const basis_names[JP_BASIS_N] = {
	[JP_BASIS_PACKAGE] = "package", [JP_BASIS_DRAM] = "dram", [JP_BASIS_PSYS] = "psys",
	[JP_BASIS_PLATFORM] = "platform", [JP_BASIS_GPU] = "gpu",
};

const char *jp_basis_zone_name(enum jp_basis_zone z)
{
	return (unsigned)z < JP_BASIS_N ? basis_names[z] : "";
}

int jp_basis_zone_of(const char *zone)
{
	for (int z = 0; z < JP_BASIS_N; z++)
		if (zone && !strcmp(zone, basis_names[z]))
			return z;
	return -1;
}

double jp_basis_total(const double v[JP_BASIS_N], unsigned mask)
{
	if (mask & (1u << JP_BASIS_PLATFORM))
		return v[JP_BASIS_PLATFORM];
	double t = 0;
	if (mask & (1u << JP_BASIS_PSYS)) {
		t = v[JP_BASIS_PSYS];
	} else {
		if (mask & (1u << JP_BASIS_PACKAGE))
			t += v[JP_BASIS_PACKAGE];
		if (mask & (1u << JP_BASIS_DRAM))
			t += v[JP_BASIS_DRAM];
	}
	if (mask & (1u << JP_BASIS_GPU))
		t += v[JP_BASIS_GPU];
	return t;
}
