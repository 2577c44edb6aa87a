/* SPDX-License-Identifier: Apache-2.0 */
/* Refcounted interned strings, one table per process (util/intern.h). Open addressing with
 * linear probing and backward-shift deletion; the table shrinks as strings go. */
#include "util/hash.h"
#include "util/intern.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

struct istr {
	uint64_t hash;
	uint32_t refs;
	uint32_t len;
	char str[];
};

static struct {
	struct istr **slot;
	size_t cap, n;
	size_t bytes;
} tab;

/* The allocator overhead glibc adds to each chunk, for honest memory accounting. */
static size_t chunk_bytes(void *p)
{
	return p ? malloc_usable_size(p) + sizeof(size_t) : 0;
}


uint64_t jp_intern_hash(const char *s, size_t n)
{
	uint64_t h = 0x243f6a8885a308d3ULL ^ (uint64_t)n;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		h = jp_mix64(h ^ w);
		s += 8;
		n -= 8;
	}
	uint64_t w = 0;
	memcpy(&w, s, n);
	return jp_mix64(h ^ w ^ 0xa5);
}

static int resize(size_t cap)
{
	struct istr **slot = calloc(cap, sizeof *slot);
	if (!slot)
		return -ENOMEM;
	for (size_t i = 0; i < tab.cap; i++) {
		struct istr *e = tab.slot[i];
		if (!e)
			continue;
		size_t j = e->hash & (cap - 1);
		while (slot[j])
			j = (j + 1) & (cap - 1);
		slot[j] = e;
	}
	free(tab.slot);
	tab.slot = slot;
	tab.cap = cap;
	return 0;
}

const char *jp_intern_hashed(const char *s, size_t len, uint64_t h)
{
	if (len > UINT32_MAX)
		return NULL;
	if ((tab.n + 1) * 4 > tab.cap * 3 && resize(tab.cap ? tab.cap * 2 : 256))
		return NULL;
	size_t mask = tab.cap - 1, i = h & mask;
	for (struct istr *e; (e = tab.slot[i]); i = (i + 1) & mask) {
		if (e->hash == h && e->len == len && memcmp(e->str, s, len) == 0) {
			e->refs++;
			return e->str;
		}
	}
	struct istr *e = malloc(sizeof *e + len + 1);
	if (!e)
		return NULL;
	e->hash = h;
	e->refs = 1;
	e->len = (uint32_t)len;
	memcpy(e->str, s, len);
	e->str[len] = '\0';
	tab.slot[i] = e;
	tab.n++;
	tab.bytes += chunk_bytes(e);
	return e->str;
}

const char *jp_intern(const char *s, size_t len)
{
	return jp_intern_hashed(s, len, jp_intern_hash(s, len));
}

const char *jp_intern_ref(const char *s)
{
	container_of(s, struct istr, str)->refs++;
	return s;
}

void jp_unintern(const char *s)
{
	if (!s)
		return;
	struct istr *e = container_of(s, struct istr, str);
	if (--e->refs)
		return;
	size_t mask = tab.cap - 1, i = e->hash & mask;
	while (tab.slot[i] != e)
		i = (i + 1) & mask;
	/* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		struct istr *q = tab.slot[j];
		if (!q)
			break;
		size_t home = q->hash & mask;
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			tab.slot[i] = q;
			i = j;
		}
	}
	tab.slot[i] = NULL;
	tab.n--;
	tab.bytes -= chunk_bytes(e);
	free(e);
	if (tab.n == 0) {
		free(tab.slot);
		tab.slot = NULL;
		tab.cap = 0;
	} else if (tab.cap > 256 && tab.n * 8 < tab.cap) {
		(void)resize(tab.cap / 2);
	}
}

size_t jp_intern_bytes(void)
{
	return tab.bytes + chunk_bytes(tab.slot);
}

size_t jp_intern_count(void)
{
	return tab.n;
}
