/* SPDX-License-Identifier: Apache-2.0 */
/* Outbound shaping of a VM NIC: tap ingress -> mirred -> ifb with a tbf root qdisc. */
#include "host/net/shaping.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <string.h>

#include "common/error.h"
#include "common/util.h"
#include "host/net/link.h"
#include "host/net/net_priv.h"

#define AVG_MIN 8000ULL		     /* 1 kB/s */
#define AVG_MAX 1000000000000ULL     /* 1 Tbit/s */
#define BURST_MAX_SECONDS 250	     /* the kernel reports the bucket in u32 64-ns ticks */
#define FRAME_OVERHEAD (ETH_HLEN + 4) /* Ethernet header and one VLAN tag */
#define PSCHED_TICK_NS 64

static uint64_t frame_max(unsigned mtu)
{
	return (uint64_t)mtu + FRAME_OVERHEAD;
}

int net_shaping_check(const struct net_shaping *p, unsigned mtu, struct vr_error **err)
{
	if (p->avg_bps < AVG_MIN || p->avg_bps > AVG_MAX)
		return vr_error_set(err, EINVAL,
				    "average bandwidth %" PRIu64 " bit/s is not in %llu..%llu "
				    "bit/s",
				    p->avg_bps, AVG_MIN, AVG_MAX);
	if (p->peak_bps && p->peak_bps < p->avg_bps)
		return vr_error_set(err, EINVAL,
				    "peak bandwidth %" PRIu64 " bit/s is below the average "
				    "bandwidth %" PRIu64 " bit/s",
				    p->peak_bps, p->avg_bps);
	if (p->peak_bps > AVG_MAX)
		return vr_error_set(err, EINVAL, "peak bandwidth %" PRIu64 " bit/s is above %llu bit/s",
				    p->peak_bps, AVG_MAX);
	if (p->burst_bytes < frame_max(mtu))
		return vr_error_set(err, EINVAL,
				    "burst size %" PRIu64 " bytes is smaller than one frame (%" PRIu64
				    " bytes at MTU %u)",
				    p->burst_bytes, frame_max(mtu), mtu);
	uint64_t avg_bytes = p->avg_bps / 8;
	if (p->burst_bytes > UINT32_MAX || p->burst_bytes / avg_bytes >= BURST_MAX_SECONDS)
		return vr_error_set(err, EINVAL,
				    "burst size %" PRIu64 " bytes is too large: it must drain in "
				    "less than %d s at the average bandwidth and stay under 4 GiB",
				    p->burst_bytes, BURST_MAX_SECONDS);
	return 0;
}

/* Puts the tbf qdisc on the ifb as its root, replacing what was there. */
static int put_tbf(struct net_nl *nl, int ifb_index, const char *ifb_name,
		   const struct net_shaping *p, unsigned mtu, struct vr_error **err)
{
	uint64_t rate = p->avg_bps / 8;
	uint64_t peak = p->peak_bps / 8;
	bool has_peak = peak > rate; /* tbf wants the peak strictly above the rate */
	uint64_t frame = frame_max(mtu);
	uint64_t limit = rate / 20;
	if (limit < p->burst_bytes + 4 * frame)
		limit = p->burst_bytes + 4 * frame;
	if (limit > UINT32_MAX)
		limit = UINT32_MAX;

	struct tc_tbf_qopt qopt;
	memset(&qopt, 0, sizeof(qopt));
	qopt.rate.linklayer = TC_LINKLAYER_ETHERNET; /* computed, no rate table */
	qopt.rate.rate = rate >= (1ULL << 32) ? UINT32_MAX : (uint32_t)rate;
	if (has_peak) {
		qopt.peakrate.linklayer = TC_LINKLAYER_ETHERNET;
		qopt.peakrate.rate = peak >= (1ULL << 32) ? UINT32_MAX : (uint32_t)peak;
	}
	qopt.limit = (uint32_t)limit;

	struct tcmsg *tcm;
	struct nlmsghdr *nlh = net_nl_msg(nl, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE,
					  sizeof(*tcm), (void **)&tcm);
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifb_index;
	tcm->tcm_parent = TC_H_ROOT;
	tcm->tcm_handle = TC_H_MAKE(1U << 16, 0);
	mnl_attr_put_strz(nlh, TCA_KIND, "tbf");
	struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	mnl_attr_put(nlh, TCA_TBF_PARMS, sizeof(qopt), &qopt);
	if (rate >= (1ULL << 32))
		mnl_attr_put_u64(nlh, TCA_TBF_RATE64, rate);
	mnl_attr_put_u32(nlh, TCA_TBF_BURST, (uint32_t)p->burst_bytes);
	if (has_peak) {
		if (peak >= (1ULL << 32))
			mnl_attr_put_u64(nlh, TCA_TBF_PRATE64, peak);
		/* Peak bucket of one frame: bursts go out at no more than peak. */
		mnl_attr_put_u32(nlh, TCA_TBF_PBURST, (uint32_t)frame);
	}
	mnl_attr_nest_end(nlh, opts);
	_cleanup_error_ struct vr_error *e = NULL;
	int r = net_nl_talk(nl, nlh, NULL, NULL, &e);
	if (r < 0)
		return vr_error_set(err, -r, "cannot put a token bucket on \"%s\": %s", ifb_name,
				    vr_error_msg(e));
	return 0;
}

/* Finds the ifb a shaping filter on the tap redirects to (0: no filter). */
struct redirect_search {
	int ifb_index;
};

static void parse_mirred(const struct nlattr *acts, struct redirect_search *rs)
{
	const struct nlattr *act;
	mnl_attr_for_each_nested(act, acts)
	{
		const struct nlattr *ta[TCA_ACT_MAX + 1];
		net_attr_parse_nested(act, ta, TCA_ACT_MAX);
		if (!ta[TCA_ACT_KIND] || mnl_attr_validate(ta[TCA_ACT_KIND], MNL_TYPE_NUL_STRING) ||
		    strcmp(mnl_attr_get_str(ta[TCA_ACT_KIND]), "mirred") != 0)
			continue;
		const struct nlattr *tm[TCA_MIRRED_MAX + 1];
		net_attr_parse_nested(ta[TCA_ACT_OPTIONS], tm, TCA_MIRRED_MAX);
		if (!tm[TCA_MIRRED_PARMS] ||
		    mnl_attr_get_payload_len(tm[TCA_MIRRED_PARMS]) < sizeof(struct tc_mirred))
			continue;
		struct tc_mirred m;
		memcpy(&m, mnl_attr_get_payload(tm[TCA_MIRRED_PARMS]), sizeof(m));
		if (m.eaction == TCA_EGRESS_REDIR)
			rs->ifb_index = (int)m.ifindex;
	}
}

static int redirect_filter(const struct net_tc_filter *f, void *opaque, struct vr_error **err)
{
	if (f->prio != NET_TC_PRIO_SHAPING || strcmp(f->kind, "u32") != 0 || !f->options)
		return 0;
	const struct nlattr *tb[TCA_U32_MAX + 1];
	net_attr_parse_nested(f->options, tb, TCA_U32_MAX);
	if (tb[TCA_U32_ACT])
		parse_mirred(tb[TCA_U32_ACT], opaque);
	return 0;
}

static int find_redirect(struct net_nl *nl, int ifindex, const char *ifname, int *ifb_index,
			 struct vr_error **err)
{
	struct redirect_search rs = { 0 };
	int r = net_tc_filter_list(nl, ifindex, ifname, NET_TC_INGRESS, redirect_filter, &rs,
				   err);
	*ifb_index = rs.ifb_index;
	return r;
}

/* Adds the match-all u32 filter that redirects the tap's ingress to the ifb. */
static int put_redirect(struct net_nl *nl, int ifindex, const char *ifname, int ifb_index,
			const char *ifb_name, struct vr_error **err)
{
	struct tcmsg *tcm;
	struct nlmsghdr *nlh = net_nl_msg(nl, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL,
					  sizeof(*tcm), (void **)&tcm);
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifindex;
	tcm->tcm_parent = NET_TC_INGRESS;
	tcm->tcm_info = TC_H_MAKE((uint32_t)NET_TC_PRIO_SHAPING << 16, htons(ETH_P_ALL));
	mnl_attr_put_strz(nlh, TCA_KIND, "u32");
	struct nlattr *opts = mnl_attr_nest_start(nlh, TCA_OPTIONS);
	/* One key with mask 0: matches every frame. */
	char sel[sizeof(struct tc_u32_sel) + sizeof(struct tc_u32_key)];
	memset(sel, 0, sizeof(sel));
	((struct tc_u32_sel *)(void *)sel)->flags = TC_U32_TERMINAL;
	((struct tc_u32_sel *)(void *)sel)->nkeys = 1;
	mnl_attr_put(nlh, TCA_U32_SEL, sizeof(sel), sel);
	struct nlattr *acts = mnl_attr_nest_start(nlh, TCA_U32_ACT);
	struct nlattr *act = mnl_attr_nest_start(nlh, 1);
	mnl_attr_put_strz(nlh, TCA_ACT_KIND, "mirred");
	struct nlattr *act_opts = mnl_attr_nest_start(nlh, TCA_ACT_OPTIONS);
	struct tc_mirred m;
	memset(&m, 0, sizeof(m));
	m.action = TC_ACT_STOLEN;
	m.eaction = TCA_EGRESS_REDIR;
	m.ifindex = (uint32_t)ifb_index;
	mnl_attr_put(nlh, TCA_MIRRED_PARMS, sizeof(m), &m);
	mnl_attr_nest_end(nlh, act_opts);
	mnl_attr_nest_end(nlh, act);
	mnl_attr_nest_end(nlh, acts);
	mnl_attr_nest_end(nlh, opts);
	_cleanup_error_ struct vr_error *e = NULL;
	int r = net_nl_talk(nl, nlh, NULL, NULL, &e);
	if (r < 0)
		return vr_error_set(err, -r, "cannot redirect what enters \"%s\" to \"%s\": %s",
				    ifname, ifb_name, vr_error_msg(e));
	return 0;
}

/* Creates the ifb unless it exists; refuses a name taken by another kind. */
static int ensure_ifb(struct net_nl *nl, const char *ifb_name, unsigned mtu,
		      struct vr_error **err)
{
	struct net_link_info info;
	int r = net_link_exists(nl, ifb_name, err);
	if (r < 0)
		return r;
	if (r == 0) {
		r = net_ifb_create(nl, ifb_name, err);
		if (r < 0)
			return r;
	}
	r = net_link_get(nl, ifb_name, &info, err);
	if (r < 0)
		return r;
	if (strcmp(info.kind, "ifb") != 0)
		return vr_error_set(err, EEXIST, "\"%s\" exists and is not an ifb device",
				    ifb_name);
	if (info.mtu != mtu && (r = net_link_set_mtu(nl, ifb_name, mtu, err)) < 0)
		return r;
	if (!info.up && (r = net_link_set_up(nl, ifb_name, true, err)) < 0)
		return r;
	return info.ifindex;
}

int net_shaping_set(struct net_nl *nl, const char *ifname, const char *ifb_name,
		    const struct net_shaping *policy, struct vr_error **err)
{
	struct net_link_info tap;
	int r = net_link_get(nl, ifname, &tap, err);
	if (r == 0)
		r = net_ifname_check(ifb_name, err);
	if (r == 0)
		r = net_shaping_check(policy, tap.mtu, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot shape \"%s\"", ifname);
	int ifb_index = ensure_ifb(nl, ifb_name, tap.mtu, err);
	if (ifb_index < 0)
		return vr_error_wrap(err, "cannot shape \"%s\"", ifname);
	r = put_tbf(nl, ifb_index, ifb_name, policy, tap.mtu, err);
	if (r == 0)
		r = net_tc_clsact_ensure(nl, tap.ifindex, ifname, err);
	int current = 0;
	if (r == 0)
		r = find_redirect(nl, tap.ifindex, ifname, &current, err);
	if (r == 0 && current != ifb_index) {
		r = net_tc_filter_delete(nl, tap.ifindex, ifname, NET_TC_INGRESS,
					 NET_TC_PRIO_SHAPING, err);
		if (r == 0)
			r = put_redirect(nl, tap.ifindex, ifname, ifb_index, ifb_name, err);
	}
	if (r < 0)
		return vr_error_wrap(err, "cannot shape \"%s\"", ifname);
	return 0;
}

int net_shaping_clear(struct net_nl *nl, const char *ifname, const char *ifb_name,
		      struct vr_error **err)
{
	int r = net_ifname_check(ifb_name, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot remove the shaping of \"%s\"", ifname);
	int ifindex = net_nl_ifindex(nl, ifname, NULL);
	if (ifindex > 0) {
		r = net_tc_filter_delete(nl, ifindex, ifname, NET_TC_INGRESS,
					 NET_TC_PRIO_SHAPING, err);
		if (r == 0)
			r = net_tc_clsact_remove_if_empty(nl, ifindex, ifname, err);
		if (r < 0)
			return vr_error_wrap(err, "cannot remove the shaping of \"%s\"", ifname);
	}
	r = net_link_exists(nl, ifb_name, err);
	if (r > 0) {
		struct net_link_info info;
		r = net_link_get(nl, ifb_name, &info, err);
		if (r == 0 && strcmp(info.kind, "ifb") != 0)
			r = vr_error_set(err, EINVAL, "\"%s\" is a %s device, not an ifb",
					 ifb_name, info.kind[0] ? info.kind : "hardware");
		if (r == 0)
			r = net_link_delete(nl, ifb_name, err);
	}
	if (r < 0)
		return vr_error_wrap(err, "cannot remove the shaping of \"%s\"", ifname);
	return 0;
}

struct tbf_reply {
	int ifindex;
	bool found;
	struct tc_tbf_qopt qopt;
	uint64_t rate64, prate64;
};

static int tbf_reply(const struct nlmsghdr *nlh, void *opaque, struct vr_error **err)
{
	struct tbf_reply *tr = opaque;
	if (nlh->nlmsg_type != RTM_NEWQDISC)
		return 0;
	const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);
	if (tcm->tcm_ifindex != tr->ifindex || tcm->tcm_parent != TC_H_ROOT)
		return 0;
	const struct nlattr *kind = NULL, *options = NULL, *attr;
	mnl_attr_for_each(attr, nlh, sizeof(*tcm))
	{
		if (mnl_attr_get_type(attr) == TCA_KIND)
			kind = attr;
		else if (mnl_attr_get_type(attr) == TCA_OPTIONS)
			options = attr;
	}
	if (!kind || mnl_attr_validate(kind, MNL_TYPE_NUL_STRING) < 0 ||
	    strcmp(mnl_attr_get_str(kind), "tbf") != 0 || !options)
		return 0;
	const struct nlattr *tb[TCA_TBF_MAX + 1];
	net_attr_parse_nested(options, tb, TCA_TBF_MAX);
	if (!tb[TCA_TBF_PARMS] || mnl_attr_get_payload_len(tb[TCA_TBF_PARMS]) < sizeof(tr->qopt))
		return 0;
	memcpy(&tr->qopt, mnl_attr_get_payload(tb[TCA_TBF_PARMS]), sizeof(tr->qopt));
	if (tb[TCA_TBF_RATE64] && mnl_attr_get_payload_len(tb[TCA_TBF_RATE64]) == 8)
		tr->rate64 = mnl_attr_get_u64(tb[TCA_TBF_RATE64]);
	if (tb[TCA_TBF_PRATE64] && mnl_attr_get_payload_len(tb[TCA_TBF_PRATE64]) == 8)
		tr->prate64 = mnl_attr_get_u64(tb[TCA_TBF_PRATE64]);
	tr->found = true;
	return 0;
}

int net_shaping_get(struct net_nl *nl, const char *ifname, const char *ifb_name,
		    struct net_shaping *out, struct vr_error **err)
{
	int ifindex = net_nl_ifindex(nl, ifname, err);
	if (ifindex < 0)
		return vr_error_wrap(err, "cannot read the shaping of \"%s\"", ifname);
	int redirect = 0;
	int r = find_redirect(nl, ifindex, ifname, &redirect, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot read the shaping of \"%s\"", ifname);
	if (redirect == 0)
		return 0;
	int ifb_index = net_nl_ifindex(nl, ifb_name, NULL);
	if (ifb_index != redirect)
		return 0;

	/* A dump (a plain get is answered only with NLM_F_ECHO); ours picked out. */
	struct tcmsg *tcm;
	struct nlmsghdr *nlh =
		net_nl_msg(nl, RTM_GETQDISC, NLM_F_DUMP, sizeof(*tcm), (void **)&tcm);
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = ifb_index;
	struct tbf_reply tr = { .ifindex = ifb_index };
	_cleanup_error_ struct vr_error *e = NULL;
	r = net_nl_talk(nl, nlh, tbf_reply, &tr, &e);
	if (r < 0)
		return vr_error_set(err, -r, "cannot read the shaping of \"%s\": qdisc of \"%s\": %s",
				    ifname, ifb_name, vr_error_msg(e));
	if (!tr.found)
		return 0;
	uint64_t rate = tr.rate64 ? tr.rate64 : tr.qopt.rate.rate;
	uint64_t peak = tr.prate64 ? tr.prate64 : tr.qopt.peakrate.rate;
	out->avg_bps = rate * 8;
	out->peak_bps = peak ? peak * 8 : rate * 8;
	/* The bucket comes back as time at the average rate. */
	double ns = (double)tr.qopt.buffer * PSCHED_TICK_NS;
	out->burst_bytes = (uint64_t)(ns * (double)rate / 1e9 + 0.5);
	return 1;
}
