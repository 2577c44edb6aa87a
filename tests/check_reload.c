/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reload matrix: for every key a config file may set (jp_config_foreach_key), start an
 * agent on a real loop, change that key alone, reload, and check
 *   - that the diff names exactly that key, with the class of the schema;
 *   - that exactly the part of the agent its class names was rebuilt (collector, kubelet
 *     client, carbon source, sender, server), and nothing else;
 *   - for keys of class "live", the effect on the next round where one can be seen in the
 *     series (new labels with stale markers on the old series, Kepler names, levels, idle
 *     series, embodied CO2), else that the running config holds the new value;
 *   - for class "restart", that the running value is kept.
 * A key without a case here fails the test: a new key must say what its reload does.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"
#include "config.h"
#include "store/series.h"
#include "store_util.h"
#include "util/log.h"

/* The case table names only the fields a case needs. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define MAX_ENTRIES 96

/* One key: its value in the base file and the changed one (YAML flow text; %T is the
 * test's temporary directory, %P1/%P2 two free ports). `extra` keys are set in both
 * files (a key that needs another one). */
struct kcase {
	const char *key, *base, *alt;
	const char *extra_key, *extra_val;
	int (*effect)(const struct jp_agent_parts *before, const struct jp_agent_parts *after);
};

static char tmp[64];
static int port1, port2;

/* ---- effects of live keys, seen in the store after one more round ---- */

static size_t count(struct jp_store *st, const char *name, const char *label, const char *value)
{
	size_t n;
	jp_test_sum_of(st, name, label, value, &n);
	return n;
}

static int effect_node_name(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return count(a->store, "joulepush_node_energy_joules_total", "node", "n2") > 0 &&
	       count(a->store, "joulepush_node_energy_joules_total", "node", "n1") == 0;
}

static int effect_labels(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return count(a->store, "joulepush_pod_energy_joules_total", "cluster", "b") > 0 &&
	       count(a->store, "joulepush_pod_energy_joules_total", "cluster", "a") == 0;
}

static int effect_kepler(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return count(a->store, "kepler_node_cpu_joules_total", NULL, NULL) > 0;
}

static int effect_levels(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return count(a->store, "joulepush_namespace_energy_joules_total", NULL, NULL) > 0;
}

static int effect_idle(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return count(a->store, "joulepush_pod_energy_joules_total", "mode", "idle") > 0;
}

static int effect_embodied(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return count(a->store, "joulepush_pod_embodied_co2_grams_total", NULL, NULL) > 0;
}

static int effect_interval(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return a->cfg->interval_ms == 2000;
}

static int effect_pue(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return a->cfg->pue == 1.2;
}

static int effect_log_level(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return strcmp(a->cfg->log_level, "warn") == 0;
}

static int effect_log_format(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return a->cfg->log_json == 1;
}

static int effect_user_kept(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return a->cfg->user && a->cfg->user[0] == '\0';
}

static int effect_state_kept(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	(void)b;
	return a->cfg->state_dir && !strcmp(a->cfg->state_dir, "none");
}

#define R "remote_write[]."
static const struct kcase cases[] = {
	{"node_name", "n1", "n2", .effect = effect_node_name},
	{"user", "\"\"", "nobody", .effect = effect_user_kept},
	{"interval", "1s", "2s", .effect = effect_interval},
	{"external_labels", "{cluster: a}", "{cluster: b}", .effect = effect_labels},
	{"host.sysfs", "/sys", "/sys/."},
	{"host.procfs", "/proc", "/proc/."},
	{"host.cgroupfs", "auto", "/sys/fs/cgroup"},
	{"collector.mode", "synthetic", "cgroupfs"},   /* where a cgroup v2 mount exists */
	{"collector.bpf_map_entries", "0", "20000"},
	{"collector.synthetic.pods", "3", "4"},
	{"collector.synthetic.containers_per_pod", "1", "2"},
	{"collector.synthetic.seed", "1", "2"},
	{"collector.synthetic.gpus", "0", "2"},
	{"power.source", "model", "auto"},
	{"power.model.idle_watts_per_cpu", "0.74", "1"},
	{"power.model.max_watts_per_cpu", "3.5", "4"},
	{"power.model.shape", "linear", "curve"},
	{"power.model.curve", "{0: 0.12, 100: 1.02}", "{0: 0.2, 50: 0.7, 100: 1}"},
	{"power.model.tdp_watts_per_cpu", "3.5", "5"},
	{"power.model.memory_watts_per_gib", "0", "0.38"},
	{"power.platform.source", "none", "auto"},
	{"power.platform.hwmon_name", "power_meter", "other_meter"},
	{"power.platform.max_watts", "20000", "5000"},
	{"gpu.source", "none", "auto"},
	{"gpu.nvml_library", "libnvidia-ml.so.1", "/nonexistent/libnvidia-ml.so.1"},
	{"power.idle_attribution", "none", "usage", .effect = effect_idle},
	{"power.pue", "1.0", "1.2", .effect = effect_pue},
	{"kubernetes.kubelet_url", "http://127.0.0.1:9/", "http://127.0.0.1:10/"},
	{"kubernetes.token_file", "%T/token", "%T/token2"},
	{"kubernetes.cgroup_root", "\"\"", "/nested"},
	{"kubernetes.max_response_bytes", "32MiB", "16MiB"},
	{"kubernetes.ca_file", "\"\"", "%T/ca.pem"},
	{"kubernetes.insecure_skip_verify", "false", "true"},
	{"kubernetes.refresh", "15s", "20s"},
	{"carbon.source", "static", "file"},
	{"carbon.grams_per_kwh", "475", "300"},
	{"carbon.carbon_free_ratio", "0.5", "0.25"},
	{"carbon.watttime.url", "https://api.watttime.org", "http://127.0.0.1:9"},
	{"carbon.watttime.username_file", "/run/wt/user", "/run/wt/user2"},
	{"carbon.watttime.password_file", "/run/wt/password", "/run/wt/password2"},
	{"carbon.watttime.region", "CAISO_NORTH", "PJM_DC"},
	{"carbon.watttime.signal_type", "co2_moer", "co2_aoer"},
	{"carbon.max_age", "2h", "1h"},
	{"carbon.refresh", "15m", "10m"},
	{"carbon.entsoe.url", "http://127.0.0.1:9/api", "http://127.0.0.1:10/api"},
	{"carbon.entsoe.token_file", "\"\"", "%T/token"},
	{"carbon.entsoe.area", "10Y1001A1001A82H", "10YFR-RTE------C"},
	{"carbon.electricitymaps.url", "http://127.0.0.1:9/v3", "http://127.0.0.1:10/v3"},
	{"carbon.electricitymaps.token_file", "\"\"", "%T/token"},
	{"carbon.electricitymaps.zone", "DE", "FR"},
	{"carbon.ukci.url", "http://127.0.0.1:9/", "http://127.0.0.1:10/"},
	{"carbon.ukci.region", "\"\"", "13"},
	{"carbon.file.path", JP_SRCDIR "/tests/fixtures/carbon/carbon_file.csv",
	 JP_SRCDIR "/tests/fixtures/carbon/carbon_file.json"},
	{"carbon.factors", "lifecycle", "direct"},
	{"carbon.embodied.grams_per_node_hour", "0", "30", .effect = effect_embodied},
	{"carbon.forecast.surplus", "false", "true"},
	{"carbon.forecast.source", "none", "file"},
	{"carbon.forecast.refresh", "30m", "20m"},
	{"carbon.forecast.horizon", "24h", "12h"},
	{"carbon.forecast.windows", "[1h, 4h, 8h]", "[2h]"},
	{"metrics.levels", "[node, pod]", "[node, pod, namespace]", .effect = effect_levels},
	{"metrics.compat", "none", "kepler", .effect = effect_kepler},
	{R "name", "r1", "r2"},
	{R "url", "http://127.0.0.1:9/w", "http://127.0.0.1:10/w"},
	{R "protocol", "\"1.0\"", "\"2.0\""},
	{R "timeout", "30s", "10s"},
	{R "headers", "{X-Team: a}", "{X-Team: b}"},
	{R "basic_auth.username", "\"\"", "u"},
	{R "basic_auth.password_file", "\"\"", "%T/token", R "basic_auth.username", "u"},
	{R "bearer_token_file", "\"\"", "%T/token"},
	{R "tls.ca_file", "\"\"", "%T/ca.pem"},
	{R "tls.cert_file", "\"\"", "%T/cert.pem", R "tls.key_file", "%T/key.pem"},
	{R "tls.key_file", "\"\"", "%T/key2.pem", R "tls.cert_file", "%T/cert.pem"},
	{R "tls.insecure_skip_verify", "false", "true"},
	{R "queue.dir", "%T/q", "%T/q2"},
	{R "queue.max_disk_bytes", "1GiB", "2GiB"},
	{R "queue.max_samples_per_send", "2000", "1000"},
	{R "queue.batch_send_deadline", "5s", "1s"},
	{R "queue.min_backoff", "30ms", "40ms"},
	{R "queue.max_backoff", "5s", "6s"},
	{R "queue.max_sample_age", "0s", "2h"},
	{R "tenant.header", "X-Scope-OrgID", "THANOS-TENANT"},
	{R "tenant.label", "namespace", "team"},
	{R "tenant.map", "{}", "{payments: team-pay}"},
	{R "tenant.default", "platform", "other"},
	{R "write_relabel_configs", "[]", "[{source_labels: [namespace], regex: kube-.*, action: drop}]"},
	{"server.listen", "127.0.0.1:%P1", "127.0.0.1:%P2"},
	{"log.level", "info", "warn", .effect = effect_log_level},
	{"log.format", "text", "json", .effect = effect_log_format},
	{"state.dir", "none", "%T/state", .effect = effect_state_kept},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static const struct kcase *find_case(const char *key)
{
	for (size_t i = 0; i < NCASES; i++)
		if (!strcmp(cases[i].key, key))
			return &cases[i];
	return NULL;
}

/* ---- the YAML of one file: every key of the table at its base value, one changed ---- */

struct entry {
	char key[96];
	char val[256];
};

static void subst(char *out, size_t len, const char *in)
{
	size_t o = 0;
	for (const char *p = in; *p && o + 1 < len; p++) {
		if (p[0] == '%' && p[1] == 'T') {
			o += (size_t)snprintf(out + o, len - o, "%s", tmp);
			p++;
		} else if (p[0] == '%' && p[1] == 'P' && (p[2] == '1' || p[2] == '2')) {
			o += (size_t)snprintf(out + o, len - o, "%d", p[2] == '1' ? port1 : port2);
			p += 2;
		} else {
			out[o++] = *p;
		}
		if (o >= len)
			o = len - 1;
	}
	out[o] = '\0';
}

static void set_entry(struct entry *e, size_t *n, const char *key, const char *val)
{
	for (size_t i = 0; i < *n; i++) {
		if (!strcmp(e[i].key, key)) {
			subst(e[i].val, sizeof(e[i].val), val);
			return;
		}
	}
	ck_assert_uint_lt(*n, MAX_ENTRIES);
	snprintf(e[*n].key, sizeof(e[*n].key), "%s", key);
	subst(e[*n].val, sizeof(e[*n].val), val);
	(*n)++;
}

/* Print entries (in table order, so that shared prefixes are adjacent) as nested YAML
 * under `indent`, with `first` in front of the first line (a list item's "- "). */
static void emit(FILE *f, const struct entry *e, size_t n, int indent, const char *first)
{
	char prev[8][48];
	int nprev = 0;
	for (size_t i = 0; i < n; i++) {
		char parts[8][48];
		int np = 0;
		char k[96];
		snprintf(k, sizeof(k), "%s", e[i].key);
		for (char *t = strtok(k, "."); t && np < 8; t = strtok(NULL, "."))
			snprintf(parts[np++], sizeof(parts[0]), "%s", t);
		int common = 0;
		while (common < nprev && common < np - 1 && !strcmp(prev[common], parts[common]))
			common++;
		for (int d = common; d < np; d++) {
			const char *lead = first && i == 0 && d == 0 ? first : "";
			int pad = indent + 2 * d - (int)strlen(lead);
			fprintf(f, "%*s%s%s:%s%s\n", pad > 0 ? pad : 0, "", lead, parts[d], d == np - 1 ? " " : "",
				d == np - 1 ? e[i].val : "");
		}
		for (int d = 0; d < np; d++)
			snprintf(prev[d], sizeof(prev[0]), "%s", parts[d]);
		nprev = np;
	}
}

struct keylist {
	char keys[MAX_ENTRIES][96];
	unsigned cls[MAX_ENTRIES];
	size_t n;
};

static int collect_key_cb(const char *path, unsigned reload, void *arg)
{
	struct keylist *kl = arg;
	ck_assert_uint_lt(kl->n, MAX_ENTRIES);
	snprintf(kl->keys[kl->n], sizeof(kl->keys[0]), "%s", path);
	kl->cls[kl->n++] = reload;
	return 0;
}

static struct keylist keys;

/* Write the config with every key at its base value, `changed` (may be NULL) at its alt. */
static void write_config(const char *path, const struct kcase *changed)
{
	struct entry top[MAX_ENTRIES], rem[MAX_ENTRIES];
	size_t nt = 0, nr = 0;
	for (size_t i = 0; i < keys.n; i++) {
		const struct kcase *c = find_case(keys.keys[i]);
		ck_assert_msg(c != NULL, "no reload case for key %s", keys.keys[i]);
		const char *v = c == changed ? c->alt : c->base;
		if (!strncmp(c->key, R, strlen(R)))
			set_entry(rem, &nr, c->key + strlen(R), v);
		else
			set_entry(top, &nt, c->key, v);
	}
	if (changed && changed->extra_key) {
		if (!strncmp(changed->extra_key, R, strlen(R)))
			set_entry(rem, &nr, changed->extra_key + strlen(R), changed->extra_val);
		else
			set_entry(top, &nt, changed->extra_key, changed->extra_val);
	}
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	emit(f, top, nt, 0, NULL);
	fprintf(f, "remote_write:\n");
	emit(f, rem, nr, 4, "- ");
	ck_assert_int_eq(fclose(f), 0);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	socklen_t len = sizeof(sa);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void touch(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/check_reload_XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	touch("token", "t0k3n\n");
	touch("token2", "t0k3n2\n");
	touch("ca.pem", "");
	port1 = free_port();
	port2 = free_port();
	while (port2 == port1)
		port2 = free_port();
	keys.n = 0;
	ck_assert_int_eq(jp_config_foreach_key(collect_key_cb, &keys), 0);
	jp_log_configure(JP_LOG_ERROR, 0);
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

struct diffrec {
	char paths[400];
	size_t n;
	unsigned cls;
};

static void diff_cb(const char *path, unsigned cls, void *arg)
{
	struct diffrec *d = arg;
	size_t used = strlen(d->paths);
	snprintf(d->paths + used, sizeof(d->paths) - used, "%s%s", used ? "," : "", path);
	d->n++;
	d->cls |= cls;
}

static void stopped_cb(void *arg)
{
	*(int *)arg = 1;
}

/* The part the class of a key rebuilds: which counter must move by one. */
static unsigned moved(const struct jp_agent_parts *b, const struct jp_agent_parts *a)
{
	unsigned m = 0;
	if (a->collector_opens != b->collector_opens)
		m |= JP_RELOAD_COLLECTOR;
	if (a->kubelet_opens != b->kubelet_opens)
		m |= JP_RELOAD_KUBELET;
	if (a->carbon_opens != b->carbon_opens)
		m |= JP_RELOAD_CARBON;
	if (a->sender_creates != b->sender_creates)
		m |= JP_RELOAD_REMOTE;
	if (a->server_starts != b->server_starts)
		m |= JP_RELOAD_SERVER;
	return m;
}

static int have_cgroup2(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[1024];
	int found = 0;
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, " - cgroup2 "))
			found = 1;
	if (f)
		fclose(f);
	return found;
}

static void run_case(const struct kcase *c, unsigned cls)
{
	char base[160], alt[160];
	snprintf(base, sizeof(base), "%s/base.yaml", tmp);
	snprintf(alt, sizeof(alt), "%s/alt.yaml", tmp);
	write_config(base, NULL);
	write_config(alt, c);

	/* The diff of the two files names this key alone (and the helper key, if any),
	 * with the class of the schema. */
	struct jp_config *ca = calloc(1, sizeof(*ca)), cb;
	char err[JP_CONFIG_ERR_MAX];
	ck_assert_msg(jp_config_load(ca, base, err, sizeof(err)) == 0, "%s: base: %s", c->key, err);
	ck_assert_msg(jp_config_load(&cb, alt, err, sizeof(err)) == 0, "%s: changed: %s", c->key, err);
	struct diffrec d = {"", 0, 0};
	unsigned got = jp_config_diff(ca, &cb, diff_cb, &d);
	ck_assert_msg(got == cls && d.cls == cls, "%s: diff class %s, the schema says %s (changed: %s)", c->key,
		      jp_reload_class_name(got), jp_reload_class_name(cls), d.paths);
	ck_assert_msg(d.n >= 1 && (strstr(d.paths, c->key + (strncmp(c->key, R, strlen(R)) ? 0 : strlen(R))) ||
				   strstr(d.paths, "remote_write[")),
		      "%s: the diff names %s", c->key, d.paths);
	jp_config_free(&cb);

	/* A running agent. */
	uv_loop_t loop;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	struct jp_agent *a = jp_agent_create(&loop, ca);
	ck_assert_msg(a != NULL, "%s: agent", c->key);
	ck_assert_int_eq(jp_agent_start(a), 0);
	int64_t ts = 1700000000000;
	ck_assert_int_eq(jp_agent_collect_now(a, ts), 0);
	ck_assert_int_eq(jp_agent_collect_now(a, ts += 1000), 0);
	struct jp_agent_parts before, after;
	jp_agent_get_parts(a, &before);

	ck_assert_msg(jp_agent_reload(a, alt) == 0, "%s: reload failed", c->key);
	jp_agent_get_parts(a, &after);
	unsigned m = moved(&before, &after);
	unsigned want = cls & ~(JP_RELOAD_LIVE | JP_RELOAD_RESTART);
	ck_assert_msg(m == want, "%s (class %s): rebuilt 0x%x, want 0x%x", c->key, jp_reload_class_name(cls), m,
		      want);
	/* What was rebuilt was rebuilt once. */
	ck_assert_uint_le(after.collector_opens - before.collector_opens, 1);
	ck_assert_uint_le(after.sender_creates - before.sender_creates, 1);
	if (cls == JP_RELOAD_REMOTE)
		ck_assert_uint_eq(after.nsenders, 1);

	/* One round under the new config, then the effect: series with the old labels got
	 * their stale markers in that round's commit and are gone from the store (the
	 * markers themselves: check_store, test_external_labels_reload.sh). */
	ck_assert_int_eq(jp_agent_collect_now(a, ts += 1000), 0);
	jp_agent_get_parts(a, &after);
	if (c->effect)
		ck_assert_msg(c->effect(&before, &after), "%s: no effect after the reload", c->key);

	int stopped = 0;
	jp_agent_stop(a, 0, stopped_cb, &stopped);
	while (!stopped && uv_run(&loop, UV_RUN_ONCE))
		;
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(stopped, 1);
	jp_agent_destroy(a);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}

START_TEST(test_every_key)
{
	ck_assert_uint_gt(keys.n, 50);
	size_t done = 0;
	for (size_t i = 0; i < keys.n; i++) {
		const struct kcase *c = find_case(keys.keys[i]);
		ck_assert_msg(c != NULL, "no reload case for key %s: say what changing it does", keys.keys[i]);
		if (!strcmp(c->key, "collector.mode") && !have_cgroup2())
			continue;
		run_case(c, keys.cls[i]);
		done++;
	}
	ck_assert_uint_ge(done, keys.n - 1);
}
END_TEST

/* A bad file changes nothing. */
START_TEST(test_bad_reload_changes_nothing)
{
	char base[160], bad[160];
	snprintf(base, sizeof(base), "%s/base.yaml", tmp);
	snprintf(bad, sizeof(bad), "%s/bad.yaml", tmp);
	write_config(base, NULL);
	FILE *f = fopen(bad, "w");
	ck_assert_ptr_nonnull(f);
	fputs("interval: 5 parsecs\n", f);
	fclose(f);
	struct jp_config *ca = calloc(1, sizeof(*ca));
	char err[JP_CONFIG_ERR_MAX];
	ck_assert_int_eq(jp_config_load(ca, base, err, sizeof(err)), 0);
	uv_loop_t loop;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	struct jp_agent *a = jp_agent_create(&loop, ca);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(jp_agent_start(a), 0);
	struct jp_agent_parts before, after;
	jp_agent_get_parts(a, &before);
	ck_assert_int_lt(jp_agent_reload(a, bad), 0);
	jp_agent_get_parts(a, &after);
	ck_assert_uint_eq(moved(&before, &after), 0);
	ck_assert_ptr_eq(before.cfg, after.cfg);
	int stopped = 0;
	jp_agent_stop(a, 0, stopped_cb, &stopped);
	while (!stopped && uv_run(&loop, UV_RUN_ONCE))
		;
	uv_run(&loop, UV_RUN_DEFAULT);
	jp_agent_destroy(a);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = tcase_create("matrix");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_bad_reload_changes_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(reload_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
