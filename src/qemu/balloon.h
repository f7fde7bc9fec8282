/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_BALLOON_H
#define VIREO_QEMU_BALLOON_H

/*
 * Setting a running VM's balloon (QMP `balloon`): the guest gives back
 * memory until its size is the target.  Reading the balloon and the
 * guest's memory statistics is in qemu/stats.h.
 */
#include <stdint.h>

struct qmp;
struct vr_error;

/* The guest's target size in bytes (at least 1 MiB; above its memory means "all of it"). */
int qemu_balloon_set_target(struct qmp *q, uint64_t bytes, int timeout_ms, struct vr_error **err);

#endif
