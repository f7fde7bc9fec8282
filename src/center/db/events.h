/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_EVENTS_H
#define VIREO_CENTER_DB_EVENTS_H

/*
 * vireo-center's event log, as vCenter has it: what happened, when, to
 * which object, by whom and under which task.  Events are written once
 * and never changed; purging by age bounds the table.
 *
 * An event keeps the name of its object and of its datacenter's id as
 * they were, so that it still reads right after the object is renamed or
 * deleted (object_id then reads 0).  Queries can take an object with
 * everything under it in the inventory tree: a datacenter's events are
 * those of the objects now under it and those recorded in it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct vr_error;

struct cevent {
	int64_t id, time_ms;
	char *type;     /* "VmPoweredOnEvent" */
	char *category; /* info|warning|error|user */
	int64_t object_id; /* 0 if none */
	char *object_name;
	int64_t datacenter_id; /* 0 if none */
	char *principal;       /* "" for center itself */
	int64_t task_id;       /* 0 if none */
	char *message;
	char *data; /* JSON object text */
};

struct cevent_list {
	struct cevent *items;
	size_t n;
};

void cevent_clear(struct cevent *e);
void cevent_list_clear(struct cevent_list *l);

struct cevent_spec {
	const char *type;        /* required */
	const char *category;    /* info, warning, error or user */
	int64_t object_id;       /* 0 for none */
	const char *object_name; /* NULL: the object's name, or "" */
	int64_t datacenter_id;   /* 0: the object's datacenter, if any */
	const char *principal;   /* NULL for "" */
	int64_t task_id;         /* 0 for none */
	const char *message;     /* required */
	const char *data;        /* a JSON object; NULL for {} */
};

/*
 * Records an event at now_ms.  -EINVAL for a bad category or data that is
 * not a JSON object; -ENOENT for an object that does not exist.
 * *id may be NULL.
 */
int cevent_post(struct db *db, const struct cevent_spec *spec, int64_t now_ms, int64_t *id,
		struct vr_error **err);

struct cevent_filter {
	int64_t object_id;     /* 0: any */
	bool include_children; /* the object and everything under it in the inventory tree */
	const char *type;      /* NULL: any */
	const char *category;  /* NULL: any */
	const char *principal; /* NULL: any */
	int64_t task_id;       /* 0: any */
	int64_t since_ms, until_ms; /* time in [since, until]; 0: open */
	int64_t before_id; /* 0: from the newest; else only ids < before_id, for paging */
	size_t limit;      /* 0: 100; at most 1000 */
};

/* Newest first. */
int cevent_query(struct db *db, const struct cevent_filter *f, struct cevent_list *out,
		 struct vr_error **err);
/* Deletes the events older than cutoff_ms; *count (may be NULL) says how many. */
int cevent_purge(struct db *db, int64_t cutoff_ms, int64_t *count, struct vr_error **err);

#endif
