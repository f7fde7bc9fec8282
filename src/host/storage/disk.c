/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VMs' disks on their datastores: the free space a VM needs to run,
 * the pause when a datastore fills up, listing and growing disks.
 */
#include "host/storage/disk.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "host/events.h"
#include "host/hostd.h"
#include "host/lock.h"
#include "host/runtime.h"
#include "host/tasks.h"
#include "qemu/block.h"
#include "qemu/cmdline.h"
#include "qemu/img.h"
#include "qemu/qmp.h"

#define QEMU_IMG "qemu-img"
/* Disk I/O errors reported to guests are logged at most this often per host. */
#define IO_ERROR_LOG_MS 5000

/* ---- slots ---- */

static void slot_name(const struct vm_disk *d, char out[32])
{
	snprintf(out, 32, "%s%u:%u", vm_disk_bus_name(d->bus), d->controller, d->unit);
}

/* "scsi0:1" -> bus, controller, unit; numbers strictly decimal. */
int disk_slot_parse(const char *slot, enum vm_disk_bus *bus, unsigned *ctrl, unsigned *unit)
{
	static const enum vm_disk_bus buses[] = {VM_DISK_BUS_SCSI, VM_DISK_BUS_SATA,
						 VM_DISK_BUS_NVME, VM_DISK_BUS_IDE};
	for (size_t i = 0; i < ARRAY_SIZE(buses); i++) {
		const char *name = vm_disk_bus_name(buses[i]);
		if (!str_has_prefix(slot, name))
			continue;
		const char *rest = slot + strlen(name);
		const char *colon = strchr(rest, ':');
		if (!colon || colon == rest || colon - rest > 2)
			return -EINVAL;
		char num[3] = {0};
		memcpy(num, rest, (size_t)(colon - rest));
		uint64_t c, u;
		/* One spelling per slot: no leading zeros ("scsi00:01"). */
		if ((num[0] == '0' && num[1]) || (colon[1] == '0' && colon[2]) ||
		    parse_u64(num, 0, 99, &c) < 0 || parse_u64(colon + 1, 0, 99, &u) < 0)
			return -EINVAL;
		*bus = buses[i];
		*ctrl = (unsigned)c;
		*unit = (unsigned)u;
		return 0;
	}
	return -EINVAL;
}

const struct vm_disk *disk_find(struct vm *vm, const char *slot, struct vr_error **err)
{
	enum vm_disk_bus bus;
	unsigned ctrl, unit;
	if (disk_slot_parse(slot, &bus, &ctrl, &unit) < 0) {
		vr_error_set(err, EINVAL,
			     "\"%s\" is not a disk slot such as scsi0:1, sata0:0, nvme0:0 or ide0:1",
			     slot);
		return NULL;
	}
	if (!vm->cfg) {
		vr_error_set(err, EINVAL, "VM \"%s\" has an invalid .vmx: %s", vm->id,
			     vm->invalid_reason ? vm->invalid_reason : "unknown problem");
		return NULL;
	}
	for (size_t i = 0; i < vm->cfg->n_disks; i++) {
		const struct vm_disk *d = &vm->cfg->disks[i];
		if (d->bus == bus && d->controller == ctrl && d->unit == unit)
			return d;
	}
	vr_error_set(err, ENOENT, "VM \"%s\" has no disk in slot %s", vm->cfg->display_name, slot);
	return NULL;
}

/* ---- free space ---- */

int disk_check_space(struct hostd *h, struct vm *vm, struct vr_error **err)
{
	const struct vm_config *cfg = vm->cfg; /* stable: the caller holds the claim */
	for (size_t i = 0; cfg && i < cfg->n_disks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		if (d->device != VM_DISK_DEVICE_DISK)
			continue;
		_cleanup_free_ char *path = qemu_cmdline_resolve_path(vm->dir, d->file_name);
		struct disk_image_info info;
		char slot[32];
		slot_name(d, slot);
		int r = disk_image_info_get(h, path, vm_disk_format_name(d->format), &info, err);
		if (r < 0)
			return vr_error_wrap(err, "disk %s", slot);
		bool thick = disk_image_is_thick(&info);
		uint64_t virt = info.virtual_size, alloc = info.allocated;
		disk_image_info_clear(&info);
		if (thick)
			continue;
		struct statvfs sv;
		if (statvfs(path, &sv) < 0)
			return vr_error_set_errno(err, errno, "cannot read the free space for disk %s (\"%s\")",
						  slot, path);
		uint64_t free_b = (uint64_t)sv.f_bavail * sv.f_frsize;
		uint64_t floor = disk_free_floor((uint64_t)sv.f_blocks * sv.f_frsize);
		if (free_b >= floor)
			continue;
		_cleanup_free_ char *ds = datastore_of_path(h, path, NULL);
		_cleanup_free_ char *where = ds ? xasprintf("datastore \"%s\"", ds)
						: xasprintf("the file system of \"%s\"", path);
		char h_free[32], h_floor[32], h_virt[32], h_alloc[32];
		disk_human_size(free_b, h_free);
		disk_human_size(floor, h_floor);
		disk_human_size(virt, h_virt);
		disk_human_size(alloc, h_alloc);
		return vr_error_set(err, ENOSPC,
				    "%s has %s free, less than the %s it must keep free (1%% of its "
				    "capacity, at least 1 MiB, at most 64 MiB) for disk %s (\"%s\"), "
				    "which grows as the guest writes (%s provisioned, %s allocated); "
				    "free space on the datastore first",
				    where, h_free, h_floor, slot, d->file_name, h_virt, h_alloc);
	}
	return 0;
}

/* ---- the pause when a datastore fills up ---- */

struct io_error {
	struct vm *vm; /* a reference */
	char *node;
	char *reason;
	bool nospace;
};

/* A writable disk of a running VM, copied under its lock. */
struct disk_ref {
	char slot[32];
	char id[QEMU_DISK_ID_MAX];
	char node[64]; /* its node name at power-on */
	char *path;
	char *file_name;
};

static size_t disk_refs_take(struct vm *vm, struct disk_ref **out)
{
	size_t n = 0;
	pthread_mutex_lock(&vm->lock);
	*out = xcalloc(vm->cfg && vm->cfg->n_disks ? vm->cfg->n_disks : 1, sizeof(**out));
	for (size_t i = 0; vm->cfg && i < vm->cfg->n_disks; i++) {
		const struct vm_disk *d = &vm->cfg->disks[i];
		if (d->device != VM_DISK_DEVICE_DISK)
			continue;
		struct disk_ref *r = &(*out)[n++];
		slot_name(d, r->slot);
		qemu_cmdline_disk_id(d, r->id, sizeof(r->id));
		qemu_cmdline_disk_node(d, r->node, sizeof(r->node));
		r->path = qemu_cmdline_resolve_path(vm->dir, d->file_name);
		r->file_name = xstrdup(d->file_name);
	}
	pthread_mutex_unlock(&vm->lock);
	return n;
}

static void disk_refs_free(struct disk_ref *refs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(refs[i].path);
		free(refs[i].file_name);
	}
	free(refs);
}

/*
 * Which disk QEMU's node belongs to: the device whose top node it is (a
 * snapshot puts new nodes on top), else the disk whose node it was at
 * power-on; the only writable disk when neither says.
 */
static size_t disk_of_node(struct vm *vm, const struct disk_ref *refs, size_t n, const char *node)
{
	struct qmp *q = node ? vm_qmp_get(vm) : NULL;
	size_t found = n;
	for (size_t i = 0; q && i < n && found == n; i++) {
		_cleanup_free_ char *top = NULL;
		if (qemu_block_top_node(q, refs[i].id, &top, QMP_TIMEOUT_MS, NULL) == 0 &&
		    strcmp(top, node) == 0)
			found = i;
	}
	if (q)
		vm_qmp_put(vm);
	for (size_t i = 0; node && i < n && found == n; i++)
		if (strcmp(refs[i].node, node) == 0)
			found = i;
	return found == n && n == 1 ? 0 : found;
}

static void io_error_free(struct io_error *e)
{
	vm_unref(e->vm);
	free(e->node);
	free(e->reason);
	free(e);
}

/* Runs on its own thread: QMP cannot be used from the event handler (the loop thread). */
static void *io_error_thread(void *arg)
{
	struct io_error *e = arg;
	struct vm *vm = e->vm;
	struct hostd *h = vm->host;
	struct disk_ref *refs = NULL;
	size_t n = disk_refs_take(vm, &refs);
	size_t k = disk_of_node(vm, refs, n, e->node);
	_cleanup_free_ char *disk = NULL, *where = NULL;
	char h_free[32] = "an unknown amount";
	if (k < n) {
		disk = xasprintf("disk %s (\"%s\")", refs[k].slot, refs[k].file_name);
		_cleanup_free_ char *ds = datastore_of_path(h, refs[k].path, NULL);
		where = ds ? xasprintf("datastore \"%s\"", ds)
			   : xasprintf("the file system of \"%s\"", refs[k].path);
		struct statvfs sv;
		if (statvfs(refs[k].path, &sv) == 0)
			disk_human_size((uint64_t)sv.f_bavail * sv.f_frsize, h_free);
	} else {
		disk = xasprintf("the disk of block node \"%s\"", e->node ? e->node : "?");
		where = xstrdup("its datastore");
	}
	_cleanup_free_ char *why =
		e->nospace ? xasprintf("%s is full: %s could not be written (%s free)", where, disk,
				       h_free)
			   : xasprintf("%s could not be written: %s", disk,
				       e->reason ? e->reason : "I/O error");
	pthread_mutex_lock(&vm->lock);
	/* Cleared meanwhile: the VM was continued or powered off; nothing to report. */
	bool still = vm->paused_reason != NULL;
	if (still) {
		free(vm->paused_reason);
		vm->paused_reason = xstrdup(why);
	}
	pthread_mutex_unlock(&vm->lock);
	if (still) {
		vm_log(vm, "paused by QEMU: %s", why);
		if (e->nospace)
			events_add(h->events, EVENT_ERROR, vm->id, "VmPausedNoSpace",
				   "VM \"%s\" paused: %s is full (%s free) and %s could not be "
				   "written; free space on the datastore, then continue the VM",
				   vm_display_name(vm), where, h_free, disk);
		else
			events_add(h->events, EVENT_ERROR, vm->id, "VmPausedIoError",
				   "VM \"%s\" paused: %s", vm_display_name(vm), why);
	}
	disk_refs_free(refs, n);
	io_error_free(e);
	return NULL;
}

static void io_error_log(struct vm *vm, json_t *data)
{
	static _Atomic uint64_t last_ms;
	uint64_t now = time_mono_ms(), prev = atomic_load(&last_ms);
	if (prev && now - prev < IO_ERROR_LOG_MS)
		return;
	atomic_store(&last_ms, now);
	const char *op = json_string_value(json_object_get(data, "operation"));
	const char *node = json_string_value(json_object_get(data, "node-name"));
	const char *reason = json_string_value(json_object_get(data, "reason"));
	log_warn("VM \"%s\": %s error on block node \"%s\" reported to the guest: %s",
		 vm_display_name(vm), op ? op : "I/O", node ? node : "?", reason ? reason : "?");
}

void disk_on_qmp_event(struct vm *vm, const char *event, json_t *data)
{
	if (strcmp(event, "RESUME") == 0) {
		pthread_mutex_lock(&vm->lock);
		free(vm->paused_reason);
		vm->paused_reason = NULL;
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	if (strcmp(event, "BLOCK_IO_ERROR") != 0)
		return;
	const char *action = json_string_value(json_object_get(data, "action"));
	if (!action || strcmp(action, "stop") != 0) {
		io_error_log(vm, data);
		return;
	}
	bool nospace = json_is_true(json_object_get(data, "nospace"));
	/* Every failed request raises the event; the first one of a pause is reported. */
	pthread_mutex_lock(&vm->lock);
	bool first = vm->paused_reason == NULL;
	if (first)
		vm->paused_reason = xstrdup(nospace ? "a datastore is full" : "a disk write failed");
	pthread_mutex_unlock(&vm->lock);
	if (!first)
		return;
	struct io_error *e = xcalloc(1, sizeof(*e));
	const char *node = json_string_value(json_object_get(data, "node-name"));
	const char *reason = json_string_value(json_object_get(data, "reason"));
	e->vm = vm_ref(vm);
	e->node = node ? xstrdup(node) : NULL;
	e->reason = reason ? xstrdup(reason) : NULL;
	e->nospace = nospace;
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, io_error_thread, e) != 0) {
		log_error("VM \"%s\": cannot start the disk error handler", vm->id);
		io_error_free(e);
	}
	pthread_attr_destroy(&attr);
}

/* ---- listing ---- */

json_t *disk_list_json(struct hostd *h, struct vm *vm, struct vr_error **err)
{
	json_t *a = json_array();
	pthread_mutex_lock(&vm->lock);
	if (!vm->cfg) {
		pthread_mutex_unlock(&vm->lock);
		json_decref(a);
		vr_error_set(err, EINVAL, "VM \"%s\" has an invalid .vmx: %s", vm->id,
			     vm->invalid_reason ? vm->invalid_reason : "unknown problem");
		return NULL;
	}
	char **paths = NULL, **formats = NULL;
	for (size_t i = 0; i < vm->cfg->n_disks; i++) {
		const struct vm_disk *d = &vm->cfg->disks[i];
		char slot[32];
		slot_name(d, slot);
		json_array_append_new(
			a, json_pack("{s:s, s:s, s:s, s:s, s:s}", "slot", slot, "file", d->file_name,
				     "format", vm_disk_format_name(d->format), "mode",
				     vm_disk_mode_name(d->mode), "device",
				     d->device == VM_DISK_DEVICE_CDROM ? "cdrom" : "disk"));
		strv_push_owned(&paths, qemu_cmdline_resolve_path(vm->dir, d->file_name));
		strv_push(&formats, vm_disk_format_name(d->format));
	}
	pthread_mutex_unlock(&vm->lock);
	/* qemu-img runs without the VM's lock held. */
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *o = json_array_get(a, i);
		_cleanup_free_ char *ds = datastore_of_path(h, paths[i], NULL);
		if (ds)
			json_object_set_new(o, "datastore", json_string(ds));
		struct disk_image_info info;
		struct vr_error *e = NULL;
		if (disk_image_info_get(h, paths[i], formats[i], &info, &e) < 0) {
			json_object_set_new(o, "error", json_string(e->msg));
			vr_error_free(e);
			continue;
		}
		json_object_set_new(o, "capacity_bytes", json_integer((json_int_t)info.virtual_size));
		json_object_set_new(o, "allocated_bytes", json_integer((json_int_t)info.allocated));
		json_object_set_new(o, "provisioning",
				    json_string(disk_image_is_thick(&info) ? "thick" : "thin"));
		json_object_set_new(o, "chain_length", json_integer((json_int_t)info.chain_length));
		disk_image_info_clear(&info);
	}
	strv_free(paths);
	strv_free(formats);
	return json_pack("{s:o}", "disks", a);
}

/* ---- growing ---- */

/* The disk in a slot, copied under the VM's lock. */
struct grow_target {
	char slot[32];
	char id[QEMU_DISK_ID_MAX];
	char *path;
	char *file_name;
	const char *format;
	enum vm_power_state power;
	char *vm_name;
};

static void grow_target_clear(struct grow_target *t)
{
	free(t->path);
	free(t->file_name);
	free(t->vm_name);
}

static int grow_target_get(struct hostd *h, struct vm *vm, const char *slot, uint64_t new_size,
			   struct grow_target *t, struct disk_image_info *info,
			   struct vr_error **err)
{
	*t = (struct grow_target){0};
	pthread_mutex_lock(&vm->lock);
	const struct vm_disk *d = disk_find(vm, slot, err);
	if (d) {
		slot_name(d, t->slot);
		qemu_cmdline_disk_id(d, t->id, sizeof(t->id));
		t->path = qemu_cmdline_resolve_path(vm->dir, d->file_name);
		t->file_name = xstrdup(d->file_name);
		t->format = vm_disk_format_name(d->format);
		t->power = vm->power;
		t->vm_name = xstrdup(vm->cfg->display_name);
	}
	bool cdrom = d && d->device == VM_DISK_DEVICE_CDROM;
	bool vmdk = d && d->format == VM_DISK_FORMAT_VMDK;
	pthread_mutex_unlock(&vm->lock);
	if (!d)
		return err && *err ? -(*err)->code : -EINVAL;
	if (cdrom)
		return vr_error_set(err, EINVAL, "%s of VM \"%s\" is a CD-ROM; only disks can grow",
				    t->slot, t->vm_name);
	if (vmdk)
		return vr_error_set(err, EINVAL,
				    "disk %s of VM \"%s\" (\"%s\") is a VMDK; only qcow2 and raw disks "
				    "can grow (convert it to qcow2 first)",
				    t->slot, t->vm_name, t->file_name);
	if (t->power == VM_POWER_SUSPENDED)
		return vr_error_set(err, EBUSY,
				    "VM \"%s\" is suspended and its saved device state has the disk's "
				    "present size: resume it (power on) and grow the disk while it "
				    "runs, or shut it down first",
				    t->vm_name);
	if (new_size == 0 || new_size > QEMU_IMG_MAX_SIZE)
		return vr_error_set(err, ERANGE, "disk size %llu bytes is out of range (1 MiB .. 64 TiB)",
				    (unsigned long long)new_size);
	int r = disk_image_info_get(h, t->path, t->format, info, err);
	if (r < 0)
		return vr_error_wrap(err, "disk %s of VM \"%s\"", t->slot, t->vm_name);
	if (new_size < info->virtual_size) {
		char h_cur[32], h_new[32];
		disk_human_size(info->virtual_size, h_cur);
		disk_human_size(new_size, h_new);
		return vr_error_set(err, EINVAL,
				    "cannot shrink disk %s of VM \"%s\" (\"%s\") from %s to %s: disks "
				    "only grow (shrinking would cut off guest data)",
				    t->slot, t->vm_name, t->file_name, h_cur, h_new);
	}
	return 0;
}

int disk_grow_check(struct hostd *h, struct vm *vm, const char *slot, uint64_t new_size,
		    uint64_t *current, struct vr_error **err)
{
	struct grow_target t;
	struct disk_image_info info = {0};
	int r = grow_target_get(h, vm, slot, new_size, &t, &info, err);
	if (r == 0)
		*current = info.virtual_size;
	disk_image_info_clear(&info);
	grow_target_clear(&t);
	return r;
}

/* Offline: qemu-img resize under the folder's lock, so no host starts the VM meanwhile. */
static int grow_offline(struct hostd *h, struct vm *vm, const struct grow_target *t,
			uint64_t new_size, bool thick, struct vr_error **err)
{
	struct vm_lock_params lp = {
		.host_id = h->host_id,
		.host_name = h->cfg.host_name,
		.renew_ms = h->cfg.lock_renew_ms,
		.lease_ms = h->cfg.lock_lease_ms,
	};
	_cleanup_close_ int lock_fd = -1;
	uint64_t counter;
	int r = vm_lock_acquire(vm->dir, &lp, &lock_fd, &counter, err);
	if (r < 0)
		return r;
	r = qemu_img_resize(QEMU_IMG, t->path, t->format, new_size,
			    thick ? VM_DISK_PROVISIONING_THICK_LAZY : VM_DISK_PROVISIONING_THIN, err);
	struct vr_error *e = NULL;
	if (vm_lock_release_fd(lock_fd, vm->dir, &e) < 0) {
		log_warn("VM \"%s\": %s", t->vm_name, e->msg);
		vr_error_free(e);
	}
	return r;
}

static int grow_online(struct vm *vm, const struct grow_target *t, uint64_t new_size,
		       struct vr_error **err)
{
	struct qmp *q = vm_qmp_get(vm);
	if (!q)
		return vr_error_set(err, ENOTCONN, "VM \"%s\" is no longer running", t->vm_name);
	int r = qemu_block_resize(q, t->id, new_size, QMP_TIMEOUT_MS, err);
	vm_qmp_put(vm);
	return r;
}

int disk_grow(struct hostd *h, struct vm *vm, const char *slot, uint64_t new_size,
	      struct task *task, struct vr_error **err)
{
	struct grow_target t;
	struct disk_image_info info = {0};
	int r = grow_target_get(h, vm, slot, new_size, &t, &info, err);
	uint64_t old_size = info.virtual_size;
	bool thick = disk_image_is_thick(&info);
	disk_image_info_clear(&info);
	if (r < 0)
		goto out;
	bool online = t.power == VM_POWER_ON;
	const char *added = online || !thick ? "thin" : "thick-lazy";
	task_set_progress(task, 10);
	if (new_size > old_size) {
		r = online ? grow_online(vm, &t, new_size, err)
			   : grow_offline(h, vm, &t, new_size, thick, err);
		if (r < 0) {
			vr_error_wrap(err, "cannot grow disk %s of VM \"%s\"", t.slot, t.vm_name);
			goto out;
		}
		char h_old[32], h_new[32];
		disk_human_size(old_size, h_old);
		disk_human_size(new_size, h_new);
		vm_log(vm, "disk %s (%s) grown from %s to %s %s", t.slot, t.file_name, h_old, h_new,
		       online ? "while running" : "while powered off");
		events_add(h->events, EVENT_INFO, vm->id, "VmDiskGrown",
			   "VM \"%s\": disk %s grown from %s to %s%s", t.vm_name, t.slot, h_old,
			   h_new, online ? " while running" : "");
	}
	task_set_result(task, json_pack("{s:s, s:s, s:I, s:I, s:b, s:s}", "slot", t.slot, "file",
					t.file_name, "old_size_bytes", (json_int_t)old_size,
					"new_size_bytes", (json_int_t)new_size, "online", online,
					"added_provisioning", added));
out:
	grow_target_clear(&t);
	return r;
}
