/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_AUTH_H
#define VIREO_HOST_AUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct vr_error;
struct auth;
struct login_lockout_config;
struct login_lockout_verdict;

enum auth_role {
	AUTH_ROLE_READ_ONLY,
	AUTH_ROLE_ADMIN,
};

#define AUTH_PASSWORD_MIN 8
#define AUTH_PASSWORD_MAX 256
#define AUTH_TOKEN_HEX_LEN 64 /* 32 random bytes as hex */
#define AUTH_DEFAULT_IDLE_TIMEOUT_MS (30ULL * 60 * 1000)
#define AUTH_DEFAULT_MAX_LIFETIME_MS (12ULL * 60 * 60 * 1000)

/* Environment variable that sets the first-start admin password. */
#define AUTH_INITIAL_PASSWORD_ENV "VIREO_INITIAL_ADMIN_PASSWORD"

/* "admin" or "read-only". */
const char *auth_role_name(enum auth_role role);
int auth_role_parse(const char *s, enum auth_role *out);

/*
 * Opens the user database in state_dir/users.json (creating state_dir
 * with mode 0700 if needed).  On first start (no users file) creates the
 * user "admin": with initial_password when it is not NULL, else with a
 * random 20-character password written to state_dir/initial-admin-password
 * (mode 0600).  auth_open() takes initial_password from the environment
 * variable VIREO_INITIAL_ADMIN_PASSWORD.
 */
struct auth *auth_open(const char *state_dir, struct vr_error **err);
struct auth *auth_open_with_password(const char *state_dir, const char *initial_password,
				     struct vr_error **err);
void auth_free(struct auth *auth);

/* Session lifetimes; 0 keeps the current value. */
void auth_set_session_timeouts(struct auth *auth, uint64_t idle_timeout_ms,
			       uint64_t max_lifetime_ms);
/* Delay added to every failed login (default 250 ms; tests lower it). */
void auth_set_failure_delay(struct auth *auth, unsigned delay_ms);

/*
 * Account lockout of password logins (api/lockout.h); auth_open() starts
 * with its defaults.  Call before logins start: the names counted so far
 * are forgotten.
 */
int auth_set_lockout(struct auth *auth, const struct login_lockout_config *cfg,
		     struct vr_error **err);
/*
 * Called on the login's thread (no lock held) when failed logins lock a
 * user name: user is the name as sent when it is a valid user name, else
 * "(invalid name)"; peer the client's address or NULL.  Without it,
 * auth_login() logs a warning itself.
 */
typedef void (*auth_locked_fn)(void *opaque, const char *user, const char *peer,
			       const struct login_lockout_verdict *v);
void auth_set_lock_notify(struct auth *auth, auth_locked_fn fn, void *opaque);

/*
 * Checks the password and opens a session.  *token_out receives a new
 * 64-hex-digit token (caller frees); *expires_ms (may be NULL) the
 * wall-clock time in ms at which the session ends if it is not used.
 * peer (may be NULL) names the client in logs.  A wrong user name or
 * password is "invalid user name or password" (EACCES) after a delay.  A
 * user name locked by failed logins (checked first, without hashing), or
 * locked by this failure, is EAGAIN with login_lockout_message(), the
 * right password included; *lockout (may be NULL) then says for how long.
 */
int auth_login(struct auth *auth, const char *user, const char *password, const char *peer,
	       char **token_out, uint64_t *expires_ms, struct login_lockout_verdict *lockout,
	       struct vr_error **err);

/*
 * Validates a token and refreshes its idle timer.  Returns 0 and fills
 * *user_out (caller frees; may be NULL) and *role_out (may be NULL);
 * -ENOENT for an unknown token, -ETIMEDOUT for an expired session.
 */
int auth_check(struct auth *auth, const char *token, char **user_out,
	       enum auth_role *role_out);
/* Ends the session; -ENOENT when there was none. */
int auth_logout(struct auth *auth, const char *token);

/* Checks a user's password without opening a session (no delay, no lockout). */
bool auth_verify_password(struct auth *auth, const char *user, const char *password);

int auth_user_add(struct auth *auth, const char *name, const char *password,
		  enum auth_role role, struct vr_error **err);
/* Refuses (-EBUSY) to remove the last admin; ends the user's sessions. */
int auth_user_remove(struct auth *auth, const char *name, struct vr_error **err);
/* Also ends all of the user's sessions. */
int auth_user_set_password(struct auth *auth, const char *name, const char *password,
			   struct vr_error **err);
/* Returns 0 and the role, or -ENOENT. */
int auth_user_role(struct auth *auth, const char *name, enum auth_role *role_out);
/* [{"name", "role", "created"}...], sorted by name; never contains hashes. */
json_t *auth_users_list(struct auth *auth);

/* Validates a new password: 8..256 bytes. */
int auth_password_validate(const char *password, struct vr_error **err);

#endif
