/* SPDX-License-Identifier: Apache-2.0 */
/* joulepush when: the greenest time to start a job (src/when.c). */
#ifndef JP_WHEN_H
#define JP_WHEN_H

/* Run the subcommand with argv[0] == "when"; returns the exit code (0, 1, 2). */
int jp_when_main(int argc, char **argv);

#endif
