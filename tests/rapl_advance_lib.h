/* SPDX-License-Identifier: Apache-2.0 */
/* Test helper: advance the energy_uj counters of a fixture powercap tree at given wattages. */
#ifndef JP_TESTS_RAPL_ADVANCE_LIB_H
#define JP_TESTS_RAPL_ADVANCE_LIB_H

#include <stddef.h>
#include <stdint.h>

struct rapl_adv;

/* Copy the fixture tree src into dst (created if needed), symlinks kept. Returns 0 or -1. */
int rapl_adv_copy(const char *src, const char *dst);

/* Find every zone (a real directory with energy_uj; symlinks are not followed, so each
 * counter is found once) under root and give it a wattage from specs: "KEY=WATTS" where
 * KEY is a zone id ("intel-rapl:1:0"), a zone name ("package-1") or a kind ("package",
 * "core", "uncore", "dram", "psys"; every socket's zone of that kind gets WATTS). The most
 * specific key wins; unnamed zones stay at 0 W. Returns NULL on error (message on stderr). */
struct rapl_adv *rapl_adv_open(const char *root, char *const *specs, size_t nspecs);
void rapl_adv_close(struct rapl_adv *a);

/* Set every counter to its start value + watts x elapsed_s, wrapping at its
 * max_energy_range_uj (the counter runs 0 .. max-1, as the kernel's does), written in
 * place on the open fd so that readers holding the file open see the change.
 * Returns 0 or -1. */
int rapl_adv_set(struct rapl_adv *a, double elapsed_s);

/* Overwrite one zone's max_energy_range_uj and start value (both files), for wrap tests;
 * zone is the zone id. Returns 0 or -1. */
int rapl_adv_set_range(struct rapl_adv *a, const char *zone, uint64_t max_uj, uint64_t start_uj);

size_t rapl_adv_zone_count(const struct rapl_adv *a);

#endif
