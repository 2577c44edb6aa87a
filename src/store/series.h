/* SPDX-License-Identifier: Apache-2.0 */
/* The series store: interned, sorted label sets, a bounded ring of recent samples per
 * series, collection rounds, and stale markers for series that disappear (docs/reference/metrics.md, docs/reference/remote-write.md). */
#ifndef JP_STORE_SERIES_H
#define JP_STORE_SERIES_H

#include <stddef.h>
#include <stdint.h>

/* A label; name and value are NUL-terminated. In a series they point into the store's
 * string intern table and live as long as the series. */
struct jp_label {
	const char *name;
	const char *value;
};

/* The stale marker of docs/reference/remote-write.md: a NaN set by bit pattern, never by arithmetic. */
#define JP_STALE_NAN_BITS 0x7ff0000000000002ULL
double jp_stale_nan(void);
int jp_is_stale_nan(double v);   /* compares bits, not values */

struct jp_sample {
	int64_t ts_ms;
	double value;
};

/* One series. Owned by the store; the pointer stays valid until the commit that
 * emits its stale marker (the first round in which nobody set it). */
struct jp_series {
	uint32_t id;              /* unique for the life of the process, never reused, > 0 */
	uint16_t nlabels;
	const struct jp_label *labels;  /* sorted bytewise by name, unique, __name__ included,
	                                   node and external labels included */
	const char *name;         /* the value of __name__ */
	uint32_t ring_head, ring_count;  /* the recent samples, oldest first from ring_head */
	struct jp_sample *ring;
	int64_t start_ms;         /* when it began counting: its first round, or what the
	                             resume hook gave (a counter kept across restarts); 0 before */
	/* store-private fields follow in the implementation */
};

struct jp_store;

/* Create a store. `common` labels (node and external_labels) are added to every series;
 * a series' own label of the same name wins. ring_len (>= 1) is how many recent
 * samples each series keeps. Returns NULL with errno set. Free with jp_store_destroy. */
struct jp_store *jp_store_create(const struct jp_label *common, size_t ncommon, size_t ring_len);
void jp_store_destroy(struct jp_store *s);

/* Replace the common labels (a config reload). Existing series keep their label sets:
 * the next round re-resolves them through jp_store_get. */
int jp_store_set_common(struct jp_store *s, const struct jp_label *common, size_t ncommon);
/* A number that changes whenever jp_store_set_common runs: a caller that keeps series
 * pointers across rounds resolves them again through jp_store_get when it changes. */
uint64_t jp_store_generation(const struct jp_store *s);
/* The number of the round being built (or the next one): it grows by one per commit. A
 * caller that keeps series pointers and missed a round (set nothing, e.g. a failed
 * collection) must resolve them again: its series went stale and were freed. */
uint64_t jp_store_round(const struct jp_store *s);

/* Find or create the series `name`{labels}. labels need not be sorted; empty values
 * are dropped (docs/reference/remote-write.md: no empty values). Returns NULL with errno (EINVAL for an
 * empty or duplicated name). The pointer is valid as described on struct jp_series. */
struct jp_series *jp_store_get(struct jp_store *s, const char *name,
			       const struct jp_label *labels, size_t nlabels);

/* A round of collection at wall time ts_ms: begin, then set any number of series, then
 * commit. Setting a series twice in a round keeps the last value. */
void jp_store_begin(struct jp_store *s, int64_t ts_ms);
void jp_store_set(struct jp_store *s, struct jp_series *series, double value);

/* What a commit emits: every series set in the round with its value, then one stale
 * marker for every series that was live in the previous round and not set in this one. */
struct jp_round_sample {
	const struct jp_series *series;
	double value;
	uint32_t id;   /* series->id, copied by the store while the series is in the cache, so
	                  that what consumes a round of 10,000 series need not load each one
	                  again; 0: not copied, read series->id (jp_round_sample_id) */
};

static inline uint32_t jp_round_sample_id(const struct jp_round_sample *r)
{
	return r->id ? r->id : r->series ? r->series->id : 0;
}
typedef int (*jp_store_emit_cb)(int64_t ts_ms, const struct jp_round_sample *v, size_t n, void *arg);

/* End the round: record samples in the rings, call emit once with all of the round's
 * samples (if emit is not NULL), then forget the series that just went stale. Returns
 * emit's return value (or 0). */
int jp_store_commit(struct jp_store *s, jp_store_emit_cb emit, void *arg);

/* Counters that go on across restarts (store/state.c): when a series is created, lookup
 * may give the value it had reached and when it began counting; every value later set
 * on it is then added to that base, and its start_ms is the one given. Return 1 to
 * resume the series, 0 to start it afresh. */
struct jp_store_resume {
	int (*lookup)(void *arg, const struct jp_series *series, double *base, int64_t *start_ms);
	void *arg;
};
/* Install r (copied) for series created from now on; NULL removes it. */
void jp_store_set_resume(struct jp_store *s, const struct jp_store_resume *r);

/* Visit every live series (the latest round's). Stops early if cb returns non-zero. */
int jp_store_foreach(struct jp_store *s, int (*cb)(const struct jp_series *series, void *arg), void *arg);
/* How many series were made or freed so far: while it stays the same, a series pointer
 * names the same series (no address was freed and handed out again). */
uint64_t jp_store_series_churn(const struct jp_store *s);

/* Visit the series set in the round being built (between jp_store_begin and commit), with
 * the value each was set to (its resumed base included). */
int jp_store_foreach_set(struct jp_store *s, int (*cb)(const struct jp_series *series, double value, void *arg),
			 void *arg);

size_t jp_store_live_series(const struct jp_store *s);
/* Bytes the store holds (series, rings, interned strings, tables). */
size_t jp_store_memory_bytes(const struct jp_store *s);

/* Latest sample of a series, or NULL if it has none. */
const struct jp_sample *jp_series_latest(const struct jp_series *series);

#endif
