/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_PRINCIPALS_H
#define VIREO_CENTER_DB_PRINCIPALS_H

/*
 * Users and groups of vireo-center (table principal, schema.c), as
 * vSphere's single sign-on has them: "name@domain", local ones in the
 * domain vsphere.local.  Groups hold users and other groups; membership
 * is transitive and never circular.
 *
 * Names are 1..64 bytes of [A-Za-z0-9._-] beginning with a letter or a
 * digit; a domain follows the same rules (up to 255 bytes).  Where a
 * principal is looked up, "name" means "name@vsphere.local" and
 * "name@domain" names the domain.  Passwords are 8..256 bytes, stored as
 * yescrypt hashes.
 *
 * The last administrator.  A change that would leave no enabled user
 * holding the built-in role Admin on the root folder (directly, or through
 * a group when the user has no permission of his own there) is refused
 * with -EBUSY, so that the server can always be administered.  A database
 * that had no such user (a new one) is not held to the rule.  The rule is
 * checked after the change, inside the transaction, so it also holds for
 * concurrent changes (PostgreSQL's serializable isolation makes one of two
 * racing changes retry).
 *
 * Functions that write run in a transaction level of their own (db_begin():
 * a savepoint inside the caller's transaction) and roll it back when they
 * fail, so the caller's transaction stays usable.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct vr_error;

#define PRINCIPAL_DEFAULT_DOMAIN "vsphere.local"
#define PRINCIPAL_NAME_MAX 64
#define PRINCIPAL_DOMAIN_MAX 255
#define PRINCIPAL_PASSWORD_MIN 8
#define PRINCIPAL_PASSWORD_MAX 256

struct principal {
	int64_t id;
	bool is_group;
	char *domain;
	char *name;
	char *full_name; /* "" if none */
	char *email;	 /* NULL if none */
	bool disabled;
	int64_t created_ms, modified_ms;
};

struct principal_list {
	struct principal *items;
	size_t n;
};

void principal_clear(struct principal *p);
void principal_list_clear(struct principal_list *l);

/* "name@domain"; a new string. */
char *principal_qualified_name(const struct principal *p);

/*
 * Checks a name under the rules above; `what` heads the message ("user
 * name").  allow_spaces lets spaces inside (not first or last): role
 * names follow these rules with spaces.  -EINVAL naming the problem.
 */
int principal_name_check(const char *what, const char *name, size_t max, bool allow_spaces,
			 struct vr_error **err);
/* Splits "name" or "name@domain" after checking both parts; new strings. */
int principal_name_split(const char *qualified, char **name, char **domain, struct vr_error **err);
/* 8..256 bytes; -EINVAL otherwise. */
int principal_password_check(const char *password, struct vr_error **err);

/* A user in vsphere.local; -EEXIST `user "x" already exists` (or a group of that name). */
int principal_user_create(struct db *db, const char *name, const char *password,
			  const char *full_name /* NULL: none */, int64_t now_ms, int64_t *id,
			  struct vr_error **err);
int principal_group_create(struct db *db, const char *name, const char *full_name, int64_t now_ms,
			   int64_t *id, struct vr_error **err);

/* -ENOENT if none. */
int principal_get(struct db *db, int64_t id, struct principal *out, struct vr_error **err);
/* "x" (in vsphere.local) or "x@domain"; -ENOENT if none. */
int principal_get_by_name(struct db *db, const char *name, struct principal *out,
			  struct vr_error **err);
/* Users and groups, by domain then name (bytewise). */
int principal_list(struct db *db, struct principal_list *out, struct vr_error **err);

/*
 * Deletes a user or a group with its memberships and permissions; -EBUSY
 * (saying why) if that would remove the last administrator.
 */
int principal_delete(struct db *db, int64_t id, struct vr_error **err);
/* Users only (-EINVAL for a group). */
int principal_set_password(struct db *db, int64_t id, const char *password, int64_t now_ms,
			   struct vr_error **err);
/* Users only; disabling follows the last-administrator rule. */
int principal_set_disabled(struct db *db, int64_t id, bool disabled, int64_t now_ms,
			   struct vr_error **err);

/*
 * 0 and *id (may be NULL) when the password is right and the user
 * enabled; otherwise -EACCES "invalid user name or password", the same
 * for an unknown user, a wrong password, a disabled user or a group, and
 * taking as long (a dummy hash is checked when there is no user).  Other
 * errors (the database) are reported as they are.
 */
int principal_verify_password(struct db *db, const char *name, const char *password, int64_t *id,
			      struct vr_error **err);

/*
 * Adds a user or a group to a group (nothing to do if it is a member
 * already).  -EINVAL if group_id is a user or if the member would then
 * contain itself; -ENOENT if either does not exist.
 */
int group_add_member(struct db *db, int64_t group_id, int64_t member_id, struct vr_error **err);
/* -ENOENT if it is not a direct member; follows the last-administrator rule. */
int group_remove_member(struct db *db, int64_t group_id, int64_t member_id, struct vr_error **err);
/* Direct members, by domain then name. */
int group_list_members(struct db *db, int64_t group_id, struct principal_list *out,
		       struct vr_error **err);
/*
 * All groups the principal belongs to, directly or through nested groups:
 * ids sorted ascending, unique; *ids is NULL when there are none (the
 * caller frees it).
 */
int principal_groups(struct db *db, int64_t principal_id, int64_t **ids, size_t *n,
		     struct vr_error **err);

/* ---- the last-administrator rule, shared with access.c ---- */
/* Enabled users holding Admin on the root folder (see above). */
int principal_count_admins(struct db *db, int64_t *n, struct vr_error **err);
/*
 * Runs change() in a transaction level of its own and keeps it only if an
 * administrator is left (or there was none before); otherwise rolls it
 * back and returns -EBUSY "WHAT: no enabled user would be left with the
 * Admin role on the root folder".  Returns change()'s result.
 */
int principal_guard_admins(struct db *db,
			   int (*change)(struct db *db, void *arg, struct vr_error **err),
			   void *arg, const char *what, struct vr_error **err);

#endif
