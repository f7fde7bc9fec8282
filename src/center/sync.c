/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A host's state into center's inventory: the host's summary, its
 * datastores and port groups (shared by name within a datacenter, linked
 * to every host that has them) and its VMs (identified by their uuid,
 * hostd's VM id; placed in the datacenter's VM folder and the host's or
 * cluster's root resource pool when first seen; removed when the host no
 * longer has them).  Everything one host says is applied in one
 * transaction, so a reader sees the host before or after, never half.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/client.h"
#include "center/center.h"
#include "center/db/alarms.h"
#include "center/db/db.h"
#include "center/db/events.h"
#include "center/db/inventory.h"
#include "center/hosts_priv.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"

/* VM properties kept from the host's answer (the rest is per-request detail). */
static const char *const vm_keys[] = {
	"name", "datastore", "path", "power_state", "memory_mib", "vcpus", "guest_os",
	"template", "runtime", "last_error", "last_shutdown_reason", "invalid", "busy_task",
	"resources",
};

struct sync_ctx {
	struct chosts *hs;
	struct chost *h;
	int64_t dc, vm_folder, ds_folder, net_folder, pool;
	json_t *host_info, *vms, *datastores, *network;
	json_t *one_vm;	     /* refresh: the VM, or NULL when the host no longer has it */
	const char *vm_uuid; /* refresh */
	/* Power state changes seen, fed to the alarms after the commit. */
	json_t *power_changes;
	/* Datastore fill levels (percent), fed to the metric alarms after the commit. */
	json_t *ds_usage;
	uint64_t seq; /* this read's number (chost.read_seq) */
};

/* Numbers a read of the host's state, before it is sent. */
static uint64_t read_begin(struct chost *h)
{
	return __atomic_add_fetch(&h->read_seq, 1, __ATOMIC_SEQ_CST);
}

/* Under apply_lock: whether a refresh read after this one has written the VM. */
static bool vm_newer(const struct sync_ctx *s, const char *uuid)
{
	json_t *seq = uuid ? json_object_get(s->h->vm_seq, uuid) : NULL;
	return seq && (uint64_t)json_integer_value(seq) > s->seq;
}

int sync_delete_subtree(struct db *db, int64_t id, struct vr_error **err)
{
	struct inv_list kids = {0};
	int r = inventory_list_children(db, id, &kids, err);
	for (size_t i = 0; r == 0 && i < kids.n; i++)
		r = sync_delete_subtree(db, kids.items[i].id, err);
	inv_list_clear(&kids);
	return r < 0 ? r : inventory_delete(db, id, err);
}

static int child_id(struct db *db, int64_t parent, const char *name, int64_t *id,
		    struct vr_error **err)
{
	struct inv_object o = {0};
	int r = inventory_lookup(db, parent, name, &o, err);
	if (r == 0)
		*id = o.id;
	inv_object_clear(&o);
	return r;
}

/* The datacenter, its folders, and the root resource pool VMs of this host go to. */
static int locate(struct db *db, struct sync_ctx *s, struct vr_error **err)
{
	int r = inventory_datacenter_of(db, s->h->id, &s->dc, err);
	if (r == 0)
		r = child_id(db, s->dc, "vm", &s->vm_folder, err);
	if (r == 0)
		r = child_id(db, s->dc, "datastore", &s->ds_folder, err);
	if (r == 0)
		r = child_id(db, s->dc, "network", &s->net_folder, err);
	if (r < 0)
		return r;
	struct inv_object host = {0};
	r = inventory_get(db, s->h->id, &host, err);
	if (r < 0)
		return r;
	int64_t owner = host.parent_id;
	struct inv_object parent = {0};
	r = inventory_get(db, host.parent_id, &parent, err);
	if (r == 0 && parent.kind != INV_KIND_CLUSTER)
		owner = s->h->id;
	inv_object_clear(&parent);
	inv_object_clear(&host);
	if (r < 0)
		return r;
	struct vr_error *e = NULL;
	r = child_id(db, owner, "Resources", &s->pool, &e);
	if (r == -ENOENT) {
		vr_error_free(e);
		struct inv_create_spec ps = {
			.kind = INV_KIND_RESOURCE_POOL, .parent_id = owner, .name = "Resources"};
		return inventory_create(db, &ps, &s->pool, err);
	}
	if (r < 0)
		*err = e;
	return r;
}

/* The object called name under folder, created with props when missing, props refreshed. */
/*
 * The datastore or network called name in datacenter dc, wherever its
 * folders are (an administrator may file it in a subfolder): -ENOENT if
 * none.
 */
static int find_in_datacenter(struct db *db, enum inv_kind kind, int64_t dc, const char *name,
			      struct inv_object *out, struct vr_error **err)
{
	struct inv_list found = {0};
	int r = inventory_find_name(db, kind, name, 64, &found, err);
	size_t i, n = found.n;
	for (i = 0; r == 0 && i < n; i++) {
		int64_t in = 0;
		if ((r = inventory_datacenter_of(db, found.items[i].id, &in, err)) < 0)
			break;
		if (in == dc) {
			*out = found.items[i];
			found.items[i] = (struct inv_object){0};
			break;
		}
	}
	inv_list_clear(&found);
	if (r == 0 && i == n)
		r = -ENOENT;
	return r;
}

static int ensure_named(struct db *db, enum inv_kind kind, int64_t dc, int64_t folder,
			const char *name, json_t *props, int64_t *id, struct vr_error **err)
{
	_cleanup_free_ char *text = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS);
	struct inv_object o = {0};
	struct vr_error *e = NULL;
	int r = inventory_lookup(db, folder, name, &o, &e);
	if (r == -ENOENT) {
		vr_error_freep(&e);
		inv_object_clear(&o);
		r = find_in_datacenter(db, kind, dc, name, &o, &e);
	}
	if (r == -ENOENT) {
		vr_error_free(e);
		struct inv_create_spec cs = {
			.kind = kind, .parent_id = folder, .name = name, .properties = text};
		return inventory_create(db, &cs, id, err);
	}
	if (r < 0) {
		*err = e;
		return r;
	}
	*id = o.id;
	if (o.kind != kind)
		r = vr_error_set(err, EEXIST, "\"%s\" in the datacenter is a %s, not a %s", name,
				 inv_kind_name(o.kind), inv_kind_name(kind));
	else if (strcmp(o.properties, text) != 0)
		r = inventory_set_properties(db, o.id, text, err);
	inv_object_clear(&o);
	return r;
}

static int links_replace(struct db *db, int64_t object, const char *relation,
			 const int64_t *targets, size_t n, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *del = NULL, *ins = NULL;
	int r = db_prepare(db, "forget an object's links",
			   "DELETE FROM inventory_link WHERE object_id = $1 AND relation = $2", &del,
			   err);
	if (r < 0)
		return r;
	db_bind_int64(del, 1, object);
	db_bind_text(del, 2, relation);
	if ((r = db_step(del, err)) < 0)
		return r;
	if (n == 0)
		return 0;
	r = db_prepare(db, "link objects",
		       "INSERT INTO inventory_link (object_id, relation, target_id) VALUES ($1, $2, $3)"
		       " ON CONFLICT DO NOTHING",
		       &ins, err);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		db_bind_int64(ins, 1, object);
		db_bind_text(ins, 2, relation);
		db_bind_int64(ins, 3, targets[i]);
		r = db_step(ins, err);
		db_reset(ins);
	}
	return r < 0 ? r : 0;
}

static json_t *vm_props(json_t *vm)
{
	json_t *p = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(vm_keys); i++) {
		json_t *v = json_object_get(vm, vm_keys[i]);
		if (v)
			json_object_set(p, vm_keys[i], v);
	}
	return p;
}

/* A name free in the folder: the VM's own, else "name (2)", "name (3)", ... */
static int free_name(struct db *db, int64_t folder, const char *want, char **out,
		     struct vr_error **err)
{
	for (int i = 1; i < 1000; i++) {
		char *n = i == 1 ? xstrdup(want) : xasprintf("%.70s (%d)", want, i);
		struct inv_object o = {0};
		struct vr_error *e = NULL;
		int r = inventory_lookup(db, folder, n, &o, &e);
		inv_object_clear(&o);
		if (r == -ENOENT) {
			vr_error_free(e);
			*out = n;
			return 0;
		}
		free(n);
		if (r < 0) {
			*err = e;
			return r;
		}
	}
	return vr_error_set(err, EEXIST, "no free name for VM \"%s\"", want);
}

/* A printable inventory name for a VM: its display name, else its uuid. */
static char *vm_inventory_name(json_t *vm, const char *uuid)
{
	const char *n = json_get_string(vm, "name", NULL);
	if (!n || inventory_name_validate(n, NULL) < 0)
		return xstrdup(uuid);
	return xstrdup(n);
}

static int upsert_vm(struct db *db, struct sync_ctx *s, json_t *vm, struct vr_error **err)
{
	const char *uuid = json_get_string(vm, "id", NULL);
	if (!uuid || !uuid_is_valid(uuid))
		return 0; /* nothing to key it on; the host's own view stays authoritative */
	json_t *props = vm_props(vm);
	_cleanup_free_ char *text = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS);
	bool is_template = json_is_true(json_object_get(vm, "template"));
	enum inv_kind kind = is_template ? INV_KIND_TEMPLATE : INV_KIND_VM;
	_cleanup_free_ char *want = vm_inventory_name(vm, uuid);
	struct inv_object o = {0};
	struct vr_error *e = NULL;
	int r = inventory_find_uuid(db, uuid, &o, &e);
	int64_t vm_id = 0;
	if (r == -ENOENT) {
		vr_error_free(e);
		_cleanup_free_ char *name = NULL;
		r = free_name(db, s->vm_folder, want, &name, err);
		struct inv_create_spec cs = {
			.kind = kind,
			.parent_id = s->vm_folder,
			.name = name,
			.uuid = uuid,
			.host_id = s->h->id,
			.pool_id = is_template ? 0 : s->pool,
			.properties = text,
		};
		if (r == 0)
			r = inventory_create(db, &cs, &vm_id, err);
	} else if (r < 0) {
		*err = e;
	} else if (o.host_id && o.host_id != s->h->id) {
		/*
		 * Registered on two hosts (a shared datastore).  The inventory keeps the
		 * first; the host's file lock keeps it from running twice.
		 */
		log_warn("host \"%s\": VM %s (\"%s\") is also registered on host %lld; keeping "
			 "that one",
			 s->h->name, uuid, o.name, (long long)o.host_id);
		r = 0;
	} else {
		vm_id = o.id;
		json_error_t jerr;
		json_t *old = json_loads(o.properties, 0, &jerr);
		/* The list has no "resources"; keep what the last full read of the VM said. */
		if (!json_object_get(props, "resources") && json_object_get(old, "resources")) {
			json_object_set(props, "resources", json_object_get(old, "resources"));
			free(text);
			text = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS);
		}
		const char *was = json_get_string(old, "power_state", "");
		const char *now = json_get_string(vm, "power_state", "");
		if (strcmp(was, now) != 0) {
			char key[24];
			snprintf(key, sizeof(key), "%lld", (long long)vm_id);
			json_object_set_new(s->power_changes, key, json_string(now));
		}
		json_decref(old);
		if (strcmp(o.properties, text) != 0)
			r = inventory_set_properties(db, o.id, text, err);
		if (r == 0 && o.kind != kind)
			r = inventory_set_vm_kind(db, o.id, kind, err);
		if (r == 0 && !o.host_id)
			r = inventory_set_placement(db, o.id, s->h->id, is_template ? 0 : s->pool, err);
		if (r == 0 && strcmp(o.name, want) != 0 && o.parent_id == s->vm_folder) {
			/* Renamed on the host: follow, if the name is free. */
			struct inv_object clash = {0};
			struct vr_error *ce = NULL;
			if (inventory_lookup(db, o.parent_id, want, &clash, &ce) == -ENOENT)
				r = inventory_rename(db, o.id, want, err);
			vr_error_free(ce);
			inv_object_clear(&clash);
		}
	}
	inv_object_clear(&o);
	json_decref(props);
	if (r < 0 || !vm_id)
		return r;
	/* Its datastore. */
	const char *ds = json_get_string(vm, "datastore", NULL);
	int64_t ds_id = 0;
	if (ds) {
		struct inv_object d = {0};
		struct vr_error *de = NULL;
		if (inventory_lookup(db, s->ds_folder, ds, &d, &de) == 0)
			ds_id = d.id;
		vr_error_free(de);
		inv_object_clear(&d);
	}
	return links_replace(db, vm_id, "vm_datastore", &ds_id, ds_id ? 1 : 0, err);
}

static int apply_datastores(struct db *db, struct sync_ctx *s, struct vr_error **err)
{
	json_t *list = json_object_get(s->datastores, "datastores");
	size_t n = json_array_size(list), k = 0, i;
	int64_t *ids = xcalloc(n + 1, sizeof(*ids));
	json_t *d;
	int r = 0;
	json_array_foreach(list, i, d) {
		const char *name = json_get_string(d, "name", NULL);
		if (!name || inventory_name_validate(name, NULL) < 0)
			continue;
		json_t *props = json_deep_copy(d);
		json_object_del(props, "name");
		json_object_del(props, "vms");
		r = ensure_named(db, INV_KIND_DATASTORE, s->dc, s->ds_folder, name, props, &ids[k], err);
		json_decref(props);
		if (r < 0)
			break;
		int64_t cap = json_get_int(d, "capacity_bytes", 0), fr = json_get_int(d, "free_bytes", -1);
		if (cap > 0 && fr >= 0 && s->ds_usage) {
			char key[24];
			snprintf(key, sizeof(key), "%lld", (long long)ids[k]);
			json_object_set_new(s->ds_usage, key,
					    json_real(100.0 * (double)(cap - fr) / (double)cap));
		}
		k++;
	}
	if (r == 0)
		r = links_replace(db, s->h->id, "host_datastore", ids, k, err);
	free(ids);
	return r;
}

static int apply_networks(struct db *db, struct sync_ctx *s, struct vr_error **err)
{
	json_t *switches = json_object_get(s->network, "vswitches");
	size_t cap = 8, k = 0, i, j;
	int64_t *ids = xcalloc(cap, sizeof(*ids));
	json_t *sw, *pg;
	int r = 0;
	json_array_foreach(switches, i, sw) {
		json_array_foreach(json_object_get(sw, "portgroups"), j, pg) {
			const char *name = json_get_string(pg, "name", NULL);
			if (!name || inventory_name_validate(name, NULL) < 0)
				continue;
			json_t *props = json_pack("{s:O?, s:O?}", "vlan", json_object_get(pg, "vlan"),
						  "vswitch", json_object_get(sw, "name"));
			if (k == cap) {
				cap *= 2;
				ids = xrealloc(ids, cap * sizeof(*ids));
			}
			r = ensure_named(db, INV_KIND_NETWORK, s->dc, s->net_folder, name, props, &ids[k],
					 err);
			json_decref(props);
			if (r < 0)
				goto out;
			k++;
		}
	}
	r = links_replace(db, s->h->id, "host_network", ids, k, err);
out:
	free(ids);
	return r;
}

static int apply_host(struct db *db, struct sync_ctx *s, struct vr_error **err)
{
	struct inv_object host = {0};
	int r = inventory_get(db, s->h->id, &host, err);
	if (r < 0)
		return r;
	json_error_t jerr;
	json_t *props = json_loads(host.properties, 0, &jerr);
	if (!props)
		props = json_object();
	json_object_update(props, s->host_info);
	json_object_del(props, "id");
	json_object_set_new(props, "url", json_string(s->h->url));
	_cleanup_free_ char *text = json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(props);
	if (strcmp(text, host.properties) != 0)
		r = inventory_set_properties(db, host.id, text, err);
	inv_object_clear(&host);
	return r;
}

static int apply_full(struct db *db, void *opaque, struct vr_error **err)
{
	struct sync_ctx *s = opaque;
	json_object_clear(s->power_changes);
	json_object_clear(s->ds_usage);
	int r = locate(db, s, err);
	if (r == 0)
		r = apply_host(db, s, err);
	if (r == 0)
		r = apply_datastores(db, s, err);
	if (r == 0)
		r = apply_networks(db, s, err);
	if (r < 0)
		return r;
	json_t *list = json_object_get(s->vms, "vms");
	size_t i;
	json_t *vm;
	json_array_foreach(list, i, vm) {
		if (vm_newer(s, json_get_string(vm, "id", NULL)))
			continue; /* refreshed since this list was read */
		if ((r = upsert_vm(db, s, vm, err)) < 0)
			return r;
	}
	/* VMs the host no longer has. */
	struct inv_list known = {0};
	r = inventory_list_on_host(db, s->h->id, &known, err);
	for (size_t k = 0; r == 0 && k < known.n; k++) {
		bool still = false;
		json_array_foreach(list, i, vm) {
			const char *id = json_get_string(vm, "id", "");
			if (known.items[k].uuid && strcasecmp(known.items[k].uuid, id) == 0) {
				still = true;
				break;
			}
		}
		if (!still && !(known.items[k].uuid && chosts_vm_held(s->hs, known.items[k].uuid)) &&
		    !vm_newer(s, known.items[k].uuid))
			r = inventory_delete(db, known.items[k].id, err);
	}
	inv_list_clear(&known);
	if (r < 0)
		return r;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "record a host's last sync",
		       "UPDATE host_connection SET last_sync_ms = $2 WHERE host_id = $1", &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, s->h->id);
	db_bind_int64(st, 2, center_now_ms());
	r = db_step(st, err);
	return r < 0 ? r : 0;
}

/* "Datastore nearly full": metric alarms on datastore.usage.percent. */
static void feed_datastore_alarms(struct center *c, struct db *db, json_t *usage)
{
	const char *key;
	json_t *v;
	json_object_foreach(usage, key, v) {
		uint64_t id;
		if (parse_u64(key, 1, INT64_MAX, &id) < 0)
			continue;
		struct alarm_fire_list fires = {0};
		struct vr_error *e = NULL;
		if (alarm_eval_metric(db, (int64_t)id, "datastore.usage.percent", json_real_value(v),
				      center_now_ms(), &fires, &e) == 0)
			center_run_alarm_fires(c, db, &fires);
		vr_error_free(e);
		alarm_fire_list_clear(&fires);
	}
}

static void feed_power_alarms(struct center *c, struct db *db, json_t *changes)
{
	const char *key;
	json_t *v;
	json_object_foreach(changes, key, v) {
		uint64_t id;
		if (parse_u64(key, 1, INT64_MAX, &id) == 0)
			center_alarm_state(c, db, (int64_t)id, "power_state", json_string_value(v));
	}
}

static int apply_in_db(struct chosts *hs, struct sync_ctx *s,
		       int (*fn)(struct db *db, void *opaque, struct vr_error **err),
		       struct vr_error **err)
{
	struct db *db = dbpool_get(hs->c->pool, err);
	if (!db)
		return -EIO;
	s->power_changes = json_object();
	s->ds_usage = json_object();
	struct chost *h = s->h;
	pthread_mutex_lock(&h->apply_lock);
	int r = 0;
	/*
	 * A read older than the last full sync applied (or, for a refresh, than
	 * its VM's last refresh): what it says is already out of date.
	 */
	bool stale = h->full_seq > s->seq || (s->vm_uuid && vm_newer(s, s->vm_uuid));
	if (!stale)
		r = db_transact(db, fn, s, err);
	if (r == 0 && !stale && s->vm_uuid) {
		json_object_set_new(h->vm_seq, s->vm_uuid, json_integer((json_int_t)s->seq));
	} else if (r == 0 && !stale) {
		h->full_seq = s->seq;
		const char *uuid;
		json_t *seq, *tmp;
		json_object_foreach_safe(h->vm_seq, tmp, uuid, seq)
			if ((uint64_t)json_integer_value(seq) <= s->seq)
				json_object_del(h->vm_seq, uuid);
	}
	pthread_mutex_unlock(&h->apply_lock);
	if (stale)
		log_debug("host \"%s\": %s%s read before a newer read was applied; not written",
			  h->name, s->vm_uuid ? "VM " : "a full sync",
			  s->vm_uuid ? s->vm_uuid : "");
	if (r == 0 && !stale) {
		feed_power_alarms(hs->c, db, s->power_changes);
		feed_datastore_alarms(hs->c, db, s->ds_usage);
	}
	json_decref(s->power_changes);
	json_decref(s->ds_usage);
	dbpool_put(hs->c->pool, db);
	return r;
}

void (*sync_full_test_hook)(struct chost *h);

int sync_full(struct chosts *hs, struct chost *h, struct api_client *cl, struct vr_error **err)
{
	struct sync_ctx s = {.hs = hs, .h = h, .seq = read_begin(h)};
	int r = chost_request(hs, h, cl, "GET", "/api/v1/host", NULL, NULL, &s.host_info, err);
	if (r == 0)
		r = chost_request(hs, h, cl, "GET", "/api/v1/vms", NULL, NULL, &s.vms, err);
	if (r == 0)
		r = chost_request(hs, h, cl, "GET", "/api/v1/datastores", NULL, NULL, &s.datastores,
				  err);
	if (r == 0)
		r = chost_request(hs, h, cl, "GET", "/api/v1/network", NULL, NULL, &s.network, err);
	/* Capacity for the root resource pool (a host without this endpoint has none). */
	json_t *res = NULL;
	long st = 0;
	struct vr_error *re = NULL;
	if (r == 0 &&
	    chost_request(hs, h, cl, "GET", "/api/v1/host/resources", NULL, &st, &res, &re) == 0) {
		json_t *cpu = json_object_get(res, "cpu"), *mem = json_object_get(res, "memory");
		json_object_set_new(s.host_info, "capacity",
				    json_pack("{s:I, s:I, s:I, s:I}", "cpu_mhz",
					      (json_int_t)json_get_int(cpu, "capacity_mhz", 0),
					      "memory_mib",
					      (json_int_t)json_get_int(mem, "capacity_mib", 0),
					      "reserved_cpu_mhz",
					      (json_int_t)json_get_int(cpu, "reserved_mhz", 0),
					      "reserved_memory_mib",
					      (json_int_t)json_get_int(mem, "reserved_mib", 0)));
	}
	vr_error_free(re);
	json_decref(res);
	if (r == 0 && sync_full_test_hook)
		sync_full_test_hook(h);
	if (r == 0)
		r = apply_in_db(hs, &s, apply_full, err);
	json_decref(s.host_info);
	json_decref(s.vms);
	json_decref(s.datastores);
	json_decref(s.network);
	if (r == 0)
		log_debug("host \"%s\": synchronised", h->name);
	return r;
}

static int apply_one(struct db *db, void *opaque, struct vr_error **err)
{
	struct sync_ctx *s = opaque;
	json_object_clear(s->power_changes);
	int r = locate(db, s, err);
	if (r < 0)
		return r;
	if (s->one_vm)
		return upsert_vm(db, s, s->one_vm, err);
	struct inv_object o = {0};
	struct vr_error *e = NULL;
	r = inventory_find_uuid(db, s->vm_uuid, &o, &e);
	vr_error_free(e);
	if (r == 0 && o.host_id == s->h->id && !chosts_vm_held(s->hs, s->vm_uuid))
		r = inventory_delete(db, o.id, err);
	else
		r = 0;
	inv_object_clear(&o);
	return r;
}

int sync_refresh_vm(struct chosts *hs, struct chost *h, struct api_client *cl,
		    const char *vm_uuid, struct vr_error **err)
{
	_cleanup_free_ char *esc = api_client_escape(vm_uuid);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s", esc);
	struct sync_ctx s = {.hs = hs, .h = h, .vm_uuid = vm_uuid, .seq = read_begin(h)};
	long st = 0;
	struct vr_error *e = NULL;
	int r = chost_request(hs, h, cl, "GET", path, NULL, &st, &s.one_vm, &e);
	if (r < 0 && st != 404) {
		*err = e;
		return r;
	}
	vr_error_free(e);
	r = apply_in_db(hs, &s, apply_one, err);
	json_decref(s.one_vm);
	return r;
}

void sync_mirror_event(struct chosts *hs, struct chost *h, json_t *event)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct db *db = dbpool_get(hs->c->pool, &err);
	if (!db)
		return;
	const char *object = json_get_string(event, "object", NULL);
	int64_t object_id = h->id;
	_cleanup_free_ char *object_name = xstrdup(h->name);
	if (object && uuid_is_valid(object)) {
		struct inv_object o = {0};
		struct vr_error *e = NULL;
		if (inventory_find_uuid(db, object, &o, &e) == 0) {
			object_id = o.id;
			free(object_name);
			object_name = xstrdup(o.name);
		}
		vr_error_free(e);
		inv_object_clear(&o);
	}
	const char *level = json_get_string(event, "level", "info");
	if (strcmp(level, "warning") != 0 && strcmp(level, "error") != 0)
		level = "info";
	const char *type = json_get_string(event, "type", "HostEvent");
	center_post_event(hs->c, db, type, level, object_id, object_name, "", 0,
			  "%s (host \"%s\")", json_get_string(event, "message", ""), h->name);
	/* Event alarms ("a VM failed", ...) see the host's events as center's own. */
	struct alarm_fire_list fires = {0};
	struct vr_error *e = NULL;
	if (alarm_eval_event(db, object_id, type, center_now_ms(), &fires, &e) < 0)
		log_debug("event alarms on %s: %s", object_name, vr_error_msg(e));
	else
		center_run_alarm_fires(hs->c, db, &fires);
	vr_error_free(e);
	alarm_fire_list_clear(&fires);
	dbpool_put(hs->c->pool, db);
}
