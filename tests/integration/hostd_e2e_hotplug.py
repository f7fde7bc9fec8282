#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of adding and removing disks while a guest runs (QEMU, TCG here):
refused requests (slot taken, bad slot, SATA or a missing controller on a running VM,
absurd sizes, files outside the datastores, a disk that a snapshot includes) answer 4xx
and change nothing; a hot-added SCSI disk appears in the guest with its size and
holds what the guest writes; a snapshot includes it; it survives a power cycle;
hot-removal makes it disappear from the guest and the .vmx; an existing file is
attached and detached through the CLI; SATA disks are added and removed powered off.

usage: hostd_e2e_hotplug.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import os
import signal
import subprocess
import sys

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           run_tests, wait_for)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
work = Workdir("vireo-e2e-hotplug-")
DS = os.path.join(work.path, "datastore")
os.makedirs(DS)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
MiB = 1 << 20
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


def create_vm(name, behaviours="", disks=()):
    spec = {"name": name, "datastore": "ds1", "memory_mib": 256, "vcpus": 1,
            "guest_os": "debian12-64",
            "boot": {"kernel": KERNEL, "initrd": INITRD,
                     "cmdline": f"{CMDLINE} vireo.hostname={name} {behaviours}".strip()},
            "disks": list(disks)}
    return host().task_ok("POST", "/api/v1/vms", spec)["result"]["id"]


def power(vm_id, op):
    return host().task_ok("POST", f"/api/v1/vms/{vm_id}/power/{op}")


def error_message(body):
    return body.get("error", {}).get("message", "") if isinstance(body, dict) else str(body)


def vmx_text(folder, name):
    with open(os.path.join(folder, f"{name}.vmx")) as f:
        return f.read()


def disk_slots(vm_id):
    return {d["slot"]: d for d in host().ok("GET", f"/api/v1/vms/{vm_id}/disks")["disks"]}


def events(vm_id):
    return host().ok("GET", f"/api/v1/events?object={vm_id}")["events"]


def folder_state(folder):
    """The .vmx and the names of the files (logs and the lock change as the VM runs)."""
    names = sorted(f for f in os.listdir(folder) if not f.endswith((".log", ".lck")))
    vmx = [open(os.path.join(folder, f)).read() for f in names if f.endswith(".vmx")]
    return names, vmx


# ---------------------------------------------------------------------------

def refusals(vm, folder):
    """Bad requests on a running VM: 4xx naming the problem, nothing changed."""
    h = host()
    outside = os.path.join(work.path, "outside.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", outside, "8M"], check=True)
    not_image = os.path.join(folder, "notes.qcow2")
    with open(not_image, "w") as f:
        f.write("not a disk image\n")
    before = folder_state(folder)
    cases = (
        ({"size_mib": 16, "slot": "scsi0:0"}, 409, "already holds"),
        ({"size_mib": 16, "slot": "scsi9"}, 400, "scsi9"),
        ({"size_mib": 16, "slot": "scsi0:7"}, 400, "scsi0:7"),
        ({"size_mib": 16, "slot": "scsi0:16"}, 400, "scsi0:16"),
        ({"size_mib": 16, "slot": "sata0:0"}, 409, "hot-plug"),
        ({"size_mib": 16, "slot": "scsi1:0"}, 409, "scsi1"),
        ({"size_mib": 1 << 40}, 400, "size_mib"),
        ({"size_mib": 0}, 400, "size_mib"),
        ({"size_mib": 16, "format": "vhdx"}, 400, "vhdx"),
        ({"size_mib": 16, "provisioning": "fat"}, 400, "fat"),
        ({"size_mib": 16, "mode": "sometimes"}, 400, "sometimes"),
        ({"size_mib": 16, "mode": "independent-nonpersistent"}, 409, "redo"),
        ({"size_mib": 16, "file": "x.qcow2"}, 400, "exclude"),
        ({}, 400, "size_mib"),
        ({"size_mib": 16, "colour": "red"}, 400, "colour"),
        ({"file": outside}, 400, "datastore"),
        ({"file": "../outside.qcow2"}, 400, ".."),
        ({"file": "missing.qcow2"}, 404, "missing.qcow2"),
        ({"file": "notes.qcow2"}, 400, "notes.qcow2"),
        ({"file": "hot01.qcow2"}, 409, "already uses"),
    )
    for body, want, needle in cases:
        status, reply = h.request("POST", f"/api/v1/vms/{vm}/disks", body)
        check(status == want and needle in error_message(reply),
              f"add {body}: {status} {reply}, expected {want} naming {needle!r}")
    for path, want, needle in ((f"/api/v1/vms/{vm}/disks/scsi0:5", 404, "scsi0:5"),
                               (f"/api/v1/vms/{vm}/disks/sd0:0", 400, "sd0:0"),
                               (f"/api/v1/vms/{vm}/disks/scsi0:0?delete_file=maybe", 400,
                                "delete_file")):
        status, reply = h.request("DELETE", path)
        check(status == want and needle in error_message(reply),
              f"DELETE {path}: {status} {reply}, expected {want} naming {needle!r}")
    check(folder_state(folder) == before, "refused requests changed the VM folder or its .vmx")
    p = cli("vm", "disk-add", "hot01", "16", "--slot", "sata0:1", check_rc=1)
    check("hot-plug" in p.stderr, f"CLI SATA refusal: {p.stderr!r}")
    os.unlink(not_image)


def failed_hot_plug(vm, folder):
    """QEMU cannot open the file (qemu-io holds its write lock): the .vmx entry goes again."""
    h = host()
    locked = os.path.join(folder, "locked.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", locked, "8M"], check=True)
    holder = subprocess.Popen(["qemu-io", "-f", "qcow2", locked], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        before = folder_state(folder)
        err = h.task_error("POST", f"/api/v1/vms/{vm}/disks", {"file": "locked.qcow2"})
        check("lock" in str(err) and "locked.qcow2" in str(err), f"failed hot-plug: {err}")
        check(folder_state(folder) == before, "a failed hot-plug left the disk in the .vmx")
        check("scsi0:1" not in disk_slots(vm), "a failed hot-plug left the disk listed")
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    os.unlink(locked)


def test_hot_add_remove():
    h = host()
    vm = create_vm("hot01", behaviours="vireo.disksize=sda,sdb,sdc vireo.hotdisk=sdb",
                   disks=[{"size_mib": 64}])
    folder = os.path.join(DS, "hot01")
    power(vm, "on")
    h.wait_console(vm, f"VIREO-DISKSIZE sda {64 * MiB}")
    h.wait_console(vm, "VIREO-DISKSIZE sdb 0", timeout=120)
    refusals(vm, folder)
    failed_hot_plug(vm, folder)

    # Hot-add: the guest sees the disk with its size and can write and read it back.
    t = h.task_ok("POST", f"/api/v1/vms/{vm}/disks", {"size_mib": 48})
    r = t["result"]
    check(r["slot"] == "scsi0:1" and r["online"] is True and r["created"] is True and
          r["file"] == "hot01_1.qcow2", f"hot-add result: {r}")
    h.wait_console(vm, f"VIREO-DISKSIZE sdb {48 * MiB}", timeout=60)
    h.wait_console(vm, "VIREO-HOTDISK-APPEARED sdb", timeout=60)
    h.wait_console(vm, "VIREO-DISKTEST-OK", timeout=120)
    check("VIREO-DISKTEST-FAIL" not in h.console_text(vm), "the guest's disk test failed")
    check('scsi0:1.fileName = "hot01_1.qcow2"' in vmx_text(folder, "hot01"),
          "the .vmx does not list the hot-added disk")
    listed = disk_slots(vm)
    check(listed["scsi0:1"]["capacity_bytes"] == 48 * MiB, f"disk list: {listed}")
    check(any(e["type"] == "VmDiskAdded" and "while running" in e["message"] for e in events(vm)),
          "no VmDiskAdded event")

    # A snapshot includes it, and removal is refused while the snapshot exists.
    h.task_ok("POST", f"/api/v1/vms/{vm}/snapshots", {"name": "with-hot-disk"})
    with open(os.path.join(folder, "hot01.vmsd")) as f:
        check('"scsi0:1"' in f.read(), "the snapshot does not include the hot-added disk")
    check("hot01_1-0000" in vmx_text(folder, "hot01"), "the hot-added disk got no delta")
    status, reply = h.request("DELETE", f"/api/v1/vms/{vm}/disks/scsi0:1")
    check(status == 409 and "with-hot-disk" in error_message(reply),
          f"removal with a snapshot: {status} {reply}")
    h.task_ok("DELETE", f"/api/v1/vms/{vm}/snapshots")

    # A power cycle brings the disk back with the same names (and the data the guest wrote).
    power(vm, "off")
    power(vm, "on")
    h.wait_console(vm, f"VIREO-DISKSIZE sdb {48 * MiB}", count=2, timeout=120)
    h.wait_console(vm, "VIREO-DISKTEST-OK", count=2, timeout=120)

    # Hot-remove: the guest loses the device, the .vmx forgets it, the file goes.
    t = h.task_ok("DELETE", f"/api/v1/vms/{vm}/disks/scsi0:1?delete_file=true")
    check(t["result"]["online"] is True and t["result"]["files_deleted"] >= 1,
          f"hot-remove result: {t['result']}")
    h.wait_console(vm, "VIREO-DISKSIZE sdb 0", count=2, timeout=60)
    check("scsi0:1." not in vmx_text(folder, "hot01"), "the .vmx still lists scsi0:1")
    check(not [f for f in os.listdir(folder) if f.startswith("hot01_1")],
          f"the removed disk's files remain: {os.listdir(folder)}")
    check("scsi0:1" not in disk_slots(vm), "the disk list still shows scsi0:1")

    # CLI: add, detach keeping the file, attach it again in another slot, remove.
    p = cli("vm", "disk-add", "hot01", "16:raw:thick-lazy", "--slot", "scsi0:3")
    check("scsi0:3" in p.stdout and "while running" in p.stdout, f"disk-add: {p.stdout!r}")
    raw = os.path.join(folder, "hot01_1.img")
    check(os.stat(raw).st_blocks * 512 >= 16 * MiB, "the thick disk is not thick")
    h.wait_console(vm, f"VIREO-DISKSIZE sdb {16 * MiB}", timeout=60)
    cli("vm", "disk-remove", "hot01", "scsi0:3")
    h.wait_console(vm, "VIREO-DISKSIZE sdb 0", count=3, timeout=60)
    check(os.path.exists(raw), "disk-remove without --delete-file deleted the file")
    check("scsi0:3." not in vmx_text(folder, "hot01"), "the .vmx still lists scsi0:3")
    p = cli("vm", "disk-attach", "hot01", "hot01_1.img", "--slot", "scsi0:2")
    check("scsi0:2" in p.stdout, f"disk-attach: {p.stdout!r}")
    check(disk_slots(vm)["scsi0:2"]["capacity_bytes"] == 16 * MiB, "attached disk's size")
    wait_for("the attached disk in the guest",
             lambda: h.console_text(vm).count(f"VIREO-DISKSIZE sdb {16 * MiB}") +
             h.console_text(vm).count(f"VIREO-DISKSIZE sdc {16 * MiB}") >= 2, timeout=60)
    cli("vm", "disk-remove", "hot01", "scsi0:2", "--delete-file")
    check(not os.path.exists(raw), "disk-remove --delete-file kept the file")
    check(h.vm(vm)["runtime"]["state"] == "running", "the VM does not run any more")
    power(vm, "off")

    # Powered off, SATA is fine; the controller is added to the .vmx.
    t = h.task_ok("POST", f"/api/v1/vms/{vm}/disks", {"size_mib": 8, "slot": "sata0:0"})
    check(t["result"]["online"] is False, f"offline add: {t['result']}")
    text = vmx_text(folder, "hot01")
    check('sata0.present = "TRUE"' in text and "sata0:0.fileName" in text, f".vmx: {text}")
    h.task_ok("DELETE", f"/api/v1/vms/{vm}/disks/sata0:0?delete_file=true")
    check("sata0:0." not in vmx_text(folder, "hot01"), "the .vmx still lists sata0:0")
    p = subprocess.run(["qemu-img", "check", "-f", "qcow2", os.path.join(folder, "hot01.qcow2")],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"qemu-img check: {p.stdout} {p.stderr}")
    h.task_ok("DELETE", f"/api/v1/vms/{vm}")


def cleanup():
    """Stops everything; whether hostd's log is free of sanitizer reports."""
    clean = True
    for h in hosts:
        if h.proc and h.proc.poll() is None and h.token:
            try:
                for v in h.ok("GET", "/api/v1/vms")["vms"]:
                    if v["power_state"] == "poweredOn":
                        h.request("POST", f"/api/v1/vms/{v['id']}/power/off")
            except Exception:  # noqa: BLE001 - best effort
                pass
        h.stop()
        try:
            with open(h.logfile, errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        if "Sanitizer" in text:
            i = text.index("Sanitizer")
            print(f"FAIL hostd {h.name} reported a sanitizer error:\n{text[max(0, i - 200):i + 3000]}",
                  flush=True)
            clean = False
    for h in hosts:
        if os.path.isdir(h.run):
            for d in os.listdir(h.run):
                try:
                    pid = int(open(os.path.join(h.run, d, "qemu.pid")).read())
                    if work.path in open(f"/proc/{pid}/cmdline").read():
                        os.kill(pid, signal.SIGKILL)
                except (OSError, ValueError):
                    pass
    work.cleanup()
    return clean


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rc = 1
    try:
        hosts.append(Hostd(HOSTD, work.path, "hostA", DS).start())
        cli("login", "--user", "admin", env_extra={"VIREO_PASSWORD": host().admin_password()})
        rc = run_tests([("hot-add, snapshot, power cycle, hot-remove, attach", test_hot_add_remove)])
    finally:
        if not cleanup():
            rc = 1
    sys.exit(rc)
