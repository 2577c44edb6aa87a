/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration of docs/reference/configuration.md: built-in defaults, YAML loading with FILE:LINE errors, validation. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "util/units.h"

/* Hostile-input bounds (docs/reference/configuration.md). A real config is a few KiB with a handful of levels. */
#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_DEPTH 32
#define MAX_NODES 65536
#define MAX_MAP_ENTRIES 128   /* external_labels, headers: also keeps duplicate checks cheap */
#define MAX_REMOTES 32
#define MAX_KEY_SHOWN 64      /* user-supplied keys are cut to this length in error paths */
#define PATH_MAX_LEN 256

/* --------------------------------------------------------------------------------------------
 * A small tree built from libyaml events. The event API (rather than the document API) lets us
 * refuse aliases before they are expanded and stop at a nesting bound before building anything.
 */
enum node_kind { N_SCALAR, N_MAP, N_SEQ };

struct node {
	enum node_kind kind;
	int line;                 /* 1-based */
	int is_null;              /* a plain "", "~" or "null" scalar */
	char *str;                /* N_SCALAR: the bytes, NUL-terminated */
	size_t len;
	struct node **kids;       /* N_MAP: key, value, key, value ...; N_SEQ: items */
	size_t n, cap;
};

struct ctx {
	const char *name;         /* FILE in error messages */
	char *err;
	size_t errlen;
	size_t nodes;
	const char *const *remote_names;  /* names seen so far, for the duplicate check */
};

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

/* Write "FILE:LINE: key: reason" into the caller's buffer. Control characters (which a quoted
 * YAML scalar can carry) are replaced so that the message stays on one line. */
static int fail(struct ctx *c, int line, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct ctx *c, int line, const char *path, const char *fmt, ...)
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
	return fail(c, line, "(yaml)", "%s", p->problem ? p->problem : "syntax error");
}

/* Parse text into *root (NULL for an empty stream). Returns 0 or a negative errno with c->err set. */
static int build_tree(struct ctx *c, const char *text, size_t len, struct node **root)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct node *stack[MAX_DEPTH];
	int depth = 0, docs = 0, done = 0, r = 0;

	*root = NULL;
	if (!yaml_parser_initialize(&p))
		return fail(c, 0, "(yaml)", "out of memory");
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
				r = fail(c, line, "(yaml)", "multiple documents are not supported");
			break;
		case YAML_ALIAS_EVENT:
			/* Aliases would let a tiny file expand into a huge tree ("billion laughs"). */
			r = fail(c, line, "(yaml)", "aliases are not supported");
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++c->nodes > MAX_NODES) {
				r = fail(c, line, "(yaml)", "too many values (more than %d)", MAX_NODES);
				break;
			}
			if (ev.type != YAML_SCALAR_EVENT && depth == MAX_DEPTH) {
				r = fail(c, line, "(yaml)", "nested deeper than %d levels", MAX_DEPTH);
				break;
			}
			n = calloc(1, sizeof(*n));
			if (!n) {
				r = fail(c, line, "(yaml)", "out of memory");
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
					r = fail(c, line, "(yaml)", "out of memory");
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
				node_free(n);
				r = fail(c, line, "(yaml)", "out of memory");
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
		node_free(*root);
		*root = NULL;
	}
	return r;
}

/* --------------------------------------------------------------------------------------------
 * Value helpers. Every scalar value goes through jp_expand_env before it is interpreted (docs/reference/configuration.md).
 */
static const char *kind_name(const struct node *n)
{
	return n->kind == N_MAP ? "a mapping" : n->kind == N_SEQ ? "a list" : "a scalar";
}

static void child_path(char *out, const char *parent, const char *key)
{
	int klen = (int)strnlen(key, MAX_KEY_SHOWN);
	if (*parent)
		snprintf(out, PATH_MAX_LEN, "%s.%.*s", parent, klen, key);
	else
		snprintf(out, PATH_MAX_LEN, "%.*s", klen, key);
}

/* Returns the expanded value of a scalar node (caller frees), or NULL with c->err set. */
static char *scalar_value(struct ctx *c, const struct node *v, const char *path)
{
	if (v->kind != N_SCALAR) {
		fail(c, v->line, path, "expected a value, got %s", kind_name(v));
		return NULL;
	}
	if (strlen(v->str) != v->len) {
		fail(c, v->line, path, "NUL byte in value");
		return NULL;
	}
	const char *why = NULL;
	errno = 0;
	char *s = jp_expand_env(v->str, &why);
	if (!s)
		fail(c, v->line, path, "%s", why ? why : strerror(errno));
	return s;
}

static int parse_double(const char *s, double *out)
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

static int parse_u64(const char *s, uint64_t *out)
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

static void fmt_duration(char *out, size_t len, uint64_t ms)
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

static int is_http_url(const char *s)
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
static int url_has_userinfo(const char *s)
{
	const char *p = strstr(s, "://");
	if (!p)
		return 0;
	p += 3;
	size_t auth = strcspn(p, "/?#");
	const char *at = memchr(p, '@', auth);
	return at != NULL;
}

/* What an error message may echo of a value: the text as written in the file when it
 * referred to the environment (the expanded value may be a secret), and never the
 * value with '@' (a URL's userinfo). Returns a pointer into v->str, expanded, or a static text. */
static const char *shown(const struct node *v, const char *expanded)
{
	const char *t = strstr(v->str, "${") ? v->str : expanded;
	if (strchr(t, '@'))
		return "(a value with '@', not shown)";
	return t;
}

/* "HOST:PORT" or "[V6]:PORT" with a port 1..65535. An empty host (":9465") is refused rather
 * than guessed at: the server listens on loopback unless told otherwise (README.md). */
static int is_listen_addr(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return 0;
	if (s[0] == '[' && colon[-1] != ']')
		return 0;
	uint64_t port;
	if (parse_u64(colon + 1, &port) || port == 0 || port > 65535)
		return 0;
	for (const char *p = s; p < colon; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static int kv_push(struct jp_kvlist *l, char *key, char *value)
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

static void kv_free(struct jp_kvlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static const struct node *map_get(const struct node *map, const char *key)
{
	if (!map || map->kind != N_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (map->kids[i]->kind == N_SCALAR && !strcmp(map->kids[i]->str, key))
			return map->kids[i + 1];
	return NULL;
}

/* The line of a key's value inside a mapping, or the mapping's own line if the key is absent. */
static int line_of(const struct node *map, const char *key)
{
	const struct node *v = map_get(map, key);
	return v ? v->line : map->line;
}

/* --------------------------------------------------------------------------------------------
 * Schema. Each mapping of docs/reference/configuration.md is a table of fields; a field writes at an offset into `base`,
 * which is the struct jp_config, or a struct jp_remote_config inside remote_write.
 */
enum field_kind {
	K_STR,      /* char * */
	K_STRENUM,  /* char *, one of names */
	K_ENUM,     /* int-sized enum or flag: the index into names */
	K_DUR,      /* uint64_t ms */
	K_SIZE,     /* uint64_t bytes */
	K_DOUBLE,   /* double */
	K_U32,      /* uint32_t */
	K_U64,      /* uint64_t */
	K_BOOL,     /* int */
	K_SECTION,  /* a nested mapping; `check` runs after it */
	K_CUSTOM,   /* `check` parses the value itself */
	K_REFUSE,   /* a key we refuse with `hint` (inline secrets) */
};

#define F_NONEMPTY 0x1u
#define F_HTTP 0x2u       /* http:// or https:// */
#define F_HTTP_OPT 0x4u   /* empty, or http:// or https:// */
#define F_LISTEN 0x8u     /* empty, or HOST:PORT */
#define F_MIN 0x10u       /* min applies */
#define F_MAX 0x20u       /* max applies */

struct field;
typedef int (*check_fn)(struct ctx *c, const struct node *v, const char *path, void *base);

struct field {
	const char *key;
	enum field_kind kind;
	size_t off;
	unsigned flags;
	double min, max;
	const char *const *names;     /* K_ENUM, K_STRENUM: NULL-terminated */
	const struct field *sub;      /* K_SECTION */
	check_fn check;               /* K_SECTION: after the walk; K_CUSTOM: the parser */
	const char *hint;             /* appended to range errors; K_REFUSE: the reason */
};

static int walk_map(struct ctx *c, const struct node *map, const char *path,
		    const struct field *fields, void *base);

static int enum_fail(struct ctx *c, const struct node *v, const char *path, const char *val,
		     const char *const *names)
{
	char list[160] = "";
	size_t used = 0;
	for (size_t i = 0; names[i] && used < sizeof(list); i++) {
		const char *sep = i == 0 ? "" : names[i + 1] ? ", " : " or ";
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", sep, names[i]);
	}
	return fail(c, v->line, path, "invalid value \"%.64s\" (expected %s)", shown(v, val), list);
}

static int range_fail(struct ctx *c, const struct node *v, const char *path,
		      const struct field *f, const char *lo, const char *hi)
{
	const char *hint = f->hint ? f->hint : "";
	const char *sp = f->hint ? " " : "";
	if ((f->flags & F_MIN) && (f->flags & F_MAX))
		return fail(c, v->line, path, "must be between %s and %s%s%s", lo, hi, sp, hint);
	if (f->flags & F_MIN)
		return fail(c, v->line, path, "must be at least %s%s%s", lo, sp, hint);
	return fail(c, v->line, path, "must be at most %s%s%s", hi, sp, hint);
}

static int set_field(struct ctx *c, const struct field *f, const struct node *v, const char *path,
		     void *base)
{
	void *dst = (char *)base + f->off;
	char lo[32], hi[32];
	int r = 0;

	switch (f->kind) {
	case K_REFUSE:
		return fail(c, v->line, path, "%s", f->hint);
	case K_SECTION:
		if (v->kind != N_MAP)
			return fail(c, v->line, path, "expected a mapping, got %s", kind_name(v));
		r = walk_map(c, v, path, f->sub, base);
		if (r == 0 && f->check)
			r = f->check(c, v, path, base);
		return r;
	case K_CUSTOM:
		return f->check(c, v, path, base);
	default:
		break;
	}

	char *s = scalar_value(c, v, path);
	if (!s)
		return -EINVAL;
	switch (f->kind) {
	case K_STR:
		if ((f->flags & F_NONEMPTY) && !*s)
			r = fail(c, v->line, path, "must not be empty");
		else if ((f->flags & (F_HTTP | F_HTTP_OPT)) && url_has_userinfo(s))
			r = fail(c, v->line, path, "credentials in the URL are refused (they would be logged): "
				 "use basic_auth.username and basic_auth.password_file");
		else if ((f->flags & F_HTTP) && !is_http_url(s))
			r = fail(c, v->line, path, "invalid URL \"%.64s\" (expected http:// or https://)", shown(v, s));
		else if ((f->flags & F_HTTP_OPT) && *s && !is_http_url(s))
			r = fail(c, v->line, path,
				 "invalid URL \"%.64s\" (expected empty, http:// or https://)", shown(v, s));
		else if ((f->flags & F_LISTEN) && *s && !is_listen_addr(s))
			r = fail(c, v->line, path,
				 "invalid address \"%.64s\" (expected HOST:PORT, e.g. 0.0.0.0:9465 for all "
				 "interfaces, or empty to disable)", shown(v, s));
		if (r == 0) {
			free(*(char **)dst);
			*(char **)dst = s;
			return 0;
		}
		break;
	case K_STRENUM:
	case K_ENUM: {
		int idx = -1;
		for (int i = 0; f->names[i]; i++)
			if (!strcmp(s, f->names[i]))
				idx = i;
		if (idx < 0) {
			r = enum_fail(c, v, path, s, f->names);
		} else if (f->kind == K_ENUM) {
			*(int *)dst = idx;
		} else {
			free(*(char **)dst);
			*(char **)dst = s;
			return 0;
		}
		break;
	}
	case K_BOOL:
		if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
			*(int *)dst = 1;
		else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off"))
			*(int *)dst = 0;
		else
			r = fail(c, v->line, path, "invalid boolean \"%.64s\" (expected true or false)", shown(v, s));
		break;
	case K_DUR: {
		uint64_t ms;
		if (jp_parse_duration_ms(s, &ms)) {
			r = fail(c, v->line, path, "invalid duration \"%.64s\" (use e.g. 500ms, 5s, 15m, 2h)", shown(v, s));
			break;
		}
		fmt_duration(lo, sizeof(lo), (uint64_t)f->min);
		fmt_duration(hi, sizeof(hi), (uint64_t)f->max);
		if (((f->flags & F_MIN) && ms < (uint64_t)f->min) ||
		    ((f->flags & F_MAX) && ms > (uint64_t)f->max))
			r = range_fail(c, v, path, f, lo, hi);
		else
			*(uint64_t *)dst = ms;
		break;
	}
	case K_SIZE: {
		uint64_t b;
		if (jp_parse_size_bytes(s, &b)) {
			r = fail(c, v->line, path, "invalid size \"%.64s\" (use e.g. 512KiB, 64MiB, 1GiB)", shown(v, s));
			break;
		}
		snprintf(lo, sizeof(lo), "%.0fB", f->min);
		snprintf(hi, sizeof(hi), "%.0fB", f->max);
		if (((f->flags & F_MIN) && b < (uint64_t)f->min) ||
		    ((f->flags & F_MAX) && b > (uint64_t)f->max))
			r = range_fail(c, v, path, f, lo, hi);
		else
			*(uint64_t *)dst = b;
		break;
	}
	case K_DOUBLE: {
		double d;
		if (parse_double(s, &d)) {
			r = fail(c, v->line, path, "invalid number \"%.64s\"", shown(v, s));
			break;
		}
		snprintf(lo, sizeof(lo), "%g", f->min);
		snprintf(hi, sizeof(hi), "%g", f->max);
		if (((f->flags & F_MIN) && d < f->min) || ((f->flags & F_MAX) && d > f->max))
			r = range_fail(c, v, path, f, lo, hi);
		else
			*(double *)dst = d;
		break;
	}
	case K_U32:
	case K_U64: {
		uint64_t u;
		int pr = parse_u64(s, &u);
		if (pr == 0 && f->kind == K_U32 && u > UINT32_MAX)
			pr = -ERANGE;
		if (pr) {
			r = fail(c, v->line, path, "%s \"%.64s\" (expected a whole number)",
				 pr == -ERANGE ? "number too large" : "invalid number", shown(v, s));
			break;
		}
		snprintf(lo, sizeof(lo), "%.0f", f->min);
		snprintf(hi, sizeof(hi), "%.0f", f->max);
		if (((f->flags & F_MIN) && (double)u < f->min) || ((f->flags & F_MAX) && (double)u > f->max))
			r = range_fail(c, v, path, f, lo, hi);
		else if (f->kind == K_U32)
			*(uint32_t *)dst = (uint32_t)u;
		else
			*(uint64_t *)dst = u;
		break;
	}
	default:
		r = fail(c, v->line, path, "internal error: unhandled field kind");
		break;
	}
	free(s);
	return r;
}

static int walk_map(struct ctx *c, const struct node *map, const char *path,
		    const struct field *fields, void *base)
{
	char kpath[PATH_MAX_LEN];
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct node *k = map->kids[i], *v = map->kids[i + 1];
		if (k->kind != N_SCALAR)
			return fail(c, k->line, *path ? path : "(root)", "keys must be plain strings, got %s",
				    kind_name(k));
		child_path(kpath, path, k->str);
		/* YAML requires unique keys but libyaml does not check. The tables are small, so
		 * an unknown key stops this loop long before the quadratic check costs anything. */
		for (size_t j = 0; j < i; j += 2)
			if (map->kids[j]->kind == N_SCALAR && !strcmp(map->kids[j]->str, k->str))
				return fail(c, k->line, kpath, "duplicate key");
		const struct field *f = fields;
		while (f->key && (strlen(f->key) != k->len || strcmp(f->key, k->str)))
			f++;
		if (!f->key)
			return fail(c, k->line, kpath, "unknown key");
		/* A null (an empty value, "~" or "null") keeps the default. */
		if (v->kind == N_SCALAR && v->is_null && f->kind != K_REFUSE)
			continue;
		int r = set_field(c, f, v, kpath, base);
		if (r)
			return r;
	}
	return 0;
}

/* --------------------------------------------------------------------------------------------
 * Custom fields and cross-field checks.
 */
static int is_label_name(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

/* RFC 9110 token characters. */
static int is_header_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

/* Fills a string map (labels, headers) from a YAML mapping; `validate` checks one entry. */
static int parse_kvmap(struct ctx *c, const struct node *v, const char *path, struct jp_kvlist *out,
		       int (*validate)(struct ctx *, const struct node *k, const struct node *val,
				       const char *kpath, const char *value))
{
	char kpath[PATH_MAX_LEN];
	if (v->kind != N_MAP)
		return fail(c, v->line, path, "expected a mapping, got %s", kind_name(v));
	if (v->n / 2 > MAX_MAP_ENTRIES)
		return fail(c, v->line, path, "too many entries (at most %d)", MAX_MAP_ENTRIES);
	struct jp_kvlist l = {0};
	int r = 0;
	for (size_t i = 0; i + 1 < v->n && r == 0; i += 2) {
		const struct node *k = v->kids[i], *val = v->kids[i + 1];
		if (k->kind != N_SCALAR) {
			r = fail(c, k->line, path, "keys must be plain strings, got %s", kind_name(k));
			break;
		}
		child_path(kpath, path, k->str);
		if (strlen(k->str) != k->len) {
			r = fail(c, k->line, kpath, "NUL byte in key");
			break;
		}
		for (size_t j = 0; j < l.n; j++)
			if (!strcmp(l.v[j].key, k->str))
				r = fail(c, k->line, kpath, "duplicate key");
		if (r)
			break;
		char *value;
		if (val->kind == N_SCALAR && val->is_null) {
			value = strdup("");
			if (!value) {
				r = fail(c, val->line, kpath, "out of memory");
				break;
			}
		} else if (!(value = scalar_value(c, val, kpath))) {
			r = -EINVAL;
			break;
		}
		r = validate(c, k, val, kpath, value);
		char *key = r ? NULL : strdup(k->str);
		if (r == 0 && (!key || kv_push(&l, key, value))) {
			free(key);
			r = fail(c, k->line, kpath, "out of memory");
		}
		if (r)
			free(value);
	}
	if (r) {
		kv_free(&l);
		return r;
	}
	kv_free(out);
	*out = l;
	return 0;
}

static int check_label(struct ctx *c, const struct node *k, const struct node *val,
		       const char *kpath, const char *value)
{
	if (!is_label_name(k->str))
		return fail(c, k->line, kpath, "invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)");
	/* Every series already carries `node` (docs/reference/metrics.md); names with "__" are Prometheus-internal. */
	if (!strcmp(k->str, "node"))
		return fail(c, k->line, kpath, "reserved label name (node is set from node_name)");
	if (!strncmp(k->str, "__", 2))
		return fail(c, k->line, kpath, "reserved label name (names starting with __ are internal)");
	/* Remote write forbids empty label values (docs/reference/remote-write.md). */
	if (!*value)
		return fail(c, val->line, kpath, "label value must not be empty");
	return 0;
}

static int parse_labels(struct ctx *c, const struct node *v, const char *path, void *base)
{
	return parse_kvmap(c, v, path, &((struct jp_config *)base)->external_labels, check_label);
}

/* Headers the sender sets itself (docs/reference/remote-write.md) or that carry credentials, which come from files. */
static const char *const reserved_headers[] = {
	"Content-Encoding", "Content-Type", "Content-Length", "X-Prometheus-Remote-Write-Version",
	"User-Agent", "Host", "Authorization", "Transfer-Encoding", NULL,
};

static int check_header(struct ctx *c, const struct node *k, const struct node *val,
			const char *kpath, const char *value)
{
	if (!is_header_name(k->str))
		return fail(c, k->line, kpath, "invalid header name");
	for (size_t i = 0; reserved_headers[i]; i++)
		if (!strcasecmp(k->str, reserved_headers[i]))
			return fail(c, k->line, kpath, "reserved header (set by joulepush%s)",
				    strcasecmp(k->str, "Authorization") ? "" :
				    "; use basic_auth or bearer_token_file");
	/* A CR or LF would let a value inject further headers. */
	for (const char *p = value; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return fail(c, val->line, kpath, "control character in header value");
	return 0;
}

static int parse_headers(struct ctx *c, const struct node *v, const char *path, void *base)
{
	return parse_kvmap(c, v, path, &((struct jp_remote_config *)base)->headers, check_header);
}

/* carbon.factors: "lifecycle", "direct", or a map of ENTSO-E PsrTypes B01..B25 to g/kWh
 * overriding single entries of the lifecycle table (docs/carbon.md). */
static int check_factor(struct ctx *c, const struct node *k, const struct node *val,
			const char *kpath, const char *value)
{
	const char *s = k->str;
	int ok = s[0] == 'B' && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) && !s[3];
	int num = ok ? (s[1] - '0') * 10 + (s[2] - '0') : 0;
	if (!ok || num < 1 || num > 25)
		return fail(c, k->line, kpath, "unknown PsrType (expected B01 .. B25)");
	double d;
	if (parse_double(value, &d) || d < 0)
		return fail(c, val->line, kpath, "invalid factor \"%.64s\" (expected a number >= 0 g/kWh)",
			    shown(val, value));
	return 0;
}

/* kubernetes.token_file: remembers that the file named it. The default path is used
 * only if it exists (an agent outside a pod, or the kubelet's read-only port, has no
 * token); a token file named in the config must exist. */
static int parse_kube_token_file(struct ctx *c, const struct node *v, const char *path, void *base)
{
	struct jp_config *cfg = base;
	char *s = scalar_value(c, v, path);
	if (!s)
		return -EINVAL;
	free(cfg->kube_token_file);
	cfg->kube_token_file = s;
	cfg->kube_token_file_explicit = 1;
	return 0;
}

static int parse_factors(struct ctx *c, const struct node *v, const char *path, void *base)
{
	struct jp_config *cfg = base;
	if (v->kind == N_MAP) {
		int r = parse_kvmap(c, v, path, &cfg->carbon_factor_overrides, check_factor);
		if (r == 0)
			cfg->carbon_factors_direct = 0;
		return r;
	}
	if (v->kind != N_SCALAR)
		return fail(c, v->line, path, "expected lifecycle, direct or a mapping of PsrType to g/kWh");
	char *s = scalar_value(c, v, path);
	if (!s)
		return -EINVAL;
	int r = 0;
	if (!strcmp(s, "lifecycle") || !strcmp(s, "direct")) {
		cfg->carbon_factors_direct = !strcmp(s, "direct");
		kv_free(&cfg->carbon_factor_overrides);
	} else {
		r = fail(c, v->line, path,
			 "invalid value \"%.64s\" (expected lifecycle, direct or a mapping of PsrType to g/kWh)", shown(v, s));
	}
	free(s);
	return r;
}

static int parse_levels(struct ctx *c, const struct node *v, const char *path, void *base)
{
	static const char *const names[] = {"node", "pod", "namespace", "container", NULL};
	static const unsigned bits[] = {JP_LEVEL_NODE, JP_LEVEL_POD, JP_LEVEL_NAMESPACE, JP_LEVEL_CONTAINER};
	char ipath[PATH_MAX_LEN];
	unsigned levels = 0;
	if (v->kind != N_SEQ)
		return fail(c, v->line, path, "expected a list, got %s", kind_name(v));
	if (v->n == 0)
		return fail(c, v->line, path, "must name at least one level");
	for (size_t i = 0; i < v->n; i++) {
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		char *s = scalar_value(c, v->kids[i], ipath);
		if (!s)
			return -EINVAL;
		int idx = -1;
		for (int j = 0; names[j]; j++)
			if (!strcmp(s, names[j]))
				idx = j;
		if (idx < 0) {
			int r = enum_fail(c, v->kids[i], ipath, s, names);
			free(s);
			return r;
		}
		free(s);
		levels |= bits[idx];
	}
	((struct jp_config *)base)->metrics_levels = levels;
	return 0;
}

static int check_model(struct ctx *c, const struct node *v, const char *path, void *base)
{
	const struct jp_config *cfg = base;
	char kpath[PATH_MAX_LEN];
	if (cfg->model_max_watts_per_cpu < cfg->model_idle_watts_per_cpu) {
		child_path(kpath, path, "max_watts_per_cpu");
		return fail(c, line_of(v, "max_watts_per_cpu"), kpath,
			    "is %g, must be at least idle_watts_per_cpu (%g)", cfg->model_max_watts_per_cpu,
			    cfg->model_idle_watts_per_cpu);
	}
	return 0;
}

static int check_tls(struct ctx *c, const struct node *v, const char *path, void *base)
{
	const struct jp_remote_config *rc = base;
	char kpath[PATH_MAX_LEN];
	if (!*rc->tls_cert_file != !*rc->tls_key_file) {
		const char *missing = *rc->tls_cert_file ? "key_file" : "cert_file";
		child_path(kpath, path, missing);
		return fail(c, v->line, kpath, "cert_file and key_file must be set together");
	}
	return 0;
}

static int check_basic_auth(struct ctx *c, const struct node *v, const char *path, void *base)
{
	const struct jp_remote_config *rc = base;
	char kpath[PATH_MAX_LEN];
	if (*rc->basic_auth_password_file && !*rc->basic_auth_username) {
		child_path(kpath, path, "username");
		return fail(c, v->line, kpath, "must be set when password_file is");
	}
	return 0;
}

static int check_queue(struct ctx *c, const struct node *v, const char *path, void *base)
{
	const struct jp_remote_config *rc = base;
	char kpath[PATH_MAX_LEN], hi[32];
	if (rc->min_backoff_ms > rc->max_backoff_ms) {
		const char *key = map_get(v, "min_backoff") ? "min_backoff" : "max_backoff";
		child_path(kpath, path, key);
		fmt_duration(hi, sizeof(hi), rc->max_backoff_ms);
		if (!strcmp(key, "min_backoff"))
			return fail(c, line_of(v, key), kpath, "must not exceed max_backoff (%s)", hi);
		fmt_duration(hi, sizeof(hi), rc->min_backoff_ms);
		return fail(c, line_of(v, key), kpath, "must not be less than min_backoff (%s)", hi);
	}
	return 0;
}

static const char *const collector_modes[] = {"auto", "ebpf", "cgroupfs", "synthetic", NULL};
static const char *const power_sources[] = {"auto", "rapl", "model", NULL};
static const char *const idle_attrs[] = {"none", "even", "usage", "requests", NULL};
static const char *const carbon_sources[] = {"static", "entsoe", "electricitymaps", "ukci", "file", NULL};
static const char *const compat_names[] = {"none", "kepler", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const protocols[] = {"1.0", "2.0", NULL};

#define CFG(f) offsetof(struct jp_config, f)
#define RC(f) offsetof(struct jp_remote_config, f)

static const struct field basic_auth_fields[] = {
	{.key = "username", .kind = K_STR, .off = RC(basic_auth_username)},
	{.key = "password_file", .kind = K_STR, .off = RC(basic_auth_password_file)},
	{.key = "password", .kind = K_REFUSE,
	 .hint = "secrets are read from files only: use password_file"},
	{0},
};

static const struct field tls_fields[] = {
	{.key = "ca_file", .kind = K_STR, .off = RC(tls_ca_file)},
	{.key = "cert_file", .kind = K_STR, .off = RC(tls_cert_file)},
	{.key = "key_file", .kind = K_STR, .off = RC(tls_key_file)},
	{.key = "insecure_skip_verify", .kind = K_BOOL, .off = RC(tls_insecure_skip_verify)},
	{0},
};

static const struct field queue_fields[] = {
	{.key = "dir", .kind = K_STR, .off = RC(queue_dir), .flags = F_NONEMPTY},
	{.key = "max_disk_bytes", .kind = K_SIZE, .off = RC(queue_max_disk_bytes), .flags = F_MIN, .min = 1},
	{.key = "max_samples_per_send", .kind = K_U32, .off = RC(max_samples_per_send),
	 .flags = F_MIN | F_MAX, .min = 1, .max = 100000},
	{.key = "batch_send_deadline", .kind = K_DUR, .off = RC(batch_send_deadline_ms), .flags = F_MIN, .min = 1},
	/* A zero backoff would retry in a busy loop. */
	{.key = "min_backoff", .kind = K_DUR, .off = RC(min_backoff_ms), .flags = F_MIN, .min = 1},
	{.key = "max_backoff", .kind = K_DUR, .off = RC(max_backoff_ms), .flags = F_MIN, .min = 1},
	{0},
};

static const struct field remote_fields[] = {
	{.key = "name", .kind = K_STR, .off = RC(name)},
	{.key = "url", .kind = K_STR, .off = RC(url), .flags = F_HTTP},
	{.key = "protocol", .kind = K_ENUM, .off = RC(protocol), .names = protocols},
	{.key = "timeout", .kind = K_DUR, .off = RC(timeout_ms), .flags = F_MIN, .min = 1},
	{.key = "headers", .kind = K_CUSTOM, .check = parse_headers},
	{.key = "basic_auth", .kind = K_SECTION, .sub = basic_auth_fields, .check = check_basic_auth},
	{.key = "bearer_token_file", .kind = K_STR, .off = RC(bearer_token_file)},
	{.key = "bearer_token", .kind = K_REFUSE,
	 .hint = "secrets are read from files only: use bearer_token_file"},
	{.key = "tls", .kind = K_SECTION, .sub = tls_fields, .check = check_tls},
	{.key = "queue", .kind = K_SECTION, .sub = queue_fields, .check = check_queue},
	{0},
};

static int parse_remotes(struct ctx *c, const struct node *v, const char *path, void *base);

static const struct field host_fields[] = {
	{.key = "sysfs", .kind = K_STR, .off = CFG(host_sysfs), .flags = F_NONEMPTY},
	{.key = "procfs", .kind = K_STR, .off = CFG(host_procfs), .flags = F_NONEMPTY},
	{.key = "cgroupfs", .kind = K_STR, .off = CFG(host_cgroupfs), .flags = F_NONEMPTY},
	{0},
};

static const struct field synthetic_fields[] = {
	{.key = "pods", .kind = K_U32, .off = CFG(synthetic_pods), .flags = F_MAX, .max = 1000000},
	{.key = "containers_per_pod", .kind = K_U32, .off = CFG(synthetic_containers_per_pod),
	 .flags = F_MIN | F_MAX, .min = 1, .max = 1000},
	{.key = "seed", .kind = K_U64, .off = CFG(synthetic_seed)},
	{0},
};

static const struct field collector_fields[] = {
	{.key = "mode", .kind = K_ENUM, .off = CFG(collector_mode), .names = collector_modes},
	{.key = "bpf_map_entries", .kind = K_U32, .off = CFG(bpf_map_entries), .flags = F_MAX, .max = 1u << 22},
	{.key = "synthetic", .kind = K_SECTION, .sub = synthetic_fields},
	{0},
};

static const struct field model_fields[] = {
	{.key = "idle_watts_per_cpu", .kind = K_DOUBLE, .off = CFG(model_idle_watts_per_cpu),
	 .flags = F_MIN, .min = 0},
	{.key = "max_watts_per_cpu", .kind = K_DOUBLE, .off = CFG(model_max_watts_per_cpu),
	 .flags = F_MIN, .min = 0},
	{0},
};

static const struct field power_fields[] = {
	{.key = "source", .kind = K_ENUM, .off = CFG(power_source), .names = power_sources},
	{.key = "model", .kind = K_SECTION, .sub = model_fields, .check = check_model},
	{.key = "idle_attribution", .kind = K_ENUM, .off = CFG(idle_attribution), .names = idle_attrs},
	/* PUE is total facility energy / IT equipment energy, so a facility can never be below
	 * 1.0: that would mean the servers used more energy than the whole building. */
	{.key = "pue", .kind = K_DOUBLE, .off = CFG(pue), .flags = F_MIN, .min = 1.0,
	 .hint = "(PUE is total facility energy / IT energy)"},
	{0},
};

static const struct field kube_fields[] = {
	{.key = "kubelet_url", .kind = K_STR, .off = CFG(kubelet_url), .flags = F_HTTP_OPT},
	{.key = "token_file", .kind = K_CUSTOM, .check = parse_kube_token_file},
	{.key = "cgroup_root", .kind = K_STR, .off = CFG(kube_cgroup_root)},
	{.key = "max_response_bytes", .kind = K_SIZE, .off = CFG(kube_max_response_bytes), .flags = F_MIN | F_MAX,
	 .min = 64 * 1024, .max = 4096.0 * 1024 * 1024},
	{.key = "ca_file", .kind = K_STR, .off = CFG(kube_ca_file)},
	{.key = "insecure_skip_verify", .kind = K_BOOL, .off = CFG(kube_insecure_skip_verify)},
	{.key = "refresh", .kind = K_DUR, .off = CFG(kube_refresh_ms), .flags = F_MIN, .min = 1000},
	{0},
};

static const struct field entsoe_fields[] = {
	{.key = "url", .kind = K_STR, .off = CFG(entsoe_url), .flags = F_HTTP},
	{.key = "token_file", .kind = K_STR, .off = CFG(entsoe_token_file)},
	{.key = "area", .kind = K_STR, .off = CFG(entsoe_area), .flags = F_NONEMPTY},
	{.key = "token", .kind = K_REFUSE, .hint = "secrets are read from files only: use token_file"},
	{0},
};

static const struct field emaps_fields[] = {
	{.key = "url", .kind = K_STR, .off = CFG(emaps_url), .flags = F_HTTP},
	{.key = "token_file", .kind = K_STR, .off = CFG(emaps_token_file)},
	{.key = "zone", .kind = K_STR, .off = CFG(emaps_zone), .flags = F_NONEMPTY},
	{.key = "token", .kind = K_REFUSE, .hint = "secrets are read from files only: use token_file"},
	{0},
};

static const struct field ukci_fields[] = {
	{.key = "url", .kind = K_STR, .off = CFG(ukci_url), .flags = F_HTTP},
	{.key = "region", .kind = K_STR, .off = CFG(ukci_region)},
	{0},
};

static const struct field carbon_file_fields[] = {
	{.key = "path", .kind = K_STR, .off = CFG(carbon_file_path)},
	{0},
};

static const struct field embodied_fields[] = {
	{.key = "grams_per_node_hour", .kind = K_DOUBLE, .off = CFG(embodied_grams_per_node_hour),
	 .flags = F_MIN, .min = 0},
	{0},
};

static const struct field carbon_fields[] = {
	{.key = "source", .kind = K_ENUM, .off = CFG(carbon_source), .names = carbon_sources},
	{.key = "grams_per_kwh", .kind = K_DOUBLE, .off = CFG(carbon_grams_per_kwh), .flags = F_MIN, .min = 0},
	{.key = "max_age", .kind = K_DUR, .off = CFG(carbon_max_age_ms), .flags = F_MIN, .min = 1000},
	{.key = "refresh", .kind = K_DUR, .off = CFG(carbon_refresh_ms), .flags = F_MIN, .min = 1000},
	{.key = "entsoe", .kind = K_SECTION, .sub = entsoe_fields},
	{.key = "electricitymaps", .kind = K_SECTION, .sub = emaps_fields},
	{.key = "ukci", .kind = K_SECTION, .sub = ukci_fields},
	{.key = "file", .kind = K_SECTION, .sub = carbon_file_fields},
	{.key = "factors", .kind = K_CUSTOM, .check = parse_factors},
	{.key = "embodied", .kind = K_SECTION, .sub = embodied_fields},
	{0},
};

static const struct field metrics_fields[] = {
	{.key = "levels", .kind = K_CUSTOM, .check = parse_levels},
	{.key = "compat", .kind = K_ENUM, .off = CFG(metrics_compat_kepler), .names = compat_names},
	{0},
};

static const struct field server_fields[] = {
	{.key = "listen", .kind = K_STR, .off = CFG(server_listen), .flags = F_LISTEN},
	{0},
};

static const struct field log_fields[] = {
	{.key = "level", .kind = K_STRENUM, .off = CFG(log_level), .names = log_levels},
	{.key = "format", .kind = K_ENUM, .off = CFG(log_json), .names = log_formats},
	{0},
};

static const struct field top_fields[] = {
	{.key = "node_name", .kind = K_STR, .off = CFG(node_name), .flags = F_NONEMPTY},
	{.key = "user", .kind = K_STR, .off = CFG(user)},
	{.key = "interval", .kind = K_DUR, .off = CFG(interval_ms), .flags = F_MIN | F_MAX,
	 .min = 1000, .max = 600000},
	{.key = "external_labels", .kind = K_CUSTOM, .check = parse_labels},
	{.key = "host", .kind = K_SECTION, .sub = host_fields},
	{.key = "collector", .kind = K_SECTION, .sub = collector_fields},
	{.key = "power", .kind = K_SECTION, .sub = power_fields},
	{.key = "kubernetes", .kind = K_SECTION, .sub = kube_fields},
	{.key = "carbon", .kind = K_SECTION, .sub = carbon_fields},
	{.key = "metrics", .kind = K_SECTION, .sub = metrics_fields},
	{.key = "remote_write", .kind = K_CUSTOM, .check = parse_remotes},
	{.key = "server", .kind = K_SECTION, .sub = server_fields},
	{.key = "log", .kind = K_SECTION, .sub = log_fields},
	{0},
};

/* Call cb with the dotted path of every key a config file may set (remote keys as
 * "remote_write[].<key>"); keys that exist only to be refused are left out. */
static int foreach_key(const struct field *fields, const char *prefix,
		       int (*cb)(const char *path, void *arg), void *arg)
{
	char path[PATH_MAX_LEN], sub[PATH_MAX_LEN + 2];
	for (const struct field *f = fields; f->key; f++) {
		if (f->kind == K_REFUSE)
			continue;
		snprintf(path, sizeof(path), "%s%s", prefix, f->key);
		int r;
		if (f->kind == K_SECTION) {
			snprintf(sub, sizeof(sub), "%s.", path);
			r = foreach_key(f->sub, sub, cb, arg);
		} else if (f->check == parse_remotes) {
			r = foreach_key(remote_fields, "remote_write[].", cb, arg);
		} else {
			r = cb(path, arg);
		}
		if (r)
			return r;
	}
	return 0;
}

int jp_config_foreach_key(int (*cb)(const char *path, void *arg), void *arg)
{
	return foreach_key(top_fields, "", cb, arg);
}

/* --------------------------------------------------------------------------------------------
 * Defaults (docs/reference/configuration.md) and remote_write.
 */
static void remote_free(struct jp_remote_config *rc)
{
	free(rc->name);
	free(rc->url);
	kv_free(&rc->headers);
	free(rc->basic_auth_username);
	free(rc->basic_auth_password_file);
	free(rc->bearer_token_file);
	free(rc->tls_ca_file);
	free(rc->tls_cert_file);
	free(rc->tls_key_file);
	free(rc->queue_dir);
	memset(rc, 0, sizeof(*rc));
}

/* Fill *rc with the per-remote defaults; url stays NULL. Returns 0 or -ENOMEM. */
static int remote_defaults(struct jp_remote_config *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->protocol = JP_RW_V1;
	rc->timeout_ms = 30000;
	rc->queue_max_disk_bytes = 1ull << 30;
	rc->max_samples_per_send = 2000;
	rc->batch_send_deadline_ms = 5000;
	rc->min_backoff_ms = 30;
	rc->max_backoff_ms = 5000;
	rc->name = strdup("default");
	rc->basic_auth_username = strdup("");
	rc->basic_auth_password_file = strdup("");
	rc->bearer_token_file = strdup("");
	rc->tls_ca_file = strdup("");
	rc->tls_cert_file = strdup("");
	rc->tls_key_file = strdup("");
	rc->queue_dir = strdup("/var/lib/joulepush/queue");
	if (!rc->name || !rc->basic_auth_username || !rc->basic_auth_password_file ||
	    !rc->bearer_token_file || !rc->tls_ca_file || !rc->tls_cert_file || !rc->tls_key_file ||
	    !rc->queue_dir) {
		remote_free(rc);
		return -ENOMEM;
	}
	return 0;
}

/* The remote's name becomes a directory under queue.dir, so it must be a single safe path
 * component. */
static int is_remote_name(const char *s)
{
	if (!*s || !strcmp(s, ".") || !strcmp(s, "..") || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return 0;
	return 1;
}

static int check_remote(struct ctx *c, const struct node *v, const char *path,
			const struct jp_remote_config *rc, const struct jp_remote_config *prev, size_t nprev)
{
	char kpath[PATH_MAX_LEN];
	if (!rc->url) {
		child_path(kpath, path, "url");
		return fail(c, v->line, kpath, "missing (every remote needs a url)");
	}
	child_path(kpath, path, "name");
	if (!is_remote_name(rc->name))
		return fail(c, line_of(v, "name"), kpath,
			    "invalid name \"%.64s\" (1 to 64 of [A-Za-z0-9_.-], not . or ..)", rc->name);
	for (size_t i = 0; i < nprev; i++)
		if (!strcmp(prev[i].name, rc->name))
			return fail(c, line_of(v, "name"), kpath,
				    "duplicate remote name \"%s\" (each remote needs a unique name)", rc->name);
	if (*rc->bearer_token_file && *rc->basic_auth_username) {
		child_path(kpath, path, "bearer_token_file");
		return fail(c, line_of(v, "bearer_token_file"), kpath,
			    "cannot be used together with basic_auth");
	}
	return 0;
}

static void remotes_free(struct jp_config *cfg)
{
	for (size_t i = 0; i < cfg->nremotes; i++)
		remote_free(&cfg->remotes[i]);
	free(cfg->remotes);
	cfg->remotes = NULL;
	cfg->nremotes = 0;
}

/* remote_write replaces the default remote (from $JOULEPUSH_REMOTE_WRITE_URL) entirely;
 * each entry starts from the per-remote defaults. */
static int parse_remotes(struct ctx *c, const struct node *v, const char *path, void *base)
{
	struct jp_config *cfg = base;
	char ipath[PATH_MAX_LEN];
	if (v->kind != N_SEQ)
		return fail(c, v->line, path, "expected a list, got %s", kind_name(v));
	if (v->n > MAX_REMOTES)
		return fail(c, v->line, path, "too many remotes (at most %d)", MAX_REMOTES);
	remotes_free(cfg);
	if (v->n == 0)
		return 0;
	cfg->remotes = calloc(v->n, sizeof(*cfg->remotes));
	if (!cfg->remotes)
		return fail(c, v->line, path, "out of memory");
	for (size_t i = 0; i < v->n; i++) {
		const struct node *item = v->kids[i];
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (item->kind != N_MAP)
			return fail(c, item->line, ipath, "expected a mapping, got %s",
				    item->is_null ? "null" : kind_name(item));
		if (remote_defaults(&cfg->remotes[i]))
			return fail(c, item->line, ipath, "out of memory");
		cfg->nremotes = i + 1;   /* from here on jp_config_free() releases it */
		int r = walk_map(c, item, ipath, remote_fields, &cfg->remotes[i]);
		if (r == 0)
			r = check_remote(c, item, ipath, &cfg->remotes[i], cfg->remotes, i);
		if (r)
			return r;
	}
	return 0;
}

int jp_config_defaults(struct jp_config *cfg)
{
	char host[256];
	memset(cfg, 0, sizeof(*cfg));

	const char *node = getenv("NODE_NAME");
	if (!node || !*node) {
		if (gethostname(host, sizeof(host)) < 0)
			return -errno;
		host[sizeof(host) - 1] = '\0';
		node = host;
	}
	cfg->node_name = strdup(node);
	cfg->user = strdup("");
	cfg->interval_ms = 5000;
	cfg->host_sysfs = strdup("/sys");
	cfg->host_procfs = strdup("/proc");
	cfg->host_cgroupfs = strdup("auto");
	cfg->collector_mode = JP_COLLECTOR_AUTO;
	cfg->synthetic_pods = 100;
	cfg->synthetic_containers_per_pod = 2;
	cfg->synthetic_seed = 1;
	cfg->power_source = JP_POWER_AUTO;
	cfg->model_idle_watts_per_cpu = 0.74;
	cfg->model_max_watts_per_cpu = 3.5;
	cfg->idle_attribution = JP_IDLE_NONE;
	cfg->pue = 1.0;
	cfg->kubelet_url = strdup("");
	cfg->kube_token_file = strdup("/var/run/secrets/kubernetes.io/serviceaccount/token");
	cfg->kube_ca_file = strdup("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
	cfg->kube_insecure_skip_verify = 0;
	cfg->kube_cgroup_root = strdup("");
	cfg->kube_max_response_bytes = 32u << 20;
	cfg->kube_refresh_ms = 15000;
	cfg->carbon_source = JP_CARBON_STATIC;
	cfg->carbon_grams_per_kwh = 475;
	cfg->carbon_max_age_ms = 2 * 3600000;
	cfg->carbon_refresh_ms = 15 * 60000;
	cfg->entsoe_url = strdup("https://web-api.tp.entsoe.eu/api");
	cfg->entsoe_token_file = strdup("");
	cfg->entsoe_area = strdup("10Y1001A1001A82H");
	cfg->emaps_url = strdup("https://api.electricitymap.org/v3");
	cfg->emaps_token_file = strdup("");
	cfg->emaps_zone = strdup("DE");
	cfg->ukci_url = strdup("https://api.carbonintensity.org.uk");
	cfg->ukci_region = strdup("");
	cfg->carbon_file_path = strdup("");
	cfg->carbon_factors_direct = 0;
	cfg->embodied_grams_per_node_hour = 0;
	cfg->metrics_levels = JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE;
	cfg->metrics_compat_kepler = 0;
	cfg->server_listen = strdup("127.0.0.1:9465");
	cfg->log_level = strdup("info");
	cfg->log_json = 0;

	if (!cfg->node_name || !cfg->user || !cfg->host_sysfs || !cfg->host_procfs ||
	    !cfg->host_cgroupfs || !cfg->kubelet_url || !cfg->kube_token_file || !cfg->kube_ca_file ||
	    !cfg->kube_cgroup_root ||
	    !cfg->entsoe_url || !cfg->entsoe_token_file || !cfg->entsoe_area || !cfg->emaps_url ||
	    !cfg->emaps_token_file || !cfg->emaps_zone || !cfg->ukci_url || !cfg->ukci_region ||
	    !cfg->carbon_file_path || !cfg->server_listen || !cfg->log_level)
		goto nomem;

	/* docs/reference/configuration.md: without a config, remote write is off unless this variable names a URL. */
	const char *url = getenv("JOULEPUSH_REMOTE_WRITE_URL");
	if (url && *url) {
		if (!is_http_url(url) || url_has_userinfo(url)) {
			jp_config_free(cfg);
			return -EINVAL;
		}
		cfg->remotes = calloc(1, sizeof(*cfg->remotes));
		if (!cfg->remotes || remote_defaults(&cfg->remotes[0]))
			goto nomem;
		cfg->nremotes = 1;
		cfg->remotes[0].url = strdup(url);
		if (!cfg->remotes[0].url)
			goto nomem;
	}
	return 0;
nomem:
	jp_config_free(cfg);
	return -ENOMEM;
}

void jp_config_free(struct jp_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->node_name);
	free(cfg->user);
	kv_free(&cfg->external_labels);
	free(cfg->host_sysfs);
	free(cfg->host_procfs);
	free(cfg->host_cgroupfs);
	free(cfg->kubelet_url);
	free(cfg->kube_token_file);
	free(cfg->kube_ca_file);
	free(cfg->kube_cgroup_root);
	free(cfg->entsoe_url);
	free(cfg->entsoe_token_file);
	free(cfg->entsoe_area);
	free(cfg->emaps_url);
	free(cfg->emaps_token_file);
	free(cfg->emaps_zone);
	free(cfg->ukci_url);
	free(cfg->ukci_region);
	free(cfg->carbon_file_path);
	kv_free(&cfg->carbon_factor_overrides);
	remotes_free(cfg);
	free(cfg->server_listen);
	free(cfg->log_level);
	memset(cfg, 0, sizeof(*cfg));
}

int jp_config_load_buffer(struct jp_config *cfg, const char *name, const char *text, size_t len,
			  char *err, size_t errlen)
{
	struct ctx c = {.name = name ? name : "<config>", .err = err, .errlen = errlen};
	struct jp_config tmp;
	struct node *root = NULL;
	int r;

	if (err && errlen)
		err[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));
	if (len > MAX_FILE_BYTES)
		return fail(&c, 0, "(file)", "larger than 1 MiB; refusing to parse");
	r = jp_config_defaults(&tmp);
	if (r == -EINVAL)
		return fail(&c, 0, "JOULEPUSH_REMOTE_WRITE_URL", "invalid URL (expected http:// or https://)");
	if (r) {
		fail(&c, 0, "(defaults)", "%s", strerror(-r));
		return r;
	}
	tmp.path = strdup(c.name);
	if (!tmp.path) {
		r = fail(&c, 0, "(file)", "out of memory");
		goto out;
	}
	r = build_tree(&c, text ? text : "", text ? len : 0, &root);
	if (r)
		goto out;
	/* An empty document, or one holding only null, means all defaults. */
	if (root && !(root->kind == N_SCALAR && root->is_null)) {
		if (root->kind != N_MAP)
			r = fail(&c, root->line, "(root)", "expected a mapping of settings, got %s",
				 kind_name(root));
		else
			r = walk_map(&c, root, "", top_fields, &tmp);
	}
out:
	node_free(root);
	if (r) {
		jp_config_free(&tmp);
		return r;
	}
	*cfg = tmp;
	return 0;
}

int jp_config_load(struct jp_config *cfg, const char *path, char *err, size_t errlen)
{
	struct ctx c = {.name = path, .err = err, .errlen = errlen};
	char *text = NULL;
	size_t len = 0;
	int r = 0;

	memset(cfg, 0, sizeof(*cfg));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		fail(&c, 0, "(file)", "cannot open: %s", strerror(-r));
		return r;
	}
	/* Read at most one byte past the limit, so that pipes and /proc-like files, whose size
	 * fstat does not know, are bounded too. */
	text = malloc(MAX_FILE_BYTES + 1);
	if (!text) {
		r = fail(&c, 0, "(file)", "out of memory");
		goto out;
	}
	while (len < MAX_FILE_BYTES + 1) {
		ssize_t n = read(fd, text + len, MAX_FILE_BYTES + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			fail(&c, 0, "(file)", "cannot read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > MAX_FILE_BYTES) {
		r = fail(&c, 0, "(file)", "larger than 1 MiB; refusing to parse");
		goto out;
	}
	r = jp_config_load_buffer(cfg, path, text, len, err, errlen);
out:
	free(text);
	close(fd);
	return r;
}
