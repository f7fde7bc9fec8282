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

static void test_exclusive(void **state)
{
	const char *dir = *state;
	struct vr_error *err = NULL;
	assert_int_equal(vm_lock_acquire(dir, &host_a, &err), 0);
	/* The owner may take it again (a restarted hostd finding its VM). */
	assert_int_equal(vm_lock_acquire(dir, &host_a, &err), 0);
	assert_int_equal(vm_lock_acquire(dir, &host_b, &err), -EBUSY);
	assert_non_null(strstr(err->msg, "locked by host \"hostA\""));
	vr_error_freep(&err);
	struct vm_lock_info info;
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_string_equal(info.host_id, host_a.host_id);
	uint64_t c = info.counter;
	assert_int_equal(vm_lock_renew(dir, &host_a, &err), 0);
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_int_equal(info.counter, c + 1);
	/* Only the owner releases. */
	assert_int_equal(vm_lock_release(dir, host_b.host_id, &err), -EPERM);
	vr_error_freep(&err);
	assert_int_equal(vm_lock_release(dir, host_a.host_id, &err), 0);
	assert_int_equal(vm_lock_read(dir, &info, &err), -ENOENT);
	assert_int_equal(vm_lock_acquire(dir, &host_b, &err), 0);
	assert_int_equal(vm_lock_release(dir, host_b.host_id, &err), 0);
}

static void test_live_lock_never_broken(void **state)
{
	const char *dir = *state;
	struct vr_error *err = NULL;
	assert_int_equal(vm_lock_acquire(dir, &host_a, &err), 0);
	/* A keeps renewing for longer than the lease: B must never get it. */
	for (int i = 0; i < 8; i++) {
		sleep_ms(100);
		assert_int_equal(vm_lock_renew(dir, &host_a, &err), 0);
		assert_int_equal(vm_lock_acquire(dir, &host_b, &err), -EBUSY);
		vr_error_freep(&err);
	}
	assert_int_equal(vm_lock_release(dir, host_a.host_id, &err), 0);
}

static void test_stale_lock_broken(void **state)
{
	const char *dir = *state;
	struct vr_error *err = NULL;
	assert_int_equal(vm_lock_acquire(dir, &host_a, &err), 0);
	sleep_ms(500); /* A stops renewing: past the lease */
	assert_int_equal(vm_lock_acquire(dir, &host_b, &err), 0);
	struct vm_lock_info info;
	assert_int_equal(vm_lock_read(dir, &info, &err), 0);
	assert_string_equal(info.host_id, host_b.host_id);
	/* A, waking up, finds it lost the lock. */
	assert_int_equal(vm_lock_renew(dir, &host_a, &err), -ESTALE);
	assert_non_null(strstr(err->msg, "hostB"));
	vr_error_freep(&err);
	assert_int_equal(vm_lock_release(dir, host_b.host_id, &err), 0);
}

static void test_malformed_lock(void **state)
{
	const char *dir = *state;
	char *path = xasprintf("%s/%s", dir, VM_LOCK_FILE);
	FILE *f = fopen(path, "w");
	fputs("{\"host_id\": 42}", f);
	fclose(f);
	struct vr_error *err = NULL;
	assert_int_equal(vm_lock_acquire(dir, &host_a, &err), -EBUSY);
	assert_non_null(strstr(err->msg, "malformed"));
	vr_error_freep(&err);
	/* Old debris (not rewritten for longer than the lease) is cleared. */
	struct timespec old[2] = {{.tv_sec = time(NULL) - 60}, {.tv_sec = time(NULL) - 60}};
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	assert_int_equal(vm_lock_acquire(dir, &host_a, &err), 0);
	assert_int_equal(vm_lock_release(dir, host_a.host_id, &err), 0);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_lock_never_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_lock_broken, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_lock, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
