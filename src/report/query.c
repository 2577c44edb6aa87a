/* SPDX-License-Identifier: Apache-2.0 */
/* The Prometheus HTTP query API through the agent's HTTP client, blocking (remote/http_sync.h;
 * docs/reports.md). */
#include "report/query.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/http_sync.h"
#include "util/json_read.h"
#include "util/buf.h"
#include "util/secret.h"
#include "util/text.h"

#ifndef JP_VERSION
#define JP_VERSION "0.0.0"
#endif

struct jp_query {
	struct jp_query_opts o;
	char *url;
	char **headers;
	size_t nheaders;
};

/* The largest answer taken: a year of daily points for thousands of series fits. */
#define MAX_ANSWER_BYTES (256u << 20)

struct jp_query *jp_query_open(const struct jp_query_opts *o, char *why, size_t whylen)
{
	if (!o->url || (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8))) {
		snprintf(why, whylen, "--url must start with http:// or https://");
		return NULL;
	}
	struct jp_query *q = calloc(1, sizeof(*q));
	if (!q)
		goto oom;
	q->o = *o;
	q->url = strdup(o->url);
	q->headers = calloc(o->nheaders + 1, sizeof(char *));
	if (!q->url || !q->headers)
		goto oom;
	/* A trailing slash would double in "/api/v1/...". */
	size_t ul = strlen(q->url);
	while (ul > 0 && q->url[ul - 1] == '/')
		q->url[--ul] = '\0';
	for (size_t i = 0; i < o->nheaders; i++) {
		const char *c = strchr(o->headers[i], ':');
		if (!c || c == o->headers[i] || strpbrk(o->headers[i], "\r\n")) {
			snprintf(why, whylen, "header '%s' is not 'Name: value'", o->headers[i]);
			jp_query_close(q);
			return NULL;
		}
		if (!(q->headers[i] = strdup(o->headers[i])))
			goto oom;
		q->nheaders++;
	}
	return q;
oom:
	snprintf(why, whylen, "out of memory");
	jp_query_close(q);
	return NULL;
}

void jp_query_close(struct jp_query *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->nheaders; i++)
		free(q->headers[i]);
	free(q->headers);
	free(q->url);
	free(q);
}

/* An excerpt of a body fit for one line of an error message. */
static void excerpt(const struct jp_buf *b, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < b->len && o + 4 < outlen && i < 200; i++) {
		unsigned char c = (unsigned char)b->data[i];
		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	if (b->len > 200 && o + 4 < outlen)
		o += (size_t)snprintf(out + o, outlen - o, "...");
	out[o] = '\0';
}

/* The request's headers: the --header ones and the bearer token, read again for each
 * request (a rotated token needs no restart). hl has room for nheaders + 2; *auth is the
 * Authorization header to wipe and free. 0, or a negative errno with why filled. */
static int request_headers(struct jp_query *q, const char **hl, char **auth, char *why, size_t whylen)
{
	size_t n = 0;
	for (size_t i = 0; i < q->nheaders; i++)
		hl[n++] = q->headers[i];
	hl[n] = NULL;
	*auth = NULL;
	if (!q->o.bearer_token_file)
		return 0;
	char *token = jp_secret_read(q->o.bearer_token_file);
	if (!token) {
		int e = errno;
		snprintf(why, whylen, "--bearer-token-file %s: %s", q->o.bearer_token_file, strerror(e));
		return -e;
	}
	if (jp_has_line_break(token)) {
		/* The next line would be sent as a header of its own. */
		jp_secret_free(token);
		snprintf(why, whylen, "--bearer-token-file %s holds more than one line", q->o.bearer_token_file);
		return -EINVAL;
	}
	int e = asprintf(auth, "Authorization: Bearer %s", token) < 0;
	jp_secret_free(token);
	if (e) {
		*auth = NULL;
		return -ENOMEM;
	}
	hl[n++] = *auth;
	hl[n] = NULL;
	return 0;
}

/* An error answer: the API's own error (bad_data, timeout, ...) when the body is its
 * JSON, else the status and an excerpt. */
static void http_error(const char *url, const struct jp_http_reply *rep, char *why, size_t whylen)
{
	char ex[256], api[256] = "";
	struct jp_query_result tmp = {0};
	excerpt(&rep->body, ex, sizeof(ex));
	if (jp_query_parse((const char *)rep->body.data, rep->body.len, &tmp, api, sizeof(api)) == 0)
		jp_query_result_free(&tmp);
	if (!strncmp(api, "the server says", 15))
		snprintf(why, whylen, "%s: HTTP %ld, %s", url, rep->status, api);
	else
		snprintf(why, whylen, "%s: HTTP %ld: %s", url, rep->status, ex[0] ? ex : "(empty body)");
}

/* POST form to q->url + path; the answer parsed into out. */
static int post(struct jp_query *q, const char *path, const char *form, struct jp_query_result *out,
		char *why, size_t whylen)
{
	struct jp_buf url = {0};
	const char **hl = calloc(q->nheaders + 2, sizeof(*hl));
	char *auth = NULL, *password = NULL;
	struct jp_http_reply rep = {0};
	int rc = -ENOMEM;
	if (!hl || jp_buf_printf(&url, "%s%s", q->url, path) || jp_buf_append(&url, "", 1))
		goto fail;
	if ((rc = request_headers(q, hl, &auth, why, whylen)))
		goto fail;
	if (q->o.basic_user && q->o.basic_password_file && !(password = jp_secret_read(q->o.basic_password_file))) {
		rc = -errno;
		snprintf(why, whylen, "--basic-auth-password-file %s: %s", q->o.basic_password_file, strerror(errno));
		goto fail;
	}
	struct jp_http_request req = {
		.method = "POST",
		.url = (const char *)url.data,
		.headers = hl,
		.body = form,
		.body_len = strlen(form),
		.timeout_ms = q->o.timeout_ms ? q->o.timeout_ms : 120000,
		.user_agent = "joulepush-report/" JP_VERSION,
		.username = q->o.basic_user,
		.password = q->o.basic_user ? (password ? password : "") : NULL,
		.ca_file = q->o.ca_file,
		.insecure_skip_verify = q->o.insecure,
		.max_response_bytes = MAX_ANSWER_BYTES,
		.accept_encoding = 1,
	};
	if ((rc = jp_http_run(&req, NULL, &rep, why, whylen)))
		goto fail;
	if (rep.status < 200 || rep.status > 299) {
		http_error((const char *)url.data, &rep, why, whylen);
		rc = -EIO;
		goto fail;
	}
	char perr[256];
	rc = jp_query_parse((const char *)rep.body.data, rep.body.len, out, perr, sizeof(perr));
	if (rc)
		snprintf(why, whylen, "%s: %s", (const char *)url.data, perr);
fail:
	if (rc == -ENOMEM && !why[0])
		snprintf(why, whylen, "out of memory");
	jp_secret_free(auth);
	jp_secret_free(password);
	free(hl);
	jp_buf_free(&url);
	jp_buf_free(&rep.body);
	return rc;
}

static int form_add(struct jp_buf *f, const char *key, const char *val)
{
	return jp_buf_printf(f, "%s%s=", f->len ? "&" : "", key) || jp_buf_append_urlencoded(f, val);
}

static int form_time(struct jp_buf *f, const char *key, int64_t t_ms)
{
	char t[32];
	snprintf(t, sizeof(t), "%" PRId64 ".%03d", t_ms / 1000, (int)(t_ms % 1000));
	return form_add(f, key, t);
}

int jp_query_instant(struct jp_query *q, const char *expr, int64_t t_ms,
		     struct jp_query_result *out, char *why, size_t whylen)
{
	struct jp_buf f = {0};
	why[0] = '\0';
	if (form_add(&f, "query", expr) || form_time(&f, "time", t_ms) || jp_buf_append(&f, "", 1)) {
		jp_buf_free(&f);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	int rc = post(q, "/api/v1/query", (const char *)f.data, out, why, whylen);
	jp_buf_free(&f);
	return rc;
}

int jp_query_range(struct jp_query *q, const char *expr, int64_t start_ms, int64_t end_ms,
		   int64_t step_ms, struct jp_query_result *out, char *why, size_t whylen)
{
	struct jp_buf f = {0};
	char step[32];
	why[0] = '\0';
	snprintf(step, sizeof(step), "%" PRId64 ".%03d", step_ms / 1000, (int)(step_ms % 1000));
	if (form_add(&f, "query", expr) || form_time(&f, "start", start_ms) || form_time(&f, "end", end_ms) ||
	    form_add(&f, "step", step) || jp_buf_append(&f, "", 1)) {
		jp_buf_free(&f);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	int rc = post(q, "/api/v1/query_range", (const char *)f.data, out, why, whylen);
	jp_buf_free(&f);
	return rc;
}

/* ---- parsing ------------------------------------------------------------------------ */

static void series_free(struct jp_query_series *s)
{
	for (size_t j = 0; s->labels && j < 2 * s->nlabels; j++)
		free(s->labels[j]);
	free(s->labels);
	free(s->t_ms);
	free(s->v);
}

/* [ <unix seconds>, "<value>" ] into *t and *v; 1 when finite, 0 to skip, -1 malformed. */
static int point(struct json_object *p, int64_t *t, double *v)
{
	if (!json_object_is_type(p, json_type_array) || json_object_array_length(p) != 2)
		return -1;
	double ts;
	if (jp_json_get_number(json_object_array_get_idx(p, 0), &ts) || ts < 0 || ts > 1e11)
		return -1;
	struct json_object *s = json_object_array_get_idx(p, 1);
	if (!json_object_is_type(s, json_type_string))
		return -1;
	const char *str = json_object_get_string(s);
	char *end;
	errno = 0;
	double d = strtod(str, &end);
	if (end == str || *end)
		return -1;
	*t = (int64_t)llround(ts * 1000.0);
	*v = d;
	return isfinite(d) ? 1 : 0;
}

static int add_series(struct jp_query_result *out, struct json_object *metric, struct json_object *pts,
		      int one_point, char *why, size_t whylen)
{
	struct jp_query_series s = {0};
	int rc = -EINVAL;
	if (metric && !json_object_is_type(metric, json_type_object)) {
		snprintf(why, whylen, "\"metric\" is not an object");
		return -EINVAL;
	}
	size_t nl = metric ? (size_t)json_object_object_length(metric) : 0;
	size_t np = one_point ? 1 : json_object_array_length(pts);
	s.labels = calloc(nl * 2 + 1, sizeof(char *));
	s.t_ms = calloc(np + 1, sizeof(int64_t));
	s.v = calloc(np + 1, sizeof(double));
	if (!s.labels || !s.t_ms || !s.v)
		goto oom;
	if (metric) {
		json_object_object_foreach(metric, k, val) {
			if (!json_object_is_type(val, json_type_string)) {
				snprintf(why, whylen, "label %s is not a string", k);
				goto bad;
			}
			s.labels[2 * s.nlabels] = strdup(k);
			s.labels[2 * s.nlabels + 1] = strdup(json_object_get_string(val));
			s.nlabels++;
			if (!s.labels[2 * s.nlabels - 2] || !s.labels[2 * s.nlabels - 1])
				goto oom;
		}
	}
	for (size_t i = 0; i < np; i++) {
		struct json_object *p = one_point ? pts : json_object_array_get_idx(pts, i);
		int r = point(p, &s.t_ms[s.npoints], &s.v[s.npoints]);
		if (r < 0) {
			snprintf(why, whylen, "a point is not [time, \"value\"]");
			goto bad;
		}
		s.npoints += (size_t)r;
	}
	struct jp_query_series *n = realloc(out->series, (out->nseries + 1) * sizeof(*n));
	if (!n)
		goto oom;
	out->series = n;
	out->series[out->nseries++] = s;
	return 0;
oom:
	snprintf(why, whylen, "out of memory");
	rc = -ENOMEM;
bad:
	series_free(&s);
	return rc;
}

static void join_warnings(struct jp_query_result *out, struct json_object *w)
{
	if (!w || !json_object_is_type(w, json_type_array))
		return;
	size_t o = strlen(out->warnings);
	for (size_t i = 0; i < json_object_array_length(w); i++) {
		struct json_object *s = json_object_array_get_idx(w, i);
		if (!json_object_is_type(s, json_type_string) || o + 3 >= sizeof(out->warnings))
			continue;
		int n = snprintf(out->warnings + o, sizeof(out->warnings) - o, "%s%s", o ? "; " : "",
				 json_object_get_string(s));
		o = n < 0 ? o : o + (size_t)n >= sizeof(out->warnings) ? sizeof(out->warnings) - 1 : o + (size_t)n;
	}
}

int jp_query_parse(const char *body, size_t len, struct jp_query_result *out, char *why, size_t whylen)
{
	memset(out, 0, sizeof(*out));
	why[0] = '\0';
	char jwhy[128];
	struct json_object *root = jp_json_parse(body, len, JP_QUERY_MAX_BYTES, jwhy, sizeof(jwhy));
	if (!root) {
		snprintf(why, whylen, "the answer is not the query API's JSON: %s", jwhy);
		return -EINVAL;
	}
	int rc = -EINVAL;
	struct json_object *status = jp_json_get(root, "status");
	const char *st = status && json_object_is_type(status, json_type_string) ? json_object_get_string(status) : NULL;
	if (st && !strcmp(st, "error")) {
		struct json_object *et = jp_json_get(root, "errorType");
		struct json_object *e = jp_json_get(root, "error");
		snprintf(why, whylen, "the server says %s: %s",
			 et && json_object_is_type(et, json_type_string) ? json_object_get_string(et) : "error",
			 e && json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "(no message)");
		goto out;
	}
	if (!st || strcmp(st, "success")) {
		snprintf(why, whylen, "the answer has no \"status\": \"success\"");
		goto out;
	}
	join_warnings(out, jp_json_get(root, "warnings"));
	struct json_object *data = jp_json_get(root, "data");
	struct json_object *type = jp_json_get(data, "resultType");
	struct json_object *res = jp_json_get(data, "result");
	const char *ty = type && json_object_is_type(type, json_type_string) ? json_object_get_string(type) : "";
	if (!res) {
		snprintf(why, whylen, "the answer has no data.result");
		goto out;
	}
	if (!strcmp(ty, "scalar")) {
		rc = add_series(out, NULL, res, 1, why, whylen);
		goto out;
	}
	int matrix = !strcmp(ty, "matrix");
	if ((!matrix && strcmp(ty, "vector")) || !json_object_is_type(res, json_type_array)) {
		snprintf(why, whylen, "unexpected resultType \"%s\"", ty);
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(res); i++) {
		struct json_object *el = json_object_array_get_idx(res, i);
		struct json_object *pts = jp_json_get(el, matrix ? "values" : "value");
		if (!pts || !json_object_is_type(pts, json_type_array)) {
			snprintf(why, whylen, "a series has no \"%s\"", matrix ? "values" : "value");
			goto out;
		}
		if ((rc = add_series(out, jp_json_get(el, "metric"), pts, !matrix, why, whylen)))
			goto out;
	}
	rc = 0;
out:
	json_object_put(root);
	if (rc)
		jp_query_result_free(out);
	return rc;
}

void jp_query_result_free(struct jp_query_result *r)
{
	for (size_t i = 0; i < r->nseries; i++)
		series_free(&r->series[i]);
	free(r->series);
	r->series = NULL;
	r->nseries = 0;
}

const char *jp_query_label(const struct jp_query_series *s, const char *name)
{
	for (size_t i = 0; i < s->nlabels; i++)
		if (!strcmp(s->labels[2 * i], name))
			return s->labels[2 * i + 1];
	return NULL;
}
