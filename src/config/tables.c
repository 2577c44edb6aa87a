/* SPDX-License-Identifier: Apache-2.0 */
/* The tables of docs/reference/configuration.md, their custom parsers and cross-field
 * checks, and the public API of config.h (config/internal.h says how the loader is cut). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/internal.h"
#include "util/curve.h"
#include "util/regex.h"
#include "util/units.h"

/* --------------------------------------------------------------------------------------------
 * Custom fields and cross-field checks.
 */
static int is_label_name(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

/* RFC 9110 token characters, at most JP_HEADER_NAME_MAX of them (no receiver's header is
 * near that; a longer name is a mistake, not a header). */
static int is_header_name(const char *s)
{
	if (!*s || strlen(s) > JP_HEADER_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

/* Fills a string map (labels, headers) from a YAML mapping; `validate` checks one entry. */
static int parse_kvmap(struct ctx *c, const struct node *v, const char *path, struct jp_kvlist *out,
		       int (*validate)(struct ctx *, const struct node *k, const struct node *val,
				       const char *kpath, const char *value))
{
	char kpath[PATH_MAX_LEN];
	if (v->kind != N_MAP)
		return cfg_fail(c, v->line, path, "expected a mapping, got %s", cfg_kind_name(v));
	if (v->n / 2 > MAX_MAP_ENTRIES)
		return cfg_fail(c, v->line, path, "too many entries (at most %d)", MAX_MAP_ENTRIES);
	struct jp_kvlist l = {0};
	int r = 0;
	for (size_t i = 0; i + 1 < v->n && r == 0; i += 2) {
		const struct node *k = v->kids[i], *val = v->kids[i + 1];
		if (k->kind != N_SCALAR) {
			r = cfg_fail(c, k->line, path, "keys must be plain strings, got %s", cfg_kind_name(k));
			break;
		}
		cfg_child_path(kpath, path, k->str);
		if (strlen(k->str) != k->len) {
			r = cfg_fail(c, k->line, kpath, "NUL byte in key");
			break;
		}
		for (size_t j = 0; j < l.n; j++)
			if (!strcmp(l.v[j].key, k->str))
				r = cfg_fail(c, k->line, kpath, "duplicate key");
		if (r)
			break;
		char *value;
		if (val->kind == N_SCALAR && val->is_null) {
			value = strdup("");
			if (!value) {
				r = cfg_fail(c, val->line, kpath, "out of memory");
				break;
			}
		} else if (!(value = cfg_scalar_value(c, val, kpath))) {
			r = -EINVAL;
			break;
		}
		r = validate(c, k, val, kpath, value);
		char *key = r ? NULL : strdup(k->str);
		if (r == 0 && (!key || cfg_kv_push(&l, key, value))) {
			free(key);
			r = cfg_fail(c, k->line, kpath, "out of memory");
		}
		if (r)
			free(value);
	}
	if (r) {
		cfg_kv_free(&l);
		return r;
	}
	cfg_kv_free(out);
	*out = l;
	return 0;
}

static int check_label(struct ctx *c, const struct node *k, const struct node *val,
		       const char *kpath, const char *value)
{
	if (!is_label_name(k->str))
		return cfg_fail(c, k->line, kpath, "invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)");
	/* Every series already carries `node` (docs/reference/metrics.md); names with "__" are Prometheus-internal. */
	if (!strcmp(k->str, "node"))
		return cfg_fail(c, k->line, kpath, "reserved label name (node is set from node_name)");
	if (!strncmp(k->str, "__", 2))
		return cfg_fail(c, k->line, kpath, "reserved label name (names starting with __ are internal)");
	/* Remote write forbids empty label values (docs/reference/remote-write.md). */
	if (!*value)
		return cfg_fail(c, val->line, kpath, "label value must not be empty");
	return 0;
}

static int parse_labels(struct ctx *c, const struct node *v, const char *path, void *base)
{
	return parse_kvmap(c, v, path, &((struct jp_config *)base)->external_labels, check_label);
}

/* Headers the sender sets itself (docs/reference/remote-write.md) or that carry credentials, which come from files. */
/* Headers the sender owns (remote/target.c sets them), and hop-by-hop ones. */
static const char *const reserved_headers[] = {
	"Authorization", "Content-Encoding", "Content-Length", "Content-Type", "Host", "User-Agent",
	"X-Prometheus-Remote-Write-Version", "Connection", "Expect", "Transfer-Encoding", NULL,
};

int jp_header_reserved(const char *name)
{
	for (size_t i = 0; reserved_headers[i]; i++)
		if (!strcasecmp(name, reserved_headers[i]))
			return 1;
	return 0;
}

static int check_header(struct ctx *c, const struct node *k, const struct node *val,
			const char *kpath, const char *value)
{
	if (!is_header_name(k->str))
		return cfg_fail(c, k->line, kpath, "invalid header name (1 to 100 token characters)");
	if (jp_header_reserved(k->str))
			return cfg_fail(c, k->line, kpath, "reserved header (set by joulepush%s)",
				    strcasecmp(k->str, "Authorization") ? "" :
				    "; use basic_auth or bearer_token_file");
	/* A CR or LF would let a value inject further headers. */
	for (const char *p = value; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return cfg_fail(c, val->line, kpath, "control character in header value");
	return 0;
}

static int parse_headers(struct ctx *c, const struct node *v, const char *path, void *base)
{
	return parse_kvmap(c, v, path, &((struct jp_remote_config *)base)->headers, check_header);
}

/* carbon.factors: "lifecycle", "direct", or a map of ENTSO-E PsrTypes B01..B25 to g/kWh
 * overriding single entries of the lifecycle table (docs/carbon.md). */
static int check_factor(struct ctx *c, const struct node *k, const struct node *val,
			const char *kpath, const char *value)
{
	const char *s = k->str;
	int ok = s[0] == 'B' && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) && !s[3];
	int num = ok ? (s[1] - '0') * 10 + (s[2] - '0') : 0;
	if (!ok || num < 1 || num > 25)
		return cfg_fail(c, k->line, kpath, "unknown PsrType (expected B01 .. B25)");
	double d;
	if (cfg_parse_double(value, &d) || d < 0)
		return cfg_fail(c, val->line, kpath, "invalid factor \"%.64s\" (expected a number >= 0 g/kWh)",
			    cfg_shown(val, value));
	return 0;
}

/* kubernetes.token_file: remembers that the file named it. The default path is used
 * only if it exists (an agent outside a pod, or the kubelet's read-only port, has no
 * token); a token file named in the config must exist. */
static int parse_kube_token_file(struct ctx *c, const struct node *v, const char *path, void *base)
{
	struct jp_config *cfg = base;
	char *s = cfg_scalar_value(c, v, path);
	if (!s)
		return -EINVAL;
	free(cfg->kube_token_file);
	cfg->kube_token_file = s;
	cfg->kube_token_file_explicit = 1;
	return 0;
}

static int parse_factors(struct ctx *c, const struct node *v, const char *path, void *base)
{
	struct jp_config *cfg = base;
	if (v->kind == N_MAP) {
		int r = parse_kvmap(c, v, path, &cfg->carbon_factor_overrides, check_factor);
		if (r == 0)
			cfg->carbon_factors_direct = 0;
		return r;
	}
	if (v->kind != N_SCALAR)
		return cfg_fail(c, v->line, path, "expected lifecycle, direct or a mapping of PsrType to g/kWh");
	char *s = cfg_scalar_value(c, v, path);
	if (!s)
		return -EINVAL;
	int r = 0;
	if (!strcmp(s, "lifecycle") || !strcmp(s, "direct")) {
		cfg->carbon_factors_direct = !strcmp(s, "direct");
		cfg_kv_free(&cfg->carbon_factor_overrides);
	} else {
		r = cfg_fail(c, v->line, path,
			 "invalid value \"%.64s\" (expected lifecycle, direct or a mapping of PsrType to g/kWh)", cfg_shown(v, s));
	}
	free(s);
	return r;
}

/* carbon.forecast.windows: a list of 1 to 8 durations from 5 minutes to 7 days. */
static int parse_windows(struct ctx *c, const struct node *v, const char *path, void *base)
{
	struct jp_config *cfg = base;
	char ipath[PATH_MAX_LEN];
	if (v->kind != N_SEQ)
		return cfg_fail(c, v->line, path, "expected a list of durations, e.g. [1h, 4h, 8h]");
	if (v->n == 0 || v->n > JP_DURLIST_MAX)
		return cfg_fail(c, v->line, path, "expected 1 to %d durations", JP_DURLIST_MAX);
	struct jp_durlist l = {.n = 0};
	for (size_t i = 0; i < v->n; i++) {
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		char *t = cfg_scalar_value(c, v->kids[i], ipath);
		if (!t)
			return -EINVAL;
		uint64_t ms;
		int bad = jp_parse_duration_ms(t, &ms);
		int r = 0;
		if (bad)
			r = cfg_fail(c, v->kids[i]->line, ipath, "invalid duration \"%.64s\" (use e.g. 1h, 90m)",
				     cfg_shown(v->kids[i], t));
		else if (ms < 5 * 60000 || ms > 7 * 86400000ull)
			r = cfg_fail(c, v->kids[i]->line, ipath, "must be between 5m and 7d");
		free(t);
		if (r)
			return r;
		l.ms[l.n++] = ms;
	}
	cfg->forecast_windows = l;
	return 0;
}

static int parse_levels(struct ctx *c, const struct node *v, const char *path, void *base)
{
	static const char *const names[] = {"node", "pod", "namespace", "container", NULL};
	static const unsigned bits[] = {JP_LEVEL_NODE, JP_LEVEL_POD, JP_LEVEL_NAMESPACE, JP_LEVEL_CONTAINER};
	char ipath[PATH_MAX_LEN];
	unsigned levels = 0;
	if (v->kind != N_SEQ)
		return cfg_fail(c, v->line, path, "expected a list, got %s", cfg_kind_name(v));
	if (v->n == 0)
		return cfg_fail(c, v->line, path, "must name at least one level");
	for (size_t i = 0; i < v->n; i++) {
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		char *s = cfg_scalar_value(c, v->kids[i], ipath);
		if (!s)
			return -EINVAL;
		int idx = -1;
		for (int j = 0; names[j]; j++)
			if (!strcmp(s, names[j]))
				idx = j;
		if (idx < 0) {
			int r = cfg_enum_fail(c, v->kids[i], ipath, s, names);
			free(s);
			return r;
		}
		free(s);
		levels |= bits[idx];
	}
	((struct jp_config *)base)->metrics_levels = levels;
	return 0;
}

/* power.model.curve: each key a load in percent (0 to 100), each value a fraction >= 0
 * of tdp_watts_per_cpu; check_model checks the whole curve. */
static int check_curve_point(struct ctx *c, const struct node *k, const struct node *val, const char *kpath,
			     const char *value)
{
	double x, y;
	if (cfg_parse_double(k->str, &x) || x < 0 || x > 100)
		return cfg_fail(c, k->line, kpath, "invalid load \"%.64s\" (expected a percentage, 0 to 100)",
			    cfg_shown(k, k->str));
	if (cfg_parse_double(value, &y) || y < 0 || y > 10)
		return cfg_fail(c, val->line, kpath,
			    "invalid fraction \"%.64s\" (expected a number from 0 to 10: watts / tdp_watts_per_cpu)",
			    cfg_shown(val, value));
	return 0;
}

static int parse_curve(struct ctx *c, const struct node *v, const char *path, void *base)
{
	struct jp_config *cfg = base;
	return parse_kvmap(c, v, path, &cfg->model_curve, check_curve_point);
}

static int check_model(struct ctx *c, const struct node *v, const char *path, void *base)
{
	const struct jp_config *cfg = base;
	char kpath[PATH_MAX_LEN];
	if (cfg->model_max_watts_per_cpu < cfg->model_idle_watts_per_cpu) {
		cfg_child_path(kpath, path, "max_watts_per_cpu");
		return cfg_fail(c, cfg_line_of(v, "max_watts_per_cpu"), kpath,
			    "is %g, must be at least idle_watts_per_cpu (%g)", cfg->model_max_watts_per_cpu,
			    cfg->model_idle_watts_per_cpu);
	}
	if (cfg->model_curve.n) {
		char why[160];
		cfg_child_path(kpath, path, "curve");
		struct jp_curve curve;
		if (jp_curve_from_text(&curve, &cfg->model_curve, 0.01, why, sizeof(why)))   /* load in percent */
			return cfg_fail(c, cfg_line_of(v, "curve"), kpath, "%s", why);
	}
	return 0;
}

static int check_tls(struct ctx *c, const struct node *v, const char *path, void *base)
{
	const struct jp_remote_config *rc = base;
	char kpath[PATH_MAX_LEN];
	if (!*rc->tls_cert_file != !*rc->tls_key_file) {
		const char *missing = *rc->tls_cert_file ? "key_file" : "cert_file";
		cfg_child_path(kpath, path, missing);
		return cfg_fail(c, v->line, kpath, "cert_file and key_file must be set together");
	}
	return 0;
}

static int check_basic_auth(struct ctx *c, const struct node *v, const char *path, void *base)
{
	const struct jp_remote_config *rc = base;
	char kpath[PATH_MAX_LEN];
	if (*rc->basic_auth_password_file && !*rc->basic_auth_username) {
		cfg_child_path(kpath, path, "username");
		return cfg_fail(c, v->line, kpath, "must be set when password_file is");
	}
	return 0;
}

static int check_queue(struct ctx *c, const struct node *v, const char *path, void *base)
{
	const struct jp_remote_config *rc = base;
	char kpath[PATH_MAX_LEN], hi[32];
	if (rc->min_backoff_ms > rc->max_backoff_ms) {
		const char *key = cfg_map_get(v, "min_backoff") ? "min_backoff" : "max_backoff";
		cfg_child_path(kpath, path, key);
		cfg_fmt_duration(hi, sizeof(hi), rc->max_backoff_ms);
		if (!strcmp(key, "min_backoff"))
			return cfg_fail(c, cfg_line_of(v, key), kpath, "must not exceed max_backoff (%s)", hi);
		cfg_fmt_duration(hi, sizeof(hi), rc->min_backoff_ms);
		return cfg_fail(c, cfg_line_of(v, key), kpath, "must not be less than min_backoff (%s)", hi);
	}
	return 0;
}

static const char *const collector_modes[] = {"auto", "ebpf", "cgroupfs", "synthetic", NULL};
static const char *const power_sources[] = {"auto", "rapl", "model", NULL};
static const char *const model_shapes[] = {"linear", "curve", NULL};
static const char *const platform_sources[] = {"auto", "hwmon", "none", NULL};
static const char *const gpu_sources[] = {"auto", "nvml", "none", NULL};
static const char *const idle_attrs[] = {"none", "even", "usage", "requests", NULL};
static const char *const carbon_sources[] = {"static", "entsoe", "electricitymaps", "ukci", "file", "watttime", NULL};
static const int carbon_source_ids[] = {JP_CARBON_STATIC, JP_CARBON_ENTSOE, JP_CARBON_ELECTRICITYMAPS,
					JP_CARBON_UKCI, JP_CARBON_FILE, JP_CARBON_WATTTIME};
static const char *const compat_names[] = {"none", "kepler", NULL};
static const char *const forecast_sources[] = {"none", "ukci", "file", "electricitymaps", "entsoe", "watttime", NULL};
static const int forecast_source_ids[] = {JP_CARBON_NONE, JP_CARBON_UKCI, JP_CARBON_FILE, JP_CARBON_ELECTRICITYMAPS,
					  JP_CARBON_ENTSOE, JP_CARBON_WATTTIME};
static const char *const wt_signal_types[] = {"co2_moer", "co2_aoer", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const protocols[] = {"1.0", "2.0", NULL};

#define CFG(f) offsetof(struct jp_config, f)
#define RC(f) offsetof(struct jp_remote_config, f)

/* Reload classes, short. */
#define LIVE JP_RELOAD_LIVE
#define COLL JP_RELOAD_COLLECTOR
#define KUBE JP_RELOAD_KUBELET
#define CARB JP_RELOAD_CARBON
#define REMO JP_RELOAD_REMOTE
#define SERV JP_RELOAD_SERVER
#define RSTR JP_RELOAD_RESTART

#define SA_TOKEN "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define SA_CA "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

static const struct field basic_auth_fields[] = {
	{.key = "username", .kind = K_STR, .off = RC(basic_auth_username), .reload = REMO},
	{.key = "password_file", .kind = K_STR, .off = RC(basic_auth_password_file), .reload = REMO},
	{.key = "password", .kind = K_REFUSE,
	 .hint = "secrets are read from files only: use password_file"},
	{0},
};

static const struct field tls_fields[] = {
	{.key = "ca_file", .kind = K_STR, .off = RC(tls_ca_file), .reload = REMO},
	{.key = "cert_file", .kind = K_STR, .off = RC(tls_cert_file), .reload = REMO},
	{.key = "key_file", .kind = K_STR, .off = RC(tls_key_file), .reload = REMO},
	{.key = "insecure_skip_verify", .kind = K_BOOL, .off = RC(tls_insecure_skip_verify), .reload = REMO},
	{0},
};

static const struct field queue_fields[] = {
	{.key = "dir", .kind = K_STR, .off = RC(queue_dir), .flags = F_NONEMPTY, .reload = REMO,
	 .dstr = "/var/lib/joulepush/queue"},
	{.key = "max_disk_bytes", .kind = K_SIZE, .off = RC(queue_max_disk_bytes), .flags = F_MIN, .min = 1,
	 .reload = REMO, .dnum = 1024.0 * 1024 * 1024},
	{.key = "max_samples_per_send", .kind = K_U32, .off = RC(max_samples_per_send),
	 .flags = F_MIN | F_MAX, .min = 1, .max = 100000, .reload = REMO, .dnum = 2000},
	{.key = "batch_send_deadline", .kind = K_DUR, .off = RC(batch_send_deadline_ms), .flags = F_MIN, .min = 1,
	 .reload = REMO, .dnum = 5000},
	/* A zero backoff would retry in a busy loop. */
	{.key = "min_backoff", .kind = K_DUR, .off = RC(min_backoff_ms), .flags = F_MIN, .min = 1,
	 .reload = REMO, .dnum = 30},
	{.key = "max_backoff", .kind = K_DUR, .off = RC(max_backoff_ms), .flags = F_MIN, .min = 1,
	 .reload = REMO, .dnum = 5000},
	/* 0 is off: receivers differ in how old a sample they accept (docs/reference/remote-write.md). */
	{.key = "max_sample_age", .kind = K_DUR, .off = RC(max_sample_age_ms), .reload = REMO, .dnum = 0},
	{0},
};

static int parse_relabel(struct ctx *c, const struct node *v, const char *path, void *base);

/* A tenant id as the receivers take it: printable ASCII without spaces, at most 150. */
int jp_tenant_valid(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
			return 0;
	return n > 0 && n <= 150;
}

static int check_tenant_map(struct ctx *c, const struct node *k, const struct node *val,
			    const char *kpath, const char *value)
{
	if (!jp_tenant_valid(value))
		return cfg_fail(c, val->line, kpath, "invalid tenant \"%.64s\" (1 to 150 printable characters, no spaces)",
				cfg_shown(val, value));
	return 0;
}

static int parse_tenant_map(struct ctx *c, const struct node *v, const char *path, void *base)
{
	return parse_kvmap(c, v, path, &((struct jp_remote_config *)base)->tenant_map, check_tenant_map);
}

static const struct field tenant_fields[] = {
	{.key = "header", .kind = K_STR, .off = RC(tenant_header), .reload = REMO},
	{.key = "label", .kind = K_STR, .off = RC(tenant_label), .reload = REMO},
	{.key = "map", .kind = K_CUSTOM, .check = parse_tenant_map, .off = RC(tenant_map), .value = V_KVLIST,
	 .reload = REMO},
	{.key = "default", .kind = K_STR, .off = RC(tenant_default), .reload = REMO},
	{0},
};

static const struct field remote_fields[] = {
	{.key = "name", .kind = K_STR, .off = RC(name), .reload = REMO, .dstr = "default"},
	{.key = "url", .kind = K_STR, .off = RC(url), .flags = F_HTTP, .reload = REMO},
	{.key = "protocol", .kind = K_ENUM, .off = RC(protocol), .names = protocols, .reload = REMO,
	 .dnum = JP_RW_V1},
	{.key = "timeout", .kind = K_DUR, .off = RC(timeout_ms), .flags = F_MIN, .min = 1, .reload = REMO,
	 .dnum = 30000},
	{.key = "headers", .kind = K_CUSTOM, .check = parse_headers, .off = RC(headers), .value = V_KVLIST,
	 .reload = REMO},
	{.key = "basic_auth", .kind = K_SECTION, .sub = basic_auth_fields, .check = check_basic_auth},
	{.key = "bearer_token_file", .kind = K_STR, .off = RC(bearer_token_file), .reload = REMO},
	{.key = "bearer_token", .kind = K_REFUSE,
	 .hint = "secrets are read from files only: use bearer_token_file"},
	{.key = "tls", .kind = K_SECTION, .sub = tls_fields, .check = check_tls},
	{.key = "queue", .kind = K_SECTION, .sub = queue_fields, .check = check_queue},
	{.key = "write_relabel_configs", .kind = K_CUSTOM, .check = parse_relabel, .off = RC(relabel),
	 .value = V_RELABEL, .reload = REMO},
	{.key = "tenant", .kind = K_SECTION, .sub = tenant_fields},
	{0},
};

static int parse_remotes(struct ctx *c, const struct node *v, const char *path, void *base);

static const struct field host_fields[] = {
	{.key = "sysfs", .kind = K_STR, .off = CFG(host_sysfs), .flags = F_NONEMPTY, .reload = COLL,
	 .dstr = "/sys"},
	{.key = "procfs", .kind = K_STR, .off = CFG(host_procfs), .flags = F_NONEMPTY, .reload = COLL,
	 .dstr = "/proc"},
	{.key = "cgroupfs", .kind = K_STR, .off = CFG(host_cgroupfs), .flags = F_NONEMPTY, .reload = COLL,
	 .dstr = "auto"},
	{0},
};

static const struct field synthetic_fields[] = {
	{.key = "pods", .kind = K_U32, .off = CFG(synthetic_pods), .flags = F_MAX, .max = 1000000,
	 .reload = COLL, .dnum = 100},
	{.key = "containers_per_pod", .kind = K_U32, .off = CFG(synthetic_containers_per_pod),
	 .flags = F_MIN | F_MAX, .min = 1, .max = 1000, .reload = COLL, .dnum = 2},
	{.key = "seed", .kind = K_U64, .off = CFG(synthetic_seed), .reload = COLL, .dnum = 1},
	{.key = "gpus", .kind = K_U32, .off = CFG(synthetic_gpus), .flags = F_MAX, .max = 16, .reload = COLL},
	{0},
};

static const struct field collector_fields[] = {
	{.key = "mode", .kind = K_ENUM, .off = CFG(collector_mode), .names = collector_modes, .reload = COLL,
	 .dnum = JP_COLLECTOR_AUTO},
	{.key = "bpf_map_entries", .kind = K_U32, .off = CFG(bpf_map_entries), .flags = F_MAX, .max = 1u << 22,
	 .reload = COLL},
	{.key = "synthetic", .kind = K_SECTION, .sub = synthetic_fields},
	{0},
};

static const struct field model_fields[] = {
	{.key = "idle_watts_per_cpu", .kind = K_DOUBLE, .off = CFG(model_idle_watts_per_cpu),
	 .flags = F_MIN, .min = 0, .reload = COLL, .dnum = 0.74},
	{.key = "max_watts_per_cpu", .kind = K_DOUBLE, .off = CFG(model_max_watts_per_cpu),
	 .flags = F_MIN, .min = 0, .reload = COLL, .dnum = 3.5},
	{.key = "shape", .kind = K_ENUM, .off = CFG(model_shape), .names = model_shapes, .reload = COLL,
	 .dnum = JP_SHAPE_LINEAR},
	{.key = "curve", .kind = K_CUSTOM, .check = parse_curve, .off = CFG(model_curve), .value = V_KVLIST,
	 .reload = COLL},
	{.key = "tdp_watts_per_cpu", .kind = K_DOUBLE, .off = CFG(model_tdp_watts_per_cpu), .flags = F_MIN,
	 .min = 0, .reload = COLL, .dnum = 3.5},
	{.key = "memory_watts_per_gib", .kind = K_DOUBLE, .off = CFG(model_memory_watts_per_gib),
	 .flags = F_MIN | F_MAX, .min = 0, .max = 100, .reload = COLL},
	{0},
};

static const struct field platform_fields[] = {
	{.key = "source", .kind = K_ENUM, .off = CFG(platform_source), .names = platform_sources, .reload = COLL,
	 .dnum = JP_PLATFORM_AUTO},
	{.key = "hwmon_name", .kind = K_STR, .off = CFG(platform_hwmon_name), .flags = F_NONEMPTY, .reload = COLL,
	 .dstr = "power_meter"},
	{.key = "max_watts", .kind = K_DOUBLE, .off = CFG(platform_max_watts), .flags = F_MIN | F_MAX, .min = 1,
	 .max = 1e6, .reload = COLL, .dnum = 20000},
	{0},
};

static const struct field gpu_fields[] = {
	{.key = "source", .kind = K_ENUM, .off = CFG(gpu_source), .names = gpu_sources, .reload = COLL,
	 .dnum = JP_GPU_AUTO},
	{.key = "nvml_library", .kind = K_STR, .off = CFG(gpu_nvml_library), .flags = F_NONEMPTY, .reload = COLL,
	 .dstr = "libnvidia-ml.so.1"},
	{0},
};

static const struct field power_fields[] = {
	{.key = "source", .kind = K_ENUM, .off = CFG(power_source), .names = power_sources, .reload = COLL,
	 .dnum = JP_POWER_AUTO},
	{.key = "model", .kind = K_SECTION, .sub = model_fields, .check = check_model},
	{.key = "platform", .kind = K_SECTION, .sub = platform_fields},
	{.key = "idle_attribution", .kind = K_ENUM, .off = CFG(idle_attribution), .names = idle_attrs,
	 .reload = LIVE, .dnum = JP_IDLE_NONE},
	/* PUE is total facility energy / IT equipment energy, so a facility can never be below
	 * 1.0: that would mean the servers used more energy than the whole building. */
	{.key = "pue", .kind = K_DOUBLE, .off = CFG(pue), .flags = F_MIN, .min = 1.0,
	 .hint = "(PUE is total facility energy / IT energy)", .reload = LIVE, .dnum = 1.0},
	{0},
};

static const struct field kube_fields[] = {
	{.key = "kubelet_url", .kind = K_STR, .off = CFG(kubelet_url), .flags = F_HTTP_OPT, .reload = KUBE},
	{.key = "token_file", .kind = K_CUSTOM, .check = parse_kube_token_file, .off = CFG(kube_token_file),
	 .value = V_STR, .reload = KUBE, .dstr = SA_TOKEN},
	/* Set when the file names token_file: a missing file is then an error. */
	{.key = "token_file(explicit)", .kind = K_HIDDEN, .off = CFG(kube_token_file_explicit), .value = V_INT,
	 .reload = KUBE},
	{.key = "cgroup_root", .kind = K_STR, .off = CFG(kube_cgroup_root), .reload = COLL},
	{.key = "max_response_bytes", .kind = K_SIZE, .off = CFG(kube_max_response_bytes), .flags = F_MIN | F_MAX,
	 .min = 64 * 1024, .max = 4096.0 * 1024 * 1024, .reload = KUBE, .dnum = 32.0 * 1024 * 1024},
	{.key = "ca_file", .kind = K_STR, .off = CFG(kube_ca_file), .reload = KUBE, .dstr = SA_CA},
	{.key = "insecure_skip_verify", .kind = K_BOOL, .off = CFG(kube_insecure_skip_verify), .reload = KUBE},
	{.key = "refresh", .kind = K_DUR, .off = CFG(kube_refresh_ms), .flags = F_MIN, .min = 1000,
	 .reload = KUBE, .dnum = 15000},
	{0},
};

static const struct field entsoe_fields[] = {
	{.key = "url", .kind = K_STR, .off = CFG(entsoe_url), .flags = F_HTTP, .reload = CARB,
	 .dstr = "https://web-api.tp.entsoe.eu/api"},
	{.key = "token_file", .kind = K_STR, .off = CFG(entsoe_token_file), .reload = CARB},
	{.key = "area", .kind = K_STR, .off = CFG(entsoe_area), .flags = F_NONEMPTY, .reload = CARB,
	 .dstr = "10Y1001A1001A82H"},
	{.key = "token", .kind = K_REFUSE, .hint = "secrets are read from files only: use token_file"},
	{0},
};

static const struct field emaps_fields[] = {
	{.key = "url", .kind = K_STR, .off = CFG(emaps_url), .flags = F_HTTP, .reload = CARB,
	 .dstr = "https://api.electricitymap.org/v3"},
	{.key = "token_file", .kind = K_STR, .off = CFG(emaps_token_file), .reload = CARB},
	{.key = "zone", .kind = K_STR, .off = CFG(emaps_zone), .flags = F_NONEMPTY, .reload = CARB, .dstr = "DE"},
	{.key = "token", .kind = K_REFUSE, .hint = "secrets are read from files only: use token_file"},
	{0},
};

static const struct field ukci_fields[] = {
	{.key = "url", .kind = K_STR, .off = CFG(ukci_url), .flags = F_HTTP, .reload = CARB,
	 .dstr = "https://api.carbonintensity.org.uk"},
	{.key = "region", .kind = K_STR, .off = CFG(ukci_region), .reload = CARB},
	{0},
};

static const struct field watttime_fields[] = {
	{.key = "url", .kind = K_STR, .off = CFG(wt_url), .flags = F_HTTP, .reload = CARB,
	 .dstr = "https://api.watttime.org"},
	{.key = "username_file", .kind = K_STR, .off = CFG(wt_username_file), .reload = CARB},
	{.key = "password_file", .kind = K_STR, .off = CFG(wt_password_file), .reload = CARB},
	{.key = "region", .kind = K_STR, .off = CFG(wt_region), .flags = F_NONEMPTY, .reload = CARB,
	 .dstr = "CAISO_NORTH"},
	{.key = "signal_type", .kind = K_STRENUM, .off = CFG(wt_signal_type), .names = wt_signal_types, .reload = CARB,
	 .dstr = "co2_moer"},
	{.key = "password", .kind = K_REFUSE, .hint = "secrets are read from files only: use password_file"},
	{0},
};

static const struct field carbon_file_fields[] = {
	{.key = "path", .kind = K_STR, .off = CFG(carbon_file_path), .reload = CARB},
	{0},
};

static const struct field embodied_fields[] = {
	{.key = "grams_per_node_hour", .kind = K_DOUBLE, .off = CFG(embodied_grams_per_node_hour),
	 .flags = F_MIN, .min = 0, .reload = LIVE},
	{0},
};

static const struct field forecast_fields[] = {
	{.key = "source", .kind = K_ENUM, .off = CFG(forecast_source), .names = forecast_sources,
	 .values = forecast_source_ids, .reload = CARB, .dnum = JP_CARBON_NONE},
	{.key = "surplus", .kind = K_BOOL, .off = CFG(forecast_surplus), .reload = CARB, .dnum = 0},
	{.key = "refresh", .kind = K_DUR, .off = CFG(forecast_refresh_ms), .flags = F_MIN, .min = 60000,
	 .reload = CARB, .dnum = 30 * 60000},
	{.key = "horizon", .kind = K_DUR, .off = CFG(forecast_horizon_ms), .flags = F_MIN | F_MAX,
	 .min = 3600000, .max = 7 * 86400000.0, .reload = CARB, .dnum = 24 * 3600000},
	{.key = "windows", .kind = K_CUSTOM, .check = parse_windows, .off = CFG(forecast_windows), .value = V_DURLIST,
	 .reload = CARB, .dstr = "1h,4h,8h"},
	{0},
};

static const struct field carbon_fields[] = {
	{.key = "source", .kind = K_ENUM, .off = CFG(carbon_source), .names = carbon_sources,
	 .values = carbon_source_ids, .reload = CARB, .dnum = JP_CARBON_STATIC},
	{.key = "grams_per_kwh", .kind = K_DOUBLE, .off = CFG(carbon_grams_per_kwh), .flags = F_MIN, .min = 0,
	 .reload = CARB, .dnum = 475},
	{.key = "carbon_free_ratio", .kind = K_DOUBLE, .off = CFG(carbon_free_ratio), .flags = F_MIN | F_MAX, .min = 0,
	 .max = 1, .reload = CARB, .dnum = -1},
	{.key = "max_age", .kind = K_DUR, .off = CFG(carbon_max_age_ms), .flags = F_MIN, .min = 1000,
	 .reload = CARB, .dnum = 2 * 3600000},
	{.key = "refresh", .kind = K_DUR, .off = CFG(carbon_refresh_ms), .flags = F_MIN, .min = 1000,
	 .reload = CARB, .dnum = 15 * 60000},
	{.key = "entsoe", .kind = K_SECTION, .sub = entsoe_fields},
	{.key = "electricitymaps", .kind = K_SECTION, .sub = emaps_fields},
	{.key = "ukci", .kind = K_SECTION, .sub = ukci_fields},
	{.key = "watttime", .kind = K_SECTION, .sub = watttime_fields},
	{.key = "file", .kind = K_SECTION, .sub = carbon_file_fields},
	{.key = "factors", .kind = K_CUSTOM, .check = parse_factors, .off = CFG(carbon_factor_overrides),
	 .value = V_KVLIST, .reload = CARB},
	{.key = "factors(direct)", .kind = K_HIDDEN, .off = CFG(carbon_factors_direct), .value = V_INT,
	 .reload = CARB},
	{.key = "embodied", .kind = K_SECTION, .sub = embodied_fields},
	{.key = "forecast", .kind = K_SECTION, .sub = forecast_fields},
	{0},
};

static const struct field metrics_fields[] = {
	{.key = "levels", .kind = K_CUSTOM, .check = parse_levels, .off = CFG(metrics_levels), .value = V_UINT,
	 .reload = LIVE, .dnum = JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE},
	{.key = "compat", .kind = K_ENUM, .off = CFG(metrics_compat_kepler), .names = compat_names,
	 .reload = LIVE},
	{0},
};

static const struct field server_fields[] = {
	{.key = "listen", .kind = K_STR, .off = CFG(server_listen), .flags = F_LISTEN, .reload = SERV,
	 .dstr = "127.0.0.1:9465"},
	{0},
};

static const struct field log_fields[] = {
	{.key = "level", .kind = K_STRENUM, .off = CFG(log_level), .names = log_levels, .reload = LIVE,
	 .dstr = "info"},
	{.key = "format", .kind = K_ENUM, .off = CFG(log_json), .names = log_formats, .reload = LIVE},
	{0},
};

/* "auto": <parent of the first remote's queue.dir>/state, off without remotes; "none": off. */
static const struct field state_fields[] = {
	{.key = "dir", .kind = K_STR, .off = CFG(state_dir), .flags = F_NONEMPTY, .reload = RSTR, .dstr = "auto"},
	{0},
};

static const struct field top_fields[] = {
	/* Default: $NODE_NAME, else the host name (jp_config_defaults). */
	{.key = "node_name", .kind = K_STR, .off = CFG(node_name), .flags = F_NONEMPTY, .reload = LIVE},
	/* The privilege drop happens once, at start. */
	{.key = "user", .kind = K_STR, .off = CFG(user), .reload = RSTR},
	{.key = "interval", .kind = K_DUR, .off = CFG(interval_ms), .flags = F_MIN | F_MAX,
	 .min = 1000, .max = 600000, .reload = LIVE, .dnum = 5000},
	{.key = "external_labels", .kind = K_CUSTOM, .check = parse_labels, .off = CFG(external_labels),
	 .value = V_KVLIST, .reload = LIVE},
	{.key = "host", .kind = K_SECTION, .sub = host_fields},
	{.key = "collector", .kind = K_SECTION, .sub = collector_fields},
	{.key = "power", .kind = K_SECTION, .sub = power_fields},
	{.key = "gpu", .kind = K_SECTION, .sub = gpu_fields},
	{.key = "kubernetes", .kind = K_SECTION, .sub = kube_fields},
	{.key = "carbon", .kind = K_SECTION, .sub = carbon_fields},
	{.key = "metrics", .kind = K_SECTION, .sub = metrics_fields},
	/* A list of remotes, each a mapping of remote_fields; compared by name in jp_config_diff. */
	{.key = "remote_write", .kind = K_CUSTOM, .check = parse_remotes, .sub = remote_fields, .value = V_NONE,
	 .reload = REMO},
	{.key = "server", .kind = K_SECTION, .sub = server_fields},
	{.key = "log", .kind = K_SECTION, .sub = log_fields},
	{.key = "state", .kind = K_SECTION, .sub = state_fields},
	{0},
};

const char *jp_reload_class_name(unsigned cls)
{
	switch (cls) {
	case JP_RELOAD_LIVE: return "live";
	case JP_RELOAD_COLLECTOR: return "collector";
	case JP_RELOAD_KUBELET: return "kubelet";
	case JP_RELOAD_CARBON: return "carbon";
	case JP_RELOAD_REMOTE: return "remote";
	case JP_RELOAD_SERVER: return "server";
	case JP_RELOAD_RESTART: return "restart";
	default: return "?";
	}
}

int jp_config_foreach_key(int (*cb)(const char *path, unsigned reload, void *arg), void *arg)
{
	return cfg_schema_foreach(top_fields, "", cb, arg);
}

/* --------------------------------------------------------------------------------------------
 * Defaults (docs/reference/configuration.md), free, diff, remote_write: from the tables.
 */
static void remote_free(struct jp_remote_config *rc)
{
	cfg_schema_free(remote_fields, rc);
	memset(rc, 0, sizeof(*rc));
}

/* Fill *rc with the per-remote defaults; url stays "" (required). Returns 0 or -ENOMEM. */
static int remote_defaults(struct jp_remote_config *rc)
{
	memset(rc, 0, sizeof(*rc));
	if (cfg_schema_defaults(remote_fields, rc)) {
		remote_free(rc);
		return -ENOMEM;
	}
	return 0;
}

static int is_remote_name(const char *s)
{
	if (!*s || !strcmp(s, ".") || !strcmp(s, "..") || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
			return 0;
	return 1;
}

static int check_remote(struct ctx *c, const struct node *v, const char *path,
			const struct jp_remote_config *rc, const struct jp_remote_config *prev, size_t nprev)
{
	char kpath[PATH_MAX_LEN];
	if (!rc->url || !*rc->url) {
		cfg_child_path(kpath, path, "url");
		return cfg_fail(c, v->line, kpath, "missing (every remote needs a url)");
	}
	cfg_child_path(kpath, path, "name");
	if (!is_remote_name(rc->name))
		return cfg_fail(c, cfg_line_of(v, "name"), kpath,
			    "invalid name \"%.64s\" (1 to 64 of [A-Za-z0-9_.-], not . or ..)", rc->name);
	for (size_t i = 0; i < nprev; i++)
		if (!strcmp(prev[i].name, rc->name))
			return cfg_fail(c, cfg_line_of(v, "name"), kpath,
				    "duplicate remote name \"%s\" (each remote needs a unique name)", rc->name);
	if (*rc->bearer_token_file && *rc->basic_auth_username) {
		cfg_child_path(kpath, path, "bearer_token_file");
		return cfg_fail(c, cfg_line_of(v, "bearer_token_file"), kpath,
			    "cannot be used together with basic_auth");
	}
	/* tenant: all of header, label and default, or none. */
	const struct node *tn = cfg_map_get(v, "tenant");
	int tline = tn ? tn->line : v->line;
	cfg_child_path(kpath, path, "tenant");
	if (*rc->tenant_header || *rc->tenant_default || rc->tenant_map.n) {
		char hpath[PATH_MAX_LEN];
		if (!*rc->tenant_header)
			return cfg_fail(c, tline, kpath, "header is required (X-Scope-OrgID for Mimir, THANOS-TENANT for Thanos)");
		if (!*rc->tenant_label)
			return cfg_fail(c, tline, kpath, "label is required (the label whose value picks the tenant)");
		cfg_child_path(hpath, kpath, "default");
		if (!jp_tenant_valid(rc->tenant_default))
			return cfg_fail(c, tline, hpath,
					"a valid tenant is required for series without the label (1 to 150 printable characters, no spaces)");
		cfg_child_path(hpath, kpath, "header");
		int hline = tn && tn->kind == N_MAP && cfg_map_get(tn, "header") ? cfg_line_of(tn, "header") : tline;
		if (!is_header_name(rc->tenant_header))
			return cfg_fail(c, hline, hpath, "invalid header name (1 to 100 token characters)");
		if (jp_header_reserved(rc->tenant_header))
			return cfg_fail(c, hline, hpath, "reserved header (set by joulepush)");
		for (size_t i = 0; i < rc->headers.n; i++)
			if (!strcasecmp(rc->headers.v[i].key, rc->tenant_header))
				return cfg_fail(c, hline, hpath, "also set in headers: the tenant header is set per request");
	}
	return 0;
}

static void remotes_free(struct jp_config *cfg)
{
	for (size_t i = 0; i < cfg->nremotes; i++)
		remote_free(&cfg->remotes[i]);
	free(cfg->remotes);
	cfg->remotes = NULL;
	cfg->nremotes = 0;
}

static const char *const actions[] = {
	[JP_RELABEL_REPLACE] = "replace", [JP_RELABEL_KEEP] = "keep", [JP_RELABEL_DROP] = "drop",
	[JP_RELABEL_LABELDROP] = "labeldrop", [JP_RELABEL_LABELKEEP] = "labelkeep",
};

const char *jp_relabel_action_name(int a)
{
	return a >= 0 && (size_t)a < sizeof(actions) / sizeof(actions[0]) ? actions[a] : "?";
}

int jp_relabel_action_parse(const char *s)
{
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (!strcmp(s, actions[i]))
			return (int)i;
	return -1;
}

int jp_label_name_valid(const char *s)
{
	if (!s || !*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* write_relabel_configs: a list of rules as Prometheus writes them; each regex must
 * compile (docs/reference/remote-write.md "Relabelling"). */
#define MAX_RELABEL 64

static char *relabel_str(struct ctx *c, const struct node *map, const char *key, const char *path,
			 const char *def, int *err)
{
	const struct node *v = cfg_map_get(map, key);
	char kpath[PATH_MAX_LEN];
	cfg_child_path(kpath, path, key);
	if (!v || (v->kind == N_SCALAR && v->is_null && def))
		return strdup(def ? def : "");
	char *s = cfg_scalar_value(c, v, kpath);
	if (!s)
		*err = -EINVAL;
	return s;
}

static int parse_relabel_rule(struct ctx *c, const struct node *m, const char *ipath, struct jp_relabel_config *rc)
{
	static const char *const keys[] = {"source_labels", "separator", "regex", "target_label", "replacement", "action"};
	char kpath[PATH_MAX_LEN];
	for (size_t i = 0; i + 1 < m->n; i += 2) {
		const struct node *k = m->kids[i];
		int known = 0;
		for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
			known |= k->kind == N_SCALAR && !strcmp(k->str, keys[j]);
		if (!known) {
			cfg_child_path(kpath, ipath, k->kind == N_SCALAR ? k->str : "?");
			return cfg_fail(c, k->line, kpath, "unknown key (write_relabel_configs take source_labels, "
					"separator, regex, target_label, replacement, action)");
		}
	}
	int err = 0;
	rc->separator = relabel_str(c, m, "separator", ipath, ";", &err);
	rc->regex = err ? NULL : relabel_str(c, m, "regex", ipath, "(.*)", &err);
	rc->target_label = err ? NULL : relabel_str(c, m, "target_label", ipath, "", &err);
	rc->replacement = err ? NULL : relabel_str(c, m, "replacement", ipath, "$1", &err);
	char *action = err ? NULL : relabel_str(c, m, "action", ipath, "replace", &err);
	if (err)
		return err;
	if (!rc->separator || !rc->regex || !rc->target_label || !rc->replacement || !action) {
		free(action);
		return cfg_fail(c, m->line, ipath, "out of memory");
	}
	rc->action = jp_relabel_action_parse(action);
	cfg_child_path(kpath, ipath, "action");
	if (rc->action < 0) {
		int r = cfg_fail(c, cfg_line_of(m, "action"), kpath,
				 "unknown action \"%.32s\" (expected replace, keep, drop, labeldrop or labelkeep)", action);
		free(action);
		return r;
	}
	free(action);
	const struct node *src = cfg_map_get(m, "source_labels");
	cfg_child_path(kpath, ipath, "source_labels");
	if (src && !(src->kind == N_SCALAR && src->is_null)) {
		if (src->kind != N_SEQ)
			return cfg_fail(c, src->line, kpath, "expected a list of label names, got %s", cfg_kind_name(src));
		rc->source_labels = calloc(src->n + 1, sizeof(char *));
		if (!rc->source_labels)
			return cfg_fail(c, src->line, kpath, "out of memory");
		for (size_t i = 0; i < src->n; i++) {
			char *s = cfg_scalar_value(c, src->kids[i], kpath);
			if (!s)
				return -EINVAL;
			rc->source_labels[rc->nsource++] = s;
			if (!jp_label_name_valid(s))
				return cfg_fail(c, src->kids[i]->line, kpath, "\"%.64s\" is not a label name", s);
		}
	}
	int line = m->line;
	switch (rc->action) {
	case JP_RELABEL_REPLACE:
		if (!rc->target_label[0])
			return cfg_fail(c, line, ipath, "action replace needs target_label");
		break;
	case JP_RELABEL_KEEP:
	case JP_RELABEL_DROP:
		if (!rc->nsource)
			return cfg_fail(c, line, ipath, "action %s needs source_labels", jp_relabel_action_name(rc->action));
		break;
	default:
		if (rc->nsource || rc->target_label[0])
			return cfg_fail(c, line, ipath, "action %s takes only regex (it matches label names)",
					jp_relabel_action_name(rc->action));
		break;
	}
	char why[200];
	struct jp_regex *re = jp_regex_compile(rc->regex, why, sizeof(why));
	cfg_child_path(kpath, ipath, "regex");
	if (!re)
		return cfg_fail(c, cfg_map_get(m, "regex") ? cfg_line_of(m, "regex") : line, kpath, "%s", why);
	jp_regex_free(re);
	return 0;
}

static int parse_relabel(struct ctx *c, const struct node *v, const char *path, void *base)
{
	struct jp_relabel_list *l = &((struct jp_remote_config *)base)->relabel;
	char ipath[PATH_MAX_LEN];
	cfg_relabel_free(l);
	if (v->kind == N_SCALAR && v->is_null)
		return 0;
	if (v->kind != N_SEQ)
		return cfg_fail(c, v->line, path, "expected a list of rules, got %s", cfg_kind_name(v));
	if (v->n > MAX_RELABEL)
		return cfg_fail(c, v->line, path, "too many rules (at most %d)", MAX_RELABEL);
	if (!v->n)
		return 0;
	l->v = calloc(v->n, sizeof(*l->v));
	if (!l->v)
		return cfg_fail(c, v->line, path, "out of memory");
	for (size_t i = 0; i < v->n; i++) {
		const struct node *item = v->kids[i];
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		l->n = i + 1;
		if (item->kind != N_MAP)
			return cfg_fail(c, item->line, ipath, "expected a mapping, got %s", cfg_kind_name(item));
		int r = parse_relabel_rule(c, item, ipath, &l->v[i]);
		if (r)
			return r;
	}
	return 0;
}

static int parse_remotes(struct ctx *c, const struct node *v, const char *path, void *base)
{
	struct jp_config *cfg = base;
	char ipath[PATH_MAX_LEN];
	if (v->kind != N_SEQ)
		return cfg_fail(c, v->line, path, "expected a list, got %s", cfg_kind_name(v));
	if (v->n > MAX_REMOTES)
		return cfg_fail(c, v->line, path, "too many remotes (at most %d)", MAX_REMOTES);
	remotes_free(cfg);
	if (v->n == 0)
		return 0;
	cfg->remotes = calloc(v->n, sizeof(*cfg->remotes));
	if (!cfg->remotes)
		return cfg_fail(c, v->line, path, "out of memory");
	for (size_t i = 0; i < v->n; i++) {
		const struct node *item = v->kids[i];
		snprintf(ipath, sizeof(ipath), "%s[%zu]", path, i);
		if (item->kind != N_MAP)
			return cfg_fail(c, item->line, ipath, "expected a mapping, got %s",
				    item->is_null ? "null" : cfg_kind_name(item));
		if (remote_defaults(&cfg->remotes[i]))
			return cfg_fail(c, item->line, ipath, "out of memory");
		cfg->nremotes = i + 1;   /* from here on jp_config_free() releases it */
		int r = cfg_walk_map(c, item, ipath, remote_fields, &cfg->remotes[i]);
		if (r == 0)
			r = check_remote(c, item, ipath, &cfg->remotes[i], cfg->remotes, i);
		if (r)
			return r;
	}
	return 0;
}

int jp_config_defaults(struct jp_config *cfg)
{
	char host[256];
	memset(cfg, 0, sizeof(*cfg));
	if (cfg_schema_defaults(top_fields, cfg))
		goto nomem;

	const char *node = getenv("NODE_NAME");
	if (!node || !*node) {
		if (gethostname(host, sizeof(host)) < 0) {
			int e = errno;
			jp_config_free(cfg);
			return -e;
		}
		host[sizeof(host) - 1] = '\0';
		node = host;
	}
	free(cfg->node_name);
	cfg->node_name = strdup(node);
	if (!cfg->node_name)
		goto nomem;

	/* docs/reference/configuration.md: without a config, remote write is off unless this variable names a URL. */
	const char *url = getenv("JOULEPUSH_REMOTE_WRITE_URL");
	if (url && *url) {
		if (!cfg_is_http_url(url) || cfg_url_has_userinfo(url)) {
			jp_config_free(cfg);
			return -EINVAL;
		}
		cfg->remotes = calloc(1, sizeof(*cfg->remotes));
		if (!cfg->remotes || remote_defaults(&cfg->remotes[0]))
			goto nomem;
		cfg->nremotes = 1;
		free(cfg->remotes[0].url);
		cfg->remotes[0].url = strdup(url);
		if (!cfg->remotes[0].url)
			goto nomem;
	}
	return 0;
nomem:
	jp_config_free(cfg);
	return -ENOMEM;
}

void jp_config_free(struct jp_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	cfg_schema_free(top_fields, cfg);
	remotes_free(cfg);
	memset(cfg, 0, sizeof(*cfg));
}

int jp_config_remote_equal(const struct jp_remote_config *a, const struct jp_remote_config *b)
{
	return cfg_schema_diff(remote_fields, "", a, b, NULL, NULL) == 0;
}

unsigned jp_config_diff(const struct jp_config *a, const struct jp_config *b,
			void (*cb)(const char *path, unsigned reload, void *arg), void *arg)
{
	unsigned cls = cfg_schema_diff(top_fields, "", a, b, cb, arg);
	char path[PATH_MAX_LEN];
	/* Remotes by name: each one added, removed or changed. */
	for (size_t i = 0; i < b->nremotes; i++) {
		const struct jp_remote_config *old = NULL;
		for (size_t j = 0; j < a->nremotes && !old; j++)
			if (!strcmp(a->remotes[j].name, b->remotes[i].name))
				old = &a->remotes[j];
		if (old && jp_config_remote_equal(old, &b->remotes[i]))
			continue;
		cls |= JP_RELOAD_REMOTE;
		if (cb) {
			snprintf(path, sizeof(path), "remote_write[%s]", b->remotes[i].name);
			cb(path, JP_RELOAD_REMOTE, arg);
		}
	}
	for (size_t j = 0; j < a->nremotes; j++) {
		int found = 0;
		for (size_t i = 0; i < b->nremotes && !found; i++)
			found = !strcmp(a->remotes[j].name, b->remotes[i].name);
		if (found)
			continue;
		cls |= JP_RELOAD_REMOTE;
		if (cb) {
			snprintf(path, sizeof(path), "remote_write[%s]", a->remotes[j].name);
			cb(path, JP_RELOAD_REMOTE, arg);
		}
	}
	return cls;
}

int jp_config_load_buffer(struct jp_config *cfg, const char *name, const char *text, size_t len,
			  char *err, size_t errlen)
{
	struct ctx c = {.name = name ? name : "<config>", .err = err, .errlen = errlen};
	struct jp_config tmp;
	struct node *root = NULL;
	int r;

	if (err && errlen)
		err[0] = '\0';
	memset(cfg, 0, sizeof(*cfg));
	if (len > MAX_FILE_BYTES)
		return cfg_fail(&c, 0, "(file)", "larger than 1 MiB; refusing to parse");
	r = jp_config_defaults(&tmp);
	if (r == -EINVAL)
		return cfg_fail(&c, 0, "JOULEPUSH_REMOTE_WRITE_URL", "invalid URL (expected http:// or https://)");
	if (r) {
		cfg_fail(&c, 0, "(defaults)", "%s", strerror(-r));
		return r;
	}
	tmp.path = strdup(c.name);
	if (!tmp.path) {
		r = cfg_fail(&c, 0, "(file)", "out of memory");
		goto out;
	}
	r = cfg_build_tree(&c, text ? text : "", text ? len : 0, &root);
	if (r)
		goto out;
	/* An empty document, or one holding only null, means all defaults. */
	if (root && !(root->kind == N_SCALAR && root->is_null)) {
		if (root->kind != N_MAP)
			r = cfg_fail(&c, root->line, "(root)", "expected a mapping of settings, got %s",
				 cfg_kind_name(root));
		else
			r = cfg_walk_map(&c, root, "", top_fields, &tmp);
	}
out:
	cfg_node_free(root);
	if (r) {
		jp_config_free(&tmp);
		return r;
	}
	*cfg = tmp;
	return 0;
}

int jp_config_load(struct jp_config *cfg, const char *path, char *err, size_t errlen)
{
	struct ctx c = {.name = path, .err = err, .errlen = errlen};
	char *text = NULL;
	size_t len = 0;
	int r = 0;

	memset(cfg, 0, sizeof(*cfg));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		cfg_fail(&c, 0, "(file)", "cannot open: %s", strerror(-r));
		return r;
	}
	/* Read at most one byte past the limit, so that pipes and /proc-like files, whose size
	 * fstat does not know, are bounded too. */
	text = malloc(MAX_FILE_BYTES + 1);
	if (!text) {
		r = cfg_fail(&c, 0, "(file)", "out of memory");
		goto out;
	}
	while (len < MAX_FILE_BYTES + 1) {
		ssize_t n = read(fd, text + len, MAX_FILE_BYTES + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			cfg_fail(&c, 0, "(file)", "cannot read: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > MAX_FILE_BYTES) {
		r = cfg_fail(&c, 0, "(file)", "larger than 1 MiB; refusing to parse");
		goto out;
	}
	r = jp_config_load_buffer(cfg, path, text, len, err, errlen);
out:
	free(text);
	close(fd);
	return r;
}
