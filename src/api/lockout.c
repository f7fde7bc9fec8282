/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Account lockout for password logins (lockout.h): a fixed table of the
 * names with recent failures, chained in a hash index.  Each name keeps
 * the times of its last max_failures failures in a ring, so "max_failures
 * within the window" is exact (a sliding window, not a fixed one).
 */
#include "api/lockout.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "api/server.h"
#include "common/error.h"
#include "common/util.h"

/* Stale names are dropped at most this often (and whenever the table is full). */
#define SWEEP_PERIOD_MS 1000

struct entry {
	char *name;	       /* NULL: a free slot */
	uint64_t locked_until; /* 0: not locked */
	uint64_t last_ms;      /* the latest failure */
	unsigned n;	       /* failures in the ring */
	unsigned head;	       /* the oldest of them */
	int32_t next;	       /* the hash chain, or the free list */
};

struct login_lockout {
	pthread_mutex_t lock;
	struct login_lockout_config cfg;
	struct entry *entries;
	uint64_t *times; /* capacity x max_failures: entry i's ring at i * max_failures */
	int32_t *buckets;
	size_t n_buckets; /* a power of two */
	int32_t free_head;
	size_t used;
	uint32_t seed;
	uint64_t last_sweep_ms;
};

void login_lockout_config_default(struct login_lockout_config *cfg)
{
	*cfg = (struct login_lockout_config){
		.max_failures = LOGIN_LOCKOUT_DEFAULT_FAILURES,
		.window_ms = LOGIN_LOCKOUT_DEFAULT_WINDOW_S * 1000ULL,
		.unlock_ms = LOGIN_LOCKOUT_DEFAULT_UNLOCK_S * 1000ULL,
		.capacity = LOGIN_LOCKOUT_DEFAULT_CAPACITY,
	};
}

int login_lockout_config_check(const struct login_lockout_config *cfg, struct vr_error **err)
{
	const uint64_t max_ms = LOGIN_LOCKOUT_SECONDS_MAX * 1000ULL;
	if (cfg->max_failures > LOGIN_LOCKOUT_FAILURES_MAX)
		return vr_error_set(err, EINVAL,
				    "login lockout after %u failed logins: the number must be from "
				    "0 (no lockout) to %d",
				    cfg->max_failures, LOGIN_LOCKOUT_FAILURES_MAX);
	if (cfg->window_ms < 1 || cfg->window_ms > max_ms)
		return vr_error_set(err, EINVAL,
				    "login lockout window of %llu ms: it must be from 1 ms to %d s",
				    (unsigned long long)cfg->window_ms, LOGIN_LOCKOUT_SECONDS_MAX);
	if (cfg->unlock_ms < 1 || cfg->unlock_ms > max_ms)
		return vr_error_set(err, EINVAL,
				    "login lockout unlock time of %llu ms: it must be from 1 ms to %d s",
				    (unsigned long long)cfg->unlock_ms, LOGIN_LOCKOUT_SECONDS_MAX);
	if (cfg->capacity < 1 || cfg->capacity > LOGIN_LOCKOUT_CAPACITY_MAX)
		return vr_error_set(err, EINVAL,
				    "login lockout table of %zu names: it must hold from 1 to %u",
				    cfg->capacity, LOGIN_LOCKOUT_CAPACITY_MAX);
	return 0;
}

struct login_lockout *login_lockout_new(const struct login_lockout_config *cfg,
					struct vr_error **err)
{
	if (login_lockout_config_check(cfg, err) < 0)
		return NULL;
	struct login_lockout *l = xcalloc(1, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	l->cfg = *cfg;
	if (cfg->max_failures == 0)
		return l; /* off: nothing is tracked */
	l->entries = xcalloc(cfg->capacity, sizeof(*l->entries));
	l->times = xcalloc(cfg->capacity * cfg->max_failures, sizeof(*l->times));
	l->n_buckets = 1;
	while (l->n_buckets < cfg->capacity)
		l->n_buckets <<= 1;
	l->buckets = xcalloc(l->n_buckets, sizeof(*l->buckets));
	for (size_t b = 0; b < l->n_buckets; b++)
		l->buckets[b] = -1;
	/* Every slot on the free list, in order. */
	for (size_t i = 0; i < cfg->capacity; i++)
		l->entries[i].next = i + 1 < cfg->capacity ? (int32_t)(i + 1) : -1;
	l->free_head = 0;
	/* A random seed, so that nobody can pick names that share a chain. */
	if (random_bytes(&l->seed, sizeof(l->seed)) < 0)
		l->seed = 0x9e3779b9u;
	return l;
}

void login_lockout_free(struct login_lockout *l)
{
	if (!l)
		return;
	if (l->entries)
		for (size_t i = 0; i < l->cfg.capacity; i++)
			free(l->entries[i].name);
	free(l->entries);
	free(l->times);
	free(l->buckets);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* ---- the table (all with the lock held) ---- */

static size_t bucket_of(const struct login_lockout *l, const char *name)
{
	uint32_t h = 2166136261u ^ l->seed;
	for (size_t i = 0; i < LOGIN_LOCKOUT_NAME_MAX && name[i]; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	h ^= h >> 15;
	return h & (l->n_buckets - 1);
}

static int32_t entry_find(const struct login_lockout *l, const char *name)
{
	for (int32_t i = l->buckets[bucket_of(l, name)]; i >= 0; i = l->entries[i].next)
		if (strncmp(l->entries[i].name, name, LOGIN_LOCKOUT_NAME_MAX) == 0)
			return i;
	return -1;
}

static void entry_remove(struct login_lockout *l, int32_t idx)
{
	struct entry *e = &l->entries[idx];
	int32_t *link = &l->buckets[bucket_of(l, e->name)];
	while (*link != idx)
		link = &l->entries[*link].next;
	*link = e->next;
	free(e->name);
	*e = (struct entry){ .next = l->free_head };
	l->free_head = idx;
	l->used--;
}

static bool entry_locked(const struct entry *e, uint64_t now)
{
	return e->locked_until > now;
}

/* Forgets failures that left the window, and a lock that has ended. */
static void entry_expire(struct login_lockout *l, struct entry *e, uint64_t now)
{
	if (e->locked_until && e->locked_until <= now) {
		e->locked_until = 0;
		e->n = 0;
	}
	const uint64_t *ring = &l->times[(size_t)(e - l->entries) * l->cfg.max_failures];
	/*
	 * Callers read the clock before taking the lock, so another thread may
	 * have recorded a later time meanwhile: such a failure is in the window.
	 */
	while (e->n && now > ring[e->head] && now - ring[e->head] >= l->cfg.window_ms) {
		e->head = (e->head + 1) % l->cfg.max_failures;
		e->n--;
	}
}

/* Neither locked nor holding a failure inside the window: nothing to remember. */
static bool entry_stale(struct login_lockout *l, struct entry *e, uint64_t now)
{
	entry_expire(l, e, now);
	return !entry_locked(e, now) && e->n == 0;
}

/* Drops every stale name; returns how many. */
static size_t sweep(struct login_lockout *l, uint64_t now)
{
	size_t dropped = 0;
	for (size_t i = 0; i < l->cfg.capacity; i++) {
		struct entry *e = &l->entries[i];
		if (e->name && entry_stale(l, e, now)) {
			entry_remove(l, (int32_t)i);
			dropped++;
		}
	}
	l->last_sweep_ms = now;
	return dropped;
}

/* The name to give up when the table is full (no stale one): see lockout.h. */
static int32_t eviction_victim(const struct login_lockout *l, uint64_t now)
{
	int32_t victim = -1;
	for (size_t i = 0; i < l->cfg.capacity; i++) {
		const struct entry *e = &l->entries[i], *v = victim >= 0 ? &l->entries[victim] : NULL;
		bool locked = entry_locked(e, now);
		if (!v) {
			victim = (int32_t)i;
		} else if (entry_locked(v, now)) {
			if (!locked || e->locked_until < v->locked_until)
				victim = (int32_t)i;
		} else if (!locked && e->last_ms < v->last_ms) {
			victim = (int32_t)i;
		}
	}
	return victim;
}

static int32_t entry_insert(struct login_lockout *l, const char *name, uint64_t now)
{
	if (l->free_head < 0 && sweep(l, now) == 0)
		entry_remove(l, eviction_victim(l, now));
	int32_t idx = l->free_head;
	struct entry *e = &l->entries[idx];
	l->free_head = e->next;
	size_t b = bucket_of(l, name);
	*e = (struct entry){ .name = xstrndup(name, LOGIN_LOCKOUT_NAME_MAX), .next = l->buckets[b] };
	l->buckets[b] = idx;
	l->used++;
	return idx;
}

static void verdict_locked(struct login_lockout_verdict *v, const struct entry *e, uint64_t now)
{
	v->locked = true;
	v->retry_after_ms = e->locked_until - now;
}

/* ---- attempts ---- */

bool login_lockout_check(struct login_lockout *l, const char *name, uint64_t now_ms,
			 struct login_lockout_verdict *v)
{
	struct login_lockout_verdict ignored;
	if (!v)
		v = &ignored;
	*v = (struct login_lockout_verdict){0};
	if (!l || l->cfg.max_failures == 0)
		return false;
	pthread_mutex_lock(&l->lock);
	int32_t idx = entry_find(l, name ? name : "");
	if (idx >= 0 && entry_locked(&l->entries[idx], now_ms))
		verdict_locked(v, &l->entries[idx], now_ms);
	pthread_mutex_unlock(&l->lock);
	return v->locked;
}

void login_lockout_record(struct login_lockout *l, const char *name, bool password_ok,
			  uint64_t now_ms, struct login_lockout_verdict *v)
{
	struct login_lockout_verdict ignored;
	if (!v)
		v = &ignored;
	*v = (struct login_lockout_verdict){0};
	if (!l || l->cfg.max_failures == 0)
		return;
	if (!name)
		name = "";
	pthread_mutex_lock(&l->lock);
	if (now_ms > l->last_sweep_ms + SWEEP_PERIOD_MS)
		sweep(l, now_ms);
	int32_t idx = entry_find(l, name);
	if (idx >= 0 && entry_locked(&l->entries[idx], now_ms)) {
		verdict_locked(v, &l->entries[idx], now_ms);
	} else if (password_ok) {
		if (idx >= 0)
			entry_remove(l, idx);
	} else {
		if (idx < 0)
			idx = entry_insert(l, name, now_ms);
		struct entry *e = &l->entries[idx];
		entry_expire(l, e, now_ms);
		uint64_t *ring = &l->times[(size_t)idx * l->cfg.max_failures];
		ring[(e->head + e->n) % l->cfg.max_failures] = now_ms;
		e->n++;
		e->last_ms = now_ms;
		if (e->n >= l->cfg.max_failures) {
			e->locked_until = now_ms + l->cfg.unlock_ms;
			e->n = 0;
			e->head = 0;
			verdict_locked(v, e, now_ms);
			v->locked_now = true;
			v->failures = l->cfg.max_failures;
		}
	}
	pthread_mutex_unlock(&l->lock);
}

size_t login_lockout_size(struct login_lockout *l)
{
	pthread_mutex_lock(&l->lock);
	size_t n = l->used;
	pthread_mutex_unlock(&l->lock);
	return n;
}

/* ---- answers ---- */

uint64_t login_lockout_retry_after_s(const struct login_lockout_verdict *v)
{
	uint64_t s = (v->retry_after_ms + 999) / 1000;
	return s ? s : 1;
}

char *login_lockout_message(const struct login_lockout_verdict *v)
{
	uint64_t s = login_lockout_retry_after_s(v);
	return xasprintf("too many failed logins for this user name: it is locked for about %llu "
			 "more second%s",
			 (unsigned long long)s, s == 1 ? "" : "s");
}

void login_lockout_respond(struct api_request *req, const struct login_lockout_verdict *v)
{
	char retry_after[24];
	snprintf(retry_after, sizeof(retry_after), "%llu",
		 (unsigned long long)login_lockout_retry_after_s(v));
	_cleanup_free_ char *msg = login_lockout_message(v);
	api_respond_error_header(req, 429, "Retry-After", retry_after, "%s", msg);
}
