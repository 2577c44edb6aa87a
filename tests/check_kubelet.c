/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the PodList parser and the kubelet client against a mock kubelet serving HTTPS on loopback. */
#include <check.h>
#include <sys/resource.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "kube/kubelet.h"
#include "kube/podlist.h"
#include "remote/http.h"
#include "util/log.h"

#define FIX JP_SRCDIR "/tests/fixtures/kubelet/"

#define UID_WEB "4a5e2b0c-1d3f-4e8a-9b7c-2f6d1e0a3b91"
#define UID_DNS "9c3b7a61-2e4d-4f1a-8b6c-5d0e9f8a7b6c"
#define UID_BATCH "e1d2c3b4-a596-4877-8899-aabbccddeeff"
#define UID_STATIC "3f2504e04f8911d39a0c0305e82c3301"
#define UID_WORKER "77777777-8888-4999-aaaa-bbbbbbbbbbbb"
#define ID_NGINX "a3f1c2d4e5b60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define ID_APP "b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f809"
#define ID_MIGRATE "1111111111111111111111111111111111111111111111111111111111111111"
#define ID_DNS "5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
#define ID_CLEANUP "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID_DEBUG "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* ---- the mock kubelet (tests/fixtures/kubelet/mock_kubelet.py) ------------------ */

static char dir[256];            /* control files, certificates, token */
static int port;
static pid_t mock_pid;

static void path_of(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

/* Replaces <dir>/name atomically, so the mock never reads half a file. */
static int put_file(const char *name, const void *data, size_t len)
{
	char p[PATH_MAX], tmp[PATH_MAX + 8];
	path_of(p, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", p);
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return -1;
	size_t n = fwrite(data, 1, len, f);
	if (fclose(f) != 0 || n != len)
		return -1;
	return rename(tmp, p);
}

static void write_file(const char *name, const void *data, size_t len)
{
	ck_assert_msg(put_file(name, data, len) == 0, "cannot write %s", name);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
		free(b);
		fclose(f);
		return NULL;
	}
	fclose(f);
	b[n] = '\0';
	if (len)
		*len = (size_t)n;
	return b;
}

/* What the mock answers from now on: a fixture file, a status and a delay. */
static void answer(const char *fixture, int status, int delay_ms)
{
	char p[PATH_MAX], num[32];
	snprintf(p, sizeof(p), FIX "%s", fixture);
	size_t len;
	char *body = slurp(p, &len);
	ck_assert_msg(body != NULL, "fixture %s", p);
	write_file("body", body, len);
	free(body);
	snprintf(num, sizeof(num), "%d", status);
	write_file("status", num, strlen(num));
	snprintf(num, sizeof(num), "%d", delay_ms);
	write_file("delay_ms", num, strlen(num));
}

/* The mock's request log: one "<path> <Authorization>" line per request. */
static char *requests(void)
{
	char p[PATH_MAX];
	path_of(p, "requests");
	char *s = slurp(p, NULL);
	return s ? s : strdup("");
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static int request_count(void)
{
	char *s = requests();
	int n = count_lines(s);
	free(s);
	return n;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* Certificates for 127.0.0.1 (the one the mock serves and another that must not verify),
 * then the mock itself. Returns 0, or -1 when python3 or openssl is missing. */
static int mock_start(void)
{
	if (sh("command -v python3 >/dev/null && command -v openssl >/dev/null") != 0)
		return -1;
	snprintf(dir, sizeof(dir), "%s/jp-kubelet-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	const char *names[] = {"server", "other"};
	for (int i = 0; i < 2; i++) {
		if (sh("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		       "-keyout %s.key -out %s.crt -days 2 -subj /CN=127.0.0.1 "
		       "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
		       dir, names[i], names[i]) != 0) {
			fprintf(stderr, "openssl could not make a certificate\n");
			return -1;
		}
	}
	if (put_file("body", "{}", 2) != 0)
		return -1;
	mock_pid = fork();
	if (mock_pid == 0) {
		/* The mock goes when the test binary goes, however it ends. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		char crt[PATH_MAX], key[PATH_MAX];
		path_of(crt, "server.crt");
		path_of(key, "server.key");
		execlp("python3", "python3", FIX "mock_kubelet.py", dir, crt, key, (char *)NULL);
		_exit(127);
	}
	char p[PATH_MAX];
	path_of(p, "port");
	for (int i = 0; i < 1000; i++) {
		char *s = slurp(p, NULL);
		if (s) {
			port = atoi(s);
			free(s);
			return port > 0 ? 0 : -1;
		}
		int st;
		if (waitpid(mock_pid, &st, WNOHANG) == mock_pid) {
			fprintf(stderr, "mock kubelet exited\n");
			return -1;
		}
		usleep(10000);
	}
	return -1;
}

static void mock_stop(void)
{
	if (mock_pid > 0) {
		kill(mock_pid, SIGTERM);
		waitpid(mock_pid, NULL, 0);
	}
	if (dir[0])
		sh("rm -rf '%s'", dir);
}

/* ---- one loop, one HTTP client, one kubelet client per test ------------------------ */

static uv_loop_t loop;
static struct jp_http *http;
static struct jp_config cfg;

static void replace(char **field, const char *v)
{
	free(*field);
	*field = v ? strdup(v) : NULL;
}

static void token(const char *t)
{
	write_file("token", t, strlen(t));
}

/* Config for the mock: HTTPS with the mock's CA and a token file. */
static void setup(void)
{
	char url[64], p[PATH_MAX];
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	http = jp_http_create(&loop);
	ck_assert_ptr_nonnull(http);
	ck_assert_int_eq(jp_config_defaults(&cfg), 0);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", port);
	replace(&cfg.kubelet_url, url);
	path_of(p, "token");
	replace(&cfg.kube_token_file, p);
	path_of(p, "server.crt");
	replace(&cfg.kube_ca_file, p);
	cfg.kube_refresh_ms = 3600 * 1000;   /* tests refresh explicitly unless they say otherwise */
	token("tok-SECRET-abc.def_1\n");
	write_file("requests", "", 0);
	jp_log_configure(JP_LOG_DEBUG, 0);
}

static void guard_cb(uv_timer_t *t)
{
	*(int *)t->data = 1;
}

/* Run the loop until pred(arg) or timeout_ms; pred NULL runs for timeout_ms. */
static int run_until(int (*pred)(void *), void *arg, uint64_t timeout_ms)
{
	uv_timer_t guard;
	int expired = 0;
	uv_timer_init(&loop, &guard);
	guard.data = &expired;
	uv_timer_start(&guard, guard_cb, timeout_ms, 0);
	int ok = 0;
	while (!expired) {
		if (pred && pred(arg)) {
			ok = 1;
			break;
		}
		uv_run(&loop, UV_RUN_ONCE);
	}
	if (!ok && pred)
		ok = pred(arg);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return ok;
}

struct wait {
	struct jp_kubelet *k;
	uint64_t n;
};

/* At least n refreshes have finished, one way or the other. */
static int pred_done(void *arg)
{
	struct wait *w = arg;
	struct jp_kubelet_stats st;
	jp_kubelet_get_stats(w->k, &st);
	return st.refreshes_ok + st.refreshes_failed >= w->n && !st.in_flight;
}

static uint64_t finished(struct jp_kubelet *k)
{
	struct jp_kubelet_stats st;
	jp_kubelet_get_stats(k, &st);
	return st.refreshes_ok + st.refreshes_failed;
}

static void wait_finished(struct jp_kubelet *k, uint64_t n, uint64_t timeout_ms)
{
	struct wait w = {k, n};
	ck_assert_msg(run_until(pred_done, &w, timeout_ms), "refresh %llu did not finish", (unsigned long long)n);
}

static struct jp_kubelet *start(void)
{
	struct jp_kubelet *k = jp_kubelet_create(&loop, http, &cfg);
	ck_assert_ptr_nonnull(k);
	return k;
}

static int pred_flag(void *arg)
{
	return *(int *)arg;
}

static void set_flag(void *arg)
{
	*(int *)arg = 1;
}

static void teardown_with(struct jp_kubelet *k)
{
	int kclosed = 0, hclosed = 0;
	jp_kubelet_close(k, set_flag, &kclosed);
	ck_assert(run_until(pred_flag, &kclosed, 2000));
	jp_http_close(http, set_flag, &hclosed);
	ck_assert(run_until(pred_flag, &hclosed, 2000));
	run_until(NULL, NULL, 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	jp_config_free(&cfg);
}

static void refresh_now(struct jp_kubelet *k)
{
	uint64_t before = finished(k);
	ck_assert_int_eq(jp_kubelet_request_refresh(k), 0);
	wait_finished(k, before + 1, 5000);
}

static void assert_pod(struct jp_kubelet *k, const char *uid, const char *ns, const char *name, double cpu)
{
	struct jp_pod_meta m;
	ck_assert_msg(jp_kubelet_lookup(uid, &m, k) == 0, "pod %s not found", uid);
	ck_assert_str_eq(m.ns, ns);
	ck_assert_str_eq(m.name, name);
	ck_assert_msg(fabs(m.cpu_request - cpu) < 1e-9, "%s: cpu %g, want %g", uid, m.cpu_request, cpu);
}

static const char *cname(struct jp_kubelet *k, const char *uid, const char *id)
{
	struct jp_pod_meta m;
	if (jp_kubelet_lookup(uid, &m, k) != 0)
		return NULL;
	return m.container_name(m.ctx, id);
}

static void assert_fixture_pods(struct jp_kubelet *k)
{
	assert_pod(k, UID_WEB, "shop", "web-7d9f8b6c5d-x2x9q", 1.25);
	assert_pod(k, UID_DNS, "kube-system", "coredns-5dd5756b68-k8r2m", 0.1);
	assert_pod(k, UID_BATCH, "ops", "batch-cleanup-28571230-zq7xk", 0);
	assert_pod(k, UID_STATIC, "kube-system", "kube-proxy-node-a", 0.5);
}

/* ---- pure parsing ------------------------------------------------------------------- */

START_TEST(test_cpu_quantities)
{
	static const struct {
		const char *s;
		double cores;
		int ok;
	} cases[] = {
		{"250m", 0.25, 1}, {"1", 1, 1}, {"0.5", 0.5, 1}, {"1500m", 1.5, 1}, {"2", 2, 1},
		{"100u", 1e-4, 1}, {"5n", 5e-9, 1}, {"1k", 1000, 1}, {"1e3", 1000, 1}, {"1e3m", 0, 0}, {"1E-3", 0.001, 1},
		{".5", 0.5, 1}, {"+2", 2, 1}, {"1Ki", 1024, 1}, {"0", 0, 1}, {"2.", 2, 1},
		{"", 0, 0}, {"m", 0, 0}, {"-1", 0, 0}, {"abc", 0, 0}, {"1.5.5", 0, 0}, {"1mm", 0, 0},
		{"1 ", 0, 0}, {" 1", 0, 0}, {"1e", 0, 0}, {"1e+", 0, 0}, {"1Xi", 0, 0}, {"1e99999", 0, 0},
		{"0x10", 0, 0}, {"NaN", 0, 0}, {"inf", 0, 0}, {"1i", 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double v = -1;
		int r = jp_kube_parse_cpu(cases[i].s, strlen(cases[i].s), &v);
		if (cases[i].ok) {
			ck_assert_msg(r == 0, "\"%s\" refused", cases[i].s);
			ck_assert_msg(fabs(v - cases[i].cores) < 1e-12, "\"%s\": %g", cases[i].s, v);
		} else {
			ck_assert_msg(r == -EINVAL, "\"%s\" accepted as %g", cases[i].s, v);
		}
	}
}
END_TEST

START_TEST(test_parse_fixture)
{
	size_t len;
	char *body = slurp(FIX "pods.json", &len);
	ck_assert_ptr_nonnull(body);
	struct jp_podlist_report rep;
	struct jp_podlist *pl = jp_podlist_parse(body, len, &rep);
	ck_assert_ptr_nonnull(pl);
	ck_assert_uint_eq(jp_podlist_count(pl), 4);
	ck_assert_uint_eq(rep.skipped_pods, 0);
	ck_assert_uint_eq(rep.skipped_fields, 0);
	const struct jp_kube_pod *web = jp_podlist_find(pl, UID_WEB);
	ck_assert_ptr_nonnull(web);
	/* UIDs match without regard to case. */
	ck_assert_ptr_eq(jp_podlist_find(pl, "4A5E2B0C-1D3F-4E8A-9B7C-2F6D1E0A3B91"), web);
	ck_assert_uint_eq(web->n_containers, 3);
	ck_assert_str_eq(jp_kube_pod_container_name(web, ID_MIGRATE), "migrate");
	ck_assert_str_eq(jp_kube_pod_container_name(web, "containerd://" ID_NGINX), "nginx");
	ck_assert_ptr_null(jp_kube_pod_container_name(web, ID_DNS));
	ck_assert_ptr_null(jp_kube_pod_container_name(web, ""));
	ck_assert_ptr_null(jp_podlist_find(pl, "nope"));
	/* The static pod's container is still waiting: no id, no entry. */
	ck_assert_uint_eq(jp_podlist_find(pl, UID_STATIC)->n_containers, 0);
	jp_podlist_destroy(pl);

	/* The buffer is not NUL-terminated: a prefix is a truncated document. */
	errno = 0;
	ck_assert_ptr_null(jp_podlist_parse(body, len / 2, &rep));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(rep.first, "not JSON") != NULL, "%s", rep.first);
	free(body);
}
END_TEST

START_TEST(test_parse_edges)
{
	static const struct {
		const char *doc;
		int ok;
		size_t pods;
	} cases[] = {
		{"{\"kind\":\"PodList\",\"items\":[]}", 1, 0},
		{"{\"kind\":\"PodList\",\"items\":null}", 1, 0},
		{"{\"kind\":\"PodList\"}", 1, 0},
		{"{\"items\":[{\"metadata\":{\"uid\":\"u\",\"name\":\"n\",\"namespace\":\"s\"}}]}  \n", 1, 1},
		{"{\"kind\":\"Status\",\"items\":[]}", 0, 0},
		{"{\"kind\":7,\"items\":[]}", 0, 0},
		{"{\"kind\":\"PodList\",\"items\":{}}", 0, 0},
		{"{\"kind\":\"PodList\",\"items\":\"x\"}", 0, 0},
		{"[]", 0, 0},
		{"", 0, 0},
		{"null", 0, 0},
		{"{} {}", 0, 0},
		{"{\"items\":[]} x", 0, 0},
		{"{\"items\":[{\"metadata\":{\"uid\":\"u\\u0000x\",\"name\":\"n\",\"namespace\":\"s\"}}]}", 1, 0},
		{"{\"items\":[{\"metadata\":{\"uid\":\"\",\"name\":\"n\",\"namespace\":\"s\"}}]}", 1, 0},
		{"{\"items\":[{\"metadata\":{\"uid\":\"u\",\"name\":\"n\",\"namespace\":\"s\"},"
		 "\"spec\":{\"containers\":[{\"resources\":{\"requests\":{\"cpu\":2}}},"
		 "{\"resources\":{\"requests\":{\"cpu\":-2}}}]}}]}", 1, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jp_podlist_report rep;
		struct jp_podlist *pl = jp_podlist_parse(cases[i].doc, strlen(cases[i].doc), &rep);
		ck_assert_msg((pl != NULL) == cases[i].ok, "case %zu: %s", i, rep.first);
		if (pl)
			ck_assert_msg(jp_podlist_count(pl) == cases[i].pods, "case %zu: %zu pods", i, jp_podlist_count(pl));
		jp_podlist_destroy(pl);
	}
	/* A bare JSON number is a quantity too (resource.Quantity unmarshals it); -2 is not. */
	const char *doc = cases[15].doc;
	struct jp_podlist_report rep;
	struct jp_podlist *pl = jp_podlist_parse(doc, strlen(doc), &rep);
	ck_assert_double_eq_tol(jp_podlist_find(pl, "u")->cpu_request, 2, 1e-12);
	ck_assert_uint_eq(rep.skipped_fields, 1);
	jp_podlist_destroy(pl);

	/* Deep nesting is refused by the tokener, not by the stack. */
	size_t depth = 100000;
	char *deep = malloc(depth * 2 + 16);
	ck_assert_ptr_nonnull(deep);
	size_t n = 0;
	n += (size_t)sprintf(deep, "{\"items\":");
	for (size_t i = 0; i < depth; i++)
		deep[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	ck_assert_ptr_null(jp_podlist_parse(deep, n, &rep));
	free(deep);
}
END_TEST

START_TEST(test_parse_wrong_types)
{
	size_t len;
	char *body = slurp(FIX "wrong_types.json", &len);
	struct jp_podlist_report rep;
	struct jp_podlist *pl = jp_podlist_parse(body, len, &rep);
	ck_assert_ptr_nonnull(pl);
	/* ok-pod and spec-array survive; the rest (and the duplicate UID) are skipped. */
	ck_assert_uint_eq(jp_podlist_count(pl), 2);
	ck_assert_uint_eq(rep.skipped_pods, 7);
	ck_assert_uint_ge(rep.skipped_fields, 8);
	ck_assert(rep.first[0]);
	const struct jp_kube_pod *ok = jp_podlist_find(pl, "aaaaaaaa-0000-4000-8000-000000000001");
	ck_assert_ptr_nonnull(ok);
	ck_assert_str_eq(ok->name, "ok-pod");
	ck_assert_double_eq_tol(ok->cpu_request, 0.3, 1e-12);
	ck_assert_str_eq(jp_kube_pod_container_name(ok, "ee"), "good");
	ck_assert_ptr_null(jp_kube_pod_container_name(ok, "dd"));
	const struct jp_kube_pod *sa = jp_podlist_find(pl, "aaaaaaaa-0000-4000-8000-000000000003");
	ck_assert_ptr_nonnull(sa);
	ck_assert_double_eq(sa->cpu_request, 0);
	jp_podlist_destroy(pl);
	free(body);
}
END_TEST

/* ---- the client against the mock kubelet ------------------------------------------- */

START_TEST(test_resolve_with_ca)
{
	setup();
	answer("pods.json", 200, 0);
	struct jp_kubelet *k = start();
	/* Nothing is known before the first answer. */
	struct jp_pod_meta m;
	ck_assert_int_eq(jp_kubelet_lookup(UID_WEB, &m, k), -ENOENT);
	wait_finished(k, 1, 5000);
	struct jp_kubelet_stats st;
	jp_kubelet_get_stats(k, &st);
	ck_assert_uint_eq(st.refreshes_ok, 1);
	ck_assert_uint_eq(st.pods, 4);
	assert_fixture_pods(k);
	ck_assert_str_eq(cname(k, UID_WEB, ID_NGINX), "nginx");
	ck_assert_str_eq(cname(k, UID_WEB, ID_APP), "app");          /* upper-case id in the list */
	ck_assert_str_eq(cname(k, UID_WEB, ID_MIGRATE), "migrate");  /* init container */
	ck_assert_str_eq(cname(k, UID_DNS, ID_DNS), "coredns");      /* cri-o:// */
	ck_assert_str_eq(cname(k, UID_BATCH, ID_CLEANUP), "cleanup"); /* docker:// */
	ck_assert_str_eq(cname(k, UID_BATCH, ID_DEBUG), "debugger-8xk2p"); /* ephemeral */
	ck_assert_ptr_null(cname(k, UID_BATCH, ID_NGINX));
	ck_assert_int_eq(jp_kubelet_lookup("00000000-0000-0000-0000-000000000000", &m, k), -ENOENT);

	/* GET /pods with the bearer token from the file. */
	char *r = requests();
	ck_assert_str_eq(r, "/pods Bearer tok-SECRET-abc.def_1\n");
	free(r);
	teardown_with(k);
}
END_TEST

START_TEST(test_insecure_skip_verify)
{
	setup();
	replace(&cfg.kube_ca_file, "");
	cfg.kube_insecure_skip_verify = 1;
	answer("pods.json", 200, 0);
	struct jp_kubelet *k = start();
	wait_finished(k, 1, 5000);
	assert_fixture_pods(k);
	teardown_with(k);
}
END_TEST

START_TEST(test_verification_is_on)
{
	/* A CA that did not sign the kubelet's certificate: no data, and nothing sent. */
	char p[PATH_MAX];
	setup();
	path_of(p, "other.crt");
	replace(&cfg.kube_ca_file, p);
	answer("pods.json", 200, 0);
	struct jp_kubelet *k = start();
	wait_finished(k, 1, 5000);
	struct jp_kubelet_stats st;
	jp_kubelet_get_stats(k, &st);
	ck_assert_uint_eq(st.refreshes_ok, 0);
	ck_assert_uint_eq(st.refreshes_failed, 1);
	struct jp_pod_meta m;
	ck_assert_int_eq(jp_kubelet_lookup(UID_WEB, &m, k), -ENOENT);
	ck_assert_int_eq(request_count(), 0);
	teardown_with(k);
}
END_TEST

START_TEST(test_token_rotates_and_is_never_logged)
{
	char logp[PATH_MAX];
	setup();
	path_of(logp, "stderr.log");
	/* This runs in Check's forked child: stderr goes to a file for the rest of it. */
	int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(dup2(fd, 2), 0);
	close(fd);

	answer("pods.json", 200, 0);
	struct jp_kubelet *k = start();
	jp_kubelet_set_limits(k, 1, 0, 0);
	wait_finished(k, 1, 5000);

	token("tok-SECRET-rotated\n");
	refresh_now(k);
	/* A token file that turns bad keeps the previous token. */
	token("not a token\n");
	refresh_now(k);
	/* Failures log their reasons; none of them may carry the token. */
	answer("status_401.json", 401, 0);
	refresh_now(k);
	answer("garbage.txt", 200, 0);
	refresh_now(k);
	answer("pods.json", 500, 0);
	refresh_now(k);

	char *r = requests();
	ck_assert_str_eq(r, "/pods Bearer tok-SECRET-abc.def_1\n"
			    "/pods Bearer tok-SECRET-rotated\n"
			    "/pods Bearer tok-SECRET-rotated\n"
			    "/pods Bearer tok-SECRET-rotated\n"
			    "/pods Bearer tok-SECRET-rotated\n"
			    "/pods Bearer tok-SECRET-rotated\n");
	free(r);
	teardown_with(k);
	fflush(stderr);

	char *log = slurp(logp, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, "SECRET") == NULL, "token in the log:\n%s", log);
	ck_assert_msg(strstr(log, "not a token") == NULL, "token file content in the log:\n%s", log);
	ck_assert_msg(strstr(log, "HTTP 401") != NULL, "no log line for the 401:\n%s", log);
	ck_assert_msg(strstr(log, "using the previous token") != NULL, "no log line for the bad token:\n%s", log);
	free(log);
}
END_TEST

/* A token over plain http is sent in clear: said once; CA files are an https matter. */
START_TEST(test_plain_http_warnings)
{
	char logp[PATH_MAX];
	setup();
	path_of(logp, "stderr.log");
	int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(dup2(fd, 2), 0);
	close(fd);
	char url[64], p[PATH_MAX];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	replace(&cfg.kubelet_url, url);
	path_of(p, "no-such-ca.crt");
	replace(&cfg.kube_ca_file, p);
	struct jp_kubelet *k = start();
	teardown_with(k);
	fflush(stderr);
	char *log = slurp(logp, NULL);
	ck_assert_ptr_nonnull(log);
	ck_assert_msg(strstr(log, "sent unencrypted") != NULL, "no warning about the token over http:\n%s", log);
	ck_assert_msg(strstr(log, "TLS verification") == NULL, "a CA warning for plain http:\n%s", log);
	ck_assert_msg(strstr(log, "SECRET") == NULL, "token in the log:\n%s", log);
	free(log);
}
END_TEST

START_TEST(test_unreadable_token_at_create)
{
	char p[PATH_MAX];
	setup();
	path_of(p, "no-such-token");
	replace(&cfg.kube_token_file, p);
	/* A token file named in the config must exist. */
	cfg.kube_token_file_explicit = 1;
	errno = 0;
	ck_assert_ptr_null(jp_kubelet_create(&loop, http, &cfg));
	ck_assert_int_eq(errno, ENOENT);
	/* A FIFO where the token should be is refused at once, never waited on. */
	path_of(p, "token-fifo");
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	replace(&cfg.kube_token_file, p);
	errno = 0;
	ck_assert_ptr_null(jp_kubelet_create(&loop, http, &cfg));
	ck_assert_int_eq(errno, EINVAL);
	unlink(p);
	path_of(p, "no-such-token");
	replace(&cfg.kube_token_file, p);
	/* The default path that does not exist (an agent outside a pod): a warning, and
	 * requests without Authorization. */
	cfg.kube_token_file_explicit = 0;
	answer("pods.json", 200, 0);
	struct jp_kubelet *k = start();
	wait_finished(k, 1, 5000);
	char *r = requests();
	ck_assert_str_eq(r, "/pods -\n");
	free(r);
	teardown_with(k);
}
END_TEST

START_TEST(test_refresh_on_unknown_uid_is_rate_limited)
{
	setup();
	answer("pods.json", 200, 0);
	struct jp_kubelet *k = start();
	jp_kubelet_set_limits(k, 600, 0, 0);
	wait_finished(k, 1, 5000);
	ck_assert_int_eq(request_count(), 1);

	/* The periodic refresh just ran: the extra one waits for the end of the gap, and
	 * every further ask until then is folded into it. */
	ck_assert_int_eq(jp_kubelet_request_refresh(k), 0);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(jp_kubelet_request_refresh(k), -EBUSY);
	run_until(NULL, NULL, 300);
	ck_assert_int_eq(request_count(), 1);
	wait_finished(k, 2, 3000);
	ck_assert_int_eq(request_count(), 2);

	/* After a full gap an ask starts at once; while it is in flight, no second one. */
	run_until(NULL, NULL, 650);
	answer("pods.json", 200, 300);
	ck_assert_int_eq(jp_kubelet_request_refresh(k), 0);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(jp_kubelet_request_refresh(k), -EBUSY);
	wait_finished(k, 3, 3000);
	run_until(NULL, NULL, 200);
	ck_assert_int_eq(request_count(), 3);
	struct jp_kubelet_stats st;
	jp_kubelet_get_stats(k, &st);
	ck_assert_uint_eq(st.extra_refreshes, 2);
	teardown_with(k);
}
END_TEST

/* Counts loop iterations (uv_check runs once per iteration) and those that ran while
 * a refresh was in flight: behaviour, not time. */
struct iter_count {
	uv_check_t c;
	struct jp_kubelet *k;
	unsigned total, in_flight;
};

static void iter_cb(uv_check_t *c)
{
	struct iter_count *ic = c->data;
	ic->total++;
	if (ic->k) {
		struct jp_kubelet_stats st;
		jp_kubelet_get_stats(ic->k, &st);
		ic->in_flight += st.in_flight != 0;
	}
}

static void iter_start(struct iter_count *ic)
{
	memset(ic, 0, sizeof(*ic));
	uv_check_init(&loop, &ic->c);
	ic->c.data = ic;
	uv_check_start(&ic->c, iter_cb);
}

START_TEST(test_slow_kubelet_never_blocks)
{
	setup();
	answer("pods.json", 200, 3000);
	struct iter_count ic;
	iter_start(&ic);
	struct jp_kubelet *k = start();
	ic.k = k;
	jp_kubelet_set_limits(k, 0, 15000, 0);
	wait_finished(k, 1, 12000);
	/* The loop kept turning while the kubelet took its time. */
	ck_assert_msg(ic.in_flight >= 2, "only %u loop iterations while the request was in flight", ic.in_flight);
	assert_fixture_pods(k);
	uv_close((uv_handle_t *)&ic.c, NULL);
	teardown_with(k);
}
END_TEST

/* Close the items array and the document in f (written to tmp) and make it the mock's
 * answer: 200, at once. */
static void serve_body(FILE *f, const char *tmp)
{
	fputs("]}\n", f);
	ck_assert_int_eq(fclose(f), 0);
	char q[PATH_MAX];
	path_of(q, "body");
	ck_assert_int_eq(rename(tmp, q), 0);
	write_file("status", "200", 3);
	write_file("delay_ms", "0", 1);
}

/* A PodList of about mib MiB: n pods shaped like a real one, each with a large annotation
 * (last-applied-configuration is often kilobytes). Returns the pod count. */
static size_t write_big_podlist(size_t mib)
{
	char p[PATH_MAX];
	path_of(p, "body.tmp");
	FILE *f = fopen(p, "wb");
	ck_assert_ptr_nonnull(f);
	char pad[2049];
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	fputs("{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":[", f);
	size_t n = 0;
	while ((size_t)ftell(f) < mib << 20) {
		fprintf(f, "%s{\"metadata\":{\"name\":\"web-%zu\",\"namespace\":\"ns-%zu\","
			"\"uid\":\"%08zx-0000-4000-8000-%012zx\",\"labels\":{\"app\":\"web\",\"tier\":\"front\"},"
			"\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"%s\"}},"
			"\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"registry.example/web:1\","
			"\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"128Mi\"}}},"
			"{\"name\":\"sidecar\",\"resources\":{\"requests\":{\"cpu\":\"50m\"}}}]},"
			"\"status\":{\"phase\":\"Running\",\"qosClass\":\"Burstable\",\"containerStatuses\":["
			"{\"name\":\"app\",\"containerID\":\"containerd://%064zx\"},"
			"{\"name\":\"sidecar\",\"containerID\":\"containerd://%063zx1\"}]}}",
			n ? "," : "", n, n % 50, n, n, pad, n, n);
		n++;
	}
	serve_body(f, p);
	return n;
}

START_TEST(test_large_body_parsed_as_it_arrives)
{
	setup();
	size_t n = write_big_podlist(50);
	struct iter_count ic;
	iter_start(&ic);
	struct jp_kubelet *k = start();
	ic.k = k;
	jp_kubelet_set_limits(k, 0, 0, 64u << 20);
	wait_finished(k, 1, 120000);
	struct jp_kubelet_stats st;
	jp_kubelet_get_stats(k, &st);
	printf("check_kubelet: 50 MiB PodList, %zu pods: %llu pieces of at most %zu bytes, parse CPU %.0f ms, "
	       "longest piece %.2f ms, %u loop iterations while in flight\n", n,
	       (unsigned long long)st.last_parse_pieces, st.last_parse_max_piece_bytes, st.last_parse_ms,
	       st.last_parse_max_step_ms, ic.in_flight);
	fflush(stdout);
	ck_assert_uint_eq(st.refreshes_ok, 1);
	ck_assert_uint_eq(st.pods, n);
	assert_pod(k, "00000007-0000-4000-8000-000000000007", "ns-7", "web-7", 0.3);
	ck_assert_str_eq(cname(k, "00000007-0000-4000-8000-000000000007",
			       "0000000000000000000000000000000000000000000000000000000000000071"), "sidecar");
	/* The body went to the parser in pieces as curl read it (never whole), and the
	 * loop turned between them. */
	ck_assert_uint_gt(st.last_parse_pieces, 100);
	ck_assert_uint_le(st.last_parse_max_piece_bytes, 1u << 20);
	ck_assert_uint_gt(ic.in_flight, 10);
	uv_close((uv_handle_t *)&ic.c, NULL);
	teardown_with(k);
}
END_TEST

/* A hostile PodList: 57 MiB of pods whose containers carry long args arrays of empty
 * strings (a json tree of it took 1.7 GiB). Parsed as a stream, the agent keeps what it
 * needs only: peak RSS of the process stays under 64 MiB and the pods are named. */
static size_t write_hostile_podlist(size_t mib)
{
	char p[PATH_MAX];
	path_of(p, "body.tmp");
	FILE *f = fopen(p, "wb");
	ck_assert_ptr_nonnull(f);
	fputs("{\"kind\":\"PodList\",\"items\":[", f);
	size_t n = 0;
	while ((size_t)ftell(f) < mib << 20) {
		fprintf(f, "%s{\"metadata\":{\"name\":\"p-%zu\",\"namespace\":\"ns\",\"uid\":\"%08zx-0000-4000-8000-000000000000\"},"
			"\"spec\":{\"containers\":[{\"name\":\"c\",\"args\":[", n ? "," : "", n, n);
		for (int i = 0; i < 100000; i++)
			fputs(i ? ",\"\"" : "\"\"", f);
		fputs("]}]}}", f);
		n++;
	}
	serve_body(f, p);
	return n;
}

START_TEST(test_hostile_body_bounded_memory)
{
	setup();
	size_t n = write_hostile_podlist(57);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long before_kib = ru.ru_maxrss;
	struct jp_kubelet *k = start();
	jp_kubelet_set_limits(k, 0, 0, 64u << 20);
	wait_finished(k, 1, 120000);
	getrusage(RUSAGE_SELF, &ru);
	struct jp_kubelet_stats st;
	jp_kubelet_get_stats(k, &st);
	printf("check_kubelet: hostile 57 MiB PodList, %zu pods: peak RSS %ld KiB (%ld KiB before), "
	       "parse CPU %.0f ms\n", n, ru.ru_maxrss, before_kib, st.last_parse_ms);
	ck_assert_uint_eq(st.refreshes_ok, 1);
	ck_assert_uint_eq(st.pods, n);
	assert_pod(k, "00000003-0000-4000-8000-000000000000", "ns", "p-3", 0);
#ifndef __SANITIZE_ADDRESS__
	/* ASan's shadow memory and quarantine would count here; the bound is for the agent. */
	ck_assert_msg(ru.ru_maxrss < 64 * 1024, "peak RSS %ld KiB", ru.ru_maxrss);
#endif
	/* Over the cap, the answer is refused and the last good table kept. */
	jp_kubelet_set_limits(k, 0, 0, 1u << 20);
	refresh_now(k);
	wait_finished(k, 2, 60000);
	jp_kubelet_get_stats(k, &st);
	ck_assert_uint_eq(st.refreshes_failed, 1);
	ck_assert_uint_eq(st.pods, n);
	teardown_with(k);
}
END_TEST

START_TEST(test_bad_answers_keep_last_good)
{
	setup();
	answer("pods.json", 200, 0);
	struct jp_kubelet *k = start();
	jp_kubelet_set_limits(k, 1, 1000, 0);
	wait_finished(k, 1, 5000);
	assert_fixture_pods(k);

	static const struct {
		const char *fixture;
		int status, delay_ms;
	} bad[] = {
		{"pods_after.json", 500, 0},      /* an error status, even with a valid body */
		{"garbage.txt", 200, 0},
		{"truncated.json", 200, 0},
		{"items_not_array.json", 200, 0},
		{"status_401.json", 200, 0},      /* kind Status */
		{"pods_after.json", 200, 2000},   /* slower than the 1 s timeout */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		answer(bad[i].fixture, bad[i].status, bad[i].delay_ms);
		refresh_now(k);
		struct jp_kubelet_stats st;
		jp_kubelet_get_stats(k, &st);
		ck_assert_msg(st.refreshes_failed == i + 1, "case %zu accepted", i);
		ck_assert_uint_eq(st.refreshes_ok, 1);
		ck_assert_uint_eq(st.pods, 4);
		assert_fixture_pods(k);
	}
	/* Wrong types inside a PodList: what can be read replaces the table. */
	answer("wrong_types.json", 200, 0);
	refresh_now(k);
	assert_pod(k, "aaaaaaaa-0000-4000-8000-000000000001", "typed", "ok-pod", 0.3);
	struct jp_pod_meta m;
	ck_assert_int_eq(jp_kubelet_lookup(UID_WEB, &m, k), -ENOENT);
	teardown_with(k);
}
END_TEST

START_TEST(test_body_over_cap_refused)
{
	setup();
	answer("pods.json", 200, 0);
	struct jp_kubelet *k = start();
	jp_kubelet_set_limits(k, 1, 0, 0);
	wait_finished(k, 1, 5000);
	jp_kubelet_set_limits(k, 0, 0, 1024);
	answer("pods_after.json", 200, 0);
	refresh_now(k);
	struct jp_kubelet_stats st;
	jp_kubelet_get_stats(k, &st);
	ck_assert_uint_eq(st.refreshes_failed, 1);
	assert_fixture_pods(k);
	struct jp_pod_meta m;
	ck_assert_int_eq(jp_kubelet_lookup(UID_WORKER, &m, k), -ENOENT);
	teardown_with(k);
}
END_TEST

START_TEST(test_removed_pods_disappear)
{
	setup();
	cfg.kube_refresh_ms = 300;   /* the periodic refresh this time */
	answer("pods.json", 200, 0);
	struct jp_kubelet *k = start();
	wait_finished(k, 1, 5000);
	assert_fixture_pods(k);
	answer("pods_after.json", 200, 0);
	wait_finished(k, 2, 5000);
	struct jp_pod_meta m;
	ck_assert_int_eq(jp_kubelet_lookup(UID_WEB, &m, k), -ENOENT);
	assert_pod(k, UID_DNS, "kube-system", "coredns-5dd5756b68-k8r2m", 0.1);
	assert_pod(k, UID_WORKER, "jobs", "worker-0", 1.5);
	ck_assert_str_eq(cname(k, UID_WORKER, "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"), "worker");
	teardown_with(k);
}
END_TEST

START_TEST(test_close_while_in_flight)
{
	setup();
	answer("pods.json", 200, 3000);
	struct jp_kubelet *k = start();
	run_until(NULL, NULL, 200);
	struct jp_kubelet_stats st;
	jp_kubelet_get_stats(k, &st);
	ck_assert_int_eq(st.in_flight, 1);
	teardown_with(k);
}
END_TEST

static Suite *kubelet_suite(void)
{
	Suite *s = suite_create("kubelet");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, test_cpu_quantities);
	tcase_add_test(tc, test_parse_fixture);
	tcase_add_test(tc, test_parse_edges);
	tcase_add_test(tc, test_parse_wrong_types);
	suite_add_tcase(s, tc);

	tc = tcase_create("client");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_resolve_with_ca);
	tcase_add_test(tc, test_insecure_skip_verify);
	tcase_add_test(tc, test_verification_is_on);
	tcase_add_test(tc, test_token_rotates_and_is_never_logged);
	tcase_add_test(tc, test_unreadable_token_at_create);
	tcase_add_test(tc, test_refresh_on_unknown_uid_is_rate_limited);
	tcase_add_test(tc, test_slow_kubelet_never_blocks);
	tcase_add_test(tc, test_large_body_parsed_as_it_arrives);
	tcase_add_test(tc, test_plain_http_warnings);
	tcase_add_test(tc, test_hostile_body_bounded_memory);
	tcase_add_test(tc, test_bad_answers_keep_last_good);
	tcase_add_test(tc, test_body_over_cap_refused);
	tcase_add_test(tc, test_removed_pods_disappear);
	tcase_add_test(tc, test_close_while_in_flight);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (mock_start() != 0) {
		mock_stop();
		const char *ci = getenv("CI");
		fprintf(stderr, "check_kubelet: python3 and openssl are needed for the mock kubelet\n");
		return ci && !strcmp(ci, "true") ? 1 : 77;
	}
	SRunner *sr = srunner_create(kubelet_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	mock_stop();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
