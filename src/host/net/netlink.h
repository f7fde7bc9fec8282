/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_NET_NETLINK_H
#define VIREO_HOST_NET_NETLINK_H

#include <stdbool.h>

struct vr_error;

/*
 * The kernel network datapath library (src/host/net/): bridges, taps,
 * veths, ifbs, VLAN port programs, traffic shaping and link events, all
 * configured over rtnetlink (libmnl) and bpf(2), never by running ip or tc.
 *
 * Every function works in the network namespace of the calling thread at
 * the time the handle was opened.  Failures return a negative errno and fill
 * *err with a message that names the device and the reason, using the
 * kernel's own explanation (netlink extended ack) when it gives one:
 *   cannot add "vt1a2b3c4dn0" to bridge "vsw0": Operation not permitted
 */

/*
 * A request channel to the kernel's rtnetlink.  One handle serves one
 * thread at a time (requests are synchronous: each waits for the kernel's
 * acknowledgement); give each thread its own handle.
 */
struct net_nl;

/* Opens a handle. Returns 0 or -errno. */
int net_nl_open(struct net_nl **out, struct vr_error **err);
/* Closes the handle. Accepts NULL. */
void net_nl_close(struct net_nl *nl);
void net_nl_closep(struct net_nl **nl);
#define _cleanup_net_nl_ __attribute__((cleanup(net_nl_closep)))

/* Linux interface names hold 1..15 bytes. */
#define NET_IFNAME_MAX 15

/*
 * Checks an interface name as the kernel would: 1..15 bytes, not "." or
 * "..", no '/', ':' or white space.  Returns 0 or -EINVAL with a message
 * such as `interface name "x..." is longer than 15 bytes`.
 */
int net_ifname_check(const char *name, struct vr_error **err);

#endif
