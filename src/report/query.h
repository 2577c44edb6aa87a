/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client for the Prometheus HTTP query API (/api/v1/query, /api/v1/query_range), as
 * Prometheus, Thanos Query, Mimir and VictoriaMetrics serve it. Blocking (libcurl easy):
 * it serves command-line tools, never the agent's event loop.
 */
#ifndef JP_REPORT_QUERY_H
#define JP_REPORT_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Answers larger than this are refused: an aggregated report answer is small. */
#define JP_QUERY_MAX_BYTES JP_BUF_SINK_MAX

struct jp_query_opts {
	const char *url;                 /* base URL, may carry a path prefix (/prometheus) */
	const char *bearer_token_file;
	const char *basic_user;
	const char *basic_password_file;
	const char *const *headers;      /* "Name: value" */
	size_t nheaders;
	const char *ca_file;
	int insecure;
	uint64_t timeout_ms;             /* per request; 0: 120 s */
};

/* One series of an answer: its labels and its points (one for an instant vector). */
struct jp_query_series {
	char **labels;                   /* name, value, name, value, ... */
	size_t nlabels;                  /* pairs */
	int64_t *t_ms;
	double *v;
	size_t npoints;
};

struct jp_query_result {
	struct jp_query_series *series;
	size_t nseries;
	char warnings[512];              /* the server's warnings, joined; "" when none */
};

struct jp_query;

/* A client for o (copied; the secrets are read at each request, so a rotated token is
 * used at once). Returns NULL with why filled. */
struct jp_query *jp_query_open(const struct jp_query_opts *o, char *why, size_t whylen);
void jp_query_close(struct jp_query *q);

/* expr evaluated at t_ms. Returns 0, or a negative errno with why filled: the URL
 * unreachable, an HTTP error (status and an excerpt of the body), or the API's own error. */
int jp_query_instant(struct jp_query *q, const char *expr, int64_t t_ms,
		     struct jp_query_result *out, char *why, size_t whylen);

/* expr at start_ms, start_ms + step_ms, ... <= end_ms. */
int jp_query_range(struct jp_query *q, const char *expr, int64_t start_ms, int64_t end_ms,
		   int64_t step_ms, struct jp_query_result *out, char *why, size_t whylen);

/* Parse an answer of the query API (a vector, a matrix or a scalar) into out. Values that
 * are not finite numbers are left out. Returns 0, or -EINVAL with why filled (also for
 * {"status":"error"}, whose errorType and error it names). */
int jp_query_parse(const char *body, size_t len, struct jp_query_result *out,
		   char *why, size_t whylen);

void jp_query_result_free(struct jp_query_result *r);

/* The value of label name in s, or NULL. */
const char *jp_query_label(const struct jp_query_series *s, const char *name);

#endif
