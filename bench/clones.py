#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Benchmark (d): clones through vireo-hostd.

  linked : POST /api/v1/vms/{id}/clone {"linked": true} -> task success, RUNS times
           each for a VM with a 1 GiB and a 16 GiB disk (64 MiB of data written, one
           snapshot).  Target: median < 1 s whatever the size (no data is copied).
  full   : POST /api/v1/vms/{id}/clone of a powered-off VM whose 1 GiB disk is full
           of random data (a two-level chain: the filled base, a snapshot, 128 MiB
           rewritten in the delta) -> task success, versus the same copy by hand:
           `qemu-img convert -f qcow2 -O qcow2 TOP OUT`, interleaved, FULL_RUNS each.
           Target: hostd's throughput >= 0.9 x the hand-run qemu-img's.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def run(argv):
    subprocess.run(argv, check=True, capture_output=True, timeout=1800)


def make_vm(peer, name, size_mib):
    t = peer.h.task_ok("POST", "/api/v1/vms", {
        "name": name, "datastore": "ds1", "memory_mib": 256, "vcpus": 1,
        "boot": {"kernel": peer.kernel, "initrd": peer.initrd, "cmdline": bl.CMDLINE},
        "disks": [{"size_mib": size_mib}]})
    return t["result"]["id"]


def top_file(peer, vm_id):
    v = peer.h.vm(vm_id)
    return os.path.join(peer.ds, os.path.dirname(v["path"]), v["config"]["disks"][0]["file"])


def clone_once(peer, src, name, **kw):
    t0 = time.monotonic()
    task = peer.h.ok("POST", f"/api/v1/vms/{src}/clone", dict(name=name, **kw))["task"]
    t = peer.h.wait_task(task, timeout=1800)
    dt = time.monotonic() - t0
    if t["state"] != "success":
        raise bl.BenchError(f"clone {name}: {t.get('error')}")
    return dt, t["result"]["id"]


def delete(peer, vm_id):
    peer.h.task_ok("DELETE", f"/api/v1/vms/{vm_id}", timeout=600)


def linked(peer, runs, size_mib):
    src = make_vm(peer, f"lsrc{size_mib}", size_mib)
    run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64M", top_file(peer, src)])
    peer.h.task_ok("POST", f"/api/v1/vms/{src}/snapshots", {"name": "base"})
    clone_once(peer, src, f"lwarm{size_mib}", linked=True)  # warm-up, not recorded
    samples, ids = [], []
    for i in range(runs):
        dt, cid = clone_once(peer, src, f"l{size_mib}-{i}", linked=True)
        samples.append(dt)
        ids.append(cid)
    for cid in ids + [peer.h.vm(f"lwarm{size_mib}")["id"]]:
        delete(peer, cid)
    peer.h.task_ok("DELETE", f"/api/v1/vms/{src}/snapshots")
    delete(peer, src)
    return {"size_mib": size_mib, "seconds": bl.summary(samples), "samples": samples}


def full(peer, runs, work):
    size = 1024 << 20
    src = make_vm(peer, "fsrc", 1024)
    top = top_file(peer, src)
    # Fill the base with random data (qemu-img convert from a random raw file).
    raw = os.path.join(work, "random.raw")
    with open("/dev/urandom", "rb") as r, open(raw, "wb") as w:
        for _ in range(size >> 24):
            w.write(r.read(16 << 20))
    os.unlink(top)
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, top])
    os.unlink(raw)
    peer.h.task_ok("POST", f"/api/v1/vms/{src}/snapshots", {"name": "s1"})
    top = top_file(peer, src)
    run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x33 256M 128M", top])
    hand_out = os.path.join(work, "hand.qcow2")
    hand_cmd = ["qemu-img", "convert", "-f", "qcow2", "-O", "qcow2", top, hand_out]
    # One warm-up of each, so both read the source from the page cache alike.
    run(hand_cmd)
    os.unlink(hand_out)
    _, wid = clone_once(peer, src, "fwarm")
    delete(peer, wid)
    hostd_s, hand_s = [], []
    for i in range(runs):
        order = ["hostd", "hand"] if i % 2 == 0 else ["hand", "hostd"]
        for who in order:
            if who == "hostd":
                dt, cid = clone_once(peer, src, f"full{i}")
                hostd_s.append(dt)
                delete(peer, cid)
            else:
                t0 = time.monotonic()
                run(hand_cmd)
                hand_s.append(time.monotonic() - t0)
                os.unlink(hand_out)
    peer.h.task_ok("DELETE", f"/api/v1/vms/{src}/snapshots")
    delete(peer, src)
    hs, ms = bl.summary(hostd_s), bl.summary(hand_s)
    return {"virtual_bytes": size, "hostd_s": hs, "hand_s": ms,
            "hostd_mib_s": (size >> 20) / hs["median"], "hand_mib_s": (size >> 20) / ms["median"],
            "ratio": ms["median"] / hs["median"], "samples": {"hostd": hostd_s, "hand": hand_s},
            "hand_command": "qemu-img convert -f qcow2 -O qcow2 TOP OUT",
            "chain": "1 GiB random data in the base, 128 MiB rewritten in a snapshot delta"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hostd", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--full-runs", type=int, default=3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    peer = bl.HostdPeer(a.hostd, a.guest, os.path.join(a.work, "clones")).start()
    try:
        res = {"runs": a.runs, "full_runs": a.full_runs,
               "linked": [linked(peer, a.runs, 1024), linked(peer, a.runs, 16384)]}
        for x in res["linked"]:
            bl.log(f"linked clone, {x['size_mib']} MiB disk: median "
                   f"{x['seconds']['median'] * 1000:.1f} ms")
        res["full"] = full(peer, a.full_runs, a.work)
        f = res["full"]
        bl.log(f"full clone of 1 GiB: hostd {f['hostd_mib_s']:.0f} MiB/s, by hand "
               f"{f['hand_mib_s']:.0f} MiB/s, ratio {f['ratio']:.2f}")
    finally:
        peer.h.stop()
    with open(a.out, "w") as fh:
        json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
