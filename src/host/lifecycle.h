/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_LIFECYCLE_H
#define VIREO_HOST_LIFECYCLE_H

#include <jansson.h>
#include <stdbool.h>

struct hostd;
struct vm;
struct task;
struct vr_error;

/*
 * VM power operations.  Each runs inside a task that holds the VM's
 * claim; every state change is taken from QEMU's answers and events.
 */
int lifecycle_power_on(struct hostd *h, struct vm *vm, struct task *task, struct vr_error **err);
int lifecycle_power_off(struct hostd *h, struct vm *vm, struct task *task,
			struct vr_error **err);
int lifecycle_reset(struct hostd *h, struct vm *vm, struct task *task, struct vr_error **err);
/* Through the guest agent, then ACPI, then power off; each step waits timeout_s. */
int lifecycle_shutdown_guest(struct hostd *h, struct vm *vm, struct task *task, int timeout_s,
			     struct vr_error **err);
/* Through the guest agent, then a hard reset. */
int lifecycle_reboot_guest(struct hostd *h, struct vm *vm, struct task *task, int timeout_s,
			   struct vr_error **err);
/* Saves the VM's state to NAME.vmss and stops QEMU; power on resumes from it. */
int lifecycle_suspend(struct hostd *h, struct vm *vm, struct task *task, struct vr_error **err);
/* Guest information from the agent; never fails because the guest misbehaves. */
json_t *lifecycle_guest_info(struct hostd *h, struct vm *vm);

#endif
