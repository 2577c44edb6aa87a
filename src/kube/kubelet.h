/* SPDX-License-Identifier: Apache-2.0 */
/* The kubelet /pods client and the pod metadata cache that the node collector looks pods up in. */
#ifndef JP_KUBE_KUBELET_H
#define JP_KUBE_KUBELET_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "podmeta.h"
#include "config.h"
#include "remote/http.h"

struct jp_kubelet;

/* Bodies above this are refused (the last good metadata stays). */
#define JP_KUBELET_DEFAULT_MAX_BODY_BYTES (32u << 20)
#define JP_KUBELET_DEFAULT_TIMEOUT_MS 30000u

/* Start a client for cfg->kubelet_url (must be non-empty) on loop, using http for the
 * transfers (http must outlive the client: close the kubelet client first). The token
 * file (cfg->kube_token_file, empty: no Authorization header) is read now and again
 * before every refresh, because projected service-account tokens rotate; an unreadable
 * token file at create is an error, later the previous token is kept. The first
 * GET <kubelet_url>/pods starts at once, then every cfg->kube_refresh_ms. TLS uses
 * cfg->kube_ca_file and cfg->kube_insecure_skip_verify. cfg is not kept.
 * Returns NULL with errno set, having logged why. Free with jp_kubelet_close. */
struct jp_kubelet *jp_kubelet_create(uv_loop_t *loop, struct jp_http *http, const struct jp_config *cfg);

/* Tune the client (0 keeps a value): min_gap_ms is the least time between a refresh and an
 * extra one asked for with jp_kubelet_request_refresh (default cfg->interval_ms);
 * timeout_ms bounds each request (default JP_KUBELET_DEFAULT_TIMEOUT_MS); max_body_bytes
 * caps the response (default JP_KUBELET_DEFAULT_MAX_BODY_BYTES). */
void jp_kubelet_set_limits(struct jp_kubelet *k, uint64_t min_gap_ms, uint64_t timeout_ms, size_t max_body_bytes);

/* Ask for a refresh now, e.g. because an unknown pod UID appeared (docs/reference/configuration.md "refresh").
 * Never more than one request is in flight, and extra refreshes come at most once per
 * min_gap_ms: a call inside the gap schedules one refresh at its end. Returns 0 when a
 * refresh started or is scheduled, -EBUSY when one is already in flight or pending. */
int jp_kubelet_request_refresh(struct jp_kubelet *k);

/* A jp_pod_lookup_cb; arg is the struct jp_kubelet *. Returns 0 and fills *out for a
 * known pod UID, -ENOENT otherwise (also before the first successful refresh). The strings
 * in *out, and those the container_name callback returns, are owned by the cache and stay
 * valid until the next refresh completes, which can only happen from the loop: use them
 * within the current callback and copy what must live longer. */
int jp_kubelet_lookup(const char *uid, struct jp_pod_meta *out, void *arg);

struct jp_kubelet_stats {
	uint64_t refreshes_ok;       /* responses parsed and installed */
	uint64_t refreshes_failed;   /* transport errors, timeouts, non-200, refused or unparsable bodies */
	uint64_t extra_refreshes;    /* started by jp_kubelet_request_refresh */
	size_t pods;                 /* pods in the cache */
	int in_flight;               /* a request or the parse of its answer is under way */
	double last_parse_ms;        /* CPU time spent parsing the last 200 body */
	double last_parse_max_step_ms;   /* the longest the parse held the loop at once */
	uint64_t last_parse_pieces;      /* how many pieces the last 200 body came in */
	size_t last_parse_max_piece_bytes;
	int64_t last_success_wall_ms;   /* 0 before the first success */
};
void jp_kubelet_get_stats(const struct jp_kubelet *k, struct jp_kubelet_stats *out);

/* Stop the timers, abort a running request or parse and free the client; closed(arg) runs from
 * the loop once its handles are closed (NULL k: closed runs at once). */
void jp_kubelet_close(struct jp_kubelet *k, void (*closed)(void *arg), void *arg);

#endif
