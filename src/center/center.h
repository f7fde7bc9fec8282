/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_CENTER_H
#define VIREO_CENTER_CENTER_H

/*
 * vireo-center: the management server.  The database (center/db/) is the
 * one source of truth; the daemon adds what lives only while it runs:
 * a pool of database connections, the sessions of its users, one monitor
 * per managed host (center/hosts.h) and a pool of task workers
 * (center/taskrun.h).  Nothing here touches a VM directly: operations go
 * to the host agent that runs it, through that host's REST API.
 */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vr_error;
struct db;
struct dbpool;
struct csessions;
struct chosts;
struct taskrun;
struct api_server;
struct secrets;

struct center_config {
	char *state_dir;  /* key file, initial password; default /var/lib/vireo-center */
	char *db_location; /* NULL: state_dir/center.db (SQLite) */
	char *listen;
	unsigned port;    /* 8444 */
	char *tls_cert;
	char *tls_key;
	unsigned api_threads;	      /* HTTP worker threads (default 8) */
	unsigned heartbeat_ms;	      /* host liveness probe period (default 3000) */
	unsigned not_responding_ms;   /* no answer for this long: "not responding" (10000) */
	unsigned resync_ms;	      /* periodic full resync of each host (60000) */
	unsigned task_workers;	      /* concurrent center tasks per lane (default 4) */
	unsigned login_lockout_failures; /* failed logins that lock a user name (5; 0: off) */
	unsigned login_lockout_window_s; /* ... when they fall within this many seconds (180) */
	unsigned login_lockout_unlock_s; /* how long the name stays locked (300) */
};

struct center {
	struct center_config cfg;
	char uuid[37]; /* this center's identity (center_setting "uuid") */
	struct dbpool *pool;
	struct db *claim; /* holds the database for this center (db_claim()) */
	int claim_fd;	  /* SQLite: the claim file's lock (db_claim_file()), or -1 */
	struct secrets *secrets;
	struct csessions *sessions;
	struct chosts *hosts;
	struct taskrun *tasks;
	struct api_server *api;
	int64_t root_id; /* the root folder */
};

/* ---- the pool of database connections (dbpool.c) ---- */
struct dbpool *dbpool_new(const char *location, unsigned max, struct vr_error **err);
void dbpool_free(struct dbpool *p);
/* A connection for this thread's use until dbpool_put(); blocks while all are taken. */
struct db *dbpool_get(struct dbpool *p, struct vr_error **err);
/* Returns it; a connection left inside a transaction is rolled back. */
void dbpool_put(struct dbpool *p, struct db *db);
/* "SQLite" or "PostgreSQL". */
const char *dbpool_backend_name(const struct dbpool *p);

/* Wall-clock milliseconds, the timestamps of the database. */
int64_t center_now_ms(void);

/*
 * Posts to center's event log (and logs it); failures are logged, not
 * returned.  category: info, warning, error or user.
 */
void center_post_event(struct center *c, struct db *db, const char *type, const char *category,
		       int64_t object_id, const char *object_name, const char *principal,
		       int64_t task_id, const char *fmt, ...)
	__attribute__((format(printf, 9, 10)));
struct alarm_fire_list;
/*
 * Turns an alarm evaluation's result into events and runs the actions due:
 * log lines, webhooks (on threads of their own) and VM operations (center
 * tasks on the alarms' lane of the task runner), notify.c.  Never waits
 * for a host or a webhook's receiver.
 */
void center_run_alarm_fires(struct center *c, struct db *db, const struct alarm_fire_list *l);
/* Waits for the webhooks still running; before the database pool is freed. */
void center_notify_drain(void);
/* Feeds a state change to the alarms (alarms.c): e.g. "connection_state", "not_responding". */
void center_alarm_state(struct center *c, struct db *db, int64_t object_id,
			const char *state_name, const char *value);

#endif
