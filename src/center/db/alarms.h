/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_ALARMS_H
#define VIREO_CENTER_DB_ALARMS_H

/*
 * vireo-center's alarms, as vCenter has them.
 *
 * Definitions.  An alarm definition is set on an inventory object and
 * applies to every object of its target kind at or below it: on the
 * object's parent chain, and for VMs and templates also on the chains of
 * their host and resource pool (a VM alarm set on a cluster covers the
 * VMs running in it).  A definition names one condition:
 *   metric  a value compared with a yellow and/or a red threshold
 *           ("cpu.usage.average" > 75 yellow, > 90 red);
 *   state   a named state equal to a yellow and/or a red value
 *           ("connection_state" = "not_responding" red);
 *   event   an event type that sets a status (yellow or red) which stays
 *           until someone clears it ("VmPoweredOffUnexpectedly" red).
 * Definitions are unique by name on their object.  A disabled definition
 * is not evaluated and disabling it clears its states.
 *
 * Status.  Each (definition, object) has a status, green, yellow or red,
 * in one row of alarm_state.  A metric or state condition must hold
 * continuously for duration_ms before the status rises; the status falls
 * as soon as the condition no longer holds, to the level that still holds
 * (red -> yellow while the yellow condition holds, else green).  Each
 * level has its own timer (condition_since_ms for yellow or above,
 * red_since_ms for red): a value that climbs through yellow into red
 * raises yellow once yellow has held for duration_ms and red once red
 * has.  A status that still holds stays (a clear restarts both timers).
 * An event sets its status at once, when that is worse than the current
 * one.
 *
 * A change of status makes the row "triggered" (any acknowledgement
 * goes); acknowledging keeps the status and stops repeated actions;
 * clearing sets it green ("cleared"); a fall to green by evaluation also
 * reads "cleared".  Clearing and acknowledging run no actions.
 *
 * Actions.  Each action of a definition fires on the status changes from
 * exactly its from status to its to status.  An action that repeats fires
 * again every repeat_interval_ms of its definition while the status stays
 * at its to status and nobody has acknowledged it (alarm_due_repeats(),
 * on a fixed schedule from the change).  This layer only reports what is
 * due (struct alarm_fire); the center daemon posts the events and runs
 * the actions.
 *
 * Functions that write run in a transaction level of their own
 * (db_begin(): a savepoint inside the caller's transaction); after an
 * error the caller rolls its own level back (db.h).  Times are
 * milliseconds since the epoch given by the caller, so that tests control
 * them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;
struct vr_error;

enum alarm_status {
	ALARM_GREEN,
	ALARM_YELLOW,
	ALARM_RED,
};

/* "green", "yellow", "red"; "unknown" otherwise. */
const char *alarm_status_name(enum alarm_status s);
/* -EINVAL for anything else. */
int alarm_status_parse(const char *s, enum alarm_status *out);

struct alarm_action_spec {
	/*
	 * What vireo-center runs (center/notify.c): log (params {} or
	 * {"level": "info"|"warning"|"error"}), webhook (params {"url":
	 * "http(s)://..."}), vm_power_off, vm_suspend, vm_reset,
	 * vm_shutdown_guest, vm_reboot_guest (target kind vm, no params).
	 * vCenter's email, snmp, script, vm_migrate, host_enter_maintenance,
	 * host_exit_maintenance and host_reboot are refused: center does not
	 * run them (definitions stored before may still hold them).
	 */
	const char *action;
	enum alarm_status from, to; /* different */
	bool repeats;               /* needs the definition's repeat_interval_ms > 0 */
	const char *params;         /* a JSON object; NULL for {} */
};

/*
 * The privilege defining the action needs on the object where the alarm
 * is set, besides Alarm.Create: the VM power actions need the
 * VirtualMachine.Interact privilege of the same operation through the API
 * (vm_shutdown_guest PowerOff, vm_reboot_guest Reset).  NULL for the
 * others and for unknown names.
 */
const char *alarm_action_privilege(const char *action);
/* True for the actions refused at definition time that stored definitions may hold. */
bool alarm_action_not_run(const char *action);
/*
 * The level of a log action, "info", "warning" or "error": its params'
 * "level", else "warning" for a change to red and "info" otherwise.
 */
const char *alarm_log_level(const char *params, enum alarm_status to);

struct alarm_spec {
	int64_t object_id; /* where the definition is set */
	const char *name;  /* 1..255 characters, no control characters */
	const char *description; /* NULL for "" */
	const char *target_kind; /* an inventory kind name at or below object_id's kind */
	bool enabled;
	const char *condition_kind; /* metric, state or event */
	/* metric: the counter name, the comparison (> >= < <= = <>), and thresholds */
	const char *metric, *comparison;
	bool has_yellow, has_red;
	double yellow, red;
	/* state: the state's name and the values that make it yellow or red (NULL: none) */
	const char *state_name, *yellow_state, *red_state;
	/* event: the event type and the status it sets (yellow or red) */
	const char *event_type;
	enum alarm_status event_status;
	int64_t duration_ms;        /* metric and state; 0 for events */
	int64_t repeat_interval_ms; /* 0: actions never repeat */
	const struct alarm_action_spec *actions;
	size_t n_actions;
};

/*
 * Checks everything (the condition's fields for its kind and no others,
 * thresholds on the right sides for the comparison, actions and their
 * parameters) and creates the definition and its actions; *id may be
 * NULL.  -EINVAL naming the problem, -ENOENT for a missing object,
 * -EEXIST for a name already used on the object.
 */
int alarm_define(struct db *db, const struct alarm_spec *spec, int64_t now_ms, int64_t *id,
		 struct vr_error **err);

struct alarm_action {
	int64_t id;
	char *action;
	enum alarm_status from, to;
	bool repeats;
	char *params; /* JSON object text */
};

struct alarm_def {
	int64_t id, object_id;
	char *name, *description, *target_kind, *condition_kind;
	char *metric, *comparison; /* NULL unless metric */
	bool enabled, has_yellow, has_red;
	double yellow, red;
	char *state_name, *yellow_state, *red_state; /* NULL unless state (and set) */
	char *event_type;                           /* NULL unless event */
	enum alarm_status event_status;             /* green unless event */
	int64_t duration_ms, repeat_interval_ms;
	int64_t created_ms, modified_ms;
	size_t n_actions;
	struct alarm_action *actions; /* in the order defined */
};

struct alarm_def_list {
	struct alarm_def *items;
	size_t n;
};

void alarm_def_clear(struct alarm_def *d);
void alarm_def_list_clear(struct alarm_def_list *l);

/* -ENOENT if there is no such definition. */
int alarm_get(struct db *db, int64_t id, struct alarm_def *out, struct vr_error **err);
/*
 * Definitions on the object, by name; with inherited also those on its
 * ancestors (as described above), nearest first.
 */
int alarm_list(struct db *db, int64_t object_id, bool inherited, struct alarm_def_list *out,
	       struct vr_error **err);
/* Deletes a definition with its actions and states; -ENOENT if none. */
int alarm_delete(struct db *db, int64_t id, struct vr_error **err);
/* Disabling clears the definition's states; -ENOENT if none. */
int alarm_set_enabled(struct db *db, int64_t id, bool enabled, int64_t now_ms,
		      struct vr_error **err);

/* What an evaluation changed: one per status change, plus one per action due. */
struct alarm_fire {
	int64_t alarm_id;
	char *alarm_name;
	int64_t object_id;
	enum alarm_status from, to; /* of the status change (for actions: the action's) */
	char *value;                /* what triggered: "92.5", "not_responding", the event type */
	bool is_action;
	char *action; /* NULL unless is_action */
	char *params; /* NULL unless is_action */
};

struct alarm_fire_list {
	struct alarm_fire *items;
	size_t n;
};

/* Accepts NULL; leaves an empty list. */
void alarm_fire_list_clear(struct alarm_fire_list *l);

/*
 * Evaluations.  object_id's kind is read from the inventory (-ENOENT if it
 * does not exist); the enabled definitions on it or its ancestors with its
 * kind as target, this condition kind and this metric, state or event
 * type apply.  What changed is appended to *out (which the caller
 * initialises, empty or not); on error *out is left as it was.  Inside a
 * caller's transaction the fires describe changes that only hold once it
 * commits: run the actions after that.
 */
int alarm_eval_metric(struct db *db, int64_t object_id, const char *metric, double value,
		      int64_t now_ms, struct alarm_fire_list *out, struct vr_error **err);
int alarm_eval_state(struct db *db, int64_t object_id, const char *state_name, const char *value,
		     int64_t now_ms, struct alarm_fire_list *out, struct vr_error **err);
int alarm_eval_event(struct db *db, int64_t object_id, const char *event_type, int64_t now_ms,
		     struct alarm_fire_list *out, struct vr_error **err);
/*
 * The repeating actions due at now_ms for triggered (not acknowledged)
 * yellow or red states, appended to *out; each state's schedule moves on
 * by whole intervals (one firing per call, however late).  Call
 * periodically.
 */
int alarm_due_repeats(struct db *db, int64_t now_ms, struct alarm_fire_list *out,
		      struct vr_error **err);

/* -EINVAL if the status is green; acknowledging twice changes nothing. */
int alarm_acknowledge(struct db *db, int64_t alarm_id, int64_t object_id, const char *by,
		      int64_t now_ms, struct vr_error **err);
/* Back to green; clearing a green status changes nothing. */
int alarm_clear(struct db *db, int64_t alarm_id, int64_t object_id, const char *by, int64_t now_ms,
		struct vr_error **err);

struct alarm_state_row {
	int64_t alarm_id, object_id;
	char *alarm_name, *object_name;
	enum alarm_status status;
	char *state; /* triggered|acknowledged|cleared */
	char *value; /* NULL if none */
	int64_t triggered_ms, acknowledged_ms; /* 0 if not */
	char *acknowledged_by;                 /* NULL if not acknowledged */
};

struct alarm_state_list {
	struct alarm_state_row *items;
	size_t n;
};

void alarm_state_list_clear(struct alarm_state_list *l);

/*
 * Yellow and red states of the objects at or below object_id (0: all; for
 * a host or resource pool, also the VMs on it), red first, then newest
 * first.
 */
int alarm_states_list(struct db *db, int64_t object_id, struct alarm_state_list *out,
		      struct vr_error **err);

#endif
