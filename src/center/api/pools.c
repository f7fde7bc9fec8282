/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /api/v1/resource-pools/{ref}: a pool's allocation (reservation, limit,
 * shares, expandable, for CPU and memory) and what it has handed out;
 * changing it needs Resource.EditPool and passes the same admission as a
 * power-on (center/pools.h).  Pools are created with POST
 * /api/v1/inventory {"kind": "resource_pool", ..., "allocation": {...}}.
 */
#include <errno.h>
#include <jansson.h>

#include "api/server.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/pools.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

static const struct json_field patch_fields[] = {
	{"allocation", JSON_OBJECT, true, 0, 0},
};

static bool find_pool(struct creq *x, struct inv_object *o)
{
	if (!creq_object(x, api_request_param(x->req, "ref"), o))
		return false;
	if (o->kind != INV_KIND_RESOURCE_POOL) {
		api_respond_error(x->req, 400, "\"%s\" is a %s, not a resource pool", o->name,
				  inv_kind_name(o->kind));
		inv_object_clear(o);
		return false;
	}
	return true;
}

static void respond_pool(struct creq *x, const struct inv_object *o)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *usage = NULL;
	if (pool_usage_json(x->db, o->id, &usage, &err) < 0) {
		creq_fail(x, err);
		return;
	}
	json_t *j = inv_object_json(o);
	json_object_update(j, usage);
	json_decref(usage);
	api_respond_json(x->req, 200, j);
}

static void pools_get(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object o = {0};
	if (find_pool(&x, &o))
		respond_pool(&x, &o);
	inv_object_clear(&o);
	creq_end(&x);
}

struct change {
	int64_t pool, parent;
	struct pool_alloc alloc;
};

static int change_fn(struct db *db, void *opaque, struct vr_error **err)
{
	struct change *c = opaque;
	/* The parent must give the new reservation in full, this pool's old one aside. */
	int r = pool_admit(db, c->parent, c->alloc.cpu_reservation_mhz, c->alloc.mem_reservation_mib,
			   c->pool, err);
	return r < 0 ? r : pool_alloc_set(db, c->pool, &c->alloc, err);
}

static void pools_patch(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *body = api_request_body_json(req);
	if (json_check_object(body, patch_fields, ARRAY_SIZE(patch_fields), "pool change",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object o = {0}, parent = {0};
	if (!find_pool(&x, &o) || !creq_allow(&x, &o, "Resource.EditPool"))
		goto out;
	if (inventory_get(x.db, o.parent_id, &parent, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	if (parent.kind != INV_KIND_RESOURCE_POOL) {
		api_respond_error(req, 409,
				  "\"%s\" is the root pool of %s \"%s\": its resources are its hosts'",
				  o.name, inv_kind_name(parent.kind), parent.name);
		goto out;
	}
	struct change c = {.pool = o.id, .parent = parent.id};
	if (pool_alloc_get(x.db, o.id, &c.alloc, &err) < 0 ||
	    pool_alloc_from_json(json_object_get(body, "allocation"), &c.alloc, &err) < 0 ||
	    db_transact(x.db, change_fn, &c, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_post_event(x.c, x.db, "ResourcePoolReconfiguredEvent", "info", o.id, o.name, x.user,
			  0, "resource pool \"%s\" reconfigured by %s", o.name, x.user);
	respond_pool(&x, &o);
out:
	inv_object_clear(&o);
	inv_object_clear(&parent);
	creq_end(&x);
}

void capi_pools_register(struct api_server *srv, struct center *c)
{
	api_server_add_route(srv, "GET", "/api/v1/resource-pools/{ref}", pools_get, c, 0);
	api_server_add_route(srv, "PATCH", "/api/v1/resource-pools/{ref}", pools_patch, c, 0);
}
