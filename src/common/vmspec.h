/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_COMMON_VMSPEC_H
#define VIREO_COMMON_VMSPEC_H

/*
 * The bodies of the VM requests of hostd's REST API (create, power,
 * snapshot, NICs, resources): their checks and their translation into
 * .vmx keys.  Nothing here needs a host, so vireo-center runs the very
 * same checks on a body before it starts a task that forwards the body
 * to a host, and refuses it with 400 exactly where the host would.
 * What depends on the host (its datastores, the MACs of its other VMs,
 * free space, the VM's state) stays in hostd.
 */

#include <jansson.h>

struct vm_config;
struct vmx;
struct vr_error;

/* Largest disk of a create request: 64 TiB. */
#define VMSPEC_MAX_DISK_MIB (64ll * 1024 * 1024)
/* How long shutdown and reboot wait for the guest unless told. */
#define VMSPEC_POWER_TIMEOUT_DEFAULT_S 60

/*
 * POST /vms/{id}/power/{op}: an optional body {"timeout_s": 1..3600}.
 * body may be NULL; *timeout_s gets the value or the default.
 */
int vmspec_power_check(const json_t *body, int *timeout_s, struct vr_error **err);

/*
 * POST /vms/{id}/snapshots: {"name" (one line of UTF-8), "description",
 * "memory", "quiesce"}.  A missing body (NULL) is refused.
 */
int vmspec_snapshot_check(const json_t *body, struct vr_error **err);

/*
 * POST /vms: the .vmx a create request describes, checked by the
 * neutral parser (vm_config_from_vmx(); *cfg gets its result unless cfg
 * is NULL) and for duplicate MACs.  The
 * disks' files do not exist yet: each disk's size and provisioning wait
 * in `scsi0:N.vireo.sizeMiB` and `scsi0:N.vireo.provisioning` for
 * whoever creates them.  NICs without a MAC get generated ones; a
 * relative or absolute boot path is only checked for its form (whether
 * it lies on a datastore is the host's question).
 */
int vmspec_create_to_vmx(const json_t *spec, struct vmx **out, struct vm_config **cfg,
			 struct vr_error **err);

/*
 * A create request as vireo-center receives it: the host's part (spec,
 * as vmspec_create_to_vmx() takes it) and the "resources" the new VM
 * then gets by the host's PATCH (NULL: none), checked against the VM
 * the request makes.  Nothing the host would accept is refused.
 */
int vmspec_create_check(const json_t *spec, const json_t *resources, struct vr_error **err);

/* The "boot" member of create and reconfigure: {"kernel", "initrd", "cmdline"}. */
int vmspec_boot_to_vmx(struct vmx *vmx, const json_t *boot, struct vr_error **err);

/*
 * Writes the `nics` array of a create or reconfigure request into vmx as
 * ethernetN keys (vmspec_nic.c).  old is the current .vmx of a VM
 * being reconfigured, NULL for a new VM.  Without "index" members the
 * list replaces the NICs in slots 0, 1, ..., each keeping the generated
 * MAC its slot had; with an index on every NIC, a NIC whose slot exists
 * is changed in place (members not given keep their values) and the
 * others are new.  Slots not listed lose their NIC.  Each error names the
 * NIC, the member and the reason.
 */
int vmspec_nics_to_vmx(struct vmx *vmx, const struct vmx *old, const json_t *nics,
		       struct vr_error **err);
/* Refuses two NICs with the same MAC address. */
int vmspec_check_nics(const struct vm_config *cfg, struct vr_error **err);

/*
 * A VM's "resources" (vmspec_resources.c): {"cpu": {"shares",
 * "reservation_mhz", "limit_mhz", "affinity"}, "memory": {"shares",
 * "reservation_mib", "limit_mib"}, "disks": {"scsi0:0": {"shares",
 * "iops_limit"}}}.
 */
json_t *vmspec_resources_json(const struct vm_config *cfg);
/* Writes a "resources" change into a .vmx (the parser then checks the whole). */
int vmspec_resources_to_vmx(struct vmx *vmx, const json_t *resources, struct vr_error **err);

#endif
