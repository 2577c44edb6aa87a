/* SPDX-License-Identifier: Apache-2.0 */
/* Remote-write request bodies: protobuf (RW 1.0 WriteRequest, RW 2.0 Request) compressed
 * with snappy's block format (docs/reference/remote-write.md). */
#ifndef JP_REMOTE_ENCODE_H
#define JP_REMOTE_ENCODE_H

#include "remote/batch.h"
#include "util/buf.h"

/* Encode b as a prometheus.WriteRequest and snappy-compress it into out (reset
 * first). Label encodings are cached in the batch's series defs. Returns 0 or a
 * negative errno. */
int jp_encode_v1(const struct jp_batch *b, struct jp_buf *out);

/* Encode b as an io.prometheus.write.v2.Request (symbols table, entry 0 is "") and
 * snappy-compress it into out. Returns 0 or a negative errno. */
int jp_encode_v2(const struct jp_batch *b, struct jp_buf *out);

/* The raw protobuf without compression, for tests and size accounting. */
int jp_encode_v1_raw(const struct jp_batch *b, struct jp_buf *out);
int jp_encode_v2_raw(const struct jp_batch *b, struct jp_buf *out);

#endif
