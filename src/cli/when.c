/* SPDX-License-Identifier: Apache-2.0 */
/*
 * joulepush when: the greenest time to start a job, from the forecast source of the
 * config, without a daemon (docs/carbon.md "Forecasts").
 *
 *   joulepush when --duration 2h [--within 24h] [--config FILE] [--format text|json] [--wait]
 *
 * It fetches the forecast once, searches [now, now + within] for the start of the job
 * with the lowest mean intensity, and prints it with the intensity if started now. With
 * --wait it sleeps until that start, fetching the forecast again at each
 * carbon.forecast.refresh and moving the start when a better one appears, then exits 0:
 * `joulepush when --duration 2h --within 12h --wait && ./train.sh`.
 * Exit codes: 0 an answer (or the wait is over), 1 no forecast (with the reason), 2 usage.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "carbon/forecaster.h"
#include "config.h"
#include "remote/http.h"
#include "util/json.h"
#include "util/time.h"
#include "util/log.h"
#include "util/units.h"

/* How long the first answer of the forecast source may take. */
#define FIRST_ANSWER_MS 60000

static const char when_usage[] =
	"Usage: joulepush when --duration DURATION [--within DURATION] [--config FILE]\n"
	"                      [--format text|json] [--signal average|marginal] [--wait]\n"
	"\n"
	"Prints the greenest time to start a job of DURATION within the next --within\n"
	"(default: carbon.forecast.horizon), from the forecast of carbon.forecast.source.\n"
	"\n"
	"  -d, --duration D   length of the job, e.g. 2h, 90m\n"
	"  -w, --within W     latest end of the job from now (default carbon.forecast.horizon)\n"
	"  -c, --config FILE  the agent's configuration (carbon.forecast.*, carbon.ukci.*)\n"
	"  -f, --format F     text (default) or json: start, end, average_grams_per_kwh,\n"
	"                     now_grams_per_kwh, saving_ratio, source\n"
	"  -s, --signal S     average: the forecast of carbon.forecast.source (refused when\n"
	"                     that is watttime); marginal: WattTime's marginal rate\n"
	"                     (carbon.watttime.*); default: whatever carbon.forecast.source is\n"
	"      --wait         sleep until the start (the forecast is fetched again at each\n"
	"                     carbon.forecast.refresh), then exit 0\n"
	"\n"
	"Exit codes: 0 an answer, or the wait is over; 1 no forecast available; 2 usage.\n";

struct when {
	uv_loop_t loop;
	struct jp_http *http;
	struct jp_forecaster *fc;
	uv_timer_t timer;          /* the first-answer timeout, then the wait */
	int64_t duration_ms, within_ms;
	int json, wait;
	int answered;              /* printed the answer */
	int rc;
	int64_t start_ms;          /* the start waited for */
};

static void closed_cb(void *arg) { (void)arg; }
static void timer_closed_cb(uv_handle_t *h) { (void)h; }

static void finish(struct when *w, int rc)
{
	w->rc = rc;
	uv_timer_stop(&w->timer);
	if (!uv_is_closing((uv_handle_t *)&w->timer))
		uv_close((uv_handle_t *)&w->timer, timer_closed_cb);
	jp_forecaster_close(w->fc, closed_cb, NULL);
	w->fc = NULL;
	jp_http_close(w->http, closed_cb, NULL);
	w->http = NULL;
}

/* Local time with its offset, "2026-12-03 14:00 CET". */
static void local_time(int64_t t_ms, char *buf, size_t len)
{
	time_t t = (time_t)(t_ms / 1000);
	struct tm tm;
	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M %Z", &tm))
		snprintf(buf, len, "?");
}

/* Search and print; returns 0, or 1 with the reason on stderr. */
static int answer(struct when *w, int64_t now, int print)
{
	const struct jp_forecast *f = jp_forecaster_forecast(w->fc);
	int64_t start;
	double mean, now_g;
	if (jp_forecast_best_window(f, now, w->within_ms, w->duration_ms, &start, &mean)) {
		const char *why = jp_forecaster_last_error(w->fc);
		fprintf(stderr, "joulepush when: no forecast covers a %" PRId64 " min job within the next %" PRId64
			" min%s%s\n", w->duration_ms / 60000, w->within_ms / 60000, *why ? ": " : "", why);
		return 1;
	}
	/* The intensity if started now: the job's mean when the forecast covers it, else the
	 * point in force now. */
	if (jp_forecast_mean(f, now, now + w->duration_ms, &now_g) && jp_forecast_at(f, now, &now_g))
		now_g = mean;
	double saving = now_g > 0 ? 1.0 - mean / now_g : 0;
	w->start_ms = start;
	if (!print)
		return 0;
	char s[32], e[32], ls[48];
	jp_time_format_rfc3339(start, s, sizeof(s));
	jp_time_format_rfc3339(start + w->duration_ms, e, sizeof(e));
	local_time(start, ls, sizeof(ls));
	if (w->json) {
		/* Through the JSON writer: a non-finite number is null, never "inf". */
		struct jp_buf j = {0};
		struct jp_jw jw;
		jp_jw_init(&jw, &j, 0);
		jp_jw_object(&jw);
		jp_jw_key(&jw, "start");
		jp_jw_string(&jw, s);
		jp_jw_key(&jw, "end");
		jp_jw_string(&jw, e);
		jp_jw_key(&jw, "start_in_seconds");
		jp_jw_number(&jw, (double)((start - now) / 1000));
		jp_jw_key(&jw, "average_grams_per_kwh");
		jp_jw_number(&jw, mean);
		jp_jw_key(&jw, "now_grams_per_kwh");
		jp_jw_number(&jw, now_g);
		jp_jw_key(&jw, "saving_ratio");
		jp_jw_number(&jw, saving);
		jp_jw_key(&jw, "source");
		jp_jw_string(&jw, jp_forecaster_source(w->fc));
		jp_jw_key(&jw, "grid_zone");
		jp_jw_string(&jw, jp_forecaster_grid_zone(w->fc));
		jp_jw_key(&jw, "signal");
		jp_jw_string(&jw, jp_forecaster_signal(w->fc));
		jp_jw_end(&jw);
		if (!jp_jw_finish(&jw) && !jp_buf_append(&j, "\n", 1))
			fwrite(j.data, 1, j.len, stdout);
		jp_buf_free(&j);
	} else {
		printf("greenest start: %s (%s), in %" PRId64 " min\n", s, ls, (start - now) / 60000);
		printf("job mean:       %.1f gCO2e/kWh over %" PRId64 " min\n", mean, w->duration_ms / 60000);
		printf("started now:    %.1f gCO2e/kWh\n", now_g);
		printf("saving:         %.1f %%\n", 100 * saving);
		printf("source:         %s forecast, grid zone %s (%s)\n", jp_forecaster_source(w->fc),
		       jp_forecaster_grid_zone(w->fc),
		       strcmp(jp_forecaster_signal(w->fc), "marginal") ? "an average intensity, not a marginal one"
								       : "a marginal emissions rate");
	}
	fflush(stdout);
	return 0;
}

static void wait_check(struct when *w);

static void wait_done_cb(uv_timer_t *t)
{
	wait_check(t->data);
}

static void arm_wait(struct when *w, int64_t now)
{
	uv_timer_stop(&w->timer);
	/* libuv counts from its cached loop time, which may lag the wall clock read above:
	 * refresh it, and round up, so that the wait never ends before the start. */
	uv_update_time(&w->loop);
	int64_t d = w->start_ms > now ? w->start_ms - now + 1 : 0;
	uv_timer_start(&w->timer, wait_done_cb, (uint64_t)d, 0);
}

/* The wait is over when the wall clock says so (a timer counts on the monotonic clock,
 * which a clock step does not move): check, and wait the rest if it is not. */
static void wait_check(struct when *w)
{
	int64_t now = jp_now_wall_ms();
	if (now < w->start_ms) {
		arm_wait(w, now);
		return;
	}
	finish(w, 0);
}

static void refresh_cb(void *arg, int ok)
{
	struct when *w = arg;
	int64_t now = jp_now_wall_ms();
	if (!w->answered) {
		int r = answer(w, now, 1);
		w->answered = 1;
		if (r || !w->wait) {
			finish(w, r);
			return;
		}
		arm_wait(w, now);
		return;
	}
	/* Waiting: a new forecast may move the start (an old one that failed keeps it). */
	if (ok && answer(w, now, 0) == 0) {
		fprintf(stderr, "joulepush when: forecast refreshed; start at %" PRId64 " s from now\n",
			(w->start_ms - now) / 1000);
		arm_wait(w, now);
	}
}

static void first_timeout_cb(uv_timer_t *t)
{
	struct when *w = t->data;
	fprintf(stderr, "joulepush when: no answer from the forecast source within %d s\n", FIRST_ANSWER_MS / 1000);
	finish(w, 1);
}

/* The command line: its options into w and the strings; -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, struct when *w, const char **config_path, const char **duration,
		      const char **within, const char **signal)
{
	static const struct option opts[] = {
		{"duration", required_argument, NULL, 'd'},
		{"within", required_argument, NULL, 'w'},
		{"config", required_argument, NULL, 'c'},
		{"format", required_argument, NULL, 'f'},
		{"wait", no_argument, NULL, 'W'},
		{"signal", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:w:c:f:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': *duration = optarg; break;
		case 'w': *within = optarg; break;
		case 'c': *config_path = optarg; break;
		case 'f':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				fprintf(stderr, "joulepush when: --format is text or json\n");
				return 2;
			}
			w->json = strcmp(optarg, "json") == 0;
			break;
		case 'W': w->wait = 1; break;
		case 's':
			if (strcmp(optarg, "average") && strcmp(optarg, "marginal")) {
				fprintf(stderr, "joulepush when: --signal is average or marginal\n");
				return 2;
			}
			*signal = optarg;
			break;
		case 'h': fputs(when_usage, stdout); return 0;
		default: fputs(when_usage, stderr); return 2;
		}
	}
	return -1;
}

int jp_when_main(int argc, char **argv)
{
	struct when w = {.rc = 1};
	const char *config_path = NULL, *duration = NULL, *within = NULL, *signal = NULL;
	int pr = parse_args(argc, argv, &w, &config_path, &duration, &within, &signal);
	if (pr >= 0)
		return pr;
	uint64_t ms;
	if (optind < argc || !duration || jp_parse_duration_ms(duration, &ms) || ms < 60000) {
		fprintf(stderr, optind < argc ? "joulepush when: unexpected argument '%s'\n"
			: "joulepush when: --duration is required (at least 1m, e.g. 2h)\n%s", optind < argc ? argv[optind] : "");
		fputs(when_usage, stderr);
		return 2;
	}
	w.duration_ms = (int64_t)ms;

	struct jp_config cfg;
	char err[JP_CONFIG_ERR_MAX] = "";
	int r = config_path ? jp_config_load(&cfg, config_path, err, sizeof(err)) : jp_config_defaults(&cfg);
	if (r) {
		fprintf(stderr, "%s\n", err[0] ? err : strerror(-r));
		return 1;
	}
	jp_log_configure(JP_LOG_ERROR, 0);
	if (within && (jp_parse_duration_ms(within, &ms) || ms < (uint64_t)w.duration_ms)) {
		fprintf(stderr, "joulepush when: --within must be a duration no shorter than --duration\n");
		jp_config_free(&cfg);
		return 2;
	}
	w.within_ms = within ? (int64_t)ms : (int64_t)cfg.forecast_horizon_ms;
	if (w.within_ms < w.duration_ms) {
		fprintf(stderr, "joulepush when: the job is longer than carbon.forecast.horizon; pass --within\n");
		jp_config_free(&cfg);
		return 2;
	}
	/* --signal picks the kind of signal: marginal is WattTime's; average any other source. */
	if (signal && !strcmp(signal, "marginal")) {
		cfg.forecast_source = JP_CARBON_WATTTIME;
	} else if (signal && cfg.forecast_source == JP_CARBON_WATTTIME) {
		fprintf(stderr, "joulepush when: carbon.forecast.source watttime is a marginal signal; set an average "
			"source (ukci, electricitymaps, entsoe, file) for --signal average\n");
		jp_config_free(&cfg);
		return 2;
	}
	if (cfg.forecast_source == JP_CARBON_NONE) {
		fprintf(stderr, "joulepush when: no forecast source: set carbon.forecast.source in %s\n",
			config_path ? config_path : "a config file (--config)");
		jp_config_free(&cfg);
		return 1;
	}
	if (uv_loop_init(&w.loop)) {
		jp_config_free(&cfg);
		return 1;
	}
	w.http = jp_http_create(&w.loop);
	w.fc = w.http ? jp_forecaster_create(&w.loop, w.http, &cfg) : NULL;
	jp_config_free(&cfg);
	if (!w.fc) {
		fprintf(stderr, "joulepush when: cannot start the forecast source: %s\n", strerror(errno));
		jp_http_close(w.http, closed_cb, NULL);
		uv_run(&w.loop, UV_RUN_DEFAULT);
		uv_loop_close(&w.loop);
		return 1;
	}
	jp_forecaster_on_refresh(w.fc, refresh_cb, &w);
	uv_timer_init(&w.loop, &w.timer);
	w.timer.data = &w;
	uv_timer_start(&w.timer, first_timeout_cb, FIRST_ANSWER_MS, 0);
	uv_run(&w.loop, UV_RUN_DEFAULT);
	uv_loop_close(&w.loop);
	return w.rc;
}
