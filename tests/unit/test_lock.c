/* SPDX-License-Identifier: Apache-2.0 */
/* The VM folder lock: exclusive between hosts, renewed, broken only when stale. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "host/lock.h"

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

static int setup(void **state)
{
	char tmpl[] = "/tmp/vireo-lock-XXXXXX";
	char *dir = mkdtemp(tmpl);
	assert_non_null(dir);
	*state = xstrdup(dir);
	return 0;
}

static int teardown(void **state)
{
	rm_rf(*state);
	free(*state);
	return 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static char *lock_file(const char *dir)
{
	return xasprintf("%s/%s", dir, VM_LOCK_FILE);
}

static void test_exclusive(void **state)
{
	const char *dir = *state;
	struct vr_error *err = NULL;
	int fd = -1;
	uint64_t counter = 0;
	assert_int_equal(vm_lock_acquire(dir, &host_a, &fd, &counter, &err), 0);
	assert_true(fd >= 0);
	assert_int_equal(counter, 1);
	int fd2 = -1;
	assert_int_equal(vm_lock_acquire(dir, &host_b, &fd2, &counter, &err), -EBUSY);
	assert_non_null(strstr(err->msg, "locked by host \"hostA\""));
	vr_error_freep(&err);
	/* A live lock of our own host is not taken either: a keeper of ours may hold it. */
	assert_int_equal(vm_lock_acquire(dir, &host_a, &fd2, &counter, &err), -EBUSY);
	assert_non_null(strstr(err->msg, "this host"));
	vr_error_freep(&err);
	struct vm_lock_info info;
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_string_equal(info.host_id, host_a.host_id);
	assert_int_equal(info.counter, 1);
	assert_int_equal(vm_lock_renew_fd(&fd, dir, &host_a, 2, &err), 0);
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_int_equal(info.counter, 2);
	/* Fixed size, rewritten in place. */
	char *path = lock_file(dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, VM_LOCK_SIZE);
	/* Only the owner releases. */
	assert_int_equal(vm_lock_release(dir, host_b.host_id, &err), -EPERM);
	vr_error_freep(&err);
	assert_int_equal(vm_lock_release_fd(fd, dir, &err), 0);
	close(fd);
	assert_int_equal(vm_lock_read(dir, &info, &err), -ENOENT);
	assert_int_equal(vm_lock_acquire(dir, &host_b, &fd, &counter, &err), 0);
	assert_int_equal(vm_lock_release(dir, host_b.host_id, &err), 0);
	close(fd);
	free(path);
}

static void test_live_lock_never_broken(void **state)
{
	const char *dir = *state;
	struct vr_error *err = NULL;
	int fd = -1, fd2 = -1;
	uint64_t counter = 0, c2;
	assert_int_equal(vm_lock_acquire(dir, &host_a, &fd, &counter, &err), 0);
	/* A keeps renewing for longer than the lease: B must never get it. */
	for (int i = 0; i < 8; i++) {
		sleep_ms(100);
		assert_int_equal(vm_lock_renew_fd(&fd, dir, &host_a, ++counter, &err), 0);
		assert_int_equal(vm_lock_acquire(dir, &host_b, &fd2, &c2, &err), -EBUSY);
		vr_error_freep(&err);
	}
	assert_int_equal(vm_lock_release_fd(fd, dir, &err), 0);
	close(fd);
}

static void test_stale_lock_broken(void **state)
{
	const char *dir = *state;
	struct vr_error *err = NULL;
	int fa = -1, fb = -1;
	uint64_t ca, cb;
	assert_int_equal(vm_lock_acquire(dir, &host_a, &fa, &ca, &err), 0);
	sleep_ms(500); /* A stops renewing: past the lease */
	assert_int_equal(vm_lock_acquire(dir, &host_b, &fb, &cb, &err), 0);
	struct vm_lock_info info;
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_string_equal(info.host_id, host_b.host_id);
	/* A, waking up, finds it lost the lock... */
	assert_int_equal(vm_lock_renew_fd(&fa, dir, &host_a, ca + 1, &err), -ESTALE);
	assert_non_null(strstr(err->msg, "hostB"));
	vr_error_freep(&err);
	/* ...and its late renewal did not touch B's lock (compare-and-swap by inode). */
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_string_equal(info.host_id, host_b.host_id);
	assert_int_equal(info.counter, cb);
	/* Nor can A remove it. */
	assert_int_equal(vm_lock_release_fd(fa, dir, &err), -EPERM);
	vr_error_freep(&err);
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_string_equal(info.host_id, host_b.host_id);
	assert_int_equal(vm_lock_release_fd(fb, dir, &err), 0);
	close(fa);
	close(fb);
}

static void test_own_stale_lock_taken_over(void **state)
{
	const char *dir = *state;
	struct vr_error *err = NULL;
	int fd = -1;
	uint64_t c;
	assert_int_equal(vm_lock_acquire(dir, &host_a, &fd, &c, &err), 0);
	close(fd); /* the holder died without releasing */
	sleep_ms(500);
	assert_int_equal(vm_lock_acquire(dir, &host_a, &fd, &c, &err), 0);
	assert_int_equal(c, 1);
	assert_int_equal(vm_lock_release_fd(fd, dir, &err), 0);
	close(fd);
}

static void test_vanished_lock_restored(void **state)
{
	const char *dir = *state;
	struct vr_error *err = NULL;
	int fd = -1;
	uint64_t c;
	char *path = lock_file(dir);
	char *aside = xasprintf("%s.aside", path);
	assert_int_equal(vm_lock_acquire(dir, &host_a, &fd, &c, &err), 0);
	/* Renamed away (a breaker's first step) with nobody replacing it: put back. */
	assert_int_equal(rename(path, aside), 0);
	assert_int_equal(vm_lock_renew_fd(&fd, dir, &host_a, ++c, &err), 1);
	struct vm_lock_info info;
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_string_equal(info.host_id, host_a.host_id);
	assert_int_equal(info.counter, c);
	/* Deleted outright: a new lock file is written. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(unlink(aside), 0);
	assert_int_equal(vm_lock_renew_fd(&fd, dir, &host_a, ++c, &err), 1);
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_int_equal(info.counter, c);
	assert_int_equal(vm_lock_renew_fd(&fd, dir, &host_a, ++c, &err), 0);
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_int_equal(info.counter, c);
	/* Replaced by another host's lock meanwhile: lost. */
	assert_int_equal(unlink(path), 0);
	int fb = -1;
	uint64_t cb;
	assert_int_equal(vm_lock_acquire(dir, &host_b, &fb, &cb, &err), 0);
	assert_int_equal(vm_lock_renew_fd(&fd, dir, &host_a, ++c, &err), -ESTALE);
	vr_error_freep(&err);
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_string_equal(info.host_id, host_b.host_id);
	close(fd);
	close(fb);
	free(path);
	free(aside);
}

static void test_malformed_lock(void **state)
{
	const char *dir = *state;
	char *path = lock_file(dir);
	FILE *f = fopen(path, "w");
	fputs("{\"host_id\": 42}", f);
	fclose(f);
	struct vr_error *err = NULL;
	int fd = -1;
	uint64_t c;
	assert_int_equal(vm_lock_acquire(dir, &host_a, &fd, &c, &err), -EBUSY);
	assert_non_null(strstr(err->msg, "malformed"));
	vr_error_freep(&err);
	/* Old debris (not rewritten for longer than the lease) is cleared. */
	struct timespec old[2] = {{.tv_sec = time(NULL) - 60}, {.tv_sec = time(NULL) - 60}};
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(vm_lock_acquire(dir, &host_a, &fd, &c, &err), 0);
	assert_int_equal(vm_lock_release_fd(fd, dir, &err), 0);
	close(fd);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_lock_never_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_lock_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_stale_lock_taken_over, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vanished_lock_restored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_lock, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
