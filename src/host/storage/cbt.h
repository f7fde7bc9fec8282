/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_STORAGE_CBT_H
#define VIREO_HOST_STORAGE_CBT_H

/*
 * Changed-block tracking (vSphere's CBT, QueryChangedDiskAreas) on qcow2
 * persistent dirty bitmaps named "vireo-cbt-<epoch>-<seq>".  A change ID
 * "<disk-id>/<epoch>/<seq>" names the moment bitmap <seq> of <epoch>
 * started recording; the changes since it are the union of the epoch's
 * bitmaps with a sequence >= seq on every image of the disk's chain.  See
 * docs/design.md, "Changed-block tracking".
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hostd;
struct vm;
struct vr_error;

#define CBT_BITMAP_PREFIX "vireo-cbt-"
#define CBT_GRANULARITY 65536u
#define CBT_MAX_DISK_ID 63

struct cbt_change_id {
	char disk[CBT_MAX_DISK_ID + 1];
	uint64_t epoch;
	uint32_t seq;
};

/* "<disk-id>/<epoch hex>/<seq>"; -EINVAL with a message for anything else. */
int cbt_change_id_parse(const char *s, struct cbt_change_id *out, struct vr_error **err);
char *cbt_change_id_format(const char *disk, uint64_t epoch, uint32_t seq);
/* "vireo-cbt-<16 hex>-<seq>": false for any other name. */
bool cbt_bitmap_name_parse(const char *name, uint64_t *epoch, uint32_t *seq);
char *cbt_bitmap_name(uint64_t epoch, uint32_t seq);

struct cbt_extent {
	uint64_t offset;
	uint64_t length;
};

/*
 * Parses `qemu-img map --output=json`: with dirty_bitmap (the map of an
 * NBD export read through x-dirty-bitmap, where QEMU reports dirty areas
 * as "data": false) the dirty areas, else the areas holding data.  The
 * entries must tile [0, disk_size) in order; adjacent extents are joined.
 * *out: caller frees (NULL when n is 0).
 */
int cbt_map_parse(const char *json, size_t len, bool dirty_bitmap, uint64_t disk_size,
		  struct cbt_extent **out, size_t *n_out, struct vr_error **err);

/* Enables or disables tracking on every dependent disk; .vmx ctkEnabled. */
int cbt_set_enabled(struct hostd *h, struct vm *vm, bool enabled, struct vr_error **err);
/*
 * The changes of disk `slot` ("scsi0:0") since `since` ("*" or a change
 * ID): {"change_id", "extents": [{"offset","length"}], "full_copy_needed"}.
 * Powered off with qemu-img and qemu-nbd, running over QMP (block_cbt.h).
 * -EINVAL for a malformed or foreign change ID, -ENOENT for no such disk,
 * -EBUSY when tracking is not enabled on it.
 */
int cbt_changes(struct hostd *h, struct vm *vm, const char *slot, const char *since,
		json_t **out, struct vr_error **err);
/* Snapshot take: puts the disk's recording bitmap on its new delta before it is used. */
int cbt_delta_prepare(struct vm *vm, const char *slot, const char *top, const char *delta,
		      struct vr_error **err);
/* Offline consolidation: carries the bitmaps of `top` into `base` before qemu-img commit. */
int cbt_commit_prepare(const char *top, const char *base, struct vr_error **err);

#endif
