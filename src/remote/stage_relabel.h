/* SPDX-License-Identifier: Apache-2.0 */
/* The sender's relabelling stage (write_relabel_configs, docs/reference/remote-write.md
 * "Relabelling"): each round's samples before they enter the queue, with what the rules
 * made of each series kept until the series ends. Pure work: no queue, no I/O. */
#ifndef JP_REMOTE_STAGE_RELABEL_H
#define JP_REMOTE_STAGE_RELABEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "remote/relabel.h"
#include "store/series.h"

struct jp_stage_relabel;

/* For the rules of cfg. NULL with errno 0 when there are none (nothing to do); NULL with
 * errno EINVAL and why naming the rule for a bad regex, or ENOMEM. */
struct jp_stage_relabel *jp_stage_relabel_create(const struct jp_relabel_list *cfg, char *why, size_t whylen);
void jp_stage_relabel_destroy(struct jp_stage_relabel *s);

/* What the rules make of v[0..n): *out gets the samples that go on (the series as the
 * rules left them), valid until jp_stage_relabel_end_round; returns their number, or a
 * negative errno. A series is relabelled when first seen and the result kept, except a
 * result that met a matcher limit (not kept: tried again next round). */
ssize_t jp_stage_relabel_apply(struct jp_stage_relabel *s, const struct jp_round_sample *v, size_t n,
			       const struct jp_round_sample **out);
/* After the round went to the queue: forget the series that ended in v[0..n) (their stale
 * markers went by) and free what the round needed. */
void jp_stage_relabel_end_round(struct jp_stage_relabel *s, const struct jp_round_sample *v, size_t n);

/* Matches that could not be decided so far; series whose result is kept. */
uint64_t jp_stage_relabel_limit_hits(const struct jp_stage_relabel *s);
size_t jp_stage_relabel_cached(const struct jp_stage_relabel *s);

#endif
