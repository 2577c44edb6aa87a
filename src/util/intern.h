/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The process's one copy of every label name and value: refcounted interned strings.
 * The series store (store/series.c) and the queue readers (remote/queue.c) take their
 * label strings from here, so a label set that is both in the store and in a queue's
 * definitions is stored once; the encoder's dictionaries compare these pointers.
 *
 * One table for the process, used from the loop's thread only (like everything else
 * in the agent: docs/design.md). Not thread-safe.
 */
#ifndef JP_UTIL_INTERN_H
#define JP_UTIL_INTERN_H

#include <stddef.h>
#include <stdint.h>

/* The hash jp_intern_hashed wants (64 bits, well mixed: the store builds label-set hashes
 * from it). */
uint64_t jp_intern_hash(const char *s, size_t len);

/* The interned copy of s[0..len) (NUL-terminated), with one more reference; NULL on
 * ENOMEM. Release each reference with jp_unintern. */
const char *jp_intern(const char *s, size_t len);
/* Same, with h == jp_intern_hash(s, len) already computed. */
const char *jp_intern_hashed(const char *s, size_t len, uint64_t h);
/* Drop one reference to an interned string (NULL is ignored). */
void jp_unintern(const char *s);
/* One more reference to an interned string. */
const char *jp_intern_ref(const char *s);

/* Bytes the interned strings take (allocator overhead included), and their number. */
size_t jp_intern_bytes(void);
size_t jp_intern_count(void);

#endif
