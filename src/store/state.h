/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Counters that survive restarts (docs/reference/configuration.md `state.dir`): the
 * agent's cumulative energy, CPU and CO2 counters are written to <dir>/counters after
 * every round, checksummed and replaced atomically; on start they are read back, and a
 * series that appears again (same labels) goes on from its total and keeps its start
 * time. A series that does not appear again is not brought back. A file that is torn,
 * corrupt or not a regular file is logged and ignored: counters then start at 0.
 */
#ifndef JP_STORE_STATE_H
#define JP_STORE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "store/series.h"

#define JP_STATE_FILE "counters"
#define JP_STATE_JOURNAL "counters.log"
/* A node's counters fit in far less: 100,000 series of 200-byte keys are 22 MiB. */
#define JP_STATE_MAX_BYTES (32u << 20)
#define JP_STATE_MAX_ENTRIES (1u << 18)

struct jp_state;

/* Open dir (created, mode 0700, when missing, walked without following links and owned by
 * root, this process's user or owner_uid: util/safedir.h) and read <dir>/counters if it
 * is there. NULL with errno (ELOOP, EPERM, ENOTDIR, EINVAL: the directory is not safe to
 * write, util/safedir.h) and why filled when dir cannot be used.
 * Returns the state, or NULL with why filled when dir cannot be used. A file that cannot
 * be read back (torn, bad checksum, not a regular file) is not an error: *why_ignored
 * gets the reason and the state starts empty. */
struct jp_state *jp_state_open(const char *dir, uid_t owner_uid, char *why, size_t whylen, char *why_ignored, size_t ignlen);
void jp_state_close(struct jp_state *st);

/* Entries read at open. */
size_t jp_state_loaded(const struct jp_state *st);

/* The resume hook for the store (jp_store_set_resume): resumable counters found in the
 * file get their base and start time. */
struct jp_store_resume jp_state_resume(struct jp_state *st);

/* Write the resumable counters set in the store's current round (their values and start
 * times) to <dir>/counters: a temporary file, fsync, rename, fsync of the directory. Call
 * it before the round is committed to the queues: a crash in between then loses a sample
 * of the receiver's, never makes a counter go down there. Returns 0 or a negative errno. */
int jp_state_save(struct jp_state *st, struct jp_store *store, int64_t now_ms);

/* Whether series of this metric go on across restarts: the energy, CPU time and CO2
 * counters of nodes, pods, containers, namespaces and the system (and their Kepler names),
 * not the agent's own counters. */
int jp_state_resumable(const char *metric);

/* Parse a state file's bytes (for the tests and the fuzzer): 0 and the entry count, or
 * -EINVAL with why filled. */
int jp_state_parse(const uint8_t *buf, size_t len, struct jp_state *into, size_t *count, char *why, size_t whylen);

/* A snapshot's entries with a journal replayed on it (for the fuzzer): how many have a
 * counter's value; 0 when the snapshot does not parse. */
size_t jp_state_replay(const uint8_t *snap, size_t snap_len, const uint8_t *journal, size_t journal_len);

#endif
