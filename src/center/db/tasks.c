/* SPDX-License-Identifier: Apache-2.0 */
/* Tasks on the database (rules in tasks.h, table in schema.c). */
#include "center/db/tasks.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "center/db/db.h"
#include "common/error.h"
#include "common/util.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

#define ORPHAN_ERROR "vireo-center restarted while the task was running"

static const char *const state_names[] = {
	[CTASK_QUEUED] = "queued",
	[CTASK_RUNNING] = "running",
	[CTASK_SUCCEEDED] = "succeeded",
	[CTASK_FAILED] = "failed",
};

#define COLUMNS                                                                                   \
	"id, type, object_id, object_name, principal, state, progress, cancellable,"             \
	" cancel_requested, description, error, result, parent_task_id, queued_ms, started_ms," \
	" completed_ms"

const char *ctask_state_name(enum ctask_state s)
{
	return (unsigned)s < ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

int ctask_state_parse(const char *s, enum ctask_state *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_names); i++)
		if (s && strcmp(s, state_names[i]) == 0) {
			*out = (enum ctask_state)i;
			return 0;
		}
	return -EINVAL;
}

void ctask_clear(struct ctask *t)
{
	if (!t)
		return;
	free(t->type);
	free(t->object_name);
	free(t->principal);
	free(t->description);
	free(t->error);
	free(t->result);
	*t = (struct ctask){0};
}

void ctask_list_clear(struct ctask_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		ctask_clear(&l->items[i]);
	free(l->items);
	*l = (struct ctask_list){0};
}

static char *text_or(struct db_stmt *st, int col, const char *fallback)
{
	const char *s = db_column_text(st, col);
	return s ? xstrdup(s) : fallback ? xstrdup(fallback) : NULL;
}

static void read_row(struct db_stmt *st, struct ctask *t)
{
	*t = (struct ctask){0};
	t->id = db_column_int64(st, 0);
	t->type = text_or(st, 1, "");
	t->object_id = db_column_int64(st, 2);
	t->object_name = text_or(st, 3, "");
	t->principal = text_or(st, 4, "");
	if (ctask_state_parse(db_column_text(st, 5), &t->state) < 0)
		t->state = CTASK_FAILED; /* the schema's CHECK makes this unreachable */
	t->progress = (int)db_column_int64(st, 6);
	t->cancellable = db_column_bool(st, 7);
	t->cancel_requested = db_column_bool(st, 8);
	t->description = text_or(st, 9, "");
	t->error = text_or(st, 10, NULL);
	t->result = text_or(st, 11, NULL);
	t->parent_task_id = db_column_int64(st, 12);
	t->queued_ms = db_column_int64(st, 13);
	t->started_ms = db_column_int64(st, 14);
	t->completed_ms = db_column_int64(st, 15);
}

/*
 * Runs fn in a transaction level of its own: a transaction retried on
 * conflicts when the caller has none open, else a savepoint in the
 * caller's (who retries the whole).
 */
static int in_level(struct db *db, int (*fn)(struct db *db, void *a, struct vr_error **err),
		    void *a, struct vr_error **err)
{
	if (db_txn_depth(db) == 0)
		return db_transact(db, fn, a, err);
	return db_in_level(db, fn, a, err);
}

int ctask_get(struct db *db, int64_t id, struct ctask *out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read task", "SELECT " COLUMNS " FROM task WHERE id = $1", &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, ENOENT, "no task with id %lld", (long long)id);
	read_row(st, out);
	return 0;
}

/* ---- create ---- */

int ctask_create(struct db *db, const struct ctask_spec *spec, int64_t now_ms, int64_t *id,
		 struct vr_error **err)
{
	if (!spec->type || !*spec->type)
		return vr_error_set(err, EINVAL, "cannot create a task without a type");
	if (!spec->principal || !*spec->principal)
		return vr_error_set(err, EINVAL, "cannot create task %s: no principal given",
				    spec->type);
	/* The references in one round trip, so that PostgreSQL's transaction stays usable. */
	_cleanup_stmt_ struct db_stmt *chk = NULL;
	int r = db_prepare(db, "check the references of a new task",
			   "SELECT (SELECT name FROM inventory_object WHERE id = $1),"
			   " (SELECT COUNT(*) FROM task WHERE id = $2)",
			   &chk, err);
	if (r < 0)
		return r;
	db_bind_int64(chk, 1, spec->object_id);
	db_bind_int64(chk, 2, spec->parent_task_id);
	r = db_step(chk, err);
	if (r < 0)
		return r;
	if (spec->object_id && db_column_is_null(chk, 0))
		return vr_error_set(err, ENOENT,
				    "cannot create task %s: inventory object %lld does not exist",
				    spec->type, (long long)spec->object_id);
	if (spec->parent_task_id && db_column_int64(chk, 1) == 0)
		return vr_error_set(err, ENOENT,
				    "cannot create task %s: parent task %lld does not exist",
				    spec->type, (long long)spec->parent_task_id);
	_cleanup_free_ char *object_name =
		xstrdup(spec->object_name ? spec->object_name
			: db_column_text(chk, 0) ? db_column_text(chk, 0) : "");
	db_reset(chk);

	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "insert task",
		       "INSERT INTO task (type, object_id, object_name, principal, cancellable,"
		       " description, parent_task_id, queued_ms)"
		       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
		       &st, err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, spec->type);
	if (spec->object_id)
		db_bind_int64(st, 2, spec->object_id);
	else
		db_bind_null(st, 2);
	db_bind_text(st, 3, object_name);
	db_bind_text(st, 4, spec->principal);
	db_bind_bool(st, 5, spec->cancellable);
	db_bind_text(st, 6, spec->description ? spec->description : "");
	if (spec->parent_task_id)
		db_bind_int64(st, 7, spec->parent_task_id);
	else
		db_bind_null(st, 7);
	db_bind_int64(st, 8, now_ms);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, EIO, "insert task: no id returned");
	if (id)
		*id = db_column_int64(st, 0);
	db_reset(st);
	return 0;
}

/* ---- transitions ---- */

/*
 * An UPDATE that matched no row: why.  -ENOENT for no such task, else
 * -EINVAL "cannot VERB task 12 (TYPE): it is STATE, not WANT".
 */
static int refused(struct db *db, int64_t id, const char *verb, const char *want,
		   struct vr_error **err)
{
	struct ctask t;
	int r = ctask_get(db, id, &t, err);
	if (r < 0)
		return r;
	r = vr_error_set(err, EINVAL, "cannot %s task %lld (%s): it is %s, not %s", verb,
			 (long long)id, t.type, ctask_state_name(t.state), want);
	ctask_clear(&t);
	return r;
}

/* Runs a prepared and bound UPDATE of one task; *changed says whether it matched. */
static int update_one(struct db_stmt *st, bool *changed, struct vr_error **err)
{
	int r = db_step(st, err);
	if (r < 0)
		return r;
	*changed = db_changes(st) > 0;
	db_reset(st);
	return 0;
}

int ctask_start(struct db *db, int64_t id, int64_t now_ms, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "start task",
			   "UPDATE task SET state = 'running', started_ms = $2"
			   " WHERE id = $1 AND state = 'queued'",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	db_bind_int64(st, 2, now_ms);
	bool changed;
	r = update_one(st, &changed, err);
	if (r == 0 && !changed)
		r = refused(db, id, "start", "queued", err);
	return r;
}

int ctask_progress(struct db *db, int64_t id, int progress, struct vr_error **err)
{
	if (progress < 0 || progress > 100)
		return vr_error_set(err, EINVAL, "task %lld: progress %d is not between 0 and 100",
				    (long long)id, progress);
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "record task progress",
			   "UPDATE task SET progress = CASE WHEN progress < $2 THEN $2"
			   " ELSE progress END WHERE id = $1 AND state = 'running'",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	db_bind_int64(st, 2, progress);
	bool changed;
	r = update_one(st, &changed, err);
	if (r == 0 && !changed)
		r = refused(db, id, "record progress of", "running", err);
	return r;
}

int ctask_succeed(struct db *db, int64_t id, const char *result_json, int64_t now_ms,
		  struct vr_error **err)
{
	if (result_json) {
		json_error_t jerr;
		json_t *v = json_loads(result_json, JSON_DECODE_ANY, &jerr);
		if (!v)
			return vr_error_set(err, EINVAL, "task %lld: result is not valid JSON: %s",
					    (long long)id, jerr.text);
		json_decref(v);
	}
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "complete task",
			   "UPDATE task SET state = 'succeeded', progress = 100, result = $2,"
			   " completed_ms = $3 WHERE id = $1 AND state = 'running'",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, result_json);
	db_bind_int64(st, 3, now_ms);
	bool changed;
	r = update_one(st, &changed, err);
	if (r == 0 && !changed)
		r = refused(db, id, "complete", "running", err);
	return r;
}

int ctask_fail(struct db *db, int64_t id, const char *error, int64_t now_ms,
	       struct vr_error **err)
{
	if (!error || !*error)
		return vr_error_set(err, EINVAL, "cannot fail task %lld without an error message",
				    (long long)id);
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "fail task",
			   "UPDATE task SET state = 'failed', error = $2, completed_ms = $3"
			   " WHERE id = $1 AND state IN ('queued', 'running')",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, error);
	db_bind_int64(st, 3, now_ms);
	bool changed;
	r = update_one(st, &changed, err);
	if (r == 0 && !changed)
		r = refused(db, id, "fail", "queued or running", err);
	return r;
}

int ctask_request_cancel(struct db *db, int64_t id, const char *by, int64_t now_ms,
			 struct vr_error **err)
{
	if (!by || !*by)
		return vr_error_set(err, EINVAL,
				    "cannot cancel task %lld: who cancels is not given",
				    (long long)id);
	_cleanup_free_ char *reason = xasprintf("cancelled by %s", by);
	/* Every SET expression sees the row as it was: a queued task fails at once. */
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "request task cancellation",
			   "UPDATE task SET cancel_requested = TRUE,"
			   " state = CASE WHEN state = 'queued' THEN 'failed' ELSE state END,"
			   " error = CASE WHEN state = 'queued' THEN $2 ELSE error END,"
			   " completed_ms = CASE WHEN state = 'queued' THEN $3"
			   "  ELSE completed_ms END"
			   " WHERE id = $1 AND cancellable AND state IN ('queued', 'running')",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, id);
	db_bind_text(st, 2, reason);
	db_bind_int64(st, 3, now_ms);
	bool changed;
	r = update_one(st, &changed, err);
	if (r < 0 || changed)
		return r;
	struct ctask t;
	r = ctask_get(db, id, &t, err);
	if (r < 0)
		return r;
	if (t.state == CTASK_SUCCEEDED || t.state == CTASK_FAILED)
		r = vr_error_set(err, EINVAL, "cannot cancel task %lld (%s): it has already %s",
				 (long long)id, t.type, ctask_state_name(t.state));
	else
		r = vr_error_set(err, EINVAL, "cannot cancel task %lld (%s): it is not cancellable",
				 (long long)id, t.type);
	ctask_clear(&t);
	return r;
}

/* ---- lists and housekeeping ---- */

int ctask_list(struct db *db, const struct ctask_filter *f, struct ctask_list *out,
	       struct vr_error **err)
{
	if (f->state != -1 && (f->state < 0 || (size_t)f->state >= ARRAY_SIZE(state_names)))
		return vr_error_set(err, EINVAL, "cannot list tasks: unknown state %d", f->state);
	size_t limit = f->limit == 0 ? LIST_DEFAULT : f->limit > LIST_MAX ? LIST_MAX : f->limit;
	/*
	 * One statement for every filter (a filter left open matches all), so
	 * that each connection prepares it once.
	 */
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "list tasks",
			   "SELECT " COLUMNS " FROM task"
			   " WHERE ($1 = 0 OR object_id = $1)"
			   " AND (CAST($2 AS TEXT) IS NULL OR principal = $2)"
			   " AND ($3 = '' OR state = $3)"
			   " AND ($4 = 0 OR queued_ms >= $4)"
			   " AND ($5 = 0 OR queued_ms <= $5)"
			   " AND ($6 = 0 OR id < $6)"
			   " ORDER BY id DESC LIMIT $7",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, f->object_id);
	db_bind_text(st, 2, f->principal);
	db_bind_text(st, 3, f->state == -1 ? "" : state_names[f->state]);
	db_bind_int64(st, 4, f->since_ms);
	db_bind_int64(st, 5, f->until_ms);
	db_bind_int64(st, 6, f->before_id);
	db_bind_int64(st, 7, (int64_t)limit);
	struct ctask_list list = {0};
	size_t cap = 0;
	while ((r = db_step(st, err)) > 0) {
		if (list.n == cap) {
			cap = cap ? cap * 2 : 16;
			list.items = xrealloc(list.items, cap * sizeof(*list.items));
		}
		read_row(st, &list.items[list.n++]);
	}
	if (r < 0) {
		ctask_list_clear(&list);
		return r;
	}
	*out = list;
	return 0;
}

int ctask_fail_orphans(struct db *db, int64_t now_ms, int64_t *count, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "fail tasks left by a previous vireo-center",
			   "UPDATE task SET state = 'failed', error = $1, completed_ms = $2"
			   " WHERE state IN ('queued', 'running')",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_text(st, 1, ORPHAN_ERROR);
	db_bind_int64(st, 2, now_ms);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (count)
		*count = db_changes(st);
	return 0;
}

static int count_tasks(struct db *db, int64_t *n, struct vr_error **err)
{
	return db_query_int64(db, "count tasks", "SELECT COUNT(*) FROM task", n, err);
}

struct purge_args {
	int64_t cutoff_ms, deleted;
};

static int do_purge(struct db *db, void *a, struct vr_error **err)
{
	struct purge_args *args = a;
	int64_t before, after;
	int r = count_tasks(db, &before, err);
	if (r < 0)
		return r;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "purge old tasks",
		       "DELETE FROM task WHERE state IN ('succeeded', 'failed')"
		       " AND completed_ms < $1"
		       " AND NOT EXISTS (SELECT 1 FROM task sub WHERE sub.parent_task_id = task.id"
		       " AND sub.state IN ('queued', 'running'))",
		       &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, args->cutoff_ms);
	r = db_step(st, err);
	if (r == 0)
		r = count_tasks(db, &after, err);
	if (r < 0)
		return r;
	/* Sub-tasks go with their parent (ON DELETE CASCADE), which db_changes() does not count. */
	args->deleted = before - after;
	return 0;
}

int ctask_purge(struct db *db, int64_t cutoff_ms, int64_t *count, struct vr_error **err)
{
	struct purge_args args = {cutoff_ms, 0};
	int r = in_level(db, do_purge, &args, err);
	if (r == 0 && count)
		*count = args.deleted;
	return r;
}
