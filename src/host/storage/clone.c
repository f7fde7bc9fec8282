/* SPDX-License-Identifier: Apache-2.0 */
/* Full and linked clones, templates (see clone.h). */
#include "host/storage/clone.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/lifecycle.h"
#include "host/runtime.h"
#include "host/storage/snapshot.h"
#include "host/storage/snapshot_priv.h"
#include "host/storage/vmsd.h"
#include "host/tasks.h"
#include "qemu/img.h"

/* One disk of the source and what the clone gets for it. */
struct clone_disk {
	char slot[24];     /* "scsi0:0" */
	char key[40];      /* "scsi0:0.fileName" */
	char *src;         /* absolute: the file (and its chain) to copy or to build on */
	enum vm_disk_format src_format;
	char *dst_name;    /* "NEW.qcow2", "NEW_1.qcow2", ... */
	bool independent;
};

static void clone_disks_free(struct clone_disk *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].src);
		free(d[i].dst_name);
	}
	free(d);
}

static char *canon_path(const char *path)
{
	char buf[PATH_MAX];
	return xstrdup(realpath(path, buf) ? buf : path);
}

int storage_new_vm_check(struct hostd *h, const char *ds, const char *name,
			 struct vr_error **err)
{
	int r = name_validate("VM", name, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *ds_path = datastore_path(h, ds);
	if (!ds_path)
		return vr_error_set(err, ENOENT, "no datastore \"%s\"", ds);
	_cleanup_(vm_unrefp) struct vm *same = inventory_find(h, name);
	if (same)
		return vr_error_set(err, EEXIST, "a VM named \"%s\" is already registered", name);
	_cleanup_free_ char *dir = xasprintf("%s/%s", ds_path, name);
	if (access(dir, F_OK) == 0)
		return vr_error_set(err, EEXIST, "folder \"[%s] %s\" already exists", ds, name);
	return 0;
}

int clone_check(struct hostd *h, struct vm *src, const struct clone_params *p,
		struct vr_error **err)
{
	int r = storage_new_vm_check(h, p->datastore ? p->datastore : src->datastore, p->name,
				     err);
	if (r < 0)
		return r;
	if (!src->cfg)
		return vr_error_set(err, EINVAL, "VM \"%s\" has an invalid configuration: %s",
				    src->id, src->invalid_reason ? src->invalid_reason : "unknown");
	if (p->snapshot && !p->linked)
		return vr_error_set(err, EINVAL,
				    "\"snapshot\" is for linked clones (a full clone copies the VM's "
				    "present state)");
	if (p->linked) {
		_cleanup_vmsd_ struct vmsd *vmsd = NULL;
		if ((r = snap_vmsd_load(src, &vmsd, err)) < 0)
			return r;
		if (vmsd_count(vmsd) == 0)
			return vr_error_set(err, EINVAL,
					    "VM \"%s\" has no snapshot: a linked clone is built on a "
					    "snapshot's disk files; take one first",
					    src->cfg->display_name);
		if (p->snapshot) {
			uint32_t uid;
			if ((r = snapshot_find(src, p->snapshot, &uid, err)) < 0)
				return r;
		} else if (!vmsd_current(vmsd)) {
			return vr_error_set(err, EINVAL,
					    "VM \"%s\" has no current snapshot: name one with "
					    "\"snapshot\"",
					    src->cfg->display_name);
		}
	}
	return 0;
}

/* The disks of the source and the files to start from; refuses what cannot be cloned. */
static int plan_disks(struct vm *src, const struct vm_config *cfg, const struct vmsd *vmsd,
		      const struct vmsd_snapshot *snap, const char *new_name, bool running,
		      struct clone_disk **out, size_t *n_out, struct vr_error **err)
{
	struct clone_disk *d = xcalloc(cfg->n_disks + 1, sizeof(*d));
	size_t n = 0;
	int r = 0;
	(void)vmsd;
	for (size_t i = 0; i < cfg->n_disks && r >= 0; i++) {
		const struct vm_disk *k = &cfg->disks[i];
		if (k->device != VM_DISK_DEVICE_DISK)
			continue;
		struct clone_disk *c = &d[n++];
		const char *bus = vm_disk_bus_name(k->bus);
		snprintf(c->slot, sizeof(c->slot), "%s%u:%u", bus, k->controller, k->unit);
		snprintf(c->key, sizeof(c->key), "%s.fileName", c->slot);
		c->independent = k->mode != VM_DISK_MODE_PERSISTENT;
		c->dst_name = n == 1 ? xasprintf("%s.qcow2", new_name)
				     : xasprintf("%s_%zu.qcow2", new_name, n - 1);
		if (c->independent && (snap || running)) {
			r = vr_error_set(err, EINVAL,
					 "disk %s is independent (%s): snapshots leave it out, so it "
					 "cannot be %s; power the VM off for a full clone",
					 c->slot, vm_disk_mode_name(k->mode),
					 snap ? "shared by a linked clone" : "frozen while the VM runs");
			break;
		}
		const char *file = k->file_name;
		if (snap) {
			file = NULL;
			for (size_t j = 0; j < snap->n_disks; j++)
				if (strcmp(snap->disks[j].node, c->slot) == 0)
					file = snap->disks[j].file_name;
			if (!file) {
				r = vr_error_set(err, EINVAL,
						 "disk %s is not in snapshot \"%s\" (added after it)",
						 c->slot, snap->display_name);
				break;
			}
		}
		_cleanup_free_ char *abs = snap_abs(src, file);
		c->src = canon_path(abs);
		c->src_format = vm_disk_format_from_name(file);
	}
	if (r < 0) {
		clone_disks_free(d, n);
		return r;
	}
	*out = d;
	*n_out = n;
	return 0;
}

/* Task progress while disks are copied: from..to, shared evenly between the disks. */
struct copy_progress {
	struct task *task;
	size_t index, count;
	int from, to;
};

static int copy_progress(uint64_t done, uint64_t total, void *opaque)
{
	struct copy_progress *cp = opaque;
	int span = cp->to - cp->from;
	uint64_t share = total ? (uint64_t)span * done / total : (uint64_t)span;
	task_set_progress(cp->task, cp->from + (int)(((uint64_t)span * cp->index + share) /
						       (cp->count ? cp->count : 1)));
	return 0;
}

/* A path from the source's .vmx made absolute (relative ones name the source's folder). */
static void absolutize(struct vmx *vmx, struct vm *src, const char *key)
{
	const char *v = vmx_get(vmx, key);
	if (v && v[0] && v[0] != '/') {
		_cleanup_free_ char *abs = snap_abs(src, v);
		vmx_set(vmx, key, abs);
	}
}

/* The clone's .vmx: the source's with a new identity, new MACs and the new disks. */
static int clone_vmx_build(struct vm *src, const struct vmx *svmx, const struct vm_config *cfg,
			   const struct clone_params *p, const struct clone_disk *d, size_t n,
			   struct vmx **out, struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = vmx_dup(svmx);
	char uuid[37];
	uuid_generate_str(uuid);
	vmx_set(vmx, "displayName", p->name);
	vmx_set(vmx, "uuid.bios", uuid);
	/* Identity and state that belong to the source alone. */
	static const char *const drop[] = {"uuid.location", "vc.uuid", "templateVM",
					   "checkpoint.vmState", "sched.swap.derivedName",
					   "nvram", CLONE_SOURCE_KEY};
	for (size_t i = 0; i < ARRAY_SIZE(drop); i++)
		vmx_remove(vmx, drop[i]);
	for (size_t i = 0; i < n; i++)
		vmx_set(vmx, d[i].key, d[i].dst_name);
	for (size_t i = 0; i < cfg->n_disks; i++) {
		const struct vm_disk *k = &cfg->disks[i];
		if (k->device != VM_DISK_DEVICE_CDROM)
			continue;
		char key[48];
		snprintf(key, sizeof(key), "%s%u:%u.fileName", vm_disk_bus_name(k->bus),
			 k->controller, k->unit);
		absolutize(vmx, src, key);
	}
	absolutize(vmx, src, "vireo.kernel");
	absolutize(vmx, src, "vireo.initrd");
	/* Every NIC gets a new generated MAC, as vSphere gives a clone. */
	for (size_t i = 0; i < cfg->n_nics; i++) {
		char key[64], mac[18];
		unsigned idx = cfg->nics[i].index;
		vm_mac_generate(mac);
		snprintf(key, sizeof(key), "ethernet%u.addressType", idx);
		vmx_set(vmx, key, "generated");
		snprintf(key, sizeof(key), "ethernet%u.generatedAddress", idx);
		vmx_set(vmx, key, mac);
		snprintf(key, sizeof(key), "ethernet%u.generatedAddressOffset", idx);
		vmx_remove(vmx, key);
		snprintf(key, sizeof(key), "ethernet%u.address", idx);
		vmx_remove(vmx, key);
	}
	if (p->linked)
		vmx_set(vmx, CLONE_SOURCE_KEY, src->vmx_path);
	_cleanup_vm_config_ struct vm_config *check = NULL;
	int r = vm_config_from_vmx(vmx, p->name, &check, err);
	if (r < 0)
		return vr_error_wrap(err, "the clone's configuration is invalid");
	*out = steal_pointer(&vmx);
	return 0;
}

/* Takes the temporary snapshot that freezes a running VM's disks; *uid: its uid. */
static int freeze_running(struct hostd *h, struct vm *src, const char *new_name,
			  struct task *task, uint32_t *uid, struct vmsd **vmsd_out,
			  struct vr_error **err)
{
	_cleanup_free_ char *name = xasprintf("vireo: clone to \"%s\"", new_name);
	struct snapshot_params sp = {.name = name,
				     .description = "temporary; deleted when the copy is done"};
	int r = snapshot_take(h, src, &sp, task, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot freeze the disks of the running VM");
	r = snap_vmsd_load(src, vmsd_out, err);
	if (r < 0)
		return r;
	const struct vmsd_snapshot *s = vmsd_current(*vmsd_out);
	if (!s)
		return vr_error_set(err, EIO, "the temporary snapshot is not in the tree");
	*uid = s->uid;
	return 0;
}

static int make_disks(struct hostd *h, const struct clone_params *p, const char *dir,
		      const struct clone_disk *d, size_t n, struct task *task,
		      struct vr_error **err)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *dst = xasprintf("%s/%s", dir, d[i].dst_name);
		const char *fmt = vm_disk_format_name(d[i].src_format);
		int r;
		if (p->linked) {
			_cleanup_img_chain_ struct qemu_img_chain *chain = NULL;
			r = qemu_img_chain_get("qemu-img", d[i].src, fmt, &chain, err);
			if (r >= 0)
				r = qemu_img_create_overlay("qemu-img", dst, d[i].src, fmt,
							    chain->images[0].virtual_size, err);
		} else {
			struct copy_progress cp = {
				.task = task, .index = i, .count = n, .from = 15, .to = 85};
			r = qemu_img_convert_qcow2("qemu-img", d[i].src, fmt, dst, copy_progress,
						   &cp, err);
		}
		if (r >= 0)
			r = storage_grant_qemu(h, dst, err);
		if (r < 0)
			return vr_error_wrap(err, "disk %s", d[i].slot);
	}
	return 0;
}

static int power_on_clone(struct hostd *h, struct vm *vm, struct task *task,
			  struct vr_error **err)
{
	int r = vm_claim(vm, task_id(task), err);
	if (r < 0)
		return r;
	r = lifecycle_power_on(h, vm, task, err);
	vm_release(vm);
	return r;
}

int clone_vm(struct hostd *h, struct vm *src, const struct clone_params *p, struct task *task,
	     struct vm **out, struct vr_error **err)
{
	int r = clone_check(h, src, p, err);
	if (r < 0)
		return r;
	const char *ds = p->datastore ? p->datastore : src->datastore;
	_cleanup_free_ char *ds_path = datastore_path(h, ds);
	_cleanup_free_ char *dir = xasprintf("%s/%s", ds_path, p->name);
	_cleanup_free_ char *vmx_path = xasprintf("%s/%s.vmx", dir, p->name);
	_cleanup_free_ char *rel = xasprintf("%s/%s.vmx", p->name, p->name);
	_cleanup_vmx_ struct vmx *svmx = NULL, *nvmx = NULL;
	_cleanup_vm_config_ struct vm_config *cfg = NULL;
	_cleanup_vmsd_ struct vmsd *vmsd = NULL;
	struct clone_disk *d = NULL;
	size_t n = 0;
	uint32_t tmp_uid = 0;
	bool made_dir = false, recorded = false;

	pthread_mutex_lock(&src->lock);
	enum vm_power_state power = src->power;
	pthread_mutex_unlock(&src->lock);
	bool running = power == VM_POWER_ON && !p->linked;
	if ((r = vmx_load_file(src->vmx_path, &svmx, err)) < 0 ||
	    (r = vm_config_from_vmx(svmx, src->vmx_path, &cfg, err)) < 0)
		return r;
	const struct vmsd_snapshot *snap = NULL;
	if (p->linked) {
		if ((r = snap_vmsd_load(src, &vmsd, err)) < 0)
			return r;
		uint32_t uid = 0;
		if (p->snapshot && (r = snapshot_find(src, p->snapshot, &uid, err)) < 0)
			return r;
		snap = p->snapshot ? vmsd_find_uid(vmsd, uid) : vmsd_current(vmsd);
		if (!snap)
			return vr_error_set(err, ENOENT, "the snapshot is no longer there");
	}
	/* Refuse what cannot be cloned before anything changes. */
	if ((r = plan_disks(src, cfg, vmsd, snap, p->name, running, &d, &n, err)) < 0)
		return r;
	clone_disks_free(d, n);
	d = NULL;
	if (running) {
		if ((r = freeze_running(h, src, p->name, task, &tmp_uid, &vmsd, err)) < 0)
			goto fail;
		snap = vmsd_find_uid(vmsd, tmp_uid);
	}
	task_set_progress(task, 10);
	if ((r = plan_disks(src, cfg, vmsd, snap, p->name, false, &d, &n, err)) < 0)
		goto fail;
	if (mkdir(dir, 0755) < 0) {
		r = errno == EEXIST
			    ? vr_error_set(err, EEXIST, "folder \"[%s] %s\" already exists", ds, p->name)
			    : vr_error_set_errno(err, errno, "cannot create folder \"%s\"", dir);
		goto fail;
	}
	made_dir = true;
	if ((r = storage_check_qemu_reach(h, dir, err)) < 0 ||
	    (r = make_disks(h, p, dir, d, n, task, err)) < 0)
		goto fail;
	task_set_progress(task, 85);
	if (tmp_uid) {
		r = snapshot_delete(h, src, tmp_uid, task, err);
		tmp_uid = 0;
		if (r < 0) {
			vr_error_wrap(err, "cannot delete the temporary snapshot of the source");
			goto fail;
		}
	}
	if ((r = clone_vmx_build(src, svmx, cfg, p, d, n, &nvmx, err)) < 0 ||
	    (r = vmx_save_file(nvmx, vmx_path, err)) < 0)
		goto fail;
	if (p->linked) {
		const char **slots = xcalloc(n + 1, sizeof(*slots));
		const char **files = xcalloc(n + 1, sizeof(*files));
		for (size_t i = 0; i < n; i++) {
			slots[i] = d[i].slot;
			files[i] = d[i].src;
		}
		r = clone_deps_add(src->vmx_path, vmx_get(nvmx, "uuid.bios"), p->name, vmx_path,
				   slots, files, n, err);
		free(slots);
		free(files);
		if (r < 0)
			goto fail;
		recorded = true;
	}
	task_set_progress(task, 90);
	if ((r = inventory_register(h, ds, rel, out, err)) < 0)
		goto fail;
	vm_log(*out, "%s clone of \"%s\" (%s)", p->linked ? "linked" : "full", cfg->display_name,
	       src->vmx_path);
	vm_log(src, "%s clone \"%s\" made on datastore \"%s\"", p->linked ? "linked" : "full",
	       p->name, ds);
	events_add(h->events, EVENT_INFO, (*out)->id, "VmCloned",
		   "VM \"%s\" cloned from \"%s\" (%s)", p->name, cfg->display_name,
		   p->linked ? "linked" : "full");
	clone_disks_free(d, n);
	if (p->power_on && (r = power_on_clone(h, *out, task, err)) < 0)
		return vr_error_wrap(err, "clone \"%s\" created, but it could not be powered on",
				     p->name);
	return 0;
fail:
	if (recorded)
		clone_deps_remove(src->vmx_path, vmx_path);
	if (made_dir)
		rm_rf(dir);
	if (tmp_uid) {
		struct vr_error *e = NULL;
		if (snapshot_delete(h, src, tmp_uid, task, &e) < 0) {
			log_warn("VM \"%s\": cannot delete the temporary snapshot %u: %s",
				 src->vmx_path, tmp_uid, vr_error_msg(e));
			vr_error_free(e);
		}
	}
	clone_disks_free(d, n);
	return r;
}

int template_set(struct hostd *h, struct vm *vm, bool on, struct vr_error **err)
{
	pthread_mutex_lock(&vm->lock);
	enum vm_power_state power = vm->power;
	pthread_mutex_unlock(&vm->lock);
	/* A copy: reloading the configuration frees the old one. */
	_cleanup_free_ char *name = xstrdup(vm->cfg ? vm->cfg->display_name : vm->id);
	if (power != VM_POWER_OFF)
		return vr_error_set(err, EBUSY, "VM \"%s\" is %s: only a powered-off VM can be %s",
				    name, vm_power_name(power),
				    on ? "converted to a template" : "converted back to a VM");
	_cleanup_vmx_ struct vmx *vmx = NULL;
	int r = vmx_load_file(vm->vmx_path, &vmx, err);
	if (r < 0)
		return r;
	if (on)
		vmx_set(vmx, "templateVM", "TRUE");
	else
		vmx_remove(vmx, "templateVM");
	if ((r = vmx_save_file(vmx, vm->vmx_path, err)) < 0)
		return r;
	pthread_mutex_lock(&vm->lock);
	r = vm_reload_config(vm, err);
	pthread_mutex_unlock(&vm->lock);
	if (r < 0)
		return r;
	vm_log(vm, on ? "converted to a template" : "converted to a VM");
	events_add(h->events, EVENT_INFO, vm->id, on ? "VmMarkedAsTemplate" : "VmMarkedAsVm",
		   on ? "VM \"%s\" converted to a template" : "template \"%s\" converted to a VM",
		   name);
	return 0;
}
