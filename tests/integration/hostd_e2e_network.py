#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of virtual switches and port groups with real guests (QEMU, TCG).

The whole test runs in a network namespace of its own (unshare at start): hostd's
bridges, the VMs' taps and the veth pairs standing in for physical uplinks all live
there and vanish with it.  The far ends of the uplinks are watched with packet
sockets, as a physical switch would see the frames.

Covered: bad requests answer 4xx and change nothing; two VMs on one port group
reach each other; on different VLANs they do not, and their frames leave the uplink
tagged with their VLAN; a private switch leaks nothing to any uplink; traffic shaping
holds a VM near its average rate once the burst is spent; the team fails over to the
standby uplink when the active one loses its link, and back; a hostd restart keeps
the running VMs' ports; a MAC already in use refuses a power-on; power-off removes
the taps; removing port groups and switches releases the uplinks.

usage: hostd_e2e_network.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import ctypes
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           run_tests, stop_hosts, wait_for)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]

# A network namespace of our own, before anything is started, and a mount
# namespace in which /sys shows that network namespace's interfaces (sysfs shows
# the namespace of whoever mounted it): a fresh sysfs, of which the network parts
# are bound over the host's, so that /sys/fs/cgroup stays as it is.
CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(CLONE_NEWNET | CLONE_NEWNS) != 0:
    raise SystemExit(f"unshare: {os.strerror(ctypes.get_errno())}")
subprocess.run(["mount", "--make-rprivate", "/"], check=True)
_SYSFS = tempfile.mkdtemp(prefix="vireo-e2e-sysfs-")
subprocess.run(["mount", "-t", "sysfs", "sysfs", _SYSFS], check=True)
for _d in ("class/net", "devices/virtual/net"):
    subprocess.run(["mount", "--bind", os.path.join(_SYSFS, _d), os.path.join("/sys", _d)],
                   check=True)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

work = Workdir("vireo-e2e-network-")
DS = os.path.join(work.path, "datastore")
os.makedirs(DS)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
hosts = []
VMS = {}


def host():
    return hosts[0]


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True)


def cli(*args, check_rc=0):
    h = host()
    env = dict(os.environ, VIREO_SERVER=h.url, XDG_CONFIG_HOME=os.path.join(work.path, "cli"),
               VIREO_PASSWORD=h.admin_password())
    env.pop("VIREO_TOKEN", None)
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=120)
    if check_rc is not None and p.returncode != check_rc:
        raise TestFailure(f"vireo {' '.join(args)} -> {p.returncode}, expected {check_rc}; "
                          f"stdout {p.stdout!r}, stderr {p.stderr!r}")
    return p


def error_message(body):
    return body.get("error", {}).get("message", "") if isinstance(body, dict) else str(body)


def expect_error(method, path, body, status, needle):
    st, reply = host().request(method, path, body)
    check(st == status, f"{method} {path} {body} -> {st}, expected {status}: {reply}")
    check(needle in error_message(reply),
          f"{method} {path}: message {error_message(reply)!r} lacks {needle!r}")


def network():
    return host().ok("GET", "/api/v1/network")


def portgroup(name):
    return host().ok("GET", f"/api/v1/network/portgroups/{name.replace(' ', '%20')}")


def create_vm(name, pg, addr, behaviours="", mac=None):
    nic = {"connection": "bridged", "network": pg}
    if mac:
        nic["mac"] = mac
    spec = {"name": name, "datastore": "ds1", "memory_mib": 160, "vcpus": 1,
            "guest_os": "debian12-64",
            "boot": {"kernel": KERNEL, "initrd": INITRD,
                     "cmdline": f"{CMDLINE} vireo.hostname={name} vireo.ip={addr}/24 "
                                f"{behaviours}".strip()},
            "nics": [nic]}
    vm_id = host().task_ok("POST", "/api/v1/vms", spec)["result"]["id"]
    VMS[name] = vm_id
    return vm_id


def set_cmdline(vm_id, name, addr, behaviours):
    host().ok("PATCH", f"/api/v1/vms/{vm_id}",
              {"boot": {"kernel": KERNEL, "initrd": INITRD,
                        "cmdline": f"{CMDLINE} vireo.hostname={name} vireo.ip={addr}/24 "
                                   f"{behaviours}".strip()}})


def power(vm_id, op):
    return host().task_ok("POST", f"/api/v1/vms/{vm_id}/power/{op}")


def mac_of(vm_id):
    return host().vm(vm_id)["config"]["nics"][0]["mac"].lower()


def tap_of(vm_id):
    for sw in network()["vswitches"]:
        for pg in sw["portgroups"]:
            for p in pg["ports"]:
                if p["vm_id"] == vm_id:
                    return p["tap"]
    return None


def sysfs(ifname, what):
    with open(f"/sys/class/net/{ifname}/{what}") as f:
        return f.read().strip()


def master_of(ifname):
    link = f"/sys/class/net/{ifname}/master"
    return os.path.basename(os.readlink(link)) if os.path.exists(link) else None


class Capture:
    """Frames seen on an interface, with their 802.1Q tag (PACKET_AUXDATA)."""
    SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 1 << 4

    def __init__(self, ifname):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.s.setsockopt(self.SOL_PACKET, self.PACKET_AUXDATA, 1)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.s.bind((ifname, 0))

    def frames(self, seconds):
        """(source MAC, VLAN id or None) of every frame for `seconds`."""
        out = []
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            r, _, _ = select.select([self.s], [], [], left)
            if not r:
                continue
            data, anc, _, _ = self.s.recvmsg(65536, socket.CMSG_SPACE(20))
            vlan = None
            for level, typ, cdata in anc:
                if level == self.SOL_PACKET and typ == self.PACKET_AUXDATA:
                    status, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", cdata[:20])
                    if status & self.TP_STATUS_VLAN_VALID:
                        vlan = tci & 0xfff
            if len(data) >= 14:
                src = ":".join(f"{b:02x}" for b in data[6:12])
                # a tag left inline (no offload) counts too
                if vlan is None and data[12:14] == b"\x81\x00":
                    vlan = struct.unpack("!H", data[14:16])[0] & 0xfff
                out.append((src, vlan))

    def close(self):
        self.s.close()


def console_lines(vm_id, prefix):
    return [ln.strip() for ln in host().console_text(vm_id).splitlines()
            if ln.strip().startswith(prefix)]


def tx_rate_bps(ifname, seconds):
    """What an interface handed to its VM, in bit/s over `seconds` (a tap's tx)."""
    t0, b0 = time.monotonic(), int(sysfs(ifname, "statistics/tx_bytes"))
    time.sleep(seconds)
    t1, b1 = time.monotonic(), int(sysfs(ifname, "statistics/tx_bytes"))
    return (b1 - b0) * 8 / (t1 - t0)


# ---------------------------------------------------------------- tests

def test_setup_and_bad_requests():
    # Two veth pairs stand in for the host's NICs; their far ends are the "physical switch".
    for n in ("upl0", "upl1"):
        ip("link", "add", n, "type", "veth", "peer", "name", f"{n}p")
        ip("link", "set", f"{n}p", "up")
    before = network()
    expect_error("POST", "/api/v1/network/vswitches", {"name": "this-name-is-too-long"}, 400,
                 "limit is 12")
    expect_error("POST", "/api/v1/network/vswitches", {"name": "vs0", "uplinks": ["nosuch0"]},
                 404, "nosuch0")
    expect_error("POST", "/api/v1/network/vswitches", {"name": "vs0", "uplinks": ["lo"]}, 400,
                 "loopback")
    expect_error("POST", "/api/v1/network/vswitches", {"name": "vs0", "mtu": 100}, 400, "mtu")
    expect_error("POST", "/api/v1/network/vswitches",
                 {"name": "vs0", "uplinks": ["upl0", "upl0"]}, 400, "twice")
    check(network() == before, "a refused request changed the configuration")

    cli("network", "vswitch-add", "vs0", "--uplink", "upl0", "--uplink", "upl1")
    sw = host().ok("GET", "/api/v1/network/vswitches/vs0")
    check(sw["active_uplink"] == "upl0", f"active uplink: {sw}")
    check(master_of("upl0") == "vb-vs0" and master_of("upl1") is None,
          f"the active uplink is the bridge's port, the standby is not: "
          f"{master_of('upl0')}, {master_of('upl1')}")
    expect_error("POST", "/api/v1/network/vswitches", {"name": "vs9", "uplinks": ["upl1"]}, 409,
                 "already an uplink")
    expect_error("POST", "/api/v1/network/portgroups", {"name": "X", "vswitch": "vs0",
                                                        "vlan": 4096}, 400, "vlan")
    expect_error("POST", "/api/v1/network/portgroups", {"name": "X", "vswitch": "nosw"}, 404,
                 "nosw")
    expect_error("POST", "/api/v1/network/portgroups",
                 {"name": "X", "vswitch": "vs0",
                  "shaping": {"average_kbps": 2000, "peak_kbps": 1000, "burst_kib": 32}},
                 400, "peak")
    cli("network", "portgroup-add", "Net10", "--vswitch", "vs0", "--vlan", "10")
    cli("network", "portgroup-add", "Net20", "--vswitch", "vs0", "--vlan", "20")
    expect_error("POST", "/api/v1/network/portgroups", {"name": "Net10", "vswitch": "vs0"}, 409,
                 "already exists")
    expect_error("DELETE", "/api/v1/network/vswitches/vs0", None, 409, "port group")
    st, _ = host().request("POST", "/api/v1/vms", {
        "name": "nope", "datastore": "ds1", "nics": [{"connection": "bridged"}]})
    check(st in (400, 202), "create with a bridged NIC without network")
    out = cli("network", "list").stdout
    check("vs0" in out and "Net10" in out and "upl0*" in out, f"network list: {out}")


def test_vlans_and_uplink_tags():
    v1 = create_vm("net1", "Net10", "10.0.10.1", "vireo.ping=10.0.10.2,10.0.10.3")
    v2 = create_vm("net2", "Net10", "10.0.10.2", "vireo.netsink=5001")
    v3 = create_vm("net3", "Net20", "10.0.10.3", "vireo.ping=10.0.10.1")
    cap = Capture("upl0p")
    try:
        for v in (v1, v2, v3):
            power(v, "on")
        for v in (v1, v2, v3):
            tap = tap_of(v)
            check(tap and master_of(tap) == "vb-vs0", f"VM {v}: tap {tap} on {master_of(tap)}")
            check(sysfs(tap, "owner") == str(__import__("pwd").getpwnam("vireo-qemu").pw_uid),
                  f"tap {tap} is owned by the QEMU user")
        host().wait_console(v1, "VIREO-PING 10.0.10.2 ok", timeout=120)
        host().wait_console(v3, "VIREO-NET-UP", timeout=120)
        frames = cap.frames(6)
    finally:
        cap.close()
    check("VIREO-PING 10.0.10.3 ok" not in host().console_text(v1),
          "net1 (VLAN 10) reached net3 (VLAN 20)")
    check("VIREO-PING 10.0.10.1 ok" not in host().console_text(v3),
          "net3 (VLAN 20) reached net1 (VLAN 10)")
    m1, m3 = mac_of(v1), mac_of(v3)
    tags1 = {vl for src, vl in frames if src == m1}
    tags3 = {vl for src, vl in frames if src == m3}
    check(tags1 == {10}, f"net1's frames on the uplink carry VLAN 10 only: {tags1}")
    check(tags3 == {20}, f"net3's frames on the uplink carry VLAN 20 only: {tags3}")
    pg = portgroup("Net10")
    check(sorted(p["vm"] for p in pg["ports"]) == ["net1", "net2"], f"ports of Net10: {pg}")
    # A VLAN change applies to running VMs at once: net3 joins VLAN 10.
    cli("network", "portgroup-set", "Net20", "--vlan", "10")
    host().wait_console(v1, "VIREO-PING 10.0.10.3 ok", timeout=60)
    cli("network", "portgroup-set", "Net20", "--vlan", "20")
    host().wait_console(v1, "VIREO-PING 10.0.10.3 fail", count=2, timeout=60)


def test_private_switch_leaks_nothing():
    cli("network", "vswitch-add", "priv")
    cli("network", "portgroup-add", "Isolated", "--vswitch", "priv")
    v3 = VMS["net3"]
    power(v3, "off")
    host().ok("PATCH", f"/api/v1/vms/{v3}", {"nics": [{"index": 0, "network": "Isolated"}]})
    set_cmdline(v3, "net3", "10.0.10.3", "vireo.ping=10.0.10.1")
    caps = [Capture("upl0p"), Capture("upl1p")]
    ok_before = host().console_text(v3).count("VIREO-PING 10.0.10.1 ok")  # the log is kept
    try:
        power(v3, "on")
        host().wait_console(v3, "VIREO-NET-UP", timeout=120)
        host().wait_console(v3, "VIREO-PING 10.0.10.1 fail", timeout=60)
        seen = [f for c in caps for f in c.frames(4)]
    finally:
        for c in caps:
            c.close()
    m3 = mac_of(v3)
    check(not [f for f in seen if f[0] == m3], f"the private switch leaked: {seen[:5]}")
    check(master_of(tap_of(v3)) == "vb-priv", "net3 is on the private bridge")
    time.sleep(3)
    check(host().console_text(v3).count("VIREO-PING 10.0.10.1 ok") == ok_before,
          "a VM on the private switch reached the uplinked one")


def test_shaping_holds_average():
    v1, v2 = VMS["net1"], VMS["net2"]
    power(v1, "off")
    # The ping of an absent address keeps ARP broadcasts going out (the failover test).
    set_cmdline(v1, "net1", "10.0.10.1", "vireo.netsend=10.0.10.2:5001 vireo.ping=10.0.10.99")
    power(v1, "on")
    host().wait_console(v1, "VIREO-NETSEND", timeout=120)
    tap2 = tap_of(v2)
    time.sleep(3)
    free_rate = tx_rate_bps(tap2, 4)
    avg_kbps = 2000
    check(free_rate > avg_kbps * 1000 * 1.5,
          f"unshaped, net1 sends only {free_rate / 1e6:.2f} Mbit/s: too slow to test "
          f"shaping at {avg_kbps} Kbit/s")
    cli("network", "portgroup-set", "Net10", "--shaping", f"{avg_kbps}:{2 * avg_kbps}:64")
    pg = portgroup("Net10")
    check(pg["shaping"] == {"average_kbps": 2000, "peak_kbps": 4000, "burst_kib": 64},
          f"shaping: {pg['shaping']}")
    time.sleep(3)  # the burst is spent
    rate = tx_rate_bps(tap2, 10)
    print(f"  shaping: unshaped {free_rate / 1e6:.2f} Mbit/s, shaped {rate / 1e6:.3f} Mbit/s "
          f"(average {avg_kbps / 1000:.1f})", flush=True)
    check(abs(rate - avg_kbps * 1000) <= 0.10 * avg_kbps * 1000,
          f"shaped rate {rate / 1e6:.3f} Mbit/s is not within 10% of {avg_kbps / 1000} Mbit/s")
    # The statistics see the same through the NIC's tap (seen from the VM: received).
    def nic_stats():
        for v in host().ok("GET", "/api/v1/stats")["vms"]:
            if v["id"] == v2 and v["nics"]:
                return v["nics"][0]
        return None
    n = wait_for("statistics of net2's NIC", nic_stats, timeout=30)
    check(n["device"] == tap2 and n["rx_bytes_total"] > 0, f"NIC statistics: {n}")
    stat_bps = n["rx_kibps"] * 1024 * 8
    check(abs(stat_bps - avg_kbps * 1000) <= 0.25 * avg_kbps * 1000,
          f"the statistics' rate {stat_bps / 1e6:.2f} Mbit/s is far from the shaped rate")
    cli("network", "portgroup-set", "Net10", "--no-shaping")
    time.sleep(2)
    after = tx_rate_bps(tap2, 3)
    check(after > avg_kbps * 1000 * 1.3, f"shaping removed, still {after / 1e6:.2f} Mbit/s")


def test_uplink_failover():
    v1 = VMS["net1"]
    m1 = mac_of(v1)
    cap1 = Capture("upl1p")
    try:
        ip("link", "set", "upl0p", "down")  # upl0 loses its carrier
        wait_for("the standby uplink to take over",
                 lambda: host().ok("GET", "/api/v1/network/vswitches/vs0")["active_uplink"]
                 == "upl1", timeout=20)
        check(master_of("upl1") == "vb-vs0" and master_of("upl0") is None,
              "only the new active uplink is the bridge's port")
        frames = cap1.frames(4)
    finally:
        cap1.close()
    check((m1, 10) in frames, f"net1's traffic leaves through upl1 after failover: {frames[:5]}")
    ev = host().ok("GET", "/api/v1/events")["events"]
    check(any(e.get("type") == "UplinkFailover" for e in ev), "a failover event")
    ip("link", "set", "upl0p", "up")
    wait_for("the first uplink to take over again",
             lambda: host().ok("GET", "/api/v1/network/vswitches/vs0")["active_uplink"]
             == "upl0", timeout=20)


def test_restart_keeps_ports():
    v1, v2 = VMS["net1"], VMS["net2"]
    tap1 = tap_of(v1)
    h = host()
    tap3 = tap_of(VMS["net3"])
    h.kill9()
    # As after a host reboot for that switch: its bridge is gone; hostd makes it again
    # and puts the running VM's port back on it.
    ip("link", "del", "vb-priv")
    h.start()
    cli("login", "--user", "admin")  # sessions do not outlive hostd
    check(os.path.exists("/sys/class/net/vb-priv"), "hostd re-created the private switch")
    check(master_of(tap3) == "vb-priv", "net3's port is back on the re-created switch")
    check(h.vm(v1)["power_state"] == "poweredOn", "net1 still runs after hostd's restart")
    check(master_of(tap1) == "vb-vs0", "net1's tap is still on the switch")
    check(tap_of(v1) == tap1, "the restarted hostd lists net1's port")
    rate = tx_rate_bps(tap_of(v2), 3)
    check(rate > 1e6, f"traffic still flows after the restart ({rate / 1e6:.2f} Mbit/s)")


def test_nic_moves_while_running():
    v3 = VMS["net3"]
    before = host().console_text(v3).count("VIREO-PING 10.0.10.1 ok")
    st, body = host().request("PATCH", f"/api/v1/vms/{v3}",
                              {"nics": [{"index": 0, "model": "e1000"}]})
    check(st == 409 and "port group" in error_message(body),
          f"other NIC changes wait for power-off: {st} {body}")
    cli("vm", "reconfigure", "net3", "--nic-set", "0:bridged:Net10")
    check(master_of(tap_of(v3)) == "vb-vs0", "net3's port moved to vs0's bridge")
    wait_for("net3 to reach net1 on its new port group",
             lambda: host().console_text(v3).count("VIREO-PING 10.0.10.1 ok") > before,
             timeout=60)
    st, body = host().request("PATCH", f"/api/v1/vms/{v3}",
                              {"nics": [{"index": 0, "network": "NoSuchGroup"}]})
    check(st >= 400 and "NoSuchGroup" in error_message(body), f"unknown port group: {st} {body}")
    check(host().vm(v3)["config"]["nics"][0]["network"] == "Net10",
          "a failed move leaves the NIC where it was")
    check(master_of(tap_of(v3)) == "vb-vs0", "and its port too")


def test_mac_conflict_and_teardown():
    v2 = VMS["net2"]
    v4 = create_vm("net4", "Net10", "10.0.10.4", mac=mac_of(v2))
    st, reply = h_power_raw(v4)
    check(st == "error" and "MAC address" in reply, f"power-on with net2's MAC: {st} {reply}")
    check(not [n for n in os.listdir("/sys/class/net") if n.startswith("vt" + v4.replace("-", "")[:8])],
          "the refused VM left no tap")
    taps = [tap_of(VMS[n]) for n in ("net1", "net2", "net3")]
    for n in ("net1", "net2", "net3"):
        power(VMS[n], "off")
    left = [t for t in taps if os.path.exists(f"/sys/class/net/{t}")]
    check(not left, f"power-off removes the taps: {left}")
    cli("network", "portgroup-remove", "Net10")
    cli("network", "portgroup-remove", "Net20")
    cli("network", "portgroup-remove", "Isolated")
    cli("network", "vswitch-remove", "vs0")
    cli("network", "vswitch-remove", "priv")
    check(not os.path.exists("/sys/class/net/vb-vs0"), "the bridge is gone")
    check(master_of("upl0") is None and master_of("upl1") is None, "the uplinks are released")
    check(network()["vswitches"] == [], "no switch is left")


def h_power_raw(vm_id):
    h = host()
    st, body = h.request("POST", f"/api/v1/vms/{vm_id}/power/on")
    if st != 202:
        return "error", error_message(body)
    t = h.wait_task(body["task"])
    if t["state"] == "error":
        return "error", str(t.get("error", ""))
    return t["state"], ""


def main():
    h = Hostd(HOSTD, work.path, "net-a", DS, extra=["--stats-interval", "2"])
    hosts.append(h)
    try:
        h.start()
        cli("login", "--user", "admin")
        return run_tests([
            ("setup and bad requests", test_setup_and_bad_requests),
            ("VLANs isolate and tag", test_vlans_and_uplink_tags),
            ("private switch leaks nothing", test_private_switch_leaks_nothing),
            ("shaping holds the average", test_shaping_holds_average),
            ("uplink failover", test_uplink_failover),
            ("restart keeps ports", test_restart_keeps_ports),
            ("NIC moves while running", test_nic_moves_while_running),
            ("MAC conflict and teardown", test_mac_conflict_and_teardown),
        ])
    finally:
        stop_hosts(hosts, work)
        for d in ("devices/virtual/net", "class/net"):
            subprocess.run(["umount", os.path.join("/sys", d)], check=False)
        subprocess.run(["umount", _SYSFS], check=False)
        os.rmdir(_SYSFS)


if __name__ == "__main__":
    sys.exit(main())
