/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_VSWITCH_PRIV_H
#define VIREO_HOST_VSWITCH_PRIV_H

/* Shared by vswitch.c (switches, port groups) and vswitch_ports.c (VM ports). */
#include <stdbool.h>
#include <stddef.h>

#include "host/vswitch.h"

/* A bridged NIC of a running VM. */
struct vm_port {
	struct vm *vm; /* a reference */
	unsigned nic_index;
	char mac[18];
	char *pg;
};

/* The port group of that name and its switch; NULL if none.  Under vnet->lock. */
struct portgroup *vnet_find_pg(struct vnet *n, const char *name, struct vswitch **sw_out);
/* Bridged NICs of running VMs (takes hostd's and each VM's lock; not vnet->lock). */
size_t vnet_running_ports(struct hostd *h, struct vm_port **out);
void vnet_ports_free(struct vm_port *v, size_t n);
/* Whether a running VM uses the port group; *vm_name: which (caller frees). */
bool vnet_pg_in_use(struct hostd *h, const char *pg, char **vm_name);
/* Re-applies the running ports of a port group whose VLAN or shaping changed. Under vnet->lock. */
int vnet_reapply_pg_ports(struct hostd *h, const struct vswitch *sw, const struct portgroup *pg,
			  struct vr_error **err);

#endif
