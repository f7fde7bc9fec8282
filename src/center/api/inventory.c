/* SPDX-License-Identifier: Apache-2.0 */
/*
 * /api/v1/inventory: the tree of folders, datacenters, clusters, hosts,
 * resource pools, VMs, datastores and networks.  Objects are named by
 * vSphere-style ids ("datacenter-3") or by inventory paths ("/DC1/host").
 * Hosts join through /api/v1/hosts and VMs come from their hosts; here
 * one creates, renames, moves and deletes the containers.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "api/server.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/pools.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

#define SEARCH_LIMIT_MAX 1000

static const struct json_field create_fields[] = {
	{"kind", JSON_STRING, true, 1, 32},
	{"parent", JSON_STRING, true, 1, 4096},
	{"name", JSON_STRING, true, 1, 1024},
	{"properties", JSON_OBJECT, false, 0, 0},
	{"allocation", JSON_OBJECT, false, 0, 0},
};

static const struct json_field change_fields[] = {
	{"name", JSON_STRING, false, 1, 1024},
	{"parent", JSON_STRING, false, 1, 4096},
};

/* The privilege an action needs on an object of a kind; NULL: not through this API. */
static const char *privilege_for(enum inv_kind kind, char action)
{
	switch (kind) {
	case INV_KIND_FOLDER:
	case INV_KIND_VM_FOLDER:
	case INV_KIND_HOST_FOLDER:
	case INV_KIND_DATASTORE_FOLDER:
	case INV_KIND_NETWORK_FOLDER:
		return action == 'c' ? "Folder.Create" : action == 'r' ? "Folder.Rename"
		     : action == 'm' ? "Folder.Move" : "Folder.Delete";
	case INV_KIND_DATACENTER:
		return action == 'c' ? "Datacenter.Create" : action == 'r' ? "Datacenter.Rename"
		     : action == 'm' ? "Datacenter.Move" : "Datacenter.Delete";
	case INV_KIND_CLUSTER:
		return action == 'c' ? "Host.Inventory.CreateCluster"
		     : action == 'd' ? "Host.Inventory.DeleteCluster"
				     : "Host.Inventory.EditCluster";
	case INV_KIND_RESOURCE_POOL:
		return action == 'c' ? "Resource.CreatePool" : action == 'r' ? "Resource.RenamePool"
		     : action == 'm' ? "Resource.MovePool" : "Resource.DeletePool";
	case INV_KIND_VM:
	case INV_KIND_TEMPLATE:
		return action == 'r' ? "VirtualMachine.Config.Rename"
		     : action == 'm' ? "VirtualMachine.Inventory.Move" : NULL;
	case INV_KIND_HOST:
		return action == 'r' ? "Host.Config.Settings"
		     : action == 'm' ? "Host.Inventory.MoveHost" : NULL;
	case INV_KIND_DATASTORE:
		/* Not renamed: its hosts, VMs and placement know it by its name. */
		return action == 'm' ? "Datastore.Move" : NULL;
	case INV_KIND_NETWORK:
		return action == 'm' ? "Network.Move" : NULL;
	default:
		return NULL;
	}
}

/* Children the user may see, as brief entries. */
static json_t *children_json(struct creq *x, int64_t id, bool *failed)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_list kids = {0};
	*failed = false;
	if (inventory_list_children(x->db, id, &kids, &err) < 0) {
		creq_fail(x, err);
		*failed = true;
		return NULL;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < kids.n; i++) {
		int can = creq_visible(x, kids.items[i].id);
		if (can < 0) {
			*failed = true;
			break;
		}
		if (can)
			json_array_append_new(a, inv_object_json(&kids.items[i]));
	}
	inv_list_clear(&kids);
	if (*failed) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static void respond_object(struct creq *x, int status, const struct inv_object *o,
			   bool with_children)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *j = inv_object_json(o);
	struct inv_list up = {0};
	if (inventory_ancestors(x->db, o->id, &up, &err) == 0) {
		_cleanup_free_ char *path = inventory_path_of(&up);
		json_object_set_new(j, "path", json_string(path));
		if (up.n > 1) {
			_cleanup_free_ char *p = moref_of(up.items[1].kind, up.items[1].id);
			json_object_set_new(j, "parent", json_string(p));
		}
	}
	inv_list_clear(&up);
	if (with_children) {
		bool failed;
		json_t *kids = children_json(x, o->id, &failed);
		if (failed) {
			json_decref(j);
			return;
		}
		json_object_set_new(j, "children", kids);
	}
	api_respond_json(x->req, status, j);
}

static void inventory_root_get(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object o = {0};
	if (creq_object(&x, "/", &o)) {
		respond_object(&x, 200, &o, true);
		inv_object_clear(&o);
	}
	creq_end(&x);
}

static void inventory_get_req(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object o = {0};
	if (creq_object(&x, api_request_param(req, "ref"), &o)) {
		respond_object(&x, 200, &o, true);
		inv_object_clear(&o);
	}
	creq_end(&x);
}

static void inventory_lookup_get(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	const char *path = api_request_query(req, "path");
	struct inv_object o = {0};
	if (!path || path[0] != '/')
		api_respond_error(req, 400, "give path=/DATACENTER/... (an inventory path)");
	else if (creq_object(&x, path, &o)) {
		respond_object(&x, 200, &o, false);
		inv_object_clear(&o);
	}
	creq_end(&x);
}

static void inventory_search(struct api_request *req, void *opaque)
{
	const char *kind_s = api_request_query(req, "kind");
	const char *prefix = api_request_query(req, "prefix");
	const char *limit_s = api_request_query(req, "limit");
	enum inv_kind kind;
	uint64_t limit = 100;
	if (!kind_s || inv_kind_parse(kind_s, &kind) < 0) {
		api_respond_error(req, 400, "kind=\"%s\" is not an inventory kind (vm, host, ...)",
				  kind_s ? kind_s : "");
		return;
	}
	if (limit_s && parse_u64(limit_s, 1, SEARCH_LIMIT_MAX, &limit) < 0) {
		api_respond_error(req, 400, "limit=\"%s\" is not a number from 1 to %d", limit_s,
				  SEARCH_LIMIT_MAX);
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_list found = {0};
	if (inventory_search_prefix(x.db, kind, prefix ? prefix : "", limit, &found, &err) < 0) {
		creq_fail(&x, err);
		creq_end(&x);
		return;
	}
	json_t *a = json_array();
	int can = 1;
	for (size_t i = 0; i < found.n; i++) {
		can = creq_can(&x, found.items[i].id, "System.Read");
		if (can < 0)
			break;
		if (can)
			json_array_append_new(a, inv_object_json(&found.items[i]));
	}
	inv_list_clear(&found);
	if (can >= 0)
		api_respond_json(req, 200, json_pack("{s:o}", "objects", a));
	else
		json_decref(a);
	creq_end(&x);
}

struct create_ctx {
	const struct inv_create_spec *spec;
	int64_t id;
	const struct pool_alloc *alloc; /* a resource pool's */
};

static int create_fn(struct db *db, void *opaque, struct vr_error **err)
{
	struct create_ctx *cc = opaque;
	int r = inventory_create(db, cc->spec, &cc->id, err);
	if (r == 0 && cc->alloc) {
		/* Its reservation comes from its parent, as a power-on's would. */
		r = pool_admit(db, cc->spec->parent_id, cc->alloc->cpu_reservation_mhz,
			       cc->alloc->mem_reservation_mib, 0, err);
		if (r == 0)
			r = pool_alloc_set(db, cc->id, cc->alloc, err);
	}
	if (r == 0 && cc->spec->kind == INV_KIND_CLUSTER) {
		/* Every cluster has its root resource pool, as in vSphere. */
		int64_t pool;
		struct inv_create_spec ps = {
			.kind = INV_KIND_RESOURCE_POOL, .parent_id = cc->id, .name = "Resources"};
		r = inventory_create(db, &ps, &pool, err);
	}
	return r;
}

static void inventory_create_post(struct api_request *req, void *opaque)
{
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, create_fields, ARRAY_SIZE(create_fields), "create request",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	enum inv_kind kind;
	const char *kind_s = json_get_string(body, "kind", "");
	if (inv_kind_parse(kind_s, &kind) < 0 ||
	    !(kind == INV_KIND_FOLDER || kind == INV_KIND_VM_FOLDER ||
	      kind == INV_KIND_HOST_FOLDER || kind == INV_KIND_DATASTORE_FOLDER ||
	      kind == INV_KIND_NETWORK_FOLDER || kind == INV_KIND_DATACENTER ||
	      kind == INV_KIND_CLUSTER || kind == INV_KIND_RESOURCE_POOL)) {
		api_respond_error(req, 400,
				  "kind \"%s\" cannot be created here: give folder, vm_folder, "
				  "host_folder, datastore_folder, network_folder, datacenter, cluster or "
				  "resource_pool (hosts join with POST /api/v1/hosts; VMs come from "
				  "their hosts)",
				  kind_s);
		return;
	}
	_cleanup_free_ char *props =
		json_object_get(body, "properties")
			? json_dumps(json_object_get(body, "properties"), JSON_COMPACT)
			: NULL;
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object parent = {0};
	if (!creq_object(&x, json_get_string(body, "parent", ""), &parent))
		goto out;
	/* A pool "in a cluster" (or standalone host) goes into its root pool. */
	if (kind == INV_KIND_RESOURCE_POOL &&
	    (parent.kind == INV_KIND_CLUSTER || parent.kind == INV_KIND_HOST)) {
		int64_t root = 0;
		if (pool_root_of(x.db, parent.id, &root, &err) < 0 || !root) {
			if (!root && !err)
				api_respond_error(req, 409, "%s \"%s\" has no root resource pool",
						  inv_kind_name(parent.kind), parent.name);
			else
				creq_fail(&x, err);
			goto out;
		}
		inv_object_clear(&parent);
		if (inventory_get(x.db, root, &parent, &err) < 0) {
			creq_fail(&x, err);
			goto out;
		}
	}
	/* "folder" means the folder that fits where it goes, as vSphere's New Folder does. */
	if (kind == INV_KIND_FOLDER && (parent.kind == INV_KIND_VM_FOLDER ||
					parent.kind == INV_KIND_HOST_FOLDER ||
					parent.kind == INV_KIND_DATASTORE_FOLDER ||
					parent.kind == INV_KIND_NETWORK_FOLDER))
		kind = parent.kind;
	if (!creq_allow(&x, &parent, privilege_for(kind, 'c')))
		goto out;
	struct inv_create_spec spec = {
		.kind = kind,
		.parent_id = parent.id,
		.name = json_get_string(body, "name", ""),
		.properties = props,
	};
	struct pool_alloc alloc;
	pool_alloc_default(&alloc);
	json_t *aj = json_object_get(body, "allocation");
	if (aj && kind != INV_KIND_RESOURCE_POOL) {
		api_respond_error(req, 400, "only a resource pool has an allocation");
		goto out;
	}
	if (aj && pool_alloc_from_json(aj, &alloc, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	struct create_ctx cc = {&spec, 0, kind == INV_KIND_RESOURCE_POOL ? &alloc : NULL};
	if (db_transact(x.db, create_fn, &cc, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	struct inv_object o = {0};
	if (inventory_get(x.db, cc.id, &o, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_post_event(x.c, x.db, "EntityCreatedEvent", "info", o.id, o.name, x.user, 0,
			  "%s \"%s\" created in \"%s\" by %s", inv_kind_name(kind), o.name,
			  parent.name, x.user);
	respond_object(&x, 201, &o, false);
	inv_object_clear(&o);
out:
	inv_object_clear(&parent);
	creq_end(&x);
}

static void inventory_patch(struct api_request *req, void *opaque)
{
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, change_fields, ARRAY_SIZE(change_fields), "change request",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *name = json_get_string(body, "name", NULL);
	const char *parent_ref = json_get_string(body, "parent", NULL);
	if (!name && !parent_ref) {
		api_respond_error(req, 400, "give \"name\" to rename or \"parent\" to move");
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct inv_object o = {0}, np = {0};
	if (!creq_object(&x, api_request_param(req, "ref"), &o))
		goto out;
	if (parent_ref) {
		const char *priv = privilege_for(o.kind, 'm');
		if (!priv) {
			api_respond_error(req, 400, "a %s cannot be moved", inv_kind_name(o.kind));
			goto out;
		}
		if (!creq_object(&x, parent_ref, &np) || !creq_allow(&x, &o, priv) ||
		    !creq_allow(&x, &np, privilege_for(np.kind, 'c') ? privilege_for(np.kind, 'c')
								       : priv))
			goto out;
	}
	if (name) {
		const char *priv = privilege_for(o.kind, 'r');
		if (!priv) {
			api_respond_error(req, 400, "a %s cannot be renamed%s", inv_kind_name(o.kind),
					  o.kind == INV_KIND_DATASTORE || o.kind == INV_KIND_NETWORK
						  ? ": its hosts name it, and center follows them"
						  : "");
			goto out;
		}
		if (!creq_allow(&x, &o, priv))
			goto out;
	}
	int r = db_begin(x.db, &err);
	if (r == 0 && parent_ref)
		r = inventory_move(x.db, o.id, np.id, &err);
	if (r == 0 && name)
		r = inventory_rename(x.db, o.id, name, &err);
	if (r == 0)
		r = db_commit(x.db, &err);
	else
		db_rollback(x.db, NULL);
	if (r < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_access_changed();
	center_post_event(x.c, x.db, "EntityChangedEvent", "info", o.id, name ? name : o.name,
			  x.user, 0, "%s \"%s\"%s%s%s%s%s by %s", inv_kind_name(o.kind), o.name,
			  name ? " renamed to \"" : "", name ? name : "", name ? "\"" : "",
			  parent_ref ? " moved to " : "", parent_ref ? np.name : "", x.user);
	struct inv_object now = {0};
	if (inventory_get(x.db, o.id, &now, &err) < 0)
		creq_fail(&x, err);
	else
		respond_object(&x, 200, &now, false);
	inv_object_clear(&now);
out:
	inv_object_clear(&o);
	inv_object_clear(&np);
	creq_end(&x);
}

static int delete_fn(struct db *db, void *opaque, struct vr_error **err)
{
	const struct inv_object *o = opaque;
	if (o->kind == INV_KIND_CLUSTER) {
		/* Its root pool goes with it, when nothing else is left. */
		struct inv_object pool = {0};
		struct vr_error *e = NULL;
		int r = inventory_lookup(db, o->id, "Resources", &pool, &e);
		vr_error_free(e);
		if (r == 0)
			r = inventory_delete(db, pool.id, err);
		else
			r = 0;
		inv_object_clear(&pool);
		if (r < 0)
			return r;
	}
	return inventory_delete(db, o->id, err);
}

static void inventory_delete_req(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	if (!creq_object(&x, api_request_param(req, "ref"), &o))
		goto out;
	const char *priv = privilege_for(o.kind, 'd');
	if (!priv) {
		api_respond_error(req, 400,
				  "a %s is not deleted here (hosts: DELETE /api/v1/hosts/ID; VMs: "
				  "through their host)",
				  inv_kind_name(o.kind));
		goto out;
	}
	if (!creq_allow(&x, &o, priv))
		goto out;
	if (db_transact(x.db, delete_fn, &o, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_access_changed();
	center_post_event(x.c, x.db, "EntityDeletedEvent", "info", 0, o.name, x.user, 0,
			  "%s \"%s\" deleted by %s", inv_kind_name(o.kind), o.name, x.user);
	api_respond_no_content(req);
out:
	inv_object_clear(&o);
	creq_end(&x);
}

void capi_inventory_register(struct api_server *srv, struct center *c)
{
	api_server_add_route(srv, "GET", "/api/v1/inventory", inventory_root_get, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/inventory", inventory_create_post, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/inventory/lookup", inventory_lookup_get, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/inventory/search", inventory_search, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/inventory/{ref}", inventory_get_req, c, 0);
	api_server_add_route(srv, "PATCH", "/api/v1/inventory/{ref}", inventory_patch, c, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/inventory/{ref}", inventory_delete_req, c, 0);
}
