/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of the remote-write sender and its HTTP client against a loopback mock receiver. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "remote.pb-c.h"
#include "remote/http.h"
#include "remote/sender.h"
#include "remote/queue.h"
#include "store/series.h"
#include "util/log.h"
#include "write_v2.pb-c.h"

/* ---- a loopback mock receiver ---------------------------------------------------
 * One thread, poll(2) over the listening socket and its connections (keep-alive is
 * honoured, as curl reuses connections). Each complete request is recorded and
 * answered from a script; past the end of the script it gets default_status. */

#define MAX_REQS 64
#define MAX_CONNS 16
#define MAX_SCRIPT 16

struct mock_req {
	char method[16];
	char path[256];
	char *head;          /* the header block, NUL-terminated */
	uint8_t *body;
	size_t body_len;
	uint64_t t_ms;       /* monotonic time the request was complete */
};

struct mock_act {
	int status;
	const char *headers;  /* extra header lines, each ending in \r\n */
	const char *body;
	int hang;             /* read the request, never answer */
};

struct mock_conn {
	int fd;
	char *buf;
	size_t len, cap;
	int hanging;
};

struct mock {
	int lfd, port;
	int wake[2];
	pthread_t th;
	int running;
	pthread_mutex_t mu;
	struct mock_req reqs[MAX_REQS];
	int nreqs;
	struct mock_act script[MAX_SCRIPT];
	int nscript;
	int default_status;
	struct mock_conn conns[MAX_CONNS];
};

static void mock_answer(struct mock *m, struct mock_conn *c, int idx)
{
	struct mock_act a = {.status = m->default_status};
	if (idx < m->nscript)
		a = m->script[idx];
	if (a.hang) {
		c->hanging = 1;
		return;
	}
	const char *body = a.body ? a.body : "";
	char out[4096];
	int n = snprintf(out, sizeof(out),
			 "HTTP/1.1 %d Mock\r\nContent-Length: %zu\r\nContent-Type: text/plain\r\n%s\r\n%s",
			 a.status, strlen(body), a.headers ? a.headers : "", body);
	ssize_t off = 0;
	while (off < n) {
		ssize_t w = send(c->fd, out + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += w;
	}
}

/* Consume complete requests from c's buffer. */
static void mock_parse(struct mock *m, struct mock_conn *c)
{
	for (;;) {
		if (c->hanging)
			return;
		char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (!end)
			return;
		size_t head_len = (size_t)(end - c->buf) + 4;
		size_t clen = 0;
		for (char *p = c->buf; p < end; p++) {
			if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "Content-Length:", 15) == 0)
				clen = strtoul(p + 15, NULL, 10);
		}
		if (c->len < head_len + clen)
			return;
		pthread_mutex_lock(&m->mu);
		int idx = m->nreqs;
		if (idx < MAX_REQS) {
			struct mock_req *r = &m->reqs[idx];
			sscanf(c->buf, "%15s %255s", r->method, r->path);
			r->head = strndup(c->buf, head_len);
			r->body = malloc(clen ? clen : 1);
			memcpy(r->body, c->buf + head_len, clen);
			r->body_len = clen;
			r->t_ms = jp_now_mono_ms();
			m->nreqs++;
		}
		pthread_mutex_unlock(&m->mu);
		memmove(c->buf, c->buf + head_len + clen, c->len - head_len - clen);
		c->len -= head_len + clen;
		mock_answer(m, c, idx);
	}
}

static void *mock_thread(void *arg)
{
	struct mock *m = arg;
	for (;;) {
		struct pollfd pfd[2 + MAX_CONNS];
		int map[2 + MAX_CONNS];
		int n = 0;
		pfd[n].fd = m->wake[0];
		pfd[n++].events = POLLIN;
		pfd[n].fd = m->lfd;
		pfd[n++].events = POLLIN;
		for (int i = 0; i < MAX_CONNS; i++) {
			if (m->conns[i].fd < 0)
				continue;
			map[n] = i;
			pfd[n].fd = m->conns[i].fd;
			pfd[n++].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN) {
			int fd = accept(m->lfd, NULL, NULL);
			if (fd >= 0) {
				int slot = -1;
				for (int i = 0; i < MAX_CONNS; i++)
					if (m->conns[i].fd < 0) {
						slot = i;
						break;
					}
				if (slot < 0) {
					close(fd);
				} else {
					m->conns[slot].fd = fd;
					m->conns[slot].len = 0;
					m->conns[slot].hanging = 0;
				}
			}
		}
		for (int k = 2; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			struct mock_conn *c = &m->conns[map[k]];
			if (c->cap - c->len < 65536) {
				c->cap = c->cap * 2 + 65536;
				c->buf = realloc(c->buf, c->cap);
			}
			ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
			if (r <= 0) {
				close(c->fd);
				c->fd = -1;
				continue;
			}
			c->len += (size_t)r;
			mock_parse(m, c);
		}
	}
	return NULL;
}

/* Listen on 127.0.0.1:port (0: any free port). */
static void mock_start(struct mock *m, int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t sl = sizeof(sa);
	int one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	m->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(m->lfd, 0);
	setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(m->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(m->lfd, 16), 0);
	getsockname(m->lfd, (struct sockaddr *)&sa, &sl);
	m->port = ntohs(sa.sin_port);
	ck_assert_int_eq(pipe(m->wake), 0);
	for (int i = 0; i < MAX_CONNS; i++)
		m->conns[i].fd = -1;
	pthread_mutex_init(&m->mu, NULL);
	ck_assert_int_eq(pthread_create(&m->th, NULL, mock_thread, m), 0);
	m->running = 1;
}

static void mock_stop(struct mock *m)
{
	if (!m->running)
		return;
	ck_assert_int_eq(write(m->wake[1], "x", 1), 1);
	pthread_join(m->th, NULL);
	close(m->wake[0]);
	close(m->wake[1]);
	close(m->lfd);
	for (int i = 0; i < MAX_CONNS; i++) {
		if (m->conns[i].fd >= 0)
			close(m->conns[i].fd);
		free(m->conns[i].buf);
	}
	for (int i = 0; i < m->nreqs; i++) {
		free(m->reqs[i].head);
		free(m->reqs[i].body);
	}
	m->running = 0;
}

static int mock_count(struct mock *m)
{
	pthread_mutex_lock(&m->mu);
	int n = m->nreqs;
	pthread_mutex_unlock(&m->mu);
	return n;
}

/* The value of header `name` in request i, malloc'd, or NULL. */
static char *mock_header(struct mock *m, int i, const char *name)
{
	char *out = NULL;
	size_t nl = strlen(name);
	pthread_mutex_lock(&m->mu);
	for (char *p = m->reqs[i].head; p && *p; ) {
		char *eol = strstr(p, "\r\n");
		if (!eol)
			break;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			out = strndup(v, (size_t)(eol - v));
			break;
		}
		p = eol + 2;
	}
	pthread_mutex_unlock(&m->mu);
	return out;
}

static int mock_header_count(struct mock *m, int i, const char *name)
{
	int n = 0;
	size_t nl = strlen(name);
	pthread_mutex_lock(&m->mu);
	for (char *p = m->reqs[i].head; p && *p; ) {
		char *eol = strstr(p, "\r\n");
		if (!eol)
			break;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
			n++;
		p = eol + 2;
	}
	pthread_mutex_unlock(&m->mu);
	return n;
}

static void assert_header(struct mock *m, int i, const char *name, const char *want)
{
	char *v = mock_header(m, i, name);
	ck_assert_msg(v != NULL, "request %d has no %s header", i, name);
	ck_assert_str_eq(v, want);
	free(v);
}

/* ---- decoding --------------------------------------------------------------------- */

static uint8_t *unsnappy(struct mock *m, int i, size_t *len)
{
	pthread_mutex_lock(&m->mu);
	const char *in = (const char *)m->reqs[i].body;
	size_t in_len = m->reqs[i].body_len;
	ck_assert_int_eq(snappy_uncompressed_length(in, in_len, len), SNAPPY_OK);
	uint8_t *out = malloc(*len ? *len : 1);
	ck_assert_int_eq(snappy_uncompress(in, in_len, (char *)out, len), SNAPPY_OK);
	pthread_mutex_unlock(&m->mu);
	return out;
}

static Prometheus__WriteRequest *decode_v1(struct mock *m, int i)
{
	size_t len;
	uint8_t *raw = unsnappy(m, i, &len);
	Prometheus__WriteRequest *wr = prometheus__write_request__unpack(NULL, len, raw);
	free(raw);
	ck_assert_msg(wr != NULL, "request %d is not a WriteRequest", i);
	return wr;
}

static size_t v1_samples(const Prometheus__WriteRequest *wr)
{
	size_t n = 0;
	for (size_t i = 0; i < wr->n_timeseries; i++)
		n += wr->timeseries[i]->n_samples;
	return n;
}

static size_t count_v1_samples(struct mock *m, int i)
{
	Prometheus__WriteRequest *wr = decode_v1(m, i);
	size_t n = v1_samples(wr);
	prometheus__write_request__free_unpacked(wr, NULL);
	return n;
}

/* ---- fixtures ------------------------------------------------------------------- */

#define NSERIES 16

static uv_loop_t loop;
static int loop_closed;
static struct mock mock;
static char qdir[64];
static char idx_values[NSERIES][8];
static struct jp_label labels[NSERIES][3];
static struct jp_series series[NSERIES];

static void setup(void)
{
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	loop_closed = 0;
	memset(&mock, 0, sizeof(mock));
	mock.default_status = 200;
	strcpy(qdir, "/tmp/check_sender.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(qdir));
	for (int i = 0; i < NSERIES; i++) {
		snprintf(idx_values[i], sizeof(idx_values[i]), "%d", i);
		labels[i][0] = (struct jp_label){"__name__", "test_metric"};
		labels[i][1] = (struct jp_label){"idx", idx_values[i]};
		labels[i][2] = (struct jp_label){"job", "check"};
		series[i] = (struct jp_series){
			.id = (uint32_t)i + 1, .nlabels = 3, .labels = labels[i], .name = "test_metric",
		};
	}
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	mock_stop(&mock);
	if (!loop_closed) {
		uv_run(&loop, UV_RUN_NOWAIT);
		ck_assert_int_eq(uv_loop_close(&loop), 0);
	}
	nftw(qdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct jp_remote_config make_rc(const char *name, int port)
{
	static char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/write", port);
	struct jp_remote_config rc = {
		.name = (char *)name,
		.url = url,
		.protocol = JP_RW_V1,
		.timeout_ms = 5000,
		.queue_dir = qdir,
		.queue_max_disk_bytes = 64u << 20,
		.max_samples_per_send = 4,
		.batch_send_deadline_ms = 100,
		.min_backoff_ms = 20,
		.max_backoff_ms = 200,
	};
	return rc;
}

/* Append one round: samples of series [0, n) at ts_ms with value ts_ms + index. */
static void append_round(struct jp_sender *s, int64_t ts_ms, int n)
{
	struct jp_round_sample v[NSERIES];
	for (int i = 0; i < n; i++)
		v[i] = (struct jp_round_sample){.series = &series[i], .value = (double)(ts_ms + i)};
	ck_assert_int_eq(jp_sender_append(s, ts_ms, v, (size_t)n), 0);
}

/* Run the loop until pred(arg) holds or timeout_ms passes; returns pred's value. */
struct run_ctx {
	int (*pred)(void *);
	void *arg;
	uint64_t deadline;
	int result;
};

static void run_check_cb(uv_timer_t *t)
{
	struct run_ctx *c = t->data;
	if (c->pred && c->pred(c->arg)) {
		c->result = 1;
		uv_stop(t->loop);
	} else if (jp_now_mono_ms() >= c->deadline) {
		uv_stop(t->loop);
	}
}

static int run_until(int (*pred)(void *), void *arg, uint64_t timeout_ms)
{
	struct run_ctx c = {pred, arg, jp_now_mono_ms() + timeout_ms, 0};
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	t.data = &c;
	uv_timer_start(&t, run_check_cb, 2, 2);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	if (!c.result && pred)
		c.result = pred(arg);
	return c.result;
}

static void run_for(uint64_t ms)
{
	run_until(NULL, NULL, ms);
}

struct want_reqs {
	struct mock *m;
	int n;
};
static int pred_reqs(void *arg)
{
	struct want_reqs *w = arg;
	return mock_count(w->m) >= w->n;
}
static int wait_reqs(int n, uint64_t timeout_ms)
{
	struct want_reqs w = {&mock, n};
	return run_until(pred_reqs, &w, timeout_ms);
}

struct want_sent {
	struct jp_sender *s;
	uint64_t n;
};
static int pred_sent(void *arg)
{
	struct want_sent *w = arg;
	struct jp_sender_stats st;
	jp_sender_get_stats(w->s, &st);
	return st.samples_sent >= w->n;
}
static int wait_sent(struct jp_sender *s, uint64_t n, uint64_t timeout_ms)
{
	struct want_sent w = {s, n};
	return run_until(pred_sent, &w, timeout_ms);
}

static void closed_cb(void *arg)
{
	(*(int *)arg)++;
}
static int pred_flag(void *arg)
{
	return *(int *)arg != 0;
}

/* Flush the sender (2 s deadline) and wait until it says it is done, once. */
static void flush_now(struct jp_sender *s)
{
	int flushed = 0;
	jp_sender_flush(s, jp_now_mono_ms() + 2000, closed_cb, &flushed);
	ck_assert(run_until(pred_flag, &flushed, 3000));
	ck_assert_int_eq(flushed, 1);
}

static struct jp_http *http_new(void)
{
	struct jp_http *h = jp_http_create(&loop);
	ck_assert_ptr_nonnull(h);
	return h;
}

static struct jp_sender *sender_new(struct jp_http *h, const struct jp_remote_config *rc)
{
	struct jp_sender *s = jp_sender_create(&loop, h, rc, "joulepush/0.1.0");
	ck_assert_msg(s != NULL, "jp_sender_create: %s", strerror(errno));
	return s;
}

static void close_sender(struct jp_sender *s)
{
	int closed = 0;
	jp_sender_close(s, closed_cb, &closed);
	ck_assert(run_until(pred_flag, &closed, 2000));
}

/* Close everything and check that the loop has no handle left (docs/reference/configuration.md shutdown). */
static void close_all(struct jp_sender *s, struct jp_http *h)
{
	int closed = 0;
	if (s)
		jp_sender_close(s, closed_cb, &closed);
	jp_http_close(h, closed_cb, &closed);
	ck_assert(run_until(pred_flag, &closed, 2000));
	run_until(NULL, NULL, 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(closed, s ? 2 : 1);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	loop_closed = 1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* ---- tests --------------------------------------------------------------------- */

START_TEST(test_success_headers_basic_auth)
{
	char pw[128];
	mock_start(&mock, 0);
	snprintf(pw, sizeof(pw), "%s/password", qdir);
	write_file(pw, "s3cret\n");
	struct jp_kv hdrs[] = {{"THANOS-TENANT", "edge-7"}};
	struct jp_remote_config rc = make_rc("r1", mock.port);
	rc.headers = (struct jp_kvlist){hdrs, 1};
	rc.basic_auth_username = "alice";
	rc.basic_auth_password_file = pw;
	rc.max_samples_per_send = 3;

	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);
	ck_assert_str_eq(jp_sender_name(s), "r1");
	append_round(s, 1700000000000, 3);
	ck_assert(wait_sent(s, 3, 3000));

	ck_assert_int_eq(mock_count(&mock), 1);
	ck_assert_str_eq(mock.reqs[0].method, "POST");
	ck_assert_str_eq(mock.reqs[0].path, "/api/v1/write");
	assert_header(&mock, 0, "Content-Encoding", "snappy");
	assert_header(&mock, 0, "Content-Type", "application/x-protobuf");
	assert_header(&mock, 0, "X-Prometheus-Remote-Write-Version", "0.1.0");
	assert_header(&mock, 0, "User-Agent", "joulepush/0.1.0");
	assert_header(&mock, 0, "THANOS-TENANT", "edge-7");
	/* base64("alice:s3cret"): the trailing newline of the file is not part of it. */
	assert_header(&mock, 0, "Authorization", "Basic YWxpY2U6czNjcmV0");
	ck_assert_int_eq(mock_header_count(&mock, 0, "Content-Type"), 1);
	ck_assert_ptr_null(mock_header(&mock, 0, "Expect"));

	Prometheus__WriteRequest *wr = decode_v1(&mock, 0);
	ck_assert_uint_eq(wr->n_timeseries, 3);
	for (size_t i = 0; i < wr->n_timeseries; i++) {
		Prometheus__TimeSeries *ts = wr->timeseries[i];
		ck_assert_uint_eq(ts->n_labels, 3);
		ck_assert_str_eq(ts->labels[0]->name, "__name__");
		ck_assert_str_eq(ts->labels[0]->value, "test_metric");
		ck_assert_str_eq(ts->labels[1]->name, "idx");
		ck_assert_uint_eq(ts->n_samples, 1);
		int idx = atoi(ts->labels[1]->value);
		ck_assert_int_eq(ts->samples[0]->timestamp, 1700000000000);
		ck_assert(ts->samples[0]->value == (double)(1700000000000 + idx));
	}
	prometheus__write_request__free_unpacked(wr, NULL);

	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_sent, 3);
	ck_assert_uint_eq(st.samples_retried, 0);
	ck_assert_uint_eq(st.samples_dropped, 0);
	ck_assert_uint_eq(st.pending_samples, 0);
	ck_assert_int_gt(st.last_success_ms, 0);
	close_all(s, h);
}
END_TEST

START_TEST(test_bearer_token)
{
	char tok[128];
	mock_start(&mock, 0);
	snprintf(tok, sizeof(tok), "%s/token", qdir);
	write_file(tok, "tok-123\n");
	struct jp_kv hdrs[] = {{"X-Scope-OrgID", "team-a"}};
	struct jp_remote_config rc = make_rc("r1", mock.port);
	rc.headers = (struct jp_kvlist){hdrs, 1};
	rc.bearer_token_file = tok;
	rc.max_samples_per_send = 2;

	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);
	append_round(s, 1000, 2);
	ck_assert(wait_sent(s, 2, 3000));
	assert_header(&mock, 0, "Authorization", "Bearer tok-123");
	assert_header(&mock, 0, "X-Scope-OrgID", "team-a");
	ck_assert_int_eq(mock_header_count(&mock, 0, "Authorization"), 1);
	close_all(s, h);
}
END_TEST

START_TEST(test_missing_secret_file)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/does-not-exist", qdir);
	struct jp_remote_config rc = make_rc("r1", 1);
	rc.bearer_token_file = path;
	struct jp_http *h = http_new();
	errno = 0;
	ck_assert_ptr_null(jp_sender_create(&loop, h, &rc, "joulepush/0.1.0"));
	ck_assert_int_eq(errno, ENOENT);

	/* A name that would leave the queue directory is refused. */
	rc = make_rc("../escape", 1);
	errno = 0;
	ck_assert_ptr_null(jp_sender_create(&loop, h, &rc, "joulepush/0.1.0"));
	ck_assert_int_eq(errno, EINVAL);
	close_all(NULL, h);
}
END_TEST

START_TEST(test_batch_by_max_samples)
{
	mock_start(&mock, 0);
	struct jp_remote_config rc = make_rc("r1", mock.port);
	rc.max_samples_per_send = 10;
	rc.batch_send_deadline_ms = 60000;
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);

	append_round(s, 1000, 4);
	append_round(s, 2000, 4);
	run_for(150);
	ck_assert_int_eq(mock_count(&mock), 0);   /* 8 < 10 and the deadline is far */
	append_round(s, 3000, 4);
	ck_assert(wait_sent(s, 10, 3000));
	ck_assert_int_eq(mock_count(&mock), 1);
	ck_assert_uint_eq(count_v1_samples(&mock, 0), 10);

	/* Per series, samples go out in timestamp order (docs/reference/remote-write.md). */
	Prometheus__WriteRequest *wr = decode_v1(&mock, 0);
	for (size_t i = 0; i < wr->n_timeseries; i++)
		for (size_t j = 1; j < wr->timeseries[i]->n_samples; j++)
			ck_assert_int_lt(wr->timeseries[i]->samples[j - 1]->timestamp,
					 wr->timeseries[i]->samples[j]->timestamp);
	prometheus__write_request__free_unpacked(wr, NULL);

	/* The 2 left over wait for the deadline... */
	run_for(200);
	ck_assert_int_eq(mock_count(&mock), 1);
	/* ...or for a flush. */
	flush_now(s);
	ck_assert_int_eq(mock_count(&mock), 2);
	ck_assert_uint_eq(count_v1_samples(&mock, 1), 2);
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_sent, 12);
	ck_assert_uint_eq(st.pending_samples, 0);
	close_all(s, h);
}
END_TEST

/* queue.max_sample_age: what is older when read for sending is dropped as too_old; a
 * batch of only old samples is acknowledged without a request. */
START_TEST(test_max_sample_age)
{
	mock_start(&mock, 0);
	struct jp_remote_config rc = make_rc("old", mock.port);
	rc.max_samples_per_send = 100;
	rc.max_sample_age_ms = 3600000;
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);
	int64_t now = jp_now_wall_ms();

	append_round(s, now - 3 * 3600000, 4);
	append_round(s, now - 2 * 3600000, 4);
	flush_now(s);
	ck_assert_int_eq(mock_count(&mock), 0);
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.dropped_by_reason[JP_DROP_TOO_OLD], 8);
	ck_assert_uint_eq(st.samples_dropped, 8);
	ck_assert_uint_eq(st.pending_samples, 0);
	ck_assert_str_eq(jp_drop_reason_name(JP_DROP_TOO_OLD), "too_old");

	/* Old and fresh in one batch: one request with the fresh ones only. */
	append_round(s, now - 2 * 3600000 + 1000, 4);
	append_round(s, now - 1000, 3);
	append_round(s, now, 4);
	flush_now(s);
	ck_assert_int_eq(mock_count(&mock), 1);
	ck_assert_uint_eq(count_v1_samples(&mock, 0), 7);
	Prometheus__WriteRequest *wr = decode_v1(&mock, 0);
	for (size_t i = 0; i < wr->n_timeseries; i++)
		for (size_t j = 0; j < wr->timeseries[i]->n_samples; j++)
			ck_assert_int_ge(wr->timeseries[i]->samples[j]->timestamp, now - 1000);
	prometheus__write_request__free_unpacked(wr, NULL);
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.dropped_by_reason[JP_DROP_TOO_OLD], 12);
	ck_assert_uint_eq(st.samples_sent, 7);
	ck_assert_uint_eq(st.pending_samples, 0);
	close_all(s, h);
}
END_TEST

/* A backlog that is all too old is acknowledged in bounded steps, one per loop turn, not
 * by recursion (kick -> read_and_send -> kick ...: a -O0 build overflowed its stack on
 * 242k samples). With one sample per batch, the first step leaves all but 64 batches
 * pending; the loop then finishes them. */
START_TEST(test_max_sample_age_backlog)
{
	mock_start(&mock, 0);
	struct jp_remote_config rc = make_rc("oldlog", mock.port);
	rc.max_samples_per_send = 1;
	rc.max_sample_age_ms = 3600000;
	rc.batch_send_deadline_ms = 3600000;   /* nothing is read before the flush */
	/* The backlog is on disk before the sender starts (an agent restarted after an
	 * outage of hours). */
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", rc.queue_dir, rc.name);
	struct jp_queue *q = jp_queue_open(path, 1 << 30);
	ck_assert_ptr_nonnull(q);
	int64_t old = jp_now_wall_ms() - 3 * 3600000;
	struct jp_round_sample v[NSERIES];
	for (int r = 0; r < 2000; r++) {
		for (int i = 0; i < NSERIES; i++)
			v[i] = (struct jp_round_sample){.series = &series[i], .value = r};
		ck_assert_int_eq(jp_queue_append(q, old + r, v, NSERIES), 0);
	}
	jp_queue_close(q);
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);   /* starts on the backlog at once */
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.dropped_by_reason[JP_DROP_TOO_OLD], 64);
	ck_assert_uint_eq(st.pending_samples, 2000 * NSERIES - 64);
	int flushed = 0;
	jp_sender_flush(s, jp_now_mono_ms() + 60000, closed_cb, &flushed);
	ck_assert(run_until(pred_flag, &flushed, 60000));
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.dropped_by_reason[JP_DROP_TOO_OLD], 2000 * NSERIES);
	ck_assert_uint_eq(st.pending_samples, 0);
	ck_assert_int_eq(mock_count(&mock), 0);
	close_all(s, h);
}
END_TEST

/* write_relabel_configs apply before the queue: dropped series never reach it, the rest
 * arrive with the labels the rules made, stale markers included. */
START_TEST(test_relabel)
{
	mock_start(&mock, 0);
	struct jp_remote_config rc = make_rc("rl", mock.port);
	rc.max_samples_per_send = 100;
	char *drop_src[] = {"idx"}, *team_src[] = {"job"};
	struct jp_relabel_config rules[] = {
		{.source_labels = drop_src, .nsource = 1, .separator = ";", .regex = "1|3", .target_label = "",
		 .replacement = "$1", .action = JP_RELABEL_DROP},
		{.source_labels = team_src, .nsource = 1, .separator = ";", .regex = "(.*)", .target_label = "team",
		 .replacement = "team-$1", .action = JP_RELABEL_REPLACE},
		{.separator = ";", .regex = "job", .target_label = "", .replacement = "$1", .action = JP_RELABEL_LABELDROP},
	};
	rc.relabel = (struct jp_relabel_list){rules, 3};
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);
	append_round(s, 1000, 4);
	struct jp_round_sample stale = {.series = &series[0], .value = jp_stale_nan()};
	ck_assert_int_eq(jp_sender_append(s, 2000, &stale, 1), 0);
	append_round(s, 3000, 1);   /* the same series again, after its end */
	flush_now(s);
	ck_assert_int_eq(mock_count(&mock), 1);
	Prometheus__WriteRequest *wr = decode_v1(&mock, 0);
	ck_assert_uint_eq(wr->n_timeseries, 2);
	size_t samples = 0;
	for (size_t i = 0; i < wr->n_timeseries; i++) {
		const Prometheus__TimeSeries *ts = wr->timeseries[i];
		ck_assert_uint_eq(ts->n_labels, 3);
		ck_assert_str_eq(ts->labels[0]->name, "__name__");
		ck_assert_str_eq(ts->labels[1]->name, "idx");
		ck_assert(!strcmp(ts->labels[1]->value, "0") || !strcmp(ts->labels[1]->value, "2"));
		ck_assert_str_eq(ts->labels[2]->name, "team");
		ck_assert_str_eq(ts->labels[2]->value, "team-check");
		samples += ts->n_samples;
	}
	ck_assert_uint_eq(samples, 4);   /* idx 0: 1000, stale, 3000; idx 2: 1000 */
	prometheus__write_request__free_unpacked(wr, NULL);
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_sent, 4);   /* what entered the queue: 1 and 3 never did */
	ck_assert_uint_eq(st.samples_dropped, 0);
	close_all(s, h);
}
END_TEST

/* tenant: every request carries one tenant's series in the tenant header; a failed
 * tenant is retried alone; the batch is acked once all are confirmed. */
START_TEST(test_tenants)
{
	mock.script[0] = (struct mock_act){.status = 200};
	mock.script[1] = (struct mock_act){.status = 500};   /* the second tenant, once */
	mock.nscript = 2;
	mock_start(&mock, 0);
	struct jp_remote_config rc = make_rc("tn", mock.port);
	rc.max_samples_per_send = 100;
	rc.tenant_header = "X-Scope-OrgID";
	rc.tenant_label = "idx";
	rc.tenant_default = "platform";
	struct jp_kv map[] = {{"0", "team-zero"}, {"2", "team-zero"}};
	rc.tenant_map = (struct jp_kvlist){map, 2};
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);
	/* A series without the label goes to the default tenant. */
	struct jp_label nl[] = {{"__name__", "node_metric"}, {"job", "check"}};
	struct jp_series node = {.id = 100, .nlabels = 2, .labels = nl, .name = "node_metric"};
	struct jp_round_sample v[5];
	for (int i = 0; i < 4; i++)
		v[i] = (struct jp_round_sample){.series = &series[i], .value = i};
	v[4] = (struct jp_round_sample){.series = &node, .value = 9};
	ck_assert_int_eq(jp_sender_append(s, 1000, v, 5), 0);
	ck_assert_int_eq(jp_sender_append(s, 2000, v, 5), 0);
	int flushed = 0;
	jp_sender_flush(s, jp_now_mono_ms() + 3000, closed_cb, &flushed);
	ck_assert(run_until(pred_flag, &flushed, 4000));
	/* Tenants in order: "1", "3", "platform", "team-zero"; the second failed once. */
	ck_assert_int_eq(mock_count(&mock), 5);
	static const char *const want[] = {"1", "3", "3", "platform", "team-zero"};
	static const size_t want_samples[] = {2, 2, 2, 2, 4};
	for (int i = 0; i < 5; i++) {
		char *t = mock_header(&mock, i, "X-Scope-OrgID");
		ck_assert_msg(t && !strcmp(t, want[i]), "request %d: tenant %s, want %s", i, t ? t : "(none)", want[i]);
		free(t);
		ck_assert_int_eq(mock_header_count(&mock, i, "X-Scope-OrgID"), 1);
		ck_assert_uint_eq(count_v1_samples(&mock, i), want_samples[i]);
		/* Every series of the request is that tenant's. */
		Prometheus__WriteRequest *wr = decode_v1(&mock, i);
		for (size_t k = 0; k < wr->n_timeseries; k++) {
			const char *idx = NULL;
			for (size_t l = 0; l < wr->timeseries[k]->n_labels; l++)
				if (!strcmp(wr->timeseries[k]->labels[l]->name, "idx"))
					idx = wr->timeseries[k]->labels[l]->value;
			const char *tenant = !idx ? "platform" : (!strcmp(idx, "0") || !strcmp(idx, "2")) ? "team-zero" : idx;
			ck_assert_str_eq(tenant, want[i]);
		}
		prometheus__write_request__free_unpacked(wr, NULL);
	}
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_sent, 10);
	ck_assert_uint_eq(st.pending_samples, 0);
	ck_assert_uint_eq(st.samples_dropped, 0);
	close_all(s, h);
}
END_TEST

/* The tenant header line is built whole whatever its length: with a 250-character
 * header name (the sender takes what it is given; the config bounds names at 100), the
 * tenant "monitoring" arrives as it is (a 256-byte line cut it to "monitorin"). */
START_TEST(test_tenant_long_header)
{
	mock_start(&mock, 0);
	struct jp_remote_config rc = make_rc("tl", mock.port);
	char name[251];
	memset(name, 'X', 250);
	name[250] = '\0';
	rc.tenant_header = name;
	rc.tenant_label = "job";
	rc.tenant_default = "platform";
	struct jp_kv map[] = {{"check", "monitoring"}};
	rc.tenant_map = (struct jp_kvlist){map, 1};
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);
	append_round(s, 1000, 2);
	flush_now(s);
	ck_assert_int_eq(mock_count(&mock), 1);
	assert_header(&mock, 0, name, "monitoring");
	close_all(s, h);
}
END_TEST

START_TEST(test_batch_by_deadline)
{
	mock_start(&mock, 0);
	struct jp_remote_config rc = make_rc("r1", mock.port);
	rc.max_samples_per_send = 1000;
	rc.batch_send_deadline_ms = 300;
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);

	uint64_t t0 = jp_now_mono_ms();
	append_round(s, 1000, 5);
	run_for(150);
	append_round(s, 2000, 5);   /* does not move the deadline of the first round */
	ck_assert_int_eq(mock_count(&mock), 0);
	ck_assert(wait_reqs(1, 3000));
	/* Not before the deadline; that it comes at all is what wait_reqs checks (a guard,
	 * not a speed limit: a busy machine must not fail this). */
	uint64_t waited = mock.reqs[0].t_ms - t0;
	ck_assert_uint_ge(waited, 290);
	ck_assert_uint_eq(count_v1_samples(&mock, 0), 10);
	close_all(s, h);
}
END_TEST

START_TEST(test_retry_500_then_200)
{
	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.status = 500, .body = "overloaded"};
	mock.nscript = 1;
	struct jp_remote_config rc = make_rc("r1", mock.port);
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);

	append_round(s, 1000, 4);
	ck_assert(wait_sent(s, 4, 3000));
	run_for(200);
	ck_assert_int_eq(mock_count(&mock), 2);   /* no duplicate after the 2xx */
	ck_assert_uint_eq(mock.reqs[0].body_len, mock.reqs[1].body_len);
	ck_assert_int_eq(memcmp(mock.reqs[0].body, mock.reqs[1].body, mock.reqs[0].body_len), 0);
	ck_assert_uint_ge(mock.reqs[1].t_ms - mock.reqs[0].t_ms, 10);   /* >= min_backoff/2 */

	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_sent, 4);
	ck_assert_uint_eq(st.samples_retried, 4);
	ck_assert_uint_eq(st.samples_dropped, 0);
	ck_assert_uint_eq(st.pending_samples, 0);
	close_all(s, h);
}
END_TEST

START_TEST(test_429_retry_after)
{
	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.status = 429, .headers = "Retry-After: 1\r\n"};
	mock.nscript = 1;
	struct jp_remote_config rc = make_rc("r1", mock.port);
	rc.min_backoff_ms = 10;
	rc.max_backoff_ms = 50;
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);

	append_round(s, 1000, 4);
	ck_assert(wait_sent(s, 4, 5000));
	ck_assert_int_eq(mock_count(&mock), 2);
	ck_assert_uint_ge(mock.reqs[1].t_ms - mock.reqs[0].t_ms, 1000);
	ck_assert_uint_lt(mock.reqs[1].t_ms - mock.reqs[0].t_ms, 2500);
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_retried, 4);
	close_all(s, h);
}
END_TEST

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char *buf = calloc(1, 1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

START_TEST(test_400_dropped)
{
	char logpath[128];
	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.status = 400,
					   .body = "out of order sample\nsecond line"};
	mock.nscript = 1;
	struct jp_remote_config rc = make_rc("r1", mock.port);
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);

	/* Capture the log (stderr) to check the excerpt. */
	snprintf(logpath, sizeof(logpath), "%s/log", qdir);
	int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(logfd, 0);
	int saved = dup(2);
	dup2(logfd, 2);

	append_round(s, 1000, 4);
	ck_assert(wait_reqs(1, 3000));
	run_for(100);
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_dropped, 4);
	ck_assert_uint_eq(st.samples_sent, 0);
	ck_assert_uint_eq(st.pending_samples, 0);
	ck_assert_int_eq(mock_count(&mock), 1);   /* not retried */

	append_round(s, 2000, 4);   /* the next batch goes */
	ck_assert(wait_sent(s, 4, 3000));
	ck_assert_int_eq(mock_count(&mock), 2);
	Prometheus__WriteRequest *wr = decode_v1(&mock, 1);
	ck_assert_int_eq(wr->timeseries[0]->samples[0]->timestamp, 2000);
	prometheus__write_request__free_unpacked(wr, NULL);

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(logfd);
	char *log = read_all(logpath);
	ck_assert_msg(strstr(log, "remote r1") && strstr(log, "HTTP 400") &&
			      strstr(log, "out of order sample second line"),
		      "log was: %s", log);
	/* One line per event: the body's newline did not split it. */
	const char *line = strstr(log, "HTTP 400");
	ck_assert_ptr_nonnull(strchr(line, '\n'));
	ck_assert_ptr_nonnull(strstr(line, "second line"));
	ck_assert(strstr(line, "second line") < strchr(line, '\n'));
	free(log);
	close_all(s, h);
}
END_TEST

START_TEST(test_timeout_then_success)
{
	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.hang = 1};
	mock.nscript = 1;
	struct jp_remote_config rc = make_rc("r1", mock.port);
	rc.timeout_ms = 300;
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);

	append_round(s, 1000, 4);
	ck_assert(wait_sent(s, 4, 5000));
	ck_assert_int_eq(mock_count(&mock), 2);
	ck_assert_uint_ge(mock.reqs[1].t_ms - mock.reqs[0].t_ms, 290);
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_sent, 4);
	ck_assert_uint_eq(st.samples_retried, 4);
	ck_assert_uint_eq(st.pending_samples, 0);
	close_all(s, h);
}
END_TEST

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	close(fd);
	return ntohs(sa.sin_port);
}

START_TEST(test_connection_refused_then_server)
{
	int port = free_port();
	struct jp_remote_config rc = make_rc("r1", port);
	rc.min_backoff_ms = 10;
	rc.max_backoff_ms = 100;
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);

	append_round(s, 1000, 4);
	run_for(400);
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_sent, 0);
	ck_assert_uint_ge(st.samples_retried, 4);
	ck_assert_uint_eq(st.pending_samples, 4);

	mock_start(&mock, port);
	ck_assert(wait_sent(s, 4, 3000));
	run_for(150);
	ck_assert_int_eq(mock_count(&mock), 1);
	ck_assert_uint_eq(count_v1_samples(&mock, 0), 4);
	close_all(s, h);
}
END_TEST

START_TEST(test_backoff_schedule)
{
	uint64_t seed = 42;
	/* Bounds and doubling: attempt k waits within [d/2, d], d = min(max, min*2^(k-1)). */
	for (int round = 0; round < 200; round++) {
		for (unsigned a = 1; a <= 12; a++) {
			uint64_t d = 100;
			for (unsigned i = 1; i < a && d < 5000; i++)
				d = d * 2 > 5000 ? 5000 : d * 2;
			uint64_t v = jp_backoff_ms(100, 5000, a, &seed);
			ck_assert_uint_ge(v, d / 2);
			ck_assert_uint_le(v, d);
		}
	}
	/* The cap holds for huge attempt numbers and huge limits (no overflow). */
	for (int i = 0; i < 100; i++) {
		uint64_t v = jp_backoff_ms(30, 5000, UINT_MAX, &seed);
		ck_assert_uint_ge(v, 2500);
		ck_assert_uint_le(v, 5000);
		v = jp_backoff_ms(1, UINT64_MAX, 200, &seed);
		ck_assert_uint_ge(v, UINT64_MAX / 2);
	}
	/* attempt 0 counts as the first. */
	ck_assert_uint_le(jp_backoff_ms(100, 5000, 0, &seed), 100);
	ck_assert_uint_eq(jp_backoff_ms(0, 0, 3, &seed), 0);
	/* The jitter covers its range. */
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int i = 0; i < 2000; i++) {
		uint64_t v = jp_backoff_ms(100, 5000, 3, &seed);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	ck_assert_uint_lt(lo, 210);
	ck_assert_uint_gt(hi, 390);
	/* Deterministic for a seed. */
	uint64_t s1 = 7, s2 = 7, s3 = 8;
	int differ = 0;
	for (unsigned a = 1; a <= 20; a++) {
		uint64_t x = jp_backoff_ms(30, 5000, a, &s1);
		ck_assert_uint_eq(x, jp_backoff_ms(30, 5000, a, &s2));
		differ |= x != jp_backoff_ms(30, 5000, a, &s3);
	}
	ck_assert(differ);
}
END_TEST

START_TEST(test_protocol_v2_fallback)
{
	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.status = 415, .body = "unsupported"};
	mock.nscript = 1;
	struct jp_remote_config rc = make_rc("r1", mock.port);
	rc.protocol = JP_RW_V2;
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);

	append_round(s, 1000, 4);
	ck_assert(wait_sent(s, 4, 3000));
	ck_assert_int_eq(mock_count(&mock), 2);
	assert_header(&mock, 0, "Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request");
	assert_header(&mock, 0, "X-Prometheus-Remote-Write-Version", "2.0.0");
	assert_header(&mock, 0, "Content-Encoding", "snappy");
	size_t len;
	uint8_t *raw = unsnappy(&mock, 0, &len);
	Io__Prometheus__Write__V2__Request *r2 = io__prometheus__write__v2__request__unpack(NULL, len, raw);
	free(raw);
	ck_assert_ptr_nonnull(r2);
	ck_assert_uint_ge(r2->n_symbols, 1);
	ck_assert_str_eq(r2->symbols[0], "");
	ck_assert_uint_eq(r2->n_timeseries, 4);
	io__prometheus__write__v2__request__free_unpacked(r2, NULL);

	/* The fallback: same samples as 1.0, and 1.0 from then on. */
	assert_header(&mock, 1, "Content-Type", "application/x-protobuf");
	assert_header(&mock, 1, "X-Prometheus-Remote-Write-Version", "0.1.0");
	ck_assert_uint_eq(count_v1_samples(&mock, 1), 4);
	append_round(s, 2000, 4);
	ck_assert(wait_sent(s, 8, 3000));
	assert_header(&mock, 2, "X-Prometheus-Remote-Write-Version", "0.1.0");
	ck_assert_uint_eq(count_v1_samples(&mock, 2), 4);
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_dropped, 0);
	ck_assert_uint_eq(st.samples_retried, 0);
	close_all(s, h);
}
END_TEST

START_TEST(test_close_in_flight_resumes_once)
{
	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.hang = 1};
	mock.nscript = 1;
	struct jp_remote_config rc = make_rc("r1", mock.port);
	rc.timeout_ms = 10000;
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);

	append_round(s, 1000, 4);
	ck_assert(wait_reqs(1, 3000));
	ck_assert_uint_eq(jp_http_active(h), 1);
	close_sender(s);   /* aborts the transfer; the batch was never acked */
	ck_assert_uint_eq(jp_http_active(h), 0);
	run_for(50);

	/* A new sender on the same directory delivers the batch, once. */
	s = sender_new(h, &rc);
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.pending_samples, 4);
	ck_assert(wait_sent(s, 4, 3000));
	run_for(200);
	ck_assert_int_eq(mock_count(&mock), 2);
	ck_assert_uint_eq(mock.reqs[0].body_len, mock.reqs[1].body_len);
	ck_assert_int_eq(memcmp(mock.reqs[0].body, mock.reqs[1].body, mock.reqs[0].body_len), 0);
	close_sender(s);

	/* And a third finds nothing left to send. */
	s = sender_new(h, &rc);
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.pending_samples, 0);
	run_for(200);
	ck_assert_int_eq(mock_count(&mock), 2);
	close_all(s, h);
}
END_TEST

START_TEST(test_flush_deadline_with_failing_remote)
{
	mock_start(&mock, 0);
	mock.default_status = 503;
	struct jp_remote_config rc = make_rc("r1", mock.port);
	rc.min_backoff_ms = 200;
	rc.max_backoff_ms = 1000;
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);

	append_round(s, 1000, 4);
	int flushed = 0;
	uint64_t t0 = jp_now_mono_ms();
	jp_sender_flush(s, t0 + 300, closed_cb, &flushed);
	/* Without the deadline the flush would wait for a remote that never recovers: it
	 * would not end at all within the guard. */
	ck_assert(run_until(pred_flag, &flushed, 5000));
	ck_assert_int_eq(flushed, 1);
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_sent, 0);
	ck_assert_uint_eq(st.pending_samples, 4);   /* stays on disk */
	close_all(s, h);
}
END_TEST

/* The HTTP client alone: Retry-After as an HTTP date, Content-Type, response cap,
 * cancel and close in every state. */
struct get_result {
	int done;
	long status;
	int64_t retry_after_ms;
	char content_type[64];
	size_t body_len;
	int truncated;
	int curl_code;
};

static void get_done_cb(struct jp_http_xfer *x, const struct jp_http_response *r, void *arg)
{
	struct get_result *g = arg;
	g->done++;
	g->status = r->status;
	g->retry_after_ms = r->retry_after_ms;
	snprintf(g->content_type, sizeof(g->content_type), "%s", r->content_type ? r->content_type : "");
	g->body_len = r->body_len;
	g->truncated = r->body_truncated;
	g->curl_code = r->curl_code;
}

struct close_in_done {
	struct jp_http *h;
	int done, closed;
	long status;
};

static void close_in_done_cb(struct jp_http_xfer *x, const struct jp_http_response *r, void *arg)
{
	struct close_in_done *c = arg;
	c->done++;
	c->status = r->status;
	jp_http_close(c->h, closed_cb, &c->closed);
	jp_http_cancel(x);   /* a no-op from inside its own callback */
}

START_TEST(test_http_client)
{
	char date[64], hdr[128], url[128];
	time_t when = time(NULL) + 30;
	struct tm tm;
	gmtime_r(&when, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(hdr, sizeof(hdr), "Retry-After: %s\r\n", date);
	static char big[3000];
	memset(big, 'x', sizeof(big) - 1);

	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.status = 503, .headers = hdr, .body = "later"};
	mock.script[1] = (struct mock_act){.status = 200, .body = big};
	mock.script[2] = (struct mock_act){.hang = 1};
	mock.nscript = 3;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", mock.port);
	struct jp_http *h = http_new();
	struct jp_http_request req = {.method = "GET", .url = url, .timeout_ms = 2000};

	/* done never runs from inside jp_http_start. */
	struct get_result g = {0};
	ck_assert_ptr_nonnull(jp_http_start(h, &req, get_done_cb, &g));
	ck_assert_int_eq(g.done, 0);
	ck_assert(run_until(pred_flag, &g.done, 3000));
	ck_assert_int_eq(g.status, 503);
	ck_assert_int_gt(g.retry_after_ms, 25000);
	ck_assert_int_le(g.retry_after_ms, 31000);
	ck_assert_str_eq(g.content_type, "text/plain");

	/* A body over the cap aborts the transfer, keeps the status and what fit. */
	memset(&g, 0, sizeof(g));
	req.max_response_bytes = 1000;
	ck_assert_ptr_nonnull(jp_http_start(h, &req, get_done_cb, &g));
	ck_assert(run_until(pred_flag, &g.done, 3000));
	ck_assert_int_eq(g.status, 200);
	ck_assert(g.truncated);
	ck_assert_int_ne(g.curl_code, 0);
	ck_assert_uint_le(g.body_len, 1000);
	ck_assert_int_eq(g.retry_after_ms, -1);

	/* Cancel before the transfer ever ran, and while it is in flight. */
	memset(&g, 0, sizeof(g));
	struct jp_http_xfer *x = jp_http_start(h, &req, get_done_cb, &g);
	jp_http_cancel(x);
	x = jp_http_start(h, &req, get_done_cb, &g);
	ck_assert(wait_reqs(3, 3000));
	jp_http_cancel(x);
	jp_http_cancel(NULL);
	run_for(50);
	ck_assert_int_eq(g.done, 0);

	/* Close from inside a done callback while another transfer is in flight: the
	 * other's callback does not run, and every handle gets closed. */
	mock.script[3] = (struct mock_act){.hang = 1};
	mock.script[4] = (struct mock_act){.status = 204};
	mock.nscript = 5;
	x = jp_http_start(h, &req, get_done_cb, &g);
	ck_assert(wait_reqs(4, 3000));
	struct close_in_done cid = {.h = h};
	ck_assert_ptr_nonnull(jp_http_start(h, &req, close_in_done_cb, &cid));
	ck_assert_uint_eq(jp_http_active(h), 2);
	ck_assert(run_until(pred_flag, &cid.closed, 3000));
	ck_assert_int_eq(cid.done, 1);
	ck_assert_int_eq(cid.status, 204);
	ck_assert_int_eq(g.done, 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	loop_closed = 1;
}
END_TEST


/* Answers that mean the setup is wrong (redirects, authentication, authorisation, not
 * found, proxy authentication) keep the data queued and are retried with backoff; when
 * the receiver answers 2xx again, every sample arrives. */
START_TEST(test_config_errors_keep_data)
{
	static const int codes[] = {301, 302, 307, 401, 403, 404, 405, 407};
	mock_start(&mock, 0);
	int k = 0;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		mock.script[k++] = (struct mock_act){.status = codes[i], .body = "nope",
						     .headers = codes[i] < 400 ? "Location: /elsewhere\r\n" : NULL};
	mock.nscript = k;
	struct jp_remote_config rc = make_rc("r1", mock.port);
	rc.max_backoff_ms = 40;
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);
	append_round(s, 1000, 4);
	append_round(s, 2000, 4);
	ck_assert(wait_sent(s, 8, 10000));
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_dropped, 0);
	ck_assert_uint_eq(st.samples_sent, 8);
	ck_assert_uint_eq(st.pending_samples, 0);
	ck_assert_int_eq(mock_count(&mock), k + 2);
	/* The same batch went out again each time: ts 1000 until it got through. */
	for (int i = 0; i <= k; i++) {
		Prometheus__WriteRequest *wr = decode_v1(&mock, i);
		ck_assert_int_eq(wr->timeseries[0]->samples[0]->timestamp, 1000);
		prometheus__write_request__free_unpacked(wr, NULL);
	}
	close_all(s, h);
}
END_TEST

/* A bearer token rotated on disk while the receiver answers 401 is read again
 * before the next try; nothing is dropped. */
START_TEST(test_token_rotated_on_401)
{
	char tok[128], pw[128];
	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.status = 401, .body = "token expired"};
	mock.script[1] = (struct mock_act){.status = 401, .body = "token expired"};
	mock.script[2] = (struct mock_act){.status = 401, .body = "token expired"};
	mock.nscript = 3;
	snprintf(tok, sizeof(tok), "%s/token", qdir);
	write_file(tok, "old-token\n");
	struct jp_remote_config rc = make_rc("r1", mock.port);
	rc.bearer_token_file = tok;
	rc.min_backoff_ms = 50;
	rc.max_backoff_ms = 100;
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);
	append_round(s, 1000, 4);
	ck_assert(wait_reqs(1, 3000));
	/* Rotate (write a new file and rename it over, as Kubernetes does). */
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.new", tok);
	write_file(tmp, "new-token\n");
	ck_assert_int_eq(rename(tmp, tok), 0);
	ck_assert(wait_sent(s, 4, 5000));
	int n = mock_count(&mock);
	ck_assert_int_eq(n, 4);
	assert_header(&mock, 0, "Authorization", "Bearer old-token");
	assert_header(&mock, n - 1, "Authorization", "Bearer new-token");
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_dropped, 0);
	close_all(s, h);

	/* The same for a basic-auth password. */
	mock_stop(&mock);
	memset(&mock, 0, sizeof(mock));
	mock.default_status = 200;
	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.status = 401};
	mock.nscript = 1;
	snprintf(pw, sizeof(pw), "%s/pw", qdir);
	write_file(pw, "old\n");
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	loop_closed = 0;
	rc = make_rc("r2", mock.port);
	rc.basic_auth_username = "u";
	rc.basic_auth_password_file = pw;
	h = http_new();
	s = sender_new(h, &rc);
	append_round(s, 1000, 4);
	ck_assert(wait_reqs(1, 3000));
	write_file(pw, "new\n");
	ck_assert(wait_sent(s, 4, 5000));
	assert_header(&mock, 0, "Authorization", "Basic dTpvbGQ=");   /* u:old */
	assert_header(&mock, 1, "Authorization", "Basic dTpuZXc=");   /* u:new */
	close_all(s, h);
}
END_TEST

/* 409 and 422 refuse the data: dropped and counted under reason "rejected". */
START_TEST(test_rejected_reasons)
{
	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.status = 409, .body = "duplicate"};
	mock.script[1] = (struct mock_act){.status = 422, .body = "unprocessable"};
	mock.nscript = 2;
	struct jp_remote_config rc = make_rc("r1", mock.port);
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);
	append_round(s, 1000, 4);
	ck_assert(wait_reqs(1, 3000));
	append_round(s, 2000, 4);
	ck_assert(wait_reqs(2, 3000));
	append_round(s, 3000, 4);
	ck_assert(wait_sent(s, 4, 3000));
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.dropped_by_reason[JP_DROP_REJECTED], 8);
	ck_assert_uint_eq(st.samples_dropped, 8);
	ck_assert_uint_eq(st.dropped_by_reason[JP_DROP_TOO_LARGE], 0);
	ck_assert_str_eq(jp_drop_reason_name(JP_DROP_REJECTED), "rejected");
	ck_assert_int_eq(mock_count(&mock), 3);
	close_all(s, h);
}
END_TEST

/* 413: the batch is halved and retried, down to one series; a single series that is
 * still too large is dropped under reason "too_large". */
START_TEST(test_413_split)
{
	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.status = 413};   /* series 0..3 */
	mock.script[1] = (struct mock_act){.status = 413};   /* 0..1 */
	mock.script[2] = (struct mock_act){.status = 200};   /* 0 */
	mock.script[3] = (struct mock_act){.status = 413};   /* 1: dropped */
	mock.script[4] = (struct mock_act){.status = 200};   /* 2..3 */
	mock.nscript = 5;
	struct jp_remote_config rc = make_rc("r1", mock.port);
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);
	append_round(s, 1000, 4);
	ck_assert(wait_sent(s, 3, 5000));
	run_for(50);
	static const size_t want_series[] = {4, 2, 1, 1, 2};
	static const char *const first_idx[] = {"0", "0", "0", "1", "2"};
	ck_assert_int_eq(mock_count(&mock), 5);
	for (int i = 0; i < 5; i++) {
		Prometheus__WriteRequest *wr = decode_v1(&mock, i);
		ck_assert_uint_eq(wr->n_timeseries, want_series[i]);
		int found = 0;
		for (size_t l = 0; l < wr->timeseries[0]->n_labels; l++)
			if (strcmp(wr->timeseries[0]->labels[l]->name, "idx") == 0) {
				ck_assert_str_eq(wr->timeseries[0]->labels[l]->value, first_idx[i]);
				found = 1;
			}
		ck_assert(found);
		prometheus__write_request__free_unpacked(wr, NULL);
	}
	struct jp_sender_stats st;
	jp_sender_get_stats(s, &st);
	ck_assert_uint_eq(st.samples_sent, 3);
	ck_assert_uint_eq(st.dropped_by_reason[JP_DROP_TOO_LARGE], 1);
	ck_assert_uint_eq(st.pending_samples, 0);
	/* The queue moved on: the next round goes whole. */
	append_round(s, 2000, 4);
	ck_assert(wait_sent(s, 7, 3000));
	close_all(s, h);
}
END_TEST

static void flush_done_flag_cb(void *arg)
{
	(*(int *)arg)++;
}

/* Closing a sender in the middle of a flush still ends the flush with its callback
 * (once), after which the closed callback runs. */
START_TEST(test_close_during_flush_calls_back)
{
	mock_start(&mock, 0);
	mock.script[0] = (struct mock_act){.hang = 1};
	mock.nscript = 1;
	struct jp_remote_config rc = make_rc("r1", mock.port);
	struct jp_http *h = http_new();
	struct jp_sender *s = sender_new(h, &rc);
	append_round(s, 1000, 4);
	ck_assert(wait_reqs(1, 3000));
	int flushed = 0;
	jp_sender_flush(s, jp_now_mono_ms() + 60000, flush_done_flag_cb, &flushed);
	run_for(50);
	ck_assert_int_eq(flushed, 0);
	close_all(s, h);
	ck_assert_int_eq(flushed, 1);
}
END_TEST

static Suite *sender_suite(void)
{
	Suite *s = suite_create("sender");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_success_headers_basic_auth);
	tcase_add_test(tc, test_bearer_token);
	tcase_add_test(tc, test_missing_secret_file);
	tcase_add_test(tc, test_batch_by_max_samples);
	tcase_add_test(tc, test_batch_by_deadline);
	tcase_add_test(tc, test_retry_500_then_200);
	tcase_add_test(tc, test_429_retry_after);
	tcase_add_test(tc, test_400_dropped);
	tcase_add_test(tc, test_timeout_then_success);
	tcase_add_test(tc, test_connection_refused_then_server);
	tcase_add_test(tc, test_backoff_schedule);
	tcase_add_test(tc, test_protocol_v2_fallback);
	tcase_add_test(tc, test_close_in_flight_resumes_once);
	tcase_add_test(tc, test_flush_deadline_with_failing_remote);
	tcase_add_test(tc, test_http_client);
	tcase_add_test(tc, test_config_errors_keep_data);
	tcase_add_test(tc, test_token_rotated_on_401);
	tcase_add_test(tc, test_rejected_reasons);
	tcase_add_test(tc, test_413_split);
	tcase_add_test(tc, test_max_sample_age);
	tcase_add_test(tc, test_max_sample_age_backlog);
	tcase_add_test(tc, test_relabel);
	tcase_add_test(tc, test_tenant_long_header);
	tcase_add_test(tc, test_tenants);
	tcase_add_test(tc, test_close_during_flush_calls_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sender_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
