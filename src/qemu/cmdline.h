/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_QEMU_CMDLINE_H
#define VIREO_QEMU_CMDLINE_H

#include <stdbool.h>

#include "common/vmconfig.h"

struct vr_error;

/* Where and how one QEMU process is to run: everything not in the .vmx. */
struct qemu_launch {
	const char *qemu_binary; /* "qemu-system-x86_64" */
	const char *vm_dir;      /* absolute path of the VM folder */
	const char *run_dir;     /* absolute path for sockets and the pid file */
	enum vm_accel accel;     /* resolved: VM_ACCEL_KVM or VM_ACCEL_TCG */
	const char *run_as_user; /* drop to this user after set-up; NULL to stay */
	bool sandbox;            /* QEMU's seccomp sandbox */
	bool start_paused;       /* -S: vCPUs start only on `cont` */
	bool incoming;           /* -incoming defer: state comes from migrate-incoming */
	/* File descriptors of tap devices for bridged NICs, by NIC position; -1 = none. */
	const int *nic_tap_fds;
	unsigned n_nic_tap_fds;
};

/*
 * Translates a VM configuration into QEMU's argument vector.  A pure
 * function of its inputs (golden-file tested).  Returns 0 and a
 * NULL-terminated vector the caller frees with strv_free(), or a
 * negative errno and an error naming the unsupported setting.
 */
int qemu_cmdline_build(const struct vm_config *cfg, const struct qemu_launch *launch,
		       char ***argv_out, struct vr_error **err);

/* Resolves a .vmx file name against the VM folder. Caller frees. */
char *qemu_cmdline_resolve_path(const char *vm_dir, const char *file_name);

#endif
