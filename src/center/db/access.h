/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_ACCESS_H
#define VIREO_CENTER_DB_ACCESS_H

/*
 * Roles, permissions and access checks, as vSphere has them.
 *
 * A role is a named set of privileges (privileges.h).  The built-in roles
 * (NoAccess, ReadOnly, VirtualMachineUser, VirtualMachineAdministrator,
 * Admin) are seeded by schema migration 1 with their patterns expanded
 * into one role_privilege row per privilege, and cannot be changed or
 * deleted; custom roles are made from lists of privilege ids.
 *
 * A permission gives a principal (user or group, principals.h) a role on
 * an inventory object, for that object only or propagating to everything
 * below it.  One permission per (object, principal).
 *
 * Effective privileges, vSphere's rules: walk from the object up to the
 * root; the nearest object carrying a permission that applies to the user
 * wins (a permission on an ancestor applies only if it propagates; on the
 * object itself always).  At that object, a permission naming the user
 * himself beats those of his groups (nested groups included); several
 * group permissions there give the union of their roles.  No permission
 * anywhere: no privileges.  A disabled user has none.  So a NoAccess
 * permission on a folder hides it and what is below from a user that
 * has Admin on the datacenter above.
 *
 * Changing permissions follows the last-administrator rule of
 * principals.h (-EBUSY).  Functions that write run in a transaction level
 * of their own.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct vr_error;

#define ROLE_NAME_MAX 64

struct role {
	int64_t id;
	char *name;
	char *label;
	char *description;
	bool is_system;
	char **privileges; /* sorted bytewise, unique */
	size_t n_privileges;
};

struct role_list {
	struct role *items;
	size_t n;
};

void role_clear(struct role *r);
void role_list_clear(struct role_list *l);

/* All roles, built-in ones first (by id). */
int role_list(struct db *db, struct role_list *out, struct vr_error **err);
/* -ENOENT if none. */
int role_get(struct db *db, int64_t id, struct role *out, struct vr_error **err);
int role_get_by_name(struct db *db, const char *name, struct role *out, struct vr_error **err);

/*
 * A custom role from a list of privilege ids (each must exist: -EINVAL
 * `unknown privilege "X"`; duplicates are fine).  System.Anonymous,
 * System.View and System.Read are always added, as vSphere does.  The name
 * follows the rules of principal names (principals.h) but may hold spaces
 * inside; -EEXIST if taken.  label NULL: the name; description NULL: "".
 */
int role_create(struct db *db, const char *name, const char *label, const char *description,
		const char *const *privileges, size_t n, int64_t now_ms, int64_t *id,
		struct vr_error **err);
/* Replaces a custom role's privileges (same rules); -EPERM for a built-in role. */
int role_set_privileges(struct db *db, int64_t id, const char *const *privileges, size_t n,
			int64_t now_ms, struct vr_error **err);
/* -EPERM for a built-in role; -EBUSY while permissions use it, saying how many. */
int role_delete(struct db *db, int64_t id, struct vr_error **err);

struct permission {
	int64_t id, object_id, principal_id, role_id;
	bool propagate;
	char *principal_name; /* "name@domain" */
	bool principal_is_group;
	char *role_name;
	char *object_name;
};

struct permission_list {
	struct permission *items;
	size_t n;
};

void permission_clear(struct permission *p);
void permission_list_clear(struct permission_list *l);

/*
 * Gives principal_id the role on object_id, replacing the permission it
 * had there.  -ENOENT for an unknown object, principal or role; -EBUSY if
 * no enabled user would be left with Admin on the root folder.
 */
int permission_set(struct db *db, int64_t object_id, int64_t principal_id, int64_t role_id,
		   bool propagate, int64_t now_ms, struct vr_error **err);
/* Same last-administrator rule; -ENOENT if there is no such permission. */
int permission_remove(struct db *db, int64_t object_id, int64_t principal_id,
		      struct vr_error **err);
/*
 * The permissions on an object, by principal; with `inherited`, also
 * those propagating to it from its ancestors, nearest first (the object's
 * own first).  -ENOENT if the object does not exist.
 */
int permission_list_object(struct db *db, int64_t object_id, bool inherited,
			   struct permission_list *out, struct vr_error **err);
/* The permissions naming the principal itself (not its groups'), by object id. */
int permission_list_principal(struct db *db, int64_t principal_id, struct permission_list *out,
			      struct vr_error **err);

/*
 * Checks for one principal: its permissions (its own and its groups'),
 * the privileges of their roles, and the parents of the objects asked
 * about, loaded once and cached, so that checking many objects (listing
 * 20,000 VMs) costs no query per check: an object's ancestors are read
 * once, and after a few dozen objects not yet seen the whole tree's parent
 * links are read in one query.  The cache reflects the database when it
 * was read: use one context per request.  Not thread-safe.
 */
struct access_ctx;

/* -ENOENT if the principal does not exist. */
int access_ctx_new(struct db *db, int64_t principal_id, struct access_ctx **out,
		   struct vr_error **err);
/* Accepts NULL. */
void access_ctx_free(struct access_ctx *ctx);
void access_ctx_freep(struct access_ctx **ctx);
#define _cleanup_access_ctx_ __attribute__((cleanup(access_ctx_freep)))

/* 1 allowed, 0 denied, <0 error (-ENOENT: no such object). */
int access_ctx_has(struct access_ctx *ctx, struct db *db, int64_t object_id, const char *privilege,
		   struct vr_error **err);
/*
 * The effective privileges on the object, sorted bytewise and unique:
 * *privs is a new array of new strings (the caller frees each and the
 * array; NULL when there are none).
 */
/*
 * The objects where a permission of the principal (or of its groups)
 * grants anything (not No access): their ancestors are what a client
 * shows to lead there.  *ids is a new array; returns how many.
 */
size_t access_ctx_granting_objects(const struct access_ctx *ctx, int64_t **ids);

int access_ctx_privileges(struct access_ctx *ctx, struct db *db, int64_t object_id, char ***privs,
			  size_t *n, struct vr_error **err);

/*
 * One-shot check: 0 if allowed, else -EACCES `permission denied: user
 * "bob@vsphere.local" lacks VirtualMachine.Interact.PowerOn on "web01"`.
 */
int access_check(struct db *db, int64_t principal_id, int64_t object_id, const char *privilege,
		 struct vr_error **err);

#endif
