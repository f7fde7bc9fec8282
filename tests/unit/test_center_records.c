/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vireo-center's records: tasks, events and performance history
 * (src/center/db/tasks.c, events.c, perf.c).  One suite run twice, on
 * SQLite (a temporary file) and on PostgreSQL (a real server this program
 * starts on a unix socket, see pg_server.h), a fresh database per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "center/db/db.h"
#include "center/db/events.h"
#include "center/db/inventory.h"
#include "center/db/perf.h"
#include "center/db/schema_priv.h"
#include "center/db/tasks.h"
#include "center_fixture.h"
#include "common/error.h"
#include "common/util.h"

#define SPEC(k, p, n, ...) \
	(&(struct inv_create_spec){.kind = (k), .parent_id = (p), .name = (n), __VA_ARGS__})

/* A day boundary (UTC), so that every roll-up bucket of the simulated days is aligned. */
#define DAY_MS INT64_C(86400000)
#define HOUR_MS INT64_C(3600000)
#define T0 (INT64_C(20833) * DAY_MS)

/* Migrates by db_open() and schema_migrate(), not schema_open(). */
static struct db *open_migrated(const struct center_case *f)
{
	struct db *db = NULL;
	_cleanup_error_ struct vr_error *err = NULL;
	int r = db_open(f->location, &db, &err);
	if (r == 0)
		r = schema_migrate(db, NULL, &err);
	if (r < 0)
		fail_msg("%s", vr_error_msg(err));
	assert_int_equal(db_backend(db), fixture_backend);
	return db;
}

/* ---- inventory for the cases ---- */

static int64_t create(struct db *db, enum inv_kind kind, int64_t parent, const char *name)
{
	int64_t id = 0;
	struct vr_error *err = NULL;
	OK(inventory_create(db, SPEC(kind, parent, name), &id, &err));
	return id;
}

struct dc {
	int64_t id, vm, host;
};

static struct dc make_dc(struct db *db, const char *name)
{
	struct vr_error *err = NULL;
	int64_t root;
	OK(inventory_root(db, &root, &err));
	struct dc d = {.id = create(db, INV_KIND_DATACENTER, root, name)};
	struct inv_object o;
	OK(inventory_lookup(db, d.id, "vm", &o, &err));
	d.vm = o.id;
	inv_object_clear(&o);
	OK(inventory_lookup(db, d.id, "host", &o, &err));
	d.host = o.id;
	inv_object_clear(&o);
	return d;
}

/* ---- tasks ---- */

static int64_t new_task(struct db *db, const char *type, int64_t object, const char *principal,
			bool cancellable, int64_t now)
{
	struct vr_error *err = NULL;
	int64_t id = 0;
	struct ctask_spec spec = {.type = type, .object_id = object, .principal = principal,
				  .cancellable = cancellable};
	OK(ctask_create(db, &spec, now, &id, &err));
	assert_true(id > 0);
	return id;
}

static void test_task_lifecycle(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	int64_t vm = create(db, INV_KIND_VM, d.vm, "web01");

	assert_string_equal(ctask_state_name(CTASK_SUCCEEDED), "succeeded");
	enum ctask_state s;
	OK(ctask_state_parse("running", &s));
	assert_int_equal(s, CTASK_RUNNING);
	assert_int_equal(ctask_state_parse("paused", &s), -EINVAL);

	int64_t now = T0;
	struct ctask_spec spec = {.type = "VirtualMachine.powerOn", .object_id = vm,
				  .principal = "VSPHERE.LOCAL\\admin", .description = "Power On"};
	int64_t id;
	OK(ctask_create(db, &spec, now, &id, &err));
	struct ctask t;
	OK(ctask_get(db, id, &t, &err));
	assert_int_equal(t.id, id);
	assert_string_equal(t.type, "VirtualMachine.powerOn");
	assert_int_equal(t.object_id, vm);
	assert_string_equal(t.object_name, "web01"); /* from the inventory */
	assert_string_equal(t.principal, "VSPHERE.LOCAL\\admin");
	assert_string_equal(t.description, "Power On");
	assert_int_equal(t.state, CTASK_QUEUED);
	assert_int_equal(t.progress, 0);
	assert_false(t.cancellable);
	assert_null(t.error);
	assert_null(t.result);
	assert_int_equal(t.queued_ms, now);
	assert_int_equal(t.started_ms, 0);
	assert_int_equal(t.completed_ms, 0);
	ctask_clear(&t);

	/* Nothing but start moves a queued task on. */
	expect_err(ctask_progress(db, id, 10, &err), EINVAL, &err, "is queued, not running");
	expect_err(ctask_succeed(db, id, NULL, now, &err), EINVAL, &err, "is queued, not running");
	OK(ctask_start(db, id, now + 1000, &err));
	expect_err(ctask_start(db, id, now + 1000, &err), EINVAL, &err, "is running, not queued");

	/* Progress never goes backwards. */
	OK(ctask_progress(db, id, 30, &err));
	OK(ctask_progress(db, id, 20, &err));
	OK(ctask_get(db, id, &t, &err));
	assert_int_equal(t.state, CTASK_RUNNING);
	assert_int_equal(t.progress, 30);
	assert_int_equal(t.started_ms, now + 1000);
	ctask_clear(&t);
	expect_err(ctask_progress(db, id, 101, &err), EINVAL, &err, "progress 101");
	expect_err(ctask_progress(db, id, -1, &err), EINVAL, &err, "progress -1");
	OK(ctask_progress(db, id, 60, &err));

	expect_err(ctask_succeed(db, id, "{\"vm\": ", now, &err), EINVAL, &err, "not valid JSON");
	OK(ctask_succeed(db, id, "{\"powerState\": \"poweredOn\"}", now + 5000, &err));
	OK(ctask_get(db, id, &t, &err));
	assert_int_equal(t.state, CTASK_SUCCEEDED);
	assert_int_equal(t.progress, 100);
	assert_string_equal(t.result, "{\"powerState\": \"poweredOn\"}");
	assert_int_equal(t.completed_ms, now + 5000);
	ctask_clear(&t);

	/* A finished task stays as it is. */
	char want[64];
	snprintf(want, sizeof(want), "task %lld", (long long)id);
	expect_err(ctask_start(db, id, now, &err), EINVAL, &err, "is succeeded, not queued");
	expect_err(ctask_start(db, id, now, &err), EINVAL, &err, want);
	expect_err(ctask_progress(db, id, 100, &err), EINVAL, &err, "is succeeded, not running");
	expect_err(ctask_fail(db, id, "boom", now, &err), EINVAL, &err,
		   "is succeeded, not queued or running");
	expect_err(ctask_succeed(db, id, NULL, now, &err), EINVAL, &err, "is succeeded");

	/* Failing from queued and from running; a JSON result may be any value. */
	int64_t q = new_task(db, "VirtualMachine.clone", vm, "u", false, now);
	expect_err(ctask_fail(db, q, "", now, &err), EINVAL, &err, "without an error message");
	OK(ctask_fail(db, q, "datastore full", now + 10, &err));
	OK(ctask_get(db, q, &t, &err));
	assert_int_equal(t.state, CTASK_FAILED);
	assert_string_equal(t.error, "datastore full");
	assert_int_equal(t.started_ms, 0);
	assert_int_equal(t.completed_ms, now + 10);
	ctask_clear(&t);
	expect_err(ctask_fail(db, q, "again", now, &err), EINVAL, &err, "is failed");
	int64_t r = new_task(db, "VirtualMachine.reset", vm, "u", false, now);
	OK(ctask_start(db, r, now, &err));
	OK(ctask_fail(db, r, "guest hung", now, &err));
	int64_t j = new_task(db, "Folder.createVm", 0, "u", false, now);
	OK(ctask_start(db, j, now, &err));
	OK(ctask_succeed(db, j, "42", now, &err));
	OK(ctask_get(db, j, &t, &err));
	assert_string_equal(t.result, "42");
	assert_int_equal(t.object_id, 0);
	assert_string_equal(t.object_name, "");
	ctask_clear(&t);

	/* Sub-tasks; bad specs and unknown ids. */
	struct ctask_spec sub = {.type = "Datastore.copyFile", .principal = "u",
				 .object_name = "disk copy", .parent_task_id = j};
	int64_t child;
	OK(ctask_create(db, &sub, now, &child, &err));
	OK(ctask_get(db, child, &t, &err));
	assert_int_equal(t.parent_task_id, j);
	assert_string_equal(t.object_name, "disk copy");
	ctask_clear(&t);
	sub.parent_task_id = 9999;
	expect_err(ctask_create(db, &sub, now, &child, &err), ENOENT, &err, "parent task 9999");
	spec.object_id = 9999;
	expect_err(ctask_create(db, &spec, now, &child, &err), ENOENT, &err,
		   "inventory object 9999");
	spec.object_id = vm;
	spec.principal = NULL;
	expect_err(ctask_create(db, &spec, now, &child, &err), EINVAL, &err, "no principal");
	spec.principal = "u";
	spec.type = "";
	expect_err(ctask_create(db, &spec, now, &child, &err), EINVAL, &err, "without a type");
	expect_err(ctask_get(db, 9999, &t, &err), ENOENT, &err, "no task with id 9999");
	expect_err(ctask_start(db, 9999, now, &err), ENOENT, &err, "9999");
	expect_err(ctask_request_cancel(db, 9999, "u", now, &err), ENOENT, &err, "9999");

	/* Deleting the object keeps its tasks. */
	OK(inventory_delete(db, vm, &err));
	OK(ctask_get(db, id, &t, &err));
	assert_int_equal(t.object_id, 0);
	assert_string_equal(t.object_name, "web01");
	ctask_clear(&t);
}

static void test_task_cancel(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = open_migrated(f);
	int64_t now = T0;
	struct ctask t;

	/* A queued task is failed at once. */
	int64_t q = new_task(db, "VirtualMachine.migrate", 0, "alice", true, now);
	OK(ctask_request_cancel(db, q, "bob", now + 7, &err));
	OK(ctask_get(db, q, &t, &err));
	assert_int_equal(t.state, CTASK_FAILED);
	assert_true(t.cancel_requested);
	assert_string_equal(t.error, "cancelled by bob");
	assert_int_equal(t.completed_ms, now + 7);
	ctask_clear(&t);
	expect_err(ctask_start(db, q, now, &err), EINVAL, &err, "is failed, not queued");
	expect_err(ctask_request_cancel(db, q, "bob", now, &err), EINVAL, &err,
		   "it has already failed");

	/* A running one is asked to stop; its worker decides. */
	int64_t r = new_task(db, "VirtualMachine.migrate", 0, "alice", true, now);
	OK(ctask_start(db, r, now, &err));
	OK(ctask_progress(db, r, 40, &err));
	OK(ctask_request_cancel(db, r, "alice", now + 1, &err));
	OK(ctask_request_cancel(db, r, "alice", now + 2, &err)); /* again: harmless */
	OK(ctask_get(db, r, &t, &err));
	assert_int_equal(t.state, CTASK_RUNNING);
	assert_true(t.cancel_requested);
	assert_null(t.error);
	assert_int_equal(t.progress, 40);
	ctask_clear(&t);
	OK(ctask_fail(db, r, "cancelled by alice", now + 3, &err));
	expect_err(ctask_request_cancel(db, r, "alice", now, &err), EINVAL, &err,
		   "already failed");

	/* Not cancellable, or finished. */
	int64_t n = new_task(db, "Host.reboot", 0, "alice", false, now);
	expect_err(ctask_request_cancel(db, n, "alice", now, &err), EINVAL, &err,
		   "it is not cancellable");
	OK(ctask_start(db, n, now, &err));
	expect_err(ctask_request_cancel(db, n, "alice", now, &err), EINVAL, &err,
		   "Host.reboot");
	OK(ctask_get(db, n, &t, &err));
	assert_int_equal(t.state, CTASK_RUNNING);
	assert_false(t.cancel_requested);
	ctask_clear(&t);
	int64_t done = new_task(db, "VirtualMachine.migrate", 0, "alice", true, now);
	OK(ctask_start(db, done, now, &err));
	OK(ctask_succeed(db, done, NULL, now, &err));
	expect_err(ctask_request_cancel(db, done, "alice", now, &err), EINVAL, &err,
		   "already succeeded");
	expect_err(ctask_request_cancel(db, done, NULL, now, &err), EINVAL, &err,
		   "who cancels");
}

static void test_task_orphans_and_purge(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = open_migrated(f);
	int64_t now = T0;
	struct ctask t;

	int64_t queued = new_task(db, "a", 0, "u", false, now);
	int64_t running = new_task(db, "b", 0, "u", true, now);
	OK(ctask_start(db, running, now, &err));
	OK(ctask_request_cancel(db, running, "u", now, &err));
	int64_t done = new_task(db, "c", 0, "u", false, now);
	OK(ctask_start(db, done, now, &err));
	OK(ctask_succeed(db, done, NULL, now + 1, &err));

	int64_t n = -1;
	OK(ctask_fail_orphans(db, now + HOUR_MS, &n, &err));
	assert_int_equal(n, 2);
	int64_t orphans[] = {queued, running};
	for (size_t i = 0; i < ARRAY_SIZE(orphans); i++) {
		OK(ctask_get(db, orphans[i], &t, &err));
		assert_int_equal(t.state, CTASK_FAILED);
		assert_string_equal(t.error, "vireo-center restarted while the task was running");
		assert_int_equal(t.completed_ms, now + HOUR_MS);
		ctask_clear(&t);
	}
	OK(ctask_get(db, done, &t, &err));
	assert_int_equal(t.state, CTASK_SUCCEEDED);
	assert_null(t.error);
	ctask_clear(&t);
	OK(ctask_fail_orphans(db, now + HOUR_MS, &n, &err));
	assert_int_equal(n, 0);

	/* Purge: finished before the cutoff; a parent waits for its running sub-task. */
	int64_t parent = new_task(db, "parent", 0, "u", false, now);
	struct ctask_spec sub = {.type = "child", .principal = "u", .parent_task_id = parent};
	int64_t child, late;
	OK(ctask_create(db, &sub, now, &child, &err));
	OK(ctask_start(db, parent, now, &err));
	OK(ctask_start(db, child, now, &err));
	OK(ctask_fail(db, parent, "child is slow", now + 2, &err));
	late = new_task(db, "late", 0, "u", false, now + 2 * HOUR_MS);
	OK(ctask_start(db, late, now + 2 * HOUR_MS, &err));
	OK(ctask_succeed(db, late, NULL, now + 3 * HOUR_MS, &err));
	struct cevent_spec ev = {.type = "TaskEvent", .category = "info", .task_id = done,
				 .message = "task c done"};
	int64_t eid;
	OK(cevent_post(db, &ev, now, &eid, &err));

	OK(ctask_purge(db, now + 2 * HOUR_MS, &n, &err));
	assert_int_equal(n, 3); /* queued, running (failed at restart) and done */
	assert_int_equal(count(db, "SELECT COUNT(*) FROM task"), 3);
	expect_err(ctask_get(db, done, &t, &err), ENOENT, &err, NULL);
	OK(ctask_get(db, parent, &t, &err));
	ctask_clear(&t);
	/* The event outlives its task. */
	struct cevent_list el;
	OK(cevent_query(db, &(struct cevent_filter){0}, &el, &err));
	assert_int_equal(el.n, 1);
	assert_int_equal(el.items[0].task_id, 0);
	cevent_list_clear(&el);

	OK(ctask_succeed(db, child, NULL, now + 3, &err));
	OK(ctask_purge(db, now + 2 * HOUR_MS, &n, &err));
	assert_int_equal(n, 2); /* the parent and its sub-task */
	assert_int_equal(count(db, "SELECT COUNT(*) FROM task"), 1);
	OK(ctask_purge(db, now + 4 * HOUR_MS, &n, &err));
	assert_int_equal(n, 1);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM task"), 0);
}

static void test_task_list(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	int64_t vm1 = create(db, INV_KIND_VM, d.vm, "vm1");
	int64_t vm2 = create(db, INV_KIND_VM, d.vm, "vm2");
	int64_t ids[30];
	for (int i = 0; i < 30; i++) {
		/* Even: vm1 by alice; odd: vm2 by bob.  Every third is running. */
		ids[i] = new_task(db, "VirtualMachine.powerOn", i % 2 ? vm2 : vm1,
				  i % 2 ? "bob" : "alice", false, T0 + i * 1000);
		if (i % 3 == 0)
			OK(ctask_start(db, ids[i], T0 + i * 1000, &err));
	}
	struct ctask_list l;
	OK(ctask_list(db, &(struct ctask_filter){.state = -1}, &l, &err));
	assert_int_equal(l.n, 30);
	for (size_t i = 0; i < l.n; i++)
		assert_int_equal(l.items[i].id, ids[29 - i]); /* newest first */
	ctask_list_clear(&l);

	OK(ctask_list(db, &(struct ctask_filter){.object_id = vm2, .state = -1}, &l, &err));
	assert_int_equal(l.n, 15);
	for (size_t i = 0; i < l.n; i++) {
		assert_int_equal(l.items[i].object_id, vm2);
		assert_string_equal(l.items[i].principal, "bob");
	}
	ctask_list_clear(&l);
	OK(ctask_list(db, &(struct ctask_filter){.principal = "alice", .state = CTASK_RUNNING},
		      &l, &err));
	assert_int_equal(l.n, 5); /* 0, 6, 12, 18, 24 */
	assert_int_equal(l.items[0].id, ids[24]);
	assert_int_equal(l.items[4].id, ids[0]);
	ctask_list_clear(&l);
	OK(ctask_list(db, &(struct ctask_filter){.state = CTASK_QUEUED}, &l, &err));
	assert_int_equal(l.n, 20);
	ctask_list_clear(&l);
	OK(ctask_list(db, &(struct ctask_filter){.principal = "carol", .state = -1}, &l, &err));
	assert_int_equal(l.n, 0);
	ctask_list_clear(&l);
	/* Time range, both ends included. */
	OK(ctask_list(db, &(struct ctask_filter){.state = -1, .since_ms = T0 + 10000,
						 .until_ms = T0 + 14000}, &l, &err));
	assert_int_equal(l.n, 5);
	assert_int_equal(l.items[0].id, ids[14]);
	assert_int_equal(l.items[4].id, ids[10]);
	ctask_list_clear(&l);
	OK(ctask_list(db, &(struct ctask_filter){.state = -1, .since_ms = T0 + 28000}, &l, &err));
	assert_int_equal(l.n, 2);
	ctask_list_clear(&l);

	/* Paging: 12 at a time, each page starting below the last one's oldest. */
	int64_t before = 0;
	size_t seen = 0, pages = 0;
	for (;;) {
		OK(ctask_list(db, &(struct ctask_filter){.state = -1, .before_id = before,
							 .limit = 12}, &l, &err));
		if (l.n == 0) {
			ctask_list_clear(&l);
			break;
		}
		pages++;
		for (size_t i = 0; i < l.n; i++)
			assert_int_equal(l.items[i].id, ids[29 - seen - i]);
		seen += l.n;
		before = l.items[l.n - 1].id;
		ctask_list_clear(&l);
	}
	assert_int_equal(seen, 30);
	assert_int_equal(pages, 3);
	/* Default and largest page sizes. */
	for (int i = 0; i < 120; i++)
		new_task(db, "Folder.createVm", 0, "carol", false, T0 + 100000);
	OK(ctask_list(db, &(struct ctask_filter){.state = -1}, &l, &err));
	assert_int_equal(l.n, 100);
	ctask_list_clear(&l);
	OK(ctask_list(db, &(struct ctask_filter){.state = -1, .limit = 5000}, &l, &err));
	assert_int_equal(l.n, 150);
	ctask_list_clear(&l);
	expect_err(ctask_list(db, &(struct ctask_filter){.state = 7}, &l, &err), EINVAL, &err,
		   "unknown state 7");
}

/* ---- events ---- */

static int64_t post(struct db *db, const char *type, const char *category, int64_t object,
		    const char *principal, int64_t now)
{
	struct vr_error *err = NULL;
	struct cevent_spec s = {.type = type, .category = category, .object_id = object,
				.principal = principal, .message = type};
	int64_t id = 0;
	OK(cevent_post(db, &s, now, &id, &err));
	assert_true(id > 0);
	return id;
}

static void test_event_post(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	int64_t folder = create(db, INV_KIND_VM_FOLDER, d.vm, "web");
	int64_t vm = create(db, INV_KIND_VM, folder, "web01");
	int64_t root;
	OK(inventory_root(db, &root, &err));
	int64_t task = new_task(db, "VirtualMachine.powerOn", vm, "admin", false, T0);

	struct cevent_spec s = {.type = "VmPoweredOnEvent", .category = "info", .object_id = vm,
				.principal = "admin", .task_id = task,
				.message = "web01 on esx1 is powered on",
				.data = "{\"host\": \"esx1\"}"};
	int64_t id;
	OK(cevent_post(db, &s, T0 + 5, &id, &err));
	struct cevent_list l;
	OK(cevent_query(db, &(struct cevent_filter){0}, &l, &err));
	assert_int_equal(l.n, 1);
	struct cevent *e = &l.items[0];
	assert_int_equal(e->id, id);
	assert_int_equal(e->time_ms, T0 + 5);
	assert_string_equal(e->type, "VmPoweredOnEvent");
	assert_string_equal(e->category, "info");
	assert_int_equal(e->object_id, vm);
	assert_string_equal(e->object_name, "web01");
	assert_int_equal(e->datacenter_id, d.id); /* up through the folder */
	assert_string_equal(e->principal, "admin");
	assert_int_equal(e->task_id, task);
	assert_string_equal(e->message, "web01 on esx1 is powered on");
	assert_string_equal(e->data, "{\"host\": \"esx1\"}");
	cevent_list_clear(&l);

	/* Defaults: no object, no principal, data {}; an object outside any datacenter. */
	struct cevent_spec plain = {.type = "SessionEvent", .category = "user",
				    .message = "logged in"};
	OK(cevent_post(db, &plain, T0, NULL, &err));
	plain.object_id = root;
	plain.object_name = "the root";
	OK(cevent_post(db, &plain, T0, &id, &err));
	OK(cevent_query(db, &(struct cevent_filter){.limit = 2}, &l, &err));
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[0].object_id, root);
	assert_string_equal(l.items[0].object_name, "the root");
	assert_int_equal(l.items[0].datacenter_id, 0);
	assert_int_equal(l.items[1].object_id, 0);
	assert_string_equal(l.items[1].object_name, "");
	assert_string_equal(l.items[1].principal, "");
	assert_string_equal(l.items[1].data, "{}");
	cevent_list_clear(&l);
	/* The datacenter may be given, and must be one. */
	plain.datacenter_id = d.id;
	OK(cevent_post(db, &plain, T0, &id, &err));
	plain.datacenter_id = folder;
	expect_err(cevent_post(db, &plain, T0, &id, &err), EINVAL, &err,
		   "is a vm_folder, not a datacenter");
	plain.datacenter_id = 9999;
	expect_err(cevent_post(db, &plain, T0, &id, &err), ENOENT, &err, "datacenter 9999");
	plain.datacenter_id = 0;

	/* Validation. */
	s.category = "critical";
	expect_err(cevent_post(db, &s, T0, &id, &err), EINVAL, &err, "category \"critical\"");
	s.category = NULL;
	expect_err(cevent_post(db, &s, T0, &id, &err), EINVAL, &err, "category");
	s.category = "warning";
	s.data = "[1, 2]";
	expect_err(cevent_post(db, &s, T0, &id, &err), EINVAL, &err, "must be a JSON object");
	s.data = "{\"a\": ";
	expect_err(cevent_post(db, &s, T0, &id, &err), EINVAL, &err, "not valid JSON");
	s.data = NULL;
	s.message = NULL;
	expect_err(cevent_post(db, &s, T0, &id, &err), EINVAL, &err, "without a message");
	s.message = "m";
	s.type = "";
	expect_err(cevent_post(db, &s, T0, &id, &err), EINVAL, &err, "without a type");
	s.type = "VmEvent";
	s.object_id = 9999;
	expect_err(cevent_post(db, &s, T0, &id, &err), ENOENT, &err, "inventory object 9999");
	s.object_id = vm;
	s.task_id = 9999;
	expect_err(cevent_post(db, &s, T0, &id, &err), ENOENT, &err, "task 9999");
	/* Refusals leave a caller's transaction usable (PostgreSQL aborts on errors). */
	OK(db_begin(db, &err));
	s.task_id = 9999;
	expect_err(cevent_post(db, &s, T0, &id, &err), ENOENT, &err, NULL);
	s.task_id = 0;
	OK(cevent_post(db, &s, T0, &id, &err));
	OK(db_commit(db, &err));
	assert_int_equal(count(db, "SELECT COUNT(*) FROM event"), 5);
}

static void test_event_query(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = open_migrated(f);
	struct dc d1 = make_dc(db, "dc1"), d2 = make_dc(db, "dc2");
	int64_t folder = create(db, INV_KIND_VM_FOLDER, d1.vm, "web");
	int64_t vm1 = create(db, INV_KIND_VM, folder, "web01");
	int64_t gone = create(db, INV_KIND_VM, folder, "web02");
	int64_t other = create(db, INV_KIND_VM, d1.vm, "db01");
	int64_t vm2 = create(db, INV_KIND_VM, d2.vm, "web01");
	int64_t task = new_task(db, "VirtualMachine.powerOn", vm1, "alice", false, T0);

	int64_t e_vm1 = post(db, "VmPoweredOnEvent", "info", vm1, "alice", T0 + 1000);
	int64_t e_folder = post(db, "FolderRenamedEvent", "info", folder, "bob", T0 + 2000);
	int64_t e_gone = post(db, "VmRemovedEvent", "warning", gone, "bob", T0 + 3000);
	int64_t e_other = post(db, "VmPoweredOnEvent", "info", other, "alice", T0 + 4000);
	int64_t e_vm2 = post(db, "VmPoweredOnEvent", "error", vm2, "alice", T0 + 5000);
	int64_t e_dc = post(db, "DatacenterEvent", "user", d1.id, "carol", T0 + 6000);
	struct cevent_spec ts = {.type = "TaskEvent", .category = "info", .task_id = task,
				 .message = "started"};
	int64_t e_task;
	OK(cevent_post(db, &ts, T0 + 7000, &e_task, &err));
	OK(inventory_delete(db, gone, &err));

	struct {
		struct cevent_filter f;
		int64_t want[8];
	} cases[] = {
		{{0}, {e_task, e_dc, e_vm2, e_other, e_gone, e_folder, e_vm1}},
		{{.type = "VmPoweredOnEvent"}, {e_vm2, e_other, e_vm1}},
		{{.category = "warning"}, {e_gone}},
		{{.category = "info", .principal = "alice"}, {e_other, e_vm1}},
		{{.principal = "carol"}, {e_dc}},
		{{.task_id = task}, {e_task}},
		{{.since_ms = T0 + 2000, .until_ms = T0 + 4000}, {e_other, e_gone, e_folder}},
		{{.until_ms = T0 + 1000}, {e_vm1}},
		{{.before_id = e_vm2, .limit = 2}, {e_other, e_gone}},
		{{.object_id = vm1}, {e_vm1}},
		{{.object_id = folder}, {e_folder}},
		{{.object_id = folder, .include_children = true}, {e_folder, e_vm1}},
		/* A datacenter with children: its objects' events, deleted objects' too. */
		{{.object_id = d1.id, .include_children = true},
		 {e_dc, e_other, e_gone, e_folder, e_vm1}},
		{{.object_id = d1.id, .include_children = true, .type = "VmPoweredOnEvent"},
		 {e_other, e_vm1}},
		{{.object_id = d2.id, .include_children = true}, {e_vm2}},
		{{.object_id = d2.id}, {0}},
		{{.type = "NoSuchEvent"}, {0}},
	};
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		struct cevent_list l;
		OK(cevent_query(db, &cases[c].f, &l, &err));
		size_t want_n = 0;
		while (want_n < ARRAY_SIZE(cases[c].want) && cases[c].want[want_n])
			want_n++;
		if (l.n != want_n)
			fail_msg("case %zu: %zu events, expected %zu", c, l.n, want_n);
		for (size_t i = 0; i < l.n; i++)
			if (l.items[i].id != cases[c].want[i])
				fail_msg("case %zu: event %zu is %lld, expected %lld", c, i,
					 (long long)l.items[i].id, (long long)cases[c].want[i]);
		cevent_list_clear(&l);
	}
	struct cevent_list l;
	expect_err(cevent_query(db, &(struct cevent_filter){.category = "bad"}, &l, &err), EINVAL,
		   &err, "category \"bad\"");

	/* The root with children: everything tied to the tree. */
	int64_t root;
	OK(inventory_root(db, &root, &err));
	OK(cevent_query(db, &(struct cevent_filter){.object_id = root, .include_children = true},
			&l, &err));
	assert_int_equal(l.n, 6); /* not the task event, which has no object */
	cevent_list_clear(&l);
}

static void test_event_purge(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = open_migrated(f);
	for (int i = 0; i < 50; i++)
		post(db, "AlarmStatusChangedEvent", "info", 0, "", T0 + i * HOUR_MS);
	int64_t n = -1;
	OK(cevent_purge(db, T0 + 20 * HOUR_MS, &n, &err));
	assert_int_equal(n, 20);
	OK(cevent_purge(db, T0 + 20 * HOUR_MS, &n, &err));
	assert_int_equal(n, 0);
	struct cevent_list l;
	OK(cevent_query(db, &(struct cevent_filter){.limit = 1000}, &l, &err));
	assert_int_equal(l.n, 30);
	assert_int_equal(l.items[l.n - 1].time_ms, T0 + 20 * HOUR_MS);
	cevent_list_clear(&l);
	OK(cevent_purge(db, T0 + 100 * HOUR_MS, NULL, &err));
	assert_int_equal(count(db, "SELECT COUNT(*) FROM event"), 0);
}

/* ---- performance history ---- */

/* Equal up to rounding (relative 1e-9); no libm needed. */
static bool close_to(double got, double want)
{
	double diff = got > want ? got - want : want - got;
	double scale = want < 0 ? -want : want;
	return diff <= 1e-9 * (scale > 1 ? scale : 1);
}

static size_t query(struct db *db, int64_t object, const char *counter, const char *instance,
		    int interval_s, int64_t start, int64_t end, struct perf_point **points)
{
	struct vr_error *err = NULL;
	size_t n = 0;
	OK(perf_query(db, object, counter, instance, interval_s, start, end, points, &n, &err));
	return n;
}

static int64_t level_rows(struct db *db, int level)
{
	_cleanup_free_ char *sql =
		xasprintf("SELECT COUNT(*) FROM perf_sample WHERE interval_level = %d", level);
	return count(db, sql);
}

static void test_perf_store_query(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	int64_t host = create(db, INV_KIND_HOST, d.host, "esx1");
	int64_t vm = create(db, INV_KIND_VM, d.vm, "vm1");

	struct perf_sample_in in[] = {
		{vm, "cpu.usage.average", "", T0, 10.0},
		{vm, "cpu.usage.average", NULL, T0 + 20000 + 19999, 20.0}, /* aligned down */
		{vm, "cpu.usage.average", "", T0 + 40000, 30.0},
		{vm, "disk.read.average", "scsi0:0", T0, 100.0},
		{vm, "disk.read.average", "scsi0:1", T0, 200.0},
		{host, "mem.usage.average", "", T0, 55.5},
	};
	OK(perf_store(db, in, ARRAY_SIZE(in), &err));
	struct perf_point *p;
	size_t n = query(db, vm, "cpu.usage.average", "", 20, T0, T0 + 40000, &p);
	assert_int_equal(n, 3);
	assert_int_equal(p[0].ts_ms, T0);
	assert_int_equal(p[1].ts_ms, T0 + 20000);
	assert_int_equal(p[2].ts_ms, T0 + 40000);
	assert_true(p[0].value == 10.0 && p[1].value == 20.0 && p[2].value == 30.0);
	free(p);
	/* The range is inclusive; instances are apart. */
	n = query(db, vm, "cpu.usage.average", NULL, 20, T0 + 1, T0 + 20000, &p);
	assert_int_equal(n, 1);
	assert_int_equal(p[0].ts_ms, T0 + 20000);
	free(p);
	n = query(db, vm, "disk.read.average", "scsi0:1", 20, 0, T0 + DAY_MS, &p);
	assert_int_equal(n, 1);
	assert_true(p[0].value == 200.0);
	free(p);
	n = query(db, vm, "disk.read.average", "", 20, 0, T0 + DAY_MS, &p);
	assert_int_equal(n, 0);
	assert_null(p);
	n = query(db, host, "cpu.usage.average", "", 20, 0, T0 + DAY_MS, &p);
	assert_int_equal(n, 0);

	/* A duplicate replaces. */
	struct perf_sample_in again = {vm, "cpu.usage.average", "", T0 + 5000, 11.0};
	OK(perf_store(db, &again, 1, &err));
	n = query(db, vm, "cpu.usage.average", "", 20, T0, T0, &p);
	assert_int_equal(n, 1);
	assert_true(p[0].value == 11.0);
	free(p);
	assert_int_equal(level_rows(db, 1), 6);

	/* Errors: all or nothing. */
	struct perf_sample_in bad[] = {
		{vm, "cpu.usage.average", "", T0 + 60000, 1.0},
		{vm, "cpu.bogus.average", "", T0 + 60000, 1.0},
	};
	expect_err(perf_store(db, bad, ARRAY_SIZE(bad), &err), EINVAL, &err,
		   "unknown performance counter \"cpu.bogus.average\"");
	assert_int_equal(level_rows(db, 1), 6);
	bad[1] = (struct perf_sample_in){vm, "cpu.usage.average", "", T0, NAN};
	expect_err(perf_store(db, bad, ARRAY_SIZE(bad), &err), EINVAL, &err, "not a finite");
	bad[1] = (struct perf_sample_in){9999, "cpu.usage.average", "", T0, 1.0};
	expect_err(perf_store(db, bad, ARRAY_SIZE(bad), &err), ENOENT, &err,
		   "inventory object 9999 does not exist");
	assert_int_equal(level_rows(db, 1), 6);
	/* In one call, the last of duplicates wins. */
	struct perf_sample_in dup[] = {
		{vm, "cpu.usage.average", "", T0 + 60000, 1.0},
		{vm, "cpu.usage.average", "", T0 + 65000, 2.0},
		{vm, "cpu.usage.average", "", T0 + 61000, 3.0},
	};
	OK(perf_store(db, dup, ARRAY_SIZE(dup), &err));
	n = query(db, vm, "cpu.usage.average", "", 20, T0 + 60000, T0 + 60000, &p);
	assert_int_equal(n, 1);
	assert_true(p[0].value == 3.0);
	free(p);
	assert_int_equal(level_rows(db, 1), 7);
	OK(perf_store(db, NULL, 0, &err));

	expect_err(perf_query(db, vm, "cpu.usage.average", "", 60, 0, T0, &p, &n, &err), EINVAL,
		   &err, "20, 300, 1800, 7200, 86400");
	expect_err(perf_query(db, vm, "cpu.nope", "", 20, 0, T0, &p, &n, &err), EINVAL, &err,
		   "unknown performance counter \"cpu.nope\"");

	char **names;
	OK(perf_counters_for(db, vm, &names, &n, &err));
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "cpu.usage.average");
	assert_string_equal(names[1], "disk.read.average");
	assert_null(names[2]);
	strv_free(names);
	int64_t empty = create(db, INV_KIND_VM, d.vm, "vm2");
	OK(perf_counters_for(db, empty, &names, &n, &err));
	assert_int_equal(n, 0);
	assert_null(names[0]);
	strv_free(names);
}

static void test_perf_rollup_functions(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	int64_t vm = create(db, INV_KIND_VM, d.vm, "vm1");
	/* The seeded counters roll up by average, summation and latest; add the other two. */
	OK(db_exec(db, "add test counters",
		   "INSERT INTO perf_counter (name, unit, rollup) VALUES"
		   " ('test.low.minimum', 'number', 'minimum'),"
		   " ('test.high.maximum', 'number', 'maximum')",
		   &err));
	static const char *const counters[] = {
		"cpu.usage.average", "test.low.minimum", "test.high.maximum",
		"cpu.ready.summation", "disk.maxTotalLatency.latest",
	};
	/* One full 5-minute bucket (15 samples) and the start of the next. */
	static const double values[15] = {5, 9, 2, 7, 7, 1, 8, 3, 6, 4, 10, 2, 5, 3, 4};
	struct perf_sample_in in[ARRAY_SIZE(counters) * 17];
	size_t n_in = 0;
	for (size_t c = 0; c < ARRAY_SIZE(counters); c++) {
		for (int i = 0; i < 15; i++)
			in[n_in++] = (struct perf_sample_in){vm, counters[c], "",
							     T0 + i * 20000, values[i]};
		in[n_in++] = (struct perf_sample_in){vm, counters[c], "", T0 + 300000, 1000};
		in[n_in++] = (struct perf_sample_in){vm, counters[c], "", T0 + 320000, 1000};
	}
	OK(perf_store(db, in, n_in, &err));
	/* Incomplete: nothing yet. */
	OK(perf_rollup(db, T0 + 299999, &err));
	assert_int_equal(level_rows(db, 2), 0);
	OK(perf_rollup(db, T0 + 300000, &err));
	assert_int_equal(level_rows(db, 2), (int64_t)ARRAY_SIZE(counters));
	static const double want[] = {76.0 / 15, 1, 10, 76, 4};
	for (size_t c = 0; c < ARRAY_SIZE(counters); c++) {
		struct perf_point *p;
		size_t n = query(db, vm, counters[c], "", 300, T0, T0 + DAY_MS, &p);
		assert_int_equal(n, 1);
		assert_int_equal(p[0].ts_ms, T0);
		if (!close_to(p[0].value, want[c]))
			fail_msg("%s: rolled up to %.17g, expected %.17g", counters[c], p[0].value,
				 want[c]);
		free(p);
	}
	/* Again, and later within the next bucket: the same. */
	OK(perf_rollup(db, T0 + 300000, &err));
	OK(perf_rollup(db, T0 + 599999, &err));
	assert_int_equal(level_rows(db, 2), (int64_t)ARRAY_SIZE(counters));
	assert_int_equal(level_rows(db, 3), 0);
	/* The next bucket has two samples; once complete it rolls up from those. */
	OK(perf_rollup(db, T0 + 600000, &err));
	assert_int_equal(level_rows(db, 2), 2 * (int64_t)ARRAY_SIZE(counters));
	struct perf_point *p;
	size_t n = query(db, vm, "cpu.ready.summation", "", 300, T0 + 300000, T0 + 300000, &p);
	assert_int_equal(n, 1);
	assert_true(p[0].value == 2000);
	free(p);
	/* Level 3 once its half hour is over: from the two level-2 values. */
	OK(perf_rollup(db, T0 + 1800000, &err));
	n = query(db, vm, "cpu.usage.average", "", 1800, 0, T0 + DAY_MS, &p);
	assert_int_equal(n, 1);
	assert_true(close_to(p[0].value, (76.0 / 15 + 1000) / 2));
	free(p);
	n = query(db, vm, "disk.maxTotalLatency.latest", "", 1800, 0, T0 + DAY_MS, &p);
	assert_int_equal(n, 1);
	assert_true(p[0].value == 1000);
	free(p);
}

/* The simulated workload: a value for each object, counter and 20-second step. */
static double workload(int object, int counter, int64_t step)
{
	return (double)((step * 7 + object * 13 + counter * 31) % 101) + object * 0.25;
}

#define N_OBJECTS 3

static const char *const day_counters[] = {"cpu.usage.average", "disk.maxTotalLatency.latest",
					   "cpu.ready.summation"};

/* Stores [from_step, to_step) of the workload for every object and counter. */
static void store_steps(struct db *db, const int64_t *objects, size_t n_objects,
			size_t n_counters, int64_t from_step, int64_t to_step)
{
	struct vr_error *err = NULL;
	size_t cap = n_objects * n_counters * (size_t)(to_step - from_step), n = 0;
	struct perf_sample_in *in = xcalloc(cap, sizeof(*in));
	for (size_t o = 0; o < n_objects; o++)
		for (size_t c = 0; c < n_counters; c++)
			for (int64_t s = from_step; s < to_step; s++)
				in[n++] = (struct perf_sample_in){objects[o], day_counters[c], "",
								  T0 + s * 20000,
								  workload((int)o, (int)c, s)};
	OK(perf_store(db, in, n, &err));
	free(in);
}

/* What a bucket of `steps` 20-second samples starting at step `first` rolls up to. */
static double expected(int object, int counter, int64_t first, int64_t steps)
{
	double acc = 0;
	for (int64_t s = first; s < first + steps; s++)
		acc += workload(object, counter, s);
	if (counter == 0)
		return acc / (double)steps;
	if (counter == 1)
		return workload(object, counter, first + steps - 1);
	return acc;
}

static void check_level(struct db *db, const int64_t *objects, int interval_s, int64_t first_ms,
			size_t buckets)
{
	int64_t steps = interval_s / 20;
	for (int o = 0; o < N_OBJECTS; o++)
		for (int c = 0; c < (int)ARRAY_SIZE(day_counters); c++) {
			struct perf_point *p;
			size_t n = query(db, objects[o], day_counters[c], "", interval_s, first_ms,
					 first_ms + (int64_t)buckets * interval_s * 1000 - 1, &p);
			if (n != buckets)
				fail_msg("%s at %d s: %zu values, expected %zu", day_counters[c],
					 interval_s, n, buckets);
			for (size_t b = 0; b < n; b++) {
				int64_t ts = first_ms + (int64_t)b * interval_s * 1000;
				double want = expected(o, c, (ts - T0) / 20000, steps);
				assert_int_equal(p[b].ts_ms, ts);
				if (!close_to(p[b].value, want))
					fail_msg("%s at %d s, bucket %zu: %.17g, expected %.17g",
						 day_counters[c], interval_s, b, p[b].value, want);
			}
			free(p);
		}
}

static void test_perf_day(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	int64_t objects[N_OBJECTS] = {
		create(db, INV_KIND_HOST, d.host, "esx1"),
		create(db, INV_KIND_VM, d.vm, "vm1"),
		create(db, INV_KIND_VM, d.vm, "vm2"),
	};
	/* A day, an hour at a time (180 steps), rolled up at the end of each hour. */
	for (int h = 0; h < 24; h++) {
		store_steps(db, objects, N_OBJECTS, ARRAY_SIZE(day_counters), h * 180,
			    (h + 1) * 180);
		OK(perf_rollup(db, T0 + (h + 1) * HOUR_MS, &err));
	}
	int64_t now = T0 + DAY_MS;
	int64_t series = N_OBJECTS * ARRAY_SIZE(day_counters);
	/* Level 1 keeps the last hour; the others hold the whole day. */
	assert_true(level_rows(db, 1) <= series * 181);
	assert_true(count(db, "SELECT MIN(ts_ms) FROM perf_sample WHERE interval_level = 1") >=
		    now - HOUR_MS);
	assert_int_equal(level_rows(db, 2), series * 288);
	assert_int_equal(level_rows(db, 3), series * 48);
	assert_int_equal(level_rows(db, 4), series * 12);
	assert_int_equal(level_rows(db, 5), series * 1);
	check_level(db, objects, 300, T0, 288);
	check_level(db, objects, 1800, T0, 48);
	check_level(db, objects, 7200, T0, 12);
	check_level(db, objects, 86400, T0, 1);

	/* Idempotent: again at the same time changes nothing. */
	static const char rolled_up[] = "SELECT COUNT(*) * 1000000 + CAST(SUM(value) AS BIGINT)"
					" FROM perf_sample WHERE interval_level > 1";
	static const char above_5min[] = "SELECT COUNT(*) * 1000000 + CAST(SUM(value) AS BIGINT)"
					 " FROM perf_sample WHERE interval_level > 2";
	int64_t before = count(db, rolled_up), before_above = count(db, above_5min);
	OK(perf_rollup(db, now, &err));
	OK(perf_rollup(db, now, &err));
	assert_int_equal(count(db, rolled_up), before);
	/* Every 20 s until the next bucket ends: no new value; the oldest 5 minutes age out. */
	for (int64_t t = now + 20000; t < now + 300000; t += 20000)
		OK(perf_rollup(db, t, &err));
	assert_int_equal(count(db, above_5min), before_above);
	assert_int_equal(level_rows(db, 2), series * 287);

	char **names;
	size_t n;
	OK(perf_counters_for(db, objects[1], &names, &n, &err));
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "cpu.ready.summation");
	assert_string_equal(names[1], "cpu.usage.average");
	assert_string_equal(names[2], "disk.maxTotalLatency.latest");
	strv_free(names);
}

static void test_perf_retention(void **state)
{
	struct center_case *f = *state;
	struct vr_error *err = NULL;
	_cleanup_(db_closep) struct db *db = open_migrated(f);
	struct dc d = make_dc(db, "dc1");
	int64_t vm = create(db, INV_KIND_VM, d.vm, "vm1");
	/* Three days an hour at a time, then an hour 20 s at a time as center does. */
	const int days = 3;
	for (int h = 0; h < days * 24; h++) {
		store_steps(db, &vm, 1, 1, h * 180, (h + 1) * 180);
		OK(perf_rollup(db, T0 + (h + 1) * HOUR_MS, &err));
		int64_t now = T0 + (h + 1) * HOUR_MS;
		_cleanup_free_ char *old1 = xasprintf("SELECT COUNT(*) FROM perf_sample"
						      " WHERE interval_level = 1 AND ts_ms < %lld",
						      (long long)(now - HOUR_MS));
		_cleanup_free_ char *old2 = xasprintf("SELECT COUNT(*) FROM perf_sample"
						      " WHERE interval_level = 2 AND ts_ms < %lld",
						      (long long)(now - DAY_MS));
		assert_int_equal(count(db, old1), 0);
		assert_int_equal(count(db, old2), 0);
		assert_true(level_rows(db, 1) <= 181);
		assert_true(level_rows(db, 2) <= 289);
	}
	int64_t step = days * 24 * 180;
	for (int i = 0; i < 180; i++, step++) {
		store_steps(db, &vm, 1, 1, step, step + 1);
		OK(perf_rollup(db, T0 + (step + 1) * 20000, &err));
	}
	int64_t now = T0 + step * 20000;
	assert_true(level_rows(db, 1) <= 181);
	assert_true(level_rows(db, 2) <= 289);
	assert_int_equal(level_rows(db, 3), (days * 24 + 1) * 2);
	/* The last day at 5 minutes, the 20-second hour included, is right. */
	struct perf_point *p;
	size_t n = query(db, vm, "cpu.usage.average", "", 300, now - DAY_MS, now, &p);
	assert_int_equal(n, 288);
	for (size_t b = 0; b < n; b++) {
		int64_t first = (p[b].ts_ms - T0) / 20000;
		double want = expected(0, 0, first, 15);
		if (!close_to(p[b].value, want))
			fail_msg("bucket %zu: %.17g, expected %.17g", b, p[b].value, want);
	}
	free(p);
	/*
	 * A week later, with nothing new: the last, partial buckets of levels 4
	 * and 5 are rolled up from what there was, then levels 1 to 3 age out.
	 */
	OK(perf_rollup(db, now + 7 * DAY_MS, &err));
	assert_int_equal(level_rows(db, 1), 0);
	assert_int_equal(level_rows(db, 2), 0);
	assert_int_equal(level_rows(db, 3), 0);
	assert_int_equal(level_rows(db, 4), days * 12 + 1);
	assert_int_equal(level_rows(db, 5), days + 1);
	/* Samples after the gap start again. */
	int64_t restart = (now + 7 * DAY_MS - T0) / 20000;
	store_steps(db, &vm, 1, 1, restart, restart + 30);
	OK(perf_rollup(db, T0 + (restart + 30) * 20000, &err));
	assert_int_equal(level_rows(db, 2), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_task_lifecycle, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_task_cancel, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_task_orphans_and_purge, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_task_list, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_event_post, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_event_query, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_event_purge, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_perf_store_query, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_perf_rollup_functions, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_perf_day, fixture_setup_empty,
						fixture_teardown),
		cmocka_unit_test_setup_teardown(test_perf_retention, fixture_setup_empty,
						fixture_teardown),
	};
	int failed = FIXTURE_RUN_GROUPS("center_records", tests);
	return failed ? 1 : 0;
}
