/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REST resources for moving VMs in from VMware: /api/v1/vms/{id}/disks/convert
 * (a registered VM's VMDK and raw disks to qcow2), /api/v1/vms/{id}/export
 * (to an OVF/OVA package) and /api/v1/vms/import (a package as a new VM).  Registering a VMware
 * folder as it is goes through POST /api/v1/vms/register (vms.c), which
 * checks its disks (storage/vmdk_check.c).
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
#include "host/storage/import.h"
#include "host/storage/ovf_vm.h"
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

/* ---- OVF/OVA export ---- */

static const struct json_field export_fields[] = {
	{"datastore", JSON_STRING, true, 1, 80},
	{"path", JSON_STRING, true, 1, 1024},
	{"format", JSON_STRING, false, 1, 8},
};

struct export_arg {
	struct ovf_export_params p;
	json_t *body;
};

static void export_arg_free(void *opaque)
{
	struct export_arg *a = opaque;
	json_decref(a->body);
	free(a);
}

static int export_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
		      struct vr_error **err)
{
	struct export_arg *a = arg;
	return ovf_export_vm(h, vm, &a->p, task, err);
}

static void vms_export(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, export_fields, ARRAY_SIZE(export_fields), "export request",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *format = json_string_value(json_object_get(body, "format"));
	if (format && strcmp(format, "ova") != 0 && strcmp(format, "ovf") != 0) {
		api_respond_error(req, 400, "format \"%s\": \"ova\" or \"ovf\"", format);
		return;
	}
	struct ovf_export_params p = {
		.datastore = json_string_value(json_object_get(body, "datastore")),
		.path = json_string_value(json_object_get(body, "path")),
		.ova = !format || strcmp(format, "ova") == 0,
	};
	if (ovf_export_check(h, vm, &p, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct export_arg *a = xcalloc(1, sizeof(*a));
	a->p = p;
	a->body = json_incref(body);
	api_vm_task_start(req, h, vm, p.ova ? "Export to OVA" : "Export to OVF", export_run, a,
			  export_arg_free);
}

/* ---- OVF/OVA import ---- */

static const struct json_field ovf_import_fields[] = {
	{"datastore", JSON_STRING, true, 1, 80},
	{"source", JSON_STRING, true, 1, 1024},
	{"name", JSON_STRING, true, 1, 80},
};

struct import_arg {
	struct hostd *h;
	struct ovf_import_params p;
	json_t *body;
};

static void import_arg_free(void *opaque)
{
	struct import_arg *a = opaque;
	json_decref(a->body);
	free(a);
}

static int import_run(struct task *task, void *opaque, struct vr_error **err)
{
	struct import_arg *a = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = NULL;
	int r = ovf_import_vm(a->h, &a->p, task, &vm, err);
	if (r < 0)
		return r;
	task_set_result(task, json_pack("{s:s, s:s}", "id", vm->id, "name", a->p.name));
	return 0;
}

static void vms_import(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, ovf_import_fields, ARRAY_SIZE(ovf_import_fields),
			      "import request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct ovf_import_params p = {
		.datastore = json_string_value(json_object_get(body, "datastore")),
		.source = json_string_value(json_object_get(body, "source")),
		.name = json_string_value(json_object_get(body, "name")),
	};
	if (ovf_import_check(h, &p, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct import_arg *a = xcalloc(1, sizeof(*a));
	a->h = h;
	a->p = p;
	a->body = json_incref(body);
	char id[24];
	_cleanup_free_ char *desc = xasprintf("Import VM \"%s\"", p.name);
	if (tasks_start(h->tasks, desc, NULL, api_request_user(req), import_run, a,
			import_arg_free, id, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 202, json_pack("{s:s}", "task", id));
}

void api_import_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/disks/convert", disks_convert, h,
			     API_ROUTE_ADMIN | API_ROUTE_BODY_OPTIONAL);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/export", vms_export, h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "POST", "/api/v1/vms/import", vms_import, h, API_ROUTE_ADMIN);
}
