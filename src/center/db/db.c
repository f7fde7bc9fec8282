/* SPDX-License-Identifier: Apache-2.0 */
/* The back-end independent half of the database layer (see db.h). */
#include "center/db/db_priv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

#define DB_MAX_PARAMS 999
#define DB_TRANSACT_ATTEMPTS 8

/* ---- locations and passwords ---- */

static bool has_uri_prefix(const char *s)
{
	return str_has_prefix(s, "postgresql://") || str_has_prefix(s, "postgres://");
}

/* "word=" at the start, as libpq's key=value connection strings begin. */
static bool has_keyword_prefix(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	const char *w = s;
	while (isalnum((unsigned char)*s) || *s == '_')
		s++;
	if (s == w)
		return false;
	while (isspace((unsigned char)*s))
		s++;
	return *s == '=';
}

enum db_backend db_location_backend(const char *location)
{
	if (has_uri_prefix(location) || has_keyword_prefix(location))
		return DB_BACKEND_POSTGRES;
	return DB_BACKEND_SQLITE;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static char *percent_decode(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* A password written in a location: where (raw span) and its value. */
struct pw_span {
	size_t start, len;
	char *decoded;
};

#define MAX_PW_SPANS 4

static void span_add(struct pw_span *spans, size_t *n, size_t start, size_t len, char *decoded)
{
	if (*n >= MAX_PW_SPANS || len == 0) {
		free(decoded);
		return;
	}
	spans[(*n)++] = (struct pw_span){start, len, decoded};
}

static void scan_uri(const char *loc, struct pw_span *spans, size_t *n)
{
	const char *auth = strstr(loc, "://") + 3;
	size_t auth_len = strcspn(auth, "/?");
	const char *at = NULL;
	for (const char *p = auth; p < auth + auth_len; p++)
		if (*p == '@')
			at = p;
	if (at) {
		const char *colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon) {
			size_t len = (size_t)(at - colon - 1);
			span_add(spans, n, (size_t)(colon + 1 - loc), len,
				 percent_decode(colon + 1, len));
		}
	}
	const char *q = strchr(auth + auth_len, '?');
	while (q) {
		q++;
		size_t len = strcspn(q, "&");
		if (str_has_prefix(q, "password=")) {
			const char *v = q + strlen("password=");
			size_t vlen = len - strlen("password=");
			span_add(spans, n, (size_t)(v - loc), vlen, percent_decode(v, vlen));
		}
		q = q[len] ? q + len : NULL;
	}
}

static void scan_keywords(const char *loc, struct pw_span *spans, size_t *n)
{
	const char *p = loc;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			return;
		const char *key = p;
		while (*p && *p != '=' && !isspace((unsigned char)*p))
			p++;
		size_t key_len = (size_t)(p - key);
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=')
			return; /* malformed: libpq will say so; nothing more to find */
		p++;
		while (isspace((unsigned char)*p))
			p++;
		const char *v = p;
		char *dec = xmalloc(strlen(p) + 1), *o = dec;
		if (*p == '\'') {
			p++;
			while (*p && *p != '\'') {
				if (*p == '\\' && p[1])
					p++;
				*o++ = *p++;
			}
			if (*p == '\'')
				p++;
		} else {
			while (*p && !isspace((unsigned char)*p)) {
				if (*p == '\\' && p[1])
					p++;
				*o++ = *p++;
			}
		}
		*o = '\0';
		if (key_len == 8 && memcmp(key, "password", 8) == 0)
			span_add(spans, n, (size_t)(v - loc), (size_t)(p - v), dec);
		else
			free(dec);
	}
}

static size_t scan_passwords(const char *loc, struct pw_span spans[MAX_PW_SPANS])
{
	size_t n = 0;
	if (has_uri_prefix(loc))
		scan_uri(loc, spans, &n);
	else if (has_keyword_prefix(loc))
		scan_keywords(loc, spans, &n);
	return n;
}

char *db_location_redact(const char *location)
{
	struct pw_span spans[MAX_PW_SPANS];
	size_t n = scan_passwords(location, spans);
	size_t len = strlen(location);
	char *out = xmalloc(len + 3 * n + 1), *o = out;
	size_t pos = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(o, location + pos, spans[i].start - pos);
		o += spans[i].start - pos;
		memcpy(o, "***", 3);
		o += 3;
		pos = spans[i].start + spans[i].len;
		free(spans[i].decoded);
	}
	memcpy(o, location + pos, len - pos + 1);
	return out;
}

char *db_location_password(const char *location)
{
	struct pw_span spans[MAX_PW_SPANS];
	size_t n = scan_passwords(location, spans);
	char *pw = n ? steal_pointer(&spans[0].decoded) : NULL;
	for (size_t i = 0; i < n; i++)
		free(spans[i].decoded);
	return pw;
}

static char *replace_all(char *s, const char *needle)
{
	size_t nl = strlen(needle);
	if (nl == 0)
		return s;
	char *hit;
	while ((hit = strstr(s, needle))) {
		*hit = '\0';
		char *next = xasprintf("%s***%s", s, hit + nl);
		free(s);
		s = next;
	}
	return s;
}

char *db_scrub(const struct db *db, const char *msg)
{
	char *out = xstrdup(msg ? msg : "");
	if (!db || !db->location)
		return out;
	struct pw_span spans[MAX_PW_SPANS];
	size_t n = scan_passwords(db->location, spans);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *raw = xstrndup(db->location + spans[i].start, spans[i].len);
		/* "***" itself contains no password byte sequence to re-find. */
		if (strcmp(raw, "***") != 0)
			out = replace_all(out, raw);
		if (strcmp(spans[i].decoded, "***") != 0)
			out = replace_all(out, spans[i].decoded);
		free(spans[i].decoded);
	}
	/* Trailing newlines of libpq messages. */
	size_t len = strlen(out);
	while (len && (out[len - 1] == '\n' || out[len - 1] == '\r'))
		out[--len] = '\0';
	return out;
}

int db_stmt_error(const struct db_stmt *st, int code, const char *backend_msg,
		  struct vr_error **err)
{
	_cleanup_free_ char *msg = db_scrub(st->db, backend_msg);
	return vr_error_set(err, code, "%s: %s error: %s", st->purpose, st->db->ops->name, msg);
}

int db_conn_error(const struct db *db, int code, const char *what, const char *backend_msg,
		  struct vr_error **err)
{
	_cleanup_free_ char *msg = db_scrub(db, backend_msg);
	return vr_error_set(err, code, "%s database %s: %s: %s", db->ops->name, db->shown, what,
			    msg);
}

/* ---- connections ---- */

int db_open(const char *location, struct db **out, struct vr_error **err)
{
	*out = NULL;
	if (!location || !*location)
		return vr_error_set(err, EINVAL, "no database location given");
	struct db *db = xcalloc(1, sizeof(*db));
	db->ops = db_location_backend(location) == DB_BACKEND_POSTGRES ? &db_postgres_ops
								       : &db_sqlite_ops;
	db->location = xstrdup(location);
	db->shown = db_location_redact(location);
	int r = db->ops->open(db, err);
	if (r < 0) {
		free(db->location);
		free(db->shown);
		free(db);
		return r;
	}
	log_debug("opened %s database %s", db->ops->name, db->shown);
	*out = db;
	return 0;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	if (db->depth > 0) {
		db->depth = 1;
		_cleanup_error_ struct vr_error *e = NULL;
		if (db_rollback(db, &e) < 0)
			log_warn("closing database %s: %s", db->shown, vr_error_msg(e));
	}
	db->ops->close(db);
	free(db->location);
	free(db->shown);
	free(db);
}

void db_closep(struct db **db)
{
	db_close(*db);
	*db = NULL;
}

enum db_backend db_backend(const struct db *db)
{
	return db->ops == &db_postgres_ops ? DB_BACKEND_POSTGRES : DB_BACKEND_SQLITE;
}

const char *db_backend_name(const struct db *db)
{
	return db->ops->name;
}

/* ---- statements ---- */

/*
 * Rewrites $N for the back end, skipping literals, quoted identifiers and
 * comments; counts the parameters; refuses '?' placeholders.
 */
static int translate_sql(const struct db *db, const char *purpose, const char *sql,
			 char **out, int *nparams, struct vr_error **err)
{
	size_t len = strlen(sql);
	char *t = xmalloc(len + 1), *o = t;
	int max = 0;
	const char *p = sql;
	while (*p) {
		if (*p == '\'' || *p == '"') {
			char q = *p;
			*o++ = *p++;
			while (*p && *p != q)
				*o++ = *p++;
			if (*p)
				*o++ = *p++;
		} else if (p[0] == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				*o++ = *p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");
			size_t n = end ? (size_t)(end + 2 - p) : strlen(p);
			memcpy(o, p, n);
			o += n;
			p += n;
		} else if (*p == '$' && isdigit((unsigned char)p[1])) {
			char *end;
			long n = strtol(p + 1, &end, 10);
			if (n < 1 || n > DB_MAX_PARAMS) {
				free(t);
				return vr_error_set(err, EINVAL, "%s: parameter %.*s out of range 1..%d",
						    purpose, (int)(end - p), p, DB_MAX_PARAMS);
			}
			*o++ = db->ops->placeholder;
			memcpy(o, p + 1, (size_t)(end - p - 1));
			o += end - p - 1;
			p = end;
			if (n > max)
				max = (int)n;
		} else if (*p == '?') {
			free(t);
			return vr_error_set(err, EINVAL,
					    "%s: '?' placeholder in SQL; write $1, $2, ... instead",
					    purpose);
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	*out = t;
	*nparams = max;
	return 0;
}

int db_prepare(struct db *db, const char *purpose, const char *sql, struct db_stmt **out,
	       struct vr_error **err)
{
	*out = NULL;
	struct db_stmt *st = xcalloc(1, sizeof(*st));
	st->db = db;
	st->purpose = xstrdup(purpose);
	int r = translate_sql(db, purpose, sql, &st->sql, &st->nparams, err);
	if (r == 0) {
		st->params = xcalloc((size_t)st->nparams + 1, sizeof(*st->params));
		r = db->ops->prepare(st, err);
	}
	if (r < 0) {
		db_stmt_free(st);
		return r;
	}
	*out = st;
	return 0;
}

void db_stmt_free(struct db_stmt *st)
{
	if (!st)
		return;
	if (st->handle)
		st->db->ops->finalize(st);
	for (int i = 0; i < st->nparams; i++)
		free(st->params[i].text);
	free(st->params);
	free(st->sql);
	free(st->purpose);
	free(st);
}

void db_stmt_freep(struct db_stmt **st)
{
	db_stmt_free(*st);
	*st = NULL;
}

static struct db_param *param_slot(struct db_stmt *st, int idx)
{
	if (idx < 1 || idx > st->nparams) {
		if (!st->bad_index)
			st->bad_index = idx;
		return NULL;
	}
	if (st->executed)
		db_reset(st);
	struct db_param *p = &st->params[idx - 1];
	free(p->text);
	*p = (struct db_param){0};
	return p;
}

int db_bind_text(struct db_stmt *st, int idx, const char *value)
{
	struct db_param *p = param_slot(st, idx);
	if (!p)
		return -ERANGE;
	if (!value) {
		p->type = DB_PARAM_NULL;
	} else {
		p->type = DB_PARAM_TEXT;
		p->text = xstrdup(value);
	}
	return 0;
}

int db_bind_int64(struct db_stmt *st, int idx, int64_t value)
{
	struct db_param *p = param_slot(st, idx);
	if (!p)
		return -ERANGE;
	p->type = DB_PARAM_INT64;
	p->i = value;
	return 0;
}

int db_bind_double(struct db_stmt *st, int idx, double value)
{
	struct db_param *p = param_slot(st, idx);
	if (!p)
		return -ERANGE;
	p->type = DB_PARAM_DOUBLE;
	p->d = value;
	return 0;
}

int db_bind_bool(struct db_stmt *st, int idx, bool value)
{
	struct db_param *p = param_slot(st, idx);
	if (!p)
		return -ERANGE;
	p->type = DB_PARAM_BOOL;
	p->i = value;
	return 0;
}

int db_bind_null(struct db_stmt *st, int idx)
{
	struct db_param *p = param_slot(st, idx);
	if (!p)
		return -ERANGE;
	p->type = DB_PARAM_NULL;
	return 0;
}

int db_step(struct db_stmt *st, struct vr_error **err)
{
	if (!st->executed) {
		if (st->bad_index)
			return vr_error_set(err, ERANGE,
					    "%s: parameter $%d out of range (the statement has %d)",
					    st->purpose, st->bad_index, st->nparams);
		for (int i = 0; i < st->nparams; i++)
			if (st->params[i].type == DB_PARAM_UNSET)
				return vr_error_set(err, EINVAL, "%s: parameter $%d is not bound",
						    st->purpose, i + 1);
		st->changes = 0;
	}
	return st->db->ops->step(st, err);
}

void db_reset(struct db_stmt *st)
{
	if (st->handle)
		st->db->ops->reset(st);
	st->executed = false;
	st->row = 0;
}

int64_t db_changes(const struct db_stmt *st)
{
	return st->changes;
}

int db_column_count(const struct db_stmt *st)
{
	return st->executed ? st->db->ops->column_count(st) : 0;
}

static bool col_ok(struct db_stmt *st, int col)
{
	return col >= 0 && col < db_column_count(st);
}

bool db_column_is_null(struct db_stmt *st, int col)
{
	return !col_ok(st, col) || st->db->ops->column_is_null(st, col);
}

const char *db_column_text(struct db_stmt *st, int col)
{
	return col_ok(st, col) ? st->db->ops->column_text(st, col) : NULL;
}

int64_t db_column_int64(struct db_stmt *st, int col)
{
	return col_ok(st, col) ? st->db->ops->column_int64(st, col) : 0;
}

double db_column_double(struct db_stmt *st, int col)
{
	return col_ok(st, col) ? st->db->ops->column_double(st, col) : 0.0;
}

bool db_column_bool(struct db_stmt *st, int col)
{
	return col_ok(st, col) ? st->db->ops->column_bool(st, col) : false;
}

int db_claim_file(const char *location, int *fd, struct vr_error **err)
{
	_cleanup_free_ char *path = xasprintf("%s-claim", location);
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (f < 0)
		return vr_error_set_errno(err, errno, "cannot open \"%s\"", path);
	if (flock(f, LOCK_EX | LOCK_NB) == 0) {
		*fd = f;
		return 0;
	}
	int e = errno;
	char who[256] = "";
	ssize_t n = e == EWOULDBLOCK ? pread(f, who, sizeof(who) - 1, 0) : -1;
	close(f);
	if (e != EWOULDBLOCK)
		return vr_error_set_errno(err, e, "cannot lock \"%s\"", path);
	who[n > 0 ? n : 0] = '\0';
	who[strcspn(who, "\n")] = '\0';
	return vr_error_set(err, EBUSY,
			    "another vireo-center uses this database (%s): one center manages one "
			    "inventory; stop it first",
			    who[0] ? who : "who is not recorded");
}

int db_claim_file_record(int fd, const char *holder, struct vr_error **err)
{
	size_t len = strlen(holder);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, holder, len, 0) != (ssize_t)len)
		return vr_error_set_errno(err, errno, "cannot record this center in its claim file");
	return 0;
}

int db_claim(struct db *db, struct vr_error **err)
{
	struct vr_error *e = NULL;
	int r = db->ops->claim(db, &e);
	if (r == -EBUSY) {
		_cleanup_stmt_ struct db_stmt *st = NULL;
		_cleanup_free_ char *who = NULL;
		if (db_prepare(db, "who holds the database",
			       "SELECT value FROM center_setting WHERE name = 'holder'", &st, NULL) == 0 &&
		    db_step(st, NULL) > 0 && db_column_text(st, 0))
			who = xstrdup(db_column_text(st, 0));
		return vr_error_set(err, EBUSY,
				    "another vireo-center uses this database (%s): one center "
				    "manages one inventory; stop it first",
				    who ? who : "who is not recorded");
	}
	if (r < 0) {
		*err = e;
		return r;
	}
	return 0;
}

int db_claim_record(struct db *db, const char *holder, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "record who holds the database",
		       "INSERT INTO center_setting (name, value) VALUES ('holder', $1)"
		       " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
		       &st, err);
	if (r == 0) {
		db_bind_text(st, 1, holder);
		r = db_step(st, err);
	}
	return r < 0 ? r : 0;
}

int db_exec(struct db *db, const char *purpose, const char *sql, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, purpose, sql, &st, err);
	while (r >= 0 && (r = db_step(st, err)) > 0)
		;
	return r < 0 ? r : 0;
}

int db_query_int64(struct db *db, const char *purpose, const char *sql, int64_t *out,
		   struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, purpose, sql, &st, err);
	if (r < 0)
		return r;
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, ENOENT, "%s: no row", purpose);
	*out = db_column_int64(st, 0);
	return 0;
}

/* ---- transactions ---- */

int db_txn_depth(const struct db *db)
{
	return db->depth;
}

int db_begin(struct db *db, struct vr_error **err)
{
	int r;
	if (db->depth == 0) {
		r = db_exec(db, "begin transaction", db->ops->begin_sql, err);
	} else {
		_cleanup_free_ char *sql = xasprintf("SAVEPOINT vr_sp%d", db->depth);
		r = db_exec(db, "open savepoint", sql, err);
	}
	if (r < 0)
		return r;
	db->depth++;
	return 0;
}

int db_rollback(struct db *db, struct vr_error **err)
{
	if (db->depth == 0)
		return vr_error_set(err, EINVAL, "rollback: no transaction is open");
	db->depth--;
	if (db->depth == 0)
		return db_exec(db, "roll back transaction", "ROLLBACK", err);
	_cleanup_free_ char *back = xasprintf("ROLLBACK TO SAVEPOINT vr_sp%d", db->depth);
	_cleanup_free_ char *rel = xasprintf("RELEASE SAVEPOINT vr_sp%d", db->depth);
	int r = db_exec(db, "roll back to savepoint", back, err);
	if (r == 0)
		r = db_exec(db, "release savepoint", rel, err);
	return r;
}

int db_commit(struct db *db, struct vr_error **err)
{
	if (db->depth == 0)
		return vr_error_set(err, EINVAL, "commit: no transaction is open");
	if (db->depth > 1) {
		_cleanup_free_ char *rel = xasprintf("RELEASE SAVEPOINT vr_sp%d", db->depth - 1);
		int r = db_exec(db, "release savepoint", rel, err);
		if (r < 0) {
			db_rollback(db, NULL);
			return r;
		}
		db->depth--;
		return 0;
	}
	int r = db_exec(db, "commit transaction", "COMMIT", err);
	if (r < 0) {
		/* PostgreSQL has ended the transaction already; SQLite has not. */
		db_exec(db, "roll back failed commit", "ROLLBACK", NULL);
	}
	db->depth = 0;
	return r;
}

int db_in_level(struct db *db, int (*fn)(struct db *db, void *opaque, struct vr_error **err),
		void *opaque, struct vr_error **err)
{
	int r = db_begin(db, err);
	if (r < 0)
		return r;
	r = fn(db, opaque, err);
	if (r < 0) {
		db_rollback(db, NULL);
		return r;
	}
	int c = db_commit(db, err);
	return c < 0 ? c : r;
}

static void backoff_sleep(int attempt)
{
	unsigned rnd = 0;
	random_bytes(&rnd, sizeof(rnd));
	unsigned ms = 1 + rnd % (5u << attempt);
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int db_transact(struct db *db, int (*fn)(struct db *db, void *opaque, struct vr_error **err),
		void *opaque, struct vr_error **err)
{
	if (db->depth != 0)
		return vr_error_set(err, EINVAL, "db_transact: a transaction is already open");
	for (int attempt = 0;; attempt++) {
		struct vr_error *e = NULL;
		int r = db_begin(db, &e);
		int result = 0;
		if (r == 0) {
			result = r = fn(db, opaque, &e);
			if (r >= 0)
				r = db_commit(db, &e);
			else
				db_rollback(db, NULL);
		}
		if (r == -EAGAIN && attempt + 1 < DB_TRANSACT_ATTEMPTS) {
			log_debug("database %s: retrying transaction: %s", db->shown,
				  vr_error_msg(e));
			vr_error_free(e);
			backoff_sleep(attempt);
			continue;
		}
		if (r < 0) {
			if (err && !*err)
				*err = e;
			else
				vr_error_free(e);
			return r;
		}
		return result;
	}
}
