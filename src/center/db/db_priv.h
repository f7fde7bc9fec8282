/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_DB_PRIV_H
#define VIREO_CENTER_DB_DB_PRIV_H

/* What db.c shares with the back ends (db_sqlite.c, db_postgres.c). */

#include "center/db/db.h"

enum db_param_type {
	DB_PARAM_UNSET,
	DB_PARAM_NULL,
	DB_PARAM_TEXT,
	DB_PARAM_INT64,
	DB_PARAM_DOUBLE,
	DB_PARAM_BOOL,
};

struct db_param {
	enum db_param_type type;
	char *text; /* DB_PARAM_TEXT, owned */
	int64_t i;  /* DB_PARAM_INT64, DB_PARAM_BOOL */
	double d;   /* DB_PARAM_DOUBLE */
};

struct db_ops {
	const char *name; /* for messages: "SQLite" */
	/* Placeholder written for $N in the back end's SQL: '$' or '?'. */
	char placeholder;
	/* Opening an outermost transaction. */
	const char *begin_sql;
	/*
	 * Column type of an automatically numbered BIGINT primary key, and the
	 * collation that compares text bytewise (names are sorted, made
	 * unique and searched by prefix bytewise on both back ends): the
	 * schema writes @AUTOID@ and @BYTES@ for them.
	 */
	const char *autoid_type;
	const char *bytes_collation;
	/* Statement taking a lock that serialises migrations, or NULL. */
	const char *migration_lock_sql;

	/* db->location is set; fills db->conn.  Messages must not show the location. */
	int (*open)(struct db *db, struct vr_error **err);
	void (*close)(struct db *db);
	/* Compiles st->sql (already translated) into st->handle. */
	int (*prepare)(struct db_stmt *st, struct vr_error **err);
	/* Executes on the first call (st->executed false), then moves on: 1 row, 0 done. */
	int (*step)(struct db_stmt *st, struct vr_error **err);
	void (*reset)(struct db_stmt *st);
	void (*finalize)(struct db_stmt *st);
	int (*column_count)(const struct db_stmt *st);
	/* NULL for SQL NULL; col already range-checked. */
	const char *(*column_text)(struct db_stmt *st, int col);
	int64_t (*column_int64)(struct db_stmt *st, int col);
	double (*column_double)(struct db_stmt *st, int col);
	bool (*column_bool)(struct db_stmt *st, int col);
	bool (*column_is_null)(struct db_stmt *st, int col);
	/* Claims the database for this connection's life: 0, or -EBUSY if taken (db_claim()). */
	int (*claim)(struct db *db, struct vr_error **err);
};

struct db {
	const struct db_ops *ops;
	char *location; /* as given: may hold a password, never print it */
	char *shown;    /* redacted, for messages */
	void *conn;
	int depth; /* transaction nesting */
	unsigned stmt_seq;
};

struct db_stmt {
	struct db *db;
	char *purpose;
	char *sql; /* translated for the back end */
	int nparams;
	struct db_param *params; /* [nparams] */
	int bad_index;           /* a bind to an index out of range, or 0 */
	bool executed;
	int64_t changes;
	void *handle; /* back end's statement or result */
	int row;      /* PostgreSQL: current row */
};

extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_postgres_ops;

/*
 * Sets err to "database: PURPOSE (BACKEND): MESSAGE" with the location's
 * password, if any, scrubbed from MESSAGE.
 */
int db_stmt_error(const struct db_stmt *st, int code, const char *backend_msg,
		  struct vr_error **err);
int db_conn_error(const struct db *db, int code, const char *what, const char *backend_msg,
		  struct vr_error **err);
/* A copy of msg with the location's password (raw and decoded) replaced by "***". */
char *db_scrub(const struct db *db, const char *msg);
/* The password written in a location, decoded, or NULL. */
char *db_location_password(const char *location);

#endif
