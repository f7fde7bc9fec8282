/* SPDX-License-Identifier: Apache-2.0 */
/* What center's REST handlers share: the request context, object references, JSON. */
#ifndef VIREO_CENTER_API_CAPI_H
#define VIREO_CENTER_API_CAPI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "center/db/inventory.h"

struct api_request;
struct api_server;
struct center;
struct db;
struct access_ctx;

/*
 * One request's context: a database connection and who is asking.
 * creq_begin() answers the request itself (and returns false) when it
 * cannot start; creq_end() gives everything back.
 */
struct creq {
	struct center *c;
	struct api_request *req;
	struct db *db;
	int64_t principal_id;
	char *user; /* "name@domain" */
	struct access_ctx *acx; /* loaded on first check (or lent by the cache) */
	uint64_t acx_generation;
	int64_t *path_ids; /* ancestors of where the user holds permissions (creq_visible) */
	size_t n_path_ids;
	bool path_loaded;
};

/*
 * Whether the user may see an object: System.Read on it, or it lies on
 * the way down to an object where the user holds a permission (vSphere
 * shows those ancestors, names only, so that the user can get there).
 * 1 yes, 0 no, <0 error (answered).
 */
int creq_visible(struct creq *x, int64_t object_id);

/*
 * Something that decides access changed: a permission, a role, a group's
 * members, a user's state, or where an object sits in the tree.  Cached
 * access contexts are dropped.
 */
void center_access_changed(void);

bool creq_begin(struct creq *x, struct api_request *req, struct center *c);
void creq_end(struct creq *x);

/*
 * Whether the user holds privilege on the object.  creq_allow() answers
 * 403 naming the privilege and the object when not, and records the
 * denial in the event log.
 */
bool creq_allow(struct creq *x, const struct inv_object *o, const char *privilege);
/* 1 yes, 0 no, <0 error (answered). */
int creq_can(struct creq *x, int64_t object_id, const char *privilege);

/*
 * Resolves a reference to an inventory object: a managed-object id as
 * vSphere writes them ("vm-12", "host-7", "datacenter-3", "group-v4"),
 * a bare number, or an inventory path ("/DC1/vm/web01").  Answers 400 or
 * 404 and returns false when it names nothing, or when the user may not
 * see it (System.Read; as not found).
 */
bool creq_object(struct creq *x, const char *ref, struct inv_object *out);

/* "vm-12" for a VM with id 12 (a new string). */
char *moref_of(enum inv_kind kind, int64_t id);
/*
 * Whether the user holds privilege on the datastore or network (relation
 * "host_datastore" or "host_network") called name that host reaches;
 * answers 403 (or 409 when the host reaches none) and returns false if not.
 */
bool creq_allow_link(struct creq *x, int64_t host_id, const char *relation, const char *name,
		     const char *privilege);
/* Whether the user may put VMs in the resource pool (answers and returns false if not). */
bool creq_allow_pool(struct creq *x, int64_t pool_id);
/* Whether @ref has the shape of an object id ("vm-12", "domain-c7"). */
bool moref_like(const char *ref);
/* The object as JSON: id (moref), kind, name, parent, and the kind's fields. */
json_t *inv_object_json(const struct inv_object *o);

/*
 * A VM or template by object id, number, inventory path, uuid or a name
 * only one has; answers 400/404/409 and returns false otherwise.
 */
bool capi_find_vm(struct creq *x, const char *ref, struct inv_object *out);

struct taskrun_job;
/*
 * From a task body: follows a host's task to its end, mirroring its
 * progress; *result (may be NULL) gets the host task's result.  A host
 * briefly unreachable is retried (10 tries a second apart); its task's
 * failure is this one's.  Gives up (ESHUTDOWN) when center stops: the
 * host's task goes on without it.
 */
int capi_follow_host_task(struct taskrun_job *job, int64_t host_id, const char *host_task,
			  json_t **result, struct vr_error **err);
/* The same within timeout_ms (> 0; 0: no limit), else ETIMEDOUT. */
int capi_follow_host_task_for(struct taskrun_job *job, int64_t host_id, const char *host_task,
			      int64_t timeout_ms, json_t **result, struct vr_error **err);

/* Answers with the error's status and message. */
void creq_fail(struct creq *x, const struct vr_error *err);

/* Route registration, one file each. */
void capi_core_register(struct api_server *srv, struct center *c);	   /* health, sessions */
void capi_inventory_register(struct api_server *srv, struct center *c); /* inventory.c */
void capi_hosts_register(struct api_server *srv, struct center *c);	   /* hosts.c */
void capi_vms_register(struct api_server *srv, struct center *c);	   /* vms.c */
void capi_tasks_register(struct api_server *srv, struct center *c);	   /* tasks and events */
void capi_access_register(struct api_server *srv, struct center *c);	   /* users, roles, permissions */
void capi_monitoring_register(struct api_server *srv, struct center *c); /* perf, alarms */
void capi_pools_register(struct api_server *srv, struct center *c);	   /* resource pools */
void capi_provision_register(struct api_server *srv, struct center *c);  /* clone, migrate */
void capi_console_register(struct api_server *srv, struct center *c);    /* console.c */

#endif
