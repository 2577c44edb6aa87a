/* SPDX-License-Identifier: Apache-2.0 */
/* Reading secrets (tokens, passwords) from files, and wiping them from memory. */
#ifndef JP_UTIL_SECRET_H
#define JP_UTIL_SECRET_H

#include <stddef.h>

/* Files larger than this are refused (EFBIG): a token is a few KiB at most. */
#define JP_SECRET_MAX_BYTES 65536

/* Read the secret in path: the whole file less trailing white space (a file written
 * with `echo` ends in a newline). Opened with O_NONBLOCK, so that a FIFO cannot block the
 * caller; anything but a regular file, or a file with a NUL byte, is refused (EINVAL),
 * and one over JP_SECRET_MAX_BYTES too (EFBIG). Returns a malloc'd string the caller
 * frees with jp_secret_free(), or NULL with errno set. The content is never logged. */
char *jp_secret_read(const char *path);

/* Overwrite s with zeros and free it. Accepts NULL. */
void jp_secret_free(char *s);

#endif
