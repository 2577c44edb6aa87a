/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the YAML configuration loader (docs/reference/configuration.md: parsers are fuzzed). */
// fuzz-sources: src/config/tree.c src/config/schema.c src/config/tables.c src/util/curve.c src/remote/relabel.c src/util/regex.c src/util/units.c src/util/buf.c src/util/log.c src/util/text.c
// fuzz-pkgs: yaml-0.1 libpcre2-8
#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jp_config cfg;
	char err[JP_CONFIG_ERR_MAX];
	jp_config_load_buffer(&cfg, "fuzz.yaml", (const char *)data, size, err, sizeof(err));
	jp_config_free(&cfg);
	return 0;
}
