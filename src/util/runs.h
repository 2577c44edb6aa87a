/* SPDX-License-Identifier: Apache-2.0 */
/* Values keyed by u32 numbers that mostly run on (journal slots, queue series ids), stored
 * as runs: { u32 first, u32 n, n x u64 } ..., the keys of a run first, first + 1, ...:
 * 8 bytes a value and 8 a run, against 12 a value as (u32 key, u64) pairs. The state
 * journal and the queue write their rounds this way (docs/reference/remote-write.md). */
#ifndef JP_UTIL_RUNS_H
#define JP_UTIL_RUNS_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/buf.h"
#include "util/endian.h"

#define JP_RUN_HDR 8u    /* a run's first key and n */
#define JP_PAIR_BYTES 12u

/* Runs being appended to b (from its current end). */
struct jp_runs {
	struct jp_buf *b;
	size_t at;           /* the open run's header in b */
	uint32_t next;       /* the key that would continue it */
	size_t runs, vals;
};

static inline void jp_runs_begin(struct jp_runs *r, struct jp_buf *b)
{
	*r = (struct jp_runs){.b = b};
}

/* Append value bits under key: to the open run when key continues it, else in a new run.
 * 0 or -ENOMEM. */
static inline int jp_runs_add(struct jp_runs *r, uint32_t key, uint64_t bits)
{
	struct jp_buf *b = r->b;
	if (b->cap - b->len < JP_RUN_HDR + 8 && jp_buf_reserve(b, JP_RUN_HDR + 8))
		return -ENOMEM;
	if (!r->runs || key != r->next) {
		if (r->runs)
			jp_put_u32(b->data + r->at + 4, (uint32_t)((b->len - r->at - JP_RUN_HDR) / 8));
		r->at = b->len;
		jp_put_u32(b->data + r->at, key);
		b->len += JP_RUN_HDR;
		r->runs++;
	}
	jp_put_u64(b->data + b->len, bits);
	b->len += 8;
	r->next = key + 1;
	r->vals++;
	return 0;
}

/* Close the open run (its n into its header). */
static inline void jp_runs_end(struct jp_runs *r)
{
	if (r->runs)
		jp_put_u32(r->b->data + r->at + 4, (uint32_t)((r->b->len - r->at - JP_RUN_HDR) / 8));
}

/* Whether the runs take fewer bytes than the same values as pairs. */
static inline int jp_runs_smaller(const struct jp_runs *r)
{
	return r->runs * JP_RUN_HDR + r->vals * 8 < r->vals * JP_PAIR_BYTES;
}

/* Runs p[0, len) as (u32 key, u64 bits) pairs at out (room for 12 bytes a value);
 * returns the bytes written. The runs must be well formed (jp_runs_count). */
static inline size_t jp_runs_to_pairs(const uint8_t *p, size_t len, uint8_t *out)
{
	const uint8_t *end = p + len;
	uint8_t *o = out;
	while (p < end) {
		uint32_t first = jp_get_u32(p), n = jp_get_u32(p + 4);
		p += JP_RUN_HDR;
		for (uint32_t i = 0; i < n; i++, p += 8, o += JP_PAIR_BYTES) {
			jp_put_u32(o, first + i);
			memcpy(o + 4, p, 8);
		}
	}
	return (size_t)(o - out);
}

/* Whether p[0, len) is runs, each of at least one value, that fill it exactly; their
 * values counted into *total. */
static inline int jp_runs_count(const uint8_t *p, size_t len, uint64_t *total)
{
	uint64_t t = 0;
	for (size_t k = 0; k < len;) {
		if (len - k < JP_RUN_HDR)
			return 0;
		uint64_t n = jp_get_u32(p + k + 4);
		k += JP_RUN_HDR;
		if (n == 0 || n * 8 > len - k)
			return 0;
		t += n;
		k += (size_t)n * 8;
	}
	*total = t;
	return 1;
}

#endif
