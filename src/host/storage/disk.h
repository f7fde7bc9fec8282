/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_STORAGE_DISK_H
#define VIREO_HOST_STORAGE_DISK_H

/*
 * The virtual disks of registered VMs as the datastores see them: how much
 * space they take and may take (disk_space.c), what happens when a
 * datastore fills up, and growing a disk (disk.c).
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/vmconfig.h"
#include "qemu/img.h"

struct datastore;
struct hostd;
struct task;
struct vm;
struct vm_disk;
struct vr_error;

/* ---- sizes of disk images (disk_space.c) ---- */

/*
 * What `qemu-img info --backing-chain` says of a disk, remembered per top
 * file until its size or modification time changes, so that listing the
 * datastores does not run qemu-img for every disk every time.
 */
struct disk_size_cache;

struct disk_size_cache *disk_size_cache_new(void);
void disk_size_cache_free(struct disk_size_cache *c);

/* One disk image chain: what the guest sees and what its top file holds. */
struct disk_image_info {
	uint64_t virtual_size;   /* bytes the guest sees */
	uint64_t allocated;      /* bytes the top file takes on its file system */
	size_t chain_length;     /* 1 without snapshots */
	char **chain_files;      /* every file of the chain, top first (NULL-terminated) */
};

void disk_image_info_clear(struct disk_image_info *info);
/*
 * Reads the chain of a disk file (absolute path) in the given format,
 * through the host's cache.  Works while a VM runs (qemu-img -U).
 */
int disk_image_info_get(struct hostd *h, const char *path, const char *format,
			struct disk_image_info *out, struct vr_error **err);
/*
 * Whether the top image holds all the space it can need (thick, or a thin
 * disk already written everywhere): then a full datastore cannot stop it.
 */
bool disk_image_is_thick(const struct disk_image_info *info);

/* Space on one datastore. */
struct datastore_space {
	bool accessible;
	int error;             /* errno of statvfs when not accessible */
	uint64_t capacity;     /* statvfs */
	uint64_t free;         /* statvfs, for unprivileged users (f_bavail) */
	uint64_t provisioned;  /* virtual sizes of the disks whose top image lies on it */
	uint64_t used;         /* allocated bytes of the VMs' files that lie on it */
	unsigned vms;          /* VMs registered on this host whose folder is on it */
};

/*
 * Computes the space of n datastores (out[i] for ds[i]) from statvfs and
 * the VMs registered on this host: each file counts once, on the
 * datastore that holds it.  Takes h->lock only to list the VMs.
 */
void disk_datastores_space(struct hostd *h, const struct datastore *ds, size_t n,
			   struct datastore_space *out);

/* Free space a datastore must keep for disks that grow: 1% of it, between 1 and 64 MiB. */
uint64_t disk_free_floor(uint64_t capacity);

/* "1.5 GiB", "512 bytes" */
void disk_human_size(uint64_t bytes, char out[32]);

/* ---- the VM's disks (disk.c) ---- */

/*
 * Refuses (ENOSPC) when a datastore holding a disk image that still grows
 * as the guest writes (a thin disk, a snapshot delta) has less free space
 * than disk_free_floor(); thick disks already hold their space.  The
 * message names the datastore, its free space, the floor and the disk.
 * Called before powering on and before continuing a paused VM.
 */
int disk_check_space(struct hostd *h, struct vm *vm, struct vr_error **err);

/*
 * QMP events of a running VM that concern its disks, from the VM's event
 * handler (runtime.c) on the loop thread: BLOCK_IO_ERROR with action
 * "stop" (QEMU paused the VM, e.g. on ENOSPC: werror=enospc) records why
 * in vm->paused_reason and reports VmPausedNoSpace naming the datastore,
 * the disk and the free space; RESUME forgets the reason.
 */
void disk_on_qmp_event(struct vm *vm, const char *event, json_t *data);

/*
 * The slot "scsi0:1" of a VM's disk: the disk, or NULL with err set
 * (EINVAL for a malformed slot, ENOENT when the VM has no such disk).
 * Call with vm->lock held or the VM's claim.
 */
const struct vm_disk *disk_find(struct vm *vm, const char *slot, struct vr_error **err);

/* The VM's disks with their sizes: {"disks": [...]}; NULL with err set. */
json_t *disk_list_json(struct hostd *h, struct vm *vm, struct vr_error **err);

/*
 * Checks that the disk in `slot` can grow to new_size bytes now: a disk
 * (not a CD-ROM) in qcow2 or raw, not smaller than it is (EINVAL: disks
 * never shrink), the VM powered off or on (not suspended: its saved
 * device state has the old size).  *current gets the size now.
 */
int disk_grow_check(struct hostd *h, struct vm *vm, const char *slot, uint64_t new_size,
		    uint64_t *current, struct vr_error **err);
/*
 * Grows the top image of the disk in `slot` (only the top of a chain is
 * written to; a larger top over smaller backing files is fine): powered
 * off with qemu-img resize (the added space provisioned like the disk:
 * thick disks stay thick), holding the VM folder's lock so that no other
 * host starts the VM meanwhile; running with QMP block_resize, which the
 * guest sees at once (added space is thin).  Runs in a task holding the
 * VM's claim; the same size is a no-op.
 */
int disk_grow(struct hostd *h, struct vm *vm, const char *slot, uint64_t new_size,
	      struct task *task, struct vr_error **err);

/* "scsi0:1" -> bus, controller, unit (decimal, no leading zeros); -EINVAL if malformed. */
int disk_slot_parse(const char *slot, enum vm_disk_bus *bus, unsigned *ctrl, unsigned *unit);

/* ---- adding and removing disks (disk_hotplug.c) ---- */

/* A disk to add: a new one (size) or an existing image (file). */
struct disk_add_params {
	const char *slot;   /* "scsi0:3"; NULL: the first free unit of scsi0 */
	uint64_t size;      /* bytes of a new disk; 0 when attaching a file */
	const char *file;   /* existing image, relative to the VM folder or absolute on a
			     * datastore; NULL for a new disk */
	const char *format; /* NULL: qcow2 for a new disk, from the extension for a file */
	enum vm_disk_provisioning provisioning; /* new disks */
	bool provisioning_set;
	enum vm_disk_mode mode;
};

/*
 * Checks that the disk can be added now, changing nothing: a free and
 * valid slot; while the VM runs only on a SCSI controller the running
 * QEMU has (EBUSY otherwise), never while it is suspended; a new disk's
 * space when thick (ENOSPC); an existing file on a datastore, sound
 * (qemu_img_chain_get) and not used by the VM already.
 */
int disk_add_validate(struct hostd *h, struct vm *vm, const struct disk_add_params *p,
		      struct vr_error **err);
/*
 * Adds the disk (in a task holding the VM's claim): creates the file
 * (progress 10..80 %), lists it in the .vmx (atomically) and, while the VM
 * runs, hot-plugs it (qemu/hotplug.h).  A failure removes the .vmx entry
 * and the created file again.  Result: {slot, file, format, created, online}.
 */
int disk_add(struct hostd *h, struct vm *vm, const struct disk_add_params *p,
	     struct task *task, struct vr_error **err);
/*
 * Checks that the disk in `slot` can be removed now: not while suspended;
 * while running only SCSI disks (not independent-nonpersistent ones); no
 * snapshot includes it (EBUSY naming the snapshot).
 */
int disk_remove_validate(struct vm *vm, const char *slot, struct vr_error **err);
/*
 * Removes the disk: while the VM runs the guest must release it first
 * (ETIMEDOUT after QEMU_HOTPLUG_DEL_TIMEOUT_MS, nothing changed), then the
 * .vmx forgets it; with delete_file, the files of its chain that lie in
 * the VM folder and that nothing else uses are deleted.
 */
int disk_remove(struct hostd *h, struct vm *vm, const char *slot, bool delete_file,
		struct task *task, struct vr_error **err);

#endif
