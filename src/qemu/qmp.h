/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_QMP_H
#define VIREO_QEMU_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct vr_error;
struct vr_loop;

/*
 * Client for the QEMU Machine Protocol.  Replies and events are read by the
 * event loop thread; commands are sent from any thread.
 */
struct qmp;

/* Pseudo-event delivered once when the connection closes (data is NULL). */
#define QMP_EVENT_DISCONNECTED "__DISCONNECTED__"

/* Largest single message accepted from QEMU; a longer one disconnects. */
#define QMP_MAX_MESSAGE_SIZE (16u * 1024 * 1024)

/*
 * Called on the loop thread for every asynchronous event.  data (borrowed,
 * valid during the call) is the event's "data" member or NULL.
 */
typedef void (*qmp_event_fn)(struct qmp *qmp, const char *event, json_t *data,
			     uint64_t timestamp_us, void *opaque);

/*
 * Called exactly once on the loop thread with the "return" member
 * (borrowed) or, on failure, ret == NULL and err set (QMP error, ETIMEDOUT,
 * ECONNRESET).
 */
typedef void (*qmp_reply_fn)(struct qmp *qmp, json_t *ret, const struct vr_error *err,
			     void *opaque);

/*
 * Connects to the QMP Unix socket at socket_path, retrying while it does not
 * exist or refuses connections, reads the greeting, negotiates capabilities
 * and starts reading on loop (which must be running).  Blocks for at most
 * timeout_ms (<= 0: no limit).  Must not be called on the loop thread.
 */
struct qmp *qmp_open(struct vr_loop *loop, const char *socket_path, int timeout_ms,
		     qmp_event_fn on_event, void *opaque, struct vr_error **err);

/*
 * Disconnects, fails all pending commands with ECONNRESET (async callbacks
 * run on the loop thread before this returns), waits for threads blocked in
 * qmp_execute() to leave, and frees.  on_event is not called for an explicit
 * close.  Must not be called on the loop thread.  Accepts NULL.
 */
void qmp_close(struct qmp *qmp);

bool qmp_is_connected(struct qmp *qmp);
/* "major.minor.micro" from the greeting, e.g. "7.2.0". */
const char *qmp_get_version(struct qmp *qmp);

/*
 * Runs command with args (stolen, may be NULL) and waits for its reply for
 * at most timeout_ms (<= 0: no limit).  On success stores the "return"
 * member in *ret (caller owns; ret may be NULL) and returns 0.  Errors:
 * EIO/ENODEV/EOPNOTSUPP for QMP error replies (message names the command,
 * the error class and description), ETIMEDOUT, ECONNRESET, EDEADLK on the
 * loop thread.
 */
int qmp_execute(struct qmp *qmp, const char *command, json_t *args, int timeout_ms,
		json_t **ret, struct vr_error **err);

/*
 * Like qmp_execute(), also passing fd (borrowed; duplicated by the kernel)
 * with SCM_RIGHTS, as the getfd and add-fd commands need.
 */
int qmp_execute_with_fd(struct qmp *qmp, const char *command, json_t *args, int fd,
			int timeout_ms, json_t **ret, struct vr_error **err);

/*
 * Sends command with args (stolen, may be NULL); cb runs on the loop thread
 * with the reply, or on timeout (timeout_ms <= 0: none) or disconnection.
 * Callable from any thread including the loop thread.  Returns 0 when cb
 * will be called exactly once, or a negative errno (-ECONNRESET when not
 * connected) when it will not be called.
 */
int qmp_execute_async(struct qmp *qmp, const char *command, json_t *args, int timeout_ms,
		      qmp_reply_fn cb, void *opaque);

#endif
