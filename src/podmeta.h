/* SPDX-License-Identifier: Apache-2.0 */
/* What is known of a pod besides its UID: the shape of the lookup the agent uses to name
 * pods. The kubelet client implements it for real nodes, the synthetic node for its own
 * pods; the agent's assembly (src/pipeline.c) calls it. A neutral header, so that
 * neither kube/ nor collect/ includes the other. */
#ifndef JP_PODMETA_H
#define JP_PODMETA_H

/* Strings are borrowed until the next call into their owner. */
struct jp_pod_meta {
	const char *ns, *name;
	double cpu_request;        /* cores, 0 when none */
	/* The container's name for a container id, or NULL when unknown. */
	const char *(*container_name)(const void *ctx, const char *container_id);
	const void *ctx;
};

/* Returns 0 and fills *out when the pod UID is known, -ENOENT otherwise. */
typedef int (*jp_pod_lookup_cb)(const char *uid, struct jp_pod_meta *out, void *arg);

#endif
