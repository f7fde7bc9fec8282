#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Benchmarks (a) and (b): power-on overhead and time to VIREO-GUEST-READY.

One VM (same kernel, initrd, cmdline, memory, 1 vCPU, device set, TCG) is powered on
RUNS times through each of vireo-hostd, libvirt and bare QEMU, interleaved (the order
rotates every round), after one unrecorded warm-up power-on per peer.  Per sample:
  (a) power-on request -> vCPUs running:
      hostd : POST /api/v1/vms/{id}/power/on, then GET /api/v1/tasks/{task}?wait_ms=5000
              until "success" (hostd completes the task only after QMP `cont` returned)
      libvirt: `virsh -c qemu:///system start NAME` until it returns (libvirt returns
              after it resumed the vCPUs with `cont`)
      bare  : spawn qemu-system-x86_64 -S ..., connect QMP, qmp_capabilities, cont,
              until both the `cont` reply and the RESUME event arrived (bare_qemu.py)
  (b) the same request -> `VIREO-GUEST-READY` in the serial console's log file
      (each peer's QEMU writes it through a chardev logfile; polled every 2 ms).
Then the VM is powered off (hostd power/off, virsh destroy, QMP quit).
"""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def read_cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        parts = f.read().split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode() for p in parts]


UPTIME = re.compile(rb"user space up at ([0-9.]+)s")


def guest_uptime(path, offset):
    """The guest's own uptime when its init reached READY (printed just before it)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            m = UPTIME.findall(f.read())
        return float(m[-1]) if m else None
    except OSError:
        return None


def one(peer, vm, ready_timeout, extra=None):
    path = peer.console_log(vm)
    offset = bl.log_size(path)
    t0, running_s = peer.power_on(vm)
    ready_s = bl.wait_ready(path, offset, t0, ready_timeout)
    pid = peer.qemu_pid(vm)
    argv = read_cmdline(pid) if pid and bl.pid_alive(pid) else None
    peer.power_off([vm] if vm is not None else None)
    if extra is not None:
        extra.append(guest_uptime(path, offset))
    return running_s, ready_s, argv


def main():
    ap = argparse.ArgumentParser(description="power-on and boot-to-ready benchmark")
    ap.add_argument("--hostd", required=True, help="vireo-hostd binary")
    ap.add_argument("--guest", required=True, help="folder with vmlinuz and initrd.img")
    ap.add_argument("--work", required=True, help="scratch folder")
    ap.add_argument("--runs", type=int, default=12)
    ap.add_argument("--memory", type=int, default=128, help="guest memory in MiB")
    ap.add_argument("--noop-runs", type=int, default=20)
    ap.add_argument("--out", required=True, help="result JSON")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    t_start = time.monotonic()
    res = {"command": "python3 " + " ".join(sys.argv), "runs": a.runs, "memory_mib": a.memory,
           "cmdline": bl.CMDLINE, "loadavg_before": os.getloadavg()}

    hostd = libvirt = bare = None
    try:
        hostd = bl.HostdPeer(a.hostd, a.guest, a.work).start()
        res["hostd_argv"] = hostd.h.argv
        hvm = hostd.create("bench-poweron", a.memory)
        libvirt = bl.LibvirtPeer(a.guest, a.work).start()
        res["libvirt_preexisting"] = libvirt.preexisting
        res["libvirt_kvm_shim"] = libvirt.kvm_shim
        res["libvirt_daemons"] = sorted(libvirt.daemon_pids())
        lvm = libvirt.create("vireo-bench-poweron", a.memory)
        res["libvirt_xml"] = libvirt.xml[lvm]

        bl.log("warm-up: one unrecorded power-on per peer")
        r, rd, argv = one(hostd, hvm, 120)
        bl.log(f"  hostd   running {r * 1000:7.1f} ms, ready {rd:6.3f} s")
        res["hostd_qemu_argv"] = argv
        hostd_run_dir = os.path.join(hostd.h.run, hvm)
        bare = bl.BarePeer(argv, hostd_run_dir, hostd.console_log(hvm), a.work)
        res["bare_qemu_argv"] = bare.argv
        r, rd, argv = one(libvirt, lvm, 120)
        bl.log(f"  libvirt running {r * 1000:7.1f} ms, ready {rd:6.3f} s")
        res["libvirt_qemu_argv"] = argv
        r, rd, _ = one(bare, None, 120)
        bl.log(f"  bare    running {r * 1000:7.1f} ms, ready {rd:6.3f} s")

        peers = [("hostd", hostd, hvm), ("libvirt", libvirt, lvm), ("bare", bare, None)]
        samples = {k: {"running_s": [], "ready_s": []} for k, _, _ in peers}
        uptimes = {k: [] for k, _, _ in peers}
        bare_detail = {}
        for i in range(a.runs):
            order = peers[i % 3:] + peers[:i % 3]
            line = []
            for key, peer, vm in order:
                r, rd, _ = one(peer, vm, 120, uptimes[key])
                samples[key]["running_s"].append(r)
                samples[key]["ready_s"].append(rd)
                if key == "bare":
                    for m, v in bare.last.items():
                        bare_detail.setdefault(m, []).append(v)
                line.append(f"{key} {r * 1000:6.1f} ms/{rd:5.2f} s")
                time.sleep(0.3)
            bl.log(f"run {i + 1:2d}/{a.runs}: " + ", ".join(line))
        res["samples"] = samples
        res["guest_uptime_at_ready"] = {
            k: bl.summary([u for u in v if u is not None]) for k, v in uptimes.items()}
        res["bare_detail"] = {m: bl.summary(v) for m, v in bare_detail.items()}
        res["summary"] = {k: {m: bl.summary(v) for m, v in s.items()} for k, s in samples.items()}

        # Client-side fixed cost of one trivial request, for context.
        res["noop"] = {
            "hostd": bl.summary([hostd.noop_request_s() for _ in range(a.noop_runs)]),
            "libvirt": bl.summary([libvirt.noop_request_s() for _ in range(a.noop_runs)]),
        }
        res["noop_what"] = {"hostd": "GET /api/v1/health (Python urllib, new connection)",
                            "libvirt": f"{' '.join(bl.VIRSH)} domstate {lvm}"}
    finally:
        for p in (bare, libvirt, hostd):
            if p:
                try:
                    p.stop()
                except Exception as e:  # noqa: BLE001
                    bl.log(f"cleanup of {p.label} failed: {e}")
    res["loadavg_after"] = os.getloadavg()
    res["elapsed_s"] = time.monotonic() - t_start
    bl.write_json(a.out, res)
    s = res["summary"]
    for k in ("hostd", "libvirt", "bare"):
        bl.log(f"{k:8s} running median {s[k]['running_s']['median'] * 1000:7.1f} ms, "
               f"ready median {s[k]['ready_s']['median']:.3f} s")
    bl.log(f"power-on benchmark done in {res['elapsed_s']:.0f} s -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
