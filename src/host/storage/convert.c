/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Converting a VM's disks to qcow2 (for VMs registered from VMware folders):
 * copy each chain into a new qcow2 file, switch the .vmx to the new files in
 * one atomic write, then remove the old files.  Until the switch the VM uses
 * its old, complete files; after it, its new, complete ones; a crash leaves
 * at worst unreferenced copies or old files behind, never a VM without disks.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"
#include "host/hostd.h"
#include "host/lock.h"
#include "host/runtime.h"
#include "host/storage/import.h"
#include "host/storage/snapshot_priv.h"
#include "host/storage/vmsd.h"
#include "host/tasks.h"
#include "qemu/img.h"

#define QEMU_IMG "qemu-img"

struct convert_disk {
	char slot[32];     /* "scsi0:0" */
	char *old_name;    /* as in the .vmx */
	char *old_path;    /* absolute */
	const char *format;
	char *new_name;    /* as it will be in the .vmx */
	char *new_path;
	char **old_files;  /* every file of the old chain, absolute */
	bool created;
};

static void convert_disks_free(struct convert_disk *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].old_name);
		free(d[i].old_path);
		free(d[i].new_name);
		free(d[i].new_path);
		strv_free(d[i].old_files);
	}
	free(d);
}

static bool name_taken(const char *path, const struct convert_disk *d, size_t n)
{
	if (access(path, F_OK) == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (d[i].new_path && strcmp(d[i].new_path, path) == 0)
			return true;
	return false;
}

/* STEM.qcow2 next to the old file, else STEM-1.qcow2, STEM-2.qcow2, ... */
static int pick_new_name(struct vm *vm, struct convert_disk *d, const struct convert_disk *all,
			 size_t n, struct vr_error **err)
{
	const char *dot = strrchr(d->old_name, '.');
	const char *slash = strrchr(d->old_name, '/');
	size_t stem_len = dot && (!slash || dot > slash) ? (size_t)(dot - d->old_name)
							 : strlen(d->old_name);
	for (unsigned k = 0; k < 1000; k++) {
		_cleanup_free_ char *name =
			k ? xasprintf("%.*s-%u.qcow2", (int)stem_len, d->old_name, k)
			  : xasprintf("%.*s.qcow2", (int)stem_len, d->old_name);
		_cleanup_free_ char *path = snap_abs(vm, name);
		if (!name_taken(path, all, n)) {
			d->new_name = steal_pointer(&name);
			d->new_path = steal_pointer(&path);
			return 0;
		}
	}
	return vr_error_set(err, EEXIST, "no free name for the qcow2 copy of \"%s\"", d->old_path);
}

struct progress_ctx {
	struct task *task;
	size_t index, n;
};

static int convert_progress(uint64_t done, uint64_t total, void *opaque)
{
	struct progress_ctx *p = opaque;
	uint64_t pct = total ? done * 100 / total : 0;
	if (p->task)
		task_set_progress(p->task, (int)(5 + (p->index * 100 + pct) * 85 / (p->n * 100)));
	return 0;
}

static int check_convertible(struct vm *vm, struct vr_error **err)
{
	pthread_mutex_lock(&vm->lock);
	enum vm_power_state power = vm->power;
	pthread_mutex_unlock(&vm->lock);
	if (power != VM_POWER_OFF)
		return vr_error_set(err, EBUSY,
				    "VM \"%s\" is %s: power it off before converting its disks",
				    vm_display_name(vm), power == VM_POWER_ON ? "powered on" : "suspended");
	_cleanup_(vmsd_freep) struct vmsd *vmsd = NULL;
	int r = snap_vmsd_load(vm, &vmsd, err);
	if (r < 0)
		return r;
	size_t n = vmsd_count(vmsd);
	if (n > 0)
		return vr_error_set(err, EBUSY,
				    "VM \"%s\" has %zu snapshot%s: delete them first (the snapshots "
				    "name the old disk files)",
				    vm_display_name(vm), n, n == 1 ? "" : "s");
	return 0;
}

/* Which disks to convert, with the files their chains are made of. */
static int plan(struct hostd *h, struct vm *vm, struct convert_disk **out, size_t *n_out,
		struct vr_error **err)
{
	const struct vm_config *cfg = vm->cfg; /* stable while we hold the claim */
	if (!cfg)
		return vr_error_set(err, EINVAL, "VM \"%s\" has an invalid configuration: %s",
				    vm->id, vm->invalid_reason ? vm->invalid_reason : "unknown");
	struct convert_disk *d = xcalloc(cfg->n_disks + 1, sizeof(*d));
	size_t n = 0;
	int r = 0;
	for (size_t i = 0; i < cfg->n_disks && r >= 0; i++) {
		const struct vm_disk *k = &cfg->disks[i];
		if (k->device != VM_DISK_DEVICE_DISK || k->format == VM_DISK_FORMAT_QCOW2)
			continue;
		struct convert_disk *c = &d[n++];
		snprintf(c->slot, sizeof(c->slot), "%s%u:%u", vm_disk_bus_name(k->bus),
			 k->controller, k->unit);
		c->old_name = xstrdup(k->file_name);
		c->old_path = snap_abs(vm, k->file_name);
		c->format = vm_disk_format_name(k->format);
		if (k->format == VM_DISK_FORMAT_VMDK) {
			r = vmdk_chain_check(vm->dir, c->old_path, &c->old_files, err);
			if (r < 0)
				break;
		}
		_cleanup_img_chain_ struct qemu_img_chain *chain = NULL;
		r = qemu_img_chain_get(QEMU_IMG, c->old_path, c->format, &chain, err);
		if (r < 0)
			break;
		if (k->format == VM_DISK_FORMAT_RAW) {
			if (chain->n != 1) {
				r = vr_error_set(err, EINVAL, "raw disk \"%s\" has a backing file",
						 c->old_path);
				break;
			}
			strv_push(&c->old_files, c->old_path);
		}
		r = pick_new_name(vm, c, d, n, err);
	}
	(void)h;
	if (r < 0) {
		convert_disks_free(d, n);
		return r;
	}
	*out = d;
	*n_out = n;
	return 0;
}

/* Whether another disk of the (switched) configuration still uses the file. */
static bool still_used(struct vm *vm, const char *path)
{
	bool used = false;
	pthread_mutex_lock(&vm->lock);
	for (size_t i = 0; vm->cfg && i < vm->cfg->n_disks && !used; i++) {
		_cleanup_free_ char *p = snap_abs(vm, vm->cfg->disks[i].file_name);
		used = strcmp(p, path) == 0;
	}
	pthread_mutex_unlock(&vm->lock);
	return used;
}

static int switch_vmx(struct vm *vm, struct convert_disk *d, size_t n, struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = NULL;
	int r = vmx_load_file(vm->vmx_path, &vmx, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char key[64];
		snprintf(key, sizeof(key), "%s.fileName", d[i].slot);
		vmx_set(vmx, key, d[i].new_name);
		snprintf(key, sizeof(key), "%s.vireo.format", d[i].slot);
		vmx_remove(vmx, key);
	}
	r = vmx_save_file(vmx, vm->vmx_path, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vm->lock);
	r = vm_reload_config(vm, err);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

int storage_convert_vm_disks(struct hostd *h, struct vm *vm, struct task *task,
			     size_t *converted, struct vr_error **err)
{
	*converted = 0;
	int r = check_convertible(vm, err);
	if (r < 0)
		return r;
	struct vm_lock_params lp = {
		.host_id = h->host_id,
		.host_name = h->cfg.host_name,
		.renew_ms = h->cfg.lock_renew_ms,
		.lease_ms = h->cfg.lock_lease_ms,
	};
	_cleanup_close_ int lock_fd = -1;
	uint64_t counter;
	r = vm_lock_acquire(vm->dir, &lp, &lock_fd, &counter, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot convert the disks of VM \"%s\"", vm_display_name(vm));
	struct convert_disk *d = NULL;
	size_t n = 0;
	r = plan(h, vm, &d, &n, err);
	if (r < 0) {
		vr_error_wrap(err, "cannot convert the disks of VM \"%s\"", vm_display_name(vm));
		goto out;
	}
	json_t *list = json_array();
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct progress_ctx pc = {.task = task, .index = i, .n = n};
		vm_log(vm, "converting disk %s \"%s\" (%s) to \"%s\"", d[i].slot, d[i].old_name,
		       d[i].format, d[i].new_name);
		r = qemu_img_convert_qcow2(QEMU_IMG, d[i].old_path, d[i].format, d[i].new_path,
					   convert_progress, &pc, err);
		if (r == 0)
			d[i].created = true;
	}
	if (r == 0 && n > 0)
		r = switch_vmx(vm, d, n, err);
	if (r < 0) {
		/* The .vmx still names the old files: the copies are not needed. */
		for (size_t i = 0; i < n; i++)
			if (d[i].created)
				unlink(d[i].new_path);
		json_decref(list);
		vr_error_wrap(err, "converting the disks of VM \"%s\" failed; it keeps its old disks",
			      vm_display_name(vm));
		goto out;
	}
	task_set_progress(task, 92);
	/* Switched: the old files are no longer part of the VM. */
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; d[i].old_files && d[i].old_files[j]; j++) {
			const char *f = d[i].old_files[j];
			if (still_used(vm, f))
				continue;
			if (unlink(f) < 0 && errno != ENOENT)
				log_warn("VM \"%s\": cannot remove the converted file \"%s\": %s",
					 vm_display_name(vm), f, strerror(errno));
		}
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "slot", d[i].slot,
						      "old_file", d[i].old_name, "old_format",
						      d[i].format, "new_file", d[i].new_name));
	}
	fsync_dir_of(vm->vmx_path);
	vm_log(vm, "converted %zu disk%s to qcow2", n, n == 1 ? "" : "s");
	task_set_result(task, json_pack("{s:o}", "disks", list));
	*converted = n;
out:
	convert_disks_free(d, n);
	struct vr_error *e = NULL;
	if (vm_lock_release_fd(lock_fd, vm->dir, &e) < 0) {
		log_warn("VM \"%s\": %s", vm_display_name(vm), e->msg);
		vr_error_free(e);
	}
	lock_fd = -1;
	return r;
}
