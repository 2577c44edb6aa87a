/* SPDX-License-Identifier: Apache-2.0 */
/* FNV-1a, the hash of the string and byte tables (cgroup paths, pod UIDs), and the 64-bit
 * finaliser the interned strings and label-set hashes use. */
#ifndef JP_UTIL_HASH_H
#define JP_UTIL_HASH_H

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>

/* 64-bit FNV-1a: the offset basis to start from and one step per byte. */
#define JP_FNV1A_INIT 0xcbf29ce484222325ULL

static inline uint64_t jp_fnv1a_byte(uint64_t h, unsigned char c)
{
	return (h ^ c) * 0x100000001b3ULL;
}

static inline uint64_t jp_fnv1a(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = JP_FNV1A_INIT;
	for (size_t i = 0; i < n; i++)
		h = jp_fnv1a_byte(h, b[i]);
	return h;
}

static inline uint64_t jp_fnv1a_str(const char *s)
{
	uint64_t h = JP_FNV1A_INIT;
	for (; *s; s++)
		h = jp_fnv1a_byte(h, (unsigned char)*s);
	return h;
}

/* The same over the ASCII-lower-cased string, for keys compared without regard to case. */
static inline uint64_t jp_fnv1a_str_nocase(const char *s)
{
	uint64_t h = JP_FNV1A_INIT;
	for (; *s; s++)
		h = jp_fnv1a_byte(h, (unsigned char)tolower((unsigned char)*s));
	return h;
}

/* The splitmix64 finaliser: every input bit reaches every output bit. */
static inline uint64_t jp_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

#endif
