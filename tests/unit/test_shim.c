/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vireo-shim, the per-VM keeper, run for real with a stand-in for QEMU
 * (a shell command): exit records, lock renewal and release, fencing on
 * lost or late locks, exec failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "host/lock.h"
#include "host/shim.h"

static const char *shim_binary;

static const struct vm_lock_params host_a = {
	.host_id = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
	.host_name = "hostA",
	.renew_ms = 100,
	.lease_ms = 400,
};
static const struct vm_lock_params host_b = {
	.host_id = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb",
	.host_name = "hostB",
	.renew_ms = 100,
	.lease_ms = 400,
};

struct fixture {
	char *dir;     /* VM folder */
	char *run_dir;
	char *log;
	pid_t shim;
	pid_t child;
};

static int setup(void **state)
{
	char tmpl[] = "/tmp/vireo-shim-XXXXXX";
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	struct fixture *f = calloc(1, sizeof(*f));
	f->dir = xstrdup(dir);
	f->run_dir = xasprintf("%s/run", dir);
	f->log = xasprintf("%s/vireo.log", dir);
	assert_int_equal(mkdir(f->run_dir, 0750), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->child > 0)
		kill(f->child, SIGKILL);
	if (f->shim > 0) {
		kill(f->shim, SIGKILL);
		waitpid(f->shim, NULL, 0);
	}
	rm_rf(f->dir);
	free(f->dir);
	free(f->run_dir);
	free(f->log);
	free(f);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int start(struct fixture *f, const char *script, struct vr_error **err)
{
	int fd = -1;
	uint64_t counter;
	assert_int_equal(vm_lock_acquire(f->dir, &host_a, &fd, &counter, err), 0);
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", (char *)script, NULL};
	struct shim_start ss = {
		.shim_binary = shim_binary,
		.vm_dir = f->dir,
		.run_dir = f->run_dir,
		.log_path = f->log,
		.lock_fd = fd,
		.lock_counter = counter,
		.lock = &host_a,
		.qemu_argv = argv,
	};
	int r = shim_spawn(&ss, &f->shim, &f->child, err);
	close(fd);
	return r;
}

/* Waits for the shim to end and returns its exit record. */
static void wait_end(struct fixture *f, struct shim_exit *ex)
{
	int status;
	assert_int_equal(waitpid(f->shim, &status, 0), f->shim);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	f->shim = 0;
	f->child = 0;
	struct vr_error *err = NULL;
	assert_int_equal(shim_exit_read(f->run_dir, ex, &err), 0);
}

static bool lock_exists(struct fixture *f)
{
	char *p = xasprintf("%s/%s", f->dir, VM_LOCK_FILE);
	bool r = access(p, F_OK) == 0;
	free(p);
	return r;
}

static char *read_log(struct fixture *f)
{
	char *text = NULL;
	assert_int_equal(file_read_all(f->log, 1 << 20, &text, NULL, NULL), 0);
	return text;
}

static void test_exit_recorded_and_lock_released(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	assert_int_equal(start(f, "sleep 0.3; exit 3", &err), 0);
	assert_true(lock_exists(f));
	struct shim_exit ex;
	wait_end(f, &ex);
	assert_int_equal(WEXITSTATUS(ex.status), 3);
	assert_string_equal(ex.description, "exited with status 3");
	assert_null(ex.reason);
	shim_exit_clear(&ex);
	assert_false(lock_exists(f));
}

static void test_exec_failure_reported(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	int fd = -1;
	uint64_t counter;
	assert_int_equal(vm_lock_acquire(f->dir, &host_a, &fd, &counter, &err), 0);
	char *argv[] = {(char *)"/nonexistent/qemu", NULL};
	struct shim_start ss = {
		.shim_binary = shim_binary,
		.vm_dir = f->dir,
		.run_dir = f->run_dir,
		.log_path = f->log,
		.lock_fd = fd,
		.lock_counter = counter,
		.lock = &host_a,
		.qemu_argv = argv,
	};
	pid_t shim, child;
	assert_int_equal(shim_spawn(&ss, &shim, &child, &err), -ENOENT);
	assert_non_null(strstr(err->msg, "cannot start /nonexistent/qemu"));
	vr_error_freep(&err);
	close(fd);
	assert_false(lock_exists(f));
}

static void test_renews_while_running(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	assert_int_equal(start(f, "exec sleep 100", &err), 0);
	struct vm_lock_info before, after;
	assert_int_equal(vm_lock_read(f->dir, &before, &err), 0);
	sleep_ms(1000); /* well past the 400 ms lease */
	assert_int_equal(vm_lock_read(f->dir, &after, &err), 0);
	assert_true(after.counter >= before.counter + 4);
	int fd;
	uint64_t c;
	assert_int_equal(vm_lock_acquire(f->dir, &host_b, &fd, &c, &err), -EBUSY);
	vr_error_freep(&err);
	/* Asked to stop, the shim passes SIGTERM on, as QEMU's own handling expects. */
	kill(f->shim, SIGTERM);
	struct shim_exit ex;
	wait_end(f, &ex);
	assert_true(WIFSIGNALED(ex.status) && WTERMSIG(ex.status) == SIGTERM);
	shim_exit_clear(&ex);
	assert_false(lock_exists(f));
}

static void test_lost_lock_kills(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	assert_int_equal(start(f, "exec sleep 100", &err), 0);
	/* Another host takes the lock over (as after breaking it). */
	char *path = xasprintf("%s/%s", f->dir, VM_LOCK_FILE);
	char *aside = xasprintf("%s.stale", path);
	assert_int_equal(rename(path, aside), 0);
	int fb;
	uint64_t cb;
	assert_int_equal(vm_lock_acquire(f->dir, &host_b, &fb, &cb, &err), 0);
	struct shim_exit ex;
	wait_end(f, &ex);
	assert_true(WIFSIGNALED(ex.status) && WTERMSIG(ex.status) == SIGKILL);
	assert_non_null(ex.reason);
	assert_non_null(strstr(ex.reason, "hostB"));
	shim_exit_clear(&ex);
	/* B's lock is intact: not renewed, not released by the old holder. */
	struct vm_lock_info info;
	assert_int_equal(vm_lock_read(f->dir, &info, &err), 0);
	assert_string_equal(info.host_id, host_b.host_id);
	assert_int_equal(info.counter, cb);
	close(fb);
	free(path);
	free(aside);
}

static char proc_state(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	char *text = NULL;
	if (file_read_all(path, 4096, &text, NULL, NULL) < 0)
		return '?';
	char *rp = strrchr(text, ')');
	char st = rp && rp[1] && rp[2] ? rp[2] : '?';
	free(text);
	return st;
}

static void test_late_renewal_freezes_then_continues(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	assert_int_equal(start(f, "exec sleep 100", &err), 0);
	/* Freeze the keeper past the lease, as a hung host or storage would. */
	kill(f->shim, SIGSTOP);
	sleep_ms(600);
	kill(f->shim, SIGCONT);
	bool seen = false;
	for (int i = 0; i < 100 && !seen; i++) {
		sleep_ms(50);
		char *log = read_log(f);
		seen = strstr(log, "frozen until it succeeds") && strstr(log, "continues");
		free(log);
	}
	assert_true(seen);
	char st = proc_state(f->child);
	assert_true(st == 'S' || st == 'R');
	/* Nobody took the lock meanwhile: still ours, still renewed. */
	struct vm_lock_info info;
	assert_int_equal(vm_lock_read(f->dir, &info, &err), 0);
	assert_string_equal(info.host_id, host_a.host_id);
	kill(f->child, SIGKILL);
	struct shim_exit ex;
	wait_end(f, &ex);
	shim_exit_clear(&ex);
}

static void test_exit_record_malformed(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/%s", f->run_dir, SHIM_EXITFILE);
	assert_int_equal(file_write_atomic(path, "{\"status\": \"x\"}", 15, 0640, NULL), 0);
	struct shim_exit ex;
	struct vr_error *err = NULL;
	assert_int_equal(shim_exit_read(f->run_dir, &ex, &err), -EBADMSG);
	assert_non_null(strstr(err->msg, "malformed"));
	vr_error_freep(&err);
	unlink(path);
	assert_int_equal(shim_exit_read(f->run_dir, &ex, &err), -ENOENT);
	free(path);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_shim PATH-TO-vireo-shim\n");
		return 2;
	}
	shim_binary = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exit_recorded_and_lock_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_failure_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renews_while_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_lock_kills, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_renewal_freezes_then_continues, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_exit_record_malformed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
