/* SPDX-License-Identifier: Apache-2.0 */
/* The sender's relabelling stage (remote/stage_relabel.h). */
#include "remote/stage_relabel.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/hash.h"

/* What the rules made of each series, by the store's series id, until the series ends:
 * an open-addressing table (linear probing, backward-shift deletion). */
enum { RL_SAME = 1, RL_DROP, RL_ALIAS };

struct rl_ent {
	uint32_t id;                  /* 0: empty */
	uint8_t kind;
	struct jp_series *alias;      /* RL_ALIAS: the relabelled series, same id */
};

struct jp_stage_relabel {
	struct jp_relabel *rules;
	struct jp_relabel_out out;
	struct rl_ent *tab;
	size_t cap, n;
	struct jp_round_sample *buf;
	size_t bufcap;
	struct jp_series **tmp;       /* aliases of this round that are not kept (limited matches) */
	size_t ntmp, tmpcap;
};

struct jp_stage_relabel *jp_stage_relabel_create(const struct jp_relabel_list *cfg, char *why, size_t whylen)
{
	struct jp_relabel *rules = jp_relabel_new(cfg, why, whylen);
	if (!rules)
		return NULL;   /* errno: 0 without rules, else why says */
	struct jp_stage_relabel *s = calloc(1, sizeof(*s));
	if (!s) {
		jp_relabel_free(rules);
		errno = ENOMEM;
		return NULL;
	}
	s->rules = rules;
	return s;
}

uint64_t jp_stage_relabel_limit_hits(const struct jp_stage_relabel *s)
{
	return s ? jp_relabel_limit_hits(s->rules) : 0;
}

size_t jp_stage_relabel_cached(const struct jp_stage_relabel *s)
{
	return s ? s->n : 0;
}

static size_t rl_slot(const struct jp_stage_relabel *s, uint32_t id)
{
	return (size_t)(jp_mix64(id) & (s->cap - 1));
}

static struct rl_ent *rl_find(struct jp_stage_relabel *s, uint32_t id)
{
	if (!s->cap)
		return NULL;
	for (size_t i = rl_slot(s, id);; i = (i + 1) & (s->cap - 1)) {
		if (s->tab[i].id == id)
			return &s->tab[i];
		if (!s->tab[i].id)
			return NULL;
	}
}

static int rl_grow(struct jp_stage_relabel *s)
{
	size_t cap = s->cap ? s->cap * 2 : 256;
	struct rl_ent *t = calloc(cap, sizeof(*t));
	if (!t)
		return -ENOMEM;
	struct rl_ent *old = s->tab;
	size_t ocap = s->cap;
	s->tab = t;
	s->cap = cap;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].id) {
			size_t j = rl_slot(s, old[i].id);
			while (t[j].id)
				j = (j + 1) & (cap - 1);
			t[j] = old[i];
		}
	free(old);
	return 0;
}

/* Remove e (backward-shift deletion keeps the probe chains whole). */
static void rl_remove(struct jp_stage_relabel *s, struct rl_ent *e)
{
	free(e->alias);
	size_t i = (size_t)(e - s->tab), mask = s->cap - 1;
	for (size_t j = (i + 1) & mask; s->tab[j].id; j = (j + 1) & mask) {
		size_t home = rl_slot(s, s->tab[j].id);
		/* Move j back to i when i lies on j's probe path (cyclically in [home, j)). */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->tab[i] = s->tab[j];
			i = j;
		}
	}
	s->tab[i] = (struct rl_ent){0};
	s->n--;
}

/* A series with out's labels under series' id, in one allocation. */
static struct jp_series *rl_alias(const struct jp_series *series, const struct jp_relabel_out *out)
{
	size_t strbytes = 0;
	for (size_t i = 0; i < out->n; i++)
		strbytes += strlen(out->labels[i].name) + strlen(out->labels[i].value) + 2;
	struct jp_series *a = calloc(1, sizeof(*a) + out->n * sizeof(struct jp_label) + strbytes);
	if (!a)
		return NULL;
	struct jp_label *l = (struct jp_label *)(a + 1);
	char *p = (char *)(l + out->n);
	for (size_t i = 0; i < out->n; i++) {
		size_t nl = strlen(out->labels[i].name) + 1, vl = strlen(out->labels[i].value) + 1;
		l[i].name = memcpy(p, out->labels[i].name, nl);
		p += nl;
		l[i].value = memcpy(p, out->labels[i].value, vl);
		p += vl;
		if (!strcmp(l[i].name, "__name__"))
			a->name = l[i].value;
	}
	a->id = series->id;
	a->nlabels = (uint16_t)out->n;
	a->labels = l;
	a->start_ms = series->start_ms;
	return a;
}

ssize_t jp_stage_relabel_apply(struct jp_stage_relabel *s, const struct jp_round_sample *v, size_t n,
			       const struct jp_round_sample **out)
{
	if (jp_grow((void **)&s->buf, &s->bufcap, n + 1, sizeof(*s->buf)))
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct jp_series *src = v[i].series;
		struct rl_ent *e = rl_find(s, jp_round_sample_id(&v[i]));
		struct rl_ent once;
		if (!e) {
			int r = jp_relabel_apply(s->rules, src->labels, src->nlabels, &s->out);
			if (r < 0)
				return r;
			struct rl_ent ne = {.id = src->id, .kind = RL_DROP};
			if (r == 1 && jp_relabel_same(&s->out, src->labels, src->nlabels))
				ne.kind = RL_SAME;
			else if (r == 1 && s->out.n <= UINT16_MAX) {
				ne.kind = RL_ALIAS;
				if (!(ne.alias = rl_alias(src, &s->out)))
					return -ENOMEM;
			}
			/* A match that could not be decided is not kept for the series' life: the
			 * rules run again next round (docs/reference/remote-write.md "Relabelling"). */
			if (s->out.limited) {
				if (ne.alias && jp_grow((void **)&s->tmp, &s->tmpcap, s->ntmp + 1, sizeof(*s->tmp))) {
					free(ne.alias);
					return -ENOMEM;
				}
				if (ne.alias)
					s->tmp[s->ntmp++] = ne.alias;
				once = ne;
				e = &once;
				goto use;
			}
			if (2 * (s->n + 1) > s->cap && rl_grow(s)) {
				free(ne.alias);
				return -ENOMEM;
			}
			size_t j = rl_slot(s, src->id);
			while (s->tab[j].id)
				j = (j + 1) & (s->cap - 1);
			s->tab[j] = ne;
			s->n++;
			e = &s->tab[j];
		}
use:
		if (e->kind == RL_DROP)
			continue;
		s->buf[k].series = e->kind == RL_ALIAS ? e->alias : src;
		s->buf[k].value = v[i].value;
		s->buf[k].id = e->kind == RL_ALIAS ? 0 : v[i].id;
		k++;
	}
	*out = s->buf;
	return (ssize_t)k;
}

void jp_stage_relabel_end_round(struct jp_stage_relabel *s, const struct jp_round_sample *v, size_t n)
{
	for (size_t i = 0; i < s->ntmp; i++)
		free(s->tmp[i]);
	s->ntmp = 0;
	for (size_t i = 0; i < n; i++)
		if (jp_is_stale_nan(v[i].value)) {
			struct rl_ent *e = rl_find(s, jp_round_sample_id(&v[i]));
			if (e)
				rl_remove(s, e);
		}
}

void jp_stage_relabel_destroy(struct jp_stage_relabel *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->ntmp; i++)
		free(s->tmp[i]);
	for (size_t i = 0; i < s->cap; i++)
		free(s->tab[i].alias);
	free(s->tab);
	free(s->buf);
	free(s->tmp);
	jp_relabel_out_free(&s->out);
	jp_relabel_free(s->rules);
	free(s);
}

