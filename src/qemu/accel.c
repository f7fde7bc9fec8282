/* SPDX-License-Identifier: Apache-2.0 */
#include "qemu/accel.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/util.h"

enum vm_accel qemu_accel_detect(const char *sysfs_root, const char *dev_kvm, char **reason)
{
	_cleanup_free_ char *pvm = xasprintf("%s/module/kvm_pvm", sysfs_root);
	struct stat st;
	int fd = open(dev_kvm, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		*reason = xasprintf("%s cannot be opened (%s): using software emulation (TCG)",
				    dev_kvm, strerror(errno));
		return VM_ACCEL_TCG;
	}
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	if (version != KVM_API_VERSION) {
		*reason = xasprintf("%s answers KVM API version %d, not %d: using software "
				    "emulation (TCG)",
				    dev_kvm, version, KVM_API_VERSION);
		return VM_ACCEL_TCG;
	}
	/*
	 * PVM (kvm_pvm) runs only PVM-enlightened guest kernels; ordinary
	 * kernels crawl under it and then fail, so it is no use for VMs.
	 */
	if (stat(pvm, &st) == 0) {
		*reason = xasprintf("%s is provided by PVM (kvm_pvm), which runs only "
				    "PVM-enlightened guest kernels: using software emulation (TCG)",
				    dev_kvm);
		return VM_ACCEL_TCG;
	}
	*reason = xasprintf("%s works (API version %d): using KVM", dev_kvm, version);
	return VM_ACCEL_KVM;
}

int qemu_accel_resolve(enum vm_accel vm_setting, enum vm_accel host_setting,
		       enum vm_accel detected, const char *detected_reason, enum vm_accel *out,
		       struct vr_error **err)
{
	enum vm_accel want = vm_setting != VM_ACCEL_AUTO ? vm_setting : host_setting;
	if (want == VM_ACCEL_AUTO) {
		*out = detected;
		return 0;
	}
	if (want == VM_ACCEL_KVM && detected != VM_ACCEL_KVM)
		return vr_error_set(err, ENOTSUP, "KVM was requested but this host cannot use it: %s",
				    detected_reason ? detected_reason : "not available");
	*out = want;
	return 0;
}
