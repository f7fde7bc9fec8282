/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/util.h"
#include "qemu/nic.h"
#include "qemu/qmp.h"
#include "qemu/qmp_priv.h"

#define GREETING                                                                       \
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, " \
	"\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n"

/* ---- fake QMP server, run in a thread ---- */

struct env;
typedef void (*script_fn)(struct env *env, int fd);

struct env {
	struct vr_loop *loop;
	char dir[64];
	char path[128];
	int listen_fd;
	pthread_t thread;
	bool thread_started;
	script_fn script;
	int failed_line;  /* first failed check in the server thread */
	int received_fd;  /* from SCM_RIGHTS */
	int bind_delay_ms;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *events[64];
	char *shutdown_reason;
	uint64_t last_timestamp;
	int n_events;
	int n_disconnected;
	int n_async;
	int async_errno[8];
	json_t *async_ret[8];
};

#define SRV_CHECK(env, cond)                                 \
	do {                                                 \
		if (!(cond)) {                               \
			if (!(env)->failed_line)             \
				(env)->failed_line = __LINE__; \
			return;                              \
		}                                            \
	} while (0)

static void srv_send(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static void srv_sends(int fd, const char *s)
{
	srv_send(fd, s, strlen(s));
}

/* Reads one line byte by byte, picking up any SCM_RIGHTS fd. NULL on EOF. */
static char *srv_read_line(struct env *env, int fd)
{
	size_t len = 0, cap = 256;
	char *line = xmalloc(cap);
	for (;;) {
		char c;
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { .iov_base = &c, .iov_len = 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(line);
			return NULL;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				memcpy(&env->received_fd, CMSG_DATA(cm), sizeof(int));
		if (c == '\n') {
			line[len] = '\0';
			return line;
		}
		if (len + 2 > cap)
			line = xrealloc(line, cap *= 2);
		line[len++] = c;
	}
}

/* Reads a command; returns it (caller decrefs) and its id, or NULL on EOF. */
static json_t *srv_read_cmd(struct env *env, int fd, const char *expect, json_int_t *id)
{
	_cleanup_free_ char *line = srv_read_line(env, fd);
	if (!line)
		return NULL;
	json_t *cmd = json_loads(line, 0, NULL);
	const char *name = json_string_value(json_object_get(cmd, "execute"));
	if (!name || (expect && strcmp(name, expect) != 0) ||
	    !json_is_integer(json_object_get(cmd, "id"))) {
		json_decref(cmd);
		return NULL;
	}
	*id = json_integer_value(json_object_get(cmd, "id"));
	return cmd;
}

static void srv_reply(int fd, json_int_t id, const char *ret_json)
{
	char *s = xasprintf("{\"return\": %s, \"id\": %lld}\r\n", ret_json, (long long)id);
	srv_sends(fd, s);
	free(s);
}

static bool srv_greet(struct env *env, int fd)
{
	srv_sends(fd, GREETING);
	json_int_t id;
	json_t *cmd = srv_read_cmd(env, fd, "qmp_capabilities", &id);
	if (!cmd)
		return false;
	json_decref(cmd);
	srv_reply(fd, id, "{}");
	return true;
}

static void srv_wait_eof(struct env *env, int fd)
{
	char *line;
	while ((line = srv_read_line(env, fd)))
		free(line);
}

static void *srv_thread(void *arg)
{
	struct env *env = arg;
	if (env->bind_delay_ms) {
		usleep((useconds_t)env->bind_delay_ms * 1000);
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		strcpy(addr.sun_path, env->path);
		env->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (bind(env->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
		    listen(env->listen_fd, 4) < 0) {
			env->failed_line = __LINE__;
			return NULL;
		}
	}
	struct pollfd pfd = { .fd = env->listen_fd, .events = POLLIN };
	if (poll(&pfd, 1, 10000) != 1) {
		env->failed_line = __LINE__;
		return NULL;
	}
	int fd = accept4(env->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		env->failed_line = __LINE__;
		return NULL;
	}
	env->script(env, fd);
	close(fd);
	return NULL;
}

static void fake_start(struct env *env, script_fn script)
{
	env->script = script;
	if (!env->bind_delay_ms) {
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		strcpy(addr.sun_path, env->path);
		env->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(env->listen_fd >= 0);
		assert_int_equal(bind(env->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
		assert_int_equal(listen(env->listen_fd, 4), 0);
	}
	assert_int_equal(pthread_create(&env->thread, NULL, srv_thread, env), 0);
	env->thread_started = true;
}

static void fake_join(struct env *env)
{
	pthread_join(env->thread, NULL);
	env->thread_started = false;
	if (env->failed_line)
		fail_msg("fake QMP server check failed at line %d", env->failed_line);
}

/* ---- client-side recorders ---- */

static void on_event(struct qmp *qmp, const char *event, json_t *data, uint64_t ts,
		     void *opaque)
{
	struct env *env = opaque;
	pthread_mutex_lock(&env->lock);
	if (strcmp(event, QMP_EVENT_DISCONNECTED) == 0) {
		env->n_disconnected++;
	} else if (env->n_events < (int)ARRAY_SIZE(env->events)) {
		env->events[env->n_events++] = xstrdup(event);
		env->last_timestamp = ts;
		const char *reason = json_string_value(json_object_get(data, "reason"));
		if (strcmp(event, "SHUTDOWN") == 0 && reason) {
			free(env->shutdown_reason);
			env->shutdown_reason = xstrdup(reason);
		}
	}
	pthread_cond_broadcast(&env->cond);
	pthread_mutex_unlock(&env->lock);
}

static bool has_event(struct env *env, const char *name)
{
	for (int i = 0; i < env->n_events; i++)
		if (strcmp(env->events[i], name) == 0)
			return true;
	return false;
}

/* Waits for an event (or, with name NULL, for the disconnection). */
static bool wait_event(struct env *env, const char *name, int timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	pthread_mutex_lock(&env->lock);
	bool found;
	while (!(found = name ? has_event(env, name) : env->n_disconnected > 0) &&
	       time_mono_ms() < deadline) {
		pthread_mutex_unlock(&env->lock);
		usleep(2000);
		pthread_mutex_lock(&env->lock);
	}
	pthread_mutex_unlock(&env->lock);
	return found;
}

static void on_async_reply(struct qmp *qmp, json_t *ret, const struct vr_error *err,
			   void *opaque)
{
	struct env *env = opaque;
	pthread_mutex_lock(&env->lock);
	int i = env->n_async++;
	if (i < (int)ARRAY_SIZE(env->async_ret)) {
		env->async_errno[i] = err ? err->code : 0;
		env->async_ret[i] = json_incref(ret);
	}
	pthread_mutex_unlock(&env->lock);
}

static int wait_async(struct env *env, int n, int timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	pthread_mutex_lock(&env->lock);
	while (env->n_async < n && time_mono_ms() < deadline) {
		pthread_mutex_unlock(&env->lock);
		usleep(2000);
		pthread_mutex_lock(&env->lock);
	}
	int got = env->n_async;
	pthread_mutex_unlock(&env->lock);
	return got;
}

static int setup(void **state)
{
	struct env *env = xcalloc(1, sizeof(*env));
	strcpy(env->dir, "/tmp/vireo-test-qmp-XXXXXX");
	if (!mkdtemp(env->dir))
		return -1;
	snprintf(env->path, sizeof(env->path), "%s/qmp.sock", env->dir);
	env->listen_fd = -1;
	env->received_fd = -1;
	pthread_mutex_init(&env->lock, NULL);
	pthread_cond_init(&env->cond, NULL);
	_cleanup_error_ struct vr_error *err = NULL;
	env->loop = vr_loop_new(&err);
	if (!env->loop || vr_loop_start(env->loop) < 0)
		return -1;
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;
	if (env->thread_started)
		pthread_join(env->thread, NULL);
	vr_loop_stop_and_free(env->loop);
	if (env->listen_fd >= 0)
		close(env->listen_fd);
	if (env->received_fd >= 0)
		close(env->received_fd);
	for (int i = 0; i < env->n_events; i++)
		free(env->events[i]);
	for (int i = 0; i < env->n_async && i < (int)ARRAY_SIZE(env->async_ret); i++)
		json_decref(env->async_ret[i]);
	free(env->shutdown_reason);
	rm_rf(env->dir);
	free(env);
	return 0;
}

static struct qmp *open_ok(struct env *env)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct qmp *qmp = qmp_open(env->loop, env->path, 5000, on_event, env, &err);
	if (!qmp)
		fail_msg("qmp_open: %s", vr_error_msg(err));
	return qmp;
}

/* ---- tests ---- */

static void script_commands(struct env *env, int fd)
{
	SRV_CHECK(env, srv_greet(env, fd));
	json_int_t id1, id2;
	json_t *cmd = srv_read_cmd(env, fd, "query-version", &id1);
	SRV_CHECK(env, cmd && !json_object_get(cmd, "arguments"));
	json_decref(cmd);
	srv_reply(fd, id1, "{\"qemu\": {\"major\": 7, \"minor\": 2, \"micro\": 0}, \"package\": \"\"}");
	cmd = srv_read_cmd(env, fd, "block-resize", &id2);
	SRV_CHECK(env, cmd);
	json_int_t size = json_integer_value(json_object_get(json_object_get(cmd, "arguments"), "size"));
	json_decref(cmd);
	SRV_CHECK(env, id1 != id2 && size == 1024);
	srv_reply(fd, id2, "{}");
	srv_wait_eof(env, fd);
}

static void test_open_and_execute(void **state)
{
	struct env *env = *state;
	fake_start(env, script_commands);
	struct qmp *qmp = open_ok(env);
	assert_string_equal(qmp_get_version(qmp), "7.2.0");
	assert_true(qmp_is_connected(qmp));

	_cleanup_error_ struct vr_error *err = NULL;
	json_t *ret = NULL;
	assert_int_equal(qmp_execute(qmp, "query-version", NULL, 2000, &ret, &err), 0);
	json_t *major = json_object_get(json_object_get(ret, "qemu"), "major");
	assert_int_equal(json_integer_value(major), 7);
	json_decref(ret);
	assert_int_equal(qmp_execute(qmp, "block-resize", json_pack("{s:s,s:i}", "node-name", "d0",
								    "size", 1024),
				     2000, NULL, &err),
			 0);
	/* Invalid requests are refused before anything is sent. */
	assert_int_equal(qmp_execute(qmp, "bad name\n", NULL, 2000, NULL, &err), -EINVAL);
	assert_non_null(err);
	qmp_close(qmp);
	fake_join(env);
	assert_int_equal(env->n_disconnected, 0); /* explicit close: no event */
}

static void script_errors(struct env *env, int fd)
{
	SRV_CHECK(env, srv_greet(env, fd));
	json_int_t id;
	json_t *cmd = srv_read_cmd(env, fd, "stop", &id);
	SRV_CHECK(env, cmd);
	json_decref(cmd);
	char *s = xasprintf("{\"id\": %lld, \"error\": {\"class\": \"GenericError\", "
			    "\"desc\": \"boom\\u0001\"}}\r\n", (long long)id);
	srv_sends(fd, s);
	free(s);
	cmd = srv_read_cmd(env, fd, "no-such-command", &id);
	SRV_CHECK(env, cmd);
	json_decref(cmd);
	s = xasprintf("{\"id\": %lld, \"error\": {\"class\": \"CommandNotFound\", "
		      "\"desc\": \"The command no-such-command has not been found\"}}\r\n",
		      (long long)id);
	srv_sends(fd, s);
	free(s);
	srv_wait_eof(env, fd);
}

static void test_error_reply(void **state)
{
	struct env *env = *state;
	fake_start(env, script_errors);
	struct qmp *qmp = open_ok(env);
	_cleanup_error_ struct vr_error *err = NULL, *err2 = NULL;
	json_t *ret = NULL;
	assert_int_equal(qmp_execute(qmp, "stop", NULL, 2000, &ret, &err), -EIO);
	assert_null(ret);
	assert_string_equal(err->msg, "QMP command \"stop\" failed: GenericError: boom?");
	assert_int_equal(qmp_execute(qmp, "no-such-command", NULL, 2000, NULL, &err2),
			 -EOPNOTSUPP);
	assert_non_null(strstr(err2->msg, "CommandNotFound"));
	qmp_close(qmp);
	fake_join(env);
}

static void script_events(struct env *env, int fd)
{
	SRV_CHECK(env, srv_greet(env, fd));
	json_int_t id;
	json_t *cmd = srv_read_cmd(env, fd, "system_powerdown", &id);
	SRV_CHECK(env, cmd);
	json_decref(cmd);
	/* Events before and after the reply, merged into one write. */
	char *s = xasprintf(
		"{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 250000}, \"event\": \"POWERDOWN\"}\r\n"
		"{\"return\": {}, \"id\": %lld}\r\n"
		"{\"timestamp\": {\"seconds\": 1700000001, \"microseconds\": 5}, \"event\": \"SHUTDOWN\", "
		"\"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}\r\n"
		"{\"event\": \"__DISCONNECTED__\"}\r\n"
		"not json\r\n[1, 2]\r\n{\"id\": 999, \"return\": {}}\r\n",
		(long long)id);
	srv_sends(fd, s);
	free(s);
	srv_wait_eof(env, fd);
}

static void test_events_interleaved(void **state)
{
	struct env *env = *state;
	fake_start(env, script_events);
	struct qmp *qmp = open_ok(env);
	_cleanup_error_ struct vr_error *err = NULL;
	assert_int_equal(qmp_execute(qmp, "system_powerdown", NULL, 2000, NULL, &err), 0);
	assert_true(wait_event(env, "POWERDOWN", 2000));
	assert_true(wait_event(env, "SHUTDOWN", 2000));
	pthread_mutex_lock(&env->lock);
	assert_string_equal(env->shutdown_reason, "guest-shutdown");
	assert_int_equal(env->last_timestamp, 1700000001000005ULL);
	assert_int_equal(env->n_events, 2);
	assert_int_equal(env->n_disconnected, 0); /* a peer cannot fake it */
	pthread_mutex_unlock(&env->lock);
	assert_true(qmp_is_connected(qmp)); /* garbage lines are dropped, not fatal */
	qmp_close(qmp);
	fake_join(env);
}

static void script_split(struct env *env, int fd)
{
	/* The greeting one byte at a time. */
	for (const char *p = GREETING; *p; p++) {
		srv_send(fd, p, 1);
		usleep(200);
	}
	json_int_t id, id1, id2;
	json_t *cmd = srv_read_cmd(env, fd, "qmp_capabilities", &id);
	SRV_CHECK(env, cmd);
	json_decref(cmd);
	/* The reply in three pieces. */
	char *s = xasprintf("{\"return\": {}, \"id\": %lld}\r\n", (long long)id);
	size_t len = strlen(s);
	srv_send(fd, s, 3);
	usleep(20000);
	srv_send(fd, s + 3, len - 5);
	usleep(20000);
	srv_send(fd, s + len - 2, 2);
	free(s);
	/* Two replies in one write, in the reverse order. */
	cmd = srv_read_cmd(env, fd, "query-status", &id1);
	SRV_CHECK(env, cmd);
	json_decref(cmd);
	cmd = srv_read_cmd(env, fd, "query-name", &id2);
	SRV_CHECK(env, cmd);
	json_decref(cmd);
	s = xasprintf("{\"return\": {\"name\": \"vm\"}, \"id\": %lld}\n{\"return\": {\"status\": \"running\"}, \"id\": %lld}\n",
		      (long long)id2, (long long)id1);
	srv_sends(fd, s);
	free(s);
	srv_wait_eof(env, fd);
}

static void test_split_and_merged(void **state)
{
	struct env *env = *state;
	fake_start(env, script_split);
	struct qmp *qmp = open_ok(env);
	assert_int_equal(qmp_execute_async(qmp, "query-status", NULL, 5000, on_async_reply, env), 0);
	assert_int_equal(qmp_execute_async(qmp, "query-name", NULL, 5000, on_async_reply, env), 0);
	assert_int_equal(wait_async(env, 2, 5000), 2);
	pthread_mutex_lock(&env->lock);
	assert_int_equal(env->async_errno[0], 0);
	assert_int_equal(env->async_errno[1], 0);
	assert_string_equal(json_string_value(json_object_get(env->async_ret[0], "name")), "vm");
	assert_string_equal(json_string_value(json_object_get(env->async_ret[1], "status")),
			    "running");
	pthread_mutex_unlock(&env->lock);
	qmp_close(qmp);
	fake_join(env);
}

static void script_timeout(struct env *env, int fd)
{
	SRV_CHECK(env, srv_greet(env, fd));
	json_int_t id1, id2;
	json_t *cmd = srv_read_cmd(env, fd, "query-slow", &id1);
	SRV_CHECK(env, cmd);
	json_decref(cmd);
	cmd = srv_read_cmd(env, fd, "query-fast", &id2);
	SRV_CHECK(env, cmd);
	json_decref(cmd);
	srv_reply(fd, id1, "{\"which\": 1}"); /* late: must be dropped */
	srv_reply(fd, id2, "{\"which\": 2}");
	srv_wait_eof(env, fd);
}

static void test_timeout(void **state)
{
	struct env *env = *state;
	fake_start(env, script_timeout);
	struct qmp *qmp = open_ok(env);
	_cleanup_error_ struct vr_error *err = NULL, *err2 = NULL;
	uint64_t start = time_mono_ms();
	assert_int_equal(qmp_execute(qmp, "query-slow", NULL, 200, NULL, &err), -ETIMEDOUT);
	assert_true(time_mono_ms() - start >= 200);
	assert_non_null(strstr(err->msg, "timed out"));
	json_t *ret = NULL;
	assert_int_equal(qmp_execute(qmp, "query-fast", NULL, 2000, &ret, &err2), 0);
	assert_int_equal(json_integer_value(json_object_get(ret, "which")), 2);
	json_decref(ret);

	/* Async timeout: the server has stopped answering. */
	assert_int_equal(qmp_execute_async(qmp, "query-never", NULL, 100, on_async_reply, env), 0);
	assert_int_equal(wait_async(env, 1, 3000), 1);
	assert_int_equal(env->async_errno[0], ETIMEDOUT);
	assert_null(env->async_ret[0]);
	qmp_close(qmp);
	fake_join(env);
}

static void script_disconnect(struct env *env, int fd)
{
	SRV_CHECK(env, srv_greet(env, fd));
	json_int_t id;
	json_t *cmd = srv_read_cmd(env, fd, "query-async", &id);
	SRV_CHECK(env, cmd);
	json_decref(cmd);
	cmd = srv_read_cmd(env, fd, "query-sync", &id);
	SRV_CHECK(env, cmd);
	json_decref(cmd);
	/* "QEMU died": close without answering. */
}

static void test_disconnect_while_waiting(void **state)
{
	struct env *env = *state;
	fake_start(env, script_disconnect);
	struct qmp *qmp = open_ok(env);
	_cleanup_error_ struct vr_error *err = NULL, *err2 = NULL;
	assert_int_equal(qmp_execute_async(qmp, "query-async", NULL, 0, on_async_reply, env), 0);
	assert_int_equal(qmp_execute(qmp, "query-sync", NULL, 5000, NULL, &err), -ECONNRESET);
	assert_true(wait_event(env, NULL, 2000));
	assert_int_equal(wait_async(env, 1, 2000), 1);
	assert_int_equal(env->async_errno[0], ECONNRESET);
	assert_false(qmp_is_connected(qmp));
	assert_int_equal(qmp_execute(qmp, "query-status", NULL, 1000, NULL, &err2), -ECONNRESET);
	assert_int_equal(qmp_execute_async(qmp, "query-status", NULL, 0, on_async_reply, env),
			 -ECONNRESET);
	fake_join(env);
	qmp_close(qmp);
	assert_int_equal(env->n_disconnected, 1);
}

static void script_fd(struct env *env, int fd)
{
	SRV_CHECK(env, srv_greet(env, fd));
	json_int_t id;
	json_t *cmd = srv_read_cmd(env, fd, "getfd", &id);
	SRV_CHECK(env, cmd);
	const char *name = json_string_value(json_object_get(json_object_get(cmd, "arguments"), "fdname"));
	bool ok = name && strcmp(name, "disk0") == 0;
	json_decref(cmd);
	SRV_CHECK(env, ok && env->received_fd >= 0);
	char buf[16] = { 0 };
	SRV_CHECK(env, read(env->received_fd, buf, sizeof(buf) - 1) == 5);
	SRV_CHECK(env, strcmp(buf, "hello") == 0);
	srv_reply(fd, id, "{}");
	srv_wait_eof(env, fd);
}

static void test_fd_passing(void **state)
{
	struct env *env = *state;
	fake_start(env, script_fd);
	struct qmp *qmp = open_ok(env);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write(p[1], "hello", 5), 5);
	close(p[1]);
	_cleanup_error_ struct vr_error *err = NULL;
	assert_int_equal(qmp_execute_with_fd(qmp, "getfd", json_pack("{s:s}", "fdname", "disk0"),
					     p[0], 2000, NULL, &err),
			 0);
	close(p[0]);
	qmp_close(qmp);
	fake_join(env);
	assert_true(env->received_fd >= 0);
	assert_true(fcntl(env->received_fd, F_GETFD) & FD_CLOEXEC);
}

static void script_oversized(struct env *env, int fd)
{
	SRV_CHECK(env, srv_greet(env, fd));
	json_int_t id;
	json_t *cmd = srv_read_cmd(env, fd, "query-huge", &id);
	SRV_CHECK(env, cmd);
	json_decref(cmd);
	size_t len = QMP_MAX_MESSAGE_SIZE + 1024 * 1024;
	char *big = xmalloc(len);
	memset(big, 'a', len);
	memcpy(big, "{\"return\": \"", 12);
	srv_send(fd, big, len); /* stops at EPIPE once the client gives up */
	free(big);
}

static void test_oversized_message(void **state)
{
	struct env *env = *state;
	fake_start(env, script_oversized);
	struct qmp *qmp = open_ok(env);
	_cleanup_error_ struct vr_error *err = NULL;
	assert_int_equal(qmp_execute(qmp, "query-huge", NULL, 10000, NULL, &err), -ECONNRESET);
	assert_non_null(strstr(err->msg, "oversized"));
	assert_true(wait_event(env, NULL, 2000));
	fake_join(env);
	qmp_close(qmp);
}

static void test_connect_retry_and_failures(void **state)
{
	struct env *env = *state;
	_cleanup_error_ struct vr_error *err = NULL, *err2 = NULL;
	/* Nothing there: ENOENT after the timeout. */
	uint64_t start = time_mono_ms();
	assert_null(qmp_open(env->loop, env->path, 200, on_event, env, &err));
	assert_int_equal(err->code, ENOENT);
	assert_true(time_mono_ms() - start >= 200);
	/* Created late: the retry finds it. */
	env->bind_delay_ms = 300;
	fake_start(env, script_commands);
	struct qmp *qmp = qmp_open(env->loop, env->path, 5000, on_event, env, &err2);
	assert_non_null(qmp);
	qmp_close(qmp);
	pthread_join(env->thread, NULL);
	env->thread_started = false;
}

static void script_silent(struct env *env, int fd)
{
	srv_wait_eof(env, fd);
}

static void test_no_greeting(void **state)
{
	struct env *env = *state;
	fake_start(env, script_silent);
	_cleanup_error_ struct vr_error *err = NULL;
	assert_null(qmp_open(env->loop, env->path, 300, on_event, env, &err));
	assert_int_equal(err->code, ETIMEDOUT);
	fake_join(env);
}

struct loop_exec {
	struct qmp *qmp;
	int r;
	bool done;
};

static void exec_on_loop(void *opaque)
{
	struct loop_exec *le = opaque;
	le->r = qmp_execute(le->qmp, "query-status", NULL, 1000, NULL, NULL);
	__atomic_store_n(&le->done, true, __ATOMIC_SEQ_CST);
}

static void test_execute_on_loop_thread(void **state)
{
	struct env *env = *state;
	fake_start(env, script_commands);
	struct loop_exec le = { .qmp = open_ok(env) };
	assert_int_equal(vr_loop_call(env->loop, exec_on_loop, &le), 0);
	for (int i = 0; i < 1000 && !__atomic_load_n(&le.done, __ATOMIC_SEQ_CST); i++)
		usleep(2000);
	assert_int_equal(le.r, -EDEADLK);
	qmp_close(le.qmp);
	pthread_join(env->thread, NULL);
	env->thread_started = false;
}

static void script_echo(struct env *env, int fd)
{
	SRV_CHECK(env, srv_greet(env, fd));
	json_int_t id;
	json_t *cmd;
	while ((cmd = srv_read_cmd(env, fd, NULL, &id))) {
		json_t *args = json_object_get(cmd, "arguments");
		char *s = json_dumps(args ? args : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
		srv_reply(fd, id, s);
		free(s);
		json_decref(cmd);
	}
}

struct worker {
	struct qmp *qmp;
	int index;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 50; i++) {
		json_t *ret = NULL;
		json_t *args = json_pack("{s:i,s:i}", "worker", w->index, "n", i);
		if (qmp_execute(w->qmp, "echo", args, 5000, &ret, NULL) < 0 ||
		    json_integer_value(json_object_get(ret, "worker")) != w->index ||
		    json_integer_value(json_object_get(ret, "n")) != i)
			w->failures++;
		json_decref(ret);
	}
	return NULL;
}

/* Replies are matched to the right caller when threads interleave. */
static void test_concurrent_callers(void **state)
{
	struct env *env = *state;
	fake_start(env, script_echo);
	struct qmp *qmp = open_ok(env);
	pthread_t threads[4];
	struct worker workers[4];
	for (int i = 0; i < 4; i++) {
		workers[i] = (struct worker){ .qmp = qmp, .index = i };
		assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(threads[i], NULL);
		assert_int_equal(workers[i].failures, 0);
	}
	qmp_close(qmp);
	fake_join(env);
}

/* ---- NIC link state (nic.c) ---- */

static bool srv_expect_set_link(struct env *env, int fd, const char *name, json_int_t *id)
{
	json_t *cmd = srv_read_cmd(env, fd, "set_link", id);
	json_t *args = json_object_get(cmd, "arguments");
	bool ok = cmd && json_object_size(args) == 2 &&
		  strcmp(json_string_value(json_object_get(args, "name")), name) == 0 &&
		  json_is_false(json_object_get(args, "up"));
	json_decref(cmd);
	return ok;
}

static void script_set_link(struct env *env, int fd)
{
	SRV_CHECK(env, srv_greet(env, fd));
	json_int_t id;
	/* ethernet0 starts connected: nothing is sent for it. */
	SRV_CHECK(env, srv_expect_set_link(env, fd, "ethernet2", &id));
	srv_reply(fd, id, "{}");
	SRV_CHECK(env, srv_expect_set_link(env, fd, "ethernet5", &id));
	char *s = xasprintf("{\"id\": %lld, \"error\": {\"class\": \"DeviceNotFound\", "
			    "\"desc\": \"Device 'ethernet5' not found\"}}\r\n",
			    (long long)id);
	srv_sends(fd, s);
	free(s);
	srv_wait_eof(env, fd);
}

static void test_nics_start_connected(void **state)
{
	struct env *env = *state;
	fake_start(env, script_set_link);
	struct qmp *qmp = open_ok(env);
	struct vm_nic nics[] = {
		{ .index = 0, .start_connected = true },
		{ .index = 2, .start_connected = false },
		{ .index = 5, .start_connected = false },
	};
	struct vm_config cfg = { .nics = nics, .n_nics = ARRAY_SIZE(nics) };
	_cleanup_error_ struct vr_error *err = NULL;
	assert_int_equal(qemu_nics_apply_start_connected(qmp, &cfg, 2000, &err), -ENODEV);
	assert_string_equal(err->msg, "ethernet5.startConnected is FALSE: cannot set the link of "
				      "NIC ethernet5 down: QMP command \"set_link\" failed: "
				      "DeviceNotFound: Device 'ethernet5' not found");
	qmp_close(qmp);
	fake_join(env);
}

/* ---- the framing parser on its own ---- */

static int collect(json_t *msg, void *opaque)
{
	json_array_append(opaque, msg);
	return 0;
}

static void test_parser(void **state)
{
	struct qmp_parser p;
	json_t *got = json_array();
	qmp_parser_init(&p, 64, "test");
	const char *in = "{\"a\": 1}\r\n\r\n{\"b\"";
	assert_int_equal(qmp_parser_feed(&p, in, strlen(in), collect, got), 0);
	assert_int_equal(json_array_size(got), 1);
	in = ": 2}\n[1]\nnot json\n\"s\"\n{\"c\": 3}";
	assert_int_equal(qmp_parser_feed(&p, in, strlen(in), collect, got), 0);
	assert_int_equal(json_array_size(got), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(got, 1), "b")), 2);
	assert_int_equal(qmp_parser_feed(&p, "\n", 1, collect, got), 0);
	assert_int_equal(json_array_size(got), 3);
	assert_int_equal(p.dropped, 3);

	/* Sentinel mode: drops everything up to 0xFF. */
	p.await_sentinel = true;
	in = "{\"stale\": 1}\n{\"x\xff{\"d\": 4}\n";
	assert_int_equal(qmp_parser_feed(&p, in, strlen(in), collect, got), 0);
	assert_int_equal(json_array_size(got), 4);
	assert_non_null(json_object_get(json_array_get(got, 3), "d"));

	/* Over the limit, in one piece or across feeds: sticky failure. */
	char big[100];
	memset(big, 'x', sizeof(big));
	assert_int_equal(qmp_parser_feed(&p, big, 40, collect, got), 0);
	assert_int_equal(qmp_parser_feed(&p, big, 40, collect, got), -EMSGSIZE);
	assert_int_equal(qmp_parser_feed(&p, "{}\n", 3, collect, got), -EMSGSIZE);
	qmp_parser_reset(&p);
	big[99] = '\n';
	assert_int_equal(qmp_parser_feed(&p, big, 100, collect, got), -EMSGSIZE);
	qmp_parser_release(&p);
	json_decref(got);
}

/* QEMU's u64 "not available" (UINT64_MAX) and other integers jansson cannot hold. */
static void test_parser_huge_integers(void **state)
{
	struct qmp_parser p;
	json_t *got = json_array();
	qmp_parser_init(&p, 4096, "test");
	const char *in = "{\"return\": {\"stats\": {\"stat-swap-in\": 18446744073709551615, "
			 "\"max\": 9223372036854775807, \"over\": 9223372036854775808, "
			 "\"neg\": -5, \"real\": 18446744073709551615.5, "
			 "\"s\": \"18446744073709551615 \\\" 99999999999999999999\"}}}\n";
	assert_int_equal(qmp_parser_feed(&p, in, strlen(in), collect, got), 0);
	assert_int_equal(json_array_size(got), 1);
	assert_int_equal(p.dropped, 0);
	json_t *st = json_object_get(json_object_get(json_array_get(got, 0), "return"), "stats");
	assert_int_equal(json_integer_value(json_object_get(st, "stat-swap-in")), -1);
	assert_true(json_integer_value(json_object_get(st, "max")) == INT64_MAX);
	assert_int_equal(json_integer_value(json_object_get(st, "over")), -1);
	assert_int_equal(json_integer_value(json_object_get(st, "neg")), -5);
	assert_true(json_is_real(json_object_get(st, "real")));
	/* Inside strings nothing changes. */
	assert_string_equal(json_string_value(json_object_get(st, "s")),
			    "18446744073709551615 \" 99999999999999999999");
	qmp_parser_release(&p);
	json_decref(got);
}

int main(void)
{
	signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test: MSG_NOSIGNAL must be used */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parser),
		cmocka_unit_test(test_parser_huge_integers),
		cmocka_unit_test_setup_teardown(test_open_and_execute, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_callers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_interleaved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_and_merged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_while_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_passing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connect_retry_and_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_greeting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_execute_on_loop_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nics_start_connected, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
