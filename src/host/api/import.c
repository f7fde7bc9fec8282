/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REST resources for moving VMs in from VMware: /api/v1/vms/{id}/disks/convert
 * (a registered VM's VMDK and raw disks to qcow2).  Registering a VMware
 * folder as it is goes through POST /api/v1/vms/register (vms.c), which
 * checks its disks (storage/vmdk_check.c).
 */
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "host/api/server.h"
#include "host/api/vm_task.h"
#include "host/hostd.h"
#include "host/storage/import.h"
#include "host/tasks.h"

static const struct json_field convert_fields[] = {
	{"format", JSON_STRING, false, 1, 16},
};

static int convert_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
		       struct vr_error **err)
{
	(void)arg;
	size_t n = 0;
	return storage_convert_vm_disks(h, vm, task, &n, err);
}

static void disks_convert(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (body && json_check_object(body, convert_fields, ARRAY_SIZE(convert_fields),
				      "convert request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *format = body ? json_string_value(json_object_get(body, "format")) : NULL;
	if (format && strcmp(format, "qcow2") != 0) {
		api_respond_error(req, 400, "format \"%s\": disks can only be converted to qcow2",
				  format);
		return;
	}
	api_vm_task_start(req, h, vm, "Convert disks to qcow2", convert_run, NULL, NULL);
}

void api_import_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/disks/convert", disks_convert, h,
			     API_ROUTE_ADMIN | API_ROUTE_BODY_OPTIONAL);
}
