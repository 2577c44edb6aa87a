/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: recovery and reading of a queue directory holding hostile files (docs/reference/configuration.md). */
/*
 * The first input byte picks the variant:
 *   0  the rest is a raw segment file
 *   1  the rest is a list of records (u8 type, u16 length, bytes) framed with valid
 *      checksums, so the fuzzer gets past the CRC into the record parsers
 *   2  the rest is a raw ack file, next to a small valid segment
 *   3  the rest is an ack position (segment, offset, index) with a valid checksum,
 *      next to the same segment
 * The second byte steers the reader: batch size, acks, an append after recovery.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remote/queue.h"
#include "util/log.h"

static char base[64], qdir[128];

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static size_t frame(uint8_t *out, uint32_t type, const uint8_t *payload, uint32_t len)
{
	put32(out, len);
	put32(out + 4, type);
	memcpy(out + 12, payload, len);
	put32(out + 8, crc32c(crc32c(0, out, 8), payload, len));
	return 12 + len;
}

static void write_file(const char *name, const uint8_t *p, size_t n)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", qdir, name);
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (fd < 0)
		abort();
	if (n && write(fd, p, n) != (ssize_t)n)
		abort();
	close(fd);
}

static void clean_dir(void)
{
	DIR *d = opendir(qdir);
	struct dirent *de;
	char path[512];
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", qdir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

/* A valid segment: {__name__="m", i="1"} id 1, then two rounds. */
static void write_valid_segment(void)
{
	uint8_t seg[512], pl[128];
	size_t off = 8, p = 8;
	memcpy(seg, "JPQSEG01", 8);
	put32(pl, 1);
	put32(pl + 4, 2);
	put32(pl + p, 8); memcpy(pl + p + 4, "__name__", 8); p += 12;
	put32(pl + p, 1); memcpy(pl + p + 4, "m", 1); p += 5;
	put32(pl + p, 1); memcpy(pl + p + 4, "i", 1); p += 5;
	put32(pl + p, 1); memcpy(pl + p + 4, "1", 1); p += 5;
	off += frame(seg + off, 1, pl, (uint32_t)p);
	for (int64_t r = 1; r <= 2; r++) {
		int64_t ts = r * 1000;
		double v = (double)r;
		memcpy(pl, &ts, 8);
		put32(pl + 8, 2);
		for (int k = 0; k < 2; k++) {
			put32(pl + 12 + k * 12, 1);
			memcpy(pl + 16 + k * 12, &v, 8);
		}
		off += frame(seg + off, 2, pl, 36);
	}
	write_file("0000000000000001.seg", seg, off);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc; (void)argv;
	jp_log_configure((enum jp_log_level)(JP_LOG_ERROR + 1), 0);
	strcpy(base, "/tmp/fuzzq-XXXXXX");
	if (!mkdtemp(base))
		abort();
	snprintf(qdir, sizeof(qdir), "%s/q", base);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t variant = data[0] & 3, steer = data[1];
	data += 2;
	size -= 2;
	clean_dir();
	rmdir(qdir);
	if (mkdir(qdir, 0755) < 0)
		abort();

	if (variant == 0) {
		write_file("0000000000000001.seg", data, size);
	} else if (variant == 1) {
		uint8_t *seg = malloc(8 + size * 5 + 16);
		size_t off = 8;
		memcpy(seg, "JPQSEG01", 8);
		size_t i = 0;
		while (i + 3 <= size) {
			uint32_t type = data[i], len = (uint32_t)data[i + 1] | (uint32_t)data[i + 2] << 8;
			i += 3;
			if (len > size - i)
				len = (uint32_t)(size - i);
			off += frame(seg + off, type, data + i, len);
			i += len;
		}
		write_file("0000000000000002.seg", seg, off);
		free(seg);
	} else {
		write_valid_segment();
		if (variant == 2) {
			write_file("ack", data, size);
		} else {
			/* A slot with a valid checksum around fuzzed contents, in slot 0 or 1. */
			uint8_t ack[128] = {0};
			size_t slot = size && (data[0] & 1) ? 64 : 0;
			memcpy(ack + slot, "JPQACK02", 8);
			memcpy(ack + slot + 8, data, size < 28 ? size : 28);
			put32(ack + slot + 36, crc32c(0, ack + slot, 36));
			write_file("ack", ack, 128);
		}
	}

	struct jp_queue *q = jp_queue_open(qdir, 1 << 20);
	if (!q)
		return 0;
	struct jp_batch b = {0};
	size_t max = (steer & 7) + 1;
	int n, rounds = 0;
	while ((n = jp_queue_read(q, &b, max)) > 0 && rounds++ < 100000) {
		for (size_t k = 0; k < b.nseries; k++) {
			const struct jp_series_def *d = b.series[k].def;
			for (uint32_t l = 0; l < d->nlabels; l++)
				if (!d->labels[l].name[0] || !d->labels[l].value[0])
					abort();
			if (b.series[k].first + b.series[k].count > b.nsamples)
				abort();
		}
		if (steer & 8)
			jp_queue_ack(q, &b);
	}
	if (steer & 16) {
		static struct jp_label labels[] = {{"__name__", "up"}};
		struct jp_series s = {.id = 1, .nlabels = 1, .labels = labels, .name = "up"};
		struct jp_round_sample v = {&s, 1.0};
		jp_queue_append(q, 1, &v, 1);
		jp_queue_rewind(q);
		while (jp_queue_read(q, &b, 64) > 0)
			jp_queue_ack(q, &b);
	}
	struct jp_queue_stats st;
	jp_queue_get_stats(q, &st);
	jp_batch_free(&b);
	jp_queue_close(q);
	return 0;
}
