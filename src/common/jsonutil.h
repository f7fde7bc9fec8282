/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_COMMON_JSONUTIL_H
#define VIREO_COMMON_JSONUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vr_error;

/*
 * One member of a JSON object accepted by an API request or an on-disk
 * file.  `type` is one of JSON_STRING, JSON_INTEGER, JSON_REAL (any
 * number), JSON_OBJECT, JSON_ARRAY, or JSON_TRUE meaning "a boolean"
 * (true or false), or JSON_NULL meaning "any JSON value".
 *
 * Limits, ignored when both are 0:
 *   JSON_INTEGER: the value must lie in [min, max];
 *   JSON_STRING:  the length in bytes must lie in [min, max];
 *   JSON_ARRAY:   the number of elements must lie in [min, max].
 * Strings are always rejected when they contain a NUL byte.
 */
struct json_field {
	const char *name;
	json_type type;
	bool required;
	int64_t min, max;
};

/*
 * Checks that obj is an object whose members are all listed in fields,
 * of the listed types and within the limits, and that the required ones
 * are present.  `what` names the document in messages, e.g. "VM create
 * request" gives `unknown field "memsize" in VM create request`.
 * Returns 0, or -EINVAL (-ERANGE for limits) with err set.
 */
int json_check_object(const json_t *obj, const struct json_field *fields, size_t n,
		      const char *what, struct vr_error **err);

/* Type name for messages: "string", "integer", "boolean", ... */
const char *json_type_name(json_type type);

/*
 * Getters for members that json_check_object() has validated; they
 * return the default when the member is absent or of another type.
 */
const char *json_get_string(const json_t *obj, const char *key, const char *def);
int64_t json_get_int(const json_t *obj, const char *key, int64_t def);
bool json_get_bool(const json_t *obj, const char *key, bool def);
double json_get_number(const json_t *obj, const char *key, double def);

/* Builds an error object as the APIs reply it: {"error":{"status":N,"message":M}}. */
json_t *json_error_body(int status, const char *message);

/* Dumps compactly with sorted keys; never NULL (aborts on out-of-memory). */
char *json_dump_compact(const json_t *value);

/*
 * State files of the daemons: {"version": 1, MEMBER: [...]}.
 * json_state_load() sets *doc to NULL when the file does not exist, else to
 * the document (caller frees) and *array to its MEMBER array (borrowed).
 * json_state_save() writes atomically with mode 0600; takes array.
 */
int json_state_load(const char *path, size_t max_len, const char *member, json_t **doc,
		    json_t **array, struct vr_error **err);
int json_state_save(const char *path, const char *member, json_t *array /* stolen */,
		    struct vr_error **err);

#endif
