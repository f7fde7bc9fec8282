/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vireo-center's alarms (src/center/db/alarms.c): one suite of cases run
 * twice, on SQLite (a temporary file) and on PostgreSQL (a real server
 * started by pg_server.c), each case on a fresh database.
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

#include "center/db/alarms.h"
#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/db/privileges.h"
#include "center/db/schema_priv.h"
#include "center_fixture.h"
#include "common/error.h"
#include "common/util.h"

#define SPEC(k, p, n, ...) \
	(&(struct inv_create_spec){.kind = (k), .parent_id = (p), .name = (n), __VA_ARGS__})

/* A point in time and seconds after it. */
#define T0 1700000000000LL
#define AT(s) (T0 + (int64_t)((s) * 1000))

/* ---- per-case fixture: a migrated database with a small inventory ---- */

/*
 *   dc1/vm/web/web01  (vm, on host esx1)     dc2/vm/other01 (vm)
 *   dc1/vm/db01       (vm)
 *   dc1/host/esx1     (host)
 */
struct fixture {
	struct center_case *c;
	struct db *db; /* c->db */
	int64_t root, dc1, dc1_vm, web, web01, db01, esx1, dc2, other01;
};

static int64_t create(struct db *db, enum inv_kind kind, int64_t parent, const char *name)
{
	int64_t id = 0;
	struct vr_error *err = NULL;
	OK(inventory_create(db, SPEC(kind, parent, name), &id, &err));
	return id;
}

static int64_t child(struct db *db, int64_t parent, const char *name)
{
	struct inv_object o;
	struct vr_error *err = NULL;
	OK(inventory_lookup(db, parent, name, &o, &err));
	int64_t id = o.id;
	inv_object_clear(&o);
	return id;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct vr_error *err = NULL;
	f->c = center_case_new(true);
	f->db = f->c->db;
	struct db *db = f->db;
	OK(inventory_root(db, &f->root, &err));
	f->dc1 = create(db, INV_KIND_DATACENTER, f->root, "dc1");
	f->dc1_vm = child(db, f->dc1, "vm");
	f->web = create(db, INV_KIND_VM_FOLDER, f->dc1_vm, "web");
	f->esx1 = create(db, INV_KIND_HOST, child(db, f->dc1, "host"), "esx1");
	OK(inventory_create(db, SPEC(INV_KIND_VM, f->web, "web01", .host_id = f->esx1), &f->web01,
			    &err));
	f->db01 = create(db, INV_KIND_VM, f->dc1_vm, "db01");
	f->dc2 = create(db, INV_KIND_DATACENTER, f->root, "dc2");
	f->other01 = create(db, INV_KIND_VM, child(db, f->dc2, "vm"), "other01");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	center_case_free(f->c);
	free(f);
	return 0;
}

/* ---- specs ---- */

static struct alarm_spec metric_spec(int64_t object_id, const char *name, int64_t duration_ms)
{
	return (struct alarm_spec){
		.object_id = object_id,
		.name = name,
		.description = "CPU usage is high",
		.target_kind = "vm",
		.enabled = true,
		.condition_kind = "metric",
		.metric = "cpu.usage.average",
		.comparison = ">",
		.has_yellow = true,
		.yellow = 75,
		.has_red = true,
		.red = 90,
		.duration_ms = duration_ms,
	};
}

static int64_t define(struct db *db, const struct alarm_spec *spec)
{
	struct vr_error *err = NULL;
	int64_t id = 0;
	OK(alarm_define(db, spec, T0, &id, &err));
	assert_true(id > 0);
	return id;
}

static int64_t define_metric(struct db *db, int64_t object_id, const char *name,
			     int64_t duration_ms)
{
	struct alarm_spec s = metric_spec(object_id, name, duration_ms);
	return define(db, &s);
}

/* ---- evaluation helpers: the fires of one evaluation ---- */

static struct alarm_fire_list fires;

static void clear_fires(void)
{
	alarm_fire_list_clear(&fires);
}

static size_t metric(struct db *db, int64_t object_id, double value, int64_t now)
{
	struct vr_error *err = NULL;
	clear_fires();
	OK(alarm_eval_metric(db, object_id, "cpu.usage.average", value, now, &fires, &err));
	return fires.n;
}

static size_t state_eval(struct db *db, int64_t object_id, const char *name, const char *value,
			 int64_t now)
{
	struct vr_error *err = NULL;
	clear_fires();
	OK(alarm_eval_state(db, object_id, name, value, now, &fires, &err));
	return fires.n;
}

static size_t event(struct db *db, int64_t object_id, const char *type, int64_t now)
{
	struct vr_error *err = NULL;
	clear_fires();
	OK(alarm_eval_event(db, object_id, type, now, &fires, &err));
	return fires.n;
}

static size_t repeats(struct db *db, int64_t now)
{
	struct vr_error *err = NULL;
	clear_fires();
	OK(alarm_due_repeats(db, now, &fires, &err));
	return fires.n;
}

/* fires.items[i] is a change of status (action NULL) or that action. */
static void expect_fire(size_t i, int64_t alarm_id, int64_t object_id, enum alarm_status from,
			enum alarm_status to, const char *value, const char *action)
{
	assert_true(i < fires.n);
	const struct alarm_fire *f = &fires.items[i];
	assert_int_equal(f->alarm_id, alarm_id);
	assert_int_equal(f->object_id, object_id);
	if (f->from != from || f->to != to)
		fail_msg("fire %zu: %s -> %s, expected %s -> %s", i, alarm_status_name(f->from),
			 alarm_status_name(f->to), alarm_status_name(from), alarm_status_name(to));
	if (value)
		assert_string_equal(f->value, value);
	assert_non_null(f->alarm_name);
	if (action) {
		assert_true(f->is_action);
		assert_string_equal(f->action, action);
		assert_non_null(f->params);
	} else {
		assert_false(f->is_action);
		assert_null(f->action);
	}
}

/* The status of (alarm, object) as alarm_states_list() shows it: green if absent. */
static enum alarm_status status_of(struct db *db, int64_t alarm_id, int64_t object_id)
{
	struct vr_error *err = NULL;
	struct alarm_state_list l = {0};
	OK(alarm_states_list(db, object_id, &l, &err));
	enum alarm_status s = ALARM_GREEN;
	for (size_t i = 0; i < l.n; i++)
		if (l.items[i].alarm_id == alarm_id && l.items[i].object_id == object_id)
			s = l.items[i].status;
	alarm_state_list_clear(&l);
	return s;
}

/* ---- cases ---- */

static void test_status_names(void **state)
{
	enum alarm_status s;
	for (int i = ALARM_GREEN; i <= ALARM_RED; i++) {
		assert_int_equal(alarm_status_parse(alarm_status_name((enum alarm_status)i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_int_equal(alarm_status_parse("orange", &s), -EINVAL);
	assert_int_equal(alarm_status_parse(NULL, &s), -EINVAL);
	assert_string_equal(alarm_status_name((enum alarm_status)7), "unknown");
}

static void test_validation(void **state)
{
	struct fixture *f = *state;
	struct db *db = f->db;
	struct vr_error *err = NULL;
	struct alarm_spec s;
#define REFUSED(code, needle, ...)                                                  \
	do {                                                                        \
		s = metric_spec(f->dc1, "cpu", 0);                                  \
		__VA_ARGS__;                                                        \
		expect_err(alarm_define(db, &s, T0, NULL, &err), code, &err, needle); \
	} while (0)

	REFUSED(EINVAL, "without a name", s.name = "");
	REFUSED(EINVAL, "control character", s.name = "cpu\n");
	REFUSED(EINVAL, "cannot define alarm \"cpu\": target kind \"vmm\" is not an inventory kind",
		s.target_kind = "vmm");
	REFUSED(EINVAL, "condition kind \"size\" is not one of metric, state, event",
		s.condition_kind = "size");
	REFUSED(EINVAL, "a metric alarm needs a metric", s.metric = NULL);
	REFUSED(EINVAL, "comparison \"=>\" is not one of", s.comparison = "=>");
	REFUSED(EINVAL, "needs a yellow or a red threshold", s.has_yellow = s.has_red = false);
	REFUSED(EINVAL, "yellow threshold 95 must be below red threshold 90 for comparison '>'",
		s.yellow = 95);
	REFUSED(EINVAL, "yellow threshold 90 must be below red threshold 90", s.yellow = 90);
	REFUSED(EINVAL, "yellow threshold 20 must be above red threshold 30 for comparison '<='",
		s.comparison = "<=", s.yellow = 20, s.red = 30);
	REFUSED(EINVAL, "comparison '<>' takes one threshold", s.comparison = "<>");
	REFUSED(EINVAL, "a metric alarm has no state names", s.state_name = "power_state");
	REFUSED(EINVAL, "a metric alarm has no event type", s.event_type = "VmPoweredOffEvent");
	REFUSED(EINVAL, "cannot be negative", s.duration_ms = -1);
	REFUSED(EINVAL, "a state alarm has no thresholds", s.condition_kind = "state",
		s.metric = NULL, s.comparison = NULL, s.state_name = "power_state",
		s.red_state = "powered_off");
	REFUSED(EINVAL, "a state alarm needs a yellow or a red state", s.condition_kind = "state",
		s.metric = NULL, s.comparison = NULL, s.has_yellow = s.has_red = false,
		s.state_name = "power_state");
	REFUSED(EINVAL, "\"off\" is both the yellow and the red state", s.condition_kind = "state",
		s.metric = NULL, s.comparison = NULL, s.has_yellow = s.has_red = false,
		s.state_name = "power_state", s.yellow_state = "off", s.red_state = "off");
	REFUSED(EINVAL, "an event alarm sets yellow or red, not green", s.condition_kind = "event",
		s.metric = NULL, s.comparison = NULL, s.has_yellow = s.has_red = false,
		s.event_type = "VmPoweredOffEvent");
	REFUSED(EINVAL, "an event alarm has no duration", s.condition_kind = "event",
		s.metric = NULL, s.comparison = NULL, s.has_yellow = s.has_red = false,
		s.event_type = "VmPoweredOffEvent", s.event_status = ALARM_RED, s.duration_ms = 5);

	struct alarm_action_spec a = {"webhook", ALARM_GREEN, ALARM_RED, false, NULL};
	REFUSED(EINVAL, "action 1 (webhook) needs params {\"url\": ...}, an http:// or https://",
		s.actions = &a, s.n_actions = 1);
	a.params = "{\"url\": \"ftp://example.com/\"}";
	REFUSED(EINVAL, "needs params {\"url\"", s.actions = &a, s.n_actions = 1);
	a.params = "{\"url\": \"https://\"}";
	REFUSED(EINVAL, "needs params {\"url\"", s.actions = &a, s.n_actions = 1);
	a.params = "{\"url\": \"https://hooks.example.com/a\", \"secret\": \"x\"}";
	REFUSED(EINVAL, "action 1 (webhook): unknown parameter \"secret\" (it takes only \"url\")",
		s.actions = &a, s.n_actions = 1);
	a.params = "{\"url\": \"https://hooks.example.com/alarm\"";
	REFUSED(EINVAL, "action 1 (webhook): params are not valid JSON", s.actions = &a,
		s.n_actions = 1);
	a.params = "[\"https://hooks.example.com/alarm\"]";
	REFUSED(EINVAL, "params must be a JSON object", s.actions = &a, s.n_actions = 1);
	a = (struct alarm_action_spec){"explode", ALARM_GREEN, ALARM_RED, false, NULL};
	REFUSED(EINVAL, "\"explode\" is not an alarm action", s.actions = &a, s.n_actions = 1);
	REFUSED(EINVAL, "\"explode\" is not an alarm action (they are log, webhook, vm_power_off,",
		s.actions = &a, s.n_actions = 1);
	a = (struct alarm_action_spec){"log", ALARM_RED, ALARM_RED, false, NULL};
	REFUSED(EINVAL, "fires on a change of status, not from red to red", s.actions = &a,
		s.n_actions = 1);
	a = (struct alarm_action_spec){"log", ALARM_GREEN, ALARM_RED, true, NULL};
	REFUSED(EINVAL, "repeats but the alarm has no repeat interval", s.actions = &a,
		s.n_actions = 1);

	/* A log action takes an optional level, and nothing else. */
	a = (struct alarm_action_spec){"log", ALARM_GREEN, ALARM_RED, false,
				       "{\"level\": \"debug\"}"};
	REFUSED(EINVAL, "action 1 (log): level \"debug\" is not one of info, warning, error",
		s.actions = &a, s.n_actions = 1);
	a.params = "{\"level\": \"Warning\"}";
	REFUSED(EINVAL, "level \"Warning\" is not one of", s.actions = &a, s.n_actions = 1);
	a.params = "{\"level\": 3}";
	REFUSED(EINVAL, "action 1 (log): level must be a string: info, warning or error",
		s.actions = &a, s.n_actions = 1);
	a.params = "{\"level\": null}";
	REFUSED(EINVAL, "level must be a string", s.actions = &a, s.n_actions = 1);
	a.params = "{\"level\": \"info\", \"to\": \"ops@example.com\"}";
	REFUSED(EINVAL, "action 1 (log): unknown parameter \"to\" (it takes only \"level\")",
		s.actions = &a, s.n_actions = 1);
	a.params = "{\"level\": \"info\", \"level\": \"error\"}";
	REFUSED(EINVAL, "action 1 (log): params are not valid JSON", s.actions = &a,
		s.n_actions = 1);

	/* vCenter's actions that center does not run are refused, each by name. */
	static const char *const not_run[] = {
		"email", "snmp", "script", "vm_migrate", "host_enter_maintenance",
		"host_exit_maintenance", "host_reboot",
	};
	for (size_t i = 0; i < ARRAY_SIZE(not_run); i++) {
		char needle[200];
		snprintf(needle, sizeof(needle), "action 2 (%s): vireo-center does not run %s "
			 "actions; it runs log, webhook, vm_power_off, vm_suspend, vm_reset, "
			 "vm_shutdown_guest, vm_reboot_guest", not_run[i], not_run[i]);
		struct alarm_action_spec two[] = {
			{"log", ALARM_GREEN, ALARM_RED, false, NULL},
			{not_run[i], ALARM_GREEN, ALARM_RED, false,
			 "{\"to\": \"ops@example.com\"}"},
		};
		REFUSED(EINVAL, needle, s.actions = two, s.n_actions = 2,
			s.target_kind = strncmp(not_run[i], "host_", 5) == 0 ? "host" : "vm");
		assert_true(alarm_action_not_run(not_run[i]));
	}
	assert_int_equal(count(db, "SELECT COUNT(*) FROM alarm_definition"), 0);
	a = (struct alarm_action_spec){"vm_power_off", ALARM_GREEN, ALARM_RED, false, NULL};
	REFUSED(EINVAL, "action 1 (vm_power_off) acts on a vm, but the alarm is about hosts",
		s.actions = &a, s.n_actions = 1, s.target_kind = "host");
	a.params = "{\"timeout_s\": 60}";
	REFUSED(EINVAL, "action 1 (vm_power_off) takes no params", s.actions = &a,
		s.n_actions = 1);
	REFUSED(EINVAL, "no host can be at or below a vm", s.object_id = f->web01,
		s.target_kind = "host");
	REFUSED(EINVAL, "no vm can be at or below a datastore_folder",
		s.object_id = child(db, f->dc1, "datastore"));
	REFUSED(ENOENT, "inventory object 999999 does not exist", s.object_id = 999999);
	s.comparison = "?";
	assert_int_equal(alarm_define(db, &s, T0, NULL, NULL), -EINVAL);

	/* What passes, and names used twice. */
	struct alarm_action_spec ok[] = {
		{"webhook", ALARM_GREEN, ALARM_RED, true, "{\"url\": \"https://hooks.example.com/a\"}"},
		{"vm_power_off", ALARM_YELLOW, ALARM_RED, false, NULL},
		{"log", ALARM_GREEN, ALARM_YELLOW, false, NULL},
		{"log", ALARM_RED, ALARM_GREEN, false, "{\"level\": \"error\"}"},
		{"log", ALARM_YELLOW, ALARM_GREEN, false, "{}"},
	};
	s = metric_spec(f->dc1, "cpu", 60000);
	s.actions = ok;
	s.n_actions = ARRAY_SIZE(ok);
	s.repeat_interval_ms = 300000;
	int64_t id = define(db, &s);
	expect_err(alarm_define(db, &s, T0, NULL, &err), EEXIST,
		   &err, "cannot define alarm \"cpu\" on datacenter \"dc1\": it has an alarm of "
			 "that name already");
	s.object_id = f->dc2;
	define(db, &s); /* the same name on another object */

	struct alarm_def d;
	OK(alarm_get(db, id, &d, &err));
	assert_int_equal(d.object_id, f->dc1);
	assert_string_equal(d.name, "cpu");
	assert_string_equal(d.description, "CPU usage is high");
	assert_string_equal(d.target_kind, "vm");
	assert_string_equal(d.condition_kind, "metric");
	assert_string_equal(d.metric, "cpu.usage.average");
	assert_string_equal(d.comparison, ">");
	assert_true(d.enabled && d.has_yellow && d.has_red);
	assert_true(d.yellow == 75 && d.red == 90);
	assert_null(d.state_name);
	assert_null(d.event_type);
	assert_int_equal(d.duration_ms, 60000);
	assert_int_equal(d.repeat_interval_ms, 300000);
	assert_int_equal(d.created_ms, T0);
	assert_int_equal(d.n_actions, 5);
	assert_string_equal(d.actions[0].action, "webhook");
	assert_true(d.actions[0].repeats);
	assert_int_equal(d.actions[0].from, ALARM_GREEN);
	assert_int_equal(d.actions[0].to, ALARM_RED);
	assert_string_equal(d.actions[0].params, "{\"url\": \"https://hooks.example.com/a\"}");
	assert_string_equal(d.actions[1].action, "vm_power_off");
	assert_string_equal(d.actions[1].params, "{}");
	assert_string_equal(d.actions[2].action, "log");
	assert_string_equal(d.actions[3].params, "{\"level\": \"error\"}");
	alarm_def_clear(&d);
	expect_err(alarm_get(db, 424242, &d, &err), ENOENT, &err, "no alarm definition with id");

	/* Evaluations need an existing object and a sensible input. */
	struct alarm_fire_list l = {0};
	expect_err(alarm_eval_metric(db, 999999, "cpu.usage.average", 1, T0, &l, &err), ENOENT,
		   &err, "no inventory object with id 999999");
	expect_err(alarm_eval_metric(db, f->web01, "cpu.usage.average", NAN, T0, &l, &err),
		   EINVAL, &err, "not a finite number");
	expect_err(alarm_eval_state(db, f->esx1, "connection_state", NULL, T0, &l, &err), EINVAL,
		   &err, "without a state name and a value");
	assert_int_equal(l.n, 0);
	assert_int_equal(db_txn_depth(db), 0);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM alarm_definition"), 2);
#undef REFUSED
}

static void test_metric_duration(void **state)
{
	struct fixture *f = *state;
	struct db *db = f->db;
	struct alarm_spec s = metric_spec(f->dc1, "cpu", 60000);
	int64_t id = define(db, &s);
	int64_t vm = f->db01;

	/* Yellow-level for less than the duration: still green. */
	assert_int_equal(metric(db, vm, 80, AT(0)), 0);
	assert_int_equal(metric(db, vm, 85, AT(30)), 0);
	assert_int_equal(metric(db, vm, 80, AT(59.999)), 0);
	assert_int_equal(status_of(db, id, vm), ALARM_GREEN);
	/* Held for the duration: yellow. */
	assert_int_equal(metric(db, vm, 80, AT(60)), 1);
	expect_fire(0, id, vm, ALARM_GREEN, ALARM_YELLOW, "80", NULL);
	assert_string_equal(fires.items[0].alarm_name, "cpu");
	assert_int_equal(metric(db, vm, 80, AT(70)), 0);
	/* Red-level: red only after the duration. */
	assert_int_equal(metric(db, vm, 92.5, AT(80)), 0);
	assert_int_equal(metric(db, vm, 95, AT(120)), 0);
	assert_int_equal(status_of(db, id, vm), ALARM_YELLOW);
	assert_int_equal(metric(db, vm, 93, AT(140)), 1);
	expect_fire(0, id, vm, ALARM_YELLOW, ALARM_RED, "93", NULL);
	assert_int_equal(status_of(db, id, vm), ALARM_RED);
	/* Falls at once: red -> yellow while yellow still holds, then green. */
	assert_int_equal(metric(db, vm, 80, AT(150)), 1);
	expect_fire(0, id, vm, ALARM_RED, ALARM_YELLOW, "80", NULL);
	assert_int_equal(metric(db, vm, 10, AT(151)), 1);
	expect_fire(0, id, vm, ALARM_YELLOW, ALARM_GREEN, "10", NULL);
	assert_int_equal(metric(db, vm, 10, AT(152)), 0);
	/* Red from the start: red after the duration, straight from green. */
	assert_int_equal(metric(db, vm, 99, AT(200)), 0);
	assert_int_equal(metric(db, vm, 99, AT(259)), 0);
	assert_int_equal(metric(db, vm, 99, AT(260)), 1);
	expect_fire(0, id, vm, ALARM_GREEN, ALARM_RED, "99", NULL);
	assert_int_equal(metric(db, vm, 0, AT(261)), 1);
	expect_fire(0, id, vm, ALARM_RED, ALARM_GREEN, "0", NULL);
	/* A dip below yellow restarts the timer. */
	assert_int_equal(metric(db, vm, 80, AT(300)), 0);
	assert_int_equal(metric(db, vm, 50, AT(330)), 0);
	assert_int_equal(metric(db, vm, 80, AT(340)), 0);
	assert_int_equal(metric(db, vm, 80, AT(399)), 0);
	assert_int_equal(metric(db, vm, 80, AT(400)), 1);
	expect_fire(0, id, vm, ALARM_GREEN, ALARM_YELLOW, "80", NULL);
	assert_int_equal(metric(db, vm, 50, AT(401)), 1);
	/* Red-level then yellow-level: yellow's timer goes on from the start. */
	assert_int_equal(metric(db, vm, 95, AT(500)), 0);
	assert_int_equal(metric(db, vm, 80, AT(530)), 0);
	assert_int_equal(metric(db, vm, 80, AT(560)), 1);
	expect_fire(0, id, vm, ALARM_GREEN, ALARM_YELLOW, "80", NULL);
	assert_int_equal(metric(db, vm, 50, AT(561)), 1);
	/* Yellow-level, then red-level once yellow is due: yellow now, red a duration later. */
	assert_int_equal(metric(db, vm, 80, AT(600)), 0);
	assert_int_equal(metric(db, vm, 95, AT(660)), 1);
	expect_fire(0, id, vm, ALARM_GREEN, ALARM_YELLOW, "95", NULL);
	assert_int_equal(metric(db, vm, 95, AT(719)), 0);
	assert_int_equal(metric(db, vm, 95, AT(720)), 1);
	expect_fire(0, id, vm, ALARM_YELLOW, ALARM_RED, "95", NULL);

	/* The state as listed. */
	struct vr_error *err = NULL;
	struct alarm_state_list l = {0};
	OK(alarm_states_list(db, vm, &l, &err));
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].alarm_id, id);
	assert_string_equal(l.items[0].alarm_name, "cpu");
	assert_string_equal(l.items[0].object_name, "db01");
	assert_int_equal(l.items[0].status, ALARM_RED);
	assert_string_equal(l.items[0].state, "triggered");
	assert_string_equal(l.items[0].value, "95");
	assert_int_equal(l.items[0].triggered_ms, AT(720));
	assert_null(l.items[0].acknowledged_by);
	alarm_state_list_clear(&l);

	/*
	 * Yellow-level, then red-level before yellow is due: each level has its own timer,
	 * so yellow comes when yellow has held for the duration, red when red has.
	 */
	assert_int_equal(metric(db, vm, 10, AT(730)), 1);
	expect_fire(0, id, vm, ALARM_RED, ALARM_GREEN, "10", NULL);
	assert_int_equal(metric(db, vm, 80, AT(740)), 0);
	assert_int_equal(metric(db, vm, 95, AT(770)), 0);
	assert_int_equal(metric(db, vm, 95, AT(799)), 0);
	assert_int_equal(metric(db, vm, 95, AT(800)), 1);
	expect_fire(0, id, vm, ALARM_GREEN, ALARM_YELLOW, "95", NULL);
	assert_int_equal(metric(db, vm, 95, AT(829)), 0);
	assert_int_equal(metric(db, vm, 95, AT(830)), 1);
	expect_fire(0, id, vm, ALARM_YELLOW, ALARM_RED, "95", NULL);
	/* Cleared by hand while red-level: raised again a duration later, both levels. */
	OK(alarm_clear(db, id, vm, "admin", AT(835), &err));
	assert_int_equal(metric(db, vm, 95, AT(840)), 0);
	assert_int_equal(metric(db, vm, 95, AT(900)), 1);
	expect_fire(0, id, vm, ALARM_GREEN, ALARM_RED, "95", NULL);

	/* Without a duration, at once; other metrics do not count. */
	s = metric_spec(vm, "fast", 0);
	s.has_yellow = false;
	int64_t fast = define(db, &s);
	assert_int_equal(metric(db, vm, 91, AT(950)), 1);
	expect_fire(0, fast, vm, ALARM_GREEN, ALARM_RED, "91", NULL);
	clear_fires();
	OK(alarm_eval_metric(db, vm, "mem.usage.average", 99, AT(951), &fires, &err));
	assert_int_equal(fires.n, 0);
	clear_fires();
}

static void test_inheritance(void **state)
{
	struct fixture *f = *state;
	struct db *db = f->db;
	struct vr_error *err = NULL;
	int64_t on_dc = define_metric(db, f->dc1, "cpu", 0);
	/* A VM in a sub-folder of the datacenter: applies. */
	assert_int_equal(metric(db, f->web01, 95, AT(0)), 1);
	expect_fire(0, on_dc, f->web01, ALARM_GREEN, ALARM_RED, "95", NULL);
	/* A VM in another datacenter, and a host in this one: no. */
	assert_int_equal(metric(db, f->other01, 95, AT(1)), 0);
	assert_int_equal(metric(db, f->esx1, 95, AT(2)), 0);
	/* A VM alarm on a host applies to the VMs on it (web01), not to others (db01). */
	struct alarm_spec s = metric_spec(f->esx1, "cpu on esx1", 0);
	int64_t on_host = define(db, &s);
	assert_int_equal(metric(db, f->web01, 80, AT(3)), 2);
	expect_fire(0, on_dc, f->web01, ALARM_RED, ALARM_YELLOW, "80", NULL);
	expect_fire(1, on_host, f->web01, ALARM_GREEN, ALARM_YELLOW, "80", NULL);
	assert_int_equal(metric(db, f->db01, 80, AT(4)), 1);
	expect_fire(0, on_dc, f->db01, ALARM_GREEN, ALARM_YELLOW, "80", NULL);
	/* A host alarm on the datacenter applies to the host. */
	s = metric_spec(f->dc1, "host cpu", 0);
	s.target_kind = "host";
	int64_t host_alarm = define(db, &s);
	assert_int_equal(metric(db, f->esx1, 95, AT(5)), 1);
	expect_fire(0, host_alarm, f->esx1, ALARM_GREEN, ALARM_RED, "95", NULL);

	/* Listing: on the object only, or with what it inherits (nearest first). */
	struct alarm_def_list l = {0};
	OK(alarm_list(db, f->web01, false, &l, &err));
	assert_int_equal(l.n, 0);
	alarm_def_list_clear(&l);
	OK(alarm_list(db, f->web01, true, &l, &err));
	assert_int_equal(l.n, 3);
	assert_int_equal(l.items[0].id, on_host);
	assert_string_equal(l.items[1].name, "cpu");
	assert_string_equal(l.items[2].name, "host cpu");
	alarm_def_list_clear(&l);
	OK(alarm_list(db, f->dc1, false, &l, &err));
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].name, "cpu");
	alarm_def_list_clear(&l);
	OK(alarm_list(db, f->other01, true, &l, &err));
	assert_int_equal(l.n, 0);
	alarm_def_list_clear(&l);
	expect_err(alarm_list(db, 999999, true, &l, &err), ENOENT, &err, "999999");
	clear_fires();
}

static void test_state_alarm(void **state)
{
	struct fixture *f = *state;
	struct db *db = f->db;
	struct alarm_spec s = {
		.object_id = f->dc1,
		.name = "host connection",
		.target_kind = "host",
		.enabled = true,
		.condition_kind = "state",
		.state_name = "connection_state",
		.yellow_state = "disconnected",
		.red_state = "not_responding",
	};
	int64_t id = define(db, &s);
	assert_int_equal(state_eval(db, f->esx1, "connection_state", "connected", AT(0)), 0);
	assert_int_equal(state_eval(db, f->esx1, "connection_state", "not_responding", AT(1)), 1);
	expect_fire(0, id, f->esx1, ALARM_GREEN, ALARM_RED, "not_responding", NULL);
	assert_int_equal(status_of(db, id, f->esx1), ALARM_RED);
	assert_int_equal(state_eval(db, f->esx1, "connection_state", "not_responding", AT(2)), 0);
	assert_int_equal(state_eval(db, f->esx1, "power_state", "powered_off", AT(3)), 0);
	assert_int_equal(state_eval(db, f->esx1, "connection_state", "disconnected", AT(4)), 1);
	expect_fire(0, id, f->esx1, ALARM_RED, ALARM_YELLOW, "disconnected", NULL);
	assert_int_equal(state_eval(db, f->esx1, "connection_state", "connected", AT(5)), 1);
	expect_fire(0, id, f->esx1, ALARM_YELLOW, ALARM_GREEN, "connected", NULL);
	assert_int_equal(status_of(db, id, f->esx1), ALARM_GREEN);

	/* With a duration: a VM powered off for two minutes. */
	s = (struct alarm_spec){
		.object_id = f->root,
		.name = "VM off",
		.target_kind = "vm",
		.enabled = true,
		.condition_kind = "state",
		.state_name = "power_state",
		.red_state = "powered_off",
		.duration_ms = 120000,
	};
	int64_t off = define(db, &s);
	assert_int_equal(state_eval(db, f->other01, "power_state", "powered_off", AT(10)), 0);
	assert_int_equal(state_eval(db, f->other01, "power_state", "powered_off", AT(129)), 0);
	assert_int_equal(state_eval(db, f->other01, "power_state", "powered_on", AT(130)), 0);
	assert_int_equal(state_eval(db, f->other01, "power_state", "powered_off", AT(131)), 0);
	assert_int_equal(state_eval(db, f->other01, "power_state", "powered_off", AT(250)), 0);
	assert_int_equal(state_eval(db, f->other01, "power_state", "powered_off", AT(251)), 1);
	expect_fire(0, off, f->other01, ALARM_GREEN, ALARM_RED, "powered_off", NULL);
	assert_int_equal(state_eval(db, f->other01, "power_state", "powered_on", AT(252)), 1);
	expect_fire(0, off, f->other01, ALARM_RED, ALARM_GREEN, "powered_on", NULL);
	clear_fires();
}

static int64_t event_alarm(struct db *db, int64_t object_id, const char *name,
			   const struct alarm_action_spec *actions, size_t n, int64_t repeat_ms)
{
	struct alarm_spec s = {
		.object_id = object_id,
		.name = name,
		.target_kind = "vm",
		.enabled = true,
		.condition_kind = "event",
		.event_type = "VmPoweredOffUnexpectedly",
		.event_status = ALARM_RED,
		.repeat_interval_ms = repeat_ms,
		.actions = actions,
		.n_actions = n,
	};
	return define(db, &s);
}

static void test_event_alarm(void **state)
{
	struct fixture *f = *state;
	struct db *db = f->db;
	struct vr_error *err = NULL;
	int64_t id = event_alarm(db, f->dc1, "unexpected power off", NULL, 0, 0);
	int64_t vm = f->web01;
	assert_int_equal(event(db, vm, "VmPoweredOnEvent", AT(0)), 0);
	assert_int_equal(event(db, vm, "VmPoweredOffUnexpectedly", AT(1)), 1);
	expect_fire(0, id, vm, ALARM_GREEN, ALARM_RED, "VmPoweredOffUnexpectedly", NULL);
	/* It stays until someone clears it, whatever happens next. */
	assert_int_equal(event(db, vm, "VmPoweredOffUnexpectedly", AT(2)), 0);
	assert_int_equal(event(db, vm, "VmPoweredOnEvent", AT(3)), 0);
	assert_int_equal(metric(db, vm, 0, AT(4)), 0);
	assert_int_equal(status_of(db, id, vm), ALARM_RED);
	/* Acknowledged: still red. */
	expect_err(alarm_acknowledge(db, id, vm, "", AT(5), &err), EINVAL, &err,
		   "who does it is not given");
	OK(alarm_acknowledge(db, id, vm, "administrator@vsphere.local", AT(5), &err));
	OK(alarm_acknowledge(db, id, vm, "someone@else", AT(6), &err));
	struct alarm_state_list l = {0};
	OK(alarm_states_list(db, vm, &l, &err));
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].status, ALARM_RED);
	assert_string_equal(l.items[0].state, "acknowledged");
	assert_int_equal(l.items[0].acknowledged_ms, AT(5));
	assert_string_equal(l.items[0].acknowledged_by, "administrator@vsphere.local");
	assert_int_equal(l.items[0].triggered_ms, AT(1));
	alarm_state_list_clear(&l);
	/* Cleared: green, and a new event triggers it again. */
	OK(alarm_clear(db, id, vm, "administrator@vsphere.local", AT(7), &err));
	assert_int_equal(status_of(db, id, vm), ALARM_GREEN);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM alarm_state WHERE state = 'cleared'"
				   " AND status = 'green'"),
			 1);
	OK(alarm_clear(db, id, vm, "administrator@vsphere.local", AT(8), &err));
	expect_err(alarm_acknowledge(db, id, vm, "administrator@vsphere.local", AT(9), &err), EINVAL,
		   &err, "cannot acknowledge alarm \"unexpected power off\" on vm \"web01\": it is "
			 "green");
	expect_err(alarm_acknowledge(db, 424242, vm, "a@b", AT(9), &err), ENOENT, &err,
		   "no such alarm definition");
	expect_err(alarm_clear(db, id, 999999, "a@b", AT(9), &err), ENOENT, &err,
		   "no inventory object with id 999999");
	assert_int_equal(event(db, vm, "VmPoweredOffUnexpectedly", AT(10)), 1);
	expect_fire(0, id, vm, ALARM_GREEN, ALARM_RED, "VmPoweredOffUnexpectedly", NULL);
	OK(alarm_states_list(db, vm, &l, &err));
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].state, "triggered");
	assert_null(l.items[0].acknowledged_by);
	alarm_state_list_clear(&l);
	/* A yellow event does not lower a red status. */
	struct alarm_spec s = {
		.object_id = f->dc1,
		.name = "reset",
		.target_kind = "vm",
		.enabled = true,
		.condition_kind = "event",
		.event_type = "VmResettingEvent",
		.event_status = ALARM_YELLOW,
	};
	int64_t reset = define(db, &s);
	assert_int_equal(event(db, vm, "VmResettingEvent", AT(11)), 1);
	expect_fire(0, reset, vm, ALARM_GREEN, ALARM_YELLOW, "VmResettingEvent", NULL);
	clear_fires();
}

static void test_actions_on_transitions(void **state)
{
	struct fixture *f = *state;
	struct db *db = f->db;
	struct alarm_action_spec actions[] = {
		{"webhook", ALARM_GREEN, ALARM_YELLOW, false, "{\"url\": \"http://hooks/warn\"}"},
		{"log", ALARM_YELLOW, ALARM_RED, false, "{\"level\": \"error\"}"},
		{"vm_power_off", ALARM_GREEN, ALARM_RED, false, NULL},
		{"vm_reboot_guest", ALARM_YELLOW, ALARM_GREEN, false, NULL},
		{"vm_shutdown_guest", ALARM_YELLOW, ALARM_RED, false, NULL},
	};
	struct alarm_spec s = metric_spec(f->dc1, "cpu", 0);
	s.actions = actions;
	s.n_actions = ARRAY_SIZE(actions);
	int64_t id = define(db, &s);
	int64_t vm = f->db01;
	assert_int_equal(metric(db, vm, 80, AT(0)), 2);
	expect_fire(0, id, vm, ALARM_GREEN, ALARM_YELLOW, "80", NULL);
	expect_fire(1, id, vm, ALARM_GREEN, ALARM_YELLOW, "80", "webhook");
	assert_string_equal(fires.items[1].params, "{\"url\": \"http://hooks/warn\"}");
	assert_int_equal(metric(db, vm, 95, AT(1)), 3);
	expect_fire(0, id, vm, ALARM_YELLOW, ALARM_RED, "95", NULL);
	expect_fire(1, id, vm, ALARM_YELLOW, ALARM_RED, "95", "log");
	assert_string_equal(fires.items[1].params, "{\"level\": \"error\"}");
	expect_fire(2, id, vm, ALARM_YELLOW, ALARM_RED, "95", "vm_shutdown_guest");
	assert_int_equal(metric(db, vm, 96, AT(2)), 0);
	/* red -> green: no action is set for it. */
	assert_int_equal(metric(db, vm, 5, AT(3)), 1);
	expect_fire(0, id, vm, ALARM_RED, ALARM_GREEN, "5", NULL);
	assert_int_equal(metric(db, vm, 99, AT(4)), 2);
	expect_fire(1, id, vm, ALARM_GREEN, ALARM_RED, "99", "vm_power_off");
	assert_int_equal(metric(db, vm, 80, AT(5)), 1);
	expect_fire(0, id, vm, ALARM_RED, ALARM_YELLOW, "80", NULL);
	assert_int_equal(metric(db, vm, 0, AT(6)), 2);
	expect_fire(1, id, vm, ALARM_YELLOW, ALARM_GREEN, "0", "vm_reboot_guest");
	/* Acknowledging and clearing run no actions, and nothing repeats. */
	assert_int_equal(metric(db, vm, 99, AT(7)), 2);
	struct vr_error *err = NULL;
	OK(alarm_clear(db, id, vm, "ops", AT(8), &err));
	assert_int_equal(repeats(db, AT(100000)), 0);
	clear_fires();
}

static void test_repeats_until_acknowledged(void **state)
{
	struct fixture *f = *state;
	struct db *db = f->db;
	struct vr_error *err = NULL;
	struct alarm_action_spec actions[] = {
		{"webhook", ALARM_GREEN, ALARM_RED, true, "{\"url\": \"https://hooks/red\"}"},
		{"log", ALARM_GREEN, ALARM_RED, false, NULL},
		{"log", ALARM_YELLOW, ALARM_RED, true, "{\"level\": \"info\"}"},
	};
	int64_t id = event_alarm(db, f->dc1, "power off", actions, ARRAY_SIZE(actions), 60000);
	int64_t vm = f->web01;
	assert_int_equal(event(db, vm, "VmPoweredOffUnexpectedly", AT(0)), 3);
	expect_fire(1, id, vm, ALARM_GREEN, ALARM_RED, NULL, "webhook");
	expect_fire(2, id, vm, ALARM_GREEN, ALARM_RED, NULL, "log");
	assert_int_equal(repeats(db, AT(30)), 0);
	/* Every minute from the change: the repeating actions whose to status is red. */
	assert_int_equal(repeats(db, AT(60)), 2);
	expect_fire(0, id, vm, ALARM_GREEN, ALARM_RED, "VmPoweredOffUnexpectedly", "webhook");
	expect_fire(1, id, vm, ALARM_YELLOW, ALARM_RED, NULL, "log");
	assert_string_equal(fires.items[0].alarm_name, "power off");
	assert_int_equal(repeats(db, AT(61)), 0);
	assert_int_equal(repeats(db, AT(119)), 0);
	/* Late: once, and the schedule stays on whole minutes. */
	assert_int_equal(repeats(db, AT(150)), 2);
	assert_int_equal(repeats(db, AT(179)), 0);
	assert_int_equal(repeats(db, AT(180)), 2);
	/* Another object's alarm has its own schedule. */
	assert_int_equal(event(db, f->db01, "VmPoweredOffUnexpectedly", AT(200)), 3);
	assert_int_equal(repeats(db, AT(240)), 2);
	assert_int_equal(fires.items[0].object_id, f->web01);
	assert_int_equal(repeats(db, AT(260)), 2);
	assert_int_equal(fires.items[0].object_id, f->db01);
	/* Acknowledged: no more repeats for that object. */
	OK(alarm_acknowledge(db, id, vm, "administrator@vsphere.local", AT(270), &err));
	assert_int_equal(repeats(db, AT(300)), 0);
	assert_int_equal(repeats(db, AT(320)), 2);
	assert_int_equal(fires.items[0].object_id, f->db01);
	assert_int_equal(repeats(db, AT(1000)), 2);
	OK(alarm_clear(db, id, f->db01, "administrator@vsphere.local", AT(1001), &err));
	assert_int_equal(repeats(db, AT(5000)), 0);
	/* The caller's list is appended to. */
	struct alarm_fire_list l = {0};
	OK(alarm_eval_event(db, f->db01, "VmPoweredOffUnexpectedly", AT(6000), &l, &err));
	OK(alarm_due_repeats(db, AT(6060), &l, &err));
	assert_int_equal(l.n, 5);
	alarm_fire_list_clear(&l);
	assert_int_equal(l.n, 0);
	clear_fires();
}

static void test_disable_clears(void **state)
{
	struct fixture *f = *state;
	struct db *db = f->db;
	struct vr_error *err = NULL;
	struct alarm_action_spec act = {"log", ALARM_GREEN, ALARM_RED, true, NULL};
	struct alarm_spec s = metric_spec(f->dc1, "cpu", 60000);
	s.actions = &act;
	s.n_actions = 1;
	s.repeat_interval_ms = 60000;
	int64_t id = define(db, &s);
	assert_int_equal(metric(db, f->web01, 95, AT(0)), 0);
	assert_int_equal(metric(db, f->web01, 95, AT(60)), 2);
	assert_int_equal(metric(db, f->db01, 95, AT(60)), 0); /* pending */
	OK(alarm_set_enabled(db, id, false, AT(61), &err));
	struct alarm_def d;
	OK(alarm_get(db, id, &d, &err));
	assert_false(d.enabled);
	assert_int_equal(d.modified_ms, AT(61));
	alarm_def_clear(&d);
	assert_int_equal(status_of(db, id, f->web01), ALARM_GREEN);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM alarm_state WHERE status <> 'green'"
				   " OR condition_since_ms IS NOT NULL"),
			 0);
	/* Not evaluated, no repeats. */
	assert_int_equal(metric(db, f->web01, 95, AT(200)), 0);
	assert_int_equal(metric(db, f->db01, 95, AT(300)), 0);
	assert_int_equal(repeats(db, AT(400)), 0);
	/* Enabled again: evaluated from scratch. */
	OK(alarm_set_enabled(db, id, true, AT(500), &err));
	assert_int_equal(metric(db, f->db01, 95, AT(500)), 0);
	assert_int_equal(metric(db, f->db01, 95, AT(560)), 2);
	expect_fire(0, id, f->db01, ALARM_GREEN, ALARM_RED, "95", NULL);
	expect_err(alarm_set_enabled(db, 424242, false, AT(600), &err), ENOENT, &err,
		   "no alarm definition with id 424242");
	clear_fires();
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	struct db *db = f->db;
	struct vr_error *err = NULL;
	struct alarm_action_spec act = {"log", ALARM_GREEN, ALARM_RED, false, NULL};
	struct alarm_spec s = metric_spec(f->dc1, "cpu", 0);
	s.actions = &act;
	s.n_actions = 1;
	int64_t id = define(db, &s);
	int64_t keep = define_metric(db, f->dc1, "cpu too", 0);
	assert_int_equal(metric(db, f->web01, 95, AT(0)), 3);
	OK(alarm_delete(db, id, &err));
	struct alarm_def d;
	expect_err(alarm_get(db, id, &d, &err), ENOENT, &err, "no alarm definition");
	expect_err(alarm_delete(db, id, &err), ENOENT, &err, "no alarm definition");
	assert_int_equal(count(db, "SELECT COUNT(*) FROM alarm_action"), 0);
	assert_int_equal(count(db, "SELECT COUNT(*) FROM alarm_state"), 1);
	assert_int_equal(status_of(db, keep, f->web01), ALARM_RED);
	assert_int_equal(metric(db, f->web01, 0, AT(1)), 1);
	expect_fire(0, keep, f->web01, ALARM_RED, ALARM_GREEN, "0", NULL);
	/* The name is free again. */
	define(db, &s);
	clear_fires();
}

static void test_states_under_subtree(void **state)
{
	struct fixture *f = *state;
	struct db *db = f->db;
	struct vr_error *err = NULL;
	int64_t vm_cpu = define_metric(db, f->root, "cpu", 0);
	struct alarm_spec s = metric_spec(f->root, "host cpu", 0);
	s.target_kind = "host";
	int64_t host_cpu = define(db, &s);
	metric(db, f->web01, 95, AT(1));  /* red */
	metric(db, f->db01, 80, AT(2));   /* yellow */
	metric(db, f->other01, 95, AT(3)); /* red, in dc2 */
	metric(db, f->esx1, 80, AT(4));   /* yellow */
	metric(db, f->esx1, 10, AT(5));   /* green again: not listed */
	metric(db, f->esx1, 81, AT(6));   /* yellow */

	struct alarm_state_list l = {0};
	OK(alarm_states_list(db, 0, &l, &err));
	assert_int_equal(l.n, 4);
	/* Red first, then newest first. */
	assert_int_equal(l.items[0].object_id, f->other01);
	assert_int_equal(l.items[1].object_id, f->web01);
	assert_int_equal(l.items[2].object_id, f->esx1);
	assert_int_equal(l.items[2].alarm_id, host_cpu);
	assert_int_equal(l.items[2].triggered_ms, AT(6));
	assert_string_equal(l.items[2].value, "81");
	assert_int_equal(l.items[3].object_id, f->db01);
	assert_int_equal(l.items[3].alarm_id, vm_cpu);
	alarm_state_list_clear(&l);

	OK(alarm_states_list(db, f->dc1, &l, &err));
	assert_int_equal(l.n, 3);
	assert_int_equal(l.items[0].object_id, f->web01);
	assert_string_equal(l.items[0].object_name, "web01");
	alarm_state_list_clear(&l);
	OK(alarm_states_list(db, f->web, &l, &err));
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].object_id, f->web01);
	alarm_state_list_clear(&l);
	/* A host: itself and the VMs on it. */
	OK(alarm_states_list(db, f->esx1, &l, &err));
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[0].object_id, f->web01);
	assert_int_equal(l.items[1].object_id, f->esx1);
	alarm_state_list_clear(&l);
	OK(alarm_states_list(db, f->dc2, &l, &err));
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].object_id, f->other01);
	alarm_state_list_clear(&l);
	expect_err(alarm_states_list(db, 999999, &l, &err), ENOENT, &err, "999999");
	clear_fires();
}

/* An evaluation inside the caller's transaction is undone with it. */
static void test_caller_transaction(void **state)
{
	struct fixture *f = *state;
	struct db *db = f->db;
	struct vr_error *err = NULL;
	int64_t id = define_metric(db, f->dc1, "cpu", 0);
	OK(db_begin(db, &err));
	assert_int_equal(metric(db, f->web01, 95, AT(0)), 1);
	assert_int_equal(status_of(db, id, f->web01), ALARM_RED);
	OK(db_rollback(db, &err));
	assert_int_equal(status_of(db, id, f->web01), ALARM_GREEN);
	assert_int_equal(metric(db, f->web01, 95, AT(1)), 1);
	/* A refused definition leaves the caller's transaction usable (PostgreSQL too). */
	OK(db_begin(db, &err));
	struct alarm_spec s = metric_spec(f->dc1, "cpu", 0);
	expect_err(alarm_define(db, &s, T0, NULL, &err), EEXIST, &err, "already");
	s.name = "cpu 2";
	int64_t second = define(db, &s);
	OK(db_commit(db, &err));
	struct alarm_def d;
	OK(alarm_get(db, second, &d, &err));
	assert_string_equal(d.name, "cpu 2");
	alarm_def_clear(&d);
	clear_fires();
}

/* Which privilege each action needs, which actions are not run, a log action's level. */
static void test_action_rules(void **state)
{
	(void)state;
	static const struct {
		const char *action, *privilege;
	} rules[] = {
		{"vm_power_off", "VirtualMachine.Interact.PowerOff"},
		{"vm_suspend", "VirtualMachine.Interact.Suspend"},
		{"vm_reset", "VirtualMachine.Interact.Reset"},
		{"vm_shutdown_guest", "VirtualMachine.Interact.PowerOff"},
		{"vm_reboot_guest", "VirtualMachine.Interact.Reset"},
		{"log", NULL},
		{"webhook", NULL},
		{"email", NULL},
		{"explode", NULL},
		{NULL, NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		const char *p = alarm_action_privilege(rules[i].action);
		if (!rules[i].privilege) {
			assert_null(p);
			continue;
		}
		assert_non_null(p);
		assert_string_equal(p, rules[i].privilege);
		bool known = false;
		for (size_t k = 0; k < center_privileges_count; k++)
			known = known || strcmp(center_privileges[k].id, p) == 0;
		assert_true(known);
	}
	assert_true(alarm_action_not_run("host_reboot"));
	assert_false(alarm_action_not_run("log"));
	assert_false(alarm_action_not_run("vm_reboot_guest"));
	assert_false(alarm_action_not_run(NULL));

	assert_string_equal(alarm_log_level(NULL, ALARM_RED), "warning");
	assert_string_equal(alarm_log_level("{}", ALARM_YELLOW), "info");
	assert_string_equal(alarm_log_level("{}", ALARM_GREEN), "info");
	assert_string_equal(alarm_log_level("{\"level\": \"error\"}", ALARM_GREEN), "error");
	assert_string_equal(alarm_log_level("{\"level\": \"info\"}", ALARM_RED), "info");
	assert_string_equal(alarm_log_level("{\"level\": \"loud\"}", ALARM_RED), "warning");
	assert_string_equal(alarm_log_level("not json", ALARM_YELLOW), "info");
}

static int insert_action(struct db *db, int64_t alarm_id, const char *action,
			 struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "insert an alarm action as stored before",
			   "INSERT INTO alarm_action (alarm_id, action, from_status, to_status)"
			   " VALUES ($1, $2, 'green', 'red')",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, alarm_id);
	db_bind_text(st, 2, action);
	return db_step(st, err);
}

/*
 * A definition stored by an older center with an action it no longer
 * defines (email) keeps it through schema migration 3, which lets log
 * actions in; firing it still says which action is due, and center knows
 * that it does not run it.
 */
static void test_stored_action_not_run(void **state)
{
	(void)state;
	struct vr_error *err = NULL;
	struct center_case *cc = center_case_new(false);
	struct db *db = NULL;
	OK(db_open(cc->location, &db, &err));
	OK(schema_migrate_with(db, schema_migrations, 2, NULL, &err));
	int64_t root = 0;
	OK(inventory_root(db, &root, &err));
	int64_t dc = create(db, INV_KIND_DATACENTER, root, "dc1");
	int64_t vm = create(db, INV_KIND_VM, child(db, dc, "vm"), "web01");
	struct alarm_action_spec hook = {"webhook", ALARM_GREEN, ALARM_RED, false,
					 "{\"url\": \"https://hooks.example.com/a\"}"};
	int64_t id = event_alarm(db, dc, "power off", &hook, 1, 0);
	OK(insert_action(db, id, "email", &err));
	assert_true(insert_action(db, id, "log", &err) < 0);
	vr_error_free(err);
	err = NULL;

	int applied = 0;
	OK(schema_migrate(db, &applied, &err));
	assert_int_equal(applied, SCHEMA_VERSION_LATEST - 2);
	struct alarm_def d;
	OK(alarm_get(db, id, &d, &err));
	assert_int_equal(d.n_actions, 2);
	assert_string_equal(d.actions[0].action, "webhook");
	assert_string_equal(d.actions[0].params, "{\"url\": \"https://hooks.example.com/a\"}");
	assert_string_equal(d.actions[1].action, "email");
	assert_string_equal(d.actions[1].params, "{}");
	alarm_def_clear(&d);
	OK(insert_action(db, id, "log", &err));
	assert_true(insert_action(db, id, "dance", &err) < 0);
	vr_error_free(err);
	err = NULL;

	assert_int_equal(event(db, vm, "VmPoweredOffUnexpectedly", AT(0)), 4);
	expect_fire(1, id, vm, ALARM_GREEN, ALARM_RED, NULL, "webhook");
	expect_fire(2, id, vm, ALARM_GREEN, ALARM_RED, NULL, "email");
	expect_fire(3, id, vm, ALARM_GREEN, ALARM_RED, NULL, "log");
	assert_true(alarm_action_not_run(fires.items[2].action));
	clear_fires();
	/* It cannot be defined again. */
	struct alarm_action_spec email = {"email", ALARM_GREEN, ALARM_RED, false,
					  "{\"to\": \"ops@example.com\"}"};
	struct alarm_spec s = {
		.object_id = dc,
		.name = "again",
		.target_kind = "vm",
		.enabled = true,
		.condition_kind = "event",
		.event_type = "VmFailed",
		.event_status = ALARM_RED,
		.actions = &email,
		.n_actions = 1,
	};
	expect_err(alarm_define(db, &s, T0, NULL, &err), EINVAL, &err,
		   "action 1 (email): vireo-center does not run email actions");
	db_close(db);
	center_case_free(cc);
}

/*
 * Schema migration 4: a yellow state that was timing red in its one timer
 * (condition_since_ms) keeps that time as its red timer, so red comes when
 * it would have.
 */
static void test_migration_splits_timers(void **state)
{
	(void)state;
	struct vr_error *err = NULL;
	struct center_case *cc = center_case_new(false);
	struct db *db = NULL;
	OK(db_open(cc->location, &db, &err));
	OK(schema_migrate_with(db, schema_migrations, 3, NULL, &err));
	int64_t root = 0;
	OK(inventory_root(db, &root, &err));
	int64_t dc = create(db, INV_KIND_DATACENTER, root, "dc1");
	int64_t vm = create(db, INV_KIND_VM, child(db, dc, "vm"), "web01");
	struct alarm_spec s = metric_spec(dc, "cpu", 60000);
	int64_t id = define(db, &s);
	_cleanup_free_ char *row = xasprintf(
		"INSERT INTO alarm_state (alarm_id, object_id, status, state, value,"
		" condition_since_ms, triggered_ms, last_action_ms)"
		" VALUES (%lld, %lld, 'yellow', 'triggered', '95', %lld, %lld, %lld)",
		(long long)id, (long long)vm, (long long)AT(30), (long long)AT(0), (long long)AT(0));
	OK(db_exec(db, "a v3 state timing red", row, &err));
	int applied = 0;
	OK(schema_migrate(db, &applied, &err));
	assert_int_equal(applied, SCHEMA_VERSION_LATEST - 3);
	assert_int_equal(metric(db, vm, 95, AT(89)), 0);
	assert_int_equal(status_of(db, id, vm), ALARM_YELLOW);
	assert_int_equal(metric(db, vm, 95, AT(90)), 1);
	expect_fire(0, id, vm, ALARM_YELLOW, ALARM_RED, "95", NULL);
	clear_fires();
	db_close(db);
	center_case_free(cc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_names),
		cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metric_duration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inheritance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_alarm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_alarm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_actions_on_transitions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeats_until_acknowledged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disable_clears, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_states_under_subtree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caller_transaction, setup, teardown),
		cmocka_unit_test(test_action_rules),
		cmocka_unit_test(test_stored_action_not_run),
		cmocka_unit_test(test_migration_splits_timers),
	};
	int failed = FIXTURE_RUN_GROUPS("center_alarms", tests);
	return failed ? 1 : 0;
}
