/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VIREO_HOST_NET_MONITOR_H
#define VIREO_HOST_NET_MONITOR_H

#include <stdbool.h>

#include "host/net/link.h"

struct vr_error;

/*
 * Link events (RTNLGRP_LINK) for the caller's poll loop: watch
 * net_monitor_fd() for input and call net_monitor_dispatch() when it is
 * readable.  The kernel sends an event for any change of a link (flags,
 * carrier, master, name, ...), so one change may bring several events
 * with the same state: compare with what you knew.
 */
struct net_monitor;

struct net_link_event {
	const char *ifname; /* valid during the callback only */
	int ifindex;
	bool up;	    /* administratively up (IFF_UP) */
	bool carrier;	    /* IFF_LOWER_UP: link detected */
	bool running;	    /* IFF_RUNNING: operationally up */
	bool deleted;	    /* the link is gone (then the rest is its last state) */
	int master;	    /* ifindex of its bridge, 0 if none */
	/* The full state as in the message (statistics may be absent). */
	const struct net_link_info *info;
};

typedef void (*net_link_event_fn)(const struct net_link_event *ev, void *opaque);

/* Opens a monitor (a non-blocking, close-on-exec netlink socket). */
int net_monitor_open(struct net_monitor **out, struct vr_error **err);
/* Closes it. Accepts NULL. */
void net_monitor_close(struct net_monitor *m);
void net_monitor_closep(struct net_monitor **m);
#define _cleanup_net_monitor_ __attribute__((cleanup(net_monitor_closep)))

/* The fd to poll for input; owned by the monitor. */
int net_monitor_fd(const struct net_monitor *m);

/*
 * Reads all pending messages without blocking and calls fn for each link
 * event.  Returns the number of events (>= 0), or -ENOBUFS when the kernel
 * dropped events because they were not read in time (the monitor stays
 * usable; the caller must re-read the state of the links it cares about),
 * or another -errno.
 */
int net_monitor_dispatch(struct net_monitor *m, net_link_event_fn fn, void *opaque,
			 struct vr_error **err);

#endif
