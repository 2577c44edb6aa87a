/* SPDX-License-Identifier: Apache-2.0 */
/* The queue's ack file (remote/queue_internal.h): the durable read position in two
 * checksummed slots written alternately, synced at most ACK_SYNC_MS after an ack. */
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

/* --- the ack file ------------------------------------------------------------------ */

/* Make the written ack position durable (see the format comment for when). */
int jpq_ack_sync(struct jp_queue *q)
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

int jpq_ack_write(struct jp_queue *q)
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
	jp_put_u64(b + 8, seq);
	jp_put_u64(b + 16, q->ack.segment);
	jp_put_u64(b + 24, q->ack.offset);
	jp_put_u32(b + 32, q->ack.index);
	jp_put_u32(b + 36, jp_crc32c(0, b, 36));
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
		return jpq_ack_sync(q);
	return 0;
fail:
	jp_error(MOD, "%s/ack: cannot persist the ack position: %s (acked data may be sent again after a restart)",
		 q->dir, strerror(-r));
	return r;
}

/* Parse one slot; 1 and *seq, *out if valid. */
static int ack_slot(const uint8_t *b, size_t n, uint64_t *seq, struct jp_queue_pos *out)
{
	if (n < ACK_LEN || memcmp(b, ACK_MAGIC, 8) != 0 || jp_crc32c(0, b, 36) != jp_get_u32(b + 36))
		return 0;
	/* Segment names have 16 decimal digits. */
	if (jp_get_u64(b + 16) >= 10000000000000000ULL)
		return 0;
	*seq = jp_get_u64(b + 8);
	out->segment = jp_get_u64(b + 16);
	out->offset = jp_get_u64(b + 24);
	out->index = jp_get_u32(b + 32);
	return 1;
}

/* Read the ack file: 1 if a slot is valid, 0 if the file is missing, -1 if corrupt. */
int jpq_ack_read(struct jp_queue *q, struct jp_queue_pos *out)
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
	ssize_t n = jpq_pread(fd, b, sizeof(b), 0);
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

