/* SPDX-License-Identifier: Apache-2.0 */
/* Links over rtnetlink: create, delete, configure and read bridges, veths, ifbs. */
#include "host/net/link.h"

#include <errno.h>
#include <linux/if.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/veth.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/error.h"
#include "common/util.h"
#include "host/net/net_priv.h"

const char *net_operstate_name(enum net_operstate s)
{
	static const char *const names[] = {
		[NET_OPER_UNKNOWN] = "unknown",	  [NET_OPER_NOTPRESENT] = "notpresent",
		[NET_OPER_DOWN] = "down",	  [NET_OPER_LOWERLAYERDOWN] = "lowerlayerdown",
		[NET_OPER_TESTING] = "testing",	  [NET_OPER_DORMANT] = "dormant",
		[NET_OPER_UP] = "up",
	};
	if ((unsigned)s < ARRAY_SIZE(names))
		return names[s];
	return "unknown";
}

const char *net_brport_state_name(enum net_brport_state s)
{
	static const char *const names[] = {
		[NET_BRPORT_DISABLED] = "disabled",	[NET_BRPORT_LISTENING] = "listening",
		[NET_BRPORT_LEARNING] = "learning",	[NET_BRPORT_FORWARDING] = "forwarding",
		[NET_BRPORT_BLOCKING] = "blocking",
	};
	if ((unsigned)s < ARRAY_SIZE(names))
		return names[s];
	return "unknown";
}

static void copy_str(char *dst, size_t size, const struct nlattr *attr)
{
	if (!attr || mnl_attr_validate(attr, MNL_TYPE_STRING) < 0)
		return;
	size_t n = strnlen(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr));
	if (n >= size)
		n = size - 1;
	memcpy(dst, mnl_attr_get_payload(attr), n);
	dst[n] = '\0';
}

static uint32_t attr_u32(const struct nlattr *attr, uint32_t dflt)
{
	if (!attr || mnl_attr_get_payload_len(attr) < sizeof(uint32_t))
		return dflt;
	return mnl_attr_get_u32(attr);
}

static uint8_t attr_u8(const struct nlattr *attr, uint8_t dflt)
{
	if (!attr || mnl_attr_get_payload_len(attr) < sizeof(uint8_t))
		return dflt;
	return mnl_attr_get_u8(attr);
}

static void parse_linkinfo(const struct nlattr *linkinfo, struct net_link_info *info)
{
	const struct nlattr *li[IFLA_INFO_MAX + 1];
	net_attr_parse_nested(linkinfo, li, IFLA_INFO_MAX);
	copy_str(info->kind, sizeof(info->kind), li[IFLA_INFO_KIND]);
	char slave_kind[16] = "";
	copy_str(slave_kind, sizeof(slave_kind), li[IFLA_INFO_SLAVE_KIND]);
	if (!strcmp(slave_kind, "bridge") && li[IFLA_INFO_SLAVE_DATA]) {
		const struct nlattr *bp[IFLA_BRPORT_MAX + 1];
		net_attr_parse_nested(li[IFLA_INFO_SLAVE_DATA], bp, IFLA_BRPORT_MAX);
		info->brport_state = attr_u8(bp[IFLA_BRPORT_STATE], NET_BRPORT_DISABLED);
	}
	if (!strcmp(info->kind, "tun") && li[IFLA_INFO_DATA]) {
		const struct nlattr *tb[IFLA_TUN_MAX + 1];
		net_attr_parse_nested(li[IFLA_INFO_DATA], tb, IFLA_TUN_MAX);
		info->tun.tap = attr_u8(tb[IFLA_TUN_TYPE], 0) == (IFF_TAP & 0xff);
		info->tun.pi = attr_u8(tb[IFLA_TUN_PI], 0);
		info->tun.vnet_hdr = attr_u8(tb[IFLA_TUN_VNET_HDR], 0);
		info->tun.persist = attr_u8(tb[IFLA_TUN_PERSIST], 0);
		info->tun.multi_queue = attr_u8(tb[IFLA_TUN_MULTI_QUEUE], 0);
		info->tun.owner = attr_u32(tb[IFLA_TUN_OWNER], (uint32_t)-1);
		info->tun.group = attr_u32(tb[IFLA_TUN_GROUP], (uint32_t)-1);
	}
}

void net_link_parse(const struct nlmsghdr *nlh, struct net_link_info *info)
{
	memset(info, 0, sizeof(*info));
	info->brport_state = -1;
	info->tun.owner = (uid_t)-1;
	info->tun.group = (gid_t)-1;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	info->ifindex = ifi->ifi_index;
	info->flags = ifi->ifi_flags;
	info->up = ifi->ifi_flags & IFF_UP;
	const struct nlattr *attr;
	mnl_attr_for_each(attr, nlh, sizeof(*ifi))
	{
		switch (mnl_attr_get_type(attr)) {
		case IFLA_IFNAME:
			copy_str(info->name, sizeof(info->name), attr);
			break;
		case IFLA_MTU:
			info->mtu = attr_u32(attr, 0);
			break;
		case IFLA_ADDRESS:
			if (mnl_attr_get_payload_len(attr) == 6)
				memcpy(info->mac, mnl_attr_get_payload(attr), 6);
			break;
		case IFLA_MASTER:
			info->master = (int)attr_u32(attr, 0);
			break;
		case IFLA_CARRIER:
			info->carrier = attr_u8(attr, 0);
			break;
		case IFLA_OPERSTATE:
			info->operstate = attr_u8(attr, NET_OPER_UNKNOWN);
			break;
		case IFLA_STATS64: {
			struct rtnl_link_stats64 s;
			if (mnl_attr_get_payload_len(attr) < sizeof(s))
				break;
			memcpy(&s, mnl_attr_get_payload(attr), sizeof(s));
			info->stats = (struct net_link_stats){
				.rx_packets = s.rx_packets,
				.tx_packets = s.tx_packets,
				.rx_bytes = s.rx_bytes,
				.tx_bytes = s.tx_bytes,
				.rx_errors = s.rx_errors,
				.tx_errors = s.tx_errors,
				.rx_dropped = s.rx_dropped,
				.tx_dropped = s.tx_dropped,
			};
			break;
		}
		case IFLA_LINKINFO:
			parse_linkinfo(attr, info);
			break;
		}
	}
}

static int link_reply(const struct nlmsghdr *nlh, void *opaque, struct vr_error **err)
{
	if (nlh->nlmsg_type == RTM_NEWLINK)
		net_link_parse(nlh, opaque);
	return 0;
}

/* Reads name; ENODEV without a message (callers phrase it). */
static int link_get(struct net_nl *nl, const char *name, struct net_link_info *out,
		    struct vr_error **err)
{
	int r = net_ifname_check(name, err);
	if (r < 0)
		return r;
	struct nlmsghdr *nlh = net_nl_msg(nl, RTM_GETLINK, 0, sizeof(struct ifinfomsg), NULL);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	out->ifindex = 0;
	_cleanup_error_ struct vr_error *e = NULL;
	r = net_nl_talk(nl, nlh, link_reply, out, &e);
	if (r == -ENODEV || (r == 0 && out->ifindex <= 0))
		return -ENODEV;
	if (r < 0)
		return vr_error_set(err, -r, "cannot read network interface \"%s\": %s", name,
				    vr_error_msg(e));
	return 0;
}

int net_link_index(struct net_nl *nl, const char *name, struct vr_error **err)
{
	return net_nl_ifindex(nl, name, err);
}

int net_link_exists(struct net_nl *nl, const char *name, struct vr_error **err)
{
	struct net_link_info info;
	int r = link_get(nl, name, &info, err);
	if (r == -ENODEV)
		return 0;
	return r < 0 ? r : 1;
}

int net_link_get(struct net_nl *nl, const char *name, struct net_link_info *out,
		 struct vr_error **err)
{
	int r = link_get(nl, name, out, err);
	if (r == -ENODEV)
		return vr_error_set(err, ENODEV, "no network interface \"%s\"", name);
	return r;
}

int net_link_get_stats(struct net_nl *nl, const char *name, struct net_link_stats *out,
		       struct vr_error **err)
{
	struct net_link_info info;
	int r = net_link_get(nl, name, &info, err);
	if (r == 0)
		*out = info.stats;
	return r;
}

/* Sends a link creation request; a taken name gives a clear -EEXIST. */
static int link_create(struct net_nl *nl, struct nlmsghdr *nlh, const char *what,
		       const char *name, struct vr_error **err)
{
	_cleanup_error_ struct vr_error *e = NULL;
	int r = net_nl_talk(nl, nlh, NULL, NULL, &e);
	if (r == -EEXIST)
		return vr_error_set(err, EEXIST,
				    "cannot create %s \"%s\": a network interface of that name "
				    "already exists",
				    what, name);
	if (r < 0)
		return vr_error_set(err, -r, "cannot create %s \"%s\": %s", what, name,
				    vr_error_msg(e));
	return 0;
}

static struct nlmsghdr *new_link_msg(struct net_nl *nl, const char *name, const char *kind,
				     struct nlattr **linkinfo)
{
	struct nlmsghdr *nlh = net_nl_msg(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
					  sizeof(struct ifinfomsg), NULL);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	*linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
	return nlh;
}

int net_bridge_create(struct net_nl *nl, const char *name, struct vr_error **err)
{
	int r = net_ifname_check(name, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot create bridge");
	struct nlattr *linkinfo;
	struct nlmsghdr *nlh = new_link_msg(nl, name, "bridge", &linkinfo);
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u32(nlh, IFLA_BR_STP_STATE, 0);
	mnl_attr_put_u32(nlh, IFLA_BR_FORWARD_DELAY, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return link_create(nl, nlh, "bridge", name, err);
}

int net_veth_create(struct net_nl *nl, const char *name, const char *peer,
		    struct vr_error **err)
{
	int r = net_ifname_check(name, err);
	if (r == 0)
		r = net_ifname_check(peer, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot create veth pair");
	struct nlattr *linkinfo;
	struct nlmsghdr *nlh = new_link_msg(nl, name, "veth", &linkinfo);
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	struct nlattr *peer_info = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	mnl_attr_nest_end(nlh, peer_info);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	_cleanup_free_ char *what = xasprintf("veth pair \"%s\" <->", name);
	return link_create(nl, nlh, what, peer, err);
}

int net_ifb_create(struct net_nl *nl, const char *name, struct vr_error **err)
{
	int r = net_ifname_check(name, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot create ifb device");
	struct nlattr *linkinfo;
	struct nlmsghdr *nlh = new_link_msg(nl, name, "ifb", &linkinfo);
	mnl_attr_nest_end(nlh, linkinfo);
	return link_create(nl, nlh, "ifb device", name, err);
}

/*
 * Sends a request about an existing link (ifindex already resolved) and
 * phrases a failure as "<doing> "name": <reason>".
 */
static int link_request(struct net_nl *nl, struct nlmsghdr *nlh, struct vr_error **err,
			const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int link_request(struct net_nl *nl, struct nlmsghdr *nlh, struct vr_error **err,
			const char *fmt, ...)
{
	_cleanup_error_ struct vr_error *e = NULL;
	int r = net_nl_talk(nl, nlh, NULL, NULL, &e);
	if (r >= 0)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *doing = NULL;
	if (vasprintf(&doing, fmt, ap) < 0)
		abort();
	va_end(ap);
	return vr_error_set(err, -r, "%s: %s", doing, vr_error_msg(e));
}

/* Resolves name and starts an RTM_NEWLINK (change) request for it. */
static struct nlmsghdr *change_msg(struct net_nl *nl, uint16_t type, const char *name,
				   int *ifindex, struct vr_error **err)
{
	*ifindex = net_nl_ifindex(nl, name, err);
	if (*ifindex < 0)
		return NULL;
	struct ifinfomsg *ifi;
	struct nlmsghdr *nlh = net_nl_msg(nl, type, 0, sizeof(*ifi), (void **)&ifi);
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = *ifindex;
	return nlh;
}

int net_link_delete(struct net_nl *nl, const char *name, struct vr_error **err)
{
	int ifindex;
	struct nlmsghdr *nlh = change_msg(nl, RTM_DELLINK, name, &ifindex, err);
	if (!nlh)
		return vr_error_wrap(err, "cannot delete network interface \"%s\"", name);
	return link_request(nl, nlh, err, "cannot delete network interface \"%s\"", name);
}

int net_link_set_up(struct net_nl *nl, const char *name, bool up, struct vr_error **err)
{
	int ifindex;
	const char *how = up ? "up" : "down";
	struct nlmsghdr *nlh = change_msg(nl, RTM_NEWLINK, name, &ifindex, err);
	if (!nlh)
		return vr_error_wrap(err, "cannot set \"%s\" %s", name, how);
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	return link_request(nl, nlh, err, "cannot set \"%s\" %s", name, how);
}

int net_link_set_mtu(struct net_nl *nl, const char *name, unsigned mtu, struct vr_error **err)
{
	int ifindex;
	struct nlmsghdr *nlh = change_msg(nl, RTM_NEWLINK, name, &ifindex, err);
	if (!nlh)
		return vr_error_wrap(err, "cannot set the MTU of \"%s\" to %u", name, mtu);
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return link_request(nl, nlh, err, "cannot set the MTU of \"%s\" to %u", name, mtu);
}

int net_link_set_mac(struct net_nl *nl, const char *name, const uint8_t mac[6],
		     struct vr_error **err)
{
	char text[18];
	snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
	if (mac[0] & 1)
		return vr_error_set(err, EINVAL,
				    "cannot set the MAC address of \"%s\" to %s: not a unicast "
				    "address",
				    name, text);
	int ifindex;
	struct nlmsghdr *nlh = change_msg(nl, RTM_NEWLINK, name, &ifindex, err);
	if (!nlh)
		return vr_error_wrap(err, "cannot set the MAC address of \"%s\" to %s", name, text);
	mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	return link_request(nl, nlh, err, "cannot set the MAC address of \"%s\" to %s", name,
			    text);
}

int net_link_set_master(struct net_nl *nl, const char *name, const char *master,
			struct vr_error **err)
{
	int master_index = 0;
	if (master) {
		master_index = net_nl_ifindex(nl, master, err);
		if (master_index < 0)
			return vr_error_wrap(err, "cannot add \"%s\" to bridge \"%s\"", name, master);
	}
	int ifindex;
	struct nlmsghdr *nlh = change_msg(nl, RTM_NEWLINK, name, &ifindex, err);
	if (!nlh) {
		if (master)
			return vr_error_wrap(err, "cannot add \"%s\" to bridge \"%s\"", name,
					     master);
		return vr_error_wrap(err, "cannot take \"%s\" out of its bridge", name);
	}
	mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master_index);
	if (master)
		return link_request(nl, nlh, err, "cannot add \"%s\" to bridge \"%s\"", name,
				    master);
	return link_request(nl, nlh, err, "cannot take \"%s\" out of its bridge", name);
}

struct port_list {
	int master;
	char **names;
};

static int port_reply(const struct nlmsghdr *nlh, void *opaque, struct vr_error **err)
{
	struct port_list *pl = opaque;
	if (nlh->nlmsg_type != RTM_NEWLINK)
		return 0;
	struct net_link_info info;
	net_link_parse(nlh, &info);
	if (info.master == pl->master && info.name[0])
		strv_push(&pl->names, info.name);
	return 0;
}

int net_bridge_list_ports(struct net_nl *nl, const char *bridge, char ***ports,
			  struct vr_error **err)
{
	*ports = NULL;
	int ifindex = net_nl_ifindex(nl, bridge, err);
	if (ifindex < 0)
		return vr_error_wrap(err, "cannot list the ports of bridge \"%s\"", bridge);
	struct nlmsghdr *nlh =
		net_nl_msg(nl, RTM_GETLINK, NLM_F_DUMP, sizeof(struct ifinfomsg), NULL);
	mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)ifindex);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	struct port_list pl = { .master = ifindex };
	_cleanup_error_ struct vr_error *e = NULL;
	int r = net_nl_talk(nl, nlh, port_reply, &pl, &e);
	if (r < 0) {
		strv_free(pl.names);
		return vr_error_set(err, -r, "cannot list the ports of bridge \"%s\": %s", bridge,
				    vr_error_msg(e));
	}
	if (!pl.names)
		pl.names = xcalloc(1, sizeof(char *));
	*ports = pl.names;
	return 0;
}

int net_bridge_port_set_state(struct net_nl *nl, const char *port, enum net_brport_state state,
			      struct vr_error **err)
{
	const char *sname = net_brport_state_name(state);
	if ((unsigned)state > NET_BRPORT_BLOCKING)
		return vr_error_set(err, EINVAL, "cannot set bridge port \"%s\" to state %d: no "
				    "such state", port, (int)state);
	int ifindex;
	struct nlmsghdr *nlh = change_msg(nl, RTM_SETLINK, port, &ifindex, err);
	if (!nlh)
		return vr_error_wrap(err, "cannot set bridge port \"%s\" %s", port, sname);
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	ifi->ifi_family = AF_BRIDGE;
	struct nlattr *protinfo = mnl_attr_nest_start(nlh, IFLA_PROTINFO | NLA_F_NESTED);
	mnl_attr_put_u8(nlh, IFLA_BRPORT_STATE, (uint8_t)state);
	mnl_attr_nest_end(nlh, protinfo);
	_cleanup_error_ struct vr_error *e = NULL;
	int r = net_nl_talk(nl, nlh, NULL, NULL, &e);
	if (r == -ENETDOWN)
		return vr_error_set(err, ENETDOWN,
				    "cannot set bridge port \"%s\" %s: the port is down or has "
				    "no carrier",
				    port, sname);
	if (r == -EOPNOTSUPP || r == -EINVAL) {
		struct net_link_info info;
		if (link_get(nl, port, &info, NULL) == 0 && info.brport_state < 0)
			return vr_error_set(err, ENOTCONN,
					    "cannot set bridge port \"%s\" %s: \"%s\" is not a "
					    "bridge port",
					    port, sname, port);
	}
	if (r < 0)
		return vr_error_set(err, -r, "cannot set bridge port \"%s\" %s: %s", port, sname,
				    vr_error_msg(e));
	/* Without STP the bridge at once makes every enabled port forward again. */
	enum net_brport_state now;
	r = net_bridge_port_get_state(nl, port, &now, err);
	if (r < 0)
		return r;
	if (now != state)
		return vr_error_set(err, EOPNOTSUPP,
				    "cannot set bridge port \"%s\" %s: the bridge made it %s "
				    "(with STP off only disabled and forwarding hold)",
				    port, sname, net_brport_state_name(now));
	return 0;
}

int net_bridge_port_get_state(struct net_nl *nl, const char *port, enum net_brport_state *out,
			      struct vr_error **err)
{
	struct net_link_info info;
	int r = net_link_get(nl, port, &info, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot read the state of bridge port \"%s\"", port);
	if (info.brport_state < 0)
		return vr_error_set(err, ENOTCONN,
				    "cannot read the state of bridge port \"%s\": it is not a "
				    "bridge port",
				    port);
	*out = (enum net_brport_state)info.brport_state;
	return 0;
}
