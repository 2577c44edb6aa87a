/* SPDX-License-Identifier: Apache-2.0 */
/* Table-driven tests for pods from cgroup paths (src/collect/cgroup_pods.c), docs/model.md. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/cgroup_pods.h"

#define UID "0f3e2c1a-9b8d-4e7f-a6b5-c4d3e2f1a0b9"
#define UID_ "0f3e2c1a_9b8d_4e7f_a6b5_c4d3e2f1a0b9"
#define UID2 "7c1d5e9a-0b2c-4d3e-8f4a-5b6c7d8e9f01"
#define UIDS "4b1f8c2d9e3a7b6c5d4e3f2a1b0c9d8e" /* a static pod: the kubelet's config hash */
#define CID "3b7e1f9a2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e1f"
#define CIDU "3B7E1F9A2C4D6E8F0A1B3C5D7E9F1A2B4C6D8E0F1A3B5C7D9E1F2A4B6C8D0E1F"
#define CID2 "f00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dface"
#define HOSTID "9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c"

enum { G = JP_QOS_GUARANTEED, B = JP_QOS_BURSTABLE, BE = JP_QOS_BESTEFFORT, QN = JP_QOS_UNKNOWN };
enum { CD = JP_RUNTIME_CONTAINERD, CR = JP_RUNTIME_CRIO, DK = JP_RUNTIME_DOCKER, RU = JP_RUNTIME_UNKNOWN };

struct row {
	const char *what, *path;
	bool is_pod;
	const char *uid, *cid;
	int qos, runtime;
	bool conmon;
	int level; /* 0: neither, 1: the path is the pod cgroup, 2: the container cgroup */
	const char *root; /* kubernetes.cgroup_root for this row; NULL: the cgroup root */
};

static const struct row rows[] = {
	/* ---- kubelet systemd driver (cgroup v2 and v1) ---- */
	{"systemd burstable containerd",
	 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/cri-containerd-" CID ".scope",
	 true, UID, CID, B, CD, false, 2},
	{"systemd besteffort cri-o",
	 "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/crio-" CID ".scope",
	 true, UID, CID, BE, CR, false, 2},
	{"systemd guaranteed docker (cri-dockerd)",
	 "/kubepods.slice/kubepods-pod" UID_ ".slice/docker-" CID ".scope", true, UID, CID, G, DK, false, 2},
	{"systemd burstable pod-level cgroup",
	 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice", true, UID, "", B, RU,
	 false, 1},
	{"systemd guaranteed pod-level cgroup", "/kubepods.slice/kubepods-pod" UID_ ".slice", true, UID, "", G,
	 RU, false, 1},
	{"cri-o conmon scope belongs to the pod",
	 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/crio-conmon-" CID ".scope",
	 true, UID, "", B, CR, true, 0},
	{"crun's container sub-cgroup inside the scope",
	 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_ ".slice/crio-" CID ".scope/container",
	 true, UID, CID, B, CR, false, 0},
	{"cgroup v1 controller prefix, systemd driver, as the cgroup root",
	 "/sys/fs/cgroup/cpu,cpuacct/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
	 ".slice/docker-" CID ".scope", true, UID, CID, B, DK, false, 0, "/sys/fs/cgroup/cpu,cpuacct"},
	{"/proc/<pid>/cgroup line",
	 "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" CID
	 ".scope", true, UID, CID, BE, CD, false, 0},
	{"kind: kubelet cgroup root /kubelet on systemd",
	 "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod"
	 UID_ ".slice/cri-containerd-" CID ".scope", true, UID, CID, BE, CD, false, 2},
	{"kind: guaranteed under a cgroup root",
	 "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod" UID_ ".slice/cri-containerd-" CID ".scope",
	 true, UID, CID, G, CD, false, 2},
	{"containerd SystemdCgroup name under containerd.service",
	 "/system.slice/containerd.service/kubepods-burstable-pod" UID_ ".slice:cri-containerd:" CID, true, UID,
	 CID, B, CD, false, 2},
	{"static pod, systemd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDS
	 ".slice/cri-containerd-" CID ".scope", true, UIDS, CID, B, CD, false, 2},
	/* ---- kubelet cgroupfs driver ---- */
	{"cgroupfs besteffort", "/kubepods/besteffort/pod" UID "/" CID, true, UID, CID, BE, RU, false, 2},
	{"cgroupfs guaranteed", "/kubepods/pod" UID "/" CID, true, UID, CID, G, RU, false, 2},
	{"cgroupfs burstable pod-level", "/kubepods/burstable/pod" UID, true, UID, "", B, RU, false, 1},
	{"cgroupfs cri-o", "/kubepods/burstable/pod" UID "/crio-" CID, true, UID, CID, B, CR, false, 2},
	{"cgroupfs cri-o conmon", "/kubepods/burstable/pod" UID "/crio-conmon-" CID, true, UID, "", B, CR, true, 0},
	{"cgroup v1 cpu,cpuacct prefix as the cgroup root", "/sys/fs/cgroup/cpu,cpuacct/kubepods/burstable/pod" UID "/" CID, true, UID,
	 CID, B, RU, false, 2, "sys/fs/cgroup/cpu,cpuacct/"},
	{"kind on a cgroup v1 docker host, with its cgroup root",
	 "/docker/" HOSTID "/kubelet/kubepods/burstable/pod" UID "/" CID, true, UID, CID, B, RU, false, 2,
	 "/docker/" HOSTID "/kubelet"},
	{"k3d/kind node in a docker scope (v2), with its cgroup root",
	 "/system.slice/docker-" HOSTID ".scope/kubepods/besteffort/pod" UID "/" CID, true, UID, CID, BE, RU,
	 false, 2, "/system.slice/docker-" HOSTID ".scope"},
	{"upper-case container id (stored in lower case)", "/kubepods/besteffort/pod" UID "/" CIDU, true, UID, CID, BE,
	 RU, false, 2},
	{"upper-case containerd scope", "/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" CIDU ".scope",
	 true, UID, CID, G, CD, false, 2},
	{"pause (sandbox) container: a container like any other", "/kubepods/besteffort/pod" UID "/" CID2, true,
	 UID, CID2, BE, RU, false, 2},
	{"static pod, cgroupfs", "/kubepods/burstable/pod" UIDS "/" CID, true, UIDS, CID, B, RU, false, 2},
	{"nested node in a pod: the outer pod owns it",
	 "/kubepods/burstable/pod" UID "/" CID "/kubelet/kubepods/besteffort/pod" UID2 "/" CID2, true, UID, CID, B,
	 RU, false, 0},
	{"child of a pod that is not a container", "/kubepods/burstable/pod" UID "/not-a-container", true, UID, "",
	 B, RU, false, 0},
	{"container id one char short: the pod's",
	 "/kubepods/burstable/pod" UID "/3b7e1f9a2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e1", true,
	 UID, "", B, RU, false, 0},
	{"bare id with .scope is not a container", "/kubepods/burstable/pod" UID "/" CID ".scope", true, UID, "", B,
	 RU, false, 0},
	{"double and trailing slashes", "//kubepods//burstable/pod" UID "/" CID "/", true, UID, CID, B, RU, false,
	 0},
	/* ---- must NOT match: pod shapes outside the kubelet's own hierarchy ---- */
	{"pod below a user's delegated subtree (cgroupfs shape)",
	 "/user.slice/user-1000.slice/user@1000.service/kubepods/besteffort/pod" UID "/" CID, false, "", "", QN,
	 RU, false, 0},
	{"pod below a user's delegated subtree (systemd shape)",
	 "/user.slice/user-1000.slice/user@1000.service/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-"
	 CID ".scope", false, "", "", QN, RU, false, 0},
	{"fake pod in a user's app slice",
	 "/user.slice/user-1000.slice/user@1000.service/app.slice/kubepods-burstable.slice/kubepods-burstable-pod"
	 UID_ ".slice", false, "", "", QN, RU, false, 0},
	{"kubepods below a service", "/system.slice/evil.service/kubepods/burstable/pod" UID, false, "", "", QN, RU,
	 false, 0},
	{"kubepods below a scope", "/system.slice/docker-" HOSTID ".scope/kubepods/besteffort/pod" UID "/" CID,
	 false, "", "", QN, RU, false, 0},
	{"kind layout without its cgroup root", "/docker/" HOSTID "/kubelet/kubepods/burstable/pod" UID "/" CID,
	 false, "", "", QN, RU, false, 0},
	{"a machine's nested kubepods", "/machine.slice/machine-x.scope/kubepods.slice/kubepods-pod" UID_ ".slice",
	 false, "", "", QN, RU, false, 0},
	{"mount path prefix is not the root", "/sys/fs/cgroup/kubepods/burstable/pod" UID, false, "", "", QN, RU,
	 false, 0},
	{"outside the configured cgroup root", "/kubepods/burstable/pod" UID, false, "", "", QN, RU, false, 0,
	 "/kubelet"},
	{"colon form outside containerd.service",
	 "/user.slice/user-1000.slice/user@1000.service/kubepods-burstable-pod" UID_ ".slice:cri-containerd:" CID,
	 false, "", "", QN, RU, false, 0},
	{"slice chain that does not nest", "/kubepods.slice/other-burstable.slice/kubepods-burstable-pod" UID_
	 ".slice", false, "", "", QN, RU, false, 0},
	/* ---- must NOT match: the system bucket ---- */
	{"kubelet service", "/system.slice/kubelet.service", false, "", "", QN, RU, false, 0},
	{"containerd service", "/system.slice/containerd.service", false, "", "", QN, RU, false, 0},
	{"user session", "/user.slice/user-1000.slice/session-3.scope", false, "", "", QN, RU, false, 0},
	{"user service", "/user.slice/user-1000.slice/user@1000.service/app.slice/dbus.service", false, "", "",
	 QN, RU, false, 0},
	{"plain docker container", "/system.slice/docker-" CID ".scope", false, "", "", QN, RU, false, 0},
	{"kubepods.slice itself", "/kubepods.slice", false, "", "", QN, RU, false, 0},
	{"QoS slice", "/kubepods.slice/kubepods-burstable.slice", false, "", "", QN, RU, false, 0},
	{"kubepods itself", "/kubepods", false, "", "", QN, RU, false, 0},
	{"QoS dir", "/kubepods/burstable", false, "", "", QN, RU, false, 0},
	{"root", "/", false, "", "", QN, RU, false, 0},
	{"empty", "", false, "", "", QN, RU, false, 0},
	{"uid one char short", "/kubepods/burstable/pod0f3e2c1a-9b8d-4e7f-a6b5-c4d3e2f1a0b/" CID, false, "", "", QN,
	 RU, false, 0},
	{"uid with a non-hex char", "/kubepods/burstable/pod0f3e2c1a-9b8d-4e7f-a6b5-c4d3e2f1a0bz/" CID, false, "",
	 "", QN, RU, false, 0},
	{"uid in upper case", "/kubepods/burstable/pod0F3E2C1A-9B8D-4E7F-A6B5-C4D3E2F1A0B9", false, "", "", QN, RU,
	 false, 0},
	{"uid with dashes in a systemd slice",
	 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID ".slice", false, "", "", QN, RU,
	 false, 0},
	{"uid with underscores under cgroupfs", "/kubepods/burstable/pod" UID_, false, "", "", QN, RU, false, 0},
	{"pod slice under the wrong QoS slice",
	 "/kubepods.slice/kubepods-besteffort.slice/kubepods-burstable-pod" UID_ ".slice", false, "", "", QN, RU,
	 false, 0},
	{"pod slice outside kubepods.slice", "/system.slice/kubepods-burstable-pod" UID_ ".slice", false, "", "",
	 QN, RU, false, 0},
	{"pod dir not under kubepods", "/foo/burstable/pod" UID "/" CID, false, "", "", QN, RU, false, 0},
	{"unknown QoS dir", "/kubepods/platinum/pod" UID, false, "", "", QN, RU, false, 0},
	{"trailing junk after the uid", "/kubepods/besteffort/pod" UID "x", false, "", "", QN, RU, false, 0},
	{"colon form with an unknown runtime",
	 "/system.slice/containerd.service/kubepods-burstable-pod" UID_ ".slice:runc:" CID, false, "", "", QN, RU,
	 false, 0},
	{"colon form with a bad id",
	 "/system.slice/containerd.service/kubepods-burstable-pod" UID_ ".slice:cri-containerd:xyz", false, "", "",
	 QN, RU, false, 0},
};

START_TEST(test_table)
{
	const struct row *r = &rows[_i];
	struct jp_pod_ref ref;
	ck_assert_int_eq(jp_cgroup_root_check(r->root), 0);
	bool got = jp_cgroup_pod_parse_under(r->root, r->path, &ref);
	ck_assert_msg(got == r->is_pod, "%s: %s: is_pod %d", r->what, r->path, got);
	ck_assert_msg(ref.is_pod == got, "%s", r->what);
	ck_assert_msg(strcmp(ref.pod_uid, r->uid) == 0, "%s: uid '%s'", r->what, ref.pod_uid);
	ck_assert_msg(strcmp(ref.container_id, r->cid) == 0, "%s: container '%s'", r->what, ref.container_id);
	ck_assert_msg((int)ref.qos == r->qos, "%s: qos %s", r->what, jp_pod_qos_name(ref.qos));
	ck_assert_msg((int)ref.runtime == r->runtime, "%s: runtime %s", r->what, jp_pod_runtime_name(ref.runtime));
	ck_assert_msg(ref.conmon == r->conmon, "%s: conmon", r->what);
	size_t len = strlen(r->path);
	if (r->level == 1)
		ck_assert_msg(ref.pod_end == len && ref.container_end == 0, "%s: pod level", r->what);
	if (r->level == 2)
		ck_assert_msg(ref.container_end == len, "%s: container level", r->what);
	if (got && ref.pod_end)
		ck_assert_msg(ref.pod_end <= len && (r->path[ref.pod_end] == '/' || !r->path[ref.pod_end]),
			      "%s: pod_end", r->what);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(jp_pod_qos_name(JP_QOS_GUARANTEED), "guaranteed");
	ck_assert_str_eq(jp_pod_qos_name(JP_QOS_BURSTABLE), "burstable");
	ck_assert_str_eq(jp_pod_qos_name(JP_QOS_BESTEFFORT), "besteffort");
	ck_assert_str_eq(jp_pod_runtime_name(JP_RUNTIME_CONTAINERD), "containerd");
	ck_assert_str_eq(jp_pod_runtime_name(JP_RUNTIME_CRIO), "crio");
	ck_assert_str_eq(jp_pod_runtime_name(JP_RUNTIME_DOCKER), "docker");
	ck_assert_str_eq(jp_pod_runtime_name(JP_RUNTIME_UNKNOWN), "unknown");
	struct jp_pod_ref ref;
	ck_assert(!jp_cgroup_pod_parse(NULL, &ref));
}
END_TEST

START_TEST(test_long_and_hostile_paths)
{
	struct jp_pod_ref ref;
	char *p = malloc(8192);
	ck_assert_ptr_nonnull(p);
	/* 4 KiB of pod-looking levels that never form a pod. */
	size_t n = 0;
	while (n + 16 < 4096)
		n += (size_t)sprintf(p + n, "/kubepods-pod_x");
	ck_assert(!jp_cgroup_pod_parse(p, &ref));
	/* 4 KiB of junk prefix, then a real pod: not the kubelet's, unless that prefix is
	 * the configured cgroup root. */
	n = 0;
	while (n < 1000)
		n += (size_t)sprintf(p + n, "/a");
	p[n] = '\0';
	char *root = strdup(p);
	ck_assert_int_eq(jp_cgroup_root_check(root), 0);
	sprintf(p + n, "/kubepods/burstable/pod" UID "/" CID);
	ck_assert(jp_cgroup_pod_parse_under(root, p, &ref));
	ck_assert_str_eq(ref.container_id, CID);
	free(root);
	ck_assert(!jp_cgroup_pod_parse(p, &ref));
	/* One 4 KiB component. */
	memset(p, 'k', 4096);
	p[0] = '/';
	p[4096] = '\0';
	ck_assert(!jp_cgroup_pod_parse(p, &ref));
	/* Random bytes, and random splices of real shapes. */
	unsigned seed = 7;
	for (int i = 0; i < 50000; i++) {
		const char *base = rows[(size_t)rand_r(&seed) % (sizeof(rows) / sizeof(rows[0]))].path;
		size_t bl = strlen(base);
		size_t len = bl ? (size_t)rand_r(&seed) % (bl + 1) : 0;
		memcpy(p, base, len);
		p[len] = '\0';
		if (len && (i & 1))
			p[(size_t)rand_r(&seed) % len] = (char)(rand_r(&seed) % 256 ?: 1);
		if (jp_cgroup_pod_parse(p, &ref)) {
			ck_assert(strlen(ref.pod_uid) == 36 || strlen(ref.pod_uid) == 32);
			ck_assert(strlen(ref.container_id) == 0 || strlen(ref.container_id) == 64);
			ck_assert(ref.pod_end <= len && ref.container_end <= len);
		}
	}
	free(p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cgroup_pods");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_table, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_long_and_hostile_paths);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
