/* SPDX-License-Identifier: Apache-2.0 */
/* /api/v1/tasks and /api/v1/events of vireo-center. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "api/server.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/db/events.h"
#include "center/db/inventory.h"
#include "center/db/tasks.h"
#include "center/taskrun.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

#define WAIT_MAX_MS 60000

static void put_time(json_t *o, const char *key, int64_t ms)
{
	if (ms <= 0)
		return;
	char t[32];
	time_format_iso((uint64_t)ms, t);
	json_object_set_new(o, key, json_string(t));
}

/* An object reference for lists: its moref when it still exists. */
static void put_object(struct creq *x, json_t *o, int64_t id, const char *name)
{
	if (id) {
		struct inv_object obj = {0};
		if (inventory_get(x->db, id, &obj, NULL) == 0) {
			_cleanup_free_ char *ref = moref_of(obj.kind, obj.id);
			json_object_set_new(o, "object", json_string(ref));
		}
		inv_object_clear(&obj);
	}
	if (name && *name)
		json_object_set_new(o, "object_name", json_string(name));
}

static json_t *task_json(struct creq *x, const struct ctask *t)
{
	_cleanup_free_ char *id = xasprintf("task-%lld", (long long)t->id);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:b, s:b, s:s}", "id", id, "type", t->type,
			      "description", t->description ? t->description : "", "state",
			      ctask_state_name(t->state), "progress", t->progress, "cancellable",
			      t->cancellable, "cancel_requested", t->cancel_requested, "user",
			      t->principal ? t->principal : "");
	put_object(x, o, t->object_id, t->object_name);
	put_time(o, "queued", t->queued_ms);
	put_time(o, "started", t->started_ms);
	put_time(o, "finished", t->completed_ms);
	if (t->error)
		json_object_set_new(o, "error", json_string(t->error));
	if (t->result) {
		json_error_t jerr;
		json_t *r = json_loads(t->result, JSON_DECODE_ANY, &jerr);
		if (r)
			json_object_set_new(o, "result", r);
	}
	return o;
}

/* A task is visible to whoever started it and to those who may read its object. */
static int task_visible(struct creq *x, const struct ctask *t)
{
	if (t->principal && strcmp(t->principal, x->user) == 0)
		return 1;
	if (t->object_id)
		return creq_can(x, t->object_id, "System.Read");
	return creq_can(x, x->c->root_id, "System.Read");
}

static int parse_task_id(const char *s, int64_t *id)
{
	if (str_has_prefix(s, "task-"))
		s += 5;
	uint64_t v;
	if (parse_u64(s, 1, INT64_MAX, &v) < 0)
		return -EINVAL;
	*id = (int64_t)v;
	return 0;
}

static bool load_task(struct creq *x, struct ctask *t)
{
	const char *ref = api_request_param(x->req, "id");
	int64_t id;
	if (parse_task_id(ref, &id) < 0) {
		api_respond_error(x->req, 400, "\"%s\" is not a task id (like task-12)", ref);
		return false;
	}
	_cleanup_error_ struct vr_error *err = NULL;
	int r = ctask_get(x->db, id, t, &err);
	if (r == -ENOENT) {
		api_respond_error(x->req, 404, "no task \"%s\"", ref);
		return false;
	}
	if (r < 0) {
		creq_fail(x, err);
		return false;
	}
	int can = task_visible(x, t);
	if (can == 0)
		api_respond_error(x->req, 404, "no task \"%s\"", ref);
	if (can <= 0) {
		ctask_clear(t);
		return false;
	}
	return true;
}

static bool parse_limit(struct api_request *req, size_t *limit)
{
	const char *s = api_request_query(req, "limit");
	uint64_t v = 100;
	if (s && parse_u64(s, 1, 1000, &v) < 0) {
		api_respond_error(req, 400, "limit=\"%s\" is not a number from 1 to 1000", s);
		return false;
	}
	*limit = (size_t)v;
	return true;
}

/*
 * `before`: the id of the last entry of the previous page, as lists show
 * it ("task-12" for tasks) or as a bare number; events take "event-12" as
 * well as the number their list shows.
 */
static bool parse_before(struct api_request *req, const char *prefix, const char *what,
			 int64_t *before)
{
	const char *s = api_request_query(req, "before");
	*before = 0;
	if (!s)
		return true;
	const char *num = str_has_prefix(s, prefix) ? s + strlen(prefix) : s;
	uint64_t v;
	if (parse_u64(num, 1, INT64_MAX, &v) < 0) {
		api_respond_error(req, 400, "before=\"%s\" is not %s id (like %s12, or 12)", s, what,
				  prefix);
		return false;
	}
	*before = (int64_t)v;
	return true;
}

static void tasks_list(struct api_request *req, void *opaque)
{
	size_t limit;
	int64_t before;
	if (!parse_limit(req, &limit) || !parse_before(req, "task-", "a task", &before))
		return;
	const char *state_s = api_request_query(req, "state");
	enum ctask_state st = CTASK_QUEUED;
	if (state_s && ctask_state_parse(state_s, &st) < 0) {
		api_respond_error(req, 400,
				  "state=\"%s\": expected queued, running, succeeded or failed", state_s);
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object obj = {0};
	const char *object = api_request_query(req, "object");
	if (object && !creq_object(&x, object, &obj))
		goto out;
	struct ctask_filter f = {
		.object_id = obj.id,
		.principal = api_request_query(req, "user"),
		.state = state_s ? (int)st : -1,
		.before_id = before,
		.limit = limit,
	};
	struct ctask_list l = {0};
	if (ctask_list(x.db, &f, &l, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	json_t *a = json_array();
	int can = 1;
	for (size_t i = 0; i < l.n && can >= 0; i++) {
		can = task_visible(&x, &l.items[i]);
		if (can > 0)
			json_array_append_new(a, task_json(&x, &l.items[i]));
	}
	if (can >= 0) {
		json_t *reply = json_pack("{s:o}", "tasks", a);
		if (l.n == limit) {
			_cleanup_free_ char *next =
				xasprintf("task-%lld", (long long)l.items[l.n - 1].id);
			json_object_set_new(reply, "next_before", json_string(next));
		}
		api_respond_json(req, 200, reply);
	} else {
		json_decref(a);
	}
	ctask_list_clear(&l);
out:
	inv_object_clear(&obj);
	creq_end(&x);
}

/*
 * GET /tasks/{id}?wait_ms=: a long poll, answered when the task changes
 * (state or progress) or ends, or when the wait is over.  While it waits
 * the request holds no thread and no database connection
 * (api_request_wait()); each wake-up reads the task again, access
 * checks included.
 */
struct task_poll {
	struct center *c;
	uint64_t deadline_ms;
	bool seen; /* state and progress below are what the client has */
	enum ctask_state state;
	int progress;
};

static bool task_answer(struct api_request *req, struct task_poll *p);

static void task_resumed(struct api_request *req, void *opaque)
{
	task_answer(req, opaque);
}

/* Answers, or parks the request; returns whether it is parked. */
static bool task_answer(struct api_request *req, struct task_poll *p)
{
	struct api_waitq *q = taskrun_waitq(p->c->tasks);
	uint64_t version = api_waitq_version(q); /* before reading the task */
	struct creq x;
	if (!creq_begin(&x, req, p->c))
		return false;
	bool parked = false;
	struct ctask t = {0};
	if (!load_task(&x, &t))
		goto out;
	bool changed = p->seen && (t.state != p->state || t.progress != p->progress);
	if (!changed && (t.state == CTASK_QUEUED || t.state == CTASK_RUNNING) &&
	    time_mono_ms() < p->deadline_ms) {
		p->seen = true;
		p->state = t.state;
		p->progress = t.progress;
		api_request_wait(req, q, version, p->deadline_ms, task_resumed, p, free);
		parked = true;
		goto out;
	}
	api_respond_json(req, 200, task_json(&x, &t));
out:
	ctask_clear(&t);
	creq_end(&x);
	return parked;
}

static void tasks_get(struct api_request *req, void *opaque)
{
	const char *w = api_request_query(req, "wait_ms");
	uint64_t wait_ms = 0;
	if (w && parse_u64(w, 0, WAIT_MAX_MS, &wait_ms) < 0) {
		api_respond_error(req, 400, "wait_ms=\"%s\" is not a number from 0 to %d", w,
				  WAIT_MAX_MS);
		return;
	}
	struct task_poll *p = xmalloc(sizeof(*p));
	*p = (struct task_poll){ .c = opaque, .deadline_ms = time_mono_ms() + wait_ms };
	if (!task_answer(req, p))
		free(p);
}

static void tasks_cancel(struct api_request *req, void *opaque)
{
	struct center *c = opaque;
	struct creq x;
	if (!creq_begin(&x, req, c))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct ctask t = {0};
	if (!load_task(&x, &t))
		goto out;
	/* One's own tasks, or Global.CancelTask where the task runs. */
	if (!t.principal || strcmp(t.principal, x.user) != 0) {
		struct inv_object o = {0};
		int r = inventory_get(x.db, t.object_id ? t.object_id : c->root_id, &o, &err);
		bool ok = r == 0 && creq_allow(&x, &o, "Global.CancelTask");
		if (r < 0)
			creq_fail(&x, err);
		inv_object_clear(&o);
		if (!ok)
			goto out;
	}
	if (ctask_request_cancel(x.db, t.id, x.user, center_now_ms(), &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	taskrun_notify(c->tasks);
	struct ctask now = {0};
	if (ctask_get(x.db, t.id, &now, &err) < 0)
		creq_fail(&x, err);
	else
		api_respond_json(req, 200, task_json(&x, &now));
	ctask_clear(&now);
out:
	ctask_clear(&t);
	creq_end(&x);
}

static json_t *event_json(struct creq *x, const struct cevent *e)
{
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)e->id, "type",
			      e->type, "category", e->category, "message", e->message, "user",
			      e->principal ? e->principal : "");
	put_time(o, "time", e->time_ms);
	put_object(x, o, e->object_id, e->object_name);
	if (e->task_id) {
		_cleanup_free_ char *t = xasprintf("task-%lld", (long long)e->task_id);
		json_object_set_new(o, "task", json_string(t));
	}
	json_error_t jerr;
	json_t *d = json_loads(e->data ? e->data : "{}", 0, &jerr);
	if (json_is_object(d) && json_object_size(d) > 0)
		json_object_set_new(o, "data", d);
	else
		json_decref(d);
	return o;
}

static bool parse_time(struct api_request *req, const char *key, int64_t *out)
{
	const char *s = api_request_query(req, key);
	*out = 0;
	if (!s)
		return true;
	uint64_t v;
	if (parse_u64(s, 0, INT64_MAX, &v) < 0) {
		api_respond_error(req, 400, "%s=\"%s\" is not a time in milliseconds since the epoch",
				  key, s);
		return false;
	}
	*out = (int64_t)v;
	return true;
}

static void events_list(struct api_request *req, void *opaque)
{
	size_t limit;
	int64_t before, since, until;
	if (!parse_limit(req, &limit) || !parse_before(req, "event-", "an event", &before) ||
	    !parse_time(req, "since", &since) || !parse_time(req, "until", &until))
		return;
	const char *category = api_request_query(req, "category");
	if (category && strcmp(category, "info") != 0 && strcmp(category, "warning") != 0 &&
	    strcmp(category, "error") != 0 && strcmp(category, "user") != 0) {
		api_respond_error(req, 400, "category=\"%s\": expected info, warning, error or user",
				  category);
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object obj = {0};
	const char *object = api_request_query(req, "object");
	if (object && !creq_object(&x, object, &obj))
		goto out;
	const char *children = api_request_query(req, "children");
	struct cevent_filter f = {
		.object_id = obj.id,
		.include_children = !children || strcmp(children, "false") != 0,
		.type = api_request_query(req, "type"),
		.category = category,
		.principal = api_request_query(req, "user"),
		.since_ms = since,
		.until_ms = until,
		.before_id = before,
		.limit = limit,
	};
	struct cevent_list l = {0};
	if (cevent_query(x.db, &f, &l, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	json_t *a = json_array();
	int can = 1;
	for (size_t i = 0; i < l.n && can >= 0; i++) {
		const struct cevent *e = &l.items[i];
		can = e->object_id ? creq_can(&x, e->object_id, "System.Read")
				   : creq_can(&x, x.c->root_id, "System.Read");
		if (can > 0)
			json_array_append_new(a, event_json(&x, e));
	}
	if (can >= 0) {
		json_t *reply = json_pack("{s:o}", "events", a);
		if (l.n == limit)
			json_object_set_new(reply, "next_before",
					    json_integer(l.items[l.n - 1].id));
		api_respond_json(req, 200, reply);
	} else {
		json_decref(a);
	}
	cevent_list_clear(&l);
out:
	inv_object_clear(&obj);
	creq_end(&x);
}

void capi_tasks_register(struct api_server *srv, struct center *c)
{
	api_server_add_route(srv, "GET", "/api/v1/tasks", tasks_list, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/tasks/{id}", tasks_get, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/tasks/{id}/cancel", tasks_cancel, c,
			     API_ROUTE_BODY_OPTIONAL);
	api_server_add_route(srv, "GET", "/api/v1/events", events_list, c, 0);
}
