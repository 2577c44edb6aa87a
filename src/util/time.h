/* SPDX-License-Identifier: Apache-2.0 */
/* Timestamps: RFC 3339 / ISO 8601 parsing and formatting, ISO 8601 durations (grid sources,
 * forecasts, reports). */
#ifndef JP_UTIL_TIME_H
#define JP_UTIL_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Parse "YYYY-MM-DDTHH:MM[:SS[.fff...]](Z|+HH:MM|-HH:MM)" (a space may stand for the T,
 * and z for Z; the seconds may be left out, as ENTSO-E and the UK API do). The n bytes at
 * s need not be NUL-terminated; trailing blanks are allowed. Returns 0 and the UTC time
 * in milliseconds since the epoch, or -EINVAL. */
int jp_time_parse(const char *s, size_t n, int64_t *out_ms);

/* Parse an ISO 8601 duration of the shape ENTSO-E uses for resolutions: "PT15M",
 * "PT30M", "PT60M", "PT1H", "P1D" (and combinations such as "PT1H30M"). Years and
 * months are refused, as they have no fixed length. Returns 0 or -EINVAL. */
int jp_time_duration_parse(const char *s, int64_t *out_ms);

/* Format t (ms since the epoch) as UTC "YYYYMMDDHHMM", the ENTSO-E query format, into
 * buf (at least 13 bytes). Returns 0 or -EINVAL. */
int jp_time_format_compact(int64_t t_ms, char *buf, size_t len);

/* "2026-12-03T11:00:00Z" for t (ms since the epoch, UTC) into buf (at least 24 bytes). */
void jp_time_format_rfc3339(int64_t t_ms, char *buf, size_t len);

#endif
