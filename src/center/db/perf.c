/* SPDX-License-Identifier: Apache-2.0 */
/* Performance history on the database (rules in perf.h, tables in schema.c). */
#include "center/db/perf.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "center/db/db.h"
#include "center/db/schema.h"
#include "common/error.h"
#include "common/util.h"

#define LEVEL_SAMPLES 1
#define SAMPLE_MS 20000
#define MAX_LEVELS 5

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

/* Rounds down to a multiple of step (also for times before the epoch). */
static int64_t align_down(int64_t t, int64_t step)
{
	int64_t q = t / step;
	if (t % step < 0)
		q--;
	return q * step;
}

/* ---- store ---- */

/*
 * Samples go in multi-row INSERTs of these many rows (largest first), so
 * that a host's 20-second batch is a few round trips and each connection
 * prepares at most four statements for it.
 */
static const size_t chunk_rows[] = {64, 16, 4, 1};
#define PARAMS_PER_ROW 5

struct row {
	int64_t object_id, counter_id, ts_ms;
	const char *instance;
	double value;
	size_t order; /* position in the caller's array: the last of duplicates wins */
};

static int row_cmp(const void *pa, const void *pb)
{
	const struct row *a = pa, *b = pb;
	if (a->object_id != b->object_id)
		return a->object_id < b->object_id ? -1 : 1;
	if (a->counter_id != b->counter_id)
		return a->counter_id < b->counter_id ? -1 : 1;
	int c = strcmp(a->instance, b->instance);
	if (c)
		return c;
	if (a->ts_ms != b->ts_ms)
		return a->ts_ms < b->ts_ms ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

static bool same_key(const struct row *a, const struct row *b)
{
	return a->object_id == b->object_id && a->counter_id == b->counter_id &&
	       a->ts_ms == b->ts_ms && strcmp(a->instance, b->instance) == 0;
}

struct counter_ids {
	char **names; /* NULL-terminated */
	int64_t *ids;
};

static void counter_ids_clear(struct counter_ids *c)
{
	strv_free(c->names);
	free(c->ids);
}

static int read_counters(struct db *db, struct counter_ids *out, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read the performance counters", "SELECT id, name FROM perf_counter",
			   &st, err);
	if (r < 0)
		return r;
	size_t n = 0;
	while ((r = db_step(st, err)) > 0) {
		strv_push(&out->names, db_column_text(st, 1));
		out->ids = xrealloc(out->ids, (n + 1) * sizeof(*out->ids));
		out->ids[n++] = db_column_int64(st, 0);
	}
	return r;
}

static int64_t counter_id(const struct counter_ids *c, const char *name)
{
	for (size_t i = 0; name && c->names && c->names[i]; i++)
		if (strcmp(c->names[i], name) == 0)
			return c->ids[i];
	return 0;
}

/* The INSERT of `rows` samples: "... VALUES (1, $1, $2, $3, $4, $5), (1, $6, ...) ...". */
static char *insert_sql(size_t rows)
{
	_cleanup_strv_ char **values = NULL;
	for (size_t i = 0; i < rows; i++) {
		size_t p = i * PARAMS_PER_ROW;
		strv_pushf(&values, "(%d, $%zu, $%zu, $%zu, $%zu, $%zu)", LEVEL_SAMPLES, p + 1,
			   p + 2, p + 3, p + 4, p + 5);
	}
	_cleanup_free_ char *list = strv_join(values, ", ");
	return xasprintf("INSERT INTO perf_sample (interval_level, object_id, counter_id,"
			 " instance, ts_ms, value) VALUES %s"
			 " ON CONFLICT (object_id, counter_id, instance, interval_level, ts_ms)"
			 " DO UPDATE SET value = excluded.value",
			 list);
}

static int insert_rows(struct db *db, const struct row *rows, size_t n, struct vr_error **err)
{
	size_t done = 0;
	for (size_t k = 0; k < ARRAY_SIZE(chunk_rows) && done < n; k++) {
		size_t size = chunk_rows[k];
		if (n - done < size)
			continue;
		_cleanup_free_ char *sql = insert_sql(size);
		_cleanup_stmt_ struct db_stmt *st = NULL;
		int r = db_prepare(db, "store performance samples", sql, &st, err);
		if (r < 0)
			return r;
		for (; n - done >= size; done += size) {
			for (size_t i = 0; i < size; i++) {
				const struct row *row = &rows[done + i];
				int p = (int)(i * PARAMS_PER_ROW);
				db_bind_int64(st, p + 1, row->object_id);
				db_bind_int64(st, p + 2, row->counter_id);
				db_bind_text(st, p + 3, row->instance);
				db_bind_int64(st, p + 4, row->ts_ms);
				db_bind_double(st, p + 5, row->value);
			}
			r = db_step(st, err);
			if (r < 0)
				return r;
			db_reset(st);
		}
	}
	return 0;
}

struct store_args {
	const struct row *rows;
	size_t n;
};

static int do_store(struct db *db, void *a, struct vr_error **err)
{
	const struct store_args *args = a;
	return insert_rows(db, args->rows, args->n, err);
}

/*
 * The caller's samples as rows to insert: counters resolved, times
 * aligned, one row per key (the last given: a statement cannot change a
 * row twice).
 */
static int make_rows(struct db *db, const struct perf_sample_in *samples, size_t n,
		     struct row **out, size_t *n_out, struct vr_error **err)
{
	struct counter_ids counters = {0};
	int r = read_counters(db, &counters, err);
	struct row *rows = xcalloc(n, sizeof(*rows));
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const struct perf_sample_in *s = &samples[i];
		int64_t id = counter_id(&counters, s->counter);
		if (!id)
			r = vr_error_set(err, EINVAL,
					 "cannot store a sample for object %lld: unknown "
					 "performance counter \"%s\"",
					 (long long)s->object_id, s->counter ? s->counter : "");
		rows[i] = (struct row){s->object_id, id, align_down(s->ts_ms, SAMPLE_MS),
				       s->instance ? s->instance : "", s->value, i};
	}
	counter_ids_clear(&counters);
	if (r < 0) {
		free(rows);
		return r;
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (kept > 0 && same_key(&rows[kept - 1], &rows[i]))
			kept--;
		rows[kept++] = rows[i];
	}
	*out = rows;
	*n_out = kept;
	return 0;
}

/* After a refused store (its level rolled back): the first object that does not exist, or 0. */
static int64_t missing_object(struct db *db, const struct row *rows, size_t n)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	if (db_prepare(db, "check the objects of performance samples",
		       "SELECT COUNT(*) FROM inventory_object WHERE id = $1", &st, NULL) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && rows[i].object_id == rows[i - 1].object_id)
			continue; /* sorted by object */
		db_bind_int64(st, 1, rows[i].object_id);
		if (db_step(st, NULL) > 0 && db_column_int64(st, 0) == 0)
			return rows[i].object_id;
		db_reset(st);
	}
	return 0;
}

int perf_store(struct db *db, const struct perf_sample_in *samples, size_t n,
	       struct vr_error **err)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(samples[i].value))
			return vr_error_set(err, EINVAL,
					    "cannot store a sample of %s for object %lld: value %g "
					    "is not a finite number",
					    samples[i].counter ? samples[i].counter : "",
					    (long long)samples[i].object_id, samples[i].value);
	if (n == 0)
		return 0;
	_cleanup_free_ struct row *rows = NULL;
	size_t n_rows;
	int r = make_rows(db, samples, n, &rows, &n_rows, err);
	if (r < 0)
		return r;
	struct store_args args = {rows, n_rows};
	r = in_level(db, do_store, &args, err);
	if (r != -EINVAL)
		return r;
	/* Most likely a sample for an object that does not exist: say which. */
	int64_t missing = missing_object(db, rows, n_rows);
	if (!missing)
		return vr_error_wrap(err, "cannot store performance samples");
	if (err)
		vr_error_freep(err);
	return vr_error_set(err, ENOENT,
			    "cannot store performance samples: inventory object %lld does not "
			    "exist",
			    (long long)missing);
}

/* ---- roll-up ---- */

struct level {
	int64_t level, sample_ms;
};

static int read_levels(struct db *db, struct level *out, size_t *n, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "read the performance roll-up levels",
			   "SELECT level, sample_s FROM perf_interval ORDER BY level", &st, err);
	if (r < 0)
		return r;
	*n = 0;
	while ((r = db_step(st, err)) > 0 && *n < MAX_LEVELS) {
		out[*n].level = db_column_int64(st, 0);
		out[*n].sample_ms = db_column_int64(st, 1) * 1000;
		(*n)++;
	}
	return r;
}

/*
 * The first bucket of level `lv` to compute: after its newest value, or,
 * when it is empty, the bucket of the oldest value of the level below.
 * *found is false when there is nothing below either.
 */
static int first_bucket(struct db *db, const struct level *lv, const struct level *below,
			int64_t *from, bool *found, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "find where the performance roll-up stopped",
			   "SELECT (SELECT MAX(ts_ms) FROM perf_sample WHERE interval_level = $1),"
			   " (SELECT MIN(ts_ms) FROM perf_sample WHERE interval_level = $2)",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, lv->level);
	db_bind_int64(st, 2, below->level);
	r = db_step(st, err);
	if (r < 0)
		return r;
	*found = true;
	if (!db_column_is_null(st, 0))
		*from = align_down(db_column_int64(st, 0), lv->sample_ms) + lv->sample_ms;
	else if (!db_column_is_null(st, 1))
		*from = align_down(db_column_int64(st, 1), lv->sample_ms);
	else
		*found = false;
	return 0;
}

/*
 * Level `lv` for the buckets in [from, to) from the level below: one
 * INSERT ... SELECT ... GROUP BY for the aggregating roll-ups, one for
 * "latest" (the value of the newest sample of the bucket).
 */
static int rollup_range(struct db *db, const struct level *lv, const struct level *below,
			int64_t from, int64_t to, struct vr_error **err)
{
	static const struct {
		const char *purpose, *sql;
	} statements[] = {
		{"roll up performance history (average, minimum, maximum, summation)",
		 "INSERT INTO perf_sample (interval_level, object_id, counter_id, instance, ts_ms,"
		 " value)"
		 " SELECT $1, object_id, counter_id, instance, bucket,"
		 "  CASE rollup WHEN 'average' THEN AVG(value) WHEN 'minimum' THEN MIN(value)"
		 "  WHEN 'maximum' THEN MAX(value) ELSE SUM(value) END"
		 " FROM (SELECT s.object_id, s.counter_id, s.instance,"
		 "  (s.ts_ms / $2) * $2 AS bucket, s.value, c.rollup"
		 "  FROM perf_sample s JOIN perf_counter c ON c.id = s.counter_id"
		 "  WHERE s.interval_level = $3 AND s.ts_ms >= $4 AND s.ts_ms < $5"
		 "  AND c.rollup <> 'latest') x"
		 " WHERE TRUE GROUP BY object_id, counter_id, instance, bucket, rollup"
		 " ON CONFLICT (object_id, counter_id, instance, interval_level, ts_ms)"
		 " DO NOTHING"},
		{"roll up performance history (latest)",
		 "INSERT INTO perf_sample (interval_level, object_id, counter_id, instance, ts_ms,"
		 " value)"
		 " SELECT $1, s.object_id, s.counter_id, s.instance, (s.ts_ms / $2) * $2, s.value"
		 " FROM perf_sample s JOIN perf_counter c ON c.id = s.counter_id"
		 " WHERE s.interval_level = $3 AND s.ts_ms >= $4 AND s.ts_ms < $5"
		 " AND c.rollup = 'latest'"
		 " AND NOT EXISTS (SELECT 1 FROM perf_sample n WHERE n.object_id = s.object_id"
		 "  AND n.counter_id = s.counter_id AND n.instance = s.instance"
		 "  AND n.interval_level = s.interval_level AND n.ts_ms > s.ts_ms"
		 "  AND n.ts_ms < (s.ts_ms / $2) * $2 + $2)"
		 " ON CONFLICT (object_id, counter_id, instance, interval_level, ts_ms)"
		 " DO NOTHING"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(statements); i++) {
		_cleanup_stmt_ struct db_stmt *st = NULL;
		int r = db_prepare(db, statements[i].purpose, statements[i].sql, &st, err);
		if (r < 0)
			return r;
		db_bind_int64(st, 1, lv->level);
		db_bind_int64(st, 2, lv->sample_ms);
		db_bind_int64(st, 3, below->level);
		db_bind_int64(st, 4, from);
		db_bind_int64(st, 5, to);
		r = db_step(st, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int do_rollup(struct db *db, void *a, struct vr_error **err)
{
	int64_t now_ms = *(const int64_t *)a;
	struct level levels[MAX_LEVELS];
	size_t n;
	int r = read_levels(db, levels, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 1; i < n; i++) {
		/* Buckets starting before `to` have ended by now. */
		int64_t from, to = align_down(now_ms, levels[i].sample_ms);
		bool found;
		r = first_bucket(db, &levels[i], &levels[i - 1], &from, &found, err);
		if (r < 0)
			return r;
		if (!found || from >= to)
			continue;
		r = rollup_range(db, &levels[i], &levels[i - 1], from, to, err);
		if (r < 0)
			return r;
	}
	return schema_perf_prune(db, now_ms, NULL, err);
}

int perf_rollup(struct db *db, int64_t now_ms, struct vr_error **err)
{
	int r = in_level(db, do_rollup, &now_ms, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot roll up performance history");
	return 0;
}

/* ---- queries ---- */

/* Every interval kept, for messages: "20, 300, 1800, 7200, 86400". */
static char *valid_intervals(struct db *db)
{
	_cleanup_stmt_ struct db_stmt *st = NULL;
	_cleanup_strv_ char **v = NULL;
	if (db_prepare(db, "list the performance intervals",
		       "SELECT sample_s FROM perf_interval ORDER BY level", &st, NULL) == 0)
		while (db_step(st, NULL) > 0)
			strv_pushf(&v, "%lld", (long long)db_column_int64(st, 0));
	return v ? strv_join(v, ", ") : xstrdup("none");
}

int perf_query(struct db *db, int64_t object_id, const char *counter, const char *instance,
	       int interval_s, int64_t start_ms, int64_t end_ms, struct perf_point **points,
	       size_t *n, struct vr_error **err)
{
	*points = NULL;
	*n = 0;
	_cleanup_stmt_ struct db_stmt *chk = NULL;
	int r = db_prepare(db, "find a performance interval and counter",
			   "SELECT (SELECT level FROM perf_interval WHERE sample_s = $1),"
			   " (SELECT id FROM perf_counter WHERE name = $2)",
			   &chk, err);
	if (r < 0)
		return r;
	db_bind_int64(chk, 1, interval_s);
	db_bind_text(chk, 2, counter ? counter : "");
	r = db_step(chk, err);
	if (r < 0)
		return r;
	bool no_level = db_column_is_null(chk, 0), no_counter = db_column_is_null(chk, 1);
	int64_t level = db_column_int64(chk, 0), counter_id = db_column_int64(chk, 1);
	db_reset(chk);
	if (no_level) {
		_cleanup_free_ char *valid = valid_intervals(db);
		return vr_error_set(err, EINVAL, "no performance history at a %d s interval; the "
				    "intervals kept are %s s", interval_s, valid);
	}
	if (no_counter)
		return vr_error_set(err, EINVAL, "unknown performance counter \"%s\"",
				    counter ? counter : "");

	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "query performance history",
		       "SELECT ts_ms, value FROM perf_sample WHERE object_id = $1"
		       " AND counter_id = $2 AND instance = $3 AND interval_level = $4"
		       " AND ts_ms >= $5 AND ts_ms <= $6 ORDER BY ts_ms",
		       &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, object_id);
	db_bind_int64(st, 2, counter_id);
	db_bind_text(st, 3, instance ? instance : "");
	db_bind_int64(st, 4, level);
	db_bind_int64(st, 5, start_ms);
	db_bind_int64(st, 6, end_ms);
	struct perf_point *out = NULL;
	size_t count = 0, cap = 0;
	while ((r = db_step(st, err)) > 0) {
		if (count == cap) {
			cap = cap ? cap * 2 : 64;
			out = xrealloc(out, cap * sizeof(*out));
		}
		out[count++] = (struct perf_point){db_column_int64(st, 0), db_column_double(st, 1)};
	}
	if (r < 0) {
		free(out);
		return r;
	}
	*points = out;
	*n = count;
	return 0;
}

int perf_counters_for(struct db *db, int64_t object_id, char ***names, size_t *n,
		      struct vr_error **err)
{
	*names = NULL;
	*n = 0;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	/* One probe of the primary key (object_id, counter_id, ...) per counter. */
	int r = db_prepare(db, "list the performance counters of an object",
			   "SELECT c.name FROM perf_counter c WHERE EXISTS"
			   " (SELECT 1 FROM perf_sample s WHERE s.object_id = $1"
			   " AND s.counter_id = c.id) ORDER BY c.name",
			   &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, object_id);
	_cleanup_strv_ char **v = NULL;
	size_t count = 0;
	while ((r = db_step(st, err)) > 0) {
		strv_push(&v, db_column_text(st, 0));
		count++;
	}
	if (r < 0)
		return r;
	if (!v)
		v = xcalloc(1, sizeof(*v));
	*names = steal_pointer(&v);
	*n = count;
	return 0;
}
