/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_STORAGE_CLONE_H
#define VIREO_HOST_STORAGE_CLONE_H

/*
 * Clones and templates, as vSphere has them.  A full clone copies every
 * disk's whole chain into one new qcow2 (a running VM's disks are frozen by
 * a temporary snapshot first); a linked clone gets new qcow2 deltas on a
 * snapshot's files in the source's folder, which must then never change:
 * the source records them in NAME.vireo-clones (clone_deps.c), and
 * consolidation never merges into or removes such a file.
 */

#include <stdbool.h>
#include <stddef.h>

struct hostd;
struct task;
struct vm;
struct vr_error;

struct clone_params {
	const char *name;      /* the new VM; required */
	const char *datastore; /* NULL: the source's */
	bool linked;
	const char *snapshot;  /* linked only: uid or name; NULL: the current snapshot */
	bool power_on;
};

/*
 * Whether a new VM `name` can be made in folder NAME on datastore ds: a valid
 * name, a known datastore, no VM of that name, no such folder (clones, OVF import).
 */
int storage_new_vm_check(struct hostd *h, const char *ds, const char *name,
			 struct vr_error **err);

/* Checks a request without changing anything (for 4xx answers before a task starts). */
int clone_check(struct hostd *h, struct vm *src, const struct clone_params *p,
		struct vr_error **err);
/*
 * Runs inside a task holding src's claim.  *out: the new VM, referenced.
 * On failure nothing of the new VM is left (except when only the power-on
 * failed: the clone stays and the error says so).
 */
int clone_vm(struct hostd *h, struct vm *src, const struct clone_params *p, struct task *task,
	     struct vm **out, struct vr_error **err);

/* Marks (templateVM = "TRUE") or unmarks a powered-off VM as a template. */
int template_set(struct hostd *h, struct vm *vm, bool on, struct vr_error **err);

/* ---- linked-clone records: SRCNAME.vireo-clones next to the source's .vmx ---- */

/* The .vmx key of a linked clone that names its source's .vmx (absolute). */
#define CLONE_SOURCE_KEY "vireo.linkedClone.source"

/* Records that the clone's disks are built on files (absolute) of src's disk slots. */
int clone_deps_add(const char *src_vmx, const char *clone_id, const char *clone_name,
		   const char *clone_vmx, const char *const *slots, const char *const *files,
		   size_t n, struct vr_error **err);
/* Drops the records of the clone whose .vmx is clone_vmx from its source's file. */
void clone_deps_remove(const char *src_vmx, const char *clone_vmx);
/* Refuses (EBUSY, naming them) when linked clones depend on src_vmx's files. */
int clone_deps_refuse_delete(const char *src_vmx, struct vr_error **err);
/*
 * Files of slot ("scsi0:0") that linked clones depend on, absolute; a NULL
 * terminated list (caller frees with strv_free), NULL when none.  When the
 * record cannot be read, *unreadable is set (callers keep everything).
 */
char **clone_deps_files(const char *src_vmx, const char *slot, bool *unreadable);

#endif
