/* SPDX-License-Identifier: Apache-2.0 */
/* The PodList stream parser's insides, shared by its two halves: kube/podlist.c (where a
 * value sits in the document, and what is kept of it) and kube/podlist_lex.c (the JSON
 * grammar one byte at a time). Not for use outside kube/podlist*.c. */
#ifndef JP_KUBE_PODLIST_INTERNAL_H
#define JP_KUBE_PODLIST_INTERNAL_H

#include <stddef.h>

#include "kube/podlist.h"

/* Longest string kept from the document. Kubernetes names are at most 253 bytes and UIDs
 * 36; anything far longer is hostile and is skipped rather than copied. */
#define MAX_STR 1024
/* Keys longer than this are none of ours ("ephemeralContainerStatuses" is 26). */
#define MAX_KEY 40
/* Longest number text kept (a CPU request given as a JSON number). */
#define MAX_NUM 64
/* A PodList needs about 8 levels; annotations may nest a little more. */
#define MAX_DEPTH 64

/* ---- where a value sits ---------------------------------------------------------------- */

enum role {
	R_SKIP, R_ROOT, R_KIND, R_ITEMS, R_POD, R_META, R_UID, R_NAME, R_NS, R_SPEC, R_CTRS,
	R_CTR, R_RES, R_REQ, R_CPU, R_STATUS, R_STATUSES, R_CSTATUS, R_CID, R_CNAME,
};

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

/* The first problem of the document, for the report; counter (may be NULL) counts it. */
void jp_pl_problem(struct parse *p, unsigned *counter, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Stop the parse with err; returns -err. */
int jp_pl_fail(struct jp_podlist_parser *ps, int err);
/* A grammar error at the current byte; returns -EINVAL. */
int jp_pl_syntax(struct jp_podlist_parser *ps, const char *what);

/* The document side (kube/podlist.c), called by the lexer. */
enum role jp_pl_key_role(enum role obj, const char *key, int *which);
int jp_pl_begin_value(struct jp_podlist_parser *ps, char c);
int jp_pl_pop_frame(struct jp_podlist_parser *ps);
void jp_pl_after_value(struct jp_podlist_parser *ps);
int jp_pl_string_done(struct jp_podlist_parser *ps, enum role r);
int jp_pl_number_done(struct jp_podlist_parser *ps);

/* The lexer (kube/podlist_lex.c): one byte c of the document; 0 or a negative errno. */
int jp_pl_step(struct jp_podlist_parser *ps, char c);
/* End the number being lexed (at the end of input, or at the byte after it). */
int jp_pl_number_finish(struct jp_podlist_parser *ps);

#endif
