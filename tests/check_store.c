/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the series store (label sets, interning, rounds, stale markers, memory) and of
 * the text exposition writer. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/expo.h"
#include "metrics.h"
#include "store/series.h"
#include "store/state.h"
#include "util/crc32c.h"
#include "store_util.h"

#define L(n, v) ((struct jp_label){ (n), (v) })

static struct jp_store *mkstore(size_t ring_len)
{
	struct jp_label common[] = { L("node", "n1"), L("cluster", "edge-7") };
	struct jp_store *s = jp_store_create(common, 2, ring_len);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Records what a commit emitted. */
struct rec {
	int calls;
	int64_t ts_ms;
	size_t n;
	struct {
		uint32_t id;
		double value;
	} v[64];
};

static int rec_cb(int64_t ts_ms, const struct jp_round_sample *v, size_t n, void *arg)
{
	struct rec *r = arg;
	r->calls++;
	r->ts_ms = ts_ms;
	r->n = n;
	for (size_t i = 0; i < n && i < 64; i++) {
		r->v[i].id = v[i].series->id;
		r->v[i].value = v[i].value;
	}
	return 0;
}

static uint64_t bits_of(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof b);
	return b;
}

START_TEST(test_sorted_unique)
{
	struct jp_store *s = mkstore(2);
	struct jp_label l[] = { L("zone", "package"), L("mode", "active"), L("Alpha", "x"), L("b", "y") };
	struct jp_series *a = jp_store_get(s, "m", l, 4);
	ck_assert_ptr_nonnull(a);
	/* Bytewise: uppercase < "__name__" < lowercase. */
	const char *want[] = { "Alpha", "__name__", "b", "cluster", "mode", "node", "zone" };
	ck_assert_uint_eq(a->nlabels, 7);
	for (size_t i = 0; i < 7; i++)
		ck_assert_str_eq(a->labels[i].name, want[i]);
	ck_assert_str_eq(a->name, "m");
	ck_assert_str_eq(a->labels[1].value, "m");

	/* The same set in another order is the same series. */
	struct jp_label l2[] = { L("b", "y"), L("zone", "package"), L("Alpha", "x"), L("mode", "active") };
	ck_assert_ptr_eq(jp_store_get(s, "m", l2, 4), a);
	/* A different value is another series. */
	l2[0].value = "z";
	struct jp_series *b = jp_store_get(s, "m", l2, 4);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(b, a);
	ck_assert_uint_ne(b->id, a->id);

	/* Duplicated names, an empty name or metric name, and __name__ as a label are refused. */
	struct jp_label dup[] = { L("a", "1"), L("a", "2") };
	errno = 0;
	ck_assert_ptr_null(jp_store_get(s, "m", dup, 2));
	ck_assert_int_eq(errno, EINVAL);
	struct jp_label noname[] = { L("", "1") };
	ck_assert_ptr_null(jp_store_get(s, "m", noname, 1));
	ck_assert_ptr_null(jp_store_get(s, "", NULL, 0));
	struct jp_label nm[] = { L("__name__", "x") };
	ck_assert_ptr_null(jp_store_get(s, "m", nm, 1));
	jp_store_destroy(s);
}
END_TEST

START_TEST(test_common_and_empty)
{
	struct jp_store *s = mkstore(2);
	/* The series' own node label wins over the common one; empty values vanish. */
	struct jp_label l[] = { L("node", "other"), L("pod", ""), L("x", "1") };
	struct jp_series *a = jp_store_get(s, "m", l, 3);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->nlabels, 4);
	ck_assert_str_eq(a->labels[0].name, "__name__");
	ck_assert_str_eq(a->labels[1].name, "cluster");
	ck_assert_str_eq(a->labels[1].value, "edge-7");
	ck_assert_str_eq(a->labels[2].name, "node");
	ck_assert_str_eq(a->labels[2].value, "other");
	ck_assert_str_eq(a->labels[3].name, "x");
	/* Dropping the empty label gives the same identity as never passing it. */
	struct jp_label l2[] = { L("x", "1"), L("node", "other") };
	ck_assert_ptr_eq(jp_store_get(s, "m", l2, 2), a);

	/* New common labels: existing series keep theirs, new lookups use the new set. */
	uint64_t gen = jp_store_generation(s);
	struct jp_label c2[] = { L("node", "n2"), L("env", "") };
	ck_assert_int_eq(jp_store_set_common(s, c2, 2), 0);
	ck_assert_uint_ne(jp_store_generation(s), gen);
	ck_assert_str_eq(a->labels[1].value, "edge-7");
	struct jp_series *b = jp_store_get(s, "m", NULL, 0);
	ck_assert_uint_eq(b->nlabels, 2);
	ck_assert_str_eq(b->labels[1].name, "node");
	ck_assert_str_eq(b->labels[1].value, "n2");
	jp_store_destroy(s);
}
END_TEST

START_TEST(test_interning)
{
	struct jp_store *s = mkstore(2);
	char ns1[] = "payments", ns2[] = "payments";
	struct jp_label a[] = { L("namespace", ns1), L("pod", "p1") };
	struct jp_label b[] = { L("namespace", ns2), L("pod", "p2") };
	struct jp_series *x = jp_store_get(s, "m", a, 2);
	struct jp_series *y = jp_store_get(s, "m", b, 2);
	/* Equal strings share storage, and none points into the caller's buffers. */
	ck_assert_str_eq(x->labels[2].name, "namespace");
	ck_assert_ptr_eq(x->labels[2].value, y->labels[2].value);
	ck_assert_ptr_ne(x->labels[2].value, ns1);
	ck_assert_ptr_eq(x->labels[2].name, y->labels[2].name);
	ck_assert_ptr_eq(x->name, y->name);
	ck_assert_ptr_eq(x->labels[1].value, y->labels[1].value);   /* the common cluster value */
	ck_assert_ptr_ne(x->labels[4].value, y->labels[4].value);
	/* Overwriting the caller's copy changes nothing in the store. */
	strcpy(ns1, "xxxxxxxx");
	ck_assert_str_eq(x->labels[2].value, "payments");
	jp_store_destroy(s);
}
END_TEST

START_TEST(test_rounds_and_stale)
{
	struct jp_store *s = mkstore(3);
	struct rec r;
	struct jp_label la[] = { L("k", "a") }, lb[] = { L("k", "b") };

	jp_store_begin(s, 1000);
	struct jp_series *a = jp_store_get(s, "m", la, 1);
	struct jp_series *b = jp_store_get(s, "m", lb, 1);
	uint32_t ida = a->id, idb = b->id;
	ck_assert_uint_gt(ida, 0);
	jp_store_set(s, a, 1);
	jp_store_set(s, b, 2);
	jp_store_set(s, b, 3);   /* the last value of a round wins */
	memset(&r, 0, sizeof r);
	ck_assert_int_eq(jp_store_commit(s, rec_cb, &r), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.ts_ms, 1000);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.v[0].id, ida);
	ck_assert(r.v[0].value == 1);
	ck_assert_uint_eq(r.v[1].id, idb);
	ck_assert(r.v[1].value == 3);
	ck_assert_uint_eq(jp_store_live_series(s), 2);
	ck_assert(jp_series_latest(b)->value == 3);

	/* b is not set: one stale marker with the exact bits, after the sets. */
	jp_store_begin(s, 2000);
	jp_store_set(s, a, 4);
	memset(&r, 0, sizeof r);
	jp_store_commit(s, rec_cb, &r);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_uint_eq(r.v[0].id, ida);
	ck_assert_uint_eq(r.v[1].id, idb);
	ck_assert_uint_eq(bits_of(r.v[1].value), 0x7ff0000000000002ULL);
	ck_assert(jp_is_stale_nan(r.v[1].value));
	ck_assert(!jp_is_stale_nan(NAN));
	ck_assert_uint_eq(jp_store_live_series(s), 1);

	/* It is forgotten: no second marker. */
	jp_store_begin(s, 3000);
	jp_store_set(s, a, 5);
	memset(&r, 0, sizeof r);
	jp_store_commit(s, rec_cb, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_uint_eq(r.v[0].id, ida);

	/* Coming back, it is a new series with a new id. */
	jp_store_begin(s, 4000);
	jp_store_set(s, a, 6);
	struct jp_series *b2 = jp_store_get(s, "m", lb, 1);
	ck_assert_uint_gt(b2->id, idb);
	ck_assert_uint_eq(b2->ring_count, 0);
	jp_store_set(s, b2, 7);
	memset(&r, 0, sizeof r);
	jp_store_commit(s, rec_cb, &r);
	ck_assert_uint_eq(r.n, 2);

	/* A series created and never set emits nothing, then is gone. */
	jp_store_begin(s, 5000);
	jp_store_set(s, a, 8);
	jp_store_set(s, b2, 9);
	struct jp_label lc[] = { L("k", "c") };
	struct jp_series *c = jp_store_get(s, "m", lc, 1);
	uint32_t idc = c->id;
	memset(&r, 0, sizeof r);
	jp_store_commit(s, rec_cb, &r);
	ck_assert_uint_eq(r.n, 2);
	c = jp_store_get(s, "m", lc, 1);
	ck_assert_uint_gt(c->id, idc);

	/* commit with no emit callback. */
	jp_store_set(s, a, 9);
	ck_assert_int_eq(jp_store_commit(s, NULL, NULL), 0);
	jp_store_destroy(s);
}
END_TEST

START_TEST(test_ids_never_reused)
{
	struct jp_store *s = mkstore(1);
	uint32_t last = 0, kept[600] = { 0 };
	char v[32];
	/* A third of the series persist while the rest churn: lookups of the persistent ones
	 * must keep finding them while the tables grow, shrink and delete around them. */
	for (int round = 0; round < 50; round++) {
		jp_store_begin(s, round);
		int n = round < 25 ? 600 : 30;
		for (int i = 0; i < n; i++) {
			snprintf(v, sizeof v, "%d", i % 3 == 0 ? i : round * 1000 + i);
			struct jp_label l[] = { L("k", v) };
			struct jp_series *x = jp_store_get(s, "m", l, 1);
			if (x->ring_count == 0) {
				ck_assert_uint_gt(x->id, last);
				last = x->id;
			}
			if (i % 3 == 0) {
				if (kept[i] && (round < 26 || i < 30))
					ck_assert_uint_eq(x->id, kept[i]);
				kept[i] = x->id;
			}
			jp_store_set(s, x, i);
		}
		jp_store_commit(s, NULL, NULL);
		ck_assert_uint_eq(jp_store_live_series(s), (size_t)n);
	}
	jp_store_destroy(s);
}
END_TEST

START_TEST(test_ring_bounded)
{
	struct jp_store *s = mkstore(4);
	struct jp_series *x = jp_store_get(s, "m", NULL, 0);
	for (int i = 1; i <= 10; i++) {
		jp_store_begin(s, i * 1000);
		jp_store_set(s, x, i);
		jp_store_commit(s, NULL, NULL);
		ck_assert_uint_eq(x->ring_count, i < 4 ? (unsigned)i : 4u);
		ck_assert(jp_series_latest(x)->value == i);
		ck_assert_int_eq(jp_series_latest(x)->ts_ms, i * 1000);
	}
	/* Oldest first from ring_head: 7, 8, 9, 10. */
	for (uint32_t k = 0; k < 4; k++)
		ck_assert(x->ring[(x->ring_head + k) % 4].value == 7 + k);
	jp_store_destroy(s);
}
END_TEST

START_TEST(test_memory_proportional)
{
	struct jp_store *s = mkstore(2);
	jp_store_begin(s, 0);
	jp_store_commit(s, NULL, NULL);
	size_t base = jp_store_memory_bytes(s);

	/* 100,000 series churn through in rounds of 1,000, each round replacing them all. */
	char pod[64], uid[64];
	size_t peak = 0;
	for (int round = 0; round < 100; round++) {
		jp_store_begin(s, round);
		for (int i = 0; i < 1000; i++) {
			snprintf(pod, sizeof pod, "checkout-api-7d9f8b6c5-%05d", round * 1000 + i);
			snprintf(uid, sizeof uid, "uid-%08d", round * 1000 + i);
			struct jp_label l[] = { L("namespace", "checkout"), L("pod", pod), L("pod_uid", uid),
						L("zone", "package"), L("mode", "active") };
			jp_store_set(s, jp_store_get(s, "joulepush_pod_energy_joules_total", l, 5), i);
		}
		jp_store_commit(s, NULL, NULL);
		ck_assert_uint_eq(jp_store_live_series(s), 1000);
		size_t m = jp_store_memory_bytes(s);
		if (m > peak)
			peak = m;
	}
	/* Memory follows the live series, not the total ever seen. */
	ck_assert_uint_lt(peak, 1000 * 1000);
	jp_store_begin(s, 1000);
	jp_store_commit(s, NULL, NULL);   /* the last 1,000 go stale */
	jp_store_begin(s, 1001);
	jp_store_commit(s, NULL, NULL);
	ck_assert_uint_eq(jp_store_live_series(s), 0);
	size_t after = jp_store_memory_bytes(s);
	ck_assert_msg(after <= base + 8192, "base %zu after %zu peak %zu", base, after, peak);
	jp_store_destroy(s);
}
END_TEST

START_TEST(test_memory_10k)
{
	/* The budget: 10,000 series with ~8 labels each under ~4 MB. */
	struct jp_store *s = mkstore(2);
	char pod[64], uid[64];
	jp_store_begin(s, 0);
	for (int i = 0; i < 10000; i++) {
		snprintf(pod, sizeof pod, "checkout-api-7d9f8b6c5-%05d", i / 8);
		snprintf(uid, sizeof uid, "0f0e8a4c-1b2d-4e5f-9a8b-%012d", i / 8);
		struct jp_label l[] = { L("namespace", "checkout"), L("pod", pod), L("pod_uid", uid),
					L("zone", (i & 1) ? "package" : "dram"),
					L("mode", (i & 2) ? "active" : "idle"), L("k", (i & 4) ? "a" : "b") };
		jp_store_set(s, jp_store_get(s, "joulepush_pod_energy_joules_total", l, 6), i);
	}
	jp_store_commit(s, NULL, NULL);
	ck_assert_uint_eq(jp_store_live_series(s), 10000);
	size_t m = jp_store_memory_bytes(s);
	fprintf(stderr, "check_store: 10000 series x 9 labels: %zu bytes (%.0f per series)\n", m, m / 1e4);
	ck_assert_uint_lt(m, 4u << 20);
	jp_store_destroy(s);
}
END_TEST

START_TEST(test_expo)
{
	struct jp_label common[] = { L("node", "n1") };
	struct jp_store *s = jp_store_create(common, 1, 2);
	jp_store_begin(s, 1700000000000);
	struct jp_label z1[] = { L("zone", "package"), L("mode", "active"), L("source", "model") };
	struct jp_label z2[] = { L("zone", "dram"), L("mode", "active"), L("source", "model") };
	struct jp_label ns[] = { L("namespace", "we\"ird\\ns\nx") };
	struct jp_label un[] = { L("a", "1") };
	jp_store_set(s, jp_store_get(s, "joulepush_node_energy_joules_total", z1, 3), 12.5);
	jp_store_set(s, jp_store_get(s, "joulepush_node_energy_joules_total", z2, 3), 0.1);
	jp_store_set(s, jp_store_get(s, "joulepush_node_cpu_usage_ratio", NULL, 0), 1e-20);
	jp_store_set(s, jp_store_get(s, "joulepush_namespace_co2_grams_total", ns, 1), INFINITY);
	jp_store_set(s, jp_store_get(s, "zz_custom", un, 1), -INFINITY);
	jp_store_set(s, jp_store_get(s, "joulepush_store_series", NULL, 0), NAN);
	struct jp_series *gone = jp_store_get(s, "joulepush_grid_renewable_ratio", NULL, 0);
	jp_store_set(s, gone, 0.5);
	jp_store_commit(s, NULL, NULL);
	/* The next round drops one series: its stale marker is never printed. */
	struct jp_buf b = { 0 };
	ck_assert_int_eq(jp_expo_write_store(&b, s, 0), 0);
	ck_assert_ptr_nonnull(strstr((char *)b.data, "joulepush_grid_renewable_ratio{node=\"n1\"} 0.5\n"));
	jp_buf_free(&b);

	const char *want =
		"# HELP joulepush_namespace_co2_grams_total CO2-equivalent of the namespace's total energy times PUE, in grams.\n"
		"# TYPE joulepush_namespace_co2_grams_total counter\n"
		"joulepush_namespace_co2_grams_total{namespace=\"we\\\"ird\\\\ns\\nx\",node=\"n1\"} +Inf 1700000005000\n"
		"# HELP joulepush_node_cpu_usage_ratio Busy CPU time of the node over the last interval divided by CPUs times the interval.\n"
		"# TYPE joulepush_node_cpu_usage_ratio gauge\n"
		"joulepush_node_cpu_usage_ratio{node=\"n1\"} 1e-20 1700000005000\n"
		"# HELP joulepush_node_energy_joules_total Energy used by the node per RAPL zone and mode (active or idle), in joules.\n"
		"# TYPE joulepush_node_energy_joules_total counter\n"
		"joulepush_node_energy_joules_total{mode=\"active\",node=\"n1\",source=\"model\",zone=\"dram\"} 0.30000000000000004 1700000005000\n"
		"joulepush_node_energy_joules_total{mode=\"active\",node=\"n1\",source=\"model\",zone=\"package\"} 12.5 1700000005000\n"
		"# HELP joulepush_store_series Series live in the store.\n"
		"# TYPE joulepush_store_series gauge\n"
		"joulepush_store_series{node=\"n1\"} NaN 1700000005000\n"
		"# TYPE zz_custom untyped\n"
		"zz_custom{a=\"1\",node=\"n1\"} -Inf 1700000005000\n";

	jp_store_begin(s, 1700000005000);
	jp_store_set(s, jp_store_get(s, "joulepush_node_energy_joules_total", z1, 3), 12.5);
	jp_store_set(s, jp_store_get(s, "joulepush_node_energy_joules_total", z2, 3), 0.1 + 0.2);
	jp_store_set(s, jp_store_get(s, "joulepush_node_cpu_usage_ratio", NULL, 0), 1e-20);
	jp_store_set(s, jp_store_get(s, "joulepush_namespace_co2_grams_total", ns, 1), INFINITY);
	jp_store_set(s, jp_store_get(s, "zz_custom", un, 1), -INFINITY);
	jp_store_set(s, jp_store_get(s, "joulepush_store_series", NULL, 0), NAN);
	jp_store_commit(s, NULL, NULL);
	ck_assert_int_eq(jp_expo_write_store(&b, s, 1), 0);
	ck_assert_int_eq(jp_buf_append(&b, "", 1), 0);
	ck_assert_str_eq((char *)b.data, want);
	jp_buf_free(&b);
	jp_store_destroy(s);
}
END_TEST

/* ---- counters across restarts (store/state.c) ------------------------------------- */

static char state_dir[] = "/tmp/jp-check-state.XXXXXX";

static void state_dir_new(void)
{
	strcpy(state_dir, "/tmp/jp-check-state.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(state_dir));
}

static void state_dir_rm(void)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/counters", state_dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/counters.log", state_dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/counters.old", state_dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/counters.tmp", state_dir);
	unlink(p);
	rmdir(state_dir);
}

static struct jp_state *state_open_ok(char *ignored, size_t len)
{
	char why[256];
	struct jp_state *st = jp_state_open(state_dir, (uid_t)-1, why, sizeof(why), ignored, len);
	ck_assert_msg(st != NULL, "%s", why);
	return st;
}

/* One round: pod energy (a counter that resumes), its power (a gauge, never), and the
 * agent's own counter (never). */
static void state_round(struct jp_store *s, struct jp_state *st, int64_t ts, const char *uid, double joules)
{
	struct jp_label pl[] = {L("namespace", "team-a"), L("pod", "web"), L("pod_uid", uid), L("zone", "package"), L("mode", "active")};
	jp_store_begin(s, ts);
	jp_store_set(s, jp_store_get(s, "joulepush_pod_energy_joules_total", pl, 5), joules);
	jp_store_set(s, jp_store_get(s, "joulepush_pod_power_watts", pl, 4), joules / 5);
	jp_store_set(s, jp_store_get(s, "joulepush_collections_total", NULL, 0), 3);
	/* As the agent does: saved before the round is committed. */
	if (st)
		ck_assert_int_eq(jp_state_save(st, s, ts), 0);
	ck_assert_int_eq(jp_store_commit(s, NULL, NULL), 0);
}

static double latest(struct jp_store *s, const char *name)
{
	size_t n;
	double v = jp_test_sum_of(s, name, NULL, NULL, &n);
	ck_assert_uint_eq(n, 1);
	return v;
}

START_TEST(test_state_resume)
{
	state_dir_new();
	char ignored[256];
	struct jp_state *st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_str_eq(ignored, "");
	ck_assert_uint_eq(jp_state_loaded(st), 0);
	struct jp_store *s = mkstore(4);
	struct jp_store_resume r = jp_state_resume(st);
	jp_store_set_resume(s, &r);
	state_round(s, st, 1000, "u1", 10);
	state_round(s, st, 2000, "u1", 25);
	jp_store_destroy(s);
	jp_state_close(st);

	/* A restart: the pod goes on from 25 J and keeps its start; the gauge and the
	 * agent's own counter start afresh. */
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_str_eq(ignored, "");
	ck_assert_uint_eq(jp_state_loaded(st), 1);
	s = mkstore(4);
	r = jp_state_resume(st);
	jp_store_set_resume(s, &r);
	state_round(s, NULL, 9000, "u1", 4);
	ck_assert_double_eq(latest(s, "joulepush_pod_energy_joules_total"), 29);
	ck_assert_double_eq(latest(s, "joulepush_pod_power_watts"), 0.8);
	ck_assert_double_eq(latest(s, "joulepush_collections_total"), 3);
	struct jp_series *e = jp_store_get(s, "joulepush_pod_energy_joules_total",
					   (struct jp_label[]){L("namespace", "team-a"), L("pod", "web"), L("pod_uid", "u1"),
							       L("zone", "package"), L("mode", "active")}, 5);
	ck_assert_int_eq(e->start_ms, 1000);
	ck_assert_int_eq(jp_store_get(s, "joulepush_pod_power_watts", NULL, 0)->start_ms, 0);
	/* A second set in the same round replaces, base included. */
	jp_store_begin(s, 10000);
	jp_store_set(s, e, 5);
	jp_store_set(s, e, 6);
	ck_assert_int_eq(jp_state_save(st, s, 10000), 0);
	ck_assert_int_eq(jp_store_commit(s, NULL, NULL), 0);
	ck_assert_double_eq(latest(s, "joulepush_pod_energy_joules_total"), 31);
	jp_store_destroy(s);
	jp_state_close(st);

	/* A different pod (another UID) does not inherit anything, and the old one is not
	 * brought back: it is carried in the file for a while, then gone. */
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_uint_eq(jp_state_loaded(st), 1);
	s = mkstore(4);
	r = jp_state_resume(st);
	jp_store_set_resume(s, &r);
	state_round(s, st, 20000, "u2", 7);
	ck_assert_double_eq(latest(s, "joulepush_pod_energy_joules_total"), 7);
	jp_state_close(st);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_uint_eq(jp_state_loaded(st), 2);            /* u2, and u1 carried */
	r = jp_state_resume(st);
	jp_store_set_resume(s, &r);
	state_round(s, st, 21000, "u2", 8);                   /* first save: the window opens */
	state_round(s, st, 21000 + 11 * 60000, "u2", 9);      /* past it: u1 is dropped */
	jp_state_close(st);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_uint_eq(jp_state_loaded(st), 1);            /* u1 is gone */
	jp_state_close(st);
	jp_store_destroy(s);
	state_dir_rm();
}
END_TEST

/* A file that does not check out is reported and ignored; counters start at 0. */
START_TEST(test_state_corrupt)
{
	state_dir_new();
	char ignored[256], path[256];
	snprintf(path, sizeof(path), "%s/counters", state_dir);
	struct jp_state *st = state_open_ok(ignored, sizeof(ignored));
	struct jp_store *s = mkstore(4);
	state_round(s, st, 1000, "u1", 10);
	jp_state_close(st);
	jp_store_destroy(s);
	FILE *f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fclose(f);

	/* A flipped byte in a value. */
	f = fopen(path, "r+b");
	fseek(f, size - 10, SEEK_SET);
	int c = fgetc(f);
	fseek(f, size - 10, SEEK_SET);
	fputc(c ^ 0x40, f);
	fclose(f);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_msg(strstr(ignored, "checksum mismatch") != NULL, "%s", ignored);
	ck_assert_uint_eq(jp_state_loaded(st), 0);
	jp_state_close(st);

	/* A torn write: the file cut short. */
	ck_assert_int_eq(truncate(path, size - 7), 0);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_msg(strstr(ignored, "checksum mismatch") != NULL, "%s", ignored);
	jp_state_close(st);
	ck_assert_int_eq(truncate(path, 5), 0);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_msg(strstr(ignored, "not a counters file") != NULL, "%s", ignored);
	jp_state_close(st);

	/* A FIFO where the file should be: refused at once, not waited on. */
	unlink(path);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_msg(strstr(ignored, "not a regular file") != NULL, "%s", ignored);
	jp_state_close(st);
	unlink(path);

	/* A directory that cannot be one. */
	char why[256];
	ck_assert_ptr_null(jp_state_open("/proc/version/x", (uid_t)-1, why, sizeof(why), ignored, sizeof(ignored)));
	state_dir_rm();
}
END_TEST


/* What stands at counters.tmp does not stop the saves: a FIFO (it blocked the loop), a
 * link (every save failed, silently), a directory (refused and reported, never hangs). */
START_TEST(test_state_tmp_hostile)
{
	state_dir_new();
	char ignored[256], tmp[256], victim[256];
	snprintf(tmp, sizeof(tmp), "%s/counters.tmp", state_dir);
	snprintf(victim, sizeof(victim), "%s.victim", state_dir);
	FILE *f = fopen(victim, "w");
	fputs("not yours", f);
	fclose(f);
	struct jp_state *st = state_open_ok(ignored, sizeof(ignored));
	struct jp_store *s = mkstore(4);
	ck_assert_int_eq(mkfifo(tmp, 0600), 0);
	state_round(s, st, 1000, "u1", 10);         /* asserts the save returns 0 */
	/* The temporary is only written for a snapshot: the first save after an open. */
	jp_state_close(st);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_int_eq(symlink(victim, tmp), 0);
	state_round(s, st, 2000, "u1", 20);
	struct stat sb;
	ck_assert_int_eq(stat(victim, &sb), 0);
	ck_assert_int_eq((int)sb.st_size, 9);
	jp_state_close(st);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_int_eq(mkdir(tmp, 0700), 0);
	jp_store_begin(s, 3000);
	ck_assert_int_lt(jp_state_save(st, s, 3000), 0);
	jp_store_commit(s, NULL, NULL);
	rmdir(tmp);
	jp_state_close(st);
	jp_store_destroy(s);
	/* The last good save holds 20 J. */
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_str_eq(ignored, "");
	ck_assert_uint_eq(jp_state_loaded(st), 1);
	jp_state_close(st);
	unlink(victim);
	state_dir_rm();
}
END_TEST

/* A file of more entries than a node can have is refused before anything is built from
 * it, and one that holds many series this node does not have shrinks to the store's
 * size at the first save. */
START_TEST(test_state_bounds)
{
	char why[128];
	size_t n;
	struct jp_buf b = {0};
	uint32_t count = JP_STATE_MAX_ENTRIES + 1;
	jp_buf_append(&b, "JPSTATE1", 8);
	uint64_t zero = 0;
	jp_buf_append(&b, &zero, 8);
	jp_buf_append(&b, &count, 4);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t kl = 4;
		uint8_t e[20] = {0};
		jp_buf_append(&b, &kl, 4);
		jp_buf_append(&b, "a\0b", 4);
		jp_buf_append(&b, e, 16);
	}
	uint32_t crc = jp_crc32c(0, b.data + 8, b.len - 8);
	jp_buf_append(&b, &crc, 4);
	ck_assert_int_eq(jp_state_parse(b.data, b.len, NULL, &n, why, sizeof(why)), -EFBIG);
	ck_assert_ptr_nonnull(strstr(why, "more than"));
	jp_buf_free(&b);

	/* 500 series of pods long gone, then a store with one counter. */
	state_dir_new();
	char ignored[256];
	struct jp_state *st = state_open_ok(ignored, sizeof(ignored));
	struct jp_store *s = mkstore(4);
	jp_store_begin(s, 1000);
	for (int i = 0; i < 500; i++) {
		char uid[16];
		snprintf(uid, sizeof(uid), "gone-%d", i);
		struct jp_label pl[] = {L("namespace", "team-a"), L("pod", "web"), L("pod_uid", uid), L("zone", "package"), L("mode", "active")};
		jp_store_set(s, jp_store_get(s, "joulepush_pod_energy_joules_total", pl, 5), i);
	}
	ck_assert_int_eq(jp_state_save(st, s, 1000), 0);
	jp_store_commit(s, NULL, NULL);
	jp_state_close(st);
	jp_store_destroy(s);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_uint_eq(jp_state_loaded(st), 500);
	s = mkstore(4);
	struct jp_store_resume r = jp_state_resume(st);
	jp_store_set_resume(s, &r);
	state_round(s, st, 2000, "u1", 10);
	jp_store_set_resume(s, NULL);
	jp_state_close(st);
	jp_store_destroy(s);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_uint_eq(jp_state_loaded(st), 2);    /* u1 and one carried */
	jp_state_close(st);
	state_dir_rm();
}
END_TEST

static void copy_file(const char *from, const char *to)
{
	FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
	ck_assert(a && b);
	int c;
	while ((c = fgetc(a)) != EOF)
		fputc(c, b);
	fclose(a);
	ck_assert_int_eq(fclose(b), 0);
}

static off_t file_size(const char *name)
{
	char p[256];
	struct stat sb;
	snprintf(p, sizeof(p), "%s/%s", state_dir, name);
	return stat(p, &sb) ? -1 : sb.st_size;
}

/* n pods' energy counters in one round, pod i at base + i joules. */
static void many_round(struct jp_store *s, struct jp_state *st, int64_t ts, int n, double base)
{
	jp_store_begin(s, ts);
	for (int i = 0; i < n; i++) {
		char uid[16];
		snprintf(uid, sizeof(uid), "p%d", i);
		struct jp_label pl[] = {L("namespace", "team-a"), L("pod", "web"), L("pod_uid", uid), L("zone", "package"), L("mode", "active")};
		jp_store_set(s, jp_store_get(s, "joulepush_pod_energy_joules_total", pl, 5), base + i);
	}
	jp_store_set(s, jp_store_get(s, "joulepush_pod_power_watts", NULL, 0), 1);
	ck_assert_int_eq(jp_state_save(st, s, ts), 0);
	ck_assert_int_eq(jp_store_commit(s, NULL, NULL), 0);
}

static double resumed(struct jp_state *st, const char *uid)
{
	struct jp_store *s = mkstore(4);
	struct jp_store_resume r = jp_state_resume(st);
	jp_store_set_resume(s, &r);
	struct jp_label pl[] = {L("namespace", "team-a"), L("pod", "web"), L("pod_uid", uid), L("zone", "package"), L("mode", "active")};
	jp_store_begin(s, 1);
	jp_store_set(s, jp_store_get(s, "joulepush_pod_energy_joules_total", pl, 5), 0);
	jp_store_commit(s, NULL, NULL);
	double v = latest(s, "joulepush_pod_energy_joules_total");
	jp_store_destroy(s);
	return v;
}

/* Between snapshots a round appends its values to the journal (8 bytes a counter in one
 * run of slots, the gauge not among them) and leaves the snapshot alone; reading back gives the last round,
 * a counter first seen after the snapshot included; a torn last record gives the round
 * before; a journal of another snapshot is ignored; past four snapshots' size the next
 * save writes a snapshot again. */
START_TEST(test_state_journal)
{
	state_dir_new();
	char ignored[256], p[256], q[256];
	struct jp_state *st = state_open_ok(ignored, sizeof(ignored));
	struct jp_store *s = mkstore(4);
	many_round(s, st, 1000, 100, 0);                 /* the first save: a snapshot */
	off_t snap = file_size("counters");
	ck_assert_int_eq(file_size("counters.log"), 20);
	snprintf(p, sizeof(p), "%s/counters", state_dir);
	snprintf(q, sizeof(q), "%s/counters.old", state_dir);
	copy_file(p, q);                                  /* kept for the mismatch below */
	many_round(s, st, 2000, 100, 1000);
	ck_assert_int_eq(file_size("counters"), snap);
	/* Record length, type, saved_ms, one run (first slot, count), 100 values, CRC. */
	ck_assert_int_eq(file_size("counters.log"), 20 + 4 + 1 + 8 + 8 + 100 * 8 + 4);
	many_round(s, st, 3000, 101, 2000);              /* p100 is new: one 'D' record */
	off_t two = file_size("counters.log");
	jp_state_close(st);
	jp_store_destroy(s);

	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_str_eq(ignored, "");
	ck_assert_uint_eq(jp_state_loaded(st), 101);
	ck_assert_double_eq(resumed(st, "p7"), 2007);
	ck_assert_double_eq(resumed(st, "p100"), 2100);
	jp_state_close(st);

	/* The last record torn: the round before it. */
	snprintf(p, sizeof(p), "%s/counters.log", state_dir);
	ck_assert_int_eq(truncate(p, two - 3), 0);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_str_eq(ignored, "");
	ck_assert_double_eq(resumed(st, "p7"), 1007);
	ck_assert_uint_eq(jp_state_loaded(st), 100);    /* p100's 'D' went with the torn round */
	jp_state_close(st);

	/* Another snapshot's journal (as after a crash between the two writes): the
	 * snapshot alone. */
	snprintf(p, sizeof(p), "%s/counters", state_dir);
	ck_assert_int_eq(rename(q, p), 0);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_double_eq(resumed(st, "p7"), 1007);
	s = mkstore(4);
	many_round(s, st, 4000, 100, 5000);              /* snapshot at 4000 */
	jp_state_close(st);
	snprintf(q, sizeof(q), "%s/counters.old", state_dir);
	copy_file(p, q);
	st = state_open_ok(ignored, sizeof(ignored));
	many_round(s, st, 5000, 100, 6000);              /* snapshot at 5000, journal of 5000 */
	many_round(s, st, 6000, 100, 7000);
	jp_state_close(st);
	ck_assert_int_eq(rename(q, p), 0);               /* the 4000 snapshot with 5000's journal */
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_double_eq(resumed(st, "p7"), 5007);
	jp_state_close(st);

	/* Compaction: 2000 counters are 16 KB a round; past 256 KiB the snapshot is new. */
	st = state_open_ok(ignored, sizeof(ignored));
	jp_store_destroy(s);
	s = mkstore(4);
	struct jp_store_resume r = jp_state_resume(st);
	jp_store_set_resume(s, &r);      /* as the agent: a counter in the file goes on */
	int64_t ts = 10000;
	many_round(s, st, ts, 2000, 0);
	off_t first = file_size("counters");
	int rounds = 0;
	while (file_size("counters.log") > 20 || rounds == 0) {
		many_round(s, st, ts += 1000, 2000, (double)rounds);
		rounds++;
		ck_assert_int_lt(rounds, 200);
	}
	/* Round m writes a snapshot when the m - 1 before it passed the limit. */
	long limit = 4 * first > (256 << 10) ? 4 * first : (256 << 10), rec = 4 + 1 + 8 + 8 + 2000 * 8 + 4;
	ck_assert_int_eq(rounds, (int)((limit - 20) / rec) + 2);
	ck_assert_int_eq(file_size("counters"), first);
	jp_store_set_resume(s, NULL);
	jp_state_close(st);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_double_eq(resumed(st, "p7"), 5007 + rounds - 1 + 7);
	jp_state_close(st);
	jp_store_destroy(s);
	state_dir_rm();
}
END_TEST

/* Series set in another order than their slots: runs would take more than 12 bytes a
 * value, so the round is written as slot and value pairs ('R'), and reads back the same. A
 * round partly in order takes runs again. */
static void many_round_order(struct jp_store *s, struct jp_state *st, int64_t ts, int n, double base, int reverse)
{
	jp_store_begin(s, ts);
	for (int k = 0; k < n; k++) {
		int i = reverse ? n - 1 - k : k;
		char uid[16];
		snprintf(uid, sizeof(uid), "p%d", i);
		struct jp_label pl[] = {L("namespace", "team-a"), L("pod", "web"), L("pod_uid", uid), L("zone", "package"), L("mode", "active")};
		jp_store_set(s, jp_store_get(s, "joulepush_pod_energy_joules_total", pl, 5), base + i);
	}
	ck_assert_int_eq(jp_state_save(st, s, ts), 0);
	ck_assert_int_eq(jp_store_commit(s, NULL, NULL), 0);
}

START_TEST(test_state_journal_order)
{
	state_dir_new();
	char ignored[256];
	struct jp_state *st = state_open_ok(ignored, sizeof(ignored));
	struct jp_store *s = mkstore(4);
	many_round_order(s, st, 1000, 100, 0, 0);         /* the snapshot: slots 0..99 */
	many_round_order(s, st, 2000, 100, 1000, 1);      /* slots 99, 98, ...: 100 runs of one */
	ck_assert_int_eq(file_size("counters.log"), 20 + 4 + 1 + 8 + 100 * 12 + 4);
	many_round_order(s, st, 3000, 100, 2000, 0);      /* in order again: one run */
	ck_assert_int_eq(file_size("counters.log"), 20 + (4 + 1 + 8 + 100 * 12 + 4) + (4 + 1 + 8 + 8 + 100 * 8 + 4));
	jp_state_close(st);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_double_eq(resumed(st, "p0"), 2000);
	ck_assert_double_eq(resumed(st, "p99"), 2099);
	jp_state_close(st);
	/* Only the 'R' round: its values, read from slot and value pairs. */
	char p[256];
	snprintf(p, sizeof(p), "%s/counters.log", state_dir);
	ck_assert_int_eq(truncate(p, 20 + 4 + 1 + 8 + 100 * 12 + 4), 0);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_double_eq(resumed(st, "p0"), 1000);
	ck_assert_double_eq(resumed(st, "p99"), 1099);
	jp_state_close(st);
	jp_store_destroy(s);
	state_dir_rm();
}
END_TEST

/* A FIFO at the journal's name does not block a save; a carried entry taken up again
 * after the snapshot (a pod the kubelet named late) reads back with its new value. */
START_TEST(test_state_journal_hostile)
{
	state_dir_new();
	char ignored[256], p[256];
	snprintf(p, sizeof(p), "%s/counters.log", state_dir);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	struct jp_state *st = state_open_ok(ignored, sizeof(ignored));
	struct jp_store *s = mkstore(4);
	many_round(s, st, 1000, 3, 0);
	many_round(s, st, 2000, 3, 10);
	struct stat sb;
	ck_assert_int_eq(stat(p, &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	jp_state_close(st);
	jp_store_destroy(s);
	/* Restart with p0 and p1 only: p2 is carried in the snapshot; then p2 comes back. */
	st = state_open_ok(ignored, sizeof(ignored));
	s = mkstore(4);
	struct jp_store_resume r = jp_state_resume(st);
	jp_store_set_resume(s, &r);
	many_round(s, st, 3000, 2, 1);                   /* p0 = 10 + 1, p1 = 11 + 2 */
	many_round(s, st, 4000, 3, 5);                   /* p2 = 12 + 7: a 'D' for the key */
	jp_store_set_resume(s, NULL);
	jp_state_close(st);
	jp_store_destroy(s);
	st = state_open_ok(ignored, sizeof(ignored));
	ck_assert_uint_eq(jp_state_loaded(st), 3);
	ck_assert_double_eq(resumed(st, "p2"), 19);
	ck_assert_double_eq(resumed(st, "p0"), 15);
	jp_state_close(st);
	state_dir_rm();
}
END_TEST

/* Parser edge cases, as the fuzzer sees them. */
START_TEST(test_state_parse)
{
	char why[128];
	size_t n;
	ck_assert_int_eq(jp_state_parse((const uint8_t *)"JPSTATE1", 8, NULL, &n, why, sizeof(why)), -EINVAL);
	/* Header, zero entries, checksum of the 12 bytes after the magic. */
	uint8_t b[24] = "JPSTATE1";
	uint32_t crc = jp_crc32c(0, b + 8, 12);
	memcpy(b + 20, &crc, 4);
	ck_assert_int_eq(jp_state_parse(b, sizeof(b), NULL, &n, why, sizeof(why)), 0);
	ck_assert_uint_eq(n, 0);
	b[16] = 200;   /* 200 entries in no bytes */
	crc = jp_crc32c(0, b + 8, 12);
	memcpy(b + 20, &crc, 4);
	ck_assert_int_eq(jp_state_parse(b, sizeof(b), NULL, &n, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "cannot fit"));
	ck_assert(jp_state_resumable("joulepush_namespace_co2_grams_total"));
	ck_assert(jp_state_resumable("kepler_pod_cpu_joules_total"));
	ck_assert(!jp_state_resumable("joulepush_node_power_watts"));
	ck_assert(!jp_state_resumable("joulepush_remote_samples_total"));
	ck_assert(!jp_state_resumable("joulepush_made_up_total"));
}
END_TEST

START_TEST(test_metric_table)
{
	const char *names[] = {
		"joulepush_node_energy_joules_total", "joulepush_node_power_watts",
		"joulepush_node_cpu_usage_ratio", "joulepush_node_co2_grams_total",
		"joulepush_pod_energy_joules_total", "joulepush_pod_power_watts",
		"joulepush_pod_cpu_seconds_total", "joulepush_pod_co2_grams_total",
		"joulepush_pod_embodied_co2_grams_total", "joulepush_container_energy_joules_total",
		"joulepush_container_cpu_seconds_total", "joulepush_namespace_energy_joules_total",
		"joulepush_namespace_co2_grams_total", "joulepush_system_energy_joules_total",
		"joulepush_grid_carbon_intensity_grams_per_kwh", "joulepush_grid_generation_megawatts",
		"joulepush_grid_renewable_ratio", "joulepush_build_info", "joulepush_remote_samples_total",
		"joulepush_remote_pending_samples", "joulepush_remote_queue_bytes",
		"joulepush_remote_last_success_timestamp_seconds", "joulepush_collections_total",
		"joulepush_collection_errors_total", "joulepush_store_series",
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		ck_assert_ptr_nonnull(jp_metric_help(names[i]));
		const char *t = jp_metric_type(names[i]);
		size_t n = strlen(names[i]);
		int is_counter = n > 6 && strcmp(names[i] + n - 6, "_total") == 0;
		ck_assert_str_eq(t, is_counter ? "counter" : "gauge");
	}
	ck_assert_ptr_null(jp_metric_help("nope"));
	ck_assert_str_eq(jp_metric_type("nope"), "untyped");
}
END_TEST

/* docs/reference/metrics.md lists every metric of the table with its type, and nothing
 * else: the contract users read is the one the agent follows. */
START_TEST(test_metrics_reference)
{
	FILE *f = fopen(JP_SRCDIR "/docs/reference/metrics.md", "r");
	ck_assert_ptr_nonnull(f);
	char line[1024];
	size_t ndoc = 0;
	while (fgets(line, sizeof(line), f)) {
		/* Table rows: | `name` | type | ... */
		if (strncmp(line, "| `", 3) != 0)
			continue;
		/* Cells: name, type and, in the main table, unit, labels, what. */
		char *cell[6] = {0};
		int ncell = 0;
		line[strcspn(line, "\n")] = '\0';
		for (char *p = line + 1, *bar; ncell < 6 && (bar = strchr(p, '|')); p = bar + 1) {
			*bar = '\0';
			char *c = p + strspn(p, " ");
			for (char *e = c + strlen(c); e > c && e[-1] == ' '; e--)
				e[-1] = '\0';
			cell[ncell++] = c;
		}
		ck_assert_int_ge(ncell, 2);
		char *name = cell[0] + 1;
		name[strcspn(name, "`")] = '\0';
		const char *type = cell[1];
		const struct jp_metric_def *m = jp_metric_find(name);
		ck_assert_msg(m != NULL, "metrics.md lists %s, which the agent does not know", name);
		ck_assert_msg(strcmp(jp_metric_type(name), type) == 0, "%s: metrics.md says %s, the agent %s", name,
			      type, jp_metric_type(name));
		if (ncell >= 4) {
			ck_assert_msg(strcmp(m->unit, cell[2]) == 0, "%s: metrics.md unit \"%s\", metrics.h \"%s\"", name,
				      cell[2], m->unit);
			ck_assert_msg(strcmp(m->labels, cell[3]) == 0, "%s: metrics.md labels \"%s\", metrics.h \"%s\"",
				      name, cell[3], m->labels);
		}
		ndoc++;
	}
	fclose(f);
	size_t ntab = 0;
	while (jp_metric_name_at(ntab))
		ntab++;
	ck_assert_msg(ndoc == ntab, "metrics.md has %zu metrics, the agent's table %zu", ndoc, ntab);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("store");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sorted_unique);
	tcase_add_test(tc, test_common_and_empty);
	tcase_add_test(tc, test_interning);
	tcase_add_test(tc, test_rounds_and_stale);
	tcase_add_test(tc, test_ids_never_reused);
	tcase_add_test(tc, test_ring_bounded);
	tcase_add_test(tc, test_memory_proportional);
	tcase_add_test(tc, test_memory_10k);
	tcase_add_test(tc, test_expo);
	tcase_add_test(tc, test_state_resume);
	tcase_add_test(tc, test_state_corrupt);
	tcase_add_test(tc, test_state_parse);
	tcase_add_test(tc, test_state_tmp_hostile);
	tcase_add_test(tc, test_state_bounds);
	tcase_add_test(tc, test_state_journal);
	tcase_add_test(tc, test_state_journal_order);
	tcase_add_test(tc, test_state_journal_hostile);
	tcase_add_test(tc, test_metric_table);
	tcase_add_test(tc, test_metrics_reference);
	suite_add_tcase(su, tc);
	SRunner *sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
