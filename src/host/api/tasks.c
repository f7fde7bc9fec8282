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

static void tasks_get(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	const char *id = api_request_param(req, "id");
	const char *wait = api_request_query(req, "wait_ms");
	uint64_t wait_ms = 0;
	if (wait && parse_u64(wait, 0, 60000, &wait_ms) < 0) {
		api_respond_error(req, 400, "wait_ms=\"%s\" is not a number from 0 to 60000", wait);
		return;
	}
	if (wait_ms > 0)
		tasks_wait(h->tasks, id, (int)wait_ms);
	json_t *t = tasks_get_json(h->tasks, id);
	if (!t) {
		api_respond_error(req, 404, "no task \"%s\"", id);
		return;
	}
	api_respond_json(req, 200, t);
}

static void events_list(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
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
	if (wait_s > 0)
		events_wait(h->events, since, (unsigned)wait_s * 1000);
	uint64_t first, last;
	events_range(h->events, &first, &last);
	json_t *a = events_list_json(h->events, since, api_request_query(req, "object"));
	/*
	 * instance changes whenever hostd restarts (ids start again at 1); a
	 * reader whose since is below first - 1 has missed events.  Either way
	 * it must re-read the state it keeps.
	 */
	api_respond_json(req, 200,
			 json_pack("{s:o, s:s, s:I, s:I}", "events", a, "instance", h->instance_id,
				   "first", (json_int_t)first, "last", (json_int_t)last));
}

void api_tasks_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/tasks", tasks_list, h, 0);
	api_server_add_route(srv, "GET", "/api/v1/tasks/{id}", tasks_get, h, 0);
	api_server_add_route(srv, "GET", "/api/v1/events", events_list, h, 0);
}
