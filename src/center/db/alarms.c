/* SPDX-License-Identifier: Apache-2.0 */
/* Alarms on the database (rules in alarms.h, tables in schema.c). */
#include "center/db/alarms.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "center/db/db.h"
#include "center/db/inventory.h"
#include "common/error.h"
#include "common/util.h"

#define NAME_MAX_CHARS 255

static const char *const status_names[] = {
	[ALARM_GREEN] = "green",
	[ALARM_YELLOW] = "yellow",
	[ALARM_RED] = "red",
};

static const char *const comparisons[] = {">", ">=", "<", "<=", "=", "<>"};

enum param_rule {
	PARAMS_NONE, /* {} */
	PARAMS_URL,  /* {"url": "http(s)://host..."} */
	PARAMS_LOG,  /* {} or {"level": "info"|"warning"|"error"} */
};

/*
 * The actions vireo-center runs (center/notify.c), the kind of object they
 * act on, their parameters and the privilege that defining one needs on
 * the object where the alarm is set, besides Alarm.Create (NULL: none).
 * The VM operations need what the same operation through the API needs
 * (center/api/vms.c).
 */
static const struct {
	const char *name;
	enum inv_kind target; /* INV_KIND__COUNT: any */
	enum param_rule params;
	const char *privilege;
} action_kinds[] = {
	{"log", INV_KIND__COUNT, PARAMS_LOG, NULL},
	{"webhook", INV_KIND__COUNT, PARAMS_URL, NULL},
	{"vm_power_off", INV_KIND_VM, PARAMS_NONE, "VirtualMachine.Interact.PowerOff"},
	{"vm_suspend", INV_KIND_VM, PARAMS_NONE, "VirtualMachine.Interact.Suspend"},
	{"vm_reset", INV_KIND_VM, PARAMS_NONE, "VirtualMachine.Interact.Reset"},
	{"vm_shutdown_guest", INV_KIND_VM, PARAMS_NONE, "VirtualMachine.Interact.PowerOff"},
	{"vm_reboot_guest", INV_KIND_VM, PARAMS_NONE, "VirtualMachine.Interact.Reset"},
};
/* For messages; the same names as above. */
#define ACTIONS_RUN \
	"log, webhook, vm_power_off, vm_suspend, vm_reset, vm_shutdown_guest, vm_reboot_guest"

/*
 * Actions that vCenter has and the schema still allows (definitions made
 * before they were refused may hold them), but that vireo-center does
 * not run: defining one is refused, and firing a stored one posts that it
 * was not run.
 */
static const char *const actions_not_run[] = {
	"email", "snmp", "script", "vm_migrate", "host_enter_maintenance", "host_exit_maintenance",
	"host_reboot",
};

static const char *const log_levels[] = {"info", "warning", "error"};

/* The values of alarm_state.state. */
static const char STATE_TRIGGERED[] = "triggered";
static const char STATE_ACKNOWLEDGED[] = "acknowledged";
static const char STATE_CLEARED[] = "cleared";

/*
 * The object, and for a VM or template its host and resource pool, then
 * their parents up to the root folder: where definitions that apply to
 * the object ($1) can be set.  The object alone is at depth 0.
 */
#define UP_CTE                                                                          \
	"WITH RECURSIVE up (id, parent_id, depth) AS ("                                 \
	" SELECT a.id, a.parent_id, CASE WHEN a.id = me.id THEN 0 ELSE 1 END"          \
	" FROM inventory_object me JOIN inventory_object a"                            \
	"  ON a.id IN (me.id, me.host_id, me.pool_id) WHERE me.id = $1"                \
	" UNION ALL"                                                                    \
	" SELECT o.id, o.parent_id, up.depth + 1 FROM inventory_object o"              \
	"  JOIN up ON o.id = up.parent_id WHERE up.depth < 1000)"

#define DEF_COLUMNS                                                                         \
	"d.id, d.object_id, d.name, d.description, d.target_kind, d.enabled, d.condition_kind," \
	" d.metric, d.comparison, d.yellow_threshold, d.red_threshold, d.state_name,"          \
	" d.yellow_state, d.red_state, d.event_type, d.event_status, d.duration_ms,"           \
	" d.repeat_interval_ms, d.created_ms, d.modified_ms"

const char *alarm_status_name(enum alarm_status s)
{
	return (unsigned)s < ARRAY_SIZE(status_names) ? status_names[s] : "unknown";
}

int alarm_status_parse(const char *s, enum alarm_status *out)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(status_names); i++)
		if (strcmp(s, status_names[i]) == 0) {
			*out = (enum alarm_status)i;
			return 0;
		}
	return -EINVAL;
}

static enum alarm_status status_or_green(const char *s)
{
	enum alarm_status st = ALARM_GREEN;
	alarm_status_parse(s, &st);
	return st;
}

static char *text_dup(struct db_stmt *st, int col)
{
	return db_column_is_null(st, col) ? NULL : xstrdup(db_column_text(st, col));
}

static char *text_or(struct db_stmt *st, int col, const char *fallback)
{
	const char *s = db_column_text(st, col);
	return xstrdup(s ? s : fallback);
}

/* ---- lists ---- */

static void action_clear(struct alarm_action *a)
{
	free(a->action);
	free(a->params);
	*a = (struct alarm_action){0};
}

void alarm_def_clear(struct alarm_def *d)
{
	if (!d)
		return;
	free(d->name);
	free(d->description);
	free(d->target_kind);
	free(d->condition_kind);
	free(d->metric);
	free(d->comparison);
	free(d->state_name);
	free(d->yellow_state);
	free(d->red_state);
	free(d->event_type);
	for (size_t i = 0; i < d->n_actions; i++)
		action_clear(&d->actions[i]);
	free(d->actions);
	*d = (struct alarm_def){0};
}

void alarm_def_list_clear(struct alarm_def_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		alarm_def_clear(&l->items[i]);
	free(l->items);
	*l = (struct alarm_def_list){0};
}

static void fire_clear(struct alarm_fire *f)
{
	free(f->alarm_name);
	free(f->value);
	free(f->action);
	free(f->params);
	*f = (struct alarm_fire){0};
}

void alarm_fire_list_clear(struct alarm_fire_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		fire_clear(&l->items[i]);
	free(l->items);
	*l = (struct alarm_fire_list){0};
}

static struct alarm_fire *fire_push(struct alarm_fire_list *l)
{
	l->items = xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
	struct alarm_fire *f = &l->items[l->n++];
	*f = (struct alarm_fire){0};
	return f;
}

/* Moves the items of from to the end of to. */
static void fire_list_append(struct alarm_fire_list *to, struct alarm_fire_list *from)
{
	if (from->n == 0)
		return;
	to->items = xrealloc(to->items, (to->n + from->n) * sizeof(*to->items));
	memcpy(&to->items[to->n], from->items, from->n * sizeof(*from->items));
	to->n += from->n;
	free(from->items);
	*from = (struct alarm_fire_list){0};
}

static void state_row_clear(struct alarm_state_row *s)
{
	free(s->alarm_name);
	free(s->object_name);
	free(s->state);
	free(s->value);
	free(s->acknowledged_by);
	*s = (struct alarm_state_row){0};
}

void alarm_state_list_clear(struct alarm_state_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		state_row_clear(&l->items[i]);
	free(l->items);
	*l = (struct alarm_state_list){0};
}

/* ---- validation ---- */

static bool comparison_valid(const char *c)
{
	for (size_t i = 0; c && i < ARRAY_SIZE(comparisons); i++)
		if (strcmp(c, comparisons[i]) == 0)
			return true;
	return false;
}

static bool compare(const char *cmp, double v, double threshold)
{
	if (strcmp(cmp, ">") == 0)
		return v > threshold;
	if (strcmp(cmp, ">=") == 0)
		return v >= threshold;
	if (strcmp(cmp, "<") == 0)
		return v < threshold;
	if (strcmp(cmp, "<=") == 0)
		return v <= threshold;
	if (strcmp(cmp, "=") == 0)
		return v == threshold;
	return v != threshold; /* "<>" */
}

static bool set(const char *s)
{
	return s && *s;
}

/* Whether an object of kind child can be at or below an object of kind parent. */
static bool kind_reachable(enum inv_kind parent, enum inv_kind child)
{
	unsigned seen = 1u << parent, todo = seen;
	while (todo) {
		enum inv_kind p = (enum inv_kind)__builtin_ctz(todo);
		todo &= todo - 1;
		for (int c = 0; c < INV_KIND__COUNT; c++) {
			bool edge = inv_kind_allowed(p, (enum inv_kind)c);
			/* A datacenter's system folders; VMs placed on hosts and pools. */
			if (p == INV_KIND_DATACENTER)
				edge |= c == INV_KIND_VM_FOLDER || c == INV_KIND_HOST_FOLDER ||
					c == INV_KIND_DATASTORE_FOLDER ||
					c == INV_KIND_NETWORK_FOLDER;
			if (p == INV_KIND_HOST || p == INV_KIND_RESOURCE_POOL)
				edge |= c == INV_KIND_VM || c == INV_KIND_TEMPLATE;
			if (edge && !(seen & (1u << c))) {
				seen |= 1u << c;
				todo |= 1u << c;
			}
		}
	}
	return seen & (1u << child);
}

static int check_name(const char *name, struct vr_error **err)
{
	if (!set(name))
		return vr_error_set(err, EINVAL, "cannot define an alarm without a name");
	if (!utf8_valid(name))
		return vr_error_set(err, EINVAL, "cannot define an alarm: name is not valid UTF-8");
	size_t chars = 0;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return vr_error_set(err, EINVAL, "cannot define an alarm: name contains a "
					    "control character (0x%02x)", *p);
		if ((*p & 0xc0) != 0x80)
			chars++;
	}
	if (chars > NAME_MAX_CHARS)
		return vr_error_set(err, EINVAL, "cannot define an alarm: name is %zu characters "
				    "long; at most %d", chars, NAME_MAX_CHARS);
	return 0;
}

/*
 * The checks below leave messages that alarm_define() heads with the
 * alarm's name.  A field of another condition kind is refused rather
 * than ignored: it says the caller meant something else.
 */
static int refuse_field(bool is_set, const char *what, const char *kind, struct vr_error **err)
{
	if (!is_set)
		return 0;
	return vr_error_set(err, EINVAL, "a %s alarm has no %s", kind, what);
}

static int check_metric(const struct alarm_spec *s, struct vr_error **err)
{
	if (!set(s->metric))
		return vr_error_set(err, EINVAL, "a metric alarm needs a metric");
	if (!comparison_valid(s->comparison))
		return vr_error_set(err, EINVAL, "comparison \"%s\" is not one of >, >=, <, <=, =, <>",
				    s->comparison ? s->comparison : "(none)");
	if (!s->has_yellow && !s->has_red)
		return vr_error_set(err, EINVAL, "a metric alarm needs a yellow or a red threshold");
	if ((s->has_yellow && !isfinite(s->yellow)) || (s->has_red && !isfinite(s->red)))
		return vr_error_set(err, EINVAL, "thresholds must be finite numbers");
	if (!s->has_yellow || !s->has_red)
		return 0;
	const char *c = s->comparison;
	if (c[0] == '>' && !(s->yellow < s->red))
		return vr_error_set(err, EINVAL, "yellow threshold %g must be below red threshold %g "
				    "for comparison '%s'", s->yellow, s->red, c);
	if (strcmp(c, "<") == 0 || strcmp(c, "<=") == 0) {
		if (!(s->yellow > s->red))
			return vr_error_set(err, EINVAL, "yellow threshold %g must be above red "
					    "threshold %g for comparison '%s'", s->yellow, s->red, c);
	}
	if (strcmp(c, "=") == 0 && s->yellow == s->red)
		return vr_error_set(err, EINVAL, "yellow and red thresholds are both %g", s->red);
	if (strcmp(c, "<>") == 0)
		return vr_error_set(err, EINVAL, "comparison '<>' takes one threshold, yellow or "
				    "red, not both");
	return 0;
}

static int check_state(const struct alarm_spec *s, struct vr_error **err)
{
	if (!set(s->state_name))
		return vr_error_set(err, EINVAL, "a state alarm needs a state name");
	if ((s->yellow_state && !*s->yellow_state) || (s->red_state && !*s->red_state))
		return vr_error_set(err, EINVAL, "a yellow or red state cannot be empty (leave it "
				    "unset)");
	if (!s->yellow_state && !s->red_state)
		return vr_error_set(err, EINVAL, "a state alarm needs a yellow or a red state");
	if (s->yellow_state && s->red_state && strcmp(s->yellow_state, s->red_state) == 0)
		return vr_error_set(err, EINVAL, "\"%s\" is both the yellow and the red state",
				    s->red_state);
	return 0;
}

static int check_condition(const struct alarm_spec *s, struct vr_error **err)
{
	const char *kind = s->condition_kind;
	bool metric = strcmp(kind, "metric") == 0;
	bool state = strcmp(kind, "state") == 0;
	bool event = strcmp(kind, "event") == 0;
	int r = refuse_field(!metric && s->metric, "metric", kind, err);
	if (r == 0)
		r = refuse_field(!metric && s->comparison, "comparison", kind, err);
	if (r == 0)
		r = refuse_field(!metric && (s->has_yellow || s->has_red), "thresholds", kind, err);
	if (r == 0)
		r = refuse_field(!state && (s->state_name || s->yellow_state || s->red_state),
				 "state names", kind, err);
	if (r == 0)
		r = refuse_field(!event && s->event_type, "event type", kind, err);
	if (r == 0)
		r = refuse_field(!event && s->event_status != ALARM_GREEN, "event status", kind,
				 err);
	if (r < 0)
		return r;
	if (metric)
		return check_metric(s, err);
	if (state)
		return check_state(s, err);
	if (!set(s->event_type))
		return vr_error_set(err, EINVAL, "an event alarm needs an event type");
	if (s->event_status != ALARM_YELLOW && s->event_status != ALARM_RED)
		return vr_error_set(err, EINVAL, "an event alarm sets yellow or red, not %s",
				    alarm_status_name(s->event_status));
	if (s->duration_ms != 0)
		return vr_error_set(err, EINVAL, "an event alarm has no duration (an event happens "
				    "at once)");
	return 0;
}

/* Refuses any parameter but the one named. */
static int check_only_key(const struct alarm_action_spec *a, size_t i, json_t *params,
			  const char *allowed, struct vr_error **err)
{
	const char *key;
	json_t *v;
	json_object_foreach(params, key, v) {
		if (strcmp(key, allowed) != 0)
			return vr_error_set(err, EINVAL, "action %zu (%s): unknown parameter "
					    "\"%s\" (it takes only \"%s\")", i + 1, a->action, key,
					    allowed);
	}
	return 0;
}

/* A log action's params: nothing but an optional "level". */
static int check_log_params(const struct alarm_action_spec *a, size_t i, json_t *params,
			    struct vr_error **err)
{
	int r = check_only_key(a, i, params, "level", err);
	json_t *v = json_object_get(params, "level");
	if (r < 0 || !v)
		return r;
	const char *level = json_string_value(v);
	if (!level)
		return vr_error_set(err, EINVAL, "action %zu (%s): level must be a "
				    "string: info, warning or error", i + 1, a->action);
	bool known = false;
	for (size_t l = 0; l < ARRAY_SIZE(log_levels); l++)
		known = known || strcmp(level, log_levels[l]) == 0;
	if (!known)
		return vr_error_set(err, EINVAL, "action %zu (%s): level \"%s\" is not "
				    "one of info, warning, error", i + 1, a->action, level);
	return 0;
}

/* The parameter a rule requires, checked in the JSON object. */
static int check_params_rule(const struct alarm_action_spec *a, size_t i, enum param_rule rule,
			     json_t *params, struct vr_error **err)
{
	if (rule == PARAMS_NONE && json_object_size(params) > 0)
		return vr_error_set(err, EINVAL, "action %zu (%s) takes no params", i + 1,
				    a->action);
	if (rule == PARAMS_NONE)
		return 0;
	if (rule == PARAMS_LOG)
		return check_log_params(a, i, params, err);
	if (check_only_key(a, i, params, "url", err) < 0)
		return -EINVAL;
	const char *v = json_string_value(json_object_get(params, "url"));
	const char *rest = NULL;
	if (v && strncmp(v, "http://", 7) == 0)
		rest = v + 7;
	else if (v && strncmp(v, "https://", 8) == 0)
		rest = v + 8;
	bool ok = rest && *rest && *rest != '/';
	for (const char *p = rest; ok && *p; p++)
		ok = (unsigned char)*p > 0x20 && *p != 0x7f;
	if (ok)
		return 0;
	return vr_error_set(err, EINVAL, "action %zu (%s) needs params {\"url\": ...}, an http:// "
			    "or https:// address with a host", i + 1, a->action);
}

/* The index in action_kinds, or -1. */
static int action_kind_find(const char *action)
{
	for (size_t k = 0; action && k < ARRAY_SIZE(action_kinds); k++)
		if (strcmp(action, action_kinds[k].name) == 0)
			return (int)k;
	return -1;
}

const char *alarm_action_privilege(const char *action)
{
	int k = action_kind_find(action);
	return k < 0 ? NULL : action_kinds[k].privilege;
}

bool alarm_action_not_run(const char *action)
{
	for (size_t k = 0; action && k < ARRAY_SIZE(actions_not_run); k++)
		if (strcmp(action, actions_not_run[k]) == 0)
			return true;
	return false;
}

const char *alarm_log_level(const char *params, enum alarm_status to)
{
	json_error_t jerr;
	json_t *p = json_loads(params ? params : "{}", 0, &jerr);
	const char *level = json_string_value(json_object_get(p, "level"));
	const char *out = to == ALARM_RED ? "warning" : "info";
	for (size_t l = 0; level && l < ARRAY_SIZE(log_levels); l++)
		if (strcmp(level, log_levels[l]) == 0)
			out = log_levels[l];
	json_decref(p);
	return out;
}

static int check_action(const struct alarm_spec *s, size_t i, enum inv_kind target,
			struct vr_error **err)
{
	const struct alarm_action_spec *a = &s->actions[i];
	if (alarm_action_not_run(a->action))
		return vr_error_set(err, EINVAL, "action %zu (%s): vireo-center does not run %s "
				    "actions; it runs " ACTIONS_RUN, i + 1, a->action, a->action);
	int found = action_kind_find(a->action);
	if (found < 0)
		return vr_error_set(err, EINVAL, "action %zu: \"%s\" is not an alarm action "
				    "(they are " ACTIONS_RUN ")", i + 1,
				    a->action ? a->action : "(none)");
	size_t k = (size_t)found;
	if (action_kinds[k].target != INV_KIND__COUNT && action_kinds[k].target != target)
		return vr_error_set(err, EINVAL, "action %zu (%s) acts on a %s, but the alarm is "
				    "about %ss", i + 1, a->action,
				    inv_kind_name(action_kinds[k].target), inv_kind_name(target));
	if ((unsigned)a->from > ALARM_RED || (unsigned)a->to > ALARM_RED)
		return vr_error_set(err, EINVAL, "action %zu (%s) has an unknown status", i + 1,
				    a->action);
	if (a->from == a->to)
		return vr_error_set(err, EINVAL, "action %zu (%s) fires on a change of status, not "
				    "from %s to %s", i + 1, a->action, alarm_status_name(a->from),
				    alarm_status_name(a->to));
	if (a->repeats && s->repeat_interval_ms <= 0)
		return vr_error_set(err, EINVAL, "action %zu (%s) repeats but the alarm has no "
				    "repeat interval", i + 1, a->action);
	if (a->repeats && a->to == ALARM_GREEN)
		return vr_error_set(err, EINVAL, "action %zu (%s) cannot repeat while green", i + 1,
				    a->action);
	json_error_t jerr;
	json_t *params = json_loads(a->params ? a->params : "{}", JSON_REJECT_DUPLICATES, &jerr);
	int r = 0;
	if (!params)
		r = vr_error_set(err, EINVAL, "action %zu (%s): params are not valid JSON: %s",
				 i + 1, a->action, jerr.text);
	else if (!json_is_object(params))
		r = vr_error_set(err, EINVAL, "action %zu (%s): params must be a JSON object", i + 1,
				 a->action);
	else
		r = check_params_rule(a, i, action_kinds[k].params, params, err);
	json_decref(params);
	return r;
}

static int check_spec(const struct alarm_spec *s, enum inv_kind *target, struct vr_error **err)
{
	if (inv_kind_parse(s->target_kind, target) < 0)
		return vr_error_set(err, EINVAL, "target kind \"%s\" is not an inventory kind",
				    s->target_kind ? s->target_kind : "(none)");
	const char *c = s->condition_kind;
	if (!c || (strcmp(c, "metric") != 0 && strcmp(c, "state") != 0 && strcmp(c, "event") != 0))
		return vr_error_set(err, EINVAL, "condition kind \"%s\" is not one of metric, state, "
				    "event", c ? c : "(none)");
	if (s->duration_ms < 0 || s->repeat_interval_ms < 0)
		return vr_error_set(err, EINVAL, "duration and repeat interval cannot be negative");
	if (s->n_actions && !s->actions)
		return vr_error_set(err, EINVAL, "%zu actions announced but none given", s->n_actions);
	int r = check_condition(s, err);
	for (size_t i = 0; r == 0 && i < s->n_actions; i++)
		r = check_action(s, i, *target, err);
	return r;
}

/* ---- define, read, delete, enable ---- */

struct define_args {
	const struct alarm_spec *spec;
	enum inv_kind target;
	int64_t now_ms, id;
};

static void bind_text_or_null(struct db_stmt *st, int idx, const char *s)
{
	db_bind_text(st, idx, set(s) ? s : NULL);
}

static int insert_definition(struct db *db, struct define_args *args, struct vr_error **err)
{
	const struct alarm_spec *s = args->spec;
	bool metric = strcmp(s->condition_kind, "metric") == 0;
	bool event = strcmp(s->condition_kind, "event") == 0;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "insert alarm definition",
			   "INSERT INTO alarm_definition (object_id, name, description, target_kind,"
			   " enabled, condition_kind, metric, comparison, yellow_threshold,"
			   " red_threshold, state_name, yellow_state, red_state, event_type,"
			   " event_status, duration_ms, repeat_interval_ms, created_ms, modified_ms)"
			   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
			   " $15, $16, $17, $18, $18) RETURNING id",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, s->object_id);
	db_bind_text(st, 2, s->name);
	db_bind_text(st, 3, s->description ? s->description : "");
	db_bind_text(st, 4, s->target_kind);
	db_bind_bool(st, 5, s->enabled);
	db_bind_text(st, 6, s->condition_kind);
	bind_text_or_null(st, 7, s->metric);
	db_bind_text(st, 8, metric ? s->comparison : NULL);
	if (s->has_yellow)
		db_bind_double(st, 9, s->yellow);
	else
		db_bind_null(st, 9);
	if (s->has_red)
		db_bind_double(st, 10, s->red);
	else
		db_bind_null(st, 10);
	bind_text_or_null(st, 11, s->state_name);
	bind_text_or_null(st, 12, s->yellow_state);
	bind_text_or_null(st, 13, s->red_state);
	bind_text_or_null(st, 14, s->event_type);
	db_bind_text(st, 15, event ? alarm_status_name(s->event_status) : NULL);
	db_bind_int64(st, 16, s->duration_ms);
	db_bind_int64(st, 17, s->repeat_interval_ms);
	db_bind_int64(st, 18, args->now_ms);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, EIO, "insert alarm definition: no id returned");
	args->id = db_column_int64(st, 0);
	db_reset(st);
	return 0;
}

static int do_define(struct db *db, void *a, struct vr_error **err)
{
	struct define_args *args = a;
	const struct alarm_spec *s = args->spec;
	/* The object and the name, checked before writing: PostgreSQL's transaction stays usable. */
	_cleanup_stmt_ struct db_stmt *chk = NULL;
	int r = db_prepare(db, "check the object and name of a new alarm",
			   "SELECT kind, name, (SELECT id FROM alarm_definition"
			   " WHERE object_id = $1 AND name = $2)"
			   " FROM inventory_object WHERE id = $1",
			   &chk, err);
	if (r < 0)
		return r;
	db_bind_int64(chk, 1, s->object_id);
	db_bind_text(chk, 2, s->name);
	r = db_step(chk, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, ENOENT, "cannot define alarm \"%s\": inventory object %lld "
				    "does not exist", s->name, (long long)s->object_id);
	enum inv_kind kind = INV_KIND__COUNT;
	inv_kind_parse(db_column_text(chk, 0), &kind);
	_cleanup_free_ char *object_name = text_or(chk, 1, "");
	bool taken = !db_column_is_null(chk, 2);
	db_reset(chk);
	if (taken)
		return vr_error_set(err, EEXIST, "cannot define alarm \"%s\" on %s \"%s\": it has an "
				    "alarm of that name already", s->name, inv_kind_name(kind),
				    object_name);
	if (!kind_reachable(kind, args->target))
		return vr_error_set(err, EINVAL, "cannot define alarm \"%s\" on %s \"%s\": no %s can "
				    "be at or below a %s", s->name, inv_kind_name(kind), object_name,
				    inv_kind_name(args->target), inv_kind_name(kind));
	r = insert_definition(db, args, err);
	if (r < 0)
		return r;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	if (s->n_actions)
		r = db_prepare(db, "insert alarm action",
			       "INSERT INTO alarm_action (alarm_id, action, from_status, to_status,"
			       " repeats, params) VALUES ($1, $2, $3, $4, $5, $6)",
			       &st, err);
	for (size_t i = 0; r >= 0 && i < s->n_actions; i++) {
		const struct alarm_action_spec *act = &s->actions[i];
		db_bind_int64(st, 1, args->id);
		db_bind_text(st, 2, act->action);
		db_bind_text(st, 3, alarm_status_name(act->from));
		db_bind_text(st, 4, alarm_status_name(act->to));
		db_bind_bool(st, 5, act->repeats);
		db_bind_text(st, 6, act->params ? act->params : "{}");
		r = db_step(st, err);
	}
	return r < 0 ? r : 0;
}

int alarm_define(struct db *db, const struct alarm_spec *spec, int64_t now_ms, int64_t *id,
		 struct vr_error **err)
{
	struct define_args args = {.spec = spec, .now_ms = now_ms};
	int r = check_name(spec->name, err);
	if (r < 0)
		return r;
	r = check_spec(spec, &args.target, err);
	if (r < 0) {
		vr_error_wrap(err, "cannot define alarm \"%s\"", spec->name);
		return r;
	}
	r = db_in_level(db, do_define, &args, err);
	if (r == 0 && id)
		*id = args.id;
	return r;
}

static void read_def(struct db_stmt *st, struct alarm_def *d)
{
	*d = (struct alarm_def){0};
	d->id = db_column_int64(st, 0);
	d->object_id = db_column_int64(st, 1);
	d->name = text_or(st, 2, "");
	d->description = text_or(st, 3, "");
	d->target_kind = text_or(st, 4, "");
	d->enabled = db_column_bool(st, 5);
	d->condition_kind = text_or(st, 6, "");
	d->metric = text_dup(st, 7);
	d->comparison = text_dup(st, 8);
	d->has_yellow = !db_column_is_null(st, 9);
	d->yellow = db_column_double(st, 9);
	d->has_red = !db_column_is_null(st, 10);
	d->red = db_column_double(st, 10);
	d->state_name = text_dup(st, 11);
	d->yellow_state = text_dup(st, 12);
	d->red_state = text_dup(st, 13);
	d->event_type = text_dup(st, 14);
	d->event_status = status_or_green(db_column_text(st, 15));
	d->duration_ms = db_column_int64(st, 16);
	d->repeat_interval_ms = db_column_int64(st, 17);
	d->created_ms = db_column_int64(st, 18);
	d->modified_ms = db_column_int64(st, 19);
}

static int read_actions(struct db *db, struct alarm_def *defs, size_t n, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "list alarm actions",
			   "SELECT id, action, from_status, to_status, repeats, params"
			   " FROM alarm_action WHERE alarm_id = $1 ORDER BY id",
			   &st, err);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct alarm_def *d = &defs[i];
		size_t cap = 0;
		db_bind_int64(st, 1, d->id);
		while ((r = db_step(st, err)) > 0) {
			if (d->n_actions == cap) {
				cap = cap ? cap * 2 : 4;
				d->actions = xrealloc(d->actions, cap * sizeof(*d->actions));
			}
			struct alarm_action *a = &d->actions[d->n_actions++];
			a->id = db_column_int64(st, 0);
			a->action = text_or(st, 1, "");
			a->from = status_or_green(db_column_text(st, 2));
			a->to = status_or_green(db_column_text(st, 3));
			a->repeats = db_column_bool(st, 4);
			a->params = text_or(st, 5, "{}");
		}
		db_reset(st);
	}
	return r < 0 ? r : 0;
}

/* Runs a prepared and bound query of definitions into a list, with their actions. */
static int collect_defs(struct db *db, struct db_stmt *st, struct alarm_def_list *out,
			struct vr_error **err)
{
	struct alarm_def_list list = {0};
	size_t cap = 0;
	int r;
	while ((r = db_step(st, err)) > 0) {
		if (list.n == cap) {
			cap = cap ? cap * 2 : 8;
			list.items = xrealloc(list.items, cap * sizeof(*list.items));
		}
		read_def(st, &list.items[list.n++]);
	}
	db_reset(st);
	if (r == 0)
		r = read_actions(db, list.items, list.n, err);
	if (r < 0) {
		alarm_def_list_clear(&list);
		return r;
	}
	*out = list;
	return 0;
}

int alarm_get(struct db *db, int64_t id, struct alarm_def *out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read alarm definition",
			   "SELECT " DEF_COLUMNS " FROM alarm_definition d WHERE d.id = $1", &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	struct alarm_def_list list;
	r = collect_defs(db, st, &list, err);
	if (r < 0)
		return r;
	if (list.n == 0) {
		alarm_def_list_clear(&list);
		return vr_error_set(err, ENOENT, "no alarm definition with id %lld", (long long)id);
	}
	*out = list.items[0];
	free(list.items);
	return 0;
}

/* An object's kind and name; -ENOENT naming it if it does not exist. */
static int object_get(struct db *db, int64_t id, enum inv_kind *kind, char **name,
		      struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read the kind of an inventory object",
			   "SELECT kind, name FROM inventory_object WHERE id = $1", &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, ENOENT, "no inventory object with id %lld", (long long)id);
	if (kind && inv_kind_parse(db_column_text(st, 0), kind) < 0)
		*kind = INV_KIND__COUNT;
	if (name)
		*name = text_or(st, 1, "");
	return 0;
}

int alarm_list(struct db *db, int64_t object_id, bool inherited, struct alarm_def_list *out,
	       struct vr_error **err)
{
	int r = object_get(db, object_id, NULL, NULL, err);
	if (r < 0)
		return r;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "list alarm definitions",
		       UP_CTE " SELECT " DEF_COLUMNS " FROM alarm_definition d"
		       " JOIN (SELECT id, MIN(depth) AS depth FROM up GROUP BY id) u"
		       "  ON u.id = d.object_id"
		       " WHERE $2 OR u.depth = 0 ORDER BY u.depth, d.name, d.id",
		       &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, object_id);
	db_bind_bool(st, 2, inherited);
	return collect_defs(db, st, out, err);
}

int alarm_delete(struct db *db, int64_t id, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "delete alarm definition", "DELETE FROM alarm_definition WHERE id = $1",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (db_changes(st) == 0)
		return vr_error_set(err, ENOENT, "no alarm definition with id %lld", (long long)id);
	return 0;
}

struct enable_args {
	int64_t id;
	bool enabled;
	int64_t now_ms;
};

static int do_set_enabled(struct db *db, void *a, struct vr_error **err)
{
	const struct enable_args *args = a;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "enable or disable an alarm definition",
			   "UPDATE alarm_definition SET enabled = $2, modified_ms = $3 WHERE id = $1",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, args->id);
	db_bind_bool(st, 2, args->enabled);
	db_bind_int64(st, 3, args->now_ms);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (db_changes(st) == 0)
		return vr_error_set(err, ENOENT, "no alarm definition with id %lld",
				    (long long)args->id);
	if (args->enabled)
		return 0;
	_cleanup_stmt_ struct db_stmt *clr = NULL;
	r = db_prepare(db, "clear the states of a disabled alarm",
		       "UPDATE alarm_state SET status = 'green', state = 'cleared', cleared_ms = $2,"
		       " condition_since_ms = NULL, red_since_ms = NULL WHERE alarm_id = $1"
		       " AND (status <> 'green' OR condition_since_ms IS NOT NULL"
		       "  OR red_since_ms IS NOT NULL)",
		       &clr, err);
	if (r < 0)
		return r;
	db_bind_int64(clr, 1, args->id);
	db_bind_int64(clr, 2, args->now_ms);
	r = db_step(clr, err);
	return r < 0 ? r : 0;
}

int alarm_set_enabled(struct db *db, int64_t id, bool enabled, int64_t now_ms,
		      struct vr_error **err)
{
	struct enable_args args = {id, enabled, now_ms};
	return db_in_level(db, do_set_enabled, &args, err);
}

/* ---- evaluation ---- */

/* A nullable time column. */
struct opt_ms {
	bool set;
	int64_t ms;
};

static struct opt_ms opt_read(struct db_stmt *st, int col)
{
	return (struct opt_ms){!db_column_is_null(st, col), db_column_int64(st, col)};
}

static void opt_bind(struct db_stmt *st, int idx, struct opt_ms o)
{
	if (o.set)
		db_bind_int64(st, idx, o.ms);
	else
		db_bind_null(st, idx);
}

static struct opt_ms opt_at(int64_t ms)
{
	return (struct opt_ms){true, ms};
}

/* One applicable definition and its state row for the object (or a new green one). */
struct eval_row {
	int64_t alarm_id;
	char *name, *comparison, *yellow_state, *red_state;
	bool has_yellow, has_red;
	double yellow, red;
	enum alarm_status event_status;
	int64_t duration_ms;
	/* alarm_state */
	enum alarm_status status;
	const char *state; /* STATE_* */
	char *value, *acknowledged_by;
	/* since: the condition at yellow or above since; red_since: at red since */
	struct opt_ms since, red_since, triggered, acknowledged, cleared, last_action;
};

static void eval_row_clear(struct eval_row *e)
{
	free(e->name);
	free(e->comparison);
	free(e->yellow_state);
	free(e->red_state);
	free(e->value);
	free(e->acknowledged_by);
}

static const char *state_literal(const char *s)
{
	if (s && strcmp(s, STATE_TRIGGERED) == 0)
		return STATE_TRIGGERED;
	if (s && strcmp(s, STATE_ACKNOWLEDGED) == 0)
		return STATE_ACKNOWLEDGED;
	return STATE_CLEARED;
}

static void read_eval_row(struct db_stmt *st, struct eval_row *e)
{
	*e = (struct eval_row){0};
	e->alarm_id = db_column_int64(st, 1);
	e->name = text_or(st, 2, "");
	e->comparison = text_dup(st, 3);
	e->has_yellow = !db_column_is_null(st, 4);
	e->yellow = db_column_double(st, 4);
	e->has_red = !db_column_is_null(st, 5);
	e->red = db_column_double(st, 5);
	e->yellow_state = text_dup(st, 6);
	e->red_state = text_dup(st, 7);
	e->event_status = status_or_green(db_column_text(st, 8));
	e->duration_ms = db_column_int64(st, 9);
	/* columns 10..19: the state row, all NULL when there is none yet */
	e->status = status_or_green(db_column_text(st, 10));
	e->state = state_literal(db_column_text(st, 11));
	e->value = text_dup(st, 12);
	e->since = opt_read(st, 13);
	e->triggered = opt_read(st, 14);
	e->acknowledged = opt_read(st, 15);
	e->acknowledged_by = text_dup(st, 16);
	e->cleared = opt_read(st, 17);
	e->last_action = opt_read(st, 18);
	e->red_since = opt_read(st, 19);
}

/* What is evaluated: a metric's value, a state's value or an event. */
struct eval_input {
	const char *condition_kind; /* metric, state, event */
	const char *key;            /* the metric, state name or event type */
	double number;              /* metric */
	const char *text;           /* the value shown ("92.5"), or the event type */
};

/* The status a metric value calls for. */
static enum alarm_status metric_level(const struct eval_row *e, double v)
{
	if (!e->comparison)
		return ALARM_GREEN;
	if (e->has_red && compare(e->comparison, v, e->red))
		return ALARM_RED;
	if (e->has_yellow && compare(e->comparison, v, e->yellow))
		return ALARM_YELLOW;
	return ALARM_GREEN;
}

/* The status a value as stored in alarm_state.value calls for. */
static enum alarm_status stored_level(const struct eval_row *e, const struct eval_input *in,
				      const char *text)
{
	if (strcmp(in->condition_kind, "metric") == 0) {
		char *end;
		double v = strtod(text, &end);
		return end == text || *end ? ALARM_GREEN : metric_level(e, v);
	}
	if (e->red_state && strcmp(text, e->red_state) == 0)
		return ALARM_RED;
	if (e->yellow_state && strcmp(text, e->yellow_state) == 0)
		return ALARM_YELLOW;
	return ALARM_GREEN;
}

static void set_value(struct eval_row *e, const char *text)
{
	free(e->value);
	e->value = xstrdup(text);
}

/* Starts or stops a timer as its condition holds or not; true if it changed. */
static bool time_condition(struct opt_ms *t, bool holds, int64_t now)
{
	if (holds == t->set)
		return false;
	*t = holds ? opt_at(now) : (struct opt_ms){0};
	return true;
}

/*
 * The metric and state rules (alarms.h): returns the new status and sets
 * *dirty when the row must be written.  Two timers: since times the
 * condition at yellow or above, red_since the red one; a level is due
 * once its own has run duration_ms.  A status still held stays (after a
 * clear, or timers lost), and one no longer held falls at once.
 */
static enum alarm_status step_condition(struct eval_row *e, const struct eval_input *in,
					int64_t now, bool *dirty)
{
	bool metric = strcmp(in->condition_kind, "metric") == 0;
	enum alarm_status level = metric ? metric_level(e, in->number) : stored_level(e, in, in->text);
	if (time_condition(&e->since, level >= ALARM_YELLOW, now))
		*dirty = true;
	if (time_condition(&e->red_since, level >= ALARM_RED, now))
		*dirty = true;
	enum alarm_status due = ALARM_GREEN;
	if (e->red_since.set && now - e->red_since.ms >= e->duration_ms)
		due = ALARM_RED;
	else if (e->since.set && now - e->since.ms >= e->duration_ms)
		due = ALARM_YELLOW;
	enum alarm_status held = e->status < level ? e->status : level;
	return due > held ? due : held;
}

/* Applies a change of status to the row. */
static void change_status(struct eval_row *e, enum alarm_status to, const char *value, int64_t now)
{
	e->status = to;
	set_value(e, value);
	e->acknowledged.set = false;
	free(e->acknowledged_by);
	e->acknowledged_by = NULL;
	e->last_action = opt_at(now);
	if (to == ALARM_GREEN) {
		e->state = STATE_CLEARED;
		e->cleared = opt_at(now);
	} else {
		e->state = STATE_TRIGGERED;
		e->triggered = opt_at(now);
		e->cleared.set = false;
	}
}

static int write_state(struct db *db, struct db_stmt **st, int64_t object_id,
		       const struct eval_row *e, struct vr_error **err)
{
	if (!*st) {
		int r = db_prepare(db, "write alarm state",
				   "INSERT INTO alarm_state (alarm_id, object_id, status, state,"
				   " value, condition_since_ms, triggered_ms, acknowledged_ms,"
				   " acknowledged_by, cleared_ms, last_action_ms, red_since_ms)"
				   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
				   " ON CONFLICT (alarm_id, object_id) DO UPDATE SET"
				   " status = excluded.status, state = excluded.state,"
				   " value = excluded.value,"
				   " condition_since_ms = excluded.condition_since_ms,"
				   " red_since_ms = excluded.red_since_ms,"
				   " triggered_ms = excluded.triggered_ms,"
				   " acknowledged_ms = excluded.acknowledged_ms,"
				   " acknowledged_by = excluded.acknowledged_by,"
				   " cleared_ms = excluded.cleared_ms,"
				   " last_action_ms = excluded.last_action_ms",
				   st, err);
		if (r < 0)
			return r;
	}
	db_bind_int64(*st, 1, e->alarm_id);
	db_bind_int64(*st, 2, object_id);
	db_bind_text(*st, 3, alarm_status_name(e->status));
	db_bind_text(*st, 4, e->state);
	db_bind_text(*st, 5, e->value);
	opt_bind(*st, 6, e->since);
	opt_bind(*st, 7, e->triggered);
	opt_bind(*st, 8, e->acknowledged);
	db_bind_text(*st, 9, e->acknowledged_by);
	opt_bind(*st, 10, e->cleared);
	opt_bind(*st, 11, e->last_action);
	opt_bind(*st, 12, e->red_since);
	int r = db_step(*st, err);
	db_reset(*st);
	return r < 0 ? r : 0;
}

/* Appends a fire for a change of status of e's row; the caller fills in an action. */
static struct alarm_fire *fire_add(struct alarm_fire_list *out, const struct eval_row *e,
				   int64_t object_id, enum alarm_status from)
{
	struct alarm_fire *f = fire_push(out);
	f->alarm_id = e->alarm_id;
	f->alarm_name = xstrdup(e->name);
	f->object_id = object_id;
	f->from = from;
	f->to = e->status;
	f->value = xstrdup(e->value ? e->value : "");
	return f;
}

/* Records a change of status and the actions it fires. */
static int fire_change(struct db *db, struct db_stmt **st, int64_t object_id,
		       const struct eval_row *e, enum alarm_status from, struct alarm_fire_list *out,
		       struct vr_error **err)
{
	fire_add(out, e, object_id, from);
	if (!*st) {
		int r = db_prepare(db, "list the actions of an alarm's change of status",
				   "SELECT action, params FROM alarm_action"
				   " WHERE alarm_id = $1 AND from_status = $2 AND to_status = $3"
				   " ORDER BY id",
				   st, err);
		if (r < 0)
			return r;
	}
	db_bind_int64(*st, 1, e->alarm_id);
	db_bind_text(*st, 2, alarm_status_name(from));
	db_bind_text(*st, 3, alarm_status_name(e->status));
	int r;
	while ((r = db_step(*st, err)) > 0) {
		struct alarm_fire *f = fire_add(out, e, object_id, from);
		f->is_action = true;
		f->action = text_or(*st, 0, "");
		f->params = text_or(*st, 1, "{}");
	}
	db_reset(*st);
	return r < 0 ? r : 0;
}

/* The definitions that apply to the object for this input, with its state rows. */
static int load_eval_rows(struct db *db, int64_t object_id, const struct eval_input *in,
			  struct eval_row **rows, size_t *n, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "find the alarms that apply to an object",
			   UP_CTE " SELECT me.kind, d.id, d.name, d.comparison, d.yellow_threshold,"
			   " d.red_threshold, d.yellow_state, d.red_state, d.event_status,"
			   " d.duration_ms, s.status, s.state, s.value, s.condition_since_ms,"
			   " s.triggered_ms, s.acknowledged_ms, s.acknowledged_by, s.cleared_ms,"
			   " s.last_action_ms, s.red_since_ms"
			   " FROM inventory_object me"
			   " LEFT JOIN alarm_definition d ON d.enabled AND d.target_kind = me.kind"
			   "  AND d.condition_kind = $2"
			   "  AND CASE d.condition_kind WHEN 'metric' THEN d.metric"
			   "   WHEN 'state' THEN d.state_name ELSE d.event_type END = $3"
			   "  AND d.object_id IN (SELECT id FROM up)"
			   " LEFT JOIN alarm_state s ON s.alarm_id = d.id AND s.object_id = me.id"
			   " WHERE me.id = $1 ORDER BY d.id",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, object_id);
	db_bind_text(st, 2, in->condition_kind);
	db_bind_text(st, 3, in->key);
	struct eval_row *list = NULL;
	size_t count = 0, cap = 0;
	bool found = false;
	while ((r = db_step(st, err)) > 0) {
		found = true;
		if (db_column_is_null(st, 1))
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 4;
			list = xrealloc(list, cap * sizeof(*list));
		}
		read_eval_row(st, &list[count++]);
	}
	if (r == 0 && !found)
		r = vr_error_set(err, ENOENT, "cannot evaluate alarms: no inventory object with "
				 "id %lld", (long long)object_id);
	if (r < 0) {
		for (size_t i = 0; i < count; i++)
			eval_row_clear(&list[i]);
		free(list);
		return r;
	}
	*rows = list;
	*n = count;
	return 0;
}

struct eval_args {
	int64_t object_id;
	const struct eval_input *in;
	int64_t now_ms;
	struct alarm_fire_list fires;
};

static int do_eval(struct db *db, void *a, struct vr_error **err)
{
	struct eval_args *args = a;
	const struct eval_input *in = args->in;
	bool event = strcmp(in->condition_kind, "event") == 0;
	struct eval_row *rows = NULL;
	size_t n = 0;
	int r = load_eval_rows(db, args->object_id, in, &rows, &n, err);
	if (r < 0)
		return r;
	_cleanup_stmt_ struct db_stmt *write = NULL;
	_cleanup_stmt_ struct db_stmt *actions = NULL;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct eval_row *e = &rows[i];
		enum alarm_status from = e->status, to = from;
		bool dirty = false;
		if (event)
			to = e->event_status > from ? e->event_status : from;
		else
			to = step_condition(e, in, args->now_ms, &dirty);
		if (to != from)
			change_status(e, to, in->text, args->now_ms);
		if (to != from || dirty)
			r = write_state(db, &write, args->object_id, e, err);
		if (r == 0 && to != from)
			r = fire_change(db, &actions, args->object_id, e, from, &args->fires, err);
	}
	for (size_t i = 0; i < n; i++)
		eval_row_clear(&rows[i]);
	free(rows);
	return r;
}

static int eval(struct db *db, int64_t object_id, const struct eval_input *in, int64_t now_ms,
		struct alarm_fire_list *out, struct vr_error **err)
{
	struct eval_args args = {.object_id = object_id, .in = in, .now_ms = now_ms};
	int r = db_in_level(db, do_eval, &args, err);
	if (r < 0) {
		alarm_fire_list_clear(&args.fires);
		return r;
	}
	fire_list_append(out, &args.fires);
	return 0;
}

int alarm_eval_metric(struct db *db, int64_t object_id, const char *metric, double value,
		      int64_t now_ms, struct alarm_fire_list *out, struct vr_error **err)
{
	if (!set(metric))
		return vr_error_set(err, EINVAL, "cannot evaluate metric alarms without a metric");
	if (!isfinite(value))
		return vr_error_set(err, EINVAL, "cannot evaluate metric alarms of %s: %g is not a "
				    "finite number", metric, value);
	char text[32];
	snprintf(text, sizeof(text), "%.15g", value);
	struct eval_input in = {"metric", metric, value, text};
	return eval(db, object_id, &in, now_ms, out, err);
}

int alarm_eval_state(struct db *db, int64_t object_id, const char *state_name, const char *value,
		     int64_t now_ms, struct alarm_fire_list *out, struct vr_error **err)
{
	if (!set(state_name) || !value)
		return vr_error_set(err, EINVAL, "cannot evaluate state alarms without a state name "
				    "and a value");
	struct eval_input in = {"state", state_name, 0, value};
	return eval(db, object_id, &in, now_ms, out, err);
}

int alarm_eval_event(struct db *db, int64_t object_id, const char *event_type, int64_t now_ms,
		     struct alarm_fire_list *out, struct vr_error **err)
{
	if (!set(event_type))
		return vr_error_set(err, EINVAL, "cannot evaluate event alarms without an event type");
	struct eval_input in = {"event", event_type, 0, event_type};
	return eval(db, object_id, &in, now_ms, out, err);
}

/* ---- repeats, acknowledge, clear ---- */

struct repeat_args {
	int64_t now_ms;
	struct alarm_fire_list fires;
};

static int do_due_repeats(struct db *db, void *a, struct vr_error **err)
{
	struct repeat_args *args = a;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "find the alarm actions due to repeat",
			   "SELECT s.alarm_id, d.name, s.object_id, s.value, a.action, a.from_status,"
			   " a.to_status, a.params, s.last_action_ms, d.repeat_interval_ms"
			   " FROM alarm_state s JOIN alarm_definition d ON d.id = s.alarm_id"
			   " JOIN alarm_action a ON a.alarm_id = d.id AND a.repeats"
			   "  AND a.to_status = s.status"
			   " WHERE s.state = 'triggered' AND s.status <> 'green' AND d.enabled"
			   " AND d.repeat_interval_ms > 0 AND s.last_action_ms IS NOT NULL"
			   " AND s.last_action_ms <= $1 - d.repeat_interval_ms"
			   " ORDER BY s.alarm_id, s.object_id, a.id",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, args->now_ms);
	/* The schedule of each state moves on by whole intervals: (alarm, object, new last). */
	struct {
		int64_t alarm_id, object_id, last_ms;
	} *moves = NULL;
	size_t n_moves = 0;
	while ((r = db_step(st, err)) > 0) {
		int64_t alarm_id = db_column_int64(st, 0), object_id = db_column_int64(st, 2);
		int64_t last = db_column_int64(st, 8), interval = db_column_int64(st, 9);
		struct alarm_fire *f = fire_push(&args->fires);
		f->alarm_id = alarm_id;
		f->alarm_name = text_or(st, 1, "");
		f->object_id = object_id;
		f->value = text_or(st, 3, "");
		f->is_action = true;
		f->action = text_or(st, 4, "");
		f->from = status_or_green(db_column_text(st, 5));
		f->to = status_or_green(db_column_text(st, 6));
		f->params = text_or(st, 7, "{}");
		if (n_moves && moves[n_moves - 1].alarm_id == alarm_id &&
		    moves[n_moves - 1].object_id == object_id)
			continue;
		moves = xrealloc(moves, (n_moves + 1) * sizeof(*moves));
		moves[n_moves].alarm_id = alarm_id;
		moves[n_moves].object_id = object_id;
		moves[n_moves].last_ms = last + (args->now_ms - last) / interval * interval;
		n_moves++;
	}
	db_reset(st);
	_cleanup_stmt_ struct db_stmt *up = NULL;
	if (r == 0 && n_moves)
		r = db_prepare(db, "record an alarm's repeated actions",
			       "UPDATE alarm_state SET last_action_ms = $3"
			       " WHERE alarm_id = $1 AND object_id = $2",
			       &up, err);
	for (size_t i = 0; r >= 0 && i < n_moves; i++) {
		db_bind_int64(up, 1, moves[i].alarm_id);
		db_bind_int64(up, 2, moves[i].object_id);
		db_bind_int64(up, 3, moves[i].last_ms);
		r = db_step(up, err);
	}
	free(moves);
	return r < 0 ? r : 0;
}

int alarm_due_repeats(struct db *db, int64_t now_ms, struct alarm_fire_list *out,
		      struct vr_error **err)
{
	struct repeat_args args = {.now_ms = now_ms};
	int r = db_in_level(db, do_due_repeats, &args, err);
	if (r < 0) {
		alarm_fire_list_clear(&args.fires);
		return r;
	}
	fire_list_append(out, &args.fires);
	return 0;
}

struct user_args {
	int64_t alarm_id, object_id;
	const char *by;
	int64_t now_ms;
	bool clear;
};

static int do_user_change(struct db *db, void *a, struct vr_error **err)
{
	const struct user_args *args = a;
	const char *verb = args->clear ? "clear" : "acknowledge";
	_cleanup_stmt_ struct db_stmt *chk = NULL;
	int r = db_prepare(db, "read an alarm state",
			   "SELECT (SELECT name FROM alarm_definition WHERE id = $1),"
			   " (SELECT kind FROM inventory_object WHERE id = $2),"
			   " (SELECT name FROM inventory_object WHERE id = $2),"
			   " (SELECT status FROM alarm_state WHERE alarm_id = $1 AND object_id = $2),"
			   " (SELECT state FROM alarm_state WHERE alarm_id = $1 AND object_id = $2)",
			   &chk, err);
	if (r < 0)
		return r;
	db_bind_int64(chk, 1, args->alarm_id);
	db_bind_int64(chk, 2, args->object_id);
	r = db_step(chk, err);
	if (r < 0)
		return r;
	if (db_column_is_null(chk, 0))
		return vr_error_set(err, ENOENT, "cannot %s alarm %lld: no such alarm definition", verb,
				    (long long)args->alarm_id);
	if (db_column_is_null(chk, 1))
		return vr_error_set(err, ENOENT, "cannot %s alarm \"%s\": no inventory object with "
				    "id %lld", verb, db_column_text(chk, 0),
				    (long long)args->object_id);
	enum alarm_status status = status_or_green(db_column_text(chk, 3));
	const char *state = state_literal(db_column_text(chk, 4));
	if (status == ALARM_GREEN) {
		if (args->clear)
			return 0;
		return vr_error_set(err, EINVAL, "cannot acknowledge alarm \"%s\" on %s \"%s\": it is "
				    "green", db_column_text(chk, 0), db_column_text(chk, 1),
				    db_column_text(chk, 2));
	}
	if (!args->clear && state == STATE_ACKNOWLEDGED)
		return 0;
	db_reset(chk);
	_cleanup_stmt_ struct db_stmt *st = NULL;
	if (args->clear)
		r = db_prepare(db, "clear an alarm",
			       "UPDATE alarm_state SET status = 'green', state = 'cleared',"
			       " cleared_ms = $3, condition_since_ms = NULL, red_since_ms = NULL"
			       " WHERE alarm_id = $1 AND object_id = $2",
			       &st, err);
	else
		r = db_prepare(db, "acknowledge an alarm",
			       "UPDATE alarm_state SET state = 'acknowledged', acknowledged_ms = $3,"
			       " acknowledged_by = $4 WHERE alarm_id = $1 AND object_id = $2",
			       &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, args->alarm_id);
	db_bind_int64(st, 2, args->object_id);
	db_bind_int64(st, 3, args->now_ms);
	if (!args->clear)
		db_bind_text(st, 4, args->by);
	r = db_step(st, err);
	return r < 0 ? r : 0;
}

static int user_change(struct db *db, struct user_args *args, struct vr_error **err)
{
	if (!set(args->by))
		return vr_error_set(err, EINVAL, "cannot %s alarm %lld: who does it is not given",
				    args->clear ? "clear" : "acknowledge", (long long)args->alarm_id);
	return db_in_level(db, do_user_change, args, err);
}

int alarm_acknowledge(struct db *db, int64_t alarm_id, int64_t object_id, const char *by,
		      int64_t now_ms, struct vr_error **err)
{
	struct user_args args = {alarm_id, object_id, by, now_ms, false};
	return user_change(db, &args, err);
}

int alarm_clear(struct db *db, int64_t alarm_id, int64_t object_id, const char *by, int64_t now_ms,
		struct vr_error **err)
{
	struct user_args args = {alarm_id, object_id, by, now_ms, true};
	return user_change(db, &args, err);
}

/* ---- listing states ---- */

int alarm_states_list(struct db *db, int64_t object_id, struct alarm_state_list *out,
		      struct vr_error **err)
{
	int r = object_id ? object_get(db, object_id, NULL, NULL, err) : 0;
	if (r < 0)
		return r;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "list triggered alarms",
		       "WITH RECURSIVE sub (id, depth) AS ("
		       " SELECT id, 0 FROM inventory_object WHERE id = $1"
		       " UNION ALL"
		       " SELECT o.id, sub.depth + 1 FROM inventory_object o"
		       " JOIN sub ON o.parent_id = sub.id WHERE sub.depth < 1000)"
		       " SELECT s.alarm_id, s.object_id, d.name, o.name, s.status, s.state, s.value,"
		       " s.triggered_ms, s.acknowledged_ms, s.acknowledged_by"
		       " FROM alarm_state s JOIN alarm_definition d ON d.id = s.alarm_id"
		       " JOIN inventory_object o ON o.id = s.object_id"
		       " WHERE s.status <> 'green' AND ($1 = 0 OR s.object_id IN (SELECT id FROM sub)"
		       "  OR o.host_id IN (SELECT id FROM sub) OR o.pool_id IN (SELECT id FROM sub))"
		       " ORDER BY CASE s.status WHEN 'red' THEN 0 ELSE 1 END, s.triggered_ms DESC,"
		       " s.alarm_id, s.object_id",
		       &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, object_id);
	struct alarm_state_list list = {0};
	size_t cap = 0;
	while ((r = db_step(st, err)) > 0) {
		if (list.n == cap) {
			cap = cap ? cap * 2 : 16;
			list.items = xrealloc(list.items, cap * sizeof(*list.items));
		}
		struct alarm_state_row *s = &list.items[list.n++];
		*s = (struct alarm_state_row){0};
		s->alarm_id = db_column_int64(st, 0);
		s->object_id = db_column_int64(st, 1);
		s->alarm_name = text_or(st, 2, "");
		s->object_name = text_or(st, 3, "");
		s->status = status_or_green(db_column_text(st, 4));
		s->state = text_or(st, 5, "");
		s->value = text_dup(st, 6);
		s->triggered_ms = db_column_int64(st, 7);
		s->acknowledged_ms = db_column_int64(st, 8);
		s->acknowledged_by = text_dup(st, 9);
	}
	if (r < 0) {
		alarm_state_list_clear(&list);
		return r;
	}
	*out = list;
	return 0;
}
