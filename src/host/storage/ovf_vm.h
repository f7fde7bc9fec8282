/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_STORAGE_OVF_VM_H
#define VIREO_HOST_STORAGE_OVF_VM_H

/* Exporting a VM to an OVF/OVA package and importing one as a new VM (ovf.h). */

#include <stdbool.h>

struct hostd;
struct task;
struct vm;
struct vr_error;

struct ovf_export_params {
	const char *datastore;
	const char *path; /* relative to the datastore: "exports/web01.ova" or ".../web01.ovf" */
	bool ova;
};

/* Checks an export request without changing anything (4xx before a task starts). */
int ovf_export_check(struct hostd *h, struct vm *vm, const struct ovf_export_params *p,
		     struct vr_error **err);
/*
 * Runs in a task holding the VM's claim; the VM must be powered off.
 * Writes NAME.ovf, NAME.mf, NAME-diskN.vmdk (streamOptimized), in an OVA
 * tarred in that order.  On failure nothing is left.
 */
int ovf_export_vm(struct hostd *h, struct vm *vm, const struct ovf_export_params *p,
		  struct task *task, struct vr_error **err);

struct ovf_import_params {
	const char *datastore;
	const char *source; /* relative to the datastore: an .ova or an .ovf */
	const char *name;   /* the new VM */
};

int ovf_import_check(struct hostd *h, const struct ovf_import_params *p, struct vr_error **err);
/*
 * Reads the package (members confined and bounded), verifies every digest
 * of its manifest, parses the descriptor, converts the disks to qcow2 in
 * the new folder NAME, writes NAME.vmx (new uuid.bios and MACs) and
 * registers it.  *out: the new VM, referenced.  On failure nothing is left.
 */
int ovf_import_vm(struct hostd *h, const struct ovf_import_params *p, struct task *task,
		  struct vm **out, struct vr_error **err);

#endif
