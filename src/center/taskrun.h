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

struct taskrun *taskrun_new(struct center *c, unsigned workers, struct vr_error **err);
/* Waits for the running tasks to end; queued ones are failed. */
void taskrun_stop_and_free(struct taskrun *tr);

/*
 * Creates the task row and queues the body.  free_opaque (may be NULL)
 * runs after the body, or if it never runs.
 */
int taskrun_submit(struct taskrun *tr, struct db *db, const struct ctask_spec *spec,
		   taskrun_fn fn, void *opaque, void (*free_opaque)(void *opaque),
		   int64_t *task_id, struct vr_error **err);

/* From a body: progress 0..100 (never backwards). */
void taskrun_progress(struct taskrun_job *job, int percent);
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
