/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Long polls without a worker thread each (server.h, api_request_wait()).
 *
 * A waiting request's connection is suspended (libmicrohttpd's
 * MHD_suspend_connection()); it is on its server's list and, if it waits
 * for a queue, on that queue's list.  It leaves both lists exactly once,
 * "fired", by a notification of its queue, by its deadline (the server's
 * timer thread) or by the server stopping; only then is the connection
 * resumed, and libmicrohttpd calls the access handler again, which runs
 * the waiter's function (server.c, wait_resume()).
 *
 * All of it is under one lock, wait_lock, shared by every server and
 * queue of the process (there are one or two servers, and firing is rare
 * next to requests).  libmicrohttpd is never called with wait_lock held:
 * fired waits are resumed after it is dropped, and "resuming" counts
 * those in flight so that a stopping server resumes every connection
 * before MHD_stop_daemon() (which aborts on a suspended one).
 */
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "api/server_internal.h"
#include "common/log.h"
#include "common/util.h"

/* How long a stopping server lets answered long polls go out. */
#define STOP_GRACE_MS 2000

struct api_waitq {
	uint64_t version;
	struct api_wait *head; /* waiting on this queue */
};

static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;

struct api_waitq *api_waitq_new(void)
{
	return xcalloc(1, sizeof(struct api_waitq));
}

void api_waitq_free(struct api_waitq *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&wait_lock);
	/* Waits still here belong to a server not yet stopped: they go by deadline. */
	for (struct api_wait *w = q->head; w; w = w->q_next)
		w->q = NULL;
	pthread_mutex_unlock(&wait_lock);
	free(q);
}

uint64_t api_waitq_version(struct api_waitq *q)
{
	pthread_mutex_lock(&wait_lock);
	uint64_t v = q->version;
	pthread_mutex_unlock(&wait_lock);
	return v;
}

/* Under wait_lock: takes w off its lists; the caller resumes it after unlocking. */
static void fire_locked(struct api_wait *w, struct api_wait **to_resume)
{
	if (w->q) {
		struct api_wait **pp = &w->q->head;
		while (*pp != w)
			pp = &(*pp)->q_next;
		*pp = w->q_next;
		w->q = NULL;
	}
	struct api_server *srv = w->req->srv;
	struct api_wait **pp = &srv->waits;
	while (*pp != w)
		pp = &(*pp)->srv_next;
	*pp = w->srv_next;
	w->fired = true;
	srv->resuming++;
	w->resume_next = *to_resume;
	*to_resume = w;
}

/* Resumes fired waits (wait_lock not held); they cannot end while suspended. */
static void resume_all(struct api_wait *list)
{
	while (list) {
		struct api_wait *w = list;
		list = w->resume_next;
		struct api_server *srv = w->req->srv;
		MHD_resume_connection(w->req->conn);
		pthread_mutex_lock(&wait_lock);
		if (--srv->resuming == 0)
			pthread_cond_broadcast(&srv->wait_cond);
		pthread_mutex_unlock(&wait_lock);
	}
}

void api_waitq_notify(struct api_waitq *q)
{
	struct api_wait *fired = NULL;
	pthread_mutex_lock(&wait_lock);
	q->version++;
	while (q->head)
		fire_locked(q->head, &fired);
	pthread_mutex_unlock(&wait_lock);
	resume_all(fired);
}

static uint64_t now_ms(void)
{
	return time_mono_ms();
}

static void deadline_to_timespec(uint64_t deadline_ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(deadline_ms / 1000);
	ts->tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
}

/* The server's timer: fires waits whose deadline has come. */
static void *timer_main(void *opaque)
{
	struct api_server *srv = opaque;
	pthread_mutex_lock(&wait_lock);
	while (!srv->wait_stopping) {
		uint64_t now = now_ms(), next = UINT64_MAX;
		struct api_wait *fired = NULL;
		for (struct api_wait *w = srv->waits, *nx; w; w = nx) {
			nx = w->srv_next;
			if (w->deadline_ms <= now)
				fire_locked(w, &fired);
			else if (w->deadline_ms < next)
				next = w->deadline_ms;
		}
		if (fired) {
			pthread_mutex_unlock(&wait_lock);
			resume_all(fired);
			pthread_mutex_lock(&wait_lock);
			continue;
		}
		if (next == UINT64_MAX) {
			pthread_cond_wait(&srv->wait_cond, &wait_lock);
		} else {
			struct timespec ts;
			deadline_to_timespec(next, &ts);
			pthread_cond_timedwait(&srv->wait_cond, &wait_lock, &ts);
		}
	}
	pthread_mutex_unlock(&wait_lock);
	return NULL;
}

int wait_server_start(struct api_server *srv)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->wait_cond, &ca);
	pthread_condattr_destroy(&ca);
	srv->wait_cond_ready = true;
	int r = pthread_create(&srv->wait_timer, NULL, timer_main, srv);
	if (r != 0)
		return -r;
	srv->wait_timer_running = true;
	return 0;
}

void wait_server_stop(struct api_server *srv)
{
	if (!srv->wait_cond_ready)
		return;
	struct api_wait *fired = NULL;
	pthread_mutex_lock(&wait_lock);
	srv->wait_stopping = true;
	while (srv->waits)
		fire_locked(srv->waits, &fired);
	pthread_cond_broadcast(&srv->wait_cond);
	pthread_mutex_unlock(&wait_lock);
	resume_all(fired);
	if (srv->wait_timer_running)
		pthread_join(srv->wait_timer, NULL);
	srv->wait_timer_running = false;
	/*
	 * Every connection is resumed before libmicrohttpd stops, and given a
	 * moment to send its 503 (MHD_stop_daemon() would drop it unsent).
	 */
	struct timespec ts;
	deadline_to_timespec(now_ms() + STOP_GRACE_MS, &ts);
	pthread_mutex_lock(&wait_lock);
	while (srv->resuming)
		pthread_cond_wait(&srv->wait_cond, &wait_lock);
	while (srv->waited &&
	       pthread_cond_timedwait(&srv->wait_cond, &wait_lock, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&wait_lock);
}

void wait_server_free(struct api_server *srv)
{
	if (srv->wait_cond_ready)
		pthread_cond_destroy(&srv->wait_cond);
	srv->wait_cond_ready = false;
}

void api_request_wait(struct api_request *req, struct api_waitq *q, uint64_t seen,
		      uint64_t deadline_ms, api_wait_fn fn, void *opaque,
		      void (*free_opaque)(void *opaque))
{
	struct api_server *srv = req->srv;
	if (req->wait) {
		log_error("%s %s: api_request_wait() twice", req->method, req->path);
		if (free_opaque && opaque != req->wait->opaque)
			free_opaque(opaque);
		return;
	}
	struct api_wait *w = xcalloc(1, sizeof(*w));
	w->req = req;
	w->deadline_ms = deadline_ms;
	w->fn = fn;
	w->opaque = opaque;
	w->free_opaque = free_opaque;
	req->wait = w;

	MHD_suspend_connection(req->conn);
	struct api_wait *fired = NULL;
	pthread_mutex_lock(&wait_lock);
	if (!req->waited) {
		req->waited = true;
		srv->waited++;
	}
	w->srv_next = srv->waits;
	srv->waits = w;
	if (srv->wait_stopping || (q && q->version != seen) || deadline_ms <= now_ms()) {
		fire_locked(w, &fired);
	} else {
		if (q) {
			w->q = q;
			w->q_next = q->head;
			q->head = w;
		}
		pthread_cond_broadcast(&srv->wait_cond); /* the timer looks at the new deadline */
	}
	pthread_mutex_unlock(&wait_lock);
	resume_all(fired);
}

/*
 * The connection is back (server.c's access handler): runs the waiter's
 * function, which responds or waits again.
 */
void wait_resume(struct api_request *req)
{
	struct api_wait *w = req->wait;
	req->wait = NULL;
	bool stopping;
	pthread_mutex_lock(&wait_lock);
	stopping = req->srv->wait_stopping;
	pthread_mutex_unlock(&wait_lock);
	if (stopping)
		api_respond_error(req, 503, "the server is stopping");
	else
		w->fn(req, w->opaque);
	bool kept = req->wait && req->wait->opaque == w->opaque;
	if (!kept && w->free_opaque)
		w->free_opaque(w->opaque);
	free(w);
}

/* The request ends (server.c's request_free()). */
void wait_discard(struct api_request *req)
{
	struct api_wait *w = req->wait;
	req->wait = NULL;
	if (!w && !req->waited)
		return;
	struct api_server *srv = req->srv;
	pthread_mutex_lock(&wait_lock);
	if (w && !w->fired) {
		/* Not reachable while suspended, but never leave a dangling entry. */
		struct api_wait *ignored = NULL;
		fire_locked(w, &ignored);
		srv->resuming--;
	}
	if (req->waited && --srv->waited == 0)
		pthread_cond_broadcast(&srv->wait_cond);
	pthread_mutex_unlock(&wait_lock);
	if (w && w->free_opaque)
		w->free_opaque(w->opaque);
	free(w);
}
