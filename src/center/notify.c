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
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "api/client.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/db/alarms.h"
#include "center/db/events.h"
#include "center/db/inventory.h"
#include "center/hosts.h"
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
			   const char *object_name, bool failed, const char *fmt, ...)
	__attribute__((format(printf, 9, 10)));

static void action_outcome(struct center *c, struct db *db, int64_t alarm_id,
			   const char *alarm_name, const char *action, int64_t object_id,
			   const char *object_name, bool failed, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *outcome;
	if (vasprintf(&outcome, fmt, ap) < 0)
		abort();
	va_end(ap);
	center_post_event(c, db, "AlarmActionTriggeredEvent", failed ? "warning" : "info",
			  object_id, object_name, "", 0, "alarm \"%s\" (alarm-%lld), action %s: %s",
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
		action_outcome(w->c, db, w->alarm_id, w->alarm_name, "webhook", w->object_id, NULL,
			       true, "not delivered to %s: %s", w->shown, vr_error_msg(err));
	else
		action_outcome(w->c, db, w->alarm_id, w->alarm_name, "webhook", w->object_id, NULL,
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
			       true, "not run: its params have no \"url\"");
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
			       true, "not delivered to %s: cannot start a thread (%s)", w->shown,
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
	action_outcome(c, db, f->alarm_id, f->alarm_name, f->action, f->object_id, o->name, false,
		       "wrote a line at level %s to center's log", level);
}

/* ---- VM operations, through the VM's host ---- */

static const struct {
	const char *action, *op, *what; /* hostd's POST /api/v1/vms/{id}/power/{op} */
} vm_ops[] = {
	{"vm_power_off", "off", "power off"},
	{"vm_suspend", "suspend", "suspend"},
	{"vm_reset", "reset", "reset"},
	{"vm_shutdown_guest", "shutdown", "shut down the guest of"},
	{"vm_reboot_guest", "reboot", "restart the guest of"},
};

static void vm_operation(struct center *c, struct db *db, const struct alarm_fire *f,
			 const struct inv_object *o, size_t k)
{
	if (!o->name || o->kind != INV_KIND_VM || !o->uuid || !o->host_id) {
		action_outcome(c, db, f->alarm_id, f->alarm_name, f->action, f->object_id, o->name,
			       true, "not run: it needs a VM on a host, and %s %lld is not one",
			       o->name ? inv_kind_name(o->kind) : "object",
			       (long long)f->object_id);
		return;
	}
	_cleanup_error_ struct vr_error *err = NULL;
	_cleanup_free_ char *esc = api_client_escape(o->uuid);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s/power/%s", esc, vm_ops[k].op);
	json_t *reply = NULL;
	if (chosts_call(c->hosts, o->host_id, "POST", path, NULL, NULL, &reply, &err) < 0)
		action_outcome(c, db, f->alarm_id, f->alarm_name, f->action, o->id, o->name, true,
			       "cannot %s VM \"%s\": %s", vm_ops[k].what, o->name,
			       vr_error_msg(err));
	else
		action_outcome(c, db, f->alarm_id, f->alarm_name, f->action, o->id, o->name, false,
			       "asked the host to %s VM \"%s\" (host task %s)", vm_ops[k].what,
			       o->name, json_get_string(reply, "task", "?"));
	json_decref(reply);
}

static void run_action(struct center *c, struct db *db, const struct alarm_fire *f)
{
	struct inv_object o = {0};
	if (inventory_get(db, f->object_id, &o, NULL) < 0)
		inv_object_clear(&o); /* deleted meanwhile: o.name stays NULL */
	size_t k = 0;
	while (k < ARRAY_SIZE(vm_ops) && strcmp(f->action, vm_ops[k].action) != 0)
		k++;
	if (strcmp(f->action, "log") == 0)
		log_line(c, db, f, &o);
	else if (strcmp(f->action, "webhook") == 0)
		webhook_send(c, db, f, &o);
	else if (k < ARRAY_SIZE(vm_ops))
		vm_operation(c, db, f, &o, k);
	else
		action_outcome(c, db, f->alarm_id, f->alarm_name, f->action, f->object_id, o.name,
			       true, "not run: vireo-center does not run %s actions (define the "
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
