#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of OVF/OVA export and import through vireo-hostd: a powered-off
VM (disk data written with qemu-io, two NICs, 2 vCPUs) is exported to an OVA (a ustar
archive: descriptor first, then the manifest, then streamOptimized VMDKs, every digest
right) and to an OVF folder; each is imported as a new VM with the same disk content,
CPU, memory and NIC count, a new uuid and new MACs, and the OVA import boots our guest;
a tampered OVA (one byte of a disk changed) and a descriptor with an external entity
are refused and leave nothing behind; exports outside the datastore, over existing
files, and of a running VM are refused.

usage: hostd_e2e_ovf.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import hashlib
import os
import subprocess
import sys
import tarfile

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           run_tests, stop_hosts)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
work = Workdir("vireo-e2e-ovf-")
DS = os.path.join(work.path, "datastore")
os.makedirs(DS)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
hosts = []
state = {}


def cli(*args, check_rc=0):
    h = hosts[0]
    env = dict(os.environ, VIREO_SERVER=h.url, XDG_CONFIG_HOME=os.path.join(work.path, "cli"))
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=600)
    if check_rc is not None and p.returncode != check_rc:
        raise TestFailure(f"vireo {' '.join(args)} -> {p.returncode}, stdout {p.stdout!r}, "
                          f"stderr {p.stderr!r}")
    return p


def content_hash(path):
    out = os.path.join(work.path, "content.raw")
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", path, out], check=True,
                   timeout=300)
    with open(out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    os.unlink(out)
    return digest


def file_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def qemu_io(path, cmd):
    p = subprocess.run(["qemu-io", "-f", "qcow2", "-c", cmd, path], capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0 and "error" not in p.stdout.lower(),
          f"qemu-io {cmd} {path}: {p.stdout} {p.stderr}")


def disk_file(vm_id):
    v = hosts[0].vm(vm_id)
    return os.path.join(DS, os.path.dirname(v["path"]), v["config"]["disks"][0]["file"])


def listing():
    out = set()
    for d, _, files in os.walk(DS):
        for f in files:
            out.add(os.path.join(d, f))
    return out


def names():
    return sorted(v["name"] for v in hosts[0].ok("GET", "/api/v1/vms")["vms"])


def test_export():
    h = hosts[0]
    spec = {"name": "web01", "datastore": "ds1", "memory_mib": 256, "vcpus": 2,
            "boot": {"kernel": KERNEL, "initrd": INITRD,
                     "cmdline": f"{CMDLINE} vireo.hostname=web01"},
            "disks": [{"size_mib": 64}], "nics": [{}, {}]}
    src = h.task_ok("POST", "/api/v1/vms", spec)["result"]["id"]
    state["src"] = src
    qemu_io(disk_file(src), "write -P 0x5a 0 3M")
    qemu_io(disk_file(src), "write -P 0xa5 40M 1M")
    state["hash"] = content_hash(disk_file(src))
    t = h.task_ok("POST", f"/api/v1/vms/{src}/export",
                  {"datastore": "ds1", "path": "exports/web01.ova", "format": "ova"}, timeout=600)
    check(t["progress"] == 100, f"progress {t}")
    ova = os.path.join(DS, "exports", "web01.ova")
    with tarfile.open(ova) as tar:
        members = tar.getmembers()
        check([m.name for m in members] == ["web01.ovf", "web01.mf", "web01-disk1.vmdk"],
              f"members {[m.name for m in members]}")
        check(all(m.isreg() for m in members), "members are not all regular files")
        files = {m.name: tar.extractfile(m).read() for m in members}
    with open(ova, "rb") as f:
        check(f.read(512)[257:263] == b"ustar\0", "not a ustar archive")
    check(sorted(os.listdir(os.path.join(DS, "exports"))) == ["web01.ova"],
          f"leftovers: {os.listdir(os.path.join(DS, 'exports'))}")
    ovf = files["web01.ovf"].decode()
    for needle in ("<rasd:ResourceType>3</rasd:ResourceType>",
                   "<rasd:ResourceType>17</rasd:ResourceType>",
                   "<rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>",
                   "<rasd:ResourceSubType>virtio</rasd:ResourceSubType>",
                   'ovf:href="web01-disk1.vmdk"', "streamOptimized"):
        check(needle in ovf, f"descriptor lacks {needle}")
    for line in files["web01.mf"].decode().splitlines():
        name, digest = line[len("SHA256("):].split(")= ")
        check(hashlib.sha256(files[name]).hexdigest() == digest, f"manifest digest of {name}")
    check(files["web01-disk1.vmdk"][:4] == b"KDMV", "the disk is not a sparse VMDK")
    disk = os.path.join(work.path, "x.vmdk")
    with open(disk, "wb") as f:
        f.write(files["web01-disk1.vmdk"])
    info = subprocess.run(["qemu-img", "info", disk], capture_output=True, text=True).stdout
    check("streamOptimized" in info, f"not streamOptimized: {info}")
    check(content_hash(disk) == state["hash"], "the exported disk's data differs")
    # OVF folder.
    p = cli("export", "web01", "ds1", "exports/ovf/web01.ovf", "--ovf")
    check("Exported" in p.stdout, p.stdout)
    check(sorted(os.listdir(os.path.join(DS, "exports", "ovf"))) ==
          ["web01-disk1.vmdk", "web01.mf", "web01.ovf"], "OVF folder")
    # Refused: existing file, leaving the datastore, a running VM.  A dangling link
    # would lead qemu-img out of the datastore: it counts as an existing file.
    os.symlink(os.path.join(work.path, "outside.ova"), os.path.join(DS, "exports", "link.ova"))
    before = listing()
    for body, needle in (({"datastore": "ds1", "path": "exports/web01.ova"}, "already exists"),
                         ({"datastore": "ds1", "path": "../web01.ova"}, ".."),
                         ({"datastore": "ds1", "path": "/tmp/web01.ova"}, "relative to the datastore"),
                         ({"datastore": "ds1", "path": "x/web01.ovf", "format": "ova"}, ".ova"),
                         ({"datastore": "ds1", "path": "exports/link.ova"}, "already exists")):
        status, reply = h.request("POST", f"/api/v1/vms/{src}/export", body)
        msg = reply["error"]["message"] if isinstance(reply, dict) and "error" in reply else ""
        check(status in (400, 409), f"{body}: {status} {reply}")
        check(needle in msg, f"{body}: {msg!r} does not say {needle!r}")
    check(listing() == before, "a refused export left files")
    h.task_ok("POST", f"/api/v1/vms/{src}/power/on")
    status, reply = h.request("POST", f"/api/v1/vms/{src}/export",
                              {"datastore": "ds1", "path": "exports/run.ova"})
    check(status >= 400 and "powered-off" in str(reply), f"running VM export: {status} {reply}")
    h.task_ok("POST", f"/api/v1/vms/{src}/power/off")
    check(not os.path.exists(os.path.join(work.path, "outside.ova")), "wrote through a link")
    os.unlink(os.path.join(DS, "exports", "link.ova"))
    check(sorted(os.listdir(os.path.join(DS, "exports"))) == ["ovf", "web01.ova"],
          "the refused export of a running VM left files")


def test_import_ova_boots():
    h = hosts[0]
    p = cli("import", "ovf", "ds1", "exports/web01.ova", "imp1")
    check("imp1" in p.stdout, p.stdout)
    v, s = h.vm("imp1"), h.vm(state["src"])
    check(v["id"] != s["id"], "same uuid")
    check(v["config"]["vcpus"] == 2 and v["config"]["memory_mib"] == 256, f"{v['config']}")
    check(len(v["config"]["nics"]) == 2, "NIC count")
    check(set(n["mac"] for n in v["config"]["nics"]).isdisjoint(
        n["mac"] for n in s["config"]["nics"]), "MACs kept")
    check(content_hash(disk_file(v["id"])) == state["hash"], "imported data differs")
    check(sorted(x for x in os.listdir(os.path.join(DS, "imp1")) if x != "vireo.log") ==
          ["imp1.qcow2", "imp1.vmx"],
          f"folder {os.listdir(os.path.join(DS, 'imp1'))}")
    h.task_ok("POST", f"/api/v1/vms/{v['id']}/power/on")
    h.wait_console(v["id"], "VIREO-GUEST-READY", timeout=240)
    h.task_ok("POST", f"/api/v1/vms/{v['id']}/power/off")


def test_import_ovf():
    h = hosts[0]
    t = h.task_ok("POST", "/api/v1/vms/import",
                  {"datastore": "ds1", "source": "exports/ovf/web01.ovf", "name": "imp2"},
                  timeout=600)
    vid = t["result"]["id"]
    v = h.vm(vid)
    check(vid not in (state["src"], h.vm("imp1")["id"]), "uuid reused")
    check(v["config"]["vcpus"] == 2 and len(v["config"]["nics"]) == 2, f"{v['config']}")
    check(content_hash(disk_file(vid)) == state["hash"], "imported data differs")


def refused_import(source, name, *needles):
    h = hosts[0]
    before, inv = listing(), names()
    t = h.task_error("POST", "/api/v1/vms/import",
                     {"datastore": "ds1", "source": source, "name": name})
    for n in needles:
        check(n in str(t), f"error {t!r} does not say {n!r}")
    check(listing() == before and names() == inv, "a refused import left something")
    check(not os.path.exists(os.path.join(DS, name)), "folder left")


def test_tampered():
    src = os.path.join(DS, "exports", "web01.ova")
    bad = os.path.join(DS, "exports", "bad.ova")
    data = bytearray(open(src, "rb").read())
    with tarfile.open(src) as tar:
        disk = tar.getmember("web01-disk1.vmdk")
    # One byte in the middle of the disk member: the tar stays well-formed.
    data[disk.offset_data + disk.size // 2] ^= 0xff
    open(bad, "wb").write(data)
    refused_import("exports/bad.ova", "tampered", "web01-disk1.vmdk", "manifest")


def test_xxe():
    d = os.path.join(DS, "exports", "xxe")
    os.makedirs(d)
    open(os.path.join(d, "x.ovf"), "w").write(
        '<?xml version="1.0"?>\n<!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        '<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"><x>&x;</x></Envelope>\n')
    refused_import("exports/xxe/x.ovf", "xxe", "DOCTYPE")


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
            ("export to OVA and OVF", test_export),
            ("import an OVA, boot it", test_import_ova_boots),
            ("import an OVF folder", test_import_ovf),
            ("tampered OVA refused", test_tampered),
            ("external entity refused", test_xxe),
        ])
    finally:
        cleanup()
    sys.exit(rc)
