/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vireo-shim: QEMU's parent and the keeper of its VM's lock.  See
 * host/shim.h.  Started by vireo-hostd; runs until QEMU ends, so the
 * lock stays renewed while hostd restarts or is down.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "host/lock.h"
#include "host/shim.h"
#include "qemu/process.h"

struct shim {
	const char *vm_dir;
	const char *run_dir;
	int lock_fd;
	uint64_t counter;
	int status_fd;
	struct vm_lock_params lock;
	char **qemu_argv;
	pid_t qemu_pid;
	bool qemu_stopped; /* we sent SIGSTOP: renewals fell behind */
	bool lock_lost;
	char *reason;      /* why we killed QEMU */
	uint64_t last_renewed_ms; /* CLOCK_BOOTTIME: counts time the host was suspended */
};

static void shim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void shim_log(const char *fmt, ...)
{
	char t[32];
	time_format_iso(time_real_ms(), t);
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* stderr is the VM's vireo.log, shared with QEMU: one write per line. */
	dprintf(STDERR_FILENO, "%s vireo-shim[%d]: %s\n", t, (int)getpid(), msg);
}

static uint64_t boottime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: vireo-shim --vm-dir DIR --run-dir DIR --lock-fd N --lock-counter N\n"
		"                  --status-fd N --host-id UUID [--host-name NAME]\n"
		"                  --renew-ms N --lease-ms N -- QEMU [ARG...]\n"
		"Started by vireo-hostd for each running VM; not meant to be run by hand.\n");
	return 2;
}

static int parse_num(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (parse_u64(s, min, max, out) < 0) {
		fprintf(stderr, "vireo-shim: --%s: \"%s\" is not a number in [%llu, %llu]\n", opt, s,
			(unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	return 0;
}

static int parse_args(struct shim *s, int argc, char **argv)
{
	static const struct option opts[] = {
		{"vm-dir", required_argument, NULL, 'v'},
		{"run-dir", required_argument, NULL, 'r'},
		{"lock-fd", required_argument, NULL, 'l'},
		{"lock-counter", required_argument, NULL, 'c'},
		{"status-fd", required_argument, NULL, 's'},
		{"host-id", required_argument, NULL, 'i'},
		{"host-name", required_argument, NULL, 'n'},
		{"renew-ms", required_argument, NULL, 'R'},
		{"lease-ms", required_argument, NULL, 'L'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	s->lock_fd = s->status_fd = -1;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'v': s->vm_dir = optarg; break;
		case 'r': s->run_dir = optarg; break;
		case 'i': s->lock.host_id = optarg; break;
		case 'n': s->lock.host_name = optarg; break;
		case 'l':
			if (parse_num("lock-fd", optarg, 3, 1 << 20, &v) < 0)
				return -1;
			s->lock_fd = (int)v;
			break;
		case 's':
			if (parse_num("status-fd", optarg, 3, 1 << 20, &v) < 0)
				return -1;
			s->status_fd = (int)v;
			break;
		case 'c':
			if (parse_num("lock-counter", optarg, 1, UINT64_MAX / 2, &v) < 0)
				return -1;
			s->counter = v;
			break;
		case 'R':
			if (parse_num("renew-ms", optarg, 10, 600000, &v) < 0)
				return -1;
			s->lock.renew_ms = (unsigned)v;
			break;
		case 'L':
			if (parse_num("lease-ms", optarg, 20, 3600000, &v) < 0)
				return -1;
			s->lock.lease_ms = (unsigned)v;
			break;
		default:
			return -1;
		}
	}
	if (!s->vm_dir || !s->run_dir || s->lock_fd < 0 || s->status_fd < 0 || !s->lock.host_id ||
	    !s->counter || !s->lock.renew_ms || !s->lock.lease_ms || optind >= argc) {
		fprintf(stderr, "vireo-shim: missing arguments\n");
		return -1;
	}
	if (!uuid_is_valid(s->lock.host_id)) {
		fprintf(stderr, "vireo-shim: --host-id: \"%s\" is not a UUID\n", s->lock.host_id);
		return -1;
	}
	if (s->lock.lease_ms < 2 * s->lock.renew_ms) {
		fprintf(stderr, "vireo-shim: the lease must be at least twice the renewal period\n");
		return -1;
	}
	s->qemu_argv = argv + optind;
	return 0;
}

/* Starts QEMU as our child; its exec error comes back through a pipe. */
static int start_qemu(struct shim *s, struct vr_error **err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return vr_error_set_errno(err, errno, "cannot create a pipe");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return vr_error_set_errno(err, e, "cannot fork");
	}
	if (pid == 0) {
		close(pipefd[0]);
		sigset_t none;
		sigemptyset(&none);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* The shim is shielded from the OOM killer; QEMU is not. */
		int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		if (oom >= 0) {
			ssize_t w = write(oom, "0", 1);
			(void)w;
			close(oom);
		}
		execvp(s->qemu_argv[0], s->qemu_argv);
		int e = errno;
		ssize_t w = write(pipefd[1], &e, sizeof(e));
		(void)w;
		_exit(127);
	}
	close(pipefd[1]);
	int child_errno = 0;
	ssize_t n;
	do {
		n = read(pipefd[0], &child_errno, sizeof(child_errno));
	} while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n == (ssize_t)sizeof(child_errno)) {
		waitpid(pid, NULL, 0);
		return vr_error_set_errno(err, child_errno, "cannot start %s", s->qemu_argv[0]);
	}
	s->qemu_pid = pid;
	return 0;
}

/* One renewal; fences QEMU when the lock is in doubt. */
static void renew(struct shim *s)
{
	uint64_t now = boottime_ms();
	/*
	 * Another host may break a lock not renewed for the lease.  Once we
	 * are that late (say the host was suspended, or storage hung), freeze
	 * QEMU before anything else, so that it cannot write to the disks
	 * until we know the lock is still ours.
	 */
	bool late = now - s->last_renewed_ms + s->lock.renew_ms >= s->lock.lease_ms;
	if (late && !s->qemu_stopped) {
		kill(s->qemu_pid, SIGSTOP);
		s->qemu_stopped = true;
		shim_log("lock renewal is %llu ms late: QEMU (pid %d) frozen until it succeeds",
			 (unsigned long long)(now - s->last_renewed_ms), (int)s->qemu_pid);
	}
	struct vr_error *err = NULL;
	int r = vm_lock_renew_fd(&s->lock_fd, s->vm_dir, &s->lock, s->counter + 1, &err);
	if (r >= 0) {
		s->counter++;
		s->last_renewed_ms = boottime_ms();
		if (r == 1)
			shim_log("the lock file had disappeared; restored it");
		if (s->qemu_stopped) {
			kill(s->qemu_pid, SIGCONT);
			s->qemu_stopped = false;
			shim_log("lock renewed: QEMU (pid %d) continues", (int)s->qemu_pid);
		}
		return;
	}
	if (r == -ESTALE) {
		/* Another host owns the VM now and may be running it: ours must go. */
		s->lock_lost = true;
		free(s->reason);
		s->reason = xstrdup(err->msg);
		shim_log("%s; killing QEMU (pid %d) so that two copies never run", s->reason,
			 (int)s->qemu_pid);
		kill(s->qemu_pid, SIGKILL);
	} else {
		shim_log("cannot renew the lock (will retry): %s", err->msg);
	}
	vr_error_free(err);
}

static uint64_t mono_ms(void)
{
	return time_mono_ms();
}

int main(int argc, char **argv)
{
	struct shim s = {0};
	if (parse_args(&s, argc, argv) < 0)
		return usage();
	if (fcntl(s.lock_fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(s.status_fd, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "vireo-shim: the lock or status descriptor is not open\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* The OOM killer must not take the keeper and leave QEMU unguarded. */
	int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (oom >= 0) {
		ssize_t w = write(oom, "-1000", 5);
		(void)w;
		close(oom);
	}

	struct vr_error *err = NULL;
	_cleanup_free_ char *pidfile = xasprintf("%s/%s", s.run_dir, SHIM_PIDFILE);
	char pidtext[24];
	int n = snprintf(pidtext, sizeof(pidtext), "%d\n", (int)getpid());
	s.last_renewed_ms = boottime_ms();
	if (file_write_atomic(pidfile, pidtext, (size_t)n, 0640, &err) < 0 || start_qemu(&s, &err) < 0) {
		/* Release first: once hostd reads the error, the VM must be free. */
		vm_lock_release_fd(s.lock_fd, s.vm_dir, NULL);
		unlink(pidfile);
		dprintf(s.status_fd, "error %d %s\n", err->code, err->msg);
		vr_error_free(err);
		return 1;
	}
	dprintf(s.status_fd, "ok %d\n", (int)s.qemu_pid);
	close(s.status_fd);
	shim_log("QEMU started (pid %d); renewing the lock every %u ms", (int)s.qemu_pid,
		 s.lock.renew_ms);

	int status = -1;
	uint64_t next = mono_ms() + s.lock.renew_ms;
	for (;;) {
		uint64_t now = mono_ms();
		if (now >= next) {
			if (!s.lock_lost)
				renew(&s);
			next = mono_ms() + s.lock.renew_ms;
			continue;
		}
		uint64_t wait = next - now;
		struct timespec ts = {.tv_sec = (time_t)(wait / 1000),
				      .tv_nsec = (long)(wait % 1000) * 1000000L};
		int sig = sigtimedwait(&set, NULL, &ts);
		if (sig < 0)
			continue; /* EAGAIN (timeout) or EINTR */
		if (sig == SIGCHLD) {
			int st;
			pid_t w = waitpid(s.qemu_pid, &st, WNOHANG);
			if (w == s.qemu_pid) {
				status = st;
				break;
			}
			continue;
		}
		/* Asked to stop: let QEMU shut down cleanly, as its own SIGTERM does. */
		shim_log("got signal %d: asking QEMU (pid %d) to quit", sig, (int)s.qemu_pid);
		kill(s.qemu_pid, SIGTERM);
		if (s.qemu_stopped && !s.lock_lost)
			kill(s.qemu_pid, SIGCONT);
	}

	_cleanup_free_ char *how = qemu_process_describe_status(status);
	shim_log("QEMU (pid %d) %s", (int)s.qemu_pid, how);
	/* Record first, then release: whoever sees the lock gone finds the record. */
	if (shim_exit_write(s.run_dir, s.qemu_pid, status, s.reason, &err) < 0) {
		shim_log("%s", err->msg);
		vr_error_freep(&err);
	}
	if (!s.lock_lost && vm_lock_release_fd(s.lock_fd, s.vm_dir, &err) < 0) {
		shim_log("%s", err->msg);
		vr_error_freep(&err);
	}
	close(s.lock_fd);
	unlink(pidfile);
	free(s.reason);
	return 0;
}
