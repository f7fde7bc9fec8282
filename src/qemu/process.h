/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_PROCESS_H
#define VIREO_QEMU_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct vr_error;

/*
 * Starts argv[0] in its own session with stdin from /dev/null and
 * stdout/stderr appended to log_path.  Only the descriptors in keep_fds
 * are inherited.  Returns once exec succeeded (or with the exec error).
 */
int qemu_process_spawn(char *const argv[], const char *log_path, const int *keep_fds,
		       size_t n_keep, pid_t *pid_out, struct vr_error **err);

/*
 * Whether pid is alive and is the QEMU process of the VM with this
 * UUID (its command line holds "-uuid UUID"): guards against a reused
 * pid after a host-agent restart.
 */
bool qemu_process_matches(pid_t pid, const char *uuid);
/* Whether pid is alive and its command line holds opt immediately followed by value. */
bool process_has_arg_pair(pid_t pid, const char *opt, const char *value, bool ignore_case);

/* Reads a pid file written by QEMU's -pidfile. */
int qemu_process_read_pidfile(const char *path, pid_t *pid);

/*
 * Describes how a child ended, from a waitpid() status: "exited with
 * status 1", "killed by signal 9 (Killed)".  Caller frees.
 */
char *qemu_process_describe_status(int status);

#endif
