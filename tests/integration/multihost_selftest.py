#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Self-test of the multi-host harness (tests/harness/vireo_multihost.py) with real
guests (QEMU, TCG; at most two at a time).

Covered, each step timed: three hosts start in namespaces of their own and answer at
their own lab addresses, from the lab and from each other, while no loopback answers
for any of them; hostd and QEMU live in their host's namespaces and cgroups.  A VM
folder on the shared datastore is registered on hosts A and B: powered on at A, B's
power-on is refused because A holds the lock, and only one QEMU of it runs anywhere.
A is cut off: unreachable, but its VM keeps running and its keeper keeps renewing the
lock, so B still cannot start it; A comes back with the VM as it was.  A crashes
(hostd, keeper and QEMU killed at once): B is refused until the lease has passed,
then powers the VM on; A boots again and is refused in turn.  Host C's hostd is
killed with SIGKILL and started again, then stopped gracefully and started again:
its VM ran on undisturbed (same QEMU, one boot, its counter never reset).  At the
end nothing the lab made is left: processes, namespaces, links, cgroups, files.

usage: multihost_selftest.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from vireo_multihost import Lab, cmdline_of, netns_of, proc_stat, process_running  # noqa: E402
from vireo_harness import TestFailure, check, copy_guest_to_datastore, wait_for  # noqa: E402

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
LEASE_S = 2.0

# The lab must exist before anything else runs: the test moves into its namespaces.
lab = Lab(HOSTD, prefix="vireo-multihost-", lock_renew_ms=500, lock_lease_ms=int(LEASE_S * 1000))
DS = lab.datastore_dir
S = {}  # what the steps hand on to each other
seen = set()  # (pid, start time) of every host process the test saw: all must end


def timed(what, fn, *args):
    t0 = time.monotonic()
    r = fn(*args)
    print(f"    {what}: {time.monotonic() - t0:.2f} s", flush=True)
    return r


def error_text(err):
    return err.get("message", str(err)) if isinstance(err, dict) else str(err)


def create_vm(h, name):
    spec = {"name": name, "datastore": lab.datastore, "memory_mib": 160, "vcpus": 1,
            "guest_os": "debian12-64",
            "boot": {"kernel": S["kernel"], "initrd": S["initrd"],
                     "cmdline": f"{CMDLINE} vireo.hostname={name} vireo.counter=1"}}
    return h.task_ok("POST", "/api/v1/vms", spec)["result"]["id"]


def power(h, vm, op):
    return h.task_ok("POST", f"/api/v1/vms/{vm}/power/{op}")


def power_on_error(h, vm):
    """The error of a refused power-on (fails the test if it succeeds)."""
    return error_text(h.task_error("POST", f"/api/v1/vms/{vm}/power/on"))


def console_file(name):
    with open(os.path.join(DS, name, "console.log"), errors="replace") as f:
        return f.read()


def counters(text):
    return [int(x) for x in re.findall(r"VIREO-COUNTER (\d+)", text)]


def counter_advances(name, seconds=3.0):
    """The guest's counter, read from its console file on the shared datastore (no
    host needs to answer), moves on within `seconds`."""
    # A loaded machine may still be booting the guest: its first counter comes first.
    before = wait_for(f"{name}'s first counter", lambda: counters(console_file(name)),
                      timeout=120)
    wait_for(f"the counter of {name} to move on from {before[-1]}",
             lambda: counters(console_file(name))[-1] > before[-1], timeout=seconds + 10)
    return counters(console_file(name))[-1]


def lock_of(name):
    path = os.path.join(DS, name, "vireo.lck")
    try:
        with open(path) as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None


def qemu_copies(vm):
    """(host name, pid) of every QEMU of this VM on any host of the lab."""
    out = []
    for h in lab.hosts:
        for pid, prog in h.processes().items():
            if prog.startswith("qemu-system") and \
                    f"{vm}".encode() in b" ".join(cmdline_of(pid)):
                out.append((h.name, pid))
    return out


def remember(h):
    for pid in h.processes():
        st = proc_stat(pid)
        if st:
            seen.add((pid, st[2]))


def still_running(pid, start):
    st = proc_stat(pid)
    return st is not None and st[2] == start and process_running(pid)


# ---------------------------------------------------------------- steps

def step_three_hosts():
    a, b, c = (lab.add_host(n) for n in ("hostA", "hostB", "hostC"))
    for h in (a, b, c):
        timed(f"start {h.name} at {h.addr}", h.start)
        remember(h)
    S["kernel"], S["initrd"] = copy_guest_to_datastore(GUEST_DIR, DS)
    lab_ns = netns_of(os.getpid())
    for h in lab.hosts:
        check(h.ok("GET", "/api/v1/host")["name"] == h.name,
              f"{h.addr} does not answer as {h.name}")
        check(h.netns != lab_ns and netns_of(h.proc.pid) == h.netns,
              f"hostd of {h.name} is not in its host's network namespace")
        check(h.proc.pid in h.processes(), f"hostd of {h.name} is not among its processes")
        nics = sorted(h.run_in("ls", "/sys/class/net").stdout.split())
        check(nics == ["eth0", "lo"], f"{h.name} sees the interfaces {nics}, not its own")
        for other in lab.hosts:
            # every host reaches every other at its lab address ...
            st, body = lab.http(h.addr, "GET", "/api/v1/host", src=other, token=h.token)
            check(st == 200 and body["name"] == h.name,
                  f"{other.name} asking {h.addr}: {st} {body}")
        # ... and no loopback, the lab's or any host's, leads to a hostd
        for src in [None] + lab.hosts:
            got = lab.connect("127.0.0.1", h.port, src=src)
            check(got == "refused", f"127.0.0.1:{h.port} seen from "
                  f"{src.name if src else 'the lab'}: {got}")
    check(len({h.netns for h in lab.hosts}) == 3, "two hosts share a network namespace")
    # Each host has a loopback of its own: what listens on hostA's is not on the others'.
    with lab.in_host(a):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with listener:
        listener.bind(("127.0.0.1", 8443))
        listener.listen()
        seen_from = {src.name if src else "the lab": lab.connect("127.0.0.1", 8443, src=src)
                     for src in [None] + lab.hosts}
    check(seen_from == {"the lab": "refused", "hostA": "ok", "hostB": "refused",
                        "hostC": "refused"},
          f"a listener on hostA's 127.0.0.1:8443, seen from each: {seen_from}")


def step_lock_across_hosts():
    a, b = lab.host("hostA"), lab.host("hostB")
    vm = timed("create shared01 on hostA", create_vm, a, "shared01")
    S["vm"] = vm
    reg = timed("register it on hostB", b.ok, "POST", "/api/v1/vms/register",
                {"datastore": lab.datastore, "path": "shared01/shared01.vmx"})
    check(reg["id"] == vm, f"hostB registered another id: {reg['id']} != {vm}")
    timed("power on at hostA", power, a, vm, "on")
    timed("guest ready", a.wait_console, vm, "VIREO-GUEST-READY")
    pid = a.vm(vm)["runtime"]["pid"]
    S["pid_a"] = pid
    check(a.vm_pids(vm)[0] == pid, f"QEMU {pid} is not a process of hostA: {a.processes()}")
    remember(a)
    with open(f"/proc/{pid}/cgroup") as f:
        cg = f.read()
    check(f"/{a.cgroup_parent}/{vm}" in cg, f"QEMU is not in hostA's cgroup: {cg}")
    err = timed("power on at hostB (refused)", power_on_error, b, vm)
    check('locked by host "hostA"' in err, f"hostB's refusal does not name hostA: {err}")
    check(b.vm(vm)["power_state"] == "poweredOff", "hostB shows the VM running")
    check(qemu_copies(vm) == [("hostA", pid)], f"copies of the VM: {qemu_copies(vm)}")


def step_cut_off():
    a, b = lab.host("hostA"), lab.host("hostB")
    vm, pid = S["vm"], S["pid_a"]
    t0 = time.monotonic()
    timed("cut hostA off", a.cut_off)
    got = lab.connect(a.addr, timeout=1.5)
    check(got in ("timeout", "unreachable"), f"hostA answers the lab while cut off: {got}")
    got = lab.connect(a.addr, src=b, timeout=1.5)
    check(got in ("timeout", "unreachable"), f"hostA answers hostB while cut off: {got}")
    check(lab.connect(b.addr, src=a, timeout=1.5) in ("timeout", "unreachable"),
          "hostA reaches hostB while cut off")
    print(f"    probes: the lab and hostB do not reach hostA, nor hostA hostB (1.5 s "
          f"time-outs): {time.monotonic() - t0:.2f} s", flush=True)
    # Past the lease: had A's keeper stopped renewing, B could now break the lock.
    time.sleep(max(0.0, LEASE_S + 1.0 - (time.monotonic() - t0)))
    c0 = lock_of("shared01")["counter"]
    timed("hostA's guest still counts", counter_advances, "shared01")
    check(process_running(pid), "hostA's QEMU died while cut off")
    err = timed("power on at hostB (refused)", power_on_error, b, vm)
    check('locked by host "hostA"' in err, f"hostB's refusal does not name hostA: {err}")
    c1 = lock_of("shared01")["counter"]
    check(c1 > c0, f"hostA's keeper stopped renewing the lock while cut off ({c0} -> {c1})")
    check(qemu_copies(vm) == [("hostA", pid)], f"copies of the VM: {qemu_copies(vm)}")
    t1 = time.monotonic()
    a.restore()
    wait_for("hostA to answer again", lambda: lab.reachable(a, timeout=1), timeout=30)
    print(f"    restore hostA: {time.monotonic() - t1:.2f} s", flush=True)
    info = a.vm(vm)
    check(info["power_state"] == "poweredOn" and info["runtime"]["pid"] == pid,
          f"hostA after the cut: {info['power_state']}, pid {info['runtime'].get('pid')}")


def step_crash():
    a, b = lab.host("hostA"), lab.host("hostB")
    vm, pid = S["vm"], S["pid_a"]
    remember(a)
    t0 = time.monotonic()
    killed = a.crash()
    print(f"    crash hostA ({len(killed)} processes): {time.monotonic() - t0:.2f} s", flush=True)
    check(pid in killed and not process_running(pid), "hostA's QEMU survived the crash")
    got = lab.connect(a.addr, timeout=1)
    check(got in ("timeout", "unreachable"), f"the crashed hostA answers: {got}")
    lock = lock_of("shared01")
    check(lock and lock["host_name"] == "hostA", f"the dead host's lock is gone: {lock}")
    boots = console_file("shared01").count("VIREO-GUEST-READY")
    # Within the lease B is refused; it takes the VM as soon as the lease has passed.
    err = power_on_error(b, vm)
    check('locked by host "hostA"' in err, f"hostB's refusal right after the crash: {err}")
    refusals = 1
    while True:
        st, body = b.request("POST", f"/api/v1/vms/{vm}/power/on")
        check(st == 202, f"power on at hostB: {st} {body}")
        t = b.wait_task(body["task"])
        if t["state"] == "success":
            break
        check('locked by host "hostA"' in error_text(t.get("error")),
              f"hostB's refusal names the wrong reason: {t.get('error')}")
        refusals += 1
        check(time.monotonic() - t0 < 60, "hostB never broke the dead host's lock")
        time.sleep(0.3)
    took = time.monotonic() - t0
    print(f"    hostB powered the VM on {took:.2f} s after the crash, after {refusals} "
          f"refusals (lease {LEASE_S:.1f} s)", flush=True)
    check(took >= LEASE_S, f"hostB broke the lock before the lease had passed ({took:.2f} s)")
    timed("guest ready on hostB", b.wait_console, vm, "VIREO-GUEST-READY", boots + 1)
    S["pid_b"] = pid_b = b.vm(vm)["runtime"]["pid"]
    remember(b)
    check(qemu_copies(vm) == [("hostB", pid_b)], f"copies of the VM: {qemu_copies(vm)}")
    check(lock_of("shared01")["host_name"] == "hostB", "hostB does not hold the lock")
    # A boots again: its VM is off, and B's lock refuses its power-on.
    timed("hostA boots again", a.start)
    remember(a)
    check(a.vm(vm)["power_state"] == "poweredOff", f"hostA after its reboot: {a.vm(vm)}")
    err = timed("power on at hostA (refused)", power_on_error, a, vm)
    check('locked by host "hostB"' in err, f"hostA's refusal does not name hostB: {err}")
    check(qemu_copies(vm) == [("hostB", pid_b)], f"copies of the VM: {qemu_copies(vm)}")
    timed("power off at hostB", power, b, vm, "off")
    check(lock_of("shared01") is None, "the lock is left after the power-off")


def step_hostd_kill_restart():
    c = lab.host("hostC")
    vm = timed("create c01 on hostC", create_vm, c, "c01")
    timed("power on at hostC", power, c, vm, "on")
    timed("guest ready", c.wait_console, vm, "VIREO-GUEST-READY")
    info = c.vm(vm)["runtime"]
    pid, shim = info["pid"], info["shim_pid"]
    check(c.vm_pids(vm) == (pid, shim), f"hostC's processes: {c.processes()}, {info}")
    remember(c)
    first = counter_advances("c01")
    for how in ("kill", "stop"):
        t0 = time.monotonic()
        getattr(c, how)()  # SIGKILL to hostd only / graceful stop
        print(f"    {how} hostC's hostd: {time.monotonic() - t0:.2f} s", flush=True)
        check(not c.hostd_running(), f"hostC's hostd still runs after {how}")
        check(process_running(pid) and process_running(shim),
              f"the VM's QEMU or keeper died with hostd ({how})")
        timed(f"c01 counts while hostd is down ({how})", counter_advances, "c01")
        timed(f"restart hostC's hostd ({how})", c.start)
        remember(c)
        info = c.vm(vm)
        check(info["power_state"] == "poweredOn" and info["runtime"]["pid"] == pid
              and info["runtime"]["shim_pid"] == shim,
              f"after the restart ({how}): {info['power_state']} {info.get('runtime')}")
        guest = wait_for("the guest agent through the restarted hostd",
                         lambda: (g := c.ok("GET", f"/api/v1/vms/{vm}/guest"))
                         .get("agent") == "running" and g, timeout=60)
        check(guest.get("hostname") == "c01", f"guest agent: {guest}")
    text = console_file("c01")
    check(text.count("VIREO-GUEST-READY") == 1, "the guest booted again")
    seq = counters(text)
    check(seq == list(range(seq[0], seq[0] + len(seq))) and seq[-1] > first,
          f"the guest's counter was interrupted or reset: ...{seq[-20:]}")
    print(f"    c01 counted {seq[0]}..{seq[-1]} without a gap", flush=True)
    timed("power off at hostC", power, c, vm, "off")
    check(not process_running(pid), "QEMU runs after the power-off")


STEPS = [
    ("three hosts answer at their own addresses only", step_three_hosts),
    ("a VM locked by hostA cannot start on hostB", step_lock_across_hosts),
    ("hostA cut off: its VM runs on, hostB still refused", step_cut_off),
    ("hostA crashes: hostB takes the VM after the lease", step_crash),
    ("hostC's hostd killed and stopped: its VM undisturbed", step_hostd_kill_restart),
]


def main():
    t_all = time.monotonic()
    work = lab.work.path
    failed, inits = None, []
    try:
        for name, fn in STEPS:
            t0 = time.monotonic()
            print(f"{name}:", flush=True)
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - later steps build on this one
                print(f"FAIL {name} ({time.monotonic() - t0:.1f} s): {type(e).__name__}: {e}",
                      flush=True)
                failed = name
                break
            print(f"PASS {name} ({time.monotonic() - t0:.1f} s)", flush=True)
        for h in lab.hosts:
            remember(h)
        inits = [(h.init.pid, proc_stat(h.init.pid)[2]) for h in lab.hosts if h.init]
    finally:
        t0 = time.monotonic()
        reports = lab.close()
        print(f"lab closed: {time.monotonic() - t0:.2f} s", flush=True)
    # Nothing the lab made is left.
    alive = [p for p, start in seen | set(inits) if still_running(p, start)]
    check(not alive, f"processes of the lab outlived it: {alive}")
    check(os.environ.get("VIREO_TEST_KEEP") or not os.path.exists(work),
          f"the lab's folder is left: {work}")
    check("lab0" not in os.listdir("/sys/class/net"), "the lab switch is visible outside the lab")
    cgroups = [os.path.join(base, h.cgroup_parent) for h in lab.hosts
               for base in h.cgroup_bases | set(lab._cgroup_bases())
               if os.path.exists(os.path.join(base, h.cgroup_parent))]
    check(all(h.cgroup_bases for h in lab.hosts) and not cgroups,
          f"cgroups of the hosts are left: {cgroups}")
    # Leaks are reported (printed by close()), not failed on: they are hostd's business and
    # only graceful stops show them; memory errors and undefined behaviour fail the test.
    errors = [r for r in reports if "LeakSanitizer" not in r]
    check(not errors, f"sanitizer reports in hostd's logs: {errors}")
    if failed:
        print(f"failed at: {failed}", flush=True)
        return 1
    print(f"{len(STEPS)} steps passed in {time.monotonic() - t_all:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TestFailure as e:
        print(f"FAIL clean-up: {e}", flush=True)
        sys.exit(1)
