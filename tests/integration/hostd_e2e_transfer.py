#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of moving a powered-off VM's folder through vireo-hostd's transfer
resources (what vireo-center relays for a cold migration to another datastore): the
whole folder, snapshots included, arrives byte for byte (SHA-256 per file), sparse,
and is registered in place of the original, whose folder goes; while a transfer holds
a VM nothing else changes it; refused requests (linked clones and their sources, bad
names, wrong sizes and types, no room, an unfinished upload) leave nothing behind.

usage: hostd_e2e_transfer.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import hashlib
import json
import os
import subprocess
import sys
import urllib.parse

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           run_tests, stop_hosts, wait_for)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
work = Workdir("vireo-e2e-transfer-")
DS = os.path.join(work.path, "datastore")
DS2 = os.path.join(work.path, "datastore2")
os.makedirs(DS)
os.makedirs(DS2)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
hosts = []


def create_vm(name, disk_mib=64):
    spec = {"name": name, "datastore": "ds1", "memory_mib": 256, "vcpus": 1,
            "boot": {"kernel": KERNEL, "initrd": INITRD, "cmdline": "console=ttyS0"},
            "disks": [{"size_mib": disk_mib}], "nics": [{}]}
    return hosts[0].task_ok("POST", "/api/v1/vms", spec)["result"]["id"]


def vm_dir(vm_id):
    v = hosts[0].vm(vm_id)
    root = DS if v["datastore"] == "ds1" else DS2
    return os.path.join(root, os.path.dirname(v["path"]))


def qemu_io(path, cmd):
    p = subprocess.run(["qemu-io", "-f", "qcow2", "-c", cmd, path], capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0 and "error" not in p.stdout.lower(),
          f"qemu-io {cmd} {path}: {p.stdout} {p.stderr}")


def content_hash(path):
    out = os.path.join(work.path, "content.raw")
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", path, out], check=True,
                   timeout=300)
    with open(out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    os.unlink(out)
    return digest


def raw(method, path, data=b"", ctype="application/octet-stream", length=None):
    """A request with a byte body; returns (status, parsed JSON or bytes)."""
    import http.client
    h = hosts[0]
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=120)
    headers = {"Authorization": "Bearer " + h.token, "Content-Type": ctype,
               "Content-Length": str(len(data) if length is None else length)}
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    try:
        return r.status, json.loads(body) if body else None
    except ValueError:
        return r.status, body


def get_file(tid, name):
    import http.client
    h = hosts[0]
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=120)
    conn.request("GET", f"/api/v1/transfers/{tid}/files/{urllib.parse.quote(name)}",
                 headers={"Authorization": "Bearer " + h.token})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    check(r.status == 200, f"GET {name}: {r.status} {body[:200]!r}")
    return body


def staging_left():
    return [d for root in (DS, DS2) for d in os.listdir(root) if d.startswith(".vireo-incoming")]


def copy_folder(out, datastore, folder=None):
    """Copies an outgoing transfer's files into a new incoming one; returns its id."""
    h = hosts[0]
    inc = h.ok("POST", "/api/v1/incoming", {"datastore": datastore,
                                             "folder": folder or out["folder"],
                                             "files": out["files"]})
    for f in out["files"]:
        data = get_file(out["id"], f["name"])
        check(len(data) == f["size"], f"{f['name']}: {len(data)} bytes, {f['size']} listed")
        status, reply = raw("PUT", f"/api/v1/incoming/{inc['id']}/files/"
                                   f"{urllib.parse.quote(f['name'])}", data)
        check(status == 200, f"PUT {f['name']}: {status} {reply}")
        check(reply["sha256"] == hashlib.sha256(data).hexdigest() and
              reply["size"] == len(data), f"PUT {f['name']}: {reply}")
    return inc["id"]


# ---------------------------------------------------------------------------

def test_move_to_another_datastore():
    h = hosts[0]
    vm = create_vm("mover")
    d = vm_dir(vm)
    disk = os.path.join(d, "mover.qcow2")
    qemu_io(disk, "write -P 0x5a 0 3M")
    h.task_ok("POST", f"/api/v1/vms/{vm}/snapshots", {"name": "before"})
    top = [f for f in os.listdir(d) if f.endswith(".qcow2") and f != "mover.qcow2"]
    check(len(top) == 1, f"after a snapshot: {os.listdir(d)}")
    qemu_io(os.path.join(d, top[0]), "write -P 0xa5 1M 2M")
    want = content_hash(os.path.join(d, top[0]))
    before = {f: hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()
              for f in os.listdir(d) if f != "vireo.log"}

    out = h.ok("POST", f"/api/v1/vms/{vm}/transfer")
    check(out["vm"] == vm and out["folder"] == "mover" and out["vmx"] == "mover.vmx",
          f"transfer: {out}")
    names = {f["name"] for f in out["files"]}
    check(set(before) <= names and "vireo.lck" not in names, f"files {names} vs {set(before)}")
    # The transfer holds the VM: nothing changes it meanwhile.
    status, reply = h.request("PATCH", f"/api/v1/vms/{vm}", {"memory_mib": 512})
    check(status == 409 and "transfer" in json.dumps(reply), f"PATCH while held: {status} {reply}")
    status, _ = h.request("POST", f"/api/v1/vms/{vm}/transfer")
    check(status == 409, f"a second transfer: {status}")

    inc = copy_folder(out, "ds2")
    check(staging_left(), "no staging folder while copying")
    check(not os.path.exists(os.path.join(DS2, "mover")), "visible before the commit")
    reg = h.ok("POST", f"/api/v1/incoming/{inc}/commit", {"vmx": "mover.vmx",
                                                          "replaces": out["id"]})
    check(reg["id"] == vm and reg["datastore"] == "ds2" and reg["path"] == "mover/mover.vmx",
          f"registered: {reg}")
    check(not os.path.exists(d), "the old folder is still there")
    check(not staging_left(), f"staging left: {staging_left()}")
    nd = os.path.join(DS2, "mover")
    after = {f: hashlib.sha256(open(os.path.join(nd, f), "rb").read()).hexdigest()
             for f in os.listdir(nd) if f != "vireo.log"}
    check(after == before, f"files differ: {set(after) ^ set(before)}")
    check(content_hash(os.path.join(nd, top[0])) == want, "the disk reads differently")
    snaps = h.ok("GET", f"/api/v1/vms/{vm}/snapshots")
    check("before" in json.dumps(snaps), f"snapshots lost: {snaps}")
    # Holes stay holes: the copy takes no more room than the original did.
    used = sum(os.stat(os.path.join(nd, f)).st_blocks for f in after) * 512
    check(used < 64 << 20, f"the copy takes {used} bytes")
    # The transfer ended with the commit; the VM works as before.
    check(h.request("DELETE", f"/api/v1/transfers/{out['id']}")[0] == 404, "transfer not ended")
    h.ok("PATCH", f"/api/v1/vms/{vm}", {"memory_mib": 384})
    h.task_ok("DELETE", f"/api/v1/vms/{vm}")


def test_refusals_leave_nothing():
    h = hosts[0]
    vm = create_vm("refused")
    out = h.ok("POST", f"/api/v1/vms/{vm}/transfer")
    files = out["files"]
    vmx = [f for f in files if f["name"].endswith(".vmx")]
    for bad, want in [({"datastore": "nope", "folder": "x", "files": vmx}, 404),
                      ({"datastore": "ds1", "folder": "refused", "files": vmx}, 409),
                      ({"datastore": "ds2", "folder": "../x", "files": vmx}, 400),
                      ({"datastore": "ds2", "folder": ".hidden", "files": vmx}, 400),
                      ({"datastore": "ds2", "folder": "x",
                        "files": [{"name": "a/b.vmx", "size": 1}]}, 400),
                      ({"datastore": "ds2", "folder": "x",
                        "files": [{"name": "vireo.lck", "size": 1}] + vmx}, 400),
                      ({"datastore": "ds2", "folder": "x", "files": vmx + vmx}, 400),
                      ({"datastore": "ds2", "folder": "x",
                        "files": [{"name": "disk.qcow2", "size": 5}]}, 400),
                      ({"datastore": "ds2", "folder": "x",
                        "files": [{"name": "x.vmx", "size": -1}]}, 400),
                      ({"datastore": "ds2", "folder": "x",
                        "files": [{"name": "x.vmx", "size": 1 << 49}]}, 507),
                      ({"datastore": "ds2", "folder": "x", "files": vmx, "extra": 1}, 400)]:
        status, reply = h.request("POST", "/api/v1/incoming", bad)
        check(status == want and reply["error"]["message"],
              f"{bad} -> {status} {reply}, expected {want}")
    check(not staging_left(), f"staging left: {staging_left()}")
    inc = h.ok("POST", "/api/v1/incoming", {"datastore": "ds2", "folder": "refused",
                                            "files": files})["id"]
    name = urllib.parse.quote(vmx[0]["name"])
    data = get_file(out["id"], vmx[0]["name"])
    for args, want in [((f"/api/v1/incoming/{inc}/files/{name}", data, "application/json"), 415),
                       ((f"/api/v1/incoming/{inc}/files/{name}", data + b"x"), 400),
                       ((f"/api/v1/incoming/{inc}/files/other.vmx", data), 404),
                       ((f"/api/v1/incoming/nosuch/files/{name}", data), 404)]:
        status, reply = raw("PUT", *args)
        check(status == want, f"PUT {args[0]} -> {status} {reply}, expected {want}")
    status, reply = h.request("POST", f"/api/v1/incoming/{inc}/commit", {"vmx": vmx[0]["name"]})
    check(status == 400 and "has not been uploaded" in reply["error"]["message"],
          f"commit of an unfinished copy: {status} {reply}")
    status, _ = h.request("GET", f"/api/v1/transfers/{out['id']}/files/..%2Fetc")
    check(status == 404, f"a file outside the listing: {status}")
    # A client that goes away mid-file leaves no partial file.
    import socket
    s = socket.create_connection(("127.0.0.1", h.port))
    s.sendall((f"PUT /api/v1/incoming/{inc}/files/{name} HTTP/1.1\r\nHost: x\r\n"
               f"Authorization: Bearer {h.token}\r\nContent-Type: application/octet-stream\r\n"
               f"Content-Length: {len(data)}\r\n\r\n").encode() + data[:len(data) // 2])
    stage = os.path.join(DS2, staging_left()[0])
    wait_for("the partial upload to appear", lambda: os.listdir(stage), timeout=10)
    s.close()
    wait_for("the partial upload to go", lambda: not os.listdir(stage), timeout=30)
    h.ok("DELETE", f"/api/v1/incoming/{inc}")
    check(not staging_left() and not os.path.exists(os.path.join(DS2, "refused")),
          "an aborted copy left files")
    # Releasing keeps the VM where it was, unchanged and usable.
    h.ok("DELETE", f"/api/v1/transfers/{out['id']}")
    check(h.vm(vm)["datastore"] == "ds1", "released VM moved")
    h.ok("PATCH", f"/api/v1/vms/{vm}", {"memory_mib": 384})

    # Linked clones and their sources stay where they are.
    h.task_ok("POST", f"/api/v1/vms/{vm}/snapshots", {"name": "base"})
    lc = h.task_ok("POST", f"/api/v1/vms/{vm}/clone", {"name": "refused-lc", "linked": True}
                   )["result"]["id"]
    for who, needle in ((lc, "linked clone"), (vm, "linked clones")):
        status, reply = h.request("POST", f"/api/v1/vms/{who}/transfer")
        check(status == 409 and needle in reply["error"]["message"],
              f"transfer of {who}: {status} {reply}")
    h.task_ok("DELETE", f"/api/v1/vms/{lc}")
    h.task_ok("DELETE", f"/api/v1/vms/{vm}")
    status, _ = h.request("POST", "/api/v1/vms/nosuch/transfer")
    check(status == 404, f"transfer of no VM: {status}")


def test_remove_after_copy():
    """What a move to another host ends with: the source removes the VM and its folder."""
    h = hosts[0]
    vm = create_vm("leaver")
    d = vm_dir(vm)
    out = h.ok("POST", f"/api/v1/vms/{vm}/transfer")
    status, _ = h.request("DELETE", f"/api/v1/transfers/{out['id']}?remove=maybe")
    check(status == 400, f"remove=maybe: {status}")
    h.ok("DELETE", f"/api/v1/transfers/{out['id']}?remove=true")
    check(not os.path.exists(d), "folder kept")
    status, _ = h.request("GET", f"/api/v1/vms/{vm}")
    check(status == 404, f"VM still registered: {status}")


def cleanup():
    stop_hosts(hosts, work)


if __name__ == "__main__":
    rc = 1
    try:
        h = Hostd(HOSTD, work.path, "hostA", DS).start()
        hosts.append(h)
        h.ok("POST", "/api/v1/datastores", {"name": "ds2", "path": DS2})
        rc = run_tests([
            ("move to another datastore", test_move_to_another_datastore),
            ("refused requests leave nothing", test_refusals_leave_nothing),
            ("removal after the copy", test_remove_after_copy),
        ])
    finally:
        cleanup()
    sys.exit(rc)
