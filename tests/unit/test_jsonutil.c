/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"

static const struct json_field vm_fields[] = {
	{ "name", JSON_STRING, true, 1, 16 },
	{ "memory_mb", JSON_INTEGER, true, 16, 65536 },
	{ "cpus", JSON_INTEGER, false, 1, 64 },
	{ "autostart", JSON_TRUE, false, 0, 0 },
	{ "disks", JSON_ARRAY, false, 0, 4 },
	{ "extra", JSON_OBJECT, false, 0, 0 },
	{ "ratio", JSON_REAL, false, 0, 0 },
	{ "anything", JSON_NULL, false, 0, 0 },
};

static int check(const char *text, char **msg)
{
	json_error_t jerr;
	json_t *obj = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	assert_non_null(obj);
	struct vr_error *err = NULL;
	int r = json_check_object(obj, vm_fields, ARRAY_SIZE(vm_fields), "VM create request", &err);
	json_decref(obj);
	if (r < 0) {
		assert_non_null(err);
		if (msg)
			*msg = xstrdup(err->msg);
		vr_error_free(err);
	} else {
		assert_null(err);
	}
	return r;
}

static void expect_error(const char *text, int code, const char *needle)
{
	char *msg = NULL;
	int r = check(text, &msg);
	if (r != -code || !strstr(msg, needle))
		fail_msg("for %s: got %d \"%s\", expected %d containing \"%s\"", text, r,
			 msg ? msg : "", -code, needle);
	free(msg);
}

static void test_valid(void **state)
{
	assert_int_equal(check("{\"name\":\"web01\",\"memory_mb\":512}", NULL), 0);
	assert_int_equal(check("{\"name\":\"web01\",\"memory_mb\":512,\"cpus\":2,\"autostart\":false,"
			       "\"disks\":[1,2],\"extra\":{\"x\":1},\"ratio\":1,\"anything\":null}",
			       NULL),
			 0);
	assert_int_equal(check("{\"name\":\"w\",\"memory_mb\":16,\"autostart\":true,\"ratio\":0.5}",
			       NULL),
			 0);
}

static void test_unknown_field(void **state)
{
	expect_error("{\"name\":\"a\",\"memory_mb\":512,\"memsize\":3}", EINVAL,
		     "unknown field \"memsize\" in VM create request");
	/* Names are quoted safely. */
	expect_error("{\"name\":\"a\",\"memory_mb\":512,\"a\\nb\":3}", EINVAL,
		     "unknown field \"a\\x0ab\"");
}

static void test_types(void **state)
{
	expect_error("[1]", EINVAL, "VM create request must be a JSON object, not an array");
	expect_error("{\"name\":5,\"memory_mb\":512}", EINVAL,
		     "field \"name\" in VM create request must be a string, not an integer");
	expect_error("{\"name\":\"a\",\"memory_mb\":\"512\"}", EINVAL,
		     "field \"memory_mb\" in VM create request must be an integer");
	expect_error("{\"name\":\"a\",\"memory_mb\":512.0}", EINVAL, "must be an integer");
	expect_error("{\"name\":\"a\",\"memory_mb\":512,\"autostart\":1}", EINVAL,
		     "\"autostart\" in VM create request must be a boolean");
	expect_error("{\"name\":\"a\",\"memory_mb\":512,\"disks\":{}}", EINVAL, "must be an array");
	expect_error("{\"name\":\"a\",\"memory_mb\":512,\"ratio\":\"x\"}", EINVAL,
		     "must be a number");
}

static void test_required(void **state)
{
	expect_error("{\"name\":\"a\"}", EINVAL,
		     "missing required field \"memory_mb\" in VM create request");
	expect_error("{}", EINVAL, "missing required field \"name\"");
	struct vr_error *err = NULL;
	assert_int_equal(json_check_object(NULL, vm_fields, 1, "VM create request", &err), -EINVAL);
	assert_string_equal(err->msg, "VM create request is missing");
	vr_error_free(err);
}

static void test_limits(void **state)
{
	expect_error("{\"name\":\"a\",\"memory_mb\":15}", ERANGE,
		     "field \"memory_mb\" in VM create request is 15; it must be between 16 and "
		     "65536");
	expect_error("{\"name\":\"a\",\"memory_mb\":65537}", ERANGE, "between 16 and 65536");
	expect_error("{\"name\":\"a\",\"memory_mb\":-9223372036854775808}", ERANGE, "between");
	expect_error("{\"name\":\"abcdefghijklmnopq\",\"memory_mb\":16}", ERANGE,
		     "field \"name\" in VM create request is 17 bytes long; the limit is 16");
	expect_error("{\"name\":\"\",\"memory_mb\":16}", ERANGE, "it must be at least 1");
	expect_error("{\"name\":\"a\",\"memory_mb\":16,\"disks\":[1,2,3,4,5]}", ERANGE,
		     "has 5 elements");
	assert_int_equal(check("{\"name\":\"abcdefghijklmnop\",\"memory_mb\":65536}", NULL), 0);
}

static void test_nul(void **state)
{
	expect_error("{\"name\":\"a\\u0000b\",\"memory_mb\":16}", EINVAL,
		     "field \"name\" in VM create request contains a NUL byte");
}

static void test_getters(void **state)
{
	json_t *o = json_pack("{s:s,s:I,s:b,s:f}", "s", "x", "i", (json_int_t)42, "b", 1, "f",
			      2.5);
	assert_string_equal(json_get_string(o, "s", "d"), "x");
	assert_string_equal(json_get_string(o, "i", "d"), "d");
	assert_null(json_get_string(o, "missing", NULL));
	assert_int_equal(json_get_int(o, "i", 0), 42);
	assert_int_equal(json_get_int(o, "s", -1), -1);
	assert_true(json_get_bool(o, "b", false));
	assert_false(json_get_bool(o, "x", false));
	assert_true(json_get_number(o, "f", 0) == 2.5);
	assert_true(json_get_number(o, "i", 0) == 42.0);
	assert_null(json_get_string(NULL, "s", NULL));
	json_decref(o);

	json_t *e = json_error_body(404, "no such VM");
	char *s = json_dump_compact(e);
	assert_string_equal(s, "{\"error\":{\"message\":\"no such VM\",\"status\":404}}");
	free(s);
	json_decref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),	 cmocka_unit_test(test_unknown_field),
		cmocka_unit_test(test_types),	 cmocka_unit_test(test_required),
		cmocka_unit_test(test_limits),	 cmocka_unit_test(test_nul),
		cmocka_unit_test(test_getters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
