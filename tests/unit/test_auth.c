/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "api/lockout.h"
#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/auth.h"

struct fixture {
	char root[64];
	char *dir; /* the state directory, below root */
	struct auth *auth;
	char *admin_password;
};

static char *read_file(const char *dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	char *text = NULL;
	struct vr_error *err = NULL;
	if (file_read_all(path, 1 << 20, &text, NULL, &err) < 0) {
		vr_error_free(err);
		return NULL;
	}
	return text;
}

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	struct vr_error *err = NULL;
	assert_int_equal(file_write_atomic(path, text, strlen(text), mode, &err), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static mode_t file_mode(const char *dir, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static struct auth *open_ok(const char *dir)
{
	struct vr_error *err = NULL;
	struct auth *a = auth_open(dir, &err);
	if (!a)
		fail_msg("auth_open: %s", vr_error_msg(err));
	auth_set_failure_delay(a, 5);
	return a;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "/tmp/vireo-test-auth-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	/* A state directory that does not exist yet is created. */
	f->dir = xasprintf("%s/state", f->root);
	f->auth = open_ok(f->dir);
	char *pw = read_file(f->dir, "initial-admin-password");
	assert_non_null(pw);
	pw[strcspn(pw, "\n")] = '\0';
	f->admin_password = pw;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	auth_free(f->auth);
	rm_rf(f->root);
	free(f->dir);
	free(f->admin_password);
	free(f);
	return 0;
}

static char *login_ok(struct auth *a, const char *user, const char *password)
{
	struct vr_error *err = NULL;
	char *token = NULL;
	uint64_t expires = 0;
	if (auth_login(a, user, password, NULL, &token, &expires, NULL, &err) < 0)
		fail_msg("login as %s: %s", user, vr_error_msg(err));
	assert_int_equal(strlen(token), AUTH_TOKEN_HEX_LEN);
	assert_true(expires > time_real_ms());
	return token;
}

static void login_fails(struct auth *a, const char *user, const char *password)
{
	struct vr_error *err = NULL;
	char *token = NULL;
	assert_int_equal(auth_login(a, user, password, NULL, &token, NULL, NULL, &err), -EACCES);
	assert_null(token);
	assert_string_equal(err->msg, "invalid user name or password");
	vr_error_free(err);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void test_first_start(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(strlen(f->admin_password), 20);
	assert_int_equal(file_mode(f->dir, "initial-admin-password"), 0600);
	assert_int_equal(file_mode(f->dir, "users.json"), 0600);

	_cleanup_free_ char *token = login_ok(f->auth, "admin", f->admin_password);
	char *user = NULL;
	enum auth_role role = AUTH_ROLE_READ_ONLY;
	assert_int_equal(auth_check(f->auth, token, &user, &role), 0);
	assert_string_equal(user, "admin");
	assert_int_equal(role, AUTH_ROLE_ADMIN);
	free(user);
}

static void test_hashes_are_yescrypt(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	assert_int_equal(auth_user_add(f->auth, "alice", "correct horse", AUTH_ROLE_READ_ONLY, &err),
			 0);
	_cleanup_free_ char *text = read_file(f->dir, "users.json");
	json_t *doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(json_get_int(doc, "version", 0), 1);
	json_t *users = json_object_get(doc, "users");
	assert_int_equal(json_array_size(users), 2);
	size_t i;
	json_t *u;
	json_array_foreach(users, i, u) {
		const char *h = json_get_string(u, "password_hash", "");
		assert_true(str_has_prefix(h, "$y$"));
		assert_null(strstr(text, "correct horse"));
	}
	json_decref(doc);
	assert_null(strstr(text, f->admin_password));
}

static void test_reopen(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	assert_int_equal(auth_user_add(f->auth, "bob", "bobs password", AUTH_ROLE_ADMIN, &err), 0);
	auth_free(f->auth);
	f->auth = open_ok(f->dir);
	/* The initial password is not regenerated. */
	_cleanup_free_ char *pw = read_file(f->dir, "initial-admin-password");
	assert_true(str_has_prefix(pw, f->admin_password));

	enum auth_role role;
	assert_int_equal(auth_user_role(f->auth, "bob", &role), 0);
	assert_int_equal(role, AUTH_ROLE_ADMIN);
	free(login_ok(f->auth, "bob", "bobs password"));
	free(login_ok(f->auth, "admin", f->admin_password));

	json_t *list = auth_users_list(f->auth);
	assert_int_equal(json_array_size(list), 2);
	_cleanup_free_ char *dump = json_dump_compact(list);
	assert_string_equal(json_get_string(json_array_get(list, 0), "name", ""), "admin");
	assert_string_equal(json_get_string(json_array_get(list, 1), "role", ""), "admin");
	assert_null(strstr(dump, "$y$"));
	assert_null(strstr(dump, "hash"));
	json_decref(list);
}

static void test_last_admin(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	assert_int_equal(auth_user_remove(f->auth, "admin", &err), -EBUSY);
	assert_non_null(strstr(err->msg, "last admin"));
	vr_error_free(err);
	err = NULL;

	assert_int_equal(auth_user_add(f->auth, "carol", "carols password", AUTH_ROLE_READ_ONLY, &err),
			 0);
	assert_int_equal(auth_user_remove(f->auth, "admin", &err), -EBUSY);
	vr_error_free(err);
	err = NULL;
	assert_int_equal(auth_user_add(f->auth, "dave", "daves password", AUTH_ROLE_ADMIN, &err), 0);

	_cleanup_free_ char *token = login_ok(f->auth, "admin", f->admin_password);
	assert_int_equal(auth_user_remove(f->auth, "admin", &err), 0);
	/* Removing a user ends its sessions. */
	assert_int_equal(auth_check(f->auth, token, NULL, NULL), -ENOENT);
	login_fails(f->auth, "admin", f->admin_password);
	assert_int_equal(auth_user_remove(f->auth, "admin", &err), -ENOENT);
	vr_error_free(err);
	err = NULL;
	assert_int_equal(auth_user_remove(f->auth, "dave", &err), -EBUSY);
	vr_error_free(err);
}

static void test_bad_input(void **state)
{
	struct fixture *f = *state;
	static const char *const bad_names[] = { "a/b", "bad\x01name", "tab\tname", "", "..",
						 "-x", " lead" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
		struct vr_error *err = NULL;
		assert_int_equal(auth_user_add(f->auth, bad_names[i], "long enough", AUTH_ROLE_ADMIN,
					       &err),
				 -EINVAL);
		assert_non_null(strstr(err->msg, "user name"));
		vr_error_free(err);
	}
	struct vr_error *err = NULL;
	assert_int_equal(auth_user_add(f->auth, "eve", "short", AUTH_ROLE_ADMIN, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "at least 8"));
	vr_error_free(err);
	err = NULL;
	char big[AUTH_PASSWORD_MAX + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(auth_user_add(f->auth, "eve", big, AUTH_ROLE_ADMIN, &err), -EINVAL);
	vr_error_free(err);
	err = NULL;
	big[AUTH_PASSWORD_MAX] = '\0';
	assert_int_equal(auth_user_add(f->auth, "eve", big, AUTH_ROLE_ADMIN, &err), 0);
	assert_int_equal(auth_user_add(f->auth, "eve", big, AUTH_ROLE_ADMIN, &err), -EEXIST);
	vr_error_free(err);
	free(login_ok(f->auth, "eve", big));

	login_fails(f->auth, "admin", "wrong password");
	login_fails(f->auth, "nobody", f->admin_password);
	login_fails(f->auth, "admin", "");
	login_fails(f->auth, "bad/name", "whatever");

	enum auth_role role;
	assert_int_equal(auth_role_parse("admin", &role), 0);
	assert_int_equal(role, AUTH_ROLE_ADMIN);
	assert_int_equal(auth_role_parse("read-only", &role), 0);
	assert_int_equal(role, AUTH_ROLE_READ_ONLY);
	assert_int_equal(auth_role_parse("root", &role), -EINVAL);
}

static void test_sessions(void **state)
{
	struct fixture *f = *state;
	char *t1 = login_ok(f->auth, "admin", f->admin_password);
	char *t2 = login_ok(f->auth, "admin", f->admin_password);
	assert_string_not_equal(t1, t2);
	assert_int_equal(auth_logout(f->auth, t1), 0);
	assert_int_equal(auth_check(f->auth, t1, NULL, NULL), -ENOENT);
	assert_int_equal(auth_logout(f->auth, t1), -ENOENT);
	assert_int_equal(auth_check(f->auth, t2, NULL, NULL), 0);
	assert_int_equal(auth_check(f->auth, "", NULL, NULL), -ENOENT);
	assert_int_equal(auth_check(f->auth, "not hex", NULL, NULL), -ENOENT);
	assert_int_equal(auth_check(f->auth, NULL, NULL, NULL), -ENOENT);
	/* An uppercase variant of a valid token is another token. */
	char upper[AUTH_TOKEN_HEX_LEN + 1];
	for (size_t i = 0; i <= AUTH_TOKEN_HEX_LEN; i++)
		upper[i] = (char)(t2[i] >= 'a' && t2[i] <= 'f' ? t2[i] - 32 : t2[i]);
	if (strcmp(upper, t2) != 0)
		assert_int_equal(auth_check(f->auth, upper, NULL, NULL), -ENOENT);

	/* Idle timeout, refreshed by use. */
	auth_set_session_timeouts(f->auth, 300, 0);
	char *t3 = login_ok(f->auth, "admin", f->admin_password);
	for (int i = 0; i < 3; i++) {
		sleep_ms(150);
		assert_int_equal(auth_check(f->auth, t3, NULL, NULL), 0);
	}
	sleep_ms(400);
	assert_int_equal(auth_check(f->auth, t3, NULL, NULL), -ETIMEDOUT);
	assert_int_equal(auth_check(f->auth, t3, NULL, NULL), -ENOENT);

	/* Absolute lifetime, even when used. */
	auth_set_session_timeouts(f->auth, 10000, 400);
	char *t4 = login_ok(f->auth, "admin", f->admin_password);
	for (int i = 0; i < 2; i++) {
		sleep_ms(150);
		assert_int_equal(auth_check(f->auth, t4, NULL, NULL), 0);
	}
	sleep_ms(200);
	assert_int_equal(auth_check(f->auth, t4, NULL, NULL), -ETIMEDOUT);
	free(t1);
	free(t2);
	free(t3);
	free(t4);
}

static void test_set_password(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	_cleanup_free_ char *token = login_ok(f->auth, "admin", f->admin_password);
	assert_true(auth_verify_password(f->auth, "admin", f->admin_password));
	assert_false(auth_verify_password(f->auth, "admin", "nope nope"));
	assert_false(auth_verify_password(f->auth, "ghost", f->admin_password));
	assert_int_equal(auth_user_set_password(f->auth, "admin", "short", &err), -EINVAL);
	vr_error_free(err);
	err = NULL;
	assert_int_equal(auth_user_set_password(f->auth, "ghost", "long enough", &err), -ENOENT);
	vr_error_free(err);
	err = NULL;
	assert_int_equal(auth_user_set_password(f->auth, "admin", "a new password", &err), 0);
	assert_int_equal(auth_check(f->auth, token, NULL, NULL), -ENOENT);
	login_fails(f->auth, "admin", f->admin_password);
	free(login_ok(f->auth, "admin", "a new password"));

	auth_free(f->auth);
	f->auth = open_ok(f->dir);
	free(login_ok(f->auth, "admin", "a new password"));
}

static void test_configured_password(void **state)
{
	char root[] = "/tmp/vireo-test-auth-XXXXXX";
	assert_non_null(mkdtemp(root));
	struct vr_error *err = NULL;
	assert_null(auth_open_with_password(root, "short", &err));
	assert_non_null(strstr(err->msg, "initial admin password"));
	vr_error_free(err);
	err = NULL;

	setenv(AUTH_INITIAL_PASSWORD_ENV, "from the environment", 1);
	struct auth *a = auth_open(root, &err);
	unsetenv(AUTH_INITIAL_PASSWORD_ENV);
	assert_non_null(a);
	_cleanup_free_ char *pwfile = read_file(root, "initial-admin-password");
	assert_null(pwfile);
	free(login_ok(a, "admin", "from the environment"));
	auth_free(a);
	rm_rf(root);
}

static void test_bad_users_file(void **state)
{
	char root[] = "/tmp/vireo-test-auth-XXXXXX";
	assert_non_null(mkdtemp(root));
	struct vr_error *err = NULL;

	write_file(root, "users.json", "{\"version\": 1, \"users\": [", 0600);
	assert_null(auth_open(root, &err));
	assert_non_null(strstr(err->msg, "users.json\" is not valid JSON"));
	vr_error_free(err);
	err = NULL;

	write_file(root, "users.json", "{\"version\": 2, \"users\": []}", 0600);
	assert_null(auth_open(root, &err));
	assert_non_null(strstr(err->msg, "\"version\""));
	vr_error_free(err);
	err = NULL;

	write_file(root, "users.json",
		   "{\"version\": 1, \"users\": [{\"name\": \"x\", \"role\": \"admin\", "
		   "\"password_hash\": \"$y$j9T$abc$def\", \"colour\": 1}]}",
		   0600);
	assert_null(auth_open(root, &err));
	assert_non_null(strstr(err->msg, "unknown field \"colour\""));
	vr_error_free(err);
	err = NULL;

	write_file(root, "users.json",
		   "{\"version\": 1, \"users\": [{\"name\": \"x\", \"role\": \"god\", "
		   "\"password_hash\": \"$y$j9T$abc$def\"}]}",
		   0600);
	assert_null(auth_open(root, &err));
	assert_non_null(strstr(err->msg, "unknown role \"god\""));
	vr_error_free(err);
	err = NULL;

	/* A readable file is tightened to 0600. */
	write_file(root, "users.json",
		   "{\"version\": 1, \"users\": [{\"name\": \"x\", \"role\": \"admin\", "
		   "\"password_hash\": \"$y$j9T$abc$def\"}]}",
		   0644);
	struct auth *a = auth_open(root, &err);
	assert_non_null(a);
	assert_int_equal(file_mode(root, "users.json"), 0600);
	auth_free(a);
	rm_rf(root);
}

/* What the lock notification saw. */
struct locked_seen {
	unsigned calls;
	char user[96];
	char peer[64];
	unsigned failures;
	uint64_t retry_after_s;
};

static void on_locked(void *opaque, const char *user, const char *peer,
		      const struct login_lockout_verdict *v)
{
	struct locked_seen *seen = opaque;
	seen->calls++;
	snprintf(seen->user, sizeof(seen->user), "%s", user);
	snprintf(seen->peer, sizeof(seen->peer), "%s", peer ? peer : "(none)");
	seen->failures = v->failures;
	seen->retry_after_s = login_lockout_retry_after_s(v);
}

/* A login refused by lockout: EAGAIN, the message, the verdict. */
static void login_locked(struct auth *a, const char *user, const char *password,
			 bool locked_now)
{
	struct vr_error *err = NULL;
	char *token = NULL;
	struct login_lockout_verdict v;
	assert_int_equal(auth_login(a, user, password, "192.0.2.7", &token, NULL, &v, &err),
			 -EAGAIN);
	assert_null(token);
	assert_true(v.locked);
	assert_int_equal(v.locked_now, locked_now);
	assert_non_null(strstr(err->msg, "too many failed logins for this user name: it is "
					 "locked for about"));
	vr_error_free(err);
}

static void test_lockout(void **state)
{
	struct fixture *f = *state;
	struct vr_error *err = NULL;
	assert_int_equal(auth_user_add(f->auth, "alice", "alices password", AUTH_ROLE_READ_ONLY,
				       &err),
			 0);
	struct locked_seen seen = {0};
	auth_set_lock_notify(f->auth, on_locked, &seen);
	struct login_lockout_config cfg;
	login_lockout_config_default(&cfg);
	cfg.max_failures = 3;
	cfg.unlock_ms = 1500;
	assert_int_equal(auth_set_lockout(f->auth, &cfg, &err), 0);

	/* A session opened before the lock goes on working. */
	_cleanup_free_ char *before = login_ok(f->auth, "alice", "alices password");
	login_fails(f->auth, "alice", "wrong password");
	login_fails(f->auth, "alice", "wrong password");
	login_locked(f->auth, "alice", "wrong password", true);
	assert_int_equal(seen.calls, 1);
	assert_string_equal(seen.user, "alice");
	assert_string_equal(seen.peer, "192.0.2.7");
	assert_int_equal(seen.failures, 3);
	assert_int_equal(seen.retry_after_s, 2);
	/* The right password is refused while it lasts; the session is untouched. */
	login_locked(f->auth, "alice", "alices password", false);
	login_locked(f->auth, "alice", "wrong password", false);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(auth_check(f->auth, before, NULL, NULL), 0);
	/* Another user is not affected. */
	free(login_ok(f->auth, "admin", f->admin_password));

	/* An unknown name is counted and locked the same way, with the same answers. */
	login_fails(f->auth, "nobody", "wrong password");
	login_fails(f->auth, "nobody", "wrong password");
	login_locked(f->auth, "nobody", "wrong password", true);
	assert_int_equal(seen.calls, 2);
	assert_string_equal(seen.user, "nobody");
	/* A name that is not a valid user name is not echoed. */
	login_fails(f->auth, "bad/name\n", "x");
	login_fails(f->auth, "bad/name\n", "x");
	login_locked(f->auth, "bad/name\n", "x", true);
	assert_string_equal(seen.user, "(invalid name)");

	/* The lock ends by itself; the right password gets in, and clears the count. */
	sleep_ms(1600);
	free(login_ok(f->auth, "alice", "alices password"));
	login_fails(f->auth, "alice", "wrong password");
	login_fails(f->auth, "alice", "wrong password");
	free(login_ok(f->auth, "alice", "alices password"));
	login_fails(f->auth, "alice", "wrong password");
	login_fails(f->auth, "alice", "wrong password");
	login_locked(f->auth, "alice", "wrong password", true);

	/* 0 turns it off. */
	cfg.max_failures = 0;
	assert_int_equal(auth_set_lockout(f->auth, &cfg, &err), 0);
	for (int i = 0; i < 8; i++)
		login_fails(f->auth, "alice", "wrong password");
	free(login_ok(f->auth, "alice", "alices password"));
	/* Out of bounds: refused with the reason. */
	cfg.max_failures = 1000;
	assert_int_equal(auth_set_lockout(f->auth, &cfg, &err), -EINVAL);
	assert_non_null(strstr(vr_error_msg(err), "from 0 (no lockout) to 100"));
	vr_error_free(err);
}

int main(void)
{
	unsetenv(AUTH_INITIAL_PASSWORD_ENV);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashes_are_yescrypt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
		cmocka_unit_test(test_configured_password),
		cmocka_unit_test(test_bad_users_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
