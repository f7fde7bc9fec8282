/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_NET_SHAPING_H
#define VIREO_HOST_NET_SHAPING_H

#include <stdint.h>

#include "host/net/netlink.h"

struct vr_error;

/*
 * Outbound traffic shaping of a VM NIC, as ESX does it: average bandwidth,
 * peak bandwidth and burst size.  What the VM sends enters the host on the
 * tap's ingress; a u32 match-all filter there (after the VLAN program)
 * redirects it to an ifb device whose root qdisc is a token bucket (tbf):
 * rate = average, bucket = burst size, peak rate = peak (one frame of peak
 * bucket), queue = max(50 ms at the average rate, burst + 4 frames).
 * Frames are counted by their Ethernet length without FCS or VLAN tag.
 */
struct net_shaping {
	uint64_t avg_bps;     /* average bandwidth, bits/s: 8000 .. 10^12 */
	uint64_t peak_bps;    /* peak bandwidth, bits/s: >= avg_bps; 0: same as avg_bps */
	uint64_t burst_bytes; /* burst size: at least one frame, at most 250 s at avg_bps */
};

/* Checks a policy for port MTU mtu; -EINVAL with a message naming the value. */
int net_shaping_check(const struct net_shaping *policy, unsigned mtu, struct vr_error **err);

/*
 * Shapes what enters the host on ifname (the VM's tap) through ifb
 * ifb_name (created if missing, see vnet_ifb_name()).  Applying a new
 * policy replaces the token bucket in place (the bucket starts full).
 */
int net_shaping_set(struct net_nl *nl, const char *ifname, const char *ifb_name,
		    const struct net_shaping *policy, struct vr_error **err);

/*
 * Removes the shaping of ifname: its redirect filter and the ifb.  No error
 * if there is none, or if ifname is already gone (the ifb is still removed).
 */
int net_shaping_clear(struct net_nl *nl, const char *ifname, const char *ifb_name,
		      struct vr_error **err);

/*
 * Reads the policy the kernel applies: returns 1 and fills *out if ifname
 * is shaped through ifb_name, 0 if not.  The kernel keeps rates in bytes/s
 * (avg_bps and peak_bps come back as multiples of 8; peak_bps equals
 * avg_bps when there is no separate peak) and the bucket as time in 64 ns
 * ticks: burst_bytes comes back exact up to about 100 Mbit/s, and within
 * one tick's worth of bytes (avg_bps / 8 * 64 ns) above.
 */
int net_shaping_get(struct net_nl *nl, const char *ifname, const char *ifb_name,
		    struct net_shaping *out, struct vr_error **err);

#endif
