/* SPDX-License-Identifier: Apache-2.0 */
/* Timestamps: RFC 3339 / ISO 8601 parsing and formatting, ISO 8601 durations (util/time.h). */
#include "util/time.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil
 * algorithm), so that parsing needs neither the TZ environment nor timegm(). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Read exactly `digits` decimal digits at s[*i]. */
static int num(const char *s, size_t n, size_t *i, int digits, int *out)
{
	int v = 0;
	for (int k = 0; k < digits; k++, (*i)++) {
		if (*i >= n || s[*i] < '0' || s[*i] > '9')
			return -1;
		v = v * 10 + (s[*i] - '0');
	}
	*out = v;
	return 0;
}

static int expect(const char *s, size_t n, size_t *i, char c)
{
	if (*i >= n || s[*i] != c)
		return -1;
	(*i)++;
	return 0;
}

int jp_time_parse(const char *s, size_t n, int64_t *out_ms)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	size_t i = 0;
	int y, mo, d, h, mi, sec = 0, ms = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (num(s, n, &i, 4, &y) || expect(s, n, &i, '-') || num(s, n, &i, 2, &mo) ||
	    expect(s, n, &i, '-') || num(s, n, &i, 2, &d))
		return -EINVAL;
	if (i >= n || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
		return -EINVAL;
	i++;
	if (num(s, n, &i, 2, &h) || expect(s, n, &i, ':') || num(s, n, &i, 2, &mi))
		return -EINVAL;
	if (i < n && s[i] == ':') {
		i++;
		if (num(s, n, &i, 2, &sec))
			return -EINVAL;
		if (i < n && s[i] == '.') {
			i++;
			int digits = 0;
			while (i < n && s[i] >= '0' && s[i] <= '9') {
				if (digits < 3)
					ms = ms * 10 + (s[i] - '0');
				digits++;
				i++;
			}
			if (digits == 0)
				return -EINVAL;
			for (; digits < 3; digits++)
				ms *= 10;
		}
	}
	int64_t off_min = 0;
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i] == '-' ? -1 : 1, oh, om;
		i++;
		if (num(s, n, &i, 2, &oh) || expect(s, n, &i, ':') || num(s, n, &i, 2, &om) ||
		    oh > 23 || om > 59)
			return -EINVAL;
		off_min = sign * (oh * 60 + om);
	} else {
		return -EINVAL;   /* RFC 3339 requires an offset: a local time is ambiguous */
	}
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	if (i != n)
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	int dim = mdays[mo - 1] + (mo == 2 && is_leap(y));
	if (d > dim)
		return -EINVAL;
	if (sec == 60)
		sec = 59;   /* a leap second is clamped into the minute it ends */
	int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
	int64_t t = ((days * 24 + h) * 60 + mi - off_min) * 60 + sec;
	*out_ms = t * 1000 + ms;
	return 0;
}

int jp_time_duration_parse(const char *s, int64_t *out_ms)
{
	if (!s || s[0] != 'P' || !s[1])
		return -EINVAL;
	const char *p = s + 1;
	int in_time = 0, any = 0;
	int64_t total = 0;
	while (*p) {
		if (*p == 'T') {
			if (in_time || !p[1])
				return -EINVAL;
			in_time = 1;
			p++;
			continue;
		}
		int64_t v = 0;
		int digits = 0;
		while (*p >= '0' && *p <= '9') {
			if (++digits > 6)
				return -EINVAL;
			v = v * 10 + (*p - '0');
			p++;
		}
		if (!digits)
			return -EINVAL;
		int64_t unit;
		switch (*p) {
		case 'D': unit = in_time ? -1 : 86400000; break;
		case 'W': unit = in_time ? -1 : 7 * 86400000LL; break;
		case 'H': unit = in_time ? 3600000 : -1; break;
		case 'M': unit = in_time ? 60000 : -1; break;   /* months (date part) are refused */
		case 'S': unit = in_time ? 1000 : -1; break;
		default: unit = -1;
		}
		if (unit < 0)
			return -EINVAL;
		total += v * unit;
		any = 1;
		p++;
	}
	if (!any || total <= 0)
		return -EINVAL;
	*out_ms = total;
	return 0;
}

int jp_time_format_compact(int64_t t_ms, char *buf, size_t len)
{
	time_t t = (time_t)(t_ms / 1000);
	struct tm tm;
	if (len < 13 || !gmtime_r(&t, &tm))
		return -EINVAL;
	if (strftime(buf, len, "%Y%m%d%H%M", &tm) != 12)
		return -EINVAL;
	return 0;
}

void jp_time_format_rfc3339(int64_t t_ms, char *buf, size_t len)
{
	time_t t = (time_t)(t_ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "1970-01-01T00:00:00Z");
}
