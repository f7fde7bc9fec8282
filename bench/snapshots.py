#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Benchmark (d): snapshot with memory, revert and delete of a running 512 MiB guest,
through vireo-hostd and through libvirt, in the same run.

The guest: the benchmark guest image, 512 MiB, 1 vCPU, one 1 GiB qcow2 disk, idle after
VIREO-GUEST-READY.  ROUNDS rounds, each:
  hostd : POST /api/v1/vms/{id}/snapshots {"name", "memory": true}   (task -> success)
          POST /api/v1/vms/{id}/snapshots/{name}/revert               (powered on again)
          DELETE /api/v1/vms/{id}/snapshots/{name}                    (online merge)
  libvirt: virsh snapshot-create-as DOM NAME       (internal snapshot, memory in the qcow2)
          virsh snapshot-revert DOM NAME           (running again)
          virsh snapshot-delete DOM NAME
Each time is from the request to its completion, as the client sees it.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

MEMORY_MIB = 512
DISK_MIB = 1024


def hostd_rounds(peer, rounds):
    h = peer.h
    t = h.task_ok("POST", "/api/v1/vms", {
        "name": "bench-snap", "datastore": "ds1", "memory_mib": MEMORY_MIB, "vcpus": 1,
        "boot": {"kernel": peer.kernel, "initrd": peer.initrd, "cmdline": bl.CMDLINE},
        "disks": [{"size_mib": DISK_MIB}]})
    vm = t["result"]["id"]
    peer.vms[vm] = {"name": "bench-snap", "pid": None}
    log = peer.console_log(vm)
    off = bl.log_size(log)
    t0, _ = peer.power_on(vm)
    bl.wait_ready(log, off, t0, 120)
    out = {"take": [], "revert": [], "delete": []}
    for i in range(rounds):
        name = f"r{i}"
        t0 = time.monotonic()
        peer.wait_task(h.ok("POST", f"/api/v1/vms/{vm}/snapshots",
                            {"name": name, "memory": True})["task"])
        out["take"].append(time.monotonic() - t0)
        t0 = time.monotonic()
        r = peer.wait_task(h.ok("POST", f"/api/v1/vms/{vm}/snapshots/{name}/revert")["task"])
        out["revert"].append(time.monotonic() - t0)
        if not r["result"].get("powered_on"):
            raise bl.BenchError("hostd: the revert did not resume the VM")
        t0 = time.monotonic()
        peer.wait_task(h.ok("DELETE", f"/api/v1/vms/{vm}/snapshots/{name}")["task"])
        out["delete"].append(time.monotonic() - t0)
        bl.log(f"hostd round {i}: take {out['take'][-1]:.2f} s, revert "
               f"{out['revert'][-1]:.2f} s, delete {out['delete'][-1]:.2f} s")
    peer.vms[vm]["pid"] = h.vm(vm)["runtime"]["pid"]
    return out


def libvirt_domain_xml(peer, name, disk):
    xml = peer.domain_xml(name, MEMORY_MIB)
    disk_xml = (f"    <disk type='file' device='disk'>\n"
                f"      <driver name='qemu' type='qcow2'/>\n"
                f"      <source file='{disk}'/>\n"
                f"      <target dev='sda' bus='scsi'/>\n"
                f"    </disk>\n"
                f"    <controller type='scsi' model='virtio-scsi'/>\n")
    return xml.replace("  <devices>\n", "  <devices>\n" + disk_xml, 1)


def libvirt_rounds(peer, rounds):
    name = "vireo-bench-snap"
    disk = os.path.join(bl.LIBVIRT_IMAGES, name + ".qcow2")
    bl.run(["qemu-img", "create", "-q", "-f", "qcow2", disk, f"{DISK_MIB}M"])
    bl.run(bl.VIRSH + ["destroy", name], check=False)
    bl.run(bl.VIRSH + ["undefine", name, "--snapshots-metadata"], check=False)
    path = os.path.join(peer.workdir, name + ".xml")
    with open(path, "w") as f:
        f.write(libvirt_domain_xml(peer, name, disk))
    bl.run(bl.VIRSH + ["define", path])
    peer.domains[name] = {"pid": None}
    log = peer.console_log(name)
    off = bl.log_size(log)
    t0, _ = peer.power_on(name)
    bl.wait_ready(log, off, t0, 120)
    out = {"take": [], "revert": [], "delete": []}
    for i in range(rounds):
        snap = f"r{i}"
        for key, cmd in (("take", ["snapshot-create-as", name, snap]),
                         ("revert", ["snapshot-revert", name, snap]),
                         ("delete", ["snapshot-delete", name, snap])):
            t0 = time.monotonic()
            r = subprocess.run(bl.VIRSH + cmd, capture_output=True, text=True, timeout=600)
            out[key].append(time.monotonic() - t0)
            if r.returncode != 0:
                raise bl.BenchError(f"virsh {' '.join(cmd)}: {r.stderr.strip()}")
        state = bl.run(bl.VIRSH + ["domstate", name]).stdout.strip()
        if state != "running":
            raise bl.BenchError(f"libvirt: domain {state} after revert")
        bl.log(f"libvirt round {i}: take {out['take'][-1]:.2f} s, revert "
               f"{out['revert'][-1]:.2f} s, delete {out['delete'][-1]:.2f} s")
    peer.domains[name]["pid"] = bl._read_pidfile(f"/run/libvirt/qemu/{name}.pid")
    bl.run(bl.VIRSH + ["destroy", name], check=False)
    bl.run(bl.VIRSH + ["undefine", name, "--snapshots-metadata"], check=False)
    peer.domains.pop(name, None)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hostd", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    res = {"rounds": a.rounds, "memory_mib": MEMORY_MIB, "disk_mib": DISK_MIB,
           "command": " ".join(["python3", "bench/snapshots.py"] + sys.argv[1:])}
    hp = bl.HostdPeer(a.hostd, a.guest, a.work).start()
    try:
        res["hostd"] = hostd_rounds(hp, a.rounds)
    finally:
        hp.stop()
    lp = bl.LibvirtPeer(a.guest, a.work).start()
    try:
        res["libvirt"] = libvirt_rounds(lp, a.rounds)
        res["libvirt_version"] = lp.version()
    finally:
        lp.stop()
    for peer in ("hostd", "libvirt"):
        res[peer + "_summary"] = {k: bl.summary(v) for k, v in res[peer].items()}
    bl.write_json(a.out, res)


if __name__ == "__main__":
    main()
