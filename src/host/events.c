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

struct api_waitq *events_waitq(struct events *ev)
{
	return ev->waitq;
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
