/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration loader's YAML tree and value helpers (config/internal.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config/internal.h"
#include "util/text.h"
#include "util/units.h"

/* --------------------------------------------------------------------------------------------
 * A small tree built from libyaml events. The event API (rather than the document API) lets us
 * refuse aliases before they are expanded and stop at a nesting bound before building anything.
 */
void cfg_node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		cfg_node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

/* Write "FILE:LINE: key: reason" into the caller's buffer. Control characters (which a quoted
 * YAML scalar can carry) are replaced so that the message stays on one line. */
int cfg_fail(struct ctx *c, int line, const char *path, const char *fmt, ...)
{
	if (!c->err || c->errlen == 0)
		return -EINVAL;
	char reason[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "%s:%d: %s: %s", c->name, line, path, reason);
	for (char *p = c->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -EINVAL;
}

static int node_add(struct node *parent, struct node *kid)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct node **k = realloc(parent->kids, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

static int is_null_scalar(const yaml_event_t *ev)
{
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag)
		return 0;
	const char *v = (const char *)ev->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static int yaml_fail(struct ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
	int line = (int)p->problem_mark.line + 1;
	if (p->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset, not a mark. */
		line = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++)
			line += text[i] == '\n';
	}
	/* Errors found at the end of the stream are marked on the line after the last one;
	 * point at the last line instead, where the unfinished construct is. */
	int lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (len && text[len - 1] != '\n')
		lines++;
	if (lines > 0 && line > lines)
		line = lines;
	return cfg_fail(c, line, "(yaml)", "%s", p->problem ? p->problem : "syntax error");
}

/* Parse text into *root (NULL for an empty stream). Returns 0 or a negative errno with c->err set. */
int cfg_build_tree(struct ctx *c, const char *text, size_t len, struct node **root)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct node *stack[MAX_DEPTH];
	int depth = 0, docs = 0, done = 0, r = 0;

	*root = NULL;
	if (!yaml_parser_initialize(&p))
		return cfg_fail(c, 0, "(yaml)", "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done && r == 0) {
		if (!yaml_parser_parse(&p, &ev)) {
			r = yaml_fail(c, &p, text, len);
			break;
		}
		int line = (int)ev.start_mark.line + 1;
		struct node *n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				r = cfg_fail(c, line, "(yaml)", "multiple documents are not supported");
			break;
		case YAML_ALIAS_EVENT:
			/* Aliases would let a tiny file expand into a huge tree ("billion laughs"). */
			r = cfg_fail(c, line, "(yaml)", "aliases are not supported");
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++c->nodes > MAX_NODES) {
				r = cfg_fail(c, line, "(yaml)", "too many values (more than %d)", MAX_NODES);
				break;
			}
			if (ev.type != YAML_SCALAR_EVENT && depth == MAX_DEPTH) {
				r = cfg_fail(c, line, "(yaml)", "nested deeper than %d levels", MAX_DEPTH);
				break;
			}
			n = calloc(1, sizeof(*n));
			if (!n) {
				r = cfg_fail(c, line, "(yaml)", "out of memory");
				break;
			}
			n->line = line;
			if (ev.type == YAML_SCALAR_EVENT) {
				n->kind = N_SCALAR;
				n->is_null = is_null_scalar(&ev);
				n->len = ev.data.scalar.length;
				n->str = malloc(n->len + 1);
				if (!n->str) {
					free(n);
					r = cfg_fail(c, line, "(yaml)", "out of memory");
					break;
				}
				memcpy(n->str, ev.data.scalar.value, n->len);
				n->str[n->len] = '\0';
			} else {
				n->kind = ev.type == YAML_MAPPING_START_EVENT ? N_MAP : N_SEQ;
			}
			if (depth == 0) {
				*root = n;   /* one document, so one root */
			} else if (node_add(stack[depth - 1], n)) {
				cfg_node_free(n);
				r = cfg_fail(c, line, "(yaml)", "out of memory");
				break;
			}
			if (n->kind != N_SCALAR)
				stack[depth++] = n;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (r) {
		cfg_node_free(*root);
		*root = NULL;
	}
	return r;
}

/* --------------------------------------------------------------------------------------------
 * Value helpers. Every scalar value goes through jp_expand_env before it is interpreted (docs/reference/configuration.md).
 */
const char *cfg_kind_name(const struct node *n)
{
	return n->kind == N_MAP ? "a mapping" : n->kind == N_SEQ ? "a list" : "a scalar";
}

void cfg_child_path(char *out, const char *parent, const char *key)
{
	int klen = (int)strnlen(key, MAX_KEY_SHOWN);
	if (*parent)
		snprintf(out, PATH_MAX_LEN, "%s.%.*s", parent, klen, key);
	else
		snprintf(out, PATH_MAX_LEN, "%.*s", klen, key);
}

/* Returns the expanded value of a scalar node (caller frees), or NULL with c->err set. */
char *cfg_scalar_value(struct ctx *c, const struct node *v, const char *path)
{
	if (v->kind != N_SCALAR) {
		cfg_fail(c, v->line, path, "expected a value, got %s", cfg_kind_name(v));
		return NULL;
	}
	if (strlen(v->str) != v->len) {
		cfg_fail(c, v->line, path, "NUL byte in value");
		return NULL;
	}
	const char *why = NULL;
	errno = 0;
	char *s = jp_expand_env(v->str, &why);
	if (!s)
		cfg_fail(c, v->line, path, "%s", why ? why : strerror(errno));
	return s;
}

int cfg_parse_double(const char *s, double *out)
{
	/* Plain decimal notation only: strtod would also take "0x1p3", "nan" and "inf". */
	if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno || !isfinite(v))
		return -EINVAL;
	*out = v;
	return 0;
}

int cfg_parse_u64(const char *s, uint64_t *out)
{
	if (!*s || strspn(s, "0123456789") != strlen(s))
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, NULL, 10);
	if (errno)
		return -ERANGE;
	*out = v;
	return 0;
}

void cfg_fmt_duration(char *out, size_t len, uint64_t ms)
{
	if (ms && ms % 3600000 == 0)
		snprintf(out, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms && ms % 60000 == 0)
		snprintf(out, len, "%llum", (unsigned long long)(ms / 60000));
	else if (ms && ms % 1000 == 0)
		snprintf(out, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(out, len, "%llums", (unsigned long long)ms);
}

int cfg_is_http_url(const char *s)
{
	const char *rest = NULL;
	if (!strncmp(s, "http://", 7))
		rest = s + 7;
	else if (!strncmp(s, "https://", 8))
		rest = s + 8;
	if (!rest || !*rest || *rest == '/')
		return 0;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* Whether an http(s) URL carries userinfo ("user:password@host"). Credentials in a URL
 * end up in logs, metrics labels and process listings; they are refused at load time
 * in favour of basic_auth.password_file (docs/reference/remote-write.md). */
int cfg_url_has_userinfo(const char *s)
{
	return jp_url_has_userinfo(s);
}

/* What an error message may echo of a value: the text as written in the file when it
 * referred to the environment (the expanded value may be a secret), and never the
 * value with '@' (a URL's userinfo). Returns a pointer into v->str, expanded, or a static text. */
const char *cfg_shown(const struct node *v, const char *expanded)
{
	const char *t = strstr(v->str, "${") ? v->str : expanded;
	if (strchr(t, '@'))
		return "(a value with '@', not shown)";
	return t;
}

/* "HOST:PORT" or "[V6]:PORT" with a port 1..65535. An empty host (":9465") is refused rather
 * than guessed at: the server listens on loopback unless told otherwise (README.md). */
int cfg_is_listen_addr(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return 0;
	if (s[0] == '[' && colon[-1] != ']')
		return 0;
	uint64_t port;
	if (cfg_parse_u64(colon + 1, &port) || port == 0 || port > 65535)
		return 0;
	for (const char *p = s; p < colon; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

int cfg_kv_push(struct jp_kvlist *l, char *key, char *value)
{
	struct jp_kv *v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	l->v[l->n].key = key;
	l->v[l->n].value = value;
	l->n++;
	return 0;
}

void cfg_kv_free(struct jp_kvlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

const struct node *cfg_map_get(const struct node *map, const char *key)
{
	if (!map || map->kind != N_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (map->kids[i]->kind == N_SCALAR && !strcmp(map->kids[i]->str, key))
			return map->kids[i + 1];
	return NULL;
}

/* The line of a key's value inside a mapping, or the mapping's own line if the key is absent. */
int cfg_line_of(const struct node *map, const char *key)
{
	const struct node *v = cfg_map_get(map, key);
	return v ? v->line : map->line;
}
