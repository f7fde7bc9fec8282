/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_CENTER_SESSIONS_H
#define VIREO_CENTER_SESSIONS_H

/*
 * The sessions of center's users: in memory (a restart logs everyone
 * out, as vCenter's does), each a random 64-hex-digit token naming a
 * principal, ended by logout, by an idle timeout or by a maximum
 * lifetime.  Passwords are checked against the database
 * (center/db/principals.h).
 */

#include <stdbool.h>
#include <stdint.h>

struct vr_error;
struct db;
struct csessions;
struct api_auth_ops;
struct login_lockout_config;
struct login_lockout_verdict;

struct csession_info {
	int64_t principal_id;
	char *user; /* "name@domain" */
	int64_t created_ms, expires_ms;
};

struct csessions *csessions_new(uint64_t idle_timeout_ms, uint64_t max_lifetime_ms);
void csessions_free(struct csessions *s);
/* Delay added to every failed login (default 250 ms). */
void csessions_set_failure_delay(struct csessions *s, unsigned delay_ms);

/*
 * Account lockout of password logins (api/lockout.h), counted per user
 * name as "name@domain" (the default domain added); csessions_new()
 * starts with its defaults.  Call before logins start: the names counted
 * so far are forgotten.
 */
int csessions_set_lockout(struct csessions *s, const struct login_lockout_config *cfg,
			  struct vr_error **err);
/* Whether failed logins have locked user for now, and *v (may be NULL): no database needed. */
bool csessions_locked(struct csessions *s, const char *user, struct login_lockout_verdict *v);
/*
 * Checks the password, opens a session: *token (caller frees).  -EACCES
 * after the delay for a wrong user name or password; -EAGAIN with
 * login_lockout_message() when the user name is locked (before, or by
 * this failure: then after the delay), the right password included, and
 * *lockout (may be NULL) says for how long and whether this failure
 * locked it.
 */
int csessions_login(struct csessions *s, struct db *db, const char *user, const char *password,
		    char **token, struct csession_info *info, struct login_lockout_verdict *lockout,
		    struct vr_error **err);
/* The user name as the lockout counts it ("name@domain"; caller frees), or NULL when malformed. */
char *csessions_qualified_name(const char *user);
/* 0 and *info (caller clears; may be NULL); -ENOENT unknown, -ETIMEDOUT expired. */
int csessions_check(struct csessions *s, const char *token, struct csession_info *info);
int csessions_logout(struct csessions *s, const char *token);
/* Ends every session of a principal (password change, disable, delete). */
void csessions_end_principal(struct csessions *s, int64_t principal_id);
/* The same, sparing the session of token (NULL: none). */
void csessions_end_principal_except(struct csessions *s, int64_t principal_id, const char *token);
void csession_info_clear(struct csession_info *info);

/* For api_server_new(): opaque is the struct csessions. */
extern const struct api_auth_ops csessions_api_auth;

#endif
