/* SPDX-License-Identifier: Apache-2.0 */
/* RAPL energy from the powercap zones under <sysfs>/class/powercap (docs/reference/metrics.md, docs/model.md step 1). */
#ifndef JP_COLLECT_RAPL_H
#define JP_COLLECT_RAPL_H

#include <stdint.h>
#include <sys/types.h>

/* The zone kinds of docs/reference/metrics.md, by the content of each zone's `name` file. */
enum jp_rapl_kind {
	JP_RAPL_PACKAGE = 0, /* "package-N", one per socket */
	JP_RAPL_CORE,        /* inside package */
	JP_RAPL_UNCORE,      /* inside package */
	JP_RAPL_DRAM,
	JP_RAPL_PSYS,        /* the whole platform (SoC), where the firmware offers it */
	JP_RAPL_NKINDS
};
#define JP_RAPL_BIT(kind) (1u << (kind))

/* Label value for the `zone` label: "package", "core", "uncore", "dram", "psys". */
const char *jp_rapl_kind_name(enum jp_rapl_kind kind);

/* The energy of one interval, sockets summed per kind. Overlapping kinds are never added
 * together here: core and uncore lie inside package, package and dram inside psys. */
struct jp_rapl_energy {
	uint64_t uj[JP_RAPL_NKINDS];
	double j[JP_RAPL_NKINDS];
	unsigned present;  /* JP_RAPL_BIT(kind) for kinds with at least one live zone */
	unsigned errors;   /* zones that could not be read this time (their energy moves to
			      the next good read, it is not lost) */
};

struct jp_rapl;

/* Discover every zone intel-rapl:N and intel-rapl:N:M, either as the entries of
 * <sysfs>/class/powercap (the kernel's layout: symlinks) or as the nested directories of
 * <sysfs>/class/powercap/intel-rapl/. AMD's RAPL driver uses the same names.
 * intel-rapl-mmio:* is skipped: it exposes the same package counter again for power
 * limiting, and adding it would count the package twice.
 * Opens each zone's energy_uj (kept open, read with pread) and takes the baseline.
 * Zones whose files cannot be opened or parsed are skipped and logged once.
 * Returns NULL with errno: ENOENT when there is no RAPL (so power.source auto falls back
 * to the model), EACCES when zones exist but no energy_uj could be opened (non-root),
 * ENOMEM. The caller owns the result: jp_rapl_close().
 * jp_rapl_open_with() opens and reads the energy_uj files through io (either callback may
 * be NULL for open(2) / pread(2), same contracts): the seam tests use to see EACCES as
 * root and a zone vanishing (ENODEV), which a fixture tree cannot produce. io is copied. */
struct jp_rapl_io {
	int (*open_cb)(const char *path, int flags);
	ssize_t (*pread_cb)(int fd, void *buf, size_t len, off_t off);
};
struct jp_rapl *jp_rapl_open(const char *sysfs);
struct jp_rapl *jp_rapl_open_with(const char *sysfs, const struct jp_rapl_io *io);
void jp_rapl_close(struct jp_rapl *r);

/* Read every live zone and fill *out with the energy since the previous read (since
 * jp_rapl_open for the first call). A counter that went down wrapped once:
 * delta = max_energy_range_uj - prev + cur. A zone whose energy_uj reads as garbage is
 * skipped for this read (logged once, counted in out->errors); a zone whose file is gone
 * (ENODEV, ENOENT) is closed and dropped for good (logged once). Returns 0, or -ENODEV
 * when no zone is left. */
int jp_rapl_read(struct jp_rapl *r, struct jp_rapl_energy *out);

/* Kinds that exist (JP_RAPL_BIT mask) and the number of live zones. */
unsigned jp_rapl_present(const struct jp_rapl *r);
unsigned jp_rapl_zone_count(const struct jp_rapl *r);

/* docs/reference/metrics.md total energy: psys where the node has it, else package + dram. */
uint64_t jp_rapl_total_uj(const struct jp_rapl_energy *e);
double jp_rapl_total_j(const struct jp_rapl_energy *e);

/* The wrap-corrected delta of one counter (exposed for tests): cur - prev, or
 * max_range - prev + cur when cur < prev; 0 when the range is unknown (0) and the
 * counter went down, or when prev lies beyond the range (not a single wrap). */
uint64_t jp_rapl_delta_uj(uint64_t prev, uint64_t cur, uint64_t max_range);

#endif
