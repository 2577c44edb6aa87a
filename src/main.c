/* SPDX-License-Identifier: Apache-2.0 */
/* joulepush's command line: parses flags, loads the config and wires the agent to signals. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "agent.h"
#include "config.h"
#include "util/log.h"
#include "cli/cli.h"

#ifndef JP_VERSION
#define JP_VERSION "0.0.0"
#endif

#define MOD "main"
/* docs/reference/configuration.md: on SIGTERM flush what can be sent within 10 s. */
#define STOP_FLUSH_MS 10000

static const char usage_text[] =
	"Usage: joulepush [--config FILE] [--check-config | --once]\n"
	"       joulepush --probe URL\n"
	"       joulepush when --duration DURATION [--within DURATION] [--config FILE]\n"
	"                      [--format text|json] [--wait]\n"
	"       joulepush top [--url URL] [--by pod|namespace] [--interval DURATION]\n"
	"       joulepush report --url URL [--month YYYY-MM | --from T --to T] [--by KEY]\n"
	"                        [--format table|csv|json|html] [-o FILE] ...\n"
	"       joulepush --version | --help\n"
	"\n"
	"Per-pod energy and carbon agent: measures what each pod on this node uses, converts\n"
	"it to CO2-equivalent grams and pushes it with Prometheus remote write.\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE    YAML configuration (see config/joulepush.example.yaml).\n"
	"                       Without it the built-in defaults apply; remote write is then\n"
	"                       off unless JOULEPUSH_REMOTE_WRITE_URL is set.\n"
	"      --check-config   validate the configuration and exit: 0 if valid, else 1 with\n"
	"                       FILE:LINE: key: reason\n"
	"      --once           collect twice, one interval apart, print every series in the\n"
	"                       Prometheus text format to stdout and exit; pushes nothing\n"
	"      --probe URL      GET URL (e.g. http://127.0.0.1:9465/healthz) with a 2 s timeout\n"
	"                       and exit 0 on a 2xx answer, else 1: an exec probe for a\n"
	"                       server that listens on loopback only\n"
	"  -V, --version        print the version and exit\n"
	"\n"
	"  when                 print the greenest time to start a job of --duration from the\n"
	"                       forecast of carbon.forecast.source (joulepush when --help);\n"
	"                       with --wait, sleep until then and exit 0\n"
	"  top                  the node's pods by power, energy and CO2, from the agent's\n"
	"                       /metrics (joulepush top --help)\n"
	"  report               energy and CO2 per namespace, pod, node or cluster over a\n"
	"                       month or range, from Prometheus, Thanos, Mimir or\n"
	"                       VictoriaMetrics (joulepush report --help)\n"
	"  -h, --help           print this help and exit\n"
	"\n"
	"Signals: SIGTERM/SIGINT stop (queued samples are flushed for up to 10 s, the rest\n"
	"stay on disk); SIGHUP reloads the configuration (a bad one is logged and ignored).\n"
	"\n"
	"Environment: NODE_NAME (default node_name), JOULEPUSH_REMOTE_WRITE_URL (a remote\n"
	"when no config names one); ${VAR} and ${VAR:-default} expand in config values.\n";

struct app {
	uv_loop_t loop;
	struct jp_agent *agent;
	const char *config_path;
	uv_signal_t sig_term, sig_int, sig_hup;
	int stopping;
};

static void signals_closed_cb(uv_handle_t *h)
{
	(void)h;
}

static void agent_stopped_cb(void *arg)
{
	struct app *app = arg;
	uv_close((uv_handle_t *)&app->sig_term, signals_closed_cb);
	uv_close((uv_handle_t *)&app->sig_int, signals_closed_cb);
	uv_close((uv_handle_t *)&app->sig_hup, signals_closed_cb);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
	struct app *app = s->data;
	if (app->stopping) {
		jp_log(JP_LOG_WARN, MOD, "second %s: exiting now; unsent samples stay queued on disk",
		       strsignal(signum));
		exit(0);
	}
	app->stopping = 1;
	jp_log(JP_LOG_INFO, MOD, "%s received", strsignal(signum));
	jp_agent_stop(app->agent, STOP_FLUSH_MS, agent_stopped_cb, app);
}

static void on_hup(uv_signal_t *s, int signum)
{
	struct app *app = s->data;
	(void)signum;
	if (app->stopping) {
		jp_log(JP_LOG_WARN, MOD, "SIGHUP ignored: stopping");
		return;
	}
	if (!app->config_path) {
		jp_log(JP_LOG_WARN, MOD, "SIGHUP ignored: running on built-in defaults, no file to reload");
		return;
	}
	jp_agent_reload(app->agent, app->config_path);
}

static int load_config(struct jp_config *cfg, const char *path)
{
	char err[JP_CONFIG_ERR_MAX] = "";
	int r;
	if (!path) {
		/* jp_config_load starts from the defaults itself; without a file only they apply. */
		r = jp_config_defaults(cfg);
		if (r)
			fprintf(stderr, "joulepush: built-in defaults: %s\n",
				r == -EINVAL ? "JOULEPUSH_REMOTE_WRITE_URL is not an http(s) URL without credentials" : strerror(-r));
		return r;
	}
	r = jp_config_load(cfg, path, err, sizeof(err));
	if (r)
		fprintf(stderr, "%s\n", err[0] ? err : strerror(-r));
	return r;
}

/* The daemon (or --once) on one libuv loop, until a stop signal; the agent takes cfg over.
 * Returns the exit status. */
static int run_agent(struct jp_config *cfg, const char *config_path, int once)
{
	signal(SIGPIPE, SIG_IGN);
	/* glibc raises its mmap threshold after large buffers are freed, which keeps later
	 * ones (request bodies, a segment's series definitions) on the heap for good: fix it,
	 * so that buffers of that size go back to the kernel when they are freed. */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	struct app app = {.config_path = config_path};
	if (uv_loop_init(&app.loop) != 0)
		return 1;

	/* The agent takes the config over, also when it fails. */
	app.agent = jp_agent_create(&app.loop, cfg);
	if (!app.agent) {
		uv_run(&app.loop, UV_RUN_DEFAULT);
		uv_loop_close(&app.loop);
		return 1;
	}

	int rc = 0;
	if (once) {
		rc = jp_agent_run_once(app.agent, stdout) ? 1 : 0;
		jp_agent_destroy(app.agent);
		uv_run(&app.loop, UV_RUN_DEFAULT);
		uv_loop_close(&app.loop);
		return rc;
	}

	uv_signal_init(&app.loop, &app.sig_term);
	uv_signal_init(&app.loop, &app.sig_int);
	uv_signal_init(&app.loop, &app.sig_hup);
	app.sig_term.data = app.sig_int.data = app.sig_hup.data = &app;
	uv_signal_start(&app.sig_term, on_stop_signal, SIGTERM);
	uv_signal_start(&app.sig_int, on_stop_signal, SIGINT);
	uv_signal_start(&app.sig_hup, on_hup, SIGHUP);

	if (jp_agent_start(app.agent) != 0) {
		jp_log(JP_LOG_ERROR, MOD, "start-up failed; exiting");
		rc = 1;
		jp_agent_stop(app.agent, 0, agent_stopped_cb, &app);
	}
	uv_run(&app.loop, UV_RUN_DEFAULT);
	jp_agent_destroy(app.agent);
	int lr = uv_loop_close(&app.loop);
	if (lr != 0)
		jp_log(JP_LOG_WARN, MOD, "event loop closed with handles left: %s", uv_strerror(lr));
	else
		jp_log(JP_LOG_INFO, MOD, "stopped");
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'k'},
		{"once", no_argument, NULL, 'o'},
		{"probe", required_argument, NULL, 'p'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config_path = NULL;
	int check = 0, once = 0, c;
	int sub = jp_cli_dispatch(argc, argv);
	if (sub >= 0)
		return sub;
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'k': check = 1; break;
		case 'o': once = 1; break;
		case 'p': return jp_cli_probe(optarg);
		case 'V': printf("joulepush %s\n", JP_VERSION); return 0;
		case 'h': fputs(usage_text, stdout); return 0;
		default: fputs(usage_text, stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "joulepush: unexpected argument '%s'\n", argv[optind]);
		fputs(usage_text, stderr);
		return 2;
	}
	if (check && once) {
		fprintf(stderr, "joulepush: --check-config and --once exclude each other\n");
		return 2;
	}

	struct jp_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return 1;
	if (load_config(cfg, config_path)) {
		jp_config_free(cfg);
		free(cfg);
		return 1;
	}
	enum jp_log_level lvl = JP_LOG_INFO;
	jp_log_level_parse(cfg->log_level, &lvl);
	jp_log_configure(lvl, cfg->log_json);

	if (check) {
		printf("%s: configuration is valid\n", config_path ? config_path : "(built-in defaults)");
		jp_config_free(cfg);
		free(cfg);
		return 0;
	}

	return run_agent(cfg, config_path, once);
}
