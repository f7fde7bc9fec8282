/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Events center posts, and what alarms do about states: the alarm
 * evaluation (center/db/alarms.h) says which statuses changed and which
 * actions are due; here they become events, and the actions run: a line
 * in center's log, a webhook, or a VM power operation through the VM's
 * host.  Each action's outcome is an AlarmActionTriggeredEvent on the
 * object (a warning when it failed); an action center does not run,
 * left in a definition stored before it was refused, posts that it was
 * not run.
 *
 * The caller is usually a host's monitor thread, which must not wait on
 * a slow host or receiver, so only the log line runs here.  A webhook
 * runs on a short thread of its own (center_notify_drain() waits for
 * them).  A VM operation is a center task, started by "alarm:NAME", on
 * the task runner's alarms' lane (center/taskrun.h: a few workers and a
 * queue, apart from users' tasks); its body asks the VM's host, follows
 * the host's task to its end within a time limit per operation (2 min;
 * 5 min to suspend, or for a guest to shut down or restart) and posts
 * the outcome referring to the task: info when the host's task
 * succeeded, warning with the reason when it failed (the host's own
 * message, such as the VM being powered off already), timed out, the
 * host could not be reached, or center stopped meanwhile.  One queued
 * when center stops is not run: its task fails saying so, and no event
 * is posted for it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "api/client.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/db/alarms.h"
#include "center/db/db.h"
#include "center/db/events.h"
#include "center/db/inventory.h"
#include "center/db/tasks.h"
#include "center/hosts.h"
#include "center/notify_priv.h"
#include "center/taskrun.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"

void center_post_event(struct center *c, struct db *db, const char *type, const char *category,
		       int64_t object_id, const char *object_name, const char *principal,
		       int64_t task_id, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg;
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (strcmp(category, "error") == 0 || strcmp(category, "warning") == 0)
		log_warn("event %s: %s", type, msg);
	else
		log_info("event %s: %s", type, msg);
	struct cevent_spec spec = {
		.type = type,
		.category = category,
		.object_id = object_id,
		.object_name = object_name,
		.principal = principal,
		.task_id = task_id,
		.message = msg,
	};
	_cleanup_error_ struct vr_error *err = NULL;
	if (cevent_post(db, &spec, center_now_ms(), NULL, &err) < 0)
		log_warn("cannot record event %s: %s", type, vr_error_msg(err));
	free(msg);
}

/*
 * What running an action came to, posted on the object as vCenter's
 * AlarmActionTriggeredEvent: info when it ran, warning when it failed or
 * was not run.
 */
static void action_outcome(struct center *c, struct db *db, int64_t alarm_id,
			   const char *alarm_name, const char *action, int64_t object_id,
			   const char *object_name, int64_t task_id, bool failed, const char *fmt,
			   ...) __attribute__((format(printf, 10, 11)));

static void action_outcome(struct center *c, struct db *db, int64_t alarm_id,
			   const char *alarm_name, const char *action, int64_t object_id,
			   const char *object_name, int64_t task_id, bool failed, const char *fmt,
			   ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *outcome;
	if (vasprintf(&outcome, fmt, ap) < 0)
		abort();
	va_end(ap);
	center_post_event(c, db, "AlarmActionTriggeredEvent", failed ? "warning" : "info",
			  object_id, object_name, "", task_id,
			  "alarm \"%s\" (alarm-%lld), action %s: %s",
			  alarm_name, (long long)alarm_id, action, outcome);
	free(outcome);
}

/* ---- webhook ---- */

/*
 * Webhooks run on their own short-lived threads: a slow receiver holds up
 * nothing.  center_notify_drain() waits for them before the database
 * pool they post their outcome through goes away.
 */
static pthread_mutex_t webhooks_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t webhooks_done = PTHREAD_COND_INITIALIZER;
static unsigned webhooks_running;

struct webhook {
	struct center *c;
	char *url;
	char *shown; /* the URL's scheme and host: its path or user may be a secret */
	json_t *body;
	int64_t alarm_id, object_id;
	char *alarm_name;
};

/* "https://hooks.example.com" of "https://user:pw@hooks.example.com/T0/B1?x". */
static char *url_origin(const char *url)
{
	const char *sep = strstr(url, "://");
	if (!sep)
		return xstrdup("(a webhook)");
	const char *host = sep + 3;
	size_t n = strcspn(host, "/?#");
	const char *at = memchr(host, '@', n);
	while (at) {
		n -= (size_t)(at + 1 - host);
		host = at + 1;
		at = memchr(host, '@', n);
	}
	return xasprintf("%.*s://%.*s", (int)(sep - url), url, (int)n, host);
}

static void webhook_free(struct webhook *w)
{
	free(w->url);
	free(w->shown);
	free(w->alarm_name);
	json_decref(w->body);
	free(w);
}

static void *webhook_main(void *opaque)
{
	struct webhook *w = opaque;
	_cleanup_error_ struct vr_error *err = NULL;
	long status = 0;
	struct api_client *cl = api_client_new(w->url, false, NULL, &err);
	int r = cl ? 0 : -EINVAL;
	if (cl) {
		api_client_set_timeouts(cl, 10, 5);
		r = api_client_request(cl, "POST", "", w->body, &status, NULL, &err);
		api_client_free(cl);
	}
	_cleanup_error_ struct vr_error *dberr = NULL;
	struct db *db = dbpool_get(w->c->pool, &dberr);
	if (!db)
		log_warn("alarm \"%s\": webhook to %s %s (HTTP %ld): cannot record it: %s",
			 w->alarm_name, w->shown, r < 0 ? "failed" : "delivered", status,
			 vr_error_msg(dberr));
	else if (r < 0)
		action_outcome(w->c, db, w->alarm_id, w->alarm_name, "webhook", w->object_id, NULL, 0,
			       true, "not delivered to %s: %s", w->shown, vr_error_msg(err));
	else
		action_outcome(w->c, db, w->alarm_id, w->alarm_name, "webhook", w->object_id, NULL, 0,
			       false, "delivered to %s (HTTP %ld)", w->shown, status);
	if (db)
		dbpool_put(w->c->pool, db);
	webhook_free(w);
	pthread_mutex_lock(&webhooks_lock);
	if (--webhooks_running == 0)
		pthread_cond_broadcast(&webhooks_done);
	pthread_mutex_unlock(&webhooks_lock);
	return NULL;
}

static void webhook_send(struct center *c, struct db *db, const struct alarm_fire *f,
			 const struct inv_object *o)
{
	json_error_t jerr;
	json_t *params = json_loads(f->params ? f->params : "{}", 0, &jerr);
	const char *url = json_get_string(params, "url", NULL);
	if (!url) {
		action_outcome(c, db, f->alarm_id, f->alarm_name, f->action, f->object_id, o->name,
			       0, true, "not run: its params have no \"url\"");
		json_decref(params);
		return;
	}
	struct webhook *w = xcalloc(1, sizeof(*w));
	w->c = c;
	w->url = xstrdup(url);
	w->shown = url_origin(url);
	w->alarm_id = f->alarm_id;
	w->alarm_name = xstrdup(f->alarm_name);
	w->object_id = f->object_id;
	w->body = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s?, s:I}", "alarm", f->alarm_name,
			    "alarm_id", (json_int_t)f->alarm_id, "object_id",
			    (json_int_t)f->object_id, "from", alarm_status_name(f->from), "to",
			    alarm_status_name(f->to), "value", f->value, "time_ms",
			    (json_int_t)center_now_ms());
	json_decref(params);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_mutex_lock(&webhooks_lock);
	webhooks_running++;
	int r = pthread_create(&t, &attr, webhook_main, w);
	if (r != 0)
		webhooks_running--;
	pthread_mutex_unlock(&webhooks_lock);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		action_outcome(c, db, f->alarm_id, f->alarm_name, f->action, f->object_id, o->name,
			       0, true, "not delivered to %s: cannot start a thread (%s)", w->shown,
			       strerror(r));
		webhook_free(w);
	}
}

void center_notify_drain(void)
{
	pthread_mutex_lock(&webhooks_lock);
	while (webhooks_running > 0)
		pthread_cond_wait(&webhooks_done, &webhooks_lock);
	pthread_mutex_unlock(&webhooks_lock);
}

/* ---- log ---- */

static void log_line(struct center *c, struct db *db, const struct alarm_fire *f,
		     const struct inv_object *o)
{
	const char *level = alarm_log_level(f->params, f->to);
	enum log_level l = strcmp(level, "error") == 0	 ? LOG_LEVEL_ERROR
			   : strcmp(level, "warning") == 0 ? LOG_LEVEL_WARN
							   : LOG_LEVEL_INFO;
	_cleanup_free_ char *ref = moref_of(o->name ? o->kind : INV_KIND__COUNT, f->object_id);
	log_msg(l, __FILE__, __LINE__,
		"alarm \"%s\" (alarm-%lld) on %s \"%s\" (%s): %s -> %s, value %s", f->alarm_name,
		(long long)f->alarm_id, o->name ? inv_kind_name(o->kind) : "deleted object",
		o->name ? o->name : "", ref, alarm_status_name(f->from), alarm_status_name(f->to),
		f->value ? f->value : "(none)");
	action_outcome(c, db, f->alarm_id, f->alarm_name, f->action, f->object_id, o->name, 0,
		       false, "wrote a line at level %s to center's log", level);
}

/* ---- VM operations: center tasks on the alarms' lane, through the VM's host ---- */

static const struct vm_op {
	const char *action;
	const char *op;		     /* hostd's POST /api/v1/vms/{id}/power/{op} */
	const char *type, *label;    /* the center task's, as the API's (api/vms.c) */
	const char *what, *done;     /* "cannot %s VM ...", "%s VM ..." */
	int timeout_s;		     /* for the whole operation, host's task included */
} vm_ops[] = {
	{"vm_power_off", "off", "VirtualMachine.powerOff", "Power off", "power off", "powered off",
	 120},
	{"vm_suspend", "suspend", "VirtualMachine.suspend", "Suspend", "suspend", "suspended", 300},
	{"vm_reset", "reset", "VirtualMachine.reset", "Reset", "reset", "reset", 120},
	/* hostd gives the guest 60 s, then fails its task: well within these. */
	{"vm_shutdown_guest", "shutdown", "VirtualMachine.shutdownGuest", "Shut down guest of",
	 "shut down the guest of", "shut down the guest of", 300},
	{"vm_reboot_guest", "reboot", "VirtualMachine.rebootGuest", "Restart guest of",
	 "restart the guest of", "restarted the guest of", 300},
};

static _Atomic int64_t vm_action_timeout_ms; /* tests: instead of vm_ops[].timeout_s */

void notify_set_vm_action_timeout_ms(int64_t ms)
{
	vm_action_timeout_ms = ms;
}

struct vm_action {
	const struct vm_op *op;
	int64_t alarm_id, vm_id, host_id;
	char *alarm_name, *vm_name, *vm_uuid;
};

static void vm_action_free(void *opaque)
{
	struct vm_action *a = opaque;
	free(a->alarm_name);
	free(a->vm_name);
	free(a->vm_uuid);
	free(a);
}

/* Milliseconds left until deadline (at least 1: "now" is not "no limit"). */
static int64_t ms_left(uint64_t deadline)
{
	uint64_t now = time_mono_ms();
	return now < deadline ? (int64_t)(deadline - now) : 1;
}

/*
 * The body of the task: asks the VM's host, follows the host's task to
 * its end (or to the operation's time limit, or until center stops), and
 * posts what came of it.
 */
static int vm_action_run(struct taskrun_job *job, struct vr_error **err)
{
	struct vm_action *a = job->opaque;
	const struct vm_op *op = a->op;
	int64_t limit_ms = vm_action_timeout_ms ? vm_action_timeout_ms : op->timeout_s * 1000LL;
	uint64_t deadline = time_mono_ms() + (uint64_t)limit_ms;
	_cleanup_free_ char *esc = api_client_escape(a->vm_uuid);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s/power/%s", esc, op->op);
	json_t *reply = NULL;
	long timeout_s = ms_left(deadline) / 1000 + 1;
	int r = chosts_call_abortable(job->c->hosts, a->host_id, "POST", path, NULL,
				      timeout_s < 30 ? timeout_s : 30, taskrun_stop_flag(job), NULL,
				      &reply, err);
	if (r < 0 && taskrun_stopping(job)) {
		vr_error_free(*err);
		*err = NULL;
		r = vr_error_set(err, ESHUTDOWN,
				 "vireo-center stopped before the host answered (the host may "
				 "still do it)");
	}
	if (r == 0) {
		/* hostd answers with its task; an older one might not. */
		const char *host_task = json_get_string(reply, "task", NULL);
		if (host_task)
			r = capi_follow_host_task_for(job, a->host_id, host_task, ms_left(deadline),
						      NULL, err);
		/* Read the VM back now rather than wait for the host's event. */
		struct vr_error *e = NULL;
		if (!taskrun_stopping(job) &&
		    chosts_refresh_vm(job->c->hosts, a->host_id, a->vm_uuid, &e) < 0)
			log_info("VM \"%s\": not refreshed after the alarm's task: %s", a->vm_name,
				 vr_error_msg(e));
		vr_error_free(e);
	}
	json_decref(reply);
	if (r < 0)
		vr_error_wrap(err, "cannot %s VM \"%s\"", op->what, a->vm_name);

	_cleanup_error_ struct vr_error *dberr = NULL;
	struct db *db = dbpool_get(job->c->pool, &dberr);
	if (!db) {
		log_warn("alarm \"%s\", action %s: %s (task-%lld); cannot record it: %s",
			 a->alarm_name, op->action, r < 0 ? vr_error_msg(*err) : op->done,
			 (long long)job->task_id, vr_error_msg(dberr));
	} else if (r < 0) {
		action_outcome(job->c, db, a->alarm_id, a->alarm_name, op->action, a->vm_id,
			       a->vm_name, job->task_id, true, "%s (task-%lld)", vr_error_msg(*err),
			       (long long)job->task_id);
	} else {
		action_outcome(job->c, db, a->alarm_id, a->alarm_name, op->action, a->vm_id,
			       a->vm_name, job->task_id, false, "%s VM \"%s\" (task-%lld)", op->done,
			       a->vm_name, (long long)job->task_id);
	}
	if (db)
		dbpool_put(job->c->pool, db);
	if (r < 0)
		return r;
	job->result = json_object();
	return 0;
}

/*
 * Queues the operation as a center task on the alarms' lane, started by
 * "alarm:NAME": the caller (a host's monitor) does not wait for the host.
 */
static void vm_operation(struct center *c, struct db *db, const struct alarm_fire *f,
			 const struct inv_object *o, const struct vm_op *op)
{
	if (!o->name || o->kind != INV_KIND_VM || !o->uuid || !o->host_id) {
		action_outcome(c, db, f->alarm_id, f->alarm_name, f->action, f->object_id, o->name,
			       0, true, "not run: it needs a VM on a host, and %s %lld is not one",
			       o->name ? inv_kind_name(o->kind) : "object",
			       (long long)f->object_id);
		return;
	}
	struct vm_action *a = xcalloc(1, sizeof(*a));
	a->op = op;
	a->alarm_id = f->alarm_id;
	a->vm_id = o->id;
	a->host_id = o->host_id;
	a->alarm_name = xstrdup(f->alarm_name);
	a->vm_name = xstrdup(o->name);
	a->vm_uuid = xstrdup(o->uuid);
	_cleanup_free_ char *principal = xasprintf("alarm:%s", f->alarm_name);
	_cleanup_free_ char *desc = xasprintf("%s VM %s", op->label, o->name);
	struct ctask_spec ts = {
		.type = op->type,
		.object_id = o->id,
		.object_name = o->name,
		.principal = principal,
		.description = desc,
	};
	_cleanup_error_ struct vr_error *err = NULL;
	int64_t task;
	if (taskrun_submit_lane(c->tasks, TASKRUN_LANE_ALARMS, db, &ts, vm_action_run, a,
				vm_action_free, &task, &err) < 0)
		action_outcome(c, db, f->alarm_id, f->alarm_name, f->action, o->id, o->name, 0,
			       true, "not run: cannot %s VM \"%s\": %s", op->what, o->name,
			       vr_error_msg(err));
}

static void run_action(struct center *c, struct db *db, const struct alarm_fire *f)
{
	struct inv_object o = {0};
	if (inventory_get(db, f->object_id, &o, NULL) < 0)
		inv_object_clear(&o); /* deleted meanwhile: o.name stays NULL */
	const struct vm_op *op = NULL;
	for (size_t k = 0; k < ARRAY_SIZE(vm_ops) && !op; k++)
		if (strcmp(f->action, vm_ops[k].action) == 0)
			op = &vm_ops[k];
	if (strcmp(f->action, "log") == 0)
		log_line(c, db, f, &o);
	else if (strcmp(f->action, "webhook") == 0)
		webhook_send(c, db, f, &o);
	else if (op)
		vm_operation(c, db, f, &o, op);
	else
		action_outcome(c, db, f->alarm_id, f->alarm_name, f->action, f->object_id, o.name,
			       0, true, "not run: vireo-center does not run %s actions (define the "
			       "alarm again without it)", f->action);
	inv_object_clear(&o);
}

void center_run_alarm_fires(struct center *c, struct db *db, const struct alarm_fire_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct alarm_fire *f = &l->items[i];
		if (f->is_action) {
			run_action(c, db, f);
			continue;
		}
		center_post_event(c, db, "AlarmStatusChangedEvent",
				  f->to == ALARM_RED	  ? "error"
				  : f->to == ALARM_YELLOW ? "warning"
							  : "info",
				  f->object_id, NULL, "", 0,
				  "alarm \"%s\" changed from %s to %s (value %s)", f->alarm_name,
				  alarm_status_name(f->from), alarm_status_name(f->to),
				  f->value ? f->value : "");
	}
}

void center_alarm_state(struct center *c, struct db *db, int64_t object_id,
			const char *state_name, const char *value)
{
	struct alarm_fire_list fires = {0};
	_cleanup_error_ struct vr_error *err = NULL;
	if (alarm_eval_state(db, object_id, state_name, value, center_now_ms(), &fires, &err) < 0) {
		log_warn("alarms on object %lld (%s=%s): %s", (long long)object_id, state_name, value,
			 vr_error_msg(err));
		return;
	}
	center_run_alarm_fires(c, db, &fires);
	alarm_fire_list_clear(&fires);
}
