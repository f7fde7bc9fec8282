/* SPDX-License-Identifier: Apache-2.0 */
#include "center/taskrun.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "api/server.h"
#include "center/center.h"
#include "center/db/db.h"
#include "center/db/tasks.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

struct job_item {
	taskrun_fn fn;
	void *opaque;
	void (*free_opaque)(void *opaque);
	int64_t task_id;
	char *principal;
	struct job_item *next;
};

/*
 * A queue and the workers that take from it.  Each lane has workers of
 * its own, so that a burst in one (alarms powering off a hundred VMs)
 * neither waits behind nor holds up the other.
 */
struct lane {
	struct taskrun *tr;
	pthread_cond_t queued; /* its workers wait here */
	struct job_item *head, *tail;
	pthread_t *threads;
	unsigned n_threads;
};

struct taskrun {
	struct center *c;
	pthread_mutex_t lock;	 /* the lanes' queues and stopping */
	struct api_waitq *waitq; /* long polls of tasks, notified on every change */
	struct lane lanes[TASKRUN_LANE__COUNT];
	volatile bool stopping;	 /* set under lock; bodies and their requests read it without */
};

static void item_free(struct job_item *it)
{
	if (it->free_opaque)
		it->free_opaque(it->opaque);
	free(it->principal);
	free(it);
}

void taskrun_notify(struct taskrun *tr)
{
	api_waitq_notify(tr->waitq);
}

struct api_waitq *taskrun_waitq(struct taskrun *tr)
{
	return tr->waitq;
}

/* Records an outcome, retrying a busy database a few times: a task must not stay "running". */
static void finish(struct taskrun *tr, int64_t id, bool ok, const char *result,
		   const char *error)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		_cleanup_error_ struct vr_error *err = NULL;
		struct db *db = dbpool_get(tr->c->pool, &err);
		int r = -EIO;
		if (db) {
			r = ok ? ctask_succeed(db, id, result, center_now_ms(), &err)
			       : ctask_fail(db, id, error, center_now_ms(), &err);
			dbpool_put(tr->c->pool, db);
		}
		if (r == 0)
			break;
		log_warn("task %lld: cannot record its outcome: %s", (long long)id,
			 err ? vr_error_msg(err) : "no database connection");
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
	}
	taskrun_notify(tr);
}

static void run_one(struct taskrun *tr, struct job_item *it)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct db *db = dbpool_get(tr->c->pool, &err);
	int r = db ? ctask_start(db, it->task_id, center_now_ms(), &err) : -EIO;
	if (db)
		dbpool_put(tr->c->pool, db);
	if (r < 0) {
		/* Cancelled while queued, or the database is gone. */
		log_info("task %lld not started: %s", (long long)it->task_id,
			 err ? vr_error_msg(err) : "no database connection");
		taskrun_notify(tr);
		return;
	}
	taskrun_notify(tr);
	struct taskrun_job job = {
		.c = tr->c,
		.tr = tr,
		.task_id = it->task_id,
		.principal = it->principal,
		.opaque = it->opaque,
	};
	vr_error_free(err);
	err = NULL;
	r = it->fn(&job, &err);
	if (r < 0) {
		const char *msg = err ? vr_error_msg(err) : strerror(-r);
		finish(tr, it->task_id, false, NULL, msg);
	} else {
		_cleanup_free_ char *text =
			job.result ? json_dumps(job.result, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		finish(tr, it->task_id, true, text, NULL);
	}
	json_decref(job.result);
}

static void *worker_main(void *opaque)
{
	struct lane *l = opaque;
	struct taskrun *tr = l->tr;
	pthread_mutex_lock(&tr->lock);
	for (;;) {
		while (!tr->stopping && !l->head)
			pthread_cond_wait(&l->queued, &tr->lock);
		if (tr->stopping)
			break;
		struct job_item *it = l->head;
		l->head = it->next;
		if (!l->head)
			l->tail = NULL;
		pthread_mutex_unlock(&tr->lock);
		run_one(tr, it);
		item_free(it);
		pthread_mutex_lock(&tr->lock);
	}
	pthread_mutex_unlock(&tr->lock);
	return NULL;
}

struct taskrun *taskrun_new(struct center *c, unsigned workers, struct vr_error **err)
{
	struct taskrun *tr = xcalloc(1, sizeof(*tr));
	tr->c = c;
	pthread_mutex_init(&tr->lock, NULL);
	tr->waitq = api_waitq_new();
	for (size_t i = 0; i < TASKRUN_LANE__COUNT; i++) {
		tr->lanes[i].tr = tr;
		pthread_cond_init(&tr->lanes[i].queued, NULL);
	}

	/* What a previous run left unfinished did not finish. */
	struct db *db = dbpool_get(c->pool, err);
	if (!db) {
		taskrun_free(tr);
		return NULL;
	}
	int64_t n = 0;
	int r = ctask_fail_orphans(db, center_now_ms(), &n, err);
	dbpool_put(c->pool, db);
	if (r < 0) {
		taskrun_free(tr);
		return NULL;
	}
	if (n > 0)
		log_warn("%lld task%s left running by the previous run marked failed", (long long)n,
			 n == 1 ? "" : "s");

	if (!workers)
		workers = 4;
	for (size_t i = 0; i < TASKRUN_LANE__COUNT; i++) {
		struct lane *l = &tr->lanes[i];
		l->threads = xcalloc(workers, sizeof(*l->threads));
		for (unsigned k = 0; k < workers; k++) {
			if ((r = pthread_create(&l->threads[k], NULL, worker_main, l)) != 0) {
				vr_error_set_errno(err, r, "cannot start a task worker");
				taskrun_free(tr);
				return NULL;
			}
			l->n_threads++;
		}
	}
	return tr;
}

void taskrun_stop(struct taskrun *tr)
{
	if (!tr)
		return;
	pthread_mutex_lock(&tr->lock);
	if (tr->stopping) {
		pthread_mutex_unlock(&tr->lock);
		return;
	}
	tr->stopping = true;
	struct job_item *pending[TASKRUN_LANE__COUNT];
	for (size_t i = 0; i < TASKRUN_LANE__COUNT; i++) {
		pthread_cond_broadcast(&tr->lanes[i].queued);
		pending[i] = tr->lanes[i].head;
		tr->lanes[i].head = tr->lanes[i].tail = NULL;
	}
	pthread_mutex_unlock(&tr->lock);
	for (size_t i = 0; i < TASKRUN_LANE__COUNT; i++) {
		struct lane *l = &tr->lanes[i];
		for (unsigned k = 0; k < l->n_threads; k++)
			pthread_join(l->threads[k], NULL);
		l->n_threads = 0;
	}
	for (size_t i = 0; i < TASKRUN_LANE__COUNT; i++)
		for (struct job_item *it = pending[i], *n; it; it = n) {
			n = it->next;
			finish(tr, it->task_id, false, NULL, "vireo-center stopped before the task ran");
			item_free(it);
		}
}

void taskrun_free(struct taskrun *tr)
{
	if (!tr)
		return;
	taskrun_stop(tr);
	for (size_t i = 0; i < TASKRUN_LANE__COUNT; i++) {
		free(tr->lanes[i].threads);
		pthread_cond_destroy(&tr->lanes[i].queued);
	}
	api_waitq_free(tr->waitq);
	pthread_mutex_destroy(&tr->lock);
	free(tr);
}

int taskrun_submit(struct taskrun *tr, struct db *db, const struct ctask_spec *spec,
		   taskrun_fn fn, void *opaque, void (*free_opaque)(void *opaque),
		   int64_t *task_id, struct vr_error **err)
{
	return taskrun_submit_lane(tr, TASKRUN_LANE_REQUESTS, db, spec, fn, opaque, free_opaque,
				   task_id, err);
}

int taskrun_submit_lane(struct taskrun *tr, enum taskrun_lane lane, struct db *db,
			const struct ctask_spec *spec, taskrun_fn fn, void *opaque,
			void (*free_opaque)(void *opaque), int64_t *task_id, struct vr_error **err)
{
	int64_t id;
	int r = tr->stopping
			? vr_error_set(err, ESHUTDOWN, "vireo-center is stopping: no new tasks")
			: ctask_create(db, spec, center_now_ms(), &id, err);
	if (r < 0) {
		if (free_opaque)
			free_opaque(opaque);
		return r;
	}
	struct job_item *it = xcalloc(1, sizeof(*it));
	it->fn = fn;
	it->opaque = opaque;
	it->free_opaque = free_opaque;
	it->task_id = id;
	it->principal = xstrdup(spec->principal ? spec->principal : "");
	struct lane *l = &tr->lanes[lane];
	pthread_mutex_lock(&tr->lock);
	if (tr->stopping) {
		/* Stopping since the check above: the row was made, the body will not run. */
		pthread_mutex_unlock(&tr->lock);
		struct vr_error *e = NULL;
		if (ctask_fail(db, id, "vireo-center stopped before the task ran", center_now_ms(),
			       &e) < 0)
			log_warn("task %lld: cannot record its outcome: %s", (long long)id,
				 vr_error_msg(e));
		vr_error_free(e);
		taskrun_notify(tr);
		item_free(it);
		return vr_error_set(err, ESHUTDOWN, "vireo-center is stopping: no new tasks");
	}
	if (l->tail)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
	pthread_cond_signal(&l->queued);
	pthread_mutex_unlock(&tr->lock);
	taskrun_notify(tr);
	*task_id = id;
	return 0;
}

void taskrun_progress(struct taskrun_job *job, int percent)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct db *db = dbpool_get(job->c->pool, &err);
	if (!db)
		return;
	if (ctask_progress(db, job->task_id, percent, &err) < 0)
		log_debug("task %lld: progress not recorded: %s", (long long)job->task_id,
			  vr_error_msg(err));
	dbpool_put(job->c->pool, db);
	taskrun_notify(job->tr);
}

bool taskrun_stopping(const struct taskrun_job *job)
{
	return job->tr->stopping;
}

const volatile bool *taskrun_stop_flag(const struct taskrun_job *job)
{
	return &job->tr->stopping;
}

bool taskrun_cancel_requested(struct taskrun_job *job)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct db *db = dbpool_get(job->c->pool, &err);
	if (!db)
		return false;
	struct ctask t = {0};
	bool yes = ctask_get(db, job->task_id, &t, &err) == 0 && t.cancel_requested;
	ctask_clear(&t);
	dbpool_put(job->c->pool, db);
	return yes;
}
