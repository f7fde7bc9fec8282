/* SPDX-License-Identifier: Apache-2.0 */
#include "qemu/process.h"

#include <linux/close_range.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include "common/error.h"
#include "common/util.h"

/*
 * Runs in the child between fork and exec, so async-signal-safe calls
 * only: closes every descriptor from 3 up except the ones to keep,
 * with close_range() over the gaps between them.
 */
static void child_close_fds(int keep_err_pipe, const int *keep, size_t n_keep)
{
	unsigned lo = 3;
	for (;;) {
		/* The smallest kept descriptor >= lo. */
		unsigned next = ~0u;
		if (keep_err_pipe >= (int)lo)
			next = (unsigned)keep_err_pipe;
		for (size_t i = 0; i < n_keep; i++)
			if (keep[i] >= (int)lo && (unsigned)keep[i] < next)
				next = (unsigned)keep[i];
		if (next == ~0u) {
			close_range(lo, ~0u, 0);
			return;
		}
		if (next > lo)
			close_range(lo, next - 1, 0);
		lo = next + 1;
	}
}

int qemu_process_spawn(char *const argv[], const char *log_path, const int *keep_fds,
		       size_t n_keep, pid_t *pid_out, struct vr_error **err)
{
	_cleanup_close_ int log_fd =
		open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (log_fd < 0)
		return vr_error_set_errno(err, errno, "cannot open the VM log \"%s\"", log_path);
	_cleanup_close_ int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0)
		return vr_error_set_errno(err, errno, "cannot open /dev/null");
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return vr_error_set_errno(err, errno, "cannot create a pipe");

	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return vr_error_set_errno(err, e, "cannot fork for %s", argv[0]);
	}
	if (pid == 0) {
		close(pipefd[0]);
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		setsid();
		if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
			goto fail;
		for (size_t i = 0; i < n_keep; i++) {
			int fl = fcntl(keep_fds[i], F_GETFD);
			if (fl < 0 || fcntl(keep_fds[i], F_SETFD, fl & ~FD_CLOEXEC) < 0)
				goto fail;
		}
		child_close_fds(pipefd[1], keep_fds, n_keep);
		execvp(argv[0], argv);
fail: {
		int e = errno;
		ssize_t w = write(pipefd[1], &e, sizeof(e));
		(void)w;
		_exit(127);
	}
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
		return vr_error_set_errno(err, child_errno, "cannot start %s", argv[0]);
	}
	*pid_out = pid;
	return 0;
}

bool process_has_arg_pair(pid_t pid, const char *opt, const char *value, bool ignore_case)
{
	if (pid <= 1)
		return false;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	if (file_read_all(path, 1 << 20, &buf, &len, NULL) < 0)
		return false;
	/* Arguments are NUL-separated: look for opt followed by value. */
	const char *p = buf, *end = buf + len;
	while (p < end) {
		size_t l = strnlen(p, (size_t)(end - p));
		if (strcmp(p, opt) == 0 && p + l + 1 < end)
			return ignore_case ? strcasecmp(p + l + 1, value) == 0
					   : strcmp(p + l + 1, value) == 0;
		p += l + 1;
	}
	return false;
}

bool qemu_process_matches(pid_t pid, const char *uuid)
{
	return process_has_arg_pair(pid, "-uuid", uuid, true);
}

int qemu_process_read_pidfile(const char *path, pid_t *pid)
{
	_cleanup_free_ char *buf = NULL;
	int r = file_read_all(path, 64, &buf, NULL, NULL);
	if (r < 0)
		return r;
	char *nl = strchr(buf, '\n');
	if (nl)
		*nl = '\0';
	uint64_t v;
	r = parse_u64(buf, 2, 4194304, &v);
	if (r < 0)
		return r;
	*pid = (pid_t)v;
	return 0;
}

char *qemu_process_describe_status(int status)
{
	if (WIFEXITED(status))
		return xasprintf("exited with status %d", WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		return xasprintf("killed by signal %d (%s)%s", WTERMSIG(status),
				 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
	return xasprintf("ended with status 0x%x", status);
}
