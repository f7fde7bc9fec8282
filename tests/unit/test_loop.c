/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/loop.h"
#include "common/util.h"

struct counter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int count;
	bool in_loop;
	struct vr_loop *loop;
	int fd;
	bool busy; /* callback running */
	int sleep_ms;
};

static void counter_init(struct counter *c, struct vr_loop *loop)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->loop = loop;
	c->fd = -1;
}

static void counter_bump(struct counter *c)
{
	pthread_mutex_lock(&c->lock);
	c->count++;
	c->in_loop = vr_loop_in_loop_thread(c->loop);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static int counter_wait(struct counter *c, int at_least, int timeout_ms)
{
	uint64_t deadline = time_mono_ms() + (uint64_t)timeout_ms;
	pthread_mutex_lock(&c->lock);
	while (c->count < at_least && time_mono_ms() < deadline) {
		pthread_mutex_unlock(&c->lock);
		usleep(1000);
		pthread_mutex_lock(&c->lock);
	}
	int n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static struct vr_loop *start_loop(void)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct vr_loop *loop = vr_loop_new(&err);
	assert_non_null(loop);
	assert_int_equal(vr_loop_start(loop), 0);
	return loop;
}

static void on_readable(int fd, uint32_t events, void *opaque)
{
	struct counter *c = opaque;
	char buf[64];
	if (!(events & EPOLLIN))
		return;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	counter_bump(c);
}

static void test_fd_callback(void **state)
{
	struct vr_loop *loop = start_loop();
	struct counter c;
	counter_init(&c, loop);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(vr_loop_add_fd(loop, p[0], EPOLLIN, on_readable, &c), 0);
	assert_int_equal(vr_loop_add_fd(loop, p[0], EPOLLIN, on_readable, &c), -EEXIST);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(counter_wait(&c, 1, 2000), 1);
	assert_true(c.in_loop);
	assert_false(vr_loop_in_loop_thread(loop));
	vr_loop_remove_fd(loop, p[0]);
	assert_int_equal(write(p[1], "y", 1), 1);
	usleep(50 * 1000);
	assert_int_equal(counter_wait(&c, 1, 0), 1);
	close(p[0]);
	close(p[1]);
	vr_loop_stop_and_free(loop);
}

static void on_readable_remove_self(int fd, uint32_t events, void *opaque)
{
	struct counter *c = opaque;
	vr_loop_remove_fd(c->loop, fd);
	counter_bump(c);
}

static void test_remove_from_callback(void **state)
{
	struct vr_loop *loop = start_loop();
	struct counter c;
	counter_init(&c, loop);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(vr_loop_add_fd(loop, p[0], EPOLLIN, on_readable_remove_self, &c), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(counter_wait(&c, 1, 2000), 1);
	usleep(50 * 1000); /* data is still unread: level-triggered would fire again */
	assert_int_equal(counter_wait(&c, 1, 0), 1);
	close(p[0]);
	close(p[1]);
	vr_loop_stop_and_free(loop);
}

static void on_readable_slow(int fd, uint32_t events, void *opaque)
{
	struct counter *c = opaque;
	pthread_mutex_lock(&c->lock);
	c->busy = true;
	pthread_mutex_unlock(&c->lock);
	counter_bump(c);
	usleep(200 * 1000);
	pthread_mutex_lock(&c->lock);
	c->busy = false;
	pthread_mutex_unlock(&c->lock);
}

/* After vr_loop_remove_fd() returns on another thread, the callback is not running. */
static void test_remove_waits_for_callback(void **state)
{
	struct vr_loop *loop = start_loop();
	struct counter c;
	counter_init(&c, loop);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(vr_loop_add_fd(loop, p[0], EPOLLIN, on_readable_slow, &c), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_true(counter_wait(&c, 1, 2000) >= 1);
	vr_loop_remove_fd(loop, p[0]);
	pthread_mutex_lock(&c.lock);
	bool busy = c.busy;
	int count = c.count;
	pthread_mutex_unlock(&c.lock);
	assert_false(busy);
	usleep(100 * 1000);
	assert_int_equal(counter_wait(&c, 0, 0), count);
	close(p[0]);
	close(p[1]);
	vr_loop_stop_and_free(loop);
}

static void on_timer(void *opaque)
{
	counter_bump(opaque);
}

static void test_timers(void **state)
{
	struct vr_loop *loop = start_loop();
	struct counter once, periodic, cancelled;
	counter_init(&once, loop);
	counter_init(&periodic, loop);
	counter_init(&cancelled, loop);

	uint64_t start = time_mono_ms();
	assert_int_not_equal(vr_loop_add_timer(loop, 50, 0, on_timer, &once), 0);
	uint64_t pid = vr_loop_add_timer(loop, 10, 10, on_timer, &periodic);
	uint64_t cid = vr_loop_add_timer(loop, 100, 0, on_timer, &cancelled);
	assert_int_not_equal(pid, 0);
	vr_loop_cancel_timer(loop, cid);

	assert_int_equal(counter_wait(&once, 1, 2000), 1);
	assert_true(time_mono_ms() - start >= 50);
	assert_true(once.in_loop);
	assert_true(counter_wait(&periodic, 5, 2000) >= 5);
	vr_loop_cancel_timer(loop, pid);
	int n = counter_wait(&periodic, 0, 0);
	usleep(150 * 1000);
	assert_int_equal(counter_wait(&periodic, 0, 0), n);
	assert_int_equal(counter_wait(&once, 0, 0), 1);
	assert_int_equal(counter_wait(&cancelled, 0, 0), 0);
	vr_loop_cancel_timer(loop, 12345); /* unknown: ignored */
	vr_loop_stop_and_free(loop);
}

static void on_call(void *opaque)
{
	counter_bump(opaque);
}

static void on_call_chain(void *opaque)
{
	struct counter *c = opaque;
	/* Calls and timers added on the loop thread itself (checked by the count). */
	if (vr_loop_call(c->loop, on_call, c) == 0)
		counter_bump(c);
	if (vr_loop_add_timer(c->loop, 0, 0, on_timer, c) != 0)
		counter_bump(c);
}

static void test_call(void **state)
{
	struct vr_loop *loop = start_loop();
	struct counter c;
	counter_init(&c, loop);
	for (int i = 0; i < 100; i++)
		assert_int_equal(vr_loop_call(loop, on_call, &c), 0);
	assert_int_equal(counter_wait(&c, 100, 2000), 100);
	assert_true(c.in_loop);
	assert_int_equal(vr_loop_call(loop, on_call_chain, &c), 0);
	assert_int_equal(counter_wait(&c, 104, 2000), 104);
	vr_loop_stop_and_free(loop);
}

static void test_calls_run_at_stop(void **state)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct vr_loop *loop = vr_loop_new(&err);
	assert_non_null(loop);
	struct counter c;
	counter_init(&c, loop);
	/* Never started: queued calls still run, so their opaque is not leaked. */
	assert_int_equal(vr_loop_call(loop, on_call, &c), 0);
	vr_loop_stop_and_free(loop);
	assert_int_equal(c.count, 1);
	vr_loop_stop_and_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_callback),
		cmocka_unit_test(test_remove_from_callback),
		cmocka_unit_test(test_remove_waits_for_callback),
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_call),
		cmocka_unit_test(test_calls_run_at_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
