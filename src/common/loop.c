/* SPDX-License-Identifier: Apache-2.0 */
#include "common/loop.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#define LOOP_WAKE_ID UINT64_MAX
#define LOOP_MAX_EVENTS 64

struct loop_watch {
	uint64_t id;
	int fd;
	vr_loop_fd_fn cb;
	void *opaque;
	struct loop_watch *next;
};

struct loop_timer {
	uint64_t id;
	uint64_t due_ms;
	uint64_t period_ms;
	vr_loop_timer_fn cb;
	void *opaque;
	struct loop_timer *next;
};

struct loop_call {
	vr_loop_call_fn fn;
	void *opaque;
	struct loop_call *next;
};

struct vr_loop {
	int epfd;
	int wakefd;
	pthread_t thread;
	bool started;

	pthread_mutex_t lock;
	pthread_cond_t idle; /* signalled after each callback */
	bool stopping;
	uint64_t next_id;
	struct loop_watch *watches;
	struct loop_timer *timers;
	struct loop_call *calls_head, **calls_tail;
	uint64_t running_watch; /* id of the watch or timer whose callback runs */
	uint64_t running_timer;
};

static __thread struct vr_loop *current_loop;

struct vr_loop *vr_loop_new(struct vr_error **err)
{
	_cleanup_close_ int epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		vr_error_set_errno(err, errno, "cannot create the event loop: epoll_create1");
		return NULL;
	}
	_cleanup_close_ int wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wakefd < 0) {
		vr_error_set_errno(err, errno, "cannot create the event loop: eventfd");
		return NULL;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = LOOP_WAKE_ID };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &ev) < 0) {
		vr_error_set_errno(err, errno, "cannot create the event loop: epoll_ctl");
		return NULL;
	}

	struct vr_loop *loop = xcalloc(1, sizeof(*loop));
	loop->epfd = steal_fd(&epfd);
	loop->wakefd = steal_fd(&wakefd);
	loop->next_id = 1;
	loop->calls_tail = &loop->calls_head;
	pthread_mutex_init(&loop->lock, NULL);
	pthread_cond_init(&loop->idle, NULL);
	return loop;
}

static void loop_wake(struct vr_loop *loop)
{
	uint64_t one = 1;
	while (write(loop->wakefd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	/* EAGAIN means the counter is already non-zero: the loop will wake. */
}

static void loop_drain_wake(struct vr_loop *loop)
{
	uint64_t v;
	while (read(loop->wakefd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

static struct loop_watch *loop_find_watch_by_id(struct vr_loop *loop, uint64_t id)
{
	for (struct loop_watch *w = loop->watches; w; w = w->next)
		if (w->id == id)
			return w;
	return NULL;
}

static struct loop_watch **loop_find_watch_by_fd(struct vr_loop *loop, int fd)
{
	for (struct loop_watch **pw = &loop->watches; *pw; pw = &(*pw)->next)
		if ((*pw)->fd == fd)
			return pw;
	return NULL;
}

/* Called with the lock held; returns -1 for "no timer". */
static int loop_next_timeout(struct vr_loop *loop)
{
	if (!loop->timers)
		return -1;
	uint64_t now = time_mono_ms(), due = UINT64_MAX;
	for (struct loop_timer *t = loop->timers; t; t = t->next)
		if (t->due_ms < due)
			due = t->due_ms;
	if (due <= now)
		return 0;
	return due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

static void loop_dispatch_fd(struct vr_loop *loop, const struct epoll_event *ev)
{
	struct loop_watch *w = loop_find_watch_by_id(loop, ev->data.u64);
	if (!w)
		return; /* removed after epoll_wait() returned */
	vr_loop_fd_fn cb = w->cb;
	void *opaque = w->opaque;
	int fd = w->fd;
	loop->running_watch = w->id;
	pthread_mutex_unlock(&loop->lock);
	cb(fd, ev->events, opaque);
	pthread_mutex_lock(&loop->lock);
	loop->running_watch = 0;
	pthread_cond_broadcast(&loop->idle);
}

/* Runs the timers due now that existed when the pass started. */
static void loop_dispatch_timers(struct vr_loop *loop)
{
	uint64_t id_limit = loop->next_id;
	for (;;) {
		uint64_t now = time_mono_ms();
		struct loop_timer **pt, **best = NULL;
		for (pt = &loop->timers; *pt; pt = &(*pt)->next)
			if ((*pt)->due_ms <= now && (*pt)->id < id_limit &&
			    (!best || (*pt)->due_ms < (*best)->due_ms))
				best = pt;
		if (!best)
			return;
		struct loop_timer *t = *best;
		vr_loop_timer_fn cb = t->cb;
		void *opaque = t->opaque;
		uint64_t id = t->id;
		if (t->period_ms) {
			t->due_ms += t->period_ms;
			if (t->due_ms <= now)
				t->due_ms = now + t->period_ms;
		} else {
			*best = t->next;
			free(t);
		}
		loop->running_timer = id;
		pthread_mutex_unlock(&loop->lock);
		cb(opaque);
		pthread_mutex_lock(&loop->lock);
		loop->running_timer = 0;
		pthread_cond_broadcast(&loop->idle);
	}
}

static void loop_dispatch_calls(struct vr_loop *loop)
{
	while (loop->calls_head) {
		struct loop_call *c = loop->calls_head;
		loop->calls_head = NULL;
		loop->calls_tail = &loop->calls_head;
		pthread_mutex_unlock(&loop->lock);
		while (c) {
			struct loop_call *next = c->next;
			c->fn(c->opaque);
			free(c);
			c = next;
		}
		pthread_mutex_lock(&loop->lock);
	}
}

static void *loop_thread_main(void *arg)
{
	struct vr_loop *loop = arg;
	struct epoll_event events[LOOP_MAX_EVENTS];

	current_loop = loop;
	pthread_mutex_lock(&loop->lock);
	while (!loop->stopping) {
		int timeout = loop_next_timeout(loop);
		pthread_mutex_unlock(&loop->lock);
		int n = epoll_wait(loop->epfd, events, LOOP_MAX_EVENTS, timeout);
		int saved_errno = errno;
		pthread_mutex_lock(&loop->lock);
		if (n < 0) {
			if (saved_errno != EINTR)
				log_error("event loop: epoll_wait failed: %s", strerror(saved_errno));
			continue;
		}
		for (int i = 0; i < n; i++) {
			if (events[i].data.u64 == LOOP_WAKE_ID)
				loop_drain_wake(loop);
			else
				loop_dispatch_fd(loop, &events[i]);
		}
		loop_dispatch_timers(loop);
		loop_dispatch_calls(loop);
	}
	loop_dispatch_calls(loop);
	pthread_mutex_unlock(&loop->lock);
	current_loop = NULL;
	return NULL;
}

int vr_loop_start(struct vr_loop *loop)
{
	if (loop->started)
		return -EALREADY;
	int r = pthread_create(&loop->thread, NULL, loop_thread_main, loop);
	if (r != 0) {
		log_error("cannot start the event loop thread: %s", strerror(r));
		return -r;
	}
	loop->started = true;
	return 0;
}

void vr_loop_stop_and_free(struct vr_loop *loop)
{
	if (!loop)
		return;
	if (vr_loop_in_loop_thread(loop)) {
		log_error("vr_loop_stop_and_free() called on the loop thread; leaking the loop");
		return;
	}
	pthread_mutex_lock(&loop->lock);
	loop->stopping = true;
	pthread_mutex_unlock(&loop->lock);
	loop_wake(loop);
	if (loop->started) {
		pthread_join(loop->thread, NULL);
	} else {
		pthread_mutex_lock(&loop->lock);
		loop_dispatch_calls(loop);
		pthread_mutex_unlock(&loop->lock);
	}

	while (loop->watches) {
		struct loop_watch *w = loop->watches;
		log_debug("event loop freed while fd %d is still watched", w->fd);
		loop->watches = w->next;
		free(w);
	}
	while (loop->timers) {
		struct loop_timer *t = loop->timers;
		loop->timers = t->next;
		free(t);
	}
	close(loop->epfd);
	close(loop->wakefd);
	pthread_cond_destroy(&loop->idle);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

int vr_loop_add_fd(struct vr_loop *loop, int fd, uint32_t epoll_events, vr_loop_fd_fn cb,
		   void *opaque)
{
	if (fd < 0 || !cb)
		return -EINVAL;
	pthread_mutex_lock(&loop->lock);
	if (loop_find_watch_by_fd(loop, fd)) {
		pthread_mutex_unlock(&loop->lock);
		return -EEXIST;
	}
	struct loop_watch *w = xcalloc(1, sizeof(*w));
	w->id = loop->next_id++;
	w->fd = fd;
	w->cb = cb;
	w->opaque = opaque;
	struct epoll_event ev = { .events = epoll_events, .data.u64 = w->id };
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
		pthread_mutex_unlock(&loop->lock);
		free(w);
		return r;
	}
	w->next = loop->watches;
	loop->watches = w;
	pthread_mutex_unlock(&loop->lock);
	return 0;
}

int vr_loop_modify_fd(struct vr_loop *loop, int fd, uint32_t epoll_events)
{
	int r = 0;
	pthread_mutex_lock(&loop->lock);
	struct loop_watch **pw = loop_find_watch_by_fd(loop, fd);
	if (!pw) {
		r = -ENOENT;
	} else {
		struct epoll_event ev = { .events = epoll_events, .data.u64 = (*pw)->id };
		if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			r = -errno;
	}
	pthread_mutex_unlock(&loop->lock);
	return r;
}

void vr_loop_remove_fd(struct vr_loop *loop, int fd)
{
	bool on_loop = vr_loop_in_loop_thread(loop);
	pthread_mutex_lock(&loop->lock);
	struct loop_watch **pw = loop_find_watch_by_fd(loop, fd);
	if (!pw) {
		pthread_mutex_unlock(&loop->lock);
		return;
	}
	struct loop_watch *w = *pw;
	*pw = w->next;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
		log_debug("event loop: removing fd %d: %s", fd, strerror(errno));
	if (!on_loop)
		while (loop->running_watch == w->id)
			pthread_cond_wait(&loop->idle, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
	free(w);
}

uint64_t vr_loop_add_timer(struct vr_loop *loop, uint64_t delay_ms, uint64_t period_ms,
			   vr_loop_timer_fn cb, void *opaque)
{
	if (!cb)
		return 0;
	pthread_mutex_lock(&loop->lock);
	if (loop->stopping) {
		pthread_mutex_unlock(&loop->lock);
		return 0;
	}
	struct loop_timer *t = xcalloc(1, sizeof(*t));
	t->id = loop->next_id++;
	uint64_t now = time_mono_ms();
	t->due_ms = delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms;
	t->period_ms = period_ms;
	t->cb = cb;
	t->opaque = opaque;
	t->next = loop->timers;
	loop->timers = t;
	uint64_t id = t->id;
	pthread_mutex_unlock(&loop->lock);
	if (!vr_loop_in_loop_thread(loop))
		loop_wake(loop);
	return id;
}

void vr_loop_cancel_timer(struct vr_loop *loop, uint64_t id)
{
	if (id == 0)
		return;
	bool on_loop = vr_loop_in_loop_thread(loop);
	pthread_mutex_lock(&loop->lock);
	for (struct loop_timer **pt = &loop->timers; *pt; pt = &(*pt)->next) {
		if ((*pt)->id == id) {
			struct loop_timer *t = *pt;
			*pt = t->next;
			free(t);
			break;
		}
	}
	if (!on_loop)
		while (loop->running_timer == id)
			pthread_cond_wait(&loop->idle, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
}

int vr_loop_call(struct vr_loop *loop, vr_loop_call_fn fn, void *opaque)
{
	pthread_mutex_lock(&loop->lock);
	if (loop->stopping) {
		pthread_mutex_unlock(&loop->lock);
		return -ESHUTDOWN;
	}
	struct loop_call *c = xcalloc(1, sizeof(*c));
	c->fn = fn;
	c->opaque = opaque;
	*loop->calls_tail = c;
	loop->calls_tail = &c->next;
	pthread_mutex_unlock(&loop->lock);
	if (!vr_loop_in_loop_thread(loop))
		loop_wake(loop);
	return 0;
}

bool vr_loop_in_loop_thread(struct vr_loop *loop)
{
	return loop && current_loop == loop;
}
