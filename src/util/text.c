/* SPDX-License-Identifier: Apache-2.0 */
/* Text that leaves the agent for a person or a program (util/text.h). */
#include "util/text.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 when it is not one; *cp gets the code point. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t n;
	uint32_t c, min;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;   /* also stops at the NUL */
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

int jp_text_printable(struct jp_buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t cp;
		size_t n = utf8_seq(p, &cp);
		int bad = n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
		if (jp_buf_append(out, bad ? (const void *)"?" : (const void *)p, bad ? 1 : n))
			return -ENOMEM;
		p += n ? n : 1;
	}
	return 0;
}

int jp_text_utf8(struct jp_buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t cp;
		size_t n = utf8_seq(p, &cp);
		if (jp_buf_append(out, n ? (const void *)p : (const void *)"\xef\xbf\xbd", n ? n : 3))
			return -ENOMEM;
		p += n ? n : 1;
	}
	return 0;
}

void jp_csv_field(const char *s, FILE *f)
{
	int formula = *s && strchr("=+-@\t\r", *s);
	if (!strpbrk(s, ",\"\r\n")) {
		if (formula)
			fputc('\'', f);
		fputs(s, f);
		return;
	}
	fputc('"', f);
	if (formula)
		fputc('\'', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int jp_url_has_userinfo(const char *s)
{
	const char *p = strstr(s, "://");
	if (!p)
		return 0;
	p += 3;
	size_t auth = strcspn(p, "/?#");
	return memchr(p, '@', auth) != NULL;
}

int jp_has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}
