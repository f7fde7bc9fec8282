/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_API_LOCKOUT_H
#define VIREO_API_LOCKOUT_H

/*
 * Account lockout for password logins, shared by vireo-hostd (host/auth.c)
 * and vireo-center (center/sessions.c), as ESXi's
 * Security.AccountLockFailures / AccountUnlockTime and vCenter SSO's
 * lockout policy: max_failures failed logins for one user name within
 * window_ms lock that name for unlock_ms.  While it is locked every
 * password login for the name is refused, the right password included; a
 * successful login clears the name's failures.  Sessions already open are
 * not touched.
 *
 * Names are counted whether or not such a user exists, so the answers
 * never tell which names are accounts.  At most `capacity` names are
 * tracked: a new name takes the place of a name whose failures are all
 * older than the window, else of the unlocked name failed least recently,
 * else of the locked name that unlocks first.  Every function is
 * thread-safe; the clock (CLOCK_MONOTONIC milliseconds, time_mono_ms())
 * is passed in, so that tests control time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vr_error;
struct api_request;
struct login_lockout;

/* The defaults: vCenter SSO's failure count and window; see docs/design.md for the unlock time. */
#define LOGIN_LOCKOUT_DEFAULT_FAILURES 5
#define LOGIN_LOCKOUT_DEFAULT_WINDOW_S 180
#define LOGIN_LOCKOUT_DEFAULT_UNLOCK_S 300
#define LOGIN_LOCKOUT_DEFAULT_CAPACITY 4096
/* Bounds of the settings (failures 0 turns lockout off). */
#define LOGIN_LOCKOUT_FAILURES_MAX 100
#define LOGIN_LOCKOUT_SECONDS_MAX 86400
#define LOGIN_LOCKOUT_CAPACITY_MAX (1u << 16)
/* Longer names are told apart by their first this many bytes only. */
#define LOGIN_LOCKOUT_NAME_MAX 512

struct login_lockout_config {
	unsigned max_failures; /* 0: no lockout */
	uint64_t window_ms;
	uint64_t unlock_ms;
	size_t capacity; /* names tracked at once */
};

/* What a login attempt came to, as far as lockout goes. */
struct login_lockout_verdict {
	bool locked;	     /* refuse the login, whatever the password */
	bool locked_now;     /* this failure locked the name (log it, post an event) */
	unsigned failures;   /* with locked_now: the failures that locked it */
	uint64_t retry_after_ms; /* with locked: until the name unlocks (at least 1) */
};

/* The defaults above. */
void login_lockout_config_default(struct login_lockout_config *cfg);
/* Checks the bounds; the message names the setting, the value and the range. */
int login_lockout_config_check(const struct login_lockout_config *cfg, struct vr_error **err);

/* NULL with err set when cfg is out of bounds. */
struct login_lockout *login_lockout_new(const struct login_lockout_config *cfg,
					struct vr_error **err);
void login_lockout_free(struct login_lockout *l);

/*
 * Before a password is checked: fills *v (may be NULL) and returns true
 * when name is locked; the login is then refused without checking it.
 */
bool login_lockout_check(struct login_lockout *l, const char *name, uint64_t now_ms,
			 struct login_lockout_verdict *v);
/*
 * After the password was checked (password_ok: it matched an existing,
 * usable account): records the outcome and fills *v.  v->locked means
 * refuse, also when the password was right: the name was locked meanwhile,
 * or this failure locked it (v->locked_now).  A failure while the name is
 * locked is not counted and does not lengthen the lock.
 */
void login_lockout_record(struct login_lockout *l, const char *name, bool password_ok,
			  uint64_t now_ms, struct login_lockout_verdict *v);

/* Names tracked now (at most the capacity); for tests and statistics. */
size_t login_lockout_size(struct login_lockout *l);

/* Whole seconds until the unlock, rounded up: the Retry-After value. */
uint64_t login_lockout_retry_after_s(const struct login_lockout_verdict *v);
/* The message of a refused locked login, the same for every name (caller frees). */
char *login_lockout_message(const struct login_lockout_verdict *v);
/*
 * Answers a login refused by lockout: 429 Too Many Requests, Retry-After,
 * and login_lockout_message() as the error message.
 */
void login_lockout_respond(struct api_request *req, const struct login_lockout_verdict *v);

#endif
