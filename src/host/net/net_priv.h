/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the files of src/host/net/. */
#ifndef VIREO_HOST_NET_NET_PRIV_H
#define VIREO_HOST_NET_NET_PRIV_H

#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdint.h>

#include "host/net/netlink.h"

struct vr_error;

/* Called for each data message of a reply; returns 0 or -errno (fills err). */
typedef int (*net_nl_msg_fn)(const struct nlmsghdr *nlh, void *opaque, struct vr_error **err);

/*
 * Starts a request in the handle's send buffer: a netlink header of type
 * and flags (NLM_F_REQUEST is added) followed by a zeroed family header of
 * hdr_len bytes, returned in *hdr.  Attributes are then added with
 * mnl_attr_put*(); requests are small (well under the 8 KiB buffer).
 */
struct nlmsghdr *net_nl_msg(struct net_nl *nl, uint16_t type, uint16_t flags, size_t hdr_len,
			    void **hdr);

/*
 * Sends the request with NLM_F_ACK and reads replies until the kernel's
 * acknowledgement (or the end of a dump), calling fn (may be NULL) for each
 * data message.  Returns 0 or -errno.  On a kernel error, err gets the
 * reason only ("Invalid argument (MTU greater than device maximum)"), for
 * the caller to wrap with what it was doing.
 */
int net_nl_talk(struct net_nl *nl, struct nlmsghdr *nlh, net_nl_msg_fn fn, void *opaque,
		struct vr_error **err);

/*
 * Resolves name to an ifindex, with `no network interface "x"` for -ENODEV.
 * Used by the public net_link_index().
 */
int net_nl_ifindex(struct net_nl *nl, const char *name, struct vr_error **err);

struct net_link_info;
/* Fills info from an RTM_NEWLINK/RTM_DELLINK message (link.c). */
void net_link_parse(const struct nlmsghdr *nlh, struct net_link_info *info);

/* ---- tc (tc.c) ---- */

/* The clsact hooks (tcm_parent values). */
#define NET_TC_INGRESS 0xfffffff2U /* TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS) */
#define NET_TC_EGRESS 0xfffffff3U  /* TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS) */

/* Filter priorities on the clsact hooks: VLAN programs run before shaping. */
#define NET_TC_PRIO_VLAN 10
#define NET_TC_PRIO_SHAPING 20

/* Adds a clsact qdisc to the device unless it has one. */
int net_tc_clsact_ensure(struct net_nl *nl, int ifindex, const char *ifname,
			 struct vr_error **err);
/* Removes the clsact qdisc if no filter is left on either hook. */
int net_tc_clsact_remove_if_empty(struct net_nl *nl, int ifindex, const char *ifname,
				  struct vr_error **err);

/* Deletes all filters at prio on a hook; a missing filter is no error. */
int net_tc_filter_delete(struct net_nl *nl, int ifindex, const char *ifname, uint32_t hook,
			 uint16_t prio, struct vr_error **err);

/* One filter of a dump: its priority, kind and TCA_OPTIONS (may be NULL). */
struct net_tc_filter {
	uint16_t prio;
	uint32_t handle;
	const char *kind;
	const struct nlattr *options;
};
typedef int (*net_tc_filter_fn)(const struct net_tc_filter *f, void *opaque,
				struct vr_error **err);
/*
 * Lists the filters on a hook (entries with handle 0 are the chain heads the
 * kernel reports per priority, passed on too).  A device without clsact has
 * no filters: returns 0 without calling fn.
 */
int net_tc_filter_list(struct net_nl *nl, int ifindex, const char *ifname, uint32_t hook,
		       net_tc_filter_fn fn, void *opaque, struct vr_error **err);

/* Parses the nested attributes of attr into tb[0..max] (others ignored). */
void net_attr_parse_nested(const struct nlattr *attr, const struct nlattr **tb, int max);

#endif
