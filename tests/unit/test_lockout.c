/* SPDX-License-Identifier: Apache-2.0 */
/* Account lockout of password logins (api/lockout.c), on a clock the tests move. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/lockout.h"
#include "common/error.h"
#include "common/util.h"

/* An arbitrary monotonic start, far from 0 so that "now - window" does not wrap. */
#define T0 1000000000ULL

static struct login_lockout *lockout_new(unsigned failures, uint64_t window_ms,
					 uint64_t unlock_ms, size_t capacity)
{
	struct login_lockout_config cfg = {
		.max_failures = failures,
		.window_ms = window_ms,
		.unlock_ms = unlock_ms,
		.capacity = capacity,
	};
	struct vr_error *err = NULL;
	struct login_lockout *l = login_lockout_new(&cfg, &err);
	if (!l)
		fail_msg("login_lockout_new: %s", vr_error_msg(err));
	return l;
}

/* A failed attempt as the daemons make it: check, then record.  Returns the verdict. */
static struct login_lockout_verdict attempt(struct login_lockout *l, const char *name, bool ok,
					    uint64_t now)
{
	struct login_lockout_verdict v;
	if (login_lockout_check(l, name, now, &v))
		return v;
	login_lockout_record(l, name, ok, now, &v);
	return v;
}

static void fail_times(struct login_lockout *l, const char *name, unsigned n, uint64_t now)
{
	for (unsigned i = 0; i < n; i++) {
		struct login_lockout_verdict v = attempt(l, name, false, now);
		assert_false(v.locked);
	}
}

static void test_defaults_and_bounds(void **state)
{
	struct login_lockout_config cfg;
	login_lockout_config_default(&cfg);
	assert_int_equal(cfg.max_failures, 5);
	assert_int_equal(cfg.window_ms, 180000);
	assert_int_equal(cfg.unlock_ms, 300000);
	assert_int_equal(login_lockout_config_check(&cfg, NULL), 0);

	struct vr_error *err = NULL;
	struct login_lockout_config bad = cfg;
	bad.max_failures = LOGIN_LOCKOUT_FAILURES_MAX + 1;
	assert_int_equal(login_lockout_config_check(&bad, &err), -EINVAL);
	assert_non_null(strstr(vr_error_msg(err), "0 (no lockout) to 100"));
	vr_error_free(err);
	err = NULL;
	bad = cfg;
	bad.window_ms = 0;
	assert_null(login_lockout_new(&bad, &err));
	assert_non_null(strstr(vr_error_msg(err), "window of 0 ms"));
	vr_error_free(err);
	err = NULL;
	bad = cfg;
	bad.unlock_ms = (LOGIN_LOCKOUT_SECONDS_MAX + 1) * 1000ULL;
	assert_int_equal(login_lockout_config_check(&bad, &err), -EINVAL);
	assert_non_null(strstr(vr_error_msg(err), "unlock time"));
	vr_error_free(err);
	err = NULL;
	bad = cfg;
	bad.capacity = 0;
	assert_int_equal(login_lockout_config_check(&bad, &err), -EINVAL);
	assert_non_null(strstr(vr_error_msg(err), "table of 0 names"));
	vr_error_free(err);
}

/* The fifth failure within the window locks; the right password is refused then. */
static void test_counting_and_lock(void **state)
{
	struct login_lockout *l = lockout_new(5, 180000, 300000, 64);
	fail_times(l, "alice", 4, T0);
	assert_false(login_lockout_check(l, "alice", T0 + 1, NULL));
	struct login_lockout_verdict v = attempt(l, "alice", false, T0 + 10);
	assert_true(v.locked);
	assert_true(v.locked_now);
	assert_int_equal(v.failures, 5);
	assert_int_equal(v.retry_after_ms, 300000);
	assert_int_equal(login_lockout_retry_after_s(&v), 300);

	/* Locked: refused before the check of the password, right or wrong. */
	v = attempt(l, "alice", true, T0 + 1010);
	assert_true(v.locked);
	assert_false(v.locked_now);
	assert_int_equal(v.retry_after_ms, 299000);
	_cleanup_free_ char *msg = login_lockout_message(&v);
	assert_string_equal(msg, "too many failed logins for this user name: it is locked for "
				 "about 299 more seconds");
	/* A success recorded while locked (it was hashing when the lock came) is refused too. */
	login_lockout_record(l, "alice", true, T0 + 2000, &v);
	assert_true(v.locked);
	assert_false(v.locked_now);
	/* Other names are not affected. */
	v = attempt(l, "bob", true, T0 + 2000);
	assert_false(v.locked);
	fail_times(l, "bob", 4, T0 + 2000);
	login_lockout_free(l);
}

/* Failures older than the window are forgotten: a slow guesser never locks. */
static void test_window_expiry(void **state)
{
	struct login_lockout *l = lockout_new(3, 10000, 60000, 16);
	fail_times(l, "carol", 2, T0);
	/* Exactly one window later the first two no longer count. */
	fail_times(l, "carol", 2, T0 + 10000);
	/* The window slides: failures at +10 s, +10 s and +19.999 s are three within 10 s. */
	struct login_lockout_verdict v = attempt(l, "carol", false, T0 + 19999);
	assert_true(v.locked_now);

	/* One failure every 5 s with a window of 10 s: never three in a window. */
	fail_times(l, "dave", 1, T0);
	fail_times(l, "dave", 1, T0 + 5000);
	fail_times(l, "dave", 1, T0 + 10000);
	fail_times(l, "dave", 1, T0 + 15000);
	fail_times(l, "dave", 1, T0 + 20000);
	v = attempt(l, "dave", false, T0 + 24999);
	assert_true(v.locked_now);
	login_lockout_free(l);
}

/* The lock ends by itself after the unlock time; the count starts afresh. */
static void test_unlock_by_time(void **state)
{
	struct login_lockout *l = lockout_new(2, 1000, 5000, 16);
	struct login_lockout_verdict v;
	fail_times(l, "erin", 1, T0);
	v = attempt(l, "erin", false, T0 + 100);
	assert_true(v.locked_now);
	assert_true(login_lockout_check(l, "erin", T0 + 5099, &v));
	assert_int_equal(v.retry_after_ms, 1);
	assert_int_equal(login_lockout_retry_after_s(&v), 1);
	_cleanup_free_ char *msg = login_lockout_message(&v);
	assert_non_null(strstr(msg, "about 1 more second"));
	/* Failures while locked neither count nor lengthen the lock. */
	login_lockout_record(l, "erin", false, T0 + 5000, &v);
	assert_true(v.locked);
	assert_false(v.locked_now);
	assert_false(login_lockout_check(l, "erin", T0 + 5100, &v));
	/* Unlocked: one failure does not lock again, two do. */
	v = attempt(l, "erin", false, T0 + 5100);
	assert_false(v.locked);
	v = attempt(l, "erin", false, T0 + 5200);
	assert_true(v.locked_now);
	/* The right password after the unlock gets in. */
	v = attempt(l, "erin", true, T0 + 10200);
	assert_false(v.locked);
	login_lockout_free(l);
}

/* A success clears the failures: N - 1 failures, success, N - 1 failures: never locked. */
static void test_success_resets(void **state)
{
	struct login_lockout *l = lockout_new(5, 180000, 300000, 16);
	for (int round = 0; round < 4; round++) {
		fail_times(l, "frank", 4, T0 + (uint64_t)round * 10);
		struct login_lockout_verdict v = attempt(l, "frank", true, T0 + (uint64_t)round * 10 + 1);
		assert_false(v.locked);
	}
	assert_int_equal(login_lockout_size(l), 0);
	fail_times(l, "frank", 4, T0 + 100);
	assert_true(attempt(l, "frank", false, T0 + 101).locked_now);
	login_lockout_free(l);
}

/* Off: nothing is counted, nothing is locked. */
static void test_off(void **state)
{
	struct login_lockout *l = lockout_new(0, 1000, 1000, 16);
	for (int i = 0; i < 100; i++)
		assert_false(attempt(l, "gina", false, T0 + (uint64_t)i).locked);
	assert_int_equal(login_lockout_size(l), 0);
	login_lockout_free(l);
	/* NULL is off too. */
	assert_false(attempt(NULL, "gina", false, T0).locked);
}

/* Names are kept apart by their first LOGIN_LOCKOUT_NAME_MAX bytes; NULL is "". */
static void test_names(void **state)
{
	struct login_lockout *l = lockout_new(2, 1000, 1000, 16);
	char a[LOGIN_LOCKOUT_NAME_MAX + 20], b[LOGIN_LOCKOUT_NAME_MAX + 20];
	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[LOGIN_LOCKOUT_NAME_MAX + 5] = 'y';
	fail_times(l, a, 1, T0);
	assert_true(attempt(l, b, false, T0).locked_now);
	fail_times(l, NULL, 1, T0);
	assert_true(attempt(l, "", false, T0).locked_now);
	/* Names differing only after the first bytes of a short name are distinct. */
	fail_times(l, "ann", 1, T0);
	fail_times(l, "anna", 1, T0);
	fail_times(l, "an", 1, T0);
	assert_int_equal(login_lockout_size(l), 5);
	login_lockout_free(l);
}

/*
 * Memory is bounded: thousands of names through a table of 32.  Names whose
 * failures left the window go first, then unlocked ones by their last
 * failure; a locked name outlives any number of names that are not.
 */
static void test_table_bound(void **state)
{
	const size_t cap = 32;
	struct login_lockout *l = lockout_new(3, 10000, 60000, cap);
	/* A locked victim, and one with two failures, both at T0. */
	fail_times(l, "victim", 2, T0);
	assert_true(attempt(l, "victim", false, T0).locked_now);
	fail_times(l, "counting", 2, T0);
	char name[32];
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "spray-%u", i);
		fail_times(l, name, 1, T0 + 1 + i);
		assert_true(login_lockout_size(l) <= cap);
	}
	assert_int_equal(login_lockout_size(l), cap);
	/* The locked name stayed; the unlocked one failed longest ago was given up. */
	assert_true(login_lockout_check(l, "victim", T0 + 6000, NULL));
	fail_times(l, "counting", 2, T0 + 6000);
	/* The newest sprayed names are still counted; the oldest that were kept gave way. */
	assert_false(attempt(l, "spray-4999", false, T0 + 6000).locked);
	assert_true(attempt(l, "spray-4999", false, T0 + 6000).locked_now);
	fail_times(l, "spray-4970", 1, T0 + 6000);
	assert_true(attempt(l, "spray-4970", false, T0 + 6000).locked_now);
	/* spray-4969, the oldest kept, made room for "counting": it starts from nothing. */
	fail_times(l, "spray-4969", 2, T0 + 6000);
	assert_int_equal(login_lockout_size(l), cap);

	/* Once the window has passed, the sprayed names are dropped as stale. */
	fail_times(l, "late", 1, T0 + 100000);
	assert_int_equal(login_lockout_size(l), 1);
	assert_false(login_lockout_check(l, "victim", T0 + 100000, NULL));

	/* A table full of locked names: the one that unlocks first gives way. */
	for (unsigned i = 0; i < cap; i++) {
		snprintf(name, sizeof(name), "locked-%u", i);
		fail_times(l, name, 2, T0 + 200000 + i);
		assert_true(attempt(l, name, false, T0 + 200000 + i).locked_now);
	}
	assert_int_equal(login_lockout_size(l), cap);
	fail_times(l, "newcomer", 1, T0 + 200100);
	assert_false(login_lockout_check(l, "locked-0", T0 + 200100, NULL));
	assert_true(login_lockout_check(l, "locked-1", T0 + 200100, NULL));
	assert_true(login_lockout_check(l, "locked-31", T0 + 200100, NULL));
	login_lockout_free(l);
}

/* Several threads at once, as the servers' workers: counts stay exact, nothing races. */
struct worker {
	struct login_lockout *l;
	unsigned id;
	unsigned locked_now; /* verdicts with locked_now on the shared name */
	unsigned refused;    /* on the shared name after the lock */
};

#define THREADS 8
#define ROUNDS 2000

static void *worker_main(void *opaque)
{
	struct worker *w = opaque;
	char name[32];
	for (unsigned i = 0; i < ROUNDS; i++) {
		/* A name of its own that succeeds every fourth time: never locked. */
		snprintf(name, sizeof(name), "own-%u", w->id);
		struct login_lockout_verdict v = attempt(w->l, name, i % 4 == 3, T0 + i);
		if (v.locked)
			fail_msg("thread %u: its own name was locked at round %u", w->id, i);
		/* Many names, to churn the table. */
		snprintf(name, sizeof(name), "churn-%u-%u", w->id, i);
		attempt(w->l, name, false, T0 + i);
		/* One name everybody fails on. */
		v = attempt(w->l, "shared", false, T0 + i);
		w->locked_now += v.locked_now;
		w->refused += v.locked && !v.locked_now;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct login_lockout *l = lockout_new(5, 1000000, 1000000, 256);
	struct worker w[THREADS];
	pthread_t t[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .l = l, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	unsigned locked_now = 0, refused = 0;
	for (unsigned i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		locked_now += w[i].locked_now;
		refused += w[i].refused;
	}
	/* Exactly one attempt locked the shared name; all later ones were refused. */
	assert_int_equal(locked_now, 1);
	assert_int_equal(refused, THREADS * ROUNDS - 5);
	assert_true(login_lockout_size(l) <= 256);
	login_lockout_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_bounds),
		cmocka_unit_test(test_counting_and_lock),
		cmocka_unit_test(test_window_expiry),
		cmocka_unit_test(test_unlock_by_time),
		cmocka_unit_test(test_success_resets),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_table_bound),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
