/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Events center posts, and what alarms do about states: the alarm
 * evaluation (center/db/alarms.h) says which statuses changed and which
 * actions are due; here they become events, webhooks and VM power
 * operations through the VM's host.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "api/client.h"
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
	if (strcmp(category, "error") == 0)
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

struct webhook {
	char *url;
	json_t *body;
};

static void *webhook_main(void *opaque)
{
	struct webhook *w = opaque;
	_cleanup_error_ struct vr_error *err = NULL;
	struct api_client *cl = api_client_new(w->url, false, NULL, &err);
	if (cl) {
		api_client_set_timeouts(cl, 10, 5);
		if (api_client_request(cl, "POST", "", w->body, NULL, NULL, &err) < 0)
			log_warn("alarm webhook %s: %s", w->url, vr_error_msg(err));
		api_client_free(cl);
	} else {
		log_warn("alarm webhook %s: %s", w->url, vr_error_msg(err));
	}
	free(w->url);
	json_decref(w->body);
	free(w);
	return NULL;
}

/* Webhooks run on their own short-lived thread: a slow receiver holds up nothing. */
static void webhook_send(const char *url, json_t *body)
{
	struct webhook *w = xcalloc(1, sizeof(*w));
	w->url = xstrdup(url);
	w->body = json_incref(body);
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&t, &attr, webhook_main, w) != 0) {
		log_warn("alarm webhook %s: cannot start a thread", url);
		free(w->url);
		json_decref(w->body);
		free(w);
	}
	pthread_attr_destroy(&attr);
}

static void vm_power(struct center *c, struct db *db, int64_t vm_id, const char *op,
		     const char *alarm)
{
	struct inv_object o = {0};
	_cleanup_error_ struct vr_error *err = NULL;
	if (inventory_get(db, vm_id, &o, &err) < 0 || o.kind != INV_KIND_VM || !o.uuid ||
	    !o.host_id) {
		log_warn("alarm \"%s\": action vm_%s needs a VM on a host", alarm, op);
		inv_object_clear(&o);
		return;
	}
	_cleanup_free_ char *esc = api_client_escape(o.uuid);
	_cleanup_free_ char *path = xasprintf("/api/v1/vms/%s/power/%s", esc, op);
	if (chosts_call(c->hosts, o.host_id, "POST", path, NULL, NULL, NULL, &err) < 0)
		center_post_event(c, db, "AlarmActionFailedEvent", "error", o.id, o.name, "", 0,
				  "alarm \"%s\": cannot %s VM \"%s\": %s", alarm, op, o.name,
				  vr_error_msg(err));
	else
		center_post_event(c, db, "AlarmActionTriggeredEvent", "info", o.id, o.name, "", 0,
				  "alarm \"%s\": %s VM \"%s\"", alarm,
				  strcmp(op, "off") == 0 ? "powered off" : op, o.name);
	inv_object_clear(&o);
}

void center_run_alarm_fires(struct center *c, struct db *db, const struct alarm_fire_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct alarm_fire *f = &l->items[i];
		if (!f->is_action) {
			center_post_event(c, db, "AlarmStatusChangedEvent",
					  f->to == ALARM_RED	  ? "error"
					  : f->to == ALARM_YELLOW ? "warning"
								  : "info",
					  f->object_id, NULL, "", 0,
					  "alarm \"%s\" changed from %s to %s (value %s)", f->alarm_name,
					  alarm_status_name(f->from), alarm_status_name(f->to),
					  f->value ? f->value : "");
			continue;
		}
		if (strcmp(f->action, "webhook") == 0) {
			json_error_t jerr;
			json_t *params = json_loads(f->params ? f->params : "{}", 0, &jerr);
			const char *url = json_get_string(params, "url", NULL);
			if (url) {
				json_t *body = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s?, s:I}", "alarm",
							 f->alarm_name, "alarm_id",
							 (json_int_t)f->alarm_id, "object_id",
							 (json_int_t)f->object_id, "from",
							 alarm_status_name(f->from), "to",
							 alarm_status_name(f->to), "value", f->value,
							 "time_ms", (json_int_t)center_now_ms());
				webhook_send(url, body);
				json_decref(body);
			}
			json_decref(params);
		} else if (strcmp(f->action, "vm_power_off") == 0) {
			vm_power(c, db, f->object_id, "off", f->alarm_name);
		} else if (strcmp(f->action, "vm_suspend") == 0) {
			vm_power(c, db, f->object_id, "suspend", f->alarm_name);
		} else if (strcmp(f->action, "vm_reset") == 0) {
			vm_power(c, db, f->object_id, "reset", f->alarm_name);
		} else {
			log_info("alarm \"%s\": action %s is recorded only", f->alarm_name, f->action);
			center_post_event(c, db, "AlarmActionTriggeredEvent", "info", f->object_id,
					  NULL, "", 0, "alarm \"%s\": action %s", f->alarm_name,
					  f->action);
		}
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
