/* SPDX-License-Identifier: Apache-2.0 */
/* The series store: label sets of interned strings (util/intern.h), label-set hashing, per-series sample rings and the
 * round/commit cycle that emits stale markers for series that disappear (docs/reference/metrics.md, docs/reference/remote-write.md). */
#include "store/series.h"
#include "util/hash.h"
#include "util/intern.h"

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* The store-private view of a series: one allocation holds the header, the label array
 * and the ring, so a series costs one malloc and sits in few cache lines. */
struct sp {
	uint64_t hash;
	uint32_t set_round;   /* the round in which it was last set */
	uint32_t slot;        /* its index in the round array when set_round is current */
	double base;          /* added to every value set: a resumed counter's total before */
	struct jp_series pub;
	struct jp_label labels[];   /* followed by the ring */
};

/* An open-addressing hash table (linear probing, backward-shift deletion) of pointers
 * to objects whose first member is their 64-bit hash. The capacity is a power of two. */
struct ptab {
	void **slot;
	size_t cap, n;
};

struct jp_store {
	struct ptab series;
	size_t ring_len;
	size_t series_bytes;   /* bytes of one series allocation depends on nlabels; summed here */

	struct jp_label *common;   /* sorted, interned, non-empty */
	uint64_t *common_hash;     /* hashes of name and value, 2 per label */
	size_t ncommon;
	uint64_t generation;
	uint64_t commits;        /* jp_store_round */
	uint64_t made_or_freed;  /* jp_store_series_churn */

	uint32_t next_id;
	uint32_t round;
	int64_t ts_ms;
	size_t nseries;            /* every series in existence (live, set or freshly created) */

	/* The round being built: sets first, then (at commit) the stale markers. */
	struct jp_round_sample *cur;
	size_t ncur;
	/* The series set in the last committed round, live[0 .. nlive), followed by those
	 * created since, live[nlive .. nlive + nfresh): a commit forgets the latter silently
	 * if nobody set them, as they never emitted a sample. */
	struct sp **live;
	size_t nlive, nfresh;
	size_t cap;                /* capacity of cur and live; >= nseries */

	struct jp_store_resume resume;

	/* Scratch for jp_store_get. */
	struct jp_label *tmp;
	uint64_t *tmp_hash;
	struct jp_label *merged;
	uint64_t *merged_hash;
	size_t tmp_cap;
};

/* The allocator overhead glibc adds to each chunk, for honest memory accounting. */
#define MALLOC_OVERHEAD sizeof(size_t)

static size_t chunk_bytes(void *p)
{
	return p ? malloc_usable_size(p) + MALLOC_OVERHEAD : 0;
}

double jp_stale_nan(void)
{
	/* docs/reference/remote-write.md: the stale marker is defined by its bits; arithmetic could yield another NaN. */
	uint64_t bits = JP_STALE_NAN_BITS;
	double v;
	memcpy(&v, &bits, sizeof v);
	return v;
}

int jp_is_stale_nan(double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof bits);
	return bits == JP_STALE_NAN_BITS;
}

/* ---- hashing ---------------------------------------------------------------- */



/* The hash of a label set; hashes[] holds name and value hashes in label order. */
static uint64_t set_hash(const uint64_t *hashes, size_t nlabels)
{
	uint64_t h = 0x13198a2e03707344ULL ^ nlabels;
	for (size_t i = 0; i < 2 * nlabels; i++)
		h = jp_mix64(h + hashes[i] + i);
	return h;
}

/* ---- the generic pointer table ------------------------------------------------ */

static inline uint64_t obj_hash(const void *p)
{
	return *(const uint64_t *)p;
}

static int ptab_resize(struct ptab *t, size_t cap)
{
	void **slot = calloc(cap, sizeof *slot);
	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		void *p = t->slot[i];
		if (!p)
			continue;
		size_t j = obj_hash(p) & (cap - 1);
		while (slot[j])
			j = (j + 1) & (cap - 1);
		slot[j] = p;
	}
	free(t->slot);
	t->slot = slot;
	t->cap = cap;
	return 0;
}

/* Make room for one more element (load factor at most 3/4). */
static int ptab_reserve(struct ptab *t)
{
	if ((t->n + 1) * 4 <= t->cap * 3)
		return 0;
	return ptab_resize(t, t->cap ? t->cap * 2 : 64);
}

/* Insert p at slot i, which a failed lookup returned. */
static void ptab_put(struct ptab *t, size_t i, void *p)
{
	t->slot[i] = p;
	t->n++;
}

static void ptab_remove(struct ptab *t, void *p)
{
	size_t mask = t->cap - 1;
	size_t i = obj_hash(p) & mask;
	while (t->slot[i] != p)
		i = (i + 1) & mask;
	/* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		void *q = t->slot[j];
		if (!q)
			break;
		size_t home = obj_hash(q) & mask;
		/* q may move into the hole at i unless its home lies cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			t->slot[i] = q;
			i = j;
		}
	}
	t->slot[i] = NULL;
	t->n--;
	/* Shrink so that memory follows the number of live elements under churn. */
	if (t->cap > 64 && t->n * 8 < t->cap)
		(void)ptab_resize(t, t->cap / 2);
}

/* ---- the store -------------------------------------------------------------------- */

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct jp_label *)a)->name, ((const struct jp_label *)b)->name);
}

static int tmp_reserve(struct jp_store *s, size_t n)
{
	if (n <= s->tmp_cap)
		return 0;
	size_t cap = s->tmp_cap ? s->tmp_cap : 16;
	while (cap < n)
		cap *= 2;
	struct jp_label *tmp = realloc(s->tmp, cap * sizeof *tmp);
	if (!tmp)
		return -ENOMEM;
	s->tmp = tmp;
	struct jp_label *merged = realloc(s->merged, cap * sizeof *merged);
	if (!merged)
		return -ENOMEM;
	s->merged = merged;
	uint64_t *th = realloc(s->tmp_hash, 2 * cap * sizeof *th);
	if (!th)
		return -ENOMEM;
	s->tmp_hash = th;
	uint64_t *mh = realloc(s->merged_hash, 2 * cap * sizeof *mh);
	if (!mh)
		return -ENOMEM;
	s->merged_hash = mh;
	s->tmp_cap = cap;
	return 0;
}

/* Resize cur and live together; cap must stay >= nseries. */
static int arrays_resize(struct jp_store *s, size_t cap)
{
	struct jp_round_sample *cur = realloc(s->cur, cap * sizeof *cur);
	if (!cur)
		return -ENOMEM;
	s->cur = cur;
	struct sp **live = realloc(s->live, cap * sizeof *live);
	if (!live)
		return -ENOMEM;
	s->live = live;
	s->cap = cap;
	return 0;
}

static void common_release(struct jp_store *s)
{
	for (size_t i = 0; i < s->ncommon; i++) {
		jp_unintern(s->common[i].name);
		jp_unintern(s->common[i].value);
	}
	free(s->common);
	free(s->common_hash);
	s->common = NULL;
	s->common_hash = NULL;
	s->ncommon = 0;
}

int jp_store_set_common(struct jp_store *s, const struct jp_label *common, size_t ncommon)
{
	struct jp_label *c = NULL;
	uint64_t *ch = NULL;
	size_t n = 0;
	if (ncommon) {
		c = calloc(ncommon, sizeof *c);
		ch = calloc(2 * ncommon, sizeof *ch);
		if (!c || !ch)
			goto nomem;
	}
	for (size_t i = 0; i < ncommon; i++) {
		if (!common[i].name || !common[i].name[0])
			goto inval;
		if (!common[i].value || !common[i].value[0])
			continue;   /* docs/reference/remote-write.md: no empty values */
		c[n++] = common[i];
	}
	if (n > 1)
		qsort(c, n, sizeof *c, label_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(c[i - 1].name, c[i].name) == 0)
			goto inval;
	for (size_t i = 0; i < n; i++) {
		size_t ln = strlen(c[i].name), lv = strlen(c[i].value);
		ch[2 * i] = jp_intern_hash(c[i].name, ln);
		ch[2 * i + 1] = jp_intern_hash(c[i].value, lv);
		const char *name = jp_intern_hashed(c[i].name, ln, ch[2 * i]);
		const char *value = name ? jp_intern_hashed(c[i].value, lv, ch[2 * i + 1]) : NULL;
		if (!value) {
			if (name)
				jp_unintern(name);
			for (size_t k = 0; k < i; k++) {
				jp_unintern(c[k].name);
				jp_unintern(c[k].value);
			}
			goto nomem;
		}
		c[i].name = name;
		c[i].value = value;
	}
	common_release(s);
	s->common = c;
	s->common_hash = ch;
	s->ncommon = n;
	s->generation++;
	return 0;
inval:
	free(c);
	free(ch);
	return -EINVAL;
nomem:
	free(c);
	free(ch);
	return -ENOMEM;
}

struct jp_store *jp_store_create(const struct jp_label *common, size_t ncommon, size_t ring_len)
{
	if (ring_len < 1 || ring_len > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	struct jp_store *s = calloc(1, sizeof *s);
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->ring_len = ring_len;
	s->next_id = 1;
	s->round = 1;
	int r = jp_store_set_common(s, common, ncommon);
	if (r == 0)
		r = arrays_resize(s, 64);
	if (r) {
		jp_store_destroy(s);
		errno = -r;
		return NULL;
	}
	return s;
}

static void series_free(struct jp_store *s, struct sp *p)
{
	ptab_remove(&s->series, p);
	for (size_t i = 0; i < p->pub.nlabels; i++) {
		jp_unintern(p->labels[i].name);
		jp_unintern(p->labels[i].value);
	}
	s->series_bytes -= chunk_bytes(p);
	s->nseries--;
	s->made_or_freed++;
	free(p);
}

void jp_store_destroy(struct jp_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->series.cap; i++) {
		struct sp *p = s->series.slot[i];
		if (!p)
			continue;
		for (size_t k = 0; k < p->pub.nlabels; k++) {
			jp_unintern(p->labels[k].name);
			jp_unintern(p->labels[k].value);
		}
		free(p);
	}
	free(s->series.slot);
	common_release(s);
	/* Every string is referenced by a series or the common labels, so none is left. */
	free(s->cur);
	free(s->live);
	free(s->tmp);
	free(s->tmp_hash);
	free(s->merged);
	free(s->merged_hash);
	free(s);
}

static bool labels_equal(const struct sp *p, const struct jp_label *l, size_t n)
{
	if (p->pub.nlabels != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct jp_label *a = &p->labels[i];
		if (a->name != l[i].name && strcmp(a->name, l[i].name))
			return false;
		if (a->value != l[i].value && strcmp(a->value, l[i].value))
			return false;
	}
	return true;
}

static struct sp *series_new(struct jp_store *s, const struct jp_label *l, const uint64_t *lh,
			     size_t n, uint64_t h)
{
	size_t size = sizeof(struct sp) + n * sizeof(struct jp_label) + s->ring_len * sizeof(struct jp_sample);
	struct sp *p = malloc(size);
	if (!p)
		return NULL;
	p->hash = h;
	p->set_round = 0;
	p->slot = 0;
	p->base = 0;
	p->pub.start_ms = 0;
	size_t i;
	for (i = 0; i < n; i++) {
		const char *name = jp_intern_hashed(l[i].name, strlen(l[i].name), lh[2 * i]);
		const char *value = name ? jp_intern_hashed(l[i].value, strlen(l[i].value), lh[2 * i + 1]) : NULL;
		if (!value) {
			if (name)
				jp_unintern(name);
			break;
		}
		p->labels[i].name = name;
		p->labels[i].value = value;
	}
	if (i < n) {
		while (i--) {
			jp_unintern(p->labels[i].name);
			jp_unintern(p->labels[i].value);
		}
		free(p);
		return NULL;
	}
	p->pub.id = s->next_id++;
	/* Ids are 32 bits wide and never reused; skipping 0 keeps them > 0 should a process
	 * ever create four billion series. */
	if (s->next_id == 0)
		s->next_id = 1;
	p->pub.nlabels = (uint16_t)n;
	p->pub.labels = p->labels;
	p->pub.name = NULL;
	for (i = 0; i < n; i++)
		if (strcmp(p->labels[i].name, "__name__") == 0)
			p->pub.name = p->labels[i].value;
	p->pub.ring_head = 0;
	p->pub.ring_count = 0;
	p->pub.ring = (struct jp_sample *)(p->labels + n);
	s->series_bytes += chunk_bytes(p);
	return p;
}

struct jp_series *jp_store_get(struct jp_store *s, const char *name,
			       const struct jp_label *labels, size_t nlabels)
{
	if (!name || !name[0] || (nlabels && !labels)) {
		errno = EINVAL;
		return NULL;
	}
	if (tmp_reserve(s, nlabels + 1 + s->ncommon)) {
		errno = ENOMEM;
		return NULL;
	}
	/* The series' own labels plus __name__, empty values dropped, sorted. */
	struct jp_label *t = s->tmp;
	size_t n = 0;
	t[n++] = (struct jp_label){ "__name__", name };
	for (size_t i = 0; i < nlabels; i++) {
		if (!labels[i].name || !labels[i].name[0]) {
			errno = EINVAL;
			return NULL;
		}
		if (!labels[i].value || !labels[i].value[0])
			continue;
		t[n++] = labels[i];
	}
	if (n <= 16) {
		for (size_t i = 1; i < n; i++) {
			struct jp_label x = t[i];
			size_t j = i;
			while (j > 0 && strcmp(t[j - 1].name, x.name) > 0) {
				t[j] = t[j - 1];
				j--;
			}
			t[j] = x;
		}
	} else {
		qsort(t, n, sizeof *t, label_cmp);
	}
	for (size_t i = 1; i < n; i++) {
		if (strcmp(t[i - 1].name, t[i].name) == 0) {
			errno = EINVAL;
			return NULL;
		}
	}
	/* Merge in the common labels; on a name clash the series' own label wins. */
	struct jp_label *m = s->merged;
	uint64_t *mh = s->merged_hash;
	size_t nm = 0, a = 0, b = 0;
	while (a < n || b < s->ncommon) {
		int c = a == n ? 1 : b == s->ncommon ? -1 : strcmp(t[a].name, s->common[b].name);
		if (c <= 0) {
			m[nm] = t[a];
			mh[2 * nm] = jp_intern_hash(t[a].name, strlen(t[a].name));
			mh[2 * nm + 1] = jp_intern_hash(t[a].value, strlen(t[a].value));
			nm++;
			a++;
			if (c == 0)
				b++;
		} else {
			m[nm] = s->common[b];
			mh[2 * nm] = s->common_hash[2 * b];
			mh[2 * nm + 1] = s->common_hash[2 * b + 1];
			nm++;
			b++;
		}
	}
	if (nm > UINT16_MAX) {
		errno = EINVAL;
		return NULL;
	}
	uint64_t h = set_hash(mh, nm);

	struct ptab *tab = &s->series;
	if (ptab_reserve(tab)) {
		errno = ENOMEM;
		return NULL;
	}
	size_t mask = tab->cap - 1;
	size_t i = h & mask;
	for (struct sp *p; (p = tab->slot[i]); i = (i + 1) & mask)
		if (p->hash == h && labels_equal(p, m, nm))
			return &p->pub;

	if (s->nseries + 1 > s->cap && arrays_resize(s, s->cap + s->cap / 2)) {
		errno = ENOMEM;
		return NULL;
	}
	struct sp *p = series_new(s, m, mh, nm, h);
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	/* Interning may have grown the string table but never touches the series table,
	 * so slot i is still the free slot that ends this probe chain. */
	ptab_put(tab, i, p);
	s->nseries++;
	s->made_or_freed++;
	s->live[s->nlive + s->nfresh++] = p;
	if (s->resume.lookup) {
		double base = 0;
		int64_t start = 0;
		if (s->resume.lookup(s->resume.arg, &p->pub, &base, &start) == 1) {
			p->base = base;
			p->pub.start_ms = start;
		}
	}
	return &p->pub;
}

void jp_store_set_resume(struct jp_store *s, const struct jp_store_resume *r)
{
	s->resume = r ? *r : (struct jp_store_resume){0};
}


void jp_store_begin(struct jp_store *s, int64_t ts_ms)
{
	s->ts_ms = ts_ms;
}

static inline void ring_push(struct jp_series *r, size_t ring_len, int64_t ts_ms, double v)
{
	uint32_t idx;
	if (r->ring_count < ring_len) {
		idx = r->ring_head + r->ring_count;
		if (idx >= ring_len)
			idx -= (uint32_t)ring_len;
		r->ring_count++;
	} else {
		idx = r->ring_head;
		r->ring_head = idx + 1 == ring_len ? 0 : idx + 1;
	}
	r->ring[idx].ts_ms = ts_ms;
	r->ring[idx].value = v;
}

void jp_store_set(struct jp_store *s, struct jp_series *series, double value)
{
	struct sp *p = container_of(series, struct sp, pub);
	value += p->base;   /* 0 unless the series resumed a counter (jp_store_set_resume) */
	if (p->set_round == s->round) {
		s->cur[p->slot].value = value;
		/* The newest ring entry is this round's. */
		uint32_t idx = series->ring_head + series->ring_count - 1;
		if (idx >= s->ring_len)
			idx -= (uint32_t)s->ring_len;
		series->ring[idx].value = value;
		return;
	}
	if (!series->start_ms)
		series->start_ms = s->ts_ms;
	/* cap >= nseries, and a series enters cur at most once per round: no allocation. */
	p->set_round = s->round;
	p->slot = (uint32_t)s->ncur;
	s->cur[s->ncur].series = series;
	s->cur[s->ncur].value = value;
	s->cur[s->ncur].id = series->id;
	s->ncur++;
	/* The ring is written now, while the series is in the cache, not in a second pass
	 * over every series at commit. */
	ring_push(series, s->ring_len, s->ts_ms, value);
}

int jp_store_commit(struct jp_store *s, jp_store_emit_cb emit, void *arg)
{
	size_t nset = s->ncur;
	size_t nunset = 0;

	/* Every series set this round was live or fresh, and each is in cur once: when the
	 * counts match, all were set and nothing goes stale, which is the steady state; the
	 * scans below would only touch every series' memory again. */
	if (nset != s->nlive + s->nfresh) {
		/* docs/reference/metrics.md: one stale marker for each series that was live and is not any more. */
		double stale = jp_stale_nan();
		for (size_t i = 0; i < s->nlive; i++) {
			struct sp *p = s->live[i];
			if (p->set_round != s->round) {
				s->cur[s->ncur].series = &p->pub;
				s->cur[s->ncur].id = p->pub.id;
				s->cur[s->ncur].value = stale;
				s->ncur++;
			}
		}
		/* A series created this round but never set has emitted nothing: no marker. */
		for (size_t i = s->nlive; i < s->nlive + s->nfresh; i++)
			if (s->live[i]->set_round != s->round)
				s->live[s->nlive + nunset++] = s->live[i];
	}

	int rc = 0;
	if (emit)
		rc = emit(s->ts_ms, s->cur, s->ncur, arg);

	for (size_t i = nset; i < s->ncur; i++)
		series_free(s, container_of(s->cur[i].series, struct sp, pub));
	for (size_t i = 0; i < nunset; i++)
		series_free(s, s->live[s->nlive + i]);
	s->nfresh = 0;

	for (size_t i = 0; i < nset; i++)
		s->live[i] = container_of(s->cur[i].series, struct sp, pub);
	s->nlive = nset;
	s->ncur = 0;
	s->commits++;
	s->round++;
	if (s->round == 0)
		s->round = 1;   /* 0 means "never set" */

	/* Give memory back after a burst of churn; keep room to double. */
	if (s->cap > 64 && s->nseries * 4 < s->cap) {
		size_t cap = s->cap;
		while (cap > 64 && s->nseries * 4 < cap)
			cap /= 2;
		(void)arrays_resize(s, cap);
	}
	return rc;
}

int jp_store_foreach(struct jp_store *s, int (*cb)(const struct jp_series *series, void *arg), void *arg)
{
	for (size_t i = 0; i < s->nlive; i++) {
		int r = cb(&s->live[i]->pub, arg);
		if (r)
			return r;
	}
	return 0;
}

int jp_store_foreach_set(struct jp_store *s, int (*cb)(const struct jp_series *series, double value, void *arg),
			 void *arg)
{
	for (size_t i = 0; i < s->ncur; i++) {
		int r = cb(s->cur[i].series, s->cur[i].value, arg);
		if (r)
			return r;
	}
	return 0;
}

uint64_t jp_store_series_churn(const struct jp_store *s)
{
	return s->made_or_freed;
}

size_t jp_store_live_series(const struct jp_store *s)
{
	return s->nlive;
}

size_t jp_store_memory_bytes(const struct jp_store *s)
{
	return chunk_bytes((void *)s) + s->series_bytes + jp_intern_bytes() +
	       chunk_bytes(s->series.slot) +
	       chunk_bytes(s->cur) + chunk_bytes(s->live) +
	       chunk_bytes(s->tmp) + chunk_bytes(s->tmp_hash) + chunk_bytes(s->merged) +
	       chunk_bytes(s->merged_hash) + chunk_bytes(s->common) + chunk_bytes(s->common_hash);
}

const struct jp_sample *jp_series_latest(const struct jp_series *series)
{
	if (!series->ring_count)
		return NULL;
	/* ring_head only moves once the ring is full, so the newest sample sits just before
	 * the head, or at ring_count - 1 while the head is still 0. */
	uint32_t idx = series->ring_head ? series->ring_head - 1 : series->ring_count - 1;
	return &series->ring[idx];
}

uint64_t jp_store_round(const struct jp_store *s)
{
	return s->commits;
}

uint64_t jp_store_generation(const struct jp_store *s)
{
	return s->generation;
}
