/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel side of virtual switches (vswitch_dp.h): bridges, uplink
 * teaming, VM ports with their VLAN and shaping, link events.
 *
 * Teaming: only the active uplink is a port of the bridge; standbys stay
 * up but outside it, so two uplinks can never forward at once (a loop
 * on the physical network).  When the active one loses carrier, the
 * first standby with carrier takes its place.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "common/util.h"
#include "host/net/link.h"
#include "host/net/monitor.h"
#include "host/net/netlink.h"
#include "host/net/shaping.h"
#include "host/net/tap.h"
#include "host/net/vlan.h"
#include "host/vswitch_dp.h"

struct vnet_dp {
	struct net_nl *nl;
	struct net_monitor *mon;
};

void vnet_bridge_name(const char *switch_name, char buf[16])
{
	snprintf(buf, 16, "vb-%s", switch_name);
}

struct vnet_dp *vnet_dp_open(struct vr_error **err)
{
	struct vnet_dp *dp = xcalloc(1, sizeof(*dp));
	if (net_nl_open(&dp->nl, err) < 0) {
		free(dp);
		vr_error_wrap(err, "network: cannot open netlink");
		return NULL;
	}
	return dp;
}

void vnet_dp_close(struct vnet_dp *dp)
{
	if (!dp)
		return;
	net_monitor_close(dp->mon);
	net_nl_close(dp->nl);
	free(dp);
}

bool vnet_dp_link_exists(struct vnet_dp *dp, const char *ifname)
{
	struct vr_error *e = NULL;
	int r = net_link_exists(dp->nl, ifname, &e);
	vr_error_free(e);
	return r == 1;
}

int vnet_dp_uplink_check(struct vnet_dp *dp, const char *ifname, const char *switch_name,
			 struct vr_error **err)
{
	struct net_link_info li;
	int r = net_link_get(dp->nl, ifname, &li, err);
	if (r < 0)
		return vr_error_wrap(err, "uplink \"%s\"", ifname);
	if (strcmp(li.kind, "bridge") == 0 || strcmp(li.kind, "tun") == 0 ||
	    strcmp(li.kind, "ifb") == 0)
		return vr_error_set(err, EINVAL, "\"%s\" is a %s, not an interface that can be an uplink",
				    ifname, li.kind);
	if (li.master > 0) {
		char master[IF_NAMESIZE] = "";
		if_indextoname((unsigned)li.master, master);
		char ours[16];
		vnet_bridge_name(switch_name, ours);
		if (strcmp(master, ours) != 0)
			return vr_error_set(err, EBUSY,
					    "\"%s\" is already a port of \"%s\"; hostd takes only free "
					    "interfaces as uplinks",
					    ifname, master[0] ? master : "another device");
	}
	return 0;
}

/* The ifindex of the bridge a link is a port of (0 none), or -errno when it does not exist. */
static int master_of(struct vnet_dp *dp, const char *ifname, struct net_link_info *li)
{
	struct vr_error *e = NULL;
	int r = net_link_get(dp->nl, ifname, li, &e);
	vr_error_free(e);
	return r < 0 ? r : li->master;
}

int vnet_dp_switch_apply(struct vnet_dp *dp, struct vswitch *sw, char *const *released,
			 size_t n_released, struct vr_error **err)
{
	char br[16];
	vnet_bridge_name(sw->name, br);
	int r = net_link_exists(dp->nl, br, err);
	if (r < 0)
		return r;
	if (r == 0 && (r = net_bridge_create(dp->nl, br, err)) < 0)
		return r;
	int br_index = net_link_index(dp->nl, br, err);
	if (br_index < 0)
		return br_index;
	if ((r = net_link_set_mtu(dp->nl, br, sw->mtu, err)) < 0 ||
	    (r = net_link_set_up(dp->nl, br, true, err)) < 0)
		return vr_error_wrap(err, "switch \"%s\"", sw->name);

	for (size_t i = 0; i < n_released; i++) {
		struct net_link_info li;
		if (master_of(dp, released[i], &li) == br_index &&
		    (r = net_link_set_master(dp->nl, released[i], NULL, err)) < 0)
			return vr_error_wrap(err, "switch \"%s\": releasing uplink \"%s\"", sw->name,
					     released[i]);
	}

	/* Which uplink forwards: the first, in the team's order, with carrier. */
	const char *active = NULL, *fallback = NULL;
	for (size_t i = 0; i < sw->n_uplinks; i++) {
		struct net_link_info li;
		if (master_of(dp, sw->uplinks[i], &li) < 0)
			continue; /* gone: reported in the switch's state */
		if (!li.up) {
			/* Up, so that its carrier can be seen. */
			struct vr_error *e = NULL;
			if (net_link_set_up(dp->nl, sw->uplinks[i], true, &e) < 0) {
				log_warn("switch \"%s\": uplink \"%s\": %s", sw->name, sw->uplinks[i],
					 e->msg);
				vr_error_free(e);
			}
			net_link_get(dp->nl, sw->uplinks[i], &li, NULL);
		}
		if (!fallback)
			fallback = sw->uplinks[i];
		if (!active && li.carrier)
			active = sw->uplinks[i];
	}
	const char *port = active ? active : fallback;
	for (size_t i = 0; i < sw->n_uplinks; i++) {
		struct net_link_info li;
		int m = master_of(dp, sw->uplinks[i], &li);
		if (m < 0)
			continue;
		bool want = port && strcmp(sw->uplinks[i], port) == 0;
		if (want && m != br_index) {
			if (li.mtu != sw->mtu)
				net_link_set_mtu(dp->nl, sw->uplinks[i], sw->mtu, NULL);
			r = net_link_set_master(dp->nl, sw->uplinks[i], br, err);
		} else if (!want && m == br_index) {
			r = net_link_set_master(dp->nl, sw->uplinks[i], NULL, err);
		}
		if (r < 0)
			return vr_error_wrap(err, "switch \"%s\": uplink \"%s\"", sw->name,
					     sw->uplinks[i]);
	}
	free(sw->active_uplink);
	sw->active_uplink = active ? xstrdup(active) : NULL;
	return 0;
}

int vnet_dp_switch_remove(struct vnet_dp *dp, const struct vswitch *sw, struct vr_error **err)
{
	char br[16];
	vnet_bridge_name(sw->name, br);
	int br_index = net_link_index(dp->nl, br, NULL);
	for (size_t i = 0; br_index > 0 && i < sw->n_uplinks; i++) {
		struct net_link_info li;
		if (master_of(dp, sw->uplinks[i], &li) == br_index) {
			int r = net_link_set_master(dp->nl, sw->uplinks[i], NULL, err);
			if (r < 0)
				return r;
		}
	}
	if (br_index > 0)
		return net_link_delete(dp->nl, br, err);
	return 0;
}

int vnet_dp_port_apply(struct vnet_dp *dp, const struct vswitch *sw, const struct portgroup *pg,
		       const char *tap, const char *ifb, bool create, uid_t uid, gid_t gid,
		       struct vr_error **err)
{
	char br[16];
	vnet_bridge_name(sw->name, br);
	int r;
	if (create && (r = net_tap_create(tap, uid, gid, err)) < 0)
		return r;
	r = net_link_set_mtu(dp->nl, tap, sw->mtu, err);
	if (r == 0)
		r = net_link_set_master(dp->nl, tap, br, err);
	if (r == 0)
		r = net_vlan_attach(dp->nl, tap, pg->vlan, err);
	if (r == 0 && pg->shaping.enabled) {
		struct net_shaping s = {
			.avg_bps = pg->shaping.average_kbps * 1000,
			.peak_bps = pg->shaping.peak_kbps * 1000,
			.burst_bytes = pg->shaping.burst_kib * 1024,
		};
		r = net_shaping_set(dp->nl, tap, ifb, &s, err);
	} else if (r == 0) {
		r = net_shaping_clear(dp->nl, tap, ifb, err);
	}
	if (r == 0)
		r = net_link_set_up(dp->nl, tap, true, err);
	if (r < 0 && create)
		vnet_dp_port_remove(dp, tap, ifb);
	return r;
}

void vnet_dp_port_remove(struct vnet_dp *dp, const char *tap, const char *ifb)
{
	struct vr_error *e = NULL;
	if (net_shaping_clear(dp->nl, tap, ifb, &e) < 0) {
		log_warn("network: %s", e->msg);
		vr_error_free(e);
		e = NULL;
	}
	if (vnet_dp_link_exists(dp, tap) && net_tap_delete(dp->nl, tap, &e) < 0) {
		log_warn("network: %s", e->msg);
		vr_error_free(e);
	}
}

json_t *vnet_dp_uplinks_json(struct vnet_dp *dp, const struct vswitch *sw)
{
	json_t *a = json_array();
	for (size_t i = 0; i < sw->n_uplinks; i++) {
		struct net_link_info li;
		struct vr_error *e = NULL;
		if (net_link_get(dp->nl, sw->uplinks[i], &li, &e) < 0) {
			json_array_append_new(a, json_pack("{s:s, s:b, s:b, s:b, s:s}", "name",
							   sw->uplinks[i], "present", false,
							   "carrier", false, "forwarding", false,
							   "error", e->msg));
			vr_error_free(e);
			continue;
		}
		bool fwd = sw->active_uplink && strcmp(sw->active_uplink, sw->uplinks[i]) == 0;
		json_array_append_new(a, json_pack("{s:s, s:b, s:b, s:b}", "name", sw->uplinks[i],
						   "present", true, "carrier", li.carrier,
						   "forwarding", fwd));
	}
	return a;
}

int vnet_dp_monitor_open(struct vnet_dp *dp, struct vr_error **err)
{
	int r = net_monitor_open(&dp->mon, err);
	if (r < 0)
		return r;
	return net_monitor_fd(dp->mon);
}

/* Only links that are not our own bridges and ports can be uplinks. */
static void on_link(const struct net_link_event *ev, void *opaque)
{
	bool *changed = opaque;
	if (strncmp(ev->ifname, "vb-", 3) != 0 && strncmp(ev->ifname, "vt", 2) != 0 &&
	    strncmp(ev->ifname, "vs", 2) != 0)
		*changed = true;
}

bool vnet_dp_monitor_read(struct vnet_dp *dp, int fd)
{
	bool changed = false;
	struct vr_error *e = NULL;
	(void)fd;
	if (net_monitor_dispatch(dp->mon, on_link, &changed, &e) < 0) {
		log_warn("network: link events: %s", e->msg);
		vr_error_free(e);
	}
	return changed;
}
