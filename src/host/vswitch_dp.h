/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_VSWITCH_DP_H
#define VIREO_HOST_VSWITCH_DP_H

/*
 * The kernel side of virtual switches (vswitch_dp.c), on top of the
 * netlink primitives in host/net/.  The model (vswitch.c) decides; this
 * file makes the kernel match.  Called with vnet->lock held.
 */
#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "host/vswitch.h"

struct vnet_dp;
struct vr_error;

struct vnet_dp *vnet_dp_open(struct vr_error **err);
void vnet_dp_close(struct vnet_dp *dp);

/* The bridge "vb-NAME" of a switch. */
void vnet_bridge_name(const char *switch_name, char buf[16]);

/*
 * Makes the switch's bridge exist, up, with its MTU, its uplinks
 * enslaved, exactly one of them forwarding (the first with carrier) and
 * uplinks no longer in `released` let go.  Sets sw->active_uplink.
 */
int vnet_dp_switch_apply(struct vnet_dp *dp, struct vswitch *sw, char *const *released,
			 size_t n_released, struct vr_error **err);
/* Lets the uplinks go and deletes the bridge. */
int vnet_dp_switch_remove(struct vnet_dp *dp, const struct vswitch *sw, struct vr_error **err);
/* Checks that an interface may become an uplink (exists, not ours, not enslaved elsewhere). */
int vnet_dp_uplink_check(struct vnet_dp *dp, const char *ifname, const char *switch_name,
			 struct vr_error **err);

/*
 * A VM port: creates the tap (owned by uid/gid so QEMU can open it by
 * name) when `create`, puts it on the switch's bridge, and applies the
 * port group's VLAN and shaping.  On failure, a tap it created is removed.
 */
int vnet_dp_port_apply(struct vnet_dp *dp, const struct vswitch *sw, const struct portgroup *pg,
		       const char *tap, const char *ifb, bool create, uid_t uid, gid_t gid,
		       struct vr_error **err);
void vnet_dp_port_remove(struct vnet_dp *dp, const char *tap, const char *ifb);
bool vnet_dp_link_exists(struct vnet_dp *dp, const char *ifname);
/* {"name", "carrier", "forwarding"} of each uplink. */
json_t *vnet_dp_uplinks_json(struct vnet_dp *dp, const struct vswitch *sw);

/* Link-event socket for the main loop, and its handler: true if any link changed. */
int vnet_dp_monitor_open(struct vnet_dp *dp, struct vr_error **err);
bool vnet_dp_monitor_read(struct vnet_dp *dp, int fd);

#endif
