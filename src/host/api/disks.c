/* SPDX-License-Identifier: Apache-2.0 */
/* REST resource: /api/v1/vms/{id}/disks — a VM's disks with their sizes; growing one. */
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "host/api/server.h"
#include "host/api/vm_task.h"
#include "host/hostd.h"
#include "host/runtime.h"
#include "host/storage/disk.h"
#include "qemu/img.h"

static void disks_list(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	json_t *o = disk_list_json(h, vm, &err);
	if (!o) {
		api_respond_vr_error(req, err);
		return;
	}
	api_respond_json(req, 200, o);
}

static const struct json_field grow_fields[] = {
	{"size_mib", JSON_INTEGER, true, 1, (int64_t)(QEMU_IMG_MAX_SIZE >> 20)},
};

struct grow_arg {
	char *slot;
	uint64_t size;
};

static void grow_arg_free(void *p)
{
	struct grow_arg *a = p;
	free(a->slot);
	free(a);
}

static int grow_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
		    struct vr_error **err)
{
	const struct grow_arg *a = arg;
	return disk_grow(h, vm, a->slot, a->size, task, err);
}

static void disks_grow(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	if (json_check_object(body, grow_fields, ARRAY_SIZE(grow_fields), "disk grow request",
			      &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	const char *slot = api_request_param(req, "slot");
	uint64_t mib = (uint64_t)json_integer_value(json_object_get(body, "size_mib"));
	uint64_t current;
	/* Refused at once, changing nothing: shrinking, CD-ROMs, VMDKs, suspended VMs. */
	if (disk_grow_check(h, vm, slot, mib << 20, &current, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct grow_arg *a = xcalloc(1, sizeof(*a));
	a->slot = xstrdup(slot);
	a->size = mib << 20;
	_cleanup_free_ char *desc = xasprintf("Grow disk %s of VM \"%s\" to %llu MiB", slot,
					      vm_display_name(vm), (unsigned long long)mib);
	api_vm_task_start(req, h, vm, desc, grow_run, a, grow_arg_free);
}

void api_disks_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/vms/{id}/disks", disks_list, h, 0);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/disks/{slot}/grow", disks_grow, h,
			     API_ROUTE_ADMIN);
}
