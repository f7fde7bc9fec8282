/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_STORAGE_IMPORT_H
#define VIREO_HOST_STORAGE_IMPORT_H

/*
 * Running VMware VM folders as they are, and moving them to our formats:
 * checking every disk of a VM before it is registered or powered on
 * (vmdk_check.c) and converting a VM's disks to qcow2 (convert.c).
 * See docs/storage-formats.md.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hostd;
struct task;
struct vm;
struct vm_config;
struct vr_error;

/*
 * Checks one VMDK disk and its parents before QEMU opens it: each
 * descriptor parses (sparse headers checked against their file), is not
 * streamOptimized or seSparse (import formats: they must be converted),
 * names extent files that exist inside the folder `vm_dir` (no symbolic
 * link leading out; a disk outside `vm_dir`, on another datastore, is
 * confined to its own folder instead), of the right sizes; each parent hint names an existing
 * file in the folder whose CID matches the child's parentCID; no loop.
 * `path` is absolute.  Every error names the file at fault.
 *
 * When `files_out` is not NULL it receives every file of the chain
 * (descriptors and extents, absolute, NULL-terminated).
 */
int vmdk_chain_check(const char *vm_dir, const char *path, char ***files_out,
		     struct vr_error **err);

/*
 * Checks every disk of a VM configuration in `vm_dir`: VMDK chains as
 * vmdk_chain_check(), then every chain with qemu_img_chain_get() (formats,
 * loops, sizes), including VMDK images under a qcow2 delta.  When `qemu_user`
 * is not NULL the extent files of VMDK disks are made readable by QEMU's
 * group as storage_grant_qemu() does for the chain files.
 */
int storage_check_vm_disks(struct hostd *h, const char *vm_dir, const struct vm_config *cfg,
			   bool grant, struct vr_error **err);

/* ---- conversion to qcow2 (convert.c) ---- */

/*
 * Converts every disk of a powered-off VM without snapshots to qcow2:
 * `qemu-img convert` of each chain into STEM.qcow2 (STEM-N.qcow2 when that
 * is taken), then the .vmx switched to the new files in one atomic write,
 * then the old files removed.  A failure before the switch removes the new
 * files and leaves the VM as it was; after it, the VM runs on the new set.
 * The caller holds the VM's claim.  Progress goes to `task` (may be NULL).
 * `converted` receives the number of disks converted (0: nothing to do).
 */
int storage_convert_vm_disks(struct hostd *h, struct vm *vm, struct task *task,
			     size_t *converted, struct vr_error **err);

#endif
