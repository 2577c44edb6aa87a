/* SPDX-License-Identifier: Apache-2.0 */
/* Pod UID, container id, QoS class and runtime from a cgroup path (docs/model.md "Pods from cgroup paths"). */
#include "collect/cgroup_pods.h"

#include <string.h>

/* A path component: a pointer into the parsed path and its length. */
struct comp {
	const char *s;
	size_t n;
};

static bool comp_eq(struct comp c, const char *lit)
{
	size_t n = strlen(lit);
	return c.n == n && memcmp(c.s, lit, n) == 0;
}

static bool starts_with(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n >= l && memcmp(s, lit, l) == 0;
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_hex(char c)
{
	return is_lower_hex(c) || (c >= 'A' && c <= 'F');
}

int jp_cgroup_root_check(const char *root)
{
	return root && strlen(root) > JP_CGROUP_ROOT_MAX ? -1 : 0;
}

/* A pod UID in s[0..n): 8-4-4-4-12 lowercase hex with sep between the groups (the API
 * server's UUIDs; '_' in systemd names, where '-' separates slice levels), or 32 lowercase
 * hex (the kubelet's config hash, the UID of static pods). Writes the dashed form. */
static bool parse_uid(const char *s, size_t n, char sep, char out[JP_POD_UID_MAX + 1])
{
	if (n == 32) {
		for (size_t i = 0; i < n; i++)
			if (!is_lower_hex(s[i]))
				return false;
	} else if (n == 36) {
		for (size_t i = 0; i < n; i++) {
			bool dash = i == 8 || i == 13 || i == 18 || i == 23;
			if (dash ? s[i] != sep : !is_lower_hex(s[i]))
				return false;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = s[i] == '_' ? '-' : s[i];
	out[n] = '\0';
	return true;
}

/* 64 hex digits. Runtimes write lower case; upper case is accepted too and stored in
 * lower case, so that one container always has one label value. */
static bool is_container_id(const char *s, size_t n)
{
	if (n != JP_CONTAINER_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_hex(s[i]))
			return false;
	return true;
}

static void copy_container_id(char *dst, const char *src)
{
	for (size_t i = 0; i < JP_CONTAINER_ID_LEN; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'F') ? (char)(src[i] - 'A' + 'a') : src[i];
	dst[JP_CONTAINER_ID_LEN] = '\0';
}

/* A systemd pod slice stem (the name without ".slice"): [<root>-]kubepods-[<qos>-]pod<uid_>.
 * On success sets qos and uid, and the length of the "<root>-" prefix. */
static bool parse_pod_slice_stem(const char *s, size_t n, struct jp_pod_ref *out, size_t *prefix_len)
{
	size_t i;
	if (starts_with(s, n, "kubepods-")) {
		i = 0;
	} else {
		const char *hit = NULL;
		for (size_t k = 0; k + 10 <= n; k++) {
			if (memcmp(s + k, "-kubepods-", 10) == 0) {
				hit = s + k + 1;
				break;
			}
		}
		if (!hit)
			return false;
		i = (size_t)(hit - s);
	}
	const char *r = s + i + 9;
	size_t rn = n - i - 9;
	enum jp_pod_qos qos;
	size_t skip;
	if (starts_with(r, rn, "burstable-pod")) {
		qos = JP_QOS_BURSTABLE;
		skip = 13;
	} else if (starts_with(r, rn, "besteffort-pod")) {
		qos = JP_QOS_BESTEFFORT;
		skip = 14;
	} else if (starts_with(r, rn, "pod")) {
		qos = JP_QOS_GUARANTEED;
		skip = 3;
	} else {
		return false;
	}
	if (!parse_uid(r + skip, rn - skip, '_', out->pod_uid))
		return false;
	out->qos = qos;
	*prefix_len = i;
	return true;
}

/* The systemd driver: c is <root>-kubepods-<qos>-pod<uid_>.slice under
 * <root>-kubepods-<qos>.slice, or <root>-kubepods-pod<uid_>.slice (guaranteed) under
 * <root>-kubepods.slice (k8s pkg/kubelet/cm/cgroup_manager_linux.go, systemd escaping). */
static bool match_systemd_pod(struct comp c, struct comp parent, struct jp_pod_ref *out)
{
	if (c.n <= 6 || memcmp(c.s + c.n - 6, ".slice", 6) != 0)
		return false;
	size_t plen;
	struct jp_pod_ref tmp = {0};
	if (!parse_pod_slice_stem(c.s, c.n - 6, &tmp, &plen))
		return false;
	/* The parent must be the matching QoS (or kubepods) slice. */
	const char *q = tmp.qos == JP_QOS_BURSTABLE ? "-burstable" :
			tmp.qos == JP_QOS_BESTEFFORT ? "-besteffort" : "";
	size_t ql = strlen(q), want = plen + 8 + ql + 6;
	if (parent.n != want || memcmp(parent.s, c.s, plen + 8) != 0 ||
	    memcmp(parent.s + plen + 8, q, ql) != 0 || memcmp(parent.s + plen + 8 + ql, ".slice", 6) != 0)
		return false;
	memcpy(out->pod_uid, tmp.pod_uid, sizeof(out->pod_uid));
	out->qos = tmp.qos;
	return true;
}

/* The cgroupfs driver: pod<uid> under kubepods (guaranteed) or kubepods/<qos>. */
static bool match_cgroupfs_pod(struct comp c, struct comp parent, struct comp grand, struct jp_pod_ref *out)
{
	if (c.n < 3 || memcmp(c.s, "pod", 3) != 0)
		return false;
	enum jp_pod_qos qos;
	if (comp_eq(parent, "kubepods"))
		qos = JP_QOS_GUARANTEED;
	else if (comp_eq(parent, "burstable") && comp_eq(grand, "kubepods"))
		qos = JP_QOS_BURSTABLE;
	else if (comp_eq(parent, "besteffort") && comp_eq(grand, "kubepods"))
		qos = JP_QOS_BESTEFFORT;
	else
		return false;
	if (!parse_uid(c.s + 3, c.n - 3, '-', out->pod_uid))
		return false;
	out->qos = qos;
	return true;
}

/* A container cgroup name: [cri-containerd-|crio-|crio-conmon-|docker-]<64 hex>[.scope].
 * Returns 1 for a container, 2 for a CRI-O conmon scope, 0 otherwise. */
static int match_container(struct comp c, struct jp_pod_ref *out)
{
	const char *s = c.s;
	size_t n = c.n;
	if (n > 6 && memcmp(s + n - 6, ".scope", 6) == 0)
		n -= 6;
	static const struct {
		const char *prefix;
		enum jp_pod_runtime rt;
		int conmon;
	} forms[] = {
		{"cri-containerd-", JP_RUNTIME_CONTAINERD, 0},
		{"crio-conmon-", JP_RUNTIME_CRIO, 1},
		{"crio-", JP_RUNTIME_CRIO, 0},
		{"docker-", JP_RUNTIME_DOCKER, 0},
		{"", JP_RUNTIME_UNKNOWN, 0},
	};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		size_t pl = strlen(forms[i].prefix);
		if (!starts_with(s, n, forms[i].prefix) || !is_container_id(s + pl, n - pl))
			continue;
		/* A bare id is only a container under the cgroupfs driver: never with .scope. */
		if (pl == 0 && n != c.n)
			return 0;
		out->runtime = forms[i].rt;
		if (forms[i].conmon) {
			out->conmon = true;
			return 2;
		}
		copy_container_id(out->container_id, s + pl);
		return 1;
	}
	return 0;
}

/* containerd with SystemdCgroup under a kubelet that is not on the systemd driver (or a
 * systemd-less host) names the container cgroup "<pod slice>:<prefix>:<id>", the raw
 * cgroupsPath, e.g. /system.slice/containerd.service/kubepods-burstable-pod<uid_>.slice:
 * cri-containerd:<id>. */
static bool match_colon_form(struct comp c, struct jp_pod_ref *out)
{
	const char *c1 = memchr(c.s, ':', c.n);
	if (!c1)
		return false;
	size_t sn = (size_t)(c1 - c.s);
	if (sn <= 6 || memcmp(c.s + sn - 6, ".slice", 6) != 0)
		return false;
	size_t plen;
	struct jp_pod_ref tmp = {0};
	if (!parse_pod_slice_stem(c.s, sn - 6, &tmp, &plen))
		return false;
	const char *rest = c1 + 1;
	size_t rn = c.n - sn - 1;
	const char *c2 = memchr(rest, ':', rn);
	if (!c2)
		return false;
	struct comp rt = {rest, (size_t)(c2 - rest)};
	if (comp_eq(rt, "cri-containerd"))
		tmp.runtime = JP_RUNTIME_CONTAINERD;
	else if (comp_eq(rt, "crio"))
		tmp.runtime = JP_RUNTIME_CRIO;
	else if (comp_eq(rt, "docker"))
		tmp.runtime = JP_RUNTIME_DOCKER;
	else
		return false;
	const char *id = c2 + 1;
	size_t idn = rn - rt.n - 1;
	if (!is_container_id(id, idn))
		return false;
	memcpy(out->pod_uid, tmp.pod_uid, sizeof(out->pod_uid));
	out->qos = tmp.qos;
	out->runtime = tmp.runtime;
	copy_container_id(out->container_id, id);
	return true;
}

/* Next component at or after *pos; false at the end. */
static bool next_comp(const char *path, size_t *pos, struct comp *c)
{
	size_t i = *pos;
	while (path[i] == '/')
		i++;
	if (!path[i])
		return false;
	size_t start = i;
	while (path[i] && path[i] != '/')
		i++;
	c->s = path + start;
	c->n = i - start;
	*pos = i;
	return true;
}

/* Whether component c (at index idx below the root) may hold the kubelet's hierarchy
 * above a pod: nothing but the kubepods cgroup itself (cgroupfs driver: kubepods, then
 * the QoS directory) or a chain of systemd slices from the root, each named after its
 * parent ("a.slice", "a-b.slice", ...), as systemd nests slices. Anything else above
 * a pod - a service, a scope, a user's delegated subtree (user@1000.service) - means
 * the path is not the kubelet's, whatever it looks like below. */
static bool kube_ancestor_ok(struct comp c, struct comp prev, size_t idx)
{
	if (idx == 0 && comp_eq(c, "kubepods"))
		return true;
	if (idx == 1 && comp_eq(prev, "kubepods") &&
	    (comp_eq(c, "burstable") || comp_eq(c, "besteffort")))
		return true;
	if (c.n <= 6 || memcmp(c.s + c.n - 6, ".slice", 6) != 0)
		return false;
	if (idx == 0)
		return memchr(c.s, '-', c.n - 6) == NULL;
	/* "<parent stem>-<name>.slice" */
	size_t pl = prev.n - 6;
	return c.n > pl + 7 && memcmp(c.s, prev.s, pl) == 0 && c.s[pl] == '-';
}

/* Skip the "<hierarchy-id>:<controllers>:" of a /proc/<pid>/cgroup line. */
static const char *skip_proc_prefix(const char *path)
{
	const char *p = path;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == path || *p != ':')
		return path;
	const char *q = strchr(p + 1, ':');
	return q && !memchr(p + 1, '/', (size_t)(q - p - 1)) ? q + 1 : path;
}

/* Skip the cgroup root at the start of path (component by component, so leading and
 * trailing slashes of either do not matter); NULL if path is not below it. */
static const char *skip_root(const char *root, const char *path)
{
	size_t pos = 0, rpos = 0;
	struct comp c, r;
	while (next_comp(root, &rpos, &r)) {
		if (!next_comp(path, &pos, &c) || c.n != r.n || memcmp(c.s, r.s, c.n) != 0)
			return NULL;
	}
	return path + pos;
}

bool jp_cgroup_pod_parse(const char *path, struct jp_pod_ref *out)
{
	return jp_cgroup_pod_parse_under("", path, out);
}

bool jp_cgroup_pod_parse_under(const char *root, const char *path, struct jp_pod_ref *out)
{
	memset(out, 0, sizeof(*out));
	if (!path)
		return false;
	const char *rel = skip_root(root ? root : "", skip_proc_prefix(path));
	if (!rel)
		return false;
	size_t base = (size_t)(rel - path);
	struct comp grand = {"", 0}, parent = {"", 0}, c;
	size_t pos = 0, idx = 0;
	bool containerd_svc = false;
	while (next_comp(rel, &pos, &c)) {
		/* Under containerd.service, only containerd's own colon-named cgroups. */
		if ((idx == 0 || containerd_svc) && match_colon_form(c, out)) {
			out->is_pod = true;
			out->pod_end = 0;
			out->container_end = base + pos;
			return true;
		}
		if (match_systemd_pod(c, parent, out) || match_cgroupfs_pod(c, parent, grand, out)) {
			out->is_pod = true;
			out->pod_end = base + pos;
			if (next_comp(rel, &pos, &c) && match_container(c, out) == 1)
				out->container_end = base + pos;
			return true;
		}
		memset(out, 0, sizeof(*out));
		containerd_svc = idx == 1 && comp_eq(parent, "system.slice") && comp_eq(c, "containerd.service");
		if (!containerd_svc && !kube_ancestor_ok(c, parent, idx))
			return false;
		grand = parent;
		parent = c;
		idx++;
	}
	return false;
}

const char *jp_pod_qos_name(enum jp_pod_qos qos)
{
	switch (qos) {
	case JP_QOS_GUARANTEED: return "guaranteed";
	case JP_QOS_BURSTABLE: return "burstable";
	case JP_QOS_BESTEFFORT: return "besteffort";
	default: return "";
	}
}

const char *jp_pod_runtime_name(enum jp_pod_runtime rt)
{
	switch (rt) {
	case JP_RUNTIME_CONTAINERD: return "containerd";
	case JP_RUNTIME_CRIO: return "crio";
	case JP_RUNTIME_DOCKER: return "docker";
	default: return "unknown";
	}
}
