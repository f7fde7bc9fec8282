/* SPDX-License-Identifier: Apache-2.0 */
/*
 * REST resource: /api/v1/vms/{id}/disks — a VM's disks with their sizes;
 * adding, removing and growing them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/util.h"
#include "host/api/handlers.h"
#include "api/server.h"
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

static const struct json_field add_fields[] = {
	{"size_mib", JSON_INTEGER, false, 1, (int64_t)(QEMU_IMG_MAX_SIZE >> 20)},
	{"file", JSON_STRING, false, 1, 1024},
	{"format", JSON_STRING, false, 1, 8},
	{"provisioning", JSON_STRING, false, 1, 32},
	{"mode", JSON_STRING, false, 1, 32},
	{"slot", JSON_STRING, false, 1, 16},
};

/* The request's strings, owned: the task outlives the request. */
struct add_arg {
	struct disk_add_params p;
	char *slot, *file, *format;
};

static void add_arg_free(void *p)
{
	struct add_arg *a = p;
	free(a->slot);
	free(a->file);
	free(a->format);
	free(a);
}

static int add_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
		   struct vr_error **err)
{
	const struct add_arg *a = arg;
	return disk_add(h, vm, &a->p, task, err);
}

static int add_params(const json_t *body, struct disk_add_params *p, struct vr_error **err)
{
	int r = json_check_object(body, add_fields, ARRAY_SIZE(add_fields), "disk add request",
				  err);
	if (r < 0)
		return r;
	*p = (struct disk_add_params){.provisioning = VM_DISK_PROVISIONING_THIN,
				      .mode = VM_DISK_MODE_PERSISTENT};
	json_t *size = json_object_get(body, "size_mib");
	p->file = json_string_value(json_object_get(body, "file"));
	if (!size && !p->file)
		return vr_error_set(err, EINVAL,
				    "disk add request: give size_mib (a new disk) or file (an "
				    "existing one)");
	if (size && p->file)
		return vr_error_set(err, EINVAL,
				    "disk add request: size_mib and file exclude each other");
	if (size)
		p->size = (uint64_t)json_integer_value(size) << 20;
	p->slot = json_string_value(json_object_get(body, "slot"));
	p->format = json_string_value(json_object_get(body, "format"));
	const char *prov = json_string_value(json_object_get(body, "provisioning"));
	if (prov && vm_disk_provisioning_parse(prov, &p->provisioning) < 0)
		return vr_error_set(err, EINVAL,
				    "provisioning \"%s\" is not thin, thick-lazy or thick-eager", prov);
	p->provisioning_set = prov != NULL;
	const char *mode = json_string_value(json_object_get(body, "mode"));
	if (mode && vm_disk_mode_parse(mode, &p->mode) < 0)
		return vr_error_set(err, EINVAL,
				    "mode \"%s\" is not persistent, independent-persistent or "
				    "independent-nonpersistent",
				    mode);
	return 0;
}

static void disks_add(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	json_t *body = api_request_body_json(req);
	_cleanup_error_ struct vr_error *err = NULL;
	struct disk_add_params p;
	/* Refused at once, changing nothing. */
	if (add_params(body, &p, &err) < 0 || disk_add_validate(h, vm, &p, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct add_arg *a = xcalloc(1, sizeof(*a));
	a->p = p;
	a->slot = p.slot ? xstrdup(p.slot) : NULL;
	a->file = p.file ? xstrdup(p.file) : NULL;
	a->format = p.format ? xstrdup(p.format) : NULL;
	a->p.slot = a->slot;
	a->p.file = a->file;
	a->p.format = a->format;
	_cleanup_free_ char *desc =
		p.file ? xasprintf("Attach disk \"%s\" to VM \"%s\"", p.file, vm_display_name(vm))
		       : xasprintf("Add a %llu MiB disk to VM \"%s\"",
				   (unsigned long long)(p.size >> 20), vm_display_name(vm));
	api_vm_task_start(req, h, vm, desc, add_run, a, add_arg_free);
}

struct remove_arg {
	char *slot;
	bool delete_file;
};

static void remove_arg_free(void *p)
{
	struct remove_arg *a = p;
	free(a->slot);
	free(a);
}

static int remove_run(struct hostd *h, struct vm *vm, struct task *task, void *arg,
		      struct vr_error **err)
{
	const struct remove_arg *a = arg;
	return disk_remove(h, vm, a->slot, a->delete_file, task, err);
}

static void disks_remove(struct api_request *req, void *opaque)
{
	struct hostd *h = opaque;
	_cleanup_(vm_unrefp) struct vm *vm = api_find_vm(req, h);
	if (!vm)
		return;
	_cleanup_error_ struct vr_error *err = NULL;
	const char *slot = api_request_param(req, "slot");
	const char *del = api_request_query(req, "delete_file");
	if (del && strcmp(del, "true") != 0 && strcmp(del, "false") != 0) {
		vr_error_set(&err, EINVAL, "delete_file must be true or false, not \"%.32s\"", del);
		api_respond_vr_error(req, err);
		return;
	}
	if (disk_remove_validate(vm, slot, &err) < 0) {
		api_respond_vr_error(req, err);
		return;
	}
	struct remove_arg *a = xcalloc(1, sizeof(*a));
	a->slot = xstrdup(slot);
	a->delete_file = del && strcmp(del, "true") == 0;
	_cleanup_free_ char *desc =
		xasprintf("Remove disk %s from VM \"%s\"", slot, vm_display_name(vm));
	api_vm_task_start(req, h, vm, desc, remove_run, a, remove_arg_free);
}

void api_disks_register(struct api_server *srv, struct hostd *h)
{
	api_server_add_route(srv, "GET", "/api/v1/vms/{id}/disks", disks_list, h, 0);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/disks", disks_add, h, API_ROUTE_ADMIN);
	api_server_add_route(srv, "DELETE", "/api/v1/vms/{id}/disks/{slot}", disks_remove, h,
			     API_ROUTE_ADMIN);
	api_server_add_route(srv, "POST", "/api/v1/vms/{id}/disks/{slot}/grow", disks_grow, h,
			     API_ROUTE_ADMIN);
}
