/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Initial placement of a new VM: among the connected hosts of the target
 * (a cluster, a resource pool's cluster or host, or one host), those that
 * reach the VM's datastore and every network it names and whose free
 * capacity (after their own reserve and the reservations already admitted)
 * covers the VM's reservations; of those, the one with the most memory
 * headroom (capacity minus the memory of its running VMs), then the one
 * with fewer VMs.  Each host that drops out is named with its reason, so a
 * refusal says why no host fits.
 */
#include "center/placement.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/pools.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

/* The cluster or host a pool belongs to; a cluster or host is its own. */
static int owner_of(struct db *db, const struct inv_object *target, int64_t *owner,
		    int64_t *pool, struct vr_error **err)
{
	*owner = 0;
	*pool = 0;
	if (target->kind == INV_KIND_CLUSTER) {
		*owner = target->id;
		return pool_root_of(db, target->id, pool, err);
	}
	if (target->kind == INV_KIND_HOST) {
		/* A host in a cluster puts its VMs in the cluster's root pool. */
		struct inv_object parent = {0};
		int r = inventory_get(db, target->parent_id, &parent, err);
		*owner = target->id;
		if (r == 0)
			r = pool_root_of(db, parent.kind == INV_KIND_CLUSTER ? parent.id : target->id,
					 pool, err);
		inv_object_clear(&parent);
		return r;
	}
	if (target->kind != INV_KIND_RESOURCE_POOL)
		return vr_error_set(err, EINVAL,
				    "a VM is placed in a cluster, a resource pool or a host, not %s \"%s\"",
				    inv_kind_name(target->kind), target->name);
	*pool = target->id;
	struct inv_list up = {0};
	int r = inventory_ancestors(db, target->id, &up, err);
	for (size_t i = 0; r == 0 && i < up.n; i++)
		if (up.items[i].kind == INV_KIND_CLUSTER || up.items[i].kind == INV_KIND_HOST) {
			*owner = up.items[i].id;
			break;
		}
	inv_list_clear(&up);
	if (r == 0 && !*owner)
		r = vr_error_set(err, EINVAL, "resource pool \"%s\" is in no cluster or host",
				 target->name);
	return r;
}

static bool linked(struct db *db, int64_t host, const char *relation, const char *name)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	if (db_prepare(db, "does a host reach a datastore or network",
		       "SELECT 1 FROM inventory_link l JOIN inventory_object t ON t.id = l.target_id"
		       " WHERE l.object_id = $1 AND l.relation = $2 AND t.name = $3",
		       &st, NULL) < 0)
		return false;
	db_bind_int64(st, 1, host);
	db_bind_text(st, 2, relation);
	db_bind_text(st, 3, name);
	return db_step(st, NULL) > 0;
}

int placement_link_target(struct db *db, int64_t host, const char *relation, const char *name,
			  int64_t *id, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "find what a host reaches by name",
			   "SELECT t.id FROM inventory_link l JOIN inventory_object t"
			   " ON t.id = l.target_id WHERE l.object_id = $1 AND l.relation = $2"
			   " AND t.name = $3",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, host);
	db_bind_text(st, 2, relation);
	db_bind_text(st, 3, name);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, ENOENT, "the host reaches no %s \"%s\"",
				    strcmp(relation, "host_network") == 0 ? "network" : "datastore",
				    name);
	*id = db_column_int64(st, 0);
	return 0;
}

int placement_roomiest_datastore(struct db *db, int64_t host, char *out, size_t size,
				 struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "list the datastores a host reaches",
			   "SELECT t.name, t.properties FROM inventory_link l JOIN inventory_object t"
			   " ON t.id = l.target_id WHERE l.object_id = $1"
			   " AND l.relation = 'host_datastore' ORDER BY t.name",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, host);
	int64_t best = -1;
	while ((r = db_step(st, err)) > 0) {
		json_error_t jerr;
		json_t *p = json_loads(db_column_text(st, 1), 0, &jerr);
		int64_t free_bytes = json_get_int(p, "free_bytes", 0);
		json_decref(p);
		const char *name = db_column_text(st, 0);
		if (free_bytes > best && strlen(name) < size) {
			best = free_bytes;
			snprintf(out, size, "%s", name);
		}
	}
	if (r < 0)
		return r;
	if (best < 0)
		return vr_error_set(err, ENOENT, "the host reaches no datastore");
	return 0;
}

struct host_load {
	int64_t mem_running_mib, cpu_reserved_mhz, mem_reserved_mib, vms;
};

static int load_of(struct db *db, int64_t host, struct host_load *l, struct vr_error **err)
{
	*l = (struct host_load){0};
	struct inv_list vms = {0};
	int r = inventory_list_on_host(db, host, &vms, err);
	for (size_t i = 0; r == 0 && i < vms.n; i++) {
		json_error_t jerr;
		json_t *p = json_loads(vms.items[i].properties, 0, &jerr);
		l->vms++;
		if (strcmp(json_get_string(p, "power_state", ""), "poweredOn") == 0) {
			json_t *res = json_object_get(p, "resources");
			l->mem_running_mib += json_get_int(p, "memory_mib", 0);
			l->cpu_reserved_mhz += json_get_int(json_object_get(res, "cpu"), "reservation_mhz", 0);
			l->mem_reserved_mib +=
				json_get_int(json_object_get(res, "memory"), "reservation_mib", 0);
		}
		json_decref(p);
	}
	inv_list_clear(&vms);
	return r;
}

int placement_choose(struct db *db, const struct placement_request *req,
		     struct placement_result *out, struct vr_error **err)
{
	*out = (struct placement_result){0};
	struct inv_object target = {0};
	int r = inventory_get(db, req->target_id, &target, err);
	int64_t owner = 0;
	if (r == 0)
		r = owner_of(db, &target, &owner, &out->pool_id, err);
	inv_object_clear(&target);
	if (r < 0)
		return r;
	/* The candidates: the owner itself (a host) or the hosts of the cluster. */
	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "list the hosts a VM may be placed on",
		       "SELECT o.id, o.name, o.properties, c.state FROM inventory_object o"
		       " JOIN host_connection c ON c.host_id = o.id"
		       " WHERE o.id = $1 OR (o.parent_id = $1 AND o.kind = 'host') ORDER BY o.name",
		       &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, owner);
	char **why = NULL;
	int64_t best_headroom = -1, best_vms = 0;
	size_t seen = 0;
	while ((r = db_step(st, err)) > 0) {
		seen++;
		int64_t id = db_column_int64(st, 0);
		const char *name = db_column_text(st, 1);
		if (strcmp(db_column_text(st, 3), "connected") != 0) {
			strv_pushf(&why, "%s: %s", name, db_column_text(st, 3));
			continue;
		}
		if (req->datastore && !linked(db, id, "host_datastore", req->datastore)) {
			strv_pushf(&why, "%s: no datastore \"%s\"", name, req->datastore);
			continue;
		}
		const char *missing = NULL;
		for (size_t k = 0; k < req->n_networks && !missing; k++)
			if (!linked(db, id, "host_network", req->networks[k]))
				missing = req->networks[k];
		if (missing) {
			strv_pushf(&why, "%s: no network \"%s\"", name, missing);
			continue;
		}
		json_error_t jerr;
		json_t *p = json_loads(db_column_text(st, 2), 0, &jerr);
		json_t *cap = json_object_get(p, "capacity");
		int64_t cap_mem = json_get_int(cap, "memory_mib", 0);
		int64_t cap_cpu = json_get_int(cap, "cpu_mhz", 0);
		if (!cap_mem)
			cap_mem = json_get_int(p, "memory_bytes", 0) >> 20;
		json_decref(p);
		struct host_load l;
		if ((r = load_of(db, id, &l, err)) < 0)
			break;
		if (req->mem_reservation_mib > cap_mem - l.mem_reserved_mib) {
			strv_pushf(&why, "%s: %lld MiB of memory left to reserve, %lld needed", name,
				   (long long)(cap_mem - l.mem_reserved_mib),
				   (long long)req->mem_reservation_mib);
			continue;
		}
		if (req->cpu_reservation_mhz > 0 && req->cpu_reservation_mhz > cap_cpu - l.cpu_reserved_mhz) {
			strv_pushf(&why, "%s: %lld MHz of CPU left to reserve, %lld needed", name,
				   (long long)(cap_cpu - l.cpu_reserved_mhz),
				   (long long)req->cpu_reservation_mhz);
			continue;
		}
		int64_t headroom = cap_mem - l.mem_running_mib;
		if (!out->host_id || headroom > best_headroom ||
		    (headroom == best_headroom && l.vms < best_vms)) {
			out->host_id = id;
			snprintf(out->host_name, sizeof(out->host_name), "%s", name);
			best_headroom = headroom;
			best_vms = l.vms;
		}
	}
	if (r >= 0 && !out->host_id) {
		_cleanup_free_ char *list = why ? strv_join(why, "; ") : xstrdup("none");
		r = vr_error_set(err, EBUSY, "no host can take the VM (%zu considered: %s)", seen,
				 seen ? list : "the target has no hosts");
	}
	strv_free(why);
	return r < 0 ? r : 0;
}
