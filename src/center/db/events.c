/* SPDX-License-Identifier: Apache-2.0 */
/* The event log on the database (rules in events.h, table in schema.c). */
#include "center/db/events.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "center/db/db.h"
#include "common/error.h"
#include "common/util.h"

#define QUERY_DEFAULT 100
#define QUERY_MAX 1000

static const char *const categories[] = {"info", "warning", "error", "user"};

#define COLUMNS                                                                            \
	"e.id, e.time_ms, e.type, e.category, e.object_id, e.object_name, e.datacenter_id," \
	" e.principal, e.task_id, e.message, e.data"

void cevent_clear(struct cevent *e)
{
	if (!e)
		return;
	free(e->type);
	free(e->category);
	free(e->object_name);
	free(e->principal);
	free(e->message);
	free(e->data);
	*e = (struct cevent){0};
}

void cevent_list_clear(struct cevent_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		cevent_clear(&l->items[i]);
	free(l->items);
	*l = (struct cevent_list){0};
}

static bool category_valid(const char *c)
{
	for (size_t i = 0; c && i < ARRAY_SIZE(categories); i++)
		if (strcmp(c, categories[i]) == 0)
			return true;
	return false;
}

static char *text_or(struct db_stmt *st, int col, const char *fallback)
{
	const char *s = db_column_text(st, col);
	return xstrdup(s ? s : fallback);
}

static void read_row(struct db_stmt *st, struct cevent *e)
{
	*e = (struct cevent){0};
	e->id = db_column_int64(st, 0);
	e->time_ms = db_column_int64(st, 1);
	e->type = text_or(st, 2, "");
	e->category = text_or(st, 3, "");
	e->object_id = db_column_int64(st, 4);
	e->object_name = text_or(st, 5, "");
	e->datacenter_id = db_column_int64(st, 6);
	e->principal = text_or(st, 7, "");
	e->task_id = db_column_int64(st, 8);
	e->message = text_or(st, 9, "");
	e->data = text_or(st, 10, "{}");
}

static int check_spec(const struct cevent_spec *s, struct vr_error **err)
{
	if (!s->type || !*s->type)
		return vr_error_set(err, EINVAL, "cannot post an event without a type");
	if (!category_valid(s->category))
		return vr_error_set(err, EINVAL, "cannot post event %s: category \"%s\" is not one "
				    "of info, warning, error, user", s->type,
				    s->category ? s->category : "(none)");
	if (!s->message || !*s->message)
		return vr_error_set(err, EINVAL, "cannot post event %s without a message", s->type);
	if (!s->data)
		return 0;
	json_error_t jerr;
	json_t *v = json_loads(s->data, JSON_REJECT_DUPLICATES, &jerr);
	bool object = v && json_is_object(v);
	json_decref(v);
	if (!v)
		return vr_error_set(err, EINVAL, "cannot post event %s: data is not valid JSON: %s",
				    s->type, jerr.text);
	if (!object)
		return vr_error_set(err, EINVAL, "cannot post event %s: data must be a JSON object",
				    s->type);
	return 0;
}

int cevent_post(struct db *db, const struct cevent_spec *spec, int64_t now_ms, int64_t *id,
		struct vr_error **err)
{
	int r = check_spec(spec, err);
	if (r < 0)
		return r;
	/*
	 * The object's name and datacenter (walking up the tree) and the other
	 * references in one round trip, checked before writing so that
	 * PostgreSQL's transaction stays usable.
	 */
	_cleanup_stmt_ struct db_stmt *chk = NULL;
	r = db_prepare(db, "check the references of a new event",
		       "WITH RECURSIVE up (id, parent_id, kind, name, depth) AS ("
		       " SELECT id, parent_id, kind, name, 0 FROM inventory_object WHERE id = $1"
		       " UNION ALL"
		       " SELECT o.id, o.parent_id, o.kind, o.name, up.depth + 1"
		       " FROM inventory_object o JOIN up ON o.id = up.parent_id"
		       " WHERE up.depth < 1000)"
		       " SELECT (SELECT name FROM up WHERE depth = 0),"
		       " (SELECT id FROM up WHERE kind = 'datacenter' ORDER BY depth LIMIT 1),"
		       " (SELECT kind FROM inventory_object WHERE id = $2),"
		       " (SELECT COUNT(*) FROM task WHERE id = $3)",
		       &chk, err);
	if (r < 0)
		return r;
	db_bind_int64(chk, 1, spec->object_id);
	db_bind_int64(chk, 2, spec->datacenter_id);
	db_bind_int64(chk, 3, spec->task_id);
	r = db_step(chk, err);
	if (r < 0)
		return r;
	const char *dc_kind = db_column_text(chk, 2);
	if (spec->object_id && db_column_is_null(chk, 0))
		r = vr_error_set(err, ENOENT,
				 "cannot post event %s: inventory object %lld does not exist",
				 spec->type, (long long)spec->object_id);
	else if (spec->datacenter_id && !dc_kind)
		r = vr_error_set(err, ENOENT,
				 "cannot post event %s: datacenter %lld does not exist", spec->type,
				 (long long)spec->datacenter_id);
	else if (spec->datacenter_id && strcmp(dc_kind, "datacenter") != 0)
		r = vr_error_set(err, EINVAL,
				 "cannot post event %s: inventory object %lld is a %s, not a "
				 "datacenter",
				 spec->type, (long long)spec->datacenter_id, dc_kind);
	else if (spec->task_id && db_column_int64(chk, 3) == 0)
		r = vr_error_set(err, ENOENT, "cannot post event %s: task %lld does not exist",
				 spec->type, (long long)spec->task_id);
	if (r < 0)
		return r;
	_cleanup_free_ char *object_name =
		xstrdup(spec->object_name ? spec->object_name
			: db_column_text(chk, 0) ? db_column_text(chk, 0) : "");
	int64_t datacenter_id = spec->datacenter_id ? spec->datacenter_id : db_column_int64(chk, 1);
	db_reset(chk);

	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "insert event",
		       "INSERT INTO event (time_ms, type, category, object_id, object_name,"
		       " datacenter_id, principal, task_id, message, data)"
		       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
		       &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, now_ms);
	db_bind_text(st, 2, spec->type);
	db_bind_text(st, 3, spec->category);
	if (spec->object_id)
		db_bind_int64(st, 4, spec->object_id);
	else
		db_bind_null(st, 4);
	db_bind_text(st, 5, object_name);
	if (datacenter_id)
		db_bind_int64(st, 6, datacenter_id);
	else
		db_bind_null(st, 6);
	db_bind_text(st, 7, spec->principal ? spec->principal : "");
	if (spec->task_id)
		db_bind_int64(st, 8, spec->task_id);
	else
		db_bind_null(st, 8);
	db_bind_text(st, 9, spec->message);
	db_bind_text(st, 10, spec->data ? spec->data : "{}");
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (r == 0)
		return vr_error_set(err, EIO, "insert event: no id returned");
	if (id)
		*id = db_column_int64(st, 0);
	db_reset(st);
	return 0;
}

int cevent_query(struct db *db, const struct cevent_filter *f, struct cevent_list *out,
		 struct vr_error **err)
{
	if (f->category && !category_valid(f->category))
		return vr_error_set(err, EINVAL,
				    "cannot query events: category \"%s\" is not one of info, "
				    "warning, error, user",
				    f->category);
	size_t limit = f->limit == 0 ? QUERY_DEFAULT : f->limit > QUERY_MAX ? QUERY_MAX : f->limit;
	/*
	 * One statement for every filter (a filter left open matches all), so
	 * that each connection prepares it once.  With children, the subtree
	 * is walked down from the object; an event belongs to it by its object
	 * or by its datacenter (which keeps the events of objects since deleted).
	 */
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "query events",
			   "WITH RECURSIVE sub (id, depth) AS ("
			   " SELECT id, 0 FROM inventory_object WHERE id = $1 AND $2"
			   " UNION ALL"
			   " SELECT o.id, sub.depth + 1 FROM inventory_object o"
			   " JOIN sub ON o.parent_id = sub.id WHERE sub.depth < 1000)"
			   " SELECT " COLUMNS " FROM event e"
			   " WHERE ($1 = 0 OR e.object_id = $1"
			   "  OR e.object_id IN (SELECT id FROM sub)"
			   "  OR e.datacenter_id IN (SELECT id FROM sub))"
			   " AND (CAST($3 AS TEXT) IS NULL OR e.type = $3)"
			   " AND (CAST($4 AS TEXT) IS NULL OR e.category = $4)"
			   " AND (CAST($5 AS TEXT) IS NULL OR e.principal = $5)"
			   " AND ($6 = 0 OR e.task_id = $6)"
			   " AND ($7 = 0 OR e.time_ms >= $7)"
			   " AND ($8 = 0 OR e.time_ms <= $8)"
			   " AND ($9 = 0 OR e.id < $9)"
			   " ORDER BY e.id DESC LIMIT $10",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, f->object_id);
	db_bind_bool(st, 2, f->include_children);
	db_bind_text(st, 3, f->type);
	db_bind_text(st, 4, f->category);
	db_bind_text(st, 5, f->principal);
	db_bind_int64(st, 6, f->task_id);
	db_bind_int64(st, 7, f->since_ms);
	db_bind_int64(st, 8, f->until_ms);
	db_bind_int64(st, 9, f->before_id);
	db_bind_int64(st, 10, (int64_t)limit);
	struct cevent_list list = {0};
	size_t cap = 0;
	while ((r = db_step(st, err)) > 0) {
		if (list.n == cap) {
			cap = cap ? cap * 2 : 16;
			list.items = xrealloc(list.items, cap * sizeof(*list.items));
		}
		read_row(st, &list.items[list.n++]);
	}
	if (r < 0) {
		cevent_list_clear(&list);
		return r;
	}
	*out = list;
	return 0;
}

int cevent_purge(struct db *db, int64_t cutoff_ms, int64_t *count, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "purge old events", "DELETE FROM event WHERE time_ms < $1", &st,
			   err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, cutoff_ms);
	r = db_step(st, err);
	if (r < 0)
		return r;
	if (count)
		*count = db_changes(st);
	return 0;
}
