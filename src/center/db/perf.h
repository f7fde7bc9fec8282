/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_DB_PERF_H
#define VIREO_CENTER_DB_PERF_H

/*
 * Performance history with vCenter-style roll-ups and bounded growth.
 *
 * Hosts report samples every 20 s; they are stored at level 1.  Each
 * higher level holds one value per bucket of its interval, computed from
 * the level below with the counter's roll-up (perf_counter.rollup):
 *
 *   level  interval  kept      computed from
 *   1      20 s      1 hour    (samples)
 *   2      5 min     1 day     level 1
 *   3      30 min    1 week    level 2
 *   4      2 h       30 days   level 3
 *   5      1 day     1 year    level 4
 *
 * A value is stamped with the start of its bucket: the level-2 value at
 * 10:05:00 covers the level-1 samples from 10:05:00 to 10:09:40.  A
 * bucket is rolled up once, when it is complete (its end <= now); samples
 * stored later for a bucket already rolled up stay at their level only,
 * so a collector that lags passes now minus its lag to perf_rollup().
 *
 * Levels and retention are rows of perf_interval, counters rows of
 * perf_counter (schema.c).
 */

#include <stddef.h>
#include <stdint.h>

struct db;
struct vr_error;

struct perf_point {
	int64_t ts_ms;
	double value;
};

struct perf_sample_in {
	int64_t object_id;
	const char *counter;  /* perf_counter.name: "cpu.usage.average" */
	const char *instance; /* "" or NULL for the aggregate; "scsi0:0", "eth0" */
	int64_t ts_ms;
	double value; /* finite */
};

/*
 * Stores level-1 samples, all or none (a transaction level of its own),
 * in multi-row INSERTs.  Timestamps are aligned down to 20 s; a sample
 * with the same object, counter, instance and aligned time as a stored
 * one (or a later one in the same call) replaces it.  -EINVAL naming an
 * unknown counter or a value that is not finite; -ENOENT naming an
 * object that does not exist.
 */
int perf_store(struct db *db, const struct perf_sample_in *samples, size_t n,
	       struct vr_error **err);

/*
 * Rolls up every complete bucket of levels 2..5 not rolled up yet (in
 * level order, so one call carries a day's samples up to level 5), then
 * deletes each level's values older than its retention.  Idempotent and
 * cheap when there is nothing new: call it every 20 s.  The last bucket
 * rolled up at a level is the newest value stored there; an empty level
 * starts from the oldest value of the level below.
 */
int perf_rollup(struct db *db, int64_t now_ms, struct vr_error **err);

/*
 * The values of a counter for an object in [start_ms, end_ms], oldest
 * first, at the level whose interval is interval_s (20, 300, 1800, 7200
 * or 86400; any other is -EINVAL listing those).  instance NULL is "".
 * *points is a new array (NULL when *n is 0), freed with free().
 */
int perf_query(struct db *db, int64_t object_id, const char *counter, const char *instance,
	       int interval_s, int64_t start_ms, int64_t end_ms, struct perf_point **points,
	       size_t *n, struct vr_error **err);

/*
 * The names of the counters with values for an object, at any level,
 * sorted bytewise: *names is a new NULL-terminated string vector (free it
 * with strv_free()), *n its length.
 */
int perf_counters_for(struct db *db, int64_t object_id, char ***names, size_t *n,
		      struct vr_error **err);

#endif
