/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "center/db/schema_priv.h"
#include "center_fixture.h"
#include "common/error.h"
#include "common/util.h"
#include "pg_server.h"

enum db_backend fixture_backend;

static struct pg_server pg = {NULL, -1};
static unsigned db_seq;

/* ---- the back end under test ---- */

void fixture_stop_at_exit(void)
{
	pg_server_stop(&pg);
}

int fixture_pg_group_setup(void **state)
{
	fixture_backend = DB_BACKEND_POSTGRES;
	return pg_server_start(&pg);
}

int fixture_pg_group_teardown(void **state)
{
	pg_server_stop(&pg);
	return 0;
}

int fixture_sqlite_group_setup(void **state)
{
	fixture_backend = DB_BACKEND_SQLITE;
	return 0;
}

int fixture_run_groups(const char *suite, const struct CMUnitTest *tests, size_t n)
{
	atexit(fixture_stop_at_exit);
	_cleanup_free_ char *on_sqlite = xasprintf("%s on SQLite", suite);
	_cleanup_free_ char *on_pg = xasprintf("%s on PostgreSQL", suite);
	int failed = _cmocka_run_group_tests(on_sqlite, tests, n, fixture_sqlite_group_setup, NULL);
	failed += _cmocka_run_group_tests(on_pg, tests, n, fixture_pg_group_setup,
					  fixture_pg_group_teardown);
	return failed;
}

/* ---- per-case fixture ---- */

static int admin_exec(const char *sql)
{
	_cleanup_free_ char *loc = pg_server_location(&pg, "postgres");
	_cleanup_(db_closep) struct db *admin = NULL;
	_cleanup_error_ struct vr_error *err = NULL;
	int r = db_open(loc, &admin, &err);
	if (r == 0)
		r = db_exec(admin, "administer test databases", sql, &err);
	if (r < 0)
		fprintf(stderr, "%s\n", vr_error_msg(err));
	return r;
}

struct db *fixture_open_migrated(const struct center_case *c)
{
	struct db *db = NULL;
	_cleanup_error_ struct vr_error *err = NULL;
	int r = schema_open(c->location, &db, &err);
	if (r < 0)
		fail_msg("%s", vr_error_msg(err));
	assert_int_equal(db_backend(db), fixture_backend);
	return db;
}

struct center_case *center_case_new(bool migrated)
{
	struct center_case *c = xcalloc(1, sizeof(*c));
	if (fixture_backend == DB_BACKEND_SQLITE) {
		char tmpl[] = "/tmp/vireo-center-XXXXXX";
		assert_non_null(mkdtemp(tmpl));
		c->tmpdir = xstrdup(tmpl);
		c->location = xasprintf("%s/center.db", tmpl);
	} else {
		c->dbname = xasprintf("center_test_%u", ++db_seq);
		_cleanup_free_ char *sql = xasprintf("CREATE DATABASE %s", c->dbname);
		assert_int_equal(admin_exec(sql), 0);
		c->location = pg_server_location(&pg, c->dbname);
	}
	if (migrated)
		c->db = fixture_open_migrated(c);
	return c;
}

void center_case_free(struct center_case *c)
{
	if (!c)
		return;
	db_close(c->db);
	if (c->tmpdir)
		rm_rf(c->tmpdir);
	if (c->dbname) {
		_cleanup_free_ char *sql = xasprintf("DROP DATABASE %s WITH (FORCE)", c->dbname);
		admin_exec(sql);
	}
	free(c->tmpdir);
	free(c->dbname);
	free(c->location);
	free(c);
}

int fixture_setup_empty(void **state)
{
	*state = center_case_new(false);
	return 0;
}

int fixture_setup_migrated(void **state)
{
	*state = center_case_new(true);
	return 0;
}

int fixture_teardown(void **state)
{
	center_case_free(*state);
	return 0;
}

/* ---- helpers ---- */

int64_t count(struct db *db, const char *sql)
{
	int64_t n = -1;
	_cleanup_error_ struct vr_error *err = NULL;
	if (db_query_int64(db, "count rows", sql, &n, &err) < 0)
		fail_msg("%s", vr_error_msg(err));
	return n;
}

void expect_err(int r, int code, struct vr_error **err, const char *needle)
{
	if (r != -code)
		fail_msg("expected %d, got %d (%s)", -code, r, vr_error_msg(*err));
	assert_non_null(*err);
	if (needle && !strstr((*err)->msg, needle))
		fail_msg("\"%s\" not in \"%s\"", needle, (*err)->msg);
	vr_error_freep(err);
}
