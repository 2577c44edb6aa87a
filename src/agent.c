/* SPDX-License-Identifier: Apache-2.0 */
/* The pipeline on one libuv loop: collection timer, series store, remote senders,
 * local server, config reload and graceful shutdown. */
#include "agent_internal.h"
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "carbon/forecast_web.h"
#include "carbon/forecaster.h"
#include "carbon/intensity.h"
#include "collect/collector.h"
#include "collect/synthetic.h"
#include "kube/kubelet.h"
#include "pipeline.h"
#include "remote/http.h"
#include "remote/sender.h"
#include "server.h"
#include "store/expo.h"
#include "store/series.h"
#include "util/buf.h"
#include "util/log.h"
#include "store/state.h"
#include "util/privdrop.h"

#ifndef JP_VERSION
#define JP_VERSION "0.0.0"
#endif

#define MOD "agent"
/* Each series keeps its latest sample, which is all that /metrics and --once show: a
 * longer ring would only add memory, and a cache line to every jp_store_set. */
#define RING_LEN 1



/* ---- store <-> senders --------------------------------------------------------- */

/* Test seam JOULEPUSH_ROUND_LOG=FILE: every round handed to the senders is appended to
 * FILE as "# round TS" and its samples in the text format with their timestamp, so an
 * end-to-end test compares a receiver with what the agent really produced instead of
 * guessing the rounds from its own clock (tests/e2e/e2e.py verify). Stale markers are
 * written as "NaN". Errors only switch the log off: it is no part of the product. */
static void write_round_log(struct jp_agent *a, int64_t ts_ms, const struct jp_round_sample *v, size_t n)
{
	struct jp_buf *b = &a->round_log;
	b->len = 0;
	int r = jp_buf_printf(b, "# round %" PRId64 "\n", ts_ms);
	for (size_t i = 0; !r && i < n; i++)
		r = jp_expo_write_sample(b, v[i].series, v[i].value, ts_ms);
	if (!r && jp_write_all(a->round_log_fd, b->data, b->len) == 0)
		return;
	jp_log(JP_LOG_WARN, MOD, "JOULEPUSH_ROUND_LOG: cannot write; the round log stops");
	close(a->round_log_fd);
	a->round_log_fd = -1;
}

static int emit_round_cb(int64_t ts_ms, const struct jp_round_sample *v, size_t n, void *arg)
{
	struct jp_agent *a = arg;
	for (size_t i = 0; i < a->nsenders; i++)
		jp_sender_append(a->senders[i], ts_ms, v, n);  /* failures are counted by the sender */
	if (a->round_log_fd >= 0)
		write_round_log(a, ts_ms, v, n);
	return 0;
}

static void set_gauge(struct jp_agent *a, const char *name, const struct jp_label *l, size_t n, double v)
{
	struct jp_series *s = jp_store_get(a->store, name, l, n);
	if (s)
		jp_store_set(a->store, s, v);
}

/* The agent's own series (docs/reference/metrics.md build_info and joulepush_remote_*). They are looked
 * up every round: a few dozen hash lookups cost nothing next to a collection. */
static void set_self_metrics(struct jp_agent *a)
{
	/* The collector's name may change (eBPF falls back to cgroupfs: collect/node.c). */
	const struct jp_collector *c = jp_pipeline_collector(a->pipe);
	struct jp_label bi[] = {
		{"version", JP_VERSION},
		{"collector", c->name},
		{"power_source", c->power_source},
	};
	set_gauge(a, jp_metric_name(JP_M_BUILD_INFO), bi, 3, 1);

	for (size_t i = 0; i < a->nsenders; i++) {
		struct jp_sender_stats st;
		jp_sender_get_stats(a->senders[i], &st);
		const char *rn = jp_sender_name(a->senders[i]);
		struct jp_label l[2] = {{"remote", rn}, {"outcome", "sent"}};
		set_gauge(a, jp_metric_name(JP_M_REMOTE_SAMPLES_TOTAL), l, 2, (double)st.samples_sent);
		l[1].value = "retried";
		set_gauge(a, jp_metric_name(JP_M_REMOTE_SAMPLES_TOTAL), l, 2, (double)st.samples_retried);
		struct jp_label ld[3] = {{"remote", rn}, {"outcome", "dropped"}, {"reason", NULL}};
		for (int k = 0; k < JP_DROP_NREASONS; k++) {
			ld[2].value = jp_drop_reason_name((enum jp_drop_reason)k);
			set_gauge(a, jp_metric_name(JP_M_REMOTE_SAMPLES_TOTAL), ld, 3, (double)st.dropped_by_reason[k]);
		}
		set_gauge(a, jp_metric_name(JP_M_REMOTE_SENT_BYTES_TOTAL), l, 1, (double)st.bytes_sent);
		set_gauge(a, jp_metric_name(JP_M_REMOTE_PENDING_SAMPLES), l, 1, (double)st.pending_samples);
		set_gauge(a, jp_metric_name(JP_M_REMOTE_QUEUE_BYTES), l, 1, (double)st.queue_bytes);
		if (st.relabelling)
			set_gauge(a, jp_metric_name(JP_M_RELABEL_LIMIT_HITS_TOTAL), l, 1, (double)st.relabel_limit_hits);
		if (st.last_success_ms > 0)
			set_gauge(a, jp_metric_name(JP_M_REMOTE_LAST_SUCCESS_TIMESTAMP_SECONDS), l, 1,
				  (double)st.last_success_ms / 1000.0);
	}
	/* Refused readings, per zone, from the first one on (docs/reference/metrics.md). */
	const struct jp_interval *iv = jp_pipeline_interval(a->pipe);
	for (int z = 0; z < JP_ZONE_COUNT; z++)
		if (iv->implausible[z]) {
			struct jp_label zl = {"zone", jp_zone_name((enum jp_zone)z)};
			set_gauge(a, jp_metric_name(JP_M_NODE_IMPLAUSIBLE_READINGS_TOTAL), &zl, 1, (double)iv->implausible[z]);
		}
	if (strcmp(c->name, "ebpf") == 0)
		set_gauge(a, jp_metric_name(JP_M_BPF_MAP_FULL_TOTAL), NULL, 0, (double)jp_pipeline_interval(a->pipe)->bpf_map_full);
	set_gauge(a, jp_metric_name(JP_M_COLLECTIONS_TOTAL), NULL, 0, (double)a->collections);
	set_gauge(a, jp_metric_name(JP_M_COLLECTION_ERRORS_TOTAL), NULL, 0, (double)a->collection_errors);
	set_gauge(a, jp_metric_name(JP_M_STORE_SERIES), NULL, 0, (double)jp_store_live_series(a->store));
	if (a->state)
		set_gauge(a, jp_metric_name(JP_M_STATE_SAVE_ERRORS_TOTAL), NULL, 0, (double)a->state_save_errors);
}

/* Once a minute at info level: what the agent pushed and holds, the node's power, the pods
 * and the intensity, so that a quiet agent is visibly alive (log.level warn silences it). */
static void log_summary(struct jp_agent *a, int64_t ts_ms)
{
	uint64_t now = jp_now_mono_ms();
	if (!a->last_summary_ms) {
		a->last_summary_ms = now;
		return;
	}
	if (now - a->last_summary_ms < a->summary_every_ms)
		return;
	a->last_summary_ms = now;
	char remotes[256] = "";
	size_t used = 0;
	for (size_t i = 0; i < a->nsenders && used < sizeof(remotes); i++) {
		struct jp_sender_stats st;
		jp_sender_get_stats(a->senders[i], &st);
		uint64_t dropped = 0;
		for (int k = 0; k < JP_DROP_NREASONS; k++)
			dropped += st.dropped_by_reason[k];
		used += (size_t)snprintf(remotes + used, sizeof(remotes) - used, "%s%s sent %llu pending %llu dropped %llu",
					 i ? ", " : "", jp_sender_name(a->senders[i]),
					 (unsigned long long)st.samples_sent, (unsigned long long)st.pending_samples,
					 (unsigned long long)dropped);
	}
	const struct jp_interval *iv = jp_pipeline_interval(a->pipe);
	double w = iv->seconds > 0 ? jp_total_energy_j(iv->energy_j, iv->zone_mask) / iv->seconds : 0;
	const char *src = "static";
	double g = jp_intensity_current(a->intensity, ts_ms, &src, NULL);
	jp_log(JP_LOG_INFO, MOD, "summary: node %.1f W (%s), %zu pods, grid %.0f g/kWh (%s), %zu series; %s",
	       w, iv->power_source ? iv->power_source : "?", jp_pipeline_pods(a->pipe), g, src,
	       jp_store_live_series(a->store), a->nsenders ? remotes : "no remote");
}

/* One collection round at the aligned wall time ts_ms. */
static int collect_round(struct jp_agent *a, int64_t ts_ms, int push)
{
	uint64_t elapsed = a->last_round_ms ? (uint64_t)(ts_ms - a->last_round_ms) : a->cfg->interval_ms;
	a->last_round_ms = ts_ms;
	jp_store_begin(a->store, ts_ms);
	/* docs/model.md step 6: the intensity in force during this interval. */
	const char *gsrc;
	double g = jp_intensity_current(a->intensity, ts_ms, &gsrc, NULL);
	jp_pipeline_set_grid(a->pipe, jp_intensity_carbon_free(a->intensity, ts_ms), gsrc);
	int r = jp_pipeline_round(a->pipe, a->store, elapsed, g);
	/* docs/reference/configuration.md: an unknown pod UID asks the kubelet at once (rate-limited there). */
	if (a->kubelet && jp_pipeline_saw_unknown_pod(a->pipe))
		jp_kubelet_request_refresh(a->kubelet);
	if (r) {
		a->collection_errors++;
		jp_log(JP_LOG_WARN, MOD, "collection failed: %s", strerror(-r));
	} else {
		a->collections++;
		a->ready = 1;
	}
	jp_intensity_set_series(a->intensity, a->store);
	jp_forecaster_set_series(a->forecast, a->store, ts_ms);
	set_self_metrics(a);
	/* The counters are saved before the round goes to the queues: a crash in between
	 * loses one sample in the receiver but never makes a counter go down there. */
	if (push && a->state) {
		int sr = jp_state_save(a->state, a->store, ts_ms);
		if (sr) {
			a->state_save_errors++;
			jp_log_rl(&a->rl_state, JP_LOG_ERROR, MOD,
				  "state.dir %s: cannot save the counters (%llu rounds so far): %s",
				  a->state_dir, (unsigned long long)a->state_save_errors, strerror(-sr));
		}
	}
	int cr = jp_store_commit(a->store, push ? emit_round_cb : NULL, a);
	if (push)
		log_summary(a, ts_ms);
	return cr;
}

/* Rounds happen at multiples of the interval in wall-clock time, like Prometheus'
 * aligned scrapes, so every node's samples line up and a missing interval is visible. */
static int64_t next_boundary(uint64_t interval_ms, int64_t now_ms)
{
	return (now_ms / (int64_t)interval_ms + 1) * (int64_t)interval_ms;
}

static void tick_cb(uv_timer_t *t)
{
	struct jp_agent *a = t->data;
	if (a->stopping)
		return;
	/* The timer was set for a boundary and may fire a little early or late: the round
	 * belongs to the nearest boundary. */
	int64_t now = jp_now_wall_ms();
	int64_t iv = (int64_t)a->cfg->interval_ms;
	int64_t ts = (now + iv / 2) / iv * iv;
	/* Never emit the same timestamp twice. */
	if (ts <= a->last_round_ms)
		ts = a->last_round_ms + (int64_t)a->cfg->interval_ms;
	collect_round(a, ts, 1);
	jpa_schedule_tick(a);
}

void jpa_schedule_tick(struct jp_agent *a)
{
	/* libuv counts timeouts from its cached loop time, which is stale by whatever
	 * ran since the loop last woke (start-up work, a long collection). */
	uv_update_time(a->loop);
	int64_t now = jp_now_wall_ms();
	int64_t next = next_boundary(a->cfg->interval_ms, a->last_round_ms > now ? a->last_round_ms : now);
	uv_timer_start(&a->tick, tick_cb, (uint64_t)(next - now), 0);
}

/* ---- /metrics and readiness ---------------------------------------------------- */

static int metrics_cb(struct jp_buf *out, void *arg)
{
	struct jp_agent *a = arg;
	return jp_expo_write_store(out, a->store, 0);
}

/* The forecast routes of the local server (docs/carbon.md "Forecasts"). */
static int route_cb(const char *path, const char *query, struct jp_buf *out, const char **ctype, void *arg)
{
	struct jp_agent *a = arg;
	return jp_forecast_web_route(a->forecast, jp_now_wall_ms(), path, query, out, ctype);
}

static int ready_cb(void *arg)
{
	struct jp_agent *a = arg;
	return a->ready;
}

/* ---- construction ----------------------------------------------------------------- */

/* The common labels: node plus external_labels (docs/reference/metrics.md). Points into cfg. */
int jpa_common_labels(const struct jp_config *cfg, struct jp_label **out, size_t *n)
{
	struct jp_label *l = calloc(cfg->external_labels.n + 1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	size_t k = 0;
	l[k++] = (struct jp_label){"node", cfg->node_name};
	for (size_t i = 0; i < cfg->external_labels.n; i++)
		l[k++] = (struct jp_label){cfg->external_labels.v[i].key, cfg->external_labels.v[i].value};
	*out = l;
	*n = k;
	return 0;
}

/* Open the collector cfg asks for, with an accountant of its own. NULL with errno set,
 * having logged why. */
static struct jp_pipeline *create_pipeline(const struct jp_config *cfg)
{
	struct jp_pipeline *p = jp_pipeline_open(cfg);   /* the collector logs why it failed */
	if (!p)
		return NULL;
	size_t nseries = jp_synthetic_series_count(jp_pipeline_collector(p));
	if (nseries)
		jp_log(JP_LOG_INFO, MOD, "synthetic collector: %zu series per round", nseries);
	return p;
}

static int setup_senders(struct jp_agent *a)
{
	struct jp_config *cfg = a->cfg;
	if (cfg->nremotes == 0)
		return 0;
	for (size_t i = 0; i < cfg->nremotes; i++)
		cfg->remotes[i].queue_owner_uid = a->owner_uid;
	a->senders = calloc(cfg->nremotes, sizeof(*a->senders));
	if (!a->senders)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nremotes; i++) {
		a->senders[i] = jp_sender_create(a->loop, a->http, &cfg->remotes[i], a->user_agent);
		if (!a->senders[i])
			return errno ? -errno : -EIO;
		a->parts.sender_creates++;
		a->nsenders++;
		jp_log(JP_LOG_INFO, MOD, "remote %s: %s (protocol %s)", cfg->remotes[i].name,
		       cfg->remotes[i].url, cfg->remotes[i].protocol == JP_RW_V2 ? "2.0" : "1.0");
	}
	return 0;
}

/* The kubelet client, when kubernetes.kubelet_url is set and real pods are measured. */
int jpa_setup_kubelet(struct jp_agent *a, const struct jp_config *cfg, struct jp_kubelet **out)
{
	*out = NULL;
	if (!cfg->kubelet_url || !*cfg->kubelet_url)
		return 0;
	*out = jp_kubelet_create(a->loop, a->http, cfg);   /* logs why it failed */
	if (!*out)
		return -errno;
	a->parts.kubelet_opens++;
	jp_kubelet_set_limits(*out, cfg->interval_ms, 0, 0);
	return 0;
}

void jpa_attach_kubelet(struct jp_agent *a)
{
	jp_pipeline_set_lookup(a->pipe, a->kubelet ? jp_kubelet_lookup : NULL, a->kubelet);
}

/* The forecast source of carbon.forecast, or NULL for none. Returns 0 or a negative errno. */
int jpa_create_forecast(struct jp_agent *a, const struct jp_config *cfg, struct jp_forecaster **out)
{
	*out = NULL;
	if (cfg->forecast_source == JP_CARBON_NONE)
		return 0;
	*out = jp_forecaster_create(a->loop, a->http, cfg);
	if (!*out) {
		int e = errno;
		jp_log(JP_LOG_ERROR, MOD, "carbon.forecast: %s", strerror(e));
		return -e;
	}
	return 0;
}

struct jp_agent *jp_agent_create(uv_loop_t *loop, struct jp_config *cfg)
{
	struct jp_agent *a = calloc(1, sizeof(*a));
	struct jp_label *common = NULL;
	size_t ncommon = 0;
	int r;
	if (!a) {
		errno = ENOMEM;
		return NULL;
	}
	a->loop = loop;
	a->cfg = cfg;
	a->round_log_fd = -1;
	/* Test seam: JOULEPUSH_SUMMARY_MS shortens the minute between summary lines. */
	const char *se = getenv("JOULEPUSH_SUMMARY_MS");
	a->summary_every_ms = se && atoll(se) > 0 ? (uint64_t)atoll(se) : 60000;
	snprintf(a->user_agent, sizeof(a->user_agent), "joulepush/%s", JP_VERSION);
	r = jpa_common_labels(cfg, &common, &ncommon);
	if (r)
		goto fail;
	a->store = jp_store_create(common, ncommon, RING_LEN);
	free(common);
	if (!a->store) {
		r = -errno;
		goto fail;
	}
	a->pipe = create_pipeline(cfg);
	if (!a->pipe) {
		r = -errno;
		goto fail;
	}
	a->parts.collector_opens++;
	a->http = jp_http_create(loop);
	if (!a->http) {
		r = -errno;
		goto fail;
	}
	a->intensity = jp_intensity_create(loop, a->http, cfg);
	if (!a->intensity) {
		r = -errno;
		jp_log(JP_LOG_ERROR, MOD, "carbon: %s", strerror(errno));
		goto fail;
	}
	r = jpa_create_forecast(a, cfg, &a->forecast);
	if (r)
		goto fail;
	r = jpa_setup_kubelet(a, cfg, &a->kubelet);
	if (r)
		goto fail;
	jpa_attach_kubelet(a);
	return a;
fail:
	jp_agent_destroy(a);
	errno = -r;
	return NULL;
}

/* README.md: everything that needs root (BPF, RAPL counters, the listening socket) is
 * open by now; the queue directories are handed to the user so it can keep writing. */
/* The secret files the agent reads again after the drop (docs/reference/configuration.md
 * `user`): each must be readable by the user, or the first rotation would cut the agent
 * off. Refuse to start, naming the file, rather than find out then. */
static int check_secrets_readable(struct jp_agent *a)
{
	const struct jp_config *cfg = a->cfg;
	const char *paths[cfg->nremotes * 5 + 4];
	size_t n = 0;
	for (size_t i = 0; i < cfg->nremotes; i++) {
		const struct jp_remote_config *rc = &cfg->remotes[i];
		const char *f[] = {rc->basic_auth_password_file, rc->bearer_token_file, rc->tls_ca_file,
				   rc->tls_cert_file, rc->tls_key_file};
		for (size_t k = 0; k < 5; k++)
			if (f[k] && *f[k])
				paths[n++] = f[k];
	}
	if (cfg->kubelet_url && *cfg->kubelet_url) {
		if (cfg->kube_token_file && *cfg->kube_token_file)
			paths[n++] = cfg->kube_token_file;
		if (cfg->kube_ca_file && *cfg->kube_ca_file)
			paths[n++] = cfg->kube_ca_file;
	}
	if (cfg->entsoe_token_file && *cfg->entsoe_token_file)
		paths[n++] = cfg->entsoe_token_file;
	if (cfg->emaps_token_file && *cfg->emaps_token_file)
		paths[n++] = cfg->emaps_token_file;
	gid_t gid;
	uid_t uid;
	int r = jp_privdrop_lookup(cfg->user, &uid, &gid);
	char why[512] = "";
	if (!r)
		r = jp_privdrop_check_readable(uid, gid, paths, n, why, sizeof(why));
	if (r) {
		jp_log(JP_LOG_ERROR, MOD, "user %s: %s", cfg->user, why[0] ? why : strerror(-r));
		return r;
	}
	/* The config is read again on SIGHUP, as the user: say now if that will fail. */
	if (cfg->path && jp_privdrop_check_readable(uid, gid, (const char *const *)&cfg->path, 1, why, sizeof(why)))
		jp_log(JP_LOG_WARN, MOD, "user %s: %s; reloads (SIGHUP) will fail", cfg->user, why);
	return 0;
}

static int drop_privileges(struct jp_agent *a)
{
	const struct jp_config *cfg = a->cfg;
	if (!cfg->user || !*cfg->user) {
		/* Not root, but started with capabilities (CAP_BPF, CAP_PERFMON for the probe):
		 * they are not needed once it is loaded. Root without `user:` stays root. */
		if (geteuid() != 0) {
			char why[128] = "";
			int r = jp_privdrop_caps(why, sizeof(why));
			if (r)
				jp_log(JP_LOG_WARN, MOD, "%s: %s", why, strerror(-r));
			else
				a->dropped = 1;
		}
		return 0;
	}
	int r = check_secrets_readable(a);
	if (r)
		return r;
	char *dirs[cfg->nremotes + 1];
	const char *owned[cfg->nremotes + 1];
	size_t n = 0;
	for (size_t i = 0; i < cfg->nremotes; i++) {
		if (asprintf(&dirs[n], "%s/%s", cfg->remotes[i].queue_dir, cfg->remotes[i].name) < 0)
			return -ENOMEM;
		owned[n] = dirs[n];
		n++;
	}
	size_t nq = n;
	if (a->state_dir)
		owned[n++] = a->state_dir;
	char why[256] = "";
	r = jp_privdrop(cfg->user, owned, n, why, sizeof(why));
	for (size_t i = 0; i < nq; i++)
		free(dirs[i]);
	if (r) {
		jp_log(JP_LOG_ERROR, MOD, "user %s: %s: %s", cfg->user, why, strerror(-r));
		return r;
	}
	a->dropped = 1;
	jp_log(JP_LOG_INFO, MOD, "running as user %s", cfg->user);
	return 0;
}

/* The local server on listen ("" or NULL: none). Returns 0 or a negative errno, logged. */
int jpa_start_server(struct jp_agent *a, const char *listen)
{
	if (!listen || !*listen)
		return 0;
	a->server_ops = (struct jp_server_ops){.metrics = metrics_cb, .ready = ready_cb, .route = route_cb, .arg = a};
	char why[128];
	a->server = jp_server_create(a->loop, listen, &a->server_ops, why, sizeof(why));
	if (!a->server) {
		int r = -errno;
		jp_log(JP_LOG_ERROR, MOD, "server.listen %s: %s", listen, why);
		return r;
	}
	a->parts.server_starts++;
	jp_log(JP_LOG_INFO, MOD, "serving /metrics, /healthz, /readyz on %s", listen);
	return 0;
}

/* state.dir (docs/reference/configuration.md): where the counters are kept, or NULL. */
static char *state_dir_of(const struct jp_config *cfg)
{
	const char *d = cfg->state_dir ? cfg->state_dir : "auto";
	if (!strcmp(d, "none"))
		return NULL;
	if (strcmp(d, "auto"))
		return strdup(d);
	if (!cfg->nremotes)
		return NULL;
	/* Next to the first remote's queue: /var/lib/joulepush/queue -> /var/lib/joulepush/state. */
	const char *q = cfg->remotes[0].queue_dir;
	size_t n = strlen(q);
	while (n > 1 && q[n - 1] == '/')
		n--;
	const char *slash = memrchr(q, '/', n);
	char *out = NULL;
	if (!slash)
		return strdup("state");
	if (asprintf(&out, "%.*s/state", (int)(slash == q ? 0 : slash - q), q) < 0)
		return NULL;
	return out;
}

/* Open state.dir and let the store resume the counters it holds. A directory that cannot
 * be used is logged and the agent goes on without (counters start at 0, as before); one
 * that is not safe to write (a link on the way, someone else's, writable by others:
 * util/safedir.h) stops the start, as the queue's does. Returns 0 or a negative errno. */
static int open_state(struct jp_agent *a)
{
	a->state_dir = state_dir_of(a->cfg);
	if (!a->state_dir)
		return 0;
	char why[256], ignored[256];
	a->state = jp_state_open(a->state_dir, a->owner_uid, why, sizeof(why), ignored, sizeof(ignored));
	if (!a->state) {
		int e = errno;
		free(a->state_dir);
		a->state_dir = NULL;
		if (e == ELOOP || e == EPERM || e == ENOTDIR || e == EINVAL) {
			jp_log(JP_LOG_ERROR, MOD, "state.dir: %s", why);
			return -e;
		}
		jp_log(JP_LOG_WARN, MOD, "state.dir: %s; counters start at 0 and are not kept", why);
		return 0;
	}
	if (ignored[0])
		jp_log(JP_LOG_WARN, MOD, "state.dir: ignoring %s; counters start at 0", ignored);
	else if (jp_state_loaded(a->state))
		jp_log(JP_LOG_INFO, MOD, "state.dir %s: %zu counters go on from where they were", a->state_dir,
		       jp_state_loaded(a->state));
	struct jp_store_resume res = jp_state_resume(a->state);
	jp_store_set_resume(a->store, &res);
	return 0;
}

int jp_agent_start(struct jp_agent *a)
{
	int r;
	gid_t gid;
	if (a->cfg->user && *a->cfg->user && (r = jp_privdrop_lookup(a->cfg->user, &a->owner_uid, &gid))) {
		jp_log(JP_LOG_ERROR, MOD, "user %s: %s", a->cfg->user, r == -ENOENT ? "no such user" : strerror(-r));
		return r;
	}
	r = setup_senders(a);
	if (r)
		return r;
	if ((r = open_state(a)))
		return r;
	const char *rl = getenv("JOULEPUSH_ROUND_LOG");
	if (rl && *rl) {
		a->round_log_fd = open(rl, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		char line[64];
		int n = snprintf(line, sizeof(line), "# start %ld\n", (long)getpid());
		if (a->round_log_fd < 0 || jp_write_all(a->round_log_fd, line, (size_t)n))
			jp_log(JP_LOG_WARN, MOD, "JOULEPUSH_ROUND_LOG %s: %s", rl, strerror(errno));
	}
	r = jpa_start_server(a, a->cfg->server_listen);
	if (r)
		return r;
	r = drop_privileges(a);
	if (r)
		return r;
	uv_timer_init(a->loop, &a->tick);
	a->tick.data = a;
	a->tick_open = 1;
	/* The first round primes the counters; samples go out from it on. */
	jpa_schedule_tick(a);
	jp_log(JP_LOG_INFO, MOD, "joulepush %s started: node %s, interval %llums, collector %s, %zu remote(s)",
	       JP_VERSION, a->cfg->node_name, (unsigned long long)a->cfg->interval_ms,
	       jp_pipeline_collector(a->pipe)->name,
	       a->nsenders);
	return 0;
}

/* ---- --once --------------------------------------------------------------------- */

/* The second round is stamped one nominal interval after the first, whenever the timer
 * really fires: a synthetic node then advances by exactly collector interval, so a fixed
 * seed prints the same values every time (tests/e2e/test_once_golden.sh). Real sources
 * measure their own interval and are not affected. */
static void once_tick_cb(uv_timer_t *t)
{
	struct jp_agent *a = t->data;
	collect_round(a, a->last_round_ms + (int64_t)a->cfg->interval_ms, 0);
}

static void close_noop_cb(uv_handle_t *h)
{
	(void)h;
}

/* Run the loop until the second round is done: the intensity source keeps its own
 * timer running, so the loop never runs dry by itself. */
static void run_until_two_rounds(struct jp_agent *a)
{
	while (a->collections + a->collection_errors < 2 && uv_run(a->loop, UV_RUN_ONCE))
		;
}

int jp_agent_run_once(struct jp_agent *a, FILE *out)
{
	uv_timer_t t;
	uv_timer_init(a->loop, &t);
	t.data = a;
	collect_round(a, jp_now_wall_ms(), 0);
	uv_timer_start(&t, once_tick_cb, a->cfg->interval_ms, 0);
	run_until_two_rounds(a);
	uv_close((uv_handle_t *)&t, close_noop_cb);
	jp_kubelet_close(a->kubelet, NULL, NULL);
	a->kubelet = NULL;
	jp_intensity_close(a->intensity, NULL, NULL);
	a->intensity = NULL;
	jp_forecaster_close(a->forecast, NULL, NULL);
	a->forecast = NULL;
	jp_http_close(a->http, NULL, NULL);
	a->http = NULL;
	uv_run(a->loop, UV_RUN_DEFAULT);

	struct jp_buf b = {0};
	int r = jp_expo_write_store(&b, a->store, 0);
	if (r == 0 && b.len && fwrite(b.data, 1, b.len, out) != b.len)
		r = -EIO;
	if (r == 0 && fflush(out) != 0)
		r = -errno;
	jp_buf_free(&b);
	return r;
}

void jp_agent_get_parts(const struct jp_agent *a, struct jp_agent_parts *out)
{
	*out = a->parts;
	out->cfg = a->cfg;
	out->store = a->store;
	out->nsenders = a->nsenders;
	out->senders = a->senders;
	out->collector = jp_pipeline_collector(a->pipe);
}

int jp_agent_collect_now(struct jp_agent *a, int64_t ts_ms)
{
	return collect_round(a, ts_ms, 1);
}

/* ---- graceful stop ------------------------------------------------------------------ */

static void stop_step_done(struct jp_agent *a)
{
	if (--a->pending_closes == 0 && a->stop_done)
		a->stop_done(a->stop_arg);
}

static void part_closed_cb(void *arg)
{
	stop_step_done(arg);
}

static void tick_closed_cb(uv_handle_t *h)
{
	stop_step_done(h->data);
}

static void close_everything(struct jp_agent *a)
{
	/* One count for each part, plus one held while the parts are handed out. */
	a->pending_closes = 1;
	for (size_t i = 0; i < a->nsenders; i++) {
		if (!a->senders[i])
			continue;
		a->pending_closes++;
		jp_sender_close(a->senders[i], part_closed_cb, a);
		a->senders[i] = NULL;
	}
	a->nsenders = 0;
	if (a->server) {
		a->pending_closes++;
		jp_server_close(a->server, part_closed_cb, a);
		a->server = NULL;
	}
	if (a->kubelet) {
		a->pending_closes++;
		jp_kubelet_close(a->kubelet, part_closed_cb, a);
		a->kubelet = NULL;
	}
	if (a->intensity) {
		a->pending_closes++;
		jp_intensity_close(a->intensity, part_closed_cb, a);
		a->intensity = NULL;
	}
	if (a->forecast) {
		a->pending_closes++;
		jp_forecaster_close(a->forecast, part_closed_cb, a);
		a->forecast = NULL;
	}
	if (a->http) {
		a->pending_closes++;
		jp_http_close(a->http, part_closed_cb, a);
		a->http = NULL;
	}
	if (a->tick_open) {
		a->pending_closes++;
		a->tick_open = 0;
		uv_close((uv_handle_t *)&a->tick, tick_closed_cb);
	}
	stop_step_done(a);
}

static void flush_done_cb(void *arg)
{
	struct jp_agent *a = arg;
	if (--a->pending_flushes == 0)
		close_everything(a);
}

void jp_agent_stop(struct jp_agent *a, uint64_t flush_ms, void (*done)(void *arg), void *arg)
{
	if (a->stopping)
		return;
	a->stopping = 1;
	a->stop_done = done;
	a->stop_arg = arg;
	if (a->tick_open)
		uv_timer_stop(&a->tick);
	if (a->nsenders == 0) {
		close_everything(a);
		return;
	}
	jp_log(JP_LOG_INFO, MOD, "stopping: flushing queued samples for up to %llu ms",
	       (unsigned long long)flush_ms);
	uint64_t deadline = jp_now_mono_ms() + flush_ms;
	a->pending_flushes = (unsigned)a->nsenders + 1;
	for (size_t i = 0; i < a->nsenders; i++)
		jp_sender_flush(a->senders[i], deadline, flush_done_cb, a);
	flush_done_cb(a);
}

void jp_agent_destroy(struct jp_agent *a)
{
	if (!a)
		return;
	/* Left open only when start-up failed half way; their handles close on the next
	 * run of the loop. */
	jp_kubelet_close(a->kubelet, NULL, NULL);
	jp_intensity_close(a->intensity, NULL, NULL);
	jp_forecaster_close(a->forecast, NULL, NULL);
	jp_http_close(a->http, NULL, NULL);
	jp_pipeline_destroy(a->pipe);
	if (a->store)
		jp_store_set_resume(a->store, NULL);
	jp_state_close(a->state);
	free(a->state_dir);
	jp_store_destroy(a->store);
	if (a->round_log_fd >= 0)
		close(a->round_log_fd);
	jp_buf_free(&a->round_log);
	free(a->senders);
	if (a->cfg) {
		jp_config_free(a->cfg);
		free(a->cfg);
	}
	free(a);
}
