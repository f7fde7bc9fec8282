/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_NET_VLAN_H
#define VIREO_HOST_NET_VLAN_H

#include "host/net/netlink.h"

struct vr_error;

/*
 * 802.1Q VLANs on VM ports, done by two small BPF programs per port (tc
 * cls_bpf, direct action, on the port's clsact ingress and egress hooks)
 * because this host's kernel has no bridge VLAN filtering and no 8021q:
 *
 *   vid 0 (no VLAN)   from the VM: tagged frames dropped, others pass
 *                     to the VM:   tagged frames dropped, others pass
 *   vid 1..4094 (VST) from the VM: tagged frames dropped, others get tag vid
 *                     to the VM:   only frames tagged vid pass, untagged
 *   vid 4095 (VGT)    no programs: the guest tags itself (trunk)
 *
 * Uplinks get no programs: frames leave on them with their tag.  A frame
 * that passes returns TC_ACT_UNSPEC so that later filters on the hook (the
 * shaping redirect, host/net/shaping.h) still run.
 */
#define NET_VLAN_NONE 0
#define NET_VLAN_TRUNK 4095

/*
 * Applies vid (0..4095) to port ifname, replacing what it had: the programs
 * are swapped in place, so the port is never without filtering while a vid
 * changes.  NET_VLAN_TRUNK removes the programs (as net_vlan_detach()).
 */
int net_vlan_attach(struct net_nl *nl, const char *ifname, unsigned vid, struct vr_error **err);
/* Removes the VLAN programs of ifname (none: no error). */
int net_vlan_detach(struct net_nl *nl, const char *ifname, struct vr_error **err);
/*
 * Reads which vid the programs on ifname implement; NET_VLAN_TRUNK if the
 * port has none.  -EIO if the two hooks disagree (a half-applied change).
 */
int net_vlan_get(struct net_nl *nl, const char *ifname, unsigned *vid, struct vr_error **err);

#endif
