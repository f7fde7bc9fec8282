#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of clones and templates through vireo-hostd: full clones of a
powered-off VM (the whole chain flattened, same data, new identity, independent of
the source), of a running VM (the clone boots and finds the data the source's guest
wrote), linked clones (made in constant time on a snapshot's files, which stay
untouched when the snapshot is deleted; the source cannot be deleted while they
exist), templates (power-on refused, deploy by clone, convert back), and refused
requests that leave nothing behind.

usage: hostd_e2e_clones.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           run_tests, stop_hosts)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
work = Workdir("vireo-e2e-clone-")
DS = os.path.join(work.path, "datastore")
DS2 = os.path.join(work.path, "datastore2")
os.makedirs(DS)
os.makedirs(DS2)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
hosts = []


def cli(*args, check_rc=0):
    h = hosts[0]
    env = dict(os.environ, VIREO_SERVER=h.url, XDG_CONFIG_HOME=os.path.join(work.path, "cli"))
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    if check_rc is not None and p.returncode != check_rc:
        raise TestFailure(f"vireo {' '.join(args)} -> {p.returncode}, stdout {p.stdout!r}, "
                          f"stderr {p.stderr!r}")
    return p


def create_vm(name, behaviours="", disk_mib=64, nics=1):
    h = hosts[0]
    spec = {"name": name, "datastore": "ds1", "memory_mib": 256, "vcpus": 1,
            "boot": {"kernel": KERNEL, "initrd": INITRD,
                     "cmdline": f"{CMDLINE} vireo.hostname={name} {behaviours}".strip()},
            "disks": [{"size_mib": disk_mib}], "nics": [{} for _ in range(nics)]}
    return h.task_ok("POST", "/api/v1/vms", spec)["result"]["id"]


def disk_file(vm_id):
    v = hosts[0].vm(vm_id)
    ds = DS if v["datastore"] == "ds1" else DS2
    return os.path.join(ds, os.path.dirname(v["path"]), v["config"]["disks"][0]["file"])


def qemu_io(path, cmd):
    p = subprocess.run(["qemu-io", "-f", "qcow2", "-c", cmd, path], capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0 and "error" not in p.stdout.lower(),
          f"qemu-io {cmd} {path}: {p.stdout} {p.stderr}")


def content_hash(path, limit=None):
    """sha256 of the disk as the guest sees it (through the backing chain)."""
    out = os.path.join(work.path, "content.raw")
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", path, out], check=True,
                   timeout=300)
    with open(out, "rb") as f:
        digest = hashlib.sha256(f.read(limit) if limit else f.read()).hexdigest()
    os.unlink(out)
    return digest


def file_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def img_info(path):
    p = subprocess.run(["qemu-img", "info", "-U", "--output=json", path], capture_output=True,
                       text=True, check=True, timeout=60)
    return json.loads(p.stdout)


def snapshots(vm_id):
    return hosts[0].ok("GET", f"/api/v1/vms/{vm_id}/snapshots")


def check_consistent(vm_id):
    t = hosts[0].task_ok("POST", f"/api/v1/vms/{vm_id}/snapshots/check", {})
    check(t["result"]["ok"] and not t["result"]["problems"],
          f"snapshot check found problems: {t['result']}")


def listing():
    out = set()
    for root in (DS, DS2):
        for d, _, files in os.walk(root):
            for f in files:
                out.add(os.path.join(d, f))
    return out


def clone(src, name, **kw):
    t = hosts[0].task_ok("POST", f"/api/v1/vms/{src}/clone", dict(name=name, **kw), timeout=600)
    check(t["result"]["name"] == name, f"result: {t['result']}")
    return t["result"]["id"]


def macs(vm_id):
    return [n["mac"] for n in hosts[0].vm(vm_id)["config"]["nics"]]


# ---------------------------------------------------------------------------

def test_full_clone_offline():
    h = hosts[0]
    src = create_vm("fsrc", nics=2)
    qemu_io(disk_file(src), "write -P 0x11 0 4M")
    h.task_ok("POST", f"/api/v1/vms/{src}/snapshots", {"name": "s1"})
    qemu_io(disk_file(src), "write -P 0x22 2M 4M")      # lands in the delta
    check(img_info(disk_file(src)).get("backing-filename"), "the source has no chain")
    want = content_hash(disk_file(src))
    p = cli("clone", "fsrc", "fclone")
    check("fclone" in p.stdout, p.stdout)
    cl = h.vm("fclone")["id"]
    v, s = h.vm(cl), h.vm(src)
    check(cl != src and v["name"] == "fclone", f"identity: {v['id']} {v['name']}")
    check(v["path"] == "fclone/fclone.vmx" and not v["template"], f"clone: {v}")
    check(set(macs(cl)).isdisjoint(macs(src)) and len(macs(cl)) == 2,
          f"MACs {macs(cl)} vs {macs(src)}")
    check(v["config"]["memory_mib"] == s["config"]["memory_mib"] and
          v["config"]["boot"] == s["config"]["boot"], "settings not carried over")
    f = disk_file(cl)
    check(f.endswith("fclone/fclone.qcow2"), f"disk {f}")
    info = img_info(f)
    check("backing-filename" not in info and info["format"] == "qcow2", f"not flat: {info}")
    check(content_hash(f) == want, "the clone's data differs from the source's")
    # Thin: the copy holds about the 6 MiB written, not the 64 MiB disk.
    check(info["actual-size"] < 24 << 20, f"the copy is not thin: {info['actual-size']}")
    files = sorted(os.listdir(os.path.join(DS, "fclone")))
    check(not any(x.endswith((".vmsd", ".lck", ".vmss", ".vmsn", ".vireo-clones")) or
                  x == "console.log" for x in files), f"copied too much: {files}")
    check(snapshots(cl)["count"] == 0, "the clone has snapshots")
    vmx = open(os.path.join(DS, "fclone", "fclone.vmx")).read()
    check('displayName = "fclone"' in vmx and cl in vmx, "the .vmx keeps the old identity")
    # Independent copies.
    qemu_io(f, "write -P 0x33 0 1M")
    check(content_hash(disk_file(src)) == want, "writing to the clone changed the source")
    clone_now = content_hash(f)
    qemu_io(disk_file(src), "write -P 0x44 8M 1M")
    check(content_hash(f) == clone_now, "writing to the source changed the clone")
    check(snapshots(src)["count"] == 1, "the source lost its snapshot")
    check_consistent(src)
    # Another datastore.
    c2 = clone(src, "fclone2", datastore="ds2")
    check(disk_file(c2).startswith(DS2) and content_hash(disk_file(c2)) ==
          content_hash(disk_file(src)), "clone to ds2")
    for vm in (cl, c2):
        h.task_ok("DELETE", f"/api/v1/vms/{vm}")


def test_linked_clone():
    h = hosts[0]
    src = create_vm("lsrc", disk_mib=16384)
    qemu_io(disk_file(src), "write -P 0x55 0 16M")
    h.task_ok("POST", f"/api/v1/vms/{src}/snapshots", {"name": "base"})
    base_file = os.path.realpath(os.path.join(DS, "lsrc", "lsrc.qcow2"))
    at_snapshot = content_hash(disk_file(src), limit=64 << 20)
    base_sha = file_hash(base_file)
    qemu_io(disk_file(src), "write -P 0x66 0 1M")        # after the snapshot: not in clones
    src_now = content_hash(disk_file(src), limit=64 << 20)
    check(src_now != at_snapshot, "test data")

    t0 = time.monotonic()
    cl = clone(src, "lclone", linked=True, snapshot="base")
    took = time.monotonic() - t0
    check(took < 1.0, f"a linked clone of a 16 GiB disk took {took:.2f} s")
    f = disk_file(cl)
    info = img_info(f)
    check(info.get("full-backing-filename") == base_file and
          info.get("backing-filename") == base_file and
          info.get("backing-filename-format") == "qcow2", f"backing: {info}")
    check(info["virtual-size"] == 16384 << 20, f"size {info['virtual-size']}")
    check(content_hash(f, limit=64 << 20) == at_snapshot, "the clone is not the snapshot's data")
    rec = json.load(open(os.path.join(DS, "lsrc", "lsrc.vireo-clones")))
    check(rec["clones"][0]["id"] == cl and rec["clones"][0]["disks"][0]["file"] == base_file,
          f"record: {rec}")
    # Writes stay in the clone.
    qemu_io(f, "write -P 0x77 4M 1M")
    check(file_hash(base_file) == base_sha, "a write to the clone changed the base")
    check(content_hash(disk_file(src), limit=64 << 20) == src_now, "the source changed")
    # Snapshots of the clone itself never merge into the source's file.
    h.task_ok("POST", f"/api/v1/vms/{cl}/snapshots", {"name": "c1"})
    qemu_io(disk_file(cl), "write -P 0x78 6M 1M")
    h.task_ok("DELETE", f"/api/v1/vms/{cl}/snapshots")
    check(disk_file(cl) == f and file_hash(base_file) == base_sha,
          "deleting the clone's snapshot merged into the source's base")
    check_consistent(cl)
    clone_now = content_hash(f, limit=64 << 20)
    # Deleting the snapshot keeps the clone's base as it is.
    h.task_ok("DELETE", f"/api/v1/vms/{src}/snapshots/base")
    check(snapshots(src)["count"] == 0, "snapshot still listed")
    check(os.path.exists(base_file) and file_hash(base_file) == base_sha,
          "deleting the snapshot changed the clone's base")
    check(content_hash(f, limit=64 << 20) == clone_now, "the clone's data changed")
    check(content_hash(disk_file(src), limit=64 << 20) == src_now, "the source's data changed")
    check_consistent(src)
    h.task_ok("POST", f"/api/v1/vms/{src}/snapshots/consolidate", {})
    check(file_hash(base_file) == base_sha, "consolidation merged into the clone's base")
    # The source cannot go while the clone exists.
    err = h.task_error("DELETE", f"/api/v1/vms/{src}")
    check("lclone" in err and "linked clone" in err, f"error: {err}")
    check(h.vm(src)["name"] == "lsrc", "the source was unregistered")
    # A linked clone of a template (deploy from template).
    h.task_ok("POST", f"/api/v1/vms/{src}/snapshots", {"name": "again"})
    c2 = clone(src, "lclone2", linked=True)
    check(content_hash(disk_file(c2), limit=64 << 20) == src_now, "clone of the current snap")
    # Deleting the clones frees the source.
    h.task_ok("DELETE", f"/api/v1/vms/{cl}")
    err = h.task_error("DELETE", f"/api/v1/vms/{src}")
    check("lclone2" in err and "\"lclone\"" not in err, f"error: {err}")
    h.task_ok("DELETE", f"/api/v1/vms/{c2}")
    check(not os.path.exists(os.path.join(DS, "lsrc", "lsrc.vireo-clones")), "record left")
    h.task_ok("DELETE", f"/api/v1/vms/{src}/snapshots")
    check(sorted(x for x in os.listdir(os.path.join(DS, "lsrc")) if x.endswith(".qcow2")) ==
          ["lsrc.qcow2"], "the source did not consolidate once free")
    check(content_hash(disk_file(src), limit=64 << 20) == src_now, "consolidated data")
    h.task_ok("DELETE", f"/api/v1/vms/{src}")
    check(not os.path.exists(os.path.join(DS, "lsrc")), "source folder left")


def test_templates():
    h = hosts[0]
    src = create_vm("tpl")
    qemu_io(disk_file(src), "write -P 0x12 0 2M")
    want = content_hash(disk_file(src))
    cli("template", "tpl", "on")
    check(h.vm(src)["template"], "not marked")
    check('templateVM = "TRUE"' in open(os.path.join(DS, "tpl", "tpl.vmx")).read(), ".vmx key")
    err = h.task_error("POST", f"/api/v1/vms/{src}/power/on")
    check("template" in err, f"power-on of a template: {err}")
    check(h.vm(src)["power_state"] == "poweredOff", "the template runs")
    p = cli("vm", "list")
    check("tpl" in p.stdout, p.stdout)
    d1 = clone(src, "deploy1")
    check(not h.vm(d1)["template"] and content_hash(disk_file(d1)) == want, "full deploy")
    h.task_ok("POST", f"/api/v1/vms/{src}/snapshots", {"name": "golden"})
    d2 = clone(src, "deploy2", linked=True, snapshot="golden")
    check(not h.vm(d2)["template"] and content_hash(disk_file(d2)) == want, "linked deploy")
    cli("template", "tpl", "off")
    check(not h.vm(src)["template"], "not unmarked")
    check("templateVM" not in open(os.path.join(DS, "tpl", "tpl.vmx")).read(), ".vmx key")
    status, reply = h.request("POST", f"/api/v1/vms/{src}/template", {"template": "yes"})
    check(status == 400 and "template" in reply["error"]["message"], f"{status} {reply}")
    for vm in (d1, d2):
        h.task_ok("DELETE", f"/api/v1/vms/{vm}")


def test_refused_requests():
    h = hosts[0]
    src = create_vm("bad")
    other = create_vm("taken")
    before = listing()
    cases = (
        ({}, 400, "name"),
        ({"name": ""}, 400, "name"),
        ({"name": "a/b"}, 400, "/"),
        ({"name": ".."}, 400, ".."),
        ({"name": "x" * 81}, 400, "name"),
        ({"name": "ok", "bogus": 1}, 400, "bogus"),
        ({"name": "ok", "linked": "yes"}, 400, "linked"),
        ({"name": "taken"}, 409, "taken"),
        ({"name": "ok", "datastore": "nosuch"}, 404, "nosuch"),
        ({"name": "ok", "linked": True}, 400, "no snapshot"),
        ({"name": "ok", "snapshot": "s"}, 400, "linked"),
    )
    for body, status_want, needle in cases:
        status, reply = h.request("POST", f"/api/v1/vms/{src}/clone", body)
        check(status == status_want and needle in reply["error"]["message"],
              f"{body}: {status} {reply}")
    h.task_ok("POST", f"/api/v1/vms/{src}/snapshots", {"name": "s"})
    before = listing()
    status, reply = h.request("POST", f"/api/v1/vms/{src}/clone",
                              {"name": "ok", "linked": True, "snapshot": "nosuch"})
    check(status == 404 and "nosuch" in reply["error"]["message"], f"{status} {reply}")
    status, reply = h.request("POST", "/api/v1/vms/nosuch/clone", {"name": "ok"})
    check(status == 404, f"unknown VM: {status} {reply}")
    # A folder of that name already on the datastore (not a registered VM).
    os.makedirs(os.path.join(DS, "stray"))
    status, reply = h.request("POST", f"/api/v1/vms/{src}/clone", {"name": "stray"})
    check(status == 409 and "already exists" in reply["error"]["message"], f"{status} {reply}")
    # A failure inside the task (the source's disk is missing) leaves nothing.
    disk = os.path.join(DS, "bad", "bad.qcow2")
    os.rename(disk, disk + ".away")
    try:
        err = h.task_error("POST", f"/api/v1/vms/{src}/clone", {"name": "ok"})
        check("bad.qcow2" in err, f"error: {err}")
    finally:
        os.rename(disk + ".away", disk)
    os.rmdir(os.path.join(DS, "stray"))
    after = listing()
    check(after == before or all("vireo.log" in x for x in after - before),
          f"left behind: {sorted(after - before)}")
    check(not os.path.exists(os.path.join(DS, "ok")), "folder ok left")
    names = [v["name"] for v in h.ok("GET", "/api/v1/vms")["vms"]]
    check("ok" not in names, f"registered: {names}")
    p = cli("clone", "bad", "taken", check_rc=None)
    check(p.returncode != 0 and "taken" in p.stderr, f"CLI: {p.returncode} {p.stderr!r}")
    for vm in (src, other):
        h.task_ok("DELETE", f"/api/v1/vms/{vm}")


def test_full_clone_running():
    h = hosts[0]
    src = create_vm("rsrc", "vireo.disktest=sda vireo.counter=1", disk_mib=16)
    h.task_ok("POST", f"/api/v1/vms/{src}/power/on")
    h.wait_console(src, "VIREO-DISKTEST-OK", timeout=120)
    wrote = re.search(r"VIREO-DISKTEST-OK ([0-9a-f]{64})", h.console_text(src)).group(1)
    status, reply = h.request("POST", f"/api/v1/vms/{src}/template", {"template": True})
    check(status == 409 and "powered-off" in reply["error"]["message"], f"{status} {reply}")
    p = cli("clone", "rsrc", "rclone")
    check("rclone" in p.stdout, p.stdout)
    cl = h.vm("rclone")["id"]
    check(h.vm(src)["power_state"] == "poweredOn", "cloning stopped the source")
    check(snapshots(src)["count"] == 0, "the temporary snapshot is left")
    check(sorted(x for x in os.listdir(os.path.join(DS, "rsrc")) if x.endswith(".qcow2")) ==
          ["rsrc.qcow2"], "the source's deltas were not merged back")
    check("backing-filename" not in img_info(disk_file(cl)), "the clone is not flat")
    check(content_hash(disk_file(cl), limit=4 << 20) == wrote, "the clone lacks the data")
    check(h.vm(cl)["power_state"] == "poweredOff", "the clone runs")
    h.task_ok("POST", f"/api/v1/vms/{src}/power/off")
    check_consistent(src)
    # The clone boots and its guest finds the data (diskverify only: no new write).
    boot = dict(h.vm(cl)["config"]["boot"])
    boot["cmdline"] = f"{CMDLINE} vireo.hostname=rclone vireo.diskverify=sda"
    h.ok("PATCH", f"/api/v1/vms/{cl}", {"boot": boot})
    h.task_ok("POST", f"/api/v1/vms/{cl}/power/on")
    h.wait_console(cl, "VIREO-DISKVERIFY-", timeout=120)
    m = re.search(r"VIREO-DISKVERIFY-(OK|FAIL) ?(\S*)", h.console_text(cl))
    check(m.group(1) == "OK" and m.group(2) == wrote, f"verify: {m.group(0)}")
    h.task_ok("POST", f"/api/v1/vms/{cl}/power/off")
    # power_on: the clone starts at the end of the task.
    c2 = clone(cl, "rclone2", power_on=True)
    check(h.vm(c2)["power_state"] == "poweredOn", "power_on ignored")
    h.task_ok("POST", f"/api/v1/vms/{c2}/power/off")
    for vm in (c2, cl, src):
        h.task_ok("DELETE", f"/api/v1/vms/{vm}")


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
        h.ok("POST", "/api/v1/datastores", {"name": "ds2", "path": DS2})
        rc = run_tests([
            ("full clone of a powered-off VM", test_full_clone_offline),
            ("linked clones", test_linked_clone),
            ("templates", test_templates),
            ("refused requests", test_refused_requests),
            ("full clone of a running VM", test_full_clone_running),
        ])
    finally:
        cleanup()
    sys.exit(rc)
