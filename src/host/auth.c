/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Local users and API sessions of vireo-hostd.
 *
 * Users live in state_dir/users.json (version 1, mode 0600) with yescrypt
 * password hashes.  Sessions live only in memory: the daemon keeps the
 * SHA-256 of each token, never the token itself, so a memory dump does
 * not hand out live sessions.
 */
#include "host/auth.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api/lockout.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"

#define USERS_FILE "users.json"
#define INITIAL_PASSWORD_FILE "initial-admin-password"
#define USERS_FILE_VERSION 1
#define USERS_FILE_MAX (16u << 20)
#define MAX_SESSIONS 4096
#define INITIAL_PASSWORD_LEN 20
#define DEFAULT_FAILURE_DELAY_MS 250

struct auth_user {
	char *name;
	enum auth_role role;
	char *hash;
	char *created; /* ISO-8601 */
};

struct session {
	unsigned char token_hash[32];
	char *user;
	uint64_t created_ms; /* monotonic */
	uint64_t last_used_ms; /* monotonic */
};

struct auth {
	pthread_mutex_t lock;
	char *state_dir;
	char *users_path;
	struct auth_user *users;
	size_t n_users;
	struct session *sessions;
	size_t n_sessions;
	uint64_t idle_timeout_ms;
	uint64_t max_lifetime_ms;
	unsigned failure_delay_ms;
	/* Hash checked for unknown users, so that they take as long. */
	char *dummy_hash;
	/* Set before logins start (auth_set_lockout), then used without a.lock. */
	struct login_lockout *lockout;
	auth_locked_fn on_locked;
	void *on_locked_opaque;
};

const char *auth_role_name(enum auth_role role)
{
	return role == AUTH_ROLE_ADMIN ? "admin" : "read-only";
}

int auth_role_parse(const char *s, enum auth_role *out)
{
	if (s && strcmp(s, "admin") == 0)
		*out = AUTH_ROLE_ADMIN;
	else if (s && strcmp(s, "read-only") == 0)
		*out = AUTH_ROLE_READ_ONLY;
	else
		return -EINVAL;
	return 0;
}

int auth_password_validate(const char *password, struct vr_error **err)
{
	if (!password)
		return vr_error_set(err, EINVAL, "password is missing");
	size_t len = strlen(password);
	if (len < AUTH_PASSWORD_MIN)
		return vr_error_set(err, EINVAL, "password is %zu bytes long; it must have at least %d",
				    len, AUTH_PASSWORD_MIN);
	if (len > AUTH_PASSWORD_MAX)
		return vr_error_set(err, EINVAL, "password is %zu bytes long; the limit is %d", len,
				    AUTH_PASSWORD_MAX);
	return 0;
}

/* ---- hashing ---- */

static int password_hash(const char *password, char **out, struct vr_error **err)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)))
		return vr_error_set_errno(err, errno ? errno : EINVAL,
					  "cannot generate a yescrypt salt");
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h = crypt_r(password, salt, cd);
	int r = 0;
	if (!h || h[0] == '*')
		r = vr_error_set(err, EIO, "cannot hash the password with yescrypt");
	else
		*out = xstrdup(h);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return r;
}

static bool password_matches(const char *password, const char *hash)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char *h = crypt_r(password, hash, cd);
	bool ok = h && h[0] != '*' && strlen(h) == strlen(hash) &&
		  CRYPTO_memcmp(h, hash, strlen(hash)) == 0;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

static void token_digest(const char *token, unsigned char out[32])
{
	unsigned int len = 32;
	if (!EVP_Digest(token, strlen(token), out, &len, EVP_sha256(), NULL))
		abort();
}

static bool token_well_formed(const char *token)
{
	if (!token || strlen(token) != AUTH_TOKEN_HEX_LEN)
		return false;
	for (const char *p = token; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* ---- users ---- */

static struct auth_user *user_find(struct auth *a, const char *name)
{
	for (size_t i = 0; i < a->n_users; i++)
		if (strcmp(a->users[i].name, name) == 0)
			return &a->users[i];
	return NULL;
}

static size_t admin_count(struct auth *a)
{
	size_t n = 0;
	for (size_t i = 0; i < a->n_users; i++)
		n += a->users[i].role == AUTH_ROLE_ADMIN;
	return n;
}

static void user_clear(struct auth_user *u)
{
	free(u->name);
	free(u->hash);
	free(u->created);
	memset(u, 0, sizeof(*u));
}

static int users_save(struct auth *a, struct vr_error **err)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < a->n_users; i++) {
		struct auth_user *u = &a->users[i];
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}", "name", u->name, "role",
						     auth_role_name(u->role), "password_hash",
						     u->hash, "created", u->created));
	}
	json_t *doc = json_pack("{s:i,s:o}", "version", USERS_FILE_VERSION, "users", arr);
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(doc);
	if (!text)
		abort();
	size_t len = strlen(text);
	text = xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	int r = file_write_atomic(a->users_path, text, len, 0600, err);
	free(text);
	if (r < 0)
		return vr_error_wrap(err, "cannot save the user database");
	return 0;
}

static const struct json_field users_file_fields[] = {
	{ "version", JSON_INTEGER, true, 1, 1 },
	{ "users", JSON_ARRAY, true, 0, 100000 },
};

static const struct json_field user_entry_fields[] = {
	{ "name", JSON_STRING, true, 0, 0 },
	{ "role", JSON_STRING, true, 0, 0 },
	{ "password_hash", JSON_STRING, true, 1, 1024 },
	{ "created", JSON_STRING, false, 0, 64 },
};

static int users_load(struct auth *a, struct vr_error **err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = file_read_all(a->users_path, USERS_FILE_MAX, &text, &len, err);
	if (r < 0)
		return r;

	struct stat st;
	if (stat(a->users_path, &st) == 0 && (st.st_mode & 077)) {
		log_warn("\"%s\" was readable by other users; setting its mode to 0600",
			 a->users_path);
		if (chmod(a->users_path, 0600) < 0)
			return vr_error_set_errno(err, errno, "cannot chmod \"%s\"", a->users_path);
	}

	json_error_t jerr;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return vr_error_set(err, EINVAL, "\"%s\" is not valid JSON: line %d: %s",
				    a->users_path, jerr.line, jerr.text);
	_cleanup_free_ char *what = xasprintf("\"%s\"", a->users_path);
	r = json_check_object(doc, users_file_fields, ARRAY_SIZE(users_file_fields), what, err);
	if (r < 0)
		goto out;
	json_t *arr = json_object_get(doc, "users");
	size_t n = json_array_size(arr);
	a->users = xcalloc(n, sizeof(*a->users));
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);
		_cleanup_free_ char *ewhat = xasprintf("user entry %zu of %s", i, what);
		r = json_check_object(e, user_entry_fields, ARRAY_SIZE(user_entry_fields), ewhat,
				      err);
		if (r < 0)
			goto out;
		const char *name = json_get_string(e, "name", "");
		r = name_validate("user", name, err);
		if (r < 0) {
			r = vr_error_wrap(err, "%s", ewhat);
			goto out;
		}
		if (user_find(a, name)) {
			r = vr_error_set(err, EINVAL, "user \"%s\" appears twice in %s", name, what);
			goto out;
		}
		enum auth_role role;
		if (auth_role_parse(json_get_string(e, "role", ""), &role) < 0) {
			r = vr_error_set(err, EINVAL, "user \"%s\" in %s has an unknown role \"%s\"",
					 name, what, json_get_string(e, "role", ""));
			goto out;
		}
		const char *hash = json_get_string(e, "password_hash", "");
		if (hash[0] != '$') {
			r = vr_error_set(err, EINVAL,
					 "user \"%s\" in %s has a malformed password hash", name, what);
			goto out;
		}
		struct auth_user *u = &a->users[a->n_users++];
		u->name = xstrdup(name);
		u->role = role;
		u->hash = xstrdup(hash);
		u->created = xstrdup(json_get_string(e, "created", ""));
	}
	if (admin_count(a) == 0)
		log_warn("%s has no admin user; nobody can manage this host through the API", what);
	r = 0;
out:
	json_decref(doc);
	return r;
}

static void random_password(char *out, size_t len)
{
	/* No 0/O, 1/l/I: the password is read off a file by a person. */
	static const char alphabet[] = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
	const size_t n = sizeof(alphabet) - 1;
	const unsigned limit = 256 - 256 % n;
	size_t i = 0;
	while (i < len) {
		unsigned char buf[32];
		if (random_bytes(buf, sizeof(buf)) < 0)
			abort();
		for (size_t j = 0; j < sizeof(buf) && i < len; j++)
			if (buf[j] < limit)
				out[i++] = alphabet[buf[j] % n];
	}
	out[len] = '\0';
}

static void now_iso(char out[32])
{
	time_format_iso(time_real_ms(), out);
}

static int users_create_initial(struct auth *a, const char *initial_password,
				struct vr_error **err)
{
	char generated[INITIAL_PASSWORD_LEN + 1];
	const char *password = initial_password;
	_cleanup_free_ char *pw_path = NULL;
	int r;

	if (password) {
		r = auth_password_validate(password, err);
		if (r < 0)
			return vr_error_wrap(err, "initial admin password");
	} else {
		random_password(generated, INITIAL_PASSWORD_LEN);
		password = generated;
	}

	struct auth_user u = { .name = xstrdup("admin"), .role = AUTH_ROLE_ADMIN };
	char created[32];
	now_iso(created);
	u.created = xstrdup(created);
	r = password_hash(password, &u.hash, err);
	if (r < 0)
		goto fail;

	if (!initial_password) {
		/* The password file first: users without it would lock the admin out. */
		pw_path = xasprintf("%s/%s", a->state_dir, INITIAL_PASSWORD_FILE);
		char line[INITIAL_PASSWORD_LEN + 2];
		snprintf(line, sizeof(line), "%s\n", generated);
		r = file_write_atomic(pw_path, line, strlen(line), 0600, err);
		explicit_bzero(line, sizeof(line));
		if (r < 0) {
			vr_error_wrap(err, "cannot store the initial admin password");
			goto fail;
		}
	}
	a->users = xcalloc(1, sizeof(*a->users));
	a->users[0] = u;
	a->n_users = 1;
	r = users_save(a, err);
	if (r < 0) {
		user_clear(&a->users[0]);
		a->n_users = 0;
		explicit_bzero(generated, sizeof(generated));
		return r;
	}
	if (pw_path)
		log_info("created user \"admin\"; its initial password is in \"%s\"", pw_path);
	else
		log_info("created user \"admin\" with the configured initial password");
	explicit_bzero(generated, sizeof(generated));
	return 0;
fail:
	explicit_bzero(generated, sizeof(generated));
	user_clear(&u);
	return r;
}

/* ---- life cycle ---- */

struct auth *auth_open_with_password(const char *state_dir, const char *initial_password,
				     struct vr_error **err)
{
	int r = mkdir_p(state_dir, 0700);
	if (r < 0) {
		vr_error_set_errno(err, -r, "cannot create the state directory \"%s\"", state_dir);
		return NULL;
	}
	struct auth *a = xcalloc(1, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	a->state_dir = xstrdup(state_dir);
	a->users_path = xasprintf("%s/%s", state_dir, USERS_FILE);
	a->idle_timeout_ms = AUTH_DEFAULT_IDLE_TIMEOUT_MS;
	a->max_lifetime_ms = AUTH_DEFAULT_MAX_LIFETIME_MS;
	a->failure_delay_ms = DEFAULT_FAILURE_DELAY_MS;
	struct login_lockout_config lc;
	login_lockout_config_default(&lc);
	a->lockout = login_lockout_new(&lc, err);
	if (!a->lockout)
		goto fail;

	struct stat st;
	if (stat(a->users_path, &st) == 0)
		r = users_load(a, err);
	else if (errno == ENOENT)
		r = users_create_initial(a, initial_password, err);
	else
		r = vr_error_set_errno(err, errno, "cannot stat \"%s\"", a->users_path);
	if (r < 0)
		goto fail;

	char junk[24];
	random_password(junk, sizeof(junk) - 1);
	r = password_hash(junk, &a->dummy_hash, err);
	if (r < 0)
		goto fail;
	return a;
fail:
	auth_free(a);
	return NULL;
}

struct auth *auth_open(const char *state_dir, struct vr_error **err)
{
	return auth_open_with_password(state_dir, getenv(AUTH_INITIAL_PASSWORD_ENV), err);
}

void auth_free(struct auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_users; i++)
		user_clear(&a->users[i]);
	free(a->users);
	for (size_t i = 0; i < a->n_sessions; i++)
		free(a->sessions[i].user);
	if (a->sessions)
		explicit_bzero(a->sessions, a->n_sessions * sizeof(*a->sessions));
	free(a->sessions);
	free(a->dummy_hash);
	login_lockout_free(a->lockout);
	free(a->users_path);
	free(a->state_dir);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

void auth_set_session_timeouts(struct auth *a, uint64_t idle_timeout_ms,
			       uint64_t max_lifetime_ms)
{
	pthread_mutex_lock(&a->lock);
	if (idle_timeout_ms)
		a->idle_timeout_ms = idle_timeout_ms;
	if (max_lifetime_ms)
		a->max_lifetime_ms = max_lifetime_ms;
	pthread_mutex_unlock(&a->lock);
}

void auth_set_failure_delay(struct auth *a, unsigned delay_ms)
{
	pthread_mutex_lock(&a->lock);
	a->failure_delay_ms = delay_ms;
	pthread_mutex_unlock(&a->lock);
}

int auth_set_lockout(struct auth *a, const struct login_lockout_config *cfg,
		     struct vr_error **err)
{
	struct login_lockout *l = login_lockout_new(cfg, err);
	if (!l)
		return -EINVAL;
	login_lockout_free(a->lockout);
	a->lockout = l;
	return 0;
}

void auth_set_lock_notify(struct auth *a, auth_locked_fn fn, void *opaque)
{
	a->on_locked = fn;
	a->on_locked_opaque = opaque;
}

/* ---- sessions (all called with the lock held) ---- */

static void session_remove_at(struct auth *a, size_t i)
{
	free(a->sessions[i].user);
	a->sessions[i] = a->sessions[a->n_sessions - 1];
	a->n_sessions--;
	explicit_bzero(&a->sessions[a->n_sessions], sizeof(a->sessions[0]));
}

static bool session_expired(const struct auth *a, const struct session *s, uint64_t now)
{
	return now - s->last_used_ms >= a->idle_timeout_ms ||
	       now - s->created_ms >= a->max_lifetime_ms;
}

static void sessions_sweep(struct auth *a, uint64_t now)
{
	for (size_t i = 0; i < a->n_sessions;) {
		if (session_expired(a, &a->sessions[i], now))
			session_remove_at(a, i);
		else
			i++;
	}
}

static void sessions_remove_user(struct auth *a, const char *name)
{
	for (size_t i = 0; i < a->n_sessions;) {
		if (strcmp(a->sessions[i].user, name) == 0)
			session_remove_at(a, i);
		else
			i++;
	}
}

static ssize_t session_find(struct auth *a, const unsigned char digest[32])
{
	ssize_t found = -1;
	for (size_t i = 0; i < a->n_sessions; i++)
		if (CRYPTO_memcmp(a->sessions[i].token_hash, digest, 32) == 0)
			found = (ssize_t)i;
	return found;
}

static void failure_delay(unsigned base_ms)
{
	if (!base_ms)
		return;
	unsigned char jitter;
	if (random_bytes(&jitter, 1) < 0)
		jitter = 0;
	uint64_t ms = base_ms + (uint64_t)base_ms * jitter / 512;
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The user name as sent, for logs and events: attacker-chosen, so only when it is a valid one. */
static const char *shown_name(const char *user)
{
	return user && !name_validate("user", user, NULL) ? user : "(invalid name)";
}

/* Refuses a login for lockout: EAGAIN, with the event or warning when this failure locked it. */
static int login_locked(struct auth *a, const char *user, const char *peer,
			const struct login_lockout_verdict *v, struct login_lockout_verdict *out,
			struct vr_error **err)
{
	if (v->locked_now) {
		if (a->on_locked)
			a->on_locked(a->on_locked_opaque, shown_name(user), peer, v);
		else
			log_warn("user name \"%s\" locked for %llu s after %u failed logins (the last "
				 "from %s)",
				 shown_name(user), (unsigned long long)login_lockout_retry_after_s(v),
				 v->failures, peer ? peer : "an unknown address");
	} else {
		log_info("login as \"%s\" from %s refused: the user name is locked", shown_name(user),
			 peer ? peer : "an unknown address");
	}
	if (out)
		*out = *v;
	_cleanup_free_ char *msg = login_lockout_message(v);
	return vr_error_set(err, EAGAIN, "%s", msg);
}

int auth_login(struct auth *a, const char *user, const char *password, const char *peer,
	       char **token_out, uint64_t *expires_ms, struct login_lockout_verdict *lockout,
	       struct vr_error **err)
{
	struct login_lockout_verdict v;
	if (lockout)
		*lockout = (struct login_lockout_verdict){0};
	/* A locked name is refused before any hashing: the attempt costs nothing. */
	if (login_lockout_check(a->lockout, user, time_mono_ms(), &v))
		return login_locked(a, user, peer, &v, lockout, err);

	pthread_mutex_lock(&a->lock);
	struct auth_user *u = user ? user_find(a, user) : NULL;
	_cleanup_free_ char *hash = xstrdup(u ? u->hash : a->dummy_hash);
	unsigned delay = a->failure_delay_ms;
	pthread_mutex_unlock(&a->lock);

	/* Always hash, so that unknown users take as long as known ones. */
	bool ok = password_matches(password ? password : "", hash) && u;
	if (ok && (!password || strlen(password) > AUTH_PASSWORD_MAX))
		ok = false;
	/* Unknown names are counted as known ones are: the answers tell nothing about accounts. */
	login_lockout_record(a->lockout, user, ok, time_mono_ms(), &v);
	if (!ok) {
		log_info("failed login for user \"%s\" from %s", shown_name(user),
			 peer ? peer : "an unknown address");
		failure_delay(delay);
		if (v.locked)
			return login_locked(a, user, peer, &v, lockout, err);
		return vr_error_set(err, EACCES, "invalid user name or password");
	}
	/* Locked by failures elsewhere while this one was hashing: refused all the same. */
	if (v.locked)
		return login_locked(a, user, peer, &v, lockout, err);

	unsigned char raw[32];
	if (random_bytes(raw, sizeof(raw)) < 0)
		return vr_error_set(err, EIO, "cannot generate a session token");
	char token[AUTH_TOKEN_HEX_LEN + 1];
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(token + 2 * i, 3, "%02x", raw[i]);
	explicit_bzero(raw, sizeof(raw));

	pthread_mutex_lock(&a->lock);
	/* The user may have gone while we were hashing. */
	u = user_find(a, user);
	if (!u || strcmp(u->hash, hash) != 0) {
		pthread_mutex_unlock(&a->lock);
		explicit_bzero(token, sizeof(token));
		return vr_error_set(err, EACCES, "invalid user name or password");
	}
	uint64_t now = time_mono_ms();
	sessions_sweep(a, now);
	if (a->n_sessions >= MAX_SESSIONS) {
		size_t oldest = 0;
		for (size_t i = 1; i < a->n_sessions; i++)
			if (a->sessions[i].last_used_ms < a->sessions[oldest].last_used_ms)
				oldest = i;
		log_warn("%d API sessions are open; ending the least recently used one",
			 MAX_SESSIONS);
		session_remove_at(a, oldest);
	}
	a->sessions = xrealloc(a->sessions, (a->n_sessions + 1) * sizeof(*a->sessions));
	struct session *s = &a->sessions[a->n_sessions++];
	token_digest(token, s->token_hash);
	s->user = xstrdup(user);
	s->created_ms = s->last_used_ms = now;
	uint64_t lifetime = a->idle_timeout_ms < a->max_lifetime_ms ? a->idle_timeout_ms
								     : a->max_lifetime_ms;
	pthread_mutex_unlock(&a->lock);

	if (expires_ms)
		*expires_ms = time_real_ms() + lifetime;
	*token_out = xstrdup(token);
	explicit_bzero(token, sizeof(token));
	log_info("user \"%s\" logged in", user);
	return 0;
}

int auth_check(struct auth *a, const char *token, char **user_out, enum auth_role *role_out)
{
	if (!token_well_formed(token))
		return -ENOENT;
	unsigned char digest[32];
	token_digest(token, digest);

	int r = 0;
	pthread_mutex_lock(&a->lock);
	uint64_t now = time_mono_ms();
	ssize_t i = session_find(a, digest);
	if (i < 0) {
		r = -ENOENT;
		goto out;
	}
	struct session *s = &a->sessions[i];
	if (session_expired(a, s, now)) {
		session_remove_at(a, (size_t)i);
		r = -ETIMEDOUT;
		goto out;
	}
	struct auth_user *u = user_find(a, s->user);
	if (!u) {
		session_remove_at(a, (size_t)i);
		r = -ENOENT;
		goto out;
	}
	s->last_used_ms = now;
	if (user_out)
		*user_out = xstrdup(u->name);
	if (role_out)
		*role_out = u->role;
out:
	pthread_mutex_unlock(&a->lock);
	return r;
}

int auth_logout(struct auth *a, const char *token)
{
	if (!token_well_formed(token))
		return -ENOENT;
	unsigned char digest[32];
	token_digest(token, digest);
	pthread_mutex_lock(&a->lock);
	ssize_t i = session_find(a, digest);
	if (i >= 0)
		session_remove_at(a, (size_t)i);
	pthread_mutex_unlock(&a->lock);
	return i >= 0 ? 0 : -ENOENT;
}

bool auth_verify_password(struct auth *a, const char *user, const char *password)
{
	pthread_mutex_lock(&a->lock);
	struct auth_user *u = user ? user_find(a, user) : NULL;
	_cleanup_free_ char *hash = xstrdup(u ? u->hash : a->dummy_hash);
	pthread_mutex_unlock(&a->lock);
	return password_matches(password ? password : "", hash) && u;
}

/* ---- user management ---- */

int auth_user_add(struct auth *a, const char *name, const char *password, enum auth_role role,
		  struct vr_error **err)
{
	int r = name_validate("user", name, err);
	if (r < 0)
		return r;
	r = auth_password_validate(password, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *hash = NULL;
	r = password_hash(password, &hash, err);
	if (r < 0)
		return r;

	pthread_mutex_lock(&a->lock);
	if (user_find(a, name)) {
		r = vr_error_set(err, EEXIST, "user \"%s\" already exists", name);
		goto out;
	}
	char created[32];
	now_iso(created);
	a->users = xrealloc(a->users, (a->n_users + 1) * sizeof(*a->users));
	a->users[a->n_users++] = (struct auth_user){
		.name = xstrdup(name),
		.role = role,
		.hash = steal_pointer(&hash),
		.created = xstrdup(created),
	};
	r = users_save(a, err);
	if (r < 0) {
		user_clear(&a->users[--a->n_users]);
		goto out;
	}
	log_info("added user \"%s\" with role %s", name, auth_role_name(role));
out:
	pthread_mutex_unlock(&a->lock);
	return r;
}

int auth_user_remove(struct auth *a, const char *name, struct vr_error **err)
{
	int r;
	pthread_mutex_lock(&a->lock);
	struct auth_user *u = user_find(a, name);
	if (!u) {
		r = vr_error_set(err, ENOENT, "user \"%s\" does not exist", name);
		goto out;
	}
	if (u->role == AUTH_ROLE_ADMIN && admin_count(a) == 1) {
		r = vr_error_set(err, EBUSY,
				 "user \"%s\" is the last admin; add another admin before removing it",
				 name);
		goto out;
	}
	size_t idx = (size_t)(u - a->users);
	struct auth_user removed = *u;
	memmove(&a->users[idx], &a->users[idx + 1], (a->n_users - idx - 1) * sizeof(*u));
	a->n_users--;
	r = users_save(a, err);
	if (r < 0) {
		memmove(&a->users[idx + 1], &a->users[idx], (a->n_users - idx) * sizeof(*u));
		a->users[idx] = removed;
		a->n_users++;
		goto out;
	}
	sessions_remove_user(a, removed.name);
	log_info("removed user \"%s\"", removed.name);
	user_clear(&removed);
out:
	pthread_mutex_unlock(&a->lock);
	return r;
}

int auth_user_set_password(struct auth *a, const char *name, const char *password,
			   struct vr_error **err)
{
	int r = auth_password_validate(password, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *hash = NULL;
	r = password_hash(password, &hash, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&a->lock);
	struct auth_user *u = user_find(a, name);
	if (!u) {
		r = vr_error_set(err, ENOENT, "user \"%s\" does not exist", name);
		goto out;
	}
	char *old = u->hash;
	u->hash = steal_pointer(&hash);
	r = users_save(a, err);
	if (r < 0) {
		hash = u->hash;
		u->hash = old;
		goto out;
	}
	free(old);
	sessions_remove_user(a, name);
	log_info("changed the password of user \"%s\"", name);
out:
	pthread_mutex_unlock(&a->lock);
	return r;
}

int auth_user_role(struct auth *a, const char *name, enum auth_role *role_out)
{
	pthread_mutex_lock(&a->lock);
	struct auth_user *u = name ? user_find(a, name) : NULL;
	if (u && role_out)
		*role_out = u->role;
	pthread_mutex_unlock(&a->lock);
	return u ? 0 : -ENOENT;
}

static int user_cmp(const void *x, const void *y)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)x, "name")),
		      json_string_value(json_object_get(*(json_t *const *)y, "name")));
}

json_t *auth_users_list(struct auth *a)
{
	pthread_mutex_lock(&a->lock);
	size_t n = a->n_users;
	json_t **items = xcalloc(n, sizeof(*items));
	for (size_t i = 0; i < n; i++) {
		struct auth_user *u = &a->users[i];
		items[i] = json_pack("{s:s,s:s,s:s}", "name", u->name, "role",
				     auth_role_name(u->role), "created", u->created);
	}
	pthread_mutex_unlock(&a->lock);
	qsort(items, n, sizeof(*items), user_cmp);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, items[i]);
	free(items);
	return arr;
}
