/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: decodes arbitrary RW 1.0 bodies and re-encodes them through the encoder. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

#include "remote.pb-c.h"
#include "types.pb-c.h"
#include "write_v2.pb-c.h"

#include "remote/encode.h"
#include "fuzz.h"

/* Bodies larger than this are not interesting and only slow the fuzzer down. */
#define MAX_RAW (1u << 20)


static uint64_t bits_of(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

/* What the encoder accepts (docs/reference/remote-write.md); other label sets are left out of the batch. */
static bool labels_ok(const Prometheus__TimeSeries *ts)
{
	bool has_name = false;
	for (size_t i = 0; i < ts->n_labels; i++) {
		const Prometheus__Label *l = ts->labels[i];
		if (!l->name || !l->value || !l->name[0] || !l->value[0])
			return false;
		if (i && strcmp(ts->labels[i - 1]->name, l->name) >= 0)
			return false;
		has_name |= !strcmp(l->name, "__name__");
	}
	return has_name;
}

static uint8_t *uncompress(const struct jp_buf *c, size_t *len)
{
	CHECK(snappy_uncompressed_length((const char *)c->data, c->len, len) == SNAPPY_OK);
	uint8_t *raw = malloc(*len ? *len : 1);
	CHECK(raw);
	CHECK(snappy_uncompress((const char *)c->data, c->len, (char *)raw, len) == SNAPPY_OK);
	return raw;
}

static void check_v1(const struct jp_batch *b, const struct jp_buf *body)
{
	size_t len;
	uint8_t *raw = uncompress(body, &len);
	Prometheus__WriteRequest *wr = prometheus__write_request__unpack(NULL, len, raw);
	CHECK(wr && wr->n_timeseries == b->nseries);
	for (size_t i = 0; i < b->nseries; i++) {
		const struct jp_batch_series *s = &b->series[i];
		const Prometheus__TimeSeries *ts = wr->timeseries[i];
		CHECK(ts->n_labels == s->def->nlabels && ts->n_samples == s->count);
		for (size_t k = 0; k < ts->n_labels; k++) {
			CHECK(!strcmp(ts->labels[k]->name, s->def->labels[k].name));
			CHECK(!strcmp(ts->labels[k]->value, s->def->labels[k].value));
		}
		for (size_t k = 0; k < ts->n_samples; k++) {
			const struct jp_sample *want = &b->samples[s->first + k];
			CHECK(ts->samples[k]->timestamp == want->ts_ms);
			CHECK(bits_of(ts->samples[k]->value) == bits_of(want->value));
		}
	}
	prometheus__write_request__free_unpacked(wr, NULL);
	free(raw);
}

static void check_v2(const struct jp_batch *b, const struct jp_buf *body)
{
	size_t len;
	uint8_t *raw = uncompress(body, &len);
	Io__Prometheus__Write__V2__Request *rq = io__prometheus__write__v2__request__unpack(NULL, len, raw);
	CHECK(rq && rq->n_symbols >= 1 && !rq->symbols[0][0] && rq->n_timeseries == b->nseries);
	for (size_t i = 0; i < b->nseries; i++) {
		const struct jp_batch_series *s = &b->series[i];
		const Io__Prometheus__Write__V2__TimeSeries *ts = rq->timeseries[i];
		CHECK(ts->n_labels_refs == 2 * (size_t)s->def->nlabels && ts->n_samples == s->count);
		for (size_t k = 0; k < ts->n_labels_refs; k++) {
			uint32_t ref = ts->labels_refs[k];
			const struct jp_label *l = &s->def->labels[k / 2];
			CHECK(ref > 0 && ref < rq->n_symbols);
			CHECK(!strcmp(rq->symbols[ref], (k & 1) ? l->value : l->name));
		}
		for (size_t k = 0; k < ts->n_samples; k++) {
			const struct jp_sample *want = &b->samples[s->first + k];
			CHECK(ts->samples[k]->timestamp == want->ts_ms);
			CHECK(bits_of(ts->samples[k]->value) == bits_of(want->value));
		}
	}
	io__prometheus__write__v2__request__free_unpacked(rq, NULL);
	free(raw);
}

/* The first byte picks the framing: odd means the rest is a bare protobuf (so the
 * fuzzer can work on the structure directly), even means a snappy block. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *body = data + 1;
	size_t len = size - 1;
	uint8_t *raw = NULL;
	if (!(data[0] & 1)) {
		if (snappy_uncompressed_length((const char *)body, len, &len) != SNAPPY_OK || len > MAX_RAW)
			return 0;
		raw = malloc(len ? len : 1);
		if (!raw || snappy_uncompress((const char *)data + 1, size - 1, (char *)raw, &len) != SNAPPY_OK) {
			free(raw);
			return 0;
		}
		body = raw;
	}
	Prometheus__WriteRequest *wr = prometheus__write_request__unpack(NULL, len, body);
	if (!wr) {
		free(raw);
		return 0;
	}

	size_t nsamples = 0;
	for (size_t i = 0; i < wr->n_timeseries; i++)
		nsamples += wr->timeseries[i]->n_samples;
	struct jp_batch b = { 0 };
	struct jp_series_def *defs = calloc(wr->n_timeseries + 1, sizeof(*defs));
	b.series = calloc(wr->n_timeseries + 1, sizeof(*b.series));
	b.samples = calloc(nsamples + 1, sizeof(*b.samples));
	CHECK(defs && b.series && b.samples);
	for (size_t i = 0; i < wr->n_timeseries; i++) {
		const Prometheus__TimeSeries *ts = wr->timeseries[i];
		if (!labels_ok(ts))
			continue;
		struct jp_series_def *d = &defs[b.nseries];
		d->nlabels = (uint32_t)ts->n_labels;
		d->labels = calloc(ts->n_labels, sizeof(*d->labels));
		CHECK(d->labels);
		for (size_t k = 0; k < ts->n_labels; k++)
			d->labels[k] = (struct jp_label){ ts->labels[k]->name, ts->labels[k]->value };
		b.series[b.nseries++] = (struct jp_batch_series){ d, (uint32_t)b.nsamples,
								   (uint32_t)ts->n_samples };
		for (size_t k = 0; k < ts->n_samples; k++)
			b.samples[b.nsamples++] = (struct jp_sample){ ts->samples[k]->timestamp,
								      ts->samples[k]->value };
	}

	struct jp_buf out = { 0 };
	CHECK(jp_encode_v1(&b, &out) == 0);
	check_v1(&b, &out);
	CHECK(jp_encode_v2(&b, &out) == 0);
	check_v2(&b, &out);
	/* Once more from the cached label encodings: the same bytes. */
	struct jp_buf again = { 0 };
	CHECK(jp_encode_v2(&b, &again) == 0);
	CHECK(again.len == out.len && !memcmp(again.data, out.data, out.len));

	jp_buf_free(&again);
	jp_buf_free(&out);
	for (size_t i = 0; i < b.nseries; i++) {
		free(defs[i].labels);
		free(defs[i].enc);
	}
	free(defs);
	free(b.series);
	free(b.samples);
	prometheus__write_request__free_unpacked(wr, NULL);
	free(raw);
	return 0;
}
