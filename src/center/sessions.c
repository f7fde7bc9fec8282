/* SPDX-License-Identifier: Apache-2.0 */
#include "center/sessions.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "api/lockout.h"
#include "api/server.h"
#include "center/db/principals.h"
#include "common/error.h"
#include "common/util.h"

#define TOKEN_BYTES 32
#define BUCKETS 1024
/* Bounds memory: past this many sessions, the least recently used one ends. */
#define MAX_SESSIONS 20000

struct csession {
	char token[2 * TOKEN_BYTES + 1];
	int64_t principal_id;
	char *user;
	uint64_t created_ms, last_used_ms;
	struct csession *next;
};

struct csessions {
	pthread_mutex_t lock;
	struct csession *buckets[BUCKETS];
	size_t count;
	uint64_t idle_ms, max_ms;
	unsigned failure_delay_ms;
	struct login_lockout *lockout; /* set before logins start, then used without the lock */
};

static unsigned bucket_of(const char *token)
{
	unsigned h = 2166136261u;
	for (const char *p = token; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % BUCKETS;
}

struct csessions *csessions_new(uint64_t idle_timeout_ms, uint64_t max_lifetime_ms)
{
	struct csessions *s = xcalloc(1, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->idle_ms = idle_timeout_ms ? idle_timeout_ms : 30ULL * 60 * 1000;
	s->max_ms = max_lifetime_ms ? max_lifetime_ms : 12ULL * 60 * 60 * 1000;
	s->failure_delay_ms = 250;
	struct login_lockout_config lc;
	login_lockout_config_default(&lc);
	s->lockout = login_lockout_new(&lc, NULL);
	if (!s->lockout)
		abort(); /* the defaults are within bounds */
	return s;
}

int csessions_set_lockout(struct csessions *s, const struct login_lockout_config *cfg,
			  struct vr_error **err)
{
	struct login_lockout *l = login_lockout_new(cfg, err);
	if (!l)
		return -EINVAL;
	login_lockout_free(s->lockout);
	s->lockout = l;
	return 0;
}

char *csessions_qualified_name(const char *user)
{
	_cleanup_free_ char *n = NULL, *d = NULL;
	if (principal_name_split(user, &n, &d, NULL) < 0)
		return NULL;
	return xasprintf("%s@%s", n, d);
}

/* What the lockout counts: "alice" and "alice@vsphere.local" are one name. */
static char *lockout_key(const char *user)
{
	char *q = csessions_qualified_name(user);
	return q ? q : xstrdup(user ? user : "");
}

bool csessions_locked(struct csessions *s, const char *user, struct login_lockout_verdict *v)
{
	_cleanup_free_ char *key = lockout_key(user);
	return login_lockout_check(s->lockout, key, time_mono_ms(), v);
}

static void session_free(struct csession *c)
{
	explicit_bzero(c->token, sizeof(c->token));
	free(c->user);
	free(c);
}

void csessions_free(struct csessions *s)
{
	if (!s)
		return;
	for (unsigned b = 0; b < BUCKETS; b++)
		for (struct csession *c = s->buckets[b], *n; c; c = n) {
			n = c->next;
			session_free(c);
		}
	login_lockout_free(s->lockout);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void csessions_set_failure_delay(struct csessions *s, unsigned delay_ms)
{
	s->failure_delay_ms = delay_ms;
}

void csession_info_clear(struct csession_info *info)
{
	free(info->user);
	memset(info, 0, sizeof(*info));
}

static bool expired(const struct csessions *s, const struct csession *c, uint64_t now)
{
	/*
	 * now is read before the lock: another request may have stamped a later
	 * last_used_ms meanwhile (and the wall clock may step back).  Unsigned
	 * "now - later" would wrap around and end a live session.
	 */
	return (now > c->last_used_ms && now - c->last_used_ms > s->idle_ms) ||
	       (now > c->created_ms && now - c->created_ms > s->max_ms);
}

/* Drops expired sessions, and the least recently used when over the cap.  Lock held. */
static void sweep(struct csessions *s, uint64_t now)
{
	struct csession *oldest = NULL, **oldest_link = NULL;
	for (unsigned b = 0; b < BUCKETS; b++)
		for (struct csession **link = &s->buckets[b]; *link;) {
			struct csession *c = *link;
			if (expired(s, c, now)) {
				*link = c->next;
				session_free(c);
				s->count--;
				continue;
			}
			if (!oldest || c->last_used_ms < oldest->last_used_ms) {
				oldest = c;
				oldest_link = link;
			}
			link = &c->next;
		}
	if (s->count >= MAX_SESSIONS && oldest) {
		*oldest_link = oldest->next;
		session_free(oldest);
		s->count--;
	}
}

static int login_locked(const struct login_lockout_verdict *v,
			struct login_lockout_verdict *out, struct vr_error **err)
{
	if (out)
		*out = *v;
	_cleanup_free_ char *msg = login_lockout_message(v);
	return vr_error_set(err, EAGAIN, "%s", msg);
}

int csessions_login(struct csessions *s, struct db *db, const char *user, const char *password,
		    char **token_out, struct csession_info *info,
		    struct login_lockout_verdict *lockout, struct vr_error **err)
{
	*token_out = NULL;
	if (lockout)
		*lockout = (struct login_lockout_verdict){0};
	_cleanup_free_ char *key = lockout_key(user);
	struct login_lockout_verdict v;
	/* A locked name is refused before any hashing: the attempt costs nothing. */
	if (login_lockout_check(s->lockout, key, time_mono_ms(), &v))
		return login_locked(&v, lockout, err);
	int64_t id = 0;
	_cleanup_error_ struct vr_error *e = NULL;
	int r = principal_verify_password(db, user, password, &id, &e);
	if (r < 0 && r != -EACCES) { /* the database failed: neither a success nor a failure */
		if (err && !*err)
			*err = steal_pointer(&e);
		return r;
	}
	/* Unknown names are counted as users are: the answers tell nothing about accounts. */
	login_lockout_record(s->lockout, key, r == 0, time_mono_ms(), &v);
	if (r == -EACCES) {
		if (s->failure_delay_ms)
			usleep(s->failure_delay_ms * 1000u);
		if (v.locked)
			return login_locked(&v, lockout, err);
		return vr_error_set(err, EACCES, "invalid user name or password");
	}
	/* Locked by failures elsewhere while this one was hashing: refused all the same. */
	if (v.locked)
		return login_locked(&v, lockout, err);
	struct principal p = {0};
	r = principal_get(db, id, &p, err);
	if (r < 0)
		return r;
	unsigned char raw[TOKEN_BYTES];
	if (random_bytes(raw, sizeof(raw)) < 0) {
		principal_clear(&p);
		return vr_error_set(err, EIO, "cannot get random bytes for a session token");
	}
	struct csession *c = xcalloc(1, sizeof(*c));
	for (int i = 0; i < TOKEN_BYTES; i++)
		snprintf(c->token + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));
	c->principal_id = id;
	c->user = xasprintf("%s@%s", p.name, p.domain);
	principal_clear(&p);
	uint64_t now = time_real_ms();
	c->created_ms = c->last_used_ms = now;
	if (info) {
		info->principal_id = id;
		info->user = xstrdup(c->user);
		info->created_ms = (int64_t)now;
		info->expires_ms = (int64_t)(now + s->idle_ms);
	}
	*token_out = xstrdup(c->token);
	pthread_mutex_lock(&s->lock);
	sweep(s, now);
	unsigned b = bucket_of(c->token);
	c->next = s->buckets[b];
	s->buckets[b] = c;
	s->count++;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

int csessions_check(struct csessions *s, const char *token, struct csession_info *info)
{
	if (strlen(token) != 2 * TOKEN_BYTES)
		return -ENOENT;
	uint64_t now = time_real_ms();
	pthread_mutex_lock(&s->lock);
	unsigned b = bucket_of(token);
	for (struct csession **link = &s->buckets[b]; *link; link = &(*link)->next) {
		struct csession *c = *link;
		if (!token_equal(c->token, token))
			continue;
		if (expired(s, c, now)) {
			*link = c->next;
			session_free(c);
			s->count--;
			pthread_mutex_unlock(&s->lock);
			return -ETIMEDOUT;
		}
		c->last_used_ms = now;
		if (info) {
			info->principal_id = c->principal_id;
			info->user = xstrdup(c->user);
			info->created_ms = (int64_t)c->created_ms;
			info->expires_ms = (int64_t)(now + s->idle_ms);
		}
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	pthread_mutex_unlock(&s->lock);
	return -ENOENT;
}

int csessions_logout(struct csessions *s, const char *token)
{
	pthread_mutex_lock(&s->lock);
	unsigned b = bucket_of(token);
	for (struct csession **link = &s->buckets[b]; *link; link = &(*link)->next) {
		struct csession *c = *link;
		if (token_equal(c->token, token)) {
			*link = c->next;
			session_free(c);
			s->count--;
			pthread_mutex_unlock(&s->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return -ENOENT;
}

void csessions_end_principal(struct csessions *s, int64_t principal_id)
{
	csessions_end_principal_except(s, principal_id, NULL);
}

void csessions_end_principal_except(struct csessions *s, int64_t principal_id, const char *token)
{
	pthread_mutex_lock(&s->lock);
	for (unsigned b = 0; b < BUCKETS; b++)
		for (struct csession **link = &s->buckets[b]; *link;) {
			struct csession *c = *link;
			if (c->principal_id == principal_id &&
			    !(token && token_equal(c->token, token))) {
				*link = c->next;
				session_free(c);
				s->count--;
			} else {
				link = &c->next;
			}
		}
	pthread_mutex_unlock(&s->lock);
}

static int api_check(void *opaque, const char *token, char **user, bool *admin)
{
	struct csession_info info = {0};
	int r = csessions_check(opaque, token, &info);
	if (r < 0)
		return r;
	*user = steal_pointer(&info.user);
	/* Center checks privileges per object (center/access); no route is admin-only. */
	*admin = false;
	return 0;
}

const struct api_auth_ops csessions_api_auth = {
	.check = api_check,
};
