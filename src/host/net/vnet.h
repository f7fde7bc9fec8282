/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_NET_VNET_H
#define VIREO_HOST_NET_VNET_H

#include <stdio.h>

/*
 * Names of the kernel devices hostd creates for a VM's NIC.  Linux
 * interface names hold at most 15 characters: "vt" + the first 8 hex
 * digits of the VM's uuid.bios + "n" + the NIC index (ethernetN) fits.
 * The tap carries the NIC; the ifb ("vs...") shapes what the VM sends.
 * hostd only ever touches devices that carry these prefixes and that
 * its own configuration names.
 */
#define VNET_IFNAME_MAX 16

static inline void vnet_dev_name(const char *prefix, const char *vm_uuid, unsigned nic_index,
				 char buf[VNET_IFNAME_MAX])
{
	char hex[9];
	unsigned n = 0;
	for (const char *p = vm_uuid; *p && n < 8; p++)
		if (*p != '-')
			hex[n++] = *p;
	hex[n] = '\0';
	snprintf(buf, VNET_IFNAME_MAX, "%s%sn%u", prefix, hex, nic_index % 100);
}

/* The tap device of NIC ethernetN of the VM with this uuid.bios. */
static inline void vnet_tap_name(const char *vm_uuid, unsigned nic_index,
				 char buf[VNET_IFNAME_MAX])
{
	vnet_dev_name("vt", vm_uuid, nic_index, buf);
}

/* The ifb device that shapes the NIC's outbound traffic. */
static inline void vnet_ifb_name(const char *vm_uuid, unsigned nic_index,
				 char buf[VNET_IFNAME_MAX])
{
	vnet_dev_name("vs", vm_uuid, nic_index, buf);
}

#endif
