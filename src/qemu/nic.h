/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_NIC_H
#define VIREO_QEMU_NIC_H

#include <stdbool.h>

#include "common/vmconfig.h"

struct qmp;
struct vr_error;

/*
 * The link state of a VM's NICs over QMP.  A NIC is addressed by the QEMU
 * device id that cmdline.c gives it, "ethernetN" after its .vmx slot.
 */

/* Sets the link of NIC ethernet<index> up or down (QMP set_link). */
int qemu_nic_set_link(struct qmp *qmp, unsigned index, bool up, int timeout_ms,
		      struct vr_error **err);

/*
 * Takes down the link of every NIC whose ethernetN.startConnected is
 * FALSE.  Call while QEMU is still paused after start (-S), before
 * `cont`, so the guest never sees those links up.  On failure the error
 * names the NIC.
 */
int qemu_nics_apply_start_connected(struct qmp *qmp, const struct vm_config *cfg,
				    int timeout_ms, struct vr_error **err);

#endif
