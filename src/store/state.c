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
#include "util/safedir.h"

#define MAGIC "JPSTATE1"
#define MAX_KEY (64u << 10)
#define JP_STATE_CARRY_MS (10 * 60 * 1000)

struct entry {
	const uint8_t *key;    /* into jp_state.file: no allocation per entry */
	uint32_t keylen;
	double value;
	int64_t start_ms;
	int used;              /* a series of this run took it */
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
	struct jp_buf out;     /* reused by every save */
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
	st->v = NULL;
	st->file = NULL;
	st->n = 0;
}

int jp_state_parse(const uint8_t *buf, size_t len, struct jp_state *into, size_t *count, char *why, size_t whylen)
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
	struct entry *v = calloc(n + 1, sizeof(*v));
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
	qsort(v, n, sizeof(*v), entry_cmp);
	for (size_t i = 1; i < n; i++)
		if (!entry_cmp(&v[i - 1], &v[i])) {
			snprintf(why, whylen, "a series appears twice");
			goto fail;
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
fail:
	free(v);
	return rc;
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
	uint8_t *buf = NULL;
	size_t len = 0, count;
	char w[160];
	int rc = read_file(st->dirfd, JP_STATE_FILE, &buf, &len, w, sizeof(w));
	if (rc == -ENOENT)
		return st;
	if (!rc) {
		rc = jp_state_parse(buf, len, st, &count, w, sizeof(w));
		if (rc)
			free(buf);
		else
			st->file = buf;    /* the entries point into it */
	}
	if (rc)
		snprintf(why_ignored, ignlen, "%s: %s", st->path, w);
	return st;
}

void jp_state_close(struct jp_state *st)
{
	if (!st)
		return;
	entries_free(st);
	jp_buf_free(&st->out);
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

struct save_ctx {
	struct jp_state *st;
	struct jp_store *store;
	struct jp_buf key;
	uint32_t count;
	int rc;
};

static int save_one(const struct jp_series *s, void *arg)
{
	struct save_ctx *c = arg;
	if (!s->name || !jp_state_resumable(s->name))
		return 0;
	const struct jp_sample *last = jp_series_latest(s);
	double v = last ? last->value : NAN;
	if (!isfinite(v) || v < 0)
		return 0;
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

int jp_state_save(struct jp_state *st, struct jp_store *store, int64_t now_ms)
{
	struct save_ctx c = {.st = st, .store = store};
	jp_buf_reset(&st->out);
	if (jp_buf_append(&st->out, MAGIC, 8) || put64(&st->out, (uint64_t)now_ms) || put32(&st->out, 0))
		return -ENOMEM;
	jp_store_foreach_set(store, save_one, &c);
	jp_buf_free(&c.key);
	if (c.rc)
		return c.rc;
	if (!st->carry_until_ms)
		st->carry_until_ms = now_ms + JP_STATE_CARRY_MS;
	if (now_ms >= st->carry_until_ms)
		entries_free(st);
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
	return 0;
}
