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
/* Powers on resuming from a saved state file (a snapshot's .vmsn), which is kept. */
int lifecycle_power_on_state(struct hostd *h, struct vm *vm, struct task *task,
			     const char *state_file, struct vr_error **err);
/*
 * Saves the state of a VM whose vCPUs are stopped to path (written to a
 * temporary file, synced, renamed); the VM stays stopped.
 */
int lifecycle_save_state(struct vm *vm, const char *path, struct task *task,
			 struct vr_error **err);
/* QMP on the VM's connection (args stolen); ENOTCONN when not running. */
int lifecycle_qmp(struct vm *vm, const char *cmd, json_t *args, int timeout_ms, json_t **ret,
		  struct vr_error **err);
/* Hard power off (quit, then SIGKILL), waiting until QEMU is gone. */
void lifecycle_power_off_now(struct vm *vm);
bool lifecycle_is_running(struct vm *vm);
/*
 * Continues a paused VM (QMP cont), e.g. one QEMU paused because its
 * datastore filled up; refused while a datastore of its growing disks is
 * still short of space (storage/disk.h: disk_check_space).
 */
int lifecycle_continue(struct hostd *h, struct vm *vm, struct task *task, struct vr_error **err);
/* Guest information from the agent; never fails because the guest misbehaves. */
json_t *lifecycle_guest_info(struct hostd *h, struct vm *vm);

#endif
