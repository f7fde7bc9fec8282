/* SPDX-License-Identifier: Apache-2.0 */
/*
 * .vmx files come from datastores that other hosts and people write: parse
 * arbitrary bytes, turn what parses into a VM configuration and a QEMU
 * command line, and check that formatting and re-parsing is lossless.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "common/vmconfig.h"
#include "common/vmx.h"
#include "qemu/cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmx *vmx = NULL;
	struct vr_error *err = NULL;
	if (vmx_parse((const char *)data, size, "fuzz.vmx", &vmx, &err) < 0) {
		if (!err || !err->msg || !*err->msg)
			abort(); /* every refusal says why */
		vr_error_free(err);
		return 0;
	}
	char *text = vmx_format(vmx);
	struct vmx *again = NULL;
	if (vmx_parse(text, strlen(text), "formatted.vmx", &again, &err) < 0)
		abort(); /* what we write, we must read back */
	for (size_t i = 0; i < vmx->n; i++) {
		const char *v = vmx_get(again, vmx->entries[i].key);
		if (!v || strcmp(v, vmx_get(vmx, vmx->entries[i].key)) != 0)
			abort();
	}
	vmx_free(again);
	free(text);

	struct vm_config *cfg = NULL;
	if (vm_config_from_vmx(vmx, "fuzz.vmx", &cfg, &err) == 0) {
		char *taps[VM_MAX_NICS];
		char names[VM_MAX_NICS][16];
		for (size_t i = 0; i < VM_MAX_NICS; i++) {
			snprintf(names[i], sizeof(names[i]), "vt01234567n%zu", i);
			taps[i] = names[i];
		}
		struct qemu_launch l = {
			.qemu_binary = "qemu-system-x86_64",
			.vm_dir = "/ds/vm",
			.run_dir = "/run/vireo/x",
			.accel = VM_ACCEL_TCG,
			.sandbox = true,
			.start_paused = true,
			.nic_taps = taps,
			.n_nic_taps = VM_MAX_NICS,
		};
		char **argv = NULL;
		if (qemu_cmdline_build(cfg, &l, &argv, &err) == 0)
			strv_free(argv);
		vm_config_free(cfg);
	}
	vr_error_free(err);
	vmx_free(vmx);
	return 0;
}
