/* SPDX-License-Identifier: Apache-2.0 */
/* Tests of energy attribution: hand-checked cases and conservation over random inputs. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "attrib/attribution.h"

#define ALL_ZONES ((1u << JP_ZONE_COUNT) - 1)

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next_u64(void)
{
	/* splitmix64: a fixed sequence, so a failure reproduces. */
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static double next_unit(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }

/* Σ workloads (active + idle) + unattributed idle for zone z. */
static double total_of(const struct jp_attr_node *node, const struct jp_attr_workload *w, size_t n, int z)
{
	double s = node->unattributed_idle_j[z];
	for (size_t i = 0; i < n; i++)
		s += w[i].active_j[z] + w[i].idle_j[z];
	return s;
}

START_TEST(test_hand_example)
{
	/* 100 J, u = 0.6: 60 J active shared 3:1:0 (pod a, pod b, system idle),
	 * 40 J idle split evenly over the two pods. */
	struct jp_attr_node node = {.zone_mask = 1u << JP_ZONE_PACKAGE, .usage_ratio = 0.6,
				    .idle_mode = JP_IDLE_EVEN};
	node.energy_j[JP_ZONE_PACKAGE] = 100;
	struct jp_attr_workload w[3] = {
		{.cpu_ns = 3000, .is_pod = 1}, {.cpu_ns = 1000, .is_pod = 1}, {.cpu_ns = 0, .is_pod = 0}};
	ck_assert_int_eq(jp_attribute(&node, w, 3), 0);
	ck_assert_double_eq_tol(w[0].active_j[JP_ZONE_PACKAGE], 45.0, 1e-9);
	ck_assert_double_eq_tol(w[1].active_j[JP_ZONE_PACKAGE], 15.0, 1e-9);
	ck_assert_double_eq_tol(w[2].active_j[JP_ZONE_PACKAGE], 0.0, 1e-12);
	ck_assert_double_eq_tol(w[0].idle_j[JP_ZONE_PACKAGE], 20.0, 1e-9);
	ck_assert_double_eq_tol(w[1].idle_j[JP_ZONE_PACKAGE], 20.0, 1e-9);
	ck_assert_double_eq_tol(w[2].idle_j[JP_ZONE_PACKAGE], 0.0, 1e-12);
	ck_assert_double_eq_tol(node.unattributed_idle_j[JP_ZONE_PACKAGE], 0.0, 1e-12);
	/* Zones that do not exist get nothing. */
	ck_assert_double_eq(w[0].active_j[JP_ZONE_DRAM], 0.0);
}
END_TEST

START_TEST(test_idle_modes)
{
	struct jp_attr_workload w[3] = {
		{.cpu_ns = 100, .cpu_request = 0.5, .is_pod = 1},
		{.cpu_ns = 300, .cpu_request = 0, .is_pod = 1},
		{.cpu_ns = 100, .is_pod = 0}};
	struct jp_attr_node node = {.zone_mask = 1u << JP_ZONE_DRAM, .usage_ratio = 0.5};
	node.energy_j[JP_ZONE_DRAM] = 10;

	node.idle_mode = JP_IDLE_NONE;
	ck_assert_int_eq(jp_attribute(&node, w, 3), 0);
	ck_assert_double_eq_tol(node.unattributed_idle_j[JP_ZONE_DRAM], 5.0, 1e-12);
	ck_assert_double_eq(w[0].idle_j[JP_ZONE_DRAM], 0.0);

	node.idle_mode = JP_IDLE_USAGE;
	ck_assert_int_eq(jp_attribute(&node, w, 3), 0);
	ck_assert_double_eq_tol(w[0].idle_j[JP_ZONE_DRAM], 1.0, 1e-12);
	ck_assert_double_eq_tol(w[1].idle_j[JP_ZONE_DRAM], 3.0, 1e-12);
	ck_assert_double_eq_tol(w[2].idle_j[JP_ZONE_DRAM], 1.0, 1e-12);
	ck_assert_double_eq_tol(node.unattributed_idle_j[JP_ZONE_DRAM], 0.0, 1e-12);

	/* requests: only the pod with a request carries idle energy. */
	node.idle_mode = JP_IDLE_REQUESTS;
	ck_assert_int_eq(jp_attribute(&node, w, 3), 0);
	ck_assert_double_eq_tol(w[0].idle_j[JP_ZONE_DRAM], 5.0, 1e-12);
	ck_assert_double_eq(w[1].idle_j[JP_ZONE_DRAM], 0.0);
	ck_assert_double_eq(w[2].idle_j[JP_ZONE_DRAM], 0.0);
}
END_TEST

START_TEST(test_no_pods_and_no_cpu)
{
	/* A node with no pods and a system bucket that used no CPU: active energy goes to
	 * the system bucket, idle with "even" has no pod to go to and stays on the node. */
	struct jp_attr_node node = {.zone_mask = ALL_ZONES, .usage_ratio = 0.25, .gpu_usage_ratio = 0.25,
				    .idle_mode = JP_IDLE_EVEN};
	for (int z = 0; z < JP_ZONE_COUNT; z++)
		node.energy_j[z] = 8.0 * (z + 1);
	struct jp_attr_workload sys = {.cpu_ns = 0, .is_pod = 0};
	ck_assert_int_eq(jp_attribute(&node, &sys, 1), 0);
	for (int z = 0; z < JP_ZONE_COUNT; z++) {
		ck_assert_double_eq_tol(sys.active_j[z], node.energy_j[z] * 0.25, 1e-12);
		ck_assert_double_eq_tol(node.unattributed_idle_j[z], node.energy_j[z] * 0.75, 1e-12);
	}
	/* No workloads at all: everything stays on the node. */
	ck_assert_int_eq(jp_attribute(&node, NULL, 0), 0);
	for (int z = 0; z < JP_ZONE_COUNT; z++)
		ck_assert_double_eq_tol(node.unattributed_idle_j[z], node.energy_j[z], 1e-12);
}
END_TEST

START_TEST(test_bad_input)
{
	struct jp_attr_node node = {.zone_mask = 1u, .usage_ratio = 0.5};
	struct jp_attr_workload w = {.cpu_ns = 1, .is_pod = 1};
	node.energy_j[0] = -1;
	ck_assert_int_lt(jp_attribute(&node, &w, 1), 0);
	node.energy_j[0] = NAN;
	ck_assert_int_lt(jp_attribute(&node, &w, 1), 0);
	/* A usage ratio outside [0, 1] is clamped, so the split stays inside E. */
	node.energy_j[0] = 10;
	node.usage_ratio = 1.7;
	ck_assert_int_eq(jp_attribute(&node, &w, 1), 0);
	ck_assert_double_eq_tol(node.active_j[0], 10.0, 1e-12);
	ck_assert_double_eq_tol(node.idle_j[0], 0.0, 1e-12);
}
END_TEST

/* Conservation as a property: many random nodes (random zones, energies from 0 to
 * kilojoules, including the large delta of a wrapped counter), random workload counts
 * with pods appearing (CPU > 0) and absent (CPU = 0), every idle mode. */
START_TEST(test_conservation_random)
{
	enum { ROUNDS = 10000, MAXW = 64 };
	struct jp_attr_workload w[MAXW];
	for (int round = 0; round < ROUNDS; round++) {
		struct jp_attr_node node = {0};
		node.zone_mask = (unsigned)(next_u64() & ALL_ZONES);
		node.usage_ratio = next_unit();
		node.gpu_usage_ratio = next_unit();
		node.idle_mode = (enum jp_idle_attr)(next_u64() % 4);
		for (int z = 0; z < JP_ZONE_COUNT; z++) {
			double e = next_unit() * 5000.0;
			if (next_u64() % 50 == 0)
				e = 262143.328850 * next_unit();   /* a wrapped 2^38 µJ counter's worth */
			if (next_u64() % 20 == 0)
				e = 0;
			node.energy_j[z] = e;
		}
		size_t n = (size_t)(next_u64() % MAXW);
		for (size_t i = 0; i < n; i++) {
			w[i] = (struct jp_attr_workload){0};
			w[i].is_pod = i != 0;
			w[i].cpu_ns = next_u64() % 3 == 0 ? 0 : next_u64() % 10000000000ULL;
			w[i].cpu_request = next_u64() % 2 ? next_unit() * 4 : 0;
			w[i].gpu_j = next_u64() % 2 ? next_unit() * 300 : 0;
		}
		ck_assert_int_eq(jp_attribute(&node, w, n), 0);
		for (int z = 0; z < JP_ZONE_COUNT; z++) {
			double e = (node.zone_mask & (1u << z)) ? node.energy_j[z] : 0.0;
			double got = total_of(&node, w, n, z);
			ck_assert_msg(fabs(got - e) <= 1e-9 * (e > 1 ? e : 1),
				      "round %d zone %d: parts %.17g != node %.17g", round, z, got, e);
			for (size_t i = 0; i < n; i++) {
				ck_assert(w[i].active_j[z] >= -1e-9 && w[i].idle_j[z] >= -1e-9);
				/* Active shares follow CPU time (GPU use for the gpu zone; both
				 * for platform, which has a GPU part). */
				double wt = z == JP_ZONE_GPU ? w[i].gpu_j
					  : z == JP_ZONE_PLATFORM ? (double)w[i].cpu_ns + w[i].gpu_j : (double)w[i].cpu_ns;
				if (wt == 0 && i != 0)
					ck_assert_double_eq(w[i].active_j[z], 0.0);
			}
		}
	}
}
END_TEST

/* GPU energy: active = E × GPU utilisation, by the workloads' GPU energy weights; idle by
 * GPU use under idle_attribution usage. The platform meter's GPU part follows the gpu
 * zone, the rest goes by CPU time. */
START_TEST(test_gpu_and_platform)
{
	struct jp_attr_node node = {.zone_mask = (1u << JP_ZONE_GPU) | (1u << JP_ZONE_PLATFORM),
				    .usage_ratio = 0.5, .gpu_usage_ratio = 0.8, .idle_mode = JP_IDLE_USAGE};
	node.energy_j[JP_ZONE_GPU] = 100;
	node.energy_j[JP_ZONE_PLATFORM] = 160;
	struct jp_attr_workload w[3] = {
		{.cpu_ns = 0, .is_pod = 0, .gpu_j = 0},
		{.cpu_ns = 1000, .is_pod = 1, .gpu_j = 30},   /* GPU 3 : 1, CPU 1 : 3 */
		{.cpu_ns = 3000, .is_pod = 1, .gpu_j = 10},
	};
	ck_assert_int_eq(jp_attribute(&node, w, 3), 0);
	const int G = JP_ZONE_GPU, P = JP_ZONE_PLATFORM;
	ck_assert_double_eq_tol(w[1].active_j[G], 60, 1e-9);
	ck_assert_double_eq_tol(w[2].active_j[G], 20, 1e-9);
	ck_assert_double_eq_tol(w[1].idle_j[G], 15, 1e-9);
	ck_assert_double_eq_tol(w[2].idle_j[G], 5, 1e-9);
	ck_assert_double_eq_tol(w[0].active_j[G] + w[0].idle_j[G], 0, 1e-9);
	/* Platform: 100 J as the GPU (75 / 25), 60 J by CPU: active 30 as 1 : 3, idle 30 as 1 : 3. */
	ck_assert_double_eq_tol(w[1].active_j[P] + w[1].idle_j[P], 75 + 15, 1e-9);
	ck_assert_double_eq_tol(w[2].active_j[P] + w[2].idle_j[P], 25 + 45, 1e-9);
	ck_assert_double_eq_tol(node.active_j[P], 80 + 30, 1e-9);
	/* A meter below the GPUs' own reading: all of it follows the gpu zone. */
	node.energy_j[P] = 50;
	ck_assert_int_eq(jp_attribute(&node, w, 3), 0);
	ck_assert_double_eq_tol(w[1].active_j[P] + w[1].idle_j[P], 37.5, 1e-9);
	ck_assert_double_eq_tol(w[2].active_j[P] + w[2].idle_j[P], 12.5, 1e-9);
	/* No GPU user known: the active GPU energy goes to the system bucket. */
	w[1].gpu_j = w[2].gpu_j = 0;
	ck_assert_int_eq(jp_attribute(&node, w, 3), 0);
	ck_assert_double_eq_tol(w[0].active_j[G], 80, 1e-9);
}
END_TEST

START_TEST(test_power_model)
{
	/* 4 CPUs, defaults 0.74 .. 3.5 W per CPU. */
	ck_assert_double_eq_tol(jp_power_model_watts(4, 0, 0.74, 3.5), 2.96, 1e-12);
	ck_assert_double_eq_tol(jp_power_model_watts(4, 1, 0.74, 3.5), 14.0, 1e-12);
	ck_assert_double_eq_tol(jp_power_model_watts(4, 0.5, 0.74, 3.5), 4 * (0.74 + 0.5 * 2.76), 1e-12);
	ck_assert_double_eq_tol(jp_power_model_watts(2, 2.0, 1, 3), 6.0, 1e-12);
	ck_assert_double_eq_tol(jp_co2_grams(3.6e6, 475, 1.2), 570.0, 1e-9);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("attribution");
	TCase *tc = tcase_create("core");
	/* The random property runs many rounds; sanitizer builds are several times slower. */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_hand_example);
	tcase_add_test(tc, test_idle_modes);
	tcase_add_test(tc, test_no_pods_and_no_cpu);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_conservation_random);
	tcase_add_test(tc, test_gpu_and_platform);
	tcase_add_test(tc, test_power_model);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
