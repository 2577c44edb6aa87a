/* SPDX-License-Identifier: Apache-2.0 */
/* The command table and --probe (cli/cli.h). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "remote/http_sync.h"

#ifndef JP_VERSION
#define JP_VERSION "0.0.0"
#endif

static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
} commands[] = {
	{"when", jp_when_main},
	{"top", jp_top_main},
	{"report", jp_report_main},
};

int jp_cli_dispatch(int argc, char **argv)
{
	for (size_t i = 0; argc > 1 && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].main(argc - 1, argv + 1);
	return -1;
}

/* --probe: one blocking GET, for an exec liveness or readiness probe. Only loopback
 * http URLs make sense here; anything else is refused so that the probe cannot be
 * turned into a request to somewhere else. */
int jp_cli_probe(const char *url)
{
	if (strncmp(url, "http://127.0.0.1:", 17) != 0 && strncmp(url, "http://localhost:", 17) != 0 &&
	    strncmp(url, "http://[::1]:", 13) != 0) {
		fprintf(stderr, "joulepush: --probe takes an http://127.0.0.1:PORT/... URL\n");
		return 2;
	}
	char why[512];
	struct jp_http_request req = {.method = "GET", .url = url, .timeout_ms = 2000,
				      .user_agent = "joulepush-probe/" JP_VERSION, .max_response_bytes = 64u << 20};
	struct jp_http_reply rep;
	if (jp_http_run(&req, NULL, &rep, why, sizeof(why))) {
		fprintf(stderr, "joulepush: probe %s\n", why);
		return 1;
	}
	fwrite(rep.body.data, 1, rep.body.len, stdout);
	jp_buf_free(&rep.body);
	if (rep.status < 200 || rep.status > 299) {
		fprintf(stderr, "joulepush: probe %s: HTTP %ld\n", url, rep.status);
		return 1;
	}
	return 0;
}
