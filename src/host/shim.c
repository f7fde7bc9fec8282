/* SPDX-License-Identifier: Apache-2.0 */
/* hostd's side of vireo-shim: starting it, and reading what it recorded. */
#include "host/shim.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "host/lock.h"
#include "qemu/process.h"

#define SHIM_START_TIMEOUT_MS 15000

/* Reads the shim's one-line start report ("ok PID" or "error ERRNO TEXT"). */
static int read_report(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t len = 0;
	uint64_t end = time_mono_ms() + (uint64_t)timeout_ms;
	while (len + 1 < size) {
		int64_t left = (int64_t)(end - time_mono_ms());
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	char *nl = strchr(buf, '\n');
	if (!nl)
		return -EPIPE;
	*nl = '\0';
	return 0;
}

int shim_spawn(const struct shim_start *s, pid_t *shim_pid, pid_t *qemu_pid,
	       struct vr_error **err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return vr_error_set_errno(err, errno, "cannot create a pipe");
	_cleanup_close_ int rd = pipefd[0];
	_cleanup_close_ int wr = pipefd[1];
	char lock_fd[16], status_fd[16], counter[24], renew[16], lease[16];
	snprintf(lock_fd, sizeof(lock_fd), "%d", s->lock_fd);
	snprintf(status_fd, sizeof(status_fd), "%d", wr);
	snprintf(counter, sizeof(counter), "%llu", (unsigned long long)s->lock_counter);
	snprintf(renew, sizeof(renew), "%u", s->lock->renew_ms);
	snprintf(lease, sizeof(lease), "%u", s->lock->lease_ms);
	_cleanup_strv_ char **argv = NULL;
	const char *fixed[] = {s->shim_binary, "--vm-dir", s->vm_dir, "--run-dir", s->run_dir,
			       "--lock-fd", lock_fd, "--lock-counter", counter, "--status-fd",
			       status_fd, "--host-id", s->lock->host_id, "--host-name",
			       s->lock->host_name ? s->lock->host_name : "", "--renew-ms", renew,
			       "--lease-ms", lease, "--"};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		strv_push(&argv, fixed[i]);
	for (size_t i = 0; s->qemu_argv[i]; i++)
		strv_push(&argv, s->qemu_argv[i]);

	int keep[2] = {s->lock_fd, wr};
	pid_t pid;
	int r = qemu_process_spawn(argv, s->log_path, keep, 2, &pid, err);
	if (r < 0)
		return r;
	close(steal_fd(&wr));
	char line[512];
	r = read_report(rd, line, sizeof(line), SHIM_START_TIMEOUT_MS);
	if (r == 0 && strncmp(line, "ok ", 3) == 0) {
		uint64_t v;
		if (parse_u64(line + 3, 2, 4194304, &v) == 0) {
			*shim_pid = pid;
			*qemu_pid = (pid_t)v;
			return 0;
		}
	}
	/* The shim failed or said something else: make sure it is gone. */
	if (!(r == 0 && strncmp(line, "error ", 6) == 0))
		kill(pid, SIGKILL); /* a reported error ends it by itself */
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r == 0 && strncmp(line, "error ", 6) == 0) {
		char *end = NULL;
		long e = strtol(line + 6, &end, 10);
		const char *msg = end && *end == ' ' ? end + 1 : line + 6;
		return vr_error_set(err, e > 0 && e < 4096 ? (int)e : EIO, "%s", msg);
	}
	if (r == -ETIMEDOUT)
		return vr_error_set(err, ETIMEDOUT, "%s did not report within %d s", s->shim_binary,
				    SHIM_START_TIMEOUT_MS / 1000);
	_cleanup_free_ char *how = qemu_process_describe_status(status);
	return vr_error_set(err, EIO, "%s %s before starting QEMU (see the VM's vireo.log)",
			    s->shim_binary, how);
}

static char *exit_path(const char *run_dir)
{
	return xasprintf("%s/%s", run_dir, SHIM_EXITFILE);
}

int shim_exit_write(const char *run_dir, pid_t qemu_pid, int status, const char *reason,
		    struct vr_error **err)
{
	char t[32];
	time_format_iso(time_real_ms(), t);
	_cleanup_free_ char *desc = status >= 0 ? qemu_process_describe_status(status)
						: xstrdup("ended");
	json_t *o = json_pack("{s:i, s:i, s:i, s:s, s:s}", "version", 1, "qemu_pid", (int)qemu_pid,
			      "status", status, "description", desc, "time", t);
	if (reason)
		json_object_set_new(o, "reason", json_string(reason));
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		abort();
	_cleanup_free_ char *path = exit_path(run_dir);
	int r = file_write_atomic(path, text, strlen(text), 0640, err);
	free(text);
	return r;
}

int shim_exit_read(const char *run_dir, struct shim_exit *out, struct vr_error **err)
{
	memset(out, 0, sizeof(*out));
	out->status = -1;
	_cleanup_free_ char *path = exit_path(run_dir);
	if (access(path, F_OK) < 0)
		return -ENOENT;
	_cleanup_free_ char *text = NULL;
	int r = file_read_all(path, 16384, &text, NULL, err);
	if (r < 0)
		return r;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	json_int_t status = -1;
	const char *desc = NULL, *reason = NULL, *t = NULL;
	if (!o || json_unpack(o, "{s:I, s:s, s?s, s?s}", "status", &status, "description", &desc,
			      "reason", &reason, "time", &t) < 0 ||
	    status < -1 || status > 0xffff) {
		json_decref(o);
		return vr_error_set(err, EBADMSG, "the exit record \"%s\" is malformed", path);
	}
	out->status = (int)status;
	out->description = xstrdup(desc);
	out->reason = reason ? xstrdup(reason) : NULL;
	out->time = t ? xstrdup(t) : NULL;
	json_decref(o);
	return 0;
}

void shim_exit_clear(struct shim_exit *e)
{
	free(e->description);
	free(e->reason);
	free(e->time);
	memset(e, 0, sizeof(*e));
}

char *shim_exit_summary(const struct shim_exit *e)
{
	if (e->reason)
		return xasprintf("was killed by its keeper so that two copies never run: %s",
				 e->reason);
	return xstrdup(e->description);
}

bool shim_process_matches(pid_t pid, const char *run_dir)
{
	return process_has_arg_pair(pid, "--run-dir", run_dir, false);
}
