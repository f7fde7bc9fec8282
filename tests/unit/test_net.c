/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the kernel network datapath library (src/host/net/), run as root
 * in a private network namespace (and mount namespace, for /dev/net/tun):
 * everything created here vanishes with the process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/util.h"
#include "host/net/link.h"
#include "host/net/monitor.h"
#include "host/net/netlink.h"
#include "host/net/shaping.h"
#include "host/net/tap.h"
#include "host/net/vlan.h"
#include "host/net/vnet.h"

static struct net_nl *nl;

/* Runs a library call that takes `&err`; fails the test with its message. */
#define OK(call)                                                                      \
	do {                                                                          \
		struct vr_error *err = NULL;                                          \
		int r_ = (call);                                                      \
		if (r_ < 0)                                                           \
			fail_msg("%s failed: %s", #call, vr_error_msg(err));          \
		vr_error_free(err);                                                   \
	} while (0)

/* Expects a call to fail with code and a message containing needle. */
#define FAILS(call, code, needle)                                                      \
	do {                                                                           \
		struct vr_error *err = NULL;                                           \
		int r_ = (call);                                                       \
		if (r_ != -(code))                                                     \
			fail_msg("%s returned %d, not %d (%s)", #call, r_, -(code),    \
				 err ? err->msg : "no message");                       \
		if (!err || !strstr(err->msg, needle))                                 \
			fail_msg("%s: message \"%s\" lacks \"%s\"", #call,             \
				 err ? err->msg : "", needle);                         \
		vr_error_free(err);                                                    \
	} while (0)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static struct net_link_info get(const char *name)
{
	struct net_link_info info;
	OK(net_link_get(nl, name, &info, &err));
	return info;
}

static void veth(const char *a, const char *b)
{
	OK(net_veth_create(nl, a, b, &err));
	OK(net_link_set_up(nl, a, true, &err));
	OK(net_link_set_up(nl, b, true, &err));
}

/* Waits until a bridge port forwards (carrier comes up asynchronously). */
static void wait_forwarding(const char *port)
{
	enum net_brport_state st = NET_BRPORT_DISABLED;
	for (int i = 0; i < 300; i++) {
		OK(net_bridge_port_get_state(nl, port, &st, &err));
		if (st == NET_BRPORT_FORWARDING)
			return;
		sleep_ms(10);
	}
	fail_msg("bridge port %s stays %s", port, net_brport_state_name(st));
}

/* A port pair: port on bridge (where a tap would be), far end for frames. */
static void add_port(const char *bridge, const char *port, const char *far)
{
	veth(port, far);
	OK(net_link_set_master(nl, port, bridge, &err));
	wait_forwarding(port);
}

static void add_bridge(const char *name)
{
	OK(net_bridge_create(nl, name, &err));
	OK(net_link_set_up(nl, name, true, &err));
}

/* ---- frames ---- */

#define TEST_ETHERTYPE 0x88b5 /* local experimental */
#define FRAME_MAGIC 0x5649524fU /* "VIRO" */

static uint32_t next_marker = 1;

/* An AF_PACKET socket on ifname (NULL: all interfaces) with VLAN aux data. */
static int sniffer(const char *ifname)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
	assert_true(fd >= 0);
	int one = 1, size = 16 * 1024 * 1024;
	assert_int_equal(setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)), 0);
	if (ifname) {
		struct sockaddr_ll sll = { .sll_family = AF_PACKET,
					   .sll_protocol = htons(ETH_P_ALL),
					   .sll_ifindex = (int)if_nametoindex(ifname) };
		assert_true(sll.sll_ifindex > 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	}
	return fd;
}

/* Builds a broadcast frame; vid < 0: untagged, else an inline 802.1Q tag. */
static size_t build_frame(uint8_t *buf, size_t len, int vid, uint8_t src_last, uint32_t marker)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t src[6] = { 0x02, 0x00, 0x5e, 0x10, 0x00, src_last };
	size_t off = 0;
	memset(buf, 0, len);
	memcpy(buf, bcast, 6);
	memcpy(buf + 6, src, 6);
	off = 12;
	if (vid >= 0) {
		uint16_t tpid = htons(ETH_P_8021Q), tci = htons((uint16_t)vid);
		memcpy(buf + off, &tpid, 2);
		memcpy(buf + off + 2, &tci, 2);
		off += 4;
	}
	uint16_t type = htons(TEST_ETHERTYPE);
	memcpy(buf + off, &type, 2);
	uint32_t magic = htonl(FRAME_MAGIC), m = htonl(marker);
	memcpy(buf + off + 2, &magic, 4);
	memcpy(buf + off + 6, &m, 4);
	return len;
}

/* An AF_PACKET socket that only sends (protocol 0: receives nothing). */
static int sender(const char *ifname)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_ifindex = (int)if_nametoindex(ifname) };
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return fd;
}

static void send_frame(const char *ifname, int vid, uint32_t marker)
{
	int fd = sender(ifname);
	uint8_t frame[64];
	size_t len = build_frame(frame, sizeof(frame), vid, (uint8_t)if_nametoindex(ifname),
				 marker);
	/* ENOBUFS: dropped on the way out (by a program on the sending device). */
	ssize_t n = send(fd, frame, len, 0);
	if (n != (ssize_t)len && !(n < 0 && errno == ENOBUFS))
		fail_msg("send on %s: %s", ifname, n < 0 ? strerror(errno) : "short");
	close(fd);
}

struct seen {
	bool seen;
	bool tagged; /* VLAN tag (in aux data or inline) */
	unsigned vid;
	int ifindex;
	int pkttype;
};

/* Reads one frame; returns its marker (0: not ours, -1: nothing pending). */
static int64_t read_frame(int fd, struct seen *s, size_t *frame_len)
{
	uint8_t buf[2048];
	char cbuf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
	struct sockaddr_ll from;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
			      .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
	if (n < 0)
		return -1;
	memset(s, 0, sizeof(*s));
	s->ifindex = from.sll_ifindex;
	s->pkttype = from.sll_pkttype;
	if (frame_len)
		*frame_len = (size_t)n;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA)
			continue;
		struct tpacket_auxdata aux;
		memcpy(&aux, CMSG_DATA(c), sizeof(aux));
		if (aux.tp_status & TP_STATUS_VLAN_VALID) {
			s->tagged = true;
			s->vid = aux.tp_vlan_tci & 0x0fff;
		}
	}
	size_t off = 12;
	uint16_t type;
	if (n < 24)
		return 0;
	memcpy(&type, buf + off, 2);
	if (ntohs(type) == ETH_P_8021Q) {
		uint16_t tci;
		memcpy(&tci, buf + off + 2, 2);
		s->tagged = true;
		s->vid = ntohs(tci) & 0x0fff;
		off += 4;
		memcpy(&type, buf + off, 2);
	}
	uint32_t magic, marker;
	memcpy(&magic, buf + off + 2, 4);
	memcpy(&marker, buf + off + 6, 4);
	if (ntohs(type) != TEST_ETHERTYPE || ntohl(magic) != FRAME_MAGIC)
		return 0;
	s->seen = true;
	return ntohl(marker);
}

/* Collects for ms milliseconds which sockets receive marker (incoming only). */
static void observe(const int *fds, struct seen *out, size_t n, uint32_t marker, unsigned ms)
{
	memset(out, 0, n * sizeof(*out));
	uint64_t end = now_ns() + (uint64_t)ms * 1000000ULL;
	for (;;) {
		for (size_t i = 0; i < n; i++) {
			struct seen s;
			int64_t m;
			while ((m = read_frame(fds[i], &s, NULL)) != -1)
				if (m == marker && s.pkttype != PACKET_OUTGOING)
					out[i] = s;
		}
		uint64_t t = now_ns();
		if (t >= end)
			break;
		struct pollfd pfd[16];
		for (size_t i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		poll(pfd, n, (int)((end - t) / 1000000ULL) + 1);
	}
}

/* ---- links ---- */

static void test_links(void **state)
{
	(void)state;
	add_bridge("brt0");
	struct net_link_info br = get("brt0");
	assert_string_equal(br.kind, "bridge");
	assert_true(br.up);
	assert_int_equal(net_link_index(nl, "brt0", NULL), br.ifindex);
	assert_int_equal(net_link_exists(nl, "brt0", NULL), 1);
	assert_int_equal(net_link_exists(nl, "nosuch0", NULL), 0);

	veth("lt0", "lt0f");
	struct net_link_info v = get("lt0");
	assert_string_equal(v.kind, "veth");
	assert_int_equal(v.master, 0);
	assert_int_equal(v.brport_state, -1);

	OK(net_link_set_mtu(nl, "lt0", 1400, &err));
	assert_int_equal(get("lt0").mtu, 1400);
	OK(net_link_set_mtu(nl, "lt0", 1500, &err));
	const uint8_t mac[6] = { 0x02, 0x50, 0x56, 0x01, 0x02, 0x03 };
	OK(net_link_set_mac(nl, "lt0", mac, &err));
	assert_memory_equal(get("lt0").mac, mac, 6);

	/* master / nomaster and the port list */
	OK(net_link_set_master(nl, "lt0", "brt0", &err));
	v = get("lt0");
	assert_int_equal(v.master, br.ifindex);
	assert_true(v.brport_state >= 0);
	char **ports = NULL;
	OK(net_bridge_list_ports(nl, "brt0", &ports, &err));
	assert_int_equal(strv_len(ports), 1);
	assert_string_equal(ports[0], "lt0");
	strv_free(ports);
	wait_forwarding("lt0");
	OK(net_link_set_master(nl, "lt0", NULL, &err));
	assert_int_equal(get("lt0").master, 0);
	OK(net_bridge_list_ports(nl, "brt0", &ports, &err));
	assert_int_equal(strv_len(ports), 0);
	strv_free(ports);

	/* carrier follows the peer */
	assert_true(get("lt0").carrier);
	OK(net_link_set_up(nl, "lt0f", false, &err));
	v = get("lt0");
	assert_false(v.carrier);
	assert_int_equal(v.operstate, NET_OPER_LOWERLAYERDOWN);
	assert_string_equal(net_operstate_name(v.operstate), "lowerlayerdown");
	OK(net_link_set_up(nl, "lt0f", true, &err));

	/* ifb */
	OK(net_ifb_create(nl, "ifbt0", &err));
	assert_string_equal(get("ifbt0").kind, "ifb");
	OK(net_link_delete(nl, "ifbt0", &err));
	assert_int_equal(net_link_exists(nl, "ifbt0", NULL), 0);

	/* deleting one end of a veth takes both */
	OK(net_link_delete(nl, "lt0", &err));
	assert_int_equal(net_link_exists(nl, "lt0f", NULL), 0);
	OK(net_link_delete(nl, "brt0", &err));
	assert_int_equal(net_link_exists(nl, "brt0", NULL), 0);
}

static void test_errors(void **state)
{
	(void)state;
	FAILS(net_bridge_create(nl, "averyveryverylongname", &err), EINVAL,
	      "cannot create bridge: interface name \"averyveryverylongname\" is longer than "
	      "15 bytes");
	FAILS(net_bridge_create(nl, "", &err), EINVAL, "empty");
	FAILS(net_veth_create(nl, "ok0", "bad/name", &err), EINVAL, "bad/name");
	FAILS(net_link_set_up(nl, "nosuch0", true, &err), ENODEV,
	      "cannot set \"nosuch0\" up: no network interface \"nosuch0\"");
	FAILS(net_link_delete(nl, "nosuch0", &err), ENODEV, "no network interface \"nosuch0\"");
	struct net_link_info info;
	FAILS(net_link_get(nl, "nosuch0", &info, &err), ENODEV,
	      "no network interface \"nosuch0\"");

	add_bridge("bre0");
	FAILS(net_bridge_create(nl, "bre0", &err), EEXIST,
	      "cannot create bridge \"bre0\": a network interface of that name already exists");
	FAILS(net_ifb_create(nl, "bre0", &err), EEXIST, "already exists");
	FAILS(net_veth_create(nl, "bre0", "bre0p", &err), EEXIST, "already exists");
	FAILS(net_tap_create("bre0", (uid_t)-1, (gid_t)-1, &err), EEXIST,
	      "cannot create tap \"bre0\": a network interface of that name already exists");
	FAILS(net_tap_delete(nl, "bre0", &err), EINVAL, "it is a bridge device, not a tap");

	veth("le0", "le0f");
	/* The kernel's own reason comes through (extended ack or errno). */
	FAILS(net_link_set_mtu(nl, "le0", 1000000, &err), EINVAL,
	      "cannot set the MTU of \"le0\" to 1000000: Invalid argument");
	const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	FAILS(net_link_set_mac(nl, "le0", mcast, &err), EINVAL, "not a unicast address");
	FAILS(net_link_set_master(nl, "le0", "nosuch0", &err), ENODEV,
	      "cannot add \"le0\" to bridge \"nosuch0\": no network interface \"nosuch0\"");
	/* A port cannot be made a port of itself (kernel refuses). */
	FAILS(net_link_set_master(nl, "bre0", "bre0", &err), ELOOP,
	      "cannot add \"bre0\" to bridge \"bre0\"");
	FAILS(net_bridge_port_set_state(nl, "le0", NET_BRPORT_BLOCKING, &err), ENOTCONN,
	      "not a bridge port");
	FAILS(net_vlan_attach(nl, "le0", 4096, &err), EINVAL, "VLAN 4096");
	FAILS(net_vlan_attach(nl, "nosuch0", 10, &err), ENODEV, "no network interface");

	struct net_shaping bad = { .avg_bps = 8000000, .peak_bps = 4000000, .burst_bytes = 65536 };
	FAILS(net_shaping_set(nl, "le0", "vse0", &bad, &err), EINVAL,
	      "cannot shape \"le0\": peak bandwidth 4000000 bit/s is below the average bandwidth "
	      "8000000 bit/s");
	bad = (struct net_shaping){ .avg_bps = 8000000, .burst_bytes = 1000 };
	FAILS(net_shaping_set(nl, "le0", "vse0", &bad, &err), EINVAL,
	      "burst size 1000 bytes is smaller than one frame (1518 bytes at MTU 1500)");
	bad = (struct net_shaping){ .avg_bps = 100, .burst_bytes = 65536 };
	FAILS(net_shaping_set(nl, "le0", "vse0", &bad, &err), EINVAL, "average bandwidth 100");
	bad = (struct net_shaping){ .avg_bps = 8000, .burst_bytes = 1000000 };
	FAILS(net_shaping_set(nl, "le0", "vse0", &bad, &err), EINVAL, "too large");
	bad = (struct net_shaping){ .avg_bps = 8000000, .burst_bytes = 65536 };
	FAILS(net_shaping_set(nl, "le0", "bre0", &bad, &err), EEXIST, "not an ifb");
	FAILS(net_shaping_set(nl, "nosuch0", "vse0", &bad, &err), ENODEV, "no network interface");
	assert_int_equal(net_link_exists(nl, "vse0", NULL), 0);

	OK(net_link_delete(nl, "le0", &err));
	OK(net_link_delete(nl, "bre0", &err));
}

static void test_port_state_and_stats(void **state)
{
	(void)state;
	add_bridge("brs0");
	add_port("brs0", "ls1", "ls1f");
	add_port("brs0", "ls2", "ls2f");
	enum net_brport_state st;
	OK(net_bridge_port_get_state(nl, "ls2", &st, &err));
	assert_int_equal(st, NET_BRPORT_FORWARDING);

	int rx = sniffer("ls2f");
	struct net_link_stats far0, port0, far1, port1;
	OK(net_link_get_stats(nl, "ls1f", &far0, &err));
	OK(net_link_get_stats(nl, "ls1", &port0, &err));
	uint32_t marker = next_marker++;
	for (int i = 0; i < 20; i++)
		send_frame("ls1f", -1, marker);
	struct seen s;
	observe(&rx, &s, 1, marker, 200);
	assert_true(s.seen);
	OK(net_link_get_stats(nl, "ls1f", &far1, &err));
	OK(net_link_get_stats(nl, "ls1", &port1, &err));
	assert_true(far1.tx_packets >= far0.tx_packets + 20);
	assert_true(far1.tx_bytes >= far0.tx_bytes + 20 * 64);
	assert_true(port1.rx_packets >= port0.rx_packets + 20);
	assert_true(port1.rx_bytes >= port0.rx_bytes + 20 * 64);

	/* With STP off, blocking does not hold: the bridge forwards again at once. */
	FAILS(net_bridge_port_set_state(nl, "ls2", NET_BRPORT_BLOCKING, &err), EOPNOTSUPP,
	      "cannot set bridge port \"ls2\" blocking: the bridge made it forwarding");
	/* A disabled port (a standby uplink) passes nothing; forwarding again, frames flow. */
	OK(net_bridge_port_set_state(nl, "ls2", NET_BRPORT_DISABLED, &err));
	OK(net_bridge_port_get_state(nl, "ls2", &st, &err));
	assert_int_equal(st, NET_BRPORT_DISABLED);
	/* ...both ways: frames from it are not forwarded either. */
	int rx1 = sniffer("ls1f");
	uint32_t back = next_marker++;
	send_frame("ls2f", -1, back);
	observe(&rx1, &s, 1, back, 200);
	assert_false(s.seen);
	/* Adding another port does not re-enable it. */
	add_port("brs0", "ls3", "ls3f");
	OK(net_bridge_port_get_state(nl, "ls2", &st, &err));
	assert_int_equal(st, NET_BRPORT_DISABLED);
	marker = next_marker++;
	send_frame("ls1f", -1, marker);
	observe(&rx, &s, 1, marker, 200);
	assert_false(s.seen);
	OK(net_bridge_port_set_state(nl, "ls2", NET_BRPORT_FORWARDING, &err));
	assert_int_equal(get("ls2").brport_state, NET_BRPORT_FORWARDING);
	marker = next_marker++;
	send_frame("ls1f", -1, marker);
	observe(&rx, &s, 1, marker, 500);
	assert_true(s.seen);
	back = next_marker++;
	send_frame("ls2f", -1, back);
	observe(&rx1, &s, 1, back, 500);
	assert_true(s.seen);
	close(rx1);

	/* Not on a port without carrier. */
	OK(net_link_set_up(nl, "ls2f", false, &err));
	FAILS(net_bridge_port_set_state(nl, "ls2", NET_BRPORT_FORWARDING, &err), ENETDOWN,
	      "the port is down or has no carrier");
	FAILS(net_bridge_port_set_state(nl, "ls2", (enum net_brport_state)7, &err), EINVAL,
	      "no such state");
	close(rx);
	OK(net_link_delete(nl, "ls1", &err));
	OK(net_link_delete(nl, "ls2", &err));
	OK(net_link_delete(nl, "ls3", &err));
	OK(net_link_delete(nl, "brs0", &err));
}

/* ---- taps ---- */

#define NOBODY 65534

/* In the child: attach to tap as QEMU does, as an unprivileged user. */
static int tap_attach(const char *name)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ifreq ifr = { 0 };
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void test_tap(void **state)
{
	(void)state;
	char tap[VNET_IFNAME_MAX], other[VNET_IFNAME_MAX];
	vnet_tap_name("1a2b3c4d-0000-4000-8000-000000000000", 0, tap);
	vnet_tap_name("1a2b3c4d-0000-4000-8000-000000000000", 1, other);
	assert_string_equal(tap, "vt1a2b3c4dn0");
	OK(net_tap_create(tap, NOBODY, NOBODY, &err));
	struct net_link_info t = get(tap);
	assert_string_equal(t.kind, "tun");
	assert_true(t.tun.tap);
	assert_true(t.tun.vnet_hdr);
	assert_true(t.tun.persist);
	assert_false(t.tun.pi);
	assert_false(t.tun.multi_queue);
	assert_int_equal(t.tun.owner, NOBODY);
	assert_int_equal(t.tun.group, NOBODY);
	FAILS(net_tap_create(tap, NOBODY, NOBODY, &err), EEXIST, "already exists");
	OK(net_tap_create(other, 1234, (gid_t)-1, &err));
	assert_int_equal(get(other).tun.owner, 1234);
	assert_int_equal(get(other).tun.group, (gid_t)-1);

	/* The tap on a bridge, and a frame written by the unprivileged user seen. */
	add_bridge("brtap0");
	OK(net_link_set_master(nl, tap, "brtap0", &err));
	OK(net_link_set_up(nl, tap, true, &err));
	add_port("brtap0", "ltap", "ltapf");
	int rx = sniffer("ltapf");
	uint32_t marker = next_marker++;

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(10);
		if (getuid() != NOBODY || geteuid() != NOBODY)
			_exit(11);
		/* Owned by someone else: refused. */
		int fd = tap_attach(other);
		if (fd != -EPERM)
			_exit(12);
		fd = tap_attach(tap);
		if (fd < 0)
			_exit(13);
		/* virtio-net header (all zero: no offloads), then the frame. */
		uint8_t buf[10 + 64];
		memset(buf, 0, 10);
		build_frame(buf + 10, 64, -1, 0x42, marker);
		for (int i = 0; i < 200; i++) {
			if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				_exit(14);
			usleep(10000);
		}
		_exit(0);
	}
	/* The tap gets carrier once attached; the frame then crosses the bridge. */
	struct seen s = { 0 };
	uint64_t end = now_ns() + 3000000000ULL;
	while (!s.seen && now_ns() < end)
		observe(&rx, &s, 1, marker, 100);
	kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status))
		assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(s.seen);
	close(rx);

	OK(net_tap_delete(nl, tap, &err));
	OK(net_tap_delete(nl, other, &err));
	assert_int_equal(net_link_exists(nl, tap, NULL), 0);
	FAILS(net_tap_delete(nl, tap, &err), ENODEV, "no network interface");
	OK(net_link_delete(nl, "ltap", &err));
	OK(net_link_delete(nl, "brtap0", &err));
}

/* ---- VLANs ---- */

enum { F1, F2, F3, F4, UF, NFAR };
static const char *const far_names[NFAR] = { "lv1f", "lv2f", "lv3f", "lv4f", "lvuf" };

struct expect {
	bool seen;
	int vid; /* -1: untagged */
};

/* Sends one frame from far end `from` and checks what every far end gets. */
static void vlan_case(const char *what, const int *fds, const char *from, int tag,
		      const struct expect exp[NFAR])
{
	uint32_t marker = next_marker++;
	send_frame(from, tag, marker);
	struct seen s[NFAR];
	observe(fds, s, NFAR, marker, 250);
	for (int i = 0; i < NFAR; i++) {
		if (s[i].seen != exp[i].seen)
			fail_msg("%s: %s %s the frame", what, far_names[i],
				 s[i].seen ? "got" : "did not get");
		if (!s[i].seen)
			continue;
		int vid = s[i].tagged ? (int)s[i].vid : -1;
		if (vid != exp[i].vid)
			fail_msg("%s: %s got it with VLAN %d, not %d", what, far_names[i], vid,
				 exp[i].vid);
	}
}

#define NO { false, -1 }
#define UNTAGGED { true, -1 }
#define TAGGED(v) { true, v }

static void test_vlan(void **state)
{
	(void)state;
	add_bridge("vsw0");
	add_port("vsw0", "lv1", "lv1f");
	add_port("vsw0", "lv2", "lv2f");
	add_port("vsw0", "lv3", "lv3f");
	add_port("vsw0", "lv4", "lv4f");
	add_port("vsw0", "lvu", "lvuf"); /* uplink: no programs */
	OK(net_vlan_attach(nl, "lv1", 10, &err));
	OK(net_vlan_attach(nl, "lv2", 10, &err));
	OK(net_vlan_attach(nl, "lv3", 20, &err));
	OK(net_vlan_attach(nl, "lv4", NET_VLAN_NONE, &err));
	unsigned vid;
	OK(net_vlan_get(nl, "lv1", &vid, &err));
	assert_int_equal(vid, 10);
	OK(net_vlan_get(nl, "lv3", &vid, &err));
	assert_int_equal(vid, 20);
	OK(net_vlan_get(nl, "lv4", &vid, &err));
	assert_int_equal(vid, 0);
	OK(net_vlan_get(nl, "lvu", &vid, &err));
	assert_int_equal(vid, NET_VLAN_TRUNK);

	int fds[NFAR];
	for (int i = 0; i < NFAR; i++)
		fds[i] = sniffer(far_names[i]);

	vlan_case("10 -> 10, uplink tagged 10", fds, "lv1f", -1,
		  (struct expect[]){ NO, UNTAGGED, NO, NO, TAGGED(10) });
	vlan_case("20 -> uplink tagged 20 only", fds, "lv3f", -1,
		  (struct expect[]){ NO, NO, NO, NO, TAGGED(20) });
	vlan_case("uplink tagged 20 -> vid 20 port only", fds, "lvuf", 20,
		  (struct expect[]){ NO, NO, UNTAGGED, NO, NO });
	vlan_case("uplink tagged 10 -> vid 10 ports", fds, "lvuf", 10,
		  (struct expect[]){ UNTAGGED, UNTAGGED, NO, NO, NO });
	vlan_case("uplink untagged -> vid 0 port only", fds, "lvuf", -1,
		  (struct expect[]){ NO, NO, NO, UNTAGGED, NO });
	vlan_case("vid 0 -> uplink untagged", fds, "lv4f", -1,
		  (struct expect[]){ NO, NO, NO, NO, UNTAGGED });
	vlan_case("uplink tagged 30 -> nobody", fds, "lvuf", 30,
		  (struct expect[]){ NO, NO, NO, NO, NO });
	vlan_case("guest-tagged from access port dropped", fds, "lv1f", 10,
		  (struct expect[]){ NO, NO, NO, NO, NO });
	vlan_case("guest-tagged other vid from access port dropped", fds, "lv1f", 20,
		  (struct expect[]){ NO, NO, NO, NO, NO });
	vlan_case("guest-tagged from vid 0 port dropped", fds, "lv4f", 10,
		  (struct expect[]){ NO, NO, NO, NO, NO });

	/*
	 * Frames handed to the port itself (as a local sender would), with the
	 * tag still inline: the egress program's inline path.
	 */
	vlan_case("inline tag 10 out of a vid 10 port: untagged", fds, "lv1", 10,
		  (struct expect[]){ UNTAGGED, NO, NO, NO, NO });
	vlan_case("inline tag 20 out of a vid 10 port: dropped", fds, "lv1", 20,
		  (struct expect[]){ NO, NO, NO, NO, NO });
	vlan_case("untagged out of a vid 10 port: dropped", fds, "lv1", -1,
		  (struct expect[]){ NO, NO, NO, NO, NO });
	vlan_case("untagged out of a vid 0 port: passes", fds, "lv4", -1,
		  (struct expect[]){ NO, NO, NO, UNTAGGED, NO });
	vlan_case("inline tag out of a vid 0 port: dropped", fds, "lv4", 10,
		  (struct expect[]){ NO, NO, NO, NO, NO });

	/* Changing the vid swaps the programs in place. */
	OK(net_vlan_attach(nl, "lv3", 30, &err));
	OK(net_vlan_get(nl, "lv3", &vid, &err));
	assert_int_equal(vid, 30);
	vlan_case("uplink tagged 30 -> port moved to 30", fds, "lvuf", 30,
		  (struct expect[]){ NO, NO, UNTAGGED, NO, NO });
	vlan_case("uplink tagged 20 -> nobody now", fds, "lvuf", 20,
		  (struct expect[]){ NO, NO, NO, NO, NO });

	/* 4095: guest tagging, no programs. */
	OK(net_vlan_attach(nl, "lv4", NET_VLAN_TRUNK, &err));
	OK(net_vlan_get(nl, "lv4", &vid, &err));
	assert_int_equal(vid, NET_VLAN_TRUNK);
	vlan_case("trunk port tags 77 itself", fds, "lv4f", 77,
		  (struct expect[]){ NO, NO, NO, NO, TAGGED(77) });
	vlan_case("uplink tagged 77 -> trunk port, tagged", fds, "lvuf", 77,
		  (struct expect[]){ NO, NO, NO, TAGGED(77), NO });
	OK(net_vlan_detach(nl, "lv3", &err));
	OK(net_vlan_get(nl, "lv3", &vid, &err));
	assert_int_equal(vid, NET_VLAN_TRUNK);
	OK(net_vlan_detach(nl, "lv3", &err)); /* twice: no error */

	/* A private bridge (no uplink): nothing is seen outside it. */
	add_bridge("vsw1");
	add_port("vsw1", "lp1", "lp1f");
	add_port("vsw1", "lp2", "lp2f");
	OK(net_vlan_attach(nl, "lp1", 10, &err));
	OK(net_vlan_attach(nl, "lp2", 10, &err));
	int all = sniffer(NULL);
	int inside[] = { (int)if_nametoindex("vsw1"), (int)if_nametoindex("lp1"),
			 (int)if_nametoindex("lp1f"), (int)if_nametoindex("lp2"),
			 (int)if_nametoindex("lp2f") };
	uint32_t marker = next_marker++;
	send_frame("lp1f", -1, marker);
	bool seen_lp2f = false;
	uint64_t end = now_ns() + 300000000ULL;
	while (now_ns() < end) {
		struct seen s;
		int64_t m;
		while ((m = read_frame(all, &s, NULL)) != -1) {
			if (m != marker)
				continue;
			bool in = false;
			for (size_t i = 0; i < ARRAY_SIZE(inside); i++)
				in |= s.ifindex == inside[i];
			if (!in) {
				char name[IF_NAMESIZE] = "?";
				if_indextoname((unsigned)s.ifindex, name);
				fail_msg("a frame of the private bridge was seen on %s", name);
			}
			if (s.ifindex == inside[4] && s.pkttype != PACKET_OUTGOING && !s.tagged)
				seen_lp2f = true;
		}
		sleep_ms(10);
	}
	assert_true(seen_lp2f);
	close(all);

	for (int i = 0; i < NFAR; i++)
		close(fds[i]);
	const char *links[] = { "lv1", "lv2", "lv3", "lv4", "lvu", "lp1", "lp2", "vsw0", "vsw1" };
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		OK(net_link_delete(nl, links[i], &err));
}

/* ---- shaping ---- */

struct arrival {
	uint64_t t;
	uint32_t len;
};

static void test_shaping(void **state)
{
	(void)state;
	char ifb[VNET_IFNAME_MAX];
	vnet_ifb_name("1a2b3c4d-0000-4000-8000-000000000000", 0, ifb);
	add_bridge("vsw2");
	add_port("vsw2", "lsh", "lshf");
	add_port("vsw2", "lshu", "lshuf");
	OK(net_vlan_attach(nl, "lsh", 10, &err));

	const struct net_shaping policy = { .avg_bps = 8000000, .peak_bps = 16000000,
					    .burst_bytes = 65536 };
	struct net_shaping got;
	assert_int_equal(net_shaping_get(nl, "lsh", ifb, &got, NULL), 0);
	OK(net_shaping_set(nl, "lsh", ifb, &policy, &err));
	OK(net_shaping_set(nl, "lsh", ifb, &policy, &err)); /* again: same result */
	assert_int_equal(net_shaping_get(nl, "lsh", ifb, &got, NULL), 1);
	assert_int_equal(got.avg_bps, policy.avg_bps);
	assert_int_equal(got.peak_bps, policy.peak_bps);
	assert_int_equal(got.burst_bytes, policy.burst_bytes);
	assert_string_equal(get(ifb).kind, "ifb");
	unsigned vid;
	OK(net_vlan_get(nl, "lsh", &vid, &err));
	assert_int_equal(vid, 10);

	/* Blast 1514-byte frames at 3x the average for 3 s and time arrivals. */
	int tx = sender("lshf");
	int rx = sniffer("lshuf");
	uint8_t frame[1514];
	build_frame(frame, sizeof(frame), -1, 0x77, 0xfeed);
	const uint64_t duration = 3000000000ULL, interval = 500000; /* 2000 frames/s */
	size_t cap = 20000, n = 0;
	struct arrival *arr = xcalloc(cap, sizeof(*arr));
	bool tag_ok = true;
	/*
	 * Real-time priority while timing, so that other work on this small
	 * machine does not stall the sender (the bucket's queue lasts ~70 ms)
	 * or the receiver's clock readings.  The loop sleeps most of the time.
	 */
	struct sched_param rt = { .sched_priority = 10 }, normal = { 0 };
	bool realtime = sched_setscheduler(0, SCHED_FIFO, &rt) == 0;
	uint64_t start = now_ns(), next = start;
	while (now_ns() < start + duration + 100000000ULL) {
		uint64_t t = now_ns();
		while (next <= t && next < start + duration) {
			if (send(tx, frame, sizeof(frame), 0) < 0 && errno != ENOBUFS)
				fail_msg("send: %s", strerror(errno));
			next += interval;
		}
		struct seen s;
		size_t len;
		int64_t m;
		while ((m = read_frame(rx, &s, &len)) != -1) {
			if (m != 0xfeed || s.pkttype == PACKET_OUTGOING)
				continue;
			tag_ok &= s.tagged && s.vid == 10;
			if (n < cap)
				arr[n++] = (struct arrival){ now_ns() - start, (uint32_t)len };
		}
		struct pollfd pfd = { .fd = rx, .events = POLLIN };
		uint64_t wait = next > now_ns() ? next - now_ns() : 0;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)(wait < 500000 ? wait : 500000) };
		ppoll(&pfd, 1, &ts, NULL);
	}
	if (realtime)
		sched_setscheduler(0, SCHED_OTHER, &normal);
	assert_true(n > 100);
	assert_true(tag_ok); /* shaped frames keep their VLAN tag 10 */

	/* Average over [1 s, 3 s]. */
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		if (arr[i].t >= 1000000000ULL && arr[i].t < 3000000000ULL)
			bytes += arr[i].len;
	double avg = (double)bytes * 8 / 2.0;
	/* The burst: the first 50 ms after the first frame, and the first 200 ms. */
	uint64_t first = arr[0].t, b50 = 0, b200 = 0;
	for (size_t i = 0; i < n; i++) {
		if (arr[i].t < first + 50000000ULL)
			b50 += arr[i].len;
		if (arr[i].t < first + 200000000ULL)
			b200 += arr[i].len;
	}
	double r50 = (double)b50 * 8 / 0.05, r200 = (double)b200 * 8 / 0.2;
	print_message("shaping: average %.3f Mbit/s over [1 s, 3 s] (target 8); first 50 ms "
		      "%.2f Mbit/s (peak 16), first 200 ms %.2f Mbit/s\n",
		      avg / 1e6, r50 / 1e6, r200 / 1e6);
	free(arr);
	assert_true(avg > 8e6 * 0.9 && avg < 8e6 * 1.1);
	assert_true(r50 > 8e6 * 1.5);  /* the burst goes faster than average */
	assert_true(r50 < 16e6 * 1.25); /* but not faster than peak */
	assert_true(r200 > 8e6 * 1.2);

	/* A new policy replaces the bucket; peak 0 means "same as average". */
	const struct net_shaping slower = { .avg_bps = 4000000, .burst_bytes = 32768 };
	OK(net_shaping_set(nl, "lsh", ifb, &slower, &err));
	assert_int_equal(net_shaping_get(nl, "lsh", ifb, &got, NULL), 1);
	assert_int_equal(got.avg_bps, 4000000);
	assert_int_equal(got.peak_bps, 4000000);
	assert_int_equal(got.burst_bytes, 32768);
	/* Beyond 32-bit byte rates (64-bit attributes). */
	const struct net_shaping fast = { .avg_bps = 40000000000ULL,
					  .peak_bps = 80000000000ULL,
					  .burst_bytes = 10000000 };
	OK(net_shaping_set(nl, "lsh", ifb, &fast, &err));
	assert_int_equal(net_shaping_get(nl, "lsh", ifb, &got, NULL), 1);
	assert_int_equal(got.avg_bps, fast.avg_bps);
	assert_int_equal(got.peak_bps, fast.peak_bps);
	/* The kernel keeps the bucket in 64 ns ticks: 320 bytes at 5 GB/s. */
	uint64_t tick_bytes = fast.avg_bps / 8 * 64 / 1000000000 + 1;
	assert_true(got.burst_bytes >= fast.burst_bytes - tick_bytes &&
		    got.burst_bytes <= fast.burst_bytes + tick_bytes);

	OK(net_shaping_clear(nl, "lsh", ifb, &err));
	assert_int_equal(net_shaping_get(nl, "lsh", ifb, &got, NULL), 0);
	assert_int_equal(net_link_exists(nl, ifb, NULL), 0);
	OK(net_shaping_clear(nl, "lsh", ifb, &err)); /* twice: no error */
	OK(net_vlan_get(nl, "lsh", &vid, &err));       /* the VLAN program stays */
	assert_int_equal(vid, 10);

	/* Unshaped now: the same blast passes at far more than 8 Mbit/s. */
	uint64_t t0 = now_ns(), got_bytes = 0;
	for (int i = 0; i < 400; i++)
		send(tx, frame, sizeof(frame), 0);
	while (now_ns() < t0 + 200000000ULL) {
		struct seen s;
		size_t len;
		int64_t m;
		while ((m = read_frame(rx, &s, &len)) != -1)
			if (m == 0xfeed && s.pkttype != PACKET_OUTGOING)
				got_bytes += len;
		sleep_ms(5);
	}
	assert_true(got_bytes > 200 * 1514); /* > 12 Mbit/s... in 0.2 s: > 2 MB/s */

	/* The shaping goes with the port; clearing then still removes the ifb. */
	OK(net_shaping_set(nl, "lsh", ifb, &policy, &err));
	OK(net_link_delete(nl, "lsh", &err));
	OK(net_shaping_clear(nl, "lsh", ifb, &err));
	assert_int_equal(net_link_exists(nl, ifb, NULL), 0);

	close(tx);
	close(rx);
	OK(net_link_delete(nl, "lshu", &err));
	OK(net_link_delete(nl, "vsw2", &err));
}

/* ---- link monitor ---- */

struct event_log {
	size_t n;
	struct {
		char name[IF_NAMESIZE];
		bool up, carrier, deleted;
	} ev[256];
};

static void log_event(const struct net_link_event *ev, void *opaque)
{
	struct event_log *log = opaque;
	if (log->n >= ARRAY_SIZE(log->ev))
		return;
	snprintf(log->ev[log->n].name, IF_NAMESIZE, "%s", ev->ifname);
	log->ev[log->n].up = ev->up;
	log->ev[log->n].carrier = ev->carrier;
	log->ev[log->n].deleted = ev->deleted;
	log->n++;
}

/* Polls the monitor until an event for name with this state arrives. */
static void wait_event(struct net_monitor *mon, const char *name, bool up, bool carrier,
		       bool deleted)
{
	struct event_log *log = xcalloc(1, sizeof(*log));
	uint64_t end = now_ns() + 2000000000ULL;
	while (now_ns() < end) {
		struct pollfd pfd = { .fd = net_monitor_fd(mon), .events = POLLIN };
		poll(&pfd, 1, 100);
		log->n = 0;
		OK(net_monitor_dispatch(mon, log_event, log, &err));
		for (size_t i = 0; i < log->n; i++)
			if (!strcmp(log->ev[i].name, name) && log->ev[i].up == up &&
			    log->ev[i].carrier == carrier && log->ev[i].deleted == deleted) {
				free(log);
				return;
			}
	}
	free(log);
	fail_msg("no event for %s up=%d carrier=%d deleted=%d", name, up, carrier, deleted);
}

static void test_monitor(void **state)
{
	(void)state;
	_cleanup_net_monitor_ struct net_monitor *mon = NULL;
	OK(net_monitor_open(&mon, &err));
	assert_true(net_monitor_fd(mon) >= 0);
	struct event_log *log = xcalloc(1, sizeof(*log));
	OK(net_monitor_dispatch(mon, log_event, log, &err)); /* nothing pending: no block */
	free(log);

	veth("lm0", "lm0f");
	wait_event(mon, "lm0", true, true, false);
	OK(net_link_set_up(nl, "lm0", false, &err));
	wait_event(mon, "lm0", false, false, false);
	OK(net_link_set_up(nl, "lm0", true, &err));
	wait_event(mon, "lm0", true, true, false);
	/* The peer going down takes the carrier away. */
	OK(net_link_set_up(nl, "lm0f", false, &err));
	wait_event(mon, "lm0", true, false, false);
	OK(net_link_set_up(nl, "lm0f", true, &err));
	wait_event(mon, "lm0", true, true, false);
	OK(net_link_delete(nl, "lm0", &err));
	wait_event(mon, "lm0f", false, false, true);
}

static int setup(void **state)
{
	(void)state;
	if (getuid() != 0) {
		fprintf(stderr, "test_net must run as root (network namespaces, bpf)\n");
		return -1;
	}
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
		fprintf(stderr, "unshare: %s\n", strerror(errno));
		return -1;
	}
	/*
	 * A private /dev/net/tun of mode 0666 (as on a stock Debian host; this
	 * host has 0600), so that the unprivileged-user tap test runs here.
	 */
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/dev/net", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") < 0 ||
	    mknod("/dev/net/tun", S_IFCHR | 0666, makedev(10, 200)) < 0 ||
	    chmod("/dev/net/tun", 0666) < 0) {
		fprintf(stderr, "private /dev/net/tun: %s\n", strerror(errno));
		return -1;
	}
	/* No IPv6 chatter from the test's interfaces. */
	int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			fprintf(stderr, "disable_ipv6: %s\n", strerror(errno));
		close(fd);
	}
	struct vr_error *err = NULL;
	if (net_nl_open(&nl, &err) < 0 || net_link_set_up(nl, "lo", true, &err) < 0) {
		fprintf(stderr, "%s\n", vr_error_msg(err));
		vr_error_free(err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	net_nl_close(nl);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_port_state_and_stats),
		cmocka_unit_test(test_tap),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_shaping),
		cmocka_unit_test(test_monitor),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
