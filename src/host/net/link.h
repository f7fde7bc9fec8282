/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_NET_LINK_H
#define VIREO_HOST_NET_LINK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "host/net/netlink.h"

struct vr_error;

/*
 * Network interfaces ("links"): bridges, veth pairs, ifbs, and the state of
 * any link.  All names are checked with net_ifname_check() first.  A name
 * that does not exist gives -ENODEV and `no network interface "x"` wrapped
 * in what was being done; creating a name that exists gives -EEXIST.
 */

/* RFC 2863 operational state, as the kernel reports it (IF_OPER_*). */
enum net_operstate {
	NET_OPER_UNKNOWN = 0,
	NET_OPER_NOTPRESENT = 1,
	NET_OPER_DOWN = 2,
	NET_OPER_LOWERLAYERDOWN = 3,
	NET_OPER_TESTING = 4,
	NET_OPER_DORMANT = 5,
	NET_OPER_UP = 6,
};

/* State of a bridge port (BR_STATE_*); only FORWARDING ports pass frames. */
enum net_brport_state {
	NET_BRPORT_DISABLED = 0,
	NET_BRPORT_LISTENING = 1,
	NET_BRPORT_LEARNING = 2,
	NET_BRPORT_FORWARDING = 3,
	NET_BRPORT_BLOCKING = 4,
};

/* "up", "down", "lowerlayerdown", ...; "unknown" for other values. */
const char *net_operstate_name(enum net_operstate s);
/* "disabled", "listening", "learning", "forwarding", "blocking". */
const char *net_brport_state_name(enum net_brport_state s);

/* 64-bit interface counters (IFLA_STATS64). */
struct net_link_stats {
	uint64_t rx_packets, tx_packets;
	uint64_t rx_bytes, tx_bytes;
	uint64_t rx_errors, tx_errors;
	uint64_t rx_dropped, tx_dropped;
};

struct net_link_info {
	char name[NET_IFNAME_MAX + 1];
	int ifindex;
	unsigned flags;		 /* IFF_UP, IFF_RUNNING, IFF_LOWER_UP, ... */
	bool up;		 /* administratively up (IFF_UP) */
	bool carrier;		 /* link detected (IFLA_CARRIER) */
	enum net_operstate operstate;
	unsigned mtu;
	uint8_t mac[6];
	int master;		 /* ifindex of the bridge it is a port of, 0 if none */
	char kind[16];		 /* "bridge", "veth", "tun", "ifb"; "" for hardware */
	int brport_state;	 /* enum net_brport_state if a bridge port, else -1 */
	struct net_link_stats stats;
	/* For kind "tun" (taps): what net_tap_create() set. */
	struct {
		bool tap;	 /* a tap (Ethernet), not a tun (IP) device */
		bool vnet_hdr;	 /* IFF_VNET_HDR */
		bool pi;	 /* packet information header (IFF_NO_PI off) */
		bool persist;	 /* stays when its last file descriptor closes */
		bool multi_queue;
		uid_t owner;	 /* (uid_t)-1 if none */
		gid_t group;	 /* (gid_t)-1 if none */
	} tun;
};

/* Returns the ifindex (> 0) of name, or -ENODEV (`no network interface "x"`). */
int net_link_index(struct net_nl *nl, const char *name, struct vr_error **err);
/* Returns 1 if name exists, 0 if not, or -errno. */
int net_link_exists(struct net_nl *nl, const char *name, struct vr_error **err);
/* Reads the state, counters and kind-specific details of a link. */
int net_link_get(struct net_nl *nl, const char *name, struct net_link_info *out,
		 struct vr_error **err);
/* Reads only the 64-bit counters. */
int net_link_get_stats(struct net_nl *nl, const char *name, struct net_link_stats *out,
		       struct vr_error **err);

/*
 * Creates a bridge, down, with STP off and forwarding delay 0 (ports forward
 * as soon as they are up), default MAC ageing.
 */
int net_bridge_create(struct net_nl *nl, const char *name, struct vr_error **err);
/* Creates a veth pair name <-> peer, both down. */
int net_veth_create(struct net_nl *nl, const char *name, const char *peer,
		    struct vr_error **err);
/* Creates an ifb (intermediate functional block) device, down. */
int net_ifb_create(struct net_nl *nl, const char *name, struct vr_error **err);
/* Deletes a link (for a veth, both ends go). */
int net_link_delete(struct net_nl *nl, const char *name, struct vr_error **err);

/* Sets the link administratively up or down. */
int net_link_set_up(struct net_nl *nl, const char *name, bool up, struct vr_error **err);
/* Sets the MTU (the kernel checks the device's range). */
int net_link_set_mtu(struct net_nl *nl, const char *name, unsigned mtu, struct vr_error **err);
/* Sets the MAC address (must be unicast). */
int net_link_set_mac(struct net_nl *nl, const char *name, const uint8_t mac[6],
		     struct vr_error **err);
/*
 * Makes name a port of bridge master; master NULL detaches name from its
 * bridge (no error if it has none).
 */
int net_link_set_master(struct net_nl *nl, const char *name, const char *master,
			struct vr_error **err);

/*
 * Lists the ports of a bridge: *ports gets a NULL-terminated vector of names
 * (free with strv_free()), in ifindex order.
 */
int net_bridge_list_ports(struct net_nl *nl, const char *bridge, char ***ports,
			  struct vr_error **err);

/*
 * Sets the state of a bridge port (IFLA_PROTINFO/IFLA_BRPORT_STATE) and
 * checks that it holds.  With STP off (net_bridge_create()) the bridge at
 * once turns every enabled port back to forwarding, so only
 * NET_BRPORT_DISABLED (passes nothing either way) and NET_BRPORT_FORWARDING
 * hold; the others give -EOPNOTSUPP.  That is how one uplink of a team is
 * kept forwarding and the standbys out: set the standbys DISABLED.  The
 * kernel refuses any state on a port that is down, and FORWARDING on one
 * without carrier (-ENETDOWN).  The bridge itself re-enables (forwarding) a port whose
 * carrier comes back, so the caller re-applies its choice on link events
 * (host/net/monitor.h).
 */
int net_bridge_port_set_state(struct net_nl *nl, const char *port, enum net_brport_state state,
			      struct vr_error **err);
/* Reads the state of a bridge port; -ENOTCONN if name is not a bridge port. */
int net_bridge_port_get_state(struct net_nl *nl, const char *port, enum net_brport_state *out,
			      struct vr_error **err);

#endif
