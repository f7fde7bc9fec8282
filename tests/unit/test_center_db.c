/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vireo-center's database layer: one suite of cases run twice, on SQLite
 * (a temporary file) and on PostgreSQL (a real server from Debian's
 * package that this program starts as "nobody", listening only on a unix
 * socket in a temporary directory, and stops at the end).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "center/db/db_priv.h"
#include "center/db/inventory.h"
#include "center/db/privileges.h"
#include "center/db/schema_priv.h"
#include "center_fixture.h"
#include "common/error.h"
#include "common/util.h"

/* A create spec: kind, parent, name, then designated fields. */
#define SPEC(k, p, n, ...) \
	(&(struct inv_create_spec){.kind = (k), .parent_id = (p), .name = (n), __VA_ARGS__})

/* ---- migrations ---- */

static bool role_has(struct db *db, const char *role, const char *privilege)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	struct vr_error *err = NULL;
	OK(db_prepare(db, "check a role's privilege",
		      "SELECT COUNT(*) FROM role_privilege rp JOIN role r ON r.id = rp.role_id"
		      " WHERE r.name = $1 AND rp.privilege_id = $2",
		      &st, &err));
	db_bind_text(st, 1, role);
	db_bind_text(st, 2, privilege);
	assert_int_equal(db_step(st, &err), 1);
	return db_column_int64(st, 0) == 1;
}

static void test_migrate_from_empty(void **state)
{
	struct center_case *f = *state;
	_cleanup_(db_closep) struct db *db = NULL;
	struct vr_error *err = NULL;
	OK(db_open(f->location, &db, &err));
	int64_t version = -1;
	OK(schema_version_get(db, &version, &err));
	assert_int_equal(version, 0);
	int applied = -1;
	OK(schema_migrate(db, &applied, &err));
	assert_int_equal(applied, SCHEMA_VERSION_LATEST);
	OK(schema_version_get(db, &version, &err));
	assert_int_equal(version, SCHEMA_VERSION_LATEST);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM privilege"), center_privileges_count);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM role WHERE is_system"), 5);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM role_privilege rp JOIN role r"
				   " ON r.id = rp.role_id WHERE r.name = 'Admin'"),
			 center_privileges_count);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM role_privilege rp JOIN role r"
				   " ON r.id = rp.role_id WHERE r.name = 'NoAccess'"),
			 0);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM role_privilege rp JOIN role r"
				   " ON r.id = rp.role_id WHERE r.name = 'ReadOnly'"),
			 3);
	assert_true(role_has(db, "VirtualMachineUser", "VirtualMachine.Interact.PowerOn"));
	assert_false(role_has(db, "VirtualMachineUser", "VirtualMachine.Config.CPUCount"));
	assert_true(role_has(db, "VirtualMachineAdministrator", "VirtualMachine.State.CreateSnapshot"));
	assert_true(role_has(db, "VirtualMachineAdministrator", "Datastore.AllocateSpace"));
	assert_false(role_has(db, "VirtualMachineAdministrator", "Host.Config.Maintenance"));
	assert_true(role_has(db, "Admin", "Host.Config.Maintenance"));
	assert_int_equal(count(db, "SELECT COUNT(*) FROM perf_interval"), 5);
	assert_int_equal(count(db, "SELECT retention_s FROM perf_interval WHERE sample_s = 7200"),
			 30 * 86400);
	int64_t root;
	OK(inventory_root(db, &root, &err));
	struct inv_object o;
	OK(inventory_get(db, root, &o, &err));
	assert_string_equal(o.name, "Datacenters");
	assert_int_equal(o.kind, INV_KIND_FOLDER);
	assert_true(o.is_system);
	inv_object_clear(&o);
}

static void test_reopen_is_noop(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	struct db *db = fixture_open_migrated(f);
	int64_t root, dc;
	OK(inventory_root(db, &root, &err));
	OK(inventory_create(db, SPEC(INV_KIND_DATACENTER, root, "dc1"), &dc, &err));
	db_close(db);
	db = NULL;
	OK(db_open(f->location, &db, &err));
	int applied = -1;
	OK(schema_migrate(db, &applied, &err));
	assert_int_equal(applied, 0);
	OK(schema_migrate(db, &applied, &err));
	assert_int_equal(applied, 0);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM schema_version"), SCHEMA_VERSION_LATEST);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM role"), 5);
	struct inv_object o;
	OK(inventory_get(db, dc, &o, &err));
	assert_string_equal(o.name, "dc1");
	inv_object_clear(&o);
	db_close(db);
}

/* One center per database: a second claim is refused naming the holder, until the first closes. */
static void test_one_center_per_database(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	struct db *first = fixture_open_migrated(f), *second = NULL;
	OK(db_claim(first, &err));
	OK(db_claim(first, &err)); /* again on the same connection: still its own */
	OK(db_claim_record(first, "vireo-center pid 1 on test since then", &err));
	OK(db_open(f->location, &second, &err));
	expect_err(db_claim(second, &err), EBUSY, &err,
		   "another vireo-center uses this database (vireo-center pid 1 on test since then)");
	/* Other connections work on: the claim keeps out centers, not readers. */
	assert_int_equal(count(second, "SELECT COUNT(*) FROM role"), 5);
	db_close(first);
	OK(db_claim(second, &err));
	db_close(second);
}

static void test_newer_version_refused(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	struct db *db = fixture_open_migrated(f);
	OK(db_exec(db, "pretend a newer vireo-center ran",
		   "INSERT INTO schema_version (version, description, applied_ms)"
		   " VALUES (99, 'from the future', 0)",
		   &err));
	db_close(db);
	db = NULL;
	expect_err(schema_open(f->location, &db, &err), ENOTSUP, &err, "schema version 99, newer");
	assert_null(db);
	OK(db_open(f->location, &db, &err));
	int64_t version = 0;
	OK(schema_version_get(db, &version, &err));
	assert_int_equal(version, 99);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM schema_version"), SCHEMA_VERSION_LATEST + 1);
	db_close(db);
}

static void test_migration_is_atomic(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = NULL;
	OK(db_open(f->location, &db, &err));
	static const struct schema_statement broken[] = {
		{"create table first", "CREATE TABLE first_table (id @AUTOID@, name TEXT COLLATE @BYTES@)"},
		{"create table broken", "CREATE TABLE broken_table (id BIGINT, NOT VALID SQL)"},
	};
	static const struct schema_migration list[] = {
		{1, "broken on purpose", broken, ARRAY_SIZE(broken), NULL},
	};
	expect_err(schema_migrate_with(db, list, ARRAY_SIZE(list), NULL, &err), EINVAL, &err,
		   "schema migration 1: create table broken");
	int64_t version = -1;
	OK(schema_version_get(db, &version, &err));
	assert_int_equal(version, 0);
	expect_err(db_exec(db, "read the first table", "SELECT COUNT(*) FROM first_table", &err),
		   EINVAL, &err, "first_table");
	assert_int_equal(db_txn_depth(db), 0);
}

/* ---- transactions ---- */

static void add_user(struct db *db, const char *name, int expect)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	struct vr_error *err = NULL;
	OK(db_prepare(db, "insert user",
		      "INSERT INTO principal (kind, name, created_ms, modified_ms)"
		      " VALUES ('user', $1, 0, 0)",
		      &st, &err));
	db_bind_text(st, 1, name);
	int r = db_step(st, &err);
	if (expect)
		expect_err(r, expect, &err, "insert user");
	else
		OK(r);
}

static int transact_fn(struct db *db, void *opaque, struct vr_error **err)
{
	int *calls = opaque;
	add_user(db, (*calls)++ == 0 ? "first-try" : "second-try", 0);
	if (*calls == 1)
		return vr_error_set(err, EAGAIN, "pretend serialization failure");
	return 7;
}

static int failing_fn(struct db *db, void *opaque, struct vr_error **err)
{
	add_user(db, "never", 0);
	return vr_error_set(err, EIO, "gave up");
}

static void test_transactions_roll_back(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = fixture_open_migrated(f);
	OK(db_begin(db, &err));
	add_user(db, "alice", 0);
	add_user(db, "alice", EEXIST); /* fails: PostgreSQL now refuses the transaction */
	OK(db_rollback(db, &err));
	assert_int_equal(count(db, "SELECT COUNT(*) FROM principal"), 0);

	/* Savepoints: the inner failure is undone, the outer work kept. */
	OK(db_begin(db, &err));
	add_user(db, "outer", 0);
	OK(db_begin(db, &err));
	assert_int_equal(db_txn_depth(db), 2);
	add_user(db, "inner", 0);
	add_user(db, "outer", EEXIST);
	OK(db_rollback(db, &err));
	add_user(db, "after", 0);
	OK(db_commit(db, &err));
	assert_int_equal(db_txn_depth(db), 0);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM principal"), 2);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM principal WHERE name = 'inner'"), 0);

	/* db_transact: retried on -EAGAIN with the first attempt undone, rolled back on error. */
	int calls = 0;
	assert_int_equal(db_transact(db, transact_fn, &calls, &err), 7);
	assert_int_equal(calls, 2);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM principal WHERE name = 'first-try'"), 0);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM principal WHERE name = 'second-try'"), 1);
	expect_err(db_transact(db, failing_fn, NULL, &err), EIO, &err, "gave up");
	assert_int_equal(count(db, "SELECT COUNT(*) FROM principal WHERE name = 'never'"), 0);
	expect_err(db_commit(db, &err), EINVAL, &err, "no transaction");

	/* An inventory function inside a caller's transaction follows it. */
	int64_t root, dc;
	OK(inventory_root(db, &root, &err));
	OK(db_begin(db, &err));
	OK(inventory_create(db, SPEC(INV_KIND_DATACENTER, root, "gone"), &dc, &err));
	expect_err(inventory_create(db, SPEC(INV_KIND_DATACENTER, root, "gone"), &dc, &err),
		   EEXIST, &err, "\"gone\"");
	/* The failed create rolled back its own level: the transaction goes on. */
	OK(inventory_create(db, SPEC(INV_KIND_DATACENTER, root, "gone2"), &dc, &err));
	OK(db_rollback(db, &err));
	assert_int_equal(count(db, "SELECT COUNT(*) FROM inventory_object"), 1);
}

static int64_t create(struct db *db, enum inv_kind kind, int64_t parent, const char *name)
{
	int64_t id = 0;
	struct vr_error *err = NULL;
	OK(inventory_create(db, SPEC(kind, parent, name), &id, &err));
	return id;
}

static void test_concurrent_writers(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *a = fixture_open_migrated(f);
	_cleanup_(db_closep) struct db *b = NULL;
	OK(db_open(f->location, &b, &err));
	OK(db_begin(a, &err));
	add_user(a, "from-a", 0);
	if (fixture_backend == DB_BACKEND_SQLITE) {
		/* WAL: a reader goes on while a writer holds its transaction. */
		assert_int_equal(count(b, "SELECT COUNT(*) FROM principal"), 0);
		OK(db_commit(a, &err));
		assert_int_equal(count(b, "SELECT COUNT(*) FROM principal"), 1);
		return;
	}
	/* Write skew between two SERIALIZABLE transactions: one must retry. */
	OK(db_begin(b, &err));
	assert_int_equal(count(a, "SELECT COUNT(*) FROM principal WHERE kind = 'group'"), 0);
	assert_int_equal(count(b, "SELECT COUNT(*) FROM principal WHERE kind = 'user'"), 0);
	OK(db_exec(b, "insert group",
		   "INSERT INTO principal (kind, name, created_ms, modified_ms)"
		   " VALUES ('group', 'from-b', 0, 0)",
		   &err));
	OK(db_commit(a, &err));
	expect_err(db_commit(b, &err), EAGAIN, &err, "commit transaction: PostgreSQL error");
	assert_int_equal(db_txn_depth(b), 0);
	assert_int_equal(count(b, "SELECT COUNT(*) FROM principal"), 1);
}

/* ---- statements ---- */

static void test_parameters_and_nulls(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = NULL;
	OK(db_open(f->location, &db, &err));
	OK(db_exec(db, "create table t",
		   "CREATE TABLE t (i BIGINT, d DOUBLE PRECISION, s TEXT, b BOOLEAN)", &err));
	_cleanup_stmt_ struct db_stmt *ins = NULL;
	OK(db_prepare(db, "insert into t", "INSERT INTO t (i, d, s, b) VALUES ($1, $2, $3, $4)",
		      &ins, &err));
	static const char *const texts[] = {"", "it's \"quoted\" $1 ?", "日本語 ✓"};
	static const int64_t ints[] = {INT64_MAX, INT64_MIN, 0};
	static const double dbls[] = {-0.5, 1e300, 0.1};
	for (int i = 0; i < 3; i++) {
		db_bind_int64(ins, 1, ints[i]);
		db_bind_double(ins, 2, dbls[i]);
		db_bind_text(ins, 3, texts[i]);
		db_bind_bool(ins, 4, i == 1);
		assert_int_equal(db_step(ins, &err), 0);
		assert_int_equal(db_changes(ins), 1);
	}
	db_bind_null(ins, 1);
	db_bind_null(ins, 2);
	db_bind_text(ins, 3, NULL);
	db_bind_null(ins, 4);
	assert_int_equal(db_step(ins, &err), 0);

	_cleanup_stmt_ struct db_stmt *sel = NULL;
	/* $1 twice; '$2' in a literal is text, not a parameter; NULLS FIRST on both. */
	OK(db_prepare(db, "read t",
		      "SELECT i, d, s, b, '$2' FROM t WHERE i = $1 OR (i IS NULL AND $1 = $1)"
		      " ORDER BY i NULLS FIRST",
		      &sel, &err));
	db_bind_int64(sel, 1, INT64_MIN);
	assert_int_equal(db_step(sel, &err), 1);
	assert_int_equal(db_column_count(sel), 5);
	assert_true(db_column_is_null(sel, 0));
	assert_int_equal(db_step(sel, &err), 1);
	assert_int_equal(db_column_int64(sel, 0), INT64_MIN);
	assert_int_equal(db_step(sel, &err), 0);
	_cleanup_stmt_ struct db_stmt *ord = NULL;
	OK(db_prepare(db, "read t in order",
		      "SELECT i, d, s, b, '$2' FROM t WHERE i IS NOT NULL ORDER BY i", &ord, &err));
	for (int k = 0; k < 3; k++) {
		int i = k == 0 ? 1 : k == 1 ? 2 : 0; /* MIN, 0, MAX */
		assert_int_equal(db_step(ord, &err), 1);
		assert_int_equal(db_column_int64(ord, 0), ints[i]);
		assert_true(db_column_double(ord, 1) == dbls[i]);
		assert_string_equal(db_column_text(ord, 2), texts[i]);
		assert_false(db_column_is_null(ord, 2));
		assert_int_equal(db_column_bool(ord, 3), i == 1);
		assert_string_equal(db_column_text(ord, 4), "$2");
		assert_null(db_column_text(ord, 5)); /* out of range */
	}
	assert_int_equal(db_step(ord, &err), 0);

	/* The NULL row: NULL reads as NULL / 0 / false, and differs from "". */
	assert_int_equal(count(db, "SELECT COUNT(*) FROM t WHERE s IS NULL"), 1);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM t WHERE s = ''"), 1);
	_cleanup_stmt_ struct db_stmt *nul = NULL;
	OK(db_prepare(db, "read the NULL row", "SELECT i, d, s, b FROM t WHERE i IS NULL", &nul,
		      &err));
	assert_int_equal(db_step(nul, &err), 1);
	for (int c = 0; c < 4; c++)
		assert_true(db_column_is_null(nul, c));
	assert_null(db_column_text(nul, 2));
	assert_int_equal(db_column_int64(nul, 0), 0);
	assert_false(db_column_bool(nul, 3));

	/* The same SQL twice at once, then again from the connection's cache. */
	static const char by_i[] = "SELECT s FROM t WHERE i = $1";
	for (int round = 0; round < 2; round++) {
		_cleanup_stmt_ struct db_stmt *x = NULL, *y = NULL;
		OK(db_prepare(db, "read s", by_i, &x, &err));
		OK(db_prepare(db, "read s", by_i, &y, &err));
		db_bind_int64(x, 1, INT64_MAX);
		db_bind_int64(y, 1, 0);
		assert_int_equal(db_step(x, &err), 1);
		assert_int_equal(db_step(y, &err), 1);
		assert_string_equal(db_column_text(x, 0), texts[0]);
		assert_string_equal(db_column_text(y, 0), texts[2]);
		assert_int_equal(db_step(x, &err), 0);
		_cleanup_stmt_ struct db_stmt *z = NULL;
		OK(db_prepare(db, "read s unbound", by_i, &z, &err));
		expect_err(db_step(z, &err), EINVAL, &err, "parameter $1 is not bound");
	}

	/* Binding mistakes are reported by the step, naming the statement. */
	_cleanup_stmt_ struct db_stmt *bad = NULL;
	OK(db_prepare(db, "insert two", "INSERT INTO t (i, s) VALUES ($1, $2)", &bad, &err));
	db_bind_int64(bad, 1, 1);
	expect_err(db_step(bad, &err), EINVAL, &err, "insert two: parameter $2 is not bound");
	assert_int_equal(db_bind_text(bad, 3, "x"), -ERANGE);
	db_bind_text(bad, 2, "x");
	expect_err(db_step(bad, &err), ERANGE, &err, "parameter $3 out of range");
	_cleanup_stmt_ struct db_stmt *q = NULL;
	expect_err(db_prepare(db, "portable", "SELECT * FROM t WHERE i = ?", &q, &err), EINVAL,
		   &err, "write $1");
	assert_null(q);
	int r2 = db_prepare(db, "two at once", "SELECT 1; SELECT 2", &q, &err);
	if (r2 == 0)
		r2 = db_step(q, &err); /* PostgreSQL says so when it gets them */
	expect_err(r2, EINVAL, &err, "two at once");
}

static void test_error_messages(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = fixture_open_migrated(f);
	const char *name = db_backend_name(db);
	_cleanup_free_ char *want = xasprintf("list widgets: %s error: ", name);
	expect_err(db_exec(db, "list widgets", "SELECT * FROM widget", &err), EINVAL, &err, want);
	expect_err(db_exec(db, "list widgets", "SELECT * FROM widget", &err), EINVAL, &err,
		   "widget");
	expect_err(db_exec(db, "insert a bad task",
			   "INSERT INTO task (type, principal, state, queued_ms)"
			   " VALUES ('x', 'u', 'failed', 0)",
			   &err),
		   EINVAL, &err, "insert a bad task");
	expect_err(db_exec(db, "insert an orphan",
			   "INSERT INTO inventory_object (kind, parent_id, name, created_ms,"
			   " modified_ms) VALUES ('vm', 424242, 'x', 0, 0)",
			   &err),
		   EINVAL, &err, "insert an orphan");

	/* Passwords never show, whatever libpq echoes back. */
	static const struct {
		const char *location, *secret;
	} pw[] = {
		{"postgresql://vireo:s3cr%65t-pw@/nodb?host=/nonexistent-vireo", "s3cret-pw"},
		{"postgresql://vireo:s3cr%65t-pw@/nodb?host=/nonexistent-vireo", "s3cr%65t-pw"},
		{"postgresql://u:topsecret@[::1", "topsecret"},
		{"postgres:///nodb?host=/nonexistent-vireo&password=qwerty99&sslmode=bogus", "qwerty99"},
		{"host=/nonexistent-vireo dbname=x password='se cr\\'et'", "se cr'et"},
		{"host=/nonexistent-vireo password=hunter2 port=notaport", "hunter2"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(pw); i++) {
		struct db *none = NULL;
		assert_true(db_open(pw[i].location, &none, &err) < 0);
		assert_null(none);
		assert_non_null(err);
		if (strstr(err->msg, pw[i].secret))
			fail_msg("password shown: %s", err->msg);
		assert_non_null(strstr(err->msg, "***"));
		assert_non_null(strstr(err->msg, "PostgreSQL"));
		vr_error_freep(&err);
		_cleanup_free_ char *shown = db_location_redact(pw[i].location);
		assert_null(strstr(shown, pw[i].secret));
	}
	/* Scrubbing back-end messages: the password as written and as decoded. */
	struct db fake = {.ops = &db_postgres_ops, .location = "postgresql://u:s3cr%65t@h/x"};
	_cleanup_free_ char *m1 = db_scrub(&fake, "bad s3cret and s3cr%65t here\n");
	assert_string_equal(m1, "bad *** and *** here");
	fake.location = "host=h password='it\\'s me' user=u";
	_cleanup_free_ char *m2 = db_scrub(&fake, "echo: it's me / 'it\\'s me'");
	assert_null(strstr(m2, "it's me"));
	assert_null(strstr(m2, "it\\'s me"));
	_cleanup_free_ char *password = db_location_password(fake.location);
	assert_string_equal(password, "it's me");
	_cleanup_free_ char *r1 = db_location_redact("postgresql://me:pw@db.example/center");
	assert_string_equal(r1, "postgresql://me:***@db.example/center");
	_cleanup_free_ char *r2 = db_location_redact("host=db password = 'a b' user=me");
	assert_string_equal(r2, "host=db password = *** user=me");
	assert_int_equal(db_location_backend("/var/lib/vireo/center.db"), DB_BACKEND_SQLITE);
	assert_int_equal(db_location_backend("./dbname=x"), DB_BACKEND_SQLITE);
	assert_int_equal(db_location_backend("dbname=x"), DB_BACKEND_POSTGRES);
	assert_int_equal(db_location_backend("postgres://h/x"), DB_BACKEND_POSTGRES);

	/* SQLite: a missing directory, and a file that is no database. */
	struct db *none = NULL;
	expect_err(db_open("/nonexistent-vireo/center.db", &none, &err), ENOENT, &err,
		   "/nonexistent-vireo/center.db");
	char tmpl[] = "/tmp/vireo-cdb-junk-XXXXXX";
	int fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "this is not a database, not at all, no.....", 44), 44);
	close(fd);
	int r = schema_open(tmpl, &none, &err);
	unlink(tmpl);
	assert_true(r < 0);
	assert_non_null(strstr(err->msg, "not a database"));
	vr_error_freep(&err);
}

/* ---- inventory rules ---- */

struct dc {
	int64_t id, vm, host, datastore, network;
};

static struct dc make_dc(struct db *db, const char *name)
{
	struct vr_error *err = NULL;
	int64_t root;
	OK(inventory_root(db, &root, &err));
	struct dc d = {.id = create(db, INV_KIND_DATACENTER, root, name)};
	struct inv_list l;
	OK(inventory_list_children(db, d.id, &l, &err));
	assert_int_equal(l.n, 4);
	for (size_t i = 0; i < l.n; i++) {
		assert_true(l.items[i].is_system);
		if (l.items[i].kind == INV_KIND_VM_FOLDER)
			d.vm = l.items[i].id;
		else if (l.items[i].kind == INV_KIND_HOST_FOLDER)
			d.host = l.items[i].id;
		else if (l.items[i].kind == INV_KIND_DATASTORE_FOLDER)
			d.datastore = l.items[i].id;
		else if (l.items[i].kind == INV_KIND_NETWORK_FOLDER)
			d.network = l.items[i].id;
	}
	inv_list_clear(&l);
	assert_true(d.vm && d.host && d.datastore && d.network);
	return d;
}

static void test_unique_names_and_kinds(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = fixture_open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	int64_t web = create(db, INV_KIND_VM, d.vm, "web01");
	int64_t id;
	expect_err(inventory_create(db, SPEC(INV_KIND_VM, d.vm, "web01"), &id, &err),
		   EEXIST, &err, "cannot create vm \"web01\" in \"vm\": an object of that name");
	int64_t sub = create(db, INV_KIND_VM_FOLDER, d.vm, "linux");
	create(db, INV_KIND_VM, sub, "web01"); /* another folder: fine */
	create(db, INV_KIND_VM, d.vm, "WEB01"); /* names are case-sensitive */
	create(db, INV_KIND_TEMPLATE, d.vm, "web02");
	expect_err(inventory_rename(db, web, "web02", &err), EEXIST, &err, "sibling");
	OK(inventory_rename(db, web, "web01", &err));
	OK(inventory_rename(db, web, "web-01", &err));
	struct inv_object o;
	OK(inventory_get(db, web, &o, &err));
	assert_string_equal(o.name, "web-01");
	assert_int_equal(o.version, 2);
	assert_non_null(o.uuid);
	assert_true(uuid_is_valid(o.uuid));
	inv_object_clear(&o);

	/* Kinds under kinds. */
	expect_err(inventory_create(db, SPEC(INV_KIND_VM, d.host, "x"), &id, &err),
		   EINVAL, &err, "a host_folder holds no vm");
	expect_err(inventory_create(db, SPEC(INV_KIND_VM_FOLDER, d.id, "x"), &id, &err),
		   EINVAL, &err, "a datacenter holds no vm_folder");
	int64_t cl = create(db, INV_KIND_CLUSTER, d.host, "cl1");
	int64_t h1 = create(db, INV_KIND_HOST, cl, "esx1");
	int64_t pool = create(db, INV_KIND_RESOURCE_POOL, cl, "prod");
	create(db, INV_KIND_RESOURCE_POOL, pool, "prod-db");
	create(db, INV_KIND_DATASTORE, d.datastore, "ds1");
	int64_t dvs = create(db, INV_KIND_DVSWITCH, d.network, "dvs1");
	create(db, INV_KIND_PORTGROUP, dvs, "pg-vlan10");
	expect_err(inventory_create(db, SPEC(INV_KIND_VM, d.vm, "x", .host_id = cl), &id, &err),
		   EINVAL, &err, "host \"cl1\" is a cluster, not a host");
	expect_err(inventory_create(db, SPEC(INV_KIND_VM, d.vm, "x", .host_id = h1, .pool_id = h1),
				    &id, &err),
		   EINVAL, &err, "not a resource_pool");
	expect_err(inventory_create(db, SPEC(INV_KIND_VM, 987654, "x"), &id, &err),
		   ENOENT, &err, "parent 987654 does not exist");
	expect_err(inventory_create(db, SPEC(INV_KIND_VM, d.vm, "x", .properties = "[1,2]"),
				    &id, &err),
		   EINVAL, &err, "JSON object");
	int64_t vm = 0;
	OK(inventory_create(db, SPEC(INV_KIND_VM, d.vm, "db01", .host_id = h1, .pool_id = pool,
				     .properties = "{\"cpus\":4}"),
			    &vm, &err));
	OK(inventory_get(db, vm, &o, &err));
	assert_int_equal(o.host_id, h1);
	assert_int_equal(o.pool_id, pool);
	assert_string_equal(o.properties, "{\"cpus\":4}");
	inv_object_clear(&o);
	OK(inventory_lookup(db, d.vm, "db01", &o, &err));
	assert_int_equal(o.id, vm);
	inv_object_clear(&o);
	expect_err(inventory_lookup(db, d.vm, "nope", &o, &err), ENOENT, &err, "nope");
}

static void test_move_rules(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = fixture_open_migrated(f);
	struct dc d = make_dc(db, "dc1"), d2 = make_dc(db, "dc2");
	int64_t f1 = create(db, INV_KIND_VM_FOLDER, d.vm, "f1");
	int64_t f2 = create(db, INV_KIND_VM_FOLDER, f1, "f2");
	int64_t f3 = create(db, INV_KIND_VM_FOLDER, f2, "f3");
	int64_t vm = create(db, INV_KIND_VM, f3, "vm1");
	create(db, INV_KIND_VM, d.vm, "vm1");
	expect_err(inventory_move(db, f1, f3, &err), ELOOP, &err, "inside it");
	expect_err(inventory_move(db, f1, f1, &err), ELOOP, &err, "inside it");
	expect_err(inventory_move(db, vm, d.host, &err), EINVAL, &err, "holds no vm");
	expect_err(inventory_move(db, vm, d2.vm, &err), EXDEV, &err, "another datacenter");
	expect_err(inventory_move(db, vm, d.vm, &err), EEXIST, &err, "already there");
	expect_err(inventory_move(db, d.vm, d2.id, &err), EPERM, &err, "system object");
	expect_err(inventory_move(db, vm, 999999, &err), ENOENT, &err, "999999");
	OK(inventory_move(db, f3, d.vm, &err));
	OK(inventory_move(db, f1, f3, &err)); /* no longer a cycle */
	struct inv_object o;
	OK(inventory_get(db, f1, &o, &err));
	assert_int_equal(o.parent_id, f3);
	inv_object_clear(&o);
	/* Folders and datacenters move between datacenter folders. */
	int64_t root;
	OK(inventory_root(db, &root, &err));
	int64_t region = create(db, INV_KIND_FOLDER, root, "emea");
	OK(inventory_move(db, d2.id, region, &err));
	expect_err(inventory_move(db, region, d2.id, &err), EINVAL, &err, "holds no folder");
	expect_err(inventory_rename(db, root, "Top", &err), EPERM, &err, "system object");
}

static void test_delete_rules(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = fixture_open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	int64_t folder = create(db, INV_KIND_VM_FOLDER, d.vm, "apps");
	int64_t host = create(db, INV_KIND_HOST, d.host, "esx1");
	int64_t vm = 0;
	OK(inventory_create(db, SPEC(INV_KIND_VM, folder, "app1", .host_id = host), &vm, &err));
	int64_t ds = create(db, INV_KIND_DATASTORE, d.datastore, "ds1");
	_cleanup_stmt_ struct db_stmt *link = NULL;
	OK(db_prepare(db, "link a VM to a datastore",
		      "INSERT INTO inventory_link (object_id, relation, target_id)"
		      " VALUES ($1, 'vm_datastore', $2)",
		      &link, &err));
	db_bind_int64(link, 1, vm);
	db_bind_int64(link, 2, ds);
	OK(db_step(link, &err));
	expect_err(inventory_delete(db, folder, &err), ENOTEMPTY, &err,
		   "cannot delete vm_folder \"apps\": it holds 1 objects");
	expect_err(inventory_delete(db, host, &err), EBUSY, &err, "1 VMs are on it");
	expect_err(inventory_delete(db, ds, &err), EBUSY, &err, "1 objects use it");
	expect_err(inventory_delete(db, d.vm, &err), EPERM, &err, "system object");
	expect_err(inventory_delete(db, d.id, &err), ENOTEMPTY, &err, "datacenter \"dc1\"");
	expect_err(inventory_delete(db, 31337, &err), ENOENT, &err, "31337");
	OK(inventory_delete(db, vm, &err));
	assert_int_equal(count(db, "SELECT COUNT(*) FROM inventory_link"), 0);
	OK(inventory_delete(db, folder, &err));
	OK(inventory_delete(db, host, &err));
	OK(inventory_delete(db, ds, &err));
	OK(inventory_delete(db, d.id, &err));
	assert_int_equal(count(db, "SELECT COUNT(*) FROM inventory_object"), 1); /* the root */
	int64_t root;
	OK(inventory_root(db, &root, &err));
	expect_err(inventory_delete(db, root, &err), EPERM, &err, "system object");
}

static void test_names_stored_verbatim(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = fixture_open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	static const char *const names[] = {
		"x'); DROP TABLE inventory_object; --",
		"\"; DELETE FROM role; --",
		"Robert'); DELETE FROM privilege WHERE ('1'='1",
		"$1",
		"?",
		"%_",
		"a\\b",
		"日本語 ✓ ünïcödé",
		"' OR '1'='1",
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		create(db, INV_KIND_VM, d.vm, names[i]);
	struct inv_list l;
	OK(inventory_list_children(db, d.vm, &l, &err));
	assert_int_equal(l.n, ARRAY_SIZE(names));
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		bool found = false;
		for (size_t j = 0; j < l.n; j++)
			found |= strcmp(l.items[j].name, names[i]) == 0;
		if (!found)
			fail_msg("name \"%s\" not stored verbatim", names[i]);
	}
	for (size_t j = 1; j < l.n; j++) /* bytewise order */
		assert_true(strcmp(l.items[j - 1].name, l.items[j].name) < 0);
	inv_list_clear(&l);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM role"), 5);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM privilege"), center_privileges_count);
	/* A prefix is a prefix: no LIKE wildcards, quotes are plain characters. */
	OK(inventory_search_prefix(db, INV_KIND_VM, "%", 10, &l, &err));
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].name, "%_");
	inv_list_clear(&l);
	OK(inventory_search_prefix(db, INV_KIND_VM, "x'", 10, &l, &err));
	assert_int_equal(l.n, 1);
	inv_list_clear(&l);
	OK(inventory_search_prefix(db, INV_KIND_VM, "日本", 10, &l, &err));
	assert_int_equal(l.n, 1);
	inv_list_clear(&l);
	/* Refused names. */
	static const char *const bad[] = {"", " lead", "trail ", "tab\there", "nl\n", "\xff\xfe"};
	int64_t id;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		expect_err(inventory_create(db, SPEC(INV_KIND_VM, d.vm, bad[i]), &id, &err),
			   EINVAL, &err, "cannot create vm");
	char long_name[82];
	memset(long_name, 'n', 81);
	long_name[81] = '\0';
	expect_err(inventory_create(db, SPEC(INV_KIND_VM, d.vm, long_name), &id, &err),
		   EINVAL, &err, "81 characters");
	long_name[80] = '\0';
	create(db, INV_KIND_VM, d.vm, long_name);
}

static void test_perf_retention(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = fixture_open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	int64_t host = create(db, INV_KIND_HOST, d.host, "esx1");
	int64_t now = 1800000000000;
	static const struct {
		int level;
		int64_t age_s;
	} samples[] = {
		{1, 7200}, {1, 600}, {2, 2 * 86400}, {3, 86400}, {5, 400 * 86400}, {5, 100 * 86400},
	};
	_cleanup_stmt_ struct db_stmt *st = NULL;
	OK(db_prepare(db, "insert a sample",
		      "INSERT INTO perf_sample (interval_level, object_id, counter_id, ts_ms, value)"
		      " SELECT $1, $2, id, $3, $4 FROM perf_counter WHERE name = 'cpu.usage.average'",
		      &st, &err));
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
		db_bind_int64(st, 1, samples[i].level);
		db_bind_int64(st, 2, host);
		db_bind_int64(st, 3, now - samples[i].age_s * 1000);
		db_bind_double(st, 4, 12.5);
		OK(db_step(st, &err));
		assert_int_equal(db_changes(st), 1);
	}
	int64_t deleted = -1;
	OK(schema_perf_prune(db, now, &deleted, &err));
	assert_int_equal(deleted, 3);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM perf_sample"), 3);
	OK(schema_perf_prune(db, now, &deleted, &err));
	assert_int_equal(deleted, 0);
	/* Samples go with their object. */
	OK(inventory_delete(db, host, &err));
	assert_int_equal(count(db, "SELECT COUNT(*) FROM perf_sample"), 0);
}

/* ---- scale ---- */

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

#define N_HOSTS 1000
#define N_VMS 20000

static void test_scale(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = fixture_open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	int64_t *hosts = xcalloc(N_HOSTS, sizeof(*hosts));
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	OK(db_begin(db, &err));
	for (int i = 0; i < N_HOSTS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "esx-%04d", i);
		hosts[i] = create(db, INV_KIND_HOST, d.host, name);
	}
	for (int i = 0; i < N_VMS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "vm-%05d", i);
		int64_t id;
		OK(inventory_create(db, SPEC(INV_KIND_VM, d.vm, name, .host_id = hosts[i % N_HOSTS]),
					    &id, &err));
	}
	OK(db_commit(db, &err));
	double insert_ms = ms_since(&t0);

	struct inv_list l;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	OK(inventory_list_on_host(db, hosts[123], &l, &err));
	double host_ms = ms_since(&t0);
	assert_int_equal(l.n, N_VMS / N_HOSTS);
	assert_string_equal(l.items[0].name, "vm-00123");
	inv_list_clear(&l);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	OK(inventory_search_prefix(db, INV_KIND_VM, "vm-0123", 1000, &l, &err));
	double prefix_ms = ms_since(&t0);
	assert_int_equal(l.n, 10);
	assert_string_equal(l.items[9].name, "vm-01239");
	inv_list_clear(&l);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	OK(inventory_search_prefix(db, INV_KIND_VM, "vm-1", 100, &l, &err));
	double prefix_wide_ms = ms_since(&t0);
	assert_int_equal(l.n, 100);
	assert_string_equal(l.items[0].name, "vm-10000");
	inv_list_clear(&l);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	OK(inventory_list_children(db, d.vm, &l, &err));
	double children_ms = ms_since(&t0);
	assert_int_equal(l.n, N_VMS);
	inv_list_clear(&l);

	printf("[%s] insert %d hosts + %d VMs in one transaction: %.0f ms; VMs of a host: %.2f ms;"
	       " name prefix (10 hits): %.2f ms; name prefix (first 100): %.2f ms;"
	       " list a folder of %d VMs: %.1f ms\n",
	       db_backend_name(db), N_HOSTS, N_VMS, insert_ms, host_ms, prefix_ms, prefix_wide_ms,
	       N_VMS, children_ms);
	assert_true(host_ms < 200);
	assert_true(prefix_ms < 200);
	assert_true(prefix_wide_ms < 200);
	free(hosts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_from_empty, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_reopen_is_noop, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_one_center_per_database, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_newer_version_refused, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_migration_is_atomic, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_transactions_roll_back, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_parameters_and_nulls, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_error_messages, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_unique_names_and_kinds, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_move_rules, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_delete_rules, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_names_stored_verbatim, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_perf_retention, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_scale, fixture_setup_empty, fixture_teardown),
	};
	int failed = FIXTURE_RUN_GROUPS("center_db", tests);
	return failed ? 1 : 0;
}
