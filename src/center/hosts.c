/* SPDX-License-Identifier: Apache-2.0 */
/* Center's connections to its hosts: joining, monitoring, calls (hosts.h). */
#include "center/hosts.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "api/client.h"
#include "center/center.h"
#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/hosts_priv.h"
#include "center/secrets.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"

#define SERVICE_PASSWORD_LEN 32
/* The host holds a long poll this long; each answer doubles as a heartbeat. */
#define POLL_WAIT_MIN_S 1
#define CONNECT_TIMEOUT_S 3

static const char *const state_names[] = {
	[CHOST_CONNECTED] = "connected",
	[CHOST_DISCONNECTED] = "disconnected",
	[CHOST_NOT_RESPONDING] = "not_responding",
};

const char *chost_state_name(enum chost_state s)
{
	return (unsigned)s < ARRAY_SIZE(state_names) ? state_names[s] : "unknown";
}

static int state_parse(const char *s, enum chost_state *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_names); i++)
		if (s && strcmp(s, state_names[i]) == 0) {
			*out = (enum chost_state)i;
			return 0;
		}
	return -EINVAL;
}

/*
 * Kept-alive connections of all hosts together: each is an open file here
 * and a connection slot on its host.  A quarter of the process's file
 * limit (256 to 16,384): with 20,000 files, 1,000 hosts keep 4 each.
 * Without them every call to a host is a new TCP and TLS handshake.
 */
static unsigned idle_budget = 256;
static atomic_uint idle_total;

static void idle_budget_init(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return;
	rlim_t quarter = rl.rlim_cur / 4;
	idle_budget = quarter < 256 ? 256 : quarter > 16384 ? 16384 : (unsigned)quarter;
}

/* One more kept-alive connection within the budget. */
static bool idle_reserve(void)
{
	unsigned n = atomic_load(&idle_total);
	while (n < idle_budget)
		if (atomic_compare_exchange_weak(&idle_total, &n, n + 1))
			return true;
	return false;
}

/* ---- the host list ---- */

static void chost_unref(struct chost *h)
{
	if (!h)
		return;
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	free(h->name);
	free(h->url);
	free(h->username);
	free(h->sealed);
	free(h->ca_file);
	if (h->token)
		explicit_bzero(h->token, strlen(h->token));
	free(h->token);
	free(h->reason);
	free(h->instance);
	free(h->pools_sent);
	free(h->pools_error);
	for (unsigned i = 0; i < h->n_idle; i++)
		api_client_free(h->idle[i]);
	atomic_fetch_sub(&idle_total, h->n_idle);
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->pools_lock);
	pthread_mutex_destroy(&h->apply_lock);
	json_decref(h->vm_seq);
	free(h);
}

static void chost_unrefp(struct chost **h)
{
	chost_unref(*h);
}

static struct chost *chost_find(struct chosts *hs, int64_t id)
{
	pthread_mutex_lock(&hs->lock);
	struct chost *h = hs->list;
	while (h && h->id != id)
		h = h->next;
	if (h)
		__atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&hs->lock);
	return h;
}

struct chosts *chosts_new(struct center *c)
{
	struct chosts *hs = xcalloc(1, sizeof(*hs));
	hs->c = c;
	pthread_mutex_init(&hs->lock, NULL);
	idle_budget_init();
	return hs;
}

void chosts_hold_vm(struct chosts *hs, const char *uuid)
{
	pthread_mutex_lock(&hs->lock);
	strv_push(&hs->held, uuid);
	pthread_mutex_unlock(&hs->lock);
}

void chosts_release_vm(struct chosts *hs, const char *uuid)
{
	pthread_mutex_lock(&hs->lock);
	size_t n = strv_len(hs->held);
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(hs->held[i], uuid) == 0) {
			free(hs->held[i]);
			hs->held[i] = hs->held[n - 1];
			hs->held[n - 1] = NULL;
			break;
		}
	pthread_mutex_unlock(&hs->lock);
}

bool chosts_vm_held(struct chosts *hs, const char *uuid)
{
	bool held = false;
	pthread_mutex_lock(&hs->lock);
	for (size_t i = 0; hs->held && hs->held[i] && !held; i++)
		held = strcasecmp(hs->held[i], uuid) == 0;
	pthread_mutex_unlock(&hs->lock);
	return held;
}

static struct chost *chost_new(int64_t id, const char *name, const char *url,
			       const char *username, const char *sealed, bool insecure,
			       const char *ca_file)
{
	struct chost *h = xcalloc(1, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->pools_lock, NULL);
	pthread_mutex_init(&h->apply_lock, NULL);
	h->vm_seq = json_object();
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);
	h->refs = 1;
	h->id = id;
	h->name = xstrdup(name);
	h->url = xstrdup(url);
	h->username = xstrdup(username);
	h->sealed = xstrdup(sealed);
	h->insecure = insecure;
	h->ca_file = ca_file ? xstrdup(ca_file) : NULL;
	h->state = CHOST_NOT_RESPONDING;
	h->reason = xstrdup("not contacted yet");
	h->sync_wanted = true;
	return h;
}

/* ---- state, persisted and announced ---- */

static int save_state(struct db *db, int64_t host_id, enum chost_state st, const char *reason,
		      bool admin_disconnected, struct vr_error **err)
{
	_cleanup_stmt_ struct db_stmt *s = NULL;
	int r = db_prepare(db, "record a host's connection state",
			   "UPDATE host_connection SET state = $2, state_reason = $3,"
			   " admin_disconnected = $4, last_seen_ms = CASE WHEN $2 = 'connected'"
			   " THEN $5 ELSE last_seen_ms END WHERE host_id = $1",
			   &s, err);
	if (r < 0)
		return r;
	db_bind_int64(s, 1, host_id);
	db_bind_text(s, 2, chost_state_name(st));
	db_bind_text(s, 3, reason ? reason : "");
	db_bind_bool(s, 4, admin_disconnected);
	db_bind_int64(s, 5, center_now_ms());
	return db_step(s, err);
}

/* Changes the state; on a change records it and posts an event. */
static void set_state(struct chosts *hs, struct chost *h, enum chost_state st, const char *reason)
{
	pthread_mutex_lock(&h->lock);
	if (h->admin_disconnected && st != CHOST_DISCONNECTED) {
		/* A monitor round that ended after an administrator disconnected the host. */
		pthread_mutex_unlock(&h->lock);
		return;
	}
	bool changed = h->state != st;
	bool reason_changed = !h->reason || strcmp(h->reason, reason ? reason : "") != 0;
	h->state = st;
	free(h->reason);
	h->reason = xstrdup(reason ? reason : "");
	bool admin = h->admin_disconnected;
	pthread_mutex_unlock(&h->lock);
	if (!changed && !reason_changed)
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	struct db *db = dbpool_get(hs->c->pool, &err);
	if (!db) {
		log_warn("host \"%s\": cannot record its state: %s", h->name, vr_error_msg(err));
		return;
	}
	if (save_state(db, h->id, st, reason, admin, &err) < 0)
		log_warn("host \"%s\": cannot record its state: %s", h->name, vr_error_msg(err));
	if (changed) {
		static const char *const types[] = {
			[CHOST_CONNECTED] = "HostConnectedEvent",
			[CHOST_DISCONNECTED] = "HostDisconnectedEvent",
			[CHOST_NOT_RESPONDING] = "HostNotRespondingEvent",
		};
		center_post_event(hs->c, db, types[st],
				  st == CHOST_CONNECTED ? "info"
				  : st == CHOST_NOT_RESPONDING ? "error"
							       : "warning",
				  h->id, h->name, "", 0, "host \"%s\" is %s%s%s", h->name,
				  st == CHOST_NOT_RESPONDING ? "not responding"
							     : chost_state_name(st),
				  reason && *reason ? ": " : "", reason ? reason : "");
		center_alarm_state(hs->c, db, h->id, "connection_state", chost_state_name(st));
	}
	dbpool_put(hs->c->pool, db);
}

/* ---- talking to a host ---- */

static char *secret_purpose(const char *url)
{
	return xasprintf("host %s", url);
}

static struct api_client *client_for(const struct chost *h, struct vr_error **err)
{
	struct api_client *cl = api_client_new(h->url, h->insecure, h->ca_file, err);
	if (cl)
		api_client_set_timeouts(cl, 120, CONNECT_TIMEOUT_S);
	return cl;
}

/* A kept-alive client for one call, or a new one; client_give() takes it back. */
static struct api_client *client_take(struct chost *h, struct vr_error **err)
{
	struct api_client *cl = NULL;
	pthread_mutex_lock(&h->lock);
	if (h->n_idle) {
		cl = h->idle[--h->n_idle];
		atomic_fetch_sub(&idle_total, 1);
	}
	pthread_mutex_unlock(&h->lock);
	if (!cl)
		return client_for(h, err);
	api_client_set_timeouts(cl, 120, CONNECT_TIMEOUT_S);
	return cl;
}

static void client_give(struct chost *h, struct api_client *cl)
{
	pthread_mutex_lock(&h->lock);
	if (h->n_idle < CHOST_IDLE_CLIENTS && idle_reserve()) {
		h->idle[h->n_idle++] = cl;
		cl = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	api_client_free(cl);
}

/* Logs in with the service account; the token is kept for every caller. */
static int host_login(struct chosts *hs, struct chost *h, struct api_client *cl,
		      struct vr_error **err)
{
	_cleanup_free_ char *purpose = secret_purpose(h->url);
	char *password = NULL;
	int r = secrets_open_value(hs->c->secrets, purpose, h->sealed, &password, err);
	if (r < 0)
		return r;
	r = api_client_login(cl, h->username, password, NULL, err);
	explicit_bzero(password, strlen(password));
	free(password);
	if (r < 0)
		return r;
	pthread_mutex_lock(&h->lock);
	free(h->token);
	h->token = xstrdup(api_client_token(cl));
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* One request with the shared session; logs in (again) when needed. */
static int host_request(struct chosts *hs, struct chost *h, struct api_client *cl,
			const char *method, const char *path, json_t *body, long *status,
			json_t **reply, struct vr_error **err)
{
	pthread_mutex_lock(&h->lock);
	if (h->token)
		api_client_set_token(cl, h->token);
	pthread_mutex_unlock(&h->lock);
	if (!api_client_token(cl)) {
		int r = host_login(hs, h, cl, err);
		if (r < 0)
			return r;
	}
	long st = 0;
	struct vr_error *e = NULL;
	int r = api_client_request(cl, method, path, body, &st, reply, &e);
	if (r < 0 && st == 401) {
		vr_error_free(e);
		e = NULL;
		r = host_login(hs, h, cl, err);
		if (r < 0)
			return r;
		r = api_client_request(cl, method, path, body, &st, reply, &e);
	}
	if (status)
		*status = st;
	if (r < 0 && err && !*err)
		*err = e;
	else
		vr_error_free(e);
	return r;
}

int chosts_call_timeout(struct chosts *hs, int64_t host_id, const char *method,
			const char *path, json_t *body, long timeout_s, long *status,
			json_t **reply, struct vr_error **err)
{
	return chosts_call_abortable(hs, host_id, method, path, body, timeout_s, NULL, status,
				     reply, err);
}

int chosts_call_abortable(struct chosts *hs, int64_t host_id, const char *method,
			  const char *path, json_t *body, long timeout_s,
			  const volatile bool *abort, long *status, json_t **reply,
			  struct vr_error **err)
{
	if (status)
		*status = 0;
	_cleanup_(chost_unrefp) struct chost *h = chost_find(hs, host_id);
	if (!h)
		return vr_error_set(err, ENOENT, "no host with id %lld", (long long)host_id);
	pthread_mutex_lock(&h->lock);
	enum chost_state st = h->state;
	pthread_mutex_unlock(&h->lock);
	if (st != CHOST_CONNECTED)
		return vr_error_set(err, EHOSTDOWN, "host \"%s\" is %s", h->name,
				    st == CHOST_DISCONNECTED ? "disconnected" : "not responding");
	struct api_client *cl = client_take(h, err);
	if (!cl)
		return -ENOMEM;
	if (timeout_s > 0)
		api_client_set_timeouts(cl, timeout_s, CONNECT_TIMEOUT_S);
	api_client_set_abort_flag(cl, abort);
	int r = host_request(hs, h, cl, method, path, body, status, reply, err);
	api_client_set_abort_flag(cl, NULL);
	client_give(h, cl);
	if (r < 0)
		vr_error_wrap(err, "host \"%s\"", h->name);
	return r;
}

void chosts_pools_push(struct chosts *hs, int64_t host_id)
{
	_cleanup_(chost_unrefp) struct chost *h = chost_find(hs, host_id);
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	bool connected = h->state == CHOST_CONNECTED;
	pthread_mutex_unlock(&h->lock);
	if (!connected || __atomic_load_n(&h->pools_gen, __ATOMIC_RELAXED) == inventory_generation())
		return;
	struct vr_error *e = NULL;
	struct api_client *cl = client_take(h, &e);
	if (!cl) {
		vr_error_free(e);
		return;
	}
	poolsync_host(hs, h, cl);
	client_give(h, cl);
}

int chosts_call(struct chosts *hs, int64_t host_id, const char *method, const char *path,
		json_t *body, long *status, json_t **reply, struct vr_error **err)
{
	return chosts_call_timeout(hs, host_id, method, path, body, 0, status, reply, err);
}

/* ---- the monitor ---- */

static bool is_unreachable(int r)
{
	return r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EHOSTUNREACH || r == -EIO ||
	       r == -EPROTO || r == -EAGAIN || r == -ENETUNREACH;
}

/* A failed request: not responding once it has lasted long enough; refused credentials: disconnected. */
static void note_failure(struct chosts *hs, struct chost *h, int r, const struct vr_error *err)
{
	const char *msg = vr_error_msg(err);
	if (r == -EACCES || r == -EPERM) {
		_cleanup_free_ char *why =
			xasprintf("the host refused center's credentials (%s); remove the host and "
				  "add it again",
				  msg);
		pthread_mutex_lock(&h->lock);
		h->admin_disconnected = true; /* stop hammering the host with bad logins */
		pthread_mutex_unlock(&h->lock);
		set_state(hs, h, CHOST_DISCONNECTED, why);
		return;
	}
	uint64_t now = time_mono_ms();
	pthread_mutex_lock(&h->lock);
	bool long_enough = now - h->last_ok_mono >= hs->c->cfg.not_responding_ms ||
			   h->state != CHOST_CONNECTED;
	pthread_mutex_unlock(&h->lock);
	if (long_enough)
		set_state(hs, h, CHOST_NOT_RESPONDING, msg);
	else
		log_info("host \"%s\": %s (retrying)", h->name, msg);
	if (!is_unreachable(r))
		log_warn("host \"%s\": %s", h->name, msg);
}

/* Waits up to ms or until woken; false when stopping. */
static bool monitor_sleep(struct chosts *hs, struct chost *h, unsigned ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&h->lock);
	if (!h->stop && !h->kick)
		pthread_cond_timedwait(&h->wake, &h->lock, &deadline);
	h->kick = false;
	bool go_on = !h->stop;
	pthread_mutex_unlock(&h->lock);
	return go_on;
}

static void process_events(struct chosts *hs, struct chost *h, struct api_client *cl,
			   json_t *reply)
{
	json_t *events = json_object_get(reply, "events");
	size_t i;
	json_t *ev;
	json_array_foreach(events, i, ev) {
		const char *object = json_get_string(ev, "object", NULL);
		if (object && uuid_is_valid(object)) {
			struct vr_error *e = NULL;
			if (sync_refresh_vm(hs, h, cl, object, &e) < 0) {
				log_warn("host \"%s\": cannot refresh VM %s: %s", h->name, object,
					 vr_error_msg(e));
				vr_error_free(e);
			}
		} else if (strcmp(json_get_string(ev, "type", ""), "AccountLockedEvent") != 0) {
			/*
			 * Host-wide events (switches, datastores): the next full sync picks
			 * them up.  A user name locked by failed logins changes nothing
			 * center mirrors, and anyone can cause one: no sync for that.
			 */
			pthread_mutex_lock(&h->lock);
			h->sync_wanted = true;
			pthread_mutex_unlock(&h->lock);
		}
		sync_mirror_event(hs, h, ev);
	}
}

static void *monitor_main(void *opaque)
{
	struct chost *h = opaque;
	struct chosts *hs = h->hosts;
	struct center *c = hs->c;
	_cleanup_error_ struct vr_error *cerr = NULL;
	struct api_client *cl = client_for(h, &cerr);
	if (!cl) {
		log_error("host \"%s\": %s", h->name, vr_error_msg(cerr));
		return NULL;
	}
	api_client_set_abort_flag(cl, &h->stop);
	unsigned wait_s = c->cfg.heartbeat_ms / 1000;
	if (wait_s < POLL_WAIT_MIN_S)
		wait_s = POLL_WAIT_MIN_S;
	/* A host that holds the poll much longer than asked is as good as silent. */
	api_client_set_timeouts(cl, (long)wait_s + 3, CONNECT_TIMEOUT_S);
	uint64_t next_resync = 0, next_perf = time_mono_ms() + 2000;
	for (;;) {
		pthread_mutex_lock(&h->lock);
		bool stop = h->stop, admin_off = h->admin_disconnected;
		pthread_mutex_unlock(&h->lock);
		if (stop)
			break;
		if (admin_off) {
			if (!monitor_sleep(hs, h, 3600 * 1000))
				break;
			continue;
		}
		struct vr_error *err = NULL;
		int r;
		pthread_mutex_lock(&h->lock);
		bool want_sync = h->sync_wanted || time_mono_ms() >= next_resync;
		pthread_mutex_unlock(&h->lock);
		if (want_sync) {
			r = sync_full(hs, h, cl, &err);
			if (r < 0) {
				if (r == -ECANCELED) {
					vr_error_free(err);
					break;
				}
				note_failure(hs, h, r, err);
				vr_error_free(err);
				if (!monitor_sleep(hs, h, c->cfg.heartbeat_ms))
					break;
				continue;
			}
			pthread_mutex_lock(&h->lock);
			h->sync_wanted = false;
			h->last_ok_mono = time_mono_ms();
			pthread_mutex_unlock(&h->lock);
			next_resync = time_mono_ms() + c->cfg.resync_ms;
			set_state(hs, h, CHOST_CONNECTED, "");
			poolsync_host(hs, h, cl);
		}
		pthread_mutex_lock(&h->lock);
		_cleanup_free_ char *path = xasprintf("/api/v1/events?since=%lld&wait=%u",
						      (long long)h->cursor, wait_s);
		pthread_mutex_unlock(&h->lock);
		json_t *reply = NULL;
		r = host_request(hs, h, cl, "GET", path, NULL, NULL, &reply, &err);
		if (r < 0) {
			if (r == -ECANCELED) {
				vr_error_free(err);
				break;
			}
			note_failure(hs, h, r, err);
			vr_error_free(err);
			if (!monitor_sleep(hs, h, c->cfg.heartbeat_ms / 2 + 1))
				break;
			continue;
		}
		const char *instance = json_get_string(reply, "instance", "");
		int64_t first = json_get_int(reply, "first", 1);
		int64_t last = json_get_int(reply, "last", 0);
		pthread_mutex_lock(&h->lock);
		h->last_ok_mono = time_mono_ms();
		bool restarted = !h->instance || strcmp(h->instance, instance) != 0;
		bool missed = h->cursor < first - 1 || last < h->cursor;
		pthread_mutex_unlock(&h->lock);
		if (restarted || missed) {
			/* Start over from the host's newest event and re-read everything. */
			pthread_mutex_lock(&h->lock);
			free(h->instance);
			h->instance = xstrdup(instance);
			h->cursor = last;
			h->sync_wanted = true;
			pthread_mutex_unlock(&h->lock);
			pthread_mutex_lock(&h->pools_lock);
			free(h->pools_sent); /* a new hostd: tell it again */
			h->pools_sent = NULL;
			pthread_mutex_unlock(&h->pools_lock);
			if (!restarted)
				log_warn("host \"%s\": missed events; resynchronising", h->name);
		} else {
			process_events(hs, h, cl, reply);
			pthread_mutex_lock(&h->lock);
			h->cursor = last;
			pthread_mutex_unlock(&h->lock);
		}
		json_decref(reply);
		set_state(hs, h, CHOST_CONNECTED, "");
		if (__atomic_load_n(&h->pools_gen, __ATOMIC_RELAXED) != inventory_generation())
			poolsync_host(hs, h, cl);
		if (perf_due(&next_perf)) {
			if (perf_collect(hs, h, cl, &err) < 0)
				log_info("host \"%s\": statistics not collected: %s", h->name,
					 vr_error_msg(err));
			vr_error_free(err);
			err = NULL;
		}
	}
	api_client_free(cl);
	return NULL;
}

static int monitor_start(struct chosts *hs, struct chost *h, struct vr_error **err)
{
	h->hosts = hs;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	int r = pthread_create(&h->thread, &attr, monitor_main, h);
	pthread_attr_destroy(&attr);
	if (r != 0)
		return vr_error_set_errno(err, r, "cannot start the monitor of host \"%s\"", h->name);
	h->thread_started = true;
	return 0;
}

static void monitor_stop(struct chost *h)
{
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_broadcast(&h->wake);
	pthread_mutex_unlock(&h->lock);
	if (h->thread_started)
		pthread_join(h->thread, NULL);
	h->thread_started = false;
}

static void kick(struct chost *h)
{
	pthread_mutex_lock(&h->lock);
	h->kick = true;
	pthread_cond_broadcast(&h->wake);
	pthread_mutex_unlock(&h->lock);
}

/* ---- start and stop ---- */

int chosts_start(struct chosts *hs, struct vr_error **err)
{
	struct db *db = dbpool_get(hs->c->pool, err);
	if (!db)
		return -EIO;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	int r = db_prepare(db, "load the host connections",
			   "SELECT c.host_id, o.name, c.url, c.username, c.secret, c.tls_insecure,"
			   " c.ca_file, c.state, c.state_reason, c.admin_disconnected"
			   " FROM host_connection c JOIN inventory_object o ON o.id = c.host_id"
			   " ORDER BY c.host_id",
			   &st, err);
	size_t n = 0;
	while (r >= 0 && (r = db_step(st, err)) > 0) {
		struct chost *h = chost_new(db_column_int64(st, 0), db_column_text(st, 1),
					    db_column_text(st, 2), db_column_text(st, 3),
					    db_column_text(st, 4), db_column_bool(st, 5),
					    db_column_text(st, 6));
		enum chost_state s = CHOST_NOT_RESPONDING;
		state_parse(db_column_text(st, 7), &s);
		h->admin_disconnected = db_column_bool(st, 9);
		/* Until the first answer, the last known state stands (shown, not trusted for calls). */
		h->state = h->admin_disconnected ? CHOST_DISCONNECTED : s;
		free(h->reason);
		h->reason = xstrdup(db_column_text(st, 8) ? db_column_text(st, 8) : "");
		h->last_ok_mono = time_mono_ms();
		pthread_mutex_lock(&hs->lock);
		h->next = hs->list;
		hs->list = h;
		pthread_mutex_unlock(&hs->lock);
		n++;
	}
	db_stmt_free(steal_pointer(&st));
	dbpool_put(hs->c->pool, db);
	if (r < 0)
		return r;
	pthread_mutex_lock(&hs->lock);
	for (struct chost *h = hs->list; h && r == 0; h = h->next)
		r = monitor_start(hs, h, err);
	pthread_mutex_unlock(&hs->lock);
	if (n)
		log_info("monitoring %zu host%s", n, n == 1 ? "" : "s");
	return r;
}

void chosts_stop_and_free(struct chosts *hs)
{
	if (!hs)
		return;
	/* Signal all first so the monitors wind down together. */
	pthread_mutex_lock(&hs->lock);
	for (struct chost *h = hs->list; h; h = h->next) {
		pthread_mutex_lock(&h->lock);
		h->stop = true;
		pthread_cond_broadcast(&h->wake);
		pthread_mutex_unlock(&h->lock);
	}
	struct chost *list = hs->list;
	hs->list = NULL;
	pthread_mutex_unlock(&hs->lock);
	for (struct chost *h = list, *n; h; h = n) {
		n = h->next;
		monitor_stop(h);
		chost_unref(h);
	}
	strv_free(hs->held);
	pthread_mutex_destroy(&hs->lock);
	free(hs);
}

int chosts_state(struct chosts *hs, int64_t host_id, enum chost_state *state, char **reason)
{
	_cleanup_(chost_unrefp) struct chost *h = chost_find(hs, host_id);
	if (!h)
		return -ENOENT;
	pthread_mutex_lock(&h->lock);
	*state = h->state;
	if (reason)
		*reason = xstrdup(h->reason ? h->reason : "");
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* ---- joining ---- */

static char *random_password(void)
{
	static const char alphabet[] =
		"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_";
	unsigned char raw[SERVICE_PASSWORD_LEN];
	if (random_bytes(raw, sizeof(raw)) < 0)
		abort();
	char *out = xmalloc(SERVICE_PASSWORD_LEN + 1);
	for (int i = 0; i < SERVICE_PASSWORD_LEN; i++)
		out[i] = alphabet[raw[i] % (sizeof(alphabet) - 1)];
	out[SERVICE_PASSWORD_LEN] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return out;
}

/* Creates (or resets) center's account on the host; the admin session is in cl. */
static int create_service_account(struct api_client *cl, const char *user, const char *password,
				  struct vr_error **err)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "name", user, "password", password, "role",
				 "admin");
	long st = 0;
	struct vr_error *e = NULL;
	int r = api_client_request(cl, "POST", "/api/v1/users", body, &st, NULL, &e);
	if (r < 0 && st == 409) {
		/* Left over from an earlier join (center's database was reset): take it over. */
		vr_error_free(e);
		e = NULL;
		_cleanup_free_ char *esc = api_client_escape(user);
		_cleanup_free_ char *path = xasprintf("/api/v1/users/%s/password", esc);
		json_object_clear(body);
		json_object_set_new(body, "password", json_string(password));
		r = api_client_request(cl, "PUT", path, body, &st, NULL, &e);
	}
	json_object_clear(body);
	json_decref(body);
	if (r < 0) {
		if (err && !*err)
			*err = e;
		else
			vr_error_free(e);
		return vr_error_wrap(err, "cannot create center's account \"%s\" on the host", user);
	}
	return 0;
}

struct add_args {
	struct chosts *hs;
	const struct chost_add_spec *spec;
	const char *host_uuid, *name, *url, *service_user, *sealed;
	json_t *host_info;
	int64_t host_id;
};

static int add_rows(struct db *db, void *opaque, struct vr_error **err)
{
	struct add_args *a = opaque;
	struct inv_object parent = {0};
	int r = inventory_get(db, a->spec->parent_id, &parent, err);
	if (r < 0)
		return r;
	bool standalone = parent.kind == INV_KIND_HOST_FOLDER;
	if (parent.kind != INV_KIND_HOST_FOLDER && parent.kind != INV_KIND_CLUSTER) {
		r = vr_error_set(err, EINVAL,
				 "a host joins a cluster or a datacenter's host folder, not %s \"%s\"",
				 inv_kind_name(parent.kind), parent.name);
		inv_object_clear(&parent);
		return r;
	}
	inv_object_clear(&parent);
	struct inv_object existing = {0};
	struct vr_error *e = NULL;
	r = inventory_find_uuid(db, a->host_uuid, &existing, &e);
	if (r == 0) {
		r = vr_error_set(err, EEXIST, "this host (id %s) is already in the inventory as \"%s\"",
				 a->host_uuid, existing.name);
		inv_object_clear(&existing);
		return r;
	}
	vr_error_free(e);
	if (r != -ENOENT)
		return r;
	_cleanup_free_ char *props = json_dumps(a->host_info, JSON_COMPACT | JSON_SORT_KEYS);
	struct inv_create_spec hs = {
		.kind = INV_KIND_HOST,
		.parent_id = a->spec->parent_id,
		.name = a->name,
		.uuid = a->host_uuid,
		.properties = props,
	};
	r = inventory_create(db, &hs, &a->host_id, err);
	if (r < 0)
		return r;
	if (standalone) {
		int64_t pool;
		struct inv_create_spec ps = {
			.kind = INV_KIND_RESOURCE_POOL,
			.parent_id = a->host_id,
			.name = "Resources",
		};
		r = inventory_create(db, &ps, &pool, err);
		if (r < 0)
			return r;
	}
	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "record a host connection",
		       "INSERT INTO host_connection (host_id, url, username, secret, tls_insecure,"
		       " ca_file, state, last_seen_ms) VALUES ($1, $2, $3, $4, $5, $6, 'connected', $7)",
		       &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, a->host_id);
	db_bind_text(st, 2, a->url);
	db_bind_text(st, 3, a->service_user);
	db_bind_text(st, 4, a->sealed);
	db_bind_bool(st, 5, a->spec->tls_insecure);
	db_bind_text(st, 6, a->spec->ca_file);
	db_bind_int64(st, 7, center_now_ms());
	e = NULL;
	r = db_step(st, &e);
	if (r == -EEXIST) {
		vr_error_free(e);
		return vr_error_set(err, EEXIST, "a host with the URL %s is already in the inventory",
				    a->url);
	}
	if (r < 0)
		*err = e;
	return r < 0 ? r : 0;
}

static char *normalize_url(const char *url)
{
	char *u = xstrdup(url);
	size_t l = strlen(u);
	while (l > 0 && u[l - 1] == '/')
		u[--l] = '\0';
	return u;
}

/* -EEXIST when the host (by its id) or its URL is already in the inventory. */
static int check_not_managed(struct center *c, const char *url, const char *host_uuid,
			     struct vr_error **err)
{
	struct db *db = dbpool_get(c->pool, err);
	if (!db)
		return -EIO;
	struct inv_object o = {0};
	struct vr_error *e = NULL;
	int r = inventory_find_uuid(db, host_uuid, &o, &e);
	vr_error_free(e);
	if (r == 0)
		r = vr_error_set(err, EEXIST, "this host (id %s) is already in the inventory as \"%s\"",
				 host_uuid, o.name);
	else if (r == -ENOENT)
		r = 0;
	inv_object_clear(&o);
	if (r == 0) {
		_cleanup_stmt_ struct db_stmt *st = NULL;
		r = db_prepare(db, "find a host by URL",
			       "SELECT o.name FROM host_connection c JOIN inventory_object o"
			       " ON o.id = c.host_id WHERE c.url = $1",
			       &st, err);
		if (r == 0) {
			db_bind_text(st, 1, url);
			r = db_step(st, err);
			if (r > 0)
				r = vr_error_set(err, EEXIST,
						 "a host with the URL %s is already in the inventory as "
						 "\"%s\"",
						 url, db_column_text(st, 0));
		}
	}
	dbpool_put(c->pool, db);
	return r < 0 ? r : 0;
}

int chosts_add(struct chosts *hs, const struct chost_add_spec *spec, int64_t *host_id,
	       struct vr_error **err)
{
	struct center *c = hs->c;
	_cleanup_free_ char *url = normalize_url(spec->url);
	struct api_client *cl = api_client_new(url, spec->tls_insecure, spec->ca_file, err);
	if (!cl)
		return -EINVAL;
	api_client_set_timeouts(cl, 60, 10);
	json_t *info = NULL;
	int r = api_client_login(cl, spec->username, spec->password, NULL, err);
	if (r < 0) {
		api_client_free(cl);
		return vr_error_wrap(err, "cannot log in to %s as \"%s\"", url, spec->username);
	}
	r = api_client_request(cl, "GET", "/api/v1/host", NULL, NULL, &info, err);
	const char *host_uuid = json_get_string(info, "id", NULL);
	if (r == 0 && (!host_uuid || !uuid_is_valid(host_uuid)))
		r = vr_error_set(err, EPROTO, "%s did not tell its host id; is it a Vireo host?", url);
	_cleanup_free_ char *name =
		xstrdup(spec->name ? spec->name : json_get_string(info, "name", url));
	if (r == 0)
		r = inventory_name_validate(name, err);
	/* Refused before center's account on the host is touched: it may be in use. */
	if (r == 0)
		r = check_not_managed(c, url, host_uuid, err);
	_cleanup_free_ char *service_user = xasprintf("vireo-center-%.8s", c->uuid);
	_cleanup_free_ char *password = random_password();
	if (r == 0)
		r = create_service_account(cl, service_user, password, err);
	api_client_free(cl);
	if (r < 0) {
		json_decref(info);
		return r;
	}
	_cleanup_free_ char *purpose = secret_purpose(url);
	_cleanup_free_ char *sealed = secrets_seal(c->secrets, purpose, password);
	explicit_bzero(password, strlen(password));

	json_t *props = json_pack("{s:s}", "url", url);
	json_object_update_missing(props, info);
	json_object_del(props, "id");
	struct add_args a = {
		.hs = hs,
		.spec = spec,
		.host_uuid = host_uuid,
		.name = name,
		.url = url,
		.service_user = service_user,
		.sealed = sealed,
		.host_info = props,
	};
	struct db *db = dbpool_get(c->pool, err);
	if (!db) {
		json_decref(props);
		json_decref(info);
		return -EIO;
	}
	r = db_transact(db, add_rows, &a, err);
	if (r == 0)
		center_post_event(c, db, "HostAddedEvent", "info", a.host_id, name, spec->principal,
				  spec->task_id, "host \"%s\" (%s) added by %s", name, url,
				  spec->principal);
	dbpool_put(c->pool, db);
	json_decref(props);
	json_decref(info);
	if (r < 0)
		return r;

	struct chost *h = chost_new(a.host_id, name, url, service_user, sealed, spec->tls_insecure,
				    spec->ca_file);
	h->state = CHOST_CONNECTED;
	free(h->reason);
	h->reason = xstrdup("");
	h->last_ok_mono = time_mono_ms();
	h->hosts = hs;
	/* The first full sync before answering, so the caller sees the host's VMs. */
	struct api_client *sync_cl = client_for(h, err);
	if (sync_cl) {
		struct vr_error *e = NULL;
		if (sync_full(hs, h, sync_cl, &e) < 0) {
			log_warn("host \"%s\": first sync failed: %s", name, vr_error_msg(e));
			vr_error_free(e);
		} else {
			h->sync_wanted = false;
		}
		api_client_free(sync_cl);
	}
	pthread_mutex_lock(&hs->lock);
	h->next = hs->list;
	hs->list = h;
	__atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&hs->lock);
	r = monitor_start(hs, h, err);
	chost_unref(h);
	if (r < 0)
		return r;
	*host_id = a.host_id;
	return 0;
}

/* ---- remove, disconnect, reconnect, sync ---- */

static struct chost *chost_detach(struct chosts *hs, int64_t id)
{
	pthread_mutex_lock(&hs->lock);
	struct chost **link = &hs->list;
	while (*link && (*link)->id != id)
		link = &(*link)->next;
	struct chost *h = *link;
	if (h)
		*link = h->next;
	pthread_mutex_unlock(&hs->lock);
	return h;
}

struct remove_args {
	int64_t host_id;
};

static int remove_rows(struct db *db, void *opaque, struct vr_error **err)
{
	struct remove_args *a = opaque;
	struct inv_list vms = {0};
	int r = inventory_list_on_host(db, a->host_id, &vms, err);
	for (size_t i = 0; r == 0 && i < vms.n; i++)
		r = inventory_delete(db, vms.items[i].id, err);
	inv_list_clear(&vms);
	if (r < 0)
		return r;
	/* The host's own resource pools (standalone host), deepest first. */
	struct inv_list kids = {0};
	r = inventory_list_children(db, a->host_id, &kids, err);
	for (size_t i = 0; r == 0 && i < kids.n; i++)
		r = sync_delete_subtree(db, kids.items[i].id, err);
	inv_list_clear(&kids);
	if (r < 0)
		return r;
	_cleanup_stmt_ struct db_stmt *st = NULL;
	r = db_prepare(db, "forget a host's links",
		       "DELETE FROM inventory_link WHERE object_id = $1", &st, err);
	if (r < 0)
		return r;
	db_bind_int64(st, 1, a->host_id);
	r = db_step(st, err);
	if (r < 0)
		return r;
	return inventory_delete(db, a->host_id, err);
}

int chosts_remove(struct chosts *hs, int64_t host_id, const char *principal,
		  struct vr_error **err)
{
	struct chost *h = chost_find(hs, host_id);
	if (!h)
		return vr_error_set(err, ENOENT, "no host with id %lld", (long long)host_id);
	/* Best effort: delete center's account on the host. */
	if (h->state == CHOST_CONNECTED) {
		struct api_client *cl = client_for(h, NULL);
		if (cl) {
			_cleanup_free_ char *esc = api_client_escape(h->username);
			_cleanup_free_ char *path = xasprintf("/api/v1/users/%s", esc);
			struct vr_error *e = NULL;
			/* Our own session ends with the account; the host refuses removing its last admin. */
			if (host_request(hs, h, cl, "DELETE", path, NULL, NULL, NULL, &e) < 0) {
				log_warn("host \"%s\": cannot delete center's account: %s", h->name,
					 vr_error_msg(e));
				vr_error_free(e);
			}
			api_client_free(cl);
		}
	}
	struct db *db = dbpool_get(hs->c->pool, err);
	if (!db) {
		chost_unref(h);
		return -EIO;
	}
	struct remove_args a = {host_id};
	_cleanup_free_ char *name = xstrdup(h->name);
	int r = db_transact(db, remove_rows, &a, err);
	if (r == 0)
		center_post_event(hs->c, db, "HostRemovedEvent", "info", 0, name, principal, 0,
				  "host \"%s\" removed by %s; its VMs keep running there", name,
				  principal);
	dbpool_put(hs->c->pool, db);
	chost_unref(h);
	if (r < 0)
		return r;
	struct chost *gone = chost_detach(hs, host_id);
	if (gone) {
		monitor_stop(gone);
		chost_unref(gone);
	}
	return 0;
}

int chosts_disconnect(struct chosts *hs, int64_t host_id, const char *principal,
		      struct vr_error **err)
{
	_cleanup_(chost_unrefp) struct chost *h = chost_find(hs, host_id);
	if (!h)
		return vr_error_set(err, ENOENT, "no host with id %lld", (long long)host_id);
	pthread_mutex_lock(&h->lock);
	h->admin_disconnected = true;
	pthread_mutex_unlock(&h->lock);
	_cleanup_free_ char *why = xasprintf("disconnected by %s", principal);
	set_state(hs, h, CHOST_DISCONNECTED, why);
	kick(h);
	return 0;
}

int chosts_reconnect(struct chosts *hs, int64_t host_id, const char *principal,
		     struct vr_error **err)
{
	_cleanup_(chost_unrefp) struct chost *h = chost_find(hs, host_id);
	if (!h)
		return vr_error_set(err, ENOENT, "no host with id %lld", (long long)host_id);
	struct api_client *cl = client_for(h, err);
	if (!cl)
		return -ENOMEM;
	pthread_mutex_lock(&h->lock);
	h->admin_disconnected = false;
	pthread_mutex_unlock(&h->lock);
	int r = sync_full(hs, h, cl, err);
	api_client_free(cl);
	if (r < 0) {
		note_failure(hs, h, r, err ? *err : NULL);
		return vr_error_wrap(err, "cannot reconnect host \"%s\"", h->name);
	}
	pthread_mutex_lock(&h->lock);
	h->sync_wanted = false;
	h->last_ok_mono = time_mono_ms();
	pthread_mutex_unlock(&h->lock);
	set_state(hs, h, CHOST_CONNECTED, "");
	kick(h);
	return 0;
}

int chosts_sync(struct chosts *hs, int64_t host_id, struct vr_error **err)
{
	_cleanup_(chost_unrefp) struct chost *h = chost_find(hs, host_id);
	if (!h)
		return vr_error_set(err, ENOENT, "no host with id %lld", (long long)host_id);
	struct api_client *cl = client_for(h, err);
	if (!cl)
		return -ENOMEM;
	int r = sync_full(hs, h, cl, err);
	api_client_free(cl);
	return r;
}

int chosts_refresh_vm(struct chosts *hs, int64_t host_id, const char *vm_uuid,
		      struct vr_error **err)
{
	_cleanup_(chost_unrefp) struct chost *h = chost_find(hs, host_id);
	if (!h)
		return vr_error_set(err, ENOENT, "no host with id %lld", (long long)host_id);
	struct api_client *cl = client_take(h, err);
	if (!cl)
		return -ENOMEM;
	int r = sync_refresh_vm(hs, h, cl, vm_uuid, err);
	client_give(h, cl);
	return r;
}

struct chost *chost_get(struct chosts *hs, int64_t id)
{
	return chost_find(hs, id);
}

void chost_put(struct chost *h)
{
	chost_unref(h);
}

int chost_token(struct chosts *hs, struct chost *h, bool fresh, char **token,
		struct vr_error **err)
{
	*token = NULL;
	pthread_mutex_lock(&h->lock);
	if (h->token && !fresh)
		*token = xstrdup(h->token);
	pthread_mutex_unlock(&h->lock);
	if (*token)
		return 0;
	struct api_client *cl = client_for(h, err);
	if (!cl)
		return -ENOMEM;
	int r = host_login(hs, h, cl, err);
	if (r == 0)
		*token = xstrdup(api_client_token(cl));
	api_client_free(cl);
	return r;
}

/* For sync.c: a request with the host's shared session. */
int chost_request(struct chosts *hs, struct chost *h, struct api_client *cl, const char *method,
		  const char *path, json_t *body, long *status, json_t **reply,
		  struct vr_error **err)
{
	return host_request(hs, h, cl, method, path, body, status, reply, err);
}
