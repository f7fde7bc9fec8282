/* SPDX-License-Identifier: Apache-2.0 */
/* The rtnetlink request channel: requests with acknowledgement and extended ack. */
#include "host/net/netlink.h"

#include <ctype.h>
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/error.h"
#include "common/util.h"
#include "host/net/net_priv.h"

#define NET_NL_SEND_SIZE 8192
/* Dumps of links with statistics run to some kilobytes per message. */
#define NET_NL_RECV_SIZE 65536

struct net_nl {
	struct mnl_socket *sock;
	unsigned portid;
	unsigned seq;
	char send[NET_NL_SEND_SIZE] __attribute__((aligned(8)));
	char recv[NET_NL_RECV_SIZE] __attribute__((aligned(8)));
};

int net_nl_open(struct net_nl **out, struct vr_error **err)
{
	*out = NULL;
	struct mnl_socket *sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!sock)
		return vr_error_set_errno(err, errno, "cannot open an rtnetlink socket");
	int one = 1;
	/* Kernel errors with their reason, without echoing our request back. */
	mnl_socket_setsockopt(sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(sock, NETLINK_CAP_ACK, &one, sizeof(one));
	if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		mnl_socket_close(sock);
		return vr_error_set_errno(err, e, "cannot bind an rtnetlink socket");
	}
	struct net_nl *nl = xcalloc(1, sizeof(*nl));
	nl->sock = sock;
	nl->portid = mnl_socket_get_portid(sock);
	random_bytes(&nl->seq, sizeof(nl->seq));
	*out = nl;
	return 0;
}

void net_nl_close(struct net_nl *nl)
{
	if (!nl)
		return;
	mnl_socket_close(nl->sock);
	free(nl);
}

void net_nl_closep(struct net_nl **nl)
{
	net_nl_close(*nl);
	*nl = NULL;
}

int net_ifname_check(const char *name, struct vr_error **err)
{
	if (!name || !*name)
		return vr_error_set(err, EINVAL, "an interface name is empty");
	size_t len = strlen(name);
	if (len > NET_IFNAME_MAX)
		return vr_error_set(err, EINVAL, "interface name \"%s\" is longer than %d bytes",
				    name, NET_IFNAME_MAX);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return vr_error_set(err, EINVAL, "\"%s\" is not a valid interface name", name);
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p) ||
		    iscntrl((unsigned char)*p))
			return vr_error_set(err, EINVAL,
					    "interface name \"%s\" contains '/', ':', a space or "
					    "a control character",
					    name);
	return 0;
}

struct nlmsghdr *net_nl_msg(struct net_nl *nl, uint16_t type, uint16_t flags, size_t hdr_len,
			    void **hdr)
{
	memset(nl->send, 0, sizeof(struct nlmsghdr) + MNL_ALIGN(hdr_len));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->send);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	void *h = mnl_nlmsg_put_extra_header(nlh, hdr_len);
	if (hdr)
		*hdr = h;
	return nlh;
}

struct ext_ack {
	const char *msg;
};

static int ext_ack_attr(const struct nlattr *attr, void *data)
{
	struct ext_ack *ack = data;
	if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
		ack->msg = mnl_attr_get_str(attr);
	return MNL_CB_OK;
}

/* Fills err from an error code and the extended ack attributes at offset. */
static int kernel_error(const struct nlmsghdr *nlh, int code, size_t offset,
			struct vr_error **err)
{
	struct ext_ack ack = { 0 };
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && nlh->nlmsg_len > MNL_NLMSG_HDRLEN + offset)
		mnl_attr_parse(nlh, offset, ext_ack_attr, &ack);
	if (ack.msg && *ack.msg)
		return vr_error_set(err, code, "%s (%s)", strerror(code), ack.msg);
	return vr_error_set(err, code, "%s", strerror(code));
}

int net_nl_talk(struct net_nl *nl, struct nlmsghdr *nlh, net_nl_msg_fn fn, void *opaque,
		struct vr_error **err)
{
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	uint32_t seq = nlh->nlmsg_seq;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
		return vr_error_set_errno(err, errno, "cannot send an rtnetlink request");
	int result = 0;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, nl->recv, sizeof(nl->recv));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return vr_error_set_errno(err, errno, "cannot read an rtnetlink reply");
		}
		int len = (int)n;
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)nl->recv;
		     mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
			if (h->nlmsg_seq != seq || (h->nlmsg_pid && h->nlmsg_pid != nl->portid))
				continue; /* left over from an earlier request */
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
				if (h->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
					return vr_error_set(err, EBADMSG,
							    "truncated rtnetlink error message");
				if (e->error == 0)
					return result;
				size_t off = sizeof(*e);
				if (!(h->nlmsg_flags & NLM_F_CAPPED))
					off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
				if (result < 0)
					return result;
				return kernel_error(h, -e->error, off, err);
			}
			if (h->nlmsg_type == NLMSG_DONE) {
				int code = 0;
				if (h->nlmsg_len >= mnl_nlmsg_size(sizeof(int)))
					memcpy(&code, mnl_nlmsg_get_payload(h), sizeof(int));
				if (code < 0 && result == 0)
					return kernel_error(h, -code, sizeof(int), err);
				return result;
			}
			if (h->nlmsg_type < NLMSG_MIN_TYPE)
				continue; /* NOOP, OVERRUN */
			if (fn && result == 0)
				result = fn(h, opaque, err);
		}
	}
}

static int ifindex_reply(const struct nlmsghdr *nlh, void *opaque, struct vr_error **err)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	*(int *)opaque = ifi->ifi_index;
	return 0;
}

int net_nl_ifindex(struct net_nl *nl, const char *name, struct vr_error **err)
{
	int r = net_ifname_check(name, err);
	if (r < 0)
		return r;
	struct nlmsghdr *nlh = net_nl_msg(nl, RTM_GETLINK, 0, sizeof(struct ifinfomsg), NULL);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	/* Statistics and VF lists are not needed for an index. */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	int ifindex = 0;
	_cleanup_error_ struct vr_error *e = NULL;
	r = net_nl_talk(nl, nlh, ifindex_reply, &ifindex, &e);
	if (r == -ENODEV)
		return vr_error_set(err, ENODEV, "no network interface \"%s\"", name);
	if (r < 0)
		return vr_error_set(err, -r, "cannot look up network interface \"%s\": %s", name,
				    vr_error_msg(e));
	if (ifindex <= 0)
		return vr_error_set(err, ENODEV, "no network interface \"%s\"", name);
	return ifindex;
}

static int nested_attr(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = ((const struct nlattr ***)data)[0];
	int max = (int)(intptr_t)((void **)data)[1];
	int type = mnl_attr_get_type(attr);
	if (type <= max)
		tb[type] = attr;
	return MNL_CB_OK;
}

void net_attr_parse_nested(const struct nlattr *attr, const struct nlattr **tb, int max)
{
	for (int i = 0; i <= max; i++)
		tb[i] = NULL;
	if (!attr)
		return;
	void *data[2] = { (void *)tb, (void *)(intptr_t)max };
	mnl_attr_parse_nested(attr, nested_attr, data);
}
