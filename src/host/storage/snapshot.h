/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_STORAGE_SNAPSHOT_H
#define VIREO_HOST_STORAGE_SNAPSHOT_H

/*
 * VM snapshots as vSphere has them: each dependent disk switches to a new
 * qcow2 delta (NAME-00000N.qcow2) whose backing file holds the state at
 * the snapshot; with memory, the VM's state goes to NAME-SnapshotN.vmsn;
 * the tree lives in NAME.vmsd.  All functions run inside a task that
 * holds the VM's claim.
 *
 * Crash safety comes from the order of the steps: new files are created
 * first (orphans at worst), then the .vmx is switched to them (so the VM
 * always opens on a consistent chain), then the .vmsd records the tree.
 * Files no snapshot and no disk refer to are merged or removed by
 * consolidation, which every operation runs last and which can be rerun.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct hostd;
struct task;
struct vm;
struct vr_error;

struct snapshot_params {
	const char *name;        /* display name, required */
	const char *description; /* optional */
	bool memory;             /* with the VM's memory state (running VMs only) */
	bool quiesce;            /* freeze guest file systems through the agent first */
};

int snapshot_take(struct hostd *h, struct vm *vm, const struct snapshot_params *p,
		  struct task *task, struct vr_error **err);
/*
 * Goes back to a snapshot: a running VM is powered off first; the disks
 * get new deltas on the snapshot's files; the state since is discarded;
 * with memory, the VM resumes where it was when the snapshot was taken.
 */
int snapshot_revert(struct hostd *h, struct vm *vm, uint32_t uid, struct task *task,
		    struct vr_error **err);
/* Deletes one snapshot (its data merged into what remains), or all of them (uid 0). */
int snapshot_delete(struct hostd *h, struct vm *vm, uint32_t uid, struct task *task,
		    struct vr_error **err);
/* Merges delta files that no snapshot needs any more; online or offline. */
int snapshot_consolidate(struct hostd *h, struct vm *vm, struct task *task,
			 struct vr_error **err);
/*
 * Checks that the .vmsd, the .vmx and the disk files agree (every file
 * exists, chains are sound, the current snapshot matches the disks, no
 * orphan deltas or memory files); with repair, fixes what can be fixed
 * without losing data.  *report: {"ok": bool, "problems": [...], "repaired": [...]}.
 */
int snapshot_check(struct hostd *h, struct vm *vm, bool repair, json_t **report,
		   struct vr_error **err);

/* The tree as JSON: {"current": uid|null, "snapshots": [nested]}.  NULL with err set. */
json_t *snapshot_tree_json(struct vm *vm, struct vr_error **err);
/* Resolves "uid" or a unique display name. */
int snapshot_find(struct vm *vm, const char *uid_or_name, uint32_t *uid, struct vr_error **err);

/*
 * Makes a disk file readable and writable by QEMU's unprivileged user
 * (group and mode), as QEMU reopens files after dropping privileges
 * (committing into a backing file, opening a new delta).
 */
int storage_grant_qemu(struct hostd *h, const char *path, struct vr_error **err);
/*
 * Before power-on: checks every disk's backing chain (no loop, no missing
 * or mistyped parent, sane sizes) and gives QEMU's user access to its files.
 */
int storage_prepare_disks(struct hostd *h, struct vm *vm, struct vr_error **err);
/*
 * Independent-nonpersistent disks: before power-on, a fresh qcow2 redo
 * file on each (STEM-REDO.qcow2; *redo_out by disk position, NULL for
 * other disks; free each and the array); after power-off they are
 * discarded, so the disk itself never changes.  keep: resuming a
 * suspended VM, whose saved state goes with the existing redo files.
 */
int storage_redo_prepare(struct hostd *h, struct vm *vm, bool keep, char ***redo_out,
			 size_t *n_out, struct vr_error **err);
void storage_redo_discard(struct vm *vm);
/* Whether QEMU's unprivileged user can traverse every folder down to dir (EACCES, explained, if not). */
int storage_check_qemu_reach(struct hostd *h, const char *dir, struct vr_error **err);

#endif
