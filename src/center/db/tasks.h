/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_TASKS_H
#define VIREO_CENTER_DB_TASKS_H

/*
 * vireo-center's tasks, as vCenter has them: what a user (or center
 * itself) asked for on an object, and how it went.
 *
 *   queued -> running -> succeeded
 *      |         |
 *      +---------+----> failed
 *
 * A task is created queued, started once, then succeeds (progress 100,
 * an optional JSON result) or fails (an error message).  Progress only
 * moves forwards: a lower value than the stored one is ignored.  A
 * cancellable task may be asked to cancel: a queued one is failed at
 * once ("cancelled by USER"), a running one gets cancel_requested and its
 * worker decides when to stop.  Finished tasks never change again.
 *
 * Rows are in the table task (schema.c).  A refused transition changes
 * nothing and leaves the caller's transaction usable on both back ends
 * (the UPDATE that would change the row matches none; only then is the
 * row read to say why).  Times are milliseconds since the epoch, given by
 * the caller so that tests control them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct vr_error;

enum ctask_state {
	CTASK_QUEUED,
	CTASK_RUNNING,
	CTASK_SUCCEEDED,
	CTASK_FAILED,
};

/* "queued", "running", "succeeded", "failed"; "unknown" otherwise. */
const char *ctask_state_name(enum ctask_state s);
/* -EINVAL for anything else. */
int ctask_state_parse(const char *s, enum ctask_state *out);

struct ctask {
	int64_t id;
	char *type; /* "VirtualMachine.powerOn" */
	int64_t object_id; /* 0 if none (or the object was deleted) */
	char *object_name;
	char *principal;
	enum ctask_state state;
	int progress;
	bool cancellable, cancel_requested;
	char *description;
	char *error;  /* NULL unless failed */
	char *result; /* JSON text or NULL */
	int64_t parent_task_id; /* 0 if none */
	int64_t queued_ms, started_ms, completed_ms; /* 0 until then */
};

struct ctask_list {
	struct ctask *items;
	size_t n;
};

void ctask_clear(struct ctask *t);
void ctask_list_clear(struct ctask_list *l);

struct ctask_spec {
	const char *type;        /* required */
	int64_t object_id;       /* 0 for none */
	const char *object_name; /* NULL: the object's name, or "" */
	const char *principal;   /* required: who asked ("VSPHERE.LOCAL\\admin") */
	const char *description; /* NULL for "" */
	bool cancellable;
	int64_t parent_task_id; /* 0 for none */
};

/* Creates a queued task; -ENOENT if the object or the parent task does not exist. */
int ctask_create(struct db *db, const struct ctask_spec *spec, int64_t now_ms, int64_t *id,
		 struct vr_error **err);
/* queued -> running; -EINVAL from any other state ("task 12 is succeeded, not queued"). */
int ctask_start(struct db *db, int64_t id, int64_t now_ms, struct vr_error **err);
/* progress 0..100 of a running task; a value below the stored one is ignored. */
int ctask_progress(struct db *db, int64_t id, int progress, struct vr_error **err);
/* running -> succeeded with progress 100; result_json is any JSON text, or NULL. */
int ctask_succeed(struct db *db, int64_t id, const char *result_json, int64_t now_ms,
		  struct vr_error **err);
/* queued or running -> failed; error is required. */
int ctask_fail(struct db *db, int64_t id, const char *error, int64_t now_ms,
	       struct vr_error **err);
/*
 * -EINVAL when the task is not cancellable or already finished (the
 * message says which).  Sets cancel_requested; a queued task is failed at
 * once with "cancelled by BY".  Asking again while it runs is harmless.
 */
int ctask_request_cancel(struct db *db, int64_t id, const char *by, int64_t now_ms,
			 struct vr_error **err);
/* -ENOENT if there is no such task. */
int ctask_get(struct db *db, int64_t id, struct ctask *out, struct vr_error **err);

struct ctask_filter {
	int64_t object_id;     /* 0: any */
	const char *principal; /* NULL: any */
	int state;             /* -1: any, else an enum ctask_state */
	int64_t since_ms, until_ms; /* queued in [since, until]; 0: open */
	int64_t before_id; /* 0: from the newest; else only ids < before_id, for paging */
	size_t limit;      /* 0: 100; at most 1000 */
};

/* Newest first; a page ends with the oldest: pass its id as before_id for the next. */
int ctask_list(struct db *db, const struct ctask_filter *f, struct ctask_list *out,
	       struct vr_error **err);

/*
 * At center start: tasks left queued or running by a previous process are
 * failed with "vireo-center restarted while the task was running".
 * *count (may be NULL) says how many.
 */
int ctask_fail_orphans(struct db *db, int64_t now_ms, int64_t *count, struct vr_error **err);
/*
 * Bounded growth: deletes the finished tasks completed before cutoff_ms
 * (their sub-tasks go with them); a task with an unfinished sub-task is
 * kept.  *count (may be NULL) counts the tasks deleted, sub-tasks
 * included.
 */
int ctask_purge(struct db *db, int64_t cutoff_ms, int64_t *count, struct vr_error **err);

#endif
