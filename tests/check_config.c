/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the configuration loader: defaults, every key, the example file and errors with FILE:LINE. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char err[JP_CONFIG_ERR_MAX];

static int load(struct jp_config *cfg, const char *yaml)
{
	err[0] = '\0';
	return jp_config_load_buffer(cfg, "t.yaml", yaml, strlen(yaml), err, sizeof(err));
}

/* Loads yaml, which must fail, and checks that the message starts with the expected
 * "t.yaml:LINE: key: " and contains `reason`. */
static void expect_error(const char *yaml, int line, const char *key, const char *reason)
{
	struct jp_config cfg;
	char prefix[256];
	int r = load(&cfg, yaml);
	ck_assert_msg(r < 0, "should fail: %s", yaml);
	snprintf(prefix, sizeof(prefix), "t.yaml:%d: %s: ", line, key);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "got \"%s\", want prefix \"%s\"", err, prefix);
	ck_assert_msg(strstr(err + strlen(prefix), reason) != NULL, "got \"%s\", want reason \"%s\"", err, reason);
	ck_assert_ptr_null(strchr(err, '\n'));
	/* A failed load leaves a zeroed config that is safe to free. */
	ck_assert_ptr_null(cfg.node_name);
	jp_config_free(&cfg);
}

static void clear_env(void)
{
	unsetenv("JOULEPUSH_REMOTE_WRITE_URL");
	unsetenv("NODE_NAME");
}

START_TEST(test_defaults)
{
	struct jp_config cfg;
	char host[256];
	clear_env();
	ck_assert_int_eq(jp_config_defaults(&cfg), 0);
	ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
	ck_assert_str_eq(cfg.node_name, host);
	ck_assert_ptr_null(cfg.path);
	ck_assert_str_eq(cfg.user, "");
	ck_assert_uint_eq(cfg.interval_ms, 5000);
	ck_assert_uint_eq(cfg.external_labels.n, 0);
	ck_assert_str_eq(cfg.host_sysfs, "/sys");
	ck_assert_str_eq(cfg.host_procfs, "/proc");
	ck_assert_str_eq(cfg.host_cgroupfs, "auto");
	ck_assert_int_eq(cfg.collector_mode, JP_COLLECTOR_AUTO);
	ck_assert_uint_eq(cfg.synthetic_pods, 100);
	ck_assert_uint_eq(cfg.synthetic_containers_per_pod, 2);
	ck_assert_uint_eq(cfg.synthetic_seed, 1);
	ck_assert_int_eq(cfg.power_source, JP_POWER_AUTO);
	ck_assert_double_eq(cfg.model_idle_watts_per_cpu, 0.74);
	ck_assert_double_eq(cfg.model_max_watts_per_cpu, 3.5);
	ck_assert_int_eq(cfg.idle_attribution, JP_IDLE_NONE);
	ck_assert_double_eq(cfg.pue, 1.0);
	ck_assert_str_eq(cfg.kubelet_url, "");
	ck_assert_str_eq(cfg.kube_token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
	ck_assert_str_eq(cfg.kube_ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
	ck_assert_int_eq(cfg.kube_insecure_skip_verify, 0);
	ck_assert_uint_eq(cfg.kube_refresh_ms, 15000);
	ck_assert_int_eq(cfg.carbon_source, JP_CARBON_STATIC);
	ck_assert_double_eq(cfg.carbon_grams_per_kwh, 475);
	ck_assert_uint_eq(cfg.carbon_max_age_ms, 7200000);
	ck_assert_uint_eq(cfg.carbon_refresh_ms, 900000);
	ck_assert_str_eq(cfg.entsoe_url, "https://web-api.tp.entsoe.eu/api");
	ck_assert_str_eq(cfg.entsoe_token_file, "");
	ck_assert_str_eq(cfg.entsoe_area, "10Y1001A1001A82H");
	ck_assert_str_eq(cfg.emaps_url, "https://api.electricitymap.org/v3");
	ck_assert_str_eq(cfg.emaps_token_file, "");
	ck_assert_str_eq(cfg.emaps_zone, "DE");
	ck_assert_str_eq(cfg.ukci_url, "https://api.carbonintensity.org.uk");
	ck_assert_str_eq(cfg.ukci_region, "");
	ck_assert_str_eq(cfg.carbon_file_path, "");
	ck_assert_int_eq(cfg.carbon_factors_direct, 0);
	ck_assert_uint_eq(cfg.carbon_factor_overrides.n, 0);
	ck_assert_double_eq(cfg.embodied_grams_per_node_hour, 0);
	ck_assert_uint_eq(cfg.metrics_levels, JP_LEVEL_NODE | JP_LEVEL_POD | JP_LEVEL_NAMESPACE);
	ck_assert_int_eq(cfg.metrics_compat_kepler, 0);
	ck_assert_uint_eq(cfg.nremotes, 0);
	ck_assert_ptr_null(cfg.remotes);
	ck_assert_str_eq(cfg.server_listen, "127.0.0.1:9465");
	ck_assert_str_eq(cfg.log_level, "info");
	ck_assert_int_eq(cfg.log_json, 0);
	jp_config_free(&cfg);
	ck_assert_ptr_null(cfg.node_name);
	jp_config_free(&cfg);   /* twice is harmless */
}
END_TEST

START_TEST(test_defaults_node_name_env)
{
	struct jp_config cfg;
	clear_env();
	setenv("NODE_NAME", "worker-3", 1);
	ck_assert_int_eq(jp_config_defaults(&cfg), 0);
	ck_assert_str_eq(cfg.node_name, "worker-3");
	jp_config_free(&cfg);
}
END_TEST

static void check_default_remote(const struct jp_remote_config *rc, const char *name, const char *url)
{
	ck_assert_str_eq(rc->name, name);
	ck_assert_str_eq(rc->url, url);
	ck_assert_int_eq(rc->protocol, JP_RW_V1);
	ck_assert_uint_eq(rc->timeout_ms, 30000);
	ck_assert_uint_eq(rc->headers.n, 0);
	ck_assert_str_eq(rc->basic_auth_username, "");
	ck_assert_str_eq(rc->basic_auth_password_file, "");
	ck_assert_str_eq(rc->bearer_token_file, "");
	ck_assert_str_eq(rc->tls_ca_file, "");
	ck_assert_str_eq(rc->tls_cert_file, "");
	ck_assert_str_eq(rc->tls_key_file, "");
	ck_assert_int_eq(rc->tls_insecure_skip_verify, 0);
	ck_assert_str_eq(rc->queue_dir, "/var/lib/joulepush/queue");
	ck_assert_uint_eq(rc->queue_max_disk_bytes, 1ull << 30);
	ck_assert_uint_eq(rc->max_samples_per_send, 2000);
	ck_assert_uint_eq(rc->batch_send_deadline_ms, 5000);
	ck_assert_uint_eq(rc->min_backoff_ms, 30);
	ck_assert_uint_eq(rc->max_backoff_ms, 5000);
}

START_TEST(test_env_remote_write_url)
{
	struct jp_config cfg;
	clear_env();
	setenv("JOULEPUSH_REMOTE_WRITE_URL", "http://mimir:9009/api/v1/push", 1);
	ck_assert_int_eq(jp_config_defaults(&cfg), 0);
	ck_assert_uint_eq(cfg.nremotes, 1);
	check_default_remote(&cfg.remotes[0], "default", "http://mimir:9009/api/v1/push");
	jp_config_free(&cfg);

	/* It also applies under a config file that does not mention remote_write ... */
	ck_assert_int_eq(load(&cfg, "interval: 10s\n"), 0);
	ck_assert_uint_eq(cfg.nremotes, 1);
	ck_assert_str_eq(cfg.remotes[0].url, "http://mimir:9009/api/v1/push");
	jp_config_free(&cfg);
	/* ... and a remote_write list replaces it. */
	ck_assert_int_eq(load(&cfg, "remote_write: []\n"), 0);
	ck_assert_uint_eq(cfg.nremotes, 0);
	jp_config_free(&cfg);

	/* Empty means unset. */
	setenv("JOULEPUSH_REMOTE_WRITE_URL", "", 1);
	ck_assert_int_eq(jp_config_defaults(&cfg), 0);
	ck_assert_uint_eq(cfg.nremotes, 0);
	jp_config_free(&cfg);

	setenv("JOULEPUSH_REMOTE_WRITE_URL", "ftp://x/", 1);
	ck_assert_int_eq(jp_config_defaults(&cfg), -EINVAL);
	ck_assert_int_lt(load(&cfg, ""), 0);
	ck_assert_str_eq(err, "t.yaml:0: JOULEPUSH_REMOTE_WRITE_URL: invalid URL (expected http:// or https://)");
}
END_TEST

static const char full_yaml[] =
	"node_name: n1\n"
	"user: nobody\n"
	"interval: 10s\n"
	"external_labels: {cluster: edge-7, region: eu}\n"
	"host:\n"
	"  sysfs: /host/sys\n"
	"  procfs: /host/proc\n"
	"  cgroupfs: /host/sys/fs/cgroup\n"
	"collector:\n"
	"  mode: synthetic\n"
	"  synthetic: {pods: 7, containers_per_pod: 3, seed: 42}\n"
	"power:\n"
	"  source: model\n"
	"  model: {idle_watts_per_cpu: 1.5, max_watts_per_cpu: 4}\n"
	"  idle_attribution: usage\n"
	"  pue: 1.4\n"
	"kubernetes:\n"
	"  kubelet_url: https://10.0.0.1:10250\n"
	"  token_file: /tok\n"
	"  ca_file: /ca\n"
	"  insecure_skip_verify: true\n"
	"  refresh: 30s\n"
	"carbon:\n"
	"  source: entsoe\n"
	"  grams_per_kwh: 300.5\n"
	"  max_age: 3h\n"
	"  refresh: 30m\n"
	"  entsoe: {url: 'http://entsoe.local/api', token_file: /etc/entsoe, area: 10YFR-RTE------C}\n"
	"  electricitymaps: {url: 'https://em.local/v3', token_file: /etc/em, zone: FR}\n"
	"  ukci: {url: 'https://uk.local', region: '13'}\n"
	"  file: {path: /data/intensity.csv}\n"
	"  factors: {B02: 1000, B04: 400.5}\n"
	"  embodied: {grams_per_node_hour: 12.5}\n"
	"metrics:\n"
	"  levels: [node, container]\n"
	"  compat: kepler\n"
	"remote_write:\n"
	"  - name: thanos\n"
	"    url: https://thanos.example/api/v1/receive\n"
	"    protocol: \"2.0\"\n"
	"    timeout: 10s\n"
	"    headers: {THANOS-TENANT: edge-7, X-Extra: 'a b'}\n"
	"    basic_auth: {username: joule, password_file: /etc/pw}\n"
	"    tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem, insecure_skip_verify: true}\n"
	"    queue:\n"
	"      dir: /q\n"
	"      max_disk_bytes: 64MiB\n"
	"      max_samples_per_send: 500\n"
	"      batch_send_deadline: 1s\n"
	"      min_backoff: 100ms\n"
	"      max_backoff: 1m\n"
	"  - name: mimir\n"
	"    url: http://mimir:9009/api/v1/push\n"
	"    bearer_token_file: /etc/token\n"
	"server:\n"
	"  listen: '[::1]:9999'\n"
	"log: {level: debug, format: json}\n";

START_TEST(test_full_config)
{
	struct jp_config cfg;
	clear_env();
	ck_assert_msg(load(&cfg, full_yaml) == 0, "%s", err);
	ck_assert_str_eq(cfg.path, "t.yaml");
	ck_assert_str_eq(cfg.node_name, "n1");
	ck_assert_str_eq(cfg.user, "nobody");
	ck_assert_uint_eq(cfg.interval_ms, 10000);
	ck_assert_uint_eq(cfg.external_labels.n, 2);
	ck_assert_str_eq(cfg.external_labels.v[0].key, "cluster");
	ck_assert_str_eq(cfg.external_labels.v[0].value, "edge-7");
	ck_assert_str_eq(cfg.external_labels.v[1].key, "region");
	ck_assert_str_eq(cfg.external_labels.v[1].value, "eu");
	ck_assert_str_eq(cfg.host_sysfs, "/host/sys");
	ck_assert_str_eq(cfg.host_procfs, "/host/proc");
	ck_assert_str_eq(cfg.host_cgroupfs, "/host/sys/fs/cgroup");
	ck_assert_int_eq(cfg.collector_mode, JP_COLLECTOR_SYNTHETIC);
	ck_assert_uint_eq(cfg.synthetic_pods, 7);
	ck_assert_uint_eq(cfg.synthetic_containers_per_pod, 3);
	ck_assert_uint_eq(cfg.synthetic_seed, 42);
	ck_assert_int_eq(cfg.power_source, JP_POWER_MODEL);
	ck_assert_double_eq(cfg.model_idle_watts_per_cpu, 1.5);
	ck_assert_double_eq(cfg.model_max_watts_per_cpu, 4.0);
	ck_assert_int_eq(cfg.idle_attribution, JP_IDLE_USAGE);
	ck_assert_double_eq(cfg.pue, 1.4);
	ck_assert_str_eq(cfg.kubelet_url, "https://10.0.0.1:10250");
	ck_assert_str_eq(cfg.kube_token_file, "/tok");
	ck_assert_str_eq(cfg.kube_ca_file, "/ca");
	ck_assert_int_eq(cfg.kube_insecure_skip_verify, 1);
	ck_assert_uint_eq(cfg.kube_refresh_ms, 30000);
	ck_assert_int_eq(cfg.carbon_source, JP_CARBON_ENTSOE);
	ck_assert_double_eq(cfg.carbon_grams_per_kwh, 300.5);
	ck_assert_uint_eq(cfg.carbon_max_age_ms, 3 * 3600000);
	ck_assert_uint_eq(cfg.carbon_refresh_ms, 30 * 60000);
	ck_assert_str_eq(cfg.entsoe_url, "http://entsoe.local/api");
	ck_assert_str_eq(cfg.entsoe_token_file, "/etc/entsoe");
	ck_assert_str_eq(cfg.entsoe_area, "10YFR-RTE------C");
	ck_assert_str_eq(cfg.emaps_url, "https://em.local/v3");
	ck_assert_str_eq(cfg.emaps_token_file, "/etc/em");
	ck_assert_str_eq(cfg.emaps_zone, "FR");
	ck_assert_str_eq(cfg.ukci_url, "https://uk.local");
	ck_assert_str_eq(cfg.ukci_region, "13");
	ck_assert_str_eq(cfg.carbon_file_path, "/data/intensity.csv");
	ck_assert_int_eq(cfg.carbon_factors_direct, 0);
	ck_assert_uint_eq(cfg.carbon_factor_overrides.n, 2);
	ck_assert_str_eq(cfg.carbon_factor_overrides.v[0].key, "B02");
	ck_assert_str_eq(cfg.carbon_factor_overrides.v[0].value, "1000");
	ck_assert_str_eq(cfg.carbon_factor_overrides.v[1].key, "B04");
	ck_assert_str_eq(cfg.carbon_factor_overrides.v[1].value, "400.5");
	ck_assert_double_eq(cfg.embodied_grams_per_node_hour, 12.5);
	ck_assert_uint_eq(cfg.metrics_levels, JP_LEVEL_NODE | JP_LEVEL_CONTAINER);
	ck_assert_int_eq(cfg.metrics_compat_kepler, 1);
	ck_assert_str_eq(cfg.server_listen, "[::1]:9999");
	ck_assert_str_eq(cfg.log_level, "debug");
	ck_assert_int_eq(cfg.log_json, 1);

	ck_assert_uint_eq(cfg.nremotes, 2);
	const struct jp_remote_config *rc = &cfg.remotes[0];
	ck_assert_str_eq(rc->name, "thanos");
	ck_assert_str_eq(rc->url, "https://thanos.example/api/v1/receive");
	ck_assert_int_eq(rc->protocol, JP_RW_V2);
	ck_assert_uint_eq(rc->timeout_ms, 10000);
	ck_assert_uint_eq(rc->headers.n, 2);
	ck_assert_str_eq(rc->headers.v[0].key, "THANOS-TENANT");
	ck_assert_str_eq(rc->headers.v[0].value, "edge-7");
	ck_assert_str_eq(rc->headers.v[1].key, "X-Extra");
	ck_assert_str_eq(rc->headers.v[1].value, "a b");
	ck_assert_str_eq(rc->basic_auth_username, "joule");
	ck_assert_str_eq(rc->basic_auth_password_file, "/etc/pw");
	ck_assert_str_eq(rc->bearer_token_file, "");
	ck_assert_str_eq(rc->tls_ca_file, "/ca.pem");
	ck_assert_str_eq(rc->tls_cert_file, "/c.pem");
	ck_assert_str_eq(rc->tls_key_file, "/k.pem");
	ck_assert_int_eq(rc->tls_insecure_skip_verify, 1);
	ck_assert_str_eq(rc->queue_dir, "/q");
	ck_assert_uint_eq(rc->queue_max_disk_bytes, 64ull << 20);
	ck_assert_uint_eq(rc->max_samples_per_send, 500);
	ck_assert_uint_eq(rc->batch_send_deadline_ms, 1000);
	ck_assert_uint_eq(rc->min_backoff_ms, 100);
	ck_assert_uint_eq(rc->max_backoff_ms, 60000);

	/* The second remote set only name, url and a token: the rest is default. */
	rc = &cfg.remotes[1];
	ck_assert_str_eq(rc->bearer_token_file, "/etc/token");
	ck_assert_str_eq(rc->name, "mimir");
	ck_assert_str_eq(rc->url, "http://mimir:9009/api/v1/push");
	ck_assert_int_eq(rc->protocol, JP_RW_V1);
	ck_assert_uint_eq(rc->queue_max_disk_bytes, 1ull << 30);
	ck_assert_uint_eq(rc->max_samples_per_send, 2000);
	jp_config_free(&cfg);
}
END_TEST

START_TEST(test_example_file)
{
	struct jp_config cfg, def;
	clear_env();
	ck_assert_msg(jp_config_load(&cfg, JP_SRCDIR "/config/joulepush.example.yaml", err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_int_eq(jp_config_defaults(&def), 0);
	/* The example states the defaults; only the remote is extra. */
	ck_assert_str_eq(cfg.node_name, "example-node");
	ck_assert_uint_eq(cfg.interval_ms, def.interval_ms);
	ck_assert_double_eq(cfg.model_idle_watts_per_cpu, def.model_idle_watts_per_cpu);
	ck_assert_uint_eq(cfg.carbon_max_age_ms, def.carbon_max_age_ms);
	ck_assert_str_eq(cfg.entsoe_area, def.entsoe_area);
	ck_assert_uint_eq(cfg.metrics_levels, def.metrics_levels);
	ck_assert_str_eq(cfg.server_listen, def.server_listen);
	ck_assert_str_eq(cfg.kube_token_file, def.kube_token_file);
	ck_assert_uint_eq(cfg.nremotes, 1);
	check_default_remote(&cfg.remotes[0], "default", "http://127.0.0.1:9090/api/v1/write");
	jp_config_free(&def);
	jp_config_free(&cfg);
}
END_TEST

START_TEST(test_empty_documents)
{
	static const char *const docs[] = {"", "{}", "---\n", "# only a comment\n", "~\n", "---\n...\n"};
	clear_env();
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct jp_config cfg;
		ck_assert_msg(load(&cfg, docs[i]) == 0, "\"%s\": %s", docs[i], err);
		ck_assert_uint_eq(cfg.interval_ms, 5000);
		ck_assert_str_eq(cfg.log_level, "info");
		ck_assert_uint_eq(cfg.nremotes, 0);
		jp_config_free(&cfg);
	}
}
END_TEST

START_TEST(test_null_keeps_default)
{
	struct jp_config cfg;
	clear_env();
	ck_assert_msg(load(&cfg, "interval:\ncarbon:\n  refresh: ~\nremote_write:\n") == 0, "%s", err);
	ck_assert_uint_eq(cfg.interval_ms, 5000);
	ck_assert_uint_eq(cfg.carbon_refresh_ms, 900000);
	jp_config_free(&cfg);
}
END_TEST

START_TEST(test_env_in_values)
{
	struct jp_config cfg;
	clear_env();
	setenv("JPT_NODE", "edge-node-1", 1);
	setenv("JPT_TENANT", "team-a", 1);
	setenv("JPT_INTERVAL", "15s", 1);
	unsetenv("JPT_UNSET");
	ck_assert_msg(load(&cfg,
			   "node_name: ${JPT_NODE}\n"
			   "interval: ${JPT_INTERVAL}\n"
			   "external_labels: {cluster: '${JPT_UNSET:-edge-7}'}\n"
			   "power: {pue: '${JPT_UNSET:-1.25}'}\n"
			   "remote_write:\n"
			   "  - url: http://${JPT_UNSET:-prom}:9090/api/v1/write\n"
			   "    headers: {X-Scope-OrgID: '${JPT_TENANT}'}\n"
			   "    queue: {max_disk_bytes: '${JPT_UNSET:-2MiB}'}\n") == 0, "%s", err);
	ck_assert_str_eq(cfg.node_name, "edge-node-1");
	ck_assert_uint_eq(cfg.interval_ms, 15000);
	ck_assert_str_eq(cfg.external_labels.v[0].value, "edge-7");
	ck_assert_double_eq(cfg.pue, 1.25);
	ck_assert_str_eq(cfg.remotes[0].name, "default");
	ck_assert_str_eq(cfg.remotes[0].url, "http://prom:9090/api/v1/write");
	ck_assert_str_eq(cfg.remotes[0].headers.v[0].value, "team-a");
	ck_assert_uint_eq(cfg.remotes[0].queue_max_disk_bytes, 2ull << 20);
	jp_config_free(&cfg);

	expect_error("interval: ${JPT_UNSET:-5x}\n", 1, "interval", "invalid duration \"${JPT_UNSET:-5x}\"");
	expect_error("a: 1\n", 1, "a", "unknown key");
	expect_error("user: ${BROKEN\n", 1, "user", "unterminated");
}
END_TEST

START_TEST(test_factors_scalar)
{
	struct jp_config cfg;
	clear_env();
	ck_assert_msg(load(&cfg, "carbon: {factors: direct}\n") == 0, "%s", err);
	ck_assert_int_eq(cfg.carbon_factors_direct, 1);
	ck_assert_uint_eq(cfg.carbon_factor_overrides.n, 0);
	jp_config_free(&cfg);
}
END_TEST

START_TEST(test_errors_keys_and_types)
{
	clear_env();
	expect_error("interval: 5s\nfoo: 1\n", 2, "foo", "unknown key");
	expect_error("carbon:\n  entsoe:\n    area: X\n    zone: DE\n", 4, "carbon.entsoe.zone", "unknown key");
	expect_error("remote_write:\n  - url: http://a/\n    queue:\n      max_disk: 1GiB\n", 4,
		     "remote_write[0].queue.max_disk", "unknown key");
	expect_error("interval: {a: 1}\n", 1, "interval", "expected a value, got a mapping");
	expect_error("interval:\n  - 5s\n", 2, "interval", "got a list");
	expect_error("carbon: static\n", 1, "carbon", "expected a mapping, got a scalar");
	expect_error("remote_write: {url: http://a/}\n", 1, "remote_write", "expected a list");
	expect_error("remote_write:\n  - http://a/\n", 2, "remote_write[0]", "expected a mapping");
	expect_error("metrics: {levels: node}\n", 1, "metrics.levels", "expected a list");
	expect_error("[1, 2]\n", 1, "(root)", "expected a mapping");
	expect_error("interval: 5s\ninterval: 6s\n", 2, "interval", "duplicate key");
	expect_error("remote_write:\n  - url: http://a/\n    basic_auth: {username: u, password: secret}\n", 3,
		     "remote_write[0].basic_auth.password", "use password_file");
	expect_error("remote_write:\n  - url: http://a/\n    bearer_token: abc\n", 3,
		     "remote_write[0].bearer_token", "use bearer_token_file");
	expect_error("user: \"a\\0b\"\n", 1, "user", "NUL byte");
}
END_TEST

START_TEST(test_errors_values)
{
	clear_env();
	expect_error("\n\ninterval: 5x\n", 3, "interval", "invalid duration \"5x\"");
	expect_error("interval: 500ms\n", 1, "interval", "must be between 1s and 10m");
	expect_error("interval: 11m\n", 1, "interval", "must be between 1s and 10m");
	expect_error("collector:\n  mode: magic\n", 2, "collector.mode",
		     "invalid value \"magic\" (expected auto, ebpf, cgroupfs or synthetic)");
	expect_error("power: {source: nuclear}\n", 1, "power.source", "invalid value");
	expect_error("power: {idle_attribution: all}\n", 1, "power.idle_attribution", "invalid value");
	expect_error("power:\n  pue: 0.9\n", 2, "power.pue", "must be at least 1");
	expect_error("power:\n  pue: abc\n", 2, "power.pue", "invalid number");
	expect_error("power:\n  model:\n    idle_watts_per_cpu: 2\n    max_watts_per_cpu: 1\n", 4,
		     "power.model.max_watts_per_cpu", "is 1, must be at least idle_watts_per_cpu (2)");
	/* Only idle given: the error names max (at its default) on the section's line. */
	expect_error("power:\n  model:\n    idle_watts_per_cpu: 4\n", 3, "power.model.max_watts_per_cpu",
		     "is 3.5, must be at least");
	expect_error("power:\n  model: {idle_watts_per_cpu: -1}\n", 2, "power.model.idle_watts_per_cpu",
		     "must be at least 0");
	expect_error("carbon: {source: wind}\n", 1, "carbon.source", "invalid value");
	expect_error("carbon:\n  factors: average\n", 2, "carbon.factors", "expected lifecycle, direct");
	expect_error("carbon:\n  factors:\n    B02: 100\n    B26: 1\n", 4, "carbon.factors.B26", "unknown PsrType");
	expect_error("carbon:\n  factors:\n    B02: -5\n", 3, "carbon.factors.B02", "invalid factor");
	expect_error("carbon:\n  entsoe: {url: ftp://x}\n", 2, "carbon.entsoe.url", "invalid URL");
	expect_error("metrics:\n  levels: [node, cluster]\n", 2, "metrics.levels[1]", "invalid value \"cluster\"");
	expect_error("metrics:\n  compat: prometheus\n", 2, "metrics.compat", "invalid value");
	expect_error("log:\n  level: verbose\n", 2, "log.level", "(expected debug, info, warn or error)");
	expect_error("log:\n  format: xml\n", 2, "log.format", "invalid value");
	expect_error("kubernetes:\n  insecure_skip_verify: maybe\n", 2, "kubernetes.insecure_skip_verify",
		     "invalid boolean");
	expect_error("kubernetes:\n  kubelet_url: 10.0.0.1:10250\n", 2, "kubernetes.kubelet_url", "invalid URL");
	expect_error("server: {listen: localhost}\n", 1, "server.listen", "invalid address");
	expect_error("server: {listen: ':9465'}\n", 1, "server.listen", "invalid address");
	expect_error("server: {listen: 'h:99999'}\n", 1, "server.listen", "invalid address");
	expect_error("remote_write:\n  - url: http://x/\n    queue: {max_disk_bytes: 0}\n", 3,
		     "remote_write[0].queue.max_disk_bytes", "must be at least 1B");
	expect_error("collector:\n  synthetic: {pods: -1}\n", 2, "collector.synthetic.pods", "invalid number");
	expect_error("collector:\n  synthetic:\n    seed: 99999999999999999999999\n", 3, "collector.synthetic.seed",
		     "number too large");
	expect_error("node_name: ''\n", 1, "node_name", "must not be empty");
}
END_TEST

START_TEST(test_errors_labels)
{
	clear_env();
	expect_error("external_labels:\n  cluster: a\n  node: b\n", 3, "external_labels.node", "reserved label name");
	expect_error("external_labels:\n  __name__: x\n", 2, "external_labels.__name__", "reserved label name");
	expect_error("external_labels:\n  1bad: x\n", 2, "external_labels.1bad", "invalid label name");
	expect_error("external_labels:\n  a-b: x\n", 2, "external_labels.a-b", "invalid label name");
	expect_error("external_labels:\n  a: ''\n", 2, "external_labels.a", "must not be empty");
	expect_error("external_labels:\n  a: {b: c}\n", 2, "external_labels.a", "expected a value");
	expect_error("external_labels: [a]\n", 1, "external_labels", "expected a mapping");
}
END_TEST

START_TEST(test_errors_remotes)
{
	clear_env();
	expect_error("remote_write:\n  - name: a\n    url: http://x/\n  - name: a\n    url: http://y/\n", 4,
		     "remote_write[1].name", "duplicate remote name \"a\"");
	/* Two unnamed remotes both get "default". */
	expect_error("remote_write:\n  - url: http://x/\n  - url: http://y/\n", 3,
		     "remote_write[1].name", "duplicate remote name");
	expect_error("remote_write:\n  - name: a\n    url: http://x/\n  - name: b\n    timeout: 5s\n", 4,
		     "remote_write[1].url", "missing");
	expect_error("remote_write:\n  - url: mimir:9009\n", 2, "remote_write[0].url", "invalid URL");
	expect_error("remote_write:\n  - url: http://x/\n    name: ../etc\n", 3, "remote_write[0].name",
		     "invalid name");
	expect_error("remote_write:\n  - url: http://x/\n    name: a/b\n", 3, "remote_write[0].name", "invalid name");
	expect_error("remote_write:\n  - url: http://x/\n    protocol: 3.0\n", 3, "remote_write[0].protocol",
		     "invalid value \"3.0\"");
	expect_error("remote_write:\n  - url: http://x/\n    headers:\n      X-Ok: a\n      content-type: b\n", 5,
		     "remote_write[0].headers.content-type", "reserved header");
	expect_error("remote_write:\n  - url: http://x/\n    headers: {AUTHORIZATION: Bearer x}\n", 3,
		     "remote_write[0].headers.AUTHORIZATION", "reserved header");
	expect_error("remote_write:\n  - url: http://x/\n    headers: {\"Bad Name\": x}\n", 3,
		     "remote_write[0].headers.Bad Name", "invalid header name");
	{
		/* Header names are bounded: a 101-character tenant header is refused. */
		char y[512], name[102];
		memset(name, 'X', 101);
		name[101] = '\0';
		snprintf(y, sizeof(y), "remote_write:\n  - url: http://x/\n    tenant: {header: %s, label: namespace, default: d}\n", name);
		expect_error(y, 3, "remote_write[0].tenant.header", "invalid header name (1 to 100");
		name[100] = '\0';
		snprintf(y, sizeof(y), "remote_write:\n  - url: http://x/\n    headers: {%s: v}\n", name);
		struct jp_config ok;
		ck_assert_msg(load(&ok, y) == 0, "%s", err);
		jp_config_free(&ok);
	}
	expect_error("remote_write:\n  - url: http://x/\n    headers: {X-A: \"a\\r\\nHost: evil\"}\n", 3,
		     "remote_write[0].headers.X-A", "control character");
	expect_error("remote_write:\n  - url: http://x/\n    queue:\n      max_samples_per_send: 0\n", 4,
		     "remote_write[0].queue.max_samples_per_send", "must be between 1 and 100000");
	expect_error("remote_write:\n  - url: http://x/\n    queue:\n      max_samples_per_send: 100001\n", 4,
		     "remote_write[0].queue.max_samples_per_send", "must be between 1 and 100000");
	expect_error("remote_write:\n  - url: http://x/\n    queue:\n      max_disk_bytes: 1XB\n", 4,
		     "remote_write[0].queue.max_disk_bytes", "invalid size");
	expect_error("remote_write:\n  - url: http://x/\n    queue:\n      min_backoff: 10s\n      max_backoff: 1s\n",
		     4, "remote_write[0].queue.min_backoff", "must not exceed max_backoff (1s)");
	expect_error("remote_write:\n  - url: http://x/\n    queue:\n      max_backoff: 10ms\n", 4,
		     "remote_write[0].queue.max_backoff", "must not be less than min_backoff (30ms)");
	expect_error("remote_write:\n  - url: http://x/\n    timeout: 0s\n", 3, "remote_write[0].timeout",
		     "must be at least 1ms");
	expect_error("remote_write:\n  - url: http://x/\n    tls: {cert_file: /c}\n", 3,
		     "remote_write[0].tls.key_file", "must be set together");
	expect_error("remote_write:\n  - url: http://x/\n    basic_auth: {username: u}\n    bearer_token_file: /t\n", 4,
		     "remote_write[0].bearer_token_file", "cannot be used together with basic_auth");
	/* tenant: header, label and default together; a header that is not reserved or
	 * also in headers; tenants that receivers accept. */
	expect_error("remote_write:\n  - url: http://x/\n    tenant: {label: namespace, default: p}\n", 3,
		     "remote_write[0].tenant", "header is required");
	expect_error("remote_write:\n  - url: http://x/\n    tenant: {header: X-Scope-OrgID, default: p}\n", 3,
		     "remote_write[0].tenant", "label is required");
	expect_error("remote_write:\n  - url: http://x/\n    tenant: {header: X-Scope-OrgID, label: namespace}\n", 3,
		     "remote_write[0].tenant.default", "a valid tenant is required");
	expect_error("remote_write:\n  - url: http://x/\n    tenant:\n      header: Content-Type\n      label: ns\n      default: p\n",
		     4, "remote_write[0].tenant.header", "reserved header");
	expect_error("remote_write:\n  - url: http://x/\n    headers: {x-scope-orgid: a}\n"
		     "    tenant: {header: X-Scope-OrgID, label: ns, default: p}\n", 4,
		     "remote_write[0].tenant.header", "also set in headers");
	expect_error("remote_write:\n  - url: http://x/\n    tenant:\n      header: X-Scope-OrgID\n      label: ns\n"
		     "      default: p\n      map: {payments: \"team pay\"}\n", 7,
		     "remote_write[0].tenant.map.payments", "invalid tenant");
}
END_TEST

START_TEST(test_errors_yaml_syntax)
{
	clear_env();
	/* An error at the end of the stream points at the last line. */
	expect_error("interval: 5s\nlog: {level: info\n", 2, "(yaml)", "did not find expected");
	expect_error("a: b\n  c: d\n", 2, "(yaml)", "mapping values are not allowed");
	expect_error("a: 'unterminated\n", 1, "(yaml)", "unexpected end of stream");
	expect_error("interval: 5s\n\tlog: x\n", 2, "(yaml)", "");
	expect_error("a: 1\n---\nb: 2\n", 2, "(yaml)", "multiple documents");
}
END_TEST

START_TEST(test_hostile_input)
{
	struct jp_config cfg;
	clear_env();
	expect_error("base: &b {x: 1}\nother: *b\n", 2, "(yaml)", "aliases are not supported");
	expect_error("a: &a [1,2]\nb: &b [*a,*a]\nc: [*b,*b]\n", 2, "(yaml)", "aliases are not supported");

	/* Deep nesting is an error, not a crash. */
	size_t depth = 100000;
	char *deep = malloc(2 * depth + 1);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	deep[2 * depth] = '\0';
	ck_assert_int_lt(load(&cfg, deep), 0);
	ck_assert_ptr_nonnull(strstr(err, "nested deeper than"));
	free(deep);

	/* Over 1 MiB is refused before parsing. */
	size_t big = (1 << 20) + 1;
	char *huge = malloc(big + 1);
	memset(huge, '#', big);
	huge[big] = '\0';
	ck_assert_int_lt(jp_config_load_buffer(&cfg, "t.yaml", huge, big, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "t.yaml:0: (file): larger than 1 MiB"));

	char path[] = "/tmp/check_config_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, huge, big), (ssize_t)big);
	close(fd);
	ck_assert_int_lt(jp_config_load(&cfg, path, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "larger than 1 MiB"));
	unlink(path);
	free(huge);

	/* Tiny error buffers and none at all are fine. */
	char small[8];
	ck_assert_int_lt(jp_config_load_buffer(&cfg, "t.yaml", "foo: 1", 6, small, sizeof(small)), 0);
	ck_assert_str_eq(small, "t.yaml:");
	ck_assert_int_lt(jp_config_load_buffer(&cfg, "t.yaml", "foo: 1", 6, NULL, 0), 0);
	/* Invalid UTF-8. */
	ck_assert_int_lt(jp_config_load_buffer(&cfg, "t.yaml", "a: 1\nb: \xff\xfe\n", 11, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "t.yaml:2: (yaml): "));
}
END_TEST

/* Credentials in a URL would be logged and exported: refused, without echoing them.
 * A value taken from the environment is echoed as written, never expanded. */
START_TEST(test_secrets_not_echoed)
{
	expect_error("remote_write:\n  - name: a\n    url: https://user:hunter2@example.org/api/v1/write\n",
		     3, "remote_write[0].url", "basic_auth.password_file");
	ck_assert_ptr_null(strstr(err, "hunter2"));
	expect_error("kubernetes:\n  kubelet_url: http://u:hunter2@10.0.0.1:10255\n", 2,
		     "kubernetes.kubelet_url", "credentials in the URL are refused");
	ck_assert_ptr_null(strstr(err, "hunter2"));
	/* An invalid URL with userinfo is not echoed either. */
	expect_error("remote_write:\n  - name: a\n    url: htp://u:hunter2@x/\n", 3, "remote_write[0].url",
		     "credentials in the URL are refused");
	ck_assert_ptr_null(strstr(err, "hunter2"));
	setenv("JP_TEST_SECRET", "s3cr3t-value", 1);
	expect_error("interval: ${JP_TEST_SECRET}\n", 1, "interval", "invalid duration \"${JP_TEST_SECRET}\"");
	ck_assert_ptr_null(strstr(err, "s3cr3t"));
	expect_error("remote_write:\n  - name: a\n    url: ${JP_TEST_SECRET}\n", 3, "remote_write[0].url",
		     "invalid URL \"${JP_TEST_SECRET}\"");
	ck_assert_ptr_null(strstr(err, "s3cr3t"));
	unsetenv("JP_TEST_SECRET");
	/* The built-in defaults refuse such a URL too. */
	setenv("JOULEPUSH_REMOTE_WRITE_URL", "http://u:p@127.0.0.1:9090/api/v1/write", 1);
	struct jp_config cfg;
	ck_assert_int_eq(jp_config_defaults(&cfg), -EINVAL);
	unsetenv("JOULEPUSH_REMOTE_WRITE_URL");
}
END_TEST

/* docs/reference/configuration.md lists every key the parser accepts, and no other. */
struct keyset {
	char *doc;
	size_t nkeys, missing;
};

/* The key's row must exist and its reload column (the fourth) must name the key's class
 * in the schema tables. */
static int key_in_doc_cb(const char *path, unsigned reload, void *arg)
{
	struct keyset *ks = arg;
	char want[300];
	snprintf(want, sizeof(want), "\n| `%s` |", path);
	const char *row = strstr(ks->doc, want);
	ks->nkeys++;
	if (!row) {
		fprintf(stderr, "configuration.md does not list %s\n", path);
		ks->missing++;
		return 0;
	}
	const char *eol = strchr(row + 1, '\n');
	const char *cell = row + 1;
	for (int col = 0; col < 3 && cell && cell < eol; col++)
		cell = strchr(cell + 1, '|');
	char got[32] = "";
	if (cell && cell < eol)
		sscanf(cell + 1, " %31[a-z]", got);
	if (strcmp(got, jp_reload_class_name(reload)) != 0) {
		fprintf(stderr, "configuration.md: %s has reload \"%s\", the schema \"%s\"\n", path, got,
			jp_reload_class_name(reload));
		ks->missing++;
	}
	return 0;
}

START_TEST(test_configuration_reference)
{
	FILE *f = fopen(JP_SRCDIR "/docs/reference/configuration.md", "r");
	ck_assert_ptr_nonnull(f);
	static char doc[65536];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	struct keyset ks = {doc, 0, 0};
	ck_assert_int_eq(jp_config_foreach_key(key_in_doc_cb, &ks), 0);
	ck_assert_uint_eq(ks.missing, 0);
	/* And no row for a key that does not exist. */
	size_t rows = 0;
	const char *keys = strstr(doc, "\n## Keys");
	ck_assert_ptr_nonnull(keys);
	const char *end = strstr(keys + 1, "\n## ");
	for (const char *p = keys; (p = strstr(p, "\n| `")) && (!end || p < end); p++)
		rows++;
	ck_assert_msg(rows == ks.nkeys, "configuration.md has %zu key rows, the parser %zu keys", rows, ks.nkeys);
}
END_TEST

START_TEST(test_load_file)
{
	struct jp_config cfg;
	clear_env();
	ck_assert_int_eq(jp_config_load(&cfg, "/nonexistent/joulepush.yaml", err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/joulepush.yaml:0: (file): cannot open: No such file or directory");

	char path[] = "/tmp/check_config_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	const char *text = "interval: 2s\nbogus: 1\n";
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	ck_assert_int_lt(jp_config_load(&cfg, path, err, sizeof(err)), 0);
	char want[128];
	snprintf(want, sizeof(want), "%s:2: bogus: unknown key", path);
	ck_assert_str_eq(err, want);
	unlink(path);
}
END_TEST


static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_defaults_node_name_env);
	tcase_add_test(tc, test_env_remote_write_url);
	tcase_add_test(tc, test_full_config);
	tcase_add_test(tc, test_example_file);
	tcase_add_test(tc, test_empty_documents);
	tcase_add_test(tc, test_null_keeps_default);
	tcase_add_test(tc, test_env_in_values);
	tcase_add_test(tc, test_factors_scalar);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_secrets_not_echoed);
	tcase_add_test(tc, test_configuration_reference);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_errors_keys_and_types);
	tcase_add_test(tc, test_errors_values);
	tcase_add_test(tc, test_errors_labels);
	tcase_add_test(tc, test_errors_remotes);
	tcase_add_test(tc, test_errors_yaml_syntax);
	tcase_add_test(tc, test_hostile_input);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
