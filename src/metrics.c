/* SPDX-License-Identifier: Apache-2.0 */
/* The table of metrics.h. */
#include "metrics.h"

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

const struct jp_metric_def *jp_metric_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < JP_M_COUNT; i++)
		if (strcmp(defs[i].name, name) == 0)
			return &defs[i];
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
