/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_STORAGE_VMSD_H
#define VIREO_HOST_STORAGE_VMSD_H

/*
 * A VM's snapshot tree, kept in VMware's NAME.vmsd (the .vmx syntax).  See
 * docs/storage-formats.md for the keys.  Loading checks the whole file for
 * consistency; the tree operations keep it consistent, so what is saved
 * always loads again.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/vmconfig.h"

struct vr_error;
struct vmx;

/* Format version written as vireo.vmsdVersion; files without it are version 1. */
#define VMSD_VERSION 1
/* VMware's limit of snapshots per VM. */
#define VMSD_MAX_SNAPSHOTS 496
#define VMSD_MAX_DISKS 256
#define VMSD_MAX_NAME VM_SNAPSHOT_MAX_NAME
#define VMSD_MAX_DESCRIPTION VM_SNAPSHOT_MAX_DESCRIPTION
#define VMSD_MAX_UID 2147483647u

enum vmsd_snapshot_type {
	VMSD_SNAPSHOT_DISKS_ONLY = 0,  /* powered off, or disks only */
	VMSD_SNAPSHOT_WITH_MEMORY = 1, /* the .vmsn holds the memory state */
};

struct vmsd_disk {
	char *file_name; /* the disk the VM used when the snapshot was taken */
	char *node;      /* the controller slot, e.g. "scsi0:0" */
};

struct vmsd_snapshot {
	uint32_t uid; /* 1..VMSD_MAX_UID, unique, never reused */
	char *display_name;
	char *description;  /* NULL when absent */
	char *filename;     /* the .vmsn; NULL when absent */
	int64_t create_time_us; /* microseconds since the epoch; 0 when unknown */
	enum vmsd_snapshot_type type;
	struct vmsd_disk *disks;
	size_t n_disks;
	/* Tree links: read them, never write them. */
	struct vmsd_snapshot *parent; /* NULL for a root */
	struct vmsd_snapshot *first_child;
	struct vmsd_snapshot *next_sibling;
	/* Keys "snapshotN.SUFFIX" Vireo does not know, by SUFFIX; kept on save. */
	struct vmx *extra;
};

/* What vmsd_snapshot_add() needs; everything is copied. */
struct vmsd_snapshot_spec {
	const char *display_name; /* required, 1..VMSD_MAX_NAME bytes */
	const char *description;  /* optional */
	const char *filename;     /* optional .vmsn name, inside the VM folder */
	int64_t create_time_us;
	enum vmsd_snapshot_type type;
	const struct vmsd_disk *disks;
	size_t n_disks;
};

struct vmsd;

/* An empty tree. */
struct vmsd *vmsd_new(void);
void vmsd_free(struct vmsd *vmsd);
void vmsd_freep(struct vmsd **vmsd);
#define _cleanup_vmsd_ __attribute__((cleanup(vmsd_freep)))

/*
 * Builds the tree from parsed key/value pairs, or refuses with a message
 * naming `source` and the inconsistency: duplicate uids, an unknown parent,
 * a loop, current or MRU pointing nowhere, counts out of range or not
 * matching the entries, unsafe file names, non-UTF-8 text, a newer format
 * version.
 */
int vmsd_from_vmx(const struct vmx *vmx, const char *source, struct vmsd **out,
		  struct vr_error **err);
/* vmx_parse() + vmsd_from_vmx(); text need not be NUL-terminated. */
int vmsd_parse(const char *text, size_t len, const char *source, struct vmsd **out,
	       struct vr_error **err);
/* Loads path; a missing file gives -ENOENT (callers may treat it as no snapshots). */
int vmsd_load(const char *path, struct vmsd **out, struct vr_error **err);

/* The file text (.vmx syntax); caller frees. */
char *vmsd_format(const struct vmsd *vmsd);
/*
 * Writes path atomically (temporary file, fsync, rename, fsync of the
 * folder) after checking that the text loads again.
 */
int vmsd_save(const struct vmsd *vmsd, const char *path, struct vr_error **err);

/* ---- queries; returned snapshots are owned by the tree ---- */
size_t vmsd_count(const struct vmsd *vmsd);
/* The i-th snapshot in file order, i < vmsd_count(). */
struct vmsd_snapshot *vmsd_at(const struct vmsd *vmsd, size_t i);
/* The snapshot the running state descends from; NULL when none. */
struct vmsd_snapshot *vmsd_current(const struct vmsd *vmsd);
uint32_t vmsd_last_uid(const struct vmsd *vmsd);
/* Most recently used uids, newest first. */
const uint32_t *vmsd_mru(const struct vmsd *vmsd, size_t *n);
struct vmsd_snapshot *vmsd_find_uid(const struct vmsd *vmsd, uint32_t uid);
/*
 * Finds the snapshot with that display name: -ENOENT when none,
 * -ENOTUNIQ when several have it (the message lists their uids).
 */
int vmsd_find_name(const struct vmsd *vmsd, const char *name, struct vmsd_snapshot **out,
		   struct vr_error **err);
/* First child of parent, or the first root when parent is NULL; then ->next_sibling. */
struct vmsd_snapshot *vmsd_first_child(const struct vmsd *vmsd,
				       const struct vmsd_snapshot *parent);

/* ---- changes ---- */
/*
 * Adds a snapshot as a child of the current one (a root when there is
 * none), with uid last_uid + 1, and makes it current and most recent.
 * *out (optional) receives it.
 */
int vmsd_snapshot_add(struct vmsd *vmsd, const struct vmsd_snapshot_spec *spec,
		      struct vmsd_snapshot **out, struct vr_error **err);
/*
 * Removes one snapshot: its children take its place under its parent, and
 * if it was current its parent becomes current.
 */
int vmsd_snapshot_remove(struct vmsd *vmsd, uint32_t uid, struct vr_error **err);
/* Makes uid current (0: none) and most recently used. */
int vmsd_set_current(struct vmsd *vmsd, uint32_t uid, struct vr_error **err);

#endif
