/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The configuration schema engine (config/internal.h). Each mapping of
 * docs/reference/configuration.md is a table of struct field; a field writes at an offset
 * into `base`, which is the struct jp_config, or a struct jp_remote_config inside
 * remote_write. Parsing and validation, the defaults, the free, the list of keys and the
 * reload diff all walk the same tables: a key is written once.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/internal.h"
#include "util/units.h"

int cfg_enum_fail(struct ctx *c, const struct node *v, const char *path, const char *val,
		     const char *const *names)
{
	char list[160] = "";
	size_t used = 0;
	for (size_t i = 0; names[i] && used < sizeof(list); i++) {
		const char *sep = i == 0 ? "" : names[i + 1] ? ", " : " or ";
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", sep, names[i]);
	}
	return cfg_fail(c, v->line, path, "invalid value \"%.64s\" (expected %s)", cfg_shown(v, val), list);
}

static int range_fail(struct ctx *c, const struct node *v, const char *path,
		      const struct field *f, const char *lo, const char *hi)
{
	const char *hint = f->hint ? f->hint : "";
	const char *sp = f->hint ? " " : "";
	if ((f->flags & F_MIN) && (f->flags & F_MAX))
		return cfg_fail(c, v->line, path, "must be between %s and %s%s%s", lo, hi, sp, hint);
	if (f->flags & F_MIN)
		return cfg_fail(c, v->line, path, "must be at least %s%s%s", lo, sp, hint);
	return cfg_fail(c, v->line, path, "must be at most %s%s%s", hi, sp, hint);
}

int cfg_set_field(struct ctx *c, const struct field *f, const struct node *v, const char *path,
		     void *base)
{
	void *dst = (char *)base + f->off;
	char lo[32], hi[32];
	int r = 0;

	switch (f->kind) {
	case K_REFUSE:
		return cfg_fail(c, v->line, path, "%s", f->hint);
	case K_SECTION:
		if (v->kind != N_MAP)
			return cfg_fail(c, v->line, path, "expected a mapping, got %s", cfg_kind_name(v));
		r = cfg_walk_map(c, v, path, f->sub, base);
		if (r == 0 && f->check)
			r = f->check(c, v, path, base);
		return r;
	case K_CUSTOM:
		return f->check(c, v, path, base);
	default:
		break;
	}

	char *s = cfg_scalar_value(c, v, path);
	if (!s)
		return -EINVAL;
	switch (f->kind) {
	case K_STR:
		if ((f->flags & F_NONEMPTY) && !*s)
			r = cfg_fail(c, v->line, path, "must not be empty");
		else if ((f->flags & (F_HTTP | F_HTTP_OPT)) && cfg_url_has_userinfo(s))
			r = cfg_fail(c, v->line, path, "credentials in the URL are refused (they would be logged): "
				 "use basic_auth.username and basic_auth.password_file");
		else if ((f->flags & F_HTTP) && !cfg_is_http_url(s))
			r = cfg_fail(c, v->line, path, "invalid URL \"%.64s\" (expected http:// or https://)", cfg_shown(v, s));
		else if ((f->flags & F_HTTP_OPT) && *s && !cfg_is_http_url(s))
			r = cfg_fail(c, v->line, path,
				 "invalid URL \"%.64s\" (expected empty, http:// or https://)", cfg_shown(v, s));
		else if ((f->flags & F_LISTEN) && *s && !cfg_is_listen_addr(s))
			r = cfg_fail(c, v->line, path,
				 "invalid address \"%.64s\" (expected HOST:PORT, e.g. 0.0.0.0:9465 for all "
				 "interfaces, or empty to disable)", cfg_shown(v, s));
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
			r = cfg_enum_fail(c, v, path, s, f->names);
		} else if (f->kind == K_ENUM) {
			*(int *)dst = f->values ? f->values[idx] : idx;
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
			r = cfg_fail(c, v->line, path, "invalid boolean \"%.64s\" (expected true or false)", cfg_shown(v, s));
		break;
	case K_DUR: {
		uint64_t ms;
		if (jp_parse_duration_ms(s, &ms)) {
			r = cfg_fail(c, v->line, path, "invalid duration \"%.64s\" (use e.g. 500ms, 5s, 15m, 2h)", cfg_shown(v, s));
			break;
		}
		cfg_fmt_duration(lo, sizeof(lo), (uint64_t)f->min);
		cfg_fmt_duration(hi, sizeof(hi), (uint64_t)f->max);
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
			r = cfg_fail(c, v->line, path, "invalid size \"%.64s\" (use e.g. 512KiB, 64MiB, 1GiB)", cfg_shown(v, s));
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
		if (cfg_parse_double(s, &d)) {
			r = cfg_fail(c, v->line, path, "invalid number \"%.64s\"", cfg_shown(v, s));
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
		int pr = cfg_parse_u64(s, &u);
		if (pr == 0 && f->kind == K_U32 && u > UINT32_MAX)
			pr = -ERANGE;
		if (pr) {
			r = cfg_fail(c, v->line, path, "%s \"%.64s\" (expected a whole number)",
				 pr == -ERANGE ? "number too large" : "invalid number", cfg_shown(v, s));
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
		r = cfg_fail(c, v->line, path, "internal error: unhandled field kind");
		break;
	}
	free(s);
	return r;
}

int cfg_walk_map(struct ctx *c, const struct node *map, const char *path,
		    const struct field *fields, void *base)
{
	char kpath[PATH_MAX_LEN];
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct node *k = map->kids[i], *v = map->kids[i + 1];
		if (k->kind != N_SCALAR)
			return cfg_fail(c, k->line, *path ? path : "(root)", "keys must be plain strings, got %s",
				    cfg_kind_name(k));
		cfg_child_path(kpath, path, k->str);
		/* YAML requires unique keys but libyaml does not check. The tables are small, so
		 * an unknown key stops this loop long before the quadratic check costs anything. */
		for (size_t j = 0; j < i; j += 2)
			if (map->kids[j]->kind == N_SCALAR && !strcmp(map->kids[j]->str, k->str))
				return cfg_fail(c, k->line, kpath, "duplicate key");
		const struct field *f = fields;
		while (f->key && (f->kind == K_HIDDEN || strlen(f->key) != k->len || strcmp(f->key, k->str)))
			f++;
		if (!f->key)
			return cfg_fail(c, k->line, kpath, "unknown key");
		/* A null (an empty value, "~" or "null") keeps the default. */
		if (v->kind == N_SCALAR && v->is_null && f->kind != K_REFUSE)
			continue;
		int r = cfg_set_field(c, f, v, kpath, base);
		if (r)
			return r;
	}
	return 0;
}

/* --------------------------------------------------------------------------------------------
 * What the tables give besides parsing: defaults, free, the key list, the reload diff.
 */
static char **str_at(void *base, const struct field *f) { return (char **)((char *)base + f->off); }

int cfg_schema_defaults(const struct field *fields, void *base)
{
	for (const struct field *f = fields; f->key; f++) {
		void *dst = (char *)base + f->off;
		enum value_kind vk = f->value;
		switch (f->kind) {
		case K_SECTION: {
			int r = cfg_schema_defaults(f->sub, base);
			if (r)
				return r;
			continue;
		}
		case K_REFUSE:
			continue;
		case K_STR:
		case K_STRENUM:
			vk = V_STR;
			break;
		case K_ENUM:
		case K_BOOL:
			*(int *)dst = (int)f->dnum;
			continue;
		case K_DUR:
		case K_SIZE:
		case K_U64:
			*(uint64_t *)dst = (uint64_t)f->dnum;
			continue;
		case K_U32:
			*(uint32_t *)dst = (uint32_t)f->dnum;
			continue;
		case K_DOUBLE:
			*(double *)dst = f->dnum;
			continue;
		case K_CUSTOM:
		case K_HIDDEN:
			break;
		}
		switch (vk) {
		case V_STR:
			free(*(char **)dst);
			*(char **)dst = strdup(f->dstr ? f->dstr : "");
			if (!*(char **)dst)
				return -ENOMEM;
			break;
		case V_KVLIST:
			cfg_kv_free(dst);
			break;
		case V_UINT:
			*(unsigned *)dst = (unsigned)f->dnum;
			break;
		case V_INT:
			*(int *)dst = (int)f->dnum;
			break;
		case V_DURLIST: {
			struct jp_durlist *l = dst;
			if (cfg_parse_durlist(f->dstr ? f->dstr : "", l))
				return -EINVAL;
			break;
		}
		case V_RELABEL:
			cfg_relabel_free(dst);
			break;
		case V_NONE:
			break;
		}
	}
	return 0;
}

void cfg_relabel_free(struct jp_relabel_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct jp_relabel_config *c = &l->v[i];
		for (size_t k = 0; k < c->nsource; k++)
			free(c->source_labels[k]);
		free(c->source_labels);
		free(c->separator);
		free(c->regex);
		free(c->target_label);
		free(c->replacement);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int relabel_same(const struct jp_relabel_list *a, const struct jp_relabel_list *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct jp_relabel_config *x = &a->v[i], *y = &b->v[i];
		if (x->action != y->action || x->nsource != y->nsource || strcmp(x->separator, y->separator) ||
		    strcmp(x->regex, y->regex) || strcmp(x->target_label, y->target_label) ||
		    strcmp(x->replacement, y->replacement))
			return 0;
		for (size_t k = 0; k < x->nsource; k++)
			if (strcmp(x->source_labels[k], y->source_labels[k]))
				return 0;
	}
	return 1;
}

int cfg_parse_durlist(const char *text, struct jp_durlist *out)
{
	struct jp_durlist l = {.n = 0};
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", text);
	for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		if (l.n == JP_DURLIST_MAX || jp_parse_duration_ms(t, &l.ms[l.n]))
			return -EINVAL;
		l.n++;
	}
	*out = l;
	return 0;
}

void cfg_schema_free(const struct field *fields, void *base)
{
	for (const struct field *f = fields; f->key; f++) {
		if (f->kind == K_SECTION) {
			cfg_schema_free(f->sub, base);
		} else if (f->kind == K_STR || f->kind == K_STRENUM ||
			   ((f->kind == K_CUSTOM || f->kind == K_HIDDEN) && f->value == V_STR)) {
			free(*str_at(base, f));
			*str_at(base, f) = NULL;
		} else if ((f->kind == K_CUSTOM || f->kind == K_HIDDEN) && f->value == V_KVLIST) {
			cfg_kv_free((struct jp_kvlist *)((char *)base + f->off));
		} else if (f->kind == K_CUSTOM && f->value == V_RELABEL) {
			cfg_relabel_free((struct jp_relabel_list *)((char *)base + f->off));
		}
	}
}

static int str_same(const char *x, const char *y)
{
	return strcmp(x ? x : "", y ? y : "") == 0;
}

static int kv_same(const struct jp_kvlist *x, const struct jp_kvlist *y)
{
	if (x->n != y->n)
		return 0;
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->v[i].key, y->v[i].key) || strcmp(x->v[i].value, y->v[i].value))
			return 0;
	return 1;
}

/* Whether field f has the same value in a and b. */
static int field_same(const struct field *f, const void *a, const void *b)
{
	const char *x = (const char *)a + f->off, *y = (const char *)b + f->off;
	switch (f->kind) {
	case K_STR:
	case K_STRENUM:
		return str_same(*(char *const *)x, *(char *const *)y);
	case K_ENUM:
	case K_BOOL:
		return *(const int *)x == *(const int *)y;
	case K_DUR:
	case K_SIZE:
	case K_U64:
		return *(const uint64_t *)x == *(const uint64_t *)y;
	case K_U32:
		return *(const uint32_t *)x == *(const uint32_t *)y;
	case K_DOUBLE:
		/* Bitwise: a reload with the same text gives the same double. */
		return memcmp(x, y, sizeof(double)) == 0;
	case K_CUSTOM:
	case K_HIDDEN:
		switch (f->value) {
		case V_STR:
			return str_same(*(char *const *)x, *(char *const *)y);
		case V_KVLIST:
			return kv_same((const struct jp_kvlist *)x, (const struct jp_kvlist *)y);
		case V_UINT:
			return *(const unsigned *)x == *(const unsigned *)y;
		case V_INT:
			return *(const int *)x == *(const int *)y;
		case V_DURLIST: {
			const struct jp_durlist *la = (const void *)x, *lb = (const void *)y;
			return la->n == lb->n && memcmp(la->ms, lb->ms, la->n * sizeof(la->ms[0])) == 0;
		}
		case V_RELABEL:
			return relabel_same((const void *)x, (const void *)y);
		case V_NONE:
			return 1;
		}
		return 1;
	case K_SECTION:
	case K_REFUSE:
		return 1;
	}
	return 1;
}

unsigned cfg_schema_diff(const struct field *fields, const char *prefix, const void *a, const void *b,
			 void (*cb)(const char *path, unsigned reload, void *arg), void *arg)
{
	char path[PATH_MAX_LEN], sub[PATH_MAX_LEN + 2];
	unsigned cls = 0;
	for (const struct field *f = fields; f->key; f++) {
		snprintf(path, sizeof(path), "%s%s", prefix, f->key);
		if (f->kind == K_SECTION) {
			snprintf(sub, sizeof(sub), "%s.", path);
			cls |= cfg_schema_diff(f->sub, sub, a, b, cb, arg);
		} else if (!field_same(f, a, b)) {
			cls |= f->reload;
			if (cb)
				cb(path, f->reload, arg);
		}
	}
	return cls;
}

int cfg_schema_foreach(const struct field *fields, const char *prefix,
		       int (*cb)(const char *path, unsigned reload, void *arg), void *arg)
{
	char path[PATH_MAX_LEN], sub[PATH_MAX_LEN + 3];
	for (const struct field *f = fields; f->key; f++) {
		if (f->kind == K_REFUSE || f->kind == K_HIDDEN)
			continue;
		snprintf(path, sizeof(path), "%s%s", prefix, f->key);
		int r;
		if (f->kind == K_SECTION) {
			snprintf(sub, sizeof(sub), "%s.", path);
			r = cfg_schema_foreach(f->sub, sub, cb, arg);
		} else if (f->kind == K_CUSTOM && f->sub) {
			snprintf(sub, sizeof(sub), "%s[].", path);
			r = cfg_schema_foreach(f->sub, sub, cb, arg);
		} else {
			r = cb(path, f->reload, arg);
		}
		if (r)
			return r;
	}
	return 0;
}
