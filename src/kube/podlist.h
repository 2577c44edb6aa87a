/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet's /pods PodList parsed into an immutable table of pod metadata, indexed by pod UID. */
#ifndef JP_KUBE_PODLIST_H
#define JP_KUBE_PODLIST_H

#include <stddef.h>
#include <stdint.h>

struct jp_podlist;

/* One container of a pod, from status.{,init,ephemeral}containerStatuses[]. */
struct jp_kube_container {
	const char *id;      /* the runtime's id without the "containerd://" style prefix */
	const char *name;
};

/* One pod. Every string is owned by the table. */
struct jp_kube_pod {
	const char *uid, *ns, *name;
	double cpu_request;              /* cores: sum of spec.containers[].resources.requests.cpu */
	const struct jp_kube_container *containers;
	size_t n_containers;
};

/* What was wrong with a document that still parsed. The table holds every pod that could
 * be read; the caller logs `first` once per refresh. */
struct jp_podlist_report {
	unsigned skipped_pods;           /* items without a usable uid, name or namespace, duplicates */
	unsigned skipped_fields;         /* wrong types or invalid values in fields that are optional */
	char first[160];                 /* the first problem, e.g. "items[3].metadata.uid: not a string" */
};

/* Parse a PodList (application/json) from buf[0..len). The document must be one JSON object
 * (kind "PodList" when kind is present) whose items are an array; "items" missing or null is
 * an empty list. Returns a new table (free with jp_podlist_destroy), or NULL with errno set:
 * EINVAL for a document that is not such a PodList (rep->first says why), ENOMEM.
 * rep may be NULL. Never reads past buf + len; buf need not be NUL-terminated. */
struct jp_podlist *jp_podlist_parse(const char *buf, size_t len, struct jp_podlist_report *rep);

/* The same, in pieces, so that a large document never holds the event loop for long:
 * feed the body in slices (returns 0 while the document is incomplete, 1 once it is
 * complete, -EINVAL when it is malformed; bytes after a complete document must be
 * whitespace), then call work() with a budget of pods until it returns 1 (done) or a
 * negative errno, then take the table with finish(). finish() returns NULL with errno
 * set when the document was not a PodList (the report says why). Every pointer the
 * parser returns is the caller's; destroy accepts NULL and any state. */
struct jp_podlist_parser;
struct jp_podlist_parser *jp_podlist_parser_create(void);
int jp_podlist_parser_feed(struct jp_podlist_parser *ps, const char *buf, size_t len);
int jp_podlist_parser_work(struct jp_podlist_parser *ps, size_t budget);
struct jp_podlist *jp_podlist_parser_finish(struct jp_podlist_parser *ps, struct jp_podlist_report *rep);
void jp_podlist_parser_destroy(struct jp_podlist_parser *ps);

/* Accepts NULL. */
void jp_podlist_destroy(struct jp_podlist *pl);

size_t jp_podlist_count(const struct jp_podlist *pl);

/* The i-th pod (i < jp_podlist_count), in list order; owned by the table. */
const struct jp_kube_pod *jp_podlist_at(const struct jp_podlist *pl, size_t i);

/* The pod with this UID (compared without regard to case), or NULL. O(1) on average.
 * The result is owned by the table and lives as long as it does. Accepts pl == NULL. */
const struct jp_kube_pod *jp_podlist_find(const struct jp_podlist *pl, const char *uid);

/* The name of the pod's container with this id ("<id>" or "<runtime>://<id>", hex case
 * ignored), or NULL. Linear in the pod's containers, which are few. */
const char *jp_kube_pod_container_name(const struct jp_kube_pod *pod, const char *container_id);

/* Parse a Kubernetes CPU quantity ("250m", "1", "0.5", "1500m", "2k", "1e3m", "100u") into
 * cores. Returns 0, or -EINVAL for anything that is not a non-negative finite quantity. */
int jp_kube_parse_cpu(const char *s, size_t len, double *cores);

#endif
