/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the YAML configuration loader (docs/reference/configuration.md: parsers are fuzzed). */
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
