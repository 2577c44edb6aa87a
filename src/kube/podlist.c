/* SPDX-License-Identifier: Apache-2.0 */
/* Parses the kubelet's /pods PodList with json-c into an immutable pod table (SPEC §3, §8). */
#include "kube/podlist.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* Longest string kept from the document. Kubernetes names are at most 253 bytes and UIDs
 * 36; anything far longer is hostile and is skipped rather than copied. */
#define MAX_STR 1024
/* json-c's own default is 32; a PodList needs about 8, annotations may nest a little more. */
#define MAX_DEPTH 64

/* Strings live in fixed blocks so that pointers into them never move. */
struct block {
	struct block *next;
	size_t used, cap;
	char data[];
};

struct jp_podlist {
	struct jp_kube_pod *pods;
	size_t n, cap;
	struct jp_kube_container *ctrs;
	size_t nctr, capctr;
	size_t *ctr_first;           /* while parsing: index of each pod's first container */
	uint32_t *index;             /* open addressing: pod index + 1, 0 empty */
	size_t index_mask;
	struct block *blocks;
};

struct parse {
	struct jp_podlist *pl;
	struct jp_podlist_report *rep;
};

static void problem(struct parse *p, unsigned *counter, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct parse *p, unsigned *counter, const char *fmt, ...)
{
	if (counter)
		(*counter)++;
	if (!p->rep || p->rep->first[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->rep->first, sizeof(p->rep->first), fmt, ap);
	va_end(ap);
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

/* A usable string member: present, a string, no embedded NUL, 1..MAX_STR bytes.
 * Returns 1 and sets *s and *len, 0 when absent or null, -1 when present but unusable. */
static int get_str(struct json_object *obj, const char *key, const char **s, size_t *len)
{
	struct json_object *v;
	if (!json_object_object_get_ex(obj, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	const char *str = json_object_get_string(v);
	int n = json_object_get_string_len(v);
	if (!str || n <= 0 || n > MAX_STR || strlen(str) != (size_t)n)
		return -1;
	*s = str;
	*len = (size_t)n;
	return 1;
}

/* A member that must be an object or an array when present: returns the value, NULL when
 * absent or null; *bad is set when it has the wrong type. */
static struct json_object *get_typed(struct json_object *obj, const char *key, enum json_type t, int *bad)
{
	struct json_object *v;
	*bad = 0;
	if (!obj || !json_object_object_get_ex(obj, key, &v) || !v)
		return NULL;
	if (!json_object_is_type(v, t)) {
		*bad = 1;
		return NULL;
	}
	return v;
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
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)tolower((unsigned char)*s);
		h *= 1099511628211ull;
	}
	return h;
}

/* Returns the slot holding uid, or the empty slot where it would go. */
static size_t index_slot(const struct jp_podlist *pl, const char *uid)
{
	size_t i = (size_t)hash_uid(uid) & pl->index_mask;
	while (pl->index[i] && strcasecmp(pl->pods[pl->index[i] - 1].uid, uid) != 0)
		i = (i + 1) & pl->index_mask;
	return i;
}

static int push_container(struct jp_podlist *pl, const char *id, size_t idlen, const char *name, size_t nlen)
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

/* Runtime container ids are hex (containerd, CRI-O, Docker); letters, digits, '-', '_' and
 * '.' are let through for other runtimes. Anything else (a second "://", spaces) would never
 * match a cgroup path and is refused. */
static int id_ok(const char *id, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '-' && id[i] != '_' && id[i] != '.')
			return 0;
	return 1;
}

/* status.<key>[]: containerID -> name. Waiting containers have no id yet; not a problem. */
static int parse_statuses(struct parse *p, struct json_object *status, const char *key, size_t item)
{
	int bad;
	struct json_object *arr = get_typed(status, key, json_type_array, &bad);
	if (bad) {
		problem(p, &p->rep->skipped_fields, "items[%zu].status.%s: not an array", item, key);
		return 0;
	}
	size_t n = arr ? json_object_array_length(arr) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *cs = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(cs, json_type_object)) {
			problem(p, &p->rep->skipped_fields, "items[%zu].status.%s[%zu]: not an object", item, key, i);
			continue;
		}
		const char *id, *name;
		size_t idlen, nlen;
		int rid = get_str(cs, "containerID", &id, &idlen);
		int rname = get_str(cs, "name", &name, &nlen);
		if (rid < 0 || rname < 0) {
			problem(p, &p->rep->skipped_fields, "items[%zu].status.%s[%zu]: %s is not a usable string",
				item, key, i, rid < 0 ? "containerID" : "name");
			continue;
		}
		if (rid == 0 || rname == 0)
			continue;
		const char *sep = memmem(id, idlen, "://", 3);
		if (sep) {
			idlen -= (size_t)(sep + 3 - id);
			id = sep + 3;
		}
		if (idlen == 0)
			continue;
		if (!id_ok(id, idlen)) {
			problem(p, &p->rep->skipped_fields, "items[%zu].status.%s[%zu].containerID: not a container id",
				item, key, i);
			continue;
		}
		int r = push_container(p->pl, id, idlen, name, nlen);
		if (r)
			return r;
	}
	return 0;
}

static int parse_pod(struct parse *p, struct json_object *item, size_t idx)
{
	struct jp_podlist *pl = p->pl;
	unsigned *skipped = &p->rep->skipped_pods;
	if (!json_object_is_type(item, json_type_object)) {
		problem(p, skipped, "items[%zu]: not an object", idx);
		return 0;
	}
	int bad;
	struct json_object *meta = get_typed(item, "metadata", json_type_object, &bad);
	if (!meta) {
		problem(p, skipped, "items[%zu].metadata: %s", idx, bad ? "not an object" : "missing");
		return 0;
	}
	const char *uid, *name, *ns;
	size_t uidlen, namelen, nslen;
	static const char *const keys[] = {"uid", "name", "namespace"};
	int r[3] = {
		get_str(meta, "uid", &uid, &uidlen),
		get_str(meta, "name", &name, &namelen),
		get_str(meta, "namespace", &ns, &nslen),
	};
	for (int k = 0; k < 3; k++) {
		if (r[k] != 1) {
			problem(p, skipped, "items[%zu].metadata.%s: %s", idx, keys[k],
				r[k] == 0 ? "missing" : "not a usable string");
			return 0;
		}
	}
	/* Duplicate UIDs are found through the index once it is built. */
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
	pod->uid = arena_dup(pl, uid, uidlen, 1);
	pod->name = arena_dup(pl, name, namelen, 0);
	pod->ns = arena_dup(pl, ns, nslen, 0);
	if (!pod->uid || !pod->name || !pod->ns)
		return -ENOMEM;
	pl->ctr_first[pl->n] = pl->nctr;

	/* CPU requests: the sum over the app containers, as SPEC §5 "requests" uses them. */
	struct json_object *spec = get_typed(item, "spec", json_type_object, &bad);
	if (bad)
		problem(p, &p->rep->skipped_fields, "items[%zu].spec: not an object", idx);
	struct json_object *ctrs = get_typed(spec, "containers", json_type_array, &bad);
	if (bad)
		problem(p, &p->rep->skipped_fields, "items[%zu].spec.containers: not an array", idx);
	size_t nc = ctrs ? json_object_array_length(ctrs) : 0;
	for (size_t i = 0; i < nc; i++) {
		struct json_object *c = json_object_array_get_idx(ctrs, i);
		if (!json_object_is_type(c, json_type_object)) {
			problem(p, &p->rep->skipped_fields, "items[%zu].spec.containers[%zu]: not an object", idx, i);
			continue;
		}
		struct json_object *res = get_typed(c, "resources", json_type_object, &bad);
		int bad2 = 0;
		struct json_object *req = get_typed(res, "requests", json_type_object, &bad2);
		if (bad || bad2) {
			problem(p, &p->rep->skipped_fields, "items[%zu].spec.containers[%zu].resources%s: not an object",
				idx, i, bad ? "" : ".requests");
			continue;
		}
		struct json_object *cpu;
		if (!req || !json_object_object_get_ex(req, "cpu", &cpu) || !cpu)
			continue;
		double cores;
		int ok = -EINVAL;
		if (json_object_is_type(cpu, json_type_string)) {
			const char *s = json_object_get_string(cpu);
			int len = json_object_get_string_len(cpu);
			if (s && len > 0 && len <= 64 && strlen(s) == (size_t)len)
				ok = jp_kube_parse_cpu(s, (size_t)len, &cores);
		} else if (json_object_is_type(cpu, json_type_int) || json_object_is_type(cpu, json_type_double)) {
			/* resource.Quantity also unmarshals a bare JSON number. */
			cores = json_object_get_double(cpu);
			ok = isfinite(cores) && cores >= 0 ? 0 : -EINVAL;
		}
		if (ok != 0) {
			problem(p, &p->rep->skipped_fields,
				"items[%zu].spec.containers[%zu].resources.requests.cpu: not a CPU quantity", idx, i);
			continue;
		}
		pod->cpu_request += cores;
	}
	if (!isfinite(pod->cpu_request))
		pod->cpu_request = 0;

	struct json_object *status = get_typed(item, "status", json_type_object, &bad);
	if (bad)
		problem(p, &p->rep->skipped_fields, "items[%zu].status: not an object", idx);
	if (status) {
		static const char *const sk[] = {"initContainerStatuses", "containerStatuses",
						 "ephemeralContainerStatuses"};
		for (int k = 0; k < 3; k++) {
			int rr = parse_statuses(p, status, sk[k], idx);
			if (rr)
				return rr;
		}
	}
	pl->n++;
	return 0;
}

/* Builds the UID index, drops duplicate UIDs (the first wins) and points each pod at its
 * containers now that the arrays no longer move. */
static int finish(struct parse *p)
{
	struct jp_podlist *pl = p->pl;
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
			problem(p, &p->rep->skipped_pods, "pod uid %s: listed twice", pod.uid);
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

/* ---- the incremental parser ---------------------------------------------------------- */

enum pstate { P_FEED, P_TRAILER, P_WALK, P_RELEASE, P_DONE, P_FAILED };

struct jp_podlist_parser {
	enum pstate state;
	struct json_tokener *tok;
	struct json_object *root, *items;
	size_t n_items, next;        /* items walked (P_WALK) or still to release (P_RELEASE) */
	size_t fed;                  /* bytes fed so far, for error offsets */
	int err;                     /* positive errno once P_FAILED */
	struct parse p;
	struct jp_podlist_report rep;
};

static int fail(struct jp_podlist_parser *ps, int err)
{
	ps->state = P_FAILED;
	ps->err = err;
	return -err;
}

struct jp_podlist_parser *jp_podlist_parser_create(void)
{
	struct jp_podlist_parser *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	ps->p.rep = &ps->rep;
	ps->tok = json_tokener_new_ex(MAX_DEPTH);
	ps->p.pl = calloc(1, sizeof(*ps->p.pl));
	if (!ps->tok || !ps->p.pl) {
		jp_podlist_parser_destroy(ps);
		errno = ENOMEM;
		return NULL;
	}
	json_tokener_set_flags(ps->tok, JSON_TOKENER_STRICT);
	return ps;
}

int jp_podlist_parser_feed(struct jp_podlist_parser *ps, const char *buf, size_t len)
{
	if (ps->state == P_FAILED)
		return -ps->err;
	if (ps->state != P_FEED && ps->state != P_TRAILER)
		return -EINVAL;
	while (len) {
		size_t off = 0;
		if (ps->state == P_FEED) {
			int n = len > INT_MAX / 2 ? INT_MAX / 2 : (int)len;
			ps->root = json_tokener_parse_ex(ps->tok, buf, n);
			enum json_tokener_error jerr = json_tokener_get_error(ps->tok);
			if (jerr == json_tokener_continue) {
				ps->fed += (size_t)n;
				buf += n;
				len -= (size_t)n;
				continue;
			}
			if (!ps->root || jerr != json_tokener_success) {
				problem(&ps->p, NULL, "not JSON: %s at byte %zu", json_tokener_error_desc(jerr),
					ps->fed + json_tokener_get_parse_end(ps->tok));
				return fail(ps, EINVAL);
			}
			off = json_tokener_get_parse_end(ps->tok);
			ps->state = P_TRAILER;
		}
		/* Only whitespace may follow the document. */
		for (size_t i = off; i < len; i++) {
			if (!isspace((unsigned char)buf[i])) {
				problem(&ps->p, NULL, "not JSON: trailing data at byte %zu", ps->fed + i);
				return fail(ps, EINVAL);
			}
		}
		ps->fed += len;
		len = 0;
	}
	return ps->state == P_TRAILER;
}

/* The end of the input: the document must be complete and shaped like a PodList. */
static int start_walk(struct jp_podlist_parser *ps)
{
	struct parse *p = &ps->p;
	if (ps->state == P_FEED) {
		/* A document that is a bare number ends only with the input; the tokener needs
		 * to be told (json-c reads the terminating NUL as the end). */
		ps->root = json_tokener_parse_ex(ps->tok, "", 1);
		if (!ps->root || json_tokener_get_error(ps->tok) != json_tokener_success) {
			problem(p, NULL, "not JSON: unexpected end of input at byte %zu", ps->fed);
			return fail(ps, EINVAL);
		}
	}
	if (!json_object_is_type(ps->root, json_type_object)) {
		problem(p, NULL, "not a PodList: the document is not a JSON object");
		return fail(ps, EINVAL);
	}
	struct json_object *kind;
	if (json_object_object_get_ex(ps->root, "kind", &kind) && kind &&
	    (!json_object_is_type(kind, json_type_string) || strcmp(json_object_get_string(kind), "PodList") != 0)) {
		problem(p, NULL, "not a PodList: kind is not \"PodList\"");
		return fail(ps, EINVAL);
	}
	int bad;
	ps->items = get_typed(ps->root, "items", json_type_array, &bad);
	if (bad) {
		problem(p, NULL, "not a PodList: items is not an array");
		return fail(ps, EINVAL);
	}
	ps->n_items = ps->items ? json_object_array_length(ps->items) : 0;
	if (ps->n_items > UINT32_MAX - 1) {
		problem(p, NULL, "too many items");
		return fail(ps, EINVAL);
	}
	ps->state = P_WALK;
	return 0;
}

int jp_podlist_parser_work(struct jp_podlist_parser *ps, size_t budget)
{
	if (ps->state == P_FEED || ps->state == P_TRAILER) {
		int r = start_walk(ps);
		if (r)
			return r;
	}
	for (;;) {
		switch (ps->state) {
		case P_WALK:
			if (ps->next == ps->n_items) {
				ps->state = P_RELEASE;
				break;
			}
			if (budget == 0)
				return 0;
			while (budget && ps->next < ps->n_items) {
				int r = parse_pod(&ps->p, json_object_array_get_idx(ps->items, ps->next), ps->next);
				if (r)
					return fail(ps, -r);
				ps->next++;
				budget--;
			}
			break;
		case P_RELEASE:
			/* Freeing a large DOM takes a while too: drop the items from the end, in slices. */
			if (ps->n_items) {
				if (budget == 0)
					return 0;
				size_t k = budget < ps->n_items ? budget : ps->n_items;
				json_object_array_del_idx(ps->items, ps->n_items - k, k);
				ps->n_items -= k;
				budget -= k;
				/* glibc keeps small freed chunks in fastbins and merges them all at once
				 * (malloc_consolidate) at the next request for a large chunk: after a
				 * 50 MB DOM that was a 200 ms stall in whatever ran next. A large request
				 * here merges each slice's chunks while they are few. */
				void *volatile nudge = malloc(4096);
				free(nudge);
				break;
			}
			json_object_put(ps->root);
			ps->root = NULL;
			ps->items = NULL;
			if (finish(&ps->p))
				return fail(ps, ENOMEM);
			ps->state = P_DONE;
			return 1;
		case P_DONE:
			return 1;
		case P_FAILED:
			return -ps->err;
		default:
			return -EINVAL;
		}
	}
}

struct jp_podlist *jp_podlist_parser_finish(struct jp_podlist_parser *ps, struct jp_podlist_report *rep)
{
	if (rep)
		*rep = ps->rep;
	if (ps->state != P_DONE) {
		errno = ps->state == P_FAILED ? ps->err : EINVAL;
		return NULL;
	}
	struct jp_podlist *pl = ps->p.pl;
	ps->p.pl = NULL;
	ps->state = P_FAILED;
	ps->err = EINVAL;
	return pl;
}

void jp_podlist_parser_destroy(struct jp_podlist_parser *ps)
{
	if (!ps)
		return;
	json_object_put(ps->root);
	if (ps->tok)
		json_tokener_free(ps->tok);
	jp_podlist_destroy(ps->p.pl);
	free(ps);
}

struct jp_podlist *jp_podlist_parse(const char *buf, size_t len, struct jp_podlist_report *rep)
{
	struct jp_podlist_parser *ps = jp_podlist_parser_create();
	if (!ps) {
		if (rep)
			memset(rep, 0, sizeof(*rep));
		errno = ENOMEM;
		return NULL;
	}
	if (jp_podlist_parser_feed(ps, buf, len) >= 0)
		jp_podlist_parser_work(ps, SIZE_MAX);
	struct jp_podlist *pl = jp_podlist_parser_finish(ps, rep);
	int e = errno;
	jp_podlist_parser_destroy(ps);
	errno = e;
	return pl;
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
