/* SPDX-License-Identifier: Apache-2.0 */
/* Reading secrets (tokens, passwords) from files, and wiping them from memory. */
#include "util/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *jp_secret_read(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int e;
	if (!path || !path[0]) {
		errno = EINVAL;
		return NULL;
	}
	/* O_NONBLOCK: a FIFO planted where the secret should be must not block the loop. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (st.st_size > JP_SECRET_MAX_BYTES) {
		errno = EFBIG;
		goto fail;
	}
	buf = malloc(JP_SECRET_MAX_BYTES + 1);
	if (!buf)
		goto fail;
	for (;;) {
		ssize_t r = read(fd, buf + len, JP_SECRET_MAX_BYTES + 1 - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > JP_SECRET_MAX_BYTES) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	fd = -1;
	/* A NUL would cut the secret short wherever it is used as a string, and what
	 * follows a cut could be a line break inside a header. */
	if (memchr(buf, '\0', len)) {
		errno = EINVAL;
		goto fail;
	}
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
		       buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
	return buf;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	if (buf) {
		explicit_bzero(buf, len);
		free(buf);
	}
	errno = e;
	return NULL;
}

void jp_secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
