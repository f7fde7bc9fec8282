/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small pool of database connections.  A struct db serves one thread at
 * a time (center/db/db.h), and opening one costs a file open (SQLite) or a
 * network round trip and a backend process (PostgreSQL), so the API's
 * worker threads, the host monitors and the task workers borrow open
 * connections from here and give them back.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "center/center.h"
#include "center/db/db.h"
#include "common/error.h"
#include "common/log.h"
#include "common/util.h"

struct dbpool {
	char *location;
	unsigned max, open;
	pthread_mutex_t lock;
	pthread_cond_t returned;
	struct db **idle;
	unsigned n_idle;
	char backend[16];
};

int64_t center_now_ms(void)
{
	return (int64_t)time_real_ms();
}

struct dbpool *dbpool_new(const char *location, unsigned max, struct vr_error **err)
{
	struct db *first;
	if (db_open(location, &first, err) < 0)
		return NULL;
	struct dbpool *p = xcalloc(1, sizeof(*p));
	p->location = xstrdup(location);
	p->max = max ? max : 16;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->returned, NULL);
	p->idle = xcalloc(p->max, sizeof(*p->idle));
	snprintf(p->backend, sizeof(p->backend), "%s", db_backend_name(first));
	p->idle[p->n_idle++] = first;
	p->open = 1;
	return p;
}

void dbpool_free(struct dbpool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->n_idle; i++)
		db_close(p->idle[i]);
	if (p->open != p->n_idle)
		log_warn("database pool: %u connections still borrowed at exit", p->open - p->n_idle);
	free(p->idle);
	free(p->location);
	pthread_cond_destroy(&p->returned);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

const char *dbpool_backend_name(const struct dbpool *p)
{
	return p->backend;
}

struct db *dbpool_get(struct dbpool *p, struct vr_error **err)
{
	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (p->n_idle > 0) {
			struct db *db = p->idle[--p->n_idle];
			pthread_mutex_unlock(&p->lock);
			return db;
		}
		if (p->open < p->max) {
			p->open++;
			pthread_mutex_unlock(&p->lock);
			struct db *db = NULL;
			if (db_open(p->location, &db, err) < 0) {
				pthread_mutex_lock(&p->lock);
				p->open--;
				pthread_cond_signal(&p->returned);
				pthread_mutex_unlock(&p->lock);
				return NULL;
			}
			return db;
		}
		pthread_cond_wait(&p->returned, &p->lock);
	}
}

void dbpool_put(struct dbpool *p, struct db *db)
{
	if (!db)
		return;
	while (db_txn_depth(db) > 0) {
		_cleanup_error_ struct vr_error *err = NULL;
		log_warn("database pool: a connection came back inside a transaction; rolling back");
		if (db_rollback(db, &err) < 0)
			break;
	}
	pthread_mutex_lock(&p->lock);
	if (db_txn_depth(db) > 0) {
		/* Cannot be made clean: drop it. */
		p->open--;
		pthread_mutex_unlock(&p->lock);
		db_close(db);
		pthread_mutex_lock(&p->lock);
	} else {
		p->idle[p->n_idle++] = db;
	}
	pthread_cond_signal(&p->returned);
	pthread_mutex_unlock(&p->lock);
}
