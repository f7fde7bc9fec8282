/* SPDX-License-Identifier: Apache-2.0 */
/* NIC link state over QMP (set_link). */
#include "qemu/nic.h"

#include <jansson.h>
#include <stdio.h>

#include "common/error.h"
#include "qemu/qmp.h"

int qemu_nic_set_link(struct qmp *qmp, unsigned index, bool up, int timeout_ms,
		      struct vr_error **err)
{
	char id[32];
	snprintf(id, sizeof(id), "ethernet%u", index);
	int r = qmp_execute(qmp, "set_link", json_pack("{s:s, s:b}", "name", id, "up", up),
			    timeout_ms, NULL, err);
	if (r < 0)
		vr_error_wrap(err, "cannot set the link of NIC %s %s", id, up ? "up" : "down");
	return r;
}

int qemu_nics_apply_start_connected(struct qmp *qmp, const struct vm_config *cfg,
				    int timeout_ms, struct vr_error **err)
{
	for (size_t i = 0; i < cfg->n_nics; i++) {
		if (cfg->nics[i].start_connected)
			continue;
		int r = qemu_nic_set_link(qmp, cfg->nics[i].index, false, timeout_ms, err);
		if (r < 0) {
			vr_error_wrap(err, "ethernet%u.startConnected is FALSE", cfg->nics[i].index);
			return r;
		}
	}
	return 0;
}
