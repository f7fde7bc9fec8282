/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_PRIVILEGES_H
#define VIREO_CENTER_DB_PRIVILEGES_H

/*
 * The privileges vireo-center checks, named as vSphere names them
 * ("VirtualMachine.Interact.PowerOn"), and the built-in roles as lists of
 * privilege patterns ("VirtualMachine.*" is every privilege under
 * VirtualMachine; "*" is all).  Seeded by schema migration 1.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct vr_error;

struct privilege_def {
	const char *id;
	const char *description;
};

struct role_def {
	const char *name;  /* stable name, as vSphere's "Admin", "ReadOnly" */
	const char *label; /* shown to people: "Administrator" */
	const char *description;
	const char *const *patterns; /* NULL-terminated */
};

extern const struct privilege_def center_privileges[];
extern const size_t center_privileges_count;
extern const struct role_def center_builtin_roles[];
extern const size_t center_builtin_roles_count;

/* Whether privilege id is matched by pattern ("A.B.C", "A.B.*", "*"). */
bool privilege_matches(const char *pattern, const char *id);

/* Inserts the privileges and the built-in roles with their privileges. */
int privileges_seed(struct db *db, int64_t now_ms, struct vr_error **err);

#endif
