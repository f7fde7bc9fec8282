/* SPDX-License-Identifier: Apache-2.0 */
/* REST resources: /api/v1/vms/{id}/clone and /api/v1/vms/{id}/template. */
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/api/vm_task.h"
#include "host/hostd.h"
#include "host/storage/clone.h"
#include "host/storage/vmsd.h"
#include "host/tasks.h"

static const struct json_field clone_fields[] = {
	{"name", JSON_STRING, true, 1, 80},
	{"datastore", JSON_STRING, false, 1, 80},
	{"linked", JSON_TRUE, false, 0, 0},
	{"snapshot", JSON_STRING, false, 1, VMSD_MAX_NAME},
	{"power_on", JSON_TRUE, false, 0, 0},
};

static const struct json_field template_fields[] = {
	{"template", JSON_TRUE, true, 0, 0},
};

struct clone_arg {
	struct clone_params p;
	json_t *body;
};

static void clone_arg_free(void *opaque)
{
	struct clone_arg *a = opaque;
	json_decref(a->body);
	free(a);
}

static int clone_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
		     struct vr_error **err)
{
	struct clone_arg *a = arg;
	_cleanup_(vm_unrefp) struct vm *clone = NULL;
	int r = clone_vm(h, vm, &a->p, task, &clone, err);
	if (clone)
		task_set_result(task, json_pack("{s:s, s:s}", "id", clone->id, "name", a->p.name));
	return r;
}

static void vms_clone(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (!body) {
		api_respond_error(req, 400, "a clone request needs a JSON body with a \"name\"");
		return;
	}
	if (json_check_object(body, clone_fields, ARRAY_SIZE(clone_fields), "clone request",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *snap = json_string_value(json_object_get(body, "snapshot"));
	if (snap && (!utf8_valid(snap) || strpbrk(snap, "\n\r\t"))) {
		api_respond_error(req, 400, "snapshot \"%s\" is not one line of UTF-8 text", snap);
		return;
	}
	struct clone_params p = {
		.name = json_string_value(json_object_get(body, "name")),
		.datastore = json_string_value(json_object_get(body, "datastore")),
		.linked = json_is_true(json_object_get(body, "linked")),
		.snapshot = snap,
		.power_on = json_is_true(json_object_get(body, "power_on")),
	};
	if (clone_check(h, vm, &p, &err) < 0) {
		if (err->code == ENOTUNIQ)
			api_respond_error(req, 409, "%s; name the snapshot by its uid", err->msg);
		else
			api_respond_vr_error(req, err);
		return;
	}
	struct clone_arg *a = xcalloc(1, sizeof(*a));
	a->body = json_incref(body);
	a->p = p;
	_cleanup_free_ char *desc = xasprintf("%s clone to \"%s\"", p.linked ? "Linked" : "Full",
					      p.name);
	api_vm_task_start(req, h, vm, desc, clone_run, a, clone_arg_free);
}

static void vms_template(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (!body) {
		api_respond_error(req, 400, "a template request needs a JSON body {\"template\": "
					    "true|false}");
		return;
	}
	if (json_check_object(body, template_fields, ARRAY_SIZE(template_fields),
			      "template request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	if (vm_claim(vm, "template conversion", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	int r = template_set(h, vm, json_is_true(json_object_get(body, "template")), &err);
	vm_release(vm);
	if (r < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 200, vm_to_json(vm, true));
}

void api_clones_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/clone", vms_clone, h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/template", vms_template, h,
			     API_ROUTE_ADMIN);
}
