/* SPDX-License-Identifier: Apache-2.0 */
#include "center/api/capi.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api/server.h"
#include "center/center.h"
#include "center/placement.h"
#include "center/db/access.h"
#include "center/db/db.h"
#include "center/sessions.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"

/* vSphere's managed-object id prefixes. */
static const char *const moref_prefixes[INV_KIND__COUNT] = {
	[INV_KIND_FOLDER] = "group-d",
	[INV_KIND_VM_FOLDER] = "group-v",
	[INV_KIND_HOST_FOLDER] = "group-h",
	[INV_KIND_DATASTORE_FOLDER] = "group-s",
	[INV_KIND_NETWORK_FOLDER] = "group-n",
	[INV_KIND_DATACENTER] = "datacenter-",
	[INV_KIND_CLUSTER] = "domain-c",
	[INV_KIND_HOST] = "host-",
	[INV_KIND_RESOURCE_POOL] = "resgroup-",
	[INV_KIND_VM] = "vm-",
	[INV_KIND_TEMPLATE] = "vm-",
	[INV_KIND_DATASTORE] = "datastore-",
	[INV_KIND_NETWORK] = "network-",
	[INV_KIND_DVSWITCH] = "dvs-",
	[INV_KIND_PORTGROUP] = "dvportgroup-",
};

char *moref_of(enum inv_kind kind, int64_t id)
{
	const char *p = (unsigned)kind < INV_KIND__COUNT ? moref_prefixes[kind] : "obj-";
	return xasprintf("%s%lld", p, (long long)id);
}

bool creq_allow_pool(struct creq *x, int64_t pool_id)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object pool = {0};
	bool ok = inventory_get(x->db, pool_id, &pool, &err) == 0 &&
		  creq_allow(x, &pool, "Resource.AssignVMToPool");
	if (!pool.id)
		creq_fail(x, err);
	inv_object_clear(&pool);
	return ok;
}

bool creq_allow_link(struct creq *x, int64_t host_id, const char *relation, const char *name,
		     const char *privilege)
{
	_cleanup_error_ struct vr_error *err = NULL;
	int64_t id = 0;
	struct inv_object o = {0};
	if (placement_link_target(x->db, host_id, relation, name, &id, &err) < 0 ||
	    inventory_get(x->db, id, &o, &err) < 0) {
		creq_fail(x, err);
		return false;
	}
	bool ok = creq_allow(x, &o, privilege);
	inv_object_clear(&o);
	return ok;
}

bool moref_like(const char *ref)
{
	for (size_t k = 0; k < INV_KIND__COUNT; k++) {
		const char *p = moref_prefixes[k];
		size_t n = p ? strlen(p) : 0;
		if (n && strncmp(ref, p, n) == 0 && ref[n] >= '0' && ref[n] <= '9' &&
		    strspn(ref + n, "0123456789") == strlen(ref + n))
			return true;
	}
	return false;
}

/*
 * Access contexts outlive their request: building one reads the user's
 * groups, permissions and roles, which costs more than most reads it
 * guards.  A context is lent to one request at a time and comes back
 * only if nothing that decides access changed meanwhile (the generation
 * below, bumped by center_access_changed()).
 */
#define ACX_SLOTS 64

static pthread_mutex_t acx_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t acx_generation = 1;
static struct {
	int64_t principal;
	uint64_t generation;
	struct access_ctx *ctx;
} acx_cache[ACX_SLOTS];

void center_access_changed(void)
{
	pthread_mutex_lock(&acx_lock);
	acx_generation++;
	for (size_t i = 0; i < ACX_SLOTS; i++) {
		access_ctx_free(acx_cache[i].ctx);
		acx_cache[i].ctx = NULL;
	}
	pthread_mutex_unlock(&acx_lock);
}

static struct access_ctx *acx_take(int64_t principal, uint64_t *generation)
{
	struct access_ctx *ctx = NULL;
	size_t slot = (size_t)principal % ACX_SLOTS;
	pthread_mutex_lock(&acx_lock);
	*generation = acx_generation;
	if (acx_cache[slot].ctx && acx_cache[slot].principal == principal &&
	    acx_cache[slot].generation == acx_generation) {
		ctx = acx_cache[slot].ctx;
		acx_cache[slot].ctx = NULL;
	}
	pthread_mutex_unlock(&acx_lock);
	return ctx;
}

static void acx_give_back(int64_t principal, uint64_t generation, struct access_ctx *ctx)
{
	size_t slot = (size_t)principal % ACX_SLOTS;
	pthread_mutex_lock(&acx_lock);
	if (generation == acx_generation && !acx_cache[slot].ctx) {
		acx_cache[slot].principal = principal;
		acx_cache[slot].generation = generation;
		acx_cache[slot].ctx = ctx;
		ctx = NULL;
	}
	pthread_mutex_unlock(&acx_lock);
	access_ctx_free(ctx);
}

bool creq_begin(struct creq *x, struct api_request *req, struct center *c)
{
	*x = (struct creq){.c = c, .req = req};
	const char *token = api_request_token(req);
	struct csession_info info = {0};
	if (!token || csessions_check(c->sessions, token, &info) < 0) {
		api_respond_error(req, 401, "session ended; log in again");
		return false;
	}
	x->principal_id = info.principal_id;
	x->user = steal_pointer(&info.user);
	_cleanup_error_ struct vr_error *err = NULL;
	x->db = dbpool_get(c->pool, &err);
	if (!x->db) {
		api_respond_error(req, 503, "the database is unavailable: %s", vr_error_msg(err));
		free(x->user);
		x->user = NULL;
		return false;
	}
	return true;
}

void creq_end(struct creq *x)
{
	free(x->path_ids);
	x->path_ids = NULL;
	if (x->acx)
		acx_give_back(x->principal_id, x->acx_generation, x->acx);
	x->acx = NULL;
	if (x->db)
		dbpool_put(x->c->pool, x->db);
	x->db = NULL;
	free(x->user);
	x->user = NULL;
}

void creq_fail(struct creq *x, const struct vr_error *err)
{
	api_respond_vr_error(x->req, err);
}

int creq_can(struct creq *x, int64_t object_id, const char *privilege)
{
	_cleanup_error_ struct vr_error *err = NULL;
	if (!x->acx)
		x->acx = acx_take(x->principal_id, &x->acx_generation);
	if (!x->acx && access_ctx_new(x->db, x->principal_id, &x->acx, &err) < 0) {
		creq_fail(x, err);
		return -EIO;
	}
	int r = access_ctx_has(x->acx, x->db, object_id, privilege, &err);
	if (r == -ENOENT)
		return 0; /* deleted meanwhile (a host's sync): as good as invisible */
	if (r < 0)
		creq_fail(x, err);
	return r;
}

int creq_visible(struct creq *x, int64_t object_id)
{
	int r = creq_can(x, object_id, "System.Read");
	if (r != 0)
		return r;
	if (!x->path_loaded) {
		x->path_loaded = true;
		int64_t *granting = NULL;
		size_t n = x->acx ? access_ctx_granting_objects(x->acx, &granting) : 0;
		for (size_t i = 0; i < n; i++) {
			struct inv_list up = {0};
			if (inventory_ancestors(x->db, granting[i], &up, NULL) == 0)
				for (size_t k = 1; k < up.n; k++) {
					x->path_ids = xrealloc(x->path_ids,
							       (x->n_path_ids + 1) * sizeof(*x->path_ids));
					x->path_ids[x->n_path_ids++] = up.items[k].id;
				}
			inv_list_clear(&up);
		}
		free(granting);
	}
	for (size_t i = 0; i < x->n_path_ids; i++)
		if (x->path_ids[i] == object_id)
			return 1;
	return 0;
}

bool creq_allow(struct creq *x, const struct inv_object *o, const char *privilege)
{
	int r = creq_can(x, o->id, privilege);
	if (r < 0)
		return false;
	if (r > 0)
		return true;
	_cleanup_free_ char *msg =
		xasprintf("permission denied: user \"%s\" lacks %s on %s \"%s\"", x->user, privilege,
			  inv_kind_name(o->kind), o->name);
	center_post_event(x->c, x->db, "PermissionDeniedEvent", "warning", o->id, o->name, x->user,
			  0, "%s %s: %s", api_request_method(x->req), api_request_path(x->req), msg);
	api_respond_error(x->req, 403, "%s", msg);
	return false;
}

static int parse_moref(const char *ref, int64_t *id, const char **prefix_end)
{
	const char *dash = strrchr(ref, '-');
	const char *num = dash ? dash + 1 : ref;
	while (dash && *num >= 'a' && *num <= 'z') /* "group-v4", "domain-c5" */
		num++;
	uint64_t v;
	if (parse_u64(num, 1, INT64_MAX, &v) < 0)
		return -EINVAL;
	*id = (int64_t)v;
	*prefix_end = num;
	return 0;
}

bool creq_object(struct creq *x, const char *ref, struct inv_object *out)
{
	_cleanup_error_ struct vr_error *err = NULL;
	int r;
	if (!ref || !*ref) {
		api_respond_error(x->req, 400, "no inventory object named");
		return false;
	}
	if (ref[0] == '/') {
		r = inventory_lookup_path(x->db, ref, out, &err);
	} else {
		int64_t id;
		const char *num;
		if (parse_moref(ref, &id, &num) < 0) {
			api_respond_error(x->req, 400,
					  "\"%s\" is neither an object id (like vm-12) nor an inventory "
					  "path (like /DC1/vm/web01)",
					  ref);
			return false;
		}
		r = inventory_get(x->db, id, out, &err);
		if (r == 0 && num != ref) {
			_cleanup_free_ char *want = moref_of(out->kind, out->id);
			if (strcmp(want, ref) != 0) {
				inv_object_clear(out);
				api_respond_error(x->req, 404, "no inventory object \"%s\"", ref);
				return false;
			}
		}
	}
	if (r == -ENOENT) {
		api_respond_error(x->req, 404, "no inventory object \"%s\"", ref);
		return false;
	}
	if (r < 0) {
		creq_fail(x, err);
		return false;
	}
	int can = creq_visible(x, out->id);
	if (can == 0)
		api_respond_error(x->req, 404, "no inventory object \"%s\"", ref);
	if (can <= 0) {
		inv_object_clear(out);
		return false;
	}
	return true;
}

json_t *inv_object_json(const struct inv_object *o)
{
	_cleanup_free_ char *id = moref_of(o->kind, o->id);
	json_t *j = json_pack("{s:s, s:s, s:s}", "id", id, "kind", inv_kind_name(o->kind), "name",
			      o->name);
	if (o->parent_id) {
		/* The parent's kind is not at hand; its number is, and "N" resolves as well. */
		json_object_set_new(j, "parent_id", json_integer(o->parent_id));
	}
	if (o->uuid)
		json_object_set_new(j, "uuid", json_string(o->uuid));
	if (o->host_id) {
		_cleanup_free_ char *h = moref_of(INV_KIND_HOST, o->host_id);
		json_object_set_new(j, "host", json_string(h));
	}
	if (o->pool_id) {
		_cleanup_free_ char *p = moref_of(INV_KIND_RESOURCE_POOL, o->pool_id);
		json_object_set_new(j, "resource_pool", json_string(p));
	}
	if (o->is_system)
		json_object_set_new(j, "system", json_true());
	json_error_t jerr;
	json_t *props = json_loads(o->properties ? o->properties : "{}", 0, &jerr);
	if (json_is_object(props))
		json_object_set_new(j, "properties", props);
	else
		json_decref(props);
	char t[32];
	time_format_iso((uint64_t)o->modified_ms, t);
	json_object_set_new(j, "modified", json_string(t));
	json_object_set_new(j, "version", json_integer(o->version));
	return j;
}
