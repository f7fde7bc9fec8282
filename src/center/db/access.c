/* SPDX-License-Identifier: Apache-2.0 */
/* Roles, permissions and access checks (rules in access.h, tables in schema.c). */
#include "center/db/access.h"

#include <errno.h>
#include <string.h>

#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/db/principals.h"
#include "common/error.h"
#include "common/util.h"

/* What every role holds, as vSphere adds them to every role. */
static const char *const always_granted[] = {"System.Anonymous", "System.Read", "System.View"};

/* After this many objects whose parent is not cached, read the whole tree's parent links. */
#define PARENT_MISSES_BEFORE_FULL_LOAD 32

/* qsort() and bsearch() that accept an empty (NULL) array. */
static void sort_n(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static void *find_n(const void *key, const void *base, size_t n, size_t size,
		    int (*cmp)(const void *, const void *))
{
	return n ? bsearch(key, base, n, size, cmp) : NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts and removes duplicates (freeing them); returns the new count. */
static size_t sort_unique(char **v, size_t n)
{
	if (n == 0)
		return 0;
	sort_n(v, n, sizeof(*v), cmp_str);
	size_t out = 1;
	for (size_t i = 1; i < n; i++) {
		if (strcmp(v[i], v[out - 1]) == 0)
			free(v[i]);
		else
			v[out++] = v[i];
	}
	return out;
}

static void free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- roles ---- */

#define ROLE_COLUMNS "id, name, label, description, is_system"

void role_clear(struct role *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->label);
	free(r->description);
	free_strs(r->privileges, r->n_privileges);
	*r = (struct role){0};
}

void role_list_clear(struct role_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		role_clear(&l->items[i]);
	free(l->items);
	*l = (struct role_list){0};
}

static void read_role(struct db_stmt *st, struct role *r)
{
	*r = (struct role){0};
	r->id = db_column_int64(st, 0);
	r->name = xstrdup(db_column_text(st, 1) ? db_column_text(st, 1) : "");
	r->label = xstrdup(db_column_text(st, 2) ? db_column_text(st, 2) : "");
	r->description = xstrdup(db_column_text(st, 3) ? db_column_text(st, 3) : "");
	r->is_system = db_column_bool(st, 4);
}

static void push_str(char ***v, size_t *n, size_t *cap, const char *s)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = xstrdup(s);
}

/* Fills r->privileges, sorted. */
static int read_role_privileges(struct db *db, struct role *r, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int rc = db_prepare(db, "read a role's privileges",
			    "SELECT privilege_id FROM role_privilege WHERE role_id = $1", &st, err);
	if (rc < 0)
		return rc;
	db_bind_int64(st, 1, r->id);
	size_t cap = 0;
	while ((rc = db_step(st, err)) > 0)
		push_str(&r->privileges, &r->n_privileges, &cap, db_column_text(st, 0));
	if (rc < 0)
		return rc;
	r->n_privileges = sort_unique(r->privileges, r->n_privileges);
	return 0;
}

static int role_get_where(struct db *db, const char *purpose, const char *sql, int64_t id,
			  const char *name, struct role *out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, purpose, sql, &st, err);
	if (r < 0)
		return r;
	if (name)
		db_bind_text(st, 1, name);
	else
		db_bind_int64(st, 1, id);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return name ? vr_error_set(err, ENOENT, "no role \"%s\"", name)
			    : vr_error_set(err, ENOENT, "no role with id %lld", (long long)id);
	struct role role;
	read_role(st, &role);
	db_reset(st);
	r = read_role_privileges(db, &role, err);
	if (r < 0) {
		role_clear(&role);
		return r;
	}
	*out = role;
	return 0;
}

int role_get(struct db *db, int64_t id, struct role *out, struct vr_error **err)
{
	return role_get_where(db, "read a role", "SELECT " ROLE_COLUMNS " FROM role WHERE id = $1",
			      id, NULL, out, err);
}

int role_get_by_name(struct db *db, const char *name, struct role *out, struct vr_error **err)
{
	return role_get_where(db, "look up a role by name",
			      "SELECT " ROLE_COLUMNS " FROM role WHERE name = $1", 0,
			      name ? name : "", out, err);
}

static int cmp_role_id(const void *key, const void *elem)
{
	int64_t k = *(const int64_t *)key, id = ((const struct role *)elem)->id;
	return k < id ? -1 : k > id;
}

int role_list(struct db *db, struct role_list *out, struct vr_error **err)
{
	struct role_list list = {0};
	size_t cap = 0;
	_cleanup_stmt_ struct db_stmt *st = NULL, *pv = NULL;
	int r = db_prepare(db, "list roles", "SELECT " ROLE_COLUMNS " FROM role ORDER BY id", &st,
			   err);
	if (r < 0)
		return r;
	while ((r = db_step(st, err)) > 0) {
		if (list.n == cap) {
			cap = cap ? cap * 2 : 8;
			list.items = xrealloc(list.items, cap * sizeof(*list.items));
		}
		read_role(st, &list.items[list.n++]);
	}
	if (r == 0)
		r = db_prepare(db, "list the privileges of all roles",
			       "SELECT role_id, privilege_id FROM role_privilege", &pv, err);
	size_t *caps = xcalloc(list.n + 1, sizeof(*caps));
	while (r >= 0 && (r = db_step(pv, err)) > 0) {
		int64_t id = db_column_int64(pv, 0);
		struct role *role =
			find_n(&id, list.items, list.n, sizeof(*list.items), cmp_role_id);
		if (role)
			push_str(&role->privileges, &role->n_privileges, &caps[role - list.items],
				 db_column_text(pv, 1));
	}
	free(caps);
	if (r < 0) {
		role_list_clear(&list);
		return r;
	}
	for (size_t i = 0; i < list.n; i++)
		list.items[i].n_privileges =
			sort_unique(list.items[i].privileges, list.items[i].n_privileges);
	*out = list;
	return 0;
}

/*
 * The privilege ids to store for a custom role: the given ones and the
 * always-granted ones, each checked against the privilege table, sorted
 * and unique.
 */
static int role_privilege_set(struct db *db, const char *const *privileges, size_t n, char ***out,
			      size_t *n_out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "list privileges", "SELECT id FROM privilege", &st, err);
	if (r < 0)
		return r;
	char **known = NULL;
	size_t n_known = 0, cap = 0;
	while ((r = db_step(st, err)) > 0)
		push_str(&known, &n_known, &cap, db_column_text(st, 0));
	if (r < 0) {
		free_strs(known, n_known);
		return r;
	}
	n_known = sort_unique(known, n_known);

	char **set = NULL;
	size_t n_set = 0, set_cap = 0;
	for (size_t i = 0; i < n + ARRAY_SIZE(always_granted); i++) {
		const char *id = i < n ? privileges[i] : always_granted[i - n];
		if (!id || !find_n(&id, known, n_known, sizeof(*known), cmp_str)) {
			r = vr_error_set(err, EINVAL, "unknown privilege \"%s\"",
					 id ? id : "(null)");
			break;
		}
		push_str(&set, &n_set, &set_cap, id);
	}
	free_strs(known, n_known);
	if (r < 0) {
		free_strs(set, n_set);
		return r;
	}
	*out = set;
	*n_out = sort_unique(set, n_set);
	return 0;
}

static int insert_role_privileges(struct db *db, int64_t role_id, char **set, size_t n,
				  struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "grant a privilege to a role",
			   "INSERT INTO role_privilege (role_id, privilege_id) VALUES ($1, $2)",
			   &st, err);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		db_bind_int64(st, 1, role_id);
		db_bind_text(st, 2, set[i]);
		r = db_step(st, err);
	}
	return r < 0 ? r : 0;
}

struct role_args {
	int64_t id;
	const char *name, *label, *description;
	const char *const *privileges;
	size_t n;
	int64_t now_ms;
};

static int do_role_create(struct db *db, void *a, struct vr_error **err)
{
	struct role_args *args = a;
	char **set = NULL;
	size_t n_set = 0;
	int r = role_privilege_set(db, args->privileges, args->n, &set, &n_set, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot create role \"%s\"", args->name);
	_cleanup_stmt_ struct db_stmt *st = NULL;
	/* Checked before writing, so that PostgreSQL's transaction stays usable. */
	r = db_prepare(db, "check a role name", "SELECT id FROM role WHERE name = $1", &st, err);
	if (r == 0) {
		db_bind_text(st, 1, args->name);
		r = db_step(st, err);
		if (r > 0)
			r = vr_error_set(err, EEXIST, "role \"%s\" already exists", args->name);
	}
	db_stmt_freep(&st);
	if (r == 0)
		r = db_prepare(db, "insert a role",
			       "INSERT INTO role (name, label, description, is_system, created_ms,"
			       " modified_ms) VALUES ($1, $2, $3, FALSE, $4, $4) RETURNING id",
			       &st, err);
	if (r == 0) {
		db_bind_text(st, 1, args->name);
		db_bind_text(st, 2, args->label ? args->label : args->name);
		db_bind_text(st, 3, args->description ? args->description : "");
		db_bind_int64(st, 4, args->now_ms);
		r = db_step(st, err);
		if (r == 0)
			r = vr_error_set(err, EIO, "insert a role: no id returned");
		if (r > 0) {
			args->id = db_column_int64(st, 0);
			db_reset(st);
			r = insert_role_privileges(db, args->id, set, n_set, err);
		}
	}
	free_strs(set, n_set);
	return r;
}

int role_create(struct db *db, const char *name, const char *label, const char *description,
		const char *const *privileges, size_t n, int64_t now_ms, int64_t *id,
		struct vr_error **err)
{
	int r = principal_name_check("role name", name, ROLE_NAME_MAX, true, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot create role");
	struct role_args args = {0, name, label, description, privileges, n, now_ms};
	r = db_in_level(db, do_role_create, &args, err);
	if (r == 0 && id)
		*id = args.id;
	return r;
}

static int refuse_builtin(const struct role *role, const char *verb, struct vr_error **err)
{
	if (!role->is_system)
		return 0;
	return vr_error_set(err, EPERM, "cannot %s role \"%s\": it is a built-in role", verb,
			    role->name);
}

static int do_role_set(struct db *db, void *a, struct vr_error **err)
{
	struct role_args *args = a;
	struct role role = {0};
	char **set = NULL;
	size_t n_set = 0;
	int r = role_get(db, args->id, &role, err);
	if (r == 0)
		r = refuse_builtin(&role, "change", err);
	if (r == 0) {
		r = role_privilege_set(db, args->privileges, args->n, &set, &n_set, err);
		if (r < 0)
			vr_error_wrap(err, "cannot change role \"%s\"", role.name);
	}
	_cleanup_stmt_ struct db_stmt *del = NULL, *upd = NULL;
	if (r == 0)
		r = db_prepare(db, "remove a role's privileges",
			       "DELETE FROM role_privilege WHERE role_id = $1", &del, err);
	if (r == 0) {
		db_bind_int64(del, 1, role.id);
		r = db_step(del, err);
	}
	if (r == 0)
		r = insert_role_privileges(db, role.id, set, n_set, err);
	if (r == 0)
		r = db_prepare(db, "touch a role", "UPDATE role SET modified_ms = $2 WHERE id = $1",
			       &upd, err);
	if (r == 0) {
		db_bind_int64(upd, 1, role.id);
		db_bind_int64(upd, 2, args->now_ms);
		r = db_step(upd, err);
	}
	free_strs(set, n_set);
	role_clear(&role);
	return r;
}

int role_set_privileges(struct db *db, int64_t id, const char *const *privileges, size_t n,
			int64_t now_ms, struct vr_error **err)
{
	struct role_args args = {id, NULL, NULL, NULL, privileges, n, now_ms};
	return db_in_level(db, do_role_set, &args, err);
}

static int do_role_delete(struct db *db, void *a, struct vr_error **err)
{
	const struct role_args *args = a;
	struct role role = {0};
	int r = role_get(db, args->id, &role, err);
	if (r < 0)
		return r;
	r = refuse_builtin(&role, "delete", err);
	_cleanup_stmt_ struct db_stmt *cnt = NULL, *del = NULL;
	if (r == 0)
		r = db_prepare(db, "count the permissions using a role",
			       "SELECT COUNT(*) FROM permission WHERE role_id = $1", &cnt, err);
	if (r == 0) {
		db_bind_int64(cnt, 1, role.id);
		r = db_step(cnt, err);
		int64_t used = r > 0 ? db_column_int64(cnt, 0) : 0;
		if (r > 0)
			r = 0;
		if (r == 0 && used == 1)
			r = vr_error_set(err, EBUSY,
					 "cannot delete role \"%s\": 1 permission uses it",
					 role.name);
		else if (r == 0 && used > 1)
			r = vr_error_set(err, EBUSY,
					 "cannot delete role \"%s\": %lld permissions use it",
					 role.name, (long long)used);
	}
	if (r == 0)
		r = db_prepare(db, "delete a role", "DELETE FROM role WHERE id = $1", &del, err);
	if (r == 0) {
		db_bind_int64(del, 1, role.id);
		r = db_step(del, err);
	}
	role_clear(&role);
	return r;
}

int role_delete(struct db *db, int64_t id, struct vr_error **err)
{
	struct role_args args = {.id = id};
	return db_in_level(db, do_role_delete, &args, err);
}

/* ---- permissions ---- */

#define PERM_SELECT                                                                             \
	"SELECT p.id, p.object_id, p.principal_id, p.role_id, p.propagate, pr.name, pr.domain," \
	" pr.kind, r.name, o.name FROM permission p"                                            \
	" JOIN principal pr ON pr.id = p.principal_id"                                          \
	" JOIN role r ON r.id = p.role_id"                                                      \
	" JOIN inventory_object o ON o.id = p.object_id"

void permission_clear(struct permission *p)
{
	if (!p)
		return;
	free(p->principal_name);
	free(p->role_name);
	free(p->object_name);
	*p = (struct permission){0};
}

void permission_list_clear(struct permission_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		permission_clear(&l->items[i]);
	free(l->items);
	*l = (struct permission_list){0};
}

static const char *text_or_empty(struct db_stmt *st, int col)
{
	const char *s = db_column_text(st, col);
	return s ? s : "";
}

static int collect_permissions(struct db_stmt *st, struct permission_list *out,
			       struct vr_error **err)
{
	struct permission_list list = {0};
	size_t cap = 0;
	int r;
	while ((r = db_step(st, err)) > 0) {
		if (list.n == cap) {
			cap = cap ? cap * 2 : 16;
			list.items = xrealloc(list.items, cap * sizeof(*list.items));
		}
		struct permission *p = &list.items[list.n++];
		*p = (struct permission){0};
		p->id = db_column_int64(st, 0);
		p->object_id = db_column_int64(st, 1);
		p->principal_id = db_column_int64(st, 2);
		p->role_id = db_column_int64(st, 3);
		p->propagate = db_column_bool(st, 4);
		p->principal_name = xasprintf("%s@%s", text_or_empty(st, 5), text_or_empty(st, 6));
		p->principal_is_group = strcmp(text_or_empty(st, 7), "group") == 0;
		p->role_name = xstrdup(text_or_empty(st, 8));
		p->object_name = xstrdup(text_or_empty(st, 9));
	}
	if (r < 0) {
		permission_list_clear(&list);
		return r;
	}
	*out = list;
	return 0;
}

int permission_list_object(struct db *db, int64_t object_id, bool inherited,
			   struct permission_list *out, struct vr_error **err)
{
	struct inv_object o = {0};
	int r = inventory_get(db, object_id, &o, err);
	if (r < 0)
		return r;
	inv_object_clear(&o);
	_cleanup_stmt_ struct db_stmt *st = NULL;
	if (inherited)
		r = db_prepare(db, "list the permissions on an object and its ancestors",
			       "WITH RECURSIVE up (id, parent_id, depth) AS ("
			       " SELECT id, parent_id, 0 FROM inventory_object WHERE id = $1"
			       " UNION ALL"
			       " SELECT o.id, o.parent_id, up.depth + 1"
			       " FROM inventory_object o JOIN up ON o.id = up.parent_id"
			       " WHERE up.depth < 1000) " PERM_SELECT
			       " JOIN up ON up.id = p.object_id WHERE up.depth = 0 OR p.propagate"
			       " ORDER BY up.depth, pr.domain, pr.name",
			       &st, err);
	else
		r = db_prepare(db, "list the permissions on an object",
			       PERM_SELECT " WHERE p.object_id = $1 ORDER BY pr.domain, pr.name",
			       &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, object_id);
	return collect_permissions(st, out, err);
}

int permission_list_principal(struct db *db, int64_t principal_id, struct permission_list *out,
			      struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "list the permissions of a user or group",
			   PERM_SELECT " WHERE p.principal_id = $1 ORDER BY p.object_id", &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, principal_id);
	return collect_permissions(st, out, err);
}

struct perm_args {
	int64_t object_id, principal_id, role_id;
	bool propagate;
	int64_t now_ms;
	const char *what;
};

static int do_permission_set(struct db *db, void *a, struct vr_error **err)
{
	const struct perm_args *args = a;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(
		db, "set a permission",
		"INSERT INTO permission (object_id, principal_id, role_id, propagate,"
		" created_ms) VALUES ($1, $2, $3, $4, $5)"
		" ON CONFLICT (object_id, principal_id)"
		" DO UPDATE SET role_id = excluded.role_id, propagate = excluded.propagate",
		&st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, args->object_id);
	db_bind_int64(st, 2, args->principal_id);
	db_bind_int64(st, 3, args->role_id);
	db_bind_bool(st, 4, args->propagate);
	db_bind_int64(st, 5, args->now_ms);
	r = db_step(st, err);
	return r < 0 ? r : 0;
}

static int do_permission_remove(struct db *db, void *a, struct vr_error **err)
{
	const struct perm_args *args = a;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "remove a permission",
			   "DELETE FROM permission WHERE object_id = $1 AND principal_id = $2", &st,
			   err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, args->object_id);
	db_bind_int64(st, 2, args->principal_id);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (db_changes(st) == 0)
		return vr_error_set(err, ENOENT, "%s: there is no such permission", args->what);
	return 0;
}

int permission_set(struct db *db, int64_t object_id, int64_t principal_id, int64_t role_id,
		   bool propagate, int64_t now_ms, struct vr_error **err)
{
	struct inv_object o = {0};
	struct principal p = {0};
	struct role role = {0};
	int r = inventory_get(db, object_id, &o, err);
	if (r == 0)
		r = principal_get(db, principal_id, &p, err);
	if (r == 0)
		r = role_get(db, role_id, &role, err);
	if (r == 0) {
		_cleanup_free_ char *what = xasprintf(
			"cannot give %s \"%s@%s\" the role \"%s\" on \"%s\"",
			p.is_group ? "group" : "user", p.name, p.domain, role.name, o.name);
		struct perm_args args = {object_id, principal_id, role_id, propagate, now_ms, what};
		r = principal_guard_admins(db, do_permission_set, &args, what, err);
	}
	inv_object_clear(&o);
	principal_clear(&p);
	role_clear(&role);
	return r;
}

int permission_remove(struct db *db, int64_t object_id, int64_t principal_id, struct vr_error **err)
{
	struct inv_object o = {0};
	struct principal p = {0};
	int r = inventory_get(db, object_id, &o, err);
	if (r == 0)
		r = principal_get(db, principal_id, &p, err);
	if (r == 0) {
		_cleanup_free_ char *what =
			xasprintf("cannot remove the permission of %s \"%s@%s\" on \"%s\"",
				  p.is_group ? "group" : "user", p.name, p.domain, o.name);
		struct perm_args args = {
			.object_id = object_id, .principal_id = principal_id, .what = what};
		r = principal_guard_admins(db, do_permission_remove, &args, what, err);
	}
	inv_object_clear(&o);
	principal_clear(&p);
	return r;
}

/* ---- access checks ---- */

/* Object id -> parent id (0 for the root), open addressing; key 0 marks a free slot. */
struct parent_map {
	int64_t *keys, *parents;
	size_t cap, n; /* cap: a power of two, or 0 */
};

static size_t slot_of(const struct parent_map *m, int64_t key)
{
	uint64_t x = (uint64_t)key;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & (m->cap - 1);
}

static bool map_get(const struct parent_map *m, int64_t key, int64_t *parent)
{
	if (!m->cap)
		return false;
	for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == key) {
			*parent = m->parents[i];
			return true;
		}
		if (m->keys[i] == 0)
			return false;
	}
}

static void map_put(struct parent_map *m, int64_t key, int64_t parent);

static void map_grow(struct parent_map *m)
{
	struct parent_map old = *m;
	m->cap = old.cap ? old.cap * 2 : 256;
	m->n = 0;
	m->keys = xcalloc(m->cap, sizeof(*m->keys));
	m->parents = xcalloc(m->cap, sizeof(*m->parents));
	for (size_t i = 0; i < old.cap; i++)
		if (old.keys[i])
			map_put(m, old.keys[i], old.parents[i]);
	free(old.keys);
	free(old.parents);
}

static void map_put(struct parent_map *m, int64_t key, int64_t parent)
{
	if (key == 0)
		return;
	if ((m->n + 1) * 10 > m->cap * 7)
		map_grow(m);
	size_t i = slot_of(m, key);
	while (m->keys[i] != 0 && m->keys[i] != key)
		i = (i + 1) & (m->cap - 1);
	if (m->keys[i] == 0)
		m->n++;
	m->keys[i] = key;
	m->parents[i] = parent;
}

struct perm_entry {
	int64_t object_id;
	size_t role; /* index into ctx->roles */
	bool propagate;
	bool own; /* names the principal itself, not one of its groups */
};

struct role_bits {
	int64_t id;
	uint64_t *bits; /* over ctx->names */
};

struct access_ctx {
	int64_t principal_id;
	char *principal_name; /* "name@domain" */
	bool is_group;
	bool disabled;
	int64_t *groups;
	size_t n_groups;
	struct perm_entry *perms; /* by object id */
	size_t n_perms;
	struct role_bits *roles; /* by id */
	size_t n_roles;
	char **names; /* every privilege of those roles, sorted */
	size_t n_names, words;
	struct parent_map parents;
	bool tree_loaded;
	unsigned misses;
};

void access_ctx_free(struct access_ctx *ctx)
{
	if (!ctx)
		return;
	free(ctx->principal_name);
	free(ctx->groups);
	free(ctx->perms);
	for (size_t i = 0; i < ctx->n_roles; i++)
		free(ctx->roles[i].bits);
	free(ctx->roles);
	free_strs(ctx->names, ctx->n_names);
	free(ctx->parents.keys);
	free(ctx->parents.parents);
	free(ctx);
}

void access_ctx_freep(struct access_ctx **ctx)
{
	access_ctx_free(*ctx);
	*ctx = NULL;
}

/* The principal itself and all its groups. */
#define PRINCIPAL_AND_GROUPS          \
	"WITH RECURSIVE up (id) AS (" \
	" SELECT CAST($1 AS BIGINT)"  \
	" UNION"                      \
	" SELECT gm.group_id FROM group_member gm JOIN up ON gm.member_id = up.id)"

static struct role_bits *find_role_bits(struct access_ctx *ctx, int64_t id)
{
	size_t lo = 0, hi = ctx->n_roles;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ctx->roles[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ctx->n_roles && ctx->roles[lo].id == id ? &ctx->roles[lo] : NULL;
}

/* Reads the privileges of the roles the permissions use, as bit sets over ctx->names. */
static int load_roles(struct access_ctx *ctx, struct db *db, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read the privileges of a user's roles",
			   PRINCIPAL_AND_GROUPS
			   " SELECT role_id, privilege_id FROM role_privilege WHERE role_id IN"
			   " (SELECT p.role_id FROM permission p JOIN up ON p.principal_id = up.id)"
			   " ORDER BY role_id",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, ctx->principal_id);
	struct {
		int64_t role;
		char *priv;
	} *rows = NULL;
	size_t n_rows = 0, cap = 0, names_cap = 0;
	while ((r = db_step(st, err)) > 0) {
		if (n_rows == cap) {
			cap = cap ? cap * 2 : 64;
			rows = xrealloc(rows, cap * sizeof(*rows));
		}
		rows[n_rows].role = db_column_int64(st, 0);
		rows[n_rows].priv = xstrdup(text_or_empty(st, 1));
		push_str(&ctx->names, &ctx->n_names, &names_cap, rows[n_rows].priv);
		n_rows++;
	}
	if (r == 0) {
		ctx->n_names = sort_unique(ctx->names, ctx->n_names);
		ctx->words = (ctx->n_names + 63) / 64;
		for (size_t i = 0; i < n_rows; i++) {
			if (ctx->n_roles == 0 || ctx->roles[ctx->n_roles - 1].id != rows[i].role) {
				ctx->roles = xrealloc(ctx->roles,
						      (ctx->n_roles + 1) * sizeof(*ctx->roles));
				ctx->roles[ctx->n_roles].id = rows[i].role;
				ctx->roles[ctx->n_roles].bits =
					xcalloc(ctx->words ? ctx->words : 1, sizeof(uint64_t));
				ctx->n_roles++;
			}
			char **hit = find_n(&rows[i].priv, ctx->names, ctx->n_names,
					    sizeof(*ctx->names), cmp_str);
			size_t bit = (size_t)(hit - ctx->names);
			ctx->roles[ctx->n_roles - 1].bits[bit / 64] |= 1ULL << (bit % 64);
		}
	}
	for (size_t i = 0; i < n_rows; i++)
		free(rows[i].priv);
	free(rows);
	return r < 0 ? r : 0;
}

static int cmp_perm(const void *a, const void *b)
{
	const struct perm_entry *x = a, *y = b;
	return x->object_id < y->object_id ? -1 : x->object_id > y->object_id;
}

static int cmp_role_bits(const void *a, const void *b)
{
	const struct role_bits *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Reads the permissions of the principal and its groups. */
static int load_permissions(struct access_ctx *ctx, struct db *db, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read the permissions of a user and his groups",
			   PRINCIPAL_AND_GROUPS
			   " SELECT p.object_id, p.role_id, p.propagate, p.principal_id"
			   " FROM permission p JOIN up ON p.principal_id = up.id",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, ctx->principal_id);
	_cleanup_free_ int64_t *role_ids = NULL;
	size_t cap = 0;
	while ((r = db_step(st, err)) > 0) {
		if (ctx->n_perms == cap) {
			cap = cap ? cap * 2 : 16;
			ctx->perms = xrealloc(ctx->perms, cap * sizeof(*ctx->perms));
			role_ids = xrealloc(role_ids, cap * sizeof(*role_ids));
		}
		role_ids[ctx->n_perms] = db_column_int64(st, 1);
		ctx->perms[ctx->n_perms++] = (struct perm_entry){
			.object_id = db_column_int64(st, 0),
			.propagate = db_column_bool(st, 2),
			.own = db_column_int64(st, 3) == ctx->principal_id,
		};
	}
	if (r < 0)
		return r;
	/* A role without privileges (NoAccess) read no rows: it is an empty set. */
	size_t n_known = ctx->n_roles;
	for (size_t i = 0; i < ctx->n_perms; i++) {
		bool have = find_n(&(struct role_bits){.id = role_ids[i]}, ctx->roles, n_known,
				   sizeof(*ctx->roles), cmp_role_bits) != NULL;
		for (size_t j = n_known; !have && j < ctx->n_roles; j++)
			have = ctx->roles[j].id == role_ids[i];
		if (have)
			continue;
		ctx->roles = xrealloc(ctx->roles, (ctx->n_roles + 1) * sizeof(*ctx->roles));
		ctx->roles[ctx->n_roles++] = (struct role_bits){
			role_ids[i], xcalloc(ctx->words ? ctx->words : 1, sizeof(uint64_t))};
	}
	sort_n(ctx->roles, ctx->n_roles, sizeof(*ctx->roles), cmp_role_bits);
	for (size_t i = 0; i < ctx->n_perms; i++)
		ctx->perms[i].role = (size_t)(find_role_bits(ctx, role_ids[i]) - ctx->roles);
	sort_n(ctx->perms, ctx->n_perms, sizeof(*ctx->perms), cmp_perm);
	return 0;
}

int access_ctx_new(struct db *db, int64_t principal_id, struct access_ctx **out,
		   struct vr_error **err)
{
	struct principal p = {0};
	int r = principal_get(db, principal_id, &p, err);
	if (r < 0)
		return r;
	_cleanup_(access_ctx_freep) struct access_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->principal_id = principal_id;
	ctx->principal_name = principal_qualified_name(&p);
	ctx->is_group = p.is_group;
	ctx->disabled = p.disabled;
	principal_clear(&p);
	if (!ctx->disabled) {
		r = principal_groups(db, principal_id, &ctx->groups, &ctx->n_groups, err);
		if (r == 0)
			r = load_roles(ctx, db, err);
		if (r == 0)
			r = load_permissions(ctx, db, err);
		if (r < 0)
			return r;
	}
	*out = steal_pointer(&ctx);
	return 0;
}

/* Reads the parent links of the whole tree, in one query. */
static int load_tree(struct access_ctx *ctx, struct db *db, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read the inventory tree's parent links",
			   "SELECT id, parent_id FROM inventory_object", &st, err);
	if (r < 0)
		return r;
	while ((r = db_step(st, err)) > 0)
		map_put(&ctx->parents, db_column_int64(st, 0), db_column_int64(st, 1));
	if (r < 0)
		return r;
	ctx->tree_loaded = true;
	return 0;
}

/* Reads the parent links from an object up to the root. */
static int load_ancestors(struct access_ctx *ctx, struct db *db, int64_t id, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read an object's ancestors",
			   "WITH RECURSIVE up (id, parent_id, depth) AS ("
			   " SELECT id, parent_id, 0 FROM inventory_object WHERE id = $1"
			   " UNION ALL"
			   " SELECT o.id, o.parent_id, up.depth + 1"
			   " FROM inventory_object o JOIN up ON o.id = up.parent_id"
			   " WHERE up.depth < 1000)"
			   " SELECT id, parent_id FROM up",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	bool found = false;
	while ((r = db_step(st, err)) > 0) {
		map_put(&ctx->parents, db_column_int64(st, 0), db_column_int64(st, 1));
		found = true;
	}
	if (r < 0)
		return r;
	if (!found)
		return vr_error_set(err, ENOENT, "no inventory object with id %lld", (long long)id);
	return 0;
}

static int parent_of(struct access_ctx *ctx, struct db *db, int64_t id, int64_t *parent,
		     struct vr_error **err)
{
	if (map_get(&ctx->parents, id, parent))
		return 0;
	int r;
	if (!ctx->tree_loaded && ++ctx->misses > PARENT_MISSES_BEFORE_FULL_LOAD) {
		r = load_tree(ctx, db, err);
		if (r < 0)
			return r;
		if (map_get(&ctx->parents, id, parent))
			return 0;
	}
	/* Not seen yet, or created after the tree was read. */
	r = load_ancestors(ctx, db, id, err);
	if (r < 0)
		return r;
	if (!map_get(&ctx->parents, id, parent))
		return vr_error_set(err, ENOENT, "no inventory object with id %lld", (long long)id);
	return 0;
}

/* The effective privileges on an object (access.h), as a bit set over ctx->names. */
static int effective(struct access_ctx *ctx, struct db *db, int64_t object_id, uint64_t *set,
		     struct vr_error **err)
{
	memset(set, 0, (ctx->words ? ctx->words : 1) * sizeof(*set));
	if (object_id <= 0)
		return vr_error_set(err, ENOENT, "no inventory object with id %lld",
				    (long long)object_id);
	int64_t cur = object_id;
	for (int depth = 0; cur != 0; depth++) {
		if (depth > 1000)
			return vr_error_set(err, ELOOP,
					    "inventory object %lld is more than 1000 levels deep",
					    (long long)object_id);
		/* The permissions on cur. */
		struct perm_entry key = {.object_id = cur};
		size_t lo = 0, hi = ctx->n_perms;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (cmp_perm(&ctx->perms[mid], &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		const struct perm_entry *own = NULL;
		bool groups = false;
		for (size_t i = lo; i < ctx->n_perms && ctx->perms[i].object_id == cur; i++) {
			const struct perm_entry *p = &ctx->perms[i];
			if (depth > 0 && !p->propagate)
				continue;
			if (p->own) {
				own = p;
				break;
			}
			groups = true;
		}
		if (own) {
			memcpy(set, ctx->roles[own->role].bits, ctx->words * sizeof(*set));
			return 0;
		}
		if (groups) {
			for (size_t i = lo; i < ctx->n_perms && ctx->perms[i].object_id == cur;
			     i++) {
				const struct perm_entry *p = &ctx->perms[i];
				if (depth > 0 && !p->propagate)
					continue;
				for (size_t w = 0; w < ctx->words; w++)
					set[w] |= ctx->roles[p->role].bits[w];
			}
			return 0;
		}
		int r = parent_of(ctx, db, cur, &cur, err);
		if (r < 0)
			return r;
	}
	return 0; /* no permission anywhere */
}

int access_ctx_has(struct access_ctx *ctx, struct db *db, int64_t object_id, const char *privilege,
		   struct vr_error **err)
{
	uint64_t small[4];
	_cleanup_free_ uint64_t *big =
		ctx->words > ARRAY_SIZE(small) ? xcalloc(ctx->words, sizeof(*big)) : NULL;
	uint64_t *set = big ? big : small;
	int r = effective(ctx, db, object_id, set, err);
	if (r < 0)
		return r;
	if (!privilege)
		return 0;
	char **hit = find_n(&privilege, ctx->names, ctx->n_names, sizeof(*ctx->names), cmp_str);
	if (!hit)
		return 0;
	size_t bit = (size_t)(hit - ctx->names);
	return (set[bit / 64] >> (bit % 64)) & 1 ? 1 : 0;
}

int access_ctx_privileges(struct access_ctx *ctx, struct db *db, int64_t object_id, char ***privs,
			  size_t *n, struct vr_error **err)
{
	_cleanup_free_ uint64_t *set = xcalloc(ctx->words ? ctx->words : 1, sizeof(*set));
	int r = effective(ctx, db, object_id, set, err);
	if (r < 0)
		return r;
	char **out = NULL;
	size_t count = 0, cap = 0;
	for (size_t i = 0; i < ctx->n_names; i++)
		if ((set[i / 64] >> (i % 64)) & 1)
			push_str(&out, &count, &cap, ctx->names[i]);
	*privs = out;
	*n = count;
	return 0;
}

size_t access_ctx_granting_objects(const struct access_ctx *ctx, int64_t **ids)
{
	*ids = xcalloc(ctx->n_perms + 1, sizeof(**ids));
	size_t n = 0;
	for (size_t i = 0; i < ctx->n_perms; i++) {
		const struct role_bits *rb = &ctx->roles[ctx->perms[i].role];
		bool any = false;
		for (size_t w = 0; w < ctx->words && !any; w++)
			any = rb->bits[w] != 0;
		if (any)
			(*ids)[n++] = ctx->perms[i].object_id;
	}
	return n;
}

int access_check(struct db *db, int64_t principal_id, int64_t object_id, const char *privilege,
		 struct vr_error **err)
{
	_cleanup_(access_ctx_freep) struct access_ctx *ctx = NULL;
	int r = access_ctx_new(db, principal_id, &ctx, err);
	if (r < 0)
		return r;
	r = access_ctx_has(ctx, db, object_id, privilege, err);
	if (r < 0)
		return r;
	if (r == 1)
		return 0;
	struct inv_object o = {0};
	r = inventory_get(db, object_id, &o, err);
	if (r < 0)
		return r;
	r = vr_error_set(err, EACCES, "permission denied: %s \"%s\" lacks %s on \"%s\"",
			 ctx->is_group ? "group" : "user", ctx->principal_name,
			 privilege ? privilege : "(none)", o.name);
	inv_object_clear(&o);
	return r;
}
