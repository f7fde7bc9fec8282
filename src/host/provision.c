/* SPDX-License-Identifier: Apache-2.0 */
/* Creating, reconfiguring and deleting VMs (their folders and .vmx files). */
#include "host/provision.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/jsonutil.h"
#include "common/log.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmspec.h"
#include "common/vmx.h"
#include "host/events.h"
#include "host/alloc.h"
#include "host/hostd.h"
#include "host/vswitch.h"
#include "host/lock.h"
#include "host/storage/clone.h"
#include "host/tasks.h"
#include "qemu/img.h"

static const struct json_field reconfigure_fields[] = {
	{"memory_mib", JSON_INTEGER, false, VM_MIN_MEMORY_MIB, VM_MAX_MEMORY_MIB},
	{"vcpus", JSON_INTEGER, false, 1, VM_MAX_VCPUS},
	{"guest_os", JSON_STRING, false, 1, 64},
	{"annotation", JSON_STRING, false, 0, 4096},
	{"accel", JSON_STRING, false, 1, 8},
	{"nics", JSON_ARRAY, false, 0, VM_MAX_NICS},
	{"boot", JSON_OBJECT, false, 0, 0},
	{"resources", JSON_OBJECT, false, 0, 0},
};

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/*
 * What only this host can tell of a "boot" member (the rest is
 * vmspec_boot_to_vmx()'s): an absolute kernel or initrd must lie on one
 * of its datastores.
 */
static int boot_on_datastores(struct hostd *h, const json_t *boot, struct vr_error **err)
{
	static const char *const keys[] = {"kernel", "initrd"};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *p = jstr(boot, keys[i]);
		if (!p || p[0] != '/')
			continue;
		_cleanup_free_ char *ds = datastore_of_path(h, p, NULL);
		if (!ds)
			return vr_error_set(err, EINVAL,
					    "boot %s \"%s\" does not exist on a datastore of this host",
					    keys[i], p);
	}
	return 0;
}

/*
 * Generated MACs are unique on this host: one that another registered VM
 * already uses (a copied VM, or a chance collision) is generated again.
 * Static MACs are the administrator's; the power-on check reports those.
 */
static int unique_macs(struct hostd *h, struct vmx *vmx, const struct vm *except,
		       struct vm_config **cfg, const char *source, struct vr_error **err)
{
	for (int round = 0; round < 16; round++) {
		bool changed = false;
		for (size_t i = 0; i < (*cfg)->n_nics; i++) {
			const struct vm_nic *n = &(*cfg)->nics[i];
			if (n->mac_static || !vnet_mac_in_use(h, n->mac, except))
				continue;
			char key[64], mac[18];
			vm_mac_generate(mac);
			snprintf(key, sizeof(key), "ethernet%u.generatedAddress", n->index);
			vmx_set(vmx, key, mac);
			changed = true;
		}
		if (!changed)
			return 0;
		vm_config_free(*cfg);
		*cfg = NULL;
		int r = vm_config_from_vmx(vmx, source, cfg, err);
		if (r < 0)
			return r;
	}
	return vr_error_set(err, EADDRINUSE, "cannot find a MAC address no other VM uses");
}

/* A create request's .vmx: the checks any host makes (vmspec.c), then this host's. */
static int spec_to_vmx(struct hostd *h, const json_t *spec, struct vmx **out,
		       struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = NULL;
	_cleanup_vm_config_ struct vm_config *cfg = NULL;
	int r = vmspec_create_to_vmx(spec, &vmx, &cfg, err);
	if (r < 0)
		return r;
	json_t *boot = json_object_get(spec, "boot");
	if (boot && (r = boot_on_datastores(h, boot, err)) < 0)
		return r;
	r = unique_macs(h, vmx, NULL, &cfg, "request", err);
	if (r < 0)
		return r;
	r = vmspec_check_nics(cfg, err);
	if (r < 0)
		return r;
	*out = steal_pointer(&vmx);
	return 0;
}

int provision_validate(struct hostd *h, const json_t *spec, struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = NULL;
	int r = spec_to_vmx(h, spec, &vmx, err);
	if (r < 0)
		return r;
	const char *ds = jstr(spec, "datastore");
	_cleanup_free_ char *ds_path = datastore_path(h, ds);
	if (!ds_path)
		return vr_error_set(err, ENOENT, "no datastore \"%s\"", ds);
	_cleanup_(vm_unrefp) struct vm *same = inventory_find(h, jstr(spec, "name"));
	if (same)
		return vr_error_set(err, EEXIST, "a VM named \"%s\" is already registered",
				    jstr(spec, "name"));
	return 0;
}

/* Task progress while disks are created: 10..90 %, shared evenly between the disks. */
struct disk_progress {
	struct task *task;
	size_t index, count;
};

static int disk_progress(uint64_t done, uint64_t total, void *opaque)
{
	struct disk_progress *dp = opaque;
	uint64_t share = total ? 80 * done / total : 80;
	task_set_progress(dp->task, (int)(10 + (80 * dp->index + share) / dp->count));
	return 0;
}

int provision_create(struct hostd *h, const json_t *spec, struct task *task, struct vm **out,
		     struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = NULL;
	int r = provision_validate(h, spec, err);
	if (r < 0)
		return r;
	r = spec_to_vmx(h, spec, &vmx, err);
	if (r < 0)
		return r;
	const char *name = jstr(spec, "name");
	const char *ds = jstr(spec, "datastore");
	_cleanup_free_ char *ds_path = datastore_path(h, ds);
	_cleanup_free_ char *dir = xasprintf("%s/%s", ds_path, name);
	if (mkdir(dir, 0755) < 0) {
		if (errno == EEXIST)
			return vr_error_set(err, EEXIST, "folder \"[%s] %s\" already exists", ds, name);
		return vr_error_set_errno(err, errno, "cannot create folder \"%s\"", dir);
	}
	_cleanup_vm_config_ struct vm_config *cfg = NULL;
	_cleanup_free_ char *vmx_path = NULL, *rel = NULL;
	r = vm_config_from_vmx(vmx, "request", &cfg, err);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < cfg->n_disks; i++) {
		char key[64];
		snprintf(key, sizeof(key), "scsi0:%u.vireo.sizeMiB", cfg->disks[i].unit);
		uint64_t mib = 0;
		parse_u64(vmx_get(vmx, key), 1, (uint64_t)VMSPEC_MAX_DISK_MIB, &mib);
		vmx_remove(vmx, key);
		snprintf(key, sizeof(key), "scsi0:%u.vireo.provisioning", cfg->disks[i].unit);
		enum vm_disk_provisioning prov = VM_DISK_PROVISIONING_THIN;
		vm_disk_provisioning_parse(vmx_get(vmx, key), &prov);
		vmx_remove(vmx, key);
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, cfg->disks[i].file_name);
		struct disk_progress dp = {.task = task, .index = i, .count = cfg->n_disks};
		struct qemu_img_create_opts opts = {
			.path = path,
			.format = vm_disk_format_name(cfg->disks[i].format),
			.size = mib << 20,
			.provisioning = prov,
			.progress = disk_progress,
			.opaque = &dp,
		};
		r = qemu_img_create_disk("qemu-img", &opts, err);
		if (r < 0) {
			vr_error_wrap(err, "cannot create disk %zu of VM \"%s\"", i, name);
			goto fail;
		}
		task_set_progress(task, (int)(10 + 80 * (i + 1) / cfg->n_disks));
	}
	vmx_path = xasprintf("%s/%s.vmx", dir, name);
	r = vmx_save_file(vmx, vmx_path, err);
	if (r < 0)
		goto fail;
	rel = xasprintf("%s/%s.vmx", name, name);
	r = inventory_register(h, ds, rel, out, err);
	if (r < 0)
		goto fail;
	vm_log(*out, "created on datastore \"%s\"", ds); /* *out: the caller's reference */
	events_add(h->events, EVENT_INFO, (*out)->id, "VmCreated", "VM \"%s\" created on \"%s\"",
		   name, ds);
	return 0;
fail:
	rm_rf(dir);
	return r;
}

/* For a running VM: the NICs stay as they are but for the port groups of bridged ones. */
static int only_networks_differ(struct vm *vm, const struct vm_config *next, struct vr_error **err)
{
	pthread_mutex_lock(&vm->lock);
	const struct vm_config *cur = vm->cfg;
	bool same = cur && cur->n_nics == next->n_nics;
	for (size_t i = 0; same && i < cur->n_nics; i++) {
		const struct vm_nic *a = &cur->nics[i], *b = &next->nics[i];
		same = a->index == b->index && a->model == b->model && a->connection == b->connection &&
		       strcasecmp(a->mac, b->mac) == 0 && a->start_connected == b->start_connected &&
		       (a->hostfwd == NULL) == (b->hostfwd == NULL) &&
		       (!a->hostfwd || strcmp(a->hostfwd, b->hostfwd) == 0) &&
		       (a->connection == VM_NIC_CONN_BRIDGE ||
			((a->network_name == NULL) == (b->network_name == NULL) &&
			 (!a->network_name || strcmp(a->network_name, b->network_name) == 0)));
	}
	const char *name = cur ? cur->display_name : vm->id;
	int r = same ? 0
		     : vr_error_set(err, EBUSY,
				    "VM \"%s\" is running: of its NICs only the port group of a "
				    "bridged NIC can change now; other changes need it powered off",
				    name);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int provision_reconfigure(struct hostd *h, struct vm *vm, const json_t *changes,
			  struct vr_error **err)
{
	int r = json_check_object(changes, reconfigure_fields, ARRAY_SIZE(reconfigure_fields),
				  "VM reconfigure request", err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vm->lock);
	enum vm_power_state power = vm->power;
	pthread_mutex_unlock(&vm->lock);
	/* Shares, reservations and limits change live, as in vSphere; the hardware does not. */
	bool only_resources = json_object_size(changes) == 1 && json_object_get(changes, "resources");
	/* A running VM's bridged NIC may move to another port group (as in vSphere). */
	bool live_nics = power == VM_POWER_ON && json_object_size(changes) == 1 &&
			 json_object_get(changes, "nics");
	if (power != VM_POWER_OFF && !only_resources && !live_nics)
		return vr_error_set(err, EBUSY,
				    "VM \"%s\" is %s: CPU, memory and NICs can be changed only while "
				    "it is powered off (resources can change at any time, and the "
				    "port group of a bridged NIC while it runs)",
				    vm->cfg ? vm->cfg->display_name : vm->id, vm_power_name(power));
	_cleanup_vmx_ struct vmx *cur = NULL;
	r = vmx_load_file(vm->vmx_path, &cur, err);
	if (r < 0)
		return r;
	_cleanup_vmx_ struct vmx *vmx = vmx_dup(cur);
	json_t *v;
	if ((v = json_object_get(changes, "memory_mib")))
		vmx_setf(vmx, "memsize", "%lld", (long long)json_integer_value(v));
	if ((v = json_object_get(changes, "vcpus"))) {
		vmx_setf(vmx, "numvcpus", "%lld", (long long)json_integer_value(v));
		vmx_remove(vmx, "cpuid.coresPerSocket");
	}
	if ((v = json_object_get(changes, "guest_os")))
		vmx_set(vmx, "guestOS", json_string_value(v));
	if ((v = json_object_get(changes, "annotation")))
		vmx_set(vmx, "annotation", json_string_value(v));
	if ((v = json_object_get(changes, "accel")))
		vmx_set(vmx, "vireo.accel", json_string_value(v));
	if ((v = json_object_get(changes, "boot"))) {
		r = vmspec_boot_to_vmx(vmx, v, err);
		if (r == 0)
			r = boot_on_datastores(h, v, err);
		if (r < 0)
			return r;
	}
	if ((v = json_object_get(changes, "nics"))) {
		r = vmspec_nics_to_vmx(vmx, cur, v, err);
		if (r < 0)
			return r;
	}
	if ((v = json_object_get(changes, "resources"))) {
		r = vmspec_resources_to_vmx(vmx, v, err);
		if (r < 0)
			return r;
	}
	_cleanup_vm_config_ struct vm_config *cfg = NULL;
	r = vm_config_from_vmx(vmx, vm->vmx_path, &cfg, err);
	if (r < 0)
		return r;
	if (json_object_get(changes, "nics") && (r = unique_macs(h, vmx, vm, &cfg, vm->vmx_path, err)) < 0)
		return r;
	/* A running VM's new settings must fit the host before they are kept. */
	if (power != VM_POWER_OFF) {
		r = alloc_check_change(h, vm, cfg, err);
		if (r < 0)
			return r;
	}
	r = vmspec_check_nics(cfg, err);
	if (r < 0)
		return r;
	if (live_nics && (r = only_networks_differ(vm, cfg, err)) < 0)
		return r;
	r = vmx_save_file(vmx, vm->vmx_path, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vm->lock);
	r = vm_reload_config(vm, err);
	pthread_mutex_unlock(&vm->lock);
	if (r < 0)
		return r;
	if (live_nics && (r = vnet_vm_reapply(h, vm, err)) < 0) {
		/* Back to the port groups it had, in the file and on the switches. */
		struct vr_error *e2 = NULL;
		if (vmx_save_file(cur, vm->vmx_path, &e2) == 0) {
			pthread_mutex_lock(&vm->lock);
			vm_reload_config(vm, &e2);
			pthread_mutex_unlock(&vm->lock);
			vnet_vm_reapply(h, vm, &e2);
		}
		vr_error_free(e2);
		return vr_error_wrap(err, "cannot move the NIC of running VM \"%s\"",
				     cfg->display_name);
	}
	if (power == VM_POWER_ON) {
		r = alloc_vm_update(h, vm, err);
		if (r < 0)
			return vr_error_wrap(err, "the new settings are saved but not applied to the "
					     "running VM");
	}
	vm_log(vm, "reconfigured");
	events_add(h->events, EVENT_INFO, vm->id, "VmReconfigured", "VM \"%s\" reconfigured",
		   cfg->display_name);
	return 0;
}

int provision_destroy(struct hostd *h, struct vm *vm, struct task *task, struct vr_error **err)
{
	pthread_mutex_lock(&vm->lock);
	enum vm_power_state power = vm->power;
	pthread_mutex_unlock(&vm->lock);
	if (power == VM_POWER_ON)
		return vr_error_set(err, EBUSY, "VM \"%s\" is powered on",
				    vm->cfg ? vm->cfg->display_name : vm->id);
	struct vm_lock_info li;
	if (vm_lock_read(vm->dir, &li, NULL) == 0 && strcmp(li.host_id, h->host_id) != 0 &&
	    li.age_ms < (int64_t)h->cfg.lock_lease_ms)
		return vr_error_set(err, EBUSY,
				    "VM folder \"%s\" is locked by host \"%s\"; it runs there",
				    vm->dir, li.host_name);
	if (!strchr(vm->rel_path, '/'))
		return vr_error_set(err, EINVAL,
				    "the .vmx of VM \"%s\" lies in the datastore's root folder; "
				    "deleting that folder would delete the datastore",
				    vm->rel_path);
	pthread_mutex_lock(&h->lock);
	size_t dl = strlen(vm->dir);
	for (struct vm *o = h->vms; o; o = o->next) {
		if (o != vm && strncmp(o->dir, vm->dir, dl) == 0 &&
		    (o->dir[dl] == '/' || o->dir[dl] == '\0')) {
			pthread_mutex_unlock(&h->lock);
			return vr_error_set(err, EBUSY,
					    "the folder of VM \"%s\" also holds VM \"[%s] %s\"",
					    vm->rel_path, o->datastore, o->rel_path);
		}
	}
	pthread_mutex_unlock(&h->lock);
	int r = clone_deps_refuse_delete(vm->vmx_path, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot delete VM \"%s\"",
				     vm->cfg ? vm->cfg->display_name : vm->id);
	pthread_mutex_lock(&vm->lock);
	const char *src = vm->vmx ? vmx_get(vm->vmx, CLONE_SOURCE_KEY) : NULL;
	_cleanup_free_ char *clone_of = src ? xstrdup(src) : NULL;
	pthread_mutex_unlock(&vm->lock);
	r = inventory_unregister(h, vm, err);
	if (r < 0)
		return r;
	task_set_progress(task, 30);
	r = rm_rf(vm->dir);
	if (r < 0)
		return vr_error_set_errno(err, -r, "VM unregistered, but its folder \"%s\" could not be removed entirely",
					  vm->dir);
	if (clone_of) /* a linked clone: its source's files are free again */
		clone_deps_remove(clone_of, vm->vmx_path);
	events_add(h->events, EVENT_INFO, vm->id, "VmDeleted", "VM \"%s\" deleted",
		   vm->cfg ? vm->cfg->display_name : vm->id);
	return 0;
}
