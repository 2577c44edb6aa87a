/* SPDX-License-Identifier: Apache-2.0 */
/*
 * write_relabel_configs (docs/reference/remote-write.md "Relabelling"): keep, drop,
 * replace, labeldrop and labelkeep, applied to a series' labels before it enters a
 * remote's queue, as Prometheus applies them.
 */
#ifndef JP_REMOTE_RELABEL_H
#define JP_REMOTE_RELABEL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store/series.h"
#include "util/buf.h"

struct jp_relabel;

/* Compile the rules (NULL when there are none: nothing to do). On a bad regex returns
 * NULL with errno EINVAL and why naming the rule. */
struct jp_relabel *jp_relabel_new(const struct jp_relabel_list *cfg, char *why, size_t whylen);
void jp_relabel_free(struct jp_relabel *r);

/* The labels a rule set leaves: sorted by name, unique, no empty value. */
struct jp_relabel_out {
	struct jp_label *labels;
	size_t n, cap;
	struct jp_buf strings;     /* the values and names the rules made */
	int limited;               /* a match could not be decided: do not keep this result */
};

/* Apply r to in[0..n) (sorted by name). Returns 1 and the result in out (valid until the
 * next call with out), or 0 when the series is dropped (a keep or drop rule, or no
 * __name__ left). -ENOMEM on allocation failure. */
int jp_relabel_apply(struct jp_relabel *r, const struct jp_label *in, size_t n, struct jp_relabel_out *out);
void jp_relabel_out_free(struct jp_relabel_out *out);

/* Matches that could not be decided so far (joulepush_relabel_limit_hits_total). */
uint64_t jp_relabel_limit_hits(const struct jp_relabel *r);

/* Whether the rules keep in[0..n) exactly as it is (then nothing need be copied). */
int jp_relabel_same(const struct jp_relabel_out *out, const struct jp_label *in, size_t n);


#endif
