/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_RESOURCES_BLKDEV_H
#define VIREO_HOST_RESOURCES_BLKDEV_H

#include <stdbool.h>
#include <stddef.h>

struct vr_error;

/*
 * The block device whose queue schedules a disk file's I/O, so that the
 * caller can tell whether disk shares (BFQ weights) can be enforced.
 *
 * A regular file maps to its filesystem's device (st_dev), a block
 * device node to itself (st_rdev).  A partition maps to its whole disk,
 * which holds the queue.  A loop device is a disk of its own with its
 * own scheduler (its backing file is reported for messages).  Files on
 * filesystems without a block device (tmpfs, overlay, btrfs subvolumes:
 * major 0) are refused with -ENODEV.
 */
struct res_blkdev {
	unsigned major, minor;  /* the whole disk */
	char name[64];          /* "vda", "loop3" */
	char part[64];          /* the partition ("vda1", "loop3p1") or "" */
	char scheduler[32];     /* the active scheduler ("none" if the queue has no choice) */
	char available[160];    /* all offered, space separated */
	bool bfq_available;
	char *loop_backing;     /* a loop device's backing file, or NULL */
};

int res_blkdev_from_path(const char *path, struct res_blkdev *out, struct vr_error **err);
/* sysfs_root NULL: "/sys".  Other roots are for tests. */
int res_blkdev_from_devnum(const char *sysfs_root, unsigned major, unsigned minor,
			   struct res_blkdev *out, struct vr_error **err);
void res_blkdev_clear(struct res_blkdev *d);

/*
 * Parses queue/scheduler text, "none [mq-deadline] kyber bfq": the active
 * one is bracketed.  A single unbracketed word ("none") is the active one.
 */
int res_blk_scheduler_parse(const char *text, char *active, size_t active_len, char *available,
			    size_t available_len, bool *bfq_available);

/*
 * 0 when the device's active scheduler is bfq.  Otherwise -EOPNOTSUPP
 * with a message naming `what` (a disk file), the device, the scheduler
 * in force and what the administrator can do.
 */
int res_blkdev_check_bfq(const struct res_blkdev *d, const char *what, struct vr_error **err);

/* Writes queue/scheduler (an administrator's choice; tests use it on loop devices). */
int res_blkdev_set_scheduler(const char *sysfs_root, const struct res_blkdev *d, const char *scheduler,
			     struct vr_error **err);

#endif
