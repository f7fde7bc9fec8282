/* SPDX-License-Identifier: Apache-2.0 */
#include "host/events.h"

#include <pthread.h>
#include <stdarg.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "api/server.h"
#include "common/log.h"
#include "common/util.h"

struct event {
	uint64_t id;
	uint64_t time_ms;
	enum event_level level;
	char *object_id;
	char *type;
	char *message;
};

struct events {
	pthread_mutex_t lock;
	struct api_waitq *waitq; /* long polls, notified on each new event */
	struct event *ring;
	unsigned capacity;
	uint64_t next_id; /* ids start at 1; slot = id % capacity */
};

static const char *const level_names[] = {
	[EVENT_INFO] = "info",
	[EVENT_WARNING] = "warning",
	[EVENT_ERROR] = "error",
};

struct events *events_new(unsigned capacity)
{
	struct events *ev = xcalloc(1, sizeof(*ev));
	pthread_mutex_init(&ev->lock, NULL);
	ev->waitq = api_waitq_new();
	ev->capacity = capacity ? capacity : 1000;
	ev->ring = xcalloc(ev->capacity, sizeof(*ev->ring));
	ev->next_id = 1;
	return ev;
}

static void event_clear(struct event *e)
{
	free(e->object_id);
	free(e->type);
	free(e->message);
	memset(e, 0, sizeof(*e));
}

void events_free(struct events *ev)
{
	if (!ev)
		return;
	for (unsigned i = 0; i < ev->capacity; i++)
		event_clear(&ev->ring[i]);
	free(ev->ring);
	api_waitq_free(ev->waitq);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

void events_add(struct events *ev, enum event_level level, const char *object_id,
		const char *type, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (level == EVENT_ERROR)
		log_error("%s: %s", object_id ? object_id : "host", msg);
	else if (level == EVENT_WARNING)
		log_warn("%s: %s", object_id ? object_id : "host", msg);
	else
		log_info("%s: %s", object_id ? object_id : "host", msg);

	pthread_mutex_lock(&ev->lock);
	uint64_t id = ev->next_id++;
	struct event *e = &ev->ring[id % ev->capacity];
	event_clear(e);
	e->id = id;
	e->time_ms = time_real_ms();
	e->level = level;
	e->object_id = object_id ? xstrdup(object_id) : NULL;
	e->type = xstrdup(type);
	e->message = msg;
	pthread_mutex_unlock(&ev->lock);
	api_waitq_notify(ev->waitq);
}

void events_range(struct events *ev, uint64_t *first, uint64_t *last)
{
	pthread_mutex_lock(&ev->lock);
	*last = ev->next_id - 1;
	*first = ev->next_id > ev->capacity ? ev->next_id - ev->capacity : 1;
	pthread_mutex_unlock(&ev->lock);
}

json_t *events_list_json(struct events *ev, uint64_t since, const char *object_id)
{
	json_t *a = json_array();
	pthread_mutex_lock(&ev->lock);
	uint64_t first = ev->next_id > ev->capacity ? ev->next_id - ev->capacity : 1;
	if (since + 1 > first)
		first = since + 1;
	for (uint64_t id = first; id < ev->next_id; id++) {
		struct event *e = &ev->ring[id % ev->capacity];
		if (e->id != id)
			continue;
		if (object_id && (!e->object_id || strcmp(e->object_id, object_id) != 0))
			continue;
		char t[32];
		time_format_iso(e->time_ms, t);
		json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s}", "id", (json_int_t)e->id, "time", t,
				      "level", level_names[e->level], "type", e->type, "message",
				      e->message);
		if (e->object_id)
			json_object_set_new(o, "object", json_string(e->object_id));
		json_array_append_new(a, o);
	}
	pthread_mutex_unlock(&ev->lock);
	return a;
}

/* ---- GET /api/v1/events, for hostd and the simulator ---- */

#define EVENTS_WAIT_MAX_S 60

struct events_poll {
	struct events *ev;
	const char *instance; /* borrowed: lives as long as the server */
	uint64_t since;
	uint64_t deadline_ms;
};

static bool events_answer(struct api_request *req, struct events_poll *p);

static void events_resumed(struct api_request *req, void *opaque)
{
	events_answer(req, opaque);
}

/* Answers, or parks the request without a thread; returns whether it is parked. */
static bool events_answer(struct api_request *req, struct events_poll *p)
{
	uint64_t seen = api_waitq_version(p->ev->waitq);
	uint64_t first, last;
	events_range(p->ev, &first, &last);
	if (last <= p->since && time_mono_ms() < p->deadline_ms) {
		api_request_wait(req, p->ev->waitq, seen, p->deadline_ms, events_resumed, p, free);
		return true;
	}
	json_t *a = events_list_json(p->ev, p->since, api_request_query(req, "object"));
	/*
	 * instance changes whenever the process restarts (ids start again at
	 * 1); a reader whose since is below first - 1 has missed events.
	 * Either way it must re-read the state it keeps.
	 */
	api_respond_json(req, 200,
			 json_pack("{s:o, s:s, s:I, s:I}", "events", a, "instance", p->instance,
				   "first", (json_int_t)first, "last", (json_int_t)last));
	return false;
}

void events_respond(struct api_request *req, struct events *ev, const char *instance)
{
	uint64_t since = 0, wait_s = 0;
	const char *q = api_request_query(req, "since");
	if (q && parse_u64(q, 0, UINT64_MAX, &since) < 0) {
		api_respond_error(req, 400, "since=\"%s\" is not an event id", q);
		return;
	}
	/* Long polling: wait=S holds the answer up to S seconds for a newer event. */
	q = api_request_query(req, "wait");
	if (q && parse_u64(q, 0, EVENTS_WAIT_MAX_S, &wait_s) < 0) {
		api_respond_error(req, 400, "wait=\"%s\" is not a number of seconds from 0 to %d", q,
				  EVENTS_WAIT_MAX_S);
		return;
	}
	struct events_poll *p = xmalloc(sizeof(*p));
	*p = (struct events_poll){ .ev = ev, .instance = instance, .since = since,
				   .deadline_ms = time_mono_ms() + wait_s * 1000 };
	if (!events_answer(req, p))
		free(p);
}
