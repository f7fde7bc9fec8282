/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_SHIM_H
#define VIREO_HOST_SHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct vr_error;
struct vm_lock_params;

/*
 * vireo-shim: one small process per running VM, QEMU's parent.  It
 * keeps the VM folder's lock renewed whether or not hostd runs, fences
 * QEMU when the lock is in doubt (SIGSTOP when renewals fall behind the
 * lease, SIGKILL when another host owns the lock), and records how QEMU
 * ended in RUN_DIR/exit.json before releasing the lock.  hostd talks to
 * QEMU directly over QMP; the shim only supervises.
 */

#define SHIM_BINARY "vireo-shim"
#define SHIM_PIDFILE "shim.pid"
#define SHIM_EXITFILE "exit.json"

struct shim_start {
	const char *shim_binary;
	const char *vm_dir;
	const char *run_dir;
	const char *log_path;  /* shim's and QEMU's stdout/stderr */
	int lock_fd;           /* held lock; passed on, the caller closes its copy */
	uint64_t lock_counter; /* counter value the lock holds now */
	const struct vm_lock_params *lock;
	char *const *qemu_argv;
};

/*
 * Starts the shim, which starts QEMU.  On success *shim_pid is our child
 * and *qemu_pid its; on failure nothing runs and the error says why
 * (QEMU's exec error included).
 */
int shim_spawn(const struct shim_start *s, pid_t *shim_pid, pid_t *qemu_pid,
	       struct vr_error **err);

/* How QEMU ended, as the shim recorded it. */
struct shim_exit {
	int status;        /* waitpid() status; -1 if unknown */
	char *description; /* "exited with status 0", "killed by signal 9 (Killed)" */
	char *reason;      /* why the shim stopped it, or NULL */
	char *time;        /* ISO 8601 */
};

/* Reads RUN_DIR/exit.json; -ENOENT if the shim recorded nothing. */
int shim_exit_read(const char *run_dir, struct shim_exit *out, struct vr_error **err);
int shim_exit_write(const char *run_dir, pid_t qemu_pid, int status, const char *reason,
		    struct vr_error **err);
void shim_exit_clear(struct shim_exit *e);
/* Human summary: "exited with status 0" or "was killed by the shim: <reason>". Caller frees. */
char *shim_exit_summary(const struct shim_exit *e);

/* Whether pid is the shim of the VM whose runtime folder is run_dir. */
bool shim_process_matches(pid_t pid, const char *run_dir);

#endif
