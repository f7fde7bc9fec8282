/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_TESTS_CENTER_FIXTURE_H
#define VIREO_TESTS_CENTER_FIXTURE_H

/*
 * The fixture shared by the unit tests of vireo-center's database layer
 * (test_center_db, _access, _records, _alarms): each runs its cases twice,
 * in a cmocka group per back end.
 *
 * Back end.  fixture_sqlite_group_setup() selects SQLite (a temporary file
 * per case); fixture_pg_group_setup() selects PostgreSQL and starts a
 * server (pg_server.h) that fixture_pg_group_teardown() stops; fixture_stop_at_exit(),
 * registered with atexit(), stops it after a failed run too.
 * FIXTURE_RUN_GROUPS() runs a test array in both groups.
 *
 * Case.  Every case gets a database of its own, empty or migrated to the
 * latest schema: fixture_setup_empty() / fixture_setup_migrated() put a
 * struct center_case in *state, fixture_teardown() removes it.
 *
 * Helpers fail the case (cmocka) rather than return errors; include this
 * after <cmocka.h> and common/error.h.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "center/db/db.h"

struct CMUnitTest;

/*
 * Runs the cases once on SQLite, then once on PostgreSQL, in groups named
 * "<suite> on SQLite" and "<suite> on PostgreSQL"; returns the number of
 * failures.  Registers fixture_stop_at_exit() first.
 */
int fixture_run_groups(const char *suite, const struct CMUnitTest *tests, size_t n);
#define FIXTURE_RUN_GROUPS(suite, tests) \
	fixture_run_groups((suite), (tests), sizeof(tests) / sizeof((tests)[0]))

/* The back end of the running group. */
extern enum db_backend fixture_backend;

void fixture_stop_at_exit(void);
int fixture_sqlite_group_setup(void **state);
int fixture_pg_group_setup(void **state);
int fixture_pg_group_teardown(void **state);

struct center_case {
	char *location;
	char *tmpdir; /* SQLite */
	char *dbname; /* PostgreSQL */
	struct db *db; /* open when migrated, else NULL; closed by center_case_free() */
};

/* A new database for one case, migrated (and opened in ->db) or empty. */
struct center_case *center_case_new(bool migrated);
/* Closes ->db, removes the database; accepts NULL. */
void center_case_free(struct center_case *c);

/* cmocka set-up and tear-down for one case: *state is a struct center_case. */
int fixture_setup_empty(void **state);
int fixture_setup_migrated(void **state);
int fixture_teardown(void **state);

/* Opens the case's database by schema_open() (migrating it); the caller closes it. */
struct db *fixture_open_migrated(const struct center_case *c);

/* Fails the case unless call returns >= 0; `err` is the caller's struct vr_error *. */
#define OK(call)                                                                \
	do {                                                                    \
		int ok_r_ = (call);                                             \
		if (ok_r_ < 0)                                                  \
			fail_msg("%s: %d %s", #call, ok_r_, vr_error_msg(err)); \
	} while (0)

/* The int64 a query without parameters returns. */
int64_t count(struct db *db, const char *sql);
/* r is -code and *err holds needle (NULL: any message); frees *err. */
void expect_err(int r, int code, struct vr_error **err, const char *needle);

#endif
