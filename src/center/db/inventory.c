/* SPDX-License-Identifier: Apache-2.0 */
/* The inventory tree on the database (rules in inventory.h, tables in schema.c). */
#include "center/db/inventory.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <jansson.h>

#include "center/db/db.h"
#include "common/error.h"
#include "common/util.h"

#define NAME_MAX_CHARS 80

static const char *const kind_names[INV_KIND__COUNT] = {
	[INV_KIND_FOLDER] = "folder",
	[INV_KIND_VM_FOLDER] = "vm_folder",
	[INV_KIND_HOST_FOLDER] = "host_folder",
	[INV_KIND_DATASTORE_FOLDER] = "datastore_folder",
	[INV_KIND_NETWORK_FOLDER] = "network_folder",
	[INV_KIND_DATACENTER] = "datacenter",
	[INV_KIND_CLUSTER] = "cluster",
	[INV_KIND_HOST] = "host",
	[INV_KIND_RESOURCE_POOL] = "resource_pool",
	[INV_KIND_VM] = "vm",
	[INV_KIND_TEMPLATE] = "template",
	[INV_KIND_DATASTORE] = "datastore",
	[INV_KIND_NETWORK] = "network",
	[INV_KIND_DVSWITCH] = "dvswitch",
	[INV_KIND_PORTGROUP] = "portgroup",
};

#define K(x) (1u << INV_KIND_##x)
/* Which kinds a user may create or move under each kind. */
static const unsigned allowed_children[INV_KIND__COUNT] = {
	[INV_KIND_FOLDER] = K(FOLDER) | K(DATACENTER),
	[INV_KIND_VM_FOLDER] = K(VM_FOLDER) | K(VM) | K(TEMPLATE),
	[INV_KIND_HOST_FOLDER] = K(HOST_FOLDER) | K(CLUSTER) | K(HOST),
	[INV_KIND_DATASTORE_FOLDER] = K(DATASTORE_FOLDER) | K(DATASTORE),
	[INV_KIND_NETWORK_FOLDER] = K(NETWORK_FOLDER) | K(NETWORK) | K(DVSWITCH),
	[INV_KIND_CLUSTER] = K(HOST) | K(RESOURCE_POOL),
	[INV_KIND_HOST] = K(RESOURCE_POOL),
	[INV_KIND_RESOURCE_POOL] = K(RESOURCE_POOL),
	[INV_KIND_DVSWITCH] = K(PORTGROUP),
};

/* A datacenter's folders, created with it. */
static const struct {
	enum inv_kind kind;
	const char *name;
} datacenter_folders[] = {
	{INV_KIND_VM_FOLDER, "vm"},
	{INV_KIND_HOST_FOLDER, "host"},
	{INV_KIND_DATASTORE_FOLDER, "datastore"},
	{INV_KIND_NETWORK_FOLDER, "network"},
};

#define COLUMNS                                                                       \
	"id, kind, parent_id, name, is_system, uuid, host_id, pool_id, properties, " \
	"created_ms, modified_ms, version"
#define COLUMNS_O                                                                       \
	"o.id, o.kind, o.parent_id, o.name, o.is_system, o.uuid, o.host_id, o.pool_id, " \
	"o.properties, o.created_ms, o.modified_ms, o.version"

const char *inv_kind_name(enum inv_kind kind)
{
	return (unsigned)kind < INV_KIND__COUNT ? kind_names[kind] : "unknown";
}

int inv_kind_parse(const char *s, enum inv_kind *out)
{
	for (int k = 0; k < INV_KIND__COUNT; k++)
		if (s && strcmp(s, kind_names[k]) == 0) {
			*out = (enum inv_kind)k;
			return 0;
		}
	return -EINVAL;
}

bool inv_kind_allowed(enum inv_kind parent, enum inv_kind child)
{
	if ((unsigned)parent >= INV_KIND__COUNT || (unsigned)child >= INV_KIND__COUNT)
		return false;
	return allowed_children[parent] & (1u << child);
}

int inventory_name_validate(const char *name, struct vr_error **err)
{
	if (!name || !*name)
		return vr_error_set(err, EINVAL, "a name cannot be empty");
	if (!utf8_valid(name))
		return vr_error_set(err, EINVAL, "name is not valid UTF-8");
	size_t chars = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return vr_error_set(err, EINVAL,
					    "name contains a control character (0x%02x)", *p);
		/* U+10FFFF (F4 8F BF BF) ends every prefix range in searches. */
		if (p[0] == 0xf4 && p[1] == 0x8f && p[2] == 0xbf && p[3] == 0xbf)
			return vr_error_set(err, EINVAL, "name contains U+10FFFF");
		if ((*p & 0xc0) != 0x80)
			chars++;
	}
	if (chars > NAME_MAX_CHARS)
		return vr_error_set(err, EINVAL, "name is %zu characters long; at most %d", chars,
				    NAME_MAX_CHARS);
	if (name[0] == ' ' || name[strlen(name) - 1] == ' ')
		return vr_error_set(err, EINVAL, "name begins or ends with a space");
	return 0;
}

void inv_object_clear(struct inv_object *obj)
{
	if (!obj)
		return;
	free(obj->name);
	free(obj->uuid);
	free(obj->properties);
	*obj = (struct inv_object){0};
}

void inv_list_clear(struct inv_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; i++)
		inv_object_clear(&list->items[i]);
	free(list->items);
	*list = (struct inv_list){0};
}

static void read_row(struct db_stmt *st, struct inv_object *o)
{
	*o = (struct inv_object){0};
	o->id = db_column_int64(st, 0);
	if (inv_kind_parse(db_column_text(st, 1), &o->kind) < 0)
		o->kind = INV_KIND__COUNT; /* the schema's CHECK makes this unreachable */
	o->parent_id = db_column_int64(st, 2);
	o->name = xstrdup(db_column_text(st, 3) ? db_column_text(st, 3) : "");
	o->is_system = db_column_bool(st, 4);
	o->uuid = db_column_is_null(st, 5) ? NULL : xstrdup(db_column_text(st, 5));
	o->host_id = db_column_int64(st, 6);
	o->pool_id = db_column_int64(st, 7);
	o->properties = xstrdup(db_column_text(st, 8) ? db_column_text(st, 8) : "{}");
	o->created_ms = db_column_int64(st, 9);
	o->modified_ms = db_column_int64(st, 10);
	o->version = db_column_int64(st, 11);
}

/* Runs a prepared and bound query into a list. */
static int collect(struct db_stmt *st, struct inv_list *out, struct vr_error **err)
{
	struct inv_list list = {0};
	size_t cap = 0;
	int r;
	while ((r = db_step(st, err)) > 0) {
		if (list.n == cap) {
			cap = cap ? cap * 2 : 16;
			list.items = xrealloc(list.items, cap * sizeof(*list.items));
		}
		read_row(st, &list.items[list.n++]);
	}
	if (r < 0) {
		inv_list_clear(&list);
		return r;
	}
	*out = list;
	return 0;
}

static int get_object(struct db *db, int64_t id, struct inv_object *out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read inventory object",
			   "SELECT " COLUMNS " FROM inventory_object WHERE id = $1", &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, ENOENT, "no inventory object with id %lld", (long long)id);
	read_row(st, out);
	return 0;
}

int inventory_get(struct db *db, int64_t id, struct inv_object *out, struct vr_error **err)
{
	return get_object(db, id, out, err);
}

int inventory_root(struct db *db, int64_t *id, struct vr_error **err)
{
	return db_query_int64(db, "find the root folder",
			      "SELECT id FROM inventory_object WHERE parent_id IS NULL", id, err);
}

int inventory_lookup(struct db *db, int64_t parent_id, const char *name, struct inv_object *out,
		     struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "look up inventory object by name",
			   "SELECT " COLUMNS " FROM inventory_object WHERE parent_id = $1 AND name = $2",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, parent_id);
	db_bind_text(st, 2, name);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, ENOENT, "no object named \"%s\" in inventory object %lld",
				    name, (long long)parent_id);
	read_row(st, out);
	return 0;
}

int inventory_list_children(struct db *db, int64_t parent_id, struct inv_list *out,
			    struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "list children of inventory object",
			   "SELECT " COLUMNS " FROM inventory_object WHERE parent_id = $1"
			   " ORDER BY name",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, parent_id);
	return collect(st, out, err);
}

int inventory_search_prefix(struct db *db, enum inv_kind kind, const char *prefix, size_t limit,
			    struct inv_list *out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	/* A range on the (kind, name) index: [prefix, prefix U+10FFFF), names never hold U+10FFFF. */
	int r = db_prepare(db, "search inventory objects by name prefix",
			   "SELECT " COLUMNS " FROM inventory_object"
			   " WHERE kind = $1 AND name >= $2 AND name < $3 ORDER BY name LIMIT $4",
			   &st, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *upper = xasprintf("%s\xf4\x8f\xbf\xbf", prefix ? prefix : "");
	db_bind_text(st, 1, inv_kind_name(kind));
	db_bind_text(st, 2, prefix ? prefix : "");
	db_bind_text(st, 3, upper);
	db_bind_int64(st, 4, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	return collect(st, out, err);
}

int inventory_list_on_host(struct db *db, int64_t host_id, struct inv_list *out,
			   struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "list VMs on a host",
			   "SELECT " COLUMNS " FROM inventory_object WHERE host_id = $1 ORDER BY name",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, host_id);
	return collect(st, out, err);
}


/* Bumped after writes that change the tree or where VMs sit (inventory.h). */
static atomic_uint_fast64_t tree_generation = 1;

uint64_t inventory_generation(void)
{
	return atomic_load(&tree_generation);
}

void inventory_touch(void)
{
	atomic_fetch_add(&tree_generation, 1);
}

static int touched(int r)
{
	if (r == 0)
		inventory_touch();
	return r;
}

/* ---- create ---- */

static int check_properties(const char *props, struct vr_error **err)
{
	if (!props)
		return 0;
	json_error_t jerr;
	json_t *v = json_loads(props, JSON_REJECT_DUPLICATES, &jerr);
	bool ok = v && json_is_object(v);
	json_decref(v);
	if (!v)
		return vr_error_set(err, EINVAL, "properties are not valid JSON: %s", jerr.text);
	if (!ok)
		return vr_error_set(err, EINVAL, "properties must be a JSON object");
	return 0;
}

/* A reference (if set) read by the validation query: it must be of the wanted kind. */
static int check_ref(int64_t ref, const char *kind, const char *name, enum inv_kind want,
		     const char *what, struct vr_error **err)
{
	if (!ref)
		return 0;
	if (!kind)
		return vr_error_set(err, ENOENT, "%s %lld does not exist", what, (long long)ref);
	if (strcmp(kind, inv_kind_name(want)) != 0)
		return vr_error_set(err, EINVAL, "%s \"%s\" is a %s, not a %s", what, name, kind,
				    inv_kind_name(want));
	return 0;
}

static int insert_object(struct db *db, enum inv_kind kind, int64_t parent_id,
			 const char *parent_name, const char *name, bool is_system,
			 const char *uuid, int64_t host_id, int64_t pool_id, const char *props,
			 int64_t *id, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "insert inventory object",
			   "INSERT INTO inventory_object (kind, parent_id, name, is_system, uuid,"
			   " host_id, pool_id, properties, created_ms, modified_ms)"
			   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, inv_kind_name(kind));
	db_bind_int64(st, 2, parent_id);
	db_bind_text(st, 3, name);
	db_bind_bool(st, 4, is_system);
	db_bind_text(st, 5, uuid);
	if (host_id)
		db_bind_int64(st, 6, host_id);
	else
		db_bind_null(st, 6);
	if (pool_id)
		db_bind_int64(st, 7, pool_id);
	else
		db_bind_null(st, 7);
	db_bind_text(st, 8, props ? props : "{}");
	db_bind_int64(st, 9, (int64_t)time_real_ms());
	struct vr_error *e = NULL;
	r = db_step(st, &e);
	if (r == -EEXIST) {
		vr_error_free(e);
		return vr_error_set(err, EEXIST,
				    "cannot create %s \"%s\" in \"%s\": an object of that name is "
				    "already there",
				    inv_kind_name(kind), name, parent_name);
	}
	if (r < 0) {
		*err = e;
		return r;
	}
	if (r == 0)
		return vr_error_set(err, EIO, "insert inventory object: no id returned");
	*id = db_column_int64(st, 0);
	db_reset(st);
	return 0;
}

struct create_args {
	const struct inv_create_spec *spec;
	int64_t id;
};

static int do_create(struct db *db, void *a, struct vr_error **err)
{
	struct create_args *args = a;
	const struct inv_create_spec *s = args->spec;
	/*
	 * The parent and the references in one round trip (ids start at 1).
	 * Primary-key lookups only: the planner may have no statistics yet.
	 */
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "check the parent and references of a new inventory object",
			   "SELECT kind, name,"
			   " (SELECT kind FROM inventory_object WHERE id = $2),"
			   " (SELECT name FROM inventory_object WHERE id = $2),"
			   " (SELECT kind FROM inventory_object WHERE id = $3),"
			   " (SELECT name FROM inventory_object WHERE id = $3),"
			   " (SELECT id FROM inventory_object WHERE parent_id = $1 AND name = $4)"
			   " FROM inventory_object WHERE id = $1",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, s->parent_id);
	db_bind_int64(st, 2, s->host_id);
	db_bind_int64(st, 3, s->pool_id);
	db_bind_text(st, 4, s->name);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, ENOENT, "cannot create %s \"%s\": parent %lld does not exist",
				    inv_kind_name(s->kind), s->name, (long long)s->parent_id);
	enum inv_kind parent_kind = INV_KIND__COUNT;
	inv_kind_parse(db_column_text(st, 0), &parent_kind);
	_cleanup_free_ char *parent_name = xstrdup(db_column_text(st, 1));
	if (!inv_kind_allowed(parent_kind, s->kind))
		return vr_error_set(err, EINVAL, "cannot create %s \"%s\" in %s \"%s\": a %s holds no %s",
				    inv_kind_name(s->kind), s->name, inv_kind_name(parent_kind),
				    parent_name, inv_kind_name(parent_kind), inv_kind_name(s->kind));
	bool is_vm = s->kind == INV_KIND_VM || s->kind == INV_KIND_TEMPLATE;
	if (!is_vm && (s->host_id || s->pool_id))
		return vr_error_set(err, EINVAL, "cannot create %s \"%s\": only VMs and templates "
				    "have a host and a resource pool", inv_kind_name(s->kind), s->name);
	r = check_ref(s->host_id, db_column_text(st, 2), db_column_text(st, 3), INV_KIND_HOST,
		      "host", err);
	if (r == 0)
		r = check_ref(s->pool_id, db_column_text(st, 4), db_column_text(st, 5),
			      INV_KIND_RESOURCE_POOL, "resource pool", err);
	/* Checked before writing, so that PostgreSQL's transaction stays usable. */
	if (r == 0 && !db_column_is_null(st, 6))
		r = vr_error_set(err, EEXIST, "cannot create %s \"%s\" in \"%s\": an object of that "
				 "name is already there", inv_kind_name(s->kind), s->name, parent_name);
	db_reset(st);
	if (r < 0)
		return r;
	char uuid[37];
	const char *use_uuid = s->uuid;
	if (!use_uuid && is_vm) {
		uuid_generate_str(uuid);
		use_uuid = uuid;
	}
	r = insert_object(db, s->kind, s->parent_id, parent_name, s->name, false, use_uuid,
			  s->host_id, s->pool_id, s->properties, &args->id, err);
	for (size_t i = 0; r == 0 && s->kind == INV_KIND_DATACENTER &&
			   i < ARRAY_SIZE(datacenter_folders); i++) {
		int64_t folder_id;
		r = insert_object(db, datacenter_folders[i].kind, args->id, s->name,
				  datacenter_folders[i].name, true, NULL, 0, 0, NULL, &folder_id, err);
	}
	return r;
}

int inventory_create(struct db *db, const struct inv_create_spec *spec, int64_t *id,
		     struct vr_error **err)
{
	if ((unsigned)spec->kind >= INV_KIND__COUNT)
		return vr_error_set(err, EINVAL, "cannot create an object of unknown kind %d",
				    (int)spec->kind);
	int r = inventory_name_validate(spec->name, err);
	if (r == 0)
		r = check_properties(spec->properties, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot create %s", inv_kind_name(spec->kind));
	struct create_args args = {spec, 0};
	/*
	 * One row is written after checks that leave nothing to fail but a
	 * race (which the caller retries): no level of its own, which saves
	 * two round trips per object on PostgreSQL.  A datacenter is five rows.
	 */
	if (spec->kind == INV_KIND_DATACENTER)
		r = db_in_level(db, do_create, &args, err);
	else
		r = do_create(db, &args, err);
	if (r == 0 && id)
		*id = args.id;
	return touched(r);
}

/* ---- rename, move, delete ---- */

struct change_args {
	int64_t id;
	const char *name;
	int64_t new_parent_id;
};

static int refuse_system(const struct inv_object *o, const char *verb, struct vr_error **err)
{
	if (!o->is_system)
		return 0;
	return vr_error_set(err, EPERM, "cannot %s %s \"%s\": it is a system object", verb,
			    inv_kind_name(o->kind), o->name);
}

static int do_rename(struct db *db, void *a, struct vr_error **err)
{
	const struct change_args *args = a;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	struct inv_object o;
	int r = get_object(db, args->id, &o, err);
	if (r < 0)
		return r;
	r = refuse_system(&o, "rename", err);
	if (r < 0 || strcmp(o.name, args->name) == 0)
		goto out;
	r = db_prepare(db, "rename inventory object",
		       "UPDATE inventory_object SET name = $2, modified_ms = $3,"
		       " version = version + 1 WHERE id = $1",
		       &st, err);
	if (r < 0)
		goto out;
	db_bind_int64(st, 1, args->id);
	db_bind_text(st, 2, args->name);
	db_bind_int64(st, 3, (int64_t)time_real_ms());
	struct vr_error *e = NULL;
	r = db_step(st, &e);
	if (r == -EEXIST) {
		vr_error_free(e);
		r = vr_error_set(err, EEXIST,
				 "cannot rename %s \"%s\" to \"%s\": a sibling already has that name",
				 inv_kind_name(o.kind), o.name, args->name);
	} else if (r < 0) {
		*err = e;
	}
out:
	inv_object_clear(&o);
	return r;
}

int inventory_rename(struct db *db, int64_t id, const char *name, struct vr_error **err)
{
	int r = inventory_name_validate(name, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot rename inventory object %lld", (long long)id);
	struct change_args args = {.id = id, .name = name};
	return touched(db_in_level(db, do_rename, &args, err));
}

/*
 * Walks up from id: whether `needle` is id or one of its ancestors, and
 * the nearest datacenter (0 if none).
 */
static int walk_up(struct db *db, int64_t id, int64_t needle, bool *found, int64_t *datacenter,
		   struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "walk up the inventory tree",
			   "WITH RECURSIVE up (id, parent_id, kind, depth) AS ("
			   " SELECT id, parent_id, kind, 0 FROM inventory_object WHERE id = $1"
			   " UNION ALL"
			   " SELECT o.id, o.parent_id, o.kind, up.depth + 1"
			   " FROM inventory_object o JOIN up ON o.id = up.parent_id"
			   " WHERE up.depth < 1000)"
			   " SELECT id, kind FROM up ORDER BY depth",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	*found = false;
	*datacenter = 0;
	while ((r = db_step(st, err)) > 0) {
		int64_t cur = db_column_int64(st, 0);
		const char *kind = db_column_text(st, 1);
		if (cur == needle)
			*found = true;
		if (!*datacenter && kind && strcmp(kind, "datacenter") == 0)
			*datacenter = cur;
	}
	return r;
}

static int do_move(struct db *db, void *a, struct vr_error **err)
{
	const struct change_args *args = a;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	struct inv_object o = {0}, np = {0};
	int r = get_object(db, args->id, &o, err);
	if (r < 0)
		return r;
	r = refuse_system(&o, "move", err);
	if (r < 0)
		goto out;
	r = get_object(db, args->new_parent_id, &np, err);
	if (r == -ENOENT) {
		vr_error_freep(err);
		r = vr_error_set(err, ENOENT, "cannot move %s \"%s\": destination %lld does not exist",
				 inv_kind_name(o.kind), o.name, (long long)args->new_parent_id);
	}
	if (r < 0)
		goto out;
	if (np.id == o.parent_id)
		goto out;
	if (!inv_kind_allowed(np.kind, o.kind)) {
		r = vr_error_set(err, EINVAL, "cannot move %s \"%s\" into %s \"%s\": a %s holds no %s",
				 inv_kind_name(o.kind), o.name, inv_kind_name(np.kind), np.name,
				 inv_kind_name(np.kind), inv_kind_name(o.kind));
		goto out;
	}
	bool cycle, unused;
	int64_t dc_new, dc_old;
	r = walk_up(db, np.id, o.id, &cycle, &dc_new, err);
	if (r == 0)
		r = walk_up(db, o.id, 0, &unused, &dc_old, err);
	if (r < 0)
		goto out;
	if (cycle) {
		r = vr_error_set(err, ELOOP, "cannot move %s \"%s\" into \"%s\": that is inside it",
				 inv_kind_name(o.kind), o.name, np.name);
		goto out;
	}
	/* Only folders and datacenters move between datacenters (others need a migration). */
	if (o.kind != INV_KIND_FOLDER && o.kind != INV_KIND_DATACENTER && dc_new != dc_old) {
		r = vr_error_set(err, EXDEV,
				 "cannot move %s \"%s\" into \"%s\": that is in another datacenter",
				 inv_kind_name(o.kind), o.name, np.name);
		goto out;
	}
	r = db_prepare(db, "move inventory object",
		       "UPDATE inventory_object SET parent_id = $2, modified_ms = $3,"
		       " version = version + 1 WHERE id = $1",
		       &st, err);
	if (r < 0)
		goto out;
	db_bind_int64(st, 1, o.id);
	db_bind_int64(st, 2, np.id);
	db_bind_int64(st, 3, (int64_t)time_real_ms());
	struct vr_error *e = NULL;
	r = db_step(st, &e);
	if (r == -EEXIST) {
		vr_error_free(e);
		r = vr_error_set(err, EEXIST,
				 "cannot move %s \"%s\" into \"%s\": an object of that name is "
				 "already there",
				 inv_kind_name(o.kind), o.name, np.name);
	} else if (r < 0) {
		*err = e;
	}
out:
	inv_object_clear(&o);
	inv_object_clear(&np);
	return r;
}

int inventory_move(struct db *db, int64_t id, int64_t new_parent_id, struct vr_error **err)
{
	struct change_args args = {.id = id, .new_parent_id = new_parent_id};
	return touched(db_in_level(db, do_move, &args, err));
}

static int count_where(struct db *db, const char *purpose, const char *sql, int64_t id,
		       int64_t *n, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, purpose, sql, &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	r = db_step(st, err);
	if (r < 0)
		return r;
	*n = r > 0 ? db_column_int64(st, 0) : 0;
	return 0;
}

static int delete_row(struct db *db, int64_t id, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "delete inventory object", "DELETE FROM inventory_object WHERE id = $1",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	return db_step(st, err);
}

static int do_delete(struct db *db, void *a, struct vr_error **err)
{
	const struct change_args *args = a;
	struct inv_object o;
	int r = get_object(db, args->id, &o, err);
	if (r < 0)
		return r;
	const char *kind = inv_kind_name(o.kind);
	int64_t n = 0;
	r = refuse_system(&o, "delete", err);
	if (r < 0)
		goto out;
	/* A datacenter's own folders go with it, when they are empty. */
	r = count_where(db, "count children",
			o.kind == INV_KIND_DATACENTER
				? "SELECT COUNT(*) FROM inventory_object c JOIN inventory_object f"
				  " ON c.parent_id = f.id WHERE f.parent_id = $1"
				: "SELECT COUNT(*) FROM inventory_object WHERE parent_id = $1",
			o.id, &n, err);
	if (r == 0 && n > 0)
		r = vr_error_set(err, ENOTEMPTY, "cannot delete %s \"%s\": it holds %lld objects",
				 kind, o.name, (long long)n);
	if (r == 0)
		r = count_where(db, "count VMs on the object",
				"SELECT COUNT(*) FROM inventory_object"
				" WHERE host_id = $1 OR pool_id = $1",
				o.id, &n, err);
	if (r == 0 && n > 0)
		r = vr_error_set(err, EBUSY, "cannot delete %s \"%s\": %lld VMs are on it", kind,
				 o.name, (long long)n);
	if (r == 0)
		r = count_where(db, "count users of the object",
				"SELECT COUNT(*) FROM inventory_link WHERE target_id = $1", o.id, &n,
				err);
	if (r == 0 && n > 0)
		r = vr_error_set(err, EBUSY, "cannot delete %s \"%s\": %lld objects use it", kind,
				 o.name, (long long)n);
	if (r < 0)
		goto out;
	if (o.kind == INV_KIND_DATACENTER) {
		_cleanup_stmt_ struct db_stmt *st = NULL;
		r = db_prepare(db, "delete the folders of a datacenter",
			       "DELETE FROM inventory_object WHERE parent_id = $1 AND is_system", &st,
			       err);
		if (r < 0)
			goto out;
		db_bind_int64(st, 1, o.id);
		r = db_step(st, err);
		if (r < 0)
			goto out;
	}
	r = delete_row(db, o.id, err);
out:
	inv_object_clear(&o);
	return r;
}

int inventory_delete(struct db *db, int64_t id, struct vr_error **err)
{
	struct change_args args = {.id = id};
	return touched(db_in_level(db, do_delete, &args, err));
}

/* ---- what the daemon needs beyond the tree rules ---- */

static int update_one(struct db *db, const char *purpose, const char *sql, int64_t id,
		      void (*bind)(struct db_stmt *st, const void *a), const void *a,
		      struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, purpose, sql, &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	db_bind_int64(st, 2, (int64_t)time_real_ms());
	bind(st, a);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (db_changes(st) == 0)
		return vr_error_set(err, ENOENT, "no inventory object with id %lld", (long long)id);
	return 0;
}

static void bind_props(struct db_stmt *st, const void *a)
{
	db_bind_text(st, 3, a);
}

int inventory_set_properties(struct db *db, int64_t id, const char *properties,
			     struct vr_error **err)
{
	int r = check_properties(properties, err);
	if (r < 0)
		return r;
	return update_one(db, "update inventory object properties",
			  "UPDATE inventory_object SET properties = $3, modified_ms = $2,"
			  " version = version + 1 WHERE id = $1",
			  id, bind_props, properties, err);
}

struct placement {
	int64_t host_id, pool_id;
};

static void bind_placement(struct db_stmt *st, const void *a)
{
	const struct placement *p = a;
	if (p->host_id)
		db_bind_int64(st, 3, p->host_id);
	else
		db_bind_null(st, 3);
	if (p->pool_id)
		db_bind_int64(st, 4, p->pool_id);
	else
		db_bind_null(st, 4);
}

int inventory_set_placement(struct db *db, int64_t id, int64_t host_id, int64_t pool_id,
			    struct vr_error **err)
{
	struct placement p = {host_id, pool_id};
	return touched(update_one(db, "move a VM to another host or resource pool",
				  "UPDATE inventory_object SET host_id = $3, pool_id = $4,"
				  " modified_ms = $2, version = version + 1"
				  " WHERE id = $1 AND kind IN ('vm','template')",
				  id, bind_placement, &p, err));
}

static void bind_kind(struct db_stmt *st, const void *a)
{
	db_bind_text(st, 3, inv_kind_name(*(const enum inv_kind *)a));
}

int inventory_set_vm_kind(struct db *db, int64_t id, enum inv_kind kind, struct vr_error **err)
{
	if (kind != INV_KIND_VM && kind != INV_KIND_TEMPLATE)
		return vr_error_set(err, EINVAL, "only a VM can become a template and back");
	return touched(update_one(db, "turn a VM into a template or back",
				  "UPDATE inventory_object SET kind = $3, modified_ms = $2,"
				  " version = version + 1 WHERE id = $1 AND kind IN ('vm','template')",
				  id, bind_kind, &kind, err));
}

int inventory_find_uuid(struct db *db, const char *uuid, struct inv_object *out,
			struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "find inventory object by uuid",
			   "SELECT " COLUMNS " FROM inventory_object WHERE uuid = $1", &st, err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, uuid);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, ENOENT, "no inventory object with uuid \"%s\"", uuid);
	read_row(st, out);
	return 0;
}

int inventory_find_name(struct db *db, enum inv_kind kind, const char *name, size_t limit,
			struct inv_list *out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "find inventory objects by kind and name",
			   "SELECT " COLUMNS " FROM inventory_object WHERE kind = $1 AND name = $2"
			   " ORDER BY id LIMIT $3",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, inv_kind_name(kind));
	db_bind_text(st, 2, name);
	db_bind_int64(st, 3, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	return collect(st, out, err);
}

int inventory_list_kind(struct db *db, enum inv_kind kind, const char *after_name, size_t limit,
			struct inv_list *out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "list inventory objects of a kind",
			   "SELECT " COLUMNS " FROM inventory_object WHERE kind = $1 AND name > $2"
			   " ORDER BY name LIMIT $3",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, inv_kind_name(kind));
	db_bind_text(st, 2, after_name ? after_name : "");
	db_bind_int64(st, 3, limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	return collect(st, out, err);
}

int inventory_ancestors(struct db *db, int64_t id, struct inv_list *out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "list an object's ancestors",
			   "WITH RECURSIVE up (id, parent_id, depth) AS ("
			   " SELECT id, parent_id, 0 FROM inventory_object WHERE id = $1"
			   " UNION ALL"
			   " SELECT o.id, o.parent_id, up.depth + 1"
			   " FROM inventory_object o JOIN up ON o.id = up.parent_id"
			   " WHERE up.depth < 1000)"
			   " SELECT " COLUMNS_O " FROM up JOIN inventory_object o ON o.id = up.id"
			   " ORDER BY up.depth",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	r = collect(st, out, err);
	if (r == 0 && out->n == 0)
		return vr_error_set(err, ENOENT, "no inventory object with id %lld", (long long)id);
	return r;
}

int inventory_datacenter_of(struct db *db, int64_t id, int64_t *dc, struct vr_error **err)
{
	bool found;
	int r = walk_up(db, id, 0, &found, dc, err);
	if (r < 0)
		return r;
	if (!*dc)
		return vr_error_set(err, ENOENT, "inventory object %lld is in no datacenter",
				    (long long)id);
	return 0;
}

char *inventory_path_of(const struct inv_list *ancestors)
{
	/* ancestors[0] is the object, the last one the root folder (not shown). */
	size_t len = 1;
	for (size_t i = 0; i + 1 < ancestors->n; i++)
		len += strlen(ancestors->items[i].name) * 2 + 1;
	char *out = xmalloc(len + 1), *p = out;
	if (ancestors->n <= 1)
		*p++ = '/';
	for (size_t i = ancestors->n - 1; i-- > 0;) {
		*p++ = '/';
		for (const char *c = ancestors->items[i].name; *c; c++) {
			if (*c == '/' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
	}
	*p = '\0';
	return out;
}

int inventory_lookup_path(struct db *db, const char *path, struct inv_object *out,
			  struct vr_error **err)
{
	int64_t cur;
	int r = inventory_root(db, &cur, err);
	if (r < 0)
		return r;
	if (path[0] != '/')
		return vr_error_set(err, EINVAL, "inventory path \"%s\" must begin with '/'", path);
	const char *p = path;
	_cleanup_free_ char *seg = xmalloc(strlen(path) + 1);
	while (*p == '/')
		p++;
	while (*p) {
		char *s = seg;
		while (*p && *p != '/') {
			if (*p == '\\' && p[1])
				p++;
			*s++ = *p++;
		}
		*s = '\0';
		while (*p == '/')
			p++;
		struct inv_object o = {0};
		struct vr_error *e = NULL;
		r = inventory_lookup(db, cur, seg, &o, &e);
		if (r == -ENOENT) {
			vr_error_free(e);
			return vr_error_set(err, ENOENT, "no object \"%s\" in inventory path \"%s\"", seg,
					    path);
		}
		if (r < 0) {
			*err = e;
			return r;
		}
		cur = o.id;
		inv_object_clear(&o);
	}
	return inventory_get(db, cur, out, err);
}
