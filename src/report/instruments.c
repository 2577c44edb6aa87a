/* SPDX-License-Identifier: Apache-2.0 */
/* The instruments file and the market-based allocation (report/instruments.h). The file is
 * read with the configuration's YAML tree (config/internal.h), so its errors name FILE:LINE
 * as the configuration's do. */
#include "report/instruments.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "util/time.h"

#define INS_MAX_FILE_BYTES (1u << 20)
#define INS_MAX_PROFILE_BYTES (16u << 20)
#define MAX_INSTRUMENTS 1000
#define HOUR_MS 3600000LL

/* ---- reading ------------------------------------------------------------------------- */

static char *slurp(const char *path, size_t cap, size_t *len, char *why, size_t whylen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *b = malloc(cap + 1);
	size_t n = b ? fread(b, 1, cap + 1, f) : 0;
	int bad = ferror(f);
	fclose(f);
	if (!b || bad || n > cap) {
		snprintf(why, whylen, "%s: %s", path, !b ? "out of memory" : bad ? "read error" : "file too large");
		free(b);
		return NULL;
	}
	b[n] = 0;
	*len = n;
	return b;
}

static int number(struct ctx *c, const struct node *v, const char *path, double *out)
{
	if (!v || v->kind != N_SCALAR || cfg_parse_double(v->str, out))
		return cfg_fail(c, v ? v->line : 0, path, "not a number");
	if (*out < 0)
		return cfg_fail(c, v->line, path, "negative");
	return 0;
}

static int date(struct ctx *c, const struct node *v, const char *path, int64_t *out)
{
	char buf[64];
	if (!v || v->kind != N_SCALAR || v->len >= sizeof(buf) - 12)
		return cfg_fail(c, v ? v->line : 0, path, "not a date (YYYY-MM-DD or RFC 3339)");
	if (v->len == 10)
		snprintf(buf, sizeof(buf), "%sT00:00:00Z", v->str);
	else
		snprintf(buf, sizeof(buf), "%s", v->str);
	if (jp_time_parse(buf, strlen(buf), out))
		return cfg_fail(c, v->line, path, "not a date (YYYY-MM-DD or RFC 3339)");
	return 0;
}

/* match: {label: value, ...} */
static int matchers(struct ctx *c, struct jp_instruments *ins, const struct node *v, const char *path,
		    struct jp_match **out, size_t *n)
{
	if (v->kind != N_MAP)
		return cfg_fail(c, v->line, path, "expected a mapping of label: value");
	*out = calloc(v->n / 2 + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		const struct node *k = v->kids[i], *val = v->kids[i + 1];
		if (k->kind != N_SCALAR || val->kind != N_SCALAR || !k->len)
			return cfg_fail(c, k->line, path, "a matcher is label: value");
		struct jp_match *m = &(*out)[(*n)++];
		if (!(m->key = strdup(k->str)) || !(m->value = strdup(val->str)))
			return -ENOMEM;
		size_t j = 0;
		while (j < ins->nkeys && strcmp(ins->keys[j], k->str))
			j++;
		if (j == ins->nkeys) {
			char **nk = realloc(ins->keys, (ins->nkeys + 1) * sizeof(*nk));
			if (!nk || !(nk[ins->nkeys] = strdup(k->str))) {
				if (nk)
					ins->keys = nk;
				return -ENOMEM;
			}
			ins->keys = nk;
			ins->nkeys++;
		}
	}
	return 0;
}

/* A profile: "hour,kWh" lines (RFC 3339 whole UTC hours, consecutive, once each), blank
 * lines and '#' comments skipped, an optional header "hour,kwh". */
static int load_profile(struct jp_instrument *in, const char *path, char *why, size_t whylen)
{
	size_t len;
	char *b = slurp(path, INS_MAX_PROFILE_BYTES, &len, why, whylen);
	if (!b)
		return -EINVAL;
	size_t cap = 0, line = 0;
	int r = 0;
	for (char *save, *l = strtok_r(b, "\n", &save); l && !r; l = strtok_r(NULL, "\n", &save)) {
		line++;
		size_t n = strlen(l);
		while (n && (l[n - 1] == '\r' || l[n - 1] == ' '))
			l[--n] = 0;
		if (!n || l[0] == '#' || (line == 1 && !strncmp(l, "hour", 4)))
			continue;
		char *comma = strchr(l, ',');
		int64_t t;
		double kwh;
		char *end;
		if (!comma || jp_time_parse(l, (size_t)(comma - l), &t) || t % HOUR_MS) {
			snprintf(why, whylen, "%s:%zu: expected a whole UTC hour (RFC 3339), a comma and kWh", path, line);
			r = -EINVAL;
		} else if ((kwh = strtod(comma + 1, &end), *end && *end != ' ') || !isfinite(kwh) || kwh < 0) {
			snprintf(why, whylen, "%s:%zu: kWh is not a number >= 0", path, line);
			r = -EINVAL;
		} else if (in->nprofile && t <= in->profile[in->nprofile - 1].hour_ms) {
			snprintf(why, whylen, "%s:%zu: hours must rise, each once", path, line);
			r = -EINVAL;
		} else if (in->nprofile && t != in->profile[in->nprofile - 1].hour_ms + HOUR_MS) {
			snprintf(why, whylen, "%s:%zu: a gap before this hour (list every hour, 0 where none was supplied)",
				 path, line);
			r = -EINVAL;
		} else {
			if (in->nprofile == cap) {
				cap = cap ? cap * 2 : 256;
				struct jp_hour_kwh *np = realloc(in->profile, cap * sizeof(*np));
				if (!np) {
					r = -ENOMEM;
					break;
				}
				in->profile = np;
			}
			in->profile[in->nprofile++] = (struct jp_hour_kwh){t, kwh};
		}
	}
	free(b);
	if (!r && !in->nprofile) {
		snprintf(why, whylen, "%s: no hours", path);
		r = -EINVAL;
	}
	return r;
}

static int instrument(struct ctx *c, struct jp_instruments *ins, const struct node *v, size_t idx,
		      const char *dir, char *why, size_t whylen)
{
	static const char *const known[] = {"name", "kind", "grams_per_kwh", "volume_kwh", "from", "to", "profile",
					    "match", NULL};
	char path[64];
	snprintf(path, sizeof(path), "instruments[%zu]", idx);
	if (v->kind != N_MAP)
		return cfg_fail(c, v->line, path, "expected a mapping");
	for (size_t i = 0; i + 1 < v->n; i += 2) {
		size_t k = 0;
		while (known[k] && strcmp(known[k], v->kids[i]->str))
			k++;
		if (!known[k])
			return cfg_fail(c, v->kids[i]->line, path, "unknown key \"%.40s\"", v->kids[i]->str);
	}
	struct jp_instrument *in = &ins->v[ins->n++];
	in->line = v->line;
	const struct node *name = cfg_map_get(v, "name"), *kind = cfg_map_get(v, "kind");
	if (!name || name->kind != N_SCALAR || !name->len)
		return cfg_fail(c, v->line, path, "name is required");
	if (!kind || kind->kind != N_SCALAR ||
	    (strcmp(kind->str, "ppa") && strcmp(kind->str, "eac") && strcmp(kind->str, "contract")))
		return cfg_fail(c, kind ? kind->line : v->line, path, "kind is ppa, eac or contract");
	if (!(in->name = strdup(name->str)) || !(in->kind = strdup(kind->str)))
		return -ENOMEM;
	int r = number(c, cfg_map_get(v, "grams_per_kwh"), path, &in->g_per_kwh);
	if (r)
		return r;
	const struct node *vol = cfg_map_get(v, "volume_kwh"), *prof = cfg_map_get(v, "profile");
	if (!!vol == !!prof)
		return cfg_fail(c, v->line, path, "give volume_kwh with from and to, or a profile");
	if (vol) {
		in->has_volume = 1;
		if ((r = number(c, vol, path, &in->volume_kwh)) || (r = date(c, cfg_map_get(v, "from"), path, &in->from_ms)) ||
		    (r = date(c, cfg_map_get(v, "to"), path, &in->to_ms)))
			return r;
		if (in->to_ms <= in->from_ms)
			return cfg_fail(c, cfg_line_of(v, "to"), path, "to is not after from");
	} else {
		if (prof->kind != N_SCALAR || !prof->len)
			return cfg_fail(c, prof->line, path, "profile is a file name");
		char file[1024];
		snprintf(file, sizeof(file), "%s%s", prof->str[0] == '/' ? "" : dir, prof->str);
		if ((r = load_profile(in, file, why, whylen)))
			return r;
		in->from_ms = in->profile[0].hour_ms;
		in->to_ms = in->profile[in->nprofile - 1].hour_ms + HOUR_MS;
	}
	const struct node *m = cfg_map_get(v, "match");
	if (m && (r = matchers(c, ins, m, path, &in->match, &in->nmatch)))
		return r;
	/* One certificate counted twice would cover energy twice. */
	for (size_t j = 0; j + 1 < ins->n; j++) {
		const struct jp_instrument *o = &ins->v[j];
		if (!strcmp(o->name, in->name) && o->from_ms < in->to_ms && in->from_ms < o->to_ms)
			return cfg_fail(c, v->line, path, "its period overlaps the one of \"%.40s\" at line %d", o->name,
					o->line);
	}
	return 0;
}

static int residual(struct ctx *c, struct jp_instruments *ins, const struct node *v)
{
	if (v->kind == N_SCALAR) {
		if (!(ins->residual = calloc(1, sizeof(*ins->residual))))
			return -ENOMEM;
		ins->nresidual = 1;
		return number(c, v, "residual_mix_grams_per_kwh", &ins->residual[0].g_per_kwh);
	}
	if (v->kind != N_SEQ || !v->n)
		return cfg_fail(c, v->line, "residual_mix_grams_per_kwh", "a number, or a list of {match, grams_per_kwh}");
	if (!(ins->residual = calloc(v->n, sizeof(*ins->residual))))
		return -ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		const struct node *e = v->kids[i];
		struct jp_residual *res = &ins->residual[ins->nresidual++];
		if (e->kind != N_MAP)
			return cfg_fail(c, e->line, "residual_mix_grams_per_kwh", "expected {match, grams_per_kwh}");
		for (size_t k = 0; k + 1 < e->n; k += 2)
			if (strcmp(e->kids[k]->str, "match") && strcmp(e->kids[k]->str, "grams_per_kwh"))
				return cfg_fail(c, e->kids[k]->line, "residual_mix_grams_per_kwh", "unknown key \"%.40s\"",
						e->kids[k]->str);
		int r = number(c, cfg_map_get(e, "grams_per_kwh"), "residual_mix_grams_per_kwh", &res->g_per_kwh);
		const struct node *m = cfg_map_get(e, "match");
		if (!r && m)
			r = matchers(c, ins, m, "residual_mix_grams_per_kwh", &res->match, &res->nmatch);
		if (r)
			return r;
	}
	return 0;
}

static int build(struct ctx *c, const struct node *root, struct jp_instruments *ins, const char *dir, char *why,
		 size_t whylen)
{
	if (!root || root->kind != N_MAP)
		return cfg_fail(c, root ? root->line : 1, "(top)", "expected a mapping");
	for (size_t i = 0; i + 1 < root->n; i += 2) {
		const char *k = root->kids[i]->str;
		if (strcmp(k, "residual_mix_grams_per_kwh") && strcmp(k, "supplier_grams_per_kwh") && strcmp(k, "instruments") &&
		    strcmp(k, "residual_mix_source") && strcmp(k, "pue"))
			return cfg_fail(c, root->kids[i]->line, "(top)", "unknown key \"%.40s\"", k);
	}
	const struct node *res = cfg_map_get(root, "residual_mix_grams_per_kwh");
	if (!res)
		return cfg_fail(c, root->line, "residual_mix_grams_per_kwh", "is required (the issuing body's residual mix)");
	int r = residual(c, ins, res);
	const struct node *src = cfg_map_get(root, "residual_mix_source");
	if (!r && src && (src->kind != N_SCALAR || !src->str[0]))
		return cfg_fail(c, src->line, "residual_mix_source", "a text naming the residual mix, such as its issuing body and year");
	if (!r && src && !(ins->residual_source = strdup(src->str)))
		return -ENOMEM;
	/* The electricity bought is what the servers used times the PUE, as in the agents'
	 * location-based CO2: the instruments are set against that. */
	const struct node *pue = cfg_map_get(root, "pue");
	ins->pue = 1;
	if (!r && pue) {
		r = number(c, pue, "pue", &ins->pue);
		if (!r && (ins->pue < 1 || ins->pue > 5))
			return cfg_fail(c, pue->line, "pue", "must be between 1 and 5 (the agents' pue)");
	}
	const struct node *sup = cfg_map_get(root, "supplier_grams_per_kwh");
	if (!r && sup) {
		ins->has_supplier = 1;
		r = number(c, sup, "supplier_grams_per_kwh", &ins->supplier_g_per_kwh);
	}
	const struct node *list = cfg_map_get(root, "instruments");
	if (!r && list && (list->kind != N_SEQ || list->n > MAX_INSTRUMENTS))
		return cfg_fail(c, list->line, "instruments", "a list of at most %d instruments", MAX_INSTRUMENTS);
	if (!r && list && list->n && !(ins->v = calloc(list->n, sizeof(*ins->v))))
		return -ENOMEM;
	for (size_t i = 0; !r && list && i < list->n; i++)
		r = instrument(c, ins, list->kids[i], i, dir, why, whylen);
	return r;
}

int jp_instruments_load(const char *path, struct jp_instruments *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	size_t len;
	char *text = slurp(path, INS_MAX_FILE_BYTES, &len, why, whylen);
	if (!text)
		return -EINVAL;
	char dir[1024];
	const char *slash = strrchr(path, '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path + 1) : 0, path);
	struct ctx c = {.name = path, .err = why, .errlen = whylen};
	struct node *root = NULL;
	why[0] = 0;
	int r = cfg_build_tree(&c, text, len, &root);
	if (!r)
		r = build(&c, root, out, dir, why, whylen);
	if (r == -ENOMEM && !why[0])
		snprintf(why, whylen, "out of memory");
	cfg_node_free(root);
	free(text);
	if (r)
		jp_instruments_free(out);
	return r;
}

static void free_matches(struct jp_match *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].key);
		free(m[i].value);
	}
	free(m);
}

void jp_instruments_free(struct jp_instruments *ins)
{
	for (size_t i = 0; i < ins->n; i++) {
		free(ins->v[i].name);
		free(ins->v[i].kind);
		free(ins->v[i].profile);
		free_matches(ins->v[i].match, ins->v[i].nmatch);
	}
	free(ins->v);
	for (size_t i = 0; i < ins->nresidual; i++)
		free_matches(ins->residual[i].match, ins->residual[i].nmatch);
	free(ins->residual);
	for (size_t i = 0; i < ins->nkeys; i++)
		free(ins->keys[i]);
	free(ins->keys);
	free(ins->residual_source);
	memset(ins, 0, sizeof(*ins));
}

/* ---- allocation ---------------------------------------------------------------------- */

double jp_instrument_supply(const struct jp_instrument *in, int64_t from_ms, int64_t to_ms)
{
	if (in->has_volume) {
		int64_t a = in->from_ms > from_ms ? in->from_ms : from_ms, b = in->to_ms < to_ms ? in->to_ms : to_ms;
		return b > a ? in->volume_kwh * (double)(b - a) / (double)(in->to_ms - in->from_ms) : 0;
	}
	double s = 0;
	for (size_t i = 0; i < in->nprofile; i++) {
		int64_t h = in->profile[i].hour_ms;
		int64_t a = h > from_ms ? h : from_ms, b = h + HOUR_MS < to_ms ? h + HOUR_MS : to_ms;
		if (b > a)
			s += in->profile[i].kwh * (double)(b - a) / (double)HOUR_MS;
	}
	return s;
}

int jp_market_matches(const struct jp_instruments *ins, const char *const *values, const struct jp_match *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t k = 0;
		while (k < ins->nkeys && strcmp(ins->keys[k], m[i].key))
			k++;
		if (k == ins->nkeys || !values[k] || strcmp(values[k], m[i].value))
			return 0;
	}
	return 1;
}

/* One allocation over [from_ms, to_ms) of the cells' energy_kwh, added to the cells' and
 * the instruments' results (the caller zeroes them first). share: the grid's carbon-free
 * share of the uncovered energy, or negative. */
static void allocate_step(struct jp_instruments *ins, struct jp_market_cell *cells, size_t n, int64_t from_ms,
			  int64_t to_ms, double share)
{
	double *unc = malloc((n + 1) * sizeof(*unc));
	if (!unc)
		return;
	for (size_t j = 0; j < n; j++)
		unc[j] = cells[j].energy_kwh > 0 ? cells[j].energy_kwh : 0;
	for (size_t i = 0; i < ins->n; i++) {
		struct jp_instrument *in = &ins->v[i];
		double supply = jp_instrument_supply(in, from_ms, to_ms);
		in->available_kwh += supply;
		double open = 0;
		for (size_t j = 0; j < n; j++)
			if (jp_market_matches(ins, cells[j].values, in->match, in->nmatch))
				open += unc[j];
		double used = supply < open ? supply : open;
		if (!(used > 0))
			continue;
		in->used_kwh += used;
		for (size_t j = 0; j < n; j++) {
			if (!jp_market_matches(ins, cells[j].values, in->match, in->nmatch))
				continue;
			double part = used * unc[j] / open;
			unc[j] -= part;
			cells[j].co2_g += part * in->g_per_kwh;
			if (in->g_per_kwh == 0)
				cells[j].covered_cfe_kwh += part;
		}
	}
	for (size_t j = 0; j < n; j++) {
		double rate = ins->supplier_g_per_kwh;
		if (!ins->has_supplier) {
			rate = ins->nresidual ? ins->residual[0].g_per_kwh : 0;
			for (size_t k = 0; k < ins->nresidual; k++)
				if (jp_market_matches(ins, cells[j].values, ins->residual[k].match, ins->residual[k].nmatch)) {
					rate = ins->residual[k].g_per_kwh;
					break;
				}
		}
		cells[j].co2_g += unc[j] * rate;
		cells[j].uncovered_kwh += unc[j];
		if (share >= 0)
			cells[j].grid_cfe_kwh += unc[j] * share;
	}
	free(unc);
}

void jp_market_reset(struct jp_instruments *ins, struct jp_market_cell *cells, size_t n)
{
	for (size_t i = 0; i < ins->n; i++)
		ins->v[i].available_kwh = ins->v[i].used_kwh = 0;
	for (size_t j = 0; j < n; j++)
		cells[j].uncovered_kwh = cells[j].co2_g = cells[j].covered_cfe_kwh = cells[j].grid_cfe_kwh = 0;
}

void jp_market_allocate(struct jp_instruments *ins, struct jp_market_cell *cells, size_t n, int64_t from_ms,
			int64_t to_ms)
{
	jp_market_reset(ins, cells, n);
	allocate_step(ins, cells, n, from_ms, to_ms, -1);
}

void jp_market_allocate_hour(struct jp_instruments *ins, struct jp_market_cell *cells, size_t n, int64_t hour_ms,
			     int64_t from_ms, int64_t to_ms, double grid_cfe_share)
{
	int64_t a = hour_ms > from_ms ? hour_ms : from_ms, b = hour_ms + HOUR_MS < to_ms ? hour_ms + HOUR_MS : to_ms;
	if (b > a)
		allocate_step(ins, cells, n, a, b, grid_cfe_share);
}
