/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Performance history (/api/v1/perf) and alarms (/api/v1/alarms): reading
 * needs System.Read on the object; defining, deleting and switching alarms
 * Alarm.Create / Alarm.Delete / Alarm.Edit on the object they are set on,
 * and defining one with a VM power action also that operation's
 * VirtualMachine.Interact privilege there (alarm_action_privilege());
 * acknowledging Alarm.Acknowledge and clearing Alarm.SetStatus on the
 * object whose status it is.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "api/server.h"
#include "center/api/capi.h"
#include "center/center.h"
#include "center/db/alarms.h"
#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/db/perf.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

/* ---- performance ---- */

static bool query_i64(struct api_request *req, const char *key, int64_t min, int64_t max,
		      int64_t *out)
{
	const char *s = api_request_query(req, key);
	if (!s)
		return true;
	uint64_t v;
	if (parse_u64(s, (uint64_t)min, (uint64_t)max, &v) < 0) {
		api_respond_error(req, 400, "%s=\"%s\" is not a number from %lld to %lld", key, s,
				  (long long)min, (long long)max);
		return false;
	}
	*out = (int64_t)v;
	return true;
}

static void perf_get(struct api_request *req, void *opaque)
{
	const char *counter = api_request_query(req, "counter");
	if (!counter || !*counter) {
		api_respond_error(req, 400, "give counter= (GET /api/v1/perf/counters lists them)");
		return;
	}
	int64_t interval = 20, now = center_now_ms();
	if (!query_i64(req, "interval", 1, 86400, &interval))
		return;
	/* By default as much as the level keeps: an hour of 20 s samples, a day of 5 min, ... */
	int64_t span = interval <= 20 ? 3600000LL : interval <= 300 ? 86400000LL
		     : interval <= 1800 ? 7 * 86400000LL : interval <= 7200 ? 30 * 86400000LL
							      : 365 * 86400000LL;
	int64_t start = now - span, end = now;
	if (!query_i64(req, "start", 0, INT64_MAX, &start) ||
	    !query_i64(req, "end", 0, INT64_MAX, &end))
		return;
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	if (!creq_object(&x, api_request_query(req, "object"), &o))
		goto out;
	struct perf_point *pts = NULL;
	size_t n = 0;
	const char *instance = api_request_query(req, "instance");
	if (perf_query(x.db, o.id, counter, instance, (int)interval, start, end, &pts, &n, &err) <
	    0) {
		creq_fail(&x, err);
		goto out;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("[I, f]", (json_int_t)pts[i].ts_ms, pts[i].value));
	free(pts);
	char *ref = moref_of(o.kind, o.id);
	api_respond_json(req, 200,
			 json_pack("{s:s, s:s, s:s, s:I, s:o}", "object", ref, "counter", counter,
				   "instance", instance ? instance : "", "interval_s",
				   (json_int_t)interval, "points", a));
	free(ref);
out:
	inv_object_clear(&o);
	creq_end(&x);
}

static void perf_counters(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	if (!creq_object(&x, api_request_query(req, "object"), &o))
		goto out;
	char **names = NULL;
	size_t n = 0;
	if (perf_counters_for(x.db, o.id, &names, &n, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(names[i]));
	strv_free(names);
	api_respond_json(req, 200, json_pack("{s:o}", "counters", a));
out:
	inv_object_clear(&o);
	creq_end(&x);
}

/* ---- alarms ---- */

static const struct json_field alarm_fields[] = {
	{"object", JSON_STRING, true, 1, 4096},
	{"name", JSON_STRING, true, 1, 255},
	{"description", JSON_STRING, false, 0, 1024},
	{"target_kind", JSON_STRING, true, 1, 32},
	{"enabled", JSON_TRUE, false, 0, 0},
	{"condition", JSON_OBJECT, true, 0, 0},
	{"repeat_interval_s", JSON_INTEGER, false, 0, 86400 * 30},
	{"actions", JSON_ARRAY, false, 0, 0},
};
static const struct json_field condition_fields[] = {
	{"kind", JSON_STRING, true, 1, 16},
	{"metric", JSON_STRING, false, 1, 128},
	{"comparison", JSON_STRING, false, 1, 2},
	{"yellow", JSON_REAL, false, 0, 0},
	{"red", JSON_REAL, false, 0, 0},
	{"state", JSON_STRING, false, 1, 64},
	{"yellow_state", JSON_STRING, false, 1, 64},
	{"red_state", JSON_STRING, false, 1, 64},
	{"event_type", JSON_STRING, false, 1, 128},
	{"event_status", JSON_STRING, false, 1, 16},
	{"duration_s", JSON_INTEGER, false, 0, 86400},
};
static const struct json_field action_fields[] = {
	{"action", JSON_STRING, true, 1, 32},
	{"from", JSON_STRING, true, 1, 16},
	{"to", JSON_STRING, true, 1, 16},
	{"repeats", JSON_TRUE, false, 0, 0},
	{"params", JSON_OBJECT, false, 0, 0},
};
static const struct json_field object_fields[] = {
	{"object", JSON_STRING, true, 1, 4096},
};
static const struct json_field enable_fields[] = {
	{"enabled", JSON_TRUE, true, 0, 0},
};

/*
 * A webhook URL may carry a token (in its path or query): shown whole only
 * to who may define alarms there, else as scheme://host/… .
 */
static json_t *url_shown(const char *url)
{
	const char *sep = strstr(url, "://");
	size_t scheme = sep ? (size_t)(sep + 3 - url) : 0;
	const char *host = url + scheme;
	size_t n = strcspn(host, "/?#");
	const char *at = memchr(host, '@', n); /* user:password@ goes too */
	if (at) {
		n -= (size_t)(at + 1 - host);
		host = at + 1;
	}
	_cleanup_free_ char *shown = xasprintf("%.*s%.*s/…", (int)scheme, url, (int)n, host);
	return json_string(shown);
}

static json_t *alarm_json(const struct alarm_def *d, bool full)
{
	_cleanup_free_ char *id = xasprintf("alarm-%lld", (long long)d->id);
	json_t *cond = json_pack("{s:s}", "kind", d->condition_kind);
	if (d->metric) {
		json_object_set_new(cond, "metric", json_string(d->metric));
		json_object_set_new(cond, "comparison", json_string(d->comparison));
		if (d->has_yellow)
			json_object_set_new(cond, "yellow", json_real(d->yellow));
		if (d->has_red)
			json_object_set_new(cond, "red", json_real(d->red));
	}
	if (d->state_name) {
		json_object_set_new(cond, "state", json_string(d->state_name));
		if (d->yellow_state)
			json_object_set_new(cond, "yellow_state", json_string(d->yellow_state));
		if (d->red_state)
			json_object_set_new(cond, "red_state", json_string(d->red_state));
	}
	if (d->event_type) {
		json_object_set_new(cond, "event_type", json_string(d->event_type));
		json_object_set_new(cond, "event_status",
				    json_string(alarm_status_name(d->event_status)));
	}
	json_object_set_new(cond, "duration_s", json_integer(d->duration_ms / 1000));
	json_t *actions = json_array();
	for (size_t i = 0; i < d->n_actions; i++) {
		const struct alarm_action *a = &d->actions[i];
		json_error_t jerr;
		json_t *params = json_loads(a->params ? a->params : "{}", 0, &jerr);
		const char *url = json_get_string(params, "url", NULL);
		if (url && !full)
			json_object_set_new(params, "url", url_shown(url));
		json_array_append_new(actions,
				      json_pack("{s:s, s:s, s:s, s:b, s:o}", "action", a->action,
						"from", alarm_status_name(a->from), "to",
						alarm_status_name(a->to), "repeats", a->repeats,
						"params", params ? params : json_object()));
	}
	return json_pack("{s:s, s:I, s:s, s:s, s:s, s:b, s:o, s:I, s:o}", "id", id, "object_id",
			 (json_int_t)d->object_id, "name", d->name, "description",
			 d->description ? d->description : "", "target_kind", d->target_kind,
			 "enabled", d->enabled, "condition", cond, "repeat_interval_s",
			 (json_int_t)(d->repeat_interval_ms / 1000), "actions", actions);
}

static bool status_of(struct api_request *req, const char *what, const char *s,
		      enum alarm_status *out)
{
	if (alarm_status_parse(s, out) < 0) {
		api_respond_error(req, 400, "%s \"%s\": expected green, yellow or red", what, s);
		return false;
	}
	return true;
}

static void alarms_create(struct api_request *req, void *opaque)
{
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *cond = json_object_get(body, "condition");
	if (json_check_object(body, alarm_fields, ARRAY_SIZE(alarm_fields), "alarm", &err) < 0 ||
	    json_check_object(cond, condition_fields, ARRAY_SIZE(condition_fields),
			      "alarm condition", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	json_t *acts = json_object_get(body, "actions");
	size_t n = json_array_size(acts), i;
	if (n > 32) {
		api_respond_error(req, 400, "an alarm has at most 32 actions, not %zu", n);
		return;
	}
	struct alarm_action_spec *as = xcalloc(n + 1, sizeof(*as));
	char **params = xcalloc(n + 1, sizeof(*params));
	json_t *a;
	bool ok = true;
	json_array_foreach(acts, i, a) {
		if (json_check_object(a, action_fields, ARRAY_SIZE(action_fields), "alarm action",
				      &err) < 0) {
			api_respond_vr_error(req, err);
			ok = false;
			break;
		}
		as[i].action = json_get_string(a, "action", "");
		as[i].repeats = json_is_true(json_object_get(a, "repeats"));
		if (json_object_get(a, "params"))
			params[i] = json_dumps(json_object_get(a, "params"), JSON_COMPACT);
		as[i].params = params[i];
		if (!status_of(req, "from", json_get_string(a, "from", ""), &as[i].from) ||
		    !status_of(req, "to", json_get_string(a, "to", ""), &as[i].to)) {
			ok = false;
			break;
		}
	}
	enum alarm_status ev_status = ALARM_RED;
	if (ok && json_object_get(cond, "event_status"))
		ok = status_of(req, "event_status", json_get_string(cond, "event_status", ""),
			       &ev_status);
	struct creq x = {0};
	struct inv_object o = {0};
	if (!ok || !creq_begin(&x, req, opaque))
		goto free_actions;
	if (!creq_object(&x, json_get_string(body, "object", ""), &o) ||
	    !creq_allow(&x, &o, "Alarm.Create"))
		goto out;
	/* An alarm that powers VMs off is a way to power them off: it needs the same right. */
	for (size_t k = 0; k < n; k++) {
		const char *privilege = alarm_action_privilege(as[k].action);
		if (privilege && !creq_allow(&x, &o, privilege))
			goto out;
	}
	json_t *yellow = json_object_get(cond, "yellow"), *red = json_object_get(cond, "red");
	struct alarm_spec spec = {
		.object_id = o.id,
		.name = json_get_string(body, "name", ""),
		.description = json_get_string(body, "description", NULL),
		.target_kind = json_get_string(body, "target_kind", ""),
		.enabled = !json_is_false(json_object_get(body, "enabled")),
		.condition_kind = json_get_string(cond, "kind", ""),
		.metric = json_get_string(cond, "metric", NULL),
		.comparison = json_get_string(cond, "comparison", NULL),
		.has_yellow = yellow != NULL,
		.has_red = red != NULL,
		.yellow = json_number_value(yellow),
		.red = json_number_value(red),
		.state_name = json_get_string(cond, "state", NULL),
		.yellow_state = json_get_string(cond, "yellow_state", NULL),
		.red_state = json_get_string(cond, "red_state", NULL),
		.event_type = json_get_string(cond, "event_type", NULL),
		.event_status = json_get_string(cond, "event_type", NULL) ? ev_status : ALARM_GREEN,
		.duration_ms = json_get_int(cond, "duration_s", 0) * 1000,
		.repeat_interval_ms = json_get_int(body, "repeat_interval_s", 0) * 1000,
		.actions = as,
		.n_actions = n,
	};
	int64_t id;
	struct alarm_def d = {0};
	if (alarm_define(x.db, &spec, center_now_ms(), &id, &err) < 0 ||
	    alarm_get(x.db, id, &d, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_post_event(x.c, x.db, "AlarmCreatedEvent", "info", o.id, o.name, x.user, 0,
			  "alarm \"%s\" defined on \"%s\" by %s", d.name, o.name, x.user);
	api_respond_json(req, 201, alarm_json(&d, true));
	alarm_def_clear(&d);
out:
	inv_object_clear(&o);
	creq_end(&x);
free_actions:
	for (size_t k = 0; k < n; k++)
		free(params[k]);
	free(params);
	free(as);
}

static void alarms_list(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	const char *ref = api_request_query(req, "object");
	if (!creq_object(&x, ref ? ref : "/", &o))
		goto out;
	const char *inh = api_request_query(req, "inherited");
	struct alarm_def_list l = {0};
	if (alarm_list(x.db, o.id, inh && strcmp(inh, "true") == 0, &l, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	json_t *a = json_array();
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(
			a, alarm_json(&l.items[i],
				      creq_can(&x, l.items[i].object_id, "Alarm.Create") > 0));
	alarm_def_list_clear(&l);
	api_respond_json(req, 200, json_pack("{s:o}", "alarms", a));
out:
	inv_object_clear(&o);
	creq_end(&x);
}

/* {id}: "alarm-N" or N; the definition and the object it is set on (readable by the user). */
static bool load_alarm(struct creq *x, struct alarm_def *d, struct inv_object *on)
{
	const char *s = api_request_param(x->req, "id");
	const char *num = str_has_prefix(s, "alarm-") ? s + 6 : s;
	uint64_t v;
	_cleanup_error_ struct vr_error *err = NULL;
	if (parse_u64(num, 1, INT64_MAX, &v) < 0) {
		api_respond_error(x->req, 400, "\"%s\" is not an alarm id (like alarm-3)", s);
		return false;
	}
	int r = alarm_get(x->db, (int64_t)v, d, &err);
	if (r == -ENOENT) {
		api_respond_error(x->req, 404, "no alarm \"%s\"", s);
		return false;
	}
	if (r < 0) {
		creq_fail(x, err);
		return false;
	}
	_cleanup_free_ char *num_ref = xasprintf("%lld", (long long)d->object_id);
	if (!creq_object(x, num_ref, on)) {
		alarm_def_clear(d);
		return false;
	}
	return true;
}

static void alarms_get(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct alarm_def d = {0};
	struct inv_object on = {0};
	if (load_alarm(&x, &d, &on))
		api_respond_json(req, 200, alarm_json(&d, creq_can(&x, on.id, "Alarm.Create") > 0));
	alarm_def_clear(&d);
	inv_object_clear(&on);
	creq_end(&x);
}

static void alarms_delete(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct alarm_def d = {0};
	struct inv_object on = {0};
	if (load_alarm(&x, &d, &on) && creq_allow(&x, &on, "Alarm.Delete")) {
		if (alarm_delete(x.db, d.id, &err) < 0) {
			creq_fail(&x, err);
		} else {
			center_post_event(x.c, x.db, "AlarmRemovedEvent", "info", on.id, on.name,
					  x.user, 0, "alarm \"%s\" deleted by %s", d.name, x.user);
			api_respond_no_content(req);
		}
	}
	alarm_def_clear(&d);
	inv_object_clear(&on);
	creq_end(&x);
}

static void alarms_patch(struct api_request *req, void *opaque)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *body = api_request_body_json(req);
	if (json_check_object(body, enable_fields, ARRAY_SIZE(enable_fields), "alarm change",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct alarm_def d = {0}, now = {0};
	struct inv_object on = {0};
	bool ok = load_alarm(&x, &d, &on) && creq_allow(&x, &on, "Alarm.Edit");
	bool enabled = json_is_true(json_object_get(body, "enabled"));
	/* Who turns a VM-powering alarm on needs the power right, as who defines one. */
	for (size_t k = 0; ok && enabled && !d.enabled && k < d.n_actions; k++) {
		const char *privilege = alarm_action_privilege(d.actions[k].action);
		if (privilege && !creq_allow(&x, &on, privilege))
			ok = false;
	}
	if (ok) {
		if (alarm_set_enabled(x.db, d.id, enabled, center_now_ms(), &err) < 0 ||
		    alarm_get(x.db, d.id, &now, &err) < 0)
			creq_fail(&x, err);
		else
			api_respond_json(req, 200,
					 alarm_json(&now, creq_can(&x, on.id, "Alarm.Create") > 0));
	}
	alarm_def_clear(&d);
	alarm_def_clear(&now);
	inv_object_clear(&on);
	creq_end(&x);
}

static void alarm_status_change(struct api_request *req, void *opaque, bool ack)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *body = api_request_body_json(req);
	if (json_check_object(body, object_fields, ARRAY_SIZE(object_fields), "alarm request",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	struct alarm_def d = {0};
	struct inv_object on = {0}, target = {0};
	if (!load_alarm(&x, &d, &on) ||
	    !creq_object(&x, json_get_string(body, "object", ""), &target) ||
	    !creq_allow(&x, &target, ack ? "Alarm.Acknowledge" : "Alarm.SetStatus"))
		goto out;
	int r = ack ? alarm_acknowledge(x.db, d.id, target.id, x.user, center_now_ms(), &err)
		    : alarm_clear(x.db, d.id, target.id, x.user, center_now_ms(), &err);
	if (r < 0) {
		creq_fail(&x, err);
		goto out;
	}
	center_post_event(x.c, x.db, ack ? "AlarmAcknowledgedEvent" : "AlarmClearedEvent", "info",
			  target.id, target.name, x.user, 0, "alarm \"%s\" on \"%s\" %s by %s",
			  d.name, target.name, ack ? "acknowledged" : "cleared", x.user);
	api_respond_no_content(req);
out:
	alarm_def_clear(&d);
	inv_object_clear(&on);
	inv_object_clear(&target);
	creq_end(&x);
}

static void alarms_ack(struct api_request *req, void *opaque)
{
	alarm_status_change(req, opaque, true);
}

static void alarms_clear(struct api_request *req, void *opaque)
{
	alarm_status_change(req, opaque, false);
}

static void alarms_triggered(struct api_request *req, void *opaque)
{
	struct creq x;
	if (!creq_begin(&x, req, opaque))
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	const char *ref = api_request_query(req, "object");
	if (!creq_object(&x, ref ? ref : "/", &o))
		goto out;
	struct alarm_state_list l = {0};
	if (alarm_states_list(x.db, o.id == x.c->root_id ? 0 : o.id, &l, &err) < 0) {
		creq_fail(&x, err);
		goto out;
	}
	json_t *a = json_array();
	int can = 1;
	for (size_t i = 0; i < l.n && can >= 0; i++) {
		const struct alarm_state_row *s = &l.items[i];
		can = creq_can(&x, s->object_id, "System.Read");
		if (can <= 0)
			continue;
		_cleanup_free_ char *aid = xasprintf("alarm-%lld", (long long)s->alarm_id);
		struct inv_object obj = {0};
		if (inventory_get(x.db, s->object_id, &obj, NULL) < 0) {
			inv_object_clear(&obj);
			continue;
		}
		_cleanup_free_ char *oref = moref_of(obj.kind, obj.id);
		inv_object_clear(&obj);
		json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s, s:s}", "alarm", aid,
				      "alarm_name", s->alarm_name, "object", oref, "object_id",
				      (json_int_t)s->object_id,
				      "object_name", s->object_name ? s->object_name : "", "status",
				      alarm_status_name(s->status), "state", s->state);
		if (s->value)
			json_object_set_new(j, "value", json_string(s->value));
		char t[32];
		if (s->triggered_ms) {
			time_format_iso((uint64_t)s->triggered_ms, t);
			json_object_set_new(j, "triggered", json_string(t));
		}
		if (s->acknowledged_by) {
			time_format_iso((uint64_t)s->acknowledged_ms, t);
			json_object_set_new(j, "acknowledged", json_string(t));
			json_object_set_new(j, "acknowledged_by", json_string(s->acknowledged_by));
		}
		json_array_append_new(a, j);
	}
	alarm_state_list_clear(&l);
	if (can >= 0)
		api_respond_json(req, 200, json_pack("{s:o}", "triggered", a));
	else
		json_decref(a);
out:
	inv_object_clear(&o);
	creq_end(&x);
}

void capi_monitoring_register(struct api_server *srv, struct center *c)
{
	api_server_add_route(srv, "GET", "/api/v1/perf", perf_get, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/perf/counters", perf_counters, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/alarms", alarms_list, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/alarms", alarms_create, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/alarms/triggered", alarms_triggered, c, 0);
	api_server_add_route(srv, "GET", "/api/v1/alarms/{id}", alarms_get, c, 0);
	api_server_add_route(srv, "DELETE", "/api/v1/alarms/{id}", alarms_delete, c, 0);
	api_server_add_route(srv, "PATCH", "/api/v1/alarms/{id}", alarms_patch, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/alarms/{id}/acknowledge", alarms_ack, c, 0);
	api_server_add_route(srv, "POST", "/api/v1/alarms/{id}/clear", alarms_clear, c, 0);
}
