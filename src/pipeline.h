/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One round of measurement, from a collector to the series in the store:
 *
 *   collector ──jp_interval──> group rows into pods ──> name pods (lookup) ──> accountant ──> store
 *                                                          ^ kube or the      ^ intensity in force
 *                                                            synthetic node     (carbon, from the agent)
 *
 * The agent owns the loop, timers and reloads; this is the part of its work that needs
 * none of them, so that tests drive the real grouping, naming and accounting with a fake
 * collector and no daemon (tests/check_pipeline.c).
 */
#ifndef JP_PIPELINE_H
#define JP_PIPELINE_H

#include <stdint.h>

#include "attrib/account.h"
#include "collect/collector.h"
#include "config.h"
#include "podmeta.h"
#include "store/series.h"

struct jp_pipeline;

/* Take ownership of collector c (closed by jp_pipeline_destroy, also when this fails) and
 * create the accountant from cfg. Returns NULL with errno set. */
struct jp_pipeline *jp_pipeline_create(const struct jp_config *cfg, struct jp_collector *c);
/* Open the collector cfg->collector_mode asks for (jp_collector_open, which logs why it
 * failed) and create the pipeline around it. NULL with errno set. */
struct jp_pipeline *jp_pipeline_open(const struct jp_config *cfg);
void jp_pipeline_destroy(struct jp_pipeline *p);

struct jp_collector *jp_pipeline_collector(const struct jp_pipeline *p);
/* Replace the collector (a reload of class "collector"): the old one is closed; the
 * accountant and its counters stay. */
void jp_pipeline_set_collector(struct jp_pipeline *p, struct jp_collector *c);

/* Where pod names come from: cb (the kubelet); for a UID it does not know, the
 * collector's own lookup (the synthetic node); else the pod is named by its UID in
 * namespace "unknown". */
void jp_pipeline_set_lookup(struct jp_pipeline *p, jp_pod_lookup_cb cb, void *arg);

/* Apply the accountant's live settings of cfg (docs/reference/configuration.md, reload
 * class "live"): metrics levels and compat, idle attribution, PUE, embodied emissions,
 * node name. Counters continue. Returns 0 or -ENOMEM. */
int jp_pipeline_reconfigure(struct jp_pipeline *p, const struct jp_config *cfg);

/* What the grid says besides its intensity, for the rounds from now on: its carbon-free
 * share (0..1; negative: not known) and the intensity's source label (a string that lives
 * as long as the intensity source; NULL: none). */
void jp_pipeline_set_grid(struct jp_pipeline *p, double carbon_free, const char *source);

/* Collect the interval that ends now (nominal_ms after the previous round) and set its
 * series in the store's current round, at grid intensity g_per_kwh. Returns 0 or a
 * negative errno (no energy series this round). */
int jp_pipeline_round(struct jp_pipeline *p, struct jp_store *st, uint64_t nominal_ms, double g_per_kwh);

/* The last interval collected (valid until the next round). */
const struct jp_interval *jp_pipeline_interval(const struct jp_pipeline *p);
/* Pods in the last round, and whether one of them had no metadata. */
size_t jp_pipeline_pods(const struct jp_pipeline *p);
int jp_pipeline_saw_unknown_pod(const struct jp_pipeline *p);

#endif
