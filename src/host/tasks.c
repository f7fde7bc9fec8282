/* SPDX-License-Identifier: Apache-2.0 */
#include "host/tasks.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "api/server.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#define TASKS_KEEP 256

struct task {
	struct tasks *owner;
	char id[24];
	char *description;
	char *object_id;
	char *user;
	enum task_state state;
	int progress;
	char *error;
	json_t *result;
	uint64_t queued_ms, started_ms, finished_ms;
	task_fn fn;
	void *opaque;
	void (*free_fn)(void *);
	struct task *next;
};

struct tasks {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct api_waitq *waitq; /* long polls: notified when a task ends */
	struct task *head; /* newest first */
	size_t count;
	unsigned running;
	uint64_t next_id;
};

static const char *const state_names[] = {
	[TASK_QUEUED] = "queued",
	[TASK_RUNNING] = "running",
	[TASK_SUCCESS] = "success",
	[TASK_ERROR] = "error",
};

struct tasks *tasks_new(void)
{
	struct tasks *t = xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->changed, NULL);
	t->waitq = api_waitq_new();
	t->next_id = 1;
	return t;
}

static void task_free(struct task *task)
{
	free(task->description);
	free(task->object_id);
	free(task->user);
	free(task->error);
	json_decref(task->result);
	free(task);
}

void tasks_free(struct tasks *tasks)
{
	if (!tasks)
		return;
	pthread_mutex_lock(&tasks->lock);
	while (tasks->running > 0)
		pthread_cond_wait(&tasks->changed, &tasks->lock);
	pthread_mutex_unlock(&tasks->lock);
	for (struct task *t = tasks->head, *n; t; t = n) {
		n = t->next;
		task_free(t);
	}
	pthread_mutex_destroy(&tasks->lock);
	pthread_cond_destroy(&tasks->changed);
	api_waitq_free(tasks->waitq);
	free(tasks);
}

/* Drops the oldest finished tasks beyond TASKS_KEEP. Called with the lock held. */
static void tasks_trim(struct tasks *tasks)
{
	if (tasks->count <= TASKS_KEEP)
		return;
	struct task **pp = &tasks->head;
	size_t seen = 0;
	while (*pp) {
		struct task *t = *pp;
		seen++;
		if (seen > TASKS_KEEP && (t->state == TASK_SUCCESS || t->state == TASK_ERROR)) {
			*pp = t->next;
			task_free(t);
			tasks->count--;
			continue;
		}
		pp = &t->next;
	}
}

static void *task_thread(void *arg)
{
	struct task *task = arg;
	struct tasks *tasks = task->owner;
	pthread_mutex_lock(&tasks->lock);
	task->state = TASK_RUNNING;
	task->started_ms = time_real_ms();
	pthread_cond_broadcast(&tasks->changed);
	pthread_mutex_unlock(&tasks->lock);

	struct vr_error *err = NULL;
	int r = task->fn(task, task->opaque, &err);
	if (task->free_fn)
		task->free_fn(task->opaque);

	pthread_mutex_lock(&tasks->lock);
	task->finished_ms = time_real_ms();
	if (r < 0) {
		task->state = TASK_ERROR;
		task->error = xstrdup(err ? err->msg : strerror(-r));
		log_info("task %s (%s) failed: %s", task->id, task->description, task->error);
	} else {
		task->state = TASK_SUCCESS;
		task->progress = 100;
		log_debug("task %s (%s) succeeded", task->id, task->description);
	}
	vr_error_free(err);
	tasks_trim(tasks);
	pthread_cond_broadcast(&tasks->changed);
	pthread_mutex_unlock(&tasks->lock);
	/* Not under the lock; tasks_free() waits for this thread's running-- below. */
	api_waitq_notify(tasks->waitq);
	pthread_mutex_lock(&tasks->lock);
	tasks->running--;
	pthread_cond_broadcast(&tasks->changed);
	pthread_mutex_unlock(&tasks->lock);
	return NULL;
}

int tasks_start(struct tasks *tasks, const char *description, const char *object_id,
		const char *user, task_fn fn, void *opaque, void (*free_fn)(void *),
		char id_out[24], struct vr_error **err)
{
	struct task *task = xcalloc(1, sizeof(*task));
	task->owner = tasks;
	task->description = xstrdup(description);
	task->object_id = object_id ? xstrdup(object_id) : NULL;
	task->user = user ? xstrdup(user) : NULL;
	task->fn = fn;
	task->opaque = opaque;
	task->free_fn = free_fn;
	task->queued_ms = time_real_ms();

	pthread_mutex_lock(&tasks->lock);
	snprintf(task->id, sizeof(task->id), "task-%llu", (unsigned long long)tasks->next_id++);
	memcpy(id_out, task->id, sizeof(task->id));
	task->next = tasks->head;
	tasks->head = task;
	tasks->count++;
	tasks->running++;

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_t th;
	int r = pthread_create(&th, &attr, task_thread, task);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		task->state = TASK_ERROR;
		task->error = xasprintf("cannot start a thread: %s", strerror(r));
		task->finished_ms = time_real_ms();
		tasks->running--;
		pthread_mutex_unlock(&tasks->lock);
		if (free_fn)
			free_fn(opaque);
		return vr_error_set(err, r, "cannot start task \"%s\": %s", description, strerror(r));
	}
	pthread_mutex_unlock(&tasks->lock);
	return 0;
}

void task_set_progress(struct task *task, int percent)
{
	if (!task) /* work done outside a task (a transfer's end) */
		return;
	if (percent < 0)
		percent = 0;
	if (percent > 100)
		percent = 100;
	pthread_mutex_lock(&task->owner->lock);
	task->progress = percent;
	pthread_cond_broadcast(&task->owner->changed);
	pthread_mutex_unlock(&task->owner->lock);
}

void task_set_result(struct task *task, json_t *result)
{
	pthread_mutex_lock(&task->owner->lock);
	json_decref(task->result);
	task->result = result;
	pthread_mutex_unlock(&task->owner->lock);
}

const char *task_id(const struct task *task)
{
	return task->id;
}

static json_t *task_json(const struct task *t)
{
	char q[32], s[32], f[32];
	time_format_iso(t->queued_ms, q);
	json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "id", t->id, "description",
			      t->description, "state", state_names[t->state], "progress",
			      t->progress, "queued", q);
	if (t->object_id)
		json_object_set_new(o, "object", json_string(t->object_id));
	if (t->user)
		json_object_set_new(o, "user", json_string(t->user));
	if (t->started_ms) {
		time_format_iso(t->started_ms, s);
		json_object_set_new(o, "started", json_string(s));
	}
	if (t->finished_ms) {
		time_format_iso(t->finished_ms, f);
		json_object_set_new(o, "finished", json_string(f));
	}
	if (t->error)
		json_object_set_new(o, "error", json_string(t->error));
	if (t->result)
		json_object_set(o, "result", t->result);
	return o;
}

json_t *tasks_get_json(struct tasks *tasks, const char *id)
{
	json_t *o = NULL;
	pthread_mutex_lock(&tasks->lock);
	for (struct task *t = tasks->head; t; t = t->next)
		if (strcmp(t->id, id) == 0) {
			o = task_json(t);
			break;
		}
	pthread_mutex_unlock(&tasks->lock);
	return o;
}

json_t *tasks_list_json(struct tasks *tasks, const char *object_id)
{
	json_t *a = json_array();
	pthread_mutex_lock(&tasks->lock);
	for (struct task *t = tasks->head; t; t = t->next)
		if (!object_id || (t->object_id && strcmp(t->object_id, object_id) == 0))
			json_array_append_new(a, task_json(t));
	pthread_mutex_unlock(&tasks->lock);
	return a;
}

struct api_waitq *tasks_waitq(struct tasks *tasks)
{
	return tasks->waitq;
}

bool tasks_state(struct tasks *tasks, const char *id, enum task_state *state)
{
	bool found = false;
	pthread_mutex_lock(&tasks->lock);
	for (struct task *t = tasks->head; t && !found; t = t->next)
		if (strcmp(t->id, id) == 0) {
			*state = t->state;
			found = true;
		}
	pthread_mutex_unlock(&tasks->lock);
	return found;
}

enum task_state tasks_wait(struct tasks *tasks, const char *id, int timeout_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	enum task_state st = TASK_ERROR;
	pthread_mutex_lock(&tasks->lock);
	for (;;) {
		struct task *found = NULL;
		for (struct task *t = tasks->head; t; t = t->next)
			if (strcmp(t->id, id) == 0)
				found = t;
		if (!found)
			break;
		st = found->state;
		if (st == TASK_SUCCESS || st == TASK_ERROR)
			break;
		if (pthread_cond_timedwait(&tasks->changed, &tasks->lock, &deadline) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&tasks->lock);
	return st;
}
