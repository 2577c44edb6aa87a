/* SPDX-License-Identifier: Apache-2.0 */
/* collector.mode synthetic: a deterministic fake node with N pods for load tests (docs/reference/configuration.md). */
#ifndef JP_COLLECT_SYNTHETIC_H
#define JP_COLLECT_SYNTHETIC_H

#include <stdint.h>

#include "config.h"
#include "store/series.h"

struct jp_synthetic;

/* Create the fake node from cfg (pods, containers_per_pod, seed, metrics levels,
 * interval, carbon static intensity, pue). The same seed gives the same pods, rates and
 * values. Returns NULL with errno set. */
struct jp_synthetic *jp_synthetic_create(const struct jp_config *cfg);
void jp_synthetic_destroy(struct jp_synthetic *syn);

/* Advance the fake node by elapsed_ms and set every node, pod, namespace (and container,
 * if enabled) series of docs/reference/metrics.md in the store's current round. Counters grow at each
 * pod's own rate; energy is conserved as in docs/model.md. Returns 0 or a negative errno. */
int jp_synthetic_collect(struct jp_synthetic *syn, struct jp_store *store, uint64_t elapsed_ms);

/* The grid intensity (g/kWh) for the next rounds; the configured static value until set. */
void jp_synthetic_set_intensity(struct jp_synthetic *syn, double g_per_kwh);

/* How many series one collection sets (for sizing benchmarks). */
size_t jp_synthetic_series_count(const struct jp_synthetic *syn);

#endif
