/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_SCHEMA_PRIV_H
#define VIREO_CENTER_DB_SCHEMA_PRIV_H

/* Internals of schema.c reachable from the tests. */

#include <stddef.h>

#include "center/db/schema.h"

struct schema_statement {
	const char *purpose; /* "create table inventory_object" */
	/* Portable SQL; @AUTOID@ and @BYTES@ are filled in per back end (db_priv.h). */
	const char *sql;
};

struct schema_migration {
	int version;
	const char *description;
	const struct schema_statement *statements;
	size_t n_statements;
	/* Rows seeded from C tables, in the same transaction; may be NULL. */
	int (*seed)(struct db *db, int64_t now_ms, struct vr_error **err);
};

/* Center's migrations, versions 1..SCHEMA_VERSION_LATEST (a prefix makes an older database). */
extern const struct schema_migration schema_migrations[];

/* schema_migrate() with another list of migrations (versions 1..n in order). */
int schema_migrate_with(struct db *db, const struct schema_migration *list, size_t n,
			int *applied, struct vr_error **err);

/* The SQL with @AUTOID@ and @BYTES@ replaced for db's back end. */
char *schema_expand(const struct db *db, const char *sql);

#endif
