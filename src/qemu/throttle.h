/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_THROTTLE_H
#define VIREO_QEMU_THROTTLE_H

/*
 * QEMU's block I/O throttling (QMP block_set_io_throttle) on a running
 * VM's disk, named by its qdev id ("scsi0-1"): the engine side of a
 * disk's IOPS limit (sched.scsi0:1.throughputCap).
 */
#include <stdint.h>

struct qmp;
struct vr_error;

/* Limits the disk to iops operations per second (reads and writes together); 0 lifts it. */
int qemu_block_set_iops_limit(struct qmp *q, const char *qdev_id, uint64_t iops, int timeout_ms,
			      struct vr_error **err);
/* The current limit (0 = none), from query-block. */
int qemu_block_get_iops_limit(struct qmp *q, const char *qdev_id, uint64_t *iops, int timeout_ms,
			      struct vr_error **err);

#endif
