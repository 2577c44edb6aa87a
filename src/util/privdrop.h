/* SPDX-License-Identifier: Apache-2.0 */
/* Dropping root to an unprivileged user once privileged files and BPF maps are open (README.md). */
#ifndef JP_UTIL_PRIVDROP_H
#define JP_UTIL_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/* The uid and primary gid of `user`; 0 or -ENOENT (unknown user) or a negative errno. */
int jp_privdrop_lookup(const char *user, uid_t *uid, gid_t *gid);

/* Hand each path in `owned` (queue and state directories: the directory and the regular
 * files directly in it, through util/safedir.h) to `user`, then switch the process to that user and its primary group, with no
 * supplementary groups. Already-open descriptors (RAPL counters, /proc/stat, BPF maps and
 * links) keep working. Returns 0, or a negative errno with a one-line reason in why[0..whylen):
 * -ENOENT for an unknown user, -EPERM when not running as root. */
int jp_privdrop(const char *user, const char *const *owned, size_t nowned, char *why, size_t whylen);

/* Whether the user uid:gid (with no supplementary groups, as after jp_privdrop) can open
 * each existing file of paths: secrets read again after the drop (a rotated token, a TLS
 * key libcurl reads per connection). Checked in a forked child that becomes the user.
 * Returns 0, or a negative errno with why[] naming the first file it cannot read. */
int jp_privdrop_check_readable(uid_t uid, gid_t gid, const char *const *paths, size_t n, char *why, size_t whylen);

/* Give up every capability (permitted, effective, inheritable, ambient) and set
 * no_new_privs. jp_privdrop() ends with it; an agent started as a non-root user with
 * capabilities (systemd's AmbientCapabilities) calls it once start-up is done. Returns 0
 * or a negative errno with the reason in why[0..whylen). */
int jp_privdrop_caps(char *why, size_t whylen);

#endif
