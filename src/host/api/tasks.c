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

struct events_poll {
	struct hostd *h;
	uint64_t since;
	uint64_t deadline_ms;
};

static bool events_answer(struct api_request *req, struct events_poll *p);

static void events_resumed(struct api_request *req, void *opaque)
{
	events_answer(req, opaque);
}

static bool events_answer(struct api_request *req, struct events_poll *p)
{
	struct events *ev = p->h->events;
	uint64_t seen = api_waitq_version(events_waitq(ev));
	uint64_t first, last;
	events_range(ev, &first, &last);
	if (last <= p->since && time_mono_ms() < p->deadline_ms) {
		api_request_wait(req, events_waitq(ev), seen, p->deadline_ms, events_resumed, p,
				 free);
		return true;
	}
	json_t *a = events_list_json(ev, p->since, api_request_query(req, "object"));
	/*
	 * instance changes whenever hostd restarts (ids start again at 1); a
	 * reader whose since is below first - 1 has missed events.  Either way
	 * it must re-read the state it keeps.
	 */
	api_respond_json(req, 200,
			 json_pack("{s:o, s:s, s:I, s:I}", "events", a, "instance",
				   p->h->instance_id, "first", (json_int_t)first, "last",
				   (json_int_t)last));
	return false;
}

static void events_list(struct api_request *req, void *opaque)
{
	uint64_t since = 0;
	const char *s = api_request_query(req, "since");
	if (s && parse_u64(s, 0, UINT64_MAX, &since) < 0) {
		api_respond_error(req, 400, "since=\"%s\" is not an event id", s);
		return;
	}
	/* Long polling: wait=S holds the answer up to S seconds for a newer event. */
	const char *w = api_request_query(req, "wait");
	uint64_t wait_s = 0;
	if (w && parse_u64(w, 0, 60, &wait_s) < 0) {
		api_respond_error(req, 400, "wait=\"%s\" is not a number of seconds from 0 to 60", w);
		return;
	}
	struct events_poll *p = xmalloc(sizeof(*p));
	*p = (struct events_poll){ .h = opaque, .since = since,
				   .deadline_ms = time_mono_ms() + wait_s * 1000 };
	if (!events_answer(req, p))
		free(p);
}

void api_tasks_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/tasks", tasks_list, h, 0);
	api_server_add_route(srv, "GET", "/api/v1/tasks/{id}", tasks_get, h, 0);
	api_server_add_route(srv, "GET", "/api/v1/events", events_list, h, 0);
}
