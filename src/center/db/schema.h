/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_SCHEMA_H
#define VIREO_CENTER_DB_SCHEMA_H

/*
 * vireo-center's schema and its versioned migrations (schema.c holds the
 * tables and why they are shaped so).  The table schema_version records
 * each applied migration; migration N is a list of statements (and, for
 * some, rows seeded from C tables) applied in one transaction.
 */

#include <stdint.h>

struct db;
struct vr_error;

/* The newest schema this code knows. */
#define SCHEMA_VERSION_LATEST 4

/* The database's version: 0 for an empty database. */
int schema_version_get(struct db *db, int64_t *version, struct vr_error **err);

/*
 * Brings the database up to SCHEMA_VERSION_LATEST; *applied (may be NULL)
 * counts the migrations applied, 0 on an up-to-date database.  Refuses
 * (-ENOTSUP) a database whose version is newer than this code knows,
 * touching nothing.  Must be called outside any transaction.
 */
int schema_migrate(struct db *db, int *applied, struct vr_error **err);

/* db_open() then schema_migrate(): what vireo-center does at start. */
int schema_open(const char *location, struct db **out, struct vr_error **err);

/*
 * Bounded performance history: deletes the samples of each roll-up level
 * older than its retention (20 s kept an hour, 5 min a day, 30 min a week,
 * 2 h a month, 1 day a year) as of now_ms.  *deleted may be NULL.
 */
int schema_perf_prune(struct db *db, int64_t now_ms, int64_t *deleted, struct vr_error **err);

#endif
