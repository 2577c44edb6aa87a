/* SPDX-License-Identifier: Apache-2.0 */
/* A growable byte buffer used by the encoders, the exposition writer and HTTP bodies. */
#ifndef JP_UTIL_BUF_H
#define JP_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct jp_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

/* Make room for at least `extra` more bytes; returns 0 or -ENOMEM. */
int jp_buf_reserve(struct jp_buf *b, size_t extra);
int jp_buf_append(struct jp_buf *b, const void *p, size_t n);
/* printf-style append; returns 0 or -ENOMEM. */
int jp_buf_printf(struct jp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s percent-encoded for a URL query value (RFC 3986: everything but unreserved
 * characters is escaped); returns 0 or -ENOMEM. */
int jp_buf_append_urlencoded(struct jp_buf *b, const char *s);
/* Forget the contents but keep the memory. */
static inline void jp_buf_reset(struct jp_buf *b) { b->len = 0; }
/* Free the memory; the buffer can be used again afterwards. */
void jp_buf_free(struct jp_buf *b);

/* A body sink in libcurl's write-callback shape (CURLOPT_WRITEFUNCTION, arg a struct
 * jp_buf): appends, and refuses (returns 0, which aborts the transfer) past
 * JP_BUF_SINK_MAX bytes or when memory runs out. */
#define JP_BUF_SINK_MAX (64u << 20)
size_t jp_buf_sink(char *p, size_t size, size_t n, void *arg);

/* Read a small file (sysfs, procfs) with one read() into buf, NUL-terminated, nothing
 * trimmed. Opens without blocking, so that a FIFO where the file should be reads as empty
 * instead of stalling. Returns the length read or -errno. */
ssize_t jp_read_small(const char *path, char *buf, size_t cap);

/* Write all n bytes to fd, going on after short writes and EINTR; returns 0 or -errno. */
int jp_write_all(int fd, const void *p, size_t n);

/* Grow the array *p of *cap elements of elem bytes to hold at least need elements
 * (doubling, from 16); returns 0 or -ENOMEM, leaving *p and *cap as they were. */
int jp_grow(void **p, size_t *cap, size_t need, size_t elem);

#endif
