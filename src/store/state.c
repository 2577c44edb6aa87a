/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The counters file (store/state.h). Layout, little-endian:
 *
 *   "JPSTATE1"                       magic
 *   u64 saved_ms                     wall time of the round it holds
 *   u32 count
 *   count x { u32 keylen, key, f64 value, i64 start_ms }
 *   u32 crc32c                       of everything after the magic up to here
 *
 * key: the series' labels (sorted, __name__ included) as name NUL value NUL ... . The
 * file is written whole to counters.tmp, synced and renamed over counters, so a crash
 * leaves either the old file or the new one; a file that does not check out is ignored.
 *
 * Between two such snapshots each round goes to the journal, counters.log, appended and
 * synced (fdatasync) before the round is queued:
 *
 *   "JPJRNL01" u64 snapshot_ms u32 crc32c(snapshot_ms)   ties it to one snapshot
 *   records: u32 len, u8 type, body (len - 1 bytes), u32 crc32c(type and body)
 *     'D' u32 slot, i64 start_ms, key      a counter the snapshot does not hold
 *     'R' i64 saved_ms, { u32 slot, f64 value } ...   a round's values
 *     'S' i64 saved_ms, { u32 first_slot, u32 count, f64 value[count] } ...
 *                                          the same, runs of consecutive slots
 *
 * A slot is an entry's position in the snapshot, or the next number after its last one
 * for each 'D' in order. A round writes 8 bytes per counter ('S': the series come in the
 * snapshot's order, so the slots run on, gauges left out) or 12 when they do not ('R',
 * chosen when runs would take more) instead of its key, and nothing is sorted or built
 * per series: the series' slots are found by their ids. Agents before 'S' stop reading a
 * journal at its first 'S' record, as at a torn one. Once
 * the journal outgrows four snapshots (256 KiB at least), the next save writes a new
 * snapshot and starts the journal afresh. Reading back: the snapshot, then the journal's
 * records up to the first that does not check out (a torn tail); a journal of another
 * snapshot (a crash between the two writes) is ignored.
 *
 * Series read at start that have not appeared again are carried into the saves for
 * JP_STATE_CARRY_MS: a pod the kubelet names a few rounds late, or a container that
 * restarts, still resumes even if the agent is killed again meanwhile. After that they
 * are gone for good.
 */
#include "store/state.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/runs.h"
#include "util/safedir.h"

#define MAGIC "JPSTATE1"
#define MAX_KEY (64u << 10)
#define JP_STATE_CARRY_MS (10 * 60 * 1000)

#define JMAGIC "JPJRNL01"
#define JHEADER 20
#define JMIN_COMPACT (256u << 10)
#define NO_SLOT UINT32_MAX

struct entry {
	const uint8_t *key;    /* into jp_state.file or .jfile: no allocation per entry */
	uint32_t keylen;
	uint32_t slot;         /* its position in the snapshot and journal read at open */
	double value;
	int64_t start_ms;
	int used;              /* a series of this run took it */
};

/* Series id -> journal slot (NO_SLOT: not a resumable counter), open addressing. */
struct slotmap {
	uint32_t *id, *slot;   /* id 0: empty (series ids are > 0) */
	size_t cap, n;
};

struct jp_state {
	char *dir;
	char *path, *tmp;
	/* Opened at start (as root, before a privilege drop): the file is reached through it,
	 * so that a directory above that the user cannot enter does not matter. */
	int dirfd;
	uint8_t *file;         /* the file read at open, which the entries point into */
	struct entry *v;
	size_t n;
	uint64_t save_errors;
	int64_t carry_until_ms;   /* 0: set at the first save */
	int carry_dropped;     /* the carried entries are gone: compacted once past the window */
	struct jp_buf out;     /* reused by every save */
	/* The journal. */
	int jfd;               /* -1 until the first snapshot of this run */
	uint8_t *jfile;        /* the journal read at open, which entries may point into */
	size_t jbytes, snap_bytes;
	uint32_t next_slot;
	struct slotmap map;
	/* The last round's series in the order the store gave them, with their slots: a
	 * round in the same order finds each slot there without hashing. */
	uint32_t *seq_id, *seq_slot;
	const struct jp_series **seq_ptr;
	size_t nseq, cap_seq;
	uint64_t seq_churn;    /* the store's churn when seq was made: pointers still name the
	                          same series while it is unchanged (no memory read per series) */
	struct jp_buf jout, rbody;
};

int jp_state_resumable(const char *m)
{
	static const char *const prefixes[] = {
		"joulepush_node_", "joulepush_pod_", "joulepush_container_", "joulepush_namespace_",
		"joulepush_system_", "kepler_",
	};
	int prefixed = 0;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]) && !prefixed; i++)
		prefixed = !strncmp(m, prefixes[i], strlen(prefixes[i]));
	if (!prefixed)
		return 0;
	const struct jp_metric_def *d = jp_metric_find(m);
	return d && d->type == JP_COUNTER;
}

static int put32(struct jp_buf *b, uint32_t v)
{
	uint8_t x[4];
	jp_put_u32(x, v);
	return jp_buf_append(b, x, 4);
}

static int put64(struct jp_buf *b, uint64_t v)
{
	return put32(b, (uint32_t)v) || put32(b, (uint32_t)(v >> 32));
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	uint32_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);
	return c ? c : (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* A key is name NUL value NUL pairs, non-empty names and values. */
static int key_valid(const uint8_t *k, uint32_t len)
{
	if (len < 4 || k[len - 1] != 0)
		return 0;
	unsigned parts = 0;
	for (uint32_t i = 0, start = 0; i < len; i++)
		if (k[i] == 0) {
			if (i == start)
				return 0;
			start = i + 1;
			parts++;
		}
	return parts % 2 == 0;
}

static void entries_free(struct jp_state *st)
{
	free(st->v);
	free(st->file);
	free(st->jfile);
	st->v = NULL;
	st->file = NULL;
	st->jfile = NULL;
	st->n = 0;
}

/* Equal keys side by side, the later slot first (a journal's 'D' over a carried entry). */
static int entry_slot_cmp(const void *a, const void *b)
{
	int c = entry_cmp(a, b);
	const struct entry *x = a, *y = b;
	return c ? c : (x->slot < y->slot) - (x->slot > y->slot);
}

/* The snapshot's entries in file order (slot i at v[i]); v has room for extra more. */
static int parse_snapshot(const uint8_t *buf, size_t len, size_t extra, struct entry **out, size_t *count,
			  char *why, size_t whylen)
{
	*count = 0;
	if (len < 8 + 8 + 4 + 4 || memcmp(buf, MAGIC, 8)) {
		snprintf(why, whylen, "not a counters file (no %s header)", MAGIC);
		return -EINVAL;
	}
	uint32_t crc = jp_get_u32(buf + len - 4);
	if (jp_crc32c(0, buf + 8, len - 12) != crc) {
		snprintf(why, whylen, "checksum mismatch (torn or corrupt)");
		return -EINVAL;
	}
	uint32_t n = jp_get_u32(buf + 16);
	size_t off = 20, end = len - 4;
	if (n > (end - off) / 20) {
		snprintf(why, whylen, "%u entries cannot fit in %zu bytes", n, len);
		return -EINVAL;
	}
	if (n > JP_STATE_MAX_ENTRIES) {
		snprintf(why, whylen, "%u entries, more than the %u a node can have", n, JP_STATE_MAX_ENTRIES);
		return -EFBIG;
	}
	struct entry *v = calloc(n + extra + 1, sizeof(*v));
	if (!v) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	size_t k = 0;
	int rc = -EINVAL;
	for (; k < n; k++) {
		if (end - off < 4) {
			snprintf(why, whylen, "entry %zu: truncated", k);
			goto fail;
		}
		uint32_t kl = jp_get_u32(buf + off);
		off += 4;
		if (kl > MAX_KEY || end - off < (size_t)kl + 16 || !key_valid(buf + off, kl)) {
			snprintf(why, whylen, "entry %zu: malformed key", k);
			goto fail;
		}
		v[k].key = buf + off;
		v[k].keylen = kl;
		v[k].slot = (uint32_t)k;
		off += kl;
		uint64_t bits = jp_get_u64(buf + off);
		memcpy(&v[k].value, &bits, sizeof(bits));
		v[k].start_ms = (int64_t)jp_get_u64(buf + off + 8);
		off += 16;
		if (!isfinite(v[k].value) || v[k].value < 0) {
			snprintf(why, whylen, "entry %zu: value is not a counter's", k);
			k++;
			goto fail;
		}
	}
	if (off != end) {
		snprintf(why, whylen, "%zu bytes after the last entry", end - off);
		goto fail;
	}
	*out = v;
	*count = n;
	return 0;
fail:
	free(v);
	return rc;
}

int jp_state_parse(const uint8_t *buf, size_t len, struct jp_state *into, size_t *count, char *why, size_t whylen)
{
	struct entry *v;
	size_t n;
	int rc = parse_snapshot(buf, len, 0, &v, &n, why, whylen);
	if (rc)
		return rc;
	qsort(v, n, sizeof(*v), entry_cmp);
	for (size_t i = 1; i < n; i++)
		if (!entry_cmp(&v[i - 1], &v[i])) {
			snprintf(why, whylen, "a series appears twice");
			free(v);
			*count = 0;
			return -EINVAL;
		}
	if (into) {
		entries_free(into);
		into->v = v;
		into->n = n;
	} else {
		free(v);
	}
	*count = n;
	return 0;
}

static void replay_value(struct entry *v, size_t n, uint64_t slot, uint64_t bits)
{
	double val;
	memcpy(&val, &bits, sizeof(val));
	if (slot < n && isfinite(val) && val >= 0)
		v[slot].value = val;
}

/* Apply a journal's records to the snapshot's entries v[0, *n) (room for cap): 'D'
 * appends an entry, 'R' and 'S' set values. Stops at the first record that does not check out.
 * Returns how many records were applied; -1 when the journal is not this snapshot's. */
static long replay(const uint8_t *j, size_t len, uint64_t snap_ms, struct entry **v, size_t *n, size_t *cap)
{
	if (len < JHEADER || memcmp(j, JMAGIC, 8) || jp_get_u64(j + 8) != snap_ms ||
	    jp_crc32c(0, j + 8, 8) != jp_get_u32(j + 16))
		return -1;
	long applied = 0;
	for (size_t off = JHEADER; len - off >= 9;) {
		uint32_t rl = jp_get_u32(j + off);
		if (rl < 1 || rl > len - off - 8 || jp_crc32c(0, j + off + 4, rl) != jp_get_u32(j + off + 4 + rl))
			break;
		const uint8_t *b = j + off + 5;
		size_t bl = rl - 1;
		if (j[off + 4] == 'D') {
			if (bl < 12 + 4 || jp_get_u32(b) != *n || !key_valid(b + 12, (uint32_t)(bl - 12)) || bl - 12 > MAX_KEY)
				break;
			if (*n == *cap) {
				size_t nc = *cap ? *cap * 2 : 64;
				struct entry *nv = nc <= JP_STATE_MAX_ENTRIES ? realloc(*v, (nc + 1) * sizeof(**v)) : NULL;
				if (!nv)
					break;
				*v = nv;
				*cap = nc;
			}
			(*v)[*n] = (struct entry){.key = b + 12, .keylen = (uint32_t)(bl - 12), .slot = (uint32_t)*n,
						  .value = NAN, .start_ms = (int64_t)jp_get_u64(b + 4)};
			(*n)++;
		} else if (j[off + 4] == 'R') {
			if (bl < 8 || (bl - 8) % 12)
				break;
			for (size_t k = 8; k < bl; k += 12)
				replay_value(*v, *n, jp_get_u32(b + k), jp_get_u64(b + k + 4));
		} else if (j[off + 4] == 'S') {
			uint64_t total;
			if (bl < 8 || !jp_runs_count(b + 8, bl - 8, &total))
				break;
			for (size_t k = 8; k < bl;) {
				uint32_t first = jp_get_u32(b + k), count = jp_get_u32(b + k + 4);
				k += 8;
				for (uint32_t i = 0; i < count; i++, k += 8)
					replay_value(*v, *n, (uint64_t)first + i, jp_get_u64(b + k));
			}
		} else {
			break;
		}
		applied++;
		off += 4 + rl + 4;
	}
	return applied;
}

size_t jp_state_replay(const uint8_t *snap, size_t snap_len, const uint8_t *journal, size_t journal_len)
{
	struct entry *v;
	size_t n, cap;
	char why[160];
	if (parse_snapshot(snap, snap_len, 0, &v, &n, why, sizeof(why)))
		return 0;
	cap = n;
	replay(journal, journal_len, jp_get_u64(snap + 8), &v, &n, &cap);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += isfinite(v[i].value) && v[i].value >= 0 && key_valid(v[i].key, v[i].keylen);
	free(v);
	return k;
}

/* Read name in dirfd whole: a regular file only (a FIFO would block), at most
 * JP_STATE_MAX_BYTES. */
static int read_file(int dirfd, const char *name, uint8_t **out, size_t *len, char *why, size_t whylen)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -errno;
	}
	struct stat sb;
	int rc = 0;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		snprintf(why, whylen, "not a regular file");
		rc = -EINVAL;
	} else if ((uint64_t)sb.st_size > JP_STATE_MAX_BYTES) {
		snprintf(why, whylen, "larger than %u bytes", JP_STATE_MAX_BYTES);
		rc = -EFBIG;
	}
	uint8_t *buf = rc ? NULL : malloc((size_t)sb.st_size + 1);
	size_t got = 0;
	if (!rc && !buf)
		rc = -ENOMEM;
	while (!rc && got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(why, whylen, "%s", r < 0 ? strerror(errno) : "shorter than it said");
			rc = r < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = got;
	return 0;
}

struct jp_state *jp_state_open(const char *dir, uid_t owner_uid, char *why, size_t whylen, char *why_ignored,
			       size_t ignlen)
{
	why_ignored[0] = '\0';
	int dirfd = jp_safedir_open(dir, 1, 0700, owner_uid, why, whylen);
	if (dirfd < 0) {
		errno = -dirfd;
		return NULL;
	}
	struct jp_state *st = calloc(1, sizeof(*st));
	if (st)
		st->dirfd = dirfd;
	else
		close(dirfd);
	if (!st || !(st->dir = strdup(dir)) || asprintf(&st->path, "%s/%s", dir, JP_STATE_FILE) < 0 ||
	    asprintf(&st->tmp, "%s.tmp", JP_STATE_FILE) < 0) {
		snprintf(why, whylen, "out of memory");
		jp_state_close(st);
		return NULL;
	}
	st->jfd = -1;
	uint8_t *buf = NULL;
	size_t len = 0, count;
	char w[160];
	int rc = read_file(st->dirfd, JP_STATE_FILE, &buf, &len, w, sizeof(w));
	if (rc == -ENOENT)
		return st;
	struct entry *v = NULL;
	if (!rc) {
		rc = parse_snapshot(buf, len, 0, &v, &count, w, sizeof(w));
		if (rc)
			free(buf);
		else
			st->file = buf;    /* the entries point into it */
	}
	if (rc) {
		snprintf(why_ignored, ignlen, "%s: %s", st->path, w);
		return st;
	}
	/* The journal of this snapshot, if any: its rounds since. */
	uint8_t *j = NULL;
	size_t jl = 0, cap = count;
	if (!read_file(st->dirfd, JP_STATE_JOURNAL, &j, &jl, w, sizeof(w))) {
		if (replay(j, jl, jp_get_u64(buf + 8), &v, &count, &cap) > 0)
			st->jfile = j;
		else
			free(j);
	}
	/* A counter defined in the journal but never given a value is left out; of one key
	 * twice (a carried entry taken up again), the later slot wins. */
	size_t k = 0;
	for (size_t i = 0; i < count; i++)
		if (isfinite(v[i].value))
			v[k++] = v[i];
	if (k > 1)
		qsort(v, k, sizeof(*v), entry_slot_cmp);
	size_t u = 0;
	for (size_t i = 0; i < k; i++)
		if (!u || entry_cmp(&v[u - 1], &v[i]))
			v[u++] = v[i];
	st->v = v;
	st->n = u;
	return st;
}

void jp_state_close(struct jp_state *st)
{
	if (!st)
		return;
	entries_free(st);
	jp_buf_free(&st->out);
	jp_buf_free(&st->jout);
	jp_buf_free(&st->rbody);
	free(st->map.id);
	free(st->map.slot);
	free(st->seq_id);
	free(st->seq_slot);
	free(st->seq_ptr);
	if (st->jfd >= 0)
		close(st->jfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	free(st->dir);
	free(st->path);
	free(st->tmp);
	free(st);
}

size_t jp_state_loaded(const struct jp_state *st)
{
	return st->n;
}

/* The key of a series into b (reset first). */
static int series_key(const struct jp_series *s, struct jp_buf *b)
{
	jp_buf_reset(b);
	for (uint16_t i = 0; i < s->nlabels; i++)
		if (jp_buf_append(b, s->labels[i].name, strlen(s->labels[i].name) + 1) ||
		    jp_buf_append(b, s->labels[i].value, strlen(s->labels[i].value) + 1))
			return -ENOMEM;
	return 0;
}

static int lookup(void *arg, const struct jp_series *s, double *base, int64_t *start_ms)
{
	struct jp_state *st = arg;
	if (!st->n || !s->name || !jp_state_resumable(s->name))
		return 0;
	struct jp_buf k = {0};
	if (series_key(s, &k)) {
		jp_buf_free(&k);
		return 0;
	}
	struct entry want = {.key = k.data, .keylen = (uint32_t)k.len};
	const struct entry *e = bsearch(&want, st->v, st->n, sizeof(*st->v), entry_cmp);
	jp_buf_free(&k);
	if (!e)
		return 0;
	*base = e->value;
	*start_ms = e->start_ms;
	((struct entry *)e)->used = 1;
	return 1;
}

struct jp_store_resume jp_state_resume(struct jp_state *st)
{
	return (struct jp_store_resume){.lookup = lookup, .arg = st};
}

/* ---- the series' slots ---------------------------------------------------------------- */

static size_t map_pos(const struct slotmap *m, uint32_t id)
{
	size_t i = (id * 2654435761u) & (m->cap - 1);
	while (m->id[i] && m->id[i] != id)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static uint32_t map_get(const struct slotmap *m, uint32_t id, int *found)
{
	*found = 0;
	if (!m->cap)
		return NO_SLOT;
	size_t i = map_pos(m, id);
	*found = m->id[i] == id;
	return *found ? m->slot[i] : NO_SLOT;
}

static int map_put(struct slotmap *m, uint32_t id, uint32_t slot)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct slotmap g = {.cap = m->cap ? m->cap * 2 : 1024};
		g.id = calloc(g.cap, sizeof(*g.id));
		g.slot = calloc(g.cap, sizeof(*g.slot));
		if (!g.id || !g.slot) {
			free(g.id);
			free(g.slot);
			return -ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->id[i]) {
				size_t p = map_pos(&g, m->id[i]);
				g.id[p] = m->id[i];
				g.slot[p] = m->slot[i];
				g.n++;
			}
		free(m->id);
		free(m->slot);
		*m = g;
	}
	size_t p = map_pos(m, id);
	if (!m->id[p])
		m->n++;
	m->id[p] = id;
	m->slot[p] = slot;
	return 0;
}

static void map_clear(struct slotmap *m)
{
	if (m->cap) {
		memset(m->id, 0, m->cap * sizeof(*m->id));
		m->n = 0;
	}
}

/* ---- saving ------------------------------------------------------------------------------ */

struct save_ctx {
	struct jp_state *st;
	struct jp_store *store;
	struct jp_buf key;
	uint32_t count;
	int rc;
};

/* Whether a value is one a counter is saved with. */
static int saved_value(double v)
{
	return isfinite(v) && v >= 0;
}

static int save_one(const struct jp_series *s, double v, void *arg)
{
	struct save_ctx *c = arg;
	if (!s->name || !jp_state_resumable(s->name) || !saved_value(v)) {
		/* Known not to be saved: no question asked again until the next snapshot. */
		if (s->name && !jp_state_resumable(s->name) && map_put(&c->st->map, s->id, NO_SLOT)) {
			c->rc = -ENOMEM;
			return 1;
		}
		return 0;
	}
	if (map_put(&c->st->map, s->id, c->count)) {
		c->rc = -ENOMEM;
		return 1;
	}
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	if (series_key(s, &c->key) || put32(&c->st->out, (uint32_t)c->key.len) ||
	    jp_buf_append(&c->st->out, c->key.data, c->key.len) || put64(&c->st->out, bits) ||
	    put64(&c->st->out, (uint64_t)s->start_ms)) {
		c->rc = -ENOMEM;
		return 1;
	}
	c->count++;
	return 0;
}

static int journal_reset(struct jp_state *st, int64_t snap_ms);

/* Append to the journal and sync. On a failure the journal may end in a torn record: it is
 * closed, and the next save starts afresh with a snapshot. */
static int journal_write(struct jp_state *st, const void *p, size_t n)
{
	int rc = jp_write_all(st->jfd, p, n);
	if (!rc && fdatasync(st->jfd))
		rc = -errno;
	if (rc) {
		close(st->jfd);
		st->jfd = -1;
	}
	return rc;
}

/* A whole snapshot, then an empty journal tied to it. */
static int save_snapshot(struct jp_state *st, struct jp_store *store, int64_t now_ms)
{
	struct save_ctx c = {.st = st, .store = store};
	map_clear(&st->map);
	st->nseq = 0;
	jp_buf_reset(&st->out);
	if (jp_buf_append(&st->out, MAGIC, 8) || put64(&st->out, (uint64_t)now_ms) || put32(&st->out, 0))
		return -ENOMEM;
	jp_store_foreach_set(store, save_one, &c);
	jp_buf_free(&c.key);
	if (c.rc)
		return c.rc;
	if (now_ms >= st->carry_until_ms) {
		entries_free(st);
		st->carry_dropped = 1;
	}
	/* A file can hold series that this node no longer has (or never had): no more of
	 * them are carried than the store has counters, so the file cannot outgrow what the
	 * node produces. */
	uint32_t carry_max = c.count;
	for (size_t i = 0; i < st->n && carry_max; i++) {
		const struct entry *e = &st->v[i];
		uint64_t bits;
		memcpy(&bits, &e->value, sizeof(bits));
		if (e->used)
			continue;
		carry_max--;
		if (put32(&st->out, e->keylen) || jp_buf_append(&st->out, e->key, e->keylen) ||
		    put64(&st->out, bits) || put64(&st->out, (uint64_t)e->start_ms))
			return -ENOMEM;
		c.count++;
	}
	jp_put_u32(st->out.data + 16, c.count);
	if (put32(&st->out, jp_crc32c(0, st->out.data + 8, st->out.len - 8)))
		return -ENOMEM;
	/* Whatever stands at the temporary's name (a FIFO would block the loop, a link would
	 * make every save fail) goes; the file is then made afresh and never opened twice. */
	if (unlinkat(st->dirfd, st->tmp, 0) && errno != ENOENT && errno != EISDIR)
		return -errno;
	int fd = openat(st->dirfd, st->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0)
		return -errno;
	int rc = jp_write_all(fd, st->out.data, st->out.len);
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && renameat(st->dirfd, st->tmp, st->dirfd, JP_STATE_FILE))
		rc = -errno;
	if (rc) {
		unlinkat(st->dirfd, st->tmp, 0);
		return rc;
	}
	/* The rename is durable once the directory is. */
	fsync(st->dirfd);
	st->snap_bytes = st->out.len;
	st->next_slot = c.count;
	return journal_reset(st, now_ms);
}

/* The journal, emptied and tied to the snapshot of snap_ms. Whatever stands at its name
 * that is not a regular file (a FIFO, a link) is replaced. */
static int journal_reset(struct jp_state *st, int64_t snap_ms)
{
	if (st->jfd < 0) {
		int fd = openat(st->dirfd, JP_STATE_JOURNAL, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
		struct stat sb;
		if (fd >= 0 && (fstat(fd, &sb) || !S_ISREG(sb.st_mode))) {
			close(fd);
			fd = -1;
			errno = EINVAL;
		}
		if (fd < 0 && (unlinkat(st->dirfd, JP_STATE_JOURNAL, 0) == 0 || errno == ENOENT))
			fd = openat(st->dirfd, JP_STATE_JOURNAL, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -errno;
		st->jfd = fd;
	}
	uint8_t h[JHEADER];
	memcpy(h, JMAGIC, 8);
	jp_put_u64(h + 8, (uint64_t)snap_ms);
	jp_put_u32(h + 16, jp_crc32c(0, h + 8, 8));
	if (ftruncate(st->jfd, 0)) {
		int rc = -errno;
		close(st->jfd);
		st->jfd = -1;
		return rc;
	}
	int rc = journal_write(st, h, sizeof(h));
	if (!rc)
		st->jbytes = sizeof(h);
	return rc;
}

static int rec_begin(struct jp_buf *b, size_t *at, uint8_t type)
{
	*at = b->len;
	return put32(b, 0) || jp_buf_append(b, &type, 1);
}

static int rec_end(struct jp_buf *b, size_t at)
{
	jp_put_u32(b->data + at, (uint32_t)(b->len - at - 4));
	return put32(b, jp_crc32c(0, b->data + at + 4, b->len - at - 4));
}

struct round_ctx {
	struct jp_state *st;
	struct jp_buf key;
	size_t i;              /* the series' position in the round */
	int same_series;       /* no series made or freed since the last round */
	int rc;
	struct jp_runs runs;    /* the round's values by slot, in st->rbody ('S') */
};

/* One series of a round: a 'D' record the first time it is saved, its slot and value in
 * the round's 'S' record (see round_record). */
static int journal_one(const struct jp_series *s, double v, void *arg)
{
	struct round_ctx *c = arg;
	struct jp_state *st = c->st;
	int found = 1;
	size_t i = c->i++;
	uint32_t slot = i < st->nseq && (c->same_series ? st->seq_ptr[i] == s : st->seq_id[i] == s->id)
				? st->seq_slot[i]
				: map_get(&st->map, s->id, &found);
	if (i >= st->cap_seq) {
		size_t nc = st->cap_seq ? st->cap_seq * 2 : 1024;
		uint32_t *a = realloc(st->seq_id, nc * sizeof(*a)), *b = a ? realloc(st->seq_slot, nc * sizeof(*b)) : NULL;
		const struct jp_series **p = b ? realloc(st->seq_ptr, nc * sizeof(*p)) : NULL;
		if (a)
			st->seq_id = a;
		if (b)
			st->seq_slot = b;
		if (!p) {
			c->rc = -ENOMEM;
			return 1;
		}
		st->seq_ptr = p;
		st->cap_seq = nc;
	}
	if (!found) {
		if (!s->name || !jp_state_resumable(s->name)) {
			st->seq_id[i] = s->id;
			st->seq_ptr[i] = s;
			st->seq_slot[i] = NO_SLOT;
			c->rc = map_put(&st->map, s->id, NO_SLOT);
			return c->rc;
		}
		if (!saved_value(v)) {
			st->seq_id[i] = 0;   /* asked again next round */
			st->seq_ptr[i] = NULL;
			return 0;
		}
		size_t at;
		slot = st->next_slot++;
		if (map_put(&st->map, s->id, slot) || series_key(s, &c->key) || rec_begin(&st->jout, &at, 'D') ||
		    put32(&st->jout, slot) || put64(&st->jout, (uint64_t)s->start_ms) ||
		    jp_buf_append(&st->jout, c->key.data, c->key.len) || rec_end(&st->jout, at)) {
			c->rc = -ENOMEM;
			return 1;
		}
	}
	if (!c->same_series || i >= st->nseq || st->seq_ptr[i] != s) {
		st->seq_id[i] = s->id;
		st->seq_ptr[i] = s;
	}
	st->seq_slot[i] = slot;
	if (slot == NO_SLOT || !saved_value(v))
		return 0;
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	if (jp_runs_add(&c->runs, slot, bits)) {
		c->rc = -ENOMEM;
		return 1;
	}
	return 0;
}

/* The round's record into st->jout: 'S' as built, or 'R' (12 bytes a value) when the
 * series came in another order than their slots and the runs would take more. */
static int round_record(struct jp_state *st, const struct round_ctx *c, int64_t now_ms)
{
	size_t at;
	int by_runs = jp_runs_smaller(&c->runs);
	if (rec_begin(&st->jout, &at, by_runs ? 'S' : 'R') || put64(&st->jout, (uint64_t)now_ms))
		return -ENOMEM;
	if (by_runs) {
		if (jp_buf_append(&st->jout, st->rbody.data, st->rbody.len))
			return -ENOMEM;
	} else {
		if (jp_buf_reserve(&st->jout, c->runs.vals * JP_PAIR_BYTES))
			return -ENOMEM;
		st->jout.len += jp_runs_to_pairs(st->rbody.data, st->rbody.len, st->jout.data + st->jout.len);
	}
	return rec_end(&st->jout, at);
}

static int save_round(struct jp_state *st, struct jp_store *store, int64_t now_ms)
{
	uint64_t churn = jp_store_series_churn(store);
	struct round_ctx c = {.st = st, .same_series = st->nseq && churn == st->seq_churn};
	jp_buf_reset(&st->jout);
	jp_buf_reset(&st->rbody);
	jp_runs_begin(&c.runs, &st->rbody);
	jp_store_foreach_set(store, journal_one, &c);
	jp_buf_free(&c.key);
	st->nseq = c.rc ? 0 : c.i;
	st->seq_churn = churn;
	if (c.rc)
		return c.rc;
	jp_runs_end(&c.runs);
	if (round_record(st, &c, now_ms))
		return -ENOMEM;
	int rc = journal_write(st, st->jout.data, st->jout.len);
	if (rc)
		return rc;
	st->jbytes += st->jout.len;
	return 0;
}

#define SNAP_BUF_KEEP (64u << 10)

int jp_state_save(struct jp_state *st, struct jp_store *store, int64_t now_ms)
{
	if (!st->carry_until_ms)
		st->carry_until_ms = now_ms + JP_STATE_CARRY_MS;
	size_t limit = 4 * st->snap_bytes > JMIN_COMPACT ? 4 * st->snap_bytes : JMIN_COMPACT;
	if (st->jfd < 0 || st->jbytes > limit || (now_ms >= st->carry_until_ms && !st->carry_dropped)) {
		int rc = save_snapshot(st, store, now_ms);
		/* A snapshot of 10,000 counters takes 2 MiB, and the next one comes when the
		 * journal has grown to four of them: the buffer is not kept for it. */
		if (st->out.cap > SNAP_BUF_KEEP)
			jp_buf_free(&st->out);
		return rc;
	}
	return save_round(st, store, now_ms);
}
