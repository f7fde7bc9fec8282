/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_TASKS_H
#define VIREO_HOST_TASKS_H

#include <jansson.h>
#include <stdbool.h>

struct vr_error;
struct tasks;
struct task;

enum task_state {
	TASK_QUEUED,
	TASK_RUNNING,
	TASK_SUCCESS,
	TASK_ERROR,
};

/* The work of a task; runs on its own thread. Returns 0 or a negative errno with *err set. */
typedef int (*task_fn)(struct task *task, void *opaque, struct vr_error **err);

struct tasks *tasks_new(void);
/* Waits for running tasks to finish, then frees. */
void tasks_free(struct tasks *tasks);

/*
 * Starts a task.  `opaque` is owned by the task from here on and freed
 * with free_fn after fn returns (also if the start fails).  The new id is
 * copied to id_out (at least 24 bytes) before fn can run.
 */
int tasks_start(struct tasks *tasks, const char *description, const char *object_id,
		const char *user, task_fn fn, void *opaque, void (*free_fn)(void *),
		char id_out[24], struct vr_error **err);

void task_set_progress(struct task *task, int percent);
/* Sets the task's result object (stolen). */
void task_set_result(struct task *task, json_t *result);
const char *task_id(const struct task *task);

/* JSON view of one task or NULL if unknown (caller owns). */
json_t *tasks_get_json(struct tasks *tasks, const char *id);
json_t *tasks_list_json(struct tasks *tasks, const char *object_id);
/* The task's state; false when there is no such task (any more). */
bool tasks_state(struct tasks *tasks, const char *id, enum task_state *state);
/*
 * Notified whenever a task ends: long polls wait on it (read its version
 * before tasks_state()).
 */
struct api_waitq *tasks_waitq(struct tasks *tasks);
/* Blocks until the task ends or timeout_ms passes; returns the state. */
enum task_state tasks_wait(struct tasks *tasks, const char *id, int timeout_ms);

#endif
