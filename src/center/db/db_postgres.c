/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PostgreSQL back end (libpq): one PGconn per struct db.  Statements are
 * sent with PQexecParams (text values, typed parameter OIDs so that the
 * server checks types as it would for any client), the whole result is
 * kept and rows are walked from it.  Transactions are SERIALIZABLE; a
 * serialization failure or deadlock (SQLSTATE 40001, 40P01) or a lock not
 * available (55P03) is -EAGAIN.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "center/db/db_priv.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

/* Type OIDs (pg_type.h is a server header). */
#define PG_OID_BOOL 16
#define PG_OID_INT8 20
#define PG_OID_TEXT 25
#define PG_OID_FLOAT8 701

/*
 * Statements with parameters are prepared once per connection and then
 * executed by name: the server parses and plans them once, which halves
 * the cost of the small statements repeated by the thousand (creating
 * 20,000 VMs).  Statements without parameters (DDL, transaction control)
 * are sent as they are.  Prepared statements live as long as the session
 * and survive rollbacks.
 */
#define PG_STMT_CACHE 128

struct pg_cached {
	char *sql;
	char name[16];
	int nparams;
};

struct pg_conn {
	PGconn *conn;
	struct pg_cached cache[PG_STMT_CACHE];
	size_t n_cached;
};

static PGconn *conn_of(const struct db *db)
{
	return ((struct pg_conn *)db->conn)->conn;
}

static void notice_to_log(void *opaque, const char *message)
{
	const struct db *db = opaque;
	_cleanup_free_ char *m = db_scrub(db, message);
	log_debug("PostgreSQL %s: %s", db->shown, m);
}

static int pg_open(struct db *db, struct vr_error **err)
{
	/*
	 * Keywords are applied in order: the location (expanded from dbname)
	 * may override the application name and time-out, not the encoding.
	 */
	const char *const keys[] = {"application_name", "connect_timeout", "dbname",
				    "client_encoding", NULL};
	const char *const values[] = {"vireo-center", "10", db->location, "UTF8", NULL};
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	if (!conn)
		return vr_error_set(err, ENOMEM, "PostgreSQL database %s: cannot allocate connection",
				    db->shown);
	if (PQstatus(conn) != CONNECTION_OK) {
		int r = db_conn_error(db, ECONNREFUSED, "cannot connect", PQerrorMessage(conn), err);
		PQfinish(conn);
		return r;
	}
	struct pg_conn *pc = xcalloc(1, sizeof(*pc));
	pc->conn = conn;
	db->conn = pc;
	PQsetNoticeProcessor(conn, notice_to_log, db);
	return 0;
}

static void pg_close(struct db *db)
{
	struct pg_conn *pc = db->conn;
	PQfinish(pc->conn);
	for (size_t i = 0; i < pc->n_cached; i++)
		free(pc->cache[i].sql);
	free(pc);
	db->conn = NULL;
}

static int pg_prepare(struct db_stmt *st, struct vr_error **err)
{
	/* Sent with its parameters on the first step: one round trip. */
	return 0;
}

static int map_sqlstate(const char *state)
{
	if (!state)
		return EIO;
	if (strcmp(state, "23505") == 0)
		return EEXIST;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
	    strcmp(state, "55P03") == 0)
		return EAGAIN;
	if (str_has_prefix(state, "23") || str_has_prefix(state, "22") ||
	    str_has_prefix(state, "42"))
		return EINVAL;
	if (str_has_prefix(state, "08"))
		return ECONNRESET;
	if (strcmp(state, "53100") == 0)
		return ENOSPC;
	return EIO;
}

static int result_error(struct db_stmt *st, PGresult *res, struct vr_error **err)
{
	PGconn *conn = conn_of(st->db);
	int code = EIO;
	_cleanup_free_ char *msg = NULL;
	if (res) {
		code = map_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE));
		const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		if (primary && detail)
			msg = xasprintf("%s (%s)", primary, detail);
		else if (primary)
			msg = xstrdup(primary);
	}
	if (!msg)
		msg = xstrdup(PQerrorMessage(conn));
	if (PQstatus(conn) == CONNECTION_BAD)
		code = ECONNRESET;
	return db_stmt_error(st, code, msg, err);
}

/*
 * The name of st's prepared statement, preparing it if needed; *name stays
 * NULL when the cache is full.  On failure *res holds the server's answer.
 */
static int prepared_name(struct db_stmt *st, const unsigned int *types, const char **name,
			 PGresult **res)
{
	struct pg_conn *pc = st->db->conn;
	for (size_t i = 0; i < pc->n_cached; i++)
		if (pc->cache[i].nparams == st->nparams && strcmp(pc->cache[i].sql, st->sql) == 0) {
			*name = pc->cache[i].name;
			return 0;
		}
	if (pc->n_cached == PG_STMT_CACHE)
		return 0;
	struct pg_cached *c = &pc->cache[pc->n_cached];
	snprintf(c->name, sizeof(c->name), "vr_%zu", pc->n_cached);
	/* NULLs (type 0) get the type the context gives them, as PQexecParams does. */
	*res = PQprepare(pc->conn, c->name, st->sql, st->nparams, types);
	if (!*res || PQresultStatus(*res) != PGRES_COMMAND_OK)
		return -EIO;
	PQclear(*res);
	*res = NULL;
	c->sql = xstrdup(st->sql);
	c->nparams = st->nparams;
	pc->n_cached++;
	*name = c->name;
	return 0;
}

static int pg_execute(struct db_stmt *st, struct vr_error **err)
{
	int n = st->nparams;
	const char **values = xcalloc((size_t)n + 1, sizeof(*values));
	unsigned int *types = xcalloc((size_t)n + 1, sizeof(*types));
	char (*buf)[32] = xcalloc((size_t)n + 1, sizeof(*buf));
	for (int i = 0; i < n; i++) {
		const struct db_param *p = &st->params[i];
		switch (p->type) {
		case DB_PARAM_TEXT:
			values[i] = p->text;
			types[i] = PG_OID_TEXT;
			break;
		case DB_PARAM_INT64:
			snprintf(buf[i], sizeof(buf[i]), "%" PRId64, p->i);
			values[i] = buf[i];
			types[i] = PG_OID_INT8;
			break;
		case DB_PARAM_DOUBLE:
			snprintf(buf[i], sizeof(buf[i]), "%.17g", p->d);
			values[i] = buf[i];
			types[i] = PG_OID_FLOAT8;
			break;
		case DB_PARAM_BOOL:
			values[i] = p->i ? "t" : "f";
			types[i] = PG_OID_BOOL;
			break;
		default:
			values[i] = NULL;
			types[i] = 0; /* the server infers it from the context */
			break;
		}
	}
	const char *prepared = NULL;
	PGresult *res = NULL;
	int r = n > 0 ? prepared_name(st, types, &prepared, &res) : 0;
	if (r < 0) {
		free(values);
		free(types);
		free(buf);
		r = result_error(st, res, err);
		PQclear(res);
		return r;
	}
	if (prepared)
		res = PQexecPrepared(conn_of(st->db), prepared, n, values, NULL, NULL, 0);
	else
		res = PQexecParams(conn_of(st->db), st->sql, n, types, values, NULL, NULL, 0);
	free(values);
	free(types);
	free(buf);
	ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
		r = result_error(st, res, err);
		PQclear(res);
		return r;
	}
	const char *tuples = PQcmdTuples(res);
	st->changes = tuples && *tuples ? strtoll(tuples, NULL, 10) : 0;
	st->handle = res;
	st->row = -1;
	st->executed = true;
	return 0;
}

static int pg_step(struct db_stmt *st, struct vr_error **err)
{
	if (!st->executed) {
		int r = pg_execute(st, err);
		if (r < 0)
			return r;
	}
	PGresult *res = st->handle;
	if (st->row < PQntuples(res))
		st->row++;
	return st->row < PQntuples(res) ? 1 : 0;
}

static void pg_reset(struct db_stmt *st)
{
	PQclear(st->handle);
	st->handle = NULL;
}

static void pg_finalize(struct db_stmt *st)
{
	pg_reset(st);
}

static bool row_ok(const struct db_stmt *st)
{
	return st->handle && st->row >= 0 && st->row < PQntuples(st->handle);
}

static int pg_column_count(const struct db_stmt *st)
{
	return row_ok(st) ? PQnfields(st->handle) : 0;
}

static bool pg_column_is_null(struct db_stmt *st, int col)
{
	return PQgetisnull(st->handle, st->row, col);
}

static const char *pg_column_text(struct db_stmt *st, int col)
{
	return pg_column_is_null(st, col) ? NULL : PQgetvalue(st->handle, st->row, col);
}

static int64_t pg_column_int64(struct db_stmt *st, int col)
{
	const char *v = pg_column_text(st, col);
	if (!v)
		return 0;
	if (v[0] == 't' || v[0] == 'f') /* a boolean read as a number, as SQLite does */
		return v[0] == 't';
	return strtoll(v, NULL, 10);
}

static double pg_column_double(struct db_stmt *st, int col)
{
	const char *v = pg_column_text(st, col);
	return v ? strtod(v, NULL) : 0.0;
}

static bool pg_column_bool(struct db_stmt *st, int col)
{
	const char *v = pg_column_text(st, col);
	if (!v)
		return false;
	if (v[0] == 't' || v[0] == 'f')
		return v[0] == 't';
	return strtoll(v, NULL, 10) != 0;
}

/* A session advisory lock, held while the connection is open. */
static int pg_claim(struct db *db, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "claim the database for this center",
			   "SELECT pg_try_advisory_lock(7438287166)", &st, err);
	if (r == 0)
		r = db_step(st, err);
	if (r < 0)
		return r;
	return r > 0 && db_column_bool(st, 0) ? 0 : -EBUSY;
}

const struct db_ops db_postgres_ops = {
	.name = "PostgreSQL",
	.placeholder = '$',
	.begin_sql = "BEGIN ISOLATION LEVEL SERIALIZABLE",
	.autoid_type = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
	.bytes_collation = "\"C\"",
	/* Two centres starting at once on an empty database: one migrates. */
	.migration_lock_sql = "SELECT pg_advisory_xact_lock(7438287165)",
	.open = pg_open,
	.close = pg_close,
	.prepare = pg_prepare,
	.step = pg_step,
	.reset = pg_reset,
	.finalize = pg_finalize,
	.column_count = pg_column_count,
	.column_text = pg_column_text,
	.column_int64 = pg_column_int64,
	.column_double = pg_column_double,
	.column_bool = pg_column_bool,
	.column_is_null = pg_column_is_null,
	.claim = pg_claim,
};
