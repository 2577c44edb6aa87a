/* SPDX-License-Identifier: Apache-2.0 */
/* One-line logging to stderr in text or JSON, with per-call-site rate limiting. */
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum jp_log_level g_level = JP_LOG_INFO;
static int g_json;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int jp_log_level_parse(const char *s, enum jp_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum jp_log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = JP_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

void jp_log_configure(enum jp_log_level level, int json)
{
	g_level = level;
	g_json = json;
}

uint64_t jp_now_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t jp_now_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copy src into dst for a one-line log: control characters become spaces and,
 * in JSON, quotes and backslashes are escaped. */
static void sanitize(char *dst, size_t cap, const char *src, int json)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)src; *p && o + 7 < cap; p++) {
		unsigned char c = *p;
		if (c < 0x20 || c == 0x7f) {
			dst[o++] = ' ';
		} else if (json && (c == '"' || c == '\\')) {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o] = '\0';
}

void jp_logv(enum jp_log_level level, const char *module, const char *fmt, va_list ap)
{
	if (level < g_level)
		return;
	char msg[2048], clean[4200], ts[40];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	sanitize(clean, sizeof(clean), msg, g_json);

	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);

	if (g_json)
		fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"%s\",\"msg\":\"%s\"}\n",
			ts, level_names[level], module, clean);
	else
		fprintf(stderr, "%s %-5s %s: %s\n", ts, level_names[level], module, clean);
}

void jp_log(enum jp_log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	jp_logv(level, module, fmt, ap);
	va_end(ap);
}

void jp_log_rl(struct jp_ratelimit *rl, enum jp_log_level level, const char *module,
	       const char *fmt, ...)
{
	uint64_t now = jp_now_mono_ms();
	uint64_t iv = rl->interval_ms ? rl->interval_ms : 60000;
	if (rl->last_ms != 0 && now - rl->last_ms < iv) {
		rl->suppressed++;
		return;
	}
	rl->last_ms = now ? now : 1;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (rl->suppressed)
		jp_log(level, module, "%s (%llu similar messages suppressed)", msg,
		       (unsigned long long)rl->suppressed);
	else
		jp_log(level, module, "%s", msg);
	rl->suppressed = 0;
}

void jp_why(char *why, size_t whylen, const char *fmt, ...)
{
	if (!why || !whylen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}
