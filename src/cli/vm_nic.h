/* SPDX-License-Identifier: Apache-2.0 */
/* NIC options of `vireo vm create` and `vireo vm reconfigure` (cmd_vm_nic.c). */
#ifndef VIREO_CLI_VM_NIC_H
#define VIREO_CLI_VM_NIC_H

#include <jansson.h>
#include <stdbool.h>

struct vr_error;

#define CLI_NIC_SETTINGS "[,model=M][,mac=MAC][,hostfwd=SPEC][,connected=yes|no]"
#define CLI_NIC_SPEC "nat|none|bridged:NETWORK" CLI_NIC_SETTINGS
#define CLI_NIC_SET_SPEC "N:[nat|none|bridged:NETWORK]" CLI_NIC_SETTINGS

/*
 * Parses a --nic / --nic-add SPEC into an API NIC object appended to
 * nics.  Returns 0, or CLI_EXIT_USAGE after printing what is wrong.
 */
int cli_nic_parse(const char *cmd, const char *opt, const char *spec, json_t *nics);

/* The NIC changes of one `vm reconfigure`, applied to the VM's current NICs. */
struct cli_nic_changes {
	json_t *add;	   /* API NIC objects */
	json_t *set;	   /* "N" -> API NIC members to change */
	unsigned remove;   /* bit N: remove ethernetN */
};

void cli_nic_changes_release(struct cli_nic_changes *c);
bool cli_nic_changes_empty(const struct cli_nic_changes *c);
/* --nic-remove N (or ethernetN) and --nic-set N:SETTINGS; 0 or CLI_EXIT_USAGE. */
int cli_nic_remove(const char *cmd, const char *arg, struct cli_nic_changes *c);
int cli_nic_set(const char *cmd, const char *arg, struct cli_nic_changes *c);

/*
 * Builds the "nics" member of a reconfigure request from vm (the VM as
 * GET /api/v1/vms/{id} returns it) and the changes: every NIC that stays
 * by its index with the members to change, new NICs in free slots.
 * Fails (naming the NIC) when a change names a NIC the VM does not have.
 */
int cli_nic_changes_build(const struct cli_nic_changes *c, const json_t *vm, json_t **nics_out,
			  struct vr_error **err);

#endif
