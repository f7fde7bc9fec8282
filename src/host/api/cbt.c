/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REST resources: /api/v1/vms/{id}/cbt (changed-block tracking on or off)
 * and /api/v1/vms/{id}/disks/{slot}/changes (QueryChangedDiskAreas).
 * Both answer at once, holding the VM's claim while they work.
 */
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/api/vm_task.h"
#include "host/hostd.h"
#include "host/storage/cbt.h"

static const struct json_field enable_fields[] = {
	{"enabled", JSON_TRUE, true, 0, 0},
};

static const struct json_field changes_fields[] = {
	{"since", JSON_STRING, false, 1, 200},
};

static void cbt_enable(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (!body) {
		api_respond_error(req, 400, "a CBT request needs a JSON body {\"enabled\": true|false}");
		return;
	}
	if (json_check_object(body, enable_fields, ARRAY_SIZE(enable_fields), "CBT request",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	bool enabled = json_is_true(json_object_get(body, "enabled"));
	if (vm_claim(vm, "changed-block tracking", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	int r = cbt_set_enabled(h, vm, enabled, &err);
	vm_release(vm);
	if (r < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 200, json_pack("{s:b}", "enabled", enabled));
}

/* "scsi0:0" or "scsi0-0" (a colon is awkward in a path). */
static bool slot_from_param(const char *p, char *out, size_t len)
{
	if (!p || !*p || strlen(p) >= len)
		return false;
	strcpy(out, p);
	char *dash = strrchr(out, '-');
	if (dash && !strchr(out, ':'))
		*dash = ':';
	return true;
}

static void cbt_changes_query(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	char slot[24];
	if (!slot_from_param(api_request_param(req, "slot"), slot, sizeof(slot))) {
		api_respond_error(req, 400, "the disk slot must be like \"scsi0:0\" or \"scsi0-0\"");
		return;
	}
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (body && json_check_object(body, changes_fields, ARRAY_SIZE(changes_fields),
				      "changes query", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *since = body ? json_string_value(json_object_get(body, "since")) : NULL;
	if (vm_claim(vm, "changed-block query", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	json_t *out = NULL;
	int r = cbt_changes(h, vm, slot, since ? since : "*", &out, &err);
	vm_release(vm);
	if (r < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 200, out);
}

void api_cbt_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/cbt", cbt_enable, h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/disks/{slot}/changes",
			     cbt_changes_query, h, API_ROUTE_ADMIN | API_ROUTE_BODY_OPTIONAL);
}
