/* SPDX-License-Identifier: Apache-2.0 */
/* Loading the sched_switch probe in a short-lived child process (collect/bpf_loader.h). */
#include "collect/bpf_loader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cgroup_cpu.h"
#include "cgroup_cpu.skel.h"
#include "util/log.h"

#define MOD "bpf"

/* libbpf explains every failure itself (verifier log, missing tracepoint); keep that at
 * debug level so that a fallback to cgroupfs is one clear line at the caller. */
static int libbpf_print_cb(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[512];
	if (level == LIBBPF_DEBUG)
		return 0;
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n > 0 && (size_t)n < sizeof(buf) && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	jp_debug(MOD, "libbpf: %s", buf);
	return 0;
}

/* Loading makes libbpf read and index the kernel's whole BTF (about 5 MB on disk) for the
 * CO-RE relocation of task_struct.se.sum_exec_runtime: some 12 MB for a moment, which
 * would stay in the agent's peak RSS for good. A short-lived child process does the
 * loading and attaching and passes the descriptors back (SCM_RIGHTS); the kernel objects
 * live as long as the agent holds them. */
enum { FD_MAP, FD_FLUSH, FD_PROG, FD_LINK, FD_FULL, NFDS };


struct load_reply {
	int err;               /* 0 or a positive errno */
	char msg[256];         /* the reason, when err */
};

/* In the child: load, attach, send the descriptors or the reason, exit. */
static void __attribute__((noreturn)) child_load(int sock, uint32_t max_cgroups)
{
	struct load_reply rep = {0};
	int fds[NFDS] = {-1, -1, -1, -1, -1};
	int err = 0;
	char *why = rep.msg;
	size_t whylen = sizeof(rep.msg);
	struct cgroup_cpu *skel = cgroup_cpu__open();
	if (!skel) {
		err = errno ? errno : EINVAL;
		jp_why(why, whylen, "opening the embedded eBPF object: %s", strerror(err));
		goto out;
	}
	/* The floor probe is the benchmark's alone (bench/bench_bpf.c). */
	bpf_program__set_autoload(skel->progs.jp_floor, false);
	err = -bpf_map__set_max_entries(skel->maps.cg_cpu,
					max_cgroups ? max_cgroups : JP_CGCPU_DEFAULT_MAX_CGROUPS);
	if (err) {
		jp_why(why, whylen, "sizing the cgroup map: %s", strerror(err));
		goto out;
	}
	err = -cgroup_cpu__load(skel);
	if (err) {
		/* The program reads task_struct.se.sum_exec_runtime through a CO-RE
		 * relocation, which libbpf resolves against the running kernel's BTF. */
		if (access("/sys/kernel/btf/vmlinux", F_OK) != 0)
			jp_why(why, whylen, "loading the eBPF program: %s (the kernel has no BTF at "
				  "/sys/kernel/btf/vmlinux; see docs/ebpf.md)", strerror(err));
		else if (err == EPERM || err == EACCES)
			jp_why(why, whylen, "loading the eBPF program: %s (needs CAP_BPF and CAP_PERFMON, "
				  "or root)", strerror(err));
		else
			jp_why(why, whylen, "loading the eBPF program: %s (the kernel rejected it; the "
				  "debug log has libbpf's reason)", strerror(err));
		goto out;
	}
	skel->links.jp_on_switch = bpf_program__attach(skel->progs.jp_on_switch);
	if (!skel->links.jp_on_switch) {
		err = errno ? errno : EINVAL;
		jp_why(why, whylen, "attaching to the sched_switch raw tracepoint: %s", strerror(err));
		goto out;
	}
	fds[FD_MAP] = bpf_map__fd(skel->maps.cg_cpu);
	fds[FD_FLUSH] = bpf_program__fd(skel->progs.jp_flush);
	fds[FD_PROG] = bpf_program__fd(skel->progs.jp_on_switch);
	fds[FD_LINK] = bpf_link__fd(skel->links.jp_on_switch);
	fds[FD_FULL] = bpf_map__fd(skel->maps.cg_full);
out:
	rep.err = err;
	struct iovec iov = {&rep, sizeof(rep)};
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
	if (!err) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.buf;
		m.msg_controllen = sizeof(u.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(fds));
		memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	}
	/* The parent's descriptors keep everything alive once this process is gone. */
	_exit(sendmsg(sock, &m, MSG_NOSIGNAL) == (ssize_t)sizeof(rep) ? 0 : 1);
}

int jp_bpf_load(uint32_t max_cgroups, struct jp_bpf_fds *out, char *why, size_t whylen)
{
	libbpf_set_print(libbpf_print_cb);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		int err = errno;
		jp_why(why, whylen, "socketpair for the eBPF loader: %s", strerror(err));
		return -err;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int err = errno;
		close(sv[0]);
		close(sv[1]);
		jp_why(why, whylen, "starting the eBPF loader process: %s", strerror(err));
		return -err;
	}
	if (pid == 0) {
		close(sv[0]);
		child_load(sv[1], max_cgroups);
	}
	close(sv[1]);

	struct load_reply rep = {0};
	struct iovec iov = {&rep, sizeof(rep)};
	union {
		char buf[CMSG_SPACE(NFDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			   .msg_controllen = sizeof(u.buf)};
	ssize_t n;
	do {
		n = recvmsg(sv[0], &m, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	int rerr = n < 0 ? errno : 0;
	close(sv[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;

	struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&m) : NULL;
	int got = cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		  cm->cmsg_len == CMSG_LEN(NFDS * sizeof(int));
	if (n != (ssize_t)sizeof(rep) || rep.err || !got) {
		if (got) {
			int fds[NFDS];
			memcpy(fds, CMSG_DATA(cm), sizeof(fds));
			for (int i = 0; i < NFDS; i++)
				close(fds[i]);
		}
		if (n == (ssize_t)sizeof(rep) && rep.err) {
			jp_why(why, whylen, "%s", rep.msg);
			return -rep.err;
		}
		jp_why(why, whylen, "the eBPF loader process failed (%s)",
			  rerr ? strerror(rerr) : WIFSIGNALED(status) ? strsignal(WTERMSIG(status))
								 : "no answer");
		return rerr ? -rerr : -EIO;
	}
	int fds[NFDS];
	memcpy(fds, CMSG_DATA(cm), sizeof(fds));
	*out = (struct jp_bpf_fds){.map = fds[FD_MAP], .flush = fds[FD_FLUSH], .prog = fds[FD_PROG],
				   .link = fds[FD_LINK], .full = fds[FD_FULL]};
	return 0;
}

