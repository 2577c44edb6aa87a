/* SPDX-License-Identifier: Apache-2.0 */
/* The file carbon source (carbon.file.path): a local time series of grid intensity for
 * sites without Internet access, as JSON or CSV. */
#ifndef JP_CARBON_CFILE_H
#define JP_CARBON_CFILE_H

#include <stddef.h>
#include <stdint.h>

/* Files larger than this are refused (about 400,000 CSV lines). */
#define JP_CARBON_FILE_MAX_BYTES (16u * 1024 * 1024)

struct jp_carbon_entry {
	int64_t time_ms;
	double g_per_kwh;
	double carbon_free;     /* 0..1, or negative when the file does not say */
};

/* A parsed file: entries sorted by time, one per time (of duplicates the later in the file
 * wins). Free with jp_carbon_series_free. */
struct jp_carbon_series {
	struct jp_carbon_entry *v;
	size_t n;
};

/* Parse a JSON array [{"time": RFC 3339, "grams_per_kwh": N, "carbon_free_ratio": R}, ...]
 * (when the first non-blank byte is '['; carbon_free_ratio optional) or CSV lines
 * "time,grams_per_kwh[,carbon_free_ratio]" (an optional header line whose
 * first field is "time", blank lines and lines starting with '#' are skipped). Every entry
 * must be valid (finite, >= 0): a file with one bad entry is refused as a whole, so that
 * a half-written file never replaces a good one. Pure. Returns 0 with *out filled (it may
 * be empty), or -EINVAL (why filled: "line N: ..." for CSV, "entry N: ..." for JSON),
 * -EFBIG or -ENOMEM. */
int jp_carbon_file_parse(const void *buf, size_t len, struct jp_carbon_series *out,
			 char *why, size_t whylen);

/* The entry in force at now_ms: the latest at or before it, or NULL. */
const struct jp_carbon_entry *jp_carbon_series_at(const struct jp_carbon_series *s, int64_t now_ms);

void jp_carbon_series_free(struct jp_carbon_series *s);

/* Read and parse the file at path (at most JP_CARBON_FILE_MAX_BYTES: -EFBIG; a file that
 * grows while being read: -EAGAIN; not a regular file, a FIFO say: -ENOTSUP, without
 * blocking; a parse error: -EINVAL). Returns 0 with *out filled, or a negative
 * errno with a one-line reason in why. */
int jp_carbon_file_load(const char *path, struct jp_carbon_series *out, char *why, size_t whylen);

#endif
