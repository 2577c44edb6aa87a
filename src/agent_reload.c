/* SPDX-License-Identifier: Apache-2.0 */
/* Reloading the config on SIGHUP (docs/reference/configuration.md "reload classes"). */
#include "agent_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/collector.h"

#define MOD "agent"

static void closed_noop_cb(void *arg)
{
	(void)arg;
}

struct reload_log {
	char changed[400];
	size_t used;
	char coll[256];     /* the changed keys of class collector */
	size_t coll_used;
};

/* Collect the changed keys for the log line, and warn about those that need a restart. */
static void changed_key_cb(const char *path, unsigned cls, void *arg)
{
	struct reload_log *rl = arg;
	if (cls == JP_RELOAD_RESTART)
		jp_log(JP_LOG_WARN, MOD, "reload: %s changes only at the next start", path);
	if (cls == JP_RELOAD_COLLECTOR && rl->coll_used < sizeof(rl->coll))
		rl->coll_used += (size_t)snprintf(rl->coll + rl->coll_used, sizeof(rl->coll) - rl->coll_used, "%s%s",
						  rl->coll_used ? ", " : "", path);
	if (rl->used < sizeof(rl->changed))
		rl->used += (size_t)snprintf(rl->changed + rl->used, sizeof(rl->changed) - rl->used, "%s%s (%s)",
					     rl->used ? ", " : "", path, jp_reload_class_name(cls));
}

/* Keys of class "restart" keep their running value: the new config takes it over. */
static int keep_str(char **dst, const char *old)
{
	if (strcmp(*dst ? *dst : "", old ? old : "") == 0)
		return 0;
	char *v = strdup(old ? old : "");
	if (!v)
		return -ENOMEM;
	free(*dst);
	*dst = v;
	return 0;
}

static int keep_restart_keys(struct jp_config *nc, const struct jp_config *old)
{
	int r = keep_str(&nc->user, old->user);
	return r ? r : keep_str(&nc->state_dir, old->state_dir);
}

/* Senders: keep the ones whose config is identical, recreate the others. Their queues
 * live on disk, so a recreated sender resumes where the old one stopped. */
static int reload_senders(struct jp_agent *a, const struct jp_config *old, const struct jp_config *nc)
{
	struct jp_sender **ns = calloc(nc->nremotes ? nc->nremotes : 1, sizeof(*ns));
	size_t nn = 0;
	int *kept = calloc(a->nsenders ? a->nsenders : 1, sizeof(*kept));
	if (!ns || !kept) {
		free(ns);
		free(kept);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nc->nremotes; i++) {
		struct jp_sender *s = NULL;
		for (size_t j = 0; j < old->nremotes && j < a->nsenders; j++) {
			if (!kept[j] && jp_config_remote_equal(&old->remotes[j], &nc->remotes[i])) {
				s = a->senders[j];
				kept[j] = 1;
				break;
			}
		}
		if (!s) {
			/* The old sender for the same name must release its queue directory first. */
			for (size_t j = 0; j < a->nsenders; j++) {
				if (!kept[j] && a->senders[j] && !strcmp(old->remotes[j].name, nc->remotes[i].name)) {
					jp_sender_close(a->senders[j], closed_noop_cb, NULL);
					a->senders[j] = NULL;
					kept[j] = 1;
				}
			}
			s = jp_sender_create(a->loop, a->http, &nc->remotes[i], a->user_agent);
			if (!s)
				continue;  /* logged by the sender; this remote stays off until the next reload */
			a->parts.sender_creates++;
		}
		ns[nn++] = s;
	}
	for (size_t j = 0; j < a->nsenders; j++)
		if (!kept[j] && a->senders[j])
			jp_sender_close(a->senders[j], closed_noop_cb, NULL);
	free(kept);
	free(a->senders);
	a->senders = ns;
	a->nsenders = nn;
	return 0;
}

/*
 * A reload does what the reload class of each changed key says
 * (docs/reference/configuration.md; the classes live in the schema tables of
 * src/config/tables.c). Everything that can fail is built before anything is replaced, so
 * a rejected reload leaves the agent as it was.
 */
/* Live keys: applied at every reload, they are cheap and idempotent. New common labels
 * (node_name, external_labels) make new series; the old ones get stale markers at the
 * next commit. */
static void apply_live_keys(struct jp_agent *a, const struct jp_config *nc)
{
	struct jp_label *common = NULL;
	size_t ncommon = 0;
	if (jpa_common_labels(nc, &common, &ncommon) == 0) {
		jp_store_set_common(a->store, common, ncommon);
		free(common);
	}
	jp_pipeline_reconfigure(a->pipe, nc);
	if (a->kubelet)
		jp_kubelet_set_limits(a->kubelet, nc->interval_ms, 0, 0);
	enum jp_log_level lvl;
	if (jp_log_level_parse(nc->log_level, &lvl) == 0)
		jp_log_configure(lvl, nc->log_json);
}

/* The collector for nc, for the collector keys changed (`keys`, for the log). After the
 * privilege drop, what needed root cannot come back: a collector reopened as the user that
 * lost a source would be a silent downgrade, so that is refused too. 0 with *out, or a
 * negative errno, logged. */
static int reopen_collector(struct jp_agent *a, const struct jp_config *nc, const char *keys, struct jp_collector **out)
{
	struct jp_collector *c = jp_collector_open(nc);   /* logs why it failed */
	if (!c) {
		jp_log(JP_LOG_ERROR, MOD, "reload rejected, keeping the running config: the collector could not be "
		       "reopened for %s%s", keys,
		       a->dropped ? " (it runs without privileges now: restart the agent to apply it)" : "");
		return -EINVAL;
	}
	unsigned lost = jp_pipeline_collector(a->pipe)->sources & ~c->sources;
	if (a->dropped && lost) {
		char what[128];
		int several = strchr(keys, ',') != NULL;
		jp_collector_sources_str(lost, what, sizeof(what));
		jp_log(JP_LOG_ERROR, MOD, "reload rejected, keeping the running config: %s change%s the collector, "
		       "and reopened without privileges it would lose %s; restart the agent to apply %s",
		       keys, several ? "" : "s", what, several ? "them" : "it");
		jp_collector_close(c);
		return -EPERM;
	}
	*out = c;
	return 0;
}

int jp_agent_reload(struct jp_agent *a, const char *path)
{
	char err[JP_CONFIG_ERR_MAX];
	int r;
	/* A stop is under way: replacing senders now would close the ones being flushed
	 * and the stop would wait for ever. */
	if (a->stopping) {
		jp_log(JP_LOG_WARN, MOD, "reload ignored: the agent is stopping");
		return -ECANCELED;
	}
	struct jp_config *nc = calloc(1, sizeof(*nc));
	if (!nc)
		return -ENOMEM;
	r = jp_config_load(nc, path, err, sizeof(err));
	if (r) {
		jp_log(JP_LOG_ERROR, MOD, "reload rejected, keeping the running config: %s", err);
		goto reject;
	}
	struct jp_config *old = a->cfg;
	struct reload_log rl = {.used = 0, .coll_used = 0};
	unsigned cls = jp_config_diff(old, nc, changed_key_cb, &rl);
	r = keep_restart_keys(nc, old);
	if (r)
		goto reject;

	/* Build what is new. The collector is reopened when what defines it changed; the
	 * accountant stays, so counters continue. */
	struct jp_collector *ncoll = NULL;
	if ((cls & JP_RELOAD_COLLECTOR) && (r = reopen_collector(a, nc, rl.coll, &ncoll)))
		goto reject;
	/* A changed carbon source starts afresh (its first refresh comes at once). */
	struct jp_intensity *nint = a->intensity;
	struct jp_forecaster *nfc = a->forecast;
	if (cls & JP_RELOAD_CARBON) {
		nint = jp_intensity_create(a->loop, a->http, nc);
		if (!nint || jpa_create_forecast(a, nc, &nfc)) {
			jp_log(JP_LOG_ERROR, MOD, "reload rejected, keeping the running config: carbon: %s",
			       strerror(errno));
			jp_intensity_close(nint, NULL, NULL);
			jp_collector_close(ncoll);
			r = -EINVAL;
			goto reject;
		}
	}

	/* Replace. */
	if (cls & JP_RELOAD_REMOTE) {
		r = reload_senders(a, old, nc);
		if (r) {
			if (nint != a->intensity) {
				jp_intensity_close(nint, NULL, NULL);
				jp_forecaster_close(nfc, NULL, NULL);
			}
			jp_collector_close(ncoll);
			goto reject;
		}
	}
	if (ncoll) {
		jp_pipeline_set_collector(a->pipe, ncoll);
		a->parts.collector_opens++;
	}
	if (nint != a->intensity) {
		jp_intensity_close(a->intensity, NULL, NULL);
		a->intensity = nint;
		jp_forecaster_close(a->forecast, NULL, NULL);
		a->forecast = nfc;
		a->parts.carbon_opens++;
	}
	if (cls & JP_RELOAD_KUBELET) {
		/* The pipeline holds no kubelet strings across rounds, so the old client can
		 * go. A failing new client leaves pods unnamed. */
		jp_kubelet_close(a->kubelet, NULL, NULL);
		a->kubelet = NULL;
		jpa_setup_kubelet(a, nc, &a->kubelet);
		jpa_attach_kubelet(a);
	}
	if (cls & JP_RELOAD_SERVER) {
		jp_server_close(a->server, closed_noop_cb, NULL);
		a->server = NULL;
		jpa_start_server(a, nc->server_listen);   /* a failure is logged; the agent goes on */
	}

	apply_live_keys(a, nc);
	int interval_changed = old->interval_ms != nc->interval_ms;
	a->cfg = nc;
	jp_config_free(old);
	free(old);
	if (interval_changed && a->tick_open) {
		uv_timer_stop(&a->tick);
		jpa_schedule_tick(a);
	}
	jp_log(JP_LOG_INFO, MOD, "config reloaded from %s: %s", path, rl.used ? rl.changed : "no change");
	return 0;
reject:
	jp_config_free(nc);
	free(nc);
	return r;
}

