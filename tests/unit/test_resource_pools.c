/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resource pools (host/resources/pools.h) and nested cgroups: the pool
 * tree's checks (each refusal of PUT /api/v1/host/resource-pools), the
 * conversion of a pool to cgroup settings, and groups several levels deep
 * on fake v1 and v2 trees (laid out in a temporary directory, found
 * through a fake mountinfo as test_resources.c does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_accepts),
		cmocka_unit_test(test_tree_refusals),
		cmocka_unit_test(test_pool_settings),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_cgroup_v1_nested),
		cmocka_unit_test(test_cgroup_v2_nested),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
