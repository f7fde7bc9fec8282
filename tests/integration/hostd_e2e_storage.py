#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of datastore space and disks with real guests (QEMU, TCG here):
space figures (capacity, free, provisioned, used, over-commitment) against statvfs
and the files; a datastore on a small file system that fills up while a guest
writes (the VM pauses, the image stays sound, continuing after freeing space lets
the guest finish, power-on is refused while the datastore is full); growing
disks powered off and running (the guest sees the new size), shrinking refused.

The small datastore is a tmpfs this test mounts under its temporary folder and
unmounts at the end, so it needs root; without root that test is skipped.

usage: hostd_e2e_storage.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           run_tests, wait_for)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
work = Workdir("vireo-e2e-storage-")
DS = os.path.join(work.path, "datastore")
os.makedirs(DS)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
MiB = 1 << 20
SMALL = os.path.join(work.path, "small")  # the tmpfs datastore
SMALL_MIB = 96
hosts = []


def host():
    return hosts[0]


def cli(*args, check_rc=0, env_extra=None):
    h = host()
    env = dict(os.environ, VIREO_SERVER=h.url, XDG_CONFIG_HOME=os.path.join(work.path, "cli"))
    env.pop("VIREO_TOKEN", None)
    env.update(env_extra or {})
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    if check_rc is not None and p.returncode != check_rc:
        raise TestFailure(f"vireo {' '.join(args)} -> {p.returncode}, expected {check_rc}; "
                          f"stdout {p.stdout!r}, stderr {p.stderr!r}")
    return p


def create_vm(name, datastore="ds1", behaviours="", disks=()):
    spec = {"name": name, "datastore": datastore, "memory_mib": 256, "vcpus": 1,
            "guest_os": "debian12-64",
            "boot": {"kernel": KERNEL, "initrd": INITRD,
                     "cmdline": f"{CMDLINE} vireo.hostname={name} {behaviours}".strip()},
            "disks": list(disks)}
    return host().task_ok("POST", "/api/v1/vms", spec)["result"]["id"]


def power(vm_id, op):
    return host().task_ok("POST", f"/api/v1/vms/{vm_id}/power/{op}")


def delete_vm(vm_id):
    if host().vm(vm_id)["power_state"] != "poweredOff":
        power(vm_id, "off")
    host().task_ok("DELETE", f"/api/v1/vms/{vm_id}")


def datastore(name):
    return host().ok("GET", f"/api/v1/datastores/{name}")


def allocated_bytes(folder):
    """What the files below folder take on disk (st_blocks), as hostd counts it."""
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            st = os.lstat(os.path.join(root, f))
            if not os.path.islink(os.path.join(root, f)):
                total += st.st_blocks * 512
    return total


def img_info(path):
    p = subprocess.run(["qemu-img", "info", "-U", "--output=json", path], capture_output=True,
                       text=True)
    check(p.returncode == 0, f"qemu-img info {path}: {p.stderr}")
    return json.loads(p.stdout)


def events(vm_id):
    return host().ok("GET", f"/api/v1/events?object={vm_id}")["events"]


def error_message(body):
    return body.get("error", {}).get("message", "") if isinstance(body, dict) else str(body)


# The pattern vireo.diskfill writes (guest/README.md): block i is a header line and the
# 1 MiB disk pattern, cut to 1 MiB.
def fill_pattern(mib, seed="vireo"):
    base = (f"VIREO-DISK-PATTERN v1 seed={seed} size=1MiB\n" +
            "".join(f"{seed} {n:07d}\n" for n in range(MiB // 13 + 16))).encode()[:MiB]
    for i in range(mib):
        yield (f"VIREO-FILL block={i:08d} seed={seed}\n".encode() + base)[:MiB]


# ---------------------------------------------------------------------------

def test_space_figures():
    h = host()
    vm = create_vm("space01", disks=[{"size_mib": 64},
                                     {"size_mib": 32, "format": "raw",
                                      "provisioning": "thick-lazy"}])
    folder = os.path.join(DS, "space01")
    before = os.statvfs(DS)
    ds = datastore("ds1")
    after = os.statvfs(DS)
    check(ds["accessible"] and ds["vms"] == 1, f"datastore: {ds}")
    check(ds["capacity_bytes"] == before.f_blocks * before.f_frsize,
          f"capacity {ds['capacity_bytes']} != statvfs {before.f_blocks * before.f_frsize}")
    # ds1 shares its file system with the rest of the machine: free moves while we look.
    lo = min(before.f_bavail, after.f_bavail) * before.f_frsize - 64 * MiB
    hi = max(before.f_bavail, after.f_bavail) * before.f_frsize + 64 * MiB
    check(lo <= ds["free_bytes"] <= hi, f"free {ds['free_bytes']} not near statvfs ({lo}..{hi})")
    check(ds["provisioned_bytes"] == 96 * MiB,
          f"provisioned {ds['provisioned_bytes']}, expected 96 MiB (64 + 32)")
    used = allocated_bytes(folder)
    check(ds["used_bytes"] == used, f"used {ds['used_bytes']} != the folder's blocks {used}")
    check(used >= 32 * MiB, f"the thick disk should hold its 32 MiB: {used}")
    check(abs(ds["overcommit_ratio"] - 96 * MiB / ds["capacity_bytes"]) < 1e-9,
          f"overcommit_ratio {ds['overcommit_ratio']}")
    listed = [d for d in h.ok("GET", "/api/v1/datastores")["datastores"] if d["name"] == "ds1"]
    check(listed and listed[0]["provisioned_bytes"] == ds["provisioned_bytes"] and
          listed[0]["used_bytes"] == ds["used_bytes"], f"list and get differ: {listed} {ds}")

    disks = {d["slot"]: d for d in h.ok("GET", f"/api/v1/vms/{vm}/disks")["disks"]}
    check(disks["scsi0:0"]["capacity_bytes"] == 64 * MiB and
          disks["scsi0:0"]["provisioning"] == "thin", f"disk scsi0:0: {disks}")
    check(disks["scsi0:1"]["capacity_bytes"] == 32 * MiB and
          disks["scsi0:1"]["provisioning"] == "thick", f"disk scsi0:1: {disks}")
    for slot, d in disks.items():
        st = os.stat(os.path.join(folder, d["file"]))
        check(d["allocated_bytes"] == st.st_blocks * 512 and d["datastore"] == "ds1",
              f"disk {slot}: {d}, file has {st.st_blocks * 512} bytes allocated")

    # A file written into the folder shows in used at once (the chain cache is per file).
    with open(os.path.join(folder, "notes.bin"), "wb") as f:
        f.write(os.urandom(3 * MiB))
        f.flush()
        os.fsync(f.fileno())
    ds2 = datastore("ds1")
    check(ds2["used_bytes"] == allocated_bytes(folder) and
          ds2["used_bytes"] >= ds["used_bytes"] + 3 * MiB, f"used after 3 MiB more: {ds2}")

    out = cli("datastore", "list").stdout
    check(re.search(r"PROVISIONED\s+USED\s+OVERCOMMIT", out), f"datastore list columns: {out!r}")
    row = next(line for line in out.splitlines() if line.startswith("ds1 "))
    check("96.0 MiB" in row, f"ds1 row lacks the provisioned 96.0 MiB: {row!r}")
    out = cli("vm", "disk-list", "space01").stdout
    check(re.search(r"scsi0:1\s+disk\s+raw\s+32\.0 MiB\s+3\d\.\d MiB\s+thick", out),
          f"disk-list: {out!r}")
    delete_vm(vm)
    check(datastore("ds1")["provisioned_bytes"] == 0, "a deleted VM still counts")


def fill_file(path, mib=None):
    """Writes a file of mib MiB, or until the file system is full (mib None)."""
    chunk = os.urandom(MiB)
    written = 0
    with open(path, "wb") as f:
        try:
            while mib is None or written < mib:
                f.write(chunk)
                f.flush()
                written += 1
        except OSError:
            pass
    return written


def test_full_datastore():
    h = host()
    os.makedirs(SMALL)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SMALL_MIB}m,mode=0755", "tmpfs", SMALL],
                   check=True)
    vm = None
    try:
        h.ok("POST", "/api/v1/datastores", {"name": "small", "path": SMALL})
        fill_mib = 72
        vm = create_vm("full01", "small", f"vireo.diskfill=sda vireo.fillmib={fill_mib}",
                       disks=[{"size_mib": 160}])
        folder = os.path.join(SMALL, "full01")
        disk = os.path.join(folder, "full01.qcow2")
        sv = os.statvfs(SMALL)
        ds = datastore("small")
        check(ds["capacity_bytes"] == sv.f_blocks * sv.f_frsize and
              ds["free_bytes"] == sv.f_bavail * sv.f_frsize,
              f"small: {ds} vs statvfs {sv.f_blocks * sv.f_frsize}/{sv.f_bavail * sv.f_frsize}")
        check(ds["provisioned_bytes"] == 160 * MiB and ds["used_bytes"] == allocated_bytes(folder),
              f"small: {ds}, folder holds {allocated_bytes(folder)}")
        check(ds["overcommit_ratio"] > 1.6, f"thin over-commitment not visible: {ds}")

        # 40 MiB of other data: the guest's 72 MiB cannot fit until it is removed.
        filler = os.path.join(SMALL, "filler")
        fill_file(filler, 40)
        power(vm, "on")
        ev = wait_for("the VmPausedNoSpace event",
                      lambda: next((e for e in events(vm) if e["type"] == "VmPausedNoSpace"), None),
                      timeout=180)
        check('datastore "small"' in ev["message"] and "scsi0:0" in ev["message"] and
              "free" in ev["message"], f"event: {ev}")
        print(f"  event: {ev['message']}", flush=True)
        rt = h.vm(vm)["runtime"]
        check(rt["state"] == "paused" and 'datastore "small" is full' in rt.get("paused_reason", ""),
              f"runtime: {rt}")
        check(os.statvfs(SMALL).f_bavail * os.statvfs(SMALL).f_frsize < MiB, "the tmpfs is not full")
        out = cli("vm", "info", "full01").stdout
        check(re.search(r'Paused by:\s+datastore "small" is full', out), f"vm info: {out!r}")
        # Continuing while the datastore is still full is refused, and changes nothing.
        err = h.task_error("POST", f"/api/v1/vms/{vm}/power/continue")
        check('datastore "small"' in err and "free space" in err, f"unclear refusal: {err}")
        print(f"  continue refused: {err}", flush=True)
        p = cli("vm", "continue", "full01", check_rc=1)
        check('datastore "small"' in p.stderr, f"CLI refusal: {p.stderr!r}")
        check(h.vm(vm)["runtime"]["state"] == "paused", "a refused continue resumed the VM")
        console = h.console_text(vm)
        check("VIREO-DISKFILL-FAIL" not in console and "VIREO-DISKFILL-OK" not in console,
              f"the guest saw the full datastore: {console[-500:]!r}")

        os.unlink(filler)
        cli("vm", "continue", "full01")
        want = hashlib.sha256(b"".join(fill_pattern(fill_mib))).hexdigest()
        wait_for("the guest to finish writing", lambda: "VIREO-DISKFILL-OK" in h.console_text(vm)
                 or "VIREO-DISKFILL-FAIL" in h.console_text(vm), timeout=240)
        console = h.console_text(vm)
        check(f"VIREO-DISKFILL-OK {fill_mib} {want}" in console,
              f"the guest's data is not intact: {console[-800:]!r}")
        rt = h.vm(vm)["runtime"]
        check(rt["state"] == "running" and "paused_reason" not in rt, f"after continue: {rt}")
        check(any(e["type"] == "VmContinued" for e in events(vm)), "no VmContinued event")
        power(vm, "off")

        # The image is sound and holds exactly what the guest wrote.
        p = subprocess.run(["qemu-img", "check", "-f", "qcow2", disk], capture_output=True,
                           text=True)
        check(p.returncode == 0, f"qemu-img check: rc {p.returncode}: {p.stdout} {p.stderr}")
        expected = os.path.join(work.path, "expected.raw")
        with open(expected, "wb") as f:
            for block in fill_pattern(fill_mib):
                f.write(block)
        p = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", expected, disk],
                           capture_output=True, text=True)
        check(p.returncode == 0, f"the image differs from what the guest wrote: {p.stdout}")
        os.unlink(expected)

        # A full datastore refuses power-on with a clear error; nothing starts.
        fill_file(filler)
        err = h.task_error("POST", f"/api/v1/vms/{vm}/power/on")
        check('datastore "small"' in err and "free" in err and "scsi0:0" in err,
              f"unclear power-on refusal: {err}")
        print(f"  power-on refused: {err}", flush=True)
        check(h.vm(vm)["power_state"] == "poweredOff", "the VM started on a full datastore")
        check(not os.path.exists(os.path.join(folder, "vireo.lck")), "a refused power-on left a lock")
        os.unlink(filler)
        delete_vm(vm)
        vm = None
        h.ok("DELETE", "/api/v1/datastores/small")
    finally:
        if vm:
            try:
                delete_vm(vm)
            except Exception:  # noqa: BLE001 - best effort, the unmount matters more
                pass
        h.request("DELETE", "/api/v1/datastores/small")
        subprocess.run(["umount", "-l", SMALL])
        os.rmdir(SMALL)


def test_grow_disks():
    h = host()
    vm = create_vm("grow01", behaviours="vireo.disksize=sda,sdb",
                   disks=[{"size_mib": 64}, {"size_mib": 32, "format": "raw",
                                             "provisioning": "thick-lazy"}])
    folder = os.path.join(DS, "grow01")
    qcow, raw = os.path.join(folder, "grow01.qcow2"), os.path.join(folder, "grow01_1.img")

    # Refused requests answer 4xx and change nothing.
    st = os.stat(qcow)
    for slot, body, want, needle in (
            ("scsi0:0", {"size_mib": 32}, 400, "shrink"),
            ("scsi0:0", {"size_mib": 0}, 400, "size_mib"),
            ("scsi0:0", {"size_mib": "96"}, 400, "size_mib"),
            ("scsi0:0", {"size_mib": 96, "thin": True}, 400, "thin"),
            ("scsi0:0", {}, 400, "size_mib"),
            ("scsi9", {"size_mib": 96}, 400, "scsi9"),
            ("scsi0:7", {"size_mib": 96}, 404, "scsi0:7")):
        status, reply = h.request("POST", f"/api/v1/vms/{vm}/disks/{slot}/grow", body)
        check(status == want and needle in error_message(reply),
              f"grow {slot} {body}: {status} {reply}, expected {want} naming {needle!r}")
    st2 = os.stat(qcow)
    check((st.st_size, st.st_mtime_ns) == (st2.st_size, st2.st_mtime_ns), "a refusal touched the disk")
    p = cli("vm", "disk-grow", "grow01", "scsi0:0", "48", check_rc=1)
    check("shrink" in p.stderr, f"CLI shrink refusal: {p.stderr!r}")

    # Powered off: qemu-img resize; a thick disk stays thick.
    cli("vm", "disk-grow", "grow01", "scsi0:0", "96")
    t = h.task_ok("POST", f"/api/v1/vms/{vm}/disks/scsi0:1/grow", {"size_mib": 48})
    check(t["result"]["online"] is False and t["result"]["added_provisioning"] == "thick-lazy" and
          t["result"]["old_size_bytes"] == 32 * MiB, f"offline grow result: {t['result']}")
    check(img_info(qcow)["virtual-size"] == 96 * MiB, "the qcow2 disk did not grow")
    check(os.stat(raw).st_size == 48 * MiB and os.stat(raw).st_blocks * 512 >= 48 * MiB,
          "the thick raw disk did not grow thick")
    check(not os.path.exists(os.path.join(folder, "vireo.lck")), "offline growth left the lock")

    # Running: the guest sees the sizes, then the new size at once.
    power(vm, "on")
    h.wait_console(vm, f"VIREO-DISKSIZE sda {96 * MiB}")
    h.wait_console(vm, f"VIREO-DISKSIZE sdb {48 * MiB}")
    t = h.task_ok("POST", f"/api/v1/vms/{vm}/disks/scsi0:0/grow", {"size_mib": 128})
    check(t["result"]["online"] is True, f"online grow result: {t['result']}")
    h.wait_console(vm, f"VIREO-DISKSIZE sda {128 * MiB}", timeout=60)
    check(img_info(qcow)["virtual-size"] == 128 * MiB, "the image did not grow with the device")
    status, reply = h.request("POST", f"/api/v1/vms/{vm}/disks/scsi0:0/grow", {"size_mib": 100})
    check(status == 400 and "shrink" in error_message(reply), f"online shrink: {status} {reply}")
    cli("vm", "disk-grow", "grow01", "scsi0:1", "64")
    h.wait_console(vm, f"VIREO-DISKSIZE sdb {64 * MiB}", timeout=60)
    check(any(e["type"] == "VmDiskGrown" and "while running" in e["message"] for e in events(vm)),
          "no VmDiskGrown event")
    listed = [d for d in h.ok("GET", f"/api/v1/vms/{vm}/disks")["disks"] if d["slot"] == "scsi0:0"]
    check(listed[0]["capacity_bytes"] == 128 * MiB, f"disk list after growth: {listed}")

    # Suspended: the saved device state has the old size, so growth is refused.
    power(vm, "suspend")
    status, reply = h.request("POST", f"/api/v1/vms/{vm}/disks/scsi0:0/grow", {"size_mib": 160})
    check(status == 409 and "suspended" in error_message(reply), f"suspended: {status} {reply}")
    power(vm, "on")
    check(h.vm(vm)["runtime"]["state"] == "running", "not running after resume")
    power(vm, "off")
    p = subprocess.run(["qemu-img", "check", "-f", "qcow2", qcow], capture_output=True, text=True)
    check(p.returncode == 0, f"qemu-img check after growth: {p.stdout} {p.stderr}")
    delete_vm(vm)


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
    for h in hosts:
        if os.path.isdir(h.run):
            for d in os.listdir(h.run):
                try:
                    pid = int(open(os.path.join(h.run, d, "qemu.pid")).read())
                    if work.path in open(f"/proc/{pid}/cmdline").read():
                        os.kill(pid, signal.SIGKILL)
                except (OSError, ValueError):
                    pass
    if os.path.ismount(SMALL):
        subprocess.run(["umount", "-l", SMALL])
    work.cleanup()


if __name__ == "__main__":
    # meson's timeout sends SIGTERM: still power off, unmount and clean up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rc = 1
    try:
        hosts.append(Hostd(HOSTD, work.path, "hostA", DS).start())
        cli("login", "--user", "admin", env_extra={"VIREO_PASSWORD": host().admin_password()})
        tests = [("datastore space figures", test_space_figures),
                 ("grow disks offline and online", test_grow_disks)]
        if os.geteuid() == 0:
            tests.insert(1, ("full datastore: pause, no corruption, continue", test_full_datastore))
        else:
            print("SKIP full datastore: mounting the small tmpfs datastore needs root", flush=True)
        rc = run_tests(tests)
    finally:
        cleanup()
    sys.exit(rc)
