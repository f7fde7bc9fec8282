/* SPDX-License-Identifier: Apache-2.0 */
/* Persistent taps for VM NICs (ioctls on /dev/net/tun). */
#include "host/net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/error.h"
#include "common/util.h"
#include "host/net/link.h"

int net_tap_create(const char *name, uid_t uid, gid_t gid, struct vr_error **err)
{
	int r = net_ifname_check(name, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot create tap");
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return vr_error_set_errno(err, errno, "cannot create tap \"%s\": /dev/net/tun",
					  name);
	struct ifreq ifr = { 0 };
	/* IFF_TUN_EXCL: fail rather than attach to an existing device. */
	ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL);
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		if (errno == EBUSY)
			return vr_error_set(err, EEXIST,
					    "cannot create tap \"%s\": a network interface of that "
					    "name already exists",
					    name);
		return vr_error_set_errno(err, errno, "cannot create tap \"%s\"", name);
	}
	/* Until TUNSETPERSIST, closing fd removes the tap again. */
	if (uid != (uid_t)-1 && ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0)
		return vr_error_set_errno(err, errno, "cannot make uid %u the owner of tap \"%s\"",
					  (unsigned)uid, name);
	if (gid != (gid_t)-1 && ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0)
		return vr_error_set_errno(err, errno, "cannot make gid %u the group of tap \"%s\"",
					  (unsigned)gid, name);
	if (ioctl(fd, TUNSETPERSIST, 1UL) < 0)
		return vr_error_set_errno(err, errno, "cannot make tap \"%s\" persistent", name);
	return 0;
}

int net_tap_delete(struct net_nl *nl, const char *name, struct vr_error **err)
{
	struct net_link_info info;
	int r = net_link_get(nl, name, &info, err);
	if (r < 0)
		return vr_error_wrap(err, "cannot delete tap \"%s\"", name);
	if (strcmp(info.kind, "tun") != 0)
		return vr_error_set(err, EINVAL,
				    "cannot delete tap \"%s\": it is a %s device, not a tap", name,
				    info.kind[0] ? info.kind : "hardware");
	return net_link_delete(nl, name, err);
}
