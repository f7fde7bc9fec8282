/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Alarm VM actions (center/notify.c) end to end inside one process: a
 * vireo-center made of its parts (database pool, secrets, task runner,
 * host connections) joins a simulated host (`vireo-hostd --simulate`,
 * started per case), alarms fire, and the outcome is read back as the
 * AlarmActionTriggeredEvent, the center task and the host's VM.  On
 * SQLite and on PostgreSQL.  The same world also checks that a full sync
 * does not write back a VM state older than a refresh made meanwhile.
 *
 * usage: test_center_alarms_actions VIREO_HOSTD
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"
#include "center/center.h"
#include "center/db/alarms.h"
#include "center/db/events.h"
#include "center/db/inventory.h"
#include "center/db/tasks.h"
#include "center/hosts.h"
#include "center/hosts_priv.h"
#include "center/notify_priv.h"
#include "center/secrets.h"
#include "center/taskrun.h"
#include "common/error.h"
#include "common/util.h"
#include "center_fixture.h"

#define SIM_PASSWORD "simulated-admin-pw"
#define ACTION_EVENT "AlarmActionTriggeredEvent"

static const char *hostd_path;

struct world {
	struct center_case *cc;
	char *state_dir;
	pid_t sim;
	bool sim_frozen;
	struct center c;
	int64_t dc, host;
};

/* ---- the simulated host ---- */

static unsigned free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Starts `vireo-hostd --simulate 1:4` (sim0-vm0 and vm2 running, vm1 and vm3 off). */
static pid_t sim_start(const char *dir, unsigned port)
{
	_cleanup_free_ char *log = xasprintf("%s/sim.log", dir);
	char portarg[16];
	snprintf(portarg, sizeof(portarg), "%u", port);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(hostd_path, hostd_path, "--simulate", "1:4", "--simulate-password",
		      SIM_PASSWORD, "--listen", "127.0.0.1", "--port", portarg, (char *)NULL);
		_exit(127);
	}
	_cleanup_free_ char *url = xasprintf("http://127.0.0.1:%u", port);
	for (int i = 0; i < 200; i++) {
		struct api_client *cl = api_client_new(url, false, NULL, NULL);
		assert_non_null(cl);
		api_client_set_timeouts(cl, 2, 1);
		int r = api_client_request(cl, "GET", "/api/v1/health", NULL, NULL, NULL, NULL);
		api_client_free(cl);
		if (r == 0)
			return pid;
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid)
			fail_msg("the simulator ended at start (see %s)", log);
		sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	fail_msg("the simulator did not answer on port %u within 10 s (see %s)", port, log);
	return -1;
}

static void sim_freeze(struct world *w, bool frozen)
{
	assert_int_equal(kill(w->sim, frozen ? SIGSTOP : SIGCONT), 0);
	w->sim_frozen = frozen;
}

/* ---- a center of its parts ---- */

static int world_setup(void **state)
{
	struct world *w = xcalloc(1, sizeof(*w));
	*state = w;
	_cleanup_error_ struct vr_error *err = NULL;
	w->cc = center_case_new(true);
	char tmpl[] = "/tmp/vireo-alarmact-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	w->state_dir = xstrdup(tmpl);
	unsigned port = free_port();
	w->sim = sim_start(w->state_dir, port);

	struct center *c = &w->c;
	c->cfg = (struct center_config){
		.state_dir = w->state_dir,
		.db_location = w->cc->location,
		.heartbeat_ms = 1000,
		.not_responding_ms = 60000, /* a frozen host stays "connected": calls go out */
		.resync_ms = 60000,
		.task_workers = 2,
	};
	snprintf(c->uuid, sizeof(c->uuid), "%s", "a1a2c0de-0000-4000-8000-000000000001");
	OK((c->pool = dbpool_new(w->cc->location, 16, &err)) ? 0 : -EIO);
	OK((c->secrets = secrets_open(w->state_dir, &err)) ? 0 : -EIO);
	struct db *db = w->cc->db;
	OK(inventory_root(db, &c->root_id, &err));
	struct inv_create_spec dc = {.kind = INV_KIND_DATACENTER, .parent_id = c->root_id,
				     .name = "DC"};
	OK(inventory_create(db, &dc, &w->dc, &err));
	struct inv_object hf = {0};
	OK(inventory_lookup(db, w->dc, "host", &hf, &err));
	int64_t host_folder = hf.id;
	inv_object_clear(&hf);
	OK((c->tasks = taskrun_new(c, 2, &err)) ? 0 : -EIO);
	c->hosts = chosts_new(c);
	OK(chosts_start(c->hosts, &err));
	_cleanup_free_ char *url = xasprintf("http://127.0.0.1:%u/sim/0", port);
	struct chost_add_spec add = {
		.url = url,
		.username = "admin",
		.password = SIM_PASSWORD,
		.parent_id = host_folder,
		.principal = "test",
	};
	OK(chosts_add(c->hosts, &add, &w->host, &err));
	return 0;
}

static void sim_stop(pid_t pid)
{
	kill(pid, SIGCONT);
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		sleep_ms(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* The order of center_stop() in main.c. */
static void center_parts_stop(struct center *c)
{
	taskrun_stop(c->tasks);
	chosts_stop_and_free(c->hosts);
	c->hosts = NULL;
	taskrun_free(c->tasks);
	c->tasks = NULL;
	center_notify_drain();
}

static int world_teardown(void **state)
{
	struct world *w = *state;
	if (w->sim_frozen)
		sim_freeze(w, false);
	notify_set_vm_action_timeout_ms(0);
	center_parts_stop(&w->c);
	secrets_free(w->c.secrets);
	dbpool_free(w->c.pool);
	sim_stop(w->sim);
	_cleanup_free_ char *rm = xasprintf("rm -rf '%s'", w->state_dir);
	if (system(rm) != 0)
		fprintf(stderr, "cannot remove %s\n", w->state_dir);
	free(w->state_dir);
	center_case_free(w->cc);
	free(w);
	return 0;
}

/* ---- helpers ---- */

static struct inv_object vm_named(struct world *w, const char *name)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_list l = {0};
	OK(inventory_find_name(w->cc->db, INV_KIND_VM, name, 2, &l, &err));
	if (l.n != 1)
		fail_msg("%zu VMs named %s in the inventory", l.n, name);
	struct inv_object o = l.items[0];
	l.items[0] = (struct inv_object){0};
	inv_list_clear(&l);
	return o;
}

/* The VM's power state as its host says. */
static char *host_power_state(struct world *w, const char *vm)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = vm_named(w, vm);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s", o.uuid);
	json_t *j = NULL;
	OK(chosts_call(w->c.hosts, w->host, "GET", path, NULL, NULL, &j, &err));
	char *s = xstrdup(json_string_value(json_object_get(j, "power_state")));
	json_decref(j);
	inv_object_clear(&o);
	return s;
}

static int64_t event_alarm(struct world *w, const char *name, const char *event_type,
			   const char *action)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct alarm_action_spec a = {action, ALARM_GREEN, ALARM_RED, false, NULL};
	struct alarm_spec s = {
		.object_id = w->dc,
		.name = name,
		.target_kind = "vm",
		.enabled = true,
		.condition_kind = "event",
		.event_type = event_type,
		.event_status = ALARM_RED,
		.actions = &a,
		.n_actions = 1,
	};
	int64_t id = 0;
	OK(alarm_define(w->cc->db, &s, center_now_ms(), &id, &err));
	return id;
}

/* Feeds the event to the alarms as a host's monitor does; returns how long that took (ms). */
static uint64_t fire(struct world *w, const char *vm, const char *event_type)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = vm_named(w, vm);
	struct alarm_fire_list fires = {0};
	OK(alarm_eval_event(w->cc->db, o.id, event_type, center_now_ms(), &fires, &err));
	assert_int_equal(fires.n, 2); /* the status change and the action */
	uint64_t t0 = time_mono_ms();
	center_run_alarm_fires(&w->c, w->cc->db, &fires);
	uint64_t took = time_mono_ms() - t0;
	alarm_fire_list_clear(&fires);
	inv_object_clear(&o);
	return took;
}

/* The alarm's action events on the VM, newest first (caller clears). */
static struct cevent_list action_events(struct world *w, const char *vm)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = vm_named(w, vm);
	struct cevent_filter f = {.object_id = o.id, .type = ACTION_EVENT};
	struct cevent_list l = {0};
	OK(cevent_query(w->cc->db, &f, &l, &err));
	inv_object_clear(&o);
	return l;
}

/* Waits (30 s at most) for the VM's first action event; returns it (caller clears). */
static struct cevent wait_action_event(struct world *w, const char *vm)
{
	for (int i = 0; i < 600; i++) {
		struct cevent_list l = action_events(w, vm);
		if (l.n > 0) {
			if (l.n != 1)
				fail_msg("%zu action events on %s, first: %s", l.n, vm,
					 l.items[0].message);
			struct cevent e = l.items[0];
			l.items[0] = (struct cevent){0};
			cevent_list_clear(&l);
			return e;
		}
		cevent_list_clear(&l);
		sleep_ms(50);
	}
	fail_msg("no %s on %s within 30 s", ACTION_EVENT, vm);
	return (struct cevent){0};
}

/*
 * The event's task, once it has ended (10 s at most): the body posts the
 * event, and the runner records the task's end just after.
 */
static struct ctask task_of(struct world *w, const struct cevent *e)
{
	_cleanup_error_ struct vr_error *err = NULL;
	if (e->task_id == 0)
		fail_msg("the event refers to no task: %s", e->message);
	struct ctask t = {0};
	for (int i = 0; i < 200; i++) {
		OK(ctask_get(w->cc->db, e->task_id, &t, &err));
		if (t.state != CTASK_QUEUED && t.state != CTASK_RUNNING)
			break;
		ctask_clear(&t);
		sleep_ms(50);
	}
	return t;
}

static void expect_contains(const char *s, const char *needle)
{
	if (!s || !strstr(s, needle))
		fail_msg("expected \"%s\" in \"%s\"", needle, s ? s : "(null)");
}

/* ---- cases ---- */

/* A suspend the host does: info, naming the result, with a succeeded task started by the alarm. */
static void test_success(void **state)
{
	struct world *w = *state;
	int64_t id = event_alarm(w, "Suspend on trigger", "TestTrigger", "vm_suspend");
	fire(w, "sim0-vm0", "TestTrigger");
	struct cevent e = wait_action_event(w, "sim0-vm0");
	_cleanup_free_ char *want = xasprintf(
		"alarm \"Suspend on trigger\" (alarm-%lld), action vm_suspend: suspended VM "
		"\"sim0-vm0\" (task-%lld)",
		(long long)id, (long long)e.task_id);
	assert_string_equal(e.message, want);
	assert_string_equal(e.category, "info");
	struct ctask t = task_of(w, &e);
	assert_int_equal(t.state, CTASK_SUCCEEDED);
	assert_string_equal(t.principal, "alarm:Suspend on trigger");
	assert_string_equal(t.type, "VirtualMachine.suspend");
	assert_string_equal(t.description, "Suspend VM sim0-vm0");
	assert_int_equal(t.object_id, e.object_id);
	ctask_clear(&t);
	cevent_clear(&e);
	_cleanup_free_ char *ps = host_power_state(w, "sim0-vm0");
	assert_string_equal(ps, "suspended");
	/* And center's inventory follows (a full sync under way may hold the old state briefly). */
	bool seen = false;
	for (int i = 0; i < 200 && !seen; i++) {
		struct inv_object o = vm_named(w, "sim0-vm0");
		seen = strstr(o.properties, "\"power_state\":\"suspended\"") != NULL;
		inv_object_clear(&o);
		if (!seen)
			sleep_ms(50);
	}
	assert_true(seen);
}

/* The host refuses (the VM is off): a warning with the host's reason; the task failed with it. */
static void test_host_refuses(void **state)
{
	struct world *w = *state;
	int64_t id = event_alarm(w, "Suspend on trigger", "TestTrigger", "vm_suspend");
	fire(w, "sim0-vm1", "TestTrigger");
	struct cevent e = wait_action_event(w, "sim0-vm1");
	_cleanup_free_ char *want = xasprintf(
		"alarm \"Suspend on trigger\" (alarm-%lld), action vm_suspend: cannot suspend VM "
		"\"sim0-vm1\": the VM is not powered on (task-%lld)",
		(long long)id, (long long)e.task_id);
	assert_string_equal(e.message, want);
	assert_string_equal(e.category, "warning");
	struct ctask t = task_of(w, &e);
	assert_int_equal(t.state, CTASK_FAILED);
	assert_string_equal(t.principal, "alarm:Suspend on trigger");
	assert_string_equal(t.error, "cannot suspend VM \"sim0-vm1\": the VM is not powered on");
	ctask_clear(&t);
	cevent_clear(&e);
	_cleanup_free_ char *ps = host_power_state(w, "sim0-vm1");
	assert_string_equal(ps, "poweredOff");
}

/*
 * Through a host's monitor, as in production: the host's own event
 * (VmPoweredOn, after a power-on) trips the alarm, whose action powers
 * the VM off again.
 */
static void test_from_host_event(void **state)
{
	struct world *w = *state;
	_cleanup_error_ struct vr_error *err = NULL;
	event_alarm(w, "Keep it off", "VmPoweredOn", "vm_power_off");
	/* The monitor's first poll starts from the host's newest event: wait for it. */
	struct chost *h = chost_get(w->c.hosts, w->host);
	assert_non_null(h);
	bool following = false;
	for (int i = 0; i < 400 && !following; i++) {
		pthread_mutex_lock(&h->lock);
		following = h->instance != NULL;
		pthread_mutex_unlock(&h->lock);
		if (!following)
			sleep_ms(25);
	}
	chost_put(h);
	assert_true(following);
	struct inv_object o = vm_named(w, "sim0-vm3");
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s/power/on", o.uuid);
	inv_object_clear(&o);
	OK(chosts_call(w->c.hosts, w->host, "POST", path, NULL, NULL, NULL, &err));
	struct cevent e = wait_action_event(w, "sim0-vm3");
	expect_contains(e.message, "action vm_power_off: powered off VM \"sim0-vm3\" (task-");
	assert_string_equal(e.category, "info");
	struct ctask t = task_of(w, &e);
	assert_int_equal(t.state, CTASK_SUCCEEDED);
	assert_string_equal(t.principal, "alarm:Keep it off");
	ctask_clear(&t);
	cevent_clear(&e);
	_cleanup_free_ char *ps = host_power_state(w, "sim0-vm3");
	assert_string_equal(ps, "poweredOff");
}

/*
 * A host that does not answer holds up neither the caller nor, past
 * the action's time limit, the task: a warning says so.
 */
static void test_frozen_host(void **state)
{
	struct world *w = *state;
	event_alarm(w, "Suspend on trigger", "TestTrigger", "vm_suspend");
	notify_set_vm_action_timeout_ms(1500);
	sim_freeze(w, true);
	uint64_t took = fire(w, "sim0-vm0", "TestTrigger");
	if (took > 1000)
		fail_msg("firing the alarm took %llu ms with the host frozen", (unsigned long long)took);
	struct cevent_list l = action_events(w, "sim0-vm0");
	assert_int_equal(l.n, 0); /* nothing has come of it yet */
	cevent_list_clear(&l);
	uint64_t t0 = time_mono_ms();
	struct cevent e = wait_action_event(w, "sim0-vm0");
	uint64_t waited = time_mono_ms() - t0;
	expect_contains(e.message, "action vm_suspend: cannot suspend VM \"sim0-vm0\": host \"");
	assert_string_equal(e.category, "warning");
	if (waited > 10000)
		fail_msg("the outcome came %llu ms after the firing (limit 1.5 s)",
			 (unsigned long long)waited);
	struct ctask t = task_of(w, &e);
	assert_int_equal(t.state, CTASK_FAILED);
	ctask_clear(&t);
	cevent_clear(&e);
	sim_freeze(w, false);
}

/*
 * Center stops while an action waits for a frozen host: the wait ends
 * within about a second, the task is failed saying why, and the event
 * says so; an action fired after the stop began is refused, not lost.
 */
static void test_stop_while_pending(void **state)
{
	struct world *w = *state;
	_cleanup_error_ struct vr_error *err = NULL;
	event_alarm(w, "Suspend on trigger", "TestTrigger", "vm_suspend");
	notify_set_vm_action_timeout_ms(120000);
	sim_freeze(w, true);
	fire(w, "sim0-vm0", "TestTrigger");
	/* Let the worker take it and send its request. */
	struct ctask_filter tf = {.principal = "alarm:Suspend on trigger", .state = -1};
	bool running = false;
	for (int i = 0; i < 200 && !running; i++) {
		struct ctask_list tl = {0};
		OK(ctask_list(w->cc->db, &tf, &tl, &err));
		running = tl.n == 1 && tl.items[0].state == CTASK_RUNNING;
		ctask_list_clear(&tl);
		if (!running)
			sleep_ms(20);
	}
	assert_true(running);
	sleep_ms(300);
	uint64_t t0 = time_mono_ms();
	taskrun_stop(w->c.tasks);
	uint64_t took = time_mono_ms() - t0;
	if (took > 5000)
		fail_msg("stopping the task runner took %llu ms", (unsigned long long)took);
	struct cevent_list l = action_events(w, "sim0-vm0");
	assert_int_equal(l.n, 1);
	expect_contains(l.items[0].message,
			"cannot suspend VM \"sim0-vm0\": vireo-center stopped before the host "
			"answered");
	assert_string_equal(l.items[0].category, "warning");
	struct ctask t = task_of(w, &l.items[0]);
	assert_int_equal(t.state, CTASK_FAILED);
	ctask_clear(&t);
	cevent_list_clear(&l);
	/* The monitors still run until they are stopped: what they fire now is refused. */
	fire(w, "sim0-vm2", "TestTrigger");
	l = action_events(w, "sim0-vm2");
	assert_int_equal(l.n, 1);
	expect_contains(l.items[0].message, "action vm_suspend: not run: cannot suspend VM "
					    "\"sim0-vm2\": vireo-center is stopping");
	assert_string_equal(l.items[0].category, "warning");
	cevent_list_clear(&l);
	sim_freeze(w, false);
}

/*
 * A full sync reads the host, then, before it writes, the VM is powered off
 * and refreshed (as a task does after a power operation) and the monitor
 * has seen the host's event: the sync's older read must not power it back
 * on in the inventory.
 */
static struct world *hook_world;
static bool hook_ran;
static pthread_t hook_thread; /* the test's own sync, not the monitor's */

static void power_off_meanwhile(struct chost *h)
{
	if (hook_ran || !pthread_equal(pthread_self(), hook_thread))
		return;
	hook_ran = true;
	struct world *w = hook_world;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = vm_named(w, "sim0-vm2");
	_cleanup_free_ char *off = xasprintf("/api/v1/vms/%s/power/off", o.uuid);
	OK(chosts_call(w->c.hosts, w->host, "POST", off, NULL, NULL, NULL, &err));
	OK(chosts_refresh_vm(w->c.hosts, w->host, o.uuid, &err));
	/* The monitor has processed the host's events up to now (its own refresh included). */
	json_t *ev = NULL;
	OK(chosts_call(w->c.hosts, w->host, "GET", "/api/v1/events", NULL, NULL, &ev, &err));
	int64_t last = json_integer_value(json_object_get(ev, "last"));
	json_decref(ev);
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&h->lock);
		int64_t seen = h->cursor;
		pthread_mutex_unlock(&h->lock);
		if (seen >= last)
			break;
		sleep_ms(50);
	}
	inv_object_clear(&o);
}

static const char *inventory_power(struct world *w, const char *vm)
{
	struct inv_object o = vm_named(w, vm);
	json_error_t jerr;
	json_t *p = json_loads(o.properties, 0, &jerr);
	static char state[32];
	snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(p, "power_state")));
	json_decref(p);
	inv_object_clear(&o);
	return state;
}

static void test_sync_keeps_newer_refresh(void **state)
{
	struct world *w = *state;
	_cleanup_error_ struct vr_error *err = NULL;
	assert_string_equal(inventory_power(w, "sim0-vm2"), "poweredOn");
	hook_world = w;
	hook_ran = false;
	hook_thread = pthread_self();
	sync_full_test_hook = power_off_meanwhile;
	int r = chosts_sync(w->c.hosts, w->host, &err);
	sync_full_test_hook = NULL;
	OK(r);
	assert_true(hook_ran);
	_cleanup_free_ char *on_host = host_power_state(w, "sim0-vm2");
	assert_string_equal(on_host, "poweredOff");
	assert_string_equal(inventory_power(w, "sim0-vm2"), "poweredOff");
	/* The next full sync, read after the change, agrees. */
	OK(chosts_sync(w->c.hosts, w->host, &err));
	assert_string_equal(inventory_power(w, "sim0-vm2"), "poweredOff");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s VIREO_HOSTD\n", argv[0]);
		return 2;
	}
	hostd_path = argv[1];
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_success, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_host_refuses, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_from_host_event, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_frozen_host, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_sync_keeps_newer_refresh, world_setup,
						world_teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_pending, world_setup,
						world_teardown),
	};
	return FIXTURE_RUN_GROUPS("center alarm actions", tests);
}
