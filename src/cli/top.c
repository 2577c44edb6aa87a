/* SPDX-License-Identifier: Apache-2.0 */
/*
 * joulepush top: the node's pods (or namespaces) by power, with their energy and CO2
 * since the agent started, read from the agent's local /metrics.
 *
 *   joulepush top [--url http://127.0.0.1:9465] [--by pod|namespace] [--interval 5s]
 *
 * On a terminal it refreshes every --interval until interrupted; otherwise (a pipe, a
 * file) it prints one snapshot and exits, so that scripts and tests can read it.
 * Power, energy and CO2 use the total-energy basis of docs/reference/metrics.md: psys
 * where present, else package + dram (core and uncore lie inside package).
 * Exit codes: 0, 1 when /metrics cannot be read (with the reason), 2 usage.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "remote/http_sync.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/text.h"
#include "util/units.h"



/* One row: a pod or a namespace, with per-basis sums. The key is the whole
 * "namespace/pod" (pod names run to 253 bytes): only the display is cut short. */
struct row {
	char *key;
	double w[JP_BASIS_N], j[JP_BASIS_N];   /* by zone of the total-energy basis */
	double w_total, j_total;
	double co2;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

struct snapshot {
	struct rows rows;
	double node_w[JP_BASIS_N];
	double intensity;
	char intensity_source[64];
	char remotes[512];
	size_t nremote_chars;
	int have_node;
};

/* The agent's /metrics: at most 64 MiB, through the agent's own HTTP client. */
static int fetch(const char *url, struct jp_buf *out, char *why, size_t whylen)
{
	struct jp_http_request req = {.method = "GET", .url = url, .timeout_ms = 10000,
				      .user_agent = "joulepush-top/" JP_VERSION, .max_response_bytes = 64u << 20};
	struct jp_http_reply rep;
	if (jp_http_run(&req, NULL, &rep, why, whylen))
		return -1;
	int rc = 0;
	if (rep.status != 200) {
		snprintf(why, whylen, "%s: HTTP %ld", url, rep.status);
		rc = -1;
	} else if (jp_buf_append(out, rep.body.data, rep.body.len)) {
		snprintf(why, whylen, "out of memory");
		rc = -1;
	}
	jp_buf_free(&rep.body);
	return rc;
}

/* The value of label key in the label text {a="x",b="y"}, whole, appended to out
 * (NUL-terminated); 1 when present. Our own exposition escapes \\, \" and \n; they are
 * undone here. */
static int label_buf(const char *labels, const char *key, struct jp_buf *out)
{
	size_t kl = strlen(key);
	for (const char *p = labels; p && *p;) {
		p += strspn(p, "{,");
		if (strncmp(p, key, kl) == 0 && p[kl] == '=' && p[kl + 1] == '"') {
			for (const char *v = p + kl + 2; *v && *v != '"'; v++) {
				char c = *v;
				if (c == '\\' && v[1]) {
					v++;
					c = *v == 'n' ? '\n' : *v;
				}
				if (jp_buf_append(out, &c, 1))
					return 0;
			}
			return jp_buf_append(out, "", 1) == 0;
		}
		/* Skip this label's value. */
		const char *q = strchr(p, '"');
		if (!q)
			return 0;
		for (q++; *q && *q != '"'; q++)
			if (*q == '\\' && q[1])
				q++;
		p = *q ? q + 1 : q;
	}
	return 0;
}

/* The same into a fixed buffer, cut to fit: for short values (zone, source, remote). */
static int label(const char *labels, const char *key, char *buf, size_t len)
{
	struct jp_buf b = {0};
	int ok = label_buf(labels, key, &b);
	if (ok)
		snprintf(buf, len, "%s", (const char *)b.data);
	jp_buf_free(&b);
	return ok;
}

/* The basis zone of a series (metrics.h), or -1 (core, uncore, none). */
static int zone_of(const char *labels)
{
	char z[16];
	return label(labels, "zone", z, sizeof(z)) ? jp_basis_zone_of(z) : -1;
}

static struct row *row_get(struct rows *r, const char *key)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->v[i].key, key))
			return &r->v[i];
	if (jp_grow((void **)&r->v, &r->cap, r->n + 1, sizeof(*r->v)))
		return NULL;
	struct row *x = &r->v[r->n];
	memset(x, 0, sizeof(*x));
	if (!(x->key = strdup(key)))
		return NULL;
	r->n++;
	return x;
}

/* The row of a pod or namespace series: "namespace/pod" (with_pod) or "namespace", whole;
 * NULL when the series lacks those labels or memory runs out. */
static struct row *row_of(struct snapshot *s, const char *labels, int with_pod)
{
	struct jp_buf ns = {0}, pod = {0}, key = {0};
	struct row *r = NULL;
	if (label_buf(labels, "namespace", &ns) && (!with_pod || label_buf(labels, "pod", &pod)) &&
	    !jp_buf_printf(&key, "%s%s%s", (const char *)ns.data, with_pod ? "/" : "",
			   with_pod ? (const char *)pod.data : "") &&
	    !jp_buf_append(&key, "", 1))
		r = row_get(&s->rows, (const char *)key.data);
	jp_buf_free(&ns);
	jp_buf_free(&pod);
	jp_buf_free(&key);
	return r;
}

/* The sample named id, whatever its labels. */
static int is(const char *name, enum jp_metric_id id)
{
	return !strcmp(name, jp_metric_name(id));
}

/* Sum the agent's exposition into s; *zones gets a bit per basis zone the node has. */
static void parse(char *text, int by_ns, struct snapshot *s, unsigned *zones)
{
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (*line == '#' || !*line)
			continue;
		char *brace = strchr(line, '{');
		char *sp = strrchr(line, ' ');
		if (!sp)
			continue;
		double v = strtod(sp + 1, NULL);
		if (!isfinite(v))
			continue;
		*sp = '\0';
		const char *labels = "";
		if (brace && brace < sp) {
			*brace = '\0';
			labels = brace + 1;
		}
		const char *name = line;
		int z = zone_of(labels);
		if (z >= 0 && is(name, JP_M_NODE_POWER_WATTS))
			*zones |= 1u << z;
		int is_pod = is(name, JP_M_POD_POWER_WATTS) || is(name, JP_M_POD_ENERGY_JOULES_TOTAL) ||
			     is(name, JP_M_POD_CO2_GRAMS_TOTAL);
		int is_ns = is(name, JP_M_NAMESPACE_ENERGY_JOULES_TOTAL) || is(name, JP_M_NAMESPACE_CO2_GRAMS_TOTAL);
		struct row *r = NULL;
		if ((is_pod || (is_ns && by_ns)) && !(r = row_of(s, labels, is_pod && !by_ns)))
			continue;
		if (is_pod) {
			if (is(name, JP_M_POD_POWER_WATTS) && z >= 0)
				r->w[z] += v;
			else if (!by_ns && is(name, JP_M_POD_ENERGY_JOULES_TOTAL) && z >= 0)
				r->j[z] += v;
			else if (!by_ns && is(name, JP_M_POD_CO2_GRAMS_TOTAL))
				r->co2 += v;
		} else if (is_ns && by_ns) {
			/* Namespace counters keep what departed pods used. */
			if (is(name, JP_M_NAMESPACE_ENERGY_JOULES_TOTAL) && z >= 0)
				r->j[z] += v;
			else if (is(name, JP_M_NAMESPACE_CO2_GRAMS_TOTAL))
				r->co2 += v;
		} else if (is(name, JP_M_NODE_POWER_WATTS)) {
			if (z >= 0)
				s->node_w[z] += v;
			s->have_node = 1;
		} else if (is(name, JP_M_GRID_CARBON_INTENSITY_GRAMS_PER_KWH)) {
			s->intensity = v;
			label(labels, "source", s->intensity_source, sizeof(s->intensity_source));
		} else if (is(name, JP_M_REMOTE_PENDING_SAMPLES)) {
			char rn[64];
			if (label(labels, "remote", rn, sizeof(rn)) && s->nremote_chars < sizeof(s->remotes))
				s->nremote_chars += (size_t)snprintf(s->remotes + s->nremote_chars,
								     sizeof(s->remotes) - s->nremote_chars, "%s%s %.0f pending",
								     s->nremote_chars ? ", " : "", rn, v);
		}
	}
}

static void rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].key);
	free(r->v);
}

static int cmp_power_desc(const void *x, const void *y)
{
	const struct row *a = x, *b = y;
	double pa = a->w_total, pb = b->w_total;
	if (pa != pb)
		return pa < pb ? 1 : -1;
	return strcmp(a->key, b->key);
}

/* One snapshot as JSON (the one writer, util/json.h): keys as valid UTF-8. */
static void print_json(const struct snapshot *s, int by_ns, double node_w, double pods_w, double all_j, double all_g)
{
	struct jp_buf b = {0};
	struct jp_jw w;
	jp_jw_init(&w, &b, 1);
	jp_jw_object(&w);
	jp_jw_key(&w, "by");
	jp_jw_string(&w, by_ns ? "namespace" : "pod");
	jp_jw_key(&w, "node_power_watts");
	jp_jw_number(&w, node_w);
	jp_jw_key(&w, "grams_per_kwh");
	jp_jw_number(&w, s->intensity);
	jp_jw_key(&w, "intensity_source");
	jp_jw_string(&w, s->intensity_source);
	jp_jw_key(&w, "rows");
	jp_jw_array(&w);
	for (size_t i = 0; i < s->rows.n; i++) {
		const struct row *r = &s->rows.v[i];
		jp_jw_object(&w);
		jp_jw_key(&w, "key");
		jp_jw_string(&w, r->key);
		jp_jw_key(&w, "power_watts");
		jp_jw_number(&w, r->w_total);
		jp_jw_key(&w, "energy_joules");
		jp_jw_number(&w, r->j_total);
		jp_jw_key(&w, "co2_grams");
		jp_jw_number(&w, r->co2);
		jp_jw_end(&w);
	}
	jp_jw_end(&w);
	jp_jw_key(&w, "total");
	jp_jw_object(&w);
	jp_jw_key(&w, "power_watts");
	jp_jw_number(&w, pods_w);
	jp_jw_key(&w, "energy_joules");
	jp_jw_number(&w, all_j);
	jp_jw_key(&w, "co2_grams");
	jp_jw_number(&w, all_g);
	jp_jw_end(&w);
	jp_jw_end(&w);
	if (!jp_jw_finish(&w))
		printf("%.*s\n", (int)b.len, (const char *)b.data);
	jp_buf_free(&b);
}

static int show(const char *base, int by_ns, int tty, int json)
{
	char url[512], why[768];
	snprintf(url, sizeof(url), "%s%smetrics", base, base[strlen(base) - 1] == '/' ? "" : "/");
	struct jp_buf body = {0};
	if (fetch(url, &body, why, sizeof(why)) || jp_buf_append(&body, "", 1)) {
		fprintf(stderr, "joulepush top: %s\n", why);
		jp_buf_free(&body);
		return 1;
	}
	struct snapshot s = {0};
	unsigned zones = 0;
	parse((char *)body.data, by_ns, &s, &zones);
	jp_buf_free(&body);
	if (!s.have_node) {
		fprintf(stderr, "joulepush top: %s has no %s: is it a joulepush agent?\n", url,
			jp_metric_name(JP_M_NODE_POWER_WATTS));
		rows_free(&s.rows);
		return 1;
	}
	/* Package and dram count when the node has neither psys nor platform, as for the CO2
	 * counters, even if a row lacks one of them. */
	zones |= (1u << JP_BASIS_PACKAGE) | (1u << JP_BASIS_DRAM);
	double node_w = jp_basis_total(s.node_w, zones), pods_w = 0, all_j = 0, all_g = 0;
	for (size_t i = 0; i < s.rows.n; i++) {
		struct row *r = &s.rows.v[i];
		r->w_total = jp_basis_total(r->w, zones);
		r->j_total = jp_basis_total(r->j, zones);
		pods_w += r->w_total;
		all_j += r->j_total;
		all_g += r->co2;
	}
	if (s.rows.n > 1)
		qsort(s.rows.v, s.rows.n, sizeof(*s.rows.v), cmp_power_desc);
	if (json) {
		print_json(&s, by_ns, node_w, pods_w, all_j, all_g);
		rows_free(&s.rows);
		return 0;
	}
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&now, &tm));
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("joulepush top  %s  node %.1f W (%s %.1f W)  grid %.0f gCO2e/kWh (%s)  %s\n", when, node_w,
	       by_ns ? "namespaces" : "pods", pods_w, s.intensity, s.intensity_source[0] ? s.intensity_source : "?",
	       s.remotes[0] ? s.remotes : "no remote");
	printf("%-56s %10s %14s %12s\n", by_ns ? "NAMESPACE" : "NAMESPACE/POD", "POWER W", "ENERGY kJ", "CO2 g");
	struct jp_buf shown = {0};
	for (size_t i = 0; i < s.rows.n; i++) {
		const struct row *r = &s.rows.v[i];
		/* A label value is anyone's text: no escape sequence reaches the terminal. */
		jp_buf_reset(&shown);
		if (jp_text_printable(&shown, r->key) || jp_buf_append(&shown, "", 1))
			continue;
		printf("%-56.56s %10.2f %14.3f %12.4f\n", (const char *)shown.data, r->w_total, r->j_total / 1000,
		       r->co2);
	}
	jp_buf_free(&shown);
	printf("%-56s %10.2f %14.3f %12.4f\n", "TOTAL", pods_w, all_j / 1000, all_g);
	fflush(stdout);
	rows_free(&s.rows);
	return 0;
}

static const char top_usage[] =
	"Usage: joulepush top [--url URL] [--by pod|namespace] [--interval DURATION] [--format text|json]\n"
	"\n"
	"The node's pods (or namespaces) by power, with energy and CO2 since the agent started,\n"
	"from the agent's /metrics. On a terminal it refreshes every --interval (default 5s)\n"
	"until interrupted; otherwise it prints one snapshot.\n"
	"\n"
	"  -u, --url URL        the agent's server (default http://127.0.0.1:9465)\n"
	"  -b, --by KEY         pod (default) or namespace\n"
	"  -i, --interval D     refresh period on a terminal, e.g. 2s\n"
	"  -f, --format F       text (default) or json: one snapshot with node_power_watts,\n"
	"                       grams_per_kwh, intensity_source, rows (key, power_watts,\n"
	"                       energy_joules, co2_grams) and total\n"
	"\n"
	"Exit codes: 0; 1 when /metrics cannot be read; 2 usage.\n";

int jp_top_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"by", required_argument, NULL, 'b'},
		{"interval", required_argument, NULL, 'i'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *url = "http://127.0.0.1:9465";
	int by_ns = 0, json = 0, c;
	uint64_t interval_ms = 5000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "u:b:i:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'b':
			if (strcmp(optarg, "pod") && strcmp(optarg, "namespace")) {
				fprintf(stderr, "joulepush top: --by is pod or namespace\n");
				return 2;
			}
			by_ns = !strcmp(optarg, "namespace");
			break;
		case 'i':
			if (jp_parse_duration_ms(optarg, &interval_ms) || interval_ms < 500) {
				fprintf(stderr, "joulepush top: --interval must be a duration of at least 500ms\n");
				return 2;
			}
			break;
		case 'f':
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				fprintf(stderr, "joulepush top: --format is text or json\n");
				return 2;
			}
			json = !strcmp(optarg, "json");
			break;
		case 'h': fputs(top_usage, stdout); return 0;
		default: fputs(top_usage, stderr); return 2;
		}
	}
	if (optind < argc || !*url) {
		fputs(top_usage, stderr);
		return 2;
	}
	int tty = !json && isatty(STDOUT_FILENO);
	int rc;
	for (;;) {
		rc = show(url, by_ns, tty, json);
		if (!tty || rc)
			break;
		struct timespec ts = {(time_t)(interval_ms / 1000), (long)(interval_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return rc;
}
