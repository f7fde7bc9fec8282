/* SPDX-License-Identifier: Apache-2.0 */
/*
 * API request bodies: parsed exactly as vireo-hostd and vireo-center parse
 * them, then validated against the field tables of the handlers and by
 * the VM request checks both daemons share (common/vmspec.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmspec.h"
#include "common/vmx.h"
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

/* A refusal carries a message; an acceptance none. */
static void check_result(int r, struct vr_error *err)
{
	if ((r < 0) != (err != NULL) || (err && (!err->msg || !*err->msg)))
		abort();
	vr_error_free(err);
}

/*
 * The VM request checks: what they accept, the host acts on.  A create
 * request's .vmx must parse again as it is (the host writes it), and the
 * power timeout must be the one hostd uses.
 */
static void check_vm_requests(const json_t *obj)
{
	struct vr_error *err = NULL;
	int timeout_s = -1;
	int r = vmspec_power_check(obj, &timeout_s, &err);
	if (r == 0 && (timeout_s < 1 || timeout_s > 3600))
		abort();
	check_result(r, err);
	err = NULL;
	r = vmspec_snapshot_check(obj, &err);
	check_result(r, err);

	err = NULL;
	struct vmx *vmx = NULL;
	struct vm_config *cfg = NULL;
	r = vmspec_create_to_vmx(obj, &vmx, &cfg, &err);
	if ((r == 0) != (vmx != NULL && cfg != NULL))
		abort();
	check_result(r, err);
	if (vmx) {
		struct vm_config *again = NULL;
		err = NULL;
		if (vm_config_from_vmx(vmx, "fuzzed", &again, &err) < 0)
			abort();
		vm_config_free(again);
		/* The fuzzed object once more, as resources of the VM it describes. */
		err = NULL;
		r = vmspec_resources_to_vmx(vmx, obj, &err);
		check_result(r, err);
	}
	vm_config_free(cfg);
	vmx_free(vmx);

	/* Its members as a create request's "nics" and "resources" would be. */
	json_t *nics = json_object_get(obj, "nics");
	if (nics) {
		struct vmx *empty = vmx_new();
		err = NULL;
		r = vmspec_nics_to_vmx(empty, NULL, nics, &err);
		check_result(r, err);
		vmx_free(empty);
	}
	json_t *res = json_object_get(obj, "resources");
	if (res) {
		/* As vireo-center takes a create request apart: the host's part and "resources". */
		json_t *spec = json_deep_copy(obj);
		json_object_del(spec, "resources");
		err = NULL;
		r = vmspec_create_check(spec, res, &err);
		check_result(r, err);
		json_decref(spec);
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
	check_vm_requests(obj);
	json_decref(obj);
	return 0;
}
