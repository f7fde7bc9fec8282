#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of vireo-hostd with real guests (QEMU, TCG here).

usage: hostd_e2e.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           pid_alive, run_tests, wait_for)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
work = Workdir("vireo-e2e-")
DS = os.path.join(work.path, "datastore")
os.makedirs(DS)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
hosts = []


def start_host(name, extra=()):
    h = Hostd(HOSTD, work.path, name, DS, extra).start()
    hosts.append(h)
    return h


def cli(h, *args, check_rc=0, env_extra=None):
    env = dict(os.environ, VIREO_SERVER=h.url, XDG_CONFIG_HOME=os.path.join(work.path, "cli"))
    env.update(env_extra or {})
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    if check_rc is not None and p.returncode != check_rc:
        raise TestFailure(f"vireo {' '.join(args)} -> {p.returncode}, stdout {p.stdout!r}, "
                          f"stderr {p.stderr!r}")
    return p


def create_vm(h, name, behaviours="", disks=(), nics=None, memory=256):
    spec = {"name": name, "datastore": "ds1", "memory_mib": memory, "vcpus": 1,
            "guest_os": "debian12-64",
            "boot": {"kernel": KERNEL, "initrd": INITRD,
                     "cmdline": f"{CMDLINE} vireo.hostname={name} {behaviours}".strip()},
            "disks": [{"size_mib": s} for s in disks]}
    if nics is not None:
        spec["nics"] = nics
    t = h.task_ok("POST", "/api/v1/vms", spec)
    return t["result"]["id"]


def power(h, vm_id, op, **body):
    return h.task_ok("POST", f"/api/v1/vms/{vm_id}/power/{op}", body or None)


def counters(text):
    return [int(x) for x in re.findall(r"VIREO-COUNTER (\d+)", text)]


# ---------------------------------------------------------------------------

def test_refused_requests_change_nothing():
    h = hosts[0]
    before = sorted(os.listdir(DS))
    vms_before = h.ok("GET", "/api/v1/vms")["vms"]
    status, _ = h.request("GET", "/api/v1/health", auth=False)
    check(status == 200, "health must answer without a token")
    for method, path in (("GET", "/api/v1/vms"), ("POST", "/api/v1/vms"),
                         ("GET", "/api/v1/host"), ("DELETE", "/api/v1/datastores/ds1")):
        status, body = h.request(method, path, {"name": "x", "datastore": "ds1"}
                                 if method == "POST" else None, auth=False)
        check(status == 401, f"{method} {path} without a token gave {status}")
    status, _ = h.request("POST", "/api/v1/sessions",
                          {"username": "admin", "password": "wrong-password"}, auth=False)
    check(status == 401, f"a wrong password gave {status}")
    bad = [
        (b"{not json", 400, None),
        (b'{"name": "a", "datastore": "ds1"} trailing', 400, None),
        (b'["array"]', 400, None),
        (b'{"name": "x", "datastore": "ds1", "memsize": 5}', 400, "memsize"),
        (b'{"name": "a/b", "datastore": "ds1"}', 400, "'/'"),
        (b'{"name": "bad\\u0001name", "datastore": "ds1"}', 400, "control character"),
        (b'{"name": "big", "datastore": "ds1", "memory_mib": 99999999999}', 400, "memory_mib"),
        (b'{"name": "big", "datastore": "ds1", "disks": [{"size_mib": 999999999999}]}', 400,
         "size_mib"),
        (b'{"name": "x", "datastore": "nope"}', 404, "nope"),
        (b'{"name": "x", "datastore": "ds1", "boot": {"kernel": "/etc/passwd"}}', 400,
         "datastore"),
    ]
    for raw, want, needle in bad:
        status, body = h.request("POST", "/api/v1/vms", raw=raw)
        check(status == want, f"{raw!r} gave {status} {body}, expected {want}")
        msg = body.get("error", {}).get("message", "") if isinstance(body, dict) else ""
        check(msg, f"{raw!r}: the error has no message: {body}")
        if needle:
            check(needle in msg, f"{raw!r}: message {msg!r} does not name {needle!r}")
    status, _ = h.request("POST", "/api/v1/vms/register",
                          {"datastore": "ds1", "path": "../../etc/x.vmx"})
    check(status == 400, f"registering a path with .. gave {status}")
    check(sorted(os.listdir(DS)) == before, "a refused request left files on the datastore")
    check(h.ok("GET", "/api/v1/vms")["vms"] == vms_before, "a refused request changed the inventory")
    # The CLI reports errors clearly with a non-zero exit code.
    p = cli(h, "vm", "info", "no-such-vm", check_rc=1)
    check("no-such-vm" in p.stderr, f"CLI error does not name the VM: {p.stderr!r}")


def test_malformed_vmx_on_disk():
    h = hosts[0]
    folder = os.path.join(DS, "broken")
    os.makedirs(folder)
    with open(os.path.join(folder, "broken.vmx"), "w") as f:
        f.write('displayName = "broken"\nuuid.bios = "11111111-2222-4333-8444-555555555555"\n'
                'memsize = "a lot"\n')
    status, body = h.request("POST", "/api/v1/vms/register",
                             {"datastore": "ds1", "path": "broken/broken.vmx"})
    check(status == 400, f"registering a malformed .vmx gave {status}")
    check('memsize = "a lot"' in body["error"]["message"], f"unclear error: {body}")
    check(h.ok("GET", "/api/v1/vms")["vms"] == [] or
          all(v["name"] != "broken" for v in h.ok("GET", "/api/v1/vms")["vms"]),
          "the malformed VM was registered")


def test_lifecycle_console_guest_agent():
    h = hosts[0]
    vm = create_vm(h, "life01", "vireo.counter=1", disks=[64])
    info = h.vm(vm)
    check(info["power_state"] == "poweredOff", f"new VM state {info['power_state']}")
    vmx = open(os.path.join(DS, "life01", "life01.vmx")).read()
    for key in ("displayName = \"life01\"", "memsize = \"256\"", "numvcpus = \"1\"",
                "uuid.bios", "scsi0:0.fileName = \"life01.qcow2\"", "guestOS"):
        check(key in vmx, f".vmx lacks {key}")
    check(os.path.exists(os.path.join(DS, "life01", "life01.qcow2")), "disk not created")

    t = power(h, vm, "on")
    check(t["result"]["accel"] == "tcg" or os.path.exists("/sys/module/kvm_pvm") is False,
          f"accelerator: {t['result']}")
    h.wait_console(vm, "VIREO-GUEST-READY")
    info = h.vm(vm)
    check(info["power_state"] == "poweredOn", f"state {info['power_state']}")
    check(info["runtime"]["state"] == "running", f"runtime {info['runtime']}")
    check(info["runtime"]["accel"] in ("tcg", "kvm"), "no accelerator shown")
    pid = info["runtime"]["pid"]
    check(pid_alive(pid), "QEMU pid not alive")
    # QEMU runs unprivileged when the vireo-qemu user exists.
    uid = os.stat(f"/proc/{pid}").st_uid
    if os.getuid() == 0:
        check(uid != 0, "QEMU runs as root")
    status = open(f"/proc/{pid}/status").read()
    check(re.search(r"Seccomp:\s+2", status), "QEMU's seccomp sandbox is not active")

    # A second power on is refused with a clear error.
    err = h.task_error("POST", f"/api/v1/vms/{vm}/power/on")
    check("already powered on" in err, f"unclear error: {err}")
    # Reconfiguration needs the VM off.
    status, body = h.request("PATCH", f"/api/v1/vms/{vm}", {"memory_mib": 512})
    check(status == 409, f"reconfigure while on gave {status}")

    # Guest agent: hostname and addresses.
    g = wait_for("the guest agent", lambda: (lambda x: x if x.get("hostname") else None)(
        h.ok("GET", f"/api/v1/vms/{vm}/guest")), timeout=60)
    check(g["agent"] == "running" and g["hostname"] == "life01", f"guest info {g}")
    check("10.0.2.15" in g.get("ip_addresses", []) or g.get("interfaces") is not None,
          f"no interfaces in {g}")

    # Console: attach, type, see output, detach; the VM goes on.
    out = console_roundtrip(h, vm)
    check("VIREO-COUNTER" in out or "#" in out or len(out) > 0, "no console output")
    check(h.vm(vm)["power_state"] == "poweredOn", "detaching the console disturbed the VM")
    out2 = console_roundtrip(h, vm)
    check(len(out2) > 0, "second console attach got nothing")

    # Reset: the guest boots again.
    power(h, vm, "reset")
    h.wait_console(vm, "VIREO-GUEST-READY", count=2)

    # Suspend and resume: the counter continues where it stopped.
    def this_boot():
        return counters(h.console_text(vm).rsplit("VIREO-GUEST-READY", 1)[-1])
    wait_for("a few counter lines after the reset", lambda: len(this_boot()) >= 3)
    power(h, vm, "suspend")
    check(h.vm(vm)["power_state"] == "suspended", "not suspended")
    check(os.path.exists(os.path.join(DS, "life01", "life01.vmss")), "no .vmss file")
    check(not pid_alive(pid), "QEMU still runs after suspend")
    before = this_boot()
    last = before[-1]
    time.sleep(2)
    power(h, vm, "on")
    check(not os.path.exists(os.path.join(DS, "life01", "life01.vmss")), ".vmss left after resume")
    wait_for("the counter to continue", lambda: len(this_boot()) >= len(before) + 3, timeout=60)
    after = this_boot()[len(before):]
    check(after[0] == last + 1 or (after[0] > last and after[0] <= last + 3),
          f"counter after resume starts at {after[0]}, it was {last} before suspend")
    check(h.console_text(vm).count("VIREO-GUEST-READY") == 2, "the guest rebooted on resume")

    # Guest restart through the agent.
    power(h, vm, "reboot")
    h.wait_console(vm, "VIREO-GUEST-READY", count=3)
    # Guest shutdown through the agent.
    wait_for("the guest agent after reboot", lambda: h.ok("GET", f"/api/v1/vms/{vm}/guest")
             .get("agent") == "running", timeout=60)
    t = power(h, vm, "shutdown")
    check(t["result"]["method"] == "guest agent", f"shutdown method {t['result']}")
    check(h.vm(vm)["power_state"] == "poweredOff", "not off after shutdown")

    # Reconfigure while off.
    info = h.ok("PATCH", f"/api/v1/vms/{vm}", {"memory_mib": 320, "vcpus": 2})
    check(info["memory_mib"] == 320 and info["vcpus"] == 2, f"reconfigure: {info}")
    vmx = open(os.path.join(DS, "life01", "life01.vmx")).read()
    check('memsize = "320"' in vmx and 'numvcpus = "2"' in vmx, "reconfigure not in .vmx")
    # vireo.log holds the VM's own history.
    log = open(os.path.join(DS, "life01", "vireo.log")).read()
    for word in ("powering on", "suspended", "resumed", "guest shut down"):
        check(word in log, f"vireo.log lacks {word!r}")


def console_roundtrip(h, vm):
    s = socket.create_connection(("127.0.0.1", h.port), timeout=10)
    s.sendall((f"GET /api/v1/vms/{vm}/console HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {h.token}\r\nConnection: Upgrade\r\n"
               f"Upgrade: vireo-console\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        check(chunk, "console: connection closed during the upgrade")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    check(b" 101 " in head.split(b"\r\n")[0], f"console upgrade answered {head[:80]!r}")
    s.sendall(b"\n")
    s.settimeout(3)
    out = rest
    end = time.monotonic() + 4
    while time.monotonic() < end:
        try:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        except socket.timeout:
            break
    s.close()
    return out.decode(errors="replace")


def test_hostd_kill9_and_qemu_death():
    h = hosts[0]
    vm = create_vm(h, "resil01")
    power(h, vm, "on")
    h.wait_console(vm, "VIREO-GUEST-READY")
    pid = h.vm(vm)["runtime"]["pid"]
    h.kill9()
    check(pid_alive(pid), "killing hostd killed the VM")
    time.sleep(1)
    h.start()
    info = h.vm(vm)
    check(info["power_state"] == "poweredOn", f"after restart: {info['power_state']}")
    check(info["runtime"]["pid"] == pid, "after restart: a different pid")
    shim = info["runtime"]["shim_pid"]
    check(pid_alive(shim), "no keeper process")
    # Still managed: the restarted hostd can talk QMP to it.
    power(h, vm, "reset")
    h.wait_console(vm, "VIREO-GUEST-READY", count=2)
    # QEMU dies: reported with its reason, VM shows powered off.
    os.kill(pid, signal.SIGKILL)
    wait_for("the VM to show powered off", lambda: h.vm(vm)["power_state"] == "poweredOff")
    info = h.vm(vm)
    check("unexpectedly" in info.get("last_error", ""), f"no reason: {info}")
    events = h.ok("GET", f"/api/v1/events?object={vm}")["events"]
    check(any(e["type"] == "VmFailed" for e in events), f"no VmFailed event: {events}")
    log = open(os.path.join(DS, "resil01", "vireo.log")).read()
    check("unexpectedly" in log, "vireo.log does not record the crash")
    # The keeper released the lock: it powers on again.
    check(not os.path.exists(os.path.join(DS, "resil01", "vireo.lck")), "lock left after QEMU died")
    power(h, vm, "on")
    h.wait_console(vm, "VIREO-GUEST-READY", count=3)

    # QEMU ends while hostd is down: the keeper records how, the next hostd reports it.
    pid = h.vm(vm)["runtime"]["pid"]
    h.kill9()
    qmp_quit(os.path.join(h.run, vm, "qmp.sock"))
    wait_for("QEMU to exit", lambda: not pid_alive(pid))
    wait_for("the keeper to release the lock",
             lambda: not os.path.exists(os.path.join(DS, "resil01", "vireo.lck")))
    h.start()
    check(h.vm(vm)["power_state"] == "poweredOff", "VM not shown powered off")
    events = h.ok("GET", f"/api/v1/events?object={vm}")["events"]
    check(any(e["type"] == "VmPoweredOff" and "exited with status 0" in e["message"]
              and "while hostd was not running" in e["message"] for e in events),
          f"no report of the exit while hostd was away: {events}")

    # The keeper dies while QEMU runs: nothing would renew the lock, so QEMU is stopped.
    power(h, vm, "on")
    info = h.vm(vm)
    pid, shim = info["runtime"]["pid"], info["runtime"]["shim_pid"]
    os.kill(shim, signal.SIGKILL)
    wait_for("the VM to show powered off", lambda: h.vm(vm)["power_state"] == "poweredOff")
    check(not pid_alive(pid), "QEMU kept running without its keeper")
    check("keeper" in h.vm(vm).get("last_error", ""), f"no reason: {h.vm(vm)}")
    power(h, vm, "on")
    power(h, vm, "off")
    check(not os.path.exists(os.path.join(DS, "resil01", "vireo.lck")), "lock left after power off")


def qmp_quit(path):
    """Asks a QEMU to quit over its QMP socket (free while hostd is down)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rwb")
    f.readline()  # greeting
    for cmd in (b'{"execute":"qmp_capabilities"}\n', b'{"execute":"quit"}\n'):
        f.write(cmd)
        f.flush()
        f.readline()
    s.close()


def test_shared_datastore_lock():
    a = hosts[0]
    b = start_host("hostB")
    vm = create_vm(a, "shared01")
    vb = b.ok("POST", "/api/v1/vms/register", {"datastore": "ds1", "path": "shared01/shared01.vmx"})
    check(vb["id"] == vm, "same VM, same id")
    power(a, vm, "on")
    err = b.task_error("POST", f"/api/v1/vms/{vm}/power/on")
    check("locked by host \"hostA\"" in err, f"unclear lock error: {err}")
    check(b.vm(vm)["power_state"] == "poweredOff", "B shows the VM running")
    # Host A dies with the VM... the VM keeps running and renewing stops:
    # B still must not start it while A's QEMU is alive and A comes back.
    power(a, vm, "off")
    power(b, vm, "on")
    err = a.task_error("POST", f"/api/v1/vms/{vm}/power/on")
    check("locked by host \"hostB\"" in err, f"unclear lock error: {err}")
    power(b, vm, "off")
    # A stale lock (owner gone without releasing) is broken.
    power(a, vm, "on")
    pid = a.vm(vm)["runtime"]["pid"]
    a.kill9()
    try:
        # A's hostd is gone but its keeper renews the lock: B must refuse,
        # even after the lease (2 s in these tests) has passed.
        time.sleep(3)
        err = b.task_error("POST", f"/api/v1/vms/{vm}/power/on")
        check("locked by host \"hostA\"" in err, f"unclear lock error: {err}")
        # QEMU ends: the keeper releases the lock, B takes the VM at once.
        os.kill(pid, signal.SIGKILL)
        wait_for("QEMU to go", lambda: not pid_alive(pid))
        wait_for("the lock to be released",
                 lambda: not os.path.exists(os.path.join(DS, "shared01", "vireo.lck")))
        power(b, vm, "on")
    finally:
        a.start()
    # A comes back: it shows the VM off and leaves B's lock alone.
    check(a.vm(vm)["power_state"] == "poweredOff", "A shows B's VM as its own")
    err = a.task_error("POST", f"/api/v1/vms/{vm}/power/on")
    check("locked by host \"hostB\"" in err, f"unclear lock error: {err}")
    power(b, vm, "off")
    # A stale lock (holder gone without releasing, nobody renewing) is broken.
    lock = os.path.join(DS, "shared01", "vireo.lck")
    with open(lock, "w") as f:
        f.write('{"version": 1, "host_id": "cccccccc-cccc-4ccc-8ccc-cccccccccccc", '
                '"host_name": "hostC", "counter": 7}')
    err = b.task_error("POST", f"/api/v1/vms/{vm}/power/on")
    check("locked by host \"hostC\"" in err, f"unclear lock error: {err}")
    time.sleep(2.5)
    power(b, vm, "on")  # confirms the counter stopped moving, breaks the stale lock
    power(b, vm, "off")
    b.ok("POST", f"/api/v1/vms/{vm}/unregister")
    b.stop()


def test_disk_provisioning():
    h = hosts[0]
    cli(h, "login", "--user", "admin", env_extra={"VIREO_PASSWORD": h.admin_password()})
    cli(h, "vm", "create", "prov01", "--datastore", "ds1", "--memory", "256",
        "--disk", "48:raw:thick-eager", "--disk", "40:qcow2:thick-lazy", "--disk", "32:raw",
        "--kernel", KERNEL, "--initrd", INITRD, "--cmdline", CMDLINE)
    folder = os.path.join(DS, "prov01")

    def allocated_mib(name):
        return os.stat(os.path.join(folder, name)).st_blocks * 512 / (1 << 20)

    check(allocated_mib("prov01.img") >= 48, f"eager disk not allocated: {allocated_mib('prov01.img')}")
    check(allocated_mib("prov01_1.qcow2") >= 40, "lazy disk not reserved")
    check(allocated_mib("prov01_2.img") < 1, "thin disk allocated")
    vmx = open(os.path.join(folder, "prov01.vmx")).read()
    check("vireo.provisioning" not in vmx and "vireo.sizeMiB" not in vmx, "creation keys left in .vmx")
    p = cli(h, "vm", "create", "prov02", "--datastore", "ds1", "--disk", "64:thick-huge", check_rc=2)
    check("thick-huge" in p.stderr, f"unclear CLI error: {p.stderr!r}")
    # A reservation the datastore cannot hold is refused up front; nothing is left behind.
    err = h.task_error("POST", "/api/v1/vms", {
        "name": "prov03", "datastore": "ds1",
        "disks": [{"size_mib": 60 << 20, "provisioning": "thick-eager"}]})
    check("free" in err or "space" in err, f"unclear free-space error: {err}")
    check(not os.path.exists(os.path.join(DS, "prov03")), "refused create left a folder")
    status, body = h.request("POST", "/api/v1/vms", {
        "name": "prov04", "datastore": "ds1", "disks": [{"size_mib": 8, "provisioning": "fat"}]})
    check(status == 400 and "provisioning" in body["error"]["message"],
          f"bad provisioning: {status} {body}")
    cli(h, "vm", "delete", "prov01")


def test_cli_and_delete():
    h = hosts[0]
    cli(h, "login", "--user", "admin", env_extra={"VIREO_PASSWORD": h.admin_password()})
    p = cli(h, "vm", "create", "cli01", "--datastore", "ds1", "--memory", "256",
            "--kernel", KERNEL, "--initrd", INITRD, "--cmdline", CMDLINE + " vireo.hostname=cli01")
    p = cli(h, "--json", "vm", "list")
    import json
    vms = json.loads(p.stdout)
    names = [v["name"] for v in (vms["vms"] if isinstance(vms, dict) else vms)]
    check("cli01" in names, f"CLI list lacks cli01: {names}")
    cli(h, "vm", "power-on", "cli01")
    h.wait_console(h.ok("GET", "/api/v1/vms/cli01")["id"], "VIREO-GUEST-READY")
    p = cli(h, "vm", "delete", "cli01", check_rc=1)
    check("powered on" in p.stderr, f"deleting a running VM: {p.stderr!r}")
    cli(h, "vm", "power-off", "cli01")
    cli(h, "vm", "delete", "cli01")
    check(not os.path.exists(os.path.join(DS, "cli01")), "delete left the folder")
    status, _ = h.request("GET", "/api/v1/vms/cli01")
    check(status == 404, "deleted VM still listed")


def cleanup():
    for h in hosts:
        if h.proc and h.proc.poll() is None and h.token:
            try:
                for v in h.ok("GET", "/api/v1/vms")["vms"]:
                    if v["power_state"] == "poweredOn":
                        h.request("POST", f"/api/v1/vms/{v['id']}/power/off")
            except Exception:  # noqa: BLE001 - best effort
                pass
        h.stop()
    # Any QEMU of ours still running (by its pid file) is stopped by pid.
    for h in hosts:
        if os.path.isdir(h.run):
            for d in os.listdir(h.run):
                pf = os.path.join(h.run, d, "qemu.pid")
                try:
                    pid = int(open(pf).read())
                    if work.path in open(f"/proc/{pid}/cmdline").read():
                        os.kill(pid, signal.SIGKILL)
                except (OSError, ValueError):
                    pass
    work.cleanup()


if __name__ == "__main__":
    rc = 1
    try:
        start_host("hostA")
        rc = run_tests([
            ("refused requests change nothing", test_refused_requests_change_nothing),
            ("malformed .vmx on disk", test_malformed_vmx_on_disk),
            ("lifecycle, console, guest agent, suspend/resume", test_lifecycle_console_guest_agent),
            ("hostd kill -9 and QEMU death", test_hostd_kill9_and_qemu_death),
            ("shared datastore lock", test_shared_datastore_lock),
            ("CLI and delete", test_cli_and_delete),
            ("disk provisioning", test_disk_provisioning),
        ])
    finally:
        cleanup()
    sys.exit(rc)
