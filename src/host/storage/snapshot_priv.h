/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by snapshot.c and consolidate.c. */
#ifndef VIREO_HOST_STORAGE_SNAPSHOT_PRIV_H
#define VIREO_HOST_STORAGE_SNAPSHOT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/vmconfig.h"

struct hostd;
struct vm;
struct vmsd;
struct vr_error;

/* A disk that snapshots include (dependent mode). */
struct snap_disk {
	char slot[24]; /* "scsi0:0", as in the .vmx and .vmsd */
	char qdev[24]; /* "scsi0-0", QEMU's device id */
	char *file;    /* .vmx fileName */
	char *path;    /* absolute */
	enum vm_disk_format format;
};

int snap_disks(struct vm *vm, struct snap_disk **out, size_t *n_out, struct vr_error **err);
void snap_disks_free(struct snap_disk *d, size_t n);
char *snap_vmsd_path(struct vm *vm);
/* NAME-SnapshotUID.vmx: the VM's configuration when the snapshot was taken. */
char *snap_config_path(struct vm *vm, uint32_t uid);
/* A missing .vmsd is an empty tree. */
int snap_vmsd_load(struct vm *vm, struct vmsd **out, struct vr_error **err);
int snap_vmsd_save(struct vm *vm, const struct vmsd *vmsd, struct vr_error **err);
char *snap_abs(struct vm *vm, const char *file_name);
char *snap_rel(struct vm *vm, const char *abs_path);
/* Creates NAME-00000N.qcow2 on backing_abs, accessible to QEMU's user. */
int snap_delta_create(struct hostd *h, struct vm *vm, const struct snap_disk *d,
		      const char *backing_abs, enum vm_disk_format backing_fmt, char **out_abs,
		      struct vr_error **err);
/* Sets SLOT.fileName for each disk in the .vmx (atomically) and reloads the VM's config. */
int snap_vmx_set_disks(struct vm *vm, const char *const *slots, const char *const *files,
		       size_t n, struct vr_error **err);
/*
 * Whether a snapshot (of vmsd; loaded when NULL) or a disk of the .vmx
 * names the file, or some such file's backing chain contains it.
 */
bool snap_file_referenced(struct vm *vm, const struct vmsd *vmsd, const char *abs_path);
/* Removes a delta nothing needs (a leaf of the disk tree). */
void snap_remove_leaf(struct vm *vm, const char *abs_path);

#endif
