/* SPDX-License-Identifier: Apache-2.0 */
/* collector.mode synthetic: a deterministic fake node with N pods for load tests
 * (docs/reference/configuration.md), behind the collector interface of collect/collector.h. */
#ifndef JP_COLLECT_SYNTHETIC_H
#define JP_COLLECT_SYNTHETIC_H

#include <stddef.h>

#include "collect/collector.h"

/* open: the fake node from cfg (pods, containers_per_pod, seed, power model); the same
 * seed gives the same pods, rates and values. Its base.lookup names the fake pods.
 * collect: advances the fake node by the interval's nominal_ms: every pod's containers
 * burn CPU at their own rates, energy follows the power model. */
extern const struct jp_collector_ops jp_synthetic_ops;

/* How many series one round of the accountant sets for this fake node with cfg's
 * metrics levels, idle attribution and embodied emissions (for sizing benchmarks);
 * 0 for another kind of collector. */
size_t jp_synthetic_series_count(const struct jp_collector *c);

#endif
