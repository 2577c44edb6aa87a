/* SPDX-License-Identifier: Apache-2.0 */
/* FNV-1a, the hash of the string and byte tables (cgroup paths, pod UIDs), and the 64-bit
 * finaliser the interned strings and label-set hashes use. */
#ifndef JP_UTIL_HASH_H
#define JP_UTIL_HASH_H

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* A quick hash for identifiers that differ at their ends (pod UIDs, container IDs,
 * namespace names): their length and first and last eight bytes, mixed. Keys equal there
 * collide, so a table must compare keys in full; it is for lookups made on every row of
 * every round, where a loop over every byte showed in profiles. */
static inline uint64_t jp_hash_ident(const char *s, uint64_t seed)
{
	size_t n = strlen(s);
	uint64_t a = 0, b = 0;
	memcpy(&a, s, n < 8 ? n : 8);
	if (n > 8)
		memcpy(&b, s + (n >= 16 ? n - 8 : 8), n >= 16 ? 8 : n - 8);
	uint64_t x = (a ^ seed) * 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 29) ^ b ^ n) * 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 32);
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
