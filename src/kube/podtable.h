/* SPDX-License-Identifier: Apache-2.0 */
/* The pod table the /pods parser builds (kube/podlist.h): pods and containers with their
 * strings in an arena, indexed by UID. Internal to kube/: the parser fills it, the public
 * lookups of kube/podlist.h read it. */
#ifndef JP_KUBE_PODTABLE_H
#define JP_KUBE_PODTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "kube/podlist.h"

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

/* A new, empty table; NULL when memory runs out. */
struct jp_podlist *jpk_table_create(void);
/* Append a pod (strings copied; the UID lower-cased) and then its containers. 0 or -ENOMEM. */
int jpk_table_add_pod(struct jp_podlist *pl, const char *uid, size_t ulen, const char *name, size_t nlen,
		      const char *ns, size_t nslen, double cpu_request);
int jpk_table_add_container(struct jp_podlist *pl, const char *id, size_t idlen, const char *name, size_t nlen);
/* Build the UID index, drop duplicate UIDs (the first wins; dup(arg, uid) is called for
 * each other) and point each pod at its containers now that the arrays no longer move.
 * 0 or -ENOMEM. */
int jpk_table_finish(struct jp_podlist *pl, void (*dup)(void *arg, const char *uid), void *arg);

#endif
