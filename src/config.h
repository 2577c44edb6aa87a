/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration of docs/reference/configuration.md: defaults, YAML loading with FILE:LINE errors, validation. */
#ifndef JP_CONFIG_H
#define JP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/kv.h"

/* A string-to-string map in file order (external_labels, headers, carbon factors). */

enum jp_collector_mode { JP_COLLECTOR_AUTO, JP_COLLECTOR_EBPF, JP_COLLECTOR_CGROUPFS, JP_COLLECTOR_SYNTHETIC };
enum jp_power_source { JP_POWER_AUTO, JP_POWER_RAPL, JP_POWER_MODEL };
enum jp_model_shape { JP_SHAPE_LINEAR, JP_SHAPE_CURVE };
enum jp_platform_source { JP_PLATFORM_AUTO, JP_PLATFORM_HWMON, JP_PLATFORM_NONE };
enum jp_gpu_source { JP_GPU_AUTO, JP_GPU_NVML, JP_GPU_NONE };
enum jp_idle_attr { JP_IDLE_NONE, JP_IDLE_EVEN, JP_IDLE_USAGE, JP_IDLE_REQUESTS };
/* A grid source (docs/carbon.md "Sources"), for carbon.source and carbon.forecast.source alike;
 * each has one row in carbon/provider.h. */
enum jp_carbon_source {
	JP_CARBON_NONE, JP_CARBON_STATIC, JP_CARBON_ENTSOE, JP_CARBON_ELECTRICITYMAPS, JP_CARBON_UKCI, JP_CARBON_FILE,
	JP_CARBON_WATTTIME, JP_CARBON_NSOURCES
};
enum jp_rw_protocol { JP_RW_V1, JP_RW_V2 };

/* A list of durations (carbon.forecast.windows). */
#define JP_DURLIST_MAX 8
struct jp_durlist {
	uint64_t ms[JP_DURLIST_MAX];
	unsigned n;
};

/* Metric levels, a bit set. */
#define JP_LEVEL_NODE 0x1u
#define JP_LEVEL_POD 0x2u
#define JP_LEVEL_NAMESPACE 0x4u
#define JP_LEVEL_CONTAINER 0x8u

/* remote_write[].write_relabel_configs (docs/reference/remote-write.md "Relabelling"). */
enum jp_relabel_action {
	JP_RELABEL_REPLACE,
	JP_RELABEL_KEEP,
	JP_RELABEL_DROP,
	JP_RELABEL_LABELDROP,
	JP_RELABEL_LABELKEEP,
};

/* "replace", "keep", ... ; and back (-1 for an unknown name). */
const char *jp_relabel_action_name(int action);
int jp_relabel_action_parse(const char *s);

/* Whether s is a valid label name: [a-zA-Z_][a-zA-Z0-9_]*. */
int jp_label_name_valid(const char *s);

/* Whether a header name is one the sender sets itself (or a hop-by-hop one): refused in
 * remote_write[].headers and tenant.header. */
int jp_header_reserved(const char *name);

/* Whether s can be a tenant id: 1 to 150 printable characters, no spaces. */
int jp_tenant_valid(const char *s);

struct jp_relabel_config {
	char **source_labels;
	size_t nsource;
	char *separator;          /* default ";" */
	char *regex;              /* default "(.*)", anchored at both ends */
	char *target_label;
	char *replacement;        /* default "$1" */
	int action;               /* enum jp_relabel_action */
};

struct jp_relabel_list {
	struct jp_relabel_config *v;
	size_t n;
};

/* The longest header name remote_write[].headers and tenant.header take. */
#define JP_HEADER_NAME_MAX 100

struct jp_remote_config {
	char *name;
	char *url;
	enum jp_rw_protocol protocol;
	uint64_t timeout_ms;
	struct jp_kvlist headers;
	char *basic_auth_username;
	char *basic_auth_password_file;
	char *bearer_token_file;
	char *tls_ca_file, *tls_cert_file, *tls_key_file;
	int tls_insecure_skip_verify;
	char *queue_dir;          /* the parent; this remote uses <queue_dir>/<name> */
	uid_t queue_owner_uid;    /* not a key: the uid of `user`, which may own the queue
	                           * directory (set by the agent; 0 = root alone) */
	uint64_t queue_max_disk_bytes;
	uint32_t max_samples_per_send;
	uint64_t batch_send_deadline_ms;
	uint64_t min_backoff_ms;
	uint64_t max_backoff_ms;
	uint64_t max_sample_age_ms;  /* 0: off; older samples are dropped before sending */
	struct jp_relabel_list relabel;  /* write_relabel_configs, applied before the queue */
	/* tenant: one tenant per request, from a label (docs/reference/remote-write.md "Tenants") */
	char *tenant_header;       /* "" off; X-Scope-OrgID, THANOS-TENANT, ... */
	char *tenant_label;        /* the label whose value picks the tenant */
	struct jp_kvlist tenant_map;  /* label value -> tenant */
	char *tenant_default;      /* series without the label */
};

struct jp_config {
	char *path;               /* the file it came from, or NULL for built-in defaults */
	char *node_name;
	char *user;
	uint64_t interval_ms;
	struct jp_kvlist external_labels;

	char *host_sysfs, *host_procfs, *host_cgroupfs;   /* cgroupfs "auto" or a path */

	enum jp_collector_mode collector_mode;
	uint32_t bpf_map_entries;       /* 0: max(16384, 4 x the cgroups at start) */
	uint32_t synthetic_pods, synthetic_containers_per_pod, synthetic_gpus;
	uint64_t synthetic_seed;

	enum jp_power_source power_source;
	double model_idle_watts_per_cpu, model_max_watts_per_cpu;
	enum jp_model_shape model_shape;
	struct jp_kvlist model_curve;   /* load percent -> fraction of tdp_watts_per_cpu; empty: the default */
	double model_tdp_watts_per_cpu;
	double model_memory_watts_per_gib;
	enum jp_platform_source platform_source;
	char *platform_hwmon_name;      /* the hwmon `name` of the machine's meter */
	double platform_max_watts;      /* a reading implying more is refused */
	enum jp_gpu_source gpu_source;
	char *gpu_nvml_library;
	enum jp_idle_attr idle_attribution;
	double pue;

	char *kubelet_url, *kube_token_file, *kube_ca_file;
	int kube_token_file_explicit;   /* set in the file: a missing file is an error */
	char *kube_cgroup_root;         /* where the kubelet's cgroups start; "" = the root */
	uint64_t kube_max_response_bytes;  /* a larger /pods answer is refused */
	int kube_insecure_skip_verify;
	uint64_t kube_refresh_ms;

	enum jp_carbon_source carbon_source;
	double carbon_grams_per_kwh;
	double carbon_free_ratio;        /* static and fallback carbon-free share; < 0: not known */
	uint64_t carbon_max_age_ms, carbon_refresh_ms;
	char *entsoe_url, *entsoe_token_file, *entsoe_area;
	char *emaps_url, *emaps_token_file, *emaps_zone;
	char *wt_url, *wt_username_file, *wt_password_file, *wt_region, *wt_signal_type;   /* carbon.watttime */
	char *ukci_url, *ukci_region;
	char *carbon_file_path;
	int carbon_factors_direct;          /* 0 lifecycle, 1 direct */
	struct jp_kvlist carbon_factor_overrides;   /* PsrType -> g/kWh, as text */
	double embodied_grams_per_node_hour;
	enum jp_carbon_source forecast_source;
	int forecast_surplus;            /* carbon.forecast.surplus (ENTSO-E) */
	uint64_t forecast_refresh_ms, forecast_horizon_ms;
	struct jp_durlist forecast_windows;     /* job lengths for the greenest window */

	unsigned metrics_levels;            /* JP_LEVEL_* bits */
	int metrics_compat_kepler;

	struct jp_remote_config *remotes;
	size_t nremotes;

	char *server_listen;                /* "" disables */
	char *state_dir;                    /* counters kept across restarts: "auto", "none" or a path */
	char *log_level;                    /* debug | info | warn | error */
	int log_json;
};

/* Size of the error text buffer callers pass in. */
#define JP_CONFIG_ERR_MAX 512

/* Fill *cfg with the built-in defaults of docs/reference/configuration.md (node_name from $NODE_NAME or the
 * host name; one remote only if $JOULEPUSH_REMOTE_WRITE_URL is set). Returns 0 or a
 * negative errno. Free with jp_config_free(). */
int jp_config_defaults(struct jp_config *cfg);

/* Load and validate a YAML file over the defaults. On error returns a negative errno
 * and writes "FILE:LINE: key: reason" into err (the key as a dotted path, e.g.
 * remote_write[0].queue.max_disk_bytes). On success *cfg owns all its strings. */
int jp_config_load(struct jp_config *cfg, const char *path, char *err, size_t errlen);

/* Same as jp_config_load, but from a buffer; `name` stands for FILE in errors. */
int jp_config_load_buffer(struct jp_config *cfg, const char *name, const char *text, size_t len,
			  char *err, size_t errlen);

/* Release everything *cfg owns and zero it. Accepts a zeroed config. */
void jp_config_free(struct jp_config *cfg);

/* What a SIGHUP that changes a key does (docs/reference/configuration.md "reload"); each
 * key has exactly one class. */
#define JP_RELOAD_LIVE 0x01u       /* applied from the next round */
#define JP_RELOAD_COLLECTOR 0x02u  /* the collector is reopened; the accountant and its counters stay */
#define JP_RELOAD_KUBELET 0x04u    /* the pod-list client is restarted */
#define JP_RELOAD_CARBON 0x08u     /* the grid-intensity source is reopened */
#define JP_RELOAD_REMOTE 0x10u     /* that remote's sender is rebuilt on the same queue */
#define JP_RELOAD_SERVER 0x20u     /* the local server is restarted */
#define JP_RELOAD_RESTART 0x40u    /* needs a new process; a reload warns and keeps the old value */

/* "live", "collector", ... for one JP_RELOAD_* bit; "?" otherwise. */
const char *jp_reload_class_name(unsigned cls);

/* Call cb(path, reload class, arg) for every key a config file may set, as a dotted path
 * (remote keys as "remote_write[].<key>"), in table order; stops at the first nonzero
 * return of cb and returns it. */
int jp_config_foreach_key(int (*cb)(const char *path, unsigned reload, void *arg), void *arg);

/* The OR of the reload classes of every key whose value differs between a and b; cb (may
 * be NULL) gets each such key's dotted path and class. Remotes are matched by name: one
 * added, removed or changed counts as JP_RELOAD_REMOTE under "remote_write[<name>]". */
unsigned jp_config_diff(const struct jp_config *a, const struct jp_config *b,
			void (*cb)(const char *path, unsigned reload, void *arg), void *arg);

/* Whether two remotes have the same settings (every key of remote_write[]). */
int jp_config_remote_equal(const struct jp_remote_config *a, const struct jp_remote_config *b);

#endif
