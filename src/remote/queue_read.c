/* SPDX-License-Identifier: Apache-2.0 */
/* Reading the queue's files (remote/queue_internal.h): windows over a segment, the
 * records in them, and finding segments. The bottom of the queue's files: the ack file,
 * the definitions, recovery and the queue itself read through it, and it calls none of
 * them. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remote/queue_internal.h"

ssize_t (*jpq_pread)(int fd, void *buf, size_t len, off_t off) = pread;

void jp_queue_set_pread(ssize_t (*fn)(int fd, void *buf, size_t len, off_t off))
{
	jpq_pread = fn ? fn : pread;
}

/* --- reading records ------------------------------------------------------------- */

void jpq_win_close(struct win *w)
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
int jpq_win_open(struct jp_queue *q, struct win *w, uint64_t num)
{
	return jpq_win_open_rw(q, w, num, 0);
}

int jpq_win_open_rw(struct jp_queue *q, struct win *w, uint64_t num, int writable)
{
	if (w->fd >= 0 && w->num == num)
		return 0;
	jpq_win_close(w);
	char name[32];
	seg_name(name, sizeof(name), num);
	int fd = openat(q->dirfd, name, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
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
const uint8_t *jpq_win_get(struct win *w, uint64_t off, size_t len, int *err)
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
		ssize_t r = jpq_pread(w->fd, w->buf + got, want - got, (off_t)(off + got));
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

const char *jpq_rec_status_str(enum rec_status st)
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
enum rec_status jpq_rec_next(struct win *w, uint64_t off, uint64_t limit, int verify, struct rec *r)
{
	int err = 0;
	if (off >= limit)
		return REC_END;
	if (limit - off < REC_HDR)
		return REC_TORN;
	const uint8_t *h = jpq_win_get(w, off, REC_HDR, &err);
	if (!h)
		return REC_IOERR;
	uint32_t len = jp_get_u32(h), type = jp_get_u32(h + 4), crc = jp_get_u32(h + 8);
	if (len > MAX_REC_LEN)
		return REC_BADLEN;
	if (limit - off - REC_HDR < len)
		return REC_TORN;
	h = jpq_win_get(w, off, REC_HDR + len, &err);
	if (!h)
		return REC_IOERR;
	r->len = len;
	r->type = type;
	r->p = h + REC_HDR;
	if (!verify)
		return REC_OK;
	if (rec_crc(h, r->p, len) != crc)
		return REC_BADCRC;
	if (rec_has_samples(type) &&
	    (len < SAMPLES_FIXED || (type == REC_RUN ? !runs_body_valid(r->p, len)
						     : (uint64_t)jp_get_u32(r->p + 8) * SAMPLE_BYTES != len - SAMPLES_FIXED)))
		return REC_BADBODY;
	return REC_OK;
}

/* The offset after the hole of s that starts at off, or off itself. */
uint64_t jpq_seg_skip_hole(const struct seg *s, uint64_t off)
{
	for (size_t i = 0; i < s->nholes && s->holes[i].off <= off; i++)
		if (s->holes[i].off == off)
			return s->holes[i].end;
	return off;
}

/* --- segments --------------------------------------------------------------------- */

struct seg *jpq_seg_find_ge(struct jp_queue *q, uint64_t num)
{
	for (size_t i = 0; i < q->nsegs; i++)
		if (q->segs[i]->num >= num)
			return q->segs[i];
	return NULL;
}

struct seg *jpq_seg_find(struct jp_queue *q, uint64_t num)
{
	struct seg *s = jpq_seg_find_ge(q, num);
	return s && s->num == num ? s : NULL;
}

/* Unacked samples of live segment s. */
uint64_t jpq_seg_unacked(const struct jp_queue *q, const struct seg *s)
{
	if (s->num > q->ack.segment)
		return s->nsamples;
	if (s->num == q->ack.segment)
		return s->nsamples > q->ack_before ? s->nsamples - q->ack_before : 0;
	return 0;
}

