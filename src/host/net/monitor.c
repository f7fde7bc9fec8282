/* SPDX-License-Identifier: Apache-2.0 */
/* Link events from RTNLGRP_LINK for a poll loop. */
#include "host/net/monitor.h"

#include <errno.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "common/error.h"
#include "common/util.h"
#include "host/net/net_priv.h"

#define MONITOR_RECV_SIZE 65536
/* Room for bursts of events (a bridge with many ports going down at once). */
#define MONITOR_SOCKET_BUFFER (4 * 1024 * 1024)

struct net_monitor {
	struct mnl_socket *sock;
	char buf[MONITOR_RECV_SIZE] __attribute__((aligned(8)));
};

int net_monitor_open(struct net_monitor **out, struct vr_error **err)
{
	*out = NULL;
	struct mnl_socket *sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!sock)
		return vr_error_set_errno(err, errno, "cannot open a link monitor socket");
	int size = MONITOR_SOCKET_BUFFER;
	/* FORCE needs CAP_NET_ADMIN; the plain option is capped by rmem_max. */
	if (setsockopt(mnl_socket_get_fd(sock), SOL_SOCKET, SO_RCVBUFFORCE, &size,
		       sizeof(size)) < 0)
		setsockopt(mnl_socket_get_fd(sock), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (mnl_socket_bind(sock, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		mnl_socket_close(sock);
		return vr_error_set_errno(err, e, "cannot subscribe to link events");
	}
	struct net_monitor *m = xcalloc(1, sizeof(*m));
	m->sock = sock;
	*out = m;
	return 0;
}

void net_monitor_close(struct net_monitor *m)
{
	if (!m)
		return;
	mnl_socket_close(m->sock);
	free(m);
}

void net_monitor_closep(struct net_monitor **m)
{
	net_monitor_close(*m);
	*m = NULL;
}

int net_monitor_fd(const struct net_monitor *m)
{
	return mnl_socket_get_fd(m->sock);
}

static void dispatch_one(const struct nlmsghdr *nlh, net_link_event_fn fn, void *opaque)
{
	struct net_link_info info;
	net_link_parse(nlh, &info);
	struct net_link_event ev = {
		.ifname = info.name,
		.ifindex = info.ifindex,
		.up = info.flags & IFF_UP,
		.carrier = info.flags & IFF_LOWER_UP,
		.running = info.flags & IFF_RUNNING,
		.deleted = nlh->nlmsg_type == RTM_DELLINK,
		.master = info.master,
		.info = &info,
	};
	fn(&ev, opaque);
}

int net_monitor_dispatch(struct net_monitor *m, net_link_event_fn fn, void *opaque,
			 struct vr_error **err)
{
	int events = 0;
	for (;;) {
		ssize_t n = recv(mnl_socket_get_fd(m->sock), m->buf, sizeof(m->buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return events;
			if (errno == ENOBUFS)
				return vr_error_set(err, ENOBUFS,
						    "link events were lost (the monitor was not read "
						    "in time): re-read the links' state");
			return vr_error_set_errno(err, errno, "cannot read link events");
		}
		int len = (int)n;
		for (const struct nlmsghdr *h = (const struct nlmsghdr *)m->buf;
		     mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
			if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK)
				continue;
			if (h->nlmsg_len < mnl_nlmsg_size(sizeof(struct ifinfomsg)))
				continue;
			dispatch_one(h, fn, opaque);
			events++;
		}
	}
}
