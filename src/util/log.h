/* SPDX-License-Identifier: Apache-2.0 */
/* One-line logging to stderr in text or JSON, with per-call-site rate limiting. */
#ifndef JP_UTIL_LOG_H
#define JP_UTIL_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum jp_log_level {
	JP_LOG_DEBUG = 0,
	JP_LOG_INFO = 1,
	JP_LOG_WARN = 2,
	JP_LOG_ERROR = 3,
};

/* Parse "debug", "info", "warn", "error"; returns 0 or -EINVAL. */
int jp_log_level_parse(const char *s, enum jp_log_level *out);

/* Set the minimum level and the format (json != 0: one JSON object per line). */
void jp_log_configure(enum jp_log_level level, int json);

/* Write one line: level, module and the formatted message. Newlines in the
 * message are replaced so that every event stays on one line. */
void jp_log(enum jp_log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void jp_logv(enum jp_log_level level, const char *module, const char *fmt, va_list ap);

/* A rate limiter for repeated errors: at most one line per interval_ms; the
 * next line that passes says how many were suppressed. Zero-initialise it and
 * set interval_ms (0 means 60 s). */
struct jp_ratelimit {
	uint64_t interval_ms;
	uint64_t last_ms;
	uint64_t suppressed;
};
void jp_log_rl(struct jp_ratelimit *rl, enum jp_log_level level, const char *module,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define jp_debug(mod, ...) jp_log(JP_LOG_DEBUG, mod, __VA_ARGS__)
#define jp_info(mod, ...) jp_log(JP_LOG_INFO, mod, __VA_ARGS__)
#define jp_warn(mod, ...) jp_log(JP_LOG_WARN, mod, __VA_ARGS__)
#define jp_error(mod, ...) jp_log(JP_LOG_ERROR, mod, __VA_ARGS__)

/* Monotonic and wall clocks in milliseconds. */
uint64_t jp_now_mono_ms(void);
int64_t jp_now_wall_ms(void);

/* The error convention of HACKING.md: write a one-line reason into the caller's buffer
 * why[0..whylen) (nothing when why is NULL or whylen 0). */
void jp_why(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
