/* SPDX-License-Identifier: Apache-2.0 */
/* The pipeline on one libuv loop: collection timer, series store, remote senders,
 * local server, config reload and graceful shutdown. */
#ifndef JP_AGENT_H
#define JP_AGENT_H

#include <uv.h>

#include "config.h"
#include "store/series.h"

struct jp_collector;

struct jp_agent;

/* Create the agent on loop from cfg (which it takes over: the caller must not free it).
 * Returns NULL with errno set, having logged why. */
struct jp_agent *jp_agent_create(uv_loop_t *loop, struct jp_config *cfg);

/* Start collecting and pushing. Returns 0 or a negative errno. */
int jp_agent_start(struct jp_agent *a);

/* Collect twice, one interval apart, and write every series in the text exposition
 * format to out (the --once mode); nothing is pushed. Runs the loop itself. */
int jp_agent_run_once(struct jp_agent *a, FILE *out);

/* Replace the config; on error the old one stays and the reason is logged. */
int jp_agent_reload(struct jp_agent *a, const char *path);

/* What the agent has built so far and holds now; for tests of the reload classes
 * (tests/check_reload.c). Pointers are borrowed until the next reload or round. */
struct jp_sender;

struct jp_agent_parts {
	unsigned collector_opens, kubelet_opens, carbon_opens, server_starts, sender_creates;
	const struct jp_config *cfg;
	struct jp_store *store;
	const struct jp_collector *collector;
	struct jp_sender *const *senders;   /* the remotes' senders, nsenders of them */
	size_t nsenders;
};
void jp_agent_get_parts(const struct jp_agent *a, struct jp_agent_parts *out);

/* Run one collection round now, stamped ts_ms, and hand it to the senders (tests). */
int jp_agent_collect_now(struct jp_agent *a, int64_t ts_ms);

/* Graceful stop (SIGTERM): stop collecting, flush what can be sent within
 * flush_ms, keep the rest on disk, close every handle; done(arg) runs when the
 * loop has nothing left of the agent's. */
void jp_agent_stop(struct jp_agent *a, uint64_t flush_ms, void (*done)(void *arg), void *arg);

/* Free what stop left (call after the loop ran dry; after a failed start-up, run the
 * loop once more afterwards so that the handles still open get closed). Accepts NULL. */
void jp_agent_destroy(struct jp_agent *a);

#endif
