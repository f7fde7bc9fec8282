/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_EVENTS_H
#define VIREO_HOST_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct events;

enum event_level {
	EVENT_INFO,
	EVENT_WARNING,
	EVENT_ERROR,
};

struct events *events_new(unsigned capacity);
void events_free(struct events *ev);
/* Records an event about an object (a VM id, "host", ...) and logs it. */
void events_add(struct events *ev, enum event_level level, const char *object_id,
		const char *type, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Events with id > since, optionally only for one object; newest last. */
json_t *events_list_json(struct events *ev, uint64_t since, const char *object_id);
/*
 * The id of the newest event (0: none yet) and of the oldest still kept;
 * a reader whose cursor is below first - 1 has missed events.
 */
void events_range(struct events *ev, uint64_t *first, uint64_t *last);

struct api_request;
/*
 * GET /api/v1/events?since=N&wait=S&object=ID (hostd and the simulator):
 * answers, or parks the request without a thread until an event newer
 * than N comes or S seconds (0..60) pass.  instance is borrowed.
 */
void events_respond(struct api_request *req, struct events *ev, const char *instance);

#endif
