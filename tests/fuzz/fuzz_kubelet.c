/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the kubelet PodList parser and the CPU quantity parser (docs/reference/configuration.md). */

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/podlist.h"
#include "fuzz.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Short inputs are also CPU quantities. */
	if (size <= 64) {
		double cores;
		if (jp_kube_parse_cpu((const char *)data, size, &cores) == 0)
			CHECK(isfinite(cores) && cores >= 0);
	}

	/* An exact-size copy, so ASan sees any read past the end of the buffer. */
	char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct jp_podlist_report rep;
	struct jp_podlist *pl = jp_podlist_parse(buf, size, &rep);
	free(buf);
	if (!pl) {
		CHECK(rep.first[0] != '\0' || errno == ENOMEM);
		return 0;
	}
	CHECK(memchr(rep.first, '\0', sizeof(rep.first)) != NULL);
	size_t n = jp_podlist_count(pl);
	for (size_t i = 0; i < n; i++) {
		const struct jp_kube_pod *p = jp_podlist_at(pl, i);
		CHECK(p && p->uid[0] && p->name[0] && p->ns[0]);
		CHECK(isfinite(p->cpu_request) && p->cpu_request >= 0);
		/* Every pod is found by its UID, and UIDs are unique. */
		CHECK(jp_podlist_find(pl, p->uid) == p);
		for (size_t c = 0; c < p->n_containers; c++) {
			const char *name = jp_kube_pod_container_name(p, p->containers[c].id);
			CHECK(name != NULL && name[0]);
		}
	}
	CHECK(jp_podlist_at(pl, n) == NULL);
	jp_podlist_destroy(pl);
	return 0;
}
