/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource pools on the hosts (vSphere's per-host mirror of the pool tree).
 *
 * Center decides admission with the whole tree; a host enforces, with
 * nested cgroups, the part of it that holds its own VMs: every pool on the
 * way from one of its VMs up to (not including) the cluster's or host's
 * root pool "Resources", and which VM sits in which pool.  Each host's
 * monitor sends that set (PUT /api/v1/host/resource-pools, which replaces
 * the host's previous set) when it differs from what it sent last: after
 * every full resync, and whenever the inventory's tree generation moved
 * (inventory_generation(): pools created, moved, changed, VMs placed).
 * A power-on through center sends it first too (chosts_pools_push()), so
 * a VM placed in a pool a moment ago starts in that pool's group.  A host whose hostd has no such endpoint (404) is left alone until it
 * restarts.
 */
#include <errno.h>
#include <string.h>

#include "api/client.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/hosts_priv.h"
#include "center/pools.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

/* Deeper than any tree center lets anyone build; a guard against a damaged one. */
#define POOL_DEPTH_MAX 64

/* The pool's entry for the host: its place and its allocation. */
static int pool_entry(struct db *db, const struct inv_object *p, int64_t parent_pool,
		      json_t **out, struct vr_error **err)
{
	struct pool_alloc a;
	int r = pool_alloc_get(db, p->id, &a, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *id = moref_of(INV_KIND_RESOURCE_POOL, p->id);
	_cleanup_free_ char *parent =
		parent_pool ? moref_of(INV_KIND_RESOURCE_POOL, parent_pool) : NULL;
	*out = json_pack("{s:s, s:s?, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "id", id, "parent",
			 parent, "name", p->name, "cpu_shares", (json_int_t)a.cpu_shares,
			 "cpu_limit_mhz", (json_int_t)a.cpu_limit_mhz, "cpu_reservation_mhz",
			 (json_int_t)a.cpu_reservation_mhz, "mem_shares", (json_int_t)a.mem_shares,
			 "mem_limit_mib", (json_int_t)a.mem_limit_mib, "mem_reservation_mib",
			 (json_int_t)a.mem_reservation_mib);
	return 0;
}

/*
 * Adds the pools from pool_id up to its root pool (exclusive) that are not
 * in *seen yet; *vm_pool: pool_id when it is not a root pool (0 when it
 * is).  roots remembers root pools, seen the pools added, so VMs sharing
 * a pool cost no second walk.
 */
static int add_chain(struct db *db, int64_t pool_id, json_t *pools, json_t *seen, json_t *roots,
		     int64_t *vm_pool, struct vr_error **err)
{
	struct inv_object chain[POOL_DEPTH_MAX + 1];
	size_t n = 0, m = 0;
	int64_t top_parent = 0; /* the parent of chain[m - 1]; 0: the root pool */
	bool known = false, ended = false;
	int r = 0;
	*vm_pool = 0;
	for (int64_t id = pool_id; !ended;) {
		char key[24];
		snprintf(key, sizeof(key), "%lld", (long long)id);
		if (json_object_get(roots, key)) { /* chain[0 .. n - 1] hang below it */
			m = n;
			break;
		}
		if (json_object_get(seen, key)) { /* added with everything above it */
			m = n;
			top_parent = id;
			known = true;
			break;
		}
		if (!id || n == ARRAY_SIZE(chain)) {
			r = vr_error_set(err, ELOOP, "resource pool %lld: no cluster or host above it",
					 (long long)pool_id);
			goto out;
		}
		r = inventory_get(db, id, &chain[n], err);
		if (r < 0)
			goto out;
		id = chain[n].parent_id;
		if (chain[n++].kind != INV_KIND_RESOURCE_POOL) {
			/* chain[n - 2] is the root pool. */
			if (n < 2) {
				r = vr_error_set(err, EINVAL, "object %lld is not a resource pool",
						 (long long)pool_id);
				goto out;
			}
			snprintf(key, sizeof(key), "%lld", (long long)chain[n - 2].id);
			json_object_set_new(roots, key, json_true());
			m = n - 2;
			ended = true;
		}
	}
	for (size_t i = 0; i < m; i++) {
		json_t *e = NULL;
		r = pool_entry(db, &chain[i], i + 1 < m ? chain[i + 1].id : top_parent, &e, err);
		if (r < 0)
			goto out;
		json_array_append_new(pools, e);
		char key[24];
		snprintf(key, sizeof(key), "%lld", (long long)chain[i].id);
		json_object_set_new(seen, key, json_true());
	}
	if (m > 0 || known)
		*vm_pool = pool_id;
out:
	for (size_t i = 0; i < n; i++)
		inv_object_clear(&chain[i]);
	return r;
}

int pool_tree_for_host(struct db *db, int64_t host_id, json_t **out, struct vr_error **err)
{
	struct inv_list l = {0};
	int r = inventory_list_on_host(db, host_id, &l, err);
	if (r < 0)
		return r;
	json_t *pools = json_array(), *vms = json_object(), *seen = json_object();
	json_t *roots = json_object();
	for (size_t i = 0; i < l.n && r == 0; i++) {
		const struct inv_object *vm = &l.items[i];
		if (vm->kind != INV_KIND_VM || !vm->pool_id || !vm->uuid)
			continue;
		int64_t vm_pool = 0;
		r = add_chain(db, vm->pool_id, pools, seen, roots, &vm_pool, err);
		if (r == 0 && vm_pool) {
			_cleanup_free_ char *id = moref_of(INV_KIND_RESOURCE_POOL, vm_pool);
			json_object_set_new(vms, vm->uuid, json_string(id));
		}
	}
	inv_list_clear(&l);
	json_decref(seen);
	json_decref(roots);
	if (r < 0) {
		json_decref(pools);
		json_decref(vms);
		return r;
	}
	*out = json_pack("{s:o, s:o}", "pools", pools, "vms", vms);
	return 0;
}

static void poolsync_locked(struct chosts *hs, struct chost *h, struct api_client *cl);

void poolsync_host(struct chosts *hs, struct chost *h, struct api_client *cl)
{
	pthread_mutex_lock(&h->pools_lock);
	poolsync_locked(hs, h, cl);
	pthread_mutex_unlock(&h->pools_lock);
}

static void poolsync_locked(struct chosts *hs, struct chost *h, struct api_client *cl)
{
	struct center *c = hs->c;
	uint64_t gen = inventory_generation(); /* before reading the tree */
	_cleanup_error_ struct vr_error *err = NULL;
	struct db *db = dbpool_get(c->pool, &err);
	if (!db) {
		log_info("host \"%s\": resource pools not sent: %s", h->name, vr_error_msg(err));
		return;
	}
	json_t *body = NULL;
	int r = pool_tree_for_host(db, h->id, &body, &err);
	if (r < 0) {
		dbpool_put(c->pool, db);
		log_warn("host \"%s\": cannot work out its resource pools: %s", h->name,
			 vr_error_msg(err));
		return;
	}
	__atomic_store_n(&h->pools_gen, gen, __ATOMIC_RELAXED);
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		abort();
	if (h->pools_sent && strcmp(h->pools_sent, text) == 0) {
		free(text);
		json_decref(body);
		dbpool_put(c->pool, db);
		return;
	}
	long status = 0;
	r = chost_request(hs, h, cl, "PUT", "/api/v1/host/resource-pools", body, &status, NULL,
			  &err);
	json_decref(body);
	if (r == 0) {
		free(h->pools_sent);
		h->pools_sent = text;
		free(h->pools_error);
		h->pools_error = NULL;
		log_debug("host \"%s\": resource pools sent", h->name);
	} else if (status == 404) {
		/* An older hostd: nothing to enforce them with; not asked again until it restarts. */
		free(h->pools_sent);
		h->pools_sent = text;
		log_info("host \"%s\" cannot enforce resource pools (its hostd has no "
			 "/api/v1/host/resource-pools); center's admission still applies",
			 h->name);
	} else if (r == -ECANCELED) {
		free(text); /* center is stopping: sent again after the next start */
	} else {
		free(text);
		/* Sent again at the next change or resync; told once per distinct reason. */
		const char *msg = vr_error_msg(err);
		if (!h->pools_error || strcmp(h->pools_error, msg) != 0) {
			center_post_event(c, db, "HostResourcePoolsNotApplied", "warning", h->id,
					  h->name, NULL, 0,
					  "host %s has not applied its resource pools: %s", h->name,
					  msg);
			free(h->pools_error);
			h->pools_error = xstrdup(msg);
		}
	}
	dbpool_put(c->pool, db);
}
