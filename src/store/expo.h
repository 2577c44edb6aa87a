/* SPDX-License-Identifier: Apache-2.0 */
/* The Prometheus text exposition format (0.0.4) for --once and the /metrics endpoint. */
#ifndef JP_STORE_EXPO_H
#define JP_STORE_EXPO_H

#include "store/series.h"
#include "util/buf.h"

/* Append every live series of the store with its latest value (and its timestamp if
 * with_timestamps), grouped by metric name with # HELP and # TYPE lines taken from
 * jp_metric_help()/jp_metric_type(). Label values are escaped (\\, \", \n). */
int jp_expo_write_store(struct jp_buf *out, struct jp_store *s, int with_timestamps);

/* Append one sample of a series as a line of the text format with its timestamp
 * ("NaN" for a stale marker). */
int jp_expo_write_sample(struct jp_buf *out, const struct jp_series *sr, double value, int64_t ts_ms);

/* Help text and type ("counter" or "gauge") of a metric name; unknown names get
 * "untyped" and no help. */
const char *jp_metric_help(const char *name);
const char *jp_metric_type(const char *name);

/* The i-th metric name of the table, or NULL past its end (for the reference check). */
const char *jp_metric_name_at(size_t i);

#endif
