/* SPDX-License-Identifier: Apache-2.0 */
#include "qemu/qga.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "qemu/qga_priv.h"
#include "qemu/qmp_priv.h"

#define QGA_MAX_MESSAGE_SIZE (4u * 1024 * 1024)
#define QGA_READ_CHUNK (64 * 1024)
#define QGA_MAX_INBOX 64

struct qga {
	pthread_mutex_t lock; /* one transaction at a time */
	char *path;
	char *what; /* "guest agent socket \"path\"" */
	int fd;
	bool synced;
	json_int_t sync_id; /* non-zero while waiting for the sync reply */
	struct qmp_parser parser;
	json_t *inbox; /* messages read but not consumed yet */
	char *rbuf;
};

static void qga_disconnect(struct qga *qga)
{
	if (qga->fd >= 0)
		close(qga->fd);
	qga->fd = -1;
	qga->synced = false;
}

static int qga_on_message(json_t *msg, void *opaque)
{
	struct qga *qga = opaque;
	if (qga->sync_id) {
		json_t *r = json_object_get(msg, "return");
		if (json_is_integer(r) && json_integer_value(r) == qga->sync_id) {
			qga->sync_id = 0;
			qga->synced = true;
		} else {
			/* Stale: the reply we want comes after the next sentinel. */
			log_debug("%s: discarding a stale message during sync", qga->what);
			qga->parser.await_sentinel = true;
		}
		return 0;
	}
	if (json_array_size(qga->inbox) >= QGA_MAX_INBOX) {
		log_warn("%s: too many unsolicited messages, dropping one", qga->what);
		return 0;
	}
	json_array_append(qga->inbox, msg);
	return 0;
}

/*
 * Reads once (waiting until deadline) and feeds the parser.  Returns 0,
 * -ETIMEDOUT, or -ECONNRESET/-EPROTO (connection dropped).
 */
static int qga_read(struct qga *qga, uint64_t deadline, struct vr_error **err)
{
	int r = qmp_socket_wait(qga->fd, POLLIN, deadline);
	if (r == 0)
		return vr_error_set(err, ETIMEDOUT, "no reply from the guest agent on %s",
				    qga->what);
	if (r < 0) {
		qga_disconnect(qga);
		return vr_error_set_errno(err, r, "cannot read from %s", qga->what);
	}
	ssize_t n = recv(qga->fd, qga->rbuf, QGA_READ_CHUNK, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		int e = errno;
		qga_disconnect(qga);
		return vr_error_set_errno(err, e, "cannot read from %s", qga->what);
	}
	if (n == 0) {
		qga_disconnect(qga);
		return vr_error_set(err, ECONNRESET, "%s closed the connection", qga->what);
	}
	r = qmp_parser_feed(&qga->parser, qga->rbuf, (size_t)n, qga_on_message, qga);
	if (r < 0) {
		qga_disconnect(qga);
		return vr_error_set(err, EPROTO, "the guest agent sent an oversized message on %s",
				    qga->what);
	}
	return 0;
}

/* Next complete message, waiting until deadline. */
static int qga_next_message(struct qga *qga, uint64_t deadline, json_t **msg,
			    struct vr_error **err)
{
	while (json_array_size(qga->inbox) == 0) {
		int r = qga_read(qga, deadline, err);
		if (r < 0)
			return r;
	}
	*msg = json_incref(json_array_get(qga->inbox, 0));
	json_array_remove(qga->inbox, 0);
	return 0;
}

static int qga_sync(struct qga *qga, uint64_t deadline, struct vr_error **err)
{
	if (qga->fd < 0) {
		qga->fd = qmp_socket_connect(qga->path, "guest agent socket", false, deadline, err);
		if (qga->fd < 0)
			return qga->fd;
	}
	uint32_t rnd = 0;
	random_bytes(&rnd, sizeof(rnd));
	qga->sync_id = (json_int_t)(rnd & 0x7fffffff) + 1;
	qga->synced = false;
	json_array_clear(qga->inbox);
	qmp_parser_reset(&qga->parser);
	qga->parser.await_sentinel = true;

	json_t *args = json_pack("{s:I}", "id", qga->sync_id);
	size_t len = 0;
	_cleanup_free_ char *cmd = qmp_build_command("guest-sync-delimited", args, 0, &len, err);
	json_decref(args);
	if (!cmd)
		return -EINVAL;
	/* 0xFF resets the agent's parser, discarding any partial input. */
	_cleanup_free_ char *line = xmalloc(len + 1);
	line[0] = (char)0xff;
	memcpy(line + 1, cmd, len);
	int r = qmp_socket_send(qga->fd, line, len + 1, -1, deadline, qga->what, err);
	if (r < 0) {
		qga_disconnect(qga);
		return r;
	}
	while (!qga->synced) {
		r = qga_read(qga, deadline, err);
		if (r < 0) {
			qga->sync_id = 0;
			return vr_error_wrap(err, "cannot synchronise with the guest agent");
		}
	}
	json_array_clear(qga->inbox); /* nothing was asked after the sync */
	return 0;
}

enum qga_reply_mode {
	QGA_REPLY_EXPECTED,
	QGA_REPLY_NONE_ON_SUCCESS, /* guest-shutdown */
};

/*
 * Runs command with args (stolen) and stores the "return" member (caller
 * owns) in *ret.
 */
static int qga_execute(struct qga *qga, const char *command, json_t *args, int timeout_ms,
		       enum qga_reply_mode mode, json_t **ret, struct vr_error **err)
{
	uint64_t deadline = qmp_deadline(timeout_ms);
	size_t len = 0;
	*ret = NULL;
	_cleanup_free_ char *line = qmp_build_command(command, args, 0, &len, err);
	json_decref(args);
	if (!line)
		return -EINVAL;

	_cleanup_error_ struct vr_error *e = NULL;
	bool agent_error = false, sent = false;
	pthread_mutex_lock(&qga->lock);
	int r = 0;
	if (!qga->synced || qga->fd < 0)
		r = qga_sync(qga, deadline, &e);
	if (r == 0) {
		json_array_clear(qga->inbox);
		r = qmp_socket_send(qga->fd, line, len, -1, deadline, qga->what, &e);
		if (r < 0)
			qga_disconnect(qga);
		else
			sent = true;
	}
	while (r == 0) {
		json_t *msg = NULL;
		r = qga_next_message(qga, deadline, &msg, &e);
		if (r < 0)
			break;
		json_t *jret = json_object_get(msg, "return");
		json_t *jerr = json_object_get(msg, "error");
		if (jret) {
			*ret = json_incref(jret);
		} else if (jerr) {
			r = qmp_error_from_reply(&e, "guest agent command", command, jerr);
			agent_error = true;
		} else {
			log_warn("%s: ignoring a message that is not a reply", qga->what);
			json_decref(msg);
			continue;
		}
		json_decref(msg);
		break;
	}
	if (r == -ETIMEDOUT)
		qga->synced = false; /* a late reply may still come: resync next time */
	pthread_mutex_unlock(&qga->lock);

	if (mode == QGA_REPLY_NONE_ON_SUCCESS && sent && (r == -ETIMEDOUT || r == -ECONNRESET)) {
		log_debug("%s: no reply to \"%s\", as expected on success", qga->what, command);
		return 0;
	}
	if (r < 0) {
		if (!agent_error)
			vr_error_wrap(&e, "guest agent command \"%s\" failed", command);
		if (err && !*err)
			*err = steal_pointer(&e);
	}
	return r;
}

struct qga *qga_new(const char *socket_path)
{
	struct qga *qga = xcalloc(1, sizeof(*qga));
	pthread_mutex_init(&qga->lock, NULL);
	qga->fd = -1;
	qga->path = xstrdup(socket_path);
	qga->what = xasprintf("guest agent socket \"%s\"", socket_path);
	qga->inbox = json_array();
	qga->rbuf = xmalloc(QGA_READ_CHUNK);
	qmp_parser_init(&qga->parser, QGA_MAX_MESSAGE_SIZE, qga->what);
	return qga;
}

int qga_keep_connected(struct qga *qga, struct vr_error **err)
{
	if (pthread_mutex_trylock(&qga->lock) != 0)
		return 0; /* a command is running: the connection is in use */
	int r = 0;
	if (qga->fd < 0) {
		qga->fd = qmp_socket_connect(qga->path, "guest agent socket", false,
					     time_mono_ms(), err);
		if (qga->fd < 0) {
			r = qga->fd;
			qga->fd = -1;
		}
		qga->synced = false;
	}
	pthread_mutex_unlock(&qga->lock);
	return r;
}

struct qga *qga_open(const char *socket_path, int timeout_ms, struct vr_error **err)
{
	if (!socket_path) {
		vr_error_set(err, EINVAL, "qga_open: no socket path");
		return NULL;
	}
	uint64_t deadline = qmp_deadline(timeout_ms);
	struct qga *qga = qga_new(socket_path);
	qga->fd = qmp_socket_connect(socket_path, "guest agent socket", true, deadline, err);
	if (qga->fd < 0 || qga_sync(qga, deadline, err) < 0) {
		qga_close(qga);
		return NULL;
	}
	return qga;
}

void qga_close(struct qga *qga)
{
	if (!qga)
		return;
	qga_disconnect(qga);
	qmp_parser_release(&qga->parser);
	json_decref(qga->inbox);
	pthread_mutex_destroy(&qga->lock);
	free(qga->rbuf);
	free(qga->what);
	free(qga->path);
	free(qga);
}

int qga_ping(struct qga *qga, int timeout_ms, struct vr_error **err)
{
	json_t *ret = NULL;
	int r = qga_execute(qga, "guest-ping", NULL, timeout_ms, QGA_REPLY_EXPECTED, &ret, err);
	json_decref(ret);
	return r;
}

int qga_get_host_name(struct qga *qga, int timeout_ms, char **out, struct vr_error **err)
{
	json_t *ret = NULL;
	*out = NULL;
	int r = qga_execute(qga, "guest-get-host-name", NULL, timeout_ms, QGA_REPLY_EXPECTED,
			    &ret, err);
	if (r == 0)
		r = qga_parse_host_name(ret, out, err);
	json_decref(ret);
	return r;
}

int qga_get_interfaces(struct qga *qga, int timeout_ms, struct qga_iface **out, size_t *n,
		       struct vr_error **err)
{
	json_t *ret = NULL;
	*out = NULL;
	*n = 0;
	int r = qga_execute(qga, "guest-network-get-interfaces", NULL, timeout_ms,
			    QGA_REPLY_EXPECTED, &ret, err);
	if (r == 0)
		r = qga_parse_interfaces(ret, out, n, err);
	json_decref(ret);
	return r;
}

int qga_get_osinfo(struct qga *qga, int timeout_ms, struct qga_osinfo **out,
		   struct vr_error **err)
{
	json_t *ret = NULL;
	*out = NULL;
	int r = qga_execute(qga, "guest-get-osinfo", NULL, timeout_ms, QGA_REPLY_EXPECTED, &ret,
			    err);
	if (r == 0)
		r = qga_parse_osinfo(ret, out, err);
	json_decref(ret);
	return r;
}

int qga_shutdown(struct qga *qga, const char *mode, int timeout_ms, struct vr_error **err)
{
	if (!mode || (strcmp(mode, "powerdown") != 0 && strcmp(mode, "reboot") != 0 &&
		      strcmp(mode, "halt") != 0))
		return vr_error_set(err, EINVAL,
				    "invalid guest shutdown mode \"%s\" (powerdown, reboot or halt)",
				    mode ? mode : "");
	json_t *ret = NULL;
	int r = qga_execute(qga, "guest-shutdown", json_pack("{s:s}", "mode", mode), timeout_ms,
			    QGA_REPLY_NONE_ON_SUCCESS, &ret, err);
	json_decref(ret);
	return r;
}

static int qga_count_command(struct qga *qga, const char *command, int timeout_ms,
			     struct vr_error **err)
{
	json_t *ret = NULL;
	int r = qga_execute(qga, command, NULL, timeout_ms, QGA_REPLY_EXPECTED, &ret, err);
	if (r == 0)
		r = qga_parse_count(ret, command, err);
	json_decref(ret);
	return r;
}

int qga_fsfreeze_freeze(struct qga *qga, int timeout_ms, struct vr_error **err)
{
	return qga_count_command(qga, "guest-fsfreeze-freeze", timeout_ms, err);
}

int qga_fsfreeze_thaw(struct qga *qga, int timeout_ms, struct vr_error **err)
{
	return qga_count_command(qga, "guest-fsfreeze-thaw", timeout_ms, err);
}

int qga_fsfreeze_status(struct qga *qga, int timeout_ms, bool *frozen, struct vr_error **err)
{
	json_t *ret = NULL;
	int r = qga_execute(qga, "guest-fsfreeze-status", NULL, timeout_ms, QGA_REPLY_EXPECTED,
			    &ret, err);
	if (r == 0)
		r = qga_parse_fsfreeze_status(ret, frozen, err);
	json_decref(ret);
	return r;
}
