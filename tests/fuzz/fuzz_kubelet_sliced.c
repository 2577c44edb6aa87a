/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the PodList parser fed in pieces, as the kubelet client feeds it from
 * curl's write callback, must give the same table as one whole parse. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/podlist.h"
#include "fuzz.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	/* The first two bytes pick the piece sizes (1 .. 16 KiB, curl's largest). */
	unsigned seed = (unsigned)data[0] << 8 | data[1];
	const char *doc = (const char *)data + 2;
	size_t len = size - 2;

	struct jp_podlist_report whole_rep;
	struct jp_podlist *whole = jp_podlist_parse(doc, len, &whole_rep);

	struct jp_podlist_parser *ps = jp_podlist_parser_create();
	CHECK(ps);
	size_t off = 0;
	int r = 0;
	while (off < len && r >= 0) {
		seed = seed * 1103515245u + 12345u;
		size_t piece = 1 + (seed >> 8) % 16384;
		if (piece > len - off)
			piece = len - off;
		/* An exact-size copy: a read past the piece is an ASan error. */
		char *p = malloc(piece);
		CHECK(p);
		memcpy(p, doc + off, piece);
		r = jp_podlist_parser_feed(ps, p, piece);
		free(p);
		off += piece;
	}
	if (r >= 0)
		jp_podlist_parser_work(ps, SIZE_MAX);
	struct jp_podlist_report rep;
	struct jp_podlist *sliced = jp_podlist_parser_finish(ps, &rep);
	jp_podlist_parser_destroy(ps);

	CHECK((whole == NULL) == (sliced == NULL));
	if (whole) {
		CHECK(jp_podlist_count(whole) == jp_podlist_count(sliced));
		CHECK(whole_rep.skipped_pods == rep.skipped_pods && whole_rep.skipped_fields == rep.skipped_fields);
		for (size_t i = 0; i < jp_podlist_count(whole); i++) {
			const struct jp_kube_pod *a = jp_podlist_at(whole, i), *b = jp_podlist_at(sliced, i);
			CHECK(!strcmp(a->uid, b->uid) && !strcmp(a->name, b->name) && !strcmp(a->ns, b->ns));
			CHECK(a->n_containers == b->n_containers);
			CHECK(a->cpu_request == b->cpu_request);
			for (size_t k = 0; k < a->n_containers; k++)
				CHECK(!strcmp(a->containers[k].id, b->containers[k].id) &&
				      !strcmp(a->containers[k].name, b->containers[k].name));
		}
	}
	jp_podlist_destroy(whole);
	jp_podlist_destroy(sliced);
	return 0;
}
