/* SPDX-License-Identifier: Apache-2.0 */
/* Changed-block tracking: change IDs, bitmap names, `qemu-img map` JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "host/storage/cbt.h"

static void test_change_id_roundtrip(void **state)
{
	(void)state;
	char *s = cbt_change_id_format("564d1234-scsi0-0", 0x5f3a1b2c3d4eULL, 7);
	assert_string_equal(s, "564d1234-scsi0-0/00005f3a1b2c3d4e/7");
	struct cbt_change_id id;
	struct vr_error *err = NULL;
	assert_int_equal(cbt_change_id_parse(s, &id, &err), 0);
	assert_string_equal(id.disk, "564d1234-scsi0-0");
	assert_true(id.epoch == 0x5f3a1b2c3d4eULL);
	assert_int_equal(id.seq, 7);
	free(s);
}

static void test_change_id_bad(void **state)
{
	(void)state;
	const char *bad[] = {
		"", "*", "a/b", "disk/1", "disk/1/", "/1/1", "disk//1", "disk/1/0", "disk/1/01",
		"disk/0/1", "disk/1/1/1", "disk/xyz/1", "disk/1/-1", "disk/1/1x", "DISK/1/1",
		"disk/11111111111111111/1", "disk/1/99999999999", "d isk/1/1",
		"a234567890123456789012345678901234567890123456789012345678901234/1/1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cbt_change_id id;
		struct vr_error *err = NULL;
		if (cbt_change_id_parse(bad[i], &id, &err) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_non_null(strstr(vr_error_msg(err), "not a change ID"));
		vr_error_free(err);
	}
}

static void test_bitmap_names(void **state)
{
	(void)state;
	char *n = cbt_bitmap_name(0xabcULL, 12);
	assert_string_equal(n, "vireo-cbt-0000000000000abc-12");
	uint64_t e = 0;
	uint32_t s = 0;
	assert_true(cbt_bitmap_name_parse(n, &e, &s));
	assert_true(e == 0xabc && s == 12);
	free(n);
	assert_false(cbt_bitmap_name_parse("vireo-cbt-query", &e, &s));
	assert_false(cbt_bitmap_name_parse("vireo-cbt-abc-1", &e, &s));
	assert_false(cbt_bitmap_name_parse("other-0000000000000abc-1", &e, &s));
	assert_false(cbt_bitmap_name_parse("vireo-cbt-0000000000000abc-0", &e, &s));
}

/* Real output of qemu-img map through x-dirty-bitmap: dirty areas read as "data": false. */
static const char dirty_map[] =
	"[{ \"start\": 0, \"length\": 1048576, \"depth\": 0, \"present\": true, \"zero\": false, "
	"\"data\": true, \"offset\": 0},\n"
	"{ \"start\": 1048576, \"length\": 65536, \"depth\": 0, \"present\": false, \"zero\": false, "
	"\"data\": false},\n"
	"{ \"start\": 1114112, \"length\": 65536, \"depth\": 0, \"present\": false, \"zero\": false, "
	"\"data\": false},\n"
	"{ \"start\": 1179648, \"length\": 1966080, \"depth\": 0, \"present\": true, \"zero\": false, "
	"\"data\": true, \"offset\": 1179648},\n"
	"{ \"start\": 3145728, \"length\": 65536, \"depth\": 0, \"present\": false, \"zero\": false, "
	"\"data\": false},\n"
	"{ \"start\": 3211264, \"length\": 63897600, \"depth\": 0, \"present\": true, \"zero\": false, "
	"\"data\": true, \"offset\": 3211264}]\n";

static void test_map_dirty(void **state)
{
	(void)state;
	struct cbt_extent *v = NULL;
	size_t n = 0;
	struct vr_error *err = NULL;
	assert_int_equal(cbt_map_parse(dirty_map, strlen(dirty_map), true, 64 << 20, &v, &n, &err),
			 0);
	assert_int_equal(n, 2);
	assert_true(v[0].offset == 1048576 && v[0].length == 131072); /* joined */
	assert_true(v[1].offset == 3145728 && v[1].length == 65536);
	free(v);
	/* The same map read as allocation: the data areas. */
	assert_int_equal(cbt_map_parse(dirty_map, strlen(dirty_map), false, 64 << 20, &v, &n, &err),
			 0);
	assert_int_equal(n, 3);
	assert_true(v[0].offset == 0 && v[0].length == 1048576);
	assert_true(v[2].offset == 3211264 && v[2].length == 63897600);
	free(v);
}

static void expect_bad_map(const char *json, uint64_t size, const char *needle)
{
	struct cbt_extent *v = NULL;
	size_t n = 0;
	struct vr_error *err = NULL;
	if (cbt_map_parse(json, strlen(json), true, size, &v, &n, &err) >= 0)
		fail_msg("accepted %s", json);
	if (!strstr(vr_error_msg(err), needle))
		fail_msg("error \"%s\" lacks \"%s\"", vr_error_msg(err), needle);
	vr_error_free(err);
	assert_null(v);
}

static void test_map_bad(void **state)
{
	(void)state;
	expect_bad_map("{", 10, "cannot parse");
	expect_bad_map("{}", 10, "not a JSON array");
	expect_bad_map("[{\"start\": 0, \"length\": 10}]", 10, "lacks");
	expect_bad_map("[{\"start\": 0, \"length\": -1, \"data\": true}]", 10, "lacks");
	expect_bad_map("[{\"start\": 1, \"length\": 9, \"data\": true}]", 10, "does not follow");
	expect_bad_map("[{\"start\": 0, \"length\": 11, \"data\": true}]", 10, "does not follow");
	expect_bad_map("[{\"start\": 0, \"length\": 0, \"data\": true}]", 10, "does not follow");
	expect_bad_map("[{\"start\": 0, \"length\": 5, \"data\": true}]", 10, "covers 5");
	expect_bad_map("[{\"start\": 0, \"length\": 5, \"data\": true},"
		       "{\"start\": 0, \"length\": 5, \"data\": true}]", 10, "does not follow");
	expect_bad_map("[]", 10, "covers 0");
}

static void test_map_empty_disk(void **state)
{
	(void)state;
	struct cbt_extent *v = NULL;
	size_t n = 7;
	struct vr_error *err = NULL;
	assert_int_equal(cbt_map_parse("[]", 2, true, 0, &v, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_change_id_roundtrip),
		cmocka_unit_test(test_change_id_bad),
		cmocka_unit_test(test_bitmap_names),
		cmocka_unit_test(test_map_dirty),
		cmocka_unit_test(test_map_bad),
		cmocka_unit_test(test_map_empty_disk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
