/* SPDX-License-Identifier: Apache-2.0 */
/* The queue's series definitions (remote/queue_internal.h): a SERIES record's labels,
 * interned so that a series found in several segments is one definition, with strings
 * from the process's table (util/intern.h); and each segment's map from its ids to them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "remote/queue_internal.h"
#include "util/buf.h"
#include "util/intern.h"

/* Whether the serialised labels key[0..keylen) (u32 nlabels, then u32-length-prefixed
 * names and values, as validated by jpq_series_valid) are the def's labels. Comparing
 * against the labels themselves saves keeping a second copy of every label set. */
static int def_matches(const struct qdef *d, const uint8_t *key, size_t keylen)
{
	if (d->keylen != keylen || jp_get_u32(key) != d->pub.nlabels)
		return 0;
	size_t off = 4;
	for (uint32_t i = 0; i < d->pub.nlabels; i++) {
		const char *s[2] = {d->pub.labels[i].name, d->pub.labels[i].value};
		for (int k = 0; k < 2; k++) {
			uint32_t l = jp_get_u32(key + off);
			off += 4;
			/* strncmp stops at the NUL of a shorter string: key holds none (jpq_series_valid). */
			if (strncmp((const char *)key + off, s[k], l) != 0 || s[k][l] != '\0')
				return 0;
			off += l;
		}
	}
	return 1;
}

/* --- def interning and per-segment maps ---------------------------------------- */

/* Check a SERIES payload: id > 0, labels sorted bytewise by name, unique, no empty
 * names or values, no NUL bytes, __name__ present (docs/reference/remote-write.md), nothing left over. */
int jpq_series_valid(const uint8_t *p, size_t len, uint32_t *id, uint32_t *nlabels,
			size_t *strbytes, size_t *lablen, int64_t *start_ms)
{
	if (len < 8)
		return 0;
	*id = jp_get_u32(p);
	uint32_t nl = jp_get_u32(p + 4);
	if (*id == 0 || nl == 0 || nl > (len - 8) / 10)
		return 0;
	size_t off = 8, total = 0;
	const uint8_t *prev = NULL;
	size_t prevlen = 0;
	int has_name = 0;
	for (uint32_t i = 0; i < nl; i++) {
		const uint8_t *s[2];
		size_t sl[2];
		for (int k = 0; k < 2; k++) {
			if (len - off < 4)
				return 0;
			uint32_t l = jp_get_u32(p + off);
			off += 4;
			if (l == 0 || l > len - off || memchr(p + off, 0, l))
				return 0;
			s[k] = p + off;
			sl[k] = l;
			off += l;
			total += l + 1;
		}
		if (prev) {
			size_t m = prevlen < sl[0] ? prevlen : sl[0];
			int c = memcmp(prev, s[0], m);
			if (c > 0 || (c == 0 && prevlen >= sl[0]))
				return 0;
		}
		if (sl[0] == 8 && memcmp(s[0], "__name__", 8) == 0)
			has_name = 1;
		prev = s[0];
		prevlen = sl[0];
	}
	/* The labels may be followed by the series' start time (8 bytes, since it was added;
	 * records written before carry none). */
	if ((off != len && off + 8 != len) || !has_name)
		return 0;
	*nlabels = nl;
	*strbytes = total;
	*lablen = off;
	*start_ms = off + 8 == len ? (int64_t)jp_get_u64(p + off) : 0;
	return 1;
}

static void def_unref(struct jp_queue *q, struct qdef *d)
{
	if (--d->refs)
		return;
	struct qdef **pp = &q->buckets[d->hash & (q->nbuckets - 1)];
	while (*pp != d)
		pp = &(*pp)->next;
	*pp = d->next;
	q->ndefs--;
	for (uint32_t i = 0; i < d->pub.nlabels; i++) {
		jp_unintern(d->pub.labels[i].name);
		jp_unintern(d->pub.labels[i].value);
	}
	free(d->pub.enc);
	free(d);
}

static int intern_grow(struct jp_queue *q)
{
	size_t n = q->nbuckets ? q->nbuckets * 2 : 1024;
	struct qdef **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	for (size_t i = 0; i < q->nbuckets; i++) {
		struct qdef *d = q->buckets[i], *next;
		for (; d; d = next) {
			next = d->next;
			d->next = nb[d->hash & (n - 1)];
			nb[d->hash & (n - 1)] = d;
		}
	}
	free(q->buckets);
	q->buckets = nb;
	q->nbuckets = n;
	return 0;
}

/* Find or create the def of a valid SERIES payload; returns it with one more ref. */
static struct qdef *def_get(struct jp_queue *q, const uint8_t *p, size_t len, uint32_t nl,
			    size_t strbytes, int64_t start_ms)
{
	const uint8_t *key = p + 4;
	size_t keylen = len - 4;
	uint32_t h = hash_bytes(key, keylen);
	if (q->nbuckets) {
		for (struct qdef *d = q->buckets[h & (q->nbuckets - 1)]; d; d = d->next) {
			if (d->hash == h && def_matches(d, key, keylen)) {
				d->refs++;
				if (start_ms)
					d->pub.start_ms = start_ms;
				return d;
			}
		}
	}
	if (q->ndefs >= q->nbuckets && intern_grow(q) < 0)
		return NULL;
	/* The label strings are the process's interned ones (util/intern.h): a series that
	 * is also in the store is not stored twice. */
	(void)strbytes;
	struct qdef *d = calloc(1, sizeof(struct qdef) + nl * sizeof(struct jp_label));
	if (!d)
		return NULL;
	struct jp_label *labels = (struct jp_label *)(d + 1);
	size_t off = 8;
	for (uint32_t i = 0; i < nl; i++) {
		for (int k = 0; k < 2; k++) {
			uint32_t l = jp_get_u32(p + off);
			off += 4;
			const char *str = jp_intern((const char *)p + off, l);
			if (!str) {
				for (uint32_t j = 0; j < i; j++) {
					jp_unintern(labels[j].name);
					jp_unintern(labels[j].value);
				}
				if (k == 1)
					jp_unintern(labels[i].name);
				free(d);
				return NULL;
			}
			if (k == 0)
				labels[i].name = str;
			else
				labels[i].value = str;
			off += l;
		}
	}
	d->pub.nlabels = nl;
	d->pub.labels = labels;
	d->pub.start_ms = start_ms;
	d->hash = h;
	d->refs = 1;
	d->keylen = keylen;
	d->next = q->buckets[h & (q->nbuckets - 1)];
	q->buckets[h & (q->nbuckets - 1)] = d;
	q->ndefs++;
	return d;
}

static inline size_t id_slot(uint32_t id, size_t cap)
{
	return (size_t)((id * 0x9E3779B1u) & (cap - 1));
}

struct qdef *jpq_idmap_get(const struct idmap *m, uint32_t id)
{
	if (id < m->ndense && m->dense[id])
		return m->dense[id];
	if (!m->cap)
		return NULL;
	for (size_t i = id_slot(id, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (m->ents[i].id == id)
			return m->ents[i].def;
		if (m->ents[i].id == 0)
			return NULL;
	}
}

/* Insert id -> def if id is new (the map takes the caller's ref); returns 1 if
 * inserted, 0 if id was there already, -ENOMEM. */
static int idmap_put(struct idmap *m, uint32_t id, struct qdef *def)
{
	if (jpq_idmap_get(m, id))
		return 0;
	if (id < m->ndense || (uint64_t)id < 4 * (uint64_t)m->n + 4096) {
		if (id >= m->ndense) {
			size_t nd = m->ndense ? m->ndense : 1024;
			while (nd <= id)
				nd *= 2;
			struct qdef **p = realloc(m->dense, nd * sizeof(*p));
			if (!p)
				return -ENOMEM;
			memset(p + m->ndense, 0, (nd - m->ndense) * sizeof(*p));
			m->dense = p;
			m->ndense = nd;
		}
		m->dense[id] = def;
		m->n++;
		return 1;
	}
	if ((m->nhash + 1) * 2 > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		struct idmap_ent *ne = calloc(ncap, sizeof(*ne));
		if (!ne)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->ents[i].id)
				continue;
			size_t j = id_slot(m->ents[i].id, ncap);
			while (ne[j].id)
				j = (j + 1) & (ncap - 1);
			ne[j] = m->ents[i];
		}
		free(m->ents);
		m->ents = ne;
		m->cap = ncap;
	}
	size_t i = id_slot(id, m->cap);
	for (; m->ents[i].id; i = (i + 1) & (m->cap - 1))
		if (m->ents[i].id == id)
			return 0;
	m->ents[i].id = id;
	m->ents[i].def = def;
	m->nhash++;
	m->n++;
	return 1;
}

static void idmap_clear(struct jp_queue *q, struct idmap *m)
{
	for (size_t i = 0; i < m->ndense; i++)
		if (m->dense[i])
			def_unref(q, m->dense[i]);
	for (size_t i = 0; i < m->cap; i++)
		if (m->ents[i].id)
			def_unref(q, m->ents[i].def);
	free(m->dense);
	free(m->ents);
	memset(m, 0, sizeof(*m));
}

void jpq_seg_free(struct jp_queue *q, struct seg *s)
{
	if (!s)
		return;
	idmap_clear(q, &s->map);
	free(s->holes);
	free(s);
}

/* Load a SERIES record into s's map. Invalid definitions (which our writer never
 * produces) are skipped: their samples are then skipped by the reader. */
void jpq_load_series(struct jp_queue *q, struct seg *s, const uint8_t *p, size_t len)
{
	uint32_t id, nl;
	size_t strbytes, lablen;
	int64_t start_ms;
	if (!jpq_series_valid(p, len, &id, &nl, &strbytes, &lablen, &start_ms)) {
		jp_log_rl(&q->rl_read, JP_LOG_WARN, MOD, "%s: segment %" PRIu64 ": skipping an invalid series definition",
			  q->dir, s->num);
		return;
	}
	if (jpq_idmap_get(&s->map, id))
		return;
	struct qdef *d = def_get(q, p, lablen, nl, strbytes, start_ms);
	if (!d || idmap_put(&s->map, id, d) != 1) {
		if (d)
			def_unref(q, d);
		jp_log_rl(&q->rl_read, JP_LOG_ERROR, MOD, "%s: out of memory loading series definitions", q->dir);
	}
}

