/* SPDX-License-Identifier: Apache-2.0 */
/* REST resources: /api/v1/tasks and /api/v1/events */
#include <errno.h>

#include "common/util.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/tasks.h"

static void tasks_list(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	const char *obj = api_request_query(req, "object");
	api_respond_json(req, 200, json_pack("{s:o}", "tasks", tasks_list_json(h->tasks, obj)));
}

/*
 * Long polls (GET /tasks/{id}?wait_ms=, GET /events?wait=) park the
 * request without a thread (api_request_wait()) and answer when the task
 * ends, an event comes, or the time is up.
 */
struct task_poll {
	struct hostd *h;
	uint64_t deadline_ms;
};

/* Answers, or parks the request; returns whether it is parked. */
static bool task_answer(struct api_request *req, struct task_poll *p);

static void task_resumed(struct api_request *req, void *opaque)
{
	task_answer(req, opaque);
}

static bool task_answer(struct api_request *req, struct task_poll *p)
{
	const char *id = api_request_param(req, "id");
	struct api_waitq *q = tasks_waitq(p->h->tasks);
	uint64_t seen = api_waitq_version(q);
	enum task_state st;
	bool found = tasks_state(p->h->tasks, id, &st);
	if (found && (st == TASK_QUEUED || st == TASK_RUNNING) && time_mono_ms() < p->deadline_ms) {
		api_request_wait(req, q, seen, p->deadline_ms, task_resumed, p, free);
		return true;
	}
	json_t *t = tasks_get_json(p->h->tasks, id);
	if (!t) {
		api_respond_error(req, 404, "no task \"%s\"", id);
		return false;
	}
	api_respond_json(req, 200, t);
	return false;
}

static void tasks_get(struct api_request *req, void *opaque)
{
	const char *wait = api_request_query(req, "wait_ms");
	uint64_t wait_ms = 0;
	if (wait && parse_u64(wait, 0, 60000, &wait_ms) < 0) {
		api_respond_error(req, 400, "wait_ms=\"%s\" is not a number from 0 to 60000", wait);
		return;
	}
	struct task_poll *p = xmalloc(sizeof(*p));
	*p = (struct task_poll){ .h = opaque, .deadline_ms = time_mono_ms() + wait_ms };
	if (!task_answer(req, p))
		free(p);
}

static void events_list(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	events_respond(req, h->events, h->instance_id);
}

void api_tasks_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/tasks", tasks_list, h, 0);
	api_server_add_route(srv, "GET", "/api/v1/tasks/{id}", tasks_get, h, 0);
	api_server_add_route(srv, "GET", "/api/v1/events", events_list, h, 0);
}
