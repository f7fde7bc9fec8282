/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
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
#include "common/util.h"
#include "qemu/qga.h"
#include "qemu/qga_priv.h"

/* ---- fake guest agent ---- */

struct env;
/* Handles one command; returns false to close the connection. */
typedef bool (*handler_fn)(struct env *env, int fd, const char *name, json_t *cmd);

struct env {
	char dir[64];
	char path[128];
	int listen_fd;
	pthread_t thread;
	bool thread_started;
	handler_fn handler;
	int n_syncs;
	int n_commands;
	int n_ff; /* 0xFF bytes received */
	bool pending_late_reply;
	bool close_on_shutdown;
	const char *canned; /* reply for the next non-sync command */
};

static void srv_sends(int fd, const char *s)
{
	size_t len = strlen(s);
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

static void srv_sync_reply(int fd, json_t *cmd, const char *garbage)
{
	json_int_t id = json_integer_value(json_object_get(json_object_get(cmd, "arguments"), "id"));
	char *s = xasprintf("%s\xff{\"return\": %lld}\n", garbage, (long long)id);
	srv_sends(fd, s);
	free(s);
}

static void serve(struct env *env, int fd)
{
	size_t len = 0, cap = 1024;
	char *line = xmalloc(cap);
	for (;;) {
		char c;
		ssize_t n = recv(fd, &c, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (c == (char)0xff) {
			env->n_ff++;
			len = 0; /* the real agent resets its parser */
			continue;
		}
		if (c != '\n') {
			if (len + 2 > cap)
				line = xrealloc(line, cap *= 2);
			line[len++] = c;
			continue;
		}
		line[len] = '\0';
		len = 0;
		json_t *cmd = json_loads(line, 0, NULL);
		const char *name = json_string_value(json_object_get(cmd, "execute"));
		bool go_on = name != NULL;
		if (name && strcmp(name, "guest-sync-delimited") == 0) {
			env->n_syncs++;
			/* Stale output (a whole message and half of one) before the sentinel. */
			srv_sync_reply(fd, cmd, "{\"return\": {}}\nhalf {\"re");
		} else if (name) {
			env->n_commands++;
			go_on = env->handler(env, fd, name, cmd);
		}
		json_decref(cmd);
		if (!go_on)
			break;
	}
	free(line);
}

static void *srv_thread(void *arg)
{
	struct env *env = arg;
	struct pollfd pfd = { .fd = env->listen_fd, .events = POLLIN };
	if (poll(&pfd, 1, 10000) != 1)
		return NULL;
	int fd = accept4(env->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return NULL;
	serve(env, fd);
	close(fd);
	return NULL;
}

static void fake_start(struct env *env, handler_fn handler)
{
	env->handler = handler;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, env->path);
	env->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(env->listen_fd >= 0);
	assert_int_equal(bind(env->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(env->listen_fd, 4), 0);
	assert_int_equal(pthread_create(&env->thread, NULL, srv_thread, env), 0);
	env->thread_started = true;
}

static int setup(void **state)
{
	struct env *env = xcalloc(1, sizeof(*env));
	strcpy(env->dir, "/tmp/vireo-test-qga-XXXXXX");
	if (!mkdtemp(env->dir))
		return -1;
	snprintf(env->path, sizeof(env->path), "%s/qga.sock", env->dir);
	env->listen_fd = -1;
	*state = env;
	return 0;
}

static int teardown(void **state)
{
	struct env *env = *state;
	if (env->listen_fd >= 0)
		shutdown(env->listen_fd, SHUT_RDWR);
	if (env->thread_started)
		pthread_join(env->thread, NULL);
	if (env->listen_fd >= 0)
		close(env->listen_fd);
	rm_rf(env->dir);
	free(env);
	return 0;
}

static struct qga *open_ok(struct env *env)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct qga *qga = qga_open(env->path, 3000, &err);
	if (!qga)
		fail_msg("qga_open: %s", vr_error_msg(err));
	return qga;
}

/* Answers every command with env->canned (or a generic reply). */
static bool handler_canned(struct env *env, int fd, const char *name, json_t *cmd)
{
	if (strcmp(name, "guest-shutdown") == 0) {
		if (env->canned)
			srv_sends(fd, env->canned);
		/* A real agent does not answer: the guest goes away (or is slow to). */
		return !env->close_on_shutdown;
	}
	srv_sends(fd, env->canned ? env->canned : "{\"return\": {}}\n");
	return true;
}

/* ---- tests ---- */

static bool handler_garbage_sync(struct env *env, int fd, const char *name, json_t *cmd)
{
	if (strcmp(name, "guest-get-host-name") == 0)
		srv_sends(fd, "{\"return\": {\"host-name\": \"web01\"}}\n");
	else
		srv_sends(fd, "{\"return\": {}}\n");
	return true;
}

static void test_sync_discards_garbage(void **state)
{
	struct env *env = *state;
	fake_start(env, handler_garbage_sync);
	/* Before accepting, queue nothing: the garbage comes with the sync reply below. */
	_cleanup_error_ struct vr_error *err = NULL;
	struct qga *qga = open_ok(env);
	assert_int_equal(qga_ping(qga, 2000, &err), 0);
	char *host = NULL;
	assert_int_equal(qga_get_host_name(qga, 2000, &host, &err), 0);
	assert_string_equal(host, "web01");
	free(host);
	qga_close(qga);
	pthread_join(env->thread, NULL);
	env->thread_started = false;
	assert_int_equal(env->n_syncs, 1);
	assert_true(env->n_ff >= 1);
}

static bool handler_stale_then_sync(struct env *env, int fd, const char *name, json_t *cmd)
{
	if (strcmp(name, "guest-ping") == 0 && !env->pending_late_reply && env->n_commands == 1) {
		env->pending_late_reply = true; /* do not answer now */
		return true;
	}
	srv_sends(fd, "{\"return\": {}}\n");
	return true;
}

static void serve_stale(struct env *env, int fd);

static void *srv_thread_stale(void *arg)
{
	struct env *env = arg;
	struct pollfd pfd = { .fd = env->listen_fd, .events = POLLIN };
	if (poll(&pfd, 1, 10000) != 1)
		return NULL;
	int fd = accept4(env->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0) {
		serve_stale(env, fd);
		close(fd);
	}
	return NULL;
}

/*
 * Like serve() but each sync reply is preceded by stale data: a late reply,
 * a stale sync reply with the wrong id behind its own sentinel, and noise.
 */
static void serve_stale(struct env *env, int fd)
{
	char buf[4096];
	size_t len = 0;
	for (;;) {
		char c;
		ssize_t n = recv(fd, &c, 1, 0);
		if (n <= 0)
			break;
		if (c == (char)0xff) {
			len = 0;
			continue;
		}
		if (c != '\n' && len < sizeof(buf) - 1) {
			buf[len++] = c;
			continue;
		}
		buf[len] = '\0';
		len = 0;
		json_t *cmd = json_loads(buf, 0, NULL);
		const char *name = json_string_value(json_object_get(cmd, "execute"));
		if (name && strcmp(name, "guest-sync-delimited") == 0) {
			env->n_syncs++;
			const char *stale = env->pending_late_reply
						    ? "{\"return\": {}}\n\xff{\"return\": 7}\nnoise \x01\x02\n"
						    : "partial {\"retu";
			srv_sync_reply(fd, cmd, stale);
		} else if (name) {
			env->n_commands++;
			handler_stale_then_sync(env, fd, name, cmd);
		}
		json_decref(cmd);
	}
}

static void test_timeout_then_resync(void **state)
{
	struct env *env = *state;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, env->path);
	env->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(env->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(env->listen_fd, 4), 0);
	assert_int_equal(pthread_create(&env->thread, NULL, srv_thread_stale, env), 0);
	env->thread_started = true;

	struct qga *qga = open_ok(env);
	_cleanup_error_ struct vr_error *err = NULL, *err2 = NULL;
	assert_int_equal(qga_ping(qga, 200, &err), -ETIMEDOUT);
	assert_non_null(strstr(err->msg, "guest-ping"));
	/* The late reply arrives before the next sync's sentinel: discarded. */
	assert_int_equal(qga_ping(qga, 2000, &err2), 0);
	qga_close(qga);
	pthread_join(env->thread, NULL);
	env->thread_started = false;
	assert_int_equal(env->n_syncs, 2);
}

static const char good_ifaces[] =
	"{\"return\": [{\"name\": \"lo\", \"hardware-address\": \"00:00:00:00:00:00\", "
	"\"ip-addresses\": [{\"ip-address-type\": \"ipv4\", \"ip-address\": \"127.0.0.1\", \"prefix\": 8}]}, "
	"{\"name\": \"eth0\", \"hardware-address\": \"52:54:00:12:34:56\", \"ip-addresses\": ["
	"{\"ip-address-type\": \"ipv4\", \"ip-address\": \"10.0.2.15\", \"prefix\": 24}, "
	"{\"ip-address-type\": \"ipv6\", \"ip-address\": \"FE80:0::5054:ff:fe12:3456%2\", \"prefix\": 64}]}, "
	"{\"name\": \"dummy0\"}]}\n";

static void test_interfaces(void **state)
{
	struct env *env = *state;
	env->canned = good_ifaces;
	fake_start(env, handler_canned);
	struct qga *qga = open_ok(env);
	_cleanup_error_ struct vr_error *err = NULL, *err2 = NULL;
	struct qga_iface *ifaces = NULL;
	size_t n = 0;
	assert_int_equal(qga_get_interfaces(qga, 2000, &ifaces, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ifaces[1].name, "eth0");
	assert_string_equal(ifaces[1].hwaddr, "52:54:00:12:34:56");
	assert_int_equal(ifaces[1].n_ips, 2);
	assert_string_equal(ifaces[1].ips[0].address, "10.0.2.15");
	assert_int_equal(ifaces[1].ips[0].prefix, 24);
	assert_true(ifaces[1].ips[1].ipv6);
	assert_string_equal(ifaces[1].ips[1].address, "fe80::5054:ff:fe12:3456");
	assert_null(ifaces[2].hwaddr);
	assert_int_equal(ifaces[2].n_ips, 0);
	qga_free_interfaces(ifaces, n);

	/* A malformed reply is rejected with a message naming the problem. */
	env->canned = "{\"return\": [{\"name\": \"eth0\", \"ip-addresses\": [{\"ip-address-type\": "
		      "\"ipv4\", \"ip-address\": \"10.0.0.1\", \"prefix\": \"24\"}]}]}\n";
	assert_int_equal(qga_get_interfaces(qga, 2000, &ifaces, &n, &err2), -EPROTO);
	assert_null(ifaces);
	assert_int_equal(n, 0);
	assert_string_equal(err2->msg,
			    "guest agent reply to \"guest-network-get-interfaces\" is invalid: "
			    "interface 0 (\"eth0\"): prefix of 10.0.0.1 is not an integer in 0..32");
	qga_close(qga);
	pthread_join(env->thread, NULL);
	env->thread_started = false;
}

static void expect_iface_error(const char *json, const char *needle)
{
	json_t *ret = json_loads(json, JSON_DECODE_ANY, NULL);
	assert_non_null(ret);
	struct qga_iface *ifaces = NULL;
	size_t n = 99;
	_cleanup_error_ struct vr_error *err = NULL;
	assert_int_equal(qga_parse_interfaces(ret, &ifaces, &n, &err), -EPROTO);
	assert_null(ifaces);
	assert_int_equal(n, 0);
	if (!strstr(err->msg, needle))
		fail_msg("\"%s\" does not mention \"%s\"", err->msg, needle);
	json_decref(ret);
}

static void test_interfaces_validation(void **state)
{
	expect_iface_error("{\"name\": \"eth0\"}", "not an array");
	expect_iface_error("[1]", "interface 0: not an object");
	expect_iface_error("[{\"hardware-address\": \"x\"}]", "\"name\" is missing");
	expect_iface_error("[{\"name\": 5}]", "\"name\" is not a string");
	expect_iface_error("[{\"name\": \"\"}]", "has 0 bytes");
	expect_iface_error("[{\"name\": \"a\\nb\"}]", "control characters");
	expect_iface_error("[{\"name\": \"e\", \"ip-addresses\": {}}]", "is not an array");
	expect_iface_error("[{\"name\": \"e\", \"ip-addresses\": [7]}]", "not an object");
	expect_iface_error("[{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipx\", "
			   "\"ip-address\": \"1.2.3.4\", \"prefix\": 8}]}]",
			   "unknown address type \"ipx\"");
	expect_iface_error("[{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", "
			   "\"ip-address\": \"1.2.3.400\", \"prefix\": 8}]}]",
			   "\"1.2.3.400\" is not an ipv4 address");
	expect_iface_error("[{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipv4\", "
			   "\"ip-address\": \"1.2.3.4\", \"prefix\": 33}]}]",
			   "0..32");
	expect_iface_error("[{\"name\": \"e\", \"ip-addresses\": [{\"ip-address-type\": \"ipv6\", "
			   "\"ip-address\": \"1.2.3.4\", \"prefix\": 64}]}]",
			   "not an ipv6 address");

	/* Counts are capped, not trusted. */
	json_t *many = json_array();
	for (int i = 0; i < QGA_MAX_IFACES + 10; i++)
		json_array_append_new(many, json_pack("{s:s}", "name", "veth"));
	struct qga_iface *ifaces = NULL;
	size_t n = 0;
	assert_int_equal(qga_parse_interfaces(many, &ifaces, &n, NULL), 0);
	assert_int_equal(n, QGA_MAX_IFACES);
	qga_free_interfaces(ifaces, n);
	json_decref(many);
}

static void test_other_validators(void **state)
{
	_cleanup_error_ struct vr_error *e1 = NULL, *e2 = NULL, *e3 = NULL;
	char *host = NULL;
	json_t *j = json_pack("{s:i}", "host-name", 5);
	assert_int_equal(qga_parse_host_name(j, &host, &e1), -EPROTO);
	assert_non_null(strstr(e1->msg, "\"host-name\" is not a string"));
	json_decref(j);
	assert_int_equal(qga_parse_host_name(NULL, &host, &e2), -EPROTO);
	bool frozen;
	j = json_string("melting");
	assert_int_equal(qga_parse_fsfreeze_status(j, &frozen, &e3), -EPROTO);
	json_decref(j);
	j = json_integer(-1);
	assert_int_equal(qga_parse_count(j, "guest-fsfreeze-thaw", NULL), -EPROTO);
	json_decref(j);
	struct qga_osinfo *info = NULL;
	j = json_pack("{s:s,s:[]}", "id", "debian", "name", "x");
	assert_int_equal(qga_parse_osinfo(j, &info, NULL), -EPROTO);
	assert_null(info);
	json_decref(j);
}

static bool handler_fs(struct env *env, int fd, const char *name, json_t *cmd)
{
	if (strcmp(name, "guest-fsfreeze-freeze") == 0 || strcmp(name, "guest-fsfreeze-thaw") == 0)
		srv_sends(fd, "{\"return\": 2}\n");
	else if (strcmp(name, "guest-fsfreeze-status") == 0)
		srv_sends(fd, "{\"return\": \"frozen\"}\n");
	else if (strcmp(name, "guest-get-osinfo") == 0)
		srv_sends(fd, "{\"return\": {\"id\": \"debian\", \"pretty-name\": \"Debian GNU/Linux 12\", "
			      "\"kernel-release\": \"6.1.0-13-amd64\", \"machine\": \"x86_64\"}}\n");
	else
		srv_sends(fd, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"nope\"}}\n");
	return true;
}

static void test_fsfreeze_osinfo(void **state)
{
	struct env *env = *state;
	fake_start(env, handler_fs);
	struct qga *qga = open_ok(env);
	_cleanup_error_ struct vr_error *err = NULL;
	assert_int_equal(qga_fsfreeze_freeze(qga, 2000, &err), 2);
	bool frozen = false;
	assert_int_equal(qga_fsfreeze_status(qga, 2000, &frozen, &err), 0);
	assert_true(frozen);
	assert_int_equal(qga_fsfreeze_thaw(qga, 2000, &err), 2);
	struct qga_osinfo *info = NULL;
	assert_int_equal(qga_get_osinfo(qga, 2000, &info, &err), 0);
	assert_string_equal(info->id, "debian");
	assert_string_equal(info->kernel_release, "6.1.0-13-amd64");
	assert_null(info->version);
	qga_free_osinfo(info);
	/* An agent error reply. */
	assert_int_equal(qga_ping(qga, 2000, &err), -EOPNOTSUPP);
	assert_string_equal(err->msg, "guest agent command \"guest-ping\" failed: CommandNotFound: nope");
	qga_close(qga);
	pthread_join(env->thread, NULL);
	env->thread_started = false;
}

static void test_shutdown(void **state)
{
	struct env *env = *state;
	_cleanup_error_ struct vr_error *err = NULL, *err2 = NULL;
	env->close_on_shutdown = true;
	fake_start(env, handler_canned);
	struct qga *qga = open_ok(env);
	assert_int_equal(qga_shutdown(qga, "reboot; rm -rf /", 1000, &err), -EINVAL);
	/* No reply and the connection closes: success. */
	uint64_t start = time_mono_ms();
	assert_int_equal(qga_shutdown(qga, "powerdown", 5000, &err2), 0);
	assert_true(time_mono_ms() - start < 4000);
	assert_null(err2);
	pthread_join(env->thread, NULL);
	env->thread_started = false;
	qga_close(qga);
}

static void test_shutdown_error_and_timeout(void **state)
{
	struct env *env = *state;
	_cleanup_error_ struct vr_error *err = NULL, *err2 = NULL;
	env->canned = "{\"error\": {\"class\": \"GenericError\", \"desc\": \"shutdown inhibited\"}}\n";
	fake_start(env, handler_canned);
	struct qga *qga = open_ok(env);
	assert_int_equal(qga_shutdown(qga, "halt", 2000, &err), -EIO);
	assert_non_null(strstr(err->msg, "shutdown inhibited"));
	env->canned = NULL; /* now silent, connection kept: a timeout is success */
	assert_int_equal(qga_shutdown(qga, "reboot", 200, &err2), 0);
	qga_close(qga);
	pthread_join(env->thread, NULL);
	env->thread_started = false;
}

static bool handler_never(struct env *env, int fd, const char *name, json_t *cmd)
{
	return true;
}

static void *silent_thread(void *arg)
{
	struct env *env = arg;
	int fd = accept4(env->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	char buf[256];
	while (fd >= 0 && recv(fd, buf, sizeof(buf), 0) > 0)
		;
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void test_no_agent(void **state)
{
	struct env *env = *state;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	strcpy(addr.sun_path, env->path);
	env->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(env->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(env->listen_fd, 4), 0);
	env->handler = handler_never;
	assert_int_equal(pthread_create(&env->thread, NULL, silent_thread, env), 0);
	env->thread_started = true;
	_cleanup_error_ struct vr_error *err = NULL;
	assert_null(qga_open(env->path, 300, &err));
	assert_int_equal(err->code, ETIMEDOUT);
	assert_non_null(strstr(err->msg, "synchronise"));
}

static void test_hostile_replies(void **state)
{
	struct env *env = *state;
	_cleanup_error_ struct vr_error *e1 = NULL, *e2 = NULL, *e3 = NULL;
	env->canned = "[1,2]\n\"x\"\n{\"neither\": 1}\n{\"return\": {\"host-name\": [\"x\"]}}\n";
	fake_start(env, handler_canned);
	struct qga *qga = open_ok(env);
	char *host = NULL;
	assert_int_equal(qga_get_host_name(qga, 2000, &host, &e1), -EPROTO);
	assert_null(host);
	assert_non_null(strstr(e1->msg, "\"host-name\" is not a string"));
	env->canned = "{\"return\": \"thawed\"}\n";
	bool frozen = true;
	assert_int_equal(qga_fsfreeze_status(qga, 2000, &frozen, &e2), 0);
	assert_false(frozen);
	env->canned = "{\"return\": 99999999999}\n";
	assert_int_equal(qga_fsfreeze_freeze(qga, 2000, &e3), -EPROTO);
	qga_close(qga);
	pthread_join(env->thread, NULL);
	env->thread_started = false;
}

int main(void)
{
	signal(SIGPIPE, SIG_DFL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interfaces_validation),
		cmocka_unit_test(test_other_validators),
		cmocka_unit_test_setup_teardown(test_sync_discards_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_then_resync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interfaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fsfreeze_osinfo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_error_and_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_replies, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
