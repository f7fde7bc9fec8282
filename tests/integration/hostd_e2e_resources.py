#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of CPU, memory and disk allocation with real guests (QEMU, TCG).

Covered: admission control refuses a power-on (and a live change) whose reservation
the host cannot honour, naming the numbers, and changes nothing; two CPU-bound VMs
with shares 2:1 on one contended core get CPU time 2:1 (within 10%), and a live
change of shares takes effect; a CPU limit caps a VM near its limit and lifting it
live frees it; an IOPS limit slows a disk-bound guest to its rate; under memory
pressure the balloon takes memory from an idle guest and gives it back when the
pressure goes; identical guests share pages once page sharing is on (the figure is
printed), and turning it off unmerges them.

hostd's cgroups go under a parent of the test's own, removed at the end.

usage: hostd_e2e_resources.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import os
import subprocess
import sys
import time

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           run_tests, stop_hosts, wait_for)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
work = Workdir("vireo-e2e-resources-")
DS = os.path.join(work.path, "datastore")
os.makedirs(DS)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
CGROUP_PARENT = f"vireo-e2e-{os.getpid()}"
KSM = "/sys/kernel/mm/ksm"
hosts = []
TICK = os.sysconf("SC_CLK_TCK")


def host():
    return hosts[0]


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


def create_vm(name, behaviours="", memory=160, resources=None, disks=()):
    spec = {"name": name, "datastore": "ds1", "memory_mib": memory, "vcpus": 1,
            "guest_os": "debian12-64",
            "boot": {"kernel": KERNEL, "initrd": INITRD,
                     "cmdline": f"{CMDLINE} vireo.hostname={name} {behaviours}".strip()},
            "disks": list(disks)}
    vm_id = host().task_ok("POST", "/api/v1/vms", spec)["result"]["id"]
    if resources:
        host().ok("PATCH", f"/api/v1/vms/{vm_id}", {"resources": resources})
    return vm_id


def power(vm_id, op):
    return host().task_ok("POST", f"/api/v1/vms/{vm_id}/power/{op}")


def qemu_pid(vm_id):
    return host().vm(vm_id)["runtime"]["pid"]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_use(pids, seconds):
    """Each process's CPU use over `seconds`, as a fraction of one core."""
    t0, c0 = time.monotonic(), [cpu_seconds(p) for p in pids]
    time.sleep(seconds)
    t1, c1 = time.monotonic(), [cpu_seconds(p) for p in pids]
    return [(b - a) / (t1 - t0) for a, b in zip(c0, c1)]


def resources():
    return host().ok("GET", "/api/v1/host/resources")


def mem_vm(vm_id):
    for v in resources()["memory_state"]["vms"]:
        if v["vm_id"] == vm_id:
            return v
    return None


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def read_int(path):
    with open(path) as f:
        return int(f.read().strip())


# ---------------------------------------------------------------- tests

def test_admission_control():
    res = resources()
    check(res["cgroup"] in ("v1", "v2"), f"cgroups: {res}")
    total = res["memory"]["total_mib"]
    vm = create_vm("adm1", resources={"memory": {"reservation_mib": 128}})
    # The host keeps all but 100 MiB for itself: a 128 MiB reservation cannot fit.
    host().ok("PATCH", "/api/v1/host/resources", {"reserve_memory_mib": total - 100})
    err = host().task_error("POST", f"/api/v1/vms/{vm}/power/on")
    msg = err if isinstance(err, str) else str(err)
    check("adm1" in msg and "128 MiB" in msg and "unreserved" in msg,
          f"the refusal names the VM and the numbers: {msg}")
    check(host().vm(vm)["power_state"] == "poweredOff", "the refused VM stays off")
    st, body = host().request("PATCH", "/api/v1/host/resources",
                              {"reserve_memory_mib": total + 1})
    check(st == 400 and "reserve_memory_mib" in error_message(body), f"{st} {body}")
    host().ok("PATCH", "/api/v1/host/resources", {"reserve_memory_mib": 512})
    power(vm, "on")
    res = resources()
    check(res["admitted_vms"] == 1 and res["memory"]["reserved_mib"] >= 512 + 128,
          f"the running VM's reservation is counted: {res['memory']}")
    # A live change that does not fit is refused, and the .vmx keeps its old value.
    st, body = host().request("PATCH", f"/api/v1/vms/{vm}",
                              {"resources": {"memory": {"reservation_mib": 160},
                                             "cpu": {"reservation_mhz": 10 ** 8}}})
    check(st >= 400 and "MHz" in error_message(body), f"live change: {st} {body}")
    check(host().vm(vm)["resources"]["cpu"]["reservation_mhz"] == 0, "the change was not kept")
    st, body = host().request("PATCH", f"/api/v1/vms/{vm}", {"resources": {"cpu": {"shares": "huge"}}})
    check(st == 400 and "shares" in error_message(body), f"bad shares: {st} {body}")
    st, body = host().request("PATCH", f"/api/v1/vms/{vm}", {"memory_mib": 512})
    check(st == 409, f"hardware changes still need the VM off: {st} {body}")
    power(vm, "off")
    check(resources()["admitted_vms"] == 0, "power-off releases the reservation")


def test_cpu_shares():
    core = resources()["cpu"]["cores"]
    check(core >= 2, "two cores are needed to pin both VMs on one and keep the other free")
    hi = create_vm("hi", "vireo.burn=1", resources={"cpu": {"shares": 2000, "affinity": [1]}})
    lo = create_vm("lo", "vireo.burn=1", resources={"cpu": {"shares": 1000, "affinity": [1]}})
    for v in (hi, lo):
        power(v, "on")
    for v in (hi, lo):
        host().wait_console(v, "VIREO-BURN 1", timeout=120)
    check(host().vm(hi)["resources"]["cpu"]["shares"] == {"level": "custom", "shares": 2000},
          f"resources: {host().vm(hi)['resources']}")
    pids = [qemu_pid(hi), qemu_pid(lo)]
    time.sleep(2)
    use = cpu_use(pids, 10)
    ratio = use[0] / use[1]
    print(f"  shares 2000:1000 on one core: {use[0]:.3f} vs {use[1]:.3f} of a core, "
          f"ratio {ratio:.2f}", flush=True)
    check(abs(ratio - 2.0) <= 0.2, f"CPU ratio {ratio:.2f} is not within 10% of 2:1")
    check(use[0] + use[1] <= 1.1, f"both VMs stayed on one core: {use}")
    # A live change: equal shares, equal time.
    cli("vm", "reconfigure", "lo", "--cpu-shares", "2000")
    time.sleep(2)
    use = cpu_use(pids, 8)
    ratio = use[0] / use[1]
    print(f"  after the live change to 2000:2000: ratio {ratio:.2f}", flush=True)
    check(abs(ratio - 1.0) <= 0.1, f"after equalising the shares the ratio is {ratio:.2f}")
    power(hi, "off")
    power(lo, "off")


def test_cpu_limit():
    mhz = resources()["cpu"]["core_mhz"]
    lim = create_vm("lim", "vireo.burn=1",
                    resources={"cpu": {"limit_mhz": mhz // 4, "affinity": [0]}})
    power(lim, "on")
    host().wait_console(lim, "VIREO-BURN 1", timeout=180)
    pid = qemu_pid(lim)
    time.sleep(2)
    use = cpu_use([pid], 10)[0]
    print(f"  limit {mhz // 4} of {mhz} MHz: {use:.3f} of a core", flush=True)
    check(abs(use - 0.25) <= 0.025, f"limited to a quarter of a core, it used {use:.3f}")
    host().ok("PATCH", f"/api/v1/vms/{lim}", {"resources": {"cpu": {"limit_mhz": -1}}})
    time.sleep(2)
    use = cpu_use([pid], 5)[0]
    # Well above the old cap (a busy machine may not give it a whole core).
    check(use > 0.35, f"with the limit lifted it uses {use:.3f} of a core")
    power(lim, "off")


def test_iops_limit():
    vm = create_vm("io", "vireo.diskfill=sda vireo.fillmib=32",
                   disks=[{"size_mib": 64}],
                   resources={"disks": {"scsi0:0": {"iops_limit": 5}}})
    check(host().vm(vm)["resources"]["disks"]["scsi0:0"]["iops_limit"] == 5, "iops limit kept")
    power(vm, "on")
    host().wait_console(vm, "VIREO-DISKFILL-START", timeout=180)
    t0 = time.monotonic()
    host().wait_console(vm, "VIREO-DISKFILL-OK", timeout=300)
    took = time.monotonic() - t0
    # 32 MiB written and read back in requests of at most 1 MiB: at least 64 at 5 per second.
    print(f"  32 MiB written and read back at 5 IOPS: {took:.1f} s", flush=True)
    check(took >= 64 / 5 * 0.9, f"the disk ran faster than its limit allows ({took:.1f} s)")
    power(vm, "off")


def test_balloon_under_pressure():
    vm = create_vm("bal", "vireo.counter=1", memory=512)
    power(vm, "on")
    host().wait_console(vm, "VIREO-COUNTER 3", timeout=180)
    wait_for("the guest's memory statistics",
             lambda: (mem_vm(vm) or {}).get("guest_total_mib"), timeout=60)
    before = mem_vm(vm)
    check(before["balloon_actual_mib"] == 512, f"no balloon without pressure: {before}")
    # Memory for VMs below what the VM holds: the host is short.
    host().ok("PATCH", "/api/v1/host/resources", {"vm_memory_mib": 64})
    wait_for("the host to feel the pressure",
             lambda: resources()["memory_state"]["state"] in ("soft", "hard", "low"), timeout=30)
    wait_for("the balloon to take memory from the idle guest",
             lambda: mem_vm(vm)["balloon_actual_mib"] <= 512 * 0.6, timeout=90)
    taken = mem_vm(vm)
    print(f"  under pressure: balloon target {taken['balloon_target_mib']} MiB, guest has "
          f"{taken['balloon_actual_mib']} of 512 MiB, QEMU resident {taken['resident_mib']} MiB "
          f"(was {before['resident_mib']})", flush=True)
    check(taken["balloon_actual_mib"] >= 512 * 0.35 - 1,
          f"never below ESX's 65% balloon maximum: {taken}")
    ev = host().ok("GET", "/api/v1/events")["events"]
    check(any(e["type"] == "HostMemoryState" for e in ev), "a memory state event")
    host().ok("PATCH", "/api/v1/host/resources", {"vm_memory_mib": 0})
    wait_for("the balloon to give the memory back",
             lambda: mem_vm(vm)["balloon_actual_mib"] == 512, timeout=90)
    check(resources()["memory_state"]["state"] == "high", "the pressure is gone")
    power(vm, "off")


def test_page_sharing():
    initial = read_int(f"{KSM}/run")
    vms = [create_vm(f"ksm{i}", "", memory=192) for i in range(3)]
    try:
        host().ok("PATCH", "/api/v1/host/resources", {"page_sharing": True})
        check(read_int(f"{KSM}/run") == 1, "page sharing is on in the kernel")
        for v in vms:
            power(v, "on")
        for v in vms:
            host().wait_console(v, "VIREO-GUEST-READY", timeout=180)
        pids = [qemu_pid(v) for v in vms]
        wait_for("KSM to merge the guests' identical pages",
                 lambda: all(read_int(f"/proc/{p}/ksm_merging_pages") > 256 for p in pids),
                 timeout=120, interval=1)
        merging = [read_int(f"/proc/{p}/ksm_merging_pages") for p in pids]
        ps = resources()["memory_state"]["page_sharing"]
        page = os.sysconf("SC_PAGE_SIZE")
        print(f"  page sharing, 3 identical idle guests of 192 MiB: merged pages per VM "
              f"{[m * page >> 20 for m in merging]} MiB; host saves "
              f"{ps['saved_bytes'] >> 20} MiB ({ps['pages_sharing']} pages)", flush=True)
        check(ps["enabled"] and ps["saved_bytes"] > 0, f"the host reports the saving: {ps}")
        host().ok("PATCH", "/api/v1/host/resources", {"page_sharing": False})
        wait_for("turning sharing off to unmerge the pages",
                 lambda: read_int(f"{KSM}/pages_sharing") == 0, timeout=60, interval=1)
        for v in vms:
            power(v, "off")
    finally:
        with open(f"{KSM}/run", "w") as f:  # the machine as it was
            f.write(str(initial if initial != 1 else 1))


def cleanup_cgroups():
    for ctrl in os.listdir("/sys/fs/cgroup"):
        d = os.path.join("/sys/fs/cgroup", ctrl, CGROUP_PARENT)
        if os.path.isdir(d):
            for sub in os.listdir(d):
                if os.path.isdir(os.path.join(d, sub)):
                    try:
                        os.rmdir(os.path.join(d, sub))
                    except OSError:
                        pass
            try:
                os.rmdir(d)
            except OSError:
                pass


def main():
    h = Hostd(HOSTD, work.path, "res-a", DS,
              extra=["--cgroup-parent", CGROUP_PARENT, "--balloon-period-ms", "1000",
                     "--stats-interval", "5"])
    hosts.append(h)
    try:
        h.start()
        cli("login", "--user", "admin")
        return run_tests([
            ("admission control", test_admission_control),
            ("CPU shares 2:1", test_cpu_shares),
            ("CPU limit", test_cpu_limit),
            ("IOPS limit", test_iops_limit),
            ("balloon under pressure", test_balloon_under_pressure),
            ("page sharing", test_page_sharing),
        ])
    finally:
        stop_hosts(hosts, work)
        cleanup_cgroups()


if __name__ == "__main__":
    sys.exit(main())
