/* SPDX-License-Identifier: Apache-2.0 */
/* Resource pools: allocations and admission up the pool tree (pools.h). */
#include "center/pools.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "center/db/db.h"
#include "center/db/inventory.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

#define MAX_DEPTH 64

void pool_alloc_default(struct pool_alloc *a)
{
	*a = (struct pool_alloc){
		.cpu_limit_mhz = -1,
		.mem_limit_mib = -1,
		.cpu_shares = 4000,
		.mem_shares = 163840,
		.cpu_expandable = true,
		.mem_expandable = true,
	};
	strcpy(a->cpu_shares_level, "normal");
	strcpy(a->mem_shares_level, "normal");
}

/* vSphere's pool shares for low/normal/high: CPU 2000/4000/8000, memory 81920/163840/327680. */
static int shares_from_json(const json_t *v, const char *what, int64_t base, char level[8],
			    int64_t *shares, struct vr_error **err)
{
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);
		if (n < 1 || n > 1000000)
			return vr_error_set(err, EINVAL, "%s shares %lld are out of range 1..1000000",
					    what, (long long)n);
		strcpy(level, "custom");
		*shares = n;
		return 0;
	}
	const char *s = json_string_value(v);
	static const struct {
		const char *name;
		int mult;
	} levels[] = {{"low", 1}, {"normal", 2}, {"high", 4}};
	for (size_t i = 0; s && i < ARRAY_SIZE(levels); i++)
		if (strcmp(s, levels[i].name) == 0) {
			strcpy(level, levels[i].name);
			*shares = base * levels[i].mult;
			return 0;
		}
	return vr_error_set(err, EINVAL,
			    "%s shares must be \"low\", \"normal\", \"high\" or a number 1..1000000",
			    what);
}

static int side_from_json(const json_t *j, const char *what, int64_t *res, int64_t *limit,
			  char level[8], int64_t *shares, bool *expandable, int64_t share_base,
			  const char *res_key, const char *limit_key, struct vr_error **err)
{
	const struct json_field fields[] = {
		{res_key, JSON_INTEGER, false, 0, 1ll << 40},
		{limit_key, JSON_INTEGER, false, -1, 1ll << 40},
		{"shares", JSON_NULL, false, 0, 0},
		{"expandable", JSON_TRUE, false, 0, 0},
	};
	int r = json_check_object(j, fields, ARRAY_SIZE(fields), what, err);
	if (r < 0)
		return r;
	*res = json_get_int(j, res_key, *res);
	*limit = json_get_int(j, limit_key, *limit);
	*expandable = json_get_bool(j, "expandable", *expandable);
	json_t *sh = json_object_get(j, "shares");
	if (sh && (r = shares_from_json(sh, what, share_base, level, shares, err)) < 0)
		return r;
	if (*limit != -1 && *limit < *res)
		return vr_error_set(err, EINVAL, "%s limit %lld is below its reservation %lld", what,
				    (long long)*limit, (long long)*res);
	return 0;
}

int pool_alloc_from_json(const json_t *j, struct pool_alloc *a, struct vr_error **err)
{
	static const struct json_field fields[] = {
		{"cpu", JSON_OBJECT, false, 0, 0},
		{"memory", JSON_OBJECT, false, 0, 0},
	};
	int r = json_check_object(j, fields, ARRAY_SIZE(fields), "allocation", err);
	json_t *cpu = json_object_get(j, "cpu"), *mem = json_object_get(j, "memory");
	if (r == 0 && cpu)
		r = side_from_json(cpu, "CPU", &a->cpu_reservation_mhz, &a->cpu_limit_mhz,
				   a->cpu_shares_level, &a->cpu_shares, &a->cpu_expandable, 2000,
				   "reservation_mhz", "limit_mhz", err);
	if (r == 0 && mem)
		r = side_from_json(mem, "memory", &a->mem_reservation_mib, &a->mem_limit_mib,
				   a->mem_shares_level, &a->mem_shares, &a->mem_expandable, 81920,
				   "reservation_mib", "limit_mib", err);
	return r;
}

json_t *pool_alloc_to_json(const struct pool_alloc *a)
{
	return json_pack("{s:{s:I, s:I, s:s, s:I, s:b}, s:{s:I, s:I, s:s, s:I, s:b}}", "cpu",
			 "reservation_mhz", (json_int_t)a->cpu_reservation_mhz, "limit_mhz",
			 (json_int_t)a->cpu_limit_mhz, "shares_level", a->cpu_shares_level, "shares",
			 (json_int_t)a->cpu_shares, "expandable", a->cpu_expandable, "memory",
			 "reservation_mib", (json_int_t)a->mem_reservation_mib, "limit_mib",
			 (json_int_t)a->mem_limit_mib, "shares_level", a->mem_shares_level, "shares",
			 (json_int_t)a->mem_shares, "expandable", a->mem_expandable);
}

int pool_alloc_get(struct db *db, int64_t pool_id, struct pool_alloc *out, struct vr_error **err)
{
	pool_alloc_default(out);
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read a resource pool's allocation",
			   "SELECT cpu_reservation_mhz, cpu_limit_mhz, cpu_shares_level, cpu_shares,"
			   " cpu_expandable, mem_reservation_mb, mem_limit_mb, mem_shares_level,"
			   " mem_shares, mem_expandable FROM resource_allocation WHERE object_id = $1",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, pool_id);
	r = db_step(st, err);
	if (r <= 0)
		return r;
	out->cpu_reservation_mhz = db_column_int64(st, 0);
	out->cpu_limit_mhz = db_column_int64(st, 1);
	snprintf(out->cpu_shares_level, sizeof(out->cpu_shares_level), "%s",
		 db_column_text(st, 2) ? db_column_text(st, 2) : "normal");
	out->cpu_shares = db_column_int64(st, 3);
	out->cpu_expandable = db_column_bool(st, 4);
	out->mem_reservation_mib = db_column_int64(st, 5);
	out->mem_limit_mib = db_column_int64(st, 6);
	snprintf(out->mem_shares_level, sizeof(out->mem_shares_level), "%s",
		 db_column_text(st, 7) ? db_column_text(st, 7) : "normal");
	out->mem_shares = db_column_int64(st, 8);
	out->mem_expandable = db_column_bool(st, 9);
	return 0;
}

int pool_alloc_set(struct db *db, int64_t pool_id, const struct pool_alloc *a,
		   struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "write a resource pool's allocation",
			   "INSERT INTO resource_allocation (object_id, cpu_reservation_mhz,"
			   " cpu_limit_mhz, cpu_shares_level, cpu_shares, cpu_expandable,"
			   " mem_reservation_mb, mem_limit_mb, mem_shares_level, mem_shares,"
			   " mem_expandable) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
			   " ON CONFLICT (object_id) DO UPDATE SET cpu_reservation_mhz = $2,"
			   " cpu_limit_mhz = $3, cpu_shares_level = $4, cpu_shares = $5,"
			   " cpu_expandable = $6, mem_reservation_mb = $7, mem_limit_mb = $8,"
			   " mem_shares_level = $9, mem_shares = $10, mem_expandable = $11",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, pool_id);
	db_bind_int64(st, 2, a->cpu_reservation_mhz);
	db_bind_int64(st, 3, a->cpu_limit_mhz);
	db_bind_text(st, 4, a->cpu_shares_level);
	db_bind_int64(st, 5, a->cpu_shares);
	db_bind_bool(st, 6, a->cpu_expandable);
	db_bind_int64(st, 7, a->mem_reservation_mib);
	db_bind_int64(st, 8, a->mem_limit_mib);
	db_bind_text(st, 9, a->mem_shares_level);
	db_bind_int64(st, 10, a->mem_shares);
	db_bind_bool(st, 11, a->mem_expandable);
	r = db_step(st, err);
	if (r < 0)
		return r;
	inventory_touch(); /* the hosts mirror allocations too (poolsync.c) */
	return 0;
}

/* ---- pending power-ons ---- */

struct pending {
	int64_t vm_id, pool_id, cpu, mem;
};

/* Recursive: admission walks the tree, reading the pending list on the way. */
static pthread_mutex_t admission_lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static struct pending *pendings;
static size_t n_pending;

void pool_poweron_done(int64_t vm_id)
{
	pthread_mutex_lock(&admission_lock);
	for (size_t i = 0; i < n_pending; i++)
		if (pendings[i].vm_id == vm_id) {
			pendings[i] = pendings[--n_pending];
			break;
		}
	pthread_mutex_unlock(&admission_lock);
}

/* ---- usage ---- */

struct demand {
	int64_t cpu, mem;
};

/* A VM's reservation, from the "resources" its host reported. */
static struct demand vm_reservation(const struct inv_object *vm)
{
	json_error_t jerr;
	json_t *p = json_loads(vm->properties ? vm->properties : "{}", 0, &jerr);
	json_t *res = json_object_get(p, "resources");
	struct demand d = {
		json_get_int(json_object_get(res, "cpu"), "reservation_mhz", 0),
		json_get_int(json_object_get(res, "memory"), "reservation_mib", 0),
	};
	json_decref(p);
	return d;
}

static bool vm_powered_on(const struct inv_object *vm)
{
	return vm->properties && strstr(vm->properties, "\"power_state\":\"poweredOn\"");
}

static int list_in_pool(struct db *db, int64_t pool_id, struct inv_list *out,
			struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "list the VMs of a resource pool",
			   "SELECT id FROM inventory_object WHERE pool_id = $1 ORDER BY id", &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, pool_id);
	*out = (struct inv_list){0};
	size_t cap = 0;
	while ((r = db_step(st, err)) > 0) {
		if (out->n == cap) {
			cap = cap ? cap * 2 : 16;
			out->items = xrealloc(out->items, cap * sizeof(*out->items));
		}
		int64_t id = db_column_int64(st, 0);
		r = inventory_get(db, id, &out->items[out->n], err);
		if (r < 0)
			break;
		out->n++;
	}
	if (r < 0)
		inv_list_clear(out);
	return r < 0 ? r : 0;
}

/* What a pool has handed out to its children (VMs on, pending, child pools). */
static int pool_used(struct db *db, int64_t pool_id, int64_t exclude_child, int depth,
		     struct demand *used, struct vr_error **err)
{
	*used = (struct demand){0};
	if (depth > MAX_DEPTH)
		return vr_error_set(err, ELOOP, "resource pools nested too deep");
	struct inv_list vms = {0};
	int r = list_in_pool(db, pool_id, &vms, err);
	for (size_t i = 0; r == 0 && i < vms.n; i++) {
		if (!vm_powered_on(&vms.items[i]))
			continue;
		struct demand d = vm_reservation(&vms.items[i]);
		used->cpu += d.cpu;
		used->mem += d.mem;
	}
	inv_list_clear(&vms);
	if (r < 0)
		return r;
	pthread_mutex_lock(&admission_lock);
	for (size_t i = 0; i < n_pending; i++)
		if (pendings[i].pool_id == pool_id) {
			used->cpu += pendings[i].cpu;
			used->mem += pendings[i].mem;
		}
	pthread_mutex_unlock(&admission_lock);
	struct inv_list kids = {0};
	r = inventory_list_children(db, pool_id, &kids, err);
	for (size_t i = 0; r == 0 && i < kids.n; i++) {
		if (kids.items[i].kind != INV_KIND_RESOURCE_POOL || kids.items[i].id == exclude_child)
			continue;
		struct pool_alloc a;
		struct demand u;
		r = pool_alloc_get(db, kids.items[i].id, &a, err);
		if (r == 0)
			r = pool_used(db, kids.items[i].id, 0, depth + 1, &u, err);
		if (r < 0)
			break;
		used->cpu += a.cpu_reservation_mhz > u.cpu ? a.cpu_reservation_mhz : u.cpu;
		used->mem += a.mem_reservation_mib > u.mem ? a.mem_reservation_mib : u.mem;
	}
	inv_list_clear(&kids);
	return r;
}

int pool_root_of(struct db *db, int64_t owner_id, int64_t *pool_id, struct vr_error **err)
{
	struct inv_object o = {0};
	struct vr_error *e = NULL;
	int r = inventory_lookup(db, owner_id, "Resources", &o, &e);
	*pool_id = r == 0 && o.kind == INV_KIND_RESOURCE_POOL ? o.id : 0;
	inv_object_clear(&o);
	if (r == -ENOENT) {
		vr_error_free(e);
		return 0;
	}
	if (r < 0)
		*err = e;
	return r;
}

/* A root pool's capacity: what its connected hosts can give. */
static int root_capacity(struct db *db, const struct inv_object *owner, struct demand *cap,
			 struct vr_error **err)
{
	*cap = (struct demand){0};
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "sum the capacity of a cluster's connected hosts",
			   "SELECT o.properties FROM inventory_object o JOIN host_connection c"
			   " ON c.host_id = o.id WHERE c.state = 'connected'"
			   " AND (o.id = $1 OR (o.parent_id = $1 AND o.kind = 'host'))",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, owner->id);
	while ((r = db_step(st, err)) > 0) {
		json_error_t jerr;
		json_t *p = json_loads(db_column_text(st, 0), 0, &jerr);
		json_t *c = json_object_get(p, "capacity");
		cap->cpu += json_get_int(c, "cpu_mhz", 0);
		cap->mem += json_get_int(c, "memory_mib", 0);
		json_decref(p);
	}
	return r;
}

struct pool_view {
	struct inv_object obj;
	struct pool_alloc alloc;
	bool root;
	struct demand capacity; /* root only */
};

static int pool_view(struct db *db, int64_t pool_id, struct pool_view *v, struct vr_error **err)
{
	*v = (struct pool_view){0};
	int r = inventory_get(db, pool_id, &v->obj, err);
	if (r < 0)
		return r;
	if (v->obj.kind != INV_KIND_RESOURCE_POOL)
		return vr_error_set(err, EINVAL, "\"%s\" is not a resource pool", v->obj.name);
	struct inv_object parent = {0};
	r = inventory_get(db, v->obj.parent_id, &parent, err);
	if (r < 0)
		return r;
	v->root = parent.kind == INV_KIND_CLUSTER || parent.kind == INV_KIND_HOST;
	if (v->root) {
		pool_alloc_default(&v->alloc);
		r = root_capacity(db, &parent, &v->capacity, err);
		v->alloc.cpu_reservation_mhz = v->capacity.cpu;
		v->alloc.mem_reservation_mib = v->capacity.mem;
		v->alloc.cpu_expandable = v->alloc.mem_expandable = false;
	} else {
		r = pool_alloc_get(db, pool_id, &v->alloc, err);
	}
	inv_object_clear(&parent);
	return r;
}

static int admit(struct db *db, int64_t pool_id, struct demand need, int64_t exclude_child,
		 int depth, struct vr_error **err)
{
	if (depth > MAX_DEPTH)
		return vr_error_set(err, ELOOP, "resource pools nested too deep");
	struct pool_view v;
	struct demand used;
	int r = pool_view(db, pool_id, &v, err);
	if (r == 0)
		r = pool_used(db, pool_id, exclude_child, 0, &used, err);
	if (r < 0) {
		inv_object_clear(&v.obj);
		return r;
	}
	struct demand shortfall = {0};
	static const char *const names[] = {"CPU", "memory"};
	static const char *const units[] = {"MHz", "MiB"};
	int64_t needs[] = {need.cpu, need.mem}, usedv[] = {used.cpu, used.mem},
		res[] = {v.alloc.cpu_reservation_mhz, v.alloc.mem_reservation_mib},
		lim[] = {v.alloc.cpu_limit_mhz, v.alloc.mem_limit_mib};
	bool exp[] = {v.alloc.cpu_expandable, v.alloc.mem_expandable};
	int64_t *short_of[] = {&shortfall.cpu, &shortfall.mem};
	for (int k = 0; k < 2 && r == 0; k++) {
		if (needs[k] <= 0)
			continue;
		if (lim[k] >= 0 && usedv[k] + needs[k] > lim[k]) {
			r = vr_error_set(err, EBUSY,
					 "resource pool \"%s\" cannot give %lld %s of %s: its limit is "
					 "%lld %s and %lld %s are already reserved",
					 v.obj.name, (long long)needs[k], units[k], names[k],
					 (long long)lim[k], units[k], (long long)usedv[k], units[k]);
			break;
		}
		int64_t free_ = res[k] - usedv[k];
		if (free_ >= needs[k])
			continue;
		if (!exp[k] || v.root) {
			r = vr_error_set(err, EBUSY,
					 "resource pool \"%s\" has %lld %s of %s unreserved, %lld %s are "
					 "needed%s",
					 v.obj.name, (long long)(free_ > 0 ? free_ : 0), units[k],
					 names[k], (long long)needs[k], units[k],
					 v.root ? " (all its hosts can give)"
						: " and its reservation is not expandable");
			break;
		}
		*short_of[k] = needs[k] - (free_ > 0 ? free_ : 0);
	}
	int64_t parent = v.obj.parent_id;
	inv_object_clear(&v.obj);
	if (r < 0)
		return r;
	if (shortfall.cpu > 0 || shortfall.mem > 0)
		return admit(db, parent, shortfall, 0, depth + 1, err);
	return 0;
}

int pool_admit(struct db *db, int64_t pool_id, int64_t cpu_mhz, int64_t mem_mib,
	       int64_t exclude_child, struct vr_error **err)
{
	pthread_mutex_lock(&admission_lock);
	int r = admit(db, pool_id, (struct demand){cpu_mhz, mem_mib}, exclude_child, 0, err);
	pthread_mutex_unlock(&admission_lock);
	return r;
}

int pool_poweron_begin(struct db *db, int64_t vm_id, struct vr_error **err)
{
	struct inv_object vm = {0};
	int r = inventory_get(db, vm_id, &vm, err);
	if (r < 0)
		return r;
	struct demand d = vm_reservation(&vm);
	int64_t pool = vm.pool_id;
	inv_object_clear(&vm);
	if (!pool || (d.cpu <= 0 && d.mem <= 0))
		return 0;
	pthread_mutex_lock(&admission_lock);
	r = admit(db, pool, d, 0, 0, err);
	if (r == 0) {
		pendings = xrealloc(pendings, (n_pending + 1) * sizeof(*pendings));
		pendings[n_pending++] = (struct pending){vm_id, pool, d.cpu, d.mem};
	}
	pthread_mutex_unlock(&admission_lock);
	return r;
}

int pool_usage_json(struct db *db, int64_t pool_id, json_t **out, struct vr_error **err)
{
	struct pool_view v;
	struct demand used;
	int r = pool_view(db, pool_id, &v, err);
	if (r == 0)
		r = pool_used(db, pool_id, 0, 0, &used, err);
	if (r == 0) {
		json_t *alloc = pool_alloc_to_json(&v.alloc);
		*out = json_pack("{s:b, s:o, s:{s:{s:I, s:I}, s:{s:I, s:I}}}", "root", v.root,
				 "allocation", alloc, "usage", "cpu", "reserved_for_children_mhz",
				 (json_int_t)used.cpu, "unreserved_mhz",
				 (json_int_t)(v.alloc.cpu_reservation_mhz - used.cpu), "memory",
				 "reserved_for_children_mib", (json_int_t)used.mem, "unreserved_mib",
				 (json_int_t)(v.alloc.mem_reservation_mib - used.mem));
	}
	inv_object_clear(&v.obj);
	return r;
}
