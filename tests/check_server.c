/* SPDX-License-Identifier: Apache-2.0 */
/* Tests for the local HTTP server over real loopback sockets on a real libuv loop. */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <uv.h>

#include "server.h"
#include "util/buf.h"

/* --- fixture: a loop with a server whose callbacks the tests control ------- */

struct fake_agent {
	int ready;
	int metrics_fail;
	int metrics_calls;
};

static int fake_metrics(struct jp_buf *out, void *arg)
{
	struct fake_agent *a = arg;
	a->metrics_calls++;
	if (a->metrics_fail)
		return -EIO;
	return jp_buf_printf(out, "# TYPE joulepush_test gauge\njoulepush_test{node=\"n\"} 42\n");
}

static int fake_ready(void *arg)
{
	return ((struct fake_agent *)arg)->ready;
}

static uv_loop_t loop;
static struct fake_agent agent;
static struct jp_server *srv;
static int port;
static int closed_calls;

static void closed_cb(void *arg)
{
	(*(int *)arg)++;
}

static void setup(void)
{
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	memset(&agent, 0, sizeof(agent));
	struct jp_server_ops ops = {.metrics = fake_metrics, .ready = fake_ready, .arg = &agent};
	char err[128] = "";
	srv = jp_server_create(&loop, "127.0.0.1:0", &ops, err, sizeof(err));
	ck_assert_msg(srv != NULL, "create: %s", err);
	port = jp_server_port(srv);
	ck_assert_int_gt(port, 0);
	closed_calls = 0;
}

static void teardown(void)
{
	if (srv)
		jp_server_close(srv, closed_cb, &closed_calls);
	srv = NULL;
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(closed_calls, 1);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* --- a blocking client on a thread, while the test thread runs the loop ---- */

struct client_job {
	int port;
	const char *req;
	size_t req_len;
	char resp[65536];
	size_t resp_len;
	int eof; /* the server closed the connection */
	uv_async_t done;
};

static int client_connect(int p)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)p);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Read until EOF or error; returns the byte count. */
static size_t client_drain(int fd, char *buf, size_t cap, int *eof)
{
	size_t n = 0;
	*eof = 0;
	for (;;) {
		if (n + 1 >= cap)
			break;
		ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
		if (r == 0) {
			*eof = 1;
			break;
		}
		if (r < 0) {
			if (errno == ECONNRESET)
				*eof = 1;
			break;
		}
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

static void client_thread(void *arg)
{
	struct client_job *j = arg;
	int fd = client_connect(j->port);
	size_t off = 0;
	while (off < j->req_len) {
		ssize_t w = send(fd, j->req + off, j->req_len - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	j->resp_len = client_drain(fd, j->resp, sizeof(j->resp), &j->eof);
	close(fd);
	uv_async_send(&j->done);
}

static void job_done_cb(uv_async_t *a)
{
	uv_stop(a->loop);
}

/* Send req raw and return the whole response (valid until the next call). */
static struct client_job *request_raw(const char *req, size_t len)
{
	static struct client_job job;
	memset(&job, 0, sizeof(job));
	job.port = port;
	job.req = req;
	job.req_len = len;
	ck_assert_int_eq(uv_async_init(&loop, &job.done, job_done_cb), 0);
	uv_thread_t t;
	ck_assert_int_eq(uv_thread_create(&t, client_thread, &job), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_thread_join(&t);
	uv_close((uv_handle_t *)&job.done, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return &job;
}

static struct client_job *request(const char *method, const char *path)
{
	static char req[512];
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: check\r\n\r\n",
		 method, path);
	return request_raw(req, strlen(req));
}

static int status_of(const struct client_job *j)
{
	int st = 0;
	if (sscanf(j->resp, "HTTP/1.1 %d ", &st) != 1)
		return -1;
	return st;
}

static const char *body_of(const struct client_job *j)
{
	const char *p = strstr(j->resp, "\r\n\r\n");
	return p ? p + 4 : NULL;
}

static void stop_timer_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Run the loop for about ms milliseconds. */
static void run_for(uint64_t ms)
{
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, stop_timer_cb, ms, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

/* --- endpoints -------------------------------------------------------------- */

START_TEST(test_healthz)
{
	struct client_job *j = request("GET", "/healthz");
	ck_assert_int_eq(status_of(j), 200);
	ck_assert_str_eq(body_of(j), "ok\n");
	ck_assert_ptr_nonnull(strstr(j->resp, "Content-Length: 3\r\n"));
	ck_assert_ptr_nonnull(strstr(j->resp, "Connection: close\r\n"));
	ck_assert_int_eq(j->eof, 1);
	/* A query string does not change the route. */
	j = request("GET", "/healthz?verbose=1");
	ck_assert_int_eq(status_of(j), 200);
}
END_TEST

START_TEST(test_readyz_flips)
{
	struct client_job *j = request("GET", "/readyz");
	ck_assert_int_eq(status_of(j), 503);
	agent.ready = 1;
	j = request("GET", "/readyz");
	ck_assert_int_eq(status_of(j), 200);
	agent.ready = 0;
	j = request("GET", "/readyz");
	ck_assert_int_eq(status_of(j), 503);
}
END_TEST

START_TEST(test_metrics)
{
	struct client_job *j = request("GET", "/metrics");
	ck_assert_int_eq(status_of(j), 200);
	ck_assert_ptr_nonnull(
		strstr(j->resp, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	ck_assert_str_eq(body_of(j), "# TYPE joulepush_test gauge\njoulepush_test{node=\"n\"} 42\n");
	ck_assert_int_eq(agent.metrics_calls, 1);

	/* HEAD: the same headers, no body. */
	j = request("HEAD", "/metrics");
	ck_assert_int_eq(status_of(j), 200);
	ck_assert_ptr_nonnull(strstr(j->resp, "Content-Length: 56\r\n"));
	ck_assert_str_eq(body_of(j), "");

	agent.metrics_fail = 1;
	j = request("GET", "/metrics");
	ck_assert_int_eq(status_of(j), 500);
}
END_TEST

START_TEST(test_not_found_and_method)
{
	struct client_job *j = request("GET", "/");
	ck_assert_int_eq(status_of(j), 404);
	j = request("GET", "/metricsx");
	ck_assert_int_eq(status_of(j), 404);
	j = request("POST", "/metrics");
	ck_assert_int_eq(status_of(j), 405);
	ck_assert_ptr_nonnull(strstr(j->resp, "Allow: GET, HEAD\r\n"));
	j = request("DELETE", "/healthz");
	ck_assert_int_eq(status_of(j), 405);
	ck_assert_int_eq(agent.metrics_calls, 0);
}
END_TEST

START_TEST(test_malformed)
{
	const char *bad[] = {
		"\r\n\r\n",
		"GET\r\n\r\n",
		"GET /healthz\r\n\r\n",
		"GET /healthz FTP/1.0\r\n\r\n",
		" /healthz HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct client_job *j = request_raw(bad[i], strlen(bad[i]));
		ck_assert_msg(status_of(j) == 400, "case %zu: %s", i, j->resp);
	}
	/* Bare LF line ends are accepted. */
	const char *lf = "GET /healthz HTTP/1.0\n\n";
	ck_assert_int_eq(status_of(request_raw(lf, strlen(lf))), 200);
	/* NUL bytes do not confuse the parser. */
	const char nul[] = "GET /heal\0thz HTTP/1.1\r\n\r\n";
	ck_assert_int_eq(status_of(request_raw(nul, sizeof(nul) - 1)), 400);
}
END_TEST

START_TEST(test_oversized_head)
{
	size_t n = 20000;
	char *req = malloc(n);
	ck_assert_ptr_nonnull(req);
	memcpy(req, "GET /healthz HTTP/1.1\r\nX-Pad: ", 30);
	memset(req + 30, 'a', n - 30);
	struct client_job *j = request_raw(req, n);
	ck_assert_int_eq(status_of(j), 431);
	ck_assert_int_eq(j->eof, 1);
	free(req);

	/* Just under the limit still works. */
	n = 8000;
	req = malloc(n + 1);
	int h = snprintf(req, n, "GET /healthz HTTP/1.1\r\nX-Pad: ");
	memset(req + h, 'b', n - (size_t)h - 4);
	memcpy(req + n - 4, "\r\n\r\n", 4);
	ck_assert_int_eq(status_of(request_raw(req, n)), 200);
	free(req);
}
END_TEST

START_TEST(test_split_request)
{
	/* The head may arrive in pieces. */
	int fd = client_connect(port);
	const char *parts[] = {"GET /hea", "lthz HTTP/1.1\r", "\nHost: x\r\n", "\r", "\n"};
	for (size_t i = 0; i < 5; i++) {
		ck_assert_int_eq(send(fd, parts[i], strlen(parts[i]), 0), (ssize_t)strlen(parts[i]));
		run_for(20);
	}
	run_for(50);
	char buf[1024];
	int eof;
	client_drain(fd, buf, sizeof(buf), &eof);
	close(fd);
	ck_assert_msg(strncmp(buf, "HTTP/1.1 200 ", 13) == 0, "%s", buf);
}
END_TEST

START_TEST(test_slow_client_deadline)
{
	jp_server_set_limits(srv, 200, 0, 0);
	int fd = client_connect(port);
	/* A partial head, then silence: the server must give up on its own. */
	ck_assert_int_eq(send(fd, "GET /healthz HTTP/1.1\r\n", 23, 0), 23);
	run_for(100);
	ck_assert_int_eq(send(fd, "X-A: b\r\n", 8, 0), 8);
	run_for(400);
	char buf[256];
	int eof;
	size_t n = client_drain(fd, buf, sizeof(buf), &eof);
	close(fd);
	ck_assert_int_eq(eof, 1);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_connection_cap)
{
	enum { CAP = 4 };
	jp_server_set_limits(srv, 60000, 60000, CAP);
	int idle[CAP];
	for (int i = 0; i < CAP; i++) {
		idle[i] = client_connect(port);
		run_for(5);
	}
	run_for(50);
	/* One more: the oldest idle connection is closed to make room, and the new one
	 * is served. */
	ck_assert_int_eq(status_of(request("GET", "/healthz")), 200);
	char buf[256];
	int eof;
	client_drain(idle[0], buf, sizeof(buf), &eof);
	ck_assert_int_eq(eof, 1);
	for (int i = 0; i < CAP; i++)
		close(idle[i]);
}
END_TEST

/* Hundreds of idle connections (anyone who can reach the port) never starve the
 * health probe, with the default limits. */
START_TEST(test_idle_flood_does_not_starve_probes)
{
	enum { FLOOD = 300 };
	static int fds[FLOOD];
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = client_connect(port);
		if (i % 16 == 15)
			run_for(1);
	}
	run_for(50);
	for (int k = 0; k < 10; k++) {
		struct client_job *j = request("GET", "/healthz");
		ck_assert_int_eq(status_of(j), 200);
		ck_assert_str_eq(body_of(j), "ok\n");
		/* More idle connections in between. */
		int extra = client_connect(port);
		run_for(1);
		close(extra);
	}
	for (int i = 0; i < FLOOD; i++)
		close(fds[i]);
}
END_TEST

/* A connection that sends nothing is closed at the head deadline, long before the
 * response deadline. */
START_TEST(test_head_deadline)
{
	jp_server_set_limits(srv, 100, 60000, 0);
	int fd = client_connect(port);
	run_for(400);
	char buf[64];
	int eof;
	size_t n = client_drain(fd, buf, sizeof(buf), &eof);
	close(fd);
	ck_assert_int_eq(eof, 1);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(test_close_with_open_connections)
{
	int fd[3];
	for (int i = 0; i < 3; i++)
		fd[i] = client_connect(port);
	ck_assert_int_eq(send(fd[0], "GET /hea", 8, 0), 8);
	run_for(50);
	jp_server_close(srv, closed_cb, &closed_calls);
	srv = NULL;
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(closed_calls, 1);
	for (int i = 0; i < 3; i++) {
		char buf[64];
		int eof;
		client_drain(fd[i], buf, sizeof(buf), &eof);
		ck_assert_int_eq(eof, 1);
		close(fd[i]);
	}
	/* The port is released. */
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {0};
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
}
END_TEST

/* --- listen strings ---------------------------------------------------------- */

START_TEST(test_bad_listen)
{
	const char *bad[] = {
		"", "9465", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:123456",
		"127.0.0.1:-1", "127.0.0.1:abc", "127.0.0.1:80x", "::1:9465", "[::1]", "[::1]9465",
		"[]:9465", "[::1:9465", "host.example:9465", "1.2.3.4.5:80", "[127.0.0.1]:80",
	};
	uv_loop_t l;
	ck_assert_int_eq(uv_loop_init(&l), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[128] = "";
		errno = 0;
		struct jp_server *s = jp_server_create(&l, bad[i], NULL, err, sizeof(err));
		ck_assert_msg(s == NULL, "accepted \"%s\"", bad[i]);
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_msg(err[0] != '\0', "%s: no reason", bad[i]);
	}
	ck_assert_ptr_null(jp_server_create(&l, NULL, NULL, NULL, 0));

	/* A port in use is a runtime error, not a parse error; the half-made
	 * server leaves nothing behind on the loop. */
	struct jp_server *a = jp_server_create(&l, "127.0.0.1:0", NULL, NULL, 0);
	ck_assert_ptr_nonnull(a);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", jp_server_port(a));
	char err[128] = "";
	ck_assert_ptr_null(jp_server_create(&l, addr, NULL, err, sizeof(err)));
	ck_assert_int_eq(errno, EADDRINUSE);
	ck_assert_str_eq(err, "address already in use");
	int n = 0;
	jp_server_close(a, closed_cb, &n);
	uv_run(&l, UV_RUN_DEFAULT);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(uv_loop_close(&l), 0);
}
END_TEST

START_TEST(test_good_listen)
{
	uv_loop_t l;
	ck_assert_int_eq(uv_loop_init(&l), 0);
	const char *good[] = {"localhost:0", ":0", "0.0.0.0:0", "[::1]:0", "[::]:0"};
	int n = 0, made = 0;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char err[128] = "";
		struct jp_server *s = jp_server_create(&l, good[i], NULL, err, sizeof(err));
		if (!s && good[i][0] == '[' && errno == EADDRNOTAVAIL)
			continue; /* a host without IPv6 */
		ck_assert_msg(s != NULL, "\"%s\": %s", good[i], err);
		ck_assert_int_gt(jp_server_port(s), 0);
		made++;
		jp_server_close(s, closed_cb, &n);
	}
	jp_server_close(NULL, closed_cb, &n); /* NULL is accepted and still reports */
	uv_run(&l, UV_RUN_DEFAULT);
	ck_assert_int_eq(n, made + 1);
	ck_assert_int_eq(uv_loop_close(&l), 0);
}
END_TEST

static Suite *server_suite(void)
{
	Suite *s = suite_create("server");
	TCase *tc = tcase_create("endpoints");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_healthz);
	tcase_add_test(tc, test_readyz_flips);
	tcase_add_test(tc, test_metrics);
	tcase_add_test(tc, test_not_found_and_method);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_oversized_head);
	tcase_add_test(tc, test_split_request);
	tcase_add_test(tc, test_slow_client_deadline);
	tcase_add_test(tc, test_connection_cap);
	tcase_add_test(tc, test_idle_flood_does_not_starve_probes);
	tcase_add_test(tc, test_head_deadline);
	tcase_add_test(tc, test_close_with_open_connections);
	suite_add_tcase(s, tc);
	TCase *tl = tcase_create("listen");
	tcase_add_test(tl, test_bad_listen);
	tcase_add_test(tl, test_good_listen);
	suite_add_tcase(s, tl);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(server_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
