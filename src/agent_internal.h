/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's state and the helpers its files share (agent.c: start, rounds, stop;
 * agent_reload.c: SIGHUP). Not for use outside them. */
#ifndef JP_AGENT_INTERNAL_H
#define JP_AGENT_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "agent.h"
#include "carbon/forecaster.h"
#include "carbon/intensity.h"
#include "kube/kubelet.h"
#include "pipeline.h"
#include "remote/http.h"
#include "remote/sender.h"
#include "server.h"
#include "store/series.h"
#include "store/state.h"
#include "util/buf.h"
#include "util/log.h"

struct jp_agent {
	uv_loop_t *loop;
	struct jp_config *cfg;
	struct jp_store *store;
	struct jp_state *state;     /* state.dir: counters kept across restarts; NULL when off */
	char *state_dir;
	struct jp_ratelimit rl_state;
	struct jp_pipeline *pipe;   /* collector -> pod names -> accountant -> store */
	struct jp_http *http;
	struct jp_intensity *intensity;   /* the grid's carbon intensity (docs/carbon.md) */
	struct jp_forecaster *forecast;   /* carbon.forecast; NULL for source none */
	struct jp_kubelet *kubelet;       /* pod names, namespaces, requests; NULL without kubelet_url */
	struct jp_sender **senders;
	size_t nsenders;
	struct jp_server *server;
	struct jp_server_ops server_ops;  /* the server keeps a pointer to it */
	uv_timer_t tick;
	int tick_open;
	int ready;
	int stopping;
	int64_t last_round_ms;      /* wall time of the previous round, 0 before the first */
	uint64_t collections;
	uint64_t collection_errors;
	uint64_t state_save_errors;
	char user_agent[64];
	struct jp_agent_parts parts;   /* what was built, for tests of the reload classes */
	uint64_t summary_every_ms;     /* the info line that shows the agent is alive */
	uint64_t last_summary_ms;      /* monotonic */
	uid_t owner_uid;               /* `user`'s uid, which may own queue and state dirs; 0 without */
	int dropped;                   /* privileges were given up at start: what needs them cannot be reopened */
	int round_log_fd;              /* test seam JOULEPUSH_ROUND_LOG, -1 when off */
	struct jp_buf round_log;

	/* graceful stop */
	unsigned pending_closes;
	unsigned pending_flushes;
	void (*stop_done)(void *arg);
	void *stop_arg;
};

/* The common labels: node plus external_labels (docs/reference/metrics.md). Points into cfg. */
int jpa_common_labels(const struct jp_config *cfg, struct jp_label **out, size_t *n);
/* The kubelet client of cfg (NULL without kubelet_url), and its pod lookup in the pipeline. */
int jpa_setup_kubelet(struct jp_agent *a, const struct jp_config *cfg, struct jp_kubelet **out);
void jpa_attach_kubelet(struct jp_agent *a);
/* The forecaster of cfg, or NULL for source none. 0 or a negative errno, logged. */
int jpa_create_forecast(struct jp_agent *a, const struct jp_config *cfg, struct jp_forecaster **out);
/* The local server on listen ("" or NULL: none). 0 or a negative errno, logged. */
int jpa_start_server(struct jp_agent *a, const char *listen);
/* The next round's timer, at the next interval boundary. */
void jpa_schedule_tick(struct jp_agent *a);

#endif
