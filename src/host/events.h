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
/*
 * Notified after each new event: long polls wait on it (read its version
 * before events_range()).
 */
struct api_waitq *events_waitq(struct events *ev);

#endif
