/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the cgroup path -> pod parser (docs/reference/configuration.md: cgroup paths can be hostile). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collect/cgroup_pods.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1);
	if (!path)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0';
	struct jp_pod_ref ref;
	if (jp_cgroup_pod_parse(path, &ref)) {
		/* A pod always has a UID of a valid length; container ids are 64 hex or empty. */
		size_t ul = strlen(ref.pod_uid), cl = strlen(ref.container_id);
		if (ul == 0 || ul > JP_POD_UID_MAX || (cl != 0 && cl != JP_CONTAINER_ID_LEN) ||
		    ref.pod_end > strlen(path) || ref.container_end > strlen(path))
			__builtin_trap();
	}
	free(path);
	return 0;
}
