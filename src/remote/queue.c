/* SPDX-License-Identifier: Apache-2.0 */
/* A crash-safe, checksummed on-disk queue of samples for one remote
 * (docs/reference/remote-write.md). The format, and how the queue is cut into files, are
 * described in remote/queue_internal.h. This file: segments, open/close, append, read and
 * ack; records are read through remote/queue_read.c. */
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
#include "util/safedir.h"
#include "util/intern.h"

/* Samples in segment s before position (off, idx): a scan of the record headers. */
static uint64_t count_before(struct jp_queue *q, struct seg *s, uint64_t off, uint32_t idx)
{
	if (jpq_win_open(q, &q->swin, s->num) < 0)
		return 0;
	uint64_t n = 0, o = SEG_HDR;
	struct rec r;
	while ((o = jpq_seg_skip_hole(s, o)) < off && jpq_rec_next(&q->swin, o, s->size, 0, &r) == REC_OK) {
		if (rec_has_samples(r.type) && r.len >= SAMPLES_FIXED)
			n += jp_get_u32(r.p + 8);
		o += REC_HDR + r.len;
	}
	return n + idx;
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
		jpq_win_close(&q->rwin);
	if (q->swin.num == s->num)
		jpq_win_close(&q->swin);
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
	jpq_seg_free(q, s);
}

/* Delete the oldest segments while more than max_disk_bytes would be on disk after
 * adding `extra` bytes; the writer's segment is never dropped. */
static void enforce_limit(struct jp_queue *q, uint64_t extra)
{
	uint64_t nseg = 0, nsmp = 0;
	while (q->nsegs && q->segs[0] != q->wseg && q->disk_bytes + extra > q->max_disk_bytes) {
		struct seg *s = q->segs[0];
		uint64_t lost = jpq_seg_unacked(q, s);
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

struct jp_queue *jp_queue_open(const char *dir, uint64_t max_disk_bytes)
{
	return jp_queue_open_owned(dir, max_disk_bytes, (uid_t)-1);
}

struct jp_queue *jp_queue_open_owned(const char *dir, uint64_t max_disk_bytes, uid_t owner_uid)
{
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
	char why[256];
	q->dirfd = jp_safedir_open(dir, 1, 0755, owner_uid, why, sizeof(why));
	if (q->dirfd < 0) {
		r = q->dirfd;
		jp_error(MOD, "queue directory: %s", why);
		goto fail;
	}
	/* Two processes appending to one queue would corrupt each other's view. */
	if (flock(q->dirfd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		jp_error(MOD, "%s: queue directory is in use by another process", dir);
		goto fail;
	}
	if ((r = jpq_recover(q)) < 0) {
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
		jpq_ack_sync(q);
		close(q->ackfd);
	}
	jpq_win_close(&q->rwin);
	jpq_win_close(&q->swin);
	free(q->rwin.buf);
	free(q->swin.buf);
	for (size_t i = 0; i < q->nsegs; i++)
		jpq_seg_free(q, q->segs[i]);
	for (size_t i = 0; i < q->nzombies; i++)
		jpq_seg_free(q, q->zombies[i]);
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
	jp_buf_free(&q->wrun);
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
	jp_put_u32(tmp, series->id);
	jp_put_u32(tmp + 4, series->nlabels);
	jp_buf_append(b, tmp, 8);
	for (uint16_t i = 0; i < series->nlabels; i++) {
		const char *s[2] = {series->labels[i].name, series->labels[i].value};
		for (int k = 0; k < 2; k++) {
			size_t l = s[k] ? strlen(s[k]) : 0;
			if (l > UINT32_MAX)
				l = 0;
			jp_put_u32(tmp, (uint32_t)l);
			if ((r = jp_buf_append(b, tmp, 4)) || (r = jp_buf_append(b, s[k], l))) {
				b->len = start;
				return r;
			}
		}
	}
	/* When the series began counting (remote write 2.0 sends it for counters). */
	if (series->start_ms) {
		jp_put_u64(tmp, (uint64_t)series->start_ms);
		if ((r = jp_buf_append(b, tmp, 8))) {
			b->len = start;
			return r;
		}
	}
	uint8_t *h = b->data + start;
	size_t len = b->len - start - REC_HDR;
	uint32_t id, nl;
	size_t sb, lablen;
	int64_t st;
	if (len > MAX_REC_LEN || !jpq_series_valid(h + REC_HDR, len, &id, &nl, &sb, &lablen, &st)) {
		b->len = start;
		return -EINVAL;
	}
	jp_put_u32(h, (uint32_t)len);
	jp_put_u32(h + 4, REC_SERIES);
	jp_put_u32(h + 8, rec_crc(h, h + REC_HDR, len));
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

/* Finish the samples record at h, written as SAMPLES with count samples; as RUNS when
 * that is smaller (built in scratch, then copied over it). Returns its end. */
static uint8_t *finish_samples_rec(struct jp_queue *q, uint8_t *h, uint32_t count)
{
	uint8_t *b = h + REC_HDR, *smp = b + SAMPLES_FIXED;
	uint32_t type = REC_SAMPLES, len = SAMPLES_FIXED + count * SAMPLE_BYTES;
	struct jp_runs runs;
	jp_buf_reset(&q->wrun);
	jp_runs_begin(&runs, &q->wrun);
	int ok = 1;
	for (uint32_t k = 0; ok && k < count; k++)
		ok = jp_runs_add(&runs, jp_get_u32(smp + (size_t)k * SAMPLE_BYTES),
				 jp_get_u64(smp + (size_t)k * SAMPLE_BYTES + 4)) == 0;
	jp_runs_end(&runs);
	if (ok && count && jp_runs_smaller(&runs)) {
		memcpy(smp, q->wrun.data, q->wrun.len);
		type = REC_RUN;
		len = (uint32_t)(SAMPLES_FIXED + q->wrun.len);
	}
	jp_put_u32(h, len);
	jp_put_u32(h + 4, type);
	jp_put_u32(b + 8, count);
	jp_put_u32(h + 8, rec_crc(h, b, len));
	return b + len;
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
		jpq_seg_free(q, s);
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

/* Build a round in q->wdefs (SERIES records for ids new in this segment) and q->wsamples
 * (its SAMPLES records). Returns the samples written (those of series without a valid id
 * or labels are skipped and logged), or a negative errno: the ids it marked defined are
 * then unmarked. */
static ssize_t build_round(struct jp_queue *q, int64_t ts_ms, const struct jp_round_sample *v, size_t n)
{
	jp_buf_reset(&q->wdefs);
	jp_buf_reset(&q->wsamples);
	q->nnew = 0;
	size_t nrec = (n + MAX_SAMPLES_PER_REC - 1) / MAX_SAMPLES_PER_REC;
	int r = jp_buf_reserve(&q->wsamples, nrec * (REC_HDR + SAMPLES_FIXED) + n * SAMPLE_BYTES);
	if (r < 0)
		goto fail;
	uint8_t *out = q->wsamples.data, *rec = out, *p = out + REC_HDR + SAMPLES_FIXED;
	jp_put_u64(rec + REC_HDR, (uint64_t)ts_ms);
	uint32_t cnt = 0;
	size_t written = 0, skipped = 0;
	for (size_t i = 0; i < n; i++) {
		const struct jp_series *s = v[i].series;
		uint32_t id = jp_round_sample_id(&v[i]);
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
				goto fail;
		}
		if (cnt == MAX_SAMPLES_PER_REC) {
			p = finish_samples_rec(q, rec, cnt);
			rec = p;
			jp_put_u64(rec + REC_HDR, (uint64_t)ts_ms);
			p = rec + REC_HDR + SAMPLES_FIXED;
			cnt = 0;
		}
		uint64_t bits;
		memcpy(&bits, &v[i].value, 8);
		jp_put_u32(p, id);
		jp_put_u64(p + 4, bits);
		p += SAMPLE_BYTES;
		cnt++;
		written++;
	}
	if (skipped)
		jp_log_rl(&q->rl_bad_series, JP_LOG_WARN, MOD,
			  "%s: skipped %zu samples of series with invalid labels or ids", q->dir, skipped);
	if (cnt)
		p = finish_samples_rec(q, rec, cnt);
	else
		p = rec;   /* nothing valid in the last record */
	q->wsamples.len = (size_t)(p - out);
	return (ssize_t)written;
fail:
	for (size_t i = 0; i < q->nnew; i++)
		q->defined[q->newids[i] / 8] &= (uint8_t)~(1u << (q->newids[i] & 7));
	q->nnew = 0;
	return r;
}

/* Write iov[0..niov) (total bytes) at off of the write segment, whatever short writes
 * come, then make it durable (and the directory, for a fresh segment). 0, or a negative
 * errno with the segment left as it was and one error line saying n samples are lost. */
static int write_round(struct jp_queue *q, struct iovec *io, int niov, uint64_t off, uint64_t total, int fresh,
		       size_t n)
{
	struct seg *ws = q->wseg;
	uint64_t done = 0;
	while (done < total) {
		ssize_t w = pwritev(q->wfd, io, niov, (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int r = w < 0 ? -errno : -EIO;
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
		int r = -errno;
		jp_error(MOD, "%s/%016" PRIu64 ".seg: fdatasync failed: %s (%zu samples not queued)",
			 q->dir, ws->num, strerror(-r), n);
		undo_write(q, 1);
		return r;
	}
	return 0;
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
	/* The round's definitions and samples, written with one pwritev. */
	ssize_t written = build_round(q, ts_ms, v, n);
	if (written < 0) {
		if (fresh)
			undo_write(q, 0);
		jp_error(MOD, "%s: cannot build a round of %zu samples: %s", q->dir, n, strerror((int)-written));
		return (int)written;
	}
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
	if ((r = write_round(q, iov, niov, off, total, fresh, n)) < 0)
		return r;
	/* The acks since the last sync ride along with this round's. */
	jpq_ack_sync(q);
	ws->size = off + total;
	q->disk_bytes += ws->size - ws->fsize;
	ws->fsize = ws->size;
	ws->nsamples += (uint64_t)written;
	q->pending += (uint64_t)written;
	/* The definitions of a whole node are written once per segment: do not keep a
	 * buffer of that size for the rounds in between. */
	if (q->wdefs.cap > DEFS_BUF_KEEP)
		jp_buf_free(&q->wdefs);
	return 0;
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
	while ((s->defs_upto = jpq_seg_skip_hole(s, s->defs_upto)) < upto) {
		enum rec_status st = jpq_rec_next(&q->rwin, s->defs_upto, s->size, 0, &r);
		if (st != REC_OK)
			return st == REC_IOERR ? -EIO : 0;
		if (r.type == REC_SERIES)
			jpq_load_series(q, s, r.p, r.len);
		s->defs_upto += REC_HDR + r.len;
	}
	return 0;
}

static int cmp_ts(const void *a, const void *b)
{
	int64_t x = ((const struct jp_sample *)a)->ts_ms, y = ((const struct jp_sample *)b)->ts_ms;
	return x < y ? -1 : x > y;
}

#define PREFETCH_AHEAD 64

/* Group the n samples read into b, one jp_batch_series per def, each in time order. */
static int group(struct jp_queue *q, struct jp_batch *b, size_t n)
{
	int r;
	if ((r = jp_grow((void **)&b->samples, &b->cap_samples, n, sizeof(*b->samples))) < 0)
		return r;
	if (n && q->rd_records == 1 && q->rd_ascending) {
		/* The steady state: part of one round, whose ids are distinct because they
		 * rise, so each sample is a series of its own and nothing needs grouping (nor
		 * each def's cache line touched here: the encoder fetches it ahead). */
		if ((r = jp_grow((void **)&b->series, &b->cap_series, n, sizeof(*b->series))) < 0)
			return r;
		for (size_t i = 0; i < n; i++)
			b->series[i] = (struct jp_batch_series){&q->rd_def[i]->pub, (uint32_t)i, 1};
		memcpy(b->samples, q->rd_smp, n * sizeof(*b->samples));
		b->nseries = n;
		b->nsamples = n;
		b->oldest_ts_ms = q->rd_smp[0].ts_ms;   /* one round: one time */
		return 0;
	}
	q->gen++;
	for (size_t i = 0; i < n; i++) {
		/* The defs are scattered over the heap and cold since the last round: fetch
		 * ahead so that the misses overlap instead of following one another. */
		if (i + PREFETCH_AHEAD < n)
			__builtin_prefetch(&q->rd_def[i + PREFETCH_AHEAD]->gen, 1);
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

/* Take the samples of SAMPLES record rc of segment s from the read position on, up to
 * max_samples in all (*n so far), into q->rd_def / q->rd_smp. Returns 1 when the batch
 * filled up inside the record, 0 when the record was taken whole, or -ENOMEM. */
static int take_samples(struct jp_queue *q, struct seg *s, const struct rec *rc, size_t max_samples, size_t *n)
{
	int64_t ts = (int64_t)jp_get_u64(rc->p);
	uint32_t cnt = jp_get_u32(rc->p + 8);
	int run = rc->type == REC_RUN;
	if (run ? !runs_body_valid(rc->p, rc->len) : (uint64_t)cnt * SAMPLE_BYTES > rc->len - SAMPLES_FIXED)
		cnt = run ? 0 : (rc->len - SAMPLES_FIXED) / SAMPLE_BYTES;
	uint32_t idx = q->cur.index < cnt ? q->cur.index : cnt;
	size_t take = cnt - idx;
	if (take > max_samples - *n)
		take = max_samples - *n;
	int r;
	if ((r = jp_grow((void **)&q->rd_def, &q->caprd, *n + take, sizeof(*q->rd_def))) < 0 ||
	    (r = jp_grow((void **)&q->rd_smp, &q->caprd_smp, *n + take, sizeof(*q->rd_smp))) < 0)
		return r;
	/* RUNS: the run holding sample idx (runs_left samples of it from there on, the next
	 * id in it); SAMPLES: the sample itself. */
	const uint8_t *sp = rc->p + SAMPLES_FIXED;
	uint32_t runs_left = 0, next_id = 0;
	if (run && take) {
		/* runs_body_valid: the runs add up to cnt > idx, so one holds sample idx. */
		for (uint32_t skip = idx;;) {
			uint32_t rn = jp_get_u32(sp + 4);
			if (skip < rn) {
				next_id = jp_get_u32(sp) + skip;
				runs_left = rn - skip;
				sp += JP_RUN_HDR + (size_t)skip * 8;
				break;
			}
			skip -= rn;
			sp += JP_RUN_HDR + (size_t)rn * 8;
		}
	} else if (!run) {
		sp += (size_t)idx * SAMPLE_BYTES;
	}
	size_t unknown = 0;
	if (take)
		q->rd_records++;
	for (size_t i = 0; i < take; i++) {
		uint32_t id;
		uint64_t bits;
		if (run) {
			if (!runs_left) {
				next_id = jp_get_u32(sp);
				runs_left = jp_get_u32(sp + 4);
				sp += JP_RUN_HDR;
			}
			id = next_id++;
			runs_left--;
			bits = jp_get_u64(sp);
			sp += 8;
		} else {
			id = jp_get_u32(sp);
			bits = jp_get_u64(sp + 4);
			sp += SAMPLE_BYTES;
		}
		struct qdef *d = jpq_idmap_get(&s->map, id);
		if (!d) {
			unknown++;
			continue;
		}
		if (*n && id <= q->rd_last_id)
			q->rd_ascending = 0;
		q->rd_last_id = id;
		q->rd_def[*n] = d;
		q->rd_smp[*n].ts_ms = ts;
		memcpy(&q->rd_smp[*n].value, &bits, 8);
		(*n)++;
	}
	if (unknown)
		jp_log_rl(&q->rl_unknown_id, JP_LOG_WARN, MOD, "%s/%016" PRIu64 ".seg: skipped %zu samples of undefined series",
			  q->dir, s->num, unknown);
	q->cur_before += take;
	q->cur.index = idx + (uint32_t)take;
	return q->cur.index < cnt;
}

/* The batch is read: remember where it ends for the ack, and release at once a batch of
 * nothing but unusable samples (nobody would ever ack it). */
static void batch_read_end(struct jp_queue *q, struct jp_batch *b, size_t n)
{
	if (pos_cmp(&b->end, &b->start) <= 0)
		return;
	if (q->nfifo == FIFO_MAX) {
		memmove(q->fifo, q->fifo + 1, (FIFO_MAX - 1) * sizeof(*q->fifo));
		q->nfifo--;
	}
	if (jp_grow((void **)&q->fifo, &q->capfifo, q->nfifo + 1, sizeof(*q->fifo)) == 0)
		q->fifo[q->nfifo++] = (struct fifo_ent){b->end, q->cur_before};
	if (n == 0 && pos_cmp(&b->start, &q->ack) <= 0)
		jp_queue_ack(q, b);
}

int jp_queue_read(struct jp_queue *q, struct jp_batch *b, size_t max_samples)
{
	jp_batch_reset(b);
	if (max_samples > UINT32_MAX)
		max_samples = UINT32_MAX;
	b->start = q->cur;
	size_t n = 0;
	q->rd_records = 0;
	q->rd_ascending = 1;
	int r = 0;
	while (n < max_samples) {
		struct seg *s = jpq_seg_find_ge(q, q->cur.segment);
		if (!s)
			break;
		if (s->unscanned) {
			/* Unreadable at open: its samples come before everything later, so
			 * nothing later goes out until it has been read. */
			if (n > 0)
				break;
			if ((r = jpq_seg_rescan(q, s)) < 0)
				break;
			continue;
		}
		if (s->num != q->cur.segment || q->cur.offset < SEG_HDR) {
			q->cur = (struct jp_queue_pos){s->num, SEG_HDR, 0};
			q->cur_before = 0;
		}
		uint64_t past = jpq_seg_skip_hole(s, q->cur.offset);
		if (past != q->cur.offset) {
			if (s->defs_upto == q->cur.offset)
				s->defs_upto = past;
			q->cur.offset = past;
			q->cur.index = 0;
			continue;
		}
		if (q->cur.offset >= s->size) {
			struct seg *nx = jpq_seg_find_ge(q, s->num + 1);
			if (!nx)
				break;
			q->cur = (struct jp_queue_pos){nx->num, SEG_HDR, 0};
			q->cur_before = 0;
			continue;
		}
		if ((r = jpq_win_open(q, &q->rwin, s->num)) < 0 ||
		    (r = load_defs_upto(q, s, q->cur.offset)) < 0) {
			jp_log_rl(&q->rl_read, JP_LOG_ERROR, MOD, "%s/%016" PRIu64 ".seg: cannot read: %s",
				  q->dir, s->num, strerror(-r));
			break;
		}
		struct rec rc;
		uint64_t off = q->cur.offset;
		enum rec_status st = jpq_rec_next(&q->rwin, off, s->size, 0, &rc);
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
				  q->dir, s->num, jpq_rec_status_str(st), off);
			q->cur.offset = s->size;
			q->cur.index = 0;
			continue;
		}
		uint64_t end = off + REC_HDR + rc.len;
		if (rc.type == REC_SERIES && s->defs_upto == off)
			jpq_load_series(q, s, rc.p, rc.len);
		if (rec_has_samples(rc.type) && rc.len >= SAMPLES_FIXED) {
			int full = take_samples(q, s, &rc, max_samples, &n);
			if (full < 0) {
				r = full;
				break;
			}
			if (full)
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
	batch_read_end(q, b, n);
	return (int)n;
}

int jp_queue_ack(struct jp_queue *q, const struct jp_batch *b)
{
	struct jp_queue_pos e = b->end;
	if (pos_cmp(&e, &q->ack) <= 0)
		return 0;
	if (pos_cmp(&e, &q->cur) > 0)
		return -EINVAL;   /* never read */

	struct seg *es = jpq_seg_find(q, e.segment);
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
	int r = jpq_ack_write(q);

	/* Segments the ack has passed are no longer needed, nor are their defs: every
	 * batch read later starts at or after e. */
	while (q->nsegs && q->segs[0] != q->wseg &&
	       (q->segs[0]->num < e.segment ||
		(q->segs[0]->num == e.segment && e.offset >= q->segs[0]->size)))
		seg_remove_oldest(q, 0);
	size_t keep = 0;
	for (size_t i = 0; i < q->nzombies; i++) {
		if (q->zombies[i]->num < e.segment)
			jpq_seg_free(q, q->zombies[i]);
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

