/* SPDX-License-Identifier: Apache-2.0 */
/* A growable byte buffer used by the encoders, the exposition writer and HTTP bodies. */
#include "util/buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int jp_buf_reserve(struct jp_buf *b, size_t extra)
{
	if (b->cap - b->len >= extra)
		return 0;
	size_t need = b->len + extra;
	if (need < b->len)
		return -ENOMEM;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int jp_buf_append(struct jp_buf *b, const void *p, size_t n)
{
	int r = jp_buf_reserve(b, n);
	if (r)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int jp_buf_printf(struct jp_buf *b, const char *fmt, ...)
{
	va_list ap;
	for (int attempt = 0; attempt < 2; attempt++) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(room ? (char *)b->data + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return -EINVAL;
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return 0;
		}
		int r = jp_buf_reserve(b, (size_t)n + 1);
		if (r)
			return r;
	}
	return -ENOMEM;
}

int jp_buf_append_urlencoded(struct jp_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			    *p == '-' || *p == '_' || *p == '.' || *p == '~';
		char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
		if (plain ? jp_buf_append(b, p, 1) : jp_buf_append(b, e, 3))
			return -ENOMEM;
	}
	return 0;
}

void jp_buf_free(struct jp_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int jp_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		n *= 2;
	}
	void *np = realloc(*p, n * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = n;
	return 0;
}

size_t jp_buf_sink(char *p, size_t size, size_t n, void *arg)
{
	struct jp_buf *b = arg;
	size_t len = size * n;
	if (b->len + len > JP_BUF_SINK_MAX || jp_buf_append(b, p, len))
		return 0;
	return len;
}

ssize_t jp_read_small(const char *path, char *buf, size_t cap)
{
	if (cap == 0)
		return -EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	ssize_t n;
	do
		n = read(fd, buf, cap - 1);
	while (n < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	return n;
}

int jp_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}
