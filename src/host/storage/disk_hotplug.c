/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Adding disks to a VM and removing them, powered off or while it runs
 * (SCSI hot-plug through qemu/hotplug.c).  The order keeps every step
 * undoable: the file is created, then the .vmx lists it, then QEMU opens
 * it; a failure undoes what was done.  Removal is the reverse: QEMU lets
 * go of the disk first, then the .vmx forgets it, then the file goes (only
 * when asked and when no snapshot needs it).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/runtime.h"
#include "host/storage/disk.h"
#include "host/storage/snapshot.h"
#include "host/storage/snapshot_priv.h"
#include "host/storage/vmsd.h"
#include "host/tasks.h"
#include "qemu/cmdline.h"
#include "qemu/hotplug.h"
#include "qemu/img.h"
#include "qemu/qmp.h"

#define QEMU_IMG "qemu-img"

/* What adding a disk will do, worked out (and checked) before anything changes. */
struct add_plan {
	char slot[32];
	enum vm_disk_bus bus;
	unsigned ctrl, unit;
	char *file_name; /* as the .vmx will say */
	char *path;      /* absolute */
	const char *format;
	bool create;
	bool running;
	char *vm_name;
	struct vmx *vmx; /* the .vmx with the disk */
};

static void add_plan_clear(struct add_plan *p)
{
	free(p->file_name);
	free(p->path);
	free(p->vm_name);
	vmx_free(p->vmx);
}

static unsigned scsi_max_unit(enum vm_scsi_model m)
{
	return m == VM_SCSI_LSILOGIC ? 6 : m == VM_SCSI_LSISAS1068 ? 7 : 15;
}

static bool slot_used(const struct vm_config *cfg, enum vm_disk_bus bus, unsigned ctrl,
		      unsigned unit)
{
	for (size_t i = 0; i < cfg->n_disks; i++)
		if (cfg->disks[i].bus == bus && cfg->disks[i].controller == ctrl &&
		    cfg->disks[i].unit == unit)
			return true;
	return false;
}

static bool file_used(const struct vm_config *cfg, const char *dir, const char *abs)
{
	_cleanup_free_ char *real = realpath(abs, NULL);
	for (size_t i = 0; i < cfg->n_disks; i++) {
		_cleanup_free_ char *p = qemu_cmdline_resolve_path(dir, cfg->disks[i].file_name);
		_cleanup_free_ char *rp = realpath(p, NULL);
		if (strcmp(p, abs) == 0 || (real && rp && strcmp(real, rp) == 0))
			return true;
	}
	return false;
}

/* The slot: the one asked for, else the first free unit of scsi0. */
static int plan_slot(const struct vm_config *cfg, const struct disk_add_params *p,
		     struct add_plan *pl, struct vr_error **err)
{
	if (p->slot) {
		if (disk_slot_parse(p->slot, &pl->bus, &pl->ctrl, &pl->unit) < 0)
			return vr_error_set(err, EINVAL,
					    "\"%s\" is not a disk slot such as scsi0:1, sata0:0, "
					    "nvme0:0 or ide0:1",
					    p->slot);
	} else {
		pl->bus = VM_DISK_BUS_SCSI;
		pl->ctrl = 0;
		unsigned max = scsi_max_unit(cfg->scsi_model[0]), u;
		for (u = 0; u <= max; u++)
			if (u != 7 && !slot_used(cfg, VM_DISK_BUS_SCSI, 0, u))
				break;
		if (u > max)
			return vr_error_set(err, EBUSY,
					    "controller scsi0 of VM \"%s\" has no free unit; name a slot "
					    "on another controller",
					    cfg->display_name);
		pl->unit = u;
	}
	snprintf(pl->slot, sizeof(pl->slot), "%s%u:%u", vm_disk_bus_name(pl->bus), pl->ctrl,
		 pl->unit);
	if (slot_used(cfg, pl->bus, pl->ctrl, pl->unit))
		return vr_error_set(err, EEXIST, "slot %s of VM \"%s\" already holds a disk",
				    pl->slot, cfg->display_name);
	return 0;
}

/* An existing file: inside the VM folder (relative) or on a datastore (absolute), sound. */
static int plan_existing(struct hostd *h, const char *dir, const struct vm_config *cfg,
			 const struct disk_add_params *p, struct add_plan *pl,
			 struct vr_error **err)
{
	int r = vm_path_validate("file", p->file, true, err);
	if (r < 0)
		return r;
	pl->file_name = xstrdup(p->file);
	pl->path = qemu_cmdline_resolve_path(dir, p->file);
	_cleanup_free_ char *real = realpath(pl->path, NULL);
	if (!real)
		return vr_error_set_errno(err, errno == ENOENT ? ENOENT : errno,
					  "cannot attach \"%s\"", p->file);
	_cleanup_free_ char *ds = datastore_of_path(h, real, NULL);
	if (!ds)
		return vr_error_set(err, EINVAL,
				    "\"%s\" is not on a datastore of this host; disks must lie in the "
				    "VM folder or on a datastore",
				    p->file);
	struct stat st;
	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode))
		return vr_error_set(err, EINVAL, "\"%s\" is not a regular file", p->file);
	if (file_used(cfg, dir, pl->path))
		return vr_error_set(err, EEXIST, "VM \"%s\" already uses \"%s\" as a disk",
				    cfg->display_name, p->file);
	enum vm_disk_format f = vm_disk_format_from_name(p->file);
	if (p->format && vm_disk_format_parse(p->format, &f) < 0)
		return vr_error_set(err, EINVAL, "format \"%s\" is not qcow2, raw or vmdk", p->format);
	pl->format = vm_disk_format_name(f);
	_cleanup_img_chain_ struct qemu_img_chain *chain = NULL;
	r = qemu_img_chain_get(QEMU_IMG, pl->path, pl->format, &chain, err);
	if (r < 0) {
		/* A file that is not a sound image is the request's fault. */
		if (err && *err && (*err)->code != ENOENT)
			(*err)->code = EINVAL;
		return vr_error_wrap(err, "cannot attach \"%s\"", p->file);
	}
	return 0;
}

/* A new file: STEM_N.qcow2 (or .img), the first N free. */
static void plan_new_file(const char *dir, const char *vmx_path, const struct vm_config *cfg,
			  const struct disk_add_params *p, struct add_plan *pl)
{
	const char *base = strrchr(vmx_path, '/');
	_cleanup_free_ char *stem = xstrdup(base ? base + 1 : vmx_path);
	size_t l = strlen(stem);
	if (l > 4 && strcmp(stem + l - 4, ".vmx") == 0)
		stem[l - 4] = '\0';
	pl->format = p->format ? p->format : "qcow2";
	const char *ext = strcmp(pl->format, "raw") == 0 ? "img" : "qcow2";
	for (unsigned n = 1;; n++) {
		free(pl->file_name);
		free(pl->path);
		pl->file_name = xasprintf("%s_%u.%s", stem, n, ext);
		pl->path = xasprintf("%s/%s", dir, pl->file_name);
		if (access(pl->path, F_OK) < 0 && !file_used(cfg, dir, pl->path))
			break;
	}
	pl->create = true;
}

/* The controller the running QEMU has for the slot, a SCSI one. */
static int plan_controller_online(struct vm *vm, struct add_plan *pl, struct vr_error **err)
{
	struct qmp *q = vm_qmp_get(vm);
	if (!q)
		return vr_error_set(err, EBUSY, "VM \"%s\" is no longer running", pl->vm_name);
	char id[16];
	snprintf(id, sizeof(id), "scsi%u", pl->ctrl);
	_cleanup_free_ char *type = NULL;
	int r = qemu_hotplug_device_type(q, id, &type, QMP_TIMEOUT_MS, err);
	vm_qmp_put(vm);
	if (r == -ENOENT) {
		vr_error_free(*err);
		*err = NULL;
		return vr_error_set(err, EBUSY,
				    "VM \"%s\" runs without SCSI controller %s (a controller is created "
				    "at power-on only when it has a disk): add the disk on a controller "
				    "that has one, or power the VM off first",
				    pl->vm_name, id);
	}
	return r;
}

static int add_check(struct hostd *h, struct vm *vm, const struct disk_add_params *p,
		   struct add_plan *pl, struct vr_error **err)
{
	*pl = (struct add_plan){0};
	if ((p->file != NULL) == (p->size != 0))
		return vr_error_set(err, EINVAL, "give either size_mib (a new disk) or file (an "
						 "existing one)");
	if (p->format && strcmp(p->format, "qcow2") != 0 && strcmp(p->format, "raw") != 0 &&
	    (!p->file || strcmp(p->format, "vmdk") != 0))
		return vr_error_set(err, EINVAL, "format \"%s\" is not qcow2 or raw", p->format);
	if (p->file && p->provisioning_set)
		return vr_error_set(err, EINVAL, "provisioning applies to new disks, not to \"%s\"",
				    p->file);
	if (p->size > QEMU_IMG_MAX_SIZE)
		return vr_error_set(err, ERANGE, "size_mib %llu is out of range (1 .. %llu)",
				    (unsigned long long)(p->size >> 20),
				    (unsigned long long)(QEMU_IMG_MAX_SIZE >> 20));
	pthread_mutex_lock(&vm->lock);
	if (!vm->cfg) {
		pthread_mutex_unlock(&vm->lock);
		return vr_error_set(err, EINVAL, "VM \"%s\" has an invalid .vmx: %s", vm->id,
				    vm->invalid_reason ? vm->invalid_reason : "unknown problem");
	}
	_cleanup_vm_config_ struct vm_config *cfg = NULL;
	struct vr_error *e = NULL;
	int r = vm_config_from_vmx(vm->vmx, vm->vmx_path, &cfg, &e);
	enum vm_power_state power = vm->power;
	_cleanup_free_ char *dir = xstrdup(vm->dir), *vmx_path = xstrdup(vm->vmx_path);
	pl->vm_name = xstrdup(vm->cfg->display_name);
	pthread_mutex_unlock(&vm->lock);
	if (r < 0) {
		*err = e;
		return r;
	}
	pl->running = power == VM_POWER_ON;
	if (power == VM_POWER_SUSPENDED)
		return vr_error_set(err, EBUSY,
				    "VM \"%s\" is suspended and its saved device state has no such "
				    "disk: power it on or off first",
				    pl->vm_name);
	r = plan_slot(cfg, p, pl, err);
	if (r < 0)
		return r;
	if (pl->running && pl->bus != VM_DISK_BUS_SCSI)
		return vr_error_set(err, EBUSY,
				    "%s disks cannot be added while VM \"%s\" runs (only SCSI "
				    "controllers support hot-plug): use a scsi slot, or power the VM "
				    "off first",
				    vm_disk_bus_name(pl->bus), pl->vm_name);
	if (pl->running && p->mode == VM_DISK_MODE_INDEPENDENT_NONPERSISTENT)
		return vr_error_set(err, EBUSY,
				    "an independent-nonpersistent disk gets its redo file at power-on: "
				    "power VM \"%s\" off to add one",
				    pl->vm_name);
	if (p->file)
		r = plan_existing(h, dir, cfg, p, pl, err);
	else
		plan_new_file(dir, vmx_path, cfg, p, pl);
	if (r < 0)
		return r;
	struct statvfs sv;
	if (pl->create && p->provisioning != VM_DISK_PROVISIONING_THIN && statvfs(dir, &sv) == 0 &&
	    (uint64_t)sv.f_bavail * sv.f_frsize < p->size) {
		char h_free[32], h_size[32];
		disk_human_size((uint64_t)sv.f_bavail * sv.f_frsize, h_free);
		disk_human_size(p->size, h_size);
		return vr_error_set(err, ENOSPC,
				    "a %s %s disk does not fit in the %s free on the datastore of VM "
				    "\"%s\"",
				    h_size, vm_disk_provisioning_name(p->provisioning), h_free,
				    pl->vm_name);
	}

	r = vmx_load_file(vmx_path, &pl->vmx, err);
	if (r < 0)
		return r;
	char key[64];
	const char *bn = vm_disk_bus_name(pl->bus);
	snprintf(key, sizeof(key), "%s%u.present", bn, pl->ctrl);
	if (pl->bus != VM_DISK_BUS_IDE && !vmx_get_bool(pl->vmx, key, false)) {
		vmx_set(pl->vmx, key, "TRUE");
		if (pl->bus == VM_DISK_BUS_SCSI) {
			snprintf(key, sizeof(key), "scsi%u.virtualDev", pl->ctrl);
			if (!vmx_get(pl->vmx, key))
				vmx_set(pl->vmx, key, "virtio-scsi");
		}
	}
	snprintf(key, sizeof(key), "%s.present", pl->slot);
	vmx_set(pl->vmx, key, "TRUE");
	snprintf(key, sizeof(key), "%s.fileName", pl->slot);
	vmx_set(pl->vmx, key, pl->file_name);
	snprintf(key, sizeof(key), "%s.deviceType", pl->slot);
	vmx_remove(pl->vmx, key);
	snprintf(key, sizeof(key), "%s.vireo.format", pl->slot);
	vmx_remove(pl->vmx, key);
	if (strcmp(vm_disk_format_name(vm_disk_format_from_name(pl->file_name)), pl->format) != 0)
		vmx_set(pl->vmx, key, pl->format);
	snprintf(key, sizeof(key), "%s.mode", pl->slot);
	vmx_remove(pl->vmx, key);
	if (p->mode != VM_DISK_MODE_PERSISTENT)
		vmx_set(pl->vmx, key, vm_disk_mode_name(p->mode));
	/* The neutral parser judges the result (slot ranges, controller models). */
	_cleanup_vm_config_ struct vm_config *ncfg = NULL;
	r = vm_config_from_vmx(pl->vmx, pl->slot, &ncfg, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot add a disk in slot %s", pl->slot);
	if (pl->running)
		return plan_controller_online(vm, pl, err);
	return 0;
}

int disk_add_validate(struct hostd *h, struct vm *vm, const struct disk_add_params *p,
		      struct vr_error **err)
{
	struct add_plan pl;
	int r = add_check(h, vm, p, &pl, err);
	add_plan_clear(&pl);
	return r;
}

struct add_progress {
	struct task *task;
};

static int add_progress(uint64_t done, uint64_t total, void *opaque)
{
	struct add_progress *ap = opaque;
	task_set_progress(ap->task, (int)(10 + (total ? 70 * done / total : 70)));
	return 0;
}

static int vmx_write(struct vm *vm, const struct vmx *vmx, struct vr_error **err)
{
	int r = vmx_save_file(vmx, vm->vmx_path, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vm->lock);
	r = vm_reload_config(vm, err);
	pthread_mutex_unlock(&vm->lock);
	return r;
}

/* QEMU opens the disk (and its backing files) as its unprivileged user. */
static int grant_chain(struct hostd *h, const struct add_plan *pl, struct vr_error **err)
{
	struct disk_image_info info;
	int r = disk_image_info_get(h, pl->path, pl->format, &info, err);
	if (r < 0)
		return r;
	for (size_t i = 0; r == 0 && info.chain_files && info.chain_files[i]; i++)
		r = storage_grant_qemu(h, info.chain_files[i], err);
	disk_image_info_clear(&info);
	return r;
}

int disk_add(struct hostd *h, struct vm *vm, const struct disk_add_params *p,
	     struct task *task, struct vr_error **err)
{
	struct add_plan pl;
	_cleanup_vmx_ struct vmx *old = NULL;
	bool created = false, listed = false;
	int r = add_check(h, vm, p, &pl, err);
	if (r < 0)
		goto out;
	r = vmx_load_file(vm->vmx_path, &old, err);
	if (r < 0)
		goto out;
	task_set_progress(task, 10);
	if (pl.create) {
		struct add_progress ap = {.task = task};
		struct qemu_img_create_opts opts = {
			.path = pl.path,
			.format = pl.format,
			.size = p->size,
			.provisioning = p->provisioning,
			.progress = add_progress,
			.opaque = &ap,
		};
		r = qemu_img_create_disk(QEMU_IMG, &opts, err);
		if (r < 0)
			goto out;
		created = true;
	}
	task_set_progress(task, 80);
	if (pl.running) {
		r = grant_chain(h, &pl, err);
		if (r < 0)
			goto out;
	}
	r = vmx_write(vm, pl.vmx, err);
	if (r < 0)
		goto out;
	listed = true;
	if (pl.running) {
		struct qmp *q = vm_qmp_get(vm);
		if (!q) {
			r = vr_error_set(err, EBUSY, "VM \"%s\" stopped running", pl.vm_name);
			goto out;
		}
		struct qemu_hotplug_disk d = {.controller = pl.ctrl,
					      .unit = pl.unit,
					      .path = pl.path,
					      .format = pl.format,
					      .buffered = !qemu_disk_direct_supported(pl.path)};
		r = qemu_hotplug_disk_add(q, &d, QMP_TIMEOUT_MS, err);
		vm_qmp_put(vm);
		if (r < 0)
			goto out;
	}
	vm_log(vm, "disk %s (%s) added%s", pl.slot, pl.file_name, pl.running ? " while running" : "");
	events_add(h->events, EVENT_INFO, vm->id, "VmDiskAdded", "VM \"%s\": disk %s (\"%s\") added%s",
		   pl.vm_name, pl.slot, pl.file_name, pl.running ? " while running" : "");
	task_set_result(task, json_pack("{s:s, s:s, s:s, s:b, s:b}", "slot", pl.slot, "file",
					pl.file_name, "format", pl.format, "created", pl.create,
					"online", pl.running));
out:
	if (r < 0) {
		struct vr_error *e = NULL;
		if (listed && vmx_write(vm, old, &e) < 0) {
			log_error("VM \"%s\": cannot take disk %s out of the .vmx again: %s", vm->id,
				  pl.slot, e->msg);
			vr_error_free(e);
		} else if (created) {
			unlink(pl.path);
		}
		vr_error_wrap(err, "cannot add a disk to VM \"%s\"", pl.vm_name ? pl.vm_name : vm->id);
	}
	add_plan_clear(&pl);
	return r;
}

/* ---- removal ---- */

struct remove_plan {
	char slot[32];
	char id[QEMU_DISK_ID_MAX];
	enum vm_disk_bus bus;
	enum vm_disk_mode mode;
	char *file_name;
	char *path;
	const char *format;
	bool running;
	char *vm_name;
};

static void remove_plan_clear(struct remove_plan *p)
{
	free(p->file_name);
	free(p->path);
	free(p->vm_name);
}

static int remove_check(struct vm *vm, const char *slot, struct remove_plan *pl,
			struct vr_error **err)
{
	*pl = (struct remove_plan){0};
	pthread_mutex_lock(&vm->lock);
	const struct vm_disk *d = disk_find(vm, slot, err);
	if (d) {
		snprintf(pl->slot, sizeof(pl->slot), "%s%u:%u", vm_disk_bus_name(d->bus),
			 d->controller, d->unit);
		qemu_cmdline_disk_id(d, pl->id, sizeof(pl->id));
		pl->bus = d->bus;
		pl->mode = d->mode;
		pl->file_name = xstrdup(d->file_name);
		pl->path = qemu_cmdline_resolve_path(vm->dir, d->file_name);
		pl->format = vm_disk_format_name(d->format);
		pl->vm_name = xstrdup(vm->cfg->display_name);
	}
	enum vm_power_state power = vm->power;
	bool cdrom = d && d->device == VM_DISK_DEVICE_CDROM;
	pthread_mutex_unlock(&vm->lock);
	if (!d)
		return err && *err ? -(*err)->code : -EINVAL;
	pl->running = power == VM_POWER_ON;
	if (power == VM_POWER_SUSPENDED)
		return vr_error_set(err, EBUSY,
				    "VM \"%s\" is suspended and its saved device state has disk %s: "
				    "power it on or off first",
				    pl->vm_name, pl->slot);
	if (pl->running && (pl->bus != VM_DISK_BUS_SCSI || cdrom))
		return vr_error_set(err, EBUSY,
				    "%s %s cannot be removed while VM \"%s\" runs (only SCSI disks "
				    "support hot-removal): power the VM off first",
				    cdrom ? "CD-ROM" : "disk", pl->slot, pl->vm_name);
	if (pl->running && pl->mode == VM_DISK_MODE_INDEPENDENT_NONPERSISTENT)
		return vr_error_set(err, EBUSY,
				    "independent-nonpersistent disk %s runs on a redo file made at "
				    "power-on: power VM \"%s\" off to remove it",
				    pl->slot, pl->vm_name);
	/* Snapshots need the disk: reverting to them would bring it back. */
	_cleanup_vmsd_ struct vmsd *vmsd = NULL;
	int r = snap_vmsd_load(vm, &vmsd, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < vmsd_count(vmsd); i++) {
		const struct vmsd_snapshot *s = vmsd_at(vmsd, i);
		for (size_t j = 0; j < s->n_disks; j++)
			if (s->disks[j].node && strcmp(s->disks[j].node, pl->slot) == 0)
				return vr_error_set(err, EBUSY,
						    "snapshot \"%s\" of VM \"%s\" includes disk %s: "
						    "delete the snapshots that include it first",
						    s->display_name, pl->vm_name, pl->slot);
	}
	return 0;
}

int disk_remove_validate(struct vm *vm, const char *slot, struct vr_error **err)
{
	struct remove_plan pl;
	int r = remove_check(vm, slot, &pl, err);
	remove_plan_clear(&pl);
	return r;
}

/*
 * Deletes the disk's files that lie in the VM folder and that nothing else
 * uses; how many.
 */
static size_t remove_files(struct hostd *h, struct vm *vm, const struct remove_plan *pl)
{
	char **files = NULL;
	struct disk_image_info info;
	struct vr_error *e = NULL;
	if (disk_image_info_get(h, pl->path, pl->format, &info, &e) == 0) {
		for (size_t i = 0; info.chain_files && info.chain_files[i]; i++)
			strv_push(&files, info.chain_files[i]);
		disk_image_info_clear(&info);
	} else {
		log_warn("VM \"%s\": %s", vm->id, e->msg);
		vr_error_free(e);
		strv_push(&files, pl->path);
	}
	size_t dl = strlen(vm->dir), n = 0;
	for (size_t i = 0; files && files[i]; i++) {
		if (strncmp(files[i], vm->dir, dl) != 0 || files[i][dl] != '/' ||
		    snap_file_referenced(vm, NULL, files[i]))
			continue;
		if (unlink(files[i]) < 0)
			log_warn("VM \"%s\": cannot delete \"%s\": %s", vm->id, files[i],
				 strerror(errno));
		else
			n++;
	}
	strv_free(files);
	return n;
}

static int vmx_forget_slot(struct vm *vm, const char *slot, struct vr_error **err)
{
	_cleanup_vmx_ struct vmx *vmx = NULL;
	int r = vmx_load_file(vm->vmx_path, &vmx, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *prefix = xasprintf("%s.", slot);
	vmx_remove_prefix(vmx, prefix);
	return vmx_write(vm, vmx, err);
}

int disk_remove(struct hostd *h, struct vm *vm, const char *slot, bool delete_file,
		struct task *task, struct vr_error **err)
{
	struct remove_plan pl;
	int r = remove_check(vm, slot, &pl, err);
	if (r < 0)
		goto out;
	task_set_progress(task, 10);
	if (pl.running) {
		struct qmp *q = vm_qmp_get(vm);
		if (!q) {
			r = vr_error_set(err, EBUSY, "VM \"%s\" stopped running", pl.vm_name);
			goto out;
		}
		r = qemu_hotplug_disk_del(q, pl.id, QEMU_HOTPLUG_DEL_TIMEOUT_MS, QMP_TIMEOUT_MS, err);
		vm_qmp_put(vm);
		if (r < 0)
			goto out;
	}
	task_set_progress(task, 60);
	r = vmx_forget_slot(vm, pl.slot, err);
	if (r < 0) {
		if (pl.running)
			log_error("VM \"%s\": disk %s was unplugged but the .vmx still lists it", vm->id,
				  pl.slot);
		goto out;
	}
	size_t deleted = delete_file ? remove_files(h, vm, &pl) : 0;
	vm_log(vm, "disk %s (%s) removed%s%s", pl.slot, pl.file_name,
	       pl.running ? " while running" : "", deleted ? ", file deleted" : "");
	events_add(h->events, EVENT_INFO, vm->id, "VmDiskRemoved",
		   "VM \"%s\": disk %s (\"%s\") removed%s%s", pl.vm_name, pl.slot, pl.file_name,
		   pl.running ? " while running" : "", deleted ? ", its file deleted" : "");
	task_set_result(task, json_pack("{s:s, s:s, s:b, s:i}", "slot", pl.slot, "file",
					pl.file_name, "online", pl.running, "files_deleted",
					(int)deleted));
out:
	if (r < 0)
		vr_error_wrap(err, "cannot remove disk %s of VM \"%s\"", pl.slot[0] ? pl.slot : slot,
			      pl.vm_name ? pl.vm_name : vm->id);
	remove_plan_clear(&pl);
	return r;
}
