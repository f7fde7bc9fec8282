/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_NET_TAP_H
#define VIREO_HOST_NET_TAP_H

#include <sys/types.h>

#include "host/net/netlink.h"

struct vr_error;

/*
 * Persistent taps for VM NICs.  hostd creates the tap (as root) and gives
 * it to the VM's QEMU user; QEMU, unprivileged, attaches to it by name with
 * `-netdev tap,ifname=NAME,script=no,downscript=no,vnet_hdr=on`.  The kernel
 * lets a process without CAP_NET_ADMIN attach only if its effective uid is
 * the owner (when one is set) AND it is in the group (when one is set); it
 * must also be able to open /dev/net/tun (mode 0666 on a stock Debian host;
 * 0600 on some hosts, where hostd must pass QEMU an open fd instead).
 */

/*
 * Creates tap name (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), persistent, owned
 * by uid and group gid ((uid_t)-1 / (gid_t)-1: none), down.  -EEXIST with a
 * clear message if any interface of that name exists.
 */
int net_tap_create(const char *name, uid_t uid, gid_t gid, struct vr_error **err);

/*
 * Deletes tap name (also while QEMU still has it open: QEMU's fd then goes
 * dead).  -EINVAL if name is not a tap/tun device, so that a mistyped name
 * never takes down another interface.
 */
int net_tap_delete(struct net_nl *nl, const char *name, struct vr_error **err);

#endif
