/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_CMDLINE_H
#define VIREO_QEMU_CMDLINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/vmconfig.h"

struct vr_error;

/* Where and how one QEMU process is to run: everything not in the .vmx. */
struct qemu_launch {
	const char *qemu_binary; /* "qemu-system-x86_64" */
	const char *vm_dir;      /* absolute path of the VM folder */
	const char *run_dir;     /* absolute path for sockets and the pid file */
	enum vm_accel accel;     /* resolved: VM_ACCEL_KVM or VM_ACCEL_TCG */
	const char *run_as_user; /* drop to this user after set-up; NULL to stay */
	bool sandbox;            /* QEMU's seccomp sandbox */
	bool start_paused;       /* -S: vCPUs start only on `cont` */
	bool incoming;           /* -incoming defer: state comes from migrate-incoming */
	/*
	 * Tap devices of bridged NICs, by NIC position (NULL = none): hostd
	 * creates them persistent and owned by run_as_user, so that QEMU
	 * opens them by name without privilege.
	 */
	char *const *nic_taps;
	size_t n_nic_taps;
	/*
	 * Redo files of independent-nonpersistent disks, by disk position
	 * (absolute qcow2 paths on the disk; NULL for other disks).
	 */
	char *const *disk_redo;
	size_t n_disk_redo;
	/*
	 * Disks whose file system refuses O_DIRECT, by disk position (true:
	 * open through the page cache; false or missing: cache.direct=on).
	 * hostd fills it with qemu_disk_direct_supported() of the file QEMU
	 * opens (the redo file of a nonpersistent disk).
	 */
	const bool *disk_buffered;
	size_t n_disk_buffered;
};

/*
 * Translates a VM configuration into QEMU's argument vector.  A pure
 * function of its inputs (golden-file tested).  Returns 0 and a
 * NULL-terminated vector the caller frees with strv_free(), or a
 * negative errno and an error naming the unsupported setting.
 */
int qemu_cmdline_build(const struct vm_config *cfg, const struct qemu_launch *launch,
		       char ***argv_out, struct vr_error **err);

/* Room for the qdev id of any disk ("scsi0-1", "sata3-5"), with its NUL. */
#define QEMU_DISK_ID_MAX 32

/*
 * The qdev id the command line gives a disk's device ("scsi0-1" for
 * scsi0:1): how QMP operations on a running VM name the disk.
 */
void qemu_cmdline_disk_id(const struct vm_disk *d, char *buf, size_t len);
/* The node name of the disk's format node at start ("drive-scsi0-1"), until a snapshot adds one on top. */
void qemu_cmdline_disk_node(const struct vm_disk *d, char *buf, size_t len);

/*
 * Whether the file system of `path` lets QEMU open it with O_DIRECT, as
 * cache.direct=on does: opens it so and answers false only when the
 * kernel refuses the flag (EINVAL: tmpfs before Linux 6.6, ramfs, some
 * FUSE file systems).  Any other failure answers true, so that QEMU
 * reports the real reason when it opens the file.  See docs/design.md
 * ("Disk cache mode").
 */
bool qemu_disk_direct_supported(const char *path);
/*
 * The "cache" member of a blockdev-add for a disk node, format or file
 * node alike (a backing file QEMU opens itself inherits it from its
 * parent's format node): {"direct": direct, "no-flush": false}.
 */
json_t *qemu_disk_cache_json(bool direct);
/*
 * The "aio" of a disk's file node: Linux native AIO with O_DIRECT (one
 * submitting thread per VM, as BFQ needs to see a VM's requests in one
 * queue for disk shares to hold; QEMU accepts it only with
 * cache.direct=on), its thread pool otherwise.
 */
const char *qemu_disk_aio(bool direct);

/* Resolves a .vmx file name against the VM folder. Caller frees. */
char *qemu_cmdline_resolve_path(const char *vm_dir, const char *file_name);

#endif
