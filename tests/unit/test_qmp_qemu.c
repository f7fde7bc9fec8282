/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The QMP client against a real QEMU (qemu-system-x86_64 -machine none).
 * QEMU is a required dependency: the test fails, not skips, without it.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/loop.h"
#include "common/util.h"
#include "qemu/qmp.h"

extern char **environ;

struct env {
	struct vr_loop *loop;
	char dir[64];
	char path[128];
	pid_t qemu_pid;
	pthread_mutex_t lock;
	char *events[64];
	int n_events;
	int n_disconnected;
	char *shutdown_reason;
};

static void on_event(struct qmp *qmp, const char *event, json_t *data, uint64_t ts,
		     void *opaque)
{
	struct env *env = opaque;
	pthread_mutex_lock(&env->lock);
	if (strcmp(event, QMP_EVENT_DISCONNECTED) == 0) {
		env->n_disconnected++;
	} else if (env->n_events < (int)ARRAY_SIZE(env->events)) {
		env->events[env->n_events++] = xstrdup(event);
		const char *reason = json_string_value(json_object_get(data, "reason"));
		if (strcmp(event, "SHUTDOWN") == 0 && reason && !env->shutdown_reason)
			env->shutdown_reason = xstrdup(reason);
	}
	pthread_mutex_unlock(&env->lock);
}

/* Waits for an event (or, with name NULL, for the disconnection). */
static bool wait_event(struct env *env, const char *name, int timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	for (;;) {
		bool found = false;
		pthread_mutex_lock(&env->lock);
		if (!name)
			found = env->n_disconnected > 0;
		for (int i = 0; name && i < env->n_events; i++)
			found = found || strcmp(env->events[i], name) == 0;
		pthread_mutex_unlock(&env->lock);
		if (found)
			return true;
		if (time_mono_ms() >= deadline)
			return false;
		usleep(2000);
	}
}

static int setup(void **state)
{
	struct env *env = xcalloc(1, sizeof(*env));
	strcpy(env->dir, "/tmp/vireo-test-qemu-XXXXXX");
	if (!mkdtemp(env->dir))
		return -1;
	snprintf(env->path, sizeof(env->path), "%s/qmp.sock", env->dir);
	pthread_mutex_init(&env->lock, NULL);
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
	if (env->qemu_pid > 0) {
		kill(env->qemu_pid, SIGKILL);
		waitpid(env->qemu_pid, NULL, 0);
	}
	vr_loop_stop_and_free(env->loop);
	for (int i = 0; i < env->n_events; i++)
		free(env->events[i]);
	free(env->shutdown_reason);
	rm_rf(env->dir);
	free(env);
	return 0;
}

static bool program_in_path(const char *name)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *copy = xstrdup(path ? path : "/usr/bin:/bin");
	char *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *full = xasprintf("%s/%s", dir, name);
		if (access(full, X_OK) == 0)
			return true;
	}
	return false;
}

static const char *status_of(struct qmp *qmp, json_t **ret)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_decref(*ret);
	*ret = NULL;
	if (qmp_execute(qmp, "query-status", NULL, 5000, ret, &err) < 0)
		fail_msg("query-status: %s", vr_error_msg(err));
	return json_string_value(json_object_get(*ret, "status"));
}

static void test_real_qemu(void **state)
{
	struct env *env = *state;
	if (!program_in_path("qemu-system-x86_64"))
		fail_msg("qemu-system-x86_64 not found in PATH: it is a required dependency "
			 "(install qemu-system-x86, see scripts/install-deps.sh)");
	_cleanup_free_ char *qmp_arg = xasprintf("unix:%s,server=on,wait=off", env->path);
	char *argv[] = { "qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display",
			 "none", "-qmp", qmp_arg, NULL };
	assert_int_equal(posix_spawnp(&env->qemu_pid, argv[0], NULL, NULL, argv, environ), 0);

	_cleanup_error_ struct vr_error *err = NULL;
	struct qmp *qmp = qmp_open(env->loop, env->path, 20000, on_event, env, &err);
	if (!qmp)
		fail_msg("cannot talk to QEMU: %s", vr_error_msg(err));
	assert_true(qmp_is_connected(qmp));
	assert_string_not_equal(qmp_get_version(qmp), "unknown");

	json_t *ret = NULL;
	assert_int_equal(qmp_execute(qmp, "query-version", NULL, 5000, &ret, &err), 0);
	json_t *qemu = json_object_get(ret, "qemu");
	assert_true(json_integer_value(json_object_get(qemu, "major")) >= 7);
	_cleanup_free_ char *version = xasprintf(
		"%lld.%lld.%lld", (long long)json_integer_value(json_object_get(qemu, "major")),
		(long long)json_integer_value(json_object_get(qemu, "minor")),
		(long long)json_integer_value(json_object_get(qemu, "micro")));
	assert_string_equal(qmp_get_version(qmp), version);
	json_decref(ret);
	ret = NULL;

	assert_string_equal(status_of(qmp, &ret), "running");
	assert_int_equal(qmp_execute(qmp, "stop", NULL, 5000, NULL, &err), 0);
	assert_true(wait_event(env, "STOP", 5000));
	assert_string_equal(status_of(qmp, &ret), "paused");
	assert_int_equal(qmp_execute(qmp, "cont", NULL, 5000, NULL, &err), 0);
	assert_true(wait_event(env, "RESUME", 5000));
	assert_string_equal(status_of(qmp, &ret), "running");
	json_decref(ret);

	/* Real error replies. */
	assert_int_equal(qmp_execute(qmp, "no-such-command", NULL, 5000, NULL, &err), -EOPNOTSUPP);
	assert_non_null(strstr(err->msg, "CommandNotFound"));
	vr_error_free(steal_pointer(&err));
	assert_int_equal(qmp_execute(qmp, "getfd", json_pack("{s:s}", "fdname", "x"), 5000, NULL,
				     &err),
			 -EIO);
	assert_non_null(strstr(err->msg, "QMP command \"getfd\" failed: GenericError: "));
	vr_error_free(steal_pointer(&err));

	int r = qmp_execute(qmp, "quit", NULL, 5000, NULL, &err);
	assert_true(r == 0 || r == -ECONNRESET); /* the reply may be lost as QEMU exits */
	assert_true(wait_event(env, "SHUTDOWN", 5000));
	assert_true(wait_event(env, NULL, 5000));
	pthread_mutex_lock(&env->lock);
	assert_string_equal(env->shutdown_reason, "host-qmp-quit");
	assert_int_equal(env->n_disconnected, 1);
	pthread_mutex_unlock(&env->lock);
	assert_false(qmp_is_connected(qmp));
	qmp_close(qmp);

	int status = 0;
	for (int i = 0; i < 500 && env->qemu_pid > 0; i++) {
		if (waitpid(env->qemu_pid, &status, WNOHANG) == env->qemu_pid)
			env->qemu_pid = 0;
		else
			usleep(10000);
	}
	assert_int_equal(env->qemu_pid, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_real_qemu, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
