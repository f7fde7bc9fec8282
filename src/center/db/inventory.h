/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_INVENTORY_H
#define VIREO_CENTER_DB_INVENTORY_H

/*
 * The inventory tree, as vCenter has it:
 *
 *   folder "Datacenters" (root) -> folder, datacenter
 *   datacenter -> its four system folders "vm", "host", "datastore", "network"
 *   vm_folder -> vm_folder, vm, template
 *   host_folder -> host_folder, cluster, host (standalone)
 *   cluster -> host, resource_pool;  host -> resource_pool
 *   resource_pool -> resource_pool
 *   datastore_folder -> datastore_folder, datastore
 *   network_folder -> network_folder, network, dvswitch;  dvswitch -> portgroup
 *
 * Names are unique among siblings (bytewise), 1..80 characters of UTF-8
 * without control characters or surrounding spaces; anything else,
 * quotes and SQL included, is stored verbatim.  A VM or template also
 * points at the host it runs on and the resource pool it belongs to.
 * Moves keep an object in its datacenter and never make a cycle; delete
 * is refused while an object has children, VMs on it (host, pool) or
 * VMs using it (datastore, network).  System objects (the root folder,
 * a datacenter's folders) cannot be renamed, moved or deleted.
 *
 * Functions that write several rows or check before writing run in a
 * transaction level of their own (db_begin(): a savepoint inside the
 * caller's transaction); creating a VM writes one row after checks that
 * catch every rule, so a refused create leaves the caller's transaction
 * usable on both back ends.  After any other error the caller rolls its
 * level back (db.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct vr_error;

enum inv_kind {
	INV_KIND_FOLDER,
	INV_KIND_VM_FOLDER,
	INV_KIND_HOST_FOLDER,
	INV_KIND_DATASTORE_FOLDER,
	INV_KIND_NETWORK_FOLDER,
	INV_KIND_DATACENTER,
	INV_KIND_CLUSTER,
	INV_KIND_HOST,
	INV_KIND_RESOURCE_POOL,
	INV_KIND_VM,
	INV_KIND_TEMPLATE,
	INV_KIND_DATASTORE,
	INV_KIND_NETWORK,
	INV_KIND_DVSWITCH,
	INV_KIND_PORTGROUP,
	INV_KIND__COUNT,
};

struct inv_object {
	int64_t id;
	enum inv_kind kind;
	int64_t parent_id; /* 0 for the root folder */
	char *name;
	bool is_system;
	char *uuid;    /* NULL if none */
	int64_t host_id; /* 0 if none */
	int64_t pool_id; /* 0 if none */
	char *properties; /* JSON object */
	int64_t created_ms, modified_ms;
	int64_t version; /* bumped by every change */
};

struct inv_list {
	struct inv_object *items;
	size_t n;
};

struct inv_create_spec {
	enum inv_kind kind;
	int64_t parent_id;
	const char *name;
	const char *uuid;       /* NULL: a new one for VMs and templates, none otherwise */
	int64_t host_id;        /* VMs and templates; 0 for none */
	int64_t pool_id;        /* VMs; 0 for none */
	const char *properties; /* JSON object; NULL for {} */
};

/* "vm_folder", ...; inv_kind_parse() returns -EINVAL for unknown names. */
const char *inv_kind_name(enum inv_kind kind);
int inv_kind_parse(const char *s, enum inv_kind *out);
/* Whether a user may put a child of this kind under a parent of that kind. */
bool inv_kind_allowed(enum inv_kind parent, enum inv_kind child);
/* Checks a name as described above; -EINVAL with a message naming the problem. */
int inventory_name_validate(const char *name, struct vr_error **err);

void inv_object_clear(struct inv_object *obj);
void inv_list_clear(struct inv_list *list);

/* The root folder's id. */
int inventory_root(struct db *db, int64_t *id, struct vr_error **err);
/* Creates an object (a datacenter with its four folders); sets *id. */
int inventory_create(struct db *db, const struct inv_create_spec *spec, int64_t *id,
		     struct vr_error **err);
/* -ENOENT if there is no such object. */
int inventory_get(struct db *db, int64_t id, struct inv_object *out, struct vr_error **err);
/* The child called name of parent; -ENOENT if none. */
int inventory_lookup(struct db *db, int64_t parent_id, const char *name, struct inv_object *out,
		     struct vr_error **err);
/* Children in name order. */
int inventory_list_children(struct db *db, int64_t parent_id, struct inv_list *out,
			    struct vr_error **err);
/* Objects of a kind whose name starts with prefix, in name order, at most limit. */
int inventory_search_prefix(struct db *db, enum inv_kind kind, const char *prefix, size_t limit,
			    struct inv_list *out, struct vr_error **err);
/* VMs and templates on a host, in name order. */
int inventory_list_on_host(struct db *db, int64_t host_id, struct inv_list *out,
			   struct vr_error **err);
int inventory_rename(struct db *db, int64_t id, const char *name, struct vr_error **err);
int inventory_move(struct db *db, int64_t id, int64_t new_parent_id, struct vr_error **err);
int inventory_delete(struct db *db, int64_t id, struct vr_error **err);

/* ---- beyond the tree rules: what the daemon keeps up to date ---- */
/* Replaces the JSON properties (must be an object). */
int inventory_set_properties(struct db *db, int64_t id, const char *properties,
			     struct vr_error **err);
/* A VM's or template's host and resource pool (0: none); no kind checks of the targets. */
int inventory_set_placement(struct db *db, int64_t id, int64_t host_id, int64_t pool_id,
			    struct vr_error **err);
/*
 * A counter bumped after each create, rename, move, delete, placement
 * or kind change (not properties): who mirrors the tree elsewhere (the
 * hosts' resource pools) recomputes when it moves.  Bumped when the
 * call returns, which may be before an enclosing transaction commits,
 * so mirrors also recompute now and then.
 */
uint64_t inventory_generation(void);
void inventory_touch(void);
/* VM <-> template. */
int inventory_set_vm_kind(struct db *db, int64_t id, enum inv_kind kind, struct vr_error **err);
/* -ENOENT if no object has that uuid. */
int inventory_find_uuid(struct db *db, const char *uuid, struct inv_object *out,
			struct vr_error **err);
/* Objects of a kind with exactly that name (any parent), at most limit, by id. */
int inventory_find_name(struct db *db, enum inv_kind kind, const char *name, size_t limit,
			struct inv_list *out, struct vr_error **err);
/* Objects of a kind named after after_name (bytewise; NULL or "" from the start), by name. */
int inventory_list_kind(struct db *db, enum inv_kind kind, const char *after_name, size_t limit,
			struct inv_list *out, struct vr_error **err);
/* The object, its parent, ... up to the root folder (last). */
int inventory_ancestors(struct db *db, int64_t id, struct inv_list *out, struct vr_error **err);
/* The datacenter an object is in; -ENOENT if none. */
int inventory_datacenter_of(struct db *db, int64_t id, int64_t *dc, struct vr_error **err);
/*
 * "/DC1/vm/web/web01" from inventory_ancestors()' list (the root folder is
 * not named; '/' and '\' in names are escaped with '\').  A new string.
 */
char *inventory_path_of(const struct inv_list *ancestors);
/* The object at such a path; "/" is the root folder. */
int inventory_lookup_path(struct db *db, const char *path, struct inv_object *out,
			  struct vr_error **err);

#endif
