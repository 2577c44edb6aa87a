/* SPDX-License-Identifier: Apache-2.0 */
/* Parses the kubelet's /pods PodList as a stream into an immutable pod table. */
#include "kube/podlist.h"
#include "kube/podtable.h"
#include "kube/podlist_internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The PodList is read as a stream of bytes, never as a tree: a pushdown automaton checks
 * the JSON grammar (RFC 8259, strictly: no comments, no trailing commas, no control
 * characters in strings) one byte at a time, and a stack of frames knows where in the
 * document each value sits. Only the few fields the agent uses are kept:
 *
 *   kind, items[].metadata.{uid,name,namespace},
 *   items[].spec.containers[].resources.requests.cpu,
 *   items[].status.{initContainerStatuses,containerStatuses,ephemeralContainerStatuses}[].
 *       {containerID,name}
 *
 * Everything else (annotations, env, args, managed fields: most of a PodList) is checked
 * and dropped as it passes, and a string that is not kept is never buffered. Memory is
 * therefore the pod table plus at most MAX_STR bytes per kept field of the pod being read,
 * whatever the size or shape of the document; the body itself is fed in as it arrives.
 * A pod's fields may come in any order, so each pod is committed when its object ends.
 */

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

/* ---- where a value sits ---------------------------------------------------------------- */



/* The role of the value of `key` inside an object of role `obj`. */
enum role jp_pl_key_role(enum role obj, const char *key, int *which)
{
	static const char *const statuses[] = {"initContainerStatuses", "containerStatuses",
					       "ephemeralContainerStatuses"};
	switch (obj) {
	case R_ROOT:
		return !strcmp(key, "kind") ? R_KIND : !strcmp(key, "items") ? R_ITEMS : R_SKIP;
	case R_POD:
		return !strcmp(key, "metadata") ? R_META : !strcmp(key, "spec") ? R_SPEC :
		       !strcmp(key, "status") ? R_STATUS : R_SKIP;
	case R_META:
		return !strcmp(key, "uid") ? R_UID : !strcmp(key, "name") ? R_NAME :
		       !strcmp(key, "namespace") ? R_NS : R_SKIP;
	case R_SPEC:
		return !strcmp(key, "containers") ? R_CTRS : R_SKIP;
	case R_CTR:
		return !strcmp(key, "resources") ? R_RES : R_SKIP;
	case R_RES:
		return !strcmp(key, "requests") ? R_REQ : R_SKIP;
	case R_REQ:
		return !strcmp(key, "cpu") ? R_CPU : R_SKIP;
	case R_STATUS:
		for (int i = 0; i < 3; i++)
			if (!strcmp(key, statuses[i])) {
				*which = i;
				return R_STATUSES;
			}
		return R_SKIP;
	case R_CSTATUS:
		return !strcmp(key, "containerID") ? R_CID : !strcmp(key, "name") ? R_CNAME : R_SKIP;
	default:
		return R_SKIP;
	}
}

static enum role elem_role(enum role arr)
{
	return arr == R_ITEMS ? R_POD : arr == R_CTRS ? R_CTR : arr == R_STATUSES ? R_CSTATUS : R_SKIP;
}

static const char *const status_keys[] = {"initContainerStatuses", "containerStatuses",
					  "ephemeralContainerStatuses"};

void jp_pl_problem(struct parse *p, unsigned *counter, const char *fmt, ...)
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

int jp_pl_fail(struct jp_podlist_parser *ps, int err)
{
	ps->state = P_FAILED;
	ps->err = err;
	return -err;
}

int jp_pl_syntax(struct jp_podlist_parser *ps, const char *what)
{
	jp_pl_problem(&ps->p, NULL, "not JSON: %s at byte %zu", what, ps->fed);
	return jp_pl_fail(ps, EINVAL);
}

/* ---- committing what was read ------------------------------------------------------- */

static int pod_add_container(struct pod_acc *a, const struct field *id, const struct field *name)
{
	size_t need = id->len + name->len + 2;
	if (a->clen + need > a->ccap) {
		size_t cap = a->ccap ? a->ccap * 2 : 1024;
		while (cap < a->clen + need)
			cap *= 2;
		char *nb = realloc(a->cbuf, cap);
		if (!nb)
			return -ENOMEM;
		a->cbuf = nb;
		a->ccap = cap;
	}
	memcpy(a->cbuf + a->clen, id->s, id->len + 1);
	a->clen += id->len + 1;
	memcpy(a->cbuf + a->clen, name->s, name->len + 1);
	a->clen += name->len + 1;
	a->nctr++;
	return 0;
}

/* Start a pod; its container buffer is kept for reuse. */
static void pod_reset(struct pod_acc *a, size_t idx)
{
	a->idx = idx;
	a->meta_state = 0;
	a->uid.state = a->name.state = a->ns.state = 0;
	a->cpu = 0;
	a->clen = 0;
	a->nctr = 0;
}

/* A pod object ended: keep it if its metadata are usable. */
static int pod_commit(struct jp_podlist_parser *ps)
{
	struct pod_acc *a = &ps->pod;
	struct jp_podlist *pl = ps->p.pl;
	unsigned *skipped = &ps->rep.skipped_pods;
	if (a->meta_state != 1) {
		jp_pl_problem(&ps->p, skipped, "items[%zu].metadata: %s", a->idx,
			a->meta_state < 0 ? "not an object" : "missing");
		return 0;
	}
	static const char *const keys[] = {"uid", "name", "namespace"};
	const struct field *f[3] = {&a->uid, &a->name, &a->ns};
	for (int k = 0; k < 3; k++) {
		if (f[k]->state != 1) {
			jp_pl_problem(&ps->p, skipped, "items[%zu].metadata.%s: %s", a->idx, keys[k],
				f[k]->state == 0 ? "missing" : "not a usable string");
			return 0;
		}
	}
	int r = jpk_table_add_pod(pl, a->uid.s, a->uid.len, a->name.s, a->name.len, a->ns.s, a->ns.len,
				  isfinite(a->cpu) ? a->cpu : 0);
	if (r)
		return r;
	const char *c = a->cbuf;
	for (size_t i = 0; i < a->nctr; i++) {
		size_t il = strlen(c);
		const char *nm = c + il + 1;
		size_t nl = strlen(nm);
		if ((r = jpk_table_add_container(pl, c, il, nm, nl)))
			return r;
		c = nm + nl + 1;
	}
	if (pl->n > UINT32_MAX - 1) {
		jp_pl_problem(&ps->p, NULL, "too many items");
		return -EINVAL;
	}
	return 0;
}

/* A container status object ended. Waiting containers have no id yet: not a problem. */
static int status_commit(struct jp_podlist_parser *ps)
{
	struct pod_acc *a = &ps->pod;
	const char *key = status_keys[a->which];
	if (a->cid.state < 0 || a->cname.state < 0) {
		jp_pl_problem(&ps->p, &ps->rep.skipped_fields, "items[%zu].status.%s[%zu]: %s is not a usable string",
			a->idx, key, a->st_idx, a->cid.state < 0 ? "containerID" : "name");
		return 0;
	}
	if (a->cid.state == 0 || a->cname.state == 0)
		return 0;
	struct field id = a->cid;
	const char *sep = strstr(id.s, "://");
	if (sep) {
		size_t skip = (size_t)(sep + 3 - id.s);
		memmove(id.s, id.s + skip, id.len - skip + 1);
		id.len -= skip;
	}
	if (id.len == 0)
		return 0;
	if (!id_ok(id.s, id.len)) {
		jp_pl_problem(&ps->p, &ps->rep.skipped_fields, "items[%zu].status.%s[%zu].containerID: not a container id",
			a->idx, key, a->st_idx);
		return 0;
	}
	return pod_add_container(a, &id, &a->cname);
}

/* ---- values ------------------------------------------------------------------------------- */

/* A value of role r starts with byte c ('{', '[', '"', a digit or '-', 't', 'f', 'n').
 * Checks the type the role wants and says where a kept string goes. */
static int value_begins(struct jp_podlist_parser *ps, enum role r, char c)
{
	struct pod_acc *a = &ps->pod;
	int obj = c == '{', arr = c == '[', str = c == '"', null = c == 'n';
	unsigned *fields = &ps->rep.skipped_fields;
	switch (r) {
	case R_ROOT:
		if (!obj) {
			jp_pl_problem(&ps->p, NULL, "not a PodList: the document is not a JSON object");
			return jp_pl_fail(ps, EINVAL);
		}
		break;
	case R_KIND:
		if (!str)
			ps->kind_bad = 1;
		break;
	case R_ITEMS:
		if (!arr && !null)
			ps->items_bad = 1;
		break;
	case R_POD:
		if (!obj)
			jp_pl_problem(&ps->p, &ps->rep.skipped_pods, "items[%zu]: not an object", a->idx);
		break;
	case R_META:
		a->meta_state = obj ? 1 : null ? 0 : -1;
		break;
	case R_UID: case R_NAME: case R_NS: {
		struct field *f = r == R_UID ? &a->uid : r == R_NAME ? &a->name : &a->ns;
		f->state = str ? 1 : null ? 0 : -1;
		f->len = 0;
		break;
	}
	case R_SPEC:
		if (!obj && !null)
			jp_pl_problem(&ps->p, fields, "items[%zu].spec: not an object", a->idx);
		break;
	case R_CTRS:
		if (!arr && !null)
			jp_pl_problem(&ps->p, fields, "items[%zu].spec.containers: not an array", a->idx);
		break;
	case R_CTR:
		if (!obj)
			jp_pl_problem(&ps->p, fields, "items[%zu].spec.containers[%zu]: not an object", a->idx, a->ctr_idx);
		break;
	case R_RES: case R_REQ:
		if (!obj && !null)
			jp_pl_problem(&ps->p, fields, "items[%zu].spec.containers[%zu].resources%s: not an object", a->idx,
				a->ctr_idx, r == R_RES ? "" : ".requests");
		break;
	case R_CPU:
		if (!str && !(c == '-' || (c >= '0' && c <= '9')) && !null)
			jp_pl_problem(&ps->p, fields, "items[%zu].spec.containers[%zu].resources.requests.cpu: not a CPU quantity",
				a->idx, a->ctr_idx);
		break;
	case R_STATUS:
		if (!obj && !null)
			jp_pl_problem(&ps->p, fields, "items[%zu].status: not an object", a->idx);
		break;
	case R_STATUSES:
		if (!arr && !null)
			jp_pl_problem(&ps->p, fields, "items[%zu].status.%s: not an array", a->idx, status_keys[a->which]);
		break;
	case R_CSTATUS:
		if (!obj)
			jp_pl_problem(&ps->p, fields, "items[%zu].status.%s[%zu]: not an object", a->idx,
				status_keys[a->which], a->st_idx);
		break;
	case R_CID: case R_CNAME: {
		struct field *f = r == R_CID ? &a->cid : &a->cname;
		f->state = str ? 1 : null ? 0 : -1;
		f->len = 0;
		break;
	}
	default:
		break;
	}
	return 0;
}

/* A kept string value is complete. */
int jp_pl_string_done(struct jp_podlist_parser *ps, enum role r)
{
	struct pod_acc *a = &ps->pod;
	if (r == R_KIND) {
		if (ps->str_nul || ps->key_long || strcmp(ps->key, "PodList") != 0)
			ps->kind_bad = 1;
		return 0;
	}
	if (r == R_CPU) {
		double cores;
		if (ps->key_long || ps->str_nul || !ps->key_len ||
		    jp_kube_parse_cpu(ps->key, ps->key_len, &cores) != 0) {
			jp_pl_problem(&ps->p, &ps->rep.skipped_fields,
				"items[%zu].spec.containers[%zu].resources.requests.cpu: not a CPU quantity", a->idx,
				a->ctr_idx);
			return 0;
		}
		a->cpu += cores;
		return 0;
	}
	struct field *f = ps->str_dst;
	if (!f)
		return 0;
	f->s[f->len < MAX_STR ? f->len : MAX_STR] = '\0';
	/* Usable: no NUL, 1..MAX_STR bytes. */
	if (ps->str_nul || f->len == 0 || f->len > MAX_STR)
		f->state = -1;
	return 0;
}

/* A number value is complete. */
int jp_pl_number_done(struct jp_podlist_parser *ps)
{
	struct pod_acc *a = &ps->pod;
	if (ps->num_role != R_CPU)
		return 0;
	ps->numbuf[ps->num_len < MAX_NUM ? ps->num_len : MAX_NUM] = '\0';
	char *e;
	double v = ps->num_len <= MAX_NUM ? strtod(ps->numbuf, &e) : NAN;
	/* resource.Quantity also unmarshals a bare JSON number. */
	if (!isfinite(v) || v < 0) {
		jp_pl_problem(&ps->p, &ps->rep.skipped_fields,
			"items[%zu].spec.containers[%zu].resources.requests.cpu: not a CPU quantity", a->idx, a->ctr_idx);
		return 0;
	}
	a->cpu += v;
	return 0;
}

/* A container (object or array) of role r closed. */
static int container_done(struct jp_podlist_parser *ps, const struct frame *f)
{
	if (!f->is_obj)
		return 0;
	if (f->role == R_POD)
		return pod_commit(ps);
	if (f->role == R_CSTATUS)
		return status_commit(ps);
	return 0;
}

/* The role of the value that starts now, from the frame it is in. Also counts array
 * elements and sets the per-element context. */
static enum role next_role(struct jp_podlist_parser *ps)
{
	if (ps->depth == 0)
		return R_ROOT;
	struct frame *f = &ps->stack[ps->depth - 1];
	if (f->is_obj) {
		if (f->role == R_STATUS && f->key_role == R_STATUSES)
			ps->pod.which = f->which;
		return (enum role)f->key_role;
	}
	enum role r = elem_role((enum role)f->role);
	size_t i = f->index++;
	if (r == R_POD) {
		pod_reset(&ps->pod, i);
	} else if (r == R_CTR) {
		ps->pod.ctr_idx = i;
	} else if (r == R_CSTATUS) {
		ps->pod.st_idx = i;
		ps->pod.cid.state = ps->pod.cname.state = 0;
	}
	return r;
}

/* A scalar value ended (string, number or literal): the enclosing container expects a
 * separator next. */
void jp_pl_after_value(struct jp_podlist_parser *ps)
{
	if (ps->depth == 0)
		ps->lex = L_END;
	else
		ps->lex = ps->stack[ps->depth - 1].is_obj ? L_OBJ_NEXT : L_ARR_NEXT;
}

static int push_frame(struct jp_podlist_parser *ps, int is_obj, enum role r)
{
	if (ps->depth == MAX_DEPTH)
		return jp_pl_syntax(ps, "nesting too deep");
	/* A value whose type the role did not want is walked as R_SKIP below. */
	int arr_role = r == R_ITEMS || r == R_CTRS || r == R_STATUSES;
	int obj_role = r == R_ROOT || r == R_POD || r == R_META || r == R_SPEC || r == R_CTR ||
		       r == R_RES || r == R_REQ || r == R_STATUS || r == R_CSTATUS;
	enum role eff = (is_obj ? obj_role : arr_role) ? r : R_SKIP;
	if (is_obj && r == R_META && ps->pod.meta_state != 1)
		eff = R_SKIP;
	ps->stack[ps->depth++] = (struct frame){.is_obj = (unsigned char)is_obj, .role = (unsigned char)eff};
	ps->lex = is_obj ? L_OBJ_FIRST : L_ARR_FIRST;
	return 0;
}

int jp_pl_pop_frame(struct jp_podlist_parser *ps)
{
	struct frame f = ps->stack[--ps->depth];
	int r = container_done(ps, &f);
	if (r)
		return jp_pl_fail(ps, -r);
	jp_pl_after_value(ps);
	return 0;
}

/* A value starts with c. */
int jp_pl_begin_value(struct jp_podlist_parser *ps, char c)
{
	enum role r = next_role(ps);
	int rr = value_begins(ps, r, c);
	if (rr)
		return rr;
	switch (c) {
	case '{':
		return push_frame(ps, 1, r);
	case '[':
		return push_frame(ps, 0, r);
	case '"':
		ps->lex = L_STR;
		ps->str_is_key = 0;
		ps->str_role = r;
		ps->str_nul = 0;
		ps->u_high = 0;
		ps->key_len = 0;
		ps->key_long = 0;
		ps->str_dst = NULL;
		if (r == R_UID)
			ps->str_dst = &ps->pod.uid;
		else if (r == R_NAME)
			ps->str_dst = &ps->pod.name;
		else if (r == R_NS)
			ps->str_dst = &ps->pod.ns;
		else if (r == R_CID)
			ps->str_dst = &ps->pod.cid;
		else if (r == R_CNAME)
			ps->str_dst = &ps->pod.cname;
		return 0;
	case 't': case 'f': case 'n':
		ps->lex = L_LIT;
		ps->lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
		ps->lit_pos = 1;
		return 0;
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			ps->lex = L_NUM;
			ps->num_role = r;
			ps->num_len = 0;
			ps->numbuf[ps->num_len++] = c;
			ps->num = c == '-' ? N_SIGN : c == '0' ? N_ZERO : N_INT;
			return 0;
		}
		return jp_pl_syntax(ps, "unexpected character");
	}
}

struct jp_podlist_parser *jp_podlist_parser_create(void)
{
	struct jp_podlist_parser *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	ps->p.rep = &ps->rep;
	ps->p.pl = jpk_table_create();
	if (!ps->p.pl) {
		jp_podlist_parser_destroy(ps);
		errno = ENOMEM;
		return NULL;
	}
	ps->lex = L_VALUE;
	return ps;
}

int jp_podlist_parser_feed(struct jp_podlist_parser *ps, const char *buf, size_t len)
{
	if (ps->state == P_FAILED)
		return -ps->err;
	if (ps->state != P_FEED)
		return -EINVAL;
	for (size_t i = 0; i < len; i++, ps->fed++) {
		int r = jp_pl_step(ps, buf[i]);
		if (r)
			return r < 0 ? r : -EINVAL;
	}
	return ps->lex == L_END;
}

static void duplicate_uid(void *arg, const char *uid)
{
	struct parse *p = arg;
	jp_pl_problem(p, &p->rep->skipped_pods, "pod uid %s: listed twice", uid);
}

/* The end of the input: the document must be complete and shaped like a PodList. */
int jp_podlist_parser_work(struct jp_podlist_parser *ps, size_t budget)
{
	(void)budget;
	if (ps->state == P_DONE)
		return 1;
	if (ps->state == P_FAILED)
		return -ps->err;
	if (ps->lex == L_NUM && ps->depth == 0) {
		int r = jp_pl_number_finish(ps);
		if (r)
			return r;
	}
	if (ps->lex != L_END) {
		jp_pl_problem(&ps->p, NULL, "not JSON: unexpected end of input at byte %zu", ps->fed);
		return jp_pl_fail(ps, EINVAL);
	}
	if (ps->kind_bad) {
		jp_pl_problem(&ps->p, NULL, "not a PodList: kind is not \"PodList\"");
		return jp_pl_fail(ps, EINVAL);
	}
	if (ps->items_bad) {
		jp_pl_problem(&ps->p, NULL, "not a PodList: items is not an array");
		return jp_pl_fail(ps, EINVAL);
	}
	if (jpk_table_finish(ps->p.pl, duplicate_uid, &ps->p))
		return jp_pl_fail(ps, ENOMEM);
	ps->state = P_DONE;
	return 1;
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
	free(ps->pod.cbuf);
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

