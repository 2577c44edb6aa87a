/* SPDX-License-Identifier: Apache-2.0 */
/* The pod table the /pods parser builds, and the lookups in it (kube/podtable.h,
 * kube/podlist.h); Kubernetes CPU quantities. */
#include "kube/podtable.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/hash.h"

struct jp_podlist *jpk_table_create(void)
{
	return calloc(1, sizeof(struct jp_podlist));
}

static char *arena_dup(struct jp_podlist *pl, const char *s, size_t len, int lower)
{
	struct block *b = pl->blocks;
	if (!b || b->cap - b->used < len + 1) {
		size_t cap = len + 1 > 64 * 1024 ? len + 1 : 64 * 1024;
		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = pl->blocks;
		pl->blocks = b;
	}
	char *d = b->data + b->used;
	for (size_t i = 0; i < len; i++)
		d[i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
	d[len] = '\0';
	b->used += len + 1;
	return d;
}

/* ---- CPU quantities ---------------------------------------------------------------- */

int jp_kube_parse_cpu(const char *s, size_t len, double *cores)
{
	/* Kubernetes' quantity grammar (apimachinery resource.Quantity): an optionally signed
	 * decimal number, then a binary-SI (Ki..Ei), decimal-SI (n u m "" k M G T P E) or
	 * exponent (e/E and a signed integer) suffix. A CPU request cannot be negative. */
	size_t i = 0;
	double mant = 0;
	int digits = 0, frac_digits = 0;
	if (i < len && s[i] == '+')
		i++;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		mant = mant * 10 + (s[i] - '0');
		digits++;
		i++;
	}
	if (i < len && s[i] == '.') {
		i++;
		double scale = 0.1;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			mant += (s[i] - '0') * scale;
			scale /= 10;
			frac_digits++;
			i++;
		}
	}
	if (digits + frac_digits == 0)
		return -EINVAL;

	double mult = 1;
	size_t rest = len - i;
	const char *suf = s + i;
	if (rest == 0) {
		mult = 1;
	} else if (rest == 2 && suf[1] == 'i') {
		static const char bin[] = "KMGTPE";
		const char *q = memchr(bin, suf[0], 6);
		if (!q)
			return -EINVAL;
		mult = ldexp(1.0, 10 * (int)(q - bin + 1));
	} else if (rest == 1) {
		switch (suf[0]) {
		case 'n': mult = 1e-9; break;
		case 'u': mult = 1e-6; break;
		case 'm': mult = 1e-3; break;
		case 'k': mult = 1e3; break;
		case 'M': mult = 1e6; break;
		case 'G': mult = 1e9; break;
		case 'T': mult = 1e12; break;
		case 'P': mult = 1e15; break;
		case 'E': mult = 1e18; break;   /* exa, not an exponent without digits */
		default: return -EINVAL;
		}
	} else if (suf[0] == 'e' || suf[0] == 'E') {
		size_t j = 1;
		int neg = 0;
		long ex = 0;
		if (suf[j] == '+' || suf[j] == '-')
			neg = suf[j++] == '-';
		if (j == rest)
			return -EINVAL;
		for (; j < rest; j++) {
			if (suf[j] < '0' || suf[j] > '9')
				return -EINVAL;
			if (ex < 10000)
				ex = ex * 10 + (suf[j] - '0');
		}
		mult = pow(10.0, (double)(neg ? -ex : ex));
	} else {
		return -EINVAL;
	}
	double v = mant * mult;
	if (!isfinite(v) || v < 0)
		return -EINVAL;
	*cores = v;
	return 0;
}

/* ---- the table ---------------------------------------------------------------------- */

static uint64_t hash_uid(const char *s)
{
	return jp_fnv1a_str_nocase(s);
}

/* Returns the slot holding uid, or the empty slot where it would go. */
static size_t index_slot(const struct jp_podlist *pl, const char *uid)
{
	size_t i = (size_t)hash_uid(uid) & pl->index_mask;
	while (pl->index[i] && strcasecmp(pl->pods[pl->index[i] - 1].uid, uid) != 0)
		i = (i + 1) & pl->index_mask;
	return i;
}

int jpk_table_add_container(struct jp_podlist *pl, const char *id, size_t idlen, const char *name, size_t nlen)
{
	if (pl->nctr == pl->capctr) {
		size_t cap = pl->capctr ? pl->capctr * 2 : 64;
		void *p = realloc(pl->ctrs, cap * sizeof(*pl->ctrs));
		if (!p)
			return -ENOMEM;
		pl->ctrs = p;
		pl->capctr = cap;
	}
	struct jp_kube_container *c = &pl->ctrs[pl->nctr];
	/* Container ids are hex (containerd, CRI-O, Docker); cgroup paths carry them in lower case. */
	c->id = arena_dup(pl, id, idlen, 1);
	c->name = arena_dup(pl, name, nlen, 0);
	if (!c->id || !c->name)
		return -ENOMEM;
	pl->nctr++;
	return 0;
}

int jpk_table_add_pod(struct jp_podlist *pl, const char *uid, size_t ulen, const char *name, size_t nlen,
		      const char *ns, size_t nslen, double cpu_request)
{
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 64;
		void *np = realloc(pl->pods, cap * sizeof(*pl->pods));
		if (!np)
			return -ENOMEM;
		pl->pods = np;
		void *nf = realloc(pl->ctr_first, cap * sizeof(*pl->ctr_first));
		if (!nf)
			return -ENOMEM;
		pl->ctr_first = nf;
		pl->cap = cap;
	}
	struct jp_kube_pod *pod = &pl->pods[pl->n];
	memset(pod, 0, sizeof(*pod));
	pod->uid = arena_dup(pl, uid, ulen, 1);
	pod->name = arena_dup(pl, name, nlen, 0);
	pod->ns = arena_dup(pl, ns, nslen, 0);
	if (!pod->uid || !pod->name || !pod->ns)
		return -ENOMEM;
	pod->cpu_request = cpu_request;
	pl->ctr_first[pl->n] = pl->nctr;
	pl->n++;
	return 0;
}

/* Builds the UID index, drops duplicate UIDs (the first wins) and points each pod at its
 * containers now that the arrays no longer move. */
int jpk_table_finish(struct jp_podlist *pl, void (*dup)(void *arg, const char *uid), void *arg)
{
	size_t size = 16;
	while (size < pl->n * 2 + 1)
		size *= 2;
	pl->index = calloc(size, sizeof(*pl->index));
	if (!pl->index)
		return -ENOMEM;
	pl->index_mask = size - 1;
	size_t out = 0;
	for (size_t i = 0; i < pl->n; i++) {
		size_t first = pl->ctr_first[i];
		size_t end = i + 1 < pl->n ? pl->ctr_first[i + 1] : pl->nctr;
		struct jp_kube_pod pod = pl->pods[i];
		size_t slot = index_slot(pl, pod.uid);
		if (pl->index[slot]) {
			dup(arg, pod.uid);
			continue;
		}
		pod.containers = pl->ctrs ? pl->ctrs + first : NULL;
		pod.n_containers = end - first;
		pl->pods[out] = pod;
		pl->index[slot] = (uint32_t)(out + 1);
		out++;
	}
	pl->n = out;
	free(pl->ctr_first);
	pl->ctr_first = NULL;
	return 0;
}

void jp_podlist_destroy(struct jp_podlist *pl)
{
	if (!pl)
		return;
	while (pl->blocks) {
		struct block *b = pl->blocks;
		pl->blocks = b->next;
		free(b);
	}
	free(pl->index);
	free(pl->ctr_first);
	free(pl->ctrs);
	free(pl->pods);
	free(pl);
}

size_t jp_podlist_count(const struct jp_podlist *pl)
{
	return pl ? pl->n : 0;
}

const struct jp_kube_pod *jp_podlist_at(const struct jp_podlist *pl, size_t i)
{
	return pl && i < pl->n ? &pl->pods[i] : NULL;
}

const struct jp_kube_pod *jp_podlist_find(const struct jp_podlist *pl, const char *uid)
{
	if (!pl || !uid || !pl->index)
		return NULL;
	size_t slot = index_slot(pl, uid);
	return pl->index[slot] ? &pl->pods[pl->index[slot] - 1] : NULL;
}

const char *jp_kube_pod_container_name(const struct jp_kube_pod *pod, const char *container_id)
{
	if (!pod || !container_id)
		return NULL;
	const char *sep = strstr(container_id, "://");
	if (sep)
		container_id = sep + 3;
	if (!*container_id)
		return NULL;
	for (size_t i = 0; i < pod->n_containers; i++)
		if (strcasecmp(pod->containers[i].id, container_id) == 0)
			return pod->containers[i].name;
	return NULL;
}
