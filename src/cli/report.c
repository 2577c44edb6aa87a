/* SPDX-License-Identifier: Apache-2.0 */
/*
 * joulepush report: energy and CO2 per namespace, pod, node or cluster over a time range,
 * from any Prometheus-compatible query API the agents push to (docs/reports.md).
 * Exit codes: 0 the report; 1 the server failed or holds no data (with the reason);
 * 2 usage.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report/query.h"
#include "report/report.h"
#include "util/text.h"
#include "util/units.h"

#define MAX_HEADERS 16

static const char report_usage[] =
	"Usage: joulepush report --url URL [--from T --to T | --month YYYY-MM]\n"
	"                        [--by namespace|pod|node|cluster] [--match SELECTOR]\n"
	"                        [--format table|csv|json|html] [-o FILE] [--chart-top N]\n"
	"                        [--bearer-token-file F] [--basic-auth-user U\n"
	"                        --basic-auth-password-file F] [--header 'Name: value']...\n"
	"                        [--ca-file F] [--insecure-skip-verify] [--timeout D]\n"
	"                        [--instruments FILE [--matching period|hourly]] [--sci-unit PROMQL]\n"
	"\n"
	"Energy and CO2 per namespace, pod, node or cluster over a time range, from the\n"
	"series the agents pushed to a Prometheus, Thanos Query, Mimir or VictoriaMetrics\n"
	"query API. Every figure is one PromQL query aggregated on the server. The rows add\n"
	"up to the nodes' total: by namespace or pod, a (system) row holds host processes and\n"
	"an (idle, unattributed) row the idle energy no pod carries.\n"
	"\n"
	"  -u, --url URL            the query API's base URL, e.g. http://thanos-query:9090\n"
	"                           or https://mimir.example/prometheus\n"
	"  -f, --from T, -t, --to T the range: RFC 3339, or YYYY-MM-DD (UTC midnight)\n"
	"  -m, --month YYYY-MM      that calendar month (UTC); without a range: last month\n"
	"  -b, --by KEY             namespace (default), pod, node or cluster\n"
	"      --match SELECTOR     only these series, e.g. '{cluster=\"edge-7\"}'\n"
	"  -F, --format F           table (default), csv, json or html (one self-contained\n"
	"                           page with a chart of CO2 per day)\n"
	"  -o, --output FILE        write there instead of stdout\n"
	"      --chart-top N        rows drawn on their own in the chart (default 8, at most\n"
	"                           10); the others as \"other\"\n"
	"      --bearer-token-file F, --basic-auth-user U, --basic-auth-password-file F\n"
	"      --header 'Name: value'  e.g. 'X-Scope-OrgID: team-a' (repeatable)\n"
	"      --ca-file F, --insecure-skip-verify\n"
	"      --timeout D          per query (default 2m)\n"
	"      --instruments FILE   the market-based method too (docs/reports.md): the\n"
	"                           residual mix, the supplier's rate and the instruments\n"
	"                           (PPAs, guarantees of origin) as YAML; rows gain\n"
	"                           co2_market_grams and matched_energy_kwh\n"
	"      --matching M         period (default): instruments over the whole range; hourly:\n"
	"                           hour by hour (a PPA covers only the hours it supplied), rows\n"
	"                           gain cfe_ratio; the range must be whole hours\n"
	"      --sci-unit PROMQL    the functional units (requests, runs) per row, $range for the\n"
	"                           range, e.g. 'increase(http_requests_total[$range]) / 1000';\n"
	"                           rows gain functional_units and sci_grams_per_unit\n"
	"\n"
	"Exit codes: 0 the report; 1 a query failed or there is no data; 2 usage.\n";

static int tty_progress;

static void progress(size_t done, const char *what)
{
	if (tty_progress)
		fprintf(stderr, "\rjoulepush report: query %zu: %-30s", done + 1, what);
}

static void last_month(int64_t *from_ms, int64_t *to_ms)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char m[16];
	int y = tm.tm_year + 1900, mo = tm.tm_mon; /* tm_mon is 0-based: last month's number */
	if (mo == 0) {
		y--;
		mo = 12;
	}
	snprintf(m, sizeof(m), "%04d-%02d", y, mo);
	jp_report_month_parse(m, from_ms, to_ms);
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "joulepush report: %s\n", msg);
	return 2;
}

static int check_args(const struct jp_query_opts *qo, struct jp_report_params *p, const char *from, const char *to,
		      const char *month);
static int run_report(const struct jp_query_opts *qo, const struct jp_report_params *p, enum jp_report_format fmt,
		      unsigned long top, const char *output);

int jp_report_main(int argc, char **argv)
{
	enum { O_MATCH = 256, O_TOKEN, O_USER, O_PASS, O_HEADER, O_CA, O_INSECURE, O_TIMEOUT, O_TOP, O_INSTRUMENTS, O_SCI, O_MATCHING };
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"month", required_argument, NULL, 'm'},
		{"by", required_argument, NULL, 'b'},
		{"match", required_argument, NULL, O_MATCH},
		{"format", required_argument, NULL, 'F'},
		{"output", required_argument, NULL, 'o'},
		{"chart-top", required_argument, NULL, O_TOP},
		{"bearer-token-file", required_argument, NULL, O_TOKEN},
		{"basic-auth-user", required_argument, NULL, O_USER},
		{"basic-auth-password-file", required_argument, NULL, O_PASS},
		{"header", required_argument, NULL, O_HEADER},
		{"ca-file", required_argument, NULL, O_CA},
		{"insecure-skip-verify", no_argument, NULL, O_INSECURE},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"instruments", required_argument, NULL, O_INSTRUMENTS},
		{"sci-unit", required_argument, NULL, O_SCI},
		{"matching", required_argument, NULL, O_MATCHING},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct jp_query_opts qo = {.timeout_ms = 120000};
	const char *headers[MAX_HEADERS];
	struct jp_report_params p = {.by = JP_BY_NAMESPACE};
	enum jp_report_format fmt = JP_FMT_TABLE;
	const char *from = NULL, *to = NULL, *month = NULL, *output = NULL, *instruments = NULL;
	unsigned long top = 8;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "u:f:t:m:b:F:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': qo.url = optarg; break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'm': month = optarg; break;
		case 'b':
			if (jp_report_by_parse(optarg, &p.by))
				return usage_error("--by is namespace, pod, node or cluster");
			break;
		case O_MATCH: p.match = optarg; break;
		case 'F':
			if (jp_report_format_parse(optarg, &fmt))
				return usage_error("--format is table, csv, json or html");
			break;
		case 'o': output = optarg; break;
		case O_TOP: {
			char *end;
			top = strtoul(optarg, &end, 10);
			if (*end || end == optarg || top > 10)
				return usage_error("--chart-top is a number from 0 to 10");
			break;
		}
		case O_TOKEN: qo.bearer_token_file = optarg; break;
		case O_USER: qo.basic_user = optarg; break;
		case O_PASS: qo.basic_password_file = optarg; break;
		case O_HEADER:
			if (qo.nheaders == MAX_HEADERS)
				return usage_error("at most 16 --header");
			headers[qo.nheaders++] = optarg;
			break;
		case O_CA: qo.ca_file = optarg; break;
		case O_INSECURE: qo.insecure = 1; break;
		case O_TIMEOUT:
			if (jp_parse_duration_ms(optarg, &qo.timeout_ms) || qo.timeout_ms < 1000)
				return usage_error("--timeout must be a duration of at least 1s");
			break;
		case O_INSTRUMENTS: instruments = optarg; break;
		case O_SCI: p.sci_unit = optarg; break;
		case O_MATCHING:
			if (strcmp(optarg, "period") && strcmp(optarg, "hourly"))
				return usage_error("--matching is period or hourly");
			p.hourly = !strcmp(optarg, "hourly");
			break;
		case 'h': fputs(report_usage, stdout); return 0;
		default: fputs(report_usage, stderr); return 2;
		}
	}
	qo.headers = headers;
	if (optind < argc) {
		fputs(report_usage, stderr);
		return 2;
	}
	int ck = check_args(&qo, &p, from, to, month);
	if (ck >= 0)
		return ck;
	struct jp_instruments ins;
	if (p.hourly && !instruments)
		return usage_error("--matching needs --instruments");
	if (instruments) {
		char why[1024];
		if (jp_instruments_load(instruments, &ins, why, sizeof(why))) {
			fprintf(stderr, "joulepush report: %s\n", why);
			return 2;
		}
		p.instruments = &ins;
	}
	int rc = run_report(&qo, &p, fmt, top, output);
	if (instruments)
		jp_instruments_free(&ins);
	return rc;
}

/* The checks between the options, and the range (--month, --from/--to, or last month).
 * -1 when all is well, else the exit status (2, usage, said). */
static int check_args(const struct jp_query_opts *qo, struct jp_report_params *p, const char *from, const char *to,
		      const char *month)
{
	if (!qo->url)
		return usage_error("--url is required (the query API, e.g. http://127.0.0.1:9090)");
	if (jp_url_has_userinfo(qo->url))
		return usage_error("--url must not carry credentials (user:password@): use --basic-auth-user and "
				   "--basic-auth-password-file, which keep the password out of errors and process lists");
	if (qo->basic_password_file && !qo->basic_user)
		return usage_error("--basic-auth-password-file needs --basic-auth-user");
	if (qo->bearer_token_file && qo->basic_user)
		return usage_error("--bearer-token-file and --basic-auth-user exclude each other");
	if (p->match && *p->match && (p->match[0] != '{' || p->match[strlen(p->match) - 1] != '}'))
		return usage_error("--match must be a selector in braces, such as {cluster=\"edge-7\"}");
	if (month && (from || to))
		return usage_error("--month excludes --from and --to");
	if (month) {
		if (jp_report_month_parse(month, &p->from_ms, &p->to_ms))
			return usage_error("--month must be YYYY-MM");
	} else if (from || to) {
		if (!from || !to)
			return usage_error("--from and --to go together");
		if (jp_report_time_parse(from, &p->from_ms))
			return usage_error("--from must be RFC 3339 or YYYY-MM-DD");
		if (jp_report_time_parse(to, &p->to_ms))
			return usage_error("--to must be RFC 3339 or YYYY-MM-DD");
	} else {
		last_month(&p->from_ms, &p->to_ms);
	}
	if (p->to_ms <= p->from_ms)
		return usage_error("--to must be after --from");
	return -1;
}

/* Build the report through the query API and write it. The exit status. */
static int run_report(const struct jp_query_opts *qo, const struct jp_report_params *p, enum jp_report_format fmt,
		      unsigned long top, const char *output)
{
	char why[1024] = "";
	int rc = 1;
	struct jp_report r;
	struct jp_query *q = jp_query_open(qo, why, sizeof(why));
	if (!q) {
		fprintf(stderr, "joulepush report: %s\n", why);
		return 2;
	}
	tty_progress = isatty(STDERR_FILENO);
	struct jp_report_source src = jp_report_query_source(q);
	src.progress = progress;
	int brc = jp_report_build(&src, p, &r, why, sizeof(why));
	if (tty_progress)
		fprintf(stderr, "\r%60s\r", "");
	if (brc) {
		fprintf(stderr, "joulepush report: %s\n", why);
		goto out;
	}
	if (r.warnings[0] && fmt != JP_FMT_TABLE)
		fprintf(stderr, "joulepush report: warning: %s\n", r.warnings);
	FILE *f = stdout;
	if (output && !(f = fopen(output, "w"))) {
		fprintf(stderr, "joulepush report: %s: %s\n", output, strerror(errno));
		jp_report_free(&r);
		goto out;
	}
	int wrc = jp_report_render(&r, fmt, top, f);
	if (f != stdout && fclose(f) && !wrc)
		wrc = -EIO;
	if (wrc)
		fprintf(stderr, "joulepush report: writing %s: %s\n", output ? output : "stdout", strerror(-wrc));
	else
		rc = 0;
	jp_report_free(&r);
out:
	jp_query_close(q);
	return rc;
}
