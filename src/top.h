/* SPDX-License-Identifier: Apache-2.0 */
/* joulepush top: a live table of the node's pods by power (src/top.c). */
#ifndef JP_TOP_H
#define JP_TOP_H

/* Run the subcommand with argv[0] == "top"; returns the exit code (0, 1, 2). */
int jp_top_main(int argc, char **argv);

#endif
