/* SPDX-License-Identifier: Apache-2.0 */
/* The pipeline on one libuv loop: collection timer, series store, remote senders,
 * local server, config reload and graceful shutdown. */
#ifndef JP_AGENT_H
#define JP_AGENT_H

#include <uv.h>

#include "config.h"

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

/* Graceful stop (SIGTERM): stop collecting, flush what can be sent within
 * flush_ms, keep the rest on disk, close every handle; done(arg) runs when the
 * loop has nothing left of the agent's. */
void jp_agent_stop(struct jp_agent *a, uint64_t flush_ms, void (*done)(void *arg), void *arg);

/* Free what stop left (call after the loop ran dry; after a failed start-up, run the
 * loop once more afterwards so that the handles still open get closed). Accepts NULL. */
void jp_agent_destroy(struct jp_agent *a);

#endif
