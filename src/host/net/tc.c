/* SPDX-License-Identifier: Apache-2.0 */
/* Traffic-control plumbing shared by VLAN programs and shaping: clsact and filters. */
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "host/net/net_priv.h"

#define CLSACT_HANDLE 0xffff0000U /* TC_H_MAKE(TC_H_CLSACT, 0) */

static const char *hook_name(uint32_t hook)
{
	return hook == NET_TC_INGRESS ? "ingress" : "egress";
}

int net_tc_clsact_ensure(struct net_nl *nl, int ifindex, const char *ifname,
			 struct vr_error **err)
{
	struct tcmsg *tcm;
	struct nlmsghdr *nlh = net_nl_msg(nl, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL,
					  sizeof(*tcm), (void **)&tcm);
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_handle = CLSACT_HANDLE;
	tcm->tcm_parent = TC_H_CLSACT;
	mnl_attr_put_strz(nlh, TCA_KIND, "clsact");
	_cleanup_error_ struct vr_error *e = NULL;
	int r = net_nl_talk(nl, nlh, NULL, NULL, &e);
	if (r == -EEXIST)
		return 0;
	if (r < 0)
		return vr_error_set(err, -r, "cannot add a clsact qdisc to \"%s\": %s", ifname,
				    vr_error_msg(e));
	return 0;
}

struct filter_list {
	net_tc_filter_fn fn;
	void *opaque;
};

static int filter_reply(const struct nlmsghdr *nlh, void *opaque, struct vr_error **err)
{
	struct filter_list *fl = opaque;
	if (nlh->nlmsg_type != RTM_NEWTFILTER)
		return 0;
	const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);
	struct net_tc_filter f = {
		.prio = (uint16_t)(TC_H_MAJ(tcm->tcm_info) >> 16),
		.handle = tcm->tcm_handle,
		.kind = "",
	};
	const struct nlattr *attr;
	mnl_attr_for_each(attr, nlh, sizeof(*tcm))
	{
		if (mnl_attr_get_type(attr) == TCA_KIND &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			f.kind = mnl_attr_get_str(attr);
		else if (mnl_attr_get_type(attr) == TCA_OPTIONS)
			f.options = attr;
	}
	return fl->fn(&f, fl->opaque, err);
}

int net_tc_filter_list(struct net_nl *nl, int ifindex, const char *ifname, uint32_t hook,
		       net_tc_filter_fn fn, void *opaque, struct vr_error **err)
{
	struct tcmsg *tcm;
	struct nlmsghdr *nlh =
		net_nl_msg(nl, RTM_GETTFILTER, NLM_F_DUMP, sizeof(*tcm), (void **)&tcm);
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = hook;
	struct filter_list fl = { .fn = fn, .opaque = opaque };
	_cleanup_error_ struct vr_error *e = NULL;
	int r = net_nl_talk(nl, nlh, filter_reply, &fl, &e);
	if (r < 0)
		return vr_error_set(err, -r, "cannot list the %s filters of \"%s\": %s",
				    hook_name(hook), ifname, vr_error_msg(e));
	return 0;
}

struct prio_search {
	uint16_t prio;
	bool found;
};

static int prio_match(const struct net_tc_filter *f, void *opaque, struct vr_error **err)
{
	struct prio_search *ps = opaque;
	if (f->prio == ps->prio)
		ps->found = true;
	return 0;
}

int net_tc_filter_delete(struct net_nl *nl, int ifindex, const char *ifname, uint32_t hook,
			 uint16_t prio, struct vr_error **err)
{
	struct prio_search ps = { .prio = prio };
	int r = net_tc_filter_list(nl, ifindex, ifname, hook, prio_match, &ps, err);
	if (r < 0 || !ps.found)
		return r;
	struct tcmsg *tcm;
	struct nlmsghdr *nlh = net_nl_msg(nl, RTM_DELTFILTER, 0, sizeof(*tcm), (void **)&tcm);
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = hook;
	tcm->tcm_info = TC_H_MAKE((uint32_t)prio << 16, htons(ETH_P_ALL));
	_cleanup_error_ struct vr_error *e = NULL;
	r = net_nl_talk(nl, nlh, NULL, NULL, &e);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return vr_error_set(err, -r, "cannot delete the %s filter %u of \"%s\": %s",
				    hook_name(hook), prio, ifname, vr_error_msg(e));
	return 0;
}

static int count_filter(const struct net_tc_filter *f, void *opaque, struct vr_error **err)
{
	(*(unsigned *)opaque)++;
	return 0;
}

int net_tc_clsact_remove_if_empty(struct net_nl *nl, int ifindex, const char *ifname,
				  struct vr_error **err)
{
	unsigned n = 0;
	int r = net_tc_filter_list(nl, ifindex, ifname, NET_TC_INGRESS, count_filter, &n, err);
	if (r == 0)
		r = net_tc_filter_list(nl, ifindex, ifname, NET_TC_EGRESS, count_filter, &n, err);
	if (r < 0 || n > 0)
		return r;
	struct tcmsg *tcm;
	struct nlmsghdr *nlh = net_nl_msg(nl, RTM_DELQDISC, 0, sizeof(*tcm), (void **)&tcm);
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_handle = CLSACT_HANDLE;
	tcm->tcm_parent = TC_H_CLSACT;
	_cleanup_error_ struct vr_error *e = NULL;
	r = net_nl_talk(nl, nlh, NULL, NULL, &e);
	/* No clsact there: nothing to remove. */
	if (r == -ENOENT || r == -EINVAL)
		return 0;
	if (r < 0)
		return vr_error_set(err, -r, "cannot remove the clsact qdisc of \"%s\": %s", ifname,
				    vr_error_msg(e));
	return 0;
}
