/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite back end: one sqlite3 connection per struct db, opened without
 * SQLite's own mutex (db.h: one thread at a time).  WAL journal so that
 * readers never wait for the writer, synchronous=FULL (a committed change
 * survives a power cut: hosts may already have acted on it), foreign keys
 * on, and a busy timeout after which a locked database is -EAGAIN.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sqlite3.h>

#include "center/db/db_priv.h"
#include "common/error.h"
#include "common/util.h"

#define SQLITE_BUSY_TIMEOUT_MS 5000

/*
 * Compiled statements with parameters are kept when their db_stmt is freed
 * (reset, bindings cleared: they hold no lock) and handed to the next
 * db_prepare() of the same SQL, so that statements repeated by the
 * thousand are compiled once per connection.
 */
#define SQLITE_STMT_CACHE 64

struct sqlite_conn {
	sqlite3 *conn;
	int claim_fd; /* the claim's lock file (db_claim()), or -1 */
	sqlite3_stmt *idle[SQLITE_STMT_CACHE];
	size_t n_idle;
};

static sqlite3 *conn_of(const struct db *db)
{
	return ((struct sqlite_conn *)db->conn)->conn;
}

static int map_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return EEXIST;
		return EINVAL;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EAGAIN;
	case SQLITE_ERROR:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
	case SQLITE_TOOBIG:
		return EINVAL;
	case SQLITE_NOMEM:
		return ENOMEM;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return EACCES;
	case SQLITE_CANTOPEN:
		return ENOENT;
	case SQLITE_FULL:
		return ENOSPC;
	default:
		return EIO;
	}
}

static int set_pragma(struct db *db, const char *sql, const char *expect, struct vr_error **err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(conn_of(db), sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW && expect) {
			const char *v = (const char *)sqlite3_column_text(st, 0);
			if (!v || strcasecmp(v, expect) != 0) {
				int r = db_conn_error(db, EIO, sql, v ? v : "no value", err);
				sqlite3_finalize(st);
				return r;
			}
		}
		if (rc == SQLITE_ROW || rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK) {
		int r = db_conn_error(db, map_code(sqlite3_extended_errcode(conn_of(db))), sql,
				      sqlite3_errmsg(conn_of(db)), err);
		sqlite3_finalize(st);
		return r;
	}
	sqlite3_finalize(st);
	return 0;
}

static int sqlite_open(struct db *db, struct vr_error **err)
{
	const char *path = db->location;
	/* Created here so that it is private from the start: it holds password hashes. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot open SQLite database \"%s\"", path);
	close(fd);
	sqlite3 *conn = NULL;
	int rc = sqlite3_open_v2(path, &conn,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		int r = vr_error_set(err, map_code(rc), "cannot open SQLite database \"%s\": %s",
				     path, conn ? sqlite3_errmsg(conn) : sqlite3_errstr(rc));
		sqlite3_close(conn);
		return r;
	}
	struct sqlite_conn *sc = xcalloc(1, sizeof(*sc));
	sc->conn = conn;
	sc->claim_fd = -1;
	db->conn = sc;
	sqlite3_extended_result_codes(conn, 1);
	sqlite3_busy_timeout(conn, SQLITE_BUSY_TIMEOUT_MS);
	int r = set_pragma(db, "PRAGMA journal_mode = WAL", "wal", err);
	if (r == 0)
		r = set_pragma(db, "PRAGMA synchronous = FULL", NULL, err);
	if (r == 0)
		r = set_pragma(db, "PRAGMA foreign_keys = ON", NULL, err);
	if (r == 0)
		r = set_pragma(db, "PRAGMA foreign_keys", "1", err);
	if (r < 0) {
		sqlite3_close(conn);
		free(sc);
		db->conn = NULL;
	}
	return r;
}

static void sqlite_close(struct db *db)
{
	struct sqlite_conn *sc = db->conn;
	for (size_t i = 0; i < sc->n_idle; i++)
		sqlite3_finalize(sc->idle[i]);
	sqlite3_close(sc->conn);
	if (sc->claim_fd >= 0)
		close(sc->claim_fd);
	free(sc);
	db->conn = NULL;
}

/* An exclusive flock on "<database>-claim", held while the connection is open. */
static int sqlite_claim(struct db *db, struct vr_error **err)
{
	struct sqlite_conn *sc = db->conn;
	if (sc->claim_fd >= 0)
		return 0;
	struct vr_error *e = NULL;
	int r = db_claim_file(db->location, &sc->claim_fd, &e);
	if (r == -EBUSY)
		vr_error_free(e); /* db_claim() says who holds it */
	else if (r < 0)
		*err = e;
	return r;
}

static int sqlite_prepare(struct db_stmt *st, struct vr_error **err)
{
	struct sqlite_conn *sc = st->db->conn;
	for (size_t i = 0; i < sc->n_idle; i++)
		if (strcmp(sqlite3_sql(sc->idle[i]), st->sql) == 0) {
			st->handle = sc->idle[i];
			sc->idle[i] = sc->idle[--sc->n_idle];
			return 0;
		}
	sqlite3_stmt *s = NULL;
	const char *tail = NULL;
	int rc = sqlite3_prepare_v2(conn_of(st->db), st->sql, -1, &s, &tail);
	if (rc != SQLITE_OK)
		return db_stmt_error(st, map_code(sqlite3_extended_errcode(conn_of(st->db))),
				     sqlite3_errmsg(conn_of(st->db)), err);
	while (tail && (*tail == ';' || *tail == ' ' || *tail == '\n' || *tail == '\t'))
		tail++;
	if (!s || (tail && *tail)) {
		sqlite3_finalize(s);
		return db_stmt_error(st, EINVAL,
				     s ? "more than one statement given" : "no statement given", err);
	}
	st->handle = s;
	return 0;
}

static int bind_params(struct db_stmt *st, sqlite3_stmt *s)
{
	for (int i = 0; i < st->nparams; i++) {
		const struct db_param *p = &st->params[i];
		int rc;
		switch (p->type) {
		case DB_PARAM_TEXT:
			rc = sqlite3_bind_text(s, i + 1, p->text, -1, SQLITE_STATIC);
			break;
		case DB_PARAM_INT64:
		case DB_PARAM_BOOL:
			rc = sqlite3_bind_int64(s, i + 1, p->i);
			break;
		case DB_PARAM_DOUBLE:
			rc = sqlite3_bind_double(s, i + 1, p->d);
			break;
		default:
			rc = sqlite3_bind_null(s, i + 1);
			break;
		}
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int sqlite_step(struct db_stmt *st, struct vr_error **err)
{
	sqlite3_stmt *s = st->handle;
	sqlite3 *conn = conn_of(st->db);
	int rc;
	if (!st->executed) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		rc = bind_params(st, s);
		if (rc != SQLITE_OK)
			return db_stmt_error(st, map_code(rc), sqlite3_errmsg(conn), err);
		st->executed = true;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE) {
		if (!sqlite3_stmt_readonly(s))
			st->changes = sqlite3_changes64(conn);
		return 0;
	}
	int r = db_stmt_error(st, map_code(sqlite3_extended_errcode(conn)), sqlite3_errmsg(conn),
			      err);
	sqlite3_reset(s);
	return r;
}

static void sqlite_reset(struct db_stmt *st)
{
	sqlite3_reset(st->handle);
}

static void sqlite_finalize(struct db_stmt *st)
{
	struct sqlite_conn *sc = st->db->conn;
	sqlite3_stmt *s = st->handle;
	st->handle = NULL;
	if (st->nparams > 0 && sc->n_idle < SQLITE_STMT_CACHE) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		sc->idle[sc->n_idle++] = s;
		return;
	}
	sqlite3_finalize(s);
}

static int sqlite_column_count(const struct db_stmt *st)
{
	return sqlite3_data_count(st->handle);
}

static const char *sqlite_column_text(struct db_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st->handle, col);
}

static int64_t sqlite_column_int64(struct db_stmt *st, int col)
{
	return sqlite3_column_int64(st->handle, col);
}

static double sqlite_column_double(struct db_stmt *st, int col)
{
	return sqlite3_column_double(st->handle, col);
}

static bool sqlite_column_bool(struct db_stmt *st, int col)
{
	return sqlite3_column_int64(st->handle, col) != 0;
}

static bool sqlite_column_is_null(struct db_stmt *st, int col)
{
	return sqlite3_column_type(st->handle, col) == SQLITE_NULL;
}

const struct db_ops db_sqlite_ops = {
	.name = "SQLite",
	.placeholder = '?',
	.begin_sql = "BEGIN IMMEDIATE",
	.autoid_type = "INTEGER PRIMARY KEY AUTOINCREMENT", /* ids never reused */
	.bytes_collation = "BINARY",
	.migration_lock_sql = NULL, /* BEGIN IMMEDIATE already excludes other writers */
	.open = sqlite_open,
	.close = sqlite_close,
	.prepare = sqlite_prepare,
	.step = sqlite_step,
	.reset = sqlite_reset,
	.finalize = sqlite_finalize,
	.column_count = sqlite_column_count,
	.column_text = sqlite_column_text,
	.column_int64 = sqlite_column_int64,
	.column_double = sqlite_column_double,
	.column_bool = sqlite_column_bool,
	.column_is_null = sqlite_column_is_null,
	.claim = sqlite_claim,
};
