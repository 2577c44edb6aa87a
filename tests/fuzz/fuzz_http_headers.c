/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the response header values the sender acts on: Retry-After and
 * X-Prometheus-Remote-Write-Samples-Written (a receiver, or anything in between, may send
 * anything). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/http.h"
#include "fuzz.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = malloc(size + 1);
	CHECK(v);
	memcpy(v, data, size);
	v[size] = '\0';
	int64_t ra = jp_http_parse_retry_after(v);
	CHECK(ra >= -1);
	int64_t n = jp_http_parse_count(v);
	CHECK(n >= -1);
	/* A count is digits only. */
	if (n >= 0)
		CHECK(size > 0 && strspn(v, "0123456789") == strlen(v));
	free(v);
	return 0;
}
