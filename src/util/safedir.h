/* SPDX-License-Identifier: Apache-2.0 */
/* Opening the agent's own directories (queue.dir, state.dir) without following symbolic links. */
#ifndef JP_UTIL_SAFEDIR_H
#define JP_UTIL_SAFEDIR_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Open directory `path` for the agent's own files, walking it one component at a time
 * with O_NOFOLLOW, so that no symbolic link anywhere in it is followed (a link planted
 * under a world-writable parent must not redirect root's writes, nor a later chown, to
 * another directory: docs/reference/configuration.md "queue.dir"). With `create`,
 * missing components are made with mkdirat (mode `mode`, the last one too). The final
 * directory must be owned by root, by the process's effective user or by `owner_uid`
 * ((uid_t)-1: no other owner), and not writable by group or others.
 *
 * Returns an O_RDONLY | O_DIRECTORY descriptor that the caller closes, or a negative
 * errno with one line in why[0..whylen) that names the component at fault: -ELOOP for a
 * symbolic link, -ENOTDIR for something else than a directory, -EPERM for the owner or
 * the mode of the final directory, -EINVAL for a ".." component or an empty path.
 */
int jp_safedir_open(const char *path, int create, mode_t mode, uid_t owner_uid, char *why, size_t whylen);

/* Hand the directory dirfd and the regular files directly in it to uid:gid, all through
 * descriptors: entries that are not regular files (links, FIFOs, directories) are left
 * alone, and so is a file with more than one hard link (it may be a link to a file
 * outside the directory). Returns 0 or the first negative errno. */
int jp_safedir_chown(int dirfd, uid_t uid, gid_t gid);

#endif
