/* SPDX-License-Identifier: Apache-2.0 */
/* REST resource: /api/v1/vms/{id}/snapshots — the snapshot tree of a VM. */
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "common/vmspec.h"
#include "host/api/handlers.h"
#include "api/server.h"
#include "host/api/vm_task.h"
#include "host/hostd.h"
#include "host/storage/snapshot.h"
#include "host/tasks.h"

static const struct json_field check_fields[] = {
	{"repair", JSON_TRUE, false, 0, 0},
};

static void snapshots_list(struct api_request *req, void *opaque)
{
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, opaque);
	if (!vm)
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *tree = snapshot_tree_json(vm, &err);
	if (!tree) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 200, tree);
}

struct take_arg {
	struct snapshot_params p;
	json_t *body;
};

static void take_arg_free(void *opaque)
{
	struct take_arg *a = opaque;
	json_decref(a->body);
	free(a);
}

static int take_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
		    struct vr_error **err)
{
	struct take_arg *a = arg;
	return snapshot_take(h, vm, &a->p, task, err);
}

static void snapshots_take(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (vmspec_snapshot_check(body, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *name = json_string_value(json_object_get(body, "name"));
	struct take_arg *a = xcalloc(1, sizeof(*a));
	a->body = json_incref(body);
	a->p = (struct snapshot_params){
		.name = name,
		.description = json_string_value(json_object_get(body, "description")),
		.memory = json_is_true(json_object_get(body, "memory")),
		.quiesce = json_is_true(json_object_get(body, "quiesce")),
	};
	api_vm_task_start(req, h, vm, "Create snapshot", take_run, a, take_arg_free);
}

/* The {snap} parameter: a uid or a unique name.  Answers 404/409 itself. */
static bool find_snapshot(struct api_request *req, struct vm *vm, uint32_t *uid)
{
	const char *snap = api_request_param(req, "snap");
	_cleanup_error_ struct vr_error *err = NULL;
	int r = snapshot_find(vm, snap ? snap : "", uid, &err);
	if (r == -ENOENT) {
		api_respond_error(req, 404, "VM \"%s\" has no snapshot \"%s\"", vm->id,
				  snap ? snap : "");
		return false;
	}
	if (r == -ENOTUNIQ) {
		api_respond_error(req, 409, "%s; name the snapshot by its uid", err->msg);
		return false;
	}
	if (r < 0) {
		api_respond_vr_error(req, err);
		return false;
	}
	return true;
}

static int revert_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
		      struct vr_error **err)
{
	return snapshot_revert(h, vm, *(uint32_t *)arg, task, err);
}

static int delete_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
		      struct vr_error **err)
{
	return snapshot_delete(h, vm, *(uint32_t *)arg, task, err);
}

static void snapshot_op(struct api_request *req, struct hostd *h, bool revert, bool all)
{
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	uint32_t uid = 0;
	if (!all && !find_snapshot(req, vm, &uid))
		return;
	uint32_t *arg = xmalloc(sizeof(*arg));
	*arg = uid;
	if (revert)
		api_vm_task_start(req, h, vm, "Revert to snapshot", revert_run, arg, free);
	else
		api_vm_task_start(req, h, vm, all ? "Delete all snapshots" : "Delete snapshot",
				  delete_run, arg, free);
}

static void snapshots_revert(struct api_request *req, void *opaque)
{
	snapshot_op(req, opaque, true, false);
}

static void snapshots_delete(struct api_request *req, void *opaque)
{
	snapshot_op(req, opaque, false, false);
}

static void snapshots_delete_all(struct api_request *req, void *opaque)
{
	snapshot_op(req, opaque, false, true);
}

static int consolidate_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
			   struct vr_error **err)
{
	(void)arg;
	int r = snapshot_consolidate(h, vm, task, err);
	if (r >= 0)
		task_set_result(task, json_pack("{s:b}", "consolidated", 1));
	return r;
}

static void snapshots_consolidate(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (vm)
		api_vm_task_start(req, h, vm, "Consolidate disks", consolidate_run, NULL, NULL);
}

static int check_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
		     struct vr_error **err)
{
	json_t *report = NULL;
	int r = snapshot_check(h, vm, *(bool *)arg, &report, err);
	if (r >= 0)
		task_set_result(task, report);
	return r;
}

static void snapshots_check(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (body && json_check_object(body, check_fields, ARRAY_SIZE(check_fields),
				      "snapshot check request", &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	bool *repair = xmalloc(sizeof(*repair));
	*repair = body && json_is_true(json_object_get(body, "repair"));
	api_vm_task_start(req, h, vm, *repair ? "Check and repair snapshots" : "Check snapshots",
			  check_run, repair, free);
}

void api_snapshots_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/vms/{id}/snapshots", snapshots_list, h, 0);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/snapshots", snapshots_take, h,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "DELETE", "/api/v1/vms/{id}/snapshots", snapshots_delete_all, h,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/snapshots/consolidate",
			     snapshots_consolidate, h, API_ROUTE_ADMIN | API_ROUTE_BODY_OPTIONAL);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/snapshots/check", snapshots_check, h,
			     API_ROUTE_ADMIN | API_ROUTE_BODY_OPTIONAL);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/snapshots/{snap}/revert",
			     snapshots_revert, h, API_ROUTE_ADMIN | API_ROUTE_BODY_OPTIONAL);
	api_server_add_route(srv, "DELETE", "/api/v1/vms/{id}/snapshots/{snap}", snapshots_delete,
			     h, API_ROUTE_ADMIN);
}
