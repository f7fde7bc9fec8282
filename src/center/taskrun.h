/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_TASKRUN_H
#define VIREO_CENTER_TASKRUN_H

/*
 * Center's task workers.  Every operation is a task row (center/db/tasks.h)
 * created "queued" when asked for and run by one of a few worker threads:
 * "running" with progress, then "succeeded" with a result or "failed" with
 * the reason.  Waiters (GET /api/v1/tasks/{id}?wait_ms=) are woken on
 * every change.  Tasks left unfinished by a previous run are failed at
 * start.
 *
 * Two lanes, each a queue with workers of its own: what users ask for,
 * and what alarms' actions run.  A burst of alarm actions (a hundred VMs
 * to power off) then neither delays nor is delayed by users' tasks.
 *
 * Stopping: queued tasks are failed without running; running bodies are
 * waited for, and should look at taskrun_stopping() between steps that
 * wait (a host's task they follow) so that the wait stays short.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct api_waitq;
struct vr_error;
struct center;
struct db;
struct taskrun;
struct ctask_spec;

struct taskrun_job {
	struct center *c;
	struct taskrun *tr;
	int64_t task_id;
	const char *principal;
	void *opaque;
	json_t *result; /* set by the body on success (stolen) */
};

/* The body of a task: returns 0 (result in job->result) or a negative errno with err. */
typedef int (*taskrun_fn)(struct taskrun_job *job, struct vr_error **err);

enum taskrun_lane {
	TASKRUN_LANE_REQUESTS, /* what users asked for through the API */
	TASKRUN_LANE_ALARMS,   /* what alarms' actions run */
	TASKRUN_LANE__COUNT,
};

/* workers: threads per lane (0: 4). */
struct taskrun *taskrun_new(struct center *c, unsigned workers, struct vr_error **err);
/*
 * Refuses new tasks from now on (ESHUTDOWN), fails the queued ones and
 * waits for the running bodies to end.  Submitting stays safe until
 * taskrun_free(); calling it again does nothing.
 */
void taskrun_stop(struct taskrun *tr);
/* taskrun_stop() if not done, then frees; accepts NULL. */
void taskrun_free(struct taskrun *tr);

/*
 * Creates the task row and queues the body in the requests' lane.
 * free_opaque (may be NULL) runs after the body, or if it never runs
 * (also when this fails).  -ESHUTDOWN once taskrun_stop() has begun.
 */
int taskrun_submit(struct taskrun *tr, struct db *db, const struct ctask_spec *spec,
		   taskrun_fn fn, void *opaque, void (*free_opaque)(void *opaque),
		   int64_t *task_id, struct vr_error **err);
/* The same in the given lane. */
int taskrun_submit_lane(struct taskrun *tr, enum taskrun_lane lane, struct db *db,
			const struct ctask_spec *spec, taskrun_fn fn, void *opaque,
			void (*free_opaque)(void *opaque), int64_t *task_id, struct vr_error **err);

/* From a body: progress 0..100 (never backwards). */
void taskrun_progress(struct taskrun_job *job, int percent);
/* From a body: whether center is stopping (give up waiting, fail with the reason). */
bool taskrun_stopping(const struct taskrun_job *job);
/* The same as a flag for requests to hosts (chosts_call_abortable()). */
const volatile bool *taskrun_stop_flag(const struct taskrun_job *job);
/* From a body: whether someone asked to cancel it. */
bool taskrun_cancel_requested(struct taskrun_job *job);
/*
 * Notified on every task change: long polls wait on it (read its version
 * before reading the task).
 */
struct api_waitq *taskrun_waitq(struct taskrun *tr);
/* Wakes waiters after a change made outside a body (cancel). */
void taskrun_notify(struct taskrun *tr);

#endif
