/* SPDX-License-Identifier: Apache-2.0 */
#include "qemu/qmp.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/util.h"
#include "qemu/qmp_priv.h"

#define QMP_READ_CHUNK (64 * 1024)
/* Bound on how long a write may block when the command has no timeout. */
#define QMP_WRITE_MAX_MS 30000

struct qmp_pending {
	uint64_t id;
	char *command;
	struct qmp_pending *next;
	/* synchronous: the waiter owns the struct (on its stack) */
	bool done;
	json_t *ret;
	struct vr_error *err;
	/* asynchronous (cb != NULL): owned by the list, freed on the loop thread */
	qmp_reply_fn cb;
	void *opaque;
	uint64_t timer_id;
	struct qmp *qmp;
};

struct qmp {
	struct vr_loop *loop;
	int fd;
	char *path;
	char *what; /* "QMP socket \"path\"" for messages */
	char *version;
	qmp_event_fn on_event;
	void *opaque;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* replies delivered, users left, close done */
	bool connected;
	bool closing;
	bool close_done;
	unsigned users; /* threads inside qmp_execute*() */
	uint64_t next_id;
	struct qmp_pending *pending;

	pthread_mutex_t write_lock; /* one message at a time on the socket */

	/* loop thread only (and qmp_open before the fd is registered) */
	bool watching;
	bool disconnect_reported;
	struct qmp_parser parser;
	char *rbuf;
};

static struct qmp *qmp_alloc(qmp_event_fn on_event, void *opaque, const char *path)
{
	struct qmp *qmp = xcalloc(1, sizeof(*qmp));
	qmp->fd = -1;
	qmp->path = xstrdup(path);
	qmp->what = xasprintf("QMP socket \"%s\"", path);
	qmp->on_event = on_event;
	qmp->opaque = opaque;
	qmp->next_id = 1;
	pthread_mutex_init(&qmp->lock, NULL);
	pthread_mutex_init(&qmp->write_lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&qmp->cond, &attr);
	pthread_condattr_destroy(&attr);
	qmp_parser_init(&qmp->parser, QMP_MAX_MESSAGE_SIZE, qmp->what);
	qmp->rbuf = xmalloc(QMP_READ_CHUNK);
	return qmp;
}

static void qmp_free(struct qmp *qmp)
{
	if (qmp->fd >= 0)
		close(qmp->fd);
	qmp_parser_release(&qmp->parser);
	pthread_cond_destroy(&qmp->cond);
	pthread_mutex_destroy(&qmp->write_lock);
	pthread_mutex_destroy(&qmp->lock);
	free(qmp->rbuf);
	free(qmp->version);
	free(qmp->what);
	free(qmp->path);
	free(qmp);
}

static void pending_free(struct qmp_pending *p)
{
	free(p->command);
	json_decref(p->ret);
	vr_error_free(p->err);
	free(p);
}

/* With qmp->lock held. */
static struct qmp_pending *qmp_unlink_pending(struct qmp *qmp, uint64_t id)
{
	for (struct qmp_pending **pp = &qmp->pending; *pp; pp = &(*pp)->next) {
		if ((*pp)->id == id) {
			struct qmp_pending *p = *pp;
			*pp = p->next;
			p->next = NULL;
			return p;
		}
	}
	return NULL;
}

/* Loop thread, qmp->lock not held: finishes an async command and frees it. */
static void qmp_complete_async(struct qmp *qmp, struct qmp_pending *p, json_t *ret,
			       const struct vr_error *err)
{
	if (p->timer_id && qmp->loop)
		vr_loop_cancel_timer(qmp->loop, p->timer_id);
	p->cb(qmp, ret, err, p->opaque);
	pending_free(p);
}

/* ---- disconnection ---- */

/* Loop thread (or the closing thread once the loop is gone). */
static void qmp_disconnect(struct qmp *qmp, const char *reason)
{
	if (qmp->watching) {
		vr_loop_remove_fd(qmp->loop, qmp->fd);
		qmp->watching = false;
	}
	if (qmp->fd >= 0)
		shutdown(qmp->fd, SHUT_RDWR); /* makes concurrent writers fail at once */

	pthread_mutex_lock(&qmp->lock);
	bool was_connected = qmp->connected;
	bool closing = qmp->closing;
	qmp->connected = false;
	struct qmp_pending *list = qmp->pending, *async_list = NULL;
	qmp->pending = NULL;
	while (list) {
		struct qmp_pending *p = list;
		list = p->next;
		if (p->cb) {
			p->next = async_list;
			async_list = p;
		} else {
			vr_error_set(&p->err, ECONNRESET, "QMP command \"%s\" failed: %s",
				     p->command, reason);
			p->done = true;
		}
	}
	pthread_cond_broadcast(&qmp->cond);
	pthread_mutex_unlock(&qmp->lock);

	while (async_list) {
		struct qmp_pending *p = async_list;
		async_list = p->next;
		_cleanup_error_ struct vr_error *err = NULL;
		vr_error_set(&err, ECONNRESET, "QMP command \"%s\" failed: %s", p->command, reason);
		qmp_complete_async(qmp, p, NULL, err);
	}

	if (was_connected && !closing) {
		log_info("%s: %s", qmp->what, reason);
		if (!qmp->disconnect_reported && qmp->on_event) {
			qmp->disconnect_reported = true;
			qmp->on_event(qmp, QMP_EVENT_DISCONNECTED, NULL, time_real_ms() * 1000,
				      qmp->opaque);
		}
	}
}

/* ---- incoming messages ---- */

static uint64_t qmp_event_timestamp(json_t *msg)
{
	json_t *ts = json_object_get(msg, "timestamp");
	json_t *sec = json_object_get(ts, "seconds");
	json_t *usec = json_object_get(ts, "microseconds");
	if (!json_is_integer(sec) || !json_is_integer(usec))
		return 0;
	json_int_t s = json_integer_value(sec), us = json_integer_value(usec);
	if (s < 0 || us < 0 || us >= 1000000 || (uint64_t)s > UINT64_MAX / 1000000 - 1)
		return 0;
	return (uint64_t)s * 1000000 + (uint64_t)us;
}

static void qmp_handle_reply(struct qmp *qmp, json_t *msg, json_t *jid)
{
	json_t *ret = json_object_get(msg, "return");
	json_t *error = json_object_get(msg, "error");
	if (!json_is_integer(jid) || json_integer_value(jid) <= 0) {
		if (error) {
			_cleanup_error_ struct vr_error *e = NULL;
			qmp_error_from_reply(&e, "QMP", "(unknown)", error);
			log_warn("%s: error without a command id: %s", qmp->what, vr_error_msg(e));
		} else {
			log_warn("%s: dropping a reply without a valid command id", qmp->what);
		}
		return;
	}
	uint64_t id = (uint64_t)json_integer_value(jid);

	pthread_mutex_lock(&qmp->lock);
	struct qmp_pending *p = qmp_unlink_pending(qmp, id);
	if (!p) {
		pthread_mutex_unlock(&qmp->lock);
		log_debug("%s: dropping the reply to unknown or timed-out command %" PRIu64,
			  qmp->what, id);
		return;
	}
	_cleanup_error_ struct vr_error *err = NULL;
	if (ret)
		log_debug("%s: command \"%s\" (id %" PRIu64 ") succeeded", qmp->what, p->command,
			  id);
	else
		qmp_error_from_reply(&err, "QMP command", p->command, error);

	if (!p->cb) {
		if (ret)
			p->ret = json_incref(ret);
		else
			p->err = steal_pointer(&err);
		p->done = true;
		pthread_cond_broadcast(&qmp->cond);
		pthread_mutex_unlock(&qmp->lock);
		return;
	}
	pthread_mutex_unlock(&qmp->lock);
	qmp_complete_async(qmp, p, ret, err);
}

void qmp_process_message(struct qmp *qmp, json_t *msg)
{
	json_t *event = json_object_get(msg, "event");
	if (event) {
		if (!json_is_string(event)) {
			log_warn("%s: dropping an event whose name is not a string", qmp->what);
			return;
		}
		json_t *data = json_object_get(msg, "data");
		if (data && !json_is_object(data))
			data = NULL;
		const char *name = json_string_value(event);
		log_debug("%s: event %s", qmp->what, name);
		if (qmp->on_event && strcmp(name, QMP_EVENT_DISCONNECTED) != 0)
			qmp->on_event(qmp, name, data, qmp_event_timestamp(msg), qmp->opaque);
		return;
	}
	if (json_object_get(msg, "return") || json_is_object(json_object_get(msg, "error"))) {
		qmp_handle_reply(qmp, msg, json_object_get(msg, "id"));
		return;
	}
	if (json_object_get(msg, "QMP")) {
		log_warn("%s: ignoring an unexpected second greeting", qmp->what);
		return;
	}
	log_warn("%s: ignoring a message that is neither an event nor a reply", qmp->what);
}

static int qmp_on_message(json_t *msg, void *opaque)
{
	qmp_process_message(opaque, msg);
	return 0;
}

static void qmp_on_readable(int fd, uint32_t events, void *opaque)
{
	struct qmp *qmp = opaque;
	ssize_t n = recv(fd, qmp->rbuf, QMP_READ_CHUNK, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == ECONNRESET) {
			qmp_disconnect(qmp, "QEMU closed the connection");
			return;
		}
		_cleanup_free_ char *reason = xasprintf("read failed: %s", strerror(errno));
		qmp_disconnect(qmp, reason);
		return;
	}
	if (n == 0) {
		qmp_disconnect(qmp, "QEMU closed the connection");
		return;
	}
	int r = qmp_parser_feed(&qmp->parser, qmp->rbuf, (size_t)n, qmp_on_message, qmp);
	if (r == -EMSGSIZE)
		qmp_disconnect(qmp, "QEMU sent an oversized message");
	else if (r < 0)
		qmp_disconnect(qmp, "protocol error");
}

/* ---- sending ---- */

static int qmp_send(struct qmp *qmp, const char *line, size_t len, int pass_fd,
		    uint64_t deadline, struct vr_error **err)
{
	uint64_t cap = time_mono_ms() + QMP_WRITE_MAX_MS;
	pthread_mutex_lock(&qmp->write_lock);
	int r = qmp_socket_send(qmp->fd, line, len, pass_fd, deadline < cap ? deadline : cap,
				qmp->what, err);
	if (r < 0)
		shutdown(qmp->fd, SHUT_RDWR); /* the stream is unusable; the loop disconnects */
	pthread_mutex_unlock(&qmp->write_lock);
	return r;
}

static void qmp_user_leave(struct qmp *qmp)
{
	qmp->users--;
	if (qmp->users == 0 && qmp->closing)
		pthread_cond_broadcast(&qmp->cond);
}

static int qmp_wait_reply(struct qmp *qmp, struct qmp_pending *p, uint64_t deadline)
{
	while (!p->done) {
		if (deadline == UINT64_MAX) {
			pthread_cond_wait(&qmp->cond, &qmp->lock);
			continue;
		}
		struct timespec ts = { .tv_sec = (time_t)(deadline / 1000),
				       .tv_nsec = (long)(deadline % 1000) * 1000000 };
		if (pthread_cond_timedwait(&qmp->cond, &qmp->lock, &ts) == ETIMEDOUT && !p->done)
			return -ETIMEDOUT;
	}
	return 0;
}

static int qmp_execute_common(struct qmp *qmp, const char *command, json_t *args, int pass_fd,
			      int timeout_ms, json_t **ret, struct vr_error **err)
{
	if (ret)
		*ret = NULL;
	if (vr_loop_in_loop_thread(qmp->loop)) {
		json_decref(args);
		return vr_error_set(err, EDEADLK,
				    "QMP command \"%s\" cannot be run synchronously on the event loop thread",
				    command ? command : "");
	}
	uint64_t deadline = qmp_deadline(timeout_ms);
	struct qmp_pending p = { .command = (char *)(command ? command : "") };

	/* Listed before anything is sent, atomically with the connected check. */
	pthread_mutex_lock(&qmp->lock);
	if (!qmp->connected || qmp->closing || qmp->fd < 0) {
		pthread_mutex_unlock(&qmp->lock);
		json_decref(args);
		return vr_error_set(err, ECONNRESET, "cannot run QMP command \"%s\": %s is closed",
				    command ? command : "", qmp->what);
	}
	p.id = qmp->next_id++;
	p.next = qmp->pending;
	qmp->pending = &p;
	qmp->users++;
	pthread_mutex_unlock(&qmp->lock);

	size_t len = 0;
	_cleanup_free_ char *line = qmp_build_command(command, args, p.id, &len, err);
	json_decref(args);
	if (!line) {
		pthread_mutex_lock(&qmp->lock);
		if (!p.done)
			qmp_unlink_pending(qmp, p.id);
		qmp_user_leave(qmp);
		pthread_mutex_unlock(&qmp->lock);
		vr_error_free(p.err);
		return -EINVAL;
	}

	struct vr_error *send_err = NULL;
	int r = qmp_send(qmp, line, len, pass_fd, deadline, &send_err);

	pthread_mutex_lock(&qmp->lock);
	if (r == 0)
		r = qmp_wait_reply(qmp, &p, deadline);
	if (!p.done)
		qmp_unlink_pending(qmp, p.id);
	qmp_user_leave(qmp);
	pthread_mutex_unlock(&qmp->lock);

	if (send_err) {
		vr_error_wrap(&send_err, "QMP command \"%s\" failed", command);
		r = -send_err->code;
		if (err && !*err)
			*err = send_err;
		else
			vr_error_free(send_err);
		json_decref(p.ret);
		vr_error_free(p.err);
		return r;
	}
	if (r == -ETIMEDOUT)
		return vr_error_set(err, ETIMEDOUT, "QMP command \"%s\" timed out after %d ms on %s",
				    command, timeout_ms, qmp->what);
	if (p.err) {
		r = -p.err->code;
		if (err && !*err)
			*err = p.err;
		else
			vr_error_free(p.err);
		return r;
	}
	if (ret)
		*ret = p.ret;
	else
		json_decref(p.ret);
	return 0;
}

int qmp_execute(struct qmp *qmp, const char *command, json_t *args, int timeout_ms,
		json_t **ret, struct vr_error **err)
{
	return qmp_execute_common(qmp, command, args, -1, timeout_ms, ret, err);
}

int qmp_execute_with_fd(struct qmp *qmp, const char *command, json_t *args, int fd,
			int timeout_ms, json_t **ret, struct vr_error **err)
{
	if (fd < 0) {
		json_decref(args);
		return vr_error_set(err, EBADF, "QMP command \"%s\": no file descriptor to pass",
				    command ? command : "");
	}
	return qmp_execute_common(qmp, command, args, fd, timeout_ms, ret, err);
}

static void qmp_async_timeout(void *opaque)
{
	struct qmp_pending *p = opaque;
	struct qmp *qmp = p->qmp;
	pthread_mutex_lock(&qmp->lock);
	struct qmp_pending *found = qmp_unlink_pending(qmp, p->id);
	pthread_mutex_unlock(&qmp->lock);
	if (!found)
		return;
	p->timer_id = 0; /* one-shot: already gone */
	_cleanup_error_ struct vr_error *err = NULL;
	vr_error_set(&err, ETIMEDOUT, "QMP command \"%s\" timed out on %s", p->command, qmp->what);
	qmp_complete_async(qmp, p, NULL, err);
}

int qmp_execute_async(struct qmp *qmp, const char *command, json_t *args, int timeout_ms,
		      qmp_reply_fn cb, void *opaque)
{
	if (!cb) {
		json_decref(args);
		return -EINVAL;
	}
	_cleanup_error_ struct vr_error *err = NULL;
	size_t len = 0;
	struct qmp_pending *p = xcalloc(1, sizeof(*p));
	p->command = xstrdup(command);
	p->cb = cb;
	p->opaque = opaque;
	p->qmp = qmp;

	pthread_mutex_lock(&qmp->lock);
	if (!qmp->connected || qmp->closing || qmp->fd < 0 || !qmp->loop) {
		pthread_mutex_unlock(&qmp->lock);
		json_decref(args);
		pending_free(p);
		return -ECONNRESET;
	}
	p->id = qmp->next_id++;
	_cleanup_free_ char *line = qmp_build_command(command, args, p->id, &len, &err);
	json_decref(args);
	if (!line) {
		pthread_mutex_unlock(&qmp->lock);
		log_error("%s", vr_error_msg(err));
		pending_free(p);
		return -EINVAL;
	}
	if (timeout_ms > 0) {
		/* Under qmp->lock, so the timer cannot see p before it is listed. */
		p->timer_id = vr_loop_add_timer(qmp->loop, (uint64_t)timeout_ms, 0,
						qmp_async_timeout, p);
		if (!p->timer_id) {
			pthread_mutex_unlock(&qmp->lock);
			pending_free(p);
			return -ESHUTDOWN;
		}
	}
	p->next = qmp->pending;
	qmp->pending = p;
	qmp->users++;
	pthread_mutex_unlock(&qmp->lock);

	/* On failure the socket is shut down and the loop fails p with ECONNRESET. */
	if (qmp_send(qmp, line, len, -1, qmp_deadline(timeout_ms), &err) < 0)
		log_warn("%s", vr_error_msg(err));

	pthread_mutex_lock(&qmp->lock);
	qmp_user_leave(qmp);
	pthread_mutex_unlock(&qmp->lock);
	return 0;
}

/* ---- opening and closing ---- */

static int qmp_on_greeting(json_t *msg, void *opaque)
{
	json_t **slot = opaque;
	if (*slot) {
		log_warn("QMP: dropping a message received before capabilities negotiation");
		return 0;
	}
	*slot = json_incref(msg);
	return 0;
}

static int qmp_read_greeting(struct qmp *qmp, uint64_t deadline, struct vr_error **err)
{
	json_t *greeting = NULL;
	while (!greeting) {
		int r = qmp_socket_wait(qmp->fd, POLLIN, deadline);
		if (r == 0)
			return vr_error_set(err, ETIMEDOUT, "no QMP greeting from %s", qmp->what);
		if (r < 0)
			return vr_error_set_errno(err, r, "cannot read from %s", qmp->what);
		ssize_t n = recv(qmp->fd, qmp->rbuf, QMP_READ_CHUNK, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return vr_error_set_errno(err, errno, "cannot read from %s", qmp->what);
		if (n == 0)
			return vr_error_set(err, ECONNRESET,
					    "%s closed the connection before the greeting", qmp->what);
		r = qmp_parser_feed(&qmp->parser, qmp->rbuf, (size_t)n, qmp_on_greeting, &greeting);
		if (r < 0) {
			json_decref(greeting);
			return vr_error_set(err, EPROTO, "oversized greeting from %s", qmp->what);
		}
	}

	json_t *q = json_object_get(greeting, "QMP");
	if (!json_is_object(q)) {
		json_decref(greeting);
		return vr_error_set(err, EPROTO, "%s did not send a QMP greeting", qmp->what);
	}
	json_t *qv = json_object_get(json_object_get(q, "version"), "qemu");
	json_t *major = json_object_get(qv, "major"), *minor = json_object_get(qv, "minor"),
	       *micro = json_object_get(qv, "micro");
	if (json_is_integer(major) && json_is_integer(minor) && json_is_integer(micro))
		qmp->version = xasprintf("%" JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT
					 ".%" JSON_INTEGER_FORMAT,
					 json_integer_value(major), json_integer_value(minor),
					 json_integer_value(micro));
	else
		qmp->version = xstrdup("unknown");
	json_decref(greeting);
	return 0;
}

struct qmp *qmp_open(struct vr_loop *loop, const char *socket_path, int timeout_ms,
		     qmp_event_fn on_event, void *opaque, struct vr_error **err)
{
	if (!loop || !socket_path) {
		vr_error_set(err, EINVAL, "qmp_open: no event loop or socket path");
		return NULL;
	}
	if (vr_loop_in_loop_thread(loop)) {
		vr_error_set(err, EDEADLK, "cannot open QMP socket \"%s\" on the event loop thread",
			     socket_path);
		return NULL;
	}
	uint64_t deadline = qmp_deadline(timeout_ms);
	struct qmp *qmp = qmp_alloc(on_event, opaque, socket_path);
	qmp->loop = loop;
	qmp->fd = qmp_socket_connect(socket_path, "QMP socket", true, deadline, err);
	if (qmp->fd < 0 || qmp_read_greeting(qmp, deadline, err) < 0) {
		qmp_free(qmp);
		return NULL;
	}

	qmp->connected = true;
	qmp->watching = true;
	int r = vr_loop_add_fd(loop, qmp->fd, EPOLLIN | EPOLLRDHUP, qmp_on_readable, qmp);
	if (r < 0) {
		qmp->watching = false;
		vr_error_set_errno(err, r, "cannot watch %s", qmp->what);
		qmp_free(qmp);
		return NULL;
	}
	int left = qmp_remaining_ms(deadline);
	if (left == 0)
		left = 1;
	if (qmp_execute(qmp, "qmp_capabilities", NULL, left, NULL, err) < 0) {
		vr_error_wrap(err, "cannot negotiate capabilities on %s", qmp->what);
		qmp_close(qmp);
		return NULL;
	}
	log_debug("%s: connected to QEMU %s", qmp->what, qmp->version);
	return qmp;
}

struct qmp *qmp_new_detached(qmp_event_fn on_event, void *opaque)
{
	struct qmp *qmp = qmp_alloc(on_event, opaque, "(detached)");
	qmp->connected = true;
	qmp->version = xstrdup("unknown");
	return qmp;
}

static void qmp_close_on_loop(void *opaque)
{
	struct qmp *qmp = opaque;
	pthread_mutex_lock(&qmp->lock);
	qmp->closing = true;
	pthread_mutex_unlock(&qmp->lock);
	qmp_disconnect(qmp, "connection closed");
	pthread_mutex_lock(&qmp->lock);
	qmp->close_done = true;
	pthread_cond_broadcast(&qmp->cond);
	pthread_mutex_unlock(&qmp->lock);
}

void qmp_close(struct qmp *qmp)
{
	if (!qmp)
		return;
	if (vr_loop_in_loop_thread(qmp->loop)) {
		log_error("qmp_close() called on the event loop thread for %s; leaking it",
			  qmp->what);
		return;
	}
	if (!qmp->loop || vr_loop_call(qmp->loop, qmp_close_on_loop, qmp) < 0)
		qmp_close_on_loop(qmp);
	pthread_mutex_lock(&qmp->lock);
	while (!qmp->close_done || qmp->users > 0)
		pthread_cond_wait(&qmp->cond, &qmp->lock);
	pthread_mutex_unlock(&qmp->lock);
	qmp_free(qmp);
}

bool qmp_is_connected(struct qmp *qmp)
{
	pthread_mutex_lock(&qmp->lock);
	bool c = qmp->connected;
	pthread_mutex_unlock(&qmp->lock);
	return c;
}

const char *qmp_get_version(struct qmp *qmp)
{
	return qmp->version ? qmp->version : "unknown";
}
