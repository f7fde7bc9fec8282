/* SPDX-License-Identifier: Apache-2.0 */
#include "qemu/img.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"

extern char **environ;

/* Reads both pipes to EOF (bounded), so the child never blocks on a full pipe. */
static void drain(int out_fd, int err_fd, char **out, char **errtext)
{
	size_t cap[2] = {4096, 4096}, len[2] = {0, 0};
	char *buf[2] = {xmalloc(cap[0]), xmalloc(cap[1])};
	struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
	int open_n = 2;
	while (open_n > 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (len[i] + 1024 >= cap[i] && cap[i] < (1u << 20)) {
				cap[i] *= 2;
				buf[i] = xrealloc(buf[i], cap[i]);
			}
			char sink[1024];
			bool full = len[i] + 1024 >= cap[i];
			ssize_t r = read(p[i].fd, full ? sink : buf[i] + len[i], 1023);
			if (r <= 0) {
				p[i].fd = -1;
				open_n--;
				continue;
			}
			if (!full)
				len[i] += (size_t)r;
		}
	}
	buf[0][len[0]] = '\0';
	buf[1][len[1]] = '\0';
	*out = buf[0];
	*errtext = buf[1];
}

int qemu_img_run(const char *binary, char *const argv[], char **stdout_out,
		 struct vr_error **err)
{
	int out_pipe[2], err_pipe[2];
	if (pipe2(out_pipe, O_CLOEXEC) < 0)
		return vr_error_set_errno(err, errno, "cannot create a pipe");
	if (pipe2(err_pipe, O_CLOEXEC) < 0) {
		int e = errno;
		close(out_pipe[0]);
		close(out_pipe[1]);
		return vr_error_set_errno(err, e, "cannot create a pipe");
	}
	_cleanup_strv_ char **args = NULL;
	strv_push(&args, binary);
	for (size_t i = 1; argv[i]; i++)
		strv_push(&args, argv[i]);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
	pid_t pid;
	int r = posix_spawnp(&pid, binary, &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (r != 0) {
		close(out_pipe[0]);
		close(err_pipe[0]);
		return vr_error_set_errno(err, r, "cannot run %s", binary);
	}
	_cleanup_free_ char *out = NULL, *errtext = NULL;
	drain(out_pipe[0], err_pipe[0], &out, &errtext);
	close(out_pipe[0]);
	close(err_pipe[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		size_t l = strlen(errtext);
		while (l > 0 && (errtext[l - 1] == '\n' || errtext[l - 1] == '\r'))
			errtext[--l] = '\0';
		return vr_error_set(err, EIO, "%s %s failed: %s", binary, argv[1] ? argv[1] : "",
				    l ? errtext : "no message");
	}
	if (stdout_out)
		*stdout_out = steal_pointer(&out);
	return 0;
}

int qemu_img_create(const char *binary, const char *path, const char *format,
		    uint64_t size_bytes, struct vr_error **err)
{
	if (size_bytes == 0 || size_bytes > QEMU_IMG_MAX_SIZE)
		return vr_error_set(err, ERANGE,
				    "disk size %llu bytes is out of range (1 byte .. 64 TiB)",
				    (unsigned long long)size_bytes);
	if (access(path, F_OK) == 0)
		return vr_error_set(err, EEXIST, "disk \"%s\" already exists", path);
	char size[32];
	snprintf(size, sizeof(size), "%llu", (unsigned long long)size_bytes);
	char *argv[] = {"qemu-img", "create", "-q", "-f", (char *)format, (char *)path, size, NULL};
	return qemu_img_run(binary, argv, NULL, err);
}
