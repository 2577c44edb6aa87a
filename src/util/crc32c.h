/* SPDX-License-Identifier: Apache-2.0 */
/* CRC32C (Castagnoli), as iSCSI and ext4 use it: the checksum of the queue's records and
 * ack slots (docs/reference/remote-write.md). Thread-safe. */
#ifndef JP_UTIL_CRC32C_H
#define JP_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC32C over data[0..n): pass 0 to start. jp_crc32c(0, "123456789", 9) is
 * 0xE3069283. */
uint32_t jp_crc32c(uint32_t crc, const void *data, size_t n);

#endif
