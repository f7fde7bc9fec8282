/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_ACCEL_H
#define VIREO_QEMU_ACCEL_H

#include "common/vmconfig.h"

/*
 * Decides whether this host's KVM can run ordinary guests.  Returns
 * VM_ACCEL_KVM or VM_ACCEL_TCG and, in *reason, a sentence saying why
 * (caller frees).  `sysfs_root` and `dev_kvm` are "/sys" and
 * "/dev/kvm" except in tests.
 */
enum vm_accel qemu_accel_detect(const char *sysfs_root, const char *dev_kvm, char **reason);

/*
 * Resolves the accelerator for one VM: the VM's own setting wins, then
 * the host's override, then detection.  Fails when KVM is demanded but
 * the host cannot provide it.
 */
int qemu_accel_resolve(enum vm_accel vm_setting, enum vm_accel host_setting,
		       enum vm_accel detected, const char *detected_reason, enum vm_accel *out,
		       struct vr_error **err);

#endif
