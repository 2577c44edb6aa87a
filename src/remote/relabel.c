/* SPDX-License-Identifier: Apache-2.0 */
/* Relabelling a series before it enters a remote's queue (remote/relabel.h). */
#include "remote/relabel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/regex.h"

struct rule {
	struct jp_relabel_config c;   /* a copy: the config may be freed before the sender */
	struct jp_regex *re;
};

static char *dup_or_null(const char *s, int *oom)
{
	char *d = strdup(s ? s : "");
	if (!d)
		*oom = 1;
	return d;
}

static int rule_copy(struct jp_relabel_config *d, const struct jp_relabel_config *s)
{
	int oom = 0;
	d->action = s->action;
	d->separator = dup_or_null(s->separator ? s->separator : ";", &oom);
	d->regex = dup_or_null(s->regex ? s->regex : "(.*)", &oom);
	d->target_label = dup_or_null(s->target_label, &oom);
	d->replacement = dup_or_null(s->replacement ? s->replacement : "$1", &oom);
	d->source_labels = calloc(s->nsource + 1, sizeof(char *));
	if (!d->source_labels)
		return -ENOMEM;
	for (size_t i = 0; i < s->nsource; i++) {
		d->source_labels[i] = dup_or_null(s->source_labels[i], &oom);
		d->nsource++;
	}
	return oom ? -ENOMEM : 0;
}

static void rule_free(struct jp_relabel_config *c)
{
	for (size_t i = 0; i < c->nsource; i++)
		free(c->source_labels[i]);
	free(c->source_labels);
	free(c->separator);
	free(c->regex);
	free(c->target_label);
	free(c->replacement);
}

struct jp_relabel {
	struct rule *rules;
	size_t n;
	uint64_t limit_hits;
	struct jp_buf val, tgt, res;   /* scratch */
};

struct jp_relabel *jp_relabel_new(const struct jp_relabel_list *cfg, char *why, size_t whylen)
{
	if (!cfg || !cfg->n) {
		errno = 0;
		return NULL;
	}
	struct jp_relabel *r = calloc(1, sizeof(*r));
	if (!r || !(r->rules = calloc(cfg->n, sizeof(*r->rules)))) {
		free(r);
		snprintf(why, whylen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < cfg->n; i++) {
		char w[200];
		r->n = i + 1;
		if (rule_copy(&r->rules[i].c, &cfg->v[i])) {
			snprintf(why, whylen, "out of memory");
			jp_relabel_free(r);
			errno = ENOMEM;
			return NULL;
		}
		r->rules[i].re = jp_regex_compile(r->rules[i].c.regex, w, sizeof(w));
		if (!r->rules[i].re) {
			snprintf(why, whylen, "write_relabel_configs[%zu].regex: %s", i, w);
			jp_relabel_free(r);
			errno = EINVAL;
			return NULL;
		}
	}
	return r;
}

void jp_relabel_free(struct jp_relabel *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		jp_regex_free(r->rules[i].re);
		rule_free(&r->rules[i].c);
	}
	free(r->rules);
	jp_buf_free(&r->val);
	jp_buf_free(&r->tgt);
	jp_buf_free(&r->res);
	free(r);
}

void jp_relabel_out_free(struct jp_relabel_out *out)
{
	free(out->labels);
	jp_buf_free(&out->strings);
	memset(out, 0, sizeof(*out));
}

/* The working label set: pointers into the input, the output arena (as offsets, since
 * the arena moves when it grows) or nowhere. */
struct wl {
	const char *name, *value;     /* borrowed, when off_* < 0 */
	long off_name, off_value;     /* offsets in out->strings, or -1 */
};

struct work {
	struct wl *v;
	size_t n, cap;
};

static const char *wl_name(const struct jp_relabel_out *o, const struct wl *l)
{
	return l->off_name >= 0 ? (const char *)o->strings.data + l->off_name : l->name;
}

static const char *wl_value(const struct jp_relabel_out *o, const struct wl *l)
{
	return l->off_value >= 0 ? (const char *)o->strings.data + l->off_value : l->value;
}

static long arena_put(struct jp_relabel_out *o, const char *s, size_t n)
{
	long off = (long)o->strings.len;
	if (jp_buf_append(&o->strings, s, n) || jp_buf_append(&o->strings, "", 1))
		return -2;
	return off;
}

static struct wl *find(struct work *w, const struct jp_relabel_out *o, const char *name)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(wl_name(o, &w->v[i]), name))
			return &w->v[i];
	return NULL;
}

/* Set label name to value (empty: remove it). */
static int set_label(struct work *w, struct jp_relabel_out *o, const char *name, const char *value, size_t vlen)
{
	struct wl *l = find(w, o, name);
	if (vlen == 0) {
		if (l)
			*l = w->v[--w->n];
		return 0;
	}
	long v = arena_put(o, value, vlen);
	if (v < 0)
		return -ENOMEM;
	if (l) {
		l->off_value = v;
		return 0;
	}
	long nm = arena_put(o, name, strlen(name));
	if (nm < 0 || jp_grow((void **)&w->v, &w->cap, w->n + 1, sizeof(*w->v)))
		return -ENOMEM;
	w->v[w->n++] = (struct wl){.off_name = nm, .off_value = v};
	return 0;
}

static int cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct jp_label *)a)->name, ((const struct jp_label *)b)->name);
}

int jp_relabel_apply(struct jp_relabel *r, const struct jp_label *in, size_t n, struct jp_relabel_out *out)
{
	struct work w = {0};
	int rc = -ENOMEM;
	jp_buf_reset(&out->strings);
	out->limited = 0;
	if (jp_grow((void **)&w.v, &w.cap, n + 1, sizeof(*w.v)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		w.v[w.n++] = (struct wl){.name = in[i].name, .value = in[i].value, .off_name = -1, .off_value = -1};
	for (size_t k = 0; k < r->n; k++) {
		const struct jp_relabel_config *c = &r->rules[k].c;
		struct jp_regex *re = r->rules[k].re;
		if (c->action == JP_RELABEL_LABELDROP || c->action == JP_RELABEL_LABELKEEP) {
			int keep_matching = c->action == JP_RELABEL_LABELKEEP;
			for (size_t i = 0; i < w.n;) {
				const char *nm = wl_name(out, &w.v[i]);
				int lim;
				int m = jp_regex_match(re, nm, strlen(nm), &lim);
				if (lim) {
					r->limit_hits++;
					out->limited = 1;
				}
				if (m != keep_matching)
					w.v[i] = w.v[--w.n];
				else
					i++;
			}
			continue;
		}
		/* The source labels' values joined by the separator (a missing label is ""). */
		jp_buf_reset(&r->val);
		for (size_t s = 0; s < c->nsource; s++) {
			const struct wl *l = find(&w, out, c->source_labels[s]);
			const char *v = l ? wl_value(out, l) : "";
			const char *sep = c->separator ? c->separator : ";";
			if ((s && jp_buf_append(&r->val, sep, strlen(sep))) || jp_buf_append(&r->val, v, strlen(v)))
				goto out;
		}
		if (jp_buf_append(&r->val, "", 1))
			goto out;
		const char *val = (const char *)r->val.data;
		int lim;
		int m = jp_regex_match(re, val, r->val.len - 1, &lim);
		if (lim) {
			r->limit_hits++;
			out->limited = 1;
		}
		if (c->action == JP_RELABEL_KEEP || c->action == JP_RELABEL_DROP) {
			if (m != (c->action == JP_RELABEL_KEEP)) {
				rc = 0;
				goto out;
			}
			continue;
		}
		/* replace: only on a match; the target is a template too. The groups come from
		 * the bounded backtracking matcher: when it gives up, the rule is left out for
		 * this series this time, and counted. */
		if (!m)
			continue;
		if (!jp_regex_capture(re, val, r->val.len - 1, &lim)) {
			if (lim) {
				r->limit_hits++;
				out->limited = 1;
			}
			continue;
		}
		jp_buf_reset(&r->tgt);
		jp_buf_reset(&r->res);
		if (jp_regex_expand(re, val, c->target_label ? c->target_label : "", &r->tgt) ||
		    jp_buf_append(&r->tgt, "", 1) ||
		    jp_regex_expand(re, val, c->replacement ? c->replacement : "$1", &r->res))
			goto out;
		if (!jp_label_name_valid((const char *)r->tgt.data))
			continue;   /* as Prometheus: an invalid target name leaves the labels alone */
		if (set_label(&w, out, (const char *)r->tgt.data, (const char *)r->res.data, r->res.len))
			goto out;
	}
	/* The result, sorted, without empty values; a series needs its __name__. */
	if (jp_grow((void **)&out->labels, &out->cap, w.n + 1, sizeof(*out->labels)))
		goto out;
	out->n = 0;
	int has_name = 0;
	for (size_t i = 0; i < w.n; i++) {
		const char *v = wl_value(out, &w.v[i]);
		if (!*v)
			continue;
		out->labels[out->n].name = wl_name(out, &w.v[i]);
		out->labels[out->n].value = v;
		has_name |= !strcmp(out->labels[out->n].name, "__name__");
		out->n++;
	}
	qsort(out->labels, out->n, sizeof(*out->labels), cmp_label);
	rc = has_name;
out:
	free(w.v);
	return rc;
}

uint64_t jp_relabel_limit_hits(const struct jp_relabel *r)
{
	return r ? r->limit_hits : 0;
}

int jp_relabel_same(const struct jp_relabel_out *out, const struct jp_label *in, size_t n)
{
	if (out->n != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(out->labels[i].name, in[i].name) || strcmp(out->labels[i].value, in[i].value))
			return 0;
	return 1;
}
