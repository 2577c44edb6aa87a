/* SPDX-License-Identifier: Apache-2.0 */
/* Remote-write request bodies: RW 1.0 and RW 2.0 protobuf, snappy block compressed (docs/reference/remote-write.md). */
#include "remote/encode.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <snappy-c.h>

#include "metrics.h"
#include "remote.pb-c.h"
#include "types.pb-c.h"

/*
 * How the bytes are produced, and why.
 *
 * The agent may spend 0.5 µs of CPU per delivered sample on everything, so encoding must
 * cost a small fraction of that. Packing a whole WriteRequest through protobuf-c would
 * mean building a tree of message structs per call (one per series, label and sample),
 * a get_packed_size pass over that tree, then the pack pass: allocations and pointer
 * chasing for every sample. Instead:
 *
 *  - A series' labels are packed once with the generated code, as a TimeSeries that has
 *    labels and no samples. Its bytes are exactly the "repeated Label labels = 1" fields,
 *    which are cached in jp_series_def.enc and copied verbatim into every later request.
 *  - The outer framing (WriteRequest.timeseries, TimeSeries.samples, Sample.value and
 *    Sample.timestamp) is written here with small varint helpers. Every length is known
 *    before its message is written, so the output is produced in one forward pass into a
 *    buffer reserved once, with no back-patching.
 *
 * The result is a canonical proto3 encoding: fields in number order, packed repeated
 * scalars, and fields equal to their default (value +0.0, timestamp 0) left out, as the
 * reference Go encoder does. Any other value, NaNs included, is written bit for bit, so
 * the stale marker 0x7ff0000000000002 survives exactly.
 *
 * RW 2.0 needs a symbol table. Interning is done per label pair first: the bytes of one
 * cached Label message (name and value together) are hashed and looked up once, and
 * only a pair never seen in this request interns its two strings. Label pairs repeat a
 * lot across series (node, zone, mode, namespace, __name__), so this halves the number
 * of lookups and hashes one contiguous span instead of two strings.
 *
 * All working memory (the raw protobuf, the hash tables, the per-series refs) lives in
 * a per-thread state that only grows, so a steady stream of similar batches allocates
 * nothing. snappy's C API allocates its own working memory per call; that is outside
 * our control.
 */

/* Protobuf wire tags: (field number << 3) | wire type. */
#define TAG_LEN(field) ((uint8_t)(((field) << 3) | 2))
#define TAG_VARINT(field) ((uint8_t)(((field) << 3) | 0))
#define TAG_FIXED64(field) ((uint8_t)(((field) << 3) | 1))

/* The longest varint (a negative int64) and the longest Sample message. */
#define VARINT_MAX 10
/* value, timestamp and (2.0, counters) start_timestamp */
#define SAMPLE_MAX (1 + 8 + 2 * (1 + VARINT_MAX))

static inline size_t varint_len(uint64_t v)
{
	/* Bits needed (at least 1), seven per byte: (bits * 9 + 64) / 64 == ceil(bits / 7)
	 * for 1..64 bits, without a loop or a division. */
	unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
	return (bits * 9 + 64) / 64;
}

static inline uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint8_t *put_fixed64(uint8_t *p, uint64_t v)
{
	/* Protobuf's fixed64 is little-endian. On such hosts it is one unaligned store; a
	 * byte loop is not reliably merged into one by the compiler. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &v, 8);
#else
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
#endif
	return p + 8;
}

/* Read a varint from [*pp, end); returns false if truncated or longer than 10 bytes. */
static inline bool get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
		uint8_t c = *p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*pp = p;
			*out = v;
			return true;
		}
	}
	return false;
}

static inline uint64_t value_bits(double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	return bits;
}

/* The body of one Sample message; 0 for a sample at time 0 with value +0.0. start_ms > 0:
 * remote write 2.0's Sample.start_timestamp (field 3), when a counter began counting. */
static inline size_t sample_body_len(const struct jp_sample *s, int64_t start_ms)
{
	size_t n = 0;
	if (value_bits(s->value))
		n += 1 + 8;
	if (s->ts_ms)
		n += 1 + varint_len((uint64_t)s->ts_ms);
	if (start_ms > 0)
		n += 1 + varint_len((uint64_t)start_ms);
	return n;
}

/* The bytes of "repeated Sample samples = 2" for count samples. */
static size_t samples_len(const struct jp_sample *s, uint32_t count, int64_t start_ms)
{
	size_t n = 0;
	for (uint32_t i = 0; i < count; i++)
		n += 2 + sample_body_len(&s[i], start_ms);   /* a body is at most 31 bytes: a 1-byte length */
	return n;
}

static uint8_t *put_samples(uint8_t *p, const struct jp_sample *s, uint32_t count, int64_t start_ms)
{
	for (uint32_t i = 0; i < count; i++) {
		uint64_t bits = value_bits(s[i].value);
		*p++ = TAG_LEN(2);
		*p++ = (uint8_t)sample_body_len(&s[i], start_ms);
		if (bits) {
			*p++ = TAG_FIXED64(1);
			p = put_fixed64(p, bits);
		}
		if (s[i].ts_ms) {
			*p++ = TAG_VARINT(2);
			p = put_varint(p, (uint64_t)s[i].ts_ms);
		}
		if (start_ms > 0) {
			*p++ = TAG_VARINT(3);
			p = put_varint(p, (uint64_t)start_ms);
		}
	}
	return p;
}

/* docs/reference/remote-write.md: names sorted bytewise, unique, no empty names or values, __name__ present.
 * strcmp compares as unsigned char, which is the bytewise order. */
static bool labels_valid(const struct jp_series_def *def)
{
	bool has_name = false;
	for (uint32_t i = 0; i < def->nlabels; i++) {
		const struct jp_label *l = &def->labels[i];
		if (!l->name || !l->value || !l->name[0] || !l->value[0])
			return false;
		if (i > 0 && strcmp(def->labels[i - 1].name, l->name) >= 0)
			return false;
		if (!strcmp(l->name, "__name__"))
			has_name = true;
	}
	return has_name;
}

/* ---- the cache in jp_series_def.enc -------------------------------------------- */

/*
 * def->enc holds the RW 1.0 label bytes (enc_len of them) and, after them at the next
 * multiple of 8, a private trailer for RW 2.0: the id of each label pair in the
 * thread's pair dictionary (below) and the dictionary epoch those ids belong to. The
 * owner frees the whole block with one free(), as batch.h asks.
 */
struct enc_trailer {
	uint64_t epoch;          /* 0: not interned yet */
	int32_t metric;          /* index in the metric table (metrics.h), or -1 */
	uint32_t counter;        /* the type for RW 2.0 metadata: 1 counter, 0 gauge */
	uint32_t gid[];          /* one per label */
};

static inline struct enc_trailer *def_trailer(const struct jp_series_def *def)
{
	return (struct enc_trailer *)(void *)(def->enc + ((def->enc_len + 7) & ~(size_t)7));
}

/* Pack def's labels once with protobuf-c and cache the bytes in def->enc. */
static int def_cache(struct jp_series_def *def)
{
	if (def->enc)
		return 0;
	/* The queue hands over label sets that obey docs/reference/remote-write.md; anything else is a bug
	 * upstream. It is refused rather than sent or skipped, so it cannot go unnoticed. */
	bool valid = def->labels && labels_valid(def);
	assert(valid && "series labels must be sorted, unique, non-empty, with __name__");
	if (!valid)
		return -EINVAL;

	enum { ON_STACK = 32 };
	Prometheus__Label lab_stack[ON_STACK], *lab = lab_stack;
	Prometheus__Label *ptr_stack[ON_STACK], **ptr = ptr_stack;
	int r = -ENOMEM;
	if (def->nlabels > ON_STACK) {
		lab = malloc(def->nlabels * sizeof(*lab));
		ptr = malloc(def->nlabels * sizeof(*ptr));
		if (!lab || !ptr)
			goto out;
	}
	for (uint32_t i = 0; i < def->nlabels; i++) {
		prometheus__label__init(&lab[i]);
		/* protobuf-c's string fields are not const; pack only reads them. */
		lab[i].name = (char *)def->labels[i].name;
		lab[i].value = (char *)def->labels[i].value;
		ptr[i] = &lab[i];
	}
	Prometheus__TimeSeries ts;
	prometheus__time_series__init(&ts);
	ts.n_labels = def->nlabels;
	ts.labels = ptr;
	size_t len = prometheus__time_series__get_packed_size(&ts);
	/* Offsets into the dictionary are 32-bit; no real label set comes near that. */
	if (len > UINT32_MAX / 2) {
		r = -E2BIG;
		goto out;
	}
	size_t aligned = (len + 7) & ~(size_t)7;
	uint8_t *enc = malloc(aligned + sizeof(struct enc_trailer) + def->nlabels * sizeof(uint32_t));
	if (!enc)
		goto out;
	size_t packed = prometheus__time_series__pack(&ts, enc);
	assert(packed == len);
	def->enc = enc;
	def->enc_len = packed;
	struct enc_trailer *t = def_trailer(def);
	t->epoch = 0;
	/* Metadata (RW 2.0): the metric table's type, help and unit; a name the table does
	 * not know is a counter when it ends in _total, else a gauge. */
	const char *name = "";
	for (uint32_t i = 0; i < def->nlabels; i++)
		if (!strcmp(def->labels[i].name, "__name__"))
			name = def->labels[i].value;
	const struct jp_metric_def *m = jp_metric_find(name);
	size_t nl = strlen(name);
	t->metric = m ? (int32_t)(m - jp_metric(0)) : -1;
	t->counter = m ? m->type == JP_COUNTER : nl > 6 && !strcmp(name + nl - 6, "_total");
	r = 0;
out:
	if (lab != lab_stack)
		free(lab);
	if (ptr != ptr_stack)
		free(ptr);
	return r;
}

/* Check the batch's shape and make sure every def has its cached labels. Returns the
 * number of label pairs in the batch through npairs. */
static int batch_prepare(const struct jp_batch *b, size_t *npairs)
{
	size_t n = 0;
	for (size_t i = 0; i < b->nseries; i++) {
		if (i + 32 < b->nseries)   /* the defs: cold since the last round */
			__builtin_prefetch(b->series[i + 32].def);
		const struct jp_batch_series *s = &b->series[i];
		bool shape_ok = s->def && (size_t)s->first + s->count <= b->nsamples;
		assert(shape_ok && "batch series out of range");
		if (!shape_ok)
			return -EINVAL;
		int r = def_cache(s->def);
		if (r)
			return r;
		n += s->def->nlabels;
	}
	*npairs = n;
	return 0;
}

/* ---- per-thread state: buffers and the RW 2.0 dictionary --------------------------- */

/*
 * RW 2.0 wants each request's strings in a symbols table. Hashing and comparing every
 * label string of every series on every request costs more than the rest of the
 * encoding together, so strings are interned once into a dictionary that outlives
 * requests: label pairs get a pair id (cached per series in the enc trailer), each pair
 * knows the ids of its two strings. A request then only maps ids to its own refs
 * through arrays, stamping entries with the request's generation so that nothing has
 * to be cleared between requests.
 *
 * The dictionary owns copies of its strings, because series defs come and go without
 * telling the encoder. It is emptied (a new epoch, which invalidates every cached pair
 * id) when it has grown well beyond what recent requests use, so pod churn cannot make
 * it grow for ever.
 */
struct dict_str {
	uint32_t off, len;       /* bytes in the arena */
	uint32_t hash;
	uint32_t gen, ref;       /* ref in the request of generation gen */
};

struct dict_pair {
	uint32_t off, len;       /* the Label message's bytes in the arena */
	uint32_t hash;
	uint32_t name_sid, value_sid;
	uint32_t gen, name_ref, value_ref;
};

struct enc_state {
	struct jp_buf raw;       /* the uncompressed protobuf */
	uint64_t seed;
	uint64_t epoch;          /* the dictionary's; 0 before first use */
	uint32_t gen;            /* the request's */
	struct jp_buf arena;     /* dictionary bytes */
	struct dict_pair *pairs;
	size_t npairs, cap_pairs;
	struct dict_str *strs;
	size_t nstrs, cap_strs;
	uint32_t *pair_ix, *str_ix;   /* hash tables of id + 1 (0: empty), at most half full */
	size_t pair_mask, str_mask;
	size_t last_pairs_used;  /* distinct pairs in the previous request */
	uint32_t *by_ref;        /* request refs -> string ids; ref 0 is "" */
	size_t cap_by_ref;
	uint32_t *refs;          /* labels_refs of all series, concatenated */
	size_t cap_refs;
	uint32_t *refs_bytes;    /* per series: bytes of its packed labels_refs */
	size_t cap_refs_bytes;
	uint32_t *meta_refs;     /* per series: help and unit refs */
	size_t cap_meta_refs;
	/* Per metric of the table: its help and unit strings' ids in the dictionary of
	 * meta_epoch[i] (interned on first use, like label strings). */
	uint64_t meta_epoch[JP_M_COUNT];
	uint32_t meta_help[JP_M_COUNT], meta_unit[JP_M_COUNT];
};

/* The agent encodes on its one loop thread (docs/model.md); thread-local state keeps the
 * functions safe to call from other threads too (tests, benchmarks, fuzzers), as long
 * as one series def is not encoded by two threads at once. */
static _Thread_local struct enc_state state;

/* Epochs are unique across threads, so a def's cached ids never match another thread's
 * dictionary by accident. */
static _Atomic uint64_t next_epoch = 1;

#define DICT_MIN_PAIRS 4096

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t mix(uint64_t h)
{
	h ^= h >> 31;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 29;
	return h;
}

/* A fast non-cryptographic hash, eight bytes per step. Only its distribution matters:
 * every hit is confirmed with memcmp. */
static inline uint32_t hash_bytes(uint64_t seed, const uint8_t *p, size_t n)
{
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
	const uint8_t *end = p + n;
	if (n >= 8) {
		while (end - p > 8) {
			h = mix(h ^ load64(p));
			p += 8;
		}
		/* The last eight bytes, overlapping what was already mixed. */
		h = mix(h ^ load64(end - 8) ^ 0xff);
	} else {
		uint64_t w = 0;
		for (size_t i = 0; i < n; i++)
			w |= (uint64_t)p[i] << (8 * i);
		h = mix(h ^ w);
	}
	return (uint32_t)(h ^ (h >> 32));
}

/* Rebuild a hash table of id + 1 with room for twice `entries`, from the stored hashes. */
static int index_rebuild(uint32_t **ix, size_t *mask, size_t entries, const void *items,
			 size_t item_size, size_t hash_offset)
{
	size_t n = 256;
	while (n < 2 * (entries + 1))
		n *= 2;
	uint32_t *t = calloc(n, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (size_t id = 0; id < entries; id++) {
		uint32_t h;
		memcpy(&h, (const uint8_t *)items + id * item_size + hash_offset, sizeof(h));
		size_t j = h & (n - 1);
		while (t[j])
			j = (j + 1) & (n - 1);
		t[j] = (uint32_t)id + 1;
	}
	free(*ix);
	*ix = t;
	*mask = n - 1;
	return 0;
}

/* Empty the dictionary and start a new epoch: every cached pair id is now stale. */
static void dict_reset(struct enc_state *st)
{
	st->npairs = st->nstrs = 0;
	jp_buf_reset(&st->arena);
	if (st->pair_ix)
		memset(st->pair_ix, 0, (st->pair_mask + 1) * sizeof(*st->pair_ix));
	if (st->str_ix)
		memset(st->str_ix, 0, (st->str_mask + 1) * sizeof(*st->str_ix));
	st->epoch = atomic_fetch_add(&next_epoch, 1);
}

static int arena_add(struct enc_state *st, const uint8_t *p, uint32_t len, uint32_t *off)
{
	if (st->arena.len + len > UINT32_MAX)
		return -E2BIG;
	*off = (uint32_t)st->arena.len;
	return jp_buf_append(&st->arena, p, len);
}

/* The id of the string p[0..len), added if new. */
static int dict_str(struct enc_state *st, const uint8_t *p, uint32_t len, uint32_t *sid)
{
	uint32_t h = hash_bytes(st->seed, p, len);
	size_t j = h & st->str_mask;
	for (uint32_t ix; (ix = st->str_ix[j]); j = (j + 1) & st->str_mask) {
		const struct dict_str *s = &st->strs[ix - 1];
		if (s->hash == h && s->len == len && !memcmp(st->arena.data + s->off, p, len)) {
			*sid = ix - 1;
			return 0;
		}
	}
	int r;
	uint32_t off;
	if ((r = jp_grow((void **)&st->strs, &st->cap_strs, st->nstrs + 1, sizeof(*st->strs))) ||
	    (r = arena_add(st, p, len, &off)))
		return r;
	st->strs[st->nstrs] = (struct dict_str){ .off = off, .len = len, .hash = h };
	if (2 * (st->nstrs + 1) > st->str_mask + 1) {
		if ((r = index_rebuild(&st->str_ix, &st->str_mask, st->nstrs + 1, st->strs,
				       sizeof(*st->strs), offsetof(struct dict_str, hash))))
			return r;
	} else {
		st->str_ix[j] = (uint32_t)st->nstrs + 1;
	}
	*sid = (uint32_t)st->nstrs++;
	return 0;
}

/* Split one Label message (field 1 name, field 2 value, as def_cache packed it). */
static bool label_split(const uint8_t *p, const uint8_t *end, const uint8_t **name,
			uint32_t *name_len, const uint8_t **value, uint32_t *value_len)
{
	uint64_t n;
	if (p >= end || *p++ != TAG_LEN(1) || !get_varint(&p, end, &n) || n > (size_t)(end - p))
		return false;
	*name = p;
	*name_len = (uint32_t)n;
	p += n;
	if (p >= end || *p++ != TAG_LEN(2) || !get_varint(&p, end, &n) || n != (size_t)(end - p))
		return false;
	*value = p;
	*value_len = (uint32_t)n;
	return true;
}

/* The id of the Label message lab[0..len), added (with its strings) if new. */
static int dict_pair(struct enc_state *st, const uint8_t *lab, uint32_t len, uint32_t *gid)
{
	uint32_t h = hash_bytes(st->seed, lab, len);
	size_t j = h & st->pair_mask;
	for (uint32_t ix; (ix = st->pair_ix[j]); j = (j + 1) & st->pair_mask) {
		const struct dict_pair *pe = &st->pairs[ix - 1];
		if (pe->hash == h && pe->len == len && !memcmp(st->arena.data + pe->off, lab, len)) {
			*gid = ix - 1;
			return 0;
		}
	}
	const uint8_t *name, *value;
	uint32_t name_len, value_len, name_sid, value_sid, off;
	int r;
	if (!label_split(lab, lab + len, &name, &name_len, &value, &value_len))
		return -EINVAL;
	if ((r = dict_str(st, name, name_len, &name_sid)) ||
	    (r = dict_str(st, value, value_len, &value_sid)) ||
	    (r = jp_grow((void **)&st->pairs, &st->cap_pairs, st->npairs + 1, sizeof(*st->pairs))) ||
	    (r = arena_add(st, lab, len, &off)))
		return r;
	st->pairs[st->npairs] = (struct dict_pair){
		.off = off, .len = len, .hash = h, .name_sid = name_sid, .value_sid = value_sid,
	};
	if (2 * (st->npairs + 1) > st->pair_mask + 1) {
		if ((r = index_rebuild(&st->pair_ix, &st->pair_mask, st->npairs + 1, st->pairs,
				       sizeof(*st->pairs), offsetof(struct dict_pair, hash))))
			return r;
	} else {
		st->pair_ix[j] = (uint32_t)st->npairs + 1;
	}
	*gid = (uint32_t)st->npairs++;
	return 0;
}

/* Fill def's trailer with the pair ids of the current epoch. */
static int def_intern(struct enc_state *st, const struct jp_series_def *def)
{
	struct enc_trailer *t = def_trailer(def);
	const uint8_t *p = def->enc, *end = def->enc + def->enc_len;
	for (uint32_t k = 0; k < def->nlabels; k++) {
		uint64_t len;
		/* enc was written by def_cache: one TAG_LEN(1) Label per label. */
		if (p >= end || *p++ != TAG_LEN(1) || !get_varint(&p, end, &len) ||
		    len > (size_t)(end - p))
			return -EINVAL;
		int r = dict_pair(st, p, (uint32_t)len, &t->gid[k]);
		if (r)
			return r;
		p += len;
	}
	t->epoch = st->epoch;
	return 0;
}

/* Prepare the state for a new request. */
static int state_begin(struct enc_state *st)
{
	if (!st->seed) {
		/* A random seed keeps label values chosen by a tenant (pod names) from being
		 * crafted into hash collisions that would make interning quadratic. */
		if (getrandom(&st->seed, sizeof(st->seed), GRND_NONBLOCK) != sizeof(st->seed))
			st->seed = (uint64_t)(uintptr_t)&state ^ 0x6a09e667f3bcc909ULL;
		st->seed |= 1;
	}
	if (!st->pair_ix) {
		int r;
		if ((r = index_rebuild(&st->pair_ix, &st->pair_mask, 0, NULL, 0, 0)) ||
		    (r = index_rebuild(&st->str_ix, &st->str_mask, 0, NULL, 0, 0)))
			return r;
	}
	size_t keep = st->last_pairs_used > DICT_MIN_PAIRS / 4 ? 4 * st->last_pairs_used
							       : DICT_MIN_PAIRS;
	if (!st->epoch || st->npairs > keep)
		dict_reset(st);
	if (++st->gen == 0) {
		/* The generation wrapped: forget every stamp once. */
		for (size_t i = 0; i < st->npairs; i++)
			st->pairs[i].gen = 0;
		for (size_t i = 0; i < st->nstrs; i++)
			st->strs[i].gen = 0;
		st->gen = 1;
	}
	return 0;
}

/* ---- RW 1.0 ---------------------------------------------------------------------- */

/* Owner: out is the caller's; it is reset and receives the raw WriteRequest. */
int jp_encode_v1_raw(const struct jp_batch *b, struct jp_buf *out)
{
	size_t npairs;
	int r = batch_prepare(b, &npairs);
	if (r)
		return r;

	/* An upper bound: the exact label bytes plus the largest framing per series and
	 * per sample. Reserving once keeps the write loop free of capacity checks. */
	size_t bound = 0;
	for (size_t i = 0; i < b->nseries; i++)
		bound += 1 + VARINT_MAX + b->series[i].def->enc_len;
	bound += b->nsamples * (2 + SAMPLE_MAX);
	jp_buf_reset(out);
	if ((r = jp_buf_reserve(out, bound)))
		return r;

	uint8_t *p = out->data;
	for (size_t i = 0; i < b->nseries; i++) {
		const struct jp_batch_series *s = &b->series[i];
		const struct jp_sample *smp = b->samples + s->first;
		if (i + 8 < b->nseries) {   /* the label bytes ahead: cold since the last round */
			const struct jp_series_def *ahead = b->series[i + 8].def;
			for (size_t k = 0; k < ahead->enc_len; k += 64)
				__builtin_prefetch(ahead->enc + k);
		}
		size_t len = s->def->enc_len + samples_len(smp, s->count, 0);
		*p++ = TAG_LEN(1);                              /* WriteRequest.timeseries */
		p = put_varint(p, len);
		memcpy(p, s->def->enc, s->def->enc_len);        /* TimeSeries.labels */
		p += s->def->enc_len;
		p = put_samples(p, smp, s->count, 0);           /* TimeSeries.samples */
	}
	out->len = (size_t)(p - out->data);
	assert(out->len <= bound);
	return 0;
}

/* ---- RW 2.0 ---------------------------------------------------------------------- */

/* The request ref of string sid, assigned on first use in this request. */
static inline uint32_t str_ref(struct enc_state *st, uint32_t sid, size_t *nsyms)
{
	struct dict_str *s = &st->strs[sid];
	if (s->gen != st->gen) {
		s->gen = st->gen;
		s->ref = (uint32_t)*nsyms;
		st->by_ref[(*nsyms)++] = sid;
	}
	return s->ref;
}

/* Owner: out is the caller's; it is reset and receives the raw v2 Request. */
int jp_encode_v2_raw(const struct jp_batch *b, struct jp_buf *out)
{
	struct enc_state *st = &state;
	size_t npairs;
	int r = batch_prepare(b, &npairs);
	if (r)
		return r;
	if (2 * npairs + 1 > UINT32_MAX)
		return -E2BIG;
	if ((r = state_begin(st)) ||
	    (r = jp_grow((void **)&st->by_ref, &st->cap_by_ref, 2 * npairs + 2 * b->nseries + 1,
			  sizeof(*st->by_ref))) ||
	    (r = jp_grow((void **)&st->meta_refs, &st->cap_meta_refs, 2 * b->nseries + 1,
			  sizeof(*st->meta_refs))) ||
	    (r = jp_grow((void **)&st->refs, &st->cap_refs, 2 * npairs + 1, sizeof(*st->refs))) ||
	    (r = jp_grow((void **)&st->refs_bytes, &st->cap_refs_bytes, b->nseries + 1,
		      sizeof(*st->refs_bytes))))
		return r;

	/* Pass 1: map every label pair to this request's refs. by_ref[0] is "", which is
	 * not in the dictionary and is written specially below. */
	size_t nsyms = 1, pairs_used = 0;
	uint32_t *refs = st->refs;
	for (size_t i = 0; i < b->nseries; i++) {
		const struct jp_series_def *def = b->series[i].def;
		const struct enc_trailer *t = def_trailer(def);
		if (t->epoch != st->epoch && (r = def_intern(st, def)))
			return r;
		size_t rb = 0;
		for (uint32_t k = 0; k < def->nlabels; k++) {
			struct dict_pair *pe = &st->pairs[t->gid[k]];
			if (pe->gen != st->gen) {
				pe->gen = st->gen;
				pe->name_ref = str_ref(st, pe->name_sid, &nsyms);
				pe->value_ref = str_ref(st, pe->value_sid, &nsyms);
				pairs_used++;
			}
			*refs++ = pe->name_ref;
			*refs++ = pe->value_ref;
			rb += varint_len(pe->name_ref) + varint_len(pe->value_ref);
		}
		st->refs_bytes[i] = (uint32_t)rb;
		/* Metadata: the help and unit of the table's metric, ref 0 ("") for none. */
		uint32_t help_ref = 0, unit_ref = 0;
		if (t->metric >= 0) {
			size_t m = (size_t)t->metric;
			if (st->meta_epoch[m] != st->epoch) {
				const struct jp_metric_def *md = jp_metric((enum jp_metric_id)m);
				const char *u = jp_metric_unit_word(md);
				st->meta_help[m] = st->meta_unit[m] = UINT32_MAX;
				if (md->help[0] &&
				    (r = dict_str(st, (const uint8_t *)md->help, (uint32_t)strlen(md->help), &st->meta_help[m])))
					return r;
				if (u[0] && (r = dict_str(st, (const uint8_t *)u, (uint32_t)strlen(u), &st->meta_unit[m])))
					return r;
				st->meta_epoch[m] = st->epoch;
			}
			if (st->meta_help[m] != UINT32_MAX)
				help_ref = str_ref(st, st->meta_help[m], &nsyms);
			if (st->meta_unit[m] != UINT32_MAX)
				unit_ref = str_ref(st, st->meta_unit[m], &nsyms);
		}
		st->meta_refs[2 * i] = help_ref;
		st->meta_refs[2 * i + 1] = unit_ref;
	}
	st->last_pairs_used = pairs_used;

	/* Pass 2: size, reserve once, write symbols then series. */
	size_t bound = 2;
	for (size_t k = 1; k < nsyms; k++)
		bound += 1 + VARINT_MAX + st->strs[st->by_ref[k]].len;
	for (size_t i = 0; i < b->nseries; i++)
		bound += 2 * (1 + VARINT_MAX) + st->refs_bytes[i] + 2 + 4 * (1 + VARINT_MAX);
	bound += b->nsamples * (2 + SAMPLE_MAX);
	jp_buf_reset(out);
	if ((r = jp_buf_reserve(out, bound)))
		return r;

	uint8_t *p = out->data;
	*p++ = TAG_LEN(4);                                      /* Request.symbols[0] = "" */
	*p++ = 0;
	for (size_t k = 1; k < nsyms; k++) {
		const struct dict_str *s = &st->strs[st->by_ref[k]];
		*p++ = TAG_LEN(4);                              /* Request.symbols */
		p = put_varint(p, s->len);
		memcpy(p, st->arena.data + s->off, s->len);
		p += s->len;
	}
	refs = st->refs;
	for (size_t i = 0; i < b->nseries; i++) {
		const struct jp_batch_series *s = &b->series[i];
		const struct jp_sample *smp = b->samples + s->first;
		size_t rb = st->refs_bytes[i];
		const struct enc_trailer *t = def_trailer(s->def);
		/* When a counter began counting: Sample.start_timestamp (2.0-rc.4), and the older
		 * TimeSeries.created_timestamp (field 6) that receivers released before the move
		 * still read (docs/reference/remote-write.md). */
		int64_t created = t->counter && s->def->start_ms > 0 ? s->def->start_ms : 0;
		size_t len = samples_len(smp, s->count, created);
		if (s->def->nlabels)
			len += 1 + varint_len(rb) + rb;
		/* Metadata: type always; help_ref and unit_ref when not "" (proto3 leaves out 0). */
		uint32_t help_ref = st->meta_refs[2 * i], unit_ref = st->meta_refs[2 * i + 1];
		uint32_t type = t->counter ? 1 : 2;   /* METRIC_TYPE_COUNTER, METRIC_TYPE_GAUGE */
		size_t mlen = 2 + (help_ref ? 1 + varint_len(help_ref) : 0) + (unit_ref ? 1 + varint_len(unit_ref) : 0);
		len += 2 + mlen;
		if (created)
			len += 1 + varint_len((uint64_t)created);
		*p++ = TAG_LEN(5);                              /* Request.timeseries */
		p = put_varint(p, len);
		if (s->def->nlabels) {
			*p++ = TAG_LEN(1);                      /* TimeSeries.labels_refs, packed */
			p = put_varint(p, rb);
			for (uint32_t k = 0; k < 2 * s->def->nlabels; k++)
				p = put_varint(p, *refs++);
		}
		p = put_samples(p, smp, s->count, created);     /* TimeSeries.samples */
		*p++ = TAG_LEN(5);                              /* TimeSeries.metadata */
		*p++ = (uint8_t)mlen;
		*p++ = TAG_VARINT(1);                           /* Metadata.type */
		*p++ = (uint8_t)type;
		if (help_ref) {
			*p++ = TAG_VARINT(3);                   /* Metadata.help_ref */
			p = put_varint(p, help_ref);
		}
		if (unit_ref) {
			*p++ = TAG_VARINT(4);                   /* Metadata.unit_ref */
			p = put_varint(p, unit_ref);
		}
		if (created) {
			*p++ = TAG_VARINT(6);                   /* TimeSeries.created_timestamp */
			p = put_varint(p, (uint64_t)created);
		}
	}
	out->len = (size_t)(p - out->data);
	assert(out->len <= bound);
	return 0;
}

/* ---- compression ----------------------------------------------------------------- */

static int compress_into(const struct jp_buf *raw, struct jp_buf *out)
{
	jp_buf_reset(out);
	int r = jp_buf_reserve(out, snappy_max_compressed_length(raw->len));
	if (r)
		return r;
	size_t n = out->cap;
	if (snappy_compress((const char *)raw->data, raw->len, (char *)out->data, &n) != SNAPPY_OK)
		return -EIO;
	out->len = n;
	return 0;
}

/* Owner: out is the caller's; it is reset and receives the compressed body. */
int jp_encode_v1(const struct jp_batch *b, struct jp_buf *out)
{
	int r = jp_encode_v1_raw(b, &state.raw);
	return r ? r : compress_into(&state.raw, out);
}

/* Owner: out is the caller's; it is reset and receives the compressed body. */
int jp_encode_v2(const struct jp_batch *b, struct jp_buf *out)
{
	int r = jp_encode_v2_raw(b, &state.raw);
	return r ? r : compress_into(&state.raw, out);
}
