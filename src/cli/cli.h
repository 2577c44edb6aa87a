/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The commands that run without an agent (docs/design.md "The commands"): one table,
 * bpftool's shape, each command parsing its own arguments. They share the agent's HTTP
 * client in its blocking form (remote/http_sync.h), the metric names and the total-energy
 * basis of metrics.h, and the JSON writer of util/json.h.
 */
#ifndef JP_CLI_CLI_H
#define JP_CLI_CLI_H

/* joulepush when: the greenest time to start a job (cli/when.c). */
int jp_when_main(int argc, char **argv);
/* joulepush top: a live table of the node's pods by power (cli/top.c). */
int jp_top_main(int argc, char **argv);
/* joulepush report: energy and CO2 per namespace, pod, node or cluster from the query
 * API the agents push to (cli/report.c). */
int jp_report_main(int argc, char **argv);

/* Run the command argv[1] names with argv + 1 (argv[0] its name): its exit code (0, 1, 2),
 * or -1 when argv[1] names no command. */
int jp_cli_dispatch(int argc, char **argv);

/* --probe URL: one blocking GET of a loopback http URL, the body to stdout, for an exec
 * liveness or readiness probe. 0 on a 2xx, 1 otherwise, 2 for a URL that is not loopback
 * http. */
int jp_cli_probe(const char *url);

#endif
