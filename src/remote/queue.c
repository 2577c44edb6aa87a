/* SPDX-License-Identifier: Apache-2.0 */
/* A crash-safe, checksummed on-disk queue of samples for one remote (docs/reference/remote-write.md, docs/reference/configuration.md). */
#include "remote/queue.h"
#include "util/hash.h"
#include "util/intern.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"

#define MOD "queue"

/*
 * On-disk format (all integers little-endian):
 *
 *   <dir>/NNNNNNNNNNNNNNNN.seg   segments, 16 decimal digits, numbered increasingly
 *   <dir>/ack                    the durable ack position (two alternating slots)
 *
 * A segment starts with the 8-byte magic "JPQSEG01", then records:
 *
 *   u32 len | u32 type | u32 crc | payload[len]
 *
 * crc is CRC32C over the 8 bytes len|type and then the payload, so a flipped length
 * or type is caught as well as a flipped payload byte. Record types:
 *
 *   SERIES  u32 id, u32 nlabels, nlabels x (u32 nlen, name, u32 vlen, value)
 *   SAMPLES i64 ts_ms, u32 count, count x (u32 id, u64 value bits)
 *
 * Series ids are those of struct jp_series and mean something only inside one segment:
 * a segment holds the SERIES record of an id before the first SAMPLES record that uses
 * it, and a process never appends to a segment an earlier process wrote. Values are
 * stored as raw bits so the stale-marker NaN survives bit for bit (docs/reference/remote-write.md).
 *
 * The ack file holds two slots of ACK_SLOT bytes at offsets 0 and ACK_SLOT; each is
 * "JPQACK02", u64 seq, u64 segment, u64 offset, u32 index, u32 crc (CRC32C of the 36
 * bytes before it). Write number seq goes to slot seq % 2 and the valid slot with the
 * higher seq wins, so a write torn by a power loss leaves the previous position intact.
 * The file stays open: an ack costs one pwrite, where a temporary file, a rename and two
 * fsyncs cost several times more on every batch sent. The pwrite alone survives a crash
 * of the process (SIGKILL): the page cache outlives it. Against power loss the ack file is
 * fdatasync'ed at most ACK_SYNC_MS after an ack (with the next ack past that age, with the
 * next append, or at close), so a power cut can make the queue resend what was acked
 * in that last stretch: at most about a second of batches, never a loss.
 */

#define SEG_MAGIC "JPQSEG01"
#define SEG_HDR 8u
#define REC_HDR 12u
#define REC_SERIES 1u
#define REC_SAMPLES 2u
#define SAMPLE_BYTES 12u
#define SAMPLES_FIXED 12u
/* Records are bounded so that a garbage length can never make us allocate or read
 * gigabytes; a round larger than this is split over several SAMPLES records. */
#define MAX_REC_LEN (64u << 20)
#define MAX_SAMPLES_PER_REC ((MAX_REC_LEN - SAMPLES_FIXED) / SAMPLE_BYTES)
#define ACK_MAGIC "JPQACK02"
#define ACK_LEN 40u
#define ACK_SLOT 64u
#define ACK_SYNC_MS 1000u
#define SEG_MIN_BYTES (64u << 10)
#define SEG_MAX_BYTES (32u << 20)
/* Reads are buffered in windows of this size (a 10,000-sample round is 120 KB). */
#define WIN_CHUNK (256u << 10)
#define DEFS_BUF_KEEP (256u << 10)
#define FIFO_MAX 1024

/* Every read of a segment or of the ack file goes through this pointer, so that tests
 * can inject I/O errors (jp_queue_set_pread). */
static ssize_t (*q_pread)(int fd, void *buf, size_t len, off_t off) = pread;

void jp_queue_set_pread(ssize_t (*fn)(int fd, void *buf, size_t len, off_t off))
{
	q_pread = fn ? fn : pread;
}

/* --- CRC32C (Castagnoli, reflected polynomial 0x82F63B78), slice-by-8 ---------- */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;   /* use the SSE4.2 instruction (x86-64 CPUs that have it) */
#if defined(__x86_64__)
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t n);
#endif

static void crc_init(void)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2");
#endif
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
#if defined(__x86_64__)
	/* The check value of CRC32C over "123456789" (RFC 3720 appendix B.4). */
	if (crc_hw && crc32c_hw(0, (const uint8_t *)"123456789", 9) != 0xE3069283u)
		crc_hw = 0;
#endif
}

static inline uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	       (uint64_t)p[7] << 56;
}

static inline uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

/* Continue a CRC32C: pass 0 to start. */
#if defined(__x86_64__)
/* The SSE4.2 instruction computes the same CRC32C about ten times faster than the tables;
 * every round's samples are checksummed when written and again when read. */

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t c = ~crc;
	while (n && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		n--;
	}
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		n -= 8;
	}
	while (n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

static uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
	const uint8_t *p = data;
#if defined(__x86_64__)
	if (crc_hw)
		return crc32c_hw(crc, p, n);
#endif
	crc = ~crc;
	while (n && ((uintptr_t)p & 7)) {
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		n--;
	}
	while (n >= 8) {
		uint64_t w = get_u64(p) ^ crc;
		crc = crc_tab[7][w & 0xff] ^ crc_tab[6][(w >> 8) & 0xff] ^
		      crc_tab[5][(w >> 16) & 0xff] ^ crc_tab[4][(w >> 24) & 0xff] ^
		      crc_tab[3][(w >> 32) & 0xff] ^ crc_tab[2][(w >> 40) & 0xff] ^
		      crc_tab[1][(w >> 48) & 0xff] ^ crc_tab[0][w >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* The checksum of a record whose 12-byte header starts at hdr. */
static uint32_t rec_crc(const uint8_t *hdr, const uint8_t *payload, size_t len)
{
	return crc32c(crc32c(0, hdr, 8), payload, len);
}

/* --- series definitions ----------------------------------------------------------- */

/* A definition read from disk. Definitions are interned by their label bytes, so that
 * a series which appears in several segments (with different ids) is one def and the
 * sender can tell batches apart by def pointer. refs counts the segment maps holding it. */
struct qdef {
	struct jp_series_def pub;   /* first: batches point here */
	struct qdef *next;          /* intern hash chain */
	uint32_t hash;
	uint32_t refs;
	uint64_t gen;               /* last batch grouping that saw it */
	size_t slot;                /* its index in that batch's series array */
	size_t keylen;              /* length of the serialised labels it was made from */
};

/* Whether the serialised labels key[0..keylen) (u32 nlabels, then u32-length-prefixed
 * names and values, as validated by series_valid) are the def's labels. Comparing
 * against the labels themselves saves keeping a second copy of every label set. */
static int def_matches(const struct qdef *d, const uint8_t *key, size_t keylen)
{
	if (d->keylen != keylen || get_u32(key) != d->pub.nlabels)
		return 0;
	size_t off = 4;
	for (uint32_t i = 0; i < d->pub.nlabels; i++) {
		const char *s[2] = {d->pub.labels[i].name, d->pub.labels[i].value};
		for (int k = 0; k < 2; k++) {
			uint32_t l = get_u32(key + off);
			off += 4;
			/* strncmp stops at the NUL of a shorter string: key holds none (series_valid). */
			if (strncmp((const char *)key + off, s[k], l) != 0 || s[k][l] != '\0')
				return 0;
			off += l;
		}
	}
	return 1;
}

struct idmap_ent {
	uint32_t id;                /* 0: empty slot */
	struct qdef *def;
};

/* Segment-local id -> def. Our writer's ids are small and dense (the store numbers
 * series from 1), so they go into a plain array indexed by id, which the reader then
 * walks almost sequentially; ids far beyond the number of entries (another writer,
 * or garbage) go into an open-addressing table instead. */
struct idmap {
	struct qdef **dense;
	size_t ndense;
	struct idmap_ent *ents;
	size_t cap, nhash;
	size_t n;             /* entries in both */
};

/* A region of a segment that failed its checksum or framing between two valid
 * records: readers jump from off to end. */
struct hole {
	uint64_t off, end;
};

struct seg {
	uint64_t num;
	uint64_t size;        /* bytes of valid records (plus the magic) */
	uint64_t fsize;       /* bytes on disk (more than size only if a cut failed) */
	uint64_t nsamples;    /* samples in the valid records */
	uint64_t defs_upto;   /* SERIES records before this offset are in map */
	struct idmap map;
	struct hole *holes;   /* sorted by offset */
	size_t nholes;
	/* Not read yet: an I/O error or an allocation failure stopped its scan at open.
	 * The file is left as it is and scanned again when the reader reaches it. */
	int unscanned;
	/* Set by the scan when the ack position lies in this segment. */
	int ack_found;
	uint64_t ack_before;  /* samples of this segment before the ack position */
	uint64_t ack_moved;   /* nonzero: the ack lay inside a hole and moves to this offset */
};

/* A window over one file read with pread, for scanning records without a syscall
 * per record. */
struct win {
	int fd;
	int err;              /* the errno of the last failed read */
	uint64_t num;         /* which segment fd belongs to */
	uint8_t *buf;
	size_t cap;
	uint64_t off;
	size_t len;
};

struct fifo_ent {
	struct jp_queue_pos end;
	uint64_t before;      /* samples of end.segment before end */
};

struct jp_queue {
	char *dir;
	int dirfd;
	uint64_t max_disk_bytes;
	uint64_t seg_target;

	struct seg **segs;    /* live segment files, oldest first */
	size_t nsegs, capsegs;
	struct seg **zombies; /* dropped segments whose defs unacked batches may still use */
	size_t nzombies, capzombies;
	uint64_t disk_bytes;
	uint64_t pending;
	uint64_t dropped;
	uint64_t cuts;
	uint64_t skipped_bytes;   /* corrupt bytes between valid records, jumped over */
	uint64_t skipped_regions;
	struct jp_ratelimit rl_defer;

	/* writer */
	struct seg *wseg;     /* the segment this process appends to, or NULL */
	int wfd;
	uint64_t next_num;
	uint8_t *defined;     /* bitmap by series id: SERIES already in wseg */
	size_t defined_bytes;
	uint32_t *newids;
	size_t nnew, capnew;
	struct jp_buf wdefs, wsamples;
	struct jp_ratelimit rl_bad_series;

	/* the ack file, opened on the first ack */
	int ackfd;
	uint64_t ack_seq;
	int ack_dirty;            /* written since its last fdatasync */
	uint64_t ack_synced_ms;   /* monotonic time of that fdatasync */

	/* reader */
	struct jp_queue_pos cur, ack;
	uint64_t cur_before, ack_before;
	struct fifo_ent *fifo;
	size_t nfifo, capfifo;
	struct win rwin, swin;
	struct qdef **rd_def;
	struct jp_sample *rd_smp;
	size_t caprd, caprd_smp;
	uint64_t gen;
	struct jp_ratelimit rl_unknown_id, rl_read;

	/* interned defs */
	struct qdef **buckets;
	size_t nbuckets, ndefs;
};

/* --- small helpers ------------------------------------------------------------------ */

static int pos_cmp(const struct jp_queue_pos *a, const struct jp_queue_pos *b)
{
	if (a->segment != b->segment)
		return a->segment < b->segment ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	if (a->index != b->index)
		return a->index < b->index ? -1 : 1;
	return 0;
}

static void seg_name(char *out, size_t cap, uint64_t num)
{
	snprintf(out, cap, "%016" PRIu64 ".seg", num);
}

static int parse_seg_name(const char *s, uint64_t *num)
{
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (strcmp(s + 16, ".seg") != 0 || v == 0)
		return 0;
	*num = v;
	return 1;
}

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = jp_fnv1a(p, n);
	return (uint32_t)(h ^ (h >> 32));
}

/* --- def interning and per-segment maps ---------------------------------------- */

/* Check a SERIES payload: id > 0, labels sorted bytewise by name, unique, no empty
 * names or values, no NUL bytes, __name__ present (docs/reference/remote-write.md), nothing left over. */
static int series_valid(const uint8_t *p, size_t len, uint32_t *id, uint32_t *nlabels,
			size_t *strbytes)
{
	if (len < 8)
		return 0;
	*id = get_u32(p);
	uint32_t nl = get_u32(p + 4);
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
			uint32_t l = get_u32(p + off);
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
	if (off != len || !has_name)
		return 0;
	*nlabels = nl;
	*strbytes = total;
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
			    size_t strbytes)
{
	const uint8_t *key = p + 4;
	size_t keylen = len - 4;
	uint32_t h = hash_bytes(key, keylen);
	if (q->nbuckets) {
		for (struct qdef *d = q->buckets[h & (q->nbuckets - 1)]; d; d = d->next) {
			if (d->hash == h && def_matches(d, key, keylen)) {
				d->refs++;
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
			uint32_t l = get_u32(p + off);
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

static struct qdef *idmap_get(const struct idmap *m, uint32_t id)
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
	if (idmap_get(m, id))
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

static void seg_free(struct jp_queue *q, struct seg *s)
{
	if (!s)
		return;
	idmap_clear(q, &s->map);
	free(s->holes);
	free(s);
}

/* Load a SERIES record into s's map. Invalid definitions (which our writer never
 * produces) are skipped: their samples are then skipped by the reader. */
static void load_series(struct jp_queue *q, struct seg *s, const uint8_t *p, size_t len)
{
	uint32_t id, nl;
	size_t strbytes;
	if (!series_valid(p, len, &id, &nl, &strbytes)) {
		jp_log_rl(&q->rl_read, JP_LOG_WARN, MOD, "%s: segment %" PRIu64 ": skipping an invalid series definition",
			  q->dir, s->num);
		return;
	}
	if (idmap_get(&s->map, id))
		return;
	struct qdef *d = def_get(q, p, len, nl, strbytes);
	if (!d || idmap_put(&s->map, id, d) != 1) {
		if (d)
			def_unref(q, d);
		jp_log_rl(&q->rl_read, JP_LOG_ERROR, MOD, "%s: out of memory loading series definitions", q->dir);
	}
}

/* --- reading records ------------------------------------------------------------- */

static void win_close(struct win *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->num = 0;
	w->len = 0;
}

/* Open a segment for reading. O_NONBLOCK and O_NOFOLLOW: a FIFO or a symbolic link
 * planted under a segment's name must neither block the agent nor lead it elsewhere;
 * anything but a regular file is refused with -EBADFD. */
static int win_open(struct jp_queue *q, struct win *w, uint64_t num)
{
	if (w->fd >= 0 && w->num == num)
		return 0;
	win_close(w);
	char name[32];
	seg_name(name, sizeof(name), num);
	int fd = openat(q->dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return errno == ELOOP ? -EBADFD : -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = S_ISREG(st.st_mode) ? -errno : -EBADFD;
		close(fd);
		return e;
	}
	w->fd = fd;
	w->num = num;
	w->len = 0;
	return 0;
}

/* Bytes [off, off+len) of the window's file, or NULL (with *err) if they could not
 * be read in full. */
static const uint8_t *win_get(struct win *w, uint64_t off, size_t len, int *err)
{
	if (off >= w->off && off - w->off <= w->len && w->len - (off - w->off) >= len)
		return w->buf + (off - w->off);
	size_t want = len > WIN_CHUNK ? len : WIN_CHUNK;
	if (want > w->cap) {
		uint8_t *nb = realloc(w->buf, want);
		if (!nb) {
			*err = w->err = -ENOMEM;
			return NULL;
		}
		w->buf = nb;
		w->cap = want;
	}
	size_t got = 0;
	w->len = 0;
	w->off = off;
	while (got < want) {
		ssize_t r = q_pread(w->fd, w->buf + got, want - got, (off_t)(off + got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*err = w->err = -errno;
			w->len = 0;
			return NULL;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	w->len = got;
	if (got < len) {
		*err = w->err = -ENODATA;
		return NULL;
	}
	return w->buf;
}

struct rec {
	uint32_t len, type;
	const uint8_t *p;     /* payload */
};

enum rec_status { REC_OK, REC_END, REC_TORN, REC_BADLEN, REC_BADCRC, REC_BADBODY, REC_IOERR };

static const char *rec_status_str(enum rec_status st)
{
	switch (st) {
	case REC_TORN: return "torn record";
	case REC_BADLEN: return "impossible record length";
	case REC_BADCRC: return "checksum mismatch";
	case REC_BADBODY: return "malformed samples record";
	case REC_IOERR: return "read error";
	default: return "?";
	}
}

/* Parse the record at off in a file of limit valid bytes. verify: check the CRC and
 * the SAMPLES layout. */
static enum rec_status rec_next(struct win *w, uint64_t off, uint64_t limit, int verify, struct rec *r)
{
	int err = 0;
	if (off >= limit)
		return REC_END;
	if (limit - off < REC_HDR)
		return REC_TORN;
	const uint8_t *h = win_get(w, off, REC_HDR, &err);
	if (!h)
		return REC_IOERR;
	uint32_t len = get_u32(h), type = get_u32(h + 4), crc = get_u32(h + 8);
	if (len > MAX_REC_LEN)
		return REC_BADLEN;
	if (limit - off - REC_HDR < len)
		return REC_TORN;
	h = win_get(w, off, REC_HDR + len, &err);
	if (!h)
		return REC_IOERR;
	r->len = len;
	r->type = type;
	r->p = h + REC_HDR;
	if (!verify)
		return REC_OK;
	if (rec_crc(h, r->p, len) != crc)
		return REC_BADCRC;
	if (type == REC_SAMPLES &&
	    (len < SAMPLES_FIXED || (uint64_t)get_u32(r->p + 8) * SAMPLE_BYTES != len - SAMPLES_FIXED))
		return REC_BADBODY;
	return REC_OK;
}

/* The offset after the hole of s that starts at off, or off itself. */
static uint64_t seg_skip_hole(const struct seg *s, uint64_t off)
{
	for (size_t i = 0; i < s->nholes && s->holes[i].off <= off; i++)
		if (s->holes[i].off == off)
			return s->holes[i].end;
	return off;
}

/* Samples in segment s before position (off, idx): a scan of the record headers. */
static uint64_t count_before(struct jp_queue *q, struct seg *s, uint64_t off, uint32_t idx)
{
	if (win_open(q, &q->swin, s->num) < 0)
		return 0;
	uint64_t n = 0, o = SEG_HDR;
	struct rec r;
	while ((o = seg_skip_hole(s, o)) < off && rec_next(&q->swin, o, s->size, 0, &r) == REC_OK) {
		if (r.type == REC_SAMPLES && r.len >= SAMPLES_FIXED)
			n += get_u32(r.p + 8);
		o += REC_HDR + r.len;
	}
	return n + idx;
}

/* --- segments --------------------------------------------------------------------- */

static struct seg *seg_find_ge(struct jp_queue *q, uint64_t num)
{
	for (size_t i = 0; i < q->nsegs; i++)
		if (q->segs[i]->num >= num)
			return q->segs[i];
	return NULL;
}

static struct seg *seg_find(struct jp_queue *q, uint64_t num)
{
	struct seg *s = seg_find_ge(q, num);
	return s && s->num == num ? s : NULL;
}

static struct seg *seg_next(struct jp_queue *q, const struct seg *s)
{
	return seg_find_ge(q, s->num + 1);
}

/* Unacked samples of live segment s. */
static uint64_t seg_unacked(const struct jp_queue *q, const struct seg *s)
{
	if (s->num > q->ack.segment)
		return s->nsamples;
	if (s->num == q->ack.segment)
		return s->nsamples > q->ack_before ? s->nsamples - q->ack_before : 0;
	return 0;
}

/* Remove the oldest live segment from the list and unlink its file. */
static void seg_remove_oldest(struct jp_queue *q, int keep_defs)
{
	struct seg *s = q->segs[0];
	memmove(q->segs, q->segs + 1, (q->nsegs - 1) * sizeof(*q->segs));
	q->nsegs--;
	q->disk_bytes -= s->fsize;
	char name[32];
	seg_name(name, sizeof(name), s->num);
	if (unlinkat(q->dirfd, name, 0) < 0 && errno != ENOENT)
		jp_warn(MOD, "%s/%s: cannot delete: %s", q->dir, name, strerror(errno));
	if (q->rwin.num == s->num)
		win_close(&q->rwin);
	if (q->swin.num == s->num)
		win_close(&q->swin);
	if (s == q->wseg) {
		/* Only when the caller asked for it (an empty failed segment). */
		close(q->wfd);
		q->wfd = -1;
		q->wseg = NULL;
	}
	if (keep_defs && s->map.n && jp_grow((void **)&q->zombies, &q->capzombies, q->nzombies + 1,
					  sizeof(*q->zombies)) == 0) {
		q->zombies[q->nzombies++] = s;
		return;
	}
	if (keep_defs && s->map.n) {
		/* Out of memory: keeping the defs alive matters more than the memory. */
		s->size = s->fsize = 0;
		return;
	}
	seg_free(q, s);
}

/* Delete the oldest segments while more than max_disk_bytes would be on disk after
 * adding `extra` bytes; the writer's segment is never dropped. */
static void enforce_limit(struct jp_queue *q, uint64_t extra)
{
	uint64_t nseg = 0, nsmp = 0;
	while (q->nsegs && q->segs[0] != q->wseg && q->disk_bytes + extra > q->max_disk_bytes) {
		struct seg *s = q->segs[0];
		uint64_t lost = seg_unacked(q, s);
		q->dropped += lost;
		q->pending -= lost;
		nsmp += lost;
		nseg++;
		if (q->ack.segment <= s->num) {
			q->ack = (struct jp_queue_pos){s->num + 1, 0, 0};
			q->ack_before = 0;
		}
		/* Batches already read from s may still point to its defs. */
		int inflight = q->cur.segment >= s->num && q->nfifo > 0;
		if (q->cur.segment <= s->num) {
			q->cur = (struct jp_queue_pos){s->num + 1, 0, 0};
			q->cur_before = 0;
		}
		seg_remove_oldest(q, inflight);
	}
	if (nseg)
		jp_warn(MOD, "%s: over max_disk_bytes %" PRIu64 ": dropped the %" PRIu64
			" oldest segment(s) with %" PRIu64 " unsent samples",
			q->dir, q->max_disk_bytes, nseg, nsmp);
}

static void set_seg_target(struct jp_queue *q)
{
	uint64_t t = q->max_disk_bytes / 8;
	if (t > SEG_MAX_BYTES)
		t = SEG_MAX_BYTES;
	if (t < SEG_MIN_BYTES)
		t = SEG_MIN_BYTES;
	q->seg_target = t;
}

/* --- the ack file ------------------------------------------------------------------ */

/* Make the written ack position durable (see the format comment for when). */
static int ack_sync(struct jp_queue *q)
{
	if (!q->ack_dirty || q->ackfd < 0)
		return 0;
	if (fdatasync(q->ackfd) < 0) {
		int r = -errno;
		jp_error(MOD, "%s/ack: fdatasync failed: %s (acked data may be sent again after a power loss)",
			 q->dir, strerror(-r));
		return r;
	}
	q->ack_dirty = 0;
	q->ack_synced_ms = jp_now_mono_ms();
	return 0;
}

static int ack_write(struct jp_queue *q)
{
	int r = 0;
	if (q->ackfd < 0) {
		int created = faccessat(q->dirfd, "ack", F_OK, 0) != 0;
		q->ackfd = openat(q->dirfd, "ack", O_RDWR | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW, 0644);
		if (q->ackfd < 0) {
			r = errno == ELOOP ? -EBADFD : -errno;
			goto fail;
		}
		struct stat st;
		if (fstat(q->ackfd, &st) < 0 || !S_ISREG(st.st_mode)) {
			r = S_ISREG(st.st_mode) ? -errno : -EBADFD;
			close(q->ackfd);
			q->ackfd = -1;
			goto fail;
		}
		/* A new file's directory entry must be durable too. */
		if (created && fsync(q->dirfd) < 0) {
			r = -errno;
			goto fail;
		}
	}
	uint64_t seq = q->ack_seq + 1;
	uint8_t b[ACK_LEN];
	memcpy(b, ACK_MAGIC, 8);
	put_u64(b + 8, seq);
	put_u64(b + 16, q->ack.segment);
	put_u64(b + 24, q->ack.offset);
	put_u32(b + 32, q->ack.index);
	put_u32(b + 36, crc32c(0, b, 36));
	ssize_t w;
	do {
		w = pwrite(q->ackfd, b, sizeof(b), (off_t)((seq & 1) * ACK_SLOT));
	} while (w < 0 && errno == EINTR);
	if (w != (ssize_t)sizeof(b)) {
		r = w < 0 ? -errno : -EIO;
		goto fail;
	}
	q->ack_seq = seq;
	q->ack_dirty = 1;
	if (jp_now_mono_ms() - q->ack_synced_ms >= ACK_SYNC_MS)
		return ack_sync(q);
	return 0;
fail:
	jp_error(MOD, "%s/ack: cannot persist the ack position: %s (acked data may be sent again after a restart)",
		 q->dir, strerror(-r));
	return r;
}

/* Parse one slot; 1 and *seq, *out if valid. */
static int ack_slot(const uint8_t *b, size_t n, uint64_t *seq, struct jp_queue_pos *out)
{
	if (n < ACK_LEN || memcmp(b, ACK_MAGIC, 8) != 0 || crc32c(0, b, 36) != get_u32(b + 36))
		return 0;
	/* Segment names have 16 decimal digits. */
	if (get_u64(b + 16) >= 10000000000000000ULL)
		return 0;
	*seq = get_u64(b + 8);
	out->segment = get_u64(b + 16);
	out->offset = get_u64(b + 24);
	out->index = get_u32(b + 32);
	return 1;
}

/* Read the ack file: 1 if a slot is valid, 0 if the file is missing, -1 if corrupt. */
static int ack_read(struct jp_queue *q, struct jp_queue_pos *out)
{
	int fd = openat(q->dirfd, "ack", O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		jp_error(MOD, "%s/ack: not a regular file: ignoring it (remove it so that acks can be kept)", q->dir);
		close(fd);
		return -1;
	}
	uint8_t b[2 * ACK_SLOT];
	ssize_t n = q_pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n < 0)
		return -1;
	struct jp_queue_pos p0, p1;
	uint64_t s0 = 0, s1 = 0;
	int v0 = ack_slot(b, (size_t)n, &s0, &p0);
	int v1 = (size_t)n > ACK_SLOT && ack_slot(b + ACK_SLOT, (size_t)n - ACK_SLOT, &s1, &p1);
	if (!v0 && !v1)
		return -1;
	if (v1 && (!v0 || s1 > s0)) {
		*out = p1;
		q->ack_seq = s1;
	} else {
		*out = p0;
		q->ack_seq = s0;
	}
	return 1;
}

/* --- open, recovery ------------------------------------------------------------------ */

static int mkdir_p(const char *path)
{
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	int r = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Cut segment file `name` down to `keep` bytes (or delete it when keep is 0), with
 * one log line saying what was cut and why. */
static void seg_cut(struct jp_queue *q, const char *name, uint64_t keep, uint64_t fsize,
		    const char *why, uint64_t *fsize_out)
{
	q->cuts++;
	*fsize_out = fsize;
	if (keep == 0) {
		jp_warn(MOD, "%s/%s: %s at offset 0: removing the file (%" PRIu64 " bytes)",
			q->dir, name, why, fsize);
		if (unlinkat(q->dirfd, name, 0) == 0)
			*fsize_out = 0;
		return;
	}
	jp_warn(MOD, "%s/%s: %s at offset %" PRIu64 ": cut %" PRIu64 " bytes off the tail",
		q->dir, name, why, keep, fsize - keep);
	int fd = openat(q->dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, (off_t)keep) == 0) {
		fdatasync(fd);
		*fsize_out = keep;
	} else {
		jp_warn(MOD, "%s/%s: cannot truncate: %s (ignoring the bad tail)", q->dir, name,
			strerror(errno));
	}
	if (fd >= 0)
		close(fd);
}

/* After a checksum or framing failure at `from`, find the next offset (> from) where a
 * record with a valid header and checksum starts. Records carry their own length and
 * CRC, so a damaged record in the middle of a segment costs that record only. The type
 * and length are checked first, so nearly every candidate offset is rejected without
 * computing a checksum. 1 and *next if found, 0 if nothing valid follows (a torn or
 * corrupt tail), or a negative errno if the file could not be read. */
static int find_next_record(struct win *w, uint64_t from, uint64_t limit, uint64_t *next)
{
	for (uint64_t o = from + 1; o + REC_HDR <= limit; o++) {
		int err = 0;
		const uint8_t *h = win_get(w, o, REC_HDR, &err);
		if (!h)
			return err;
		uint32_t len = get_u32(h), type = get_u32(h + 4);
		if ((type != REC_SERIES && type != REC_SAMPLES) || len > MAX_REC_LEN ||
		    limit - o - REC_HDR < len)
			continue;
		struct rec r;
		enum rec_status st = rec_next(w, o, limit, 1, &r);
		if (st == REC_IOERR)
			return w->err ? w->err : -EIO;
		if (st == REC_OK) {
			*next = o;
			return 1;
		}
	}
	return 0;
}

static int seg_add_hole(struct seg *s, uint64_t off, uint64_t end)
{
	struct hole *h = realloc(s->holes, (s->nholes + 1) * sizeof(*h));
	if (!h)
		return -ENOMEM;
	s->holes = h;
	s->holes[s->nholes++] = (struct hole){off, end};
	return 0;
}

/*
 * Scan segment s->num: verify every record, count its samples and find the ack position
 * in it. Only a checksum or framing failure is damage: in the middle of the file the
 * scan jumps to the next valid record (a hole, counted and logged), at the end the bad
 * tail is cut off (a torn write). An I/O error or an allocation failure says nothing
 * about the data: the file is left exactly as it is and -errno returned, and the caller
 * keeps the segment to scan it again later. -ENOENT: nothing valid in it (removed).
 */
static int seg_scan(struct jp_queue *q, struct seg *s)
{
	char name[32];
	seg_name(name, sizeof(name), s->num);
	struct win *w = &q->swin;
	const struct jp_queue_pos *ack = &q->ack;
	int r = win_open(q, w, s->num);
	if (r == -EBADFD) {
		jp_warn(MOD, "%s/%s: not a regular file: ignoring it", q->dir, name);
		return -ENOENT;
	}
	if (r < 0)
		return r;
	struct stat st;
	if (fstat(w->fd, &st) < 0) {
		r = -errno;
		win_close(w);
		return r;
	}
	uint64_t fsize = (uint64_t)st.st_size, newsize;
	if (fsize == 0) {
		/* A crash between creating the file and its first write. */
		jp_info(MOD, "%s/%s: empty segment removed", q->dir, name);
		win_close(w);
		unlinkat(q->dirfd, name, 0);
		return -ENOENT;
	}
	int err = 0;
	const uint8_t *m = fsize >= SEG_HDR ? win_get(w, 0, SEG_HDR, &err) : NULL;
	if (!m && err) {
		win_close(w);
		return err;
	}
	if (!m || memcmp(m, SEG_MAGIC, SEG_HDR) != 0) {
		win_close(w);
		seg_cut(q, name, 0, fsize, "not a queue segment (bad magic)", &newsize);
		return -ENOENT;
	}
	s->nsamples = 0;
	s->nholes = 0;
	s->ack_found = 0;
	s->ack_before = 0;
	s->ack_moved = 0;
	s->defs_upto = SEG_HDR;
	uint64_t off = SEG_HDR, skipped = 0, regions = 0;
	struct rec rc;
	enum rec_status stt;
	for (;;) {
		stt = rec_next(w, off, fsize, 1, &rc);
		if (stt == REC_OK) {
			if (ack->segment == s->num && ack->offset == off) {
				uint32_t cnt = rc.type == REC_SAMPLES ? get_u32(rc.p + 8) : 0;
				s->ack_found = 1;
				s->ack_before = s->nsamples + (ack->index < cnt ? ack->index : cnt);
			}
			if (rc.type == REC_SAMPLES)
				s->nsamples += get_u32(rc.p + 8);
			off += REC_HDR + rc.len;
			continue;
		}
		if (stt == REC_END)
			break;
		if (stt == REC_IOERR) {
			r = w->err ? w->err : -EIO;
			goto defer;
		}
		uint64_t next = 0;
		int fr = find_next_record(w, off, fsize, &next);
		if (fr < 0) {
			r = fr;
			goto defer;
		}
		if (fr == 0)
			break;   /* nothing valid follows: a bad tail, cut below */
		if ((r = seg_add_hole(s, off, next)) < 0)
			goto defer;
		jp_warn(MOD, "%s/%s: %s at offset %" PRIu64 ": skipped %" PRIu64
			" bytes to the next valid record at offset %" PRIu64,
			q->dir, name, rec_status_str(stt), off, next - off, next);
		if (ack->segment == s->num && ack->offset >= off && ack->offset < next) {
			/* Acked up to a point inside the damage: what follows it is unacked. */
			s->ack_found = 1;
			s->ack_before = s->nsamples;
			s->ack_moved = next;
		}
		skipped += next - off;
		regions++;
		off = next;
	}
	if (ack->segment == s->num && ack->offset == off && ack->index == 0) {
		s->ack_found = 1;
		s->ack_before = s->nsamples;
	}
	s->size = off;
	s->fsize = fsize;
	win_close(w);
	q->skipped_bytes += skipped;
	q->skipped_regions += regions;
	if (stt != REC_END) {
		char why[96];
		if (stt == REC_TORN)
			snprintf(why, sizeof(why), "torn record (%" PRIu64 " bytes at the end of the file)",
				 fsize - off);
		else
			snprintf(why, sizeof(why), "%s", rec_status_str(stt));
		seg_cut(q, name, off, fsize, why, &s->fsize);
	}
	if (s->size == SEG_HDR) {
		/* Nothing valid in it: the header alone, or everything was cut. */
		if (s->fsize)
			unlinkat(q->dirfd, name, 0);
		return -ENOENT;
	}
	return 0;
defer:
	win_close(w);
	s->nholes = 0;
	return r;
}

/* Settle the ack position once the segment that holds it has been scanned. Returns 1
 * if everything in s was acked (the caller deletes it). */
static int seg_settle_ack(struct jp_queue *q, struct seg *s)
{
	if (s->num != q->ack.segment)
		return 0;
	if (s->ack_moved) {
		q->ack.offset = s->ack_moved;
		q->ack.index = 0;
	} else if (!s->ack_found) {
		if (q->ack.offset >= s->size) {
			/* Acked past what survived: everything in it was acked. */
			s->ack_before = s->nsamples;
		} else {
			char name[32];
			seg_name(name, sizeof(name), s->num);
			jp_warn(MOD, "%s/ack: position %" PRIu64 ":%" PRIu64 " is not a record boundary: re-reading segment %s from its start",
				q->dir, q->ack.segment, q->ack.offset, name);
			q->ack.offset = 0;
			q->ack.index = 0;
			s->ack_before = 0;
		}
	}
	q->ack_before = s->ack_before;
	return s->ack_before >= s->nsamples;
}

/* Scan a segment that could not be read at open, now that the reader has reached it.
 * 0 when it is in the list for good (or gone), a negative errno to try again later. */
static int seg_rescan(struct jp_queue *q, struct seg *s)
{
	uint64_t old_fsize = s->fsize;
	int r = seg_scan(q, s);
	char name[32];
	seg_name(name, sizeof(name), s->num);
	if (r < 0 && r != -ENOENT) {
		jp_log_rl(&q->rl_defer, JP_LOG_ERROR, MOD, "%s/%s: still cannot read: %s (kept, trying again later)",
			  q->dir, name, strerror(-r));
		return r;
	}
	s->unscanned = 0;
	int gone = r == -ENOENT;
	if (!gone && seg_settle_ack(q, s)) {
		unlinkat(q->dirfd, name, 0);
		gone = 1;
	}
	if (q->cur.segment == s->num) {
		q->cur = q->ack.segment == s->num ? q->ack : (struct jp_queue_pos){s->num, SEG_HDR, 0};
		q->cur_before = q->ack.segment == s->num ? q->ack_before : 0;
	}
	if (gone) {
		/* Drop it from the list (it is never the writer's segment). */
		size_t i = 0;
		while (i < q->nsegs && q->segs[i] != s)
			i++;
		memmove(q->segs + i, q->segs + i + 1, (q->nsegs - i - 1) * sizeof(*q->segs));
		q->nsegs--;
		q->disk_bytes -= old_fsize;
		seg_free(q, s);
		return 0;
	}
	q->disk_bytes = q->disk_bytes - old_fsize + s->fsize;
	q->pending += seg_unacked(q, s);
	jp_info(MOD, "%s/%s: readable again: %" PRIu64 " samples", q->dir, name, s->nsamples);
	return 0;
}

static int recover(struct jp_queue *q)
{
	/* A temporary left by an older version of this file format. */
	unlinkat(q->dirfd, "ack.tmp", 0);
	struct jp_queue_pos ack = {0, 0, 0};
	int ar = ack_read(q, &ack);
	if (ar < 0) {
		jp_warn(MOD, "%s/ack: corrupt ack file: starting from the oldest segment (samples may be sent twice)",
			q->dir);
		ack = (struct jp_queue_pos){0, 0, 0};
	}
	q->ack = ack;
	q->ack_before = 0;

	int dfd = dup(q->dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		int e = -errno;
		if (dfd >= 0)
			close(dfd);
		return e;
	}
	uint64_t *nums = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int r = 0;
	while ((de = readdir(d))) {
		uint64_t num;
		if (!parse_seg_name(de->d_name, &num))
			continue;
		if ((r = jp_grow((void **)&nums, &cap, n + 1, sizeof(*nums))) < 0)
			break;
		nums[n++] = num;
	}
	closedir(d);
	if (r < 0) {
		free(nums);
		return r;
	}
	if (n)
		qsort(nums, n, sizeof(*nums), cmp_u64);

	uint64_t maxnum = ack.segment;
	for (size_t i = 0; i < n; i++) {
		if (nums[i] > maxnum)
			maxnum = nums[i];
		char name[32];
		seg_name(name, sizeof(name), nums[i]);
		if (nums[i] < ack.segment) {
			/* Fully acked; a crash came between the ack and the delete. */
			unlinkat(q->dirfd, name, 0);
			continue;
		}
		struct seg *s = calloc(1, sizeof(*s));
		if (!s) {
			r = -ENOMEM;
			break;
		}
		s->num = nums[i];
		int sr = seg_scan(q, s);
		if (sr == -ENOENT) {
			seg_free(q, s);
			continue;
		}
		if (sr < 0) {
			/* Never delete what could not be read: keep it for a later scan. */
			jp_error(MOD, "%s/%s: cannot read: %s (left untouched; reading it again when it is its turn)",
				 q->dir, name, strerror(-sr));
			struct stat st;
			s->unscanned = 1;
			s->fsize = fstatat(q->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? (uint64_t)st.st_size : 0;
		} else if (seg_settle_ack(q, s)) {
			unlinkat(q->dirfd, name, 0);
			seg_free(q, s);
			continue;
		}
		if ((r = jp_grow((void **)&q->segs, &q->capsegs, q->nsegs + 1, sizeof(*q->segs))) < 0) {
			seg_free(q, s);
			break;
		}
		q->segs[q->nsegs++] = s;
		q->disk_bytes += s->fsize;
	}
	free(nums);
	if (r < 0)
		return r;
	if (ar == 0 && q->nsegs)
		jp_info(MOD, "%s: no ack file: reading from the oldest segment", q->dir);

	struct seg *as = seg_find(q, q->ack.segment);
	if (!as) {
		q->ack.offset = q->ack.index = 0;
		q->ack_before = 0;
	}
	q->pending = 0;
	for (size_t i = 0; i < q->nsegs; i++)
		if (!q->segs[i]->unscanned)
			q->pending += seg_unacked(q, q->segs[i]);
	q->cur = q->ack;
	q->cur_before = q->ack_before;
	q->next_num = maxnum + 1;
	return 0;
}

struct jp_queue *jp_queue_open(const char *dir, uint64_t max_disk_bytes)
{
	pthread_once(&crc_once, crc_init);
	int r;
	struct jp_queue *q = calloc(1, sizeof(*q));
	if (!q) {
		errno = ENOMEM;
		return NULL;
	}
	q->dirfd = q->wfd = q->rwin.fd = q->swin.fd = q->ackfd = -1;
	q->max_disk_bytes = max_disk_bytes;
	set_seg_target(q);
	q->rl_bad_series.interval_ms = q->rl_unknown_id.interval_ms = q->rl_read.interval_ms = 60000;
	q->rl_defer.interval_ms = 60000;
	if (!(q->dir = strdup(dir))) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = mkdir_p(dir)) < 0) {
		jp_error(MOD, "%s: cannot create the queue directory: %s", dir, strerror(-r));
		goto fail;
	}
	q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->dirfd < 0) {
		r = -errno;
		jp_error(MOD, "%s: cannot open the queue directory: %s", dir, strerror(-r));
		goto fail;
	}
	/* Two processes appending to one queue would corrupt each other's view. */
	if (flock(q->dirfd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		jp_error(MOD, "%s: queue directory is in use by another process", dir);
		goto fail;
	}
	if ((r = recover(q)) < 0) {
		jp_error(MOD, "%s: cannot read the queue: %s", dir, strerror(-r));
		goto fail;
	}
	enforce_limit(q, 0);
	if (q->nsegs)
		jp_info(MOD, "%s: %zu segment(s), %" PRIu64 " bytes, %" PRIu64 " samples pending",
			dir, q->nsegs, q->disk_bytes, q->pending);
	return q;
fail:
	jp_queue_close(q);
	errno = -r;
	return NULL;
}

void jp_queue_close(struct jp_queue *q)
{
	if (!q)
		return;
	if (q->wfd >= 0)
		close(q->wfd);
	if (q->ackfd >= 0) {
		ack_sync(q);
		close(q->ackfd);
	}
	win_close(&q->rwin);
	win_close(&q->swin);
	free(q->rwin.buf);
	free(q->swin.buf);
	for (size_t i = 0; i < q->nsegs; i++)
		seg_free(q, q->segs[i]);
	for (size_t i = 0; i < q->nzombies; i++)
		seg_free(q, q->zombies[i]);
	free(q->segs);
	free(q->zombies);
	free(q->buckets);
	free(q->defined);
	free(q->newids);
	free(q->fifo);
	free(q->rd_def);
	free(q->rd_smp);
	jp_buf_free(&q->wdefs);
	jp_buf_free(&q->wsamples);
	if (q->dirfd >= 0)
		close(q->dirfd);
	free(q->dir);
	free(q);
}

void jp_queue_set_max_disk_bytes(struct jp_queue *q, uint64_t max_disk_bytes)
{
	q->max_disk_bytes = max_disk_bytes;
	set_seg_target(q);
	enforce_limit(q, 0);
}

/* --- append ---------------------------------------------------------------------- */

static int new_segment(struct jp_queue *q)
{
	if (q->wfd >= 0)
		close(q->wfd);
	q->wfd = -1;
	q->wseg = NULL;
	int r = jp_grow((void **)&q->segs, &q->capsegs, q->nsegs + 1, sizeof(*q->segs));
	if (r < 0)
		return r;
	struct seg *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	char name[32];
	seg_name(name, sizeof(name), q->next_num);
	int fd = openat(q->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		jp_error(MOD, "%s/%s: cannot create a segment: %s (samples not queued)", q->dir, name,
			 strerror(-r));
		free(s);
		return r;
	}
	s->num = q->next_num++;
	s->defs_upto = SEG_HDR;
	q->segs[q->nsegs++] = s;
	q->wseg = s;
	q->wfd = fd;
	if (q->defined)
		memset(q->defined, 0, q->defined_bytes);
	return 0;
}

/* Serialise the SERIES record of `series` into q->wdefs; -EINVAL if its labels break
 * the rules of docs/reference/remote-write.md (the reader would refuse them). */
static int put_series(struct jp_queue *q, const struct jp_series *series)
{
	struct jp_buf *b = &q->wdefs;
	size_t start = b->len;
	uint8_t tmp[8];
	int r = jp_buf_reserve(b, REC_HDR + 8);
	if (r)
		return r;
	b->len += REC_HDR;
	put_u32(tmp, series->id);
	put_u32(tmp + 4, series->nlabels);
	jp_buf_append(b, tmp, 8);
	for (uint16_t i = 0; i < series->nlabels; i++) {
		const char *s[2] = {series->labels[i].name, series->labels[i].value};
		for (int k = 0; k < 2; k++) {
			size_t l = s[k] ? strlen(s[k]) : 0;
			if (l > UINT32_MAX)
				l = 0;
			put_u32(tmp, (uint32_t)l);
			if ((r = jp_buf_append(b, tmp, 4)) || (r = jp_buf_append(b, s[k], l))) {
				b->len = start;
				return r;
			}
		}
	}
	uint8_t *h = b->data + start;
	size_t len = b->len - start - REC_HDR;
	uint32_t id, nl;
	size_t sb;
	if (len > MAX_REC_LEN || !series_valid(h + REC_HDR, len, &id, &nl, &sb)) {
		b->len = start;
		return -EINVAL;
	}
	put_u32(h, (uint32_t)len);
	put_u32(h + 4, REC_SERIES);
	put_u32(h + 8, rec_crc(h, h + REC_HDR, len));
	return 0;
}

static int mark_defined(struct jp_queue *q, uint32_t id)
{
	size_t byte = id / 8;
	if (byte >= q->defined_bytes) {
		size_t n = q->defined_bytes ? q->defined_bytes : 1024;
		while (n <= byte)
			n *= 2;
		uint8_t *p = realloc(q->defined, n);
		if (!p)
			return -ENOMEM;
		memset(p + q->defined_bytes, 0, n - q->defined_bytes);
		q->defined = p;
		q->defined_bytes = n;
	}
	int r = jp_grow((void **)&q->newids, &q->capnew, q->nnew + 1, sizeof(*q->newids));
	if (r)
		return r;
	q->newids[q->nnew++] = id;
	q->defined[byte] |= (uint8_t)(1u << (id & 7));
	return 0;
}

static void finish_samples_rec(uint8_t *h, uint32_t count)
{
	uint32_t len = SAMPLES_FIXED + count * SAMPLE_BYTES;
	put_u32(h, len);
	put_u32(h + 4, REC_SAMPLES);
	put_u32(h + REC_HDR + 8, count);
	put_u32(h + 8, rec_crc(h, h + REC_HDR, len));
}

/* Undo a failed write: cut the file back to its last good record so the partial
 * record cannot poison later appends, and forget the series defined by it. */
static void undo_write(struct jp_queue *q, int fsync_failed)
{
	struct seg *s = q->wseg;
	for (size_t i = 0; i < q->nnew; i++)
		q->defined[q->newids[i] / 8] &= (uint8_t)~(1u << (q->newids[i] & 7));
	q->nnew = 0;
	int cut = ftruncate(q->wfd, (off_t)s->size) == 0;
	/* The readers' windows may hold bytes of the failed write. */
	if (q->rwin.num == s->num)
		q->rwin.len = 0;
	if (q->swin.num == s->num)
		q->swin.len = 0;
	if (s->size == 0) {
		/* Nothing of it was ever good: remove the file (the newest in segs). */
		char name[32];
		seg_name(name, sizeof(name), s->num);
		unlinkat(q->dirfd, name, 0);
		q->nsegs--;
		close(q->wfd);
		q->wfd = -1;
		q->wseg = NULL;
		seg_free(q, s);
		return;
	}
	if (!cut || fsync_failed) {
		/* The tail of this file is in doubt: keep what was good and write on in a
		 * new segment. */
		struct stat st;
		if (fstat(q->wfd, &st) == 0 && (uint64_t)st.st_size > s->fsize) {
			q->disk_bytes += (uint64_t)st.st_size - s->fsize;
			s->fsize = (uint64_t)st.st_size;
		}
		close(q->wfd);
		q->wfd = -1;
		q->wseg = NULL;
	}
}

int jp_queue_append(struct jp_queue *q, int64_t ts_ms, const struct jp_round_sample *v, size_t n)
{
	if (!n)
		return 0;
	int r = 0;
	if (q->wseg && q->wseg->size + n * SAMPLE_BYTES + REC_HDR + SAMPLES_FIXED > q->seg_target &&
	    q->wseg->size > SEG_HDR)
		q->wseg = NULL;   /* rotate: a new segment below */
	int fresh = 0;
	if (!q->wseg) {
		if ((r = new_segment(q)) < 0)
			return r;
		fresh = 1;
	}

	/* Build the round: SERIES records for ids new in this segment in one buffer, the
	 * SAMPLES records in another; one pwritev writes both. */
	jp_buf_reset(&q->wdefs);
	jp_buf_reset(&q->wsamples);
	q->nnew = 0;
	size_t nrec = (n + MAX_SAMPLES_PER_REC - 1) / MAX_SAMPLES_PER_REC;
	if ((r = jp_buf_reserve(&q->wsamples, nrec * (REC_HDR + SAMPLES_FIXED) + n * SAMPLE_BYTES)) < 0)
		goto fail_nowrite;
	uint8_t *out = q->wsamples.data, *rec = out, *p = out + REC_HDR + SAMPLES_FIXED;
	put_u64(rec + REC_HDR, (uint64_t)ts_ms);
	uint32_t cnt = 0;
	size_t written = 0, skipped = 0;
	for (size_t i = 0; i < n; i++) {
		const struct jp_series *s = v[i].series;
		uint32_t id = s ? s->id : 0;
		if (!id) {
			skipped++;
			continue;
		}
		if (id / 8 >= q->defined_bytes || !(q->defined[id / 8] & (1u << (id & 7)))) {
			r = put_series(q, s);
			if (r == -EINVAL) {
				skipped++;
				continue;
			}
			if (r < 0 || (r = mark_defined(q, id)) < 0)
				goto fail_nowrite;
		}
		if (cnt == MAX_SAMPLES_PER_REC) {
			finish_samples_rec(rec, cnt);
			rec = p;
			put_u64(rec + REC_HDR, (uint64_t)ts_ms);
			p = rec + REC_HDR + SAMPLES_FIXED;
			cnt = 0;
		}
		uint64_t bits;
		memcpy(&bits, &v[i].value, 8);
		put_u32(p, id);
		put_u64(p + 4, bits);
		p += SAMPLE_BYTES;
		cnt++;
		written++;
	}
	if (skipped)
		jp_log_rl(&q->rl_bad_series, JP_LOG_WARN, MOD,
			  "%s: skipped %zu samples of series with invalid labels or ids", q->dir, skipped);
	if (cnt)
		finish_samples_rec(rec, cnt);
	else
		p = rec;   /* nothing valid in the last record */
	q->wsamples.len = (size_t)(p - out);

	struct iovec iov[3];
	int niov = 0;
	if (fresh)
		iov[niov++] = (struct iovec){(void *)SEG_MAGIC, SEG_HDR};
	if (q->wdefs.len)
		iov[niov++] = (struct iovec){q->wdefs.data, q->wdefs.len};
	if (q->wsamples.len)
		iov[niov++] = (struct iovec){q->wsamples.data, q->wsamples.len};
	uint64_t total = 0;
	for (int i = 0; i < niov; i++)
		total += iov[i].iov_len;
	if (!written) {
		if (fresh)
			undo_write(q, 0);
		return -EINVAL;
	}

	enforce_limit(q, total);

	struct seg *ws = q->wseg;
	uint64_t off = ws->size;
	uint64_t done = 0;
	struct iovec *io = iov;
	while (done < total) {
		ssize_t w = pwritev(q->wfd, io, niov, (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = w < 0 ? -errno : -EIO;
			jp_error(MOD, "%s/%016" PRIu64 ".seg: write failed: %s (%zu samples not queued)",
				 q->dir, ws->num, strerror(-r), n);
			undo_write(q, 0);
			return r;
		}
		done += (uint64_t)w;
		while (niov && (size_t)w >= io->iov_len) {
			w -= (ssize_t)io->iov_len;
			io++;
			niov--;
		}
		if (niov) {
			io->iov_base = (uint8_t *)io->iov_base + w;
			io->iov_len -= (size_t)w;
		}
	}
	if (fdatasync(q->wfd) < 0 || (fresh && fsync(q->dirfd) < 0)) {
		r = -errno;
		jp_error(MOD, "%s/%016" PRIu64 ".seg: fdatasync failed: %s (%zu samples not queued)",
			 q->dir, ws->num, strerror(-r), n);
		undo_write(q, 1);
		return r;
	}
	/* The acks since the last sync ride along with this round's. */
	ack_sync(q);
	ws->size = off + total;
	q->disk_bytes += ws->size - ws->fsize;
	ws->fsize = ws->size;
	ws->nsamples += written;
	q->pending += written;
	/* The definitions of a whole node are written once per segment: do not keep a
	 * buffer of that size for the rounds in between. */
	if (q->wdefs.cap > DEFS_BUF_KEEP)
		jp_buf_free(&q->wdefs);
	return 0;

fail_nowrite:
	for (size_t i = 0; i < q->nnew; i++)
		q->defined[q->newids[i] / 8] &= (uint8_t)~(1u << (q->newids[i] & 7));
	q->nnew = 0;
	if (fresh)
		undo_write(q, 0);
	jp_error(MOD, "%s: cannot build a round of %zu samples: %s", q->dir, n, strerror(-r));
	return r;
}

/* --- read, ack ------------------------------------------------------------------- */

void jp_batch_reset(struct jp_batch *b)
{
	b->nseries = 0;
	b->nsamples = 0;
	b->oldest_ts_ms = 0;
	memset(&b->start, 0, sizeof(b->start));
	memset(&b->end, 0, sizeof(b->end));
}

void jp_batch_free(struct jp_batch *b)
{
	if (!b)
		return;
	free(b->series);
	free(b->samples);
	memset(b, 0, sizeof(*b));
}

/* Load the SERIES records of s that lie before offset `upto`. */
static int load_defs_upto(struct jp_queue *q, struct seg *s, uint64_t upto)
{
	struct rec r;
	while ((s->defs_upto = seg_skip_hole(s, s->defs_upto)) < upto) {
		enum rec_status st = rec_next(&q->rwin, s->defs_upto, s->size, 0, &r);
		if (st != REC_OK)
			return st == REC_IOERR ? -EIO : 0;
		if (r.type == REC_SERIES)
			load_series(q, s, r.p, r.len);
		s->defs_upto += REC_HDR + r.len;
	}
	return 0;
}

static int cmp_ts(const void *a, const void *b)
{
	int64_t x = ((const struct jp_sample *)a)->ts_ms, y = ((const struct jp_sample *)b)->ts_ms;
	return x < y ? -1 : x > y;
}

/* Group the n samples read into b, one jp_batch_series per def, each in time order. */
static int group(struct jp_queue *q, struct jp_batch *b, size_t n)
{
	int r;
	if ((r = jp_grow((void **)&b->samples, &b->cap_samples, n, sizeof(*b->samples))) < 0)
		return r;
	q->gen++;
	for (size_t i = 0; i < n; i++) {
		struct qdef *d = q->rd_def[i];
		if (d->gen != q->gen) {
			if ((r = jp_grow((void **)&b->series, &b->cap_series, b->nseries + 1,
				      sizeof(*b->series))) < 0)
				return r;
			d->gen = q->gen;
			d->slot = b->nseries;
			b->series[b->nseries++] = (struct jp_batch_series){&d->pub, 0, 0};
		}
		b->series[d->slot].count++;
	}
	uint32_t first = 0;
	for (size_t k = 0; k < b->nseries; k++) {
		b->series[k].first = first;
		first += b->series[k].count;
		b->series[k].count = 0;
	}
	int unsorted = 0;
	int64_t oldest = n ? q->rd_smp[0].ts_ms : 0;
	for (size_t i = 0; i < n; i++) {
		struct jp_batch_series *bs = &b->series[q->rd_def[i]->slot];
		struct jp_sample *dst = &b->samples[bs->first + bs->count];
		if (bs->count && dst[-1].ts_ms > q->rd_smp[i].ts_ms)
			unsorted = 1;
		*dst = q->rd_smp[i];
		bs->count++;
		if (dst->ts_ms < oldest)
			oldest = dst->ts_ms;
	}
	/* Only when the wall clock went backwards between rounds. */
	if (unsorted)
		for (size_t k = 0; k < b->nseries; k++)
			qsort(b->samples + b->series[k].first, b->series[k].count,
			      sizeof(*b->samples), cmp_ts);
	b->nsamples = n;
	b->oldest_ts_ms = oldest;
	return 0;
}

int jp_queue_read(struct jp_queue *q, struct jp_batch *b, size_t max_samples)
{
	jp_batch_reset(b);
	if (max_samples > UINT32_MAX)
		max_samples = UINT32_MAX;
	b->start = q->cur;
	size_t n = 0;
	int r = 0;
	while (n < max_samples) {
		struct seg *s = seg_find_ge(q, q->cur.segment);
		if (!s)
			break;
		if (s->unscanned) {
			/* Unreadable at open: its samples come before everything later, so
			 * nothing later goes out until it has been read. */
			if (n > 0)
				break;
			if ((r = seg_rescan(q, s)) < 0)
				break;
			continue;
		}
		if (s->num != q->cur.segment || q->cur.offset < SEG_HDR) {
			q->cur = (struct jp_queue_pos){s->num, SEG_HDR, 0};
			q->cur_before = 0;
		}
		uint64_t past = seg_skip_hole(s, q->cur.offset);
		if (past != q->cur.offset) {
			if (s->defs_upto == q->cur.offset)
				s->defs_upto = past;
			q->cur.offset = past;
			q->cur.index = 0;
			continue;
		}
		if (q->cur.offset >= s->size) {
			struct seg *nx = seg_next(q, s);
			if (!nx)
				break;
			q->cur = (struct jp_queue_pos){nx->num, SEG_HDR, 0};
			q->cur_before = 0;
			continue;
		}
		if ((r = win_open(q, &q->rwin, s->num)) < 0 ||
		    (r = load_defs_upto(q, s, q->cur.offset)) < 0) {
			jp_log_rl(&q->rl_read, JP_LOG_ERROR, MOD, "%s/%016" PRIu64 ".seg: cannot read: %s",
				  q->dir, s->num, strerror(-r));
			break;
		}
		struct rec rc;
		uint64_t off = q->cur.offset;
		enum rec_status st = rec_next(&q->rwin, off, s->size, 0, &rc);
		if (st == REC_IOERR) {
			/* Try again later; an I/O error never skips data. */
			r = q->rwin.err ? q->rwin.err : -EIO;
			jp_log_rl(&q->rl_read, JP_LOG_ERROR, MOD, "%s/%016" PRIu64 ".seg: cannot read at offset %" PRIu64 ": %s",
				  q->dir, s->num, off, strerror(-r));
			break;
		}
		if (st != REC_OK) {
			/* The file changed under us (it was verified when it was written or
			 * opened): give up on the rest of it. */
			jp_log_rl(&q->rl_read, JP_LOG_ERROR, MOD, "%s/%016" PRIu64 ".seg: %s at offset %" PRIu64 " while reading: skipping the rest",
				  q->dir, s->num, rec_status_str(st), off);
			q->cur.offset = s->size;
			q->cur.index = 0;
			continue;
		}
		uint64_t end = off + REC_HDR + rc.len;
		if (rc.type == REC_SERIES && s->defs_upto == off)
			load_series(q, s, rc.p, rc.len);
		if (rc.type == REC_SAMPLES && rc.len >= SAMPLES_FIXED) {
			int64_t ts = (int64_t)get_u64(rc.p);
			uint32_t cnt = get_u32(rc.p + 8);
			if ((uint64_t)cnt * SAMPLE_BYTES > rc.len - SAMPLES_FIXED)
				cnt = (rc.len - SAMPLES_FIXED) / SAMPLE_BYTES;
			uint32_t idx = q->cur.index < cnt ? q->cur.index : cnt;
			size_t take = cnt - idx;
			if (take > max_samples - n)
				take = max_samples - n;
			if ((r = jp_grow((void **)&q->rd_def, &q->caprd, n + take, sizeof(*q->rd_def))) < 0)
				break;
			if ((r = jp_grow((void **)&q->rd_smp, &q->caprd_smp, n + take, sizeof(*q->rd_smp))) < 0)
				break;
			const uint8_t *sp = rc.p + SAMPLES_FIXED + (size_t)idx * SAMPLE_BYTES;
			size_t unknown = 0;
			for (size_t i = 0; i < take; i++, sp += SAMPLE_BYTES) {
				struct qdef *d = idmap_get(&s->map, get_u32(sp));
				if (!d) {
					unknown++;
					continue;
				}
				uint64_t bits = get_u64(sp + 4);
				q->rd_def[n] = d;
				q->rd_smp[n].ts_ms = ts;
				memcpy(&q->rd_smp[n].value, &bits, 8);
				n++;
			}
			if (unknown)
				jp_log_rl(&q->rl_unknown_id, JP_LOG_WARN, MOD,
					  "%s/%016" PRIu64 ".seg: skipped %zu samples of undefined series",
					  q->dir, s->num, unknown);
			q->cur_before += take;
			q->cur.index = idx + (uint32_t)take;
			if (q->cur.index < cnt)
				break;   /* the batch is full inside this record */
		}
		if (s->defs_upto == off)
			s->defs_upto = end;
		q->cur.offset = end;
		q->cur.index = 0;
	}
	b->end = q->cur;
	if (r < 0 && n == 0) {
		b->end = b->start;
		return r;
	}
	if ((r = group(q, b, n)) < 0) {
		jp_batch_reset(b);
		return r;
	}
	if (pos_cmp(&b->end, &b->start) > 0) {
		if (q->nfifo == FIFO_MAX) {
			memmove(q->fifo, q->fifo + 1, (FIFO_MAX - 1) * sizeof(*q->fifo));
			q->nfifo--;
		}
		if (jp_grow((void **)&q->fifo, &q->capfifo, q->nfifo + 1, sizeof(*q->fifo)) == 0)
			q->fifo[q->nfifo++] = (struct fifo_ent){b->end, q->cur_before};
		/* Nothing but unusable samples: release them right away, or they would
		 * stay pending for ever with nobody to ack them. */
		if (n == 0 && pos_cmp(&b->start, &q->ack) <= 0)
			jp_queue_ack(q, b);
	}
	return (int)n;
}

int jp_queue_ack(struct jp_queue *q, const struct jp_batch *b)
{
	struct jp_queue_pos e = b->end;
	if (pos_cmp(&e, &q->ack) <= 0)
		return 0;
	if (pos_cmp(&e, &q->cur) > 0)
		return -EINVAL;   /* never read */

	struct seg *es = seg_find(q, e.segment);
	uint64_t before = 0;
	int found = 0;
	size_t k;
	for (k = 0; k < q->nfifo; k++) {
		if (pos_cmp(&q->fifo[k].end, &e) == 0) {
			before = q->fifo[k].before;
			found = 1;
			break;
		}
	}
	if (found) {
		memmove(q->fifo, q->fifo + k + 1, (q->nfifo - k - 1) * sizeof(*q->fifo));
		q->nfifo -= k + 1;
	} else if (es) {
		before = count_before(q, es, e.offset, e.index);
	}

	/* Samples between the old and the new ack position leave pending. */
	uint64_t delta = 0;
	for (size_t i = 0; i < q->nsegs; i++) {
		struct seg *s = q->segs[i];
		if (s->num > e.segment)
			break;
		uint64_t lo = s->num == q->ack.segment ? q->ack_before : (s->num > q->ack.segment ? 0 : s->nsamples);
		uint64_t hi = s->num == e.segment ? before : s->nsamples;
		if (hi > lo)
			delta += hi - lo;
	}
	q->pending = q->pending > delta ? q->pending - delta : 0;
	q->ack = e;
	q->ack_before = before;
	int r = ack_write(q);

	/* Segments the ack has passed are no longer needed, nor are their defs: every
	 * batch read later starts at or after e. */
	while (q->nsegs && q->segs[0] != q->wseg &&
	       (q->segs[0]->num < e.segment ||
		(q->segs[0]->num == e.segment && e.offset >= q->segs[0]->size)))
		seg_remove_oldest(q, 0);
	size_t keep = 0;
	for (size_t i = 0; i < q->nzombies; i++) {
		if (q->zombies[i]->num < e.segment)
			seg_free(q, q->zombies[i]);
		else
			q->zombies[keep++] = q->zombies[i];
	}
	q->nzombies = keep;
	return r;
}

void jp_queue_rewind(struct jp_queue *q)
{
	q->cur = q->ack;
	q->cur_before = q->ack_before;
	q->nfifo = 0;
}

void jp_queue_get_stats(const struct jp_queue *q, struct jp_queue_stats *out)
{
	out->pending_samples = q->pending;
	out->disk_bytes = q->disk_bytes;
	out->dropped_samples = q->dropped;
	out->corrupt_cuts = q->cuts;
	out->corrupt_skipped_bytes = q->skipped_bytes;
	out->corrupt_skipped_regions = q->skipped_regions;
	uint64_t un = 0;
	for (size_t i = 0; i < q->nsegs; i++)
		un += q->segs[i]->unscanned != 0;
	out->unreadable_segments = un;
}
