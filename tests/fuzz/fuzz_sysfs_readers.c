/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for what the node collector reads from files: RAPL's energy_uj,
 * max_energy_range_uj and name, cgroup cpu.stat, mountinfo, secret files (token and
 * password files), a hwmon meter's name and power or energy channel, and meminfo. The input is written to a scratch tree and read through the real
 * functions, as the agent reads a host's /sys and /proc. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collect/cgroup.h"
#include "collect/cgroupfs.h"
#include "collect/hwmon.h"
#include "collect/procstat.h"
#include "collect/rapl.h"
#include "util/log.h"
#include "util/secret.h"
#include "fuzz.h"


static char root[64];

static void put(const char *rel, const uint8_t *d, size_t n)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, d, n) == (ssize_t)n);
	close(fd);
}

static void init(void)
{
	if (root[0])
		return;
	strcpy(root, "/tmp/jp-fuzz-sysfs.XXXXXX");
	CHECK(mkdtemp(root));
	char p[256];
	const char *dirs[] = {"class", "class/powercap", "class/powercap/intel-rapl:0", "self", "cg",
			      "class/hwmon", "class/hwmon/hwmon0"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, dirs[i]);
		mkdir(p, 0700);
	}
	jp_log_configure((enum jp_log_level)(JP_LOG_ERROR + 1), 0);   /* quiet */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size < 1)
		return 0;
	unsigned which = data[0] % 8;
	const uint8_t *d = data + 1;
	size_t n = size - 1;
	if (n > 65536 + 16)
		n = 65536 + 16;
	switch (which) {
	case 0:
	case 1: {
		/* One RAPL file is the input, the others are sane. */
		static const uint8_t e[] = "123456\n", m[] = "262143328850\n", nm[] = "package-0\n";
		put("class/powercap/intel-rapl:0/energy_uj", which == 0 ? d : e, which == 0 ? n : sizeof(e) - 1);
		put("class/powercap/intel-rapl:0/max_energy_range_uj", m, sizeof(m) - 1);
		put("class/powercap/intel-rapl:0/name", which == 1 ? d : nm, which == 1 ? n : sizeof(nm) - 1);
		struct jp_rapl *r = jp_rapl_open(root);
		if (r) {
			struct jp_rapl_energy en;
			if (jp_rapl_read(r, &en) == 0)
				CHECK(jp_rapl_total_uj(&en) < UINT64_MAX);
			jp_rapl_close(r);
		}
		break;
	}
	case 2: {
		put("cg/cpu.stat", d, n);
		uint64_t ns = 0;
		int r = jp_cgroup_v2_usage_ns(root, "/cg", &ns);
		CHECK(r <= 0);
		break;
	}
	case 3: {
		put("self/mountinfo", d, n);
		char out[128];
		int r = jp_cgroup2_find_mount(root, out, sizeof(out));
		if (r == 0)
			CHECK(memchr(out, '\0', sizeof(out)) != NULL);
		break;
	}
	case 4: {
		put("secret", d, n);
		char p[256];
		snprintf(p, sizeof(p), "%s/secret", root);
		char *s = jp_secret_read(p);
		if (s) {
			size_t l = strlen(s);
			CHECK(l <= n);
			CHECK(l == 0 || (s[l - 1] != '\n' && s[l - 1] != ' ' && s[l - 1] != '\r' && s[l - 1] != '\t'));
			jp_secret_free(s);
		} else {
			CHECK(errno != 0);
		}
		break;
	}
	case 5:
	case 6: {
		/* A meter's channel (power or energy, read twice) or its name is the input. */
		static const uint8_t nm[] = "power_meter\n", pw[] = "250000000\n";
		char p[256];
		snprintf(p, sizeof(p), "%s/class/hwmon/hwmon0/energy1_input", root);
		unlink(p);
		snprintf(p, sizeof(p), "%s/class/hwmon/hwmon0/power1_input", root);
		unlink(p);
		put("class/hwmon/hwmon0/name", which == 6 ? d : nm, which == 6 ? n : sizeof(nm) - 1);
		put(which == 5 && n && (d[0] & 1) ? "class/hwmon/hwmon0/energy1_input" : "class/hwmon/hwmon0/power1_input",
		    which == 5 ? d : pw, which == 5 ? n : sizeof(pw) - 1);
		char why[256];
		struct jp_hwmon *h = jp_hwmon_open(root, "power_meter", 20000, why, sizeof(why));
		if (h) {
			double j = -1;
			for (int k = 0; k < 2; k++) {
				if (jp_hwmon_read(h, 1.0, &j) == 0)
					CHECK(isfinite(j) && j >= 0);
			}
			jp_hwmon_close(h);
		}
		break;
	}
	case 7: {
		put("meminfo", d, n);
		uint64_t kib = 0;
		int r = jp_procstat_mem_total_kib(root, &kib);
		CHECK(r < 0 || kib > 0);
		break;
	}
	}
	return 0;
}
