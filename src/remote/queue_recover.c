/* SPDX-License-Identifier: Apache-2.0 */
/* Opening a queue directory (remote/queue_internal.h): list the segments, scan each one
 * for valid records, cut a bad tail, remember holes in the middle, and settle the ack
 * position against what survived (docs/reference/remote-write.md "The on-disk queue"). */
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

/* --- open, recovery ------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Test seam (jp_queue_set_cut_hook): runs between the scan of a segment and its cut,
 * where a rename by whoever owns the directory would have its effect. */
void (*jpq_cut_hook)(int dirfd, const char *name);

void jp_queue_set_cut_hook(void (*fn)(int dirfd, const char *name))
{
	jpq_cut_hook = fn;
}

/* Cut segment `name`, scanned through fd, down to `keep` bytes (or delete it when keep
 * is 0), with one log line saying what was cut and why. The cut goes through the
 * descriptor that was scanned, never through the name again: whoever owns the queue
 * directory (the unprivileged user, after a drop) may have put a link or a FIFO there
 * since, and a start as root must not truncate or block on it. */
static void seg_cut(struct jp_queue *q, int fd, const char *name, uint64_t keep, uint64_t fsize,
		    const char *why, uint64_t *fsize_out)
{
	q->cuts++;
	*fsize_out = fsize;
	if (jpq_cut_hook)
		jpq_cut_hook(q->dirfd, name);
	if (keep == 0) {
		jp_warn(MOD, "%s/%s: %s at offset 0: removing the file (%" PRIu64 " bytes)",
			q->dir, name, why, fsize);
		/* Only the name goes; if it no longer names the scanned file, the scanned file
		 * is emptied instead, so that it is not read again. */
		struct stat a, b;
		if (fstat(fd, &a) == 0 && fstatat(q->dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			if (unlinkat(q->dirfd, name, 0) == 0)
				*fsize_out = 0;
		} else if (ftruncate(fd, 0) == 0) {
			*fsize_out = 0;
		}
		return;
	}
	jp_warn(MOD, "%s/%s: %s at offset %" PRIu64 ": cut %" PRIu64 " bytes off the tail",
		q->dir, name, why, keep, fsize - keep);
	if (ftruncate(fd, (off_t)keep) == 0) {
		fdatasync(fd);
		*fsize_out = keep;
	} else {
		jp_warn(MOD, "%s/%s: cannot truncate: %s (ignoring the bad tail)", q->dir, name,
			strerror(errno));
	}
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
		const uint8_t *h = jpq_win_get(w, o, REC_HDR, &err);
		if (!h)
			return err;
		uint32_t len = jp_get_u32(h), type = jp_get_u32(h + 4);
		if ((type != REC_SERIES && !rec_has_samples(type)) || len > MAX_REC_LEN ||
		    limit - o - REC_HDR < len)
			continue;
		struct rec r;
		enum rec_status st = jpq_rec_next(w, o, limit, 1, &r);
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
/* Open segment `name` for the scan (O_RDWR: a damaged tail is cut through this very
 * descriptor) and check its magic. 0 with q->swin open and *fsize, -ENOENT for what is
 * not a segment (removed or ignored, said), or a negative errno; the window is then closed. */
static int seg_open_scan(struct jp_queue *q, struct seg *s, const char *name, uint64_t *fsize)
{
	struct win *w = &q->swin;
	jpq_win_close(w);
	int r = jpq_win_open_rw(q, w, s->num, 1);
	if (r == -EBADFD) {
		jp_warn(MOD, "%s/%s: not a regular file: ignoring it", q->dir, name);
		return -ENOENT;
	}
	if (r < 0)
		return r;
	struct stat st;
	if (fstat(w->fd, &st) < 0) {
		r = -errno;
		jpq_win_close(w);
		return r;
	}
	*fsize = (uint64_t)st.st_size;
	if (*fsize == 0) {
		/* A crash between creating the file and its first write. */
		jp_info(MOD, "%s/%s: empty segment removed", q->dir, name);
		jpq_win_close(w);
		unlinkat(q->dirfd, name, 0);
		return -ENOENT;
	}
	int err = 0;
	uint64_t newsize;
	const uint8_t *m = *fsize >= SEG_HDR ? jpq_win_get(w, 0, SEG_HDR, &err) : NULL;
	if (!m && err) {
		jpq_win_close(w);
		return err;
	}
	if (!m || memcmp(m, SEG_MAGIC, SEG_HDR) != 0) {
		seg_cut(q, w->fd, name, 0, *fsize, "not a queue segment (bad magic)", &newsize);
		jpq_win_close(w);
		return -ENOENT;
	}
	return 0;
}

/* Walk the records of segment s (window open, fsize bytes): count its samples, find the
 * ack position in it, jump over damage in the middle (a hole, logged). *end gets where
 * the valid records end and *last why they end there (REC_END: the file's end). 0, or a
 * negative errno for an I/O error or an allocation failure. */
static int seg_walk(struct jp_queue *q, struct seg *s, const char *name, uint64_t fsize, uint64_t *end,
		    enum rec_status *last)
{
	struct win *w = &q->swin;
	const struct jp_queue_pos *ack = &q->ack;
	uint64_t off = SEG_HDR, skipped = 0, regions = 0;
	struct rec rc;
	enum rec_status stt;
	int r;
	for (;;) {
		stt = jpq_rec_next(w, off, fsize, 1, &rc);
		if (stt == REC_OK) {
			if (ack->segment == s->num && ack->offset == off) {
				uint32_t cnt = rec_has_samples(rc.type) ? jp_get_u32(rc.p + 8) : 0;
				s->ack_found = 1;
				s->ack_before = s->nsamples + (ack->index < cnt ? ack->index : cnt);
			}
			if (rec_has_samples(rc.type))
				s->nsamples += jp_get_u32(rc.p + 8);
			off += REC_HDR + rc.len;
			continue;
		}
		if (stt == REC_END)
			break;
		if (stt == REC_IOERR)
			return w->err ? w->err : -EIO;
		uint64_t next = 0;
		int fr = find_next_record(w, off, fsize, &next);
		if (fr < 0)
			return fr;
		if (fr == 0)
			break;   /* nothing valid follows: a bad tail, cut by the caller */
		if ((r = seg_add_hole(s, off, next)) < 0)
			return r;
		jp_warn(MOD, "%s/%s: %s at offset %" PRIu64 ": skipped %" PRIu64
			" bytes to the next valid record at offset %" PRIu64,
			q->dir, name, jpq_rec_status_str(stt), off, next - off, next);
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
	q->skipped_bytes += skipped;
	q->skipped_regions += regions;
	*end = off;
	*last = stt;
	return 0;
}

static int seg_scan(struct jp_queue *q, struct seg *s)
{
	char name[32];
	seg_name(name, sizeof(name), s->num);
	struct win *w = &q->swin;
	uint64_t fsize = 0, off = SEG_HDR;
	int r = seg_open_scan(q, s, name, &fsize);
	if (r < 0)
		return r;
	s->nsamples = 0;
	s->nholes = 0;
	s->ack_found = 0;
	s->ack_before = 0;
	s->ack_moved = 0;
	s->defs_upto = SEG_HDR;
	enum rec_status stt = REC_END;
	if ((r = seg_walk(q, s, name, fsize, &off, &stt)) < 0) {
		/* Nothing said about the data: kept as it is, scanned again later. */
		jpq_win_close(w);
		s->nholes = 0;
		return r;
	}
	s->size = off;
	s->fsize = fsize;
	if (stt != REC_END) {
		char why[96];
		if (stt == REC_TORN)
			snprintf(why, sizeof(why), "torn record (%" PRIu64 " bytes at the end of the file)",
				 fsize - off);
		else
			snprintf(why, sizeof(why), "%s", jpq_rec_status_str(stt));
		seg_cut(q, w->fd, name, off, fsize, why, &s->fsize);
	}
	jpq_win_close(w);
	if (s->size == SEG_HDR) {
		/* Nothing valid in it: the header alone, or everything was cut. */
		if (s->fsize)
			unlinkat(q->dirfd, name, 0);
		return -ENOENT;
	}
	return 0;
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
int jpq_seg_rescan(struct jp_queue *q, struct seg *s)
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
		jpq_seg_free(q, s);
		return 0;
	}
	q->disk_bytes = q->disk_bytes - old_fsize + s->fsize;
	q->pending += jpq_seg_unacked(q, s);
	jp_info(MOD, "%s/%s: readable again: %" PRIu64 " samples", q->dir, name, s->nsamples);
	return 0;
}

/* The numbers of the segment files in the directory, sorted; the caller frees *nums.
 * 0 or a negative errno. */
static int list_segments(struct jp_queue *q, uint64_t **nums, size_t *n)
{
	int dfd = dup(q->dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		int e = -errno;
		if (dfd >= 0)
			close(dfd);
		return e;
	}
	size_t cap = 0;
	struct dirent *de;
	int r = 0;
	*nums = NULL;
	*n = 0;
	while ((de = readdir(d))) {
		uint64_t num;
		if (!parse_seg_name(de->d_name, &num))
			continue;
		if ((r = jp_grow((void **)nums, &cap, *n + 1, sizeof(**nums))) < 0)
			break;
		(*nums)[(*n)++] = num;
	}
	closedir(d);
	if (r < 0) {
		free(*nums);
		*nums = NULL;
		return r;
	}
	if (*n > 1)
		qsort(*nums, *n, sizeof(**nums), cmp_u64);
	return 0;
}

int jpq_recover(struct jp_queue *q)
{
	/* A temporary left by an older version of this file format. */
	unlinkat(q->dirfd, "ack.tmp", 0);
	struct jp_queue_pos ack = {0, 0, 0};
	int ar = jpq_ack_read(q, &ack);
	if (ar < 0) {
		jp_warn(MOD, "%s/ack: corrupt ack file: starting from the oldest segment (samples may be sent twice)",
			q->dir);
		ack = (struct jp_queue_pos){0, 0, 0};
	}
	q->ack = ack;
	q->ack_before = 0;

	uint64_t *nums = NULL;
	size_t n = 0;
	int r = list_segments(q, &nums, &n);
	if (r < 0)
		return r;

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
			jpq_seg_free(q, s);
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
			jpq_seg_free(q, s);
			continue;
		}
		if ((r = jp_grow((void **)&q->segs, &q->capsegs, q->nsegs + 1, sizeof(*q->segs))) < 0) {
			jpq_seg_free(q, s);
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

	struct seg *as = jpq_seg_find(q, q->ack.segment);
	if (!as) {
		q->ack.offset = q->ack.index = 0;
		q->ack_before = 0;
	}
	q->pending = 0;
	for (size_t i = 0; i < q->nsegs; i++)
		if (!q->segs[i]->unscanned)
			q->pending += jpq_seg_unacked(q, q->segs[i]);
	q->cur = q->ack;
	q->cur_before = q->ack_before;
	q->next_num = maxnum + 1;
	return 0;
}

