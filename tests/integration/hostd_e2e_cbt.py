#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of changed-block tracking through vireo-hostd: enabling it
(the .vmx records ctkEnabled as VMware does; a raw disk is refused), "*" gives
the allocated extents, writes made with qemu-io at known offsets come back as
exactly those extents at bitmap granularity, a snapshot and a consolidation in
between lose no change, a running guest's disk test pattern is covered after a
clean power-off, QEMU killed with SIGKILL gives full_copy_needed with a new
epoch, and bad change IDs are refused with 400.

usage: hostd_e2e_cbt.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import json
import os
import signal
import subprocess
import sys

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           run_tests, wait_for, stop_hosts)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
work = Workdir("vireo-e2e-cbt-")
DS = os.path.join(work.path, "datastore")
os.makedirs(DS)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
GRAN = 65536
MIB = 1 << 20
hosts = []
state = {}


def cli(*args, check_rc=0):
    h = hosts[0]
    env = dict(os.environ, VIREO_SERVER=h.url, XDG_CONFIG_HOME=os.path.join(work.path, "cli"))
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    if check_rc is not None and p.returncode != check_rc:
        raise TestFailure(f"vireo {' '.join(args)} -> {p.returncode}, stdout {p.stdout!r}, "
                          f"stderr {p.stderr!r}")
    return p


def create_vm(name, disks=None):
    spec = {"name": name, "datastore": "ds1", "memory_mib": 256, "vcpus": 1,
            "boot": {"kernel": KERNEL, "initrd": INITRD,
                     "cmdline": f"{CMDLINE} vireo.hostname={name} vireo.disktest=sda"},
            "disks": disks or [{"size_mib": 16}]}
    return hosts[0].task_ok("POST", "/api/v1/vms", spec)["result"]["id"]


def disk_file(vm_id):
    info = hosts[0].vm(vm_id)
    return os.path.join(DS, info["name"], info["config"]["disks"][0]["file"])


def qemu_io(path, cmd):
    p = subprocess.run(["qemu-io", "-f", "qcow2", "-c", cmd, path], capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0 and "error" not in p.stdout.lower(),
          f"qemu-io {cmd} {path}: {p.stdout} {p.stderr}")


def changes(vm_id, since, expect=200):
    status, reply = hosts[0].request("POST", f"/api/v1/vms/{vm_id}/disks/scsi0-0/changes",
                                     {"since": since})
    check(status == expect, f"changes since {since}: {status} {reply}")
    return reply


def extents(reply):
    return [(e["offset"], e["length"]) for e in reply["extents"]]


def granular(writes):
    """The extents a bitmap of GRAN granularity records for (offset, length) writes."""
    clusters = sorted({c for off, ln in writes
                       for c in range(off // GRAN, (off + ln - 1) // GRAN + 1)})
    out = []
    for c in clusters:
        if out and out[-1][0] + out[-1][1] == c * GRAN:
            out[-1] = (out[-1][0], out[-1][1] + GRAN)
        else:
            out.append((c * GRAN, GRAN))
    return out


def covered(exts, off, ln):
    return any(o <= off and off + ln <= o + n for o, n in exts)


def allocated(path):
    p = subprocess.run(["qemu-img", "map", "-U", "--output=json", "-f", "qcow2", path],
                       capture_output=True, text=True, check=True, timeout=60)
    out = []
    for e in json.loads(p.stdout):
        if not e["data"]:
            continue
        if out and out[-1][0] + out[-1][1] == e["start"]:
            out[-1] = (out[-1][0], out[-1][1] + e["length"])
        else:
            out.append((e["start"], e["length"]))
    return out


def bitmaps(path):
    p = subprocess.run(["qemu-img", "info", "-U", "--output=json", path], capture_output=True,
                       text=True, check=True, timeout=60)
    info = json.loads(p.stdout)
    return info.get("format-specific", {}).get("data", {}).get("bitmaps", [])


def test_enable_and_offline_writes():
    h = hosts[0]
    vm = state["vm"] = create_vm("cbt01")
    path = disk_file(vm)
    qemu_io(path, "write -P 7 0 192k")  # data before tracking starts
    out = cli("cbt", "enable", "cbt01").stdout
    check("enabled" in out, f"cbt enable: {out!r}")
    vmx = open(os.path.join(DS, "cbt01", "cbt01.vmx")).read()
    check('ctkEnabled = "TRUE"' in vmx and 'scsi0:0.ctkEnabled = "TRUE"' in vmx,
          f".vmx lacks ctkEnabled: {vmx}")
    names = [b["name"] for b in bitmaps(path)]
    check(len(names) == 1 and names[0].startswith("vireo-cbt-"), f"bitmaps: {names}")
    # "*": every allocated extent, and no full-copy flag (that is what was asked).
    r = changes(vm, "*")
    check(extents(r) == allocated(path) and extents(r) == [(0, 192 * 1024)],
          f"'*' gave {extents(r)}, allocated {allocated(path)}")
    check(r["full_copy_needed"] is False, f"'*' reply: {r}")
    c1 = r["change_id"]
    # Writes at known offsets: exactly those clusters come back.
    writes = [(1 * MIB, 4096), (5 * MIB + 60000, 10000), (15 * MIB + GRAN - 1, 1)]
    for off, ln in writes:
        qemu_io(path, f"write -P 9 {off} {ln}")
    r = changes(vm, c1)
    check(extents(r) == granular(writes), f"since {c1}: {extents(r)}, wanted {granular(writes)}")
    check(r["full_copy_needed"] is False and r["change_id"] != c1, f"reply: {r}")
    c2 = r["change_id"]
    # Nothing written since: nothing changed; the CLI shows the same answer.
    p = cli("--json", "cbt", "changes", "cbt01", "scsi0:0", "--since", c2)
    r = json.loads(p.stdout)
    check(r["extents"] == [] and r["full_copy_needed"] is False, f"idle: {r}")
    c3 = r["change_id"]
    # A retry with the previous change ID still works (the one-query window) ...
    qemu_io(path, f"write 8M 4k")
    r = changes(vm, c2)
    check(extents(r) == [(8 * MIB, GRAN)] and not r["full_copy_needed"], f"retry: {r}")
    # ... but one older than the window gets the whole disk, flagged.
    r = changes(vm, c1)
    check(r["full_copy_needed"] is True and extents(r) == allocated(path), f"too old: {r}")
    state["cid"] = r["change_id"]
    del c3


def test_snapshot_and_consolidation():
    h = hosts[0]
    vm = state["vm"]
    since = state["cid"]
    h.task_ok("POST", f"/api/v1/vms/{vm}/snapshots", {"name": "s1"})
    delta = disk_file(vm)
    check("-0000" in delta, f"no delta after the snapshot: {delta}")
    check(any(b["name"].startswith("vireo-cbt-") for b in bitmaps(delta)),
          f"the delta records nothing: {bitmaps(delta)}")
    qemu_io(delta, "write -P 3 2M 4k")
    r = changes(vm, since)
    check(extents(r) == [(2 * MIB, GRAN)], f"after a snapshot: {extents(r)}")
    since = r["change_id"]
    qemu_io(delta, "write -P 4 3M 4k")
    h.task_ok("DELETE", f"/api/v1/vms/{vm}/snapshots")  # merges the delta back
    base = disk_file(vm)
    check("-0000" not in base, f"still on a delta after consolidation: {base}")
    r = changes(vm, since)
    ext = extents(r)
    check(not r["full_copy_needed"] and covered(ext, 3 * MIB, 4096),
          f"the write before consolidation is lost: {r}")
    check(sum(n for _, n in ext) <= 4 * GRAN, f"consolidation reported too much: {ext}")
    state["cid"] = r["change_id"]


def test_running_guest():
    h = hosts[0]
    vm = state["vm"]
    status, reply = h.request("POST", f"/api/v1/vms/{vm}/power/on")
    check(status == 202, f"power on: {status} {reply}")
    h.wait_task(reply["task"])
    h.wait_console(vm, "VIREO-DISKTEST-OK", timeout=180)
    # Asked while the guest runs: QMP rotation and an NBD export of the bitmap.
    r = changes(vm, state["cid"])
    check(not r["full_copy_needed"] and covered(extents(r), 0, 4 * MIB),
          f"the guest's 4 MiB pattern is not covered (online): {r}")
    left = [f for _, _, fs in os.walk(h.run) for f in fs if "cbt" in f]
    check(not left, f"export socket left: {left}")
    cid = r["change_id"]
    # An online snapshot: recording moves to the new delta without a gap.
    h.task_ok("POST", f"/api/v1/vms/{vm}/snapshots", {"name": "online"})
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/off")
    # The bitmaps QEMU made survive the power-off; the delta holds the guest's shutdown.
    r = changes(vm, cid)
    check(not r["full_copy_needed"], f"after an online snapshot and power-off: {r}")
    qemu_io(disk_file(vm), "write 6M 4k")
    r = changes(vm, r["change_id"])
    check(extents(r) == [(6 * MIB, GRAN)] and not r["full_copy_needed"], f"on the delta: {r}")
    h.task_ok("DELETE", f"/api/v1/vms/{vm}/snapshots")
    state["cid"] = r["change_id"]


def test_unclean_stop():
    h = hosts[0]
    vm = state["vm"]
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/on")
    h.wait_console(vm, "VIREO-DISKTEST-OK", count=2, timeout=180)
    pid = h.vm(vm)["runtime"]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for("the VM to show powered off", lambda: h.vm(vm)["power_state"] == "poweredOff")
    path = disk_file(vm)
    check(any(b["name"].startswith("vireo-cbt-") and "in-use" in b.get("flags", [])
              for b in bitmaps(path)), f"no in-use bitmap after SIGKILL: {bitmaps(path)}")
    # Powered on again, QEMU loads them as inconsistent: an online query says so too.
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/on")
    h.wait_console(vm, "VIREO-DISKTEST-OK", count=3, timeout=180)
    r = changes(vm, state["cid"])
    check(r["full_copy_needed"] is True and
          r["change_id"].split("/")[1] != state["cid"].split("/")[1], f"online after SIGKILL: {r}")
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/off")
    r2 = changes(vm, r["change_id"])
    check(not r2["full_copy_needed"], f"the new epoch is not kept across power-off: {r2}")
    # Killed again: offline this time.
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/on")
    h.wait_console(vm, "VIREO-DISKTEST-OK", count=4, timeout=180)
    state["cid"] = r2["change_id"]
    pid = h.vm(vm)["runtime"]["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for("the VM to show powered off", lambda: h.vm(vm)["power_state"] == "poweredOff")
    check(any(b["name"].startswith("vireo-cbt-") and "in-use" in b.get("flags", [])
              for b in bitmaps(path)), f"no in-use bitmap after SIGKILL: {bitmaps(path)}")
    r = changes(vm, state["cid"])
    old_epoch = state["cid"].split("/")[1]
    new_epoch = r["change_id"].split("/")[1]
    check(r["full_copy_needed"] is True and new_epoch != old_epoch,
          f"after SIGKILL: {r} (was {state['cid']})")
    check(extents(r) == allocated(path), f"full copy is not the allocated extents: {r}")
    check(not any("in-use" in b.get("flags", []) for b in bitmaps(path)),
          f"in-use bitmaps left: {bitmaps(path)}")
    # The new epoch is trusted again.
    qemu_io(path, "write 12M 4k")
    r = changes(vm, r["change_id"])
    check(extents(r) == [(12 * MIB, GRAN)] and not r["full_copy_needed"], f"new epoch: {r}")


def test_refused():
    h = hosts[0]
    vm = state["vm"]
    disk = state["cid"].split("/")[0] if "cid" in state else "x"
    for bad in ["garbage", "a/b/c", "other-disk/0000000000000001/1", f"{disk}/1/0",
                f"{disk}/0000000000000001/1/2", ""]:
        r = changes(vm, bad, expect=400)
        check("change ID" in r["error"]["message"] or "since" in r["error"]["message"],
              f"{bad!r}: {r}")
    cur = changes(vm, "*")["change_id"]
    d, e, s = cur.split("/")
    # A sequence the disk never reached (bitmaps lost): a full copy in a new epoch.
    r = changes(vm, f"{d}/{e}/{int(s) + 5}")
    check(r["full_copy_needed"] is True and r["change_id"].split("/")[1] != e,
          f"future change ID: {r}")
    status, r = h.request("POST", f"/api/v1/vms/{vm}/disks/scsi0-7/changes", {"since": "*"})
    check(status == 404, f"no such disk: {status} {r}")
    raw = create_vm("cbt02", [{"size_mib": 8, "format": "raw"}])
    status, r = h.request("POST", f"/api/v1/vms/{raw}/cbt", {"enabled": True})
    check(status == 400 and "qcow2" in r["error"]["message"], f"raw disk: {status} {r}")
    status, r = h.request("POST", f"/api/v1/vms/{raw}/disks/scsi0:0/changes", {"since": "*"})
    check(status == 409 and "not enabled" in r["error"]["message"], f"untracked: {status} {r}")
    # Disabling removes the bitmaps and records it in the .vmx.
    cli("cbt", "disable", "cbt01")
    vmx = open(os.path.join(DS, "cbt01", "cbt01.vmx")).read()
    check('scsi0:0.ctkEnabled = "FALSE"' in vmx, "disable not recorded")
    check(not bitmaps(disk_file(vm)), f"bitmaps left: {bitmaps(disk_file(vm))}")


def cleanup():
    stop_hosts(hosts, work)


if __name__ == "__main__":
    rc = 1
    try:
        h = Hostd(HOSTD, work.path, "hostA", DS).start()
        hosts.append(h)
        env = dict(os.environ, VIREO_SERVER=h.url, XDG_CONFIG_HOME=os.path.join(work.path, "cli"),
                   VIREO_PASSWORD=h.admin_password())
        subprocess.run([CLI, "login", "--user", "admin"], env=env, check=True,
                       capture_output=True, timeout=60)
        rc = run_tests([
            ("enable, '*', offline writes at known offsets", test_enable_and_offline_writes),
            ("a snapshot and a consolidation lose no change", test_snapshot_and_consolidation),
            ("a running guest's writes", test_running_guest),
            ("SIGKILL of QEMU: full copy, new epoch", test_unclean_stop),
            ("refused requests, disable", test_refused),
        ])
    finally:
        cleanup()
    sys.exit(rc)
