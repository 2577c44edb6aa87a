/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing of durations ("500ms", "15m"), sizes ("64MiB") and ${VAR} expansion (docs/reference/configuration.md). */
#ifndef JP_UTIL_UNITS_H
#define JP_UTIL_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* "500ms", "5s", "15m", "2h", also compound "1h30m" and "1.5s"; returns 0 or -EINVAL / -ERANGE. */
int jp_parse_duration_ms(const char *s, uint64_t *out_ms);
/* "512KiB", "64MiB", "1GiB", plain bytes "4096", also "B", "KB"/"MB"/"GB" (powers of 1000); 0 or -EINVAL / -ERANGE. */
int jp_parse_size_bytes(const char *s, uint64_t *out_bytes);
/* Expand ${VAR} and ${VAR:-default} (the default may itself be empty). "$$" stands for "$".
 * Returns a malloc'd string the caller frees, or NULL with errno set (EINVAL: unterminated
 * or empty name; *err_name, if given, points to a static description). An unset ${VAR}
 * without a default expands to "". */
char *jp_expand_env(const char *s, const char **err);

#endif
