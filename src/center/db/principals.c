/* SPDX-License-Identifier: Apache-2.0 */
/* Users and groups on the database (rules in principals.h, tables in schema.c). */
#include "center/db/principals.h"

#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "center/db/db.h"
#include "common/error.h"
#include "common/util.h"

#define COLUMNS "id, kind, domain, name, full_name, email, disabled, created_ms, modified_ms"
#define COLUMNS_P                                                                          \
	"p.id, p.kind, p.domain, p.name, p.full_name, p.email, p.disabled, p.created_ms, " \
	"p.modified_ms"

void principal_clear(struct principal *p)
{
	if (!p)
		return;
	free(p->domain);
	free(p->name);
	free(p->full_name);
	free(p->email);
	*p = (struct principal){0};
}

void principal_list_clear(struct principal_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		principal_clear(&l->items[i]);
	free(l->items);
	*l = (struct principal_list){0};
}

char *principal_qualified_name(const struct principal *p)
{
	return xasprintf("%s@%s", p->name ? p->name : "", p->domain ? p->domain : "");
}

static const char *kind_word(const struct principal *p)
{
	return p->is_group ? "group" : "user";
}

/* ---- names and passwords ---- */

static bool is_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int principal_name_check(const char *what, const char *name, size_t max, bool allow_spaces,
			 struct vr_error **err)
{
	if (!name || !*name)
		return vr_error_set(err, EINVAL, "%s is empty", what);
	size_t len = strlen(name);
	if (len > max)
		return vr_error_set(err, EINVAL, "%s is %zu bytes long; the limit is %zu", what,
				    len, max);
	const char *allowed = allow_spaces ? "letters, digits, spaces, '.', '_' and '-'"
					   : "letters, digits, '.', '_' and '-'";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (is_alnum(c) || c == '.' || c == '_' || c == '-' || (allow_spaces && c == ' '))
			continue;
		if (c >= 0x20 && c < 0x7f)
			return vr_error_set(err, EINVAL,
					    "%s \"%s\" contains '%c'; only %s are allowed", what,
					    name, c, allowed);
		return vr_error_set(err, EINVAL,
				    "%s contains byte 0x%02x at offset %zu; only %s are allowed",
				    what, c, i, allowed);
	}
	if (!is_alnum((unsigned char)name[0]))
		return vr_error_set(err, EINVAL, "%s \"%s\" must begin with a letter or a digit",
				    what, name);
	if (name[len - 1] == ' ')
		return vr_error_set(err, EINVAL, "%s \"%s\" ends with a space", what, name);
	return 0;
}

int principal_name_split(const char *qualified, char **name, char **domain, struct vr_error **err)
{
	if (!qualified)
		qualified = "";
	const char *at = strchr(qualified, '@');
	_cleanup_free_ char *n =
		at ? xstrndup(qualified, (size_t)(at - qualified)) : xstrdup(qualified);
	_cleanup_free_ char *d = xstrdup(at ? at + 1 : PRINCIPAL_DEFAULT_DOMAIN);
	int r = principal_name_check("user or group name", n, PRINCIPAL_NAME_MAX, false, err);
	if (r == 0)
		r = principal_name_check("domain", d, PRINCIPAL_DOMAIN_MAX, false, err);
	if (r < 0)
		return r;
	*name = steal_pointer(&n);
	*domain = steal_pointer(&d);
	return 0;
}

int principal_password_check(const char *password, struct vr_error **err)
{
	if (!password)
		return vr_error_set(err, EINVAL, "password is missing");
	size_t len = strlen(password);
	if (len < PRINCIPAL_PASSWORD_MIN)
		return vr_error_set(err, EINVAL,
				    "password is %zu bytes long; it must have at least %d", len,
				    PRINCIPAL_PASSWORD_MIN);
	if (len > PRINCIPAL_PASSWORD_MAX)
		return vr_error_set(err, EINVAL, "password is %zu bytes long; the limit is %d", len,
				    PRINCIPAL_PASSWORD_MAX);
	return 0;
}

/* ---- hashing (yescrypt, as hostd's auth.c) ---- */

static int password_hash(const char *password, char **out, struct vr_error **err)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)))
		return vr_error_set_errno(err, errno ? errno : EINVAL,
					  "cannot generate a yescrypt salt");
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h = crypt_r(password, salt, cd);
	int r = 0;
	if (!h || h[0] == '*')
		r = vr_error_set(err, EIO, "cannot hash the password with yescrypt");
	else
		*out = xstrdup(h);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return r;
}

/* Compares in time that depends on the lengths only (which are not secret). */
static bool equal_const_time(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), n = na < nb ? na : nb;
	volatile unsigned char diff = na != nb;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static bool password_matches(const char *password, const char *hash)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h = crypt_r(password, hash, cd);
	bool ok = h && h[0] != '*' && equal_const_time(h, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* A hash of a random password with the same cost, checked when there is no user. */
static char *dummy_hash;
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
	unsigned char raw[18];
	char pw[2 * sizeof(raw) + 1];
	if (random_bytes(raw, sizeof(raw)) < 0)
		memset(raw, 0x5a, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(pw + 2 * i, 3, "%02x", raw[i]);
	if (password_hash(pw, &dummy_hash, NULL) < 0)
		dummy_hash = NULL;
}

static const char *get_dummy_hash(void)
{
	pthread_once(&dummy_once, dummy_init);
	/* If yescrypt failed there, every check fails the same way anyway. */
	return dummy_hash ? dummy_hash : "$y$j9T$AAAAAAAAAAAAAAAAAAAAA.$";
}

/* ---- reading ---- */

static void read_row(struct db_stmt *st, struct principal *p)
{
	const char *kind = db_column_text(st, 1);
	*p = (struct principal){0};
	p->id = db_column_int64(st, 0);
	p->is_group = kind && strcmp(kind, "group") == 0;
	p->domain = xstrdup(db_column_text(st, 2) ? db_column_text(st, 2) : "");
	p->name = xstrdup(db_column_text(st, 3) ? db_column_text(st, 3) : "");
	p->full_name = xstrdup(db_column_text(st, 4) ? db_column_text(st, 4) : "");
	p->email = db_column_is_null(st, 5) ? NULL : xstrdup(db_column_text(st, 5));
	p->disabled = db_column_bool(st, 6);
	p->created_ms = db_column_int64(st, 7);
	p->modified_ms = db_column_int64(st, 8);
}

static int collect(struct db_stmt *st, struct principal_list *out, struct vr_error **err)
{
	struct principal_list list = {0};
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
		principal_list_clear(&list);
		return r;
	}
	*out = list;
	return 0;
}

int principal_get(struct db *db, int64_t id, struct principal *out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read a user or group",
			   "SELECT " COLUMNS " FROM principal WHERE id = $1", &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, ENOENT, "no user or group with id %lld", (long long)id);
	read_row(st, out);
	return 0;
}

/* 1 and *out if there is one, 0 if not. */
static int find_by_name(struct db *db, const char *name, const char *domain, struct principal *out,
			struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "look up a user or group by name",
			   "SELECT " COLUMNS " FROM principal WHERE domain = $1 AND name = $2", &st,
			   err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, domain);
	db_bind_text(st, 2, name);
	r = db_step(st, err);
	if (r > 0)
		read_row(st, out);
	return r;
}

int principal_get_by_name(struct db *db, const char *name, struct principal *out,
			  struct vr_error **err)
{
	_cleanup_free_ char *n = NULL, *d = NULL;
	int r = principal_name_split(name, &n, &d, err);
	if (r < 0)
		return r;
	r = find_by_name(db, n, d, out, err);
	if (r == 0)
		return vr_error_set(err, ENOENT, "no user or group \"%s@%s\"", n, d);
	return r < 0 ? r : 0;
}

int principal_list(struct db *db, struct principal_list *out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "list users and groups",
			   "SELECT " COLUMNS " FROM principal ORDER BY domain, name", &st, err);
	if (r < 0)
		return r;
	return collect(st, out, err);
}

/* ---- the last-administrator rule ---- */

int principal_count_admins(struct db *db, int64_t *n, struct vr_error **err)
{
	/*
	 * A user holds Admin on the root folder through his own permission
	 * there, or, having none of his own there, through one of a group he
	 * is in (nested groups included): the rules of access.h at the root.
	 */
	return db_query_int64(
		db, "count the administrators",
		"WITH RECURSIVE"
		" root (id) AS (SELECT id FROM inventory_object WHERE parent_id IS NULL),"
		" admin (id) AS (SELECT id FROM role WHERE name = 'Admin' AND is_system),"
		" via_group (id) AS ("
		"  SELECT p.principal_id FROM permission p"
		"  JOIN principal g ON g.id = p.principal_id"
		"  WHERE g.kind = 'group' AND p.object_id IN (SELECT id FROM root)"
		"  AND p.role_id IN (SELECT id FROM admin)"
		"  UNION"
		"  SELECT gm.member_id FROM group_member gm"
		"  JOIN via_group v ON gm.group_id = v.id)"
		" SELECT COUNT(*) FROM principal u"
		" WHERE u.kind = 'user' AND NOT u.disabled AND ("
		"  EXISTS (SELECT 1 FROM permission p WHERE p.principal_id = u.id"
		"   AND p.object_id IN (SELECT id FROM root)"
		"   AND p.role_id IN (SELECT id FROM admin))"
		"  OR (u.id IN (SELECT id FROM via_group)"
		"   AND NOT EXISTS (SELECT 1 FROM permission p WHERE p.principal_id = u.id"
		"    AND p.object_id IN (SELECT id FROM root))))",
		n, err);
}

struct guard_args {
	int (*change)(struct db *db, void *arg, struct vr_error **err);
	void *arg;
	const char *what;
};

static int do_guard_admins(struct db *db, void *a, struct vr_error **err)
{
	struct guard_args *g = a;
	int64_t before = 0, after = 0;
	int r = principal_count_admins(db, &before, err);
	if (r == 0)
		r = g->change(db, g->arg, err);
	if (r >= 0 && before > 0) {
		int c = principal_count_admins(db, &after, err);
		if (c < 0)
			r = c;
		else if (after == 0)
			r = vr_error_set(err, EBUSY,
					 "%s: no enabled user would be left with the Admin role on "
					 "the root folder",
					 g->what);
	}
	return r;
}

int principal_guard_admins(struct db *db,
			   int (*change)(struct db *db, void *arg, struct vr_error **err),
			   void *arg, const char *what, struct vr_error **err)
{
	struct guard_args args = {.change = change, .arg = arg, .what = what};
	return db_in_level(db, do_guard_admins, &args, err);
}

/* ---- create ---- */

struct create_args {
	bool group;
	const char *name, *full_name, *hash;
	int64_t now_ms;
	int64_t id;
};

static int do_create(struct db *db, void *a, struct vr_error **err)
{
	struct create_args *args = a;
	struct principal old = {0};
	/* Checked before writing, so that PostgreSQL's transaction stays usable. */
	int r = find_by_name(db, args->name, PRINCIPAL_DEFAULT_DOMAIN, &old, err);
	if (r < 0)
		return r;
	if (r > 0) {
		if (old.is_group == args->group)
			r = vr_error_set(err, EEXIST, "%s \"%s\" already exists", kind_word(&old),
					 args->name);
		else
			r = vr_error_set(err, EEXIST,
					 "cannot create %s \"%s\": %s \"%s\" already exists",
					 args->group ? "group" : "user", args->name,
					 kind_word(&old), args->name);
		principal_clear(&old);
		return r;
	}
	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "insert a user or group",
		       "INSERT INTO principal (kind, domain, name, full_name, password_hash,"
		       " created_ms, modified_ms) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
		       &st, err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, args->group ? "group" : "user");
	db_bind_text(st, 2, PRINCIPAL_DEFAULT_DOMAIN);
	db_bind_text(st, 3, args->name);
	db_bind_text(st, 4, args->full_name ? args->full_name : "");
	db_bind_text(st, 5, args->hash);
	db_bind_int64(st, 6, args->now_ms);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, EIO, "insert a user or group: no id returned");
	args->id = db_column_int64(st, 0);
	db_reset(st);
	return 0;
}

static int create(struct db *db, bool group, const char *name, const char *password,
		  const char *full_name, int64_t now_ms, int64_t *id, struct vr_error **err)
{
	const char *what = group ? "group name" : "user name";
	int r = principal_name_check(what, name, PRINCIPAL_NAME_MAX, false, err);
	if (r == 0 && !group)
		r = principal_password_check(password, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot create %s", group ? "group" : "user");
	/* Hashed outside the transaction: yescrypt takes a while, writers should not wait. */
	_cleanup_free_ char *hash = NULL;
	if (!group) {
		r = password_hash(password, &hash, err);
		if (r < 0)
			return r;
	}
	struct create_args args = {group, name, full_name, hash, now_ms, 0};
	r = db_in_level(db, do_create, &args, err);
	if (r == 0 && id)
		*id = args.id;
	return r;
}

int principal_user_create(struct db *db, const char *name, const char *password,
			  const char *full_name, int64_t now_ms, int64_t *id, struct vr_error **err)
{
	return create(db, false, name, password, full_name, now_ms, id, err);
}

int principal_group_create(struct db *db, const char *name, const char *full_name, int64_t now_ms,
			   int64_t *id, struct vr_error **err)
{
	return create(db, true, name, NULL, full_name, now_ms, id, err);
}

/* ---- change, delete ---- */

/* Runs a statement with one or two int64 parameters ($1 = a, $2 = b if n == 2). */
static int exec_ids(struct db *db, const char *purpose, const char *sql, int n, int64_t a,
		    int64_t b, int64_t *changes, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, purpose, sql, &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, a);
	if (n == 2)
		db_bind_int64(st, 2, b);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (changes)
		*changes = db_changes(st);
	return 0;
}

static int do_delete(struct db *db, void *a, struct vr_error **err)
{
	const struct principal *p = a;
	return exec_ids(db, "delete a user or group", "DELETE FROM principal WHERE id = $1", 1,
			p->id, 0, NULL, err);
}

int principal_delete(struct db *db, int64_t id, struct vr_error **err)
{
	struct principal p = {0};
	int r = principal_get(db, id, &p, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *what =
		xasprintf("cannot delete %s \"%s@%s\"", kind_word(&p), p.name, p.domain);
	r = principal_guard_admins(db, do_delete, &p, what, err);
	principal_clear(&p);
	return r;
}

/* Reads a user; -EINVAL (saying `verb`) for a group. */
static int get_user(struct db *db, int64_t id, const char *verb, struct principal *out,
		    struct vr_error **err)
{
	int r = principal_get(db, id, out, err);
	if (r < 0)
		return r;
	if (out->is_group) {
		r = vr_error_set(err, EINVAL, "cannot %s \"%s@%s\": it is a group, not a user",
				 verb, out->name, out->domain);
		principal_clear(out);
	}
	return r;
}

int principal_set_password(struct db *db, int64_t id, const char *password, int64_t now_ms,
			   struct vr_error **err)
{
	int r = principal_password_check(password, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot set the password");
	struct principal p = {0};
	r = get_user(db, id, "set the password of", &p, err);
	if (r < 0)
		return r;
	principal_clear(&p);
	_cleanup_free_ char *hash = NULL;
	r = password_hash(password, &hash, err);
	if (r < 0)
		return r;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "set a user's password",
		       "UPDATE principal SET password_hash = $2, modified_ms = $3"
		       " WHERE id = $1 AND kind = 'user'",
		       &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, hash);
	db_bind_int64(st, 3, now_ms);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (db_changes(st) == 0)
		return vr_error_set(err, ENOENT, "no user with id %lld", (long long)id);
	return 0;
}

struct disable_args {
	int64_t id;
	bool disabled;
	int64_t now_ms;
};

static int do_set_disabled(struct db *db, void *a, struct vr_error **err)
{
	const struct disable_args *args = a;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "enable or disable a user",
			   "UPDATE principal SET disabled = $2, modified_ms = $3"
			   " WHERE id = $1 AND kind = 'user'",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, args->id);
	db_bind_bool(st, 2, args->disabled);
	db_bind_int64(st, 3, args->now_ms);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (db_changes(st) == 0)
		return vr_error_set(err, ENOENT, "no user with id %lld", (long long)args->id);
	return 0;
}

int principal_set_disabled(struct db *db, int64_t id, bool disabled, int64_t now_ms,
			   struct vr_error **err)
{
	struct principal p = {0};
	int r = get_user(db, id, disabled ? "disable" : "enable", &p, err);
	if (r < 0)
		return r;
	struct disable_args args = {id, disabled, now_ms};
	if (disabled) {
		_cleanup_free_ char *what =
			xasprintf("cannot disable user \"%s@%s\"", p.name, p.domain);
		r = principal_guard_admins(db, do_set_disabled, &args, what, err);
	} else {
		r = do_set_disabled(db, &args, err);
	}
	principal_clear(&p);
	return r;
}

/* ---- passwords ---- */

int principal_verify_password(struct db *db, const char *name, const char *password, int64_t *id,
			      struct vr_error **err)
{
	_cleanup_free_ char *n = NULL, *d = NULL, *hash = NULL;
	int64_t user_id = 0;
	bool usable = false;
	if (principal_name_split(name, &n, &d, NULL) == 0) {
		_cleanup_stmt_ struct db_stmt *st = NULL;
		int r = db_prepare(db, "read a user's password hash",
				   "SELECT id, kind, password_hash, disabled FROM principal"
				   " WHERE domain = $1 AND name = $2",
				   &st, err);
		if (r < 0)
			return r;
		db_bind_text(st, 1, d);
		db_bind_text(st, 2, n);
		r = db_step(st, err);
		if (r < 0)
			return r;
		if (r > 0) {
			const char *kind = db_column_text(st, 1);
			user_id = db_column_int64(st, 0);
			usable = kind && strcmp(kind, "user") == 0 && !db_column_is_null(st, 2) &&
				 !db_column_bool(st, 3);
			if (usable)
				hash = xstrdup(db_column_text(st, 2));
		}
	}
	/* Always hash, so that unknown users, groups and disabled users take as long. */
	bool length_ok = password && strlen(password) <= PRINCIPAL_PASSWORD_MAX;
	bool match = password_matches(length_ok ? password : "", usable ? hash : get_dummy_hash());
	if (!(usable && length_ok && match))
		return vr_error_set(err, EACCES, "invalid user name or password");
	if (id)
		*id = user_id;
	return 0;
}

/* ---- groups ---- */

int principal_groups(struct db *db, int64_t principal_id, int64_t **ids, size_t *n,
		     struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(
		db, "list the groups of a user or group",
		"WITH RECURSIVE up (id) AS ("
		" SELECT group_id FROM group_member WHERE member_id = $1"
		" UNION"
		" SELECT gm.group_id FROM group_member gm JOIN up ON gm.member_id = up.id)"
		" SELECT id FROM up ORDER BY id",
		&st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, principal_id);
	_cleanup_free_ int64_t *list = NULL;
	size_t count = 0, cap = 0;
	while ((r = db_step(st, err)) > 0) {
		if (count == cap) {
			cap = cap ? cap * 2 : 8;
			list = xrealloc(list, cap * sizeof(*list));
		}
		list[count++] = db_column_int64(st, 0);
	}
	if (r < 0)
		return r;
	*ids = steal_pointer(&list);
	*n = count;
	return 0;
}

struct member_args {
	int64_t group_id, member_id;
	const char *what; /* removal: "cannot remove \"x\" from \"g\"" */
};

static int do_add_member(struct db *db, void *a, struct vr_error **err)
{
	const struct member_args *args = a;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	struct principal g = {0}, m = {0};
	int64_t *groups = NULL;
	size_t n_groups = 0;
	int r = principal_get(db, args->group_id, &g, err);
	if (r == 0)
		r = principal_get(db, args->member_id, &m, err);
	if (r < 0)
		goto out;
	if (!g.is_group) {
		r = vr_error_set(err, EINVAL,
				 "cannot add \"%s@%s\" to \"%s@%s\": that is a user, not a group",
				 m.name, m.domain, g.name, g.domain);
		goto out;
	}
	if (g.id == m.id) {
		r = vr_error_set(err, EINVAL, "cannot add group \"%s@%s\" to itself", g.name,
				 g.domain);
		goto out;
	}
	/* The new member must not already contain the group. */
	r = principal_groups(db, g.id, &groups, &n_groups, err);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_groups; i++)
		if (groups[i] == m.id) {
			r = vr_error_set(err, EINVAL,
					 "cannot add group \"%s@%s\" to group \"%s@%s\": \"%s@%s\" "
					 "is already inside \"%s@%s\", that would make a cycle",
					 m.name, m.domain, g.name, g.domain, g.name, g.domain,
					 m.name, m.domain);
			goto out;
		}
	r = db_prepare(db, "add a group member",
		       "INSERT INTO group_member (group_id, member_id) VALUES ($1, $2)"
		       " ON CONFLICT (group_id, member_id) DO NOTHING",
		       &st, err);
	if (r < 0)
		goto out;
	db_bind_int64(st, 1, g.id);
	db_bind_int64(st, 2, m.id);
	r = db_step(st, err);
out:
	free(groups);
	principal_clear(&g);
	principal_clear(&m);
	return r < 0 ? r : 0;
}

int group_add_member(struct db *db, int64_t group_id, int64_t member_id, struct vr_error **err)
{
	struct member_args args = {group_id, member_id, NULL};
	return db_in_level(db, do_add_member, &args, err);
}

static int do_remove_member(struct db *db, void *a, struct vr_error **err)
{
	const struct member_args *args = a;
	int64_t changes = 0;
	int r = exec_ids(db, "remove a group member",
			 "DELETE FROM group_member WHERE group_id = $1 AND member_id = $2", 2,
			 args->group_id, args->member_id, &changes, err);
	if (r == 0 && changes == 0)
		r = vr_error_set(err, ENOENT, "%s: it is not a direct member of that group",
				 args->what);
	return r;
}

int group_remove_member(struct db *db, int64_t group_id, int64_t member_id, struct vr_error **err)
{
	struct principal g = {0}, m = {0};
	int r = principal_get(db, group_id, &g, err);
	if (r == 0)
		r = principal_get(db, member_id, &m, err);
	if (r == 0) {
		_cleanup_free_ char *what = xasprintf("cannot remove \"%s@%s\" from \"%s@%s\"",
						      m.name, m.domain, g.name, g.domain);
		struct member_args args = {group_id, member_id, what};
		r = principal_guard_admins(db, do_remove_member, &args, what, err);
	}
	principal_clear(&g);
	principal_clear(&m);
	return r;
}

int group_list_members(struct db *db, int64_t group_id, struct principal_list *out,
		       struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(
		db, "list the members of a group",
		"SELECT " COLUMNS_P " FROM principal p JOIN group_member gm"
		" ON gm.member_id = p.id WHERE gm.group_id = $1 ORDER BY p.domain, p.name",
		&st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, group_id);
	return collect(st, out, err);
}
