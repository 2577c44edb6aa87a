/* SPDX-License-Identifier: Apache-2.0 */
/* joulepush report: energy and CO2 per namespace, pod, node or cluster from the query
 * API the agents push to (src/report_cmd.c). */
#ifndef JP_REPORT_CMD_H
#define JP_REPORT_CMD_H

/* Run the subcommand with argv[0] == "report"; returns the exit code (0, 1, 2). */
int jp_report_main(int argc, char **argv);

#endif
