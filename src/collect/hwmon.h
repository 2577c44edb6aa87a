/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The machine's own power meter through hwmon (docs/model.md "Platform power"): the hwmon
 * devices under <sysfs>/class/hwmon whose `name` is the configured one (ACPI's
 * `power_meter` by default). Per device every channel is read: an energy counter
 * (energy<N>_input, µJ) where there is one, else power (power<N>_input, or
 * power<N>_average, µW).
 */
#ifndef JP_COLLECT_HWMON_H
#define JP_COLLECT_HWMON_H

#include <stddef.h>
#include <stdint.h>

struct jp_hwmon;

/* Find the meters and open their channels (kept open: read with pread, so a root-only
 * meter goes on after a privilege drop). max_w (power.platform.max_watts; 0: no bound) is
 * the most power a reading may imply. NULL with errno set and why[] filled: ENOENT when
 * there is none, or the error of a channel that could not be opened. */
struct jp_hwmon *jp_hwmon_open(const char *sysfs, const char *name, double max_w, char *why, size_t why_len);
void jp_hwmon_close(struct jp_hwmon *h);
/* Channels found; where (the first device's directory) for the log. */
unsigned jp_hwmon_channels(const struct jp_hwmon *h);
const char *jp_hwmon_where(const struct jp_hwmon *h);

/* The meters' energy over the interval of `seconds` that ends now: energy counters by
 * their difference (the first call takes baselines and counts 0), power by the mean of
 * the previous and the current reading times seconds. Returns 0, or a negative errno when
 * a channel cannot be read or a counter went back (energy counters then keep their
 * baselines, so their energy is counted at the next good read). */
int jp_hwmon_read(struct jp_hwmon *h, double seconds, double *joules);
/* -EDOM from jp_hwmon_read: a reading implied more than max_w (a counter step over the
 * interval, or a power reading); the interval is refused and the baselines stay at their
 * last good values, unless a channel read so three times in a row: then its reading
 * becomes the new baseline. Readings refused so far: */
uint64_t jp_hwmon_implausible(const struct jp_hwmon *h);

#endif
