/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_COMMON_LOOP_H
#define VIREO_COMMON_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct vr_error;

/*
 * A small epoll event loop that runs in one dedicated thread.  Every
 * function is thread-safe; callbacks always run on the loop thread, one at
 * a time, with no loop lock held (they may call any vr_loop_* function).
 */
struct vr_loop;

typedef void (*vr_loop_fd_fn)(int fd, uint32_t events, void *opaque);
typedef void (*vr_loop_timer_fn)(void *opaque);
typedef void (*vr_loop_call_fn)(void *opaque);

struct vr_loop *vr_loop_new(struct vr_error **err);
/* Spawns the loop thread. Returns 0 or -errno. */
int vr_loop_start(struct vr_loop *loop);
/*
 * Stops the thread (if started) and frees the loop.  Functions queued with
 * vr_loop_call() before the stop still run.  Must not be called on the loop
 * thread.  Accepts NULL.
 */
void vr_loop_stop_and_free(struct vr_loop *loop);

/*
 * Watches fd (level-triggered) for epoll_events (EPOLLIN, EPOLLOUT, ...;
 * EPOLLHUP and EPOLLERR are always reported).  The fd stays owned by the
 * caller, who must remove it before closing it.  Returns 0, -EEXIST if fd is
 * already watched, or another -errno.
 */
int vr_loop_add_fd(struct vr_loop *loop, int fd, uint32_t epoll_events, vr_loop_fd_fn cb,
		   void *opaque);
/* Changes the events watched for fd. Returns 0 or -errno (-ENOENT). */
int vr_loop_modify_fd(struct vr_loop *loop, int fd, uint32_t epoll_events);
/*
 * Stops watching fd.  Callable from any thread, including from inside a
 * callback.  When called from another thread, on return the callback for fd
 * is not running and will never run again.
 */
void vr_loop_remove_fd(struct vr_loop *loop, int fd);

/*
 * Runs cb after delay_ms, then every period_ms (0: once).  Returns the
 * timer id (never 0), or 0 if the loop is stopping.
 */
uint64_t vr_loop_add_timer(struct vr_loop *loop, uint64_t delay_ms, uint64_t period_ms,
			   vr_loop_timer_fn cb, void *opaque);
/*
 * Cancels a timer; unknown or expired ids are ignored.  Same guarantee as
 * vr_loop_remove_fd() when called from another thread.
 */
void vr_loop_cancel_timer(struct vr_loop *loop, uint64_t id);

/* Runs fn(opaque) on the loop thread soon. Returns 0 or -ESHUTDOWN. */
int vr_loop_call(struct vr_loop *loop, vr_loop_call_fn fn, void *opaque);

bool vr_loop_in_loop_thread(struct vr_loop *loop);

#endif
