/* SPDX-License-Identifier: Apache-2.0 */
/* The sender's tenant split (remote/stage_tenant.h). */
#include "remote/stage_tenant.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"

#define MOD "sender"

struct jp_stage_tenant {
	char *name, *header, *label, *dflt;
	struct jp_kvlist map;
	struct jp_ratelimit rl;
	/* Scratch, kept from batch to batch. */
	const char **tn, **tn2;
	size_t captn, captn2;
	struct jp_batch_series *tmp;
	size_t cap_tmp;
	size_t *idx;
	size_t cap_idx;
};

struct jp_stage_tenant *jp_stage_tenant_create(const struct jp_remote_config *rc, const char *name)
{
	errno = 0;
	if (!rc->tenant_header || !*rc->tenant_header)
		return NULL;
	struct jp_stage_tenant *t = calloc(1, sizeof(*t));
	if (!t)
		goto oom;
	t->rl.interval_ms = 10000;
	t->name = strdup(name);
	t->header = strdup(rc->tenant_header);
	t->label = strdup(rc->tenant_label ? rc->tenant_label : "");
	t->dflt = strdup(rc->tenant_default ? rc->tenant_default : "");
	t->map.v = calloc(rc->tenant_map.n + 1, sizeof(*t->map.v));
	if (!t->name || !t->header || !t->label || !t->dflt || !t->map.v)
		goto oom;
	for (size_t i = 0; i < rc->tenant_map.n; i++) {
		t->map.v[i].key = strdup(rc->tenant_map.v[i].key);
		t->map.v[i].value = strdup(rc->tenant_map.v[i].value);
		t->map.n++;
		if (!t->map.v[i].key || !t->map.v[i].value)
			goto oom;
	}
	return t;
oom:
	jp_stage_tenant_destroy(t);
	errno = ENOMEM;
	return NULL;
}

void jp_stage_tenant_destroy(struct jp_stage_tenant *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->map.n; i++) {
		free(t->map.v[i].key);
		free(t->map.v[i].value);
	}
	free(t->map.v);
	free(t->name);
	free(t->header);
	free(t->label);
	free(t->dflt);
	free(t->tn);
	free(t->tn2);
	free(t->tmp);
	free(t->idx);
	free(t);
}

const char *jp_stage_tenant_header(const struct jp_stage_tenant *t)
{
	return t->header;
}

/* The tenant of a series. */
static const char *series_tenant(struct jp_stage_tenant *t, const struct jp_series_def *d)
{
	const char *v = NULL;
	for (uint32_t i = 0; i < d->nlabels && !v; i++)
		if (!strcmp(d->labels[i].name, t->label))
			v = d->labels[i].value;
	if (!v)
		return t->dflt;
	for (size_t i = 0; i < t->map.n; i++)
		if (!strcmp(t->map.v[i].key, v))
			return t->map.v[i].value;
	if (!jp_tenant_valid(v)) {
		jp_log_rl(&t->rl, JP_LOG_WARN, MOD, "remote %s: %s value \"%.64s\" cannot be a tenant: sent as %s",
			  t->name, t->label, v, t->dflt);
		return t->dflt;
	}
	return v;
}

/* Indices by tenant, then by position: a stable order. */
static int by_tenant(const void *a, const void *b, void *arg)
{
	const char *const *tn = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(tn[x], tn[y]);
	return c ? c : (x > y) - (x < y);
}

int jp_stage_tenant_order(struct jp_stage_tenant *t, struct jp_batch *b, const char *const **tenants)
{
	size_t n = b->nseries;
	*tenants = NULL;
	if (!n)
		return 0;
	if (jp_grow((void **)&t->tn, &t->captn, n, sizeof(*t->tn)) ||
	    jp_grow((void **)&t->tn2, &t->captn2, n, sizeof(*t->tn2)) ||
	    jp_grow((void **)&t->idx, &t->cap_idx, n, sizeof(*t->idx)) ||
	    jp_grow((void **)&t->tmp, &t->cap_tmp, n, sizeof(*t->tmp)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		t->idx[i] = i;
		t->tn[i] = series_tenant(t, b->series[i].def);
	}
	qsort_r(t->idx, n, sizeof(*t->idx), by_tenant, t->tn);
	for (size_t i = 0; i < n; i++)
		t->tmp[i] = b->series[t->idx[i]];
	memcpy(b->series, t->tmp, n * sizeof(*t->tmp));
	/* The tenant of each series, in the new order (idx maps new -> old). */
	for (size_t i = 0; i < n; i++)
		t->tn2[i] = t->tn[t->idx[i]];
	memcpy(t->tn, t->tn2, n * sizeof(*t->tn));
	*tenants = t->tn;
	return 0;
}
