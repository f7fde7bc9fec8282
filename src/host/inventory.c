/* SPDX-License-Identifier: Apache-2.0 */
/* The VMs registered on this host, kept in state_dir/inventory.json. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"
#include "host/hostd.h"
#include "host/storage/import.h"

static char *inventory_file(struct hostd *h)
{
	return xasprintf("%s/inventory.json", h->cfg.state_dir);
}

/* Called with h->lock held. */
static int inventory_save_locked(struct hostd *h, struct vr_error **err)
{
	json_t *a = json_array();
	for (struct vm *vm = h->vms; vm; vm = vm->next)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "id", vm->id, "datastore",
						   vm->datastore, "path", vm->rel_path));
	_cleanup_free_ char *path = inventory_file(h);
	return json_state_save(path, "vms", a, err);
}

int inventory_save(struct hostd *h, struct vr_error **err)
{
	pthread_mutex_lock(&h->lock);
	int r = inventory_save_locked(h, err);
	pthread_mutex_unlock(&h->lock);
	return r;
}

struct vm *inventory_find(struct hostd *h, const char *id_or_name)
{
	struct vm *found = NULL;
	pthread_mutex_lock(&h->lock);
	for (struct vm *vm = h->vms; vm && !found; vm = vm->next)
		if (strcasecmp(vm->id, id_or_name) == 0)
			found = vm;
	for (struct vm *vm = h->vms; vm && !found; vm = vm->next) {
		pthread_mutex_lock(&vm->lock);
		if (vm->cfg && strcmp(vm->cfg->display_name, id_or_name) == 0)
			found = vm;
		pthread_mutex_unlock(&vm->lock);
	}
	if (found)
		vm_ref(found);
	pthread_mutex_unlock(&h->lock);
	return found;
}

/* Builds a VM object for a .vmx; an invalid .vmx gives a VM with invalid_reason. */
static struct vm *vm_new(struct hostd *h, const char *datastore, const char *ds_path,
			 const char *rel_path, const char *known_id)
{
	struct vm *vm = xcalloc(1, sizeof(*vm));
	vm->refs = 1; /* the inventory list's */
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->host = h;
	vm->datastore = xstrdup(datastore);
	vm->rel_path = xstrdup(rel_path);
	vm->vmx_path = xasprintf("%s/%s", ds_path, rel_path);
	_cleanup_free_ char *copy = xstrdup(vm->vmx_path);
	char *slash = strrchr(copy, '/');
	*slash = '\0';
	vm->dir = xstrdup(copy);
	if (known_id && uuid_is_valid(known_id))
		snprintf(vm->id, sizeof(vm->id), "%s", known_id);
	return vm;
}

static void vm_set_run_dir(struct hostd *h, struct vm *vm)
{
	free(vm->run_dir);
	vm->run_dir = xasprintf("%s/%s", h->cfg.run_dir, vm->id);
}

static int check_rel_path(const char *rel_path, struct vr_error **err)
{
	int r = vm_path_validate("VM path", rel_path, false, err);
	if (r < 0)
		return r;
	if (!str_has_suffix(rel_path, ".vmx"))
		return vr_error_set(err, EINVAL, "VM path \"%s\" does not name a .vmx file", rel_path);
	return 0;
}

int inventory_load(struct hostd *h, struct vr_error **err)
{
	_cleanup_free_ char *path = inventory_file(h);
	json_t *o = NULL, *a = NULL;
	int r = json_state_load(path, 16 << 20, "vms", &o, &a, err);
	if (r < 0 || !o)
		return r;
	size_t i;
	json_t *e;
	json_array_foreach(a, i, e)
	{
		const char *ds = json_string_value(json_object_get(e, "datastore"));
		const char *rel = json_string_value(json_object_get(e, "path"));
		const char *id = json_string_value(json_object_get(e, "id"));
		struct vr_error *e2 = NULL;
		_cleanup_free_ char *ds_path = ds ? datastore_path(h, ds) : NULL;
		if (!ds || !rel || !ds_path || check_rel_path(rel, &e2) < 0) {
			log_error("%s: skipping entry %zu: %s", path, i,
				  e2 ? e2->msg : !ds_path ? "unknown datastore" : "missing fields");
			vr_error_free(e2);
			continue;
		}
		struct vm *vm = vm_new(h, ds, ds_path, rel, id);
		if (vm_reload_config(vm, &e2) < 0) {
			log_error("VM \"%s\" on datastore \"%s\" is invalid: %s", rel, ds, e2->msg);
			vr_error_free(e2);
			e2 = NULL;
			if (!vm->id[0])
				uuid_generate_str(vm->id); /* an id so that it can be unregistered */
		}
		if (access(vm->vmx_path, F_OK) == 0) {
			_cleanup_free_ char *vmss = NULL;
			if (vm->cfg) {
				vmss = xasprintf("%s/%s.vmss", vm->dir, vm->cfg->display_name);
				if (access(vmss, F_OK) == 0)
					vm->power = VM_POWER_SUSPENDED;
			}
		}
		vm_set_run_dir(h, vm);
		pthread_mutex_lock(&h->lock);
		vm->next = h->vms;
		h->vms = vm;
		pthread_mutex_unlock(&h->lock);
	}
	json_decref(o);
	return 0;
}

int inventory_register(struct hostd *h, const char *datastore, const char *rel_path,
		       struct vm **out, struct vr_error **err)
{
	int r = check_rel_path(rel_path, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *ds_path = datastore_path(h, datastore);
	if (!ds_path)
		return vr_error_set(err, ENOENT, "no datastore \"%s\"", datastore);
	_cleanup_free_ char *full = xasprintf("%s/%s", ds_path, rel_path);
	char real[PATH_MAX];
	if (!realpath(full, real))
		return vr_error_set_errno(err, errno, "cannot register \"[%s] %s\"", datastore,
					  rel_path);
	size_t dl = strlen(ds_path);
	if (strncmp(real, ds_path, dl) != 0 || real[dl] != '/')
		return vr_error_set(err, EINVAL, "\"[%s] %s\" leads outside the datastore", datastore,
				    rel_path);
	struct vm *vm = vm_new(h, datastore, ds_path, real + dl + 1, NULL);
	r = vm_reload_config(vm, err);
	if (r == 0 && vm->cfg)
		r = storage_check_vm_disks(h, vm->dir, vm->cfg, false, err);
	if (r < 0) {
		vr_error_wrap(err, "cannot register \"[%s] %s\"", datastore, rel_path);
		vm_free(vm);
		return r;
	}
	vm_set_run_dir(h, vm);
	if (vm->cfg) {
		_cleanup_free_ char *vmss = xasprintf("%s/%s.vmss", vm->dir, vm->cfg->display_name);
		if (access(vmss, F_OK) == 0)
			vm->power = VM_POWER_SUSPENDED;
	}
	pthread_mutex_lock(&h->lock);
	for (struct vm *o = h->vms; o; o = o->next) {
		const char *clash = NULL;
		if (strcmp(o->vmx_path, vm->vmx_path) == 0)
			clash = "is already registered";
		else if (strcasecmp(o->id, vm->id) == 0)
			clash = "has the same uuid.bios as another registered VM";
		else if (o->cfg && strcmp(o->cfg->display_name, vm->cfg->display_name) == 0)
			clash = "has the same displayName as another registered VM";
		if (clash) {
			pthread_mutex_unlock(&h->lock);
			r = vr_error_set(err, EEXIST, "\"[%s] %s\" %s (\"[%s] %s\")", datastore,
					 vm->rel_path, clash, o->datastore, o->rel_path);
			vm_free(vm);
			return r;
		}
	}
	vm->next = h->vms;
	h->vms = vm;
	r = inventory_save_locked(h, err);
	if (r < 0) {
		h->vms = vm->next;
		pthread_mutex_unlock(&h->lock);
		vm_free(vm);
		return r;
	}
	*out = vm_ref(vm); /* the caller's */
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int inventory_unregister(struct hostd *h, struct vm *vm, struct vr_error **err)
{
	pthread_mutex_lock(&h->lock);
	pthread_mutex_lock(&vm->lock);
	if (vm->power == VM_POWER_ON) {
		pthread_mutex_unlock(&vm->lock);
		pthread_mutex_unlock(&h->lock);
		return vr_error_set(err, EBUSY, "VM \"%s\" is powered on", vm->id);
	}
	pthread_mutex_unlock(&vm->lock);
	struct vm **pp = &h->vms;
	while (*pp && *pp != vm)
		pp = &(*pp)->next;
	if (!*pp) {
		pthread_mutex_unlock(&h->lock);
		return vr_error_set(err, ENOENT, "VM \"%s\" is not registered", vm->id);
	}
	*pp = vm->next;
	int r = inventory_save_locked(h, err);
	if (r < 0) {
		vm->next = h->vms;
		h->vms = vm;
	}
	pthread_mutex_unlock(&h->lock);
	if (r == 0)
		vm_unref(vm); /* the list's; the caller still holds its own */
	return r;
}
