/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_HOTPLUG_H
#define VIREO_QEMU_HOTPLUG_H

/*
 * Adding and removing disks of a running QEMU over QMP (blockdev-add,
 * device_add, device_del, blockdev-del).  Names are those the command line
 * gives (qemu/cmdline.c): file node "file-scsi0-1", format node
 * "drive-scsi0-1", device "scsi0-1" on controller "scsi0", so that a
 * later restart of hostd, a snapshot or a power cycle sees the same names.
 * Only SCSI disks can be hot-plugged: QEMU's AHCI and IDE buses are not
 * hot-pluggable.
 *
 * Removal waits for the guest to release the device: QEMU reports
 * DEVICE_DELETED, which the VM's event handler passes to
 * qemu_hotplug_on_event().
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct qmp;
struct vr_error;

/* Longest wait for the guest to release a removed device. */
#define QEMU_HOTPLUG_DEL_TIMEOUT_MS 30000

/* A SCSI disk to plug in. */
struct qemu_hotplug_disk {
	unsigned controller; /* scsiN */
	unsigned unit;       /* scsi-id */
	const char *path;    /* absolute; QEMU's user must be able to open it read-write */
	const char *format;  /* "qcow2", "raw", "vmdk" */
	/* Through the page cache: its file system refuses O_DIRECT
	 * (qemu_disk_direct_supported()); false: O_DIRECT and native AIO. */
	bool buffered;
};

/*
 * The QEMU type of the device with qdev id `id` ("virtio-scsi-pci" for
 * "scsi0"), from qom-get; -ENOENT naming the device when there is none.
 * *type_out: caller frees.
 */
int qemu_hotplug_device_type(struct qmp *q, const char *id, char **type_out, int timeout_ms,
			     struct vr_error **err);

/*
 * Opens the disk's file (file node, then format node, with the command
 * line's cache options) and adds a scsi-hd on controller scsiN with the
 * command line's error policy.  On failure whatever was added is removed
 * again.
 */
int qemu_hotplug_disk_add(struct qmp *q, const struct qemu_hotplug_disk *d, int timeout_ms,
			  struct vr_error **err);

/*
 * Unplugs the device `id` ("scsi0-1"): device_del, then waits up to
 * del_timeout_ms for DEVICE_DELETED (-ETIMEDOUT, the device still in place
 * as far as QEMU reports, when the guest does not release it), then
 * deletes the block nodes the device used (its whole chain: after a
 * snapshot the top is an overlay node).
 */
int qemu_hotplug_disk_del(struct qmp *q, const char *id, int del_timeout_ms, int timeout_ms,
			  struct vr_error **err);

/*
 * To be called with every QMP event of the connection q (on the loop
 * thread): wakes a qemu_hotplug_disk_del() waiting for that device.
 */
void qemu_hotplug_on_event(struct qmp *q, const char *event, json_t *data);

#endif
