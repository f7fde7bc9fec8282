/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource pools (host/resources/pools.h) and nested cgroups: the pool
 * tree's checks (each refusal of PUT /api/v1/host/resource-pools), the
 * conversion of a pool to cgroup settings, groups several levels deep
 * on fake v1 and v2 trees (laid out in a temporary directory, found
 * through a fake mountinfo as test_resources.c does), and pools' memory
 * shares and reservations made per-VM weights and floors for the balloon
 * policy (host/resources/balloon.h), run through it under contention.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "host/resources/balloon.h"
#include "host/resources/cgroup.h"
#include "host/resources/cgroup_priv.h"
#include "host/resources/pools.h"

#define VM1 "0b9f3e4a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
#define VM2 "7d6c5b4a-3f2e-4d1c-9b8a-7f6e5d4c3b2a"

#define POOL_FMT \
	"{\"id\": \"%s\", \"parent\": %s, \"name\": \"P\", \"cpu_shares\": 4000, \"cpu_limit_mhz\": %s, " \
	"\"cpu_reservation_mhz\": 0, \"mem_shares\": 163840, \"mem_limit_mib\": %s, \"mem_reservation_mib\": %s}"

static char *pool(const char *id, const char *parent, const char *cpu_limit, const char *mem_limit,
		  const char *mem_res)
{
	return xasprintf(POOL_FMT, id, parent, cpu_limit, mem_limit, mem_res);
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, 0, &je);
	if (!v)
		fail_msg("bad test JSON: %s: %s", je.text, text);
	return v;
}

/* Expects the body to be refused with code and a message containing want. */
static void refused(const char *body, int code, const char *want)
{
	json_t *j = parse(body);
	struct res_pool_tree *t = NULL;
	struct vr_error *err = NULL;
	int r = res_pool_tree_from_json(j, &t, &err);
	if (r != -code || !err || !strstr(err->msg, want))
		fail_msg("body %s: got %d \"%s\", want %d containing \"%s\"", body, r, err ? err->msg : "",
			 -code, want);
	assert_null(t);
	vr_error_freep(&err);
	json_decref(j);
}

static struct res_pool_tree *accepted(const char *body)
{
	json_t *j = parse(body);
	struct res_pool_tree *t = NULL;
	struct vr_error *err = NULL;
	if (res_pool_tree_from_json(j, &t, &err) < 0)
		fail_msg("body %s refused: %s", body, err->msg);
	json_decref(j);
	return t;
}

static void test_tree_accepts(void **state)
{
	(void)state;
	/* The child comes before its parent: order does not matter. */
	_cleanup_free_ char *c = pool("resgroup-13", "\"resgroup-12\"", "1300", "2048", "512");
	_cleanup_free_ char *p = pool("resgroup-12", "null", "2600", "-1", "0");
	_cleanup_free_ char *o = pool("pool-v7", "null", "-1", "-1", "0");
	_cleanup_free_ char *body = xasprintf("{\"pools\": [%s, %s, %s], \"vms\": {\"%s\": \"resgroup-13\", \"%s\": \"pool-v7\"}}",
					      c, p, o, VM1, VM2);
	struct res_pool_tree *t = accepted(body);
	assert_int_equal(t->n_pools, 3);
	assert_string_equal(t->pools[0].path, "resgroup-12/resgroup-13");
	assert_int_equal(t->pools[0].depth, 2);
	assert_string_equal(t->pools[1].path, "resgroup-12");
	assert_int_equal(res_pool_tree_find(t, "pool-v7"), 2);
	assert_int_equal(res_pool_tree_find(t, "nope-1"), -1);
	const struct res_pool *vp = res_pool_tree_vm_pool(t, VM1);
	assert_non_null(vp);
	assert_string_equal(vp->id, "resgroup-13");
	assert_null(res_pool_tree_vm_pool(t, "11111111-2222-4333-8444-555555555555"));
	_cleanup_free_ char *g1 = res_pool_tree_vm_cgroup(t, VM1);
	assert_string_equal(g1, "resgroup-12/resgroup-13/" VM1);
	_cleanup_free_ char *g3 = res_pool_tree_vm_cgroup(t, "11111111-2222-4333-8444-555555555555");
	assert_string_equal(g3, "11111111-2222-4333-8444-555555555555");

	/* Round trip: what is stored parses back to the same. */
	json_t *out = res_pool_tree_to_json(t);
	_cleanup_free_ char *text = json_dumps(out, JSON_SORT_KEYS);
	struct res_pool_tree *t2 = accepted(text);
	json_t *out2 = res_pool_tree_to_json(t2);
	assert_true(json_equal(out, out2));
	assert_true(json_is_null(json_object_get(json_array_get(json_object_get(out, "pools"), 1), "parent")));
	json_decref(out);
	json_decref(out2);
	res_pool_tree_free(t2);
	res_pool_tree_free(t);

	struct res_pool_tree *empty = accepted("{\"pools\": [], \"vms\": {}}");
	assert_int_equal(empty->n_pools, 0);
	assert_int_equal(empty->n_vms, 0);
	res_pool_tree_free(empty);
}

static void test_tree_refusals(void **state)
{
	(void)state;
	_cleanup_free_ char *a = pool("resgroup-1", "null", "-1", "-1", "0");
	char *body;
#define REFUSE(code, want, ...)                          \
	do {                                             \
		body = xasprintf(__VA_ARGS__);           \
		refused(body, code, want);               \
		free(body);                              \
	} while (0)
	/* Shape. */
	REFUSE(EINVAL, "unknown field \"extra\"", "{\"pools\": [], \"vms\": {}, \"extra\": 1}");
	REFUSE(EINVAL, "\"vms\"", "{\"pools\": []}");
	REFUSE(EINVAL, "\"pools\"", "{\"vms\": {}}");
	REFUSE(EINVAL, "must be an array", "{\"pools\": {}, \"vms\": {}}");
	REFUSE(EINVAL, "resource pool 0 (counting from 0) is not an object", "{\"pools\": [3], \"vms\": {}}");
	REFUSE(EINVAL, "unknown field \"vms\" in resource pool \"resgroup-2\"",
	       "{\"pools\": [{\"id\": \"resgroup-2\", \"parent\": null, \"name\": \"P\", \"cpu_shares\": 1, \"cpu_limit_mhz\": -1, "
	       "\"cpu_reservation_mhz\": 0, \"mem_shares\": 1, \"mem_limit_mib\": -1, \"mem_reservation_mib\": 0, \"vms\": []}], \"vms\": {}}");
	REFUSE(EINVAL, "\"cpu_shares\"",
	       "{\"pools\": [{\"id\": \"resgroup-2\", \"parent\": null, \"name\": \"P\", \"cpu_limit_mhz\": -1, "
	       "\"cpu_reservation_mhz\": 0, \"mem_shares\": 1, \"mem_limit_mib\": -1, \"mem_reservation_mib\": 0}], \"vms\": {}}");
	/* Ids. */
	const char *bad_ids[] = { "Resgroup-1", "resgroup1", "-1", "resgroup-", "resgroup-ab1", "res group-1",
				  "resgroup-1x", "../x-1", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-12" };
	for (size_t i = 0; i < ARRAY_SIZE(bad_ids); i++) {
		_cleanup_free_ char *p = pool(bad_ids[i], "null", "-1", "-1", "0");
		REFUSE(strlen(bad_ids[i]) > 40 ? ERANGE : EINVAL, strlen(bad_ids[i]) > 40 ? "bytes long" : "the id must be",
		       "{\"pools\": [%s], \"vms\": {}}", p);
	}
	REFUSE(EINVAL, "resource pool \"resgroup-1\" is listed twice", "{\"pools\": [%s, %s], \"vms\": {}}", a, a);
	/* Parents, cycles, depth. */
	{
		_cleanup_free_ char *orphan = pool("resgroup-2", "\"resgroup-9\"", "-1", "-1", "0");
		REFUSE(EINVAL, "resource pool \"resgroup-2\": its parent \"resgroup-9\" is not a listed pool",
		       "{\"pools\": [%s, %s], \"vms\": {}}", a, orphan);
		_cleanup_free_ char *x = pool("resgroup-2", "\"resgroup-3\"", "-1", "-1", "0");
		_cleanup_free_ char *y = pool("resgroup-3", "\"resgroup-2\"", "-1", "-1", "0");
		REFUSE(EINVAL, "its parents form a cycle", "{\"pools\": [%s, %s, %s], \"vms\": {}}", a, x, y);
		_cleanup_free_ char *self = pool("resgroup-4", "\"resgroup-4\"", "-1", "-1", "0");
		REFUSE(EINVAL, "resource pool \"resgroup-4\": its parents form a cycle", "{\"pools\": [%s], \"vms\": {}}", self);
		_cleanup_free_ char *num = pool("resgroup-4", "7", "-1", "-1", "0");
		REFUSE(EINVAL, "\"parent\" must be a pool id or null", "{\"pools\": [%s], \"vms\": {}}", num);
	}
	{
		/* A chain of 16 is fine, 17 is not. */
		char **v = NULL;
		for (int i = 1; i <= 17; i++) {
			_cleanup_free_ char *id = xasprintf("resgroup-%d", i);
			_cleanup_free_ char *par = i == 1 ? xstrdup("null") : xasprintf("\"resgroup-%d\"", i - 1);
			strv_push_owned(&v, pool(id, par, "-1", "-1", "0"));
			if (i == 16) {
				_cleanup_free_ char *list = strv_join(v, ", ");
				_cleanup_free_ char *ok = xasprintf("{\"pools\": [%s], \"vms\": {}}", list);
				struct res_pool_tree *t = accepted(ok);
				assert_int_equal(t->pools[15].depth, 16);
				res_pool_tree_free(t);
			}
		}
		_cleanup_free_ char *list = strv_join(v, ", ");
		REFUSE(ERANGE, "resource pool \"resgroup-17\" is 17 levels deep; the limit is 16", "{\"pools\": [%s], \"vms\": {}}",
		       list);
		strv_free(v);
	}
	{
		/* 1025 pools. */
		size_t n = 1025;
		char **v = NULL;
		for (size_t i = 0; i < n; i++) {
			_cleanup_free_ char *id = xasprintf("resgroup-%zu", i);
			strv_push_owned(&v, pool(id, "null", "-1", "-1", "0"));
		}
		_cleanup_free_ char *list = strv_join(v, ", ");
		REFUSE(ERANGE, "\"pools\" in resource pools has 1025 elements", "{\"pools\": [%s], \"vms\": {}}", list);
		strv_free(v);
	}
	/* Numbers. */
	const char *lims[][5] = {
		/* cpu_limit, mem_limit, mem_res, code, message */
		{ "0", "-1", "0", "R", "cpu_limit_mhz must be -1 (no limit) or at least 1" },
		{ "-2", "-1", "0", "R", "\"cpu_limit_mhz\" in resource pool \"resgroup-5\" is -2" },
		{ "1099511627777", "-1", "0", "R", "\"cpu_limit_mhz\" in resource pool \"resgroup-5\" is 1099511627777" },
		{ "-1", "0", "0", "R", "mem_limit_mib must be -1 (no limit) or at least 1" },
		{ "-1", "100", "200", "R", "the memory reservation (200 MiB) is above its limit (100 MiB)" },
		{ "-1", "-1", "-5", "R", "\"mem_reservation_mib\" in resource pool \"resgroup-5\" is -5" },
		{ "-1", "-1", "1099511627777", "R", "is 1099511627777" },
		{ "-1", "-1", "1.5", "I", "must be an integer" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(lims); i++) {
		_cleanup_free_ char *p = pool("resgroup-5", "null", lims[i][0], lims[i][1], lims[i][2]);
		REFUSE(lims[i][3][0] == 'R' ? ERANGE : EINVAL, lims[i][4], "{\"pools\": [%s], \"vms\": {}}", p);
	}
	{
		_cleanup_free_ char *p = xasprintf(
			"{\"id\": \"resgroup-5\", \"parent\": null, \"name\": \"P\", \"cpu_shares\": 0, \"cpu_limit_mhz\": -1, "
			"\"cpu_reservation_mhz\": 0, \"mem_shares\": 1, \"mem_limit_mib\": -1, \"mem_reservation_mib\": 0}");
		REFUSE(ERANGE, "\"cpu_shares\" in resource pool \"resgroup-5\" is 0", "{\"pools\": [%s], \"vms\": {}}", p);
		_cleanup_free_ char *q = xasprintf(
			"{\"id\": \"resgroup-5\", \"parent\": null, \"name\": \"P\", \"cpu_shares\": 1, \"cpu_limit_mhz\": 100, "
			"\"cpu_reservation_mhz\": 200, \"mem_shares\": 1000001, \"mem_limit_mib\": -1, \"mem_reservation_mib\": 0}");
		REFUSE(ERANGE, "\"mem_shares\" in resource pool \"resgroup-5\" is 1000001", "{\"pools\": [%s], \"vms\": {}}", q);
		_cleanup_free_ char *r = xasprintf(
			"{\"id\": \"resgroup-5\", \"parent\": null, \"name\": \"P\", \"cpu_shares\": 1, \"cpu_limit_mhz\": 100, "
			"\"cpu_reservation_mhz\": 200, \"mem_shares\": 1, \"mem_limit_mib\": -1, \"mem_reservation_mib\": 0}");
		REFUSE(ERANGE, "the CPU reservation (200 MHz) is above its limit (100 MHz)", "{\"pools\": [%s], \"vms\": {}}", r);
		_cleanup_free_ char *s = xasprintf(
			"{\"id\": \"resgroup-5\", \"parent\": null, \"name\": \"\", \"cpu_shares\": 1, \"cpu_limit_mhz\": 100, "
			"\"cpu_reservation_mhz\": 0, \"mem_shares\": 1, \"mem_limit_mib\": -1, \"mem_reservation_mib\": 0}");
		REFUSE(ERANGE, "\"name\" in resource pool \"resgroup-5\" is 0 bytes long", "{\"pools\": [%s], \"vms\": {}}", s);
		_cleanup_free_ char *t = xasprintf(
			"{\"id\": \"resgroup-5\", \"parent\": null, \"name\": \"a\\u0001b\", \"cpu_shares\": 1, \"cpu_limit_mhz\": 100, "
			"\"cpu_reservation_mhz\": 0, \"mem_shares\": 1, \"mem_limit_mib\": -1, \"mem_reservation_mib\": 0}");
		REFUSE(EINVAL, "control character", "{\"pools\": [%s], \"vms\": {}}", t);
	}
	/* VMs. */
	REFUSE(EINVAL, "\"not-a-uuid\" is not a VM id", "{\"pools\": [%s], \"vms\": {\"not-a-uuid\": \"resgroup-1\"}}", a);
	REFUSE(EINVAL, "is not a VM id", "{\"pools\": [%s], \"vms\": {\"0B9F3E4A-1C2D-4E5F-8A9B-0C1D2E3F4A5B\": \"resgroup-1\"}}", a);
	REFUSE(EINVAL, "VM " VM1 " is in \"resgroup-9\", which is not a listed pool",
	       "{\"pools\": [%s], \"vms\": {\"" VM1 "\": \"resgroup-9\"}}", a);
	REFUSE(EINVAL, "VM " VM1 " must map to a pool id", "{\"pools\": [%s], \"vms\": {\"" VM1 "\": null}}", a);
	{
		/* 100001 VMs. */
		json_t *j = parse("{\"pools\": [], \"vms\": {}}");
		_cleanup_free_ char *p = pool("resgroup-1", "null", "-1", "-1", "0");
		json_array_append_new(json_object_get(j, "pools"), parse(p));
		json_t *vms = json_object_get(j, "vms");
		for (unsigned i = 0; i <= RES_POOL_MAX_VMS; i++) {
			char id[37];
			snprintf(id, sizeof(id), "%08x-0000-4000-8000-000000000000", i);
			json_object_set_new(vms, id, json_string("resgroup-1"));
		}
		struct res_pool_tree *t = NULL;
		struct vr_error *err = NULL;
		assert_int_equal(res_pool_tree_from_json(j, &t, &err), -ERANGE);
		assert_string_equal(err->msg, "\"vms\" in resource pools has 100001 entries; the limit is 100000");
		vr_error_freep(&err);
		/* 100000 are fine, and found. */
		json_object_del(vms, "00000000-0000-4000-8000-000000000000");
		assert_int_equal(res_pool_tree_from_json(j, &t, &err), 0);
		assert_int_equal(t->n_vms, RES_POOL_MAX_VMS);
		assert_non_null(res_pool_tree_vm_pool(t, "000186a0-0000-4000-8000-000000000000"));
		assert_null(res_pool_tree_vm_pool(t, "00000000-0000-4000-8000-000000000000"));
		res_pool_tree_free(t);
		json_decref(j);
	}
#undef REFUSE
}

static void test_pool_settings(void **state)
{
	(void)state;
	_cleanup_free_ char *top = pool("resgroup-1", "null", "1300", "4096", "1024");
	_cleanup_free_ char *mid = pool("resgroup-2", "\"resgroup-1\"", "2600", "-1", "0");
	_cleanup_free_ char *low = pool("resgroup-3", "\"resgroup-2\"", "650", "-1", "0");
	_cleanup_free_ char *free_ = pool("resgroup-4", "null", "-1", "-1", "0");
	_cleanup_free_ char *body = xasprintf("{\"pools\": [%s, %s, %s, %s], \"vms\": {}}", top, mid, low, free_);
	struct res_pool_tree *t = accepted(body);
	struct res_cgroup_settings s;
	res_pool_cgroup_settings(t, &t->pools[0], 2600, &s);
	assert_int_equal(s.cpu_shares, 4000);
	assert_int_equal(s.cpu_limit_mhz, 1300);
	assert_int_equal(s.host_core_mhz, 2600);
	assert_int_equal(s.mem_limit_mib, 4096);
	assert_int_equal(s.mem_reservation_mib, 1024);
	assert_int_equal(s.io_weight, 0);
	assert_int_equal(res_cgroup_settings_validate(&s, NULL), 0);
	/* A child's own limit above its parent's: the parent's holds (and v1 would refuse more). */
	res_pool_cgroup_settings(t, &t->pools[1], 2600, &s);
	assert_int_equal(s.cpu_limit_mhz, 1300);
	assert_int_equal(s.mem_limit_mib, 0);
	res_pool_cgroup_settings(t, &t->pools[2], 2600, &s);
	assert_int_equal(s.cpu_limit_mhz, 650);
	res_pool_cgroup_settings(t, &t->pools[3], 2600, &s);
	assert_int_equal(s.cpu_limit_mhz, 0);
	assert_int_equal(s.mem_limit_mib, 0);
	assert_int_equal(res_pool_cpu_limit_effective(t, &t->pools[3]), 0);
	res_pool_tree_free(t);
}

/* ------------------------------------------------------------------ */
/* nested groups on fake trees                                          */

static void put(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void assert_file(const char *dir, const char *name, const char *want)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	char *text = NULL;
	assert_int_equal(file_read_all(path, 65536, &text, NULL, NULL), 0);
	assert_string_equal(text, want);
	free(text);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void test_names(void **state)
{
	(void)state;
	struct vr_error *err = NULL;
	assert_int_equal(res_cgroup_name_validate(VM1, &err), 0);
	assert_true(res_pool_id_valid("resgroup-12"));
	assert_true(res_pool_id_valid("pool-v3"));
	assert_false(res_pool_id_valid(VM1)); /* VM groups are never taken for pools */
	assert_false(res_pool_id_valid("vireo"));
	assert_int_equal(res_cgroup_name_validate("resgroup-1/resgroup-2/" VM1, &err), 0);
	const char *bad[] = { "", "/a", "a/", "a//b", "a/../b", "a/./b", "..", "a/b\n" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(res_cgroup_name_validate(bad[i], &err), -EINVAL);
		vr_error_freep(&err);
	}
	char deep[33 * 3] = "";
	for (int i = 0; i < 33; i++)
		strcat(deep, i ? "/a" : "a");
	assert_int_equal(res_cgroup_name_validate(deep, &err), -EINVAL);
	assert_string_equal(err->msg + strlen(err->msg) - strlen("has more than 32 levels"), "has more than 32 levels");
	vr_error_freep(&err);
	deep[strlen(deep) - 2] = '\0'; /* 32 levels */
	assert_int_equal(res_cgroup_name_validate(deep, &err), 0);
}

static const char *const v1_files[] = { "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "memory.limit_in_bytes",
					"memory.soft_limit_in_bytes", "cgroup.procs" };

static void test_cgroup_v1_nested(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/vireo-cgp1-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	struct vr_error *err = NULL;
	_cleanup_free_ char *cpu = xasprintf("%s/cpu,cpuacct", tmpl);
	_cleanup_free_ char *mem = xasprintf("%s/memory", tmpl);
	assert_int_equal(mkdir_p(cpu, 0755), 0);
	assert_int_equal(mkdir_p(mem, 0755), 0);
	_cleanup_free_ char *mi = xasprintf("%s/mountinfo", tmpl);
	_cleanup_free_ char *mitext = xasprintf(
		"30 23 0:27 / %s rw - cgroup cgroup rw,cpu,cpuacct\n31 23 0:28 / %s rw - cgroup cgroup rw,memory\n", cpu, mem);
	put(tmpl, "mountinfo", mitext);
	struct res_cgroup_params params = { .mountinfo_path = mi };
	struct res_cgroup_system *sys = NULL;
	assert_int_equal(res_cgroup_system_open(&params, &sys, &err), 0);
	assert_string_equal(res_cgroup_system_version(sys), "v1");

	/* Every missing level is made, in each hierarchy. */
	struct res_cgroup *cg = NULL;
	const char *name = "resgroup-12/resgroup-13/" VM1;
	assert_int_equal(res_cgroup_create(sys, name, &cg, &err), 0);
	_cleanup_free_ char *cpu_vm = xasprintf("%s/vireo/%s", cpu, name);
	_cleanup_free_ char *mem_vm = xasprintf("%s/vireo/%s", mem, name);
	_cleanup_free_ char *cpu_pool = xasprintf("%s/vireo/resgroup-12/resgroup-13", cpu);
	assert_true(is_dir(cpu_vm));
	assert_true(is_dir(mem_vm));
	assert_string_equal(res_cgroup_dir(cg, "cpu"), cpu_vm);
	assert_string_equal(res_cgroup_dir(cg, "memory"), mem_vm);
	assert_string_equal(res_cgroup_name(cg), name);
	assert_string_equal(res_cgroup_rel_path(cg), "vireo/resgroup-12/resgroup-13/" VM1);
	/* Again: existing levels are kept. */
	struct res_cgroup *again = NULL;
	assert_int_equal(res_cgroup_create(sys, name, &again, &err), 0);
	res_cgroup_free(again);
	/* Where the kernel offers it, the memory a process has follows it in. */
	_cleanup_free_ char *mem_mover = xasprintf("%s/vireo/resgroup-12/mover", mem);
	assert_int_equal(mkdir_p(mem_mover, 0755), 0);
	put(mem_mover, "memory.move_charge_at_immigrate", "0");
	assert_int_equal(res_cgroup_create(sys, "resgroup-12/mover", &again, &err), 0);
	assert_file(mem_mover, "memory.move_charge_at_immigrate", "3");
	res_cgroup_free(again);
	rm_rf(mem_mover);
	_cleanup_free_ char *cpu_mover = xasprintf("%s/vireo/resgroup-12/mover", cpu);
	rm_rf(cpu_mover);
	/* Opened by name; a missing one is -ENOENT. */
	struct res_cgroup *pool_cg = NULL;
	assert_int_equal(res_cgroup_open(sys, "resgroup-12/resgroup-13", &pool_cg, &err), 0);
	assert_string_equal(res_cgroup_rel_path(pool_cg), "vireo/resgroup-12/resgroup-13");
	assert_int_equal(res_cgroup_open(sys, "resgroup-12/resgroup-99", &again, &err), -ENOENT);
	vr_error_freep(&err);
	/* A bad name makes nothing. */
	assert_int_equal(res_cgroup_create(sys, "resgroup-12/../x", &again, &err), -EINVAL);
	vr_error_freep(&err);

	/* A pool's settings land in its own group (files laid out as cgroupfs would). */
	for (size_t i = 0; i < ARRAY_SIZE(v1_files); i++) {
		_cleanup_free_ char *mem_pool = xasprintf("%s/vireo/resgroup-12/resgroup-13", mem);
		put(str_has_prefix(v1_files[i], "memory") ? mem_pool : cpu_pool, v1_files[i], "");
	}
	_cleanup_free_ char *top = pool("resgroup-12", "null", "1300", "4096", "1024");
	_cleanup_free_ char *child = pool("resgroup-13", "\"resgroup-12\"", "-1", "2048", "512");
	_cleanup_free_ char *body = xasprintf("{\"pools\": [%s, %s], \"vms\": {\"%s\": \"resgroup-13\"}}", top, child, VM1);
	struct res_pool_tree *t = accepted(body);
	struct res_cgroup_settings s;
	res_pool_cgroup_settings(t, &t->pools[1], 2600, &s);
	assert_int_equal(res_cgroup_apply(pool_cg, &s, &err), 0);
	assert_file(cpu_pool, "cpu.shares", "4000");
	assert_file(cpu_pool, "cpu.cfs_quota_us", "50000"); /* the parent's 1300 MHz of a 2600 MHz core */
	assert_file(cpu_pool, "cpu.cfs_period_us", "100000");
	_cleanup_free_ char *mem_pool = xasprintf("%s/vireo/resgroup-12/resgroup-13", mem);
	assert_file(mem_pool, "memory.limit_in_bytes", "2147483648");
	assert_file(mem_pool, "memory.soft_limit_in_bytes", "536870912");
	assert_int_equal(res_cgroup_lift_cpu_limit(pool_cg, &err), 0);
	assert_file(cpu_pool, "cpu.cfs_quota_us", "-1");
	res_pool_tree_free(t);

	/* Listing the groups below a level (the parent for NULL). */
	char **kids = NULL;
	assert_int_equal(res_cgroup_children(sys, NULL, &kids, &err), 0);
	assert_non_null(kids);
	assert_string_equal(kids[0], "resgroup-12");
	assert_null(kids[1]);
	strv_free(kids);
	assert_int_equal(res_cgroup_children(sys, "resgroup-12/resgroup-13", &kids, &err), 0);
	assert_string_equal(kids[0], VM1);
	assert_null(kids[1]);
	strv_free(kids);
	assert_int_equal(res_cgroup_children(sys, "resgroup-77", &kids, &err), 0);
	assert_null(kids);

	/* Lifting a subtree: every level below, deepest first, then the top. */
	_cleanup_free_ char *cpu_p12 = xasprintf("%s/vireo/resgroup-12", cpu);
	put(cpu_p12, "cpu.cfs_quota_us", "50000");
	put(cpu_pool, "cpu.cfs_quota_us", "50000");
	put(cpu_vm, "cpu.cfs_quota_us", "25000");
	assert_int_equal(res_cgroup_lift_cpu_limit_tree(sys, "resgroup-12", &err), 0);
	assert_file(cpu_p12, "cpu.cfs_quota_us", "-1");
	assert_file(cpu_pool, "cpu.cfs_quota_us", "-1");
	assert_file(cpu_vm, "cpu.cfs_quota_us", "-1");
	assert_int_equal(res_cgroup_lift_cpu_limit_tree(sys, "resgroup-77", &err), 0); /* missing: nothing to do */
	_cleanup_free_ char *qf = xasprintf("%s/cpu.cfs_quota_us", cpu_vm);
	assert_int_equal(unlink(qf), 0);
	/* A level that is not a group (no cpu.cfs_quota_us): the error names it. */
	assert_int_equal(res_cgroup_lift_cpu_limit_tree(sys, "resgroup-12", &err), -ENOENT);
	assert_non_null(strstr(err->msg, VM1 "/cpu.cfs_quota_us"));
	vr_error_freep(&err);
	_cleanup_free_ char *qf12 = xasprintf("%s/cpu.cfs_quota_us", cpu_p12);
	assert_int_equal(unlink(qf12), 0);

	/* Destroying the VM's group removes that level only. */
	assert_int_equal(res_cgroup_destroy(cg, &err), 0);
	assert_false(is_dir(cpu_vm));
	assert_false(is_dir(mem_vm));
	assert_true(is_dir(cpu_pool));
	res_cgroup_free(cg);
	res_cgroup_free(pool_cg);
	/* And an empty pool group goes the same way. */
	struct res_cgroup *p12 = NULL;
	assert_int_equal(res_cgroup_open(sys, "resgroup-12/resgroup-13", &p12, &err), 0);
	for (size_t i = 0; i < ARRAY_SIZE(v1_files); i++) {
		_cleanup_free_ char *f = xasprintf("%s/%s", str_has_prefix(v1_files[i], "memory") ? mem_pool : cpu_pool,
						   v1_files[i]);
		unlink(f);
	}
	assert_int_equal(res_cgroup_destroy(p12, &err), 0);
	assert_false(is_dir(cpu_pool));
	res_cgroup_free(p12);
	res_cgroup_system_free(sys);
	rm_rf(tmpl);
}

static void test_cgroup_v2_nested(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/vireo-cgp2-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	struct vr_error *err = NULL;
	_cleanup_free_ char *root = xasprintf("%s/root", tmpl);
	_cleanup_free_ char *parent = xasprintf("%s/vireo", root);
	_cleanup_free_ char *p12 = xasprintf("%s/resgroup-12", parent);
	_cleanup_free_ char *p13 = xasprintf("%s/resgroup-13", p12);
	assert_int_equal(mkdir_p(p13, 0755), 0);
	_cleanup_free_ char *mi = xasprintf("%s/mountinfo", tmpl);
	_cleanup_free_ char *mitext = xasprintf("41 31 0:38 / %s rw,relatime - cgroup2 cgroup2 rw\n", root);
	put(tmpl, "mountinfo", mitext);
	put(root, "cgroup.controllers", "cpuset cpu memory pids\n");
	/* A tmpfs makes no files: each level that will get children has its subtree_control. */
	put(root, "cgroup.subtree_control", "");
	put(parent, "cgroup.subtree_control", "");
	put(p12, "cgroup.subtree_control", "");
	put(p13, "cgroup.subtree_control", "");
	struct res_cgroup_params params = { .mountinfo_path = mi };
	struct res_cgroup_system *sys = NULL;
	assert_int_equal(res_cgroup_system_open(&params, &sys, &err), 0);
	assert_string_equal(res_cgroup_system_version(sys), "v2");
	struct res_cgroup *cg = NULL;
	assert_int_equal(res_cgroup_create(sys, "resgroup-12/resgroup-13/" VM2, &cg, &err), 0);
	/* Controllers enabled at every level down to the pool holding the VM. */
	assert_file(root, "cgroup.subtree_control", "+cpu +memory");
	assert_file(parent, "cgroup.subtree_control", "+cpu +memory");
	assert_file(p12, "cgroup.subtree_control", "+cpu +memory");
	assert_file(p13, "cgroup.subtree_control", "+cpu +memory");
	_cleanup_free_ char *vm = xasprintf("%s/%s", p13, VM2);
	assert_true(is_dir(vm));
	assert_string_equal(res_cgroup_rel_path(cg), "vireo/resgroup-12/resgroup-13/" VM2);

	/* A pool's settings on v2: cpu.weight, cpu.max, memory.max, memory.min. */
	put(p13, "cpu.weight", "");
	put(p13, "cpu.max", "");
	put(p13, "memory.max", "");
	put(p13, "memory.min", "");
	_cleanup_free_ char *top = pool("resgroup-12", "null", "-1", "-1", "0");
	_cleanup_free_ char *child = pool("resgroup-13", "\"resgroup-12\"", "650", "2048", "512");
	_cleanup_free_ char *body = xasprintf("{\"pools\": [%s, %s], \"vms\": {}}", top, child);
	struct res_pool_tree *t = accepted(body);
	struct res_cgroup_settings s;
	res_pool_cgroup_settings(t, &t->pools[1], 2600, &s);
	struct res_cgroup *pc = NULL;
	assert_int_equal(res_cgroup_open(sys, "resgroup-12/resgroup-13", &pc, &err), 0);
	assert_int_equal(res_cgroup_apply(pc, &s, &err), 0);
	assert_file(p13, "cpu.weight", "153"); /* 1 + (4000 - 2) * 9999 / 262142 */
	assert_file(p13, "cpu.max", "25000 100000");
	assert_file(p13, "memory.max", "2147483648");
	assert_file(p13, "memory.min", "536870912");
	assert_int_equal(res_cgroup_lift_cpu_limit(pc, &err), 0);
	assert_file(p13, "cpu.max", "max 100000");
	res_pool_tree_free(t);
	res_cgroup_free(pc);

	/* A level without cgroup.subtree_control (not a real cgroup): refused, naming it. */
	assert_int_equal(res_cgroup_create(sys, "resgroup-12/resgroup-14/resgroup-15/" VM2, &pc, &err), -ENOENT);
	assert_non_null(strstr(err->msg, "resgroup-14/cgroup.subtree_control"));
	vr_error_freep(&err);

	assert_int_equal(res_cgroup_destroy(cg, &err), 0);
	assert_false(is_dir(vm));
	assert_true(is_dir(p13));
	res_cgroup_free(cg);
	res_cgroup_system_free(sys);
	rm_rf(tmpl);
}

/* ------------------------------------------------------------------ */
/* memory shares: the tree made flat for the balloon policy            */

/* A round of the balloon policy: the tree sent, and the VMs running now. */
struct round {
	json_t *body;
	size_t n, cap;
	unsigned next_id;
	char (*ids)[37];
	const char **idp;
	uint64_t *shares;   /* each VM's own memory shares */
	uint64_t *size_mib; /* and size */
};

static void round_init(struct round *r, size_t cap)
{
	*r = (struct round){ .body = parse("{\"pools\": [], \"vms\": {}}"), .cap = cap };
	r->ids = xcalloc(cap, sizeof(*r->ids));
	r->idp = xcalloc(cap, sizeof(*r->idp));
	r->shares = xcalloc(cap, sizeof(*r->shares));
	r->size_mib = xcalloc(cap, sizeof(*r->size_mib));
}

static void round_free(struct round *r)
{
	json_decref(r->body);
	free(r->ids);
	free(r->idp);
	free(r->shares);
	free(r->size_mib);
}

static void add_pool(struct round *r, const char *id, const char *parent, uint64_t mem_shares, uint64_t res_mib)
{
	json_t *p = json_pack("{s:s, s:s?, s:s, s:i, s:i, s:i, s:I, s:i, s:I}", "id", id, "parent", parent, "name", id,
			      "cpu_shares", 1000, "cpu_limit_mhz", -1, "cpu_reservation_mhz", 0, "mem_shares",
			      (json_int_t)mem_shares, "mem_limit_mib", -1, "mem_reservation_mib", (json_int_t)res_mib);
	assert_non_null(p);
	json_array_append_new(json_object_get(r->body, "pools"), p);
}

static void next_id(struct round *r, char out[37])
{
	snprintf(out, 37, "%08x-0000-4000-8000-000000000000", r->next_id++);
}

/* A VM mapped to a pool that is not running (not in the round). */
static void add_stopped_vm(struct round *r, const char *pool)
{
	char id[37];
	next_id(r, id);
	json_object_set_new(json_object_get(r->body, "vms"), id, json_string(pool));
}

/* A running VM in pool (NULL: in none); its index in the round. */
static size_t add_vm(struct round *r, const char *pool, uint64_t shares, uint64_t size_mib)
{
	assert_true(r->n < r->cap);
	size_t i = r->n++;
	next_id(r, r->ids[i]);
	r->idp[i] = r->ids[i];
	r->shares[i] = shares;
	r->size_mib[i] = size_mib;
	if (pool)
		json_object_set_new(json_object_get(r->body, "vms"), r->ids[i], json_string(pool));
	return i;
}

static struct res_pool_tree *round_tree(const struct round *r)
{
	struct res_pool_tree *t = NULL;
	struct vr_error *err = NULL;
	if (res_pool_tree_from_json(r->body, &t, &err) < 0)
		fail_msg("tree refused: %s", err->msg);
	return t;
}

/*
 * The balloon policy on the round with the tree's weights and floors (t
 * NULL: no pools): used = capacity, so it reclaims 6% of the capacity.
 * Every VM is active (no statistics), so that without floors in the way
 * memory ends proportional to the weights.
 */
static void round_balloon(const struct round *r, const struct res_pool_tree *t, unsigned max_balloon_pct,
			  uint64_t capacity, uint64_t *targets, struct res_mem_plan *plan)
{
	struct res_pool_mem_view v;
	res_pool_mem_view(t, r->idp, r->shares, r->n, &v);
	struct res_mem_vm *vms = xcalloc(r->n, sizeof(*vms));
	for (size_t i = 0; i < r->n; i++)
		vms[i] = (struct res_mem_vm){ .configured_mib = r->size_mib[i], .shares = v.weights[i] };
	struct res_mem_policy p = res_mem_policy_default;
	p.max_balloon_pct = max_balloon_pct;
	struct res_mem_host host = { .capacity_mib = capacity, .used_mib = capacity };
	assert_int_equal(res_mem_balloon_targets_grouped(&p, &host, vms, r->n, v.vm_group, v.groups, v.n_groups,
							 targets, plan),
			 0);
	free(vms);
	res_pool_mem_view_clear(&v);
}

static uint64_t sum_of(const uint64_t *v, size_t from, size_t to)
{
	uint64_t s = 0;
	for (size_t i = from; i < to; i++)
		s += v[i];
	return s;
}

static void test_mem_weights_nested(void **state)
{
	(void)state;
	struct round r;
	round_init(&r, 8);
	/*
	 * top: P 1000, Q 1000, E 1000000 (no VM running), VM R 2000
	 * P:   C1 3000, C2 1000, D 1000000 (no VM running), VM p1 4000
	 * C1:  VMs a 1000, b 3000;  C2: VM c 1000, pool F 500000 (empty);  Q: VM q 500
	 */
	add_pool(&r, "resgroup-2", "resgroup-1", 3000, 1234); /* C1, before its parent */
	add_pool(&r, "resgroup-1", NULL, 1000, 0);            /* P */
	add_pool(&r, "resgroup-3", "resgroup-1", 1000, 0);    /* C2 */
	add_pool(&r, "resgroup-4", NULL, 1000, 0);            /* Q */
	add_pool(&r, "resgroup-5", NULL, 1000000, 0);         /* E */
	add_pool(&r, "resgroup-6", "resgroup-1", 1000000, 0); /* D */
	add_pool(&r, "resgroup-7", "resgroup-3", 500000, 0);  /* F */
	size_t R = add_vm(&r, NULL, 2000, 1024);
	size_t p1 = add_vm(&r, "resgroup-1", 4000, 1024);
	size_t a = add_vm(&r, "resgroup-2", 1000, 1024);
	size_t b = add_vm(&r, "resgroup-2", 3000, 1024);
	size_t c = add_vm(&r, "resgroup-3", 1000, 1024);
	size_t q = add_vm(&r, "resgroup-4", 500, 1024);
	add_stopped_vm(&r, "resgroup-5");
	add_stopped_vm(&r, "resgroup-6");
	struct res_pool_tree *t = round_tree(&r);
	struct res_pool_mem_view v;
	res_pool_mem_view(t, r.idp, r.shares, r.n, &v);
	/* Parts of the host: R 1/2, q 1/4, p1 1/8, a 3/128, b 9/128, c 1/32; R's is the top. */
	const uint64_t top = RES_POOL_MEM_WEIGHT_TOP;
	assert_int_equal(v.weights[R], top);
	assert_int_equal(v.weights[q], top / 2);
	assert_int_equal(v.weights[p1], top / 4);
	assert_int_equal(v.weights[a], 3 * (top / 64));
	assert_int_equal(v.weights[b], 9 * (top / 64));
	assert_int_equal(v.weights[c], top / 16);
	assert_int_equal(v.n_pooled, 5);
	/* Groups: one per pool, the tree's parents, reservations as floors. */
	assert_int_equal(v.n_groups, 7);
	assert_int_equal(v.vm_group[R], -1);
	assert_int_equal(v.vm_group[a], 0);
	assert_int_equal(v.vm_group[p1], 1);
	assert_int_equal(v.groups[0].parent, 1);
	assert_int_equal(v.groups[0].floor_mib, 1234);
	assert_int_equal(v.groups[1].parent, -1);
	assert_int_equal(v.groups[6].parent, 2);
	res_pool_mem_view_clear(&v);

	/* Pools without a VM running take nothing: the same without E, D and F. */
	json_t *body = r.body;
	r.body = json_deep_copy(body);
	json_t *pools = json_object_get(r.body, "pools");
	json_t *vms = json_object_get(r.body, "vms");
	json_array_remove(pools, 6);
	json_array_remove(pools, 5);
	json_array_remove(pools, 4);
	json_object_del(vms, "00000006-0000-4000-8000-000000000000");
	json_object_del(vms, "00000007-0000-4000-8000-000000000000");
	struct res_pool_tree *t2 = round_tree(&r);
	json_decref(r.body);
	r.body = body;
	assert_int_equal(t2->n_pools, 4);
	struct res_pool_mem_view v2;
	res_pool_mem_view(t2, r.idp, r.shares, r.n, &v2);
	res_pool_mem_view(t, r.idp, r.shares, r.n, &v);
	for (size_t i = 0; i < r.n; i++)
		assert_int_equal(v.weights[i], v2.weights[i]);
	res_pool_mem_view_clear(&v);
	res_pool_mem_view_clear(&v2);
	res_pool_tree_free(t2);

	/* Once E has a VM running, even of 1 share, E takes its part: 500 times R's. */
	size_t e = add_vm(&r, "resgroup-5", 1, 1024);
	res_pool_tree_free(t);
	t = round_tree(&r);
	res_pool_mem_view(t, r.idp, r.shares, r.n, &v);
	assert_int_equal(v.weights[e], top);
	assert_int_equal(v.weights[R], (top + 250) / 500);
	assert_int_equal(v.weights[q], (top + 500) / 1000);
	res_pool_mem_view_clear(&v);
	res_pool_tree_free(t);
	round_free(&r);
}

static void test_mem_sibling_pools(void **state)
{
	(void)state;
	/* A (shares 2000): one VM of 64 GiB; B (1000): three of 8 GiB.  Own shares: 10 per MiB. */
	struct round r;
	round_init(&r, 4);
	add_pool(&r, "resgroup-1", NULL, 2000, 0);
	add_pool(&r, "resgroup-2", NULL, 1000, 0);
	add_vm(&r, "resgroup-1", 655360, 65536);
	for (int i = 0; i < 3; i++)
		add_vm(&r, "resgroup-2", 81920, 8192);
	struct res_pool_tree *t = round_tree(&r);
	uint64_t tg[4];
	struct res_mem_plan plan;
	/* 6% of 300000 MiB to reclaim: 18000 of the 90112 MiB. */
	round_balloon(&r, t, 100, 300000, tg, &plan);
	assert_int_equal(plan.reclaim_mib, 18000);
	assert_int_equal(plan.shortfall_mib, 0);
	uint64_t in_a = tg[0], in_b = sum_of(tg, 1, 4);
	assert_int_equal(in_a + in_b, 90112 - 18000);
	double ratio = (double)in_a / (double)in_b;
	print_message("pools 2:1 (1 VM : 3 VMs) -> %llu / %llu MiB (ratio %.4f)\n", (unsigned long long)in_a,
		      (unsigned long long)in_b, ratio);
	assert_true(ratio > 1.99 && ratio < 2.01);
	/* Within B, equal shares: equal memory. */
	assert_true(tg[1] + 20 >= tg[2] && tg[2] + 20 >= tg[1] && tg[1] + 20 >= tg[3] && tg[3] + 20 >= tg[1]);
	/* Without pools the VMs' own shares rule: 655360 : 3 x 81920, 2.67:1. */
	round_balloon(&r, NULL, 100, 300000, tg, &plan);
	ratio = (double)tg[0] / (double)sum_of(tg, 1, 4);
	assert_true(ratio > 2.64 && ratio < 2.70);
	res_pool_tree_free(t);
	round_free(&r);
}

static void test_mem_outside_pools(void **state)
{
	(void)state;
	struct round r;
	round_init(&r, 3);
	add_pool(&r, "resgroup-1", NULL, 1000, 512);
	add_stopped_vm(&r, "resgroup-1");
	add_vm(&r, NULL, 40960, 4096);
	add_vm(&r, NULL, 81920, 8192);
	add_vm(&r, NULL, 7, 2048);
	struct res_pool_tree *t = round_tree(&r);
	/* No VM of the round in a pool: the own shares unchanged, no groups, with or without a tree. */
	const struct res_pool_tree *trees[] = { NULL, t };
	for (size_t k = 0; k < 2; k++) {
		struct res_pool_mem_view v;
		res_pool_mem_view(trees[k], r.idp, r.shares, r.n, &v);
		assert_int_equal(v.n_pooled, 0);
		assert_int_equal(v.n_groups, 0);
		assert_null(v.groups);
		for (size_t i = 0; i < r.n; i++) {
			assert_int_equal(v.weights[i], r.shares[i]);
			assert_int_equal(v.vm_group[i], -1);
		}
		res_pool_mem_view_clear(&v);
	}
	/* And the targets are those of the flat policy. */
	uint64_t tg[3], flat[3];
	struct res_mem_plan plan, flat_plan;
	round_balloon(&r, t, 65, 100000, tg, &plan);
	struct res_mem_vm vms[3];
	for (size_t i = 0; i < 3; i++)
		vms[i] = (struct res_mem_vm){ .configured_mib = r.size_mib[i], .shares = r.shares[i] };
	struct res_mem_policy p = res_mem_policy_default;
	struct res_mem_host host = { .capacity_mib = 100000, .used_mib = 100000 };
	assert_int_equal(res_mem_balloon_targets(&p, &host, vms, 3, flat, &flat_plan), 0);
	assert_memory_equal(tg, flat, sizeof(tg));
	assert_memory_equal(&plan, &flat_plan, sizeof(plan));
	assert_int_equal(plan.reclaim_mib, 6000);
	res_pool_tree_free(t);
	round_free(&r);
}

static void test_mem_extreme_shares(void **state)
{
	(void)state;
	const uint64_t top = RES_POOL_MEM_WEIGHT_TOP, mega = 1000000;
	/* X (1): VM x of 1000000 shares; Y (1000000): VMs y1 of 1 and y2 of 1000000. */
	struct round r;
	round_init(&r, 3);
	add_pool(&r, "pool-x1", NULL, 1, 0);
	add_pool(&r, "pool-y1", NULL, mega, 0);
	size_t x = add_vm(&r, "pool-x1", mega, 4096);
	size_t y1 = add_vm(&r, "pool-y1", 1, 4096);
	size_t y2 = add_vm(&r, "pool-y1", mega, 4096);
	struct res_pool_tree *t = round_tree(&r);
	struct res_pool_mem_view v;
	res_pool_mem_view(t, r.idp, r.shares, r.n, &v);
	/* y2: 10^6/(10^6+1) squared (the top); y1: 10^-6 of it; x: (10^6+1)/10^12 of it. */
	assert_int_equal(v.weights[y2], top);
	assert_true(v.weights[y1] >= top / mega - 1 && v.weights[y1] <= top / mega + 1);
	uint64_t want_x = (uint64_t)((double)top * 1000001.0 / 1e12 + 0.5);
	assert_true(v.weights[x] >= want_x - 1 && v.weights[x] <= want_x + 1);
	res_pool_mem_view_clear(&v);
	/* Under contention x and y1 give down to their floors (35%) before y2 gives anything. */
	uint64_t tg[3];
	struct res_mem_plan plan;
	round_balloon(&r, t, 65, 100000, tg, &plan);
	assert_int_equal(tg[x], 1434);
	assert_int_equal(tg[y1], 1434);
	assert_int_equal(tg[y2], 4096 - (6000 - 2 * (4096 - 1434)));
	res_pool_tree_free(t);
	round_free(&r);

	/*
	 * The deepest tree the API takes, each level 1 : 1000000 against the
	 * way down: chain-k (1 share) holds side-(k+1) (1000000) with a VM of
	 * 1000000 shares, and chain-(k+1); chain-16 holds a VM of 1 share.
	 * Parts shrink 10^6 per level, far below a double's 2^-52: no weight
	 * is 0 or over the top, and the balloon still runs.
	 */
	round_init(&r, RES_POOL_MAX_DEPTH + 1);
	char id[32], parent[32];
	add_pool(&r, "side-1", NULL, mega, 0);
	add_vm(&r, "side-1", mega, 4096);
	for (unsigned k = 1; k <= RES_POOL_MAX_DEPTH; k++) {
		snprintf(id, sizeof(id), "chain-%u", k);
		snprintf(parent, sizeof(parent), "chain-%u", k - 1);
		add_pool(&r, id, k > 1 ? parent : NULL, 1, 0);
		if (k < RES_POOL_MAX_DEPTH) {
			char side[32];
			snprintf(side, sizeof(side), "side-%u", k + 1);
			add_pool(&r, side, id, mega, 0);
			add_vm(&r, side, mega, 4096);
		} else {
			add_vm(&r, id, 1, 4096);
		}
	}
	t = round_tree(&r);
	assert_int_equal(t->n_pools, 2 * RES_POOL_MAX_DEPTH);
	res_pool_mem_view(t, r.idp, r.shares, r.n, &v);
	assert_int_equal(v.n_pooled, RES_POOL_MAX_DEPTH + 1);
	assert_int_equal(v.weights[0], top);
	uint64_t want1 = (uint64_t)((double)top / 1000001.0 + 0.5);
	assert_true(v.weights[1] >= want1 - 1 && v.weights[1] <= want1 + 1);
	assert_true(v.weights[2] >= 4503 && v.weights[2] <= 4505);
	for (size_t i = 3; i < r.n; i++)
		assert_int_equal(v.weights[i], 1);
	res_pool_mem_view_clear(&v);
	uint64_t deep[RES_POOL_MAX_DEPTH + 1];
	round_balloon(&r, t, 65, 100000, deep, &plan);
	/* 6000 to reclaim: the lightest give first, each down to 1434. */
	assert_int_equal(deep[0], 4096);
	assert_int_equal(sum_of(deep, 0, r.n), 4096 * r.n - 6000);
	assert_int_equal(plan.shortfall_mib, 0);
	res_pool_tree_free(t);
	round_free(&r);
}

static void test_mem_10000_vms(void **state)
{
	(void)state;
	/*
	 * 10 top pools of (k+1) x 100000 shares, each with 10 children of 1 to
	 * 1000000 shares, each with 100 VMs of 10 to 70 shares.
	 */
	enum { TOPS = 10, KIDS = 10, PER = 100, N = TOPS * KIDS * PER };
	struct round r;
	round_init(&r, N);
	char id[32], parent[32];
	double top_shares[TOPS], kid_shares[TOPS][KIDS], own_sum[TOPS][KIDS] = { { 0 } }, tops_sum = 0;
	for (unsigned k = 0; k < TOPS; k++) {
		snprintf(id, sizeof(id), "resgroup-%u", k);
		top_shares[k] = 100000.0 * (k + 1);
		tops_sum += top_shares[k];
		add_pool(&r, id, NULL, (uint64_t)top_shares[k], 0);
		snprintf(parent, sizeof(parent), "%s", id);
		for (unsigned j = 0; j < KIDS; j++) {
			snprintf(id, sizeof(id), "resgroup-%u", 100 + k * KIDS + j);
			kid_shares[k][j] = 1.0 + 111111.0 * j;
			add_pool(&r, id, parent, (uint64_t)kid_shares[k][j], 0);
			for (unsigned i = 0; i < PER; i++) {
				uint64_t own = 10 * (i % 7 + 1);
				add_vm(&r, id, own, 1024);
				own_sum[k][j] += (double)own;
			}
		}
	}
	struct res_pool_tree *t = round_tree(&r);
	struct res_pool_mem_view v;
	res_pool_mem_view(t, r.idp, r.shares, r.n, &v);
	assert_int_equal(v.n_pooled, N);
	/* Each VM's weight as the tree says, scaled so that the heaviest is the top, to within rounding. */
	double *want = xcalloc(N, sizeof(*want)), heaviest = 0;
	for (unsigned k = 0; k < TOPS; k++) {
		double kids_sum = 0;
		for (unsigned j = 0; j < KIDS; j++)
			kids_sum += kid_shares[k][j];
		for (unsigned j = 0; j < KIDS; j++)
			for (unsigned i = 0; i < PER; i++) {
				size_t n = ((size_t)k * KIDS + j) * PER + i;
				want[n] = top_shares[k] / tops_sum * kid_shares[k][j] / kids_sum * (double)r.shares[n] /
					  own_sum[k][j];
				if (want[n] > heaviest)
					heaviest = want[n];
			}
	}
	double worst = 0;
	for (size_t n = 0; n < N; n++) {
		assert_true(v.weights[n] >= 1 && v.weights[n] <= RES_POOL_MEM_WEIGHT_TOP);
		double off = fabs((double)v.weights[n] - want[n] / heaviest * (double)RES_POOL_MEM_WEIGHT_TOP);
		if (off > worst)
			worst = off;
	}
	free(want);
	print_message("10000 VMs: weights within %.3f of the exact ones (top %llu)\n", worst,
		      (unsigned long long)RES_POOL_MEM_WEIGHT_TOP);
	assert_true(worst <= 2.0);
	res_pool_mem_view_clear(&v);
	res_pool_tree_free(t);
	round_free(&r);

	/*
	 * The balloon with 10000 VMs of 1 GiB: A (2 shares) 1000 VMs, B (1)
	 * 9000.  B's VMs weigh less and give first; with a reservation B
	 * gives only down to it and A gives the rest.
	 */
	round_init(&r, N);
	add_pool(&r, "pool-a1", NULL, 2, 0);
	add_pool(&r, "pool-b1", NULL, 1, 0);
	for (size_t i = 0; i < N; i++)
		add_vm(&r, i < 1000 ? "pool-a1" : "pool-b1", 10240, 1024);
	t = round_tree(&r);
	uint64_t *tg = xcalloc(N, sizeof(*tg));
	struct res_mem_plan plan;
	round_balloon(&r, t, 65, 5000000, tg, &plan);
	assert_int_equal(plan.reclaim_mib, 300000);
	assert_int_equal(plan.shortfall_mib, 0);
	assert_int_equal(sum_of(tg, 0, 1000), 1000 * 1024);
	assert_int_equal(sum_of(tg, 1000, N), 9000 * 1024 - 300000);
	res_pool_tree_free(t);
	json_object_set_new(json_array_get(json_object_get(r.body, "pools"), 1), "mem_reservation_mib",
			    json_integer(9000 * 1024 - 100000));
	t = round_tree(&r);
	round_balloon(&r, t, 65, 5000000, tg, &plan);
	assert_int_equal(plan.shortfall_mib, 0);
	assert_int_equal(sum_of(tg, 1000, N), 9000 * 1024 - 100000);
	assert_int_equal(sum_of(tg, 0, 1000), 1000 * 1024 - 200000);
	for (size_t i = 0; i < N; i++)
		assert_true(tg[i] >= 359 && tg[i] <= 1024);
	free(tg);
	res_pool_tree_free(t);
	round_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_accepts),
		cmocka_unit_test(test_tree_refusals),
		cmocka_unit_test(test_pool_settings),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_cgroup_v1_nested),
		cmocka_unit_test(test_cgroup_v2_nested),
		cmocka_unit_test(test_mem_weights_nested),
		cmocka_unit_test(test_mem_sibling_pools),
		cmocka_unit_test(test_mem_outside_pools),
		cmocka_unit_test(test_mem_extreme_shares),
		cmocka_unit_test(test_mem_10000_vms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
