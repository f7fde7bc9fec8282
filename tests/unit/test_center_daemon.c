/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parts of the vireo-center daemon that need no hosts: the sealing of
 * host credentials (secrets.c), the sessions (sessions.c), the pool
 * of database connections (dbpool.c) and each host's part of the
 * resource pool tree (poolsync.c), on a temporary SQLite database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/lockout.h"
#include "center/center.h"
#include "center/db/db.h"
#include "center/db/inventory.h"
#include "center/db/principals.h"
#include "center/hosts_priv.h"
#include "center/pools.h"
#include "common/jsonutil.h"
#include "center/db/schema.h"
#include "center/secrets.h"
#include "center/sessions.h"
#include "common/error.h"
#include "common/util.h"

static char *make_dir(void)
{
	char tmpl[] = "/tmp/vireo-center-test-XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return xstrdup(d);
}

static void test_secrets_round_trip(void **state)
{
	_cleanup_free_ char *dir = make_dir();
	_cleanup_error_ struct vr_error *err = NULL;
	struct secrets *s = secrets_open(dir, &err);
	assert_non_null(s);
	_cleanup_free_ char *key = xasprintf("%s/secret.key", dir);
	struct stat st;
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);

	char *sealed = secrets_seal(s, "host http://a", "p@ss word");
	assert_true(str_has_prefix(sealed, "v1:"));
	assert_null(strstr(sealed, "p@ss"));
	char *plain = NULL;
	assert_int_equal(secrets_open_value(s, "host http://a", sealed, &plain, &err), 0);
	assert_string_equal(plain, "p@ss word");
	free(plain);
	/* Two seals of one value differ (random nonce). */
	char *again = secrets_seal(s, "host http://a", "p@ss word");
	assert_string_not_equal(again, sealed);
	free(again);

	/* Bound to its purpose. */
	assert_int_equal(secrets_open_value(s, "host http://b", sealed, &plain, &err), -EINVAL);
	assert_non_null(strstr(vr_error_msg(err), "does not open"));
	vr_error_free(err);
	err = NULL;
	/* Tampered with: one character changed. */
	size_t mid = strlen(sealed) / 2;
	sealed[mid] = sealed[mid] == 'A' ? 'B' : 'A';
	assert_int_equal(secrets_open_value(s, "host http://a", sealed, &plain, &err), -EINVAL);
	vr_error_free(err);
	err = NULL;
	/* Not a sealed value at all. */
	static const char *const bad[] = {"", "v1:", "v2:AAAA", "v1:!!!!", "v1:AAAAAAAA", "plain"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(secrets_open_value(s, "x", bad[i], &plain, &err), -EINVAL);
		assert_null(plain);
		vr_error_free(err);
		err = NULL;
	}
	free(sealed);
	secrets_free(s);

	/* The same key next time; a key readable by others is refused. */
	s = secrets_open(dir, &err);
	assert_non_null(s);
	secrets_free(s);
	chmod(key, 0644);
	assert_null(secrets_open(dir, &err));
	assert_non_null(strstr(vr_error_msg(err), "0600"));
	rm_rf(dir);
}

static void test_sessions(void **state)
{
	_cleanup_free_ char *dir = make_dir();
	_cleanup_free_ char *path = xasprintf("%s/center.db", dir);
	_cleanup_error_ struct vr_error *err = NULL;
	struct db *db = NULL;
	assert_int_equal(schema_open(path, &db, &err), 0);
	int64_t alice, bob;
	assert_int_equal(principal_user_create(db, "alice", "alice-password", NULL, 1, &alice, &err),
			 0);
	assert_int_equal(principal_user_create(db, "bob", "bob-password", NULL, 1, &bob, &err), 0);

	struct csessions *s = csessions_new(200, 0);
	csessions_set_failure_delay(s, 0);
	char *token = NULL;
	struct csession_info info = {0};
	assert_int_equal(csessions_login(s, db, "alice", "wrong-password", &token, &info, NULL, &err),
			 -EACCES);
	assert_string_equal(vr_error_msg(err), "invalid user name or password");
	assert_null(token);
	vr_error_free(err);
	err = NULL;
	assert_int_equal(csessions_login(s, db, "nobody", "x", &token, &info, NULL, &err), -EACCES);
	vr_error_free(err);
	err = NULL;

	assert_int_equal(csessions_login(s, db, "alice", "alice-password", &token, &info, NULL, &err), 0);
	assert_int_equal(strlen(token), 64);
	assert_string_equal(info.user, "alice@vsphere.local");
	csession_info_clear(&info);
	char *token_b = NULL;
	assert_int_equal(csessions_login(s, db, "bob@vsphere.local", "bob-password", &token_b, NULL,
					 NULL, &err),
			 0);
	assert_int_equal(csessions_check(s, token, &info), 0);
	assert_int_equal(info.principal_id, alice);
	csession_info_clear(&info);
	assert_int_equal(csessions_check(s, "0000", NULL), -ENOENT);
	char forged[65];
	memcpy(forged, token, 65);
	forged[0] = forged[0] == 'a' ? 'b' : 'a';
	assert_int_equal(csessions_check(s, forged, NULL), -ENOENT);

	/* Ending a principal's sessions leaves the others. */
	csessions_end_principal(s, alice);
	assert_int_equal(csessions_check(s, token, NULL), -ENOENT);
	assert_int_equal(csessions_check(s, token_b, NULL), 0);
	assert_int_equal(csessions_logout(s, token_b), 0);
	assert_int_equal(csessions_logout(s, token_b), -ENOENT);
	free(token);
	free(token_b);

	/* Idle timeout (200 ms here). */
	assert_int_equal(csessions_login(s, db, "alice", "alice-password", &token, NULL, NULL, &err), 0);
	usleep(300 * 1000);
	assert_int_equal(csessions_check(s, token, NULL), -ETIMEDOUT);
	free(token);
	csessions_free(s);
	db_close(db);
	rm_rf(dir);
}

/* A login refused by lockout: EAGAIN with the message; returns the verdict. */
static struct login_lockout_verdict login_locked(struct csessions *s, struct db *db,
						 const char *user, const char *password)
{
	struct vr_error *err = NULL;
	char *token = NULL;
	struct login_lockout_verdict v;
	assert_int_equal(csessions_login(s, db, user, password, &token, NULL, &v, &err), -EAGAIN);
	assert_null(token);
	assert_true(v.locked);
	assert_non_null(strstr(vr_error_msg(err), "too many failed logins for this user name: it "
						  "is locked for about"));
	vr_error_free(err);
	return v;
}

static void login_wrong(struct csessions *s, struct db *db, const char *user)
{
	struct vr_error *err = NULL;
	char *token = NULL;
	struct login_lockout_verdict v;
	assert_int_equal(csessions_login(s, db, user, "wrong-password", &token, NULL, &v, &err),
			 -EACCES);
	assert_false(v.locked);
	assert_string_equal(vr_error_msg(err), "invalid user name or password");
	vr_error_free(err);
}

static void test_sessions_lockout(void **state)
{
	_cleanup_free_ char *dir = make_dir();
	_cleanup_free_ char *path = xasprintf("%s/center.db", dir);
	_cleanup_error_ struct vr_error *err = NULL;
	struct db *db = NULL;
	assert_int_equal(schema_open(path, &db, &err), 0);
	int64_t alice, bob;
	assert_int_equal(principal_user_create(db, "alice", "alice-password", NULL, 1, &alice, &err),
			 0);
	assert_int_equal(principal_user_create(db, "bob", "bob-password", NULL, 1, &bob, &err), 0);
	struct csessions *s = csessions_new(0, 0);
	csessions_set_failure_delay(s, 0);
	struct login_lockout_config cfg;
	login_lockout_config_default(&cfg);
	cfg.unlock_ms = 1200;
	assert_int_equal(csessions_set_lockout(s, &cfg, &err), 0);

	char *before = NULL;
	assert_int_equal(csessions_login(s, db, "alice", "alice-password", &before, NULL, NULL,
					 &err),
			 0);
	/* "alice" and "alice@vsphere.local" are one name to the lockout. */
	login_wrong(s, db, "alice");
	login_wrong(s, db, "alice@vsphere.local");
	login_wrong(s, db, "alice");
	login_wrong(s, db, "alice@vsphere.local");
	assert_false(csessions_locked(s, "alice", NULL));
	struct login_lockout_verdict v = login_locked(s, db, "alice", "wrong-password");
	assert_true(v.locked_now);
	assert_int_equal(v.failures, 5);
	assert_true(csessions_locked(s, "alice@vsphere.local", &v));
	assert_false(v.locked_now);
	assert_true(v.retry_after_ms <= 1200);
	/* The right password is refused; the session opened before goes on; bob logs in. */
	v = login_locked(s, db, "alice@vsphere.local", "alice-password");
	assert_false(v.locked_now);
	assert_int_equal(csessions_check(s, before, NULL), 0);
	char *token = NULL;
	assert_int_equal(csessions_login(s, db, "bob", "bob-password", &token, NULL, NULL, &err), 0);
	free(token);
	/* Unknown and malformed names are counted and refused alike. */
	for (int i = 0; i < 4; i++) {
		login_wrong(s, db, "nobody");
		login_wrong(s, db, "bad name@");
	}
	assert_true(login_locked(s, db, "nobody", "wrong-password").locked_now);
	assert_true(login_locked(s, db, "bad name@", "wrong-password").locked_now);
	_cleanup_free_ char *q = csessions_qualified_name("nobody");
	assert_string_equal(q, "nobody@vsphere.local");
	assert_null(csessions_qualified_name("bad name@"));

	/* It unlocks by itself; the right password gets in. */
	usleep(1300 * 1000);
	assert_false(csessions_locked(s, "alice", NULL));
	assert_int_equal(csessions_login(s, db, "alice", "alice-password", &token, NULL, NULL, &err),
			 0);
	free(token);
	free(before);
	csessions_free(s);
	db_close(db);
	rm_rf(dir);
}

struct pool_worker {
	struct dbpool *pool;
	int errors;
};

static void *pool_worker_main(void *opaque)
{
	struct pool_worker *w = opaque;
	for (int i = 0; i < 50; i++) {
		struct vr_error *err = NULL;
		struct db *db = dbpool_get(w->pool, &err);
		if (!db) {
			w->errors++;
			vr_error_free(err);
			continue;
		}
		int64_t v = 0;
		if (db_query_int64(db, "count objects", "SELECT COUNT(*) FROM inventory_object", &v,
				   &err) < 0 ||
		    v < 1) {
			w->errors++;
			vr_error_free(err);
		}
		/* Every tenth comes back inside a transaction: the pool rolls it back. */
		if (i % 10 == 0 && db_begin(db, NULL) < 0)
			w->errors++;
		dbpool_put(w->pool, db);
	}
	return NULL;
}

static void test_dbpool(void **state)
{
	_cleanup_free_ char *dir = make_dir();
	_cleanup_free_ char *path = xasprintf("%s/center.db", dir);
	_cleanup_error_ struct vr_error *err = NULL;
	struct db *db = NULL;
	assert_int_equal(schema_open(path, &db, &err), 0);
	db_close(db);
	struct dbpool *p = dbpool_new(path, 3, &err);
	assert_non_null(p);
	assert_string_equal(dbpool_backend_name(p), "SQLite");
	pthread_t t[6];
	struct pool_worker w[6];
	for (int i = 0; i < 6; i++) {
		w[i] = (struct pool_worker){p, 0};
		assert_int_equal(pthread_create(&t[i], NULL, pool_worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].errors, 0);
	}
	db = dbpool_get(p, &err);
	assert_non_null(db);
	assert_int_equal(db_txn_depth(db), 0);
	dbpool_put(p, db);
	dbpool_free(p);
	/* A location that cannot be opened is an error, not a crash. */
	assert_null(dbpool_new("/nonexistent-dir/x/center.db", 2, &err));
	rm_rf(dir);
}

static int64_t make(struct db *db, enum inv_kind kind, int64_t parent, const char *name,
		    const char *uuid, int64_t host, int64_t pool)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_create_spec s = {
		.kind = kind, .parent_id = parent, .name = name, .uuid = uuid,
		.host_id = host, .pool_id = pool,
	};
	int64_t id = 0;
	if (inventory_create(db, &s, &id, &err) < 0)
		fail_msg("create %s: %s", name, vr_error_msg(err));
	return id;
}

static int64_t child(struct db *db, int64_t parent, const char *name)
{
	_cleanup_error_ struct vr_error *err = NULL;
	struct inv_object o = {0};
	if (inventory_lookup(db, parent, name, &o, &err) < 0)
		fail_msg("lookup %s: %s", name, vr_error_msg(err));
	int64_t id = o.id;
	inv_object_clear(&o);
	return id;
}

static json_t *tree_of(struct db *db, int64_t host)
{
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *t = NULL;
	if (pool_tree_for_host(db, host, &t, &err) < 0)
		fail_msg("pool tree: %s", vr_error_msg(err));
	return t;
}

static const json_t *pool_in(const json_t *tree, const char *id)
{
	size_t i;
	const json_t *p;
	json_array_foreach(json_object_get(tree, "pools"), i, p)
		if (strcmp(json_get_string(p, "id", ""), id) == 0)
			return p;
	return NULL;
}

/*
 * A host mirrors the pools between its VMs and the root pool, not the
 * root pool itself, not pools without its VMs; templates are left out.
 */
static void test_pool_tree(void **state)
{
	_cleanup_free_ char *dir = make_dir();
	_cleanup_free_ char *path = xasprintf("%s/center.db", dir);
	_cleanup_error_ struct vr_error *err = NULL;
	struct db *db = NULL;
	assert_int_equal(schema_open(path, &db, &err), 0);
	int64_t root = 0;
	assert_int_equal(inventory_root(db, &root, &err), 0);
	int64_t dc = make(db, INV_KIND_DATACENTER, root, "DC", NULL, 0, 0);
	int64_t hostf = child(db, dc, "host"), vmf = child(db, dc, "vm");
	int64_t cl = make(db, INV_KIND_CLUSTER, hostf, "C1", NULL, 0, 0);
	int64_t rp = make(db, INV_KIND_RESOURCE_POOL, cl, "Resources", NULL, 0, 0);
	int64_t h1 = make(db, INV_KIND_HOST, cl, "h1", NULL, 0, 0);
	int64_t h2 = make(db, INV_KIND_HOST, cl, "h2", NULL, 0, 0);
	int64_t p1 = make(db, INV_KIND_RESOURCE_POOL, rp, "P1", NULL, 0, 0);
	int64_t p2 = make(db, INV_KIND_RESOURCE_POOL, p1, "P2", NULL, 0, 0);
	make(db, INV_KIND_RESOURCE_POOL, rp, "Empty", NULL, 0, 0);
	struct pool_alloc a;
	pool_alloc_default(&a);
	a.cpu_shares = 1234;
	a.cpu_limit_mhz = 900;
	a.mem_reservation_mib = 64;
	assert_int_equal(pool_alloc_set(db, p1, &a, &err), 0);
	const char *ua = "564d0000-0000-4000-8000-00000000000a";
	const char *ub = "564d0000-0000-4000-8000-00000000000b";
	const char *uc = "564d0000-0000-4000-8000-00000000000c";
	make(db, INV_KIND_VM, vmf, "a", ua, h1, p2);
	make(db, INV_KIND_VM, vmf, "b", ub, h1, rp);
	make(db, INV_KIND_VM, vmf, "c", uc, h2, p1);
	make(db, INV_KIND_TEMPLATE, vmf, "t", "564d0000-0000-4000-8000-00000000000d", h1, 0);

	_cleanup_free_ char *p1id = xasprintf("resgroup-%lld", (long long)p1);
	_cleanup_free_ char *p2id = xasprintf("resgroup-%lld", (long long)p2);
	json_t *t = tree_of(db, h1);
	assert_int_equal(json_array_size(json_object_get(t, "pools")), 2);
	const json_t *e1 = pool_in(t, p1id), *e2 = pool_in(t, p2id);
	assert_non_null(e1);
	assert_non_null(e2);
	assert_true(json_is_null(json_object_get(e1, "parent")));
	assert_string_equal(json_get_string(e2, "parent", ""), p1id);
	assert_string_equal(json_get_string(e1, "name", ""), "P1");
	assert_int_equal(json_get_int(e1, "cpu_shares", 0), 1234);
	assert_int_equal(json_get_int(e1, "cpu_limit_mhz", 0), 900);
	assert_int_equal(json_get_int(e1, "mem_reservation_mib", 0), 64);
	assert_int_equal(json_get_int(e2, "cpu_shares", 0), 4000); /* normal */
	assert_int_equal(json_get_int(e2, "mem_limit_mib", 0), -1);
	const json_t *vms = json_object_get(t, "vms");
	assert_int_equal(json_object_size(vms), 1); /* b sits in the root pool */
	assert_string_equal(json_get_string(vms, ua, ""), p2id);
	json_decref(t);

	t = tree_of(db, h2);
	assert_int_equal(json_array_size(json_object_get(t, "pools")), 1);
	assert_non_null(pool_in(t, p1id));
	assert_string_equal(json_get_string(json_object_get(t, "vms"), uc, ""), p1id);
	json_decref(t);

	/* The generation moves with placement and allocation changes. */
	uint64_t g = inventory_generation();
	assert_int_equal(inventory_set_placement(db, child(db, vmf, "a"), h2, p2, &err), 0);
	assert_true(inventory_generation() != g);
	t = tree_of(db, h1);
	assert_int_equal(json_array_size(json_object_get(t, "pools")), 0);
	assert_int_equal(json_object_size(json_object_get(t, "vms")), 0);
	json_decref(t);
	/* d sits in P3 below P1, which a's walk added already: P3 hangs from it. */
	int64_t p3 = make(db, INV_KIND_RESOURCE_POOL, p1, "P3", NULL, 0, 0);
	make(db, INV_KIND_VM, vmf, "d", "564d0000-0000-4000-8000-00000000000e", h2, p3);
	_cleanup_free_ char *p3id = xasprintf("resgroup-%lld", (long long)p3);
	t = tree_of(db, h2);
	assert_int_equal(json_array_size(json_object_get(t, "pools")), 3);
	assert_int_equal(json_object_size(json_object_get(t, "vms")), 3);
	assert_string_equal(json_get_string(pool_in(t, p2id), "parent", ""), p1id);
	assert_string_equal(json_get_string(pool_in(t, p3id), "parent", ""), p1id);
	assert_true(json_is_null(json_object_get(pool_in(t, p1id), "parent")));
	json_decref(t);
	g = inventory_generation();
	assert_int_equal(pool_alloc_set(db, p2, &a, &err), 0);
	assert_true(inventory_generation() != g);
	db_close(db);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secrets_round_trip),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_sessions_lockout),
		cmocka_unit_test(test_dbpool),
		cmocka_unit_test(test_pool_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
