/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the configuration loader (not for other modules): three files, one concern each.
 *
 *   tree.c    YAML text -> a small tree of nodes with line numbers, bounded against hostile
 *             input; value helpers (env expansion, numbers, URLs, error text).
 *   schema.c  the engine: a mapping is a table of struct field; it parses and validates
 *             values into a struct at the field's offset, and derives the defaults, the
 *             free, the key list and the reload diff from the same tables.
 *   tables.c  the tables of docs/reference/configuration.md, the custom parsers, and the
 *             public API of config.h.
 */
#ifndef JP_CONFIG_INTERNAL_H
#define JP_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Hostile-input bounds (docs/reference/configuration.md). A real config is a few KiB with a handful of levels. */
#define MAX_FILE_BYTES (1024 * 1024)
#define MAX_DEPTH 32
#define MAX_NODES 65536
#define MAX_MAP_ENTRIES 128   /* external_labels, headers: also keeps duplicate checks cheap */
#define MAX_REMOTES 32
#define MAX_KEY_SHOWN 64      /* user-supplied keys are cut to this length in error paths */
#define PATH_MAX_LEN 256

/* ---- tree.c ---- */
enum node_kind { N_SCALAR, N_MAP, N_SEQ };

struct node {
	enum node_kind kind;
	int line;                 /* 1-based */
	int is_null;              /* a plain "", "~" or "null" scalar */
	char *str;                /* N_SCALAR: the bytes, NUL-terminated */
	size_t len;
	struct node **kids;       /* N_MAP: key, value, key, value ...; N_SEQ: items */
	size_t n, cap;
};

struct ctx {
	const char *name;         /* FILE in error messages */
	char *err;
	size_t errlen;
	size_t nodes;
	const char *const *remote_names;  /* names seen so far, for the duplicate check */
};

/* The node tree of text (len bytes); *root NULL for an empty document. */
int cfg_build_tree(struct ctx *c, const char *text, size_t len, struct node **root);
void cfg_node_free(struct node *n);

/* Write "FILE:LINE: key: reason" into the caller's buffer; returns -EINVAL. */
int cfg_fail(struct ctx *c, int line, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

const char *cfg_kind_name(const struct node *n);
void cfg_child_path(char *out, const char *parent, const char *key);
/* The scalar's value with ${VAR} expanded (malloc'd), or NULL having failed. */
char *cfg_scalar_value(struct ctx *c, const struct node *v, const char *path);
int cfg_parse_double(const char *s, double *out);
int cfg_parse_u64(const char *s, uint64_t *out);
void cfg_fmt_duration(char *out, size_t len, uint64_t ms);
int cfg_is_http_url(const char *s);
int cfg_url_has_userinfo(const char *s);
/* What an error may show of a value: never one that came from ${VAR}. */
const char *cfg_shown(const struct node *v, const char *expanded);
int cfg_is_listen_addr(const char *s);
int cfg_kv_push(struct jp_kvlist *l, char *key, char *value);
void cfg_kv_free(struct jp_kvlist *l);
const struct node *cfg_map_get(const struct node *map, const char *key);
int cfg_line_of(const struct node *map, const char *key);

/* ---- schema.c ---- */
enum field_kind {
	K_STR,      /* char * */
	K_STRENUM,  /* char *, one of names */
	K_ENUM,     /* int-sized enum or flag: the index into names */
	K_DUR,      /* uint64_t ms */
	K_SIZE,     /* uint64_t bytes */
	K_DOUBLE,   /* double */
	K_U32,      /* uint32_t */
	K_U64,      /* uint64_t */
	K_BOOL,     /* int */
	K_SECTION,  /* a nested mapping; `check` runs after it */
	K_CUSTOM,   /* `check` parses the value itself; `value` says what it stores at off */
	K_REFUSE,   /* a key we refuse with `hint` (inline secrets) */
	K_HIDDEN,   /* not a key of the file: state a custom parser keeps beside its value
	               (stored as `value` says); defaults, free and the reload diff see it */
};

/* What a K_CUSTOM or K_HIDDEN field stores at its offset, for the derived defaults, free
 * and reload diff. */
enum value_kind {
	V_NONE,     /* nothing (remote_write: the remotes have a table of their own) */
	V_STR,      /* char * */
	V_KVLIST,   /* struct jp_kvlist */
	V_UINT,     /* unsigned */
	V_INT,      /* int */
	V_DURLIST,  /* struct jp_durlist; dstr is its default, e.g. "1h,4h" */
	V_RELABEL,  /* struct jp_relabel_list (remote_write[].write_relabel_configs) */
};

#define F_NONEMPTY 0x1u
#define F_HTTP 0x2u       /* http:// or https:// */
#define F_HTTP_OPT 0x4u   /* empty, or http:// or https:// */
#define F_LISTEN 0x8u     /* empty, or HOST:PORT */
#define F_MIN 0x10u       /* min applies */
#define F_MAX 0x20u       /* max applies */

struct field;
typedef int (*check_fn)(struct ctx *c, const struct node *v, const char *path, void *base);

struct field {
	const char *key;
	enum field_kind kind;
	size_t off;
	unsigned flags;
	double min, max;
	const char *const *names;     /* K_ENUM, K_STRENUM: NULL-terminated */
	const int *values;            /* K_ENUM: the value of each name; NULL: its index */
	const struct field *sub;      /* K_SECTION */
	check_fn check;               /* K_SECTION: after the walk; K_CUSTOM: the parser */
	const char *hint;             /* appended to range errors; K_REFUSE: the reason */
	enum value_kind value;        /* K_CUSTOM, K_HIDDEN */
	unsigned reload;              /* JP_RELOAD_*: what a SIGHUP that changes it does */
	/* The default: dstr for strings (NULL: ""), dnum for every number, enum index, bool
	 * and V_UINT/V_INT value. */
	const char *dstr;
	double dnum;
};

int cfg_walk_map(struct ctx *c, const struct node *map, const char *path,
		 const struct field *fields, void *base);
/* "invalid value \"X\" (expected a, b or c)" */
int cfg_enum_fail(struct ctx *c, const struct node *v, const char *path, const char *val,
		  const char *const *names);
int cfg_set_field(struct ctx *c, const struct field *f, const struct node *v, const char *path,
		  void *base);

/* "1h,4h, 8h" into a list of durations. Returns 0 or -EINVAL (a bad duration, too many). */
int cfg_parse_durlist(const char *text, struct jp_durlist *out);
void cfg_relabel_free(struct jp_relabel_list *l);

/* Every field of the tables at its default (numbers, enums, strings; custom values
 * empty). Returns 0 or -ENOMEM (what was set is freed by cfg_schema_free). */
int cfg_schema_defaults(const struct field *fields, void *base);
/* Free what the fields own (strings, lists); K_CUSTOM V_NONE fields are the caller's. */
void cfg_schema_free(const struct field *fields, void *base);
/* Compare two structs field by field: the OR of the reload classes of the fields that
 * differ; cb (may be NULL) gets the dotted path of each (prefix before it). */
unsigned cfg_schema_diff(const struct field *fields, const char *prefix, const void *a, const void *b,
			 void (*cb)(const char *path, unsigned reload, void *arg), void *arg);
/* Call cb for every key a file may set (not K_REFUSE, not K_HIDDEN); a K_CUSTOM field
 * with a `sub` table (remote_write) is a list of such mappings: "<key>[].<sub key>". */
int cfg_schema_foreach(const struct field *fields, const char *prefix,
		       int (*cb)(const char *path, unsigned reload, void *arg), void *arg);

#endif
