/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the on-disk queue (remote/queue.h); not for other modules. The queue is four
 * files, one concern each:
 *
 *   queue.c          records and windows, segments, open/close, append, read, ack
 *   queue_defs.c     series definitions (interned by their labels) and segment id maps
 *   queue_ack.c      the ack file: two checksummed slots, written alternately
 *   queue_recover.c  opening a directory: scanning, cutting and settling segments
 *
 * Internal functions shared between them carry the jpq_ prefix.
 */
#ifndef JP_REMOTE_QUEUE_INTERNAL_H
#define JP_REMOTE_QUEUE_INTERNAL_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "remote/queue.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/runs.h"

#define MOD "queue"

/*
 * On-disk format (all integers little-endian):
 *
 *   <dir>/NNNNNNNNNNNNNNNN.seg   segments, 16 decimal digits, numbered increasingly
 *   <dir>/ack                    the durable ack position (two alternating slots)
 *
 * A segment starts with the 8-byte magic "JPQSEG01", then records:
 *
 *   u32 len | u32 type | u32 crc | payload[len]
 *
 * crc is CRC32C over the 8 bytes len|type and then the payload, so a flipped length
 * or type is caught as well as a flipped payload byte. Record types:
 *
 *   SERIES  u32 id, u32 nlabels, nlabels x (u32 nlen, name, u32 vlen, value)
 *   SAMPLES i64 ts_ms, u32 count, count x (u32 id, u64 value bits)
 *   RUNS    i64 ts_ms, u32 count, runs of (u32 first_id, u32 n, n x (u64 value bits))
 *
 * RUNS holds the same as SAMPLES with the ids of each run first_id, first_id + 1, ...,
 * the runs' n adding up to count: 8 bytes a sample and 8 a run instead of 12 a sample. A
 * round's series mostly come in the order the store made them, so a record is a few runs;
 * the writer takes RUNS when it is smaller and SAMPLES otherwise. Both are "samples
 * records" below. Agents before RUNS cut a segment at its first RUNS record, as at a
 * damaged one.
 *
 * Series ids are those of struct jp_series and mean something only inside one segment:
 * a segment holds the SERIES record of an id before the first SAMPLES record that uses
 * it, and a process never appends to a segment an earlier process wrote. Values are
 * stored as raw bits so the stale-marker NaN survives bit for bit (docs/reference/remote-write.md).
 *
 * The ack file holds two slots of ACK_SLOT bytes at offsets 0 and ACK_SLOT; each is
 * "JPQACK02", u64 seq, u64 segment, u64 offset, u32 index, u32 crc (CRC32C of the 36
 * bytes before it). Write number seq goes to slot seq % 2 and the valid slot with the
 * higher seq wins, so a write torn by a power loss leaves the previous position intact.
 * The file stays open: an ack costs one pwrite, where a temporary file, a rename and two
 * fsyncs cost several times more on every batch sent. The pwrite alone survives a crash
 * of the process (SIGKILL): the page cache outlives it. Against power loss the ack file is
 * fdatasync'ed at most ACK_SYNC_MS after an ack (with the next ack past that age, with the
 * next append, or at close), so a power cut can make the queue resend what was acked
 * in that last stretch: at most about a second of batches, never a loss.
 */

#define SEG_MAGIC "JPQSEG01"
#define SEG_HDR 8u
#define REC_HDR 12u
#define REC_SERIES 1u
#define REC_SAMPLES 2u
#define REC_RUN 3u
#define SAMPLE_BYTES 12u
#define SAMPLES_FIXED 12u

static inline int rec_has_samples(uint32_t type)
{
	return type == REC_SAMPLES || type == REC_RUN;
}

/* A RUNS body of len bytes (len >= SAMPLES_FIXED): runs (util/runs.h) that fill it
 * exactly and add up to its count. */
static inline int runs_body_valid(const uint8_t *p, uint32_t len)
{
	uint64_t total;
	return jp_runs_count(p + SAMPLES_FIXED, len - SAMPLES_FIXED, &total) && total == jp_get_u32(p + 8);
}
/* Records are bounded so that a garbage length can never make us allocate or read
 * gigabytes; a round larger than this is split over several SAMPLES records. */
#define MAX_REC_LEN (64u << 20)
#define MAX_SAMPLES_PER_REC ((MAX_REC_LEN - SAMPLES_FIXED) / SAMPLE_BYTES)
#define ACK_MAGIC "JPQACK02"
#define ACK_LEN 40u
#define ACK_SLOT 64u
#define ACK_SYNC_MS 1000u
#define SEG_MIN_BYTES (64u << 10)
#define SEG_MAX_BYTES (32u << 20)
/* Reads are buffered in windows of this size (a 10,000-sample round is 120 KB). */
#define WIN_CHUNK (256u << 10)
#define DEFS_BUF_KEEP (256u << 10)
#define FIFO_MAX 1024

/* Every read of a segment or of the ack file goes through this pointer, so that tests
 * can inject I/O errors (jp_queue_set_pread). */
extern ssize_t (*jpq_pread)(int fd, void *buf, size_t len, off_t off);

/* --- series definitions ----------------------------------------------------------- */

/* A definition read from disk. Definitions are interned by their label bytes, so that
 * a series which appears in several segments (with different ids) is one def and the
 * sender can tell batches apart by def pointer. refs counts the segment maps holding it. */
struct qdef {
	struct jp_series_def pub;   /* first: batches point here */
	struct qdef *next;          /* intern hash chain */
	uint32_t hash;
	uint32_t refs;
	uint64_t gen;               /* last batch grouping that saw it */
	size_t slot;                /* its index in that batch's series array */
	size_t keylen;              /* length of the serialised labels it was made from */
};

struct idmap_ent {
	uint32_t id;                /* 0: empty slot */
	struct qdef *def;
};

/* Segment-local id -> def. Our writer's ids are small and dense (the store numbers
 * series from 1), so they go into a plain array indexed by id, which the reader then
 * walks almost sequentially; ids far beyond the number of entries (another writer,
 * or garbage) go into an open-addressing table instead. */
struct idmap {
	struct qdef **dense;
	size_t ndense;
	struct idmap_ent *ents;
	size_t cap, nhash;
	size_t n;             /* entries in both */
};

/* A region of a segment that failed its checksum or framing between two valid
 * records: readers jump from off to end. */
struct hole {
	uint64_t off, end;
};

struct seg {
	uint64_t num;
	uint64_t size;        /* bytes of valid records (plus the magic) */
	uint64_t fsize;       /* bytes on disk (more than size only if a cut failed) */
	uint64_t nsamples;    /* samples in the valid records */
	uint64_t defs_upto;   /* SERIES records before this offset are in map */
	struct idmap map;
	struct hole *holes;   /* sorted by offset */
	size_t nholes;
	/* Not read yet: an I/O error or an allocation failure stopped its scan at open.
	 * The file is left as it is and scanned again when the reader reaches it. */
	int unscanned;
	/* Set by the scan when the ack position lies in this segment. */
	int ack_found;
	uint64_t ack_before;  /* samples of this segment before the ack position */
	uint64_t ack_moved;   /* nonzero: the ack lay inside a hole and moves to this offset */
};

/* A window over one file read with pread, for scanning records without a syscall
 * per record. */
struct win {
	int fd;
	int err;              /* the errno of the last failed read */
	uint64_t num;         /* which segment fd belongs to */
	uint8_t *buf;
	size_t cap;
	uint64_t off;
	size_t len;
};

struct fifo_ent {
	struct jp_queue_pos end;
	uint64_t before;      /* samples of end.segment before end */
};

struct jp_queue {
	char *dir;
	int dirfd;
	uint64_t max_disk_bytes;
	uint64_t seg_target;

	struct seg **segs;    /* live segment files, oldest first */
	size_t nsegs, capsegs;
	struct seg **zombies; /* dropped segments whose defs unacked batches may still use */
	size_t nzombies, capzombies;
	uint64_t disk_bytes;
	uint64_t pending;
	uint64_t dropped;
	uint64_t cuts;
	uint64_t skipped_bytes;   /* corrupt bytes between valid records, jumped over */
	uint64_t skipped_regions;
	struct jp_ratelimit rl_defer;

	/* writer */
	struct seg *wseg;     /* the segment this process appends to, or NULL */
	int wfd;
	uint64_t next_num;
	uint8_t *defined;     /* bitmap by series id: SERIES already in wseg */
	size_t defined_bytes;
	uint32_t *newids;
	size_t nnew, capnew;
	struct jp_buf wdefs, wsamples, wrun;
	struct jp_ratelimit rl_bad_series;

	/* the ack file, opened on the first ack */
	int ackfd;
	uint64_t ack_seq;
	int ack_dirty;            /* written since its last fdatasync */
	uint64_t ack_synced_ms;   /* monotonic time of that fdatasync */

	/* reader */
	struct jp_queue_pos cur, ack;
	uint64_t cur_before, ack_before;
	struct fifo_ent *fifo;
	size_t nfifo, capfifo;
	struct win rwin, swin;
	struct qdef **rd_def;
	struct jp_sample *rd_smp;
	size_t caprd, caprd_smp;
	/* The batch being read: how many records gave it samples, and whether their ids
	 * rose strictly (then one record means one sample per series, see group). */
	unsigned rd_records;
	int rd_ascending;
	uint32_t rd_last_id;
	uint64_t gen;
	struct jp_ratelimit rl_unknown_id, rl_read;

	/* interned defs */
	struct qdef **buckets;
	size_t nbuckets, ndefs;
};

static inline int pos_cmp(const struct jp_queue_pos *a, const struct jp_queue_pos *b)
{
	if (a->segment != b->segment)
		return a->segment < b->segment ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	if (a->index != b->index)
		return a->index < b->index ? -1 : 1;
	return 0;
}

static inline void seg_name(char *out, size_t cap, uint64_t num)
{
	snprintf(out, cap, "%016" PRIu64 ".seg", num);
}

static inline int parse_seg_name(const char *s, uint64_t *num)
{
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (strcmp(s + 16, ".seg") != 0 || v == 0)
		return 0;
	*num = v;
	return 1;
}

static inline uint32_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = jp_fnv1a(p, n);
	return (uint32_t)(h ^ (h >> 32));
}

/* The checksum of a record whose 12-byte header starts at hdr. */
static inline uint32_t rec_crc(const uint8_t *hdr, const uint8_t *payload, size_t len)
{
	return jp_crc32c(jp_crc32c(0, hdr, 8), payload, len);
}

/* One record read from a segment. */
struct rec {
	uint32_t len, type;
	const uint8_t *p;     /* payload */
};

enum rec_status { REC_OK, REC_END, REC_TORN, REC_BADLEN, REC_BADCRC, REC_BADBODY, REC_IOERR };

/*
 * The files form a line, each using only those before it:
 *   queue_read.c -> queue_defs.c -> queue_ack.c -> queue_recover.c -> queue.c
 */

/* queue_read.c: windows over segments, records, finding segments */
int jpq_win_open(struct jp_queue *q, struct win *w, uint64_t num);
/* The same, opened O_RDWR when writable (recovery cuts through it); a window already open
 * on num is kept as it is. */
int jpq_win_open_rw(struct jp_queue *q, struct win *w, uint64_t num, int writable);
void jpq_win_close(struct win *w);
const uint8_t *jpq_win_get(struct win *w, uint64_t off, size_t len, int *err);
const char *jpq_rec_status_str(enum rec_status st);
enum rec_status jpq_rec_next(struct win *w, uint64_t off, uint64_t limit, int verify, struct rec *r);
/* The offset after the hole of s that starts at off, or off itself. */
uint64_t jpq_seg_skip_hole(const struct seg *s, uint64_t off);
/* The first live segment numbered num or more, or NULL; the one numbered num, or NULL. */
struct seg *jpq_seg_find_ge(struct jp_queue *q, uint64_t num);
struct seg *jpq_seg_find(struct jp_queue *q, uint64_t num);
uint64_t jpq_seg_unacked(const struct jp_queue *q, const struct seg *s);

/* queue_defs.c: series definitions and the per-segment id maps */
/* A SERIES payload: id, labels, then optionally the series' start time (u64 ms). On
 * success *lablen is the length up to the end of the labels, *start_ms the start (0 when
 * the record has none). */
int jpq_series_valid(const uint8_t *p, size_t len, uint32_t *id, uint32_t *nlabels,
			size_t *strbytes, size_t *lablen, int64_t *start_ms);
void jpq_seg_free(struct jp_queue *q, struct seg *s);
struct qdef *jpq_idmap_get(const struct idmap *m, uint32_t id);
void jpq_load_series(struct jp_queue *q, struct seg *s, const uint8_t *p, size_t len);

/* queue_ack.c: the ack file */
int jpq_ack_write(struct jp_queue *q);
int jpq_ack_read(struct jp_queue *q, struct jp_queue_pos *out);
int jpq_ack_sync(struct jp_queue *q);

/* queue_recover.c: opening a directory and recovering its segments */
/* Called between a segment's scan and its cut (jp_queue_set_cut_hook), or NULL. */
extern void (*jpq_cut_hook)(int dirfd, const char *name);
int jpq_recover(struct jp_queue *q);
int jpq_seg_rescan(struct jp_queue *q, struct seg *s);


#endif
