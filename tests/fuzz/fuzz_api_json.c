/* SPDX-License-Identifier: Apache-2.0 */
/*
 * API request bodies: parsed exactly as vireo-hostd parses them, then
 * validated against the field tables of the handlers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "api/server.h"
#include "host/api/server_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const json_t *obj, const struct json_field *fields, size_t n)
{
	struct vr_error *err = NULL;
	int r = json_check_object(obj, fields, n, "fuzzed request", &err);
	if ((r < 0) != (err != NULL) || (err && (!err->msg || !*err->msg)))
		abort();
	vr_error_free(err);
	if (r == 0) {
		/* Validated members have the types the handlers read them as. */
		for (size_t i = 0; i < n; i++) {
			json_t *v = json_object_get(obj, fields[i].name);
			if (fields[i].required && !v)
				abort();
			if (v && fields[i].type == JSON_STRING &&
			    strlen(json_get_string(obj, fields[i].name, "")) != json_string_length(v))
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > API_DEFAULT_MAX_BODY)
		return 0;
	char *decoded = api_url_decode((const char *)data, size, size & 1);
	if (decoded && strlen(decoded) > size)
		abort();
	free(decoded);

	json_t *obj = NULL;
	struct vr_error *err = NULL;
	if (api_json_parse_body((const char *)data, size, &obj, &err) < 0) {
		if (!err || !err->msg || obj)
			abort();
		vr_error_free(err);
		return 0;
	}
	if (!json_is_object(obj))
		abort();
	check(obj, api_session_create_fields, api_session_create_nfields);
	check(obj, api_user_create_fields, api_user_create_nfields);
	check(obj, api_user_password_fields, api_user_password_nfields);
	json_decref(obj);
	return 0;
}
