/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the local server's request-line parser (/healthz, /readyz, /metrics
 * are reachable by anything that can open the port). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "fuzz.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The server hands over at most its head buffer (8 KiB), not NUL-terminated. */
	if (size > 8192)
		return 0;
	char *head = malloc(size ? size : 1);
	CHECK(head);
	memcpy(head, data, size);
	struct jp_server_request req;
	int st = jp_server_parse_request(head, size, &req);
	CHECK(st == 0 || st == 400 || st == 405);
	if (st == 0) {
		/* The method and the target lie inside the head and end there. */
		CHECK(req.method >= head && req.method < head + size);
		CHECK(req.target > head && req.target < head + size);
		CHECK(memchr(req.target, '\0', (size_t)(head + size - req.target)) != NULL);
		CHECK(!strpbrk(req.target, "?#"));
		CHECK(req.head_only == (strcmp(req.method, "HEAD") == 0));
		CHECK(req.head_only || strcmp(req.method, "GET") == 0);
	}
	free(head);
	return 0;
}
