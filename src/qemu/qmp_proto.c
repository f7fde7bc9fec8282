/* SPDX-License-Identifier: Apache-2.0 */
/* Wire protocol shared by the QMP and guest-agent clients: framing, errors, sockets. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "qemu/qmp_priv.h"

#define PARSER_LOG_FIRST 10
#define PARSER_LOG_EVERY 1000
#define CONNECT_RETRY_MS 20

void qmp_parser_init(struct qmp_parser *p, size_t max_size, const char *peer)
{
	memset(p, 0, sizeof(*p));
	p->max_size = max_size;
	p->peer = peer ? peer : "peer";
}

void qmp_parser_release(struct qmp_parser *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
}

void qmp_parser_reset(struct qmp_parser *p)
{
	p->len = 0;
	p->error = 0;
}

static void parser_drop(struct qmp_parser *p, const char *why, const char *line, size_t len)
{
	p->dropped++;
	if (p->dropped > PARSER_LOG_FIRST && p->dropped % PARSER_LOG_EVERY != 0)
		return;
	_cleanup_free_ char *copy = xstrndup(line, len < 200 ? len : 200);
	_cleanup_free_ char *shown = qmp_sanitize_string(copy, 200);
	log_warn("%s: dropping %s message (%zu bytes, %" PRIu64 " dropped so far): %s", p->peer,
		 why, len, p->dropped, shown);
}

/*
 * QEMU writes some unsigned 64-bit values that jansson cannot hold: above
 * INT64_MAX, in practice UINT64_MAX, QEMU's "not available" in the
 * balloon's guest statistics.  Such integers (outside strings) become -1.
 * Returns a rewritten copy, or NULL when there is none to rewrite.
 */
static char *clamp_huge_integers(const char *line, size_t len)
{
	char *out = NULL;
	size_t o = 0;
	bool in_str = false;
	for (size_t i = 0; i < len;) {
		char c = line[i];
		if (in_str) {
			if (c == '\\' && i + 1 < len) {
				if (out) {
					out[o++] = c;
					out[o++] = line[i + 1];
				}
				i += 2;
				continue;
			}
			if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c >= '0' && c <= '9' && (i == 0 || !(line[i - 1] == '-' ||
								  line[i - 1] == '.' ||
								  (line[i - 1] >= '0' && line[i - 1] <= '9')))) {
			size_t j = i;
			while (j < len && line[j] >= '0' && line[j] <= '9')
				j++;
			bool plain = j >= len || (line[j] != '.' && line[j] != 'e' && line[j] != 'E');
			/* INT64_MAX has 19 digits: longer, or as long and greater, overflows. */
			if (plain && (j - i > 19 ||
				      (j - i == 19 && memcmp(line + i, "9223372036854775807", 19) > 0))) {
				if (!out) {
					out = xmalloc(len + 1);
					memcpy(out, line, i);
					o = i;
				}
				out[o++] = '-';
				out[o++] = '1';
				i = j;
				continue;
			}
			if (out) {
				memcpy(out + o, line + i, j - i);
				o += j - i;
			}
			i = j;
			continue;
		}
		if (out)
			out[o++] = c;
		i++;
	}
	if (out)
		out[o] = '\0';
	return out;
}

static int parser_line(struct qmp_parser *p, const char *line, size_t len, qmp_parser_msg_fn cb,
		       void *opaque)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	while (len > 0 && (line[0] == ' ' || line[0] == '\t' || line[0] == '\r'))
		line++, len--;
	if (len == 0)
		return 0;

	json_error_t jerr;
	json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!msg) {
		_cleanup_free_ char *clamped = clamp_huge_integers(line, len);
		if (clamped)
			msg = json_loadb(clamped, strlen(clamped), JSON_REJECT_DUPLICATES, &jerr);
	}
	if (!msg) {
		parser_drop(p, "malformed", line, len);
		return 0;
	}
	int r = 0;
	if (json_is_object(msg))
		r = cb(msg, opaque);
	else
		parser_drop(p, "non-object", line, len);
	json_decref(msg);
	return r;
}

static int parser_append(struct qmp_parser *p, const char *buf, size_t len)
{
	if (len > p->max_size - p->len) {
		log_error("%s: message longer than %zu bytes, giving up on the connection",
			  p->peer, p->max_size);
		p->len = 0;
		p->error = -EMSGSIZE;
		return p->error;
	}
	if (p->len + len > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		while (cap < p->len + len)
			cap *= 2;
		if (cap > p->max_size)
			cap = p->max_size;
		p->buf = xrealloc(p->buf, cap);
		p->cap = cap;
	}
	memcpy(p->buf + p->len, buf, len);
	p->len += len;
	return 0;
}

int qmp_parser_feed(struct qmp_parser *p, const char *buf, size_t len, qmp_parser_msg_fn cb,
		    void *opaque)
{
	if (p->error)
		return p->error;
	while (len > 0) {
		if (p->await_sentinel) {
			const char *s = memchr(buf, 0xff, len);
			p->len = 0;
			if (!s)
				return 0;
			p->await_sentinel = false;
			len -= (size_t)(s + 1 - buf);
			buf = s + 1;
			continue;
		}
		const char *nl = memchr(buf, '\n', len);
		if (!nl)
			return parser_append(p, buf, len);
		size_t chunk = (size_t)(nl - buf);
		const char *line = buf;
		size_t line_len = chunk;
		if (p->len) {
			int r = parser_append(p, buf, chunk);
			if (r < 0)
				return r;
			line = p->buf;
			line_len = p->len;
		} else if (chunk > p->max_size) {
			return parser_append(p, buf, chunk);
		}
		buf = nl + 1;
		len -= chunk + 1;
		p->len = 0; /* p->buf stays valid while the line is parsed */
		int r = parser_line(p, line, line_len, cb, opaque);
		if (r < 0)
			return r;
	}
	return 0;
}

char *qmp_sanitize_string(const char *s, size_t max_len)
{
	if (!s)
		return xstrdup("(null)");
	size_t len = strnlen(s, max_len + 1);
	bool cut = len > max_len;
	if (cut)
		len = max_len;
	char *out = xmalloc(len + 4);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	strcpy(out + len, cut ? "..." : "");
	return out;
}

static int errno_for_class(const char *cls)
{
	if (strcmp(cls, "CommandNotFound") == 0)
		return EOPNOTSUPP;
	if (strcmp(cls, "DeviceNotFound") == 0 || strcmp(cls, "DeviceNotActive") == 0)
		return ENODEV;
	if (strcmp(cls, "KVMMissingCap") == 0)
		return ENOTSUP;
	return EIO;
}

int qmp_error_from_reply(struct vr_error **err, const char *what, const char *command,
			 json_t *error)
{
	json_t *jcls = json_object_get(error, "class");
	json_t *jdesc = json_object_get(error, "desc");
	const char *cls = json_is_string(jcls) ? json_string_value(jcls) : "UnknownError";
	const char *desc = json_is_string(jdesc) ? json_string_value(jdesc) : "no description";
	_cleanup_free_ char *safe_cls = qmp_sanitize_string(cls, 64);
	_cleanup_free_ char *safe_desc = qmp_sanitize_string(desc, 1024);
	return vr_error_set(err, errno_for_class(cls), "%s \"%s\" failed: %s: %s", what, command,
			    safe_cls, safe_desc);
}

uint64_t qmp_deadline(int timeout_ms)
{
	if (timeout_ms <= 0)
		return UINT64_MAX;
	return time_mono_ms() + (uint64_t)timeout_ms;
}

int qmp_remaining_ms(uint64_t deadline)
{
	if (deadline == UINT64_MAX)
		return -1;
	uint64_t now = time_mono_ms();
	if (now >= deadline)
		return 0;
	return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

int qmp_socket_wait(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int r = poll(&pfd, 1, qmp_remaining_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		return r > 0 ? 1 : 0;
	}
}

int qmp_socket_connect(const char *path, const char *what, bool retry, uint64_t deadline,
		       struct vr_error **err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		return vr_error_set(err, ENAMETOOLONG, "cannot connect to %s \"%s\": path too long",
				    what, path);
	strcpy(addr.sun_path, path);

	for (;;) {
		_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0)
			return vr_error_set_errno(err, errno, "cannot create a socket for %s", what);
		/* A Unix socket connect() completes or fails at once (or EAGAIN when the backlog is full). */
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return steal_fd(&fd);
		int e = errno;
		bool transient = e == ENOENT || e == ECONNREFUSED || e == EAGAIN || e == EINTR;
		if (!retry || !transient || qmp_remaining_ms(deadline) == 0)
			return vr_error_set_errno(err, e, "cannot connect to %s \"%s\"", what, path);
		int wait = qmp_remaining_ms(deadline);
		if (wait < 0 || wait > CONNECT_RETRY_MS)
			wait = CONNECT_RETRY_MS;
		struct timespec ts = { .tv_nsec = (long)wait * 1000000 };
		nanosleep(&ts, NULL);
	}
}

int qmp_socket_send(int fd, const void *data, size_t len, int pass_fd, uint64_t deadline,
		    const char *what, struct vr_error **err)
{
	const char *p = data;
	bool fd_sent = pass_fd < 0;
	while (len > 0) {
		ssize_t n;
		if (!fd_sent) {
			union {
				char buf[CMSG_SPACE(sizeof(int))];
				struct cmsghdr align;
			} u;
			memset(&u, 0, sizeof(u));
			struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
			struct msghdr mh = { .msg_iov = &iov,
					     .msg_iovlen = 1,
					     .msg_control = u.buf,
					     .msg_controllen = sizeof(u.buf) };
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
			n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else {
			n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return vr_error_set_errno(err, errno, "cannot write to %s", what);
			int r = qmp_socket_wait(fd, POLLOUT, deadline);
			if (r < 0)
				return vr_error_set_errno(err, r, "cannot write to %s: poll", what);
			if (r == 0)
				return vr_error_set(err, ETIMEDOUT,
						    "cannot write to %s: timed out (%zu bytes left)",
						    what, len);
			continue;
		}
		fd_sent = true;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static bool command_name_valid(const char *command)
{
	if (!command || !*command || strlen(command) > 128)
		return false;
	for (const char *c = command; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
			return false;
	return true;
}

char *qmp_build_command(const char *command, json_t *args, uint64_t id, size_t *len,
			struct vr_error **err)
{
	if (!command_name_valid(command)) {
		_cleanup_free_ char *shown = qmp_sanitize_string(command, 64);
		vr_error_set(err, EINVAL, "invalid QMP command name \"%s\"", shown);
		return NULL;
	}
	if (args && !json_is_object(args)) {
		vr_error_set(err, EINVAL, "arguments of command \"%s\" are not a JSON object",
			     command);
		return NULL;
	}
	json_t *msg = json_object();
	json_object_set_new(msg, "execute", json_string(command));
	if (args)
		json_object_set(msg, "arguments", args);
	if (id)
		json_object_set_new(msg, "id", json_integer((json_int_t)id));
	char *text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!text) {
		vr_error_set(err, EINVAL, "cannot serialise command \"%s\"", command);
		return NULL;
	}
	size_t n = strlen(text);
	char *line = xmalloc(n + 2);
	memcpy(line, text, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	free(text);
	*len = n + 1;
	return line;
}
