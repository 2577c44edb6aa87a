/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing of durations ("500ms", "15m"), sizes ("64MiB") and ${VAR} expansion (docs/reference/configuration.md). */
#include "util/units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* Read a non-negative decimal number with an optional fraction. */
static int read_number(const char **pp, double *out)
{
	const char *p = *pp;
	if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
		return -EINVAL;
	double v = 0;
	while (isdigit((unsigned char)*p)) {
		v = v * 10 + (*p - '0');
		if (v > 1e18)
			return -ERANGE;
		p++;
	}
	if (*p == '.') {
		double scale = 0.1;
		p++;
		while (isdigit((unsigned char)*p)) {
			v += (*p - '0') * scale;
			scale /= 10;
			p++;
		}
	}
	*pp = p;
	*out = v;
	return 0;
}

int jp_parse_duration_ms(const char *s, uint64_t *out_ms)
{
	static const struct { const char *unit; double ms; } units[] = {
		{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
	};
	if (!s || !*s)
		return -EINVAL;
	if (strcmp(s, "0") == 0) {
		*out_ms = 0;
		return 0;
	}
	const char *p = s;
	double total = 0;
	while (*p) {
		double v;
		int r = read_number(&p, &v);
		if (r)
			return r;
		size_t ulen = 0;
		while (isalpha((unsigned char)p[ulen]))
			ulen++;
		if (ulen == 0)
			return -EINVAL;
		double mult = -1;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strlen(units[i].unit) == ulen && strncmp(p, units[i].unit, ulen) == 0)
				mult = units[i].ms;
		if (mult < 0)
			return -EINVAL;
		total += v * mult;
		if (total > 1e15)
			return -ERANGE;
		p += ulen;
	}
	*out_ms = (uint64_t)llround(total);
	return 0;
}

int jp_parse_size_bytes(const char *s, uint64_t *out_bytes)
{
	static const struct { const char *unit; double mult; } units[] = {
		{"", 1}, {"B", 1},
		{"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1024.0}, {"M", 1048576.0}, {"G", 1073741824.0},
	};
	if (!s || !*s)
		return -EINVAL;
	const char *p = s;
	double v;
	int r = read_number(&p, &v);
	if (r)
		return r;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].unit) == 0) {
			double b = v * units[i].mult;
			if (b > 9.2e18)
				return -ERANGE;
			*out_bytes = (uint64_t)llround(b);
			return 0;
		}
	}
	return -EINVAL;
}

char *jp_expand_env(const char *s, const char **err)
{
	struct jp_buf b = {0};
	const char *p = s;
	while (*p) {
		if (p[0] == '$' && p[1] == '$') {
			if (jp_buf_append(&b, "$", 1))
				goto nomem;
			p += 2;
			continue;
		}
		if (p[0] != '$' || p[1] != '{') {
			if (jp_buf_append(&b, p, 1))
				goto nomem;
			p++;
			continue;
		}
		const char *name = p + 2;
		const char *end = strchr(name, '}');
		if (!end) {
			if (err)
				*err = "unterminated ${...}";
			goto inval;
		}
		const char *colon = NULL;
		for (const char *q = name; q < end; q++) {
			if (q[0] == ':' && q[1] == '-') {
				colon = q;
				break;
			}
		}
		const char *name_end = colon ? colon : end;
		size_t nlen = (size_t)(name_end - name);
		if (nlen == 0 || nlen > 255) {
			if (err)
				*err = "empty or too long variable name in ${...}";
			goto inval;
		}
		for (const char *q = name; q < name_end; q++) {
			if (!(isalnum((unsigned char)*q) || *q == '_')) {
				if (err)
					*err = "invalid character in variable name";
				goto inval;
			}
		}
		char vname[256];
		memcpy(vname, name, nlen);
		vname[nlen] = '\0';
		const char *val = getenv(vname);
		if ((!val || !*val) && colon)
			val = NULL;
		if (val) {
			if (jp_buf_append(&b, val, strlen(val)))
				goto nomem;
		} else if (colon) {
			if (jp_buf_append(&b, colon + 2, (size_t)(end - colon - 2)))
				goto nomem;
		}
		p = end + 1;
	}
	if (jp_buf_append(&b, "", 1))
		goto nomem;
	return (char *)b.data;
nomem:
	jp_buf_free(&b);
	errno = ENOMEM;
	if (err)
		*err = "out of memory";
	return NULL;
inval:
	jp_buf_free(&b);
	errno = EINVAL;
	return NULL;
}
