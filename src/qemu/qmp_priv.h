/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_QMP_PRIV_H
#define VIREO_QEMU_QMP_PRIV_H

/*
 * Internals of the QMP/QGA wire protocol, for the QGA client, the unit tests
 * and the fuzzer.  Not part of the public interface.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qemu/qmp.h"

struct vr_error;

/*
 * Called for each complete message that is a JSON object (borrowed; the
 * callback increfs it to keep it).  A negative return stops feeding and is
 * returned by qmp_parser_feed().
 */
typedef int (*qmp_parser_msg_fn)(json_t *msg, void *opaque);

/*
 * Splits a byte stream into newline-terminated JSON objects.  Empty lines
 * are skipped; malformed JSON and non-object values are logged (rate
 * limited) and dropped.  A line longer than max_size is a fatal error.
 */
struct qmp_parser {
	char *buf; /* partial line carried over between feeds */
	size_t len;
	size_t cap;
	size_t max_size;
	const char *peer; /* for log messages */
	/* Guest-agent mode: drop everything up to and including a 0xFF byte. */
	bool await_sentinel;
	int error; /* sticky negative errno after a fatal error */
	uint64_t dropped; /* malformed lines dropped so far */
};

void qmp_parser_init(struct qmp_parser *p, size_t max_size, const char *peer);
void qmp_parser_release(struct qmp_parser *p);
/* Forgets any partial line and a sticky error. */
void qmp_parser_reset(struct qmp_parser *p);
/*
 * Feeds len bytes.  Returns 0, -EMSGSIZE once a line exceeds max_size (the
 * parser then stays failed), or the callback's negative return.
 */
int qmp_parser_feed(struct qmp_parser *p, const char *buf, size_t len, qmp_parser_msg_fn cb,
		    void *opaque);

/*
 * Turns a QMP/QGA "error" member into a vr_error naming command; returns the
 * negative errno.  Tolerates any JSON (including NULL) from a hostile peer.
 */
int qmp_error_from_reply(struct vr_error **err, const char *what, const char *command,
			 json_t *error);

/* Copies s for a log or error message, capped and with control chars escaped. */
char *qmp_sanitize_string(const char *s, size_t max_len);

/* ---- socket helpers shared by the QMP and QGA clients ---- */

/* UINT64_MAX (no deadline) for timeout_ms <= 0. */
uint64_t qmp_deadline(int timeout_ms);
/* Milliseconds left until deadline for poll(): -1 for none, 0 if past. */
int qmp_remaining_ms(uint64_t deadline);
/*
 * Connects a non-blocking, close-on-exec stream socket to the Unix socket
 * path, retrying ENOENT/ECONNREFUSED every 20 ms until deadline when retry
 * is true.  Returns the fd or a negative errno; what names the peer.
 */
int qmp_socket_connect(const char *path, const char *what, bool retry, uint64_t deadline,
		       struct vr_error **err);
/* poll()s fd for events until deadline: 1 ready, 0 timed out, -errno. */
int qmp_socket_wait(int fd, short events, uint64_t deadline);
/*
 * Writes all of data (with pass_fd as SCM_RIGHTS on the first byte when >=
 * 0) to a non-blocking socket, until deadline.  No SIGPIPE.
 */
int qmp_socket_send(int fd, const void *data, size_t len, int pass_fd, uint64_t deadline,
		    const char *what, struct vr_error **err);
/*
 * Serialises {"execute": command, "arguments": args, "id": id} plus "\n";
 * id 0 is left out.  args is borrowed.  Returns NULL and sets err if
 * command is not a valid QMP name or args is not an object.
 */
char *qmp_build_command(const char *command, json_t *args, uint64_t id, size_t *len,
			struct vr_error **err);

/*
 * A QMP object with no socket, whose messages come from
 * qmp_process_message(): lets tests and the fuzzer drive the message
 * dispatcher.  Free with qmp_close().
 */
struct qmp *qmp_new_detached(qmp_event_fn on_event, void *opaque);
void qmp_process_message(struct qmp *qmp, json_t *msg);

#endif
