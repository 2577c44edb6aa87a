/* SPDX-License-Identifier: Apache-2.0 */
/* Parses the kubelet's /pods PodList as a stream into an immutable pod table. */
#include "kube/podlist.h"
#include "kube/podtable.h"

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

/* Longest string kept from the document. Kubernetes names are at most 253 bytes and UIDs
 * 36; anything far longer is hostile and is skipped rather than copied. */
#define MAX_STR 1024
/* Keys longer than this are none of ours ("ephemeralContainerStatuses" is 26). */
#define MAX_KEY 40
/* Longest number text kept (a CPU request given as a JSON number). */
#define MAX_NUM 64
/* A PodList needs about 8 levels; annotations may nest a little more. */
#define MAX_DEPTH 64

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

enum role {
	R_SKIP, R_ROOT, R_KIND, R_ITEMS, R_POD, R_META, R_UID, R_NAME, R_NS, R_SPEC, R_CTRS,
	R_CTR, R_RES, R_REQ, R_CPU, R_STATUS, R_STATUSES, R_CSTATUS, R_CID, R_CNAME,
};

/* The role of the value of `key` inside an object of role `obj`. */
static enum role key_role(enum role obj, const char *key, int *which)
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

struct frame {
	unsigned char is_obj;
	unsigned char role;          /* enum role of this container */
	unsigned char key_role;      /* objects: the role of the current key's value */
	unsigned char which;         /* R_STATUS objects: which status list the key names */
	size_t index;                /* arrays: elements seen */
};

/* A kept string field: its state and bytes. */
struct field {
	int state;                   /* 0 absent or null, 1 usable, -1 present but unusable */
	size_t len;
	char s[MAX_STR + 1];
};

/* The pod being read. */
struct pod_acc {
	size_t idx;                  /* its index in items */
	int meta_state;              /* 0 absent/null, 1 object, -1 not an object */
	struct field uid, name, ns;
	double cpu;
	/* Its containers: pairs of strings in one buffer. */
	char *cbuf;
	size_t clen, ccap;
	size_t nctr;
	/* The container status being read. */
	struct field cid, cname;
	size_t ctr_idx;              /* index in spec.containers, for messages */
	size_t st_idx;
	int which;                   /* which status list */
};

/* Lexer states. */
enum lex {
	L_VALUE,          /* a value must start */
	L_OBJ_FIRST,      /* after '{': a key or '}' */
	L_OBJ_KEY,        /* after ',' in an object: a key */
	L_COLON,
	L_OBJ_NEXT,       /* after a member: ',' or '}' */
	L_ARR_FIRST,      /* after '[': a value or ']' */
	L_ARR_NEXT,       /* after an element: ',' or ']' */
	L_STR, L_STR_ESC, L_STR_U,
	L_NUM,            /* in a number */
	L_LIT,            /* in true / false / null */
	L_END,            /* after the document: white space only */
};

enum num_state { N_SIGN, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

struct parse {
	struct jp_podlist *pl;
	struct jp_podlist_report *rep;
};

enum pstate { P_FEED, P_DONE, P_FAILED };

struct jp_podlist_parser {
	enum pstate state;
	int err;                     /* positive errno once P_FAILED */
	struct parse p;
	struct jp_podlist_report rep;
	size_t fed;

	enum lex lex;
	struct frame stack[MAX_DEPTH];
	size_t depth;
	int seen_value;              /* the top-level value has started */

	/* the string being lexed */
	int str_is_key;
	enum role str_role;          /* R_SKIP: not kept */
	char key[MAX_KEY + 1];
	size_t key_len;
	int key_long;
	struct field *str_dst;       /* kept value strings go here (NULL: dropped) */
	int str_nul;                 /* a \u0000 */
	unsigned u_val, u_digits;
	unsigned u_high;             /* a pending high surrogate */

	/* the number or literal being lexed */
	enum num_state num;
	enum role num_role;
	char numbuf[MAX_NUM + 1];
	size_t num_len;
	const char *lit;
	size_t lit_pos;

	/* the document */
	int kind_bad, items_bad;
	struct pod_acc pod;
	int in_pod;
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

static int fail(struct jp_podlist_parser *ps, int err)
{
	ps->state = P_FAILED;
	ps->err = err;
	return -err;
}

static int syntax(struct jp_podlist_parser *ps, const char *what)
{
	problem(&ps->p, NULL, "not JSON: %s at byte %zu", what, ps->fed);
	return fail(ps, EINVAL);
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
		problem(&ps->p, skipped, "items[%zu].metadata: %s", a->idx,
			a->meta_state < 0 ? "not an object" : "missing");
		return 0;
	}
	static const char *const keys[] = {"uid", "name", "namespace"};
	const struct field *f[3] = {&a->uid, &a->name, &a->ns};
	for (int k = 0; k < 3; k++) {
		if (f[k]->state != 1) {
			problem(&ps->p, skipped, "items[%zu].metadata.%s: %s", a->idx, keys[k],
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
		problem(&ps->p, NULL, "too many items");
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
		problem(&ps->p, &ps->rep.skipped_fields, "items[%zu].status.%s[%zu]: %s is not a usable string",
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
		problem(&ps->p, &ps->rep.skipped_fields, "items[%zu].status.%s[%zu].containerID: not a container id",
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
			problem(&ps->p, NULL, "not a PodList: the document is not a JSON object");
			return fail(ps, EINVAL);
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
			problem(&ps->p, &ps->rep.skipped_pods, "items[%zu]: not an object", a->idx);
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
			problem(&ps->p, fields, "items[%zu].spec: not an object", a->idx);
		break;
	case R_CTRS:
		if (!arr && !null)
			problem(&ps->p, fields, "items[%zu].spec.containers: not an array", a->idx);
		break;
	case R_CTR:
		if (!obj)
			problem(&ps->p, fields, "items[%zu].spec.containers[%zu]: not an object", a->idx, a->ctr_idx);
		break;
	case R_RES: case R_REQ:
		if (!obj && !null)
			problem(&ps->p, fields, "items[%zu].spec.containers[%zu].resources%s: not an object", a->idx,
				a->ctr_idx, r == R_RES ? "" : ".requests");
		break;
	case R_CPU:
		if (!str && !(c == '-' || (c >= '0' && c <= '9')) && !null)
			problem(&ps->p, fields, "items[%zu].spec.containers[%zu].resources.requests.cpu: not a CPU quantity",
				a->idx, a->ctr_idx);
		break;
	case R_STATUS:
		if (!obj && !null)
			problem(&ps->p, fields, "items[%zu].status: not an object", a->idx);
		break;
	case R_STATUSES:
		if (!arr && !null)
			problem(&ps->p, fields, "items[%zu].status.%s: not an array", a->idx, status_keys[a->which]);
		break;
	case R_CSTATUS:
		if (!obj)
			problem(&ps->p, fields, "items[%zu].status.%s[%zu]: not an object", a->idx,
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
static int string_done(struct jp_podlist_parser *ps, enum role r)
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
			problem(&ps->p, &ps->rep.skipped_fields,
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
static int number_done(struct jp_podlist_parser *ps)
{
	struct pod_acc *a = &ps->pod;
	if (ps->num_role != R_CPU)
		return 0;
	ps->numbuf[ps->num_len < MAX_NUM ? ps->num_len : MAX_NUM] = '\0';
	char *e;
	double v = ps->num_len <= MAX_NUM ? strtod(ps->numbuf, &e) : NAN;
	/* resource.Quantity also unmarshals a bare JSON number. */
	if (!isfinite(v) || v < 0) {
		problem(&ps->p, &ps->rep.skipped_fields,
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
static void after_value(struct jp_podlist_parser *ps)
{
	if (ps->depth == 0)
		ps->lex = L_END;
	else
		ps->lex = ps->stack[ps->depth - 1].is_obj ? L_OBJ_NEXT : L_ARR_NEXT;
}

static int push_frame(struct jp_podlist_parser *ps, int is_obj, enum role r)
{
	if (ps->depth == MAX_DEPTH)
		return syntax(ps, "nesting too deep");
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

static int pop_frame(struct jp_podlist_parser *ps)
{
	struct frame f = ps->stack[--ps->depth];
	int r = container_done(ps, &f);
	if (r)
		return fail(ps, -r);
	after_value(ps);
	return 0;
}

/* A value starts with c. */
static int begin_value(struct jp_podlist_parser *ps, char c)
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
		return syntax(ps, "unexpected character");
	}
}

/* Append one decoded byte to the string being lexed (kept strings only). */
static inline void str_byte(struct jp_podlist_parser *ps, char c)
{
	if (ps->str_is_key || ps->str_role == R_KIND || ps->str_role == R_CPU) {
		/* Keys, kind and CPU quantities share the small key buffer. */
		if (ps->key_len < MAX_KEY)
			ps->key[ps->key_len++] = c;
		else
			ps->key_long = 1;
		ps->key[ps->key_len] = '\0';
		return;
	}
	struct field *f = ps->str_dst;
	if (!f)
		return;
	if (f->len < MAX_STR)
		f->s[f->len] = c;
	if (f->len <= MAX_STR)
		f->len++;
}

static void str_codepoint(struct jp_podlist_parser *ps, unsigned cp)
{
	if (cp == 0)
		ps->str_nul = 1;
	if (cp < 0x80) {
		str_byte(ps, (char)cp);
	} else if (cp < 0x800) {
		str_byte(ps, (char)(0xC0 | (cp >> 6)));
		str_byte(ps, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		str_byte(ps, (char)(0xE0 | (cp >> 12)));
		str_byte(ps, (char)(0x80 | ((cp >> 6) & 0x3F)));
		str_byte(ps, (char)(0x80 | (cp & 0x3F)));
	} else {
		str_byte(ps, (char)(0xF0 | (cp >> 18)));
		str_byte(ps, (char)(0x80 | ((cp >> 12) & 0x3F)));
		str_byte(ps, (char)(0x80 | ((cp >> 6) & 0x3F)));
		str_byte(ps, (char)(0x80 | (cp & 0x3F)));
	}
}

/* The string ended (the closing quote). */
static int string_end(struct jp_podlist_parser *ps)
{
	if (ps->u_high) {
		str_codepoint(ps, 0xFFFD);
		ps->u_high = 0;
	}
	if (ps->str_is_key) {
		struct frame *f = &ps->stack[ps->depth - 1];
		int which = 0;
		f->key_role = (unsigned char)(ps->key_long || ps->str_nul ? R_SKIP :
					      key_role((enum role)f->role, ps->key, &which));
		f->which = (unsigned char)which;
		ps->lex = L_COLON;
		return 0;
	}
	int r = string_done(ps, ps->str_role);
	if (r)
		return r;
	after_value(ps);
	return 0;
}

static int number_finish(struct jp_podlist_parser *ps)
{
	if (ps->num == N_SIGN || ps->num == N_DOT || ps->num == N_E || ps->num == N_ESIGN)
		return syntax(ps, "malformed number");
	number_done(ps);
	after_value(ps);
	return 0;
}

static inline int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Feed one byte to the automaton. */
/* A member name starts (or the object ends) where one may. */
static int member_begins(struct jp_podlist_parser *ps, char c)
{
	if (c == '}' && ps->lex == L_OBJ_FIRST)
		return pop_frame(ps);
	if (c != '"')
		return syntax(ps, "expected a member name");
	ps->lex = L_STR;
	ps->str_is_key = 1;
	ps->str_role = R_SKIP;
	ps->str_dst = NULL;
	ps->str_nul = 0;
	ps->u_high = 0;
	ps->key_len = 0;
	ps->key_long = 0;
	ps->key[0] = '\0';
	return 0;
}

/* After a value in an object or an array: a separator, or the end. */
static int separator(struct jp_podlist_parser *ps, char c, char close, enum lex next)
{
	if (c == ',') {
		ps->lex = next;
		return 0;
	}
	if (c == close)
		return pop_frame(ps);
	return syntax(ps, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* A byte of a string's text. */
static int string_char(struct jp_podlist_parser *ps, char c)
{
	if (c == '"')
		return string_end(ps);
	if (c == '\\') {
		ps->lex = L_STR_ESC;
		return 0;
	}
	if ((unsigned char)c < 0x20)
		return syntax(ps, "control character in a string");
	if (ps->u_high) {
		str_codepoint(ps, 0xFFFD);   /* a high surrogate with no low one after it */
		ps->u_high = 0;
	}
	str_byte(ps, c);
	return 0;
}

/* The character after a backslash. */
static int string_escape(struct jp_podlist_parser *ps, char c)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	if (c == 'u') {
		ps->lex = L_STR_U;
		ps->u_val = 0;
		ps->u_digits = 0;
		return 0;
	}
	const char *e = c ? strchr(from, c) : NULL;
	if (!e)
		return syntax(ps, "bad escape in a string");
	if (ps->u_high) {
		str_codepoint(ps, 0xFFFD);
		ps->u_high = 0;
	}
	str_byte(ps, to[e - from]);
	ps->lex = L_STR;
	return 0;
}

/* A hex digit of \uXXXX; surrogate pairs are joined, lone halves become U+FFFD. */
static int string_unicode(struct jp_podlist_parser *ps, char c)
{
	int h = hexval(c);
	if (h < 0)
		return syntax(ps, "bad \\u escape in a string");
	ps->u_val = ps->u_val << 4 | (unsigned)h;
	if (++ps->u_digits < 4)
		return 0;
	unsigned v = ps->u_val;
	ps->lex = L_STR;
	if (v >= 0xD800 && v <= 0xDBFF) {
		if (ps->u_high)
			str_codepoint(ps, 0xFFFD);
		ps->u_high = v;
	} else if (v >= 0xDC00 && v <= 0xDFFF && ps->u_high) {
		str_codepoint(ps, 0x10000 + ((ps->u_high - 0xD800) << 10) + (v - 0xDC00));
		ps->u_high = 0;
	} else {
		if (ps->u_high)
			str_codepoint(ps, 0xFFFD);
		ps->u_high = 0;
		str_codepoint(ps, v >= 0xDC00 && v <= 0xDFFF ? 0xFFFD : v);
	}
	return 0;
}

/* A character in a number: 1 when it is part of it, 0 when it is not (the number ended
 * before it), or a negative errno. */
static int number_char(struct jp_podlist_parser *ps, char c)
{
	enum num_state n = ps->num;
	if (c >= '0' && c <= '9') {
		if (n == N_SIGN)
			ps->num = c == '0' ? N_ZERO : N_INT;
		else if (n == N_ZERO)
			return syntax(ps, "leading zero in a number");
		else if (n == N_DOT)
			ps->num = N_FRAC;
		else if (n == N_E || n == N_ESIGN)
			ps->num = N_EXP;
	} else if (c == '.' && (n == N_ZERO || n == N_INT)) {
		ps->num = N_DOT;
	} else if ((c == 'e' || c == 'E') && (n == N_ZERO || n == N_INT || n == N_FRAC)) {
		ps->num = N_E;
	} else if ((c == '+' || c == '-') && n == N_E) {
		ps->num = N_ESIGN;
	} else {
		return 0;
	}
	if (ps->num_len < MAX_NUM)
		ps->numbuf[ps->num_len] = c;
	if (ps->num_len <= MAX_NUM)
		ps->num_len++;
	return 1;
}

static int step(struct jp_podlist_parser *ps, char c)
{
	for (;;) {
		int r;
		switch (ps->lex) {
		case L_VALUE:
			if (is_ws(c))
				return 0;
			ps->seen_value = 1;
			return begin_value(ps, c);
		case L_OBJ_FIRST:
		case L_OBJ_KEY:
			return is_ws(c) ? 0 : member_begins(ps, c);
		case L_COLON:
			if (is_ws(c))
				return 0;
			if (c != ':')
				return syntax(ps, "expected ':'");
			ps->lex = L_VALUE;
			return 0;
		case L_OBJ_NEXT:
			return is_ws(c) ? 0 : separator(ps, c, '}', L_OBJ_KEY);
		case L_ARR_FIRST:
			if (is_ws(c))
				return 0;
			return c == ']' ? pop_frame(ps) : begin_value(ps, c);
		case L_ARR_NEXT:
			return is_ws(c) ? 0 : separator(ps, c, ']', L_VALUE);
		case L_STR:
			return string_char(ps, c);
		case L_STR_ESC:
			return string_escape(ps, c);
		case L_STR_U:
			return string_unicode(ps, c);
		case L_NUM:
			r = number_char(ps, c);
			if (r)
				return r < 0 ? r : 0;
			/* The number ended at c: finish it, then look at c again. */
			if ((r = number_finish(ps)))
				return r;
			continue;
		case L_LIT:
			if (c != ps->lit[ps->lit_pos])
				return syntax(ps, "unexpected character");
			/* A literal's type was checked when it began; null fields are absent. */
			if (!ps->lit[++ps->lit_pos])
				after_value(ps);
			return 0;
		case L_END:
			if (is_ws(c))
				return 0;
			problem(&ps->p, NULL, "not JSON: trailing data at byte %zu", ps->fed);
			return fail(ps, EINVAL);
		}
		return syntax(ps, "internal state");
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
		int r = step(ps, buf[i]);
		if (r)
			return r < 0 ? r : -EINVAL;
	}
	return ps->lex == L_END;
}

static void duplicate_uid(void *arg, const char *uid)
{
	struct parse *p = arg;
	problem(p, &p->rep->skipped_pods, "pod uid %s: listed twice", uid);
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
		int r = number_finish(ps);
		if (r)
			return r;
	}
	if (ps->lex != L_END) {
		problem(&ps->p, NULL, "not JSON: unexpected end of input at byte %zu", ps->fed);
		return fail(ps, EINVAL);
	}
	if (ps->kind_bad) {
		problem(&ps->p, NULL, "not a PodList: kind is not \"PodList\"");
		return fail(ps, EINVAL);
	}
	if (ps->items_bad) {
		problem(&ps->p, NULL, "not a PodList: items is not an array");
		return fail(ps, EINVAL);
	}
	if (jpk_table_finish(ps->p.pl, duplicate_uid, &ps->p))
		return fail(ps, ENOMEM);
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

