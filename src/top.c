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
#include "top.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "remote/http_sync.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/text.h"
#include "util/units.h"


enum zone_kind { Z_OTHER, Z_PACKAGE, Z_DRAM, Z_PSYS, Z_PLATFORM, Z_GPU, Z_N };
/* Bits of the zones the node has that change the basis. */
#define HAS_PSYS 1
#define HAS_PLATFORM 2

/* One row: a pod or a namespace, with per-basis sums. The key is the whole
 * "namespace/pod" (pod names run to 253 bytes): only the display is cut short. */
struct row {
	char *key;
	double w[Z_N], j[Z_N];   /* by zone kind */
	double co2;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

struct snapshot {
	struct rows rows;
	double node_w[Z_N];
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

static enum zone_kind zone_of(const char *labels)
{
	char z[16];
	if (!label(labels, "zone", z, sizeof(z)))
		return Z_OTHER;
	return !strcmp(z, "package") ? Z_PACKAGE : !strcmp(z, "dram") ? Z_DRAM : !strcmp(z, "psys") ? Z_PSYS
	       : !strcmp(z, "platform") ? Z_PLATFORM : !strcmp(z, "gpu") ? Z_GPU : Z_OTHER;
}

/* docs/reference/metrics.md total: platform where present; else psys where present, else
 * package + dram; plus gpu. */
static double total_basis(const double *v, int has)
{
	if (has & HAS_PLATFORM)
		return v[Z_PLATFORM];
	return ((has & HAS_PSYS) ? v[Z_PSYS] : v[Z_PACKAGE] + v[Z_DRAM]) + v[Z_GPU];
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

static void parse(char *text, int by_ns, struct snapshot *s, int *has_psys)
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
		enum zone_kind z = zone_of(labels);
		if (z == Z_PSYS)
			*has_psys |= HAS_PSYS;
		if (z == Z_PLATFORM)
			*has_psys |= HAS_PLATFORM;
		int is_pod = !strncmp(name, "joulepush_pod_", 14);
		int is_ns = !strncmp(name, "joulepush_namespace_", 20);
		struct row *r = NULL;
		if ((is_pod || (is_ns && by_ns)) && !(r = row_of(s, labels, is_pod && !by_ns)))
			continue;
		if (is_pod) {
			if (!strcmp(name, "joulepush_pod_power_watts"))
				r->w[z] += v;
			else if (!by_ns && !strcmp(name, "joulepush_pod_energy_joules_total"))
				r->j[z] += v;
			else if (!by_ns && !strcmp(name, "joulepush_pod_co2_grams_total"))
				r->co2 += v;
		} else if (is_ns && by_ns) {
			/* Namespace counters keep what departed pods used. */
			if (!strcmp(name, "joulepush_namespace_energy_joules_total"))
				r->j[z] += v;
			else if (!strcmp(name, "joulepush_namespace_co2_grams_total"))
				r->co2 += v;
		} else if (!strcmp(name, "joulepush_node_power_watts")) {
			s->node_w[z] += v;
			s->have_node = 1;
		} else if (!strcmp(name, "joulepush_grid_carbon_intensity_grams_per_kwh")) {
			s->intensity = v;
			label(labels, "source", s->intensity_source, sizeof(s->intensity_source));
		} else if (!strcmp(name, "joulepush_remote_pending_samples")) {
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
	double pa = a->w[Z_OTHER], pb = b->w[Z_OTHER];   /* the total, stored there by show() */
	if (pa != pb)
		return pa < pb ? 1 : -1;
	return strcmp(a->key, b->key);
}

static int show(const char *base, int by_ns, int tty)
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
	int has_psys = 0;
	parse((char *)body.data, by_ns, &s, &has_psys);
	jp_buf_free(&body);
	if (!s.have_node) {
		fprintf(stderr, "joulepush top: %s has no joulepush_node_power_watts: is it a joulepush agent?\n", url);
		rows_free(&s.rows);
		return 1;
	}
	double node_w = total_basis(s.node_w, has_psys), pods_w = 0, all_j = 0, all_g = 0;
	for (size_t i = 0; i < s.rows.n; i++) {
		struct row *r = &s.rows.v[i];
		r->w[Z_OTHER] = total_basis(r->w, has_psys);
		r->j[Z_OTHER] = total_basis(r->j, has_psys);
		pods_w += r->w[Z_OTHER];
		all_j += r->j[Z_OTHER];
		all_g += r->co2;
	}
	if (s.rows.n > 1)
		qsort(s.rows.v, s.rows.n, sizeof(*s.rows.v), cmp_power_desc);
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
		printf("%-56.56s %10.2f %14.3f %12.4f\n", (const char *)shown.data, r->w[Z_OTHER], r->j[Z_OTHER] / 1000,
		       r->co2);
	}
	jp_buf_free(&shown);
	printf("%-56s %10.2f %14.3f %12.4f\n", "TOTAL", pods_w, all_j / 1000, all_g);
	fflush(stdout);
	rows_free(&s.rows);
	return 0;
}

static const char top_usage[] =
	"Usage: joulepush top [--url URL] [--by pod|namespace] [--interval DURATION]\n"
	"\n"
	"The node's pods (or namespaces) by power, with energy and CO2 since the agent started,\n"
	"from the agent's /metrics. On a terminal it refreshes every --interval (default 5s)\n"
	"until interrupted; otherwise it prints one snapshot.\n"
	"\n"
	"  -u, --url URL        the agent's server (default http://127.0.0.1:9465)\n"
	"  -b, --by KEY         pod (default) or namespace\n"
	"  -i, --interval D     refresh period on a terminal, e.g. 2s\n"
	"\n"
	"Exit codes: 0; 1 when /metrics cannot be read; 2 usage.\n";

int jp_top_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"by", required_argument, NULL, 'b'},
		{"interval", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *url = "http://127.0.0.1:9465";
	int by_ns = 0, c;
	uint64_t interval_ms = 5000;
	optind = 1;
	while ((c = getopt_long(argc, argv, "u:b:i:h", opts, NULL)) != -1) {
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
		case 'h': fputs(top_usage, stdout); return 0;
		default: fputs(top_usage, stderr); return 2;
		}
	}
	if (optind < argc || !*url) {
		fputs(top_usage, stderr);
		return 2;
	}
	int tty = isatty(STDOUT_FILENO);
	int rc;
	for (;;) {
		rc = show(url, by_ns, tty);
		if (!tty || rc)
			break;
		struct timespec ts = {(time_t)(interval_ms / 1000), (long)(interval_ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return rc;
}
