/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_DB_H
#define VIREO_CENTER_DB_DB_H

/*
 * vireo-center's database connection: SQLite (embedded, the default) or
 * PostgreSQL (libpq), behind one const ops table (db_priv.h).
 *
 * Location.  db_open() picks the back end from the location string:
 *   "postgresql://..." or "postgres://..."        -> PostgreSQL (URI)
 *   "host=... dbname=..." (starts with "word=")    -> PostgreSQL (key=value)
 *   anything else, e.g. "/var/lib/vireo/center.db" -> SQLite file
 * A path that would look like "word=..." is written "./word=...".
 * Passwords in a location never appear in messages or logs: use
 * db_location_redact() to show a location.
 *
 * SQL.  Statements are written once, in the SQL that both back ends
 * accept, with PostgreSQL's positional parameters $1, $2, ...; for SQLite
 * they are rewritten to ?1, ?2, ... (same numbering, a parameter may be
 * used several times).  A bare '?' outside literals is refused, so that a
 * statement that works on one back end works on the other.  Parameters
 * are bound with typed binds; binding is by value (text is copied).
 * Statements with parameters are compiled once per connection: each back
 * end keeps them (SQLite: idle sqlite3_stmt; PostgreSQL: named prepared
 * statements, so a pooler must keep sessions, not transactions).
 *
 * Values.  Timestamps are int64 milliseconds since the epoch, booleans are
 * BOOLEAN columns (SQLite stores 0/1), JSON is TEXT.
 *
 * Transactions.  db_begin() opens a transaction, or a savepoint when one
 * is already open, so that repository functions can open their own level
 * whether or not their caller did.  After an error inside a level, roll
 * that level back (PostgreSQL refuses further statements in a failed
 * transaction; rolling back to the savepoint makes both back ends agree).
 * SQLite transactions are BEGIN IMMEDIATE (writers queue on the busy
 * timeout, WAL lets readers go on); PostgreSQL ones are SERIALIZABLE.
 * Serialization failures and deadlocks (PostgreSQL) and a database still
 * busy after the timeout (SQLite) return -EAGAIN: the outermost caller
 * rolls back and retries the whole transaction (db_transact() does).
 *
 * Errors map to: -EEXIST unique violation, -EINVAL check/not-null/foreign
 * key violation or bad SQL, -EAGAIN retry, -ECONNREFUSED cannot connect,
 * -EIO other.  Messages name the statement's purpose and carry the back
 * end's message: `insert inventory object: SQLite error: UNIQUE constraint
 * failed: inventory_object.parent_id, inventory_object.name`.  A failed
 * db_commit() has rolled the transaction back.
 *
 * Threads.  A struct db is one connection and is used by one thread at a
 * time (no internal locking).  Open one connection per thread; several
 * connections may use the same SQLite file (WAL) or PostgreSQL database.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vr_error;
struct db;
struct db_stmt;

enum db_backend {
	DB_BACKEND_SQLITE,
	DB_BACKEND_POSTGRES,
};

/* Opens a connection; an SQLite file is created (mode 0600) if missing. */
int db_open(const char *location, struct db **out, struct vr_error **err);
/*
 * Claims the database for one vireo-center while this connection stays
 * open (SQLite: an flock on "<file>-claim"; PostgreSQL: a session advisory
 * lock).  A second center on the same database gets -EBUSY naming the
 * holder (as db_claim_record() wrote it): two centers would both manage
 * the hosts.
 */
int db_claim(struct db *db, struct vr_error **err);
/*
 * SQLite: the same claim taken before the database is even opened (a
 * second center must not open it: closing its connection can disturb the
 * first's WAL), as an flock on "<location>-claim" kept in *fd; -EBUSY
 * naming the holder that db_claim_file_record() wrote into that file.
 */
int db_claim_file(const char *location, int *fd, struct vr_error **err);
int db_claim_file_record(int fd, const char *holder, struct vr_error **err);
/* Records who holds the claim (center_setting "holder"; needs the schema). */
int db_claim_record(struct db *db, const char *holder, struct vr_error **err);
/* Rolls back an open transaction, closes; accepts NULL. */
void db_close(struct db *db);
void db_closep(struct db **db);

enum db_backend db_backend(const struct db *db);
/* "SQLite" or "PostgreSQL". */
const char *db_backend_name(const struct db *db);
/* Which back end a location selects (no connection made). */
enum db_backend db_location_backend(const char *location);
/* The location with any password replaced by "***"; a new string. */
char *db_location_redact(const char *location);

/* ---- transactions ---- */
int db_begin(struct db *db, struct vr_error **err);
int db_commit(struct db *db, struct vr_error **err);
int db_rollback(struct db *db, struct vr_error **err);
/* Nesting depth: 0 outside any transaction. */
int db_txn_depth(const struct db *db);
/*
 * Runs fn in a transaction, committing if it returns >= 0 and rolling
 * back otherwise; retries (up to 8 times, with a short random back-off)
 * when fn or the commit returns -EAGAIN.  Must be called outside any
 * transaction.  Returns fn's result or the error.
 */
int db_transact(struct db *db, int (*fn)(struct db *db, void *opaque, struct vr_error **err),
		void *opaque, struct vr_error **err);
/*
 * Runs fn in a transaction level of its own: a transaction when none is
 * open, else a savepoint in the caller's.  Rolls that level back if fn
 * returns < 0, commits (releases) it otherwise; no retry (the outermost
 * caller retries on -EAGAIN).  Returns fn's result or the error.
 */
int db_in_level(struct db *db, int (*fn)(struct db *db, void *opaque, struct vr_error **err),
		void *opaque, struct vr_error **err);

/* ---- statements ---- */
/*
 * Prepares one statement.  `purpose` says what it is for in people's words
 * ("insert inventory object"); it is copied and heads error messages.
 */
int db_prepare(struct db *db, const char *purpose, const char *sql, struct db_stmt **out,
	       struct vr_error **err);
void db_stmt_free(struct db_stmt *st);
void db_stmt_freep(struct db_stmt **st);
#define _cleanup_stmt_ __attribute__((cleanup(db_stmt_freep)))

/*
 * Binds parameter $idx (from 1).  A bad index is reported by the next
 * db_step() (and returned here as -ERANGE).
 */
int db_bind_text(struct db_stmt *st, int idx, const char *value); /* NULL binds NULL */
int db_bind_int64(struct db_stmt *st, int idx, int64_t value);
int db_bind_double(struct db_stmt *st, int idx, double value);
int db_bind_bool(struct db_stmt *st, int idx, bool value);
int db_bind_null(struct db_stmt *st, int idx);

/*
 * Executes (on the first call after prepare or reset) and moves to the
 * next row: returns 1 with a row, 0 when done, or a negative errno.
 * Every parameter must have been bound.
 */
int db_step(struct db_stmt *st, struct vr_error **err);
/* Ends the current execution; bindings are kept for the next one. */
void db_reset(struct db_stmt *st);
/* Rows changed by the last INSERT/UPDATE/DELETE run by st. */
int64_t db_changes(const struct db_stmt *st);

/*
 * Typed getters for the current row, columns from 0.  A NULL reads as
 * NULL / 0 / 0.0 / false; a column out of range reads as NULL.  The text
 * is valid until the next db_step(), db_reset() or db_stmt_free().
 */
int db_column_count(const struct db_stmt *st);
bool db_column_is_null(struct db_stmt *st, int col);
const char *db_column_text(struct db_stmt *st, int col);
int64_t db_column_int64(struct db_stmt *st, int col);
double db_column_double(struct db_stmt *st, int col);
bool db_column_bool(struct db_stmt *st, int col);

/* ---- shortcuts ---- */
/* Prepares, runs to the end and frees a statement without parameters. */
int db_exec(struct db *db, const char *purpose, const char *sql, struct vr_error **err);
/*
 * Runs a query without parameters that returns one int64 (NULL reads as
 * 0); -ENOENT when it returns no row.
 */
int db_query_int64(struct db *db, const char *purpose, const char *sql, int64_t *out,
		   struct vr_error **err);

#endif
