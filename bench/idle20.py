#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Benchmark (c): the management daemon's memory and idle CPU with N running VMs.

For vireo-hostd, then for libvirt (each freshly started, one after the other, never
both with VMs at the same time):
  1. start the daemon; sample its memory with 0 VMs;
  2. create N VMs (MEMORY MiB, 1 vCPU, the guest image, CMDLINE) and power them all on
     (hostd: N POST .../power/on then wait for the N tasks; libvirt: `virsh start` each);
  3. wait until every guest printed VIREO-GUEST-READY on its serial console, then let
     the host settle for SETTLE seconds;
  4. idle window of IDLE seconds: utime+stime (/proc/PID/stat) at its start and end,
     VmRSS (/proc/PID/status) and Pss (/proc/PID/smaps_rollup) every 5 s;
     the same for the N QEMU processes, as context;
  5. power every VM off (hostd power/off, virsh destroy), delete them, stop the daemon.
CPU % = (ticks_end - ticks_start) / CLK_TCK / window seconds * 100 (% of one core);
also, at ns resolution, the sum over threads of /proc/PID/task/TID/schedstat's run time.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def wait_all_ready(peer, vms, offsets, t0, timeout):
    left = set(vms)
    tails = {v: b"" for v in vms}
    ready_at = {}
    end = t0 + timeout
    while left:
        for v in list(left):
            path = peer.console_log(v)
            try:
                with open(path, "rb") as f:
                    f.seek(offsets[v])
                    data = f.read()
            except FileNotFoundError:
                continue
            if data:
                offsets[v] += len(data)
                tails[v] = (tails[v] + data)[-4096:]
                if bl.READY in tails[v]:
                    ready_at[v] = time.monotonic() - t0
                    left.discard(v)
        if left and time.monotonic() > end:
            raise bl.BenchError(f"{len(left)} of {len(vms)} guests not ready after {timeout} s")
        time.sleep(0.05)
    return ready_at


def keeper_pids(qemu_pids):
    """hostd's per-VM keepers: the vireo-shim parents of its QEMUs (none for libvirt)."""
    out = []
    for p in qemu_pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{ppid}/comm") as f:
                if f.read().strip() == "vireo-shim":
                    out.append(ppid)
        except (OSError, ValueError, IndexError):
            pass
    return out


def measure_window(daemon_pids, qemu_pids, seconds):
    keepers = keeper_pids(qemu_pids)
    kticks0 = {p: bl.proc_cpu_ticks(p) for p in keepers}
    ticks0 = {k: bl.proc_cpu_ticks(p) for k, p in daemon_pids.items()}
    sched0 = {k: bl.proc_sched_ns(p) for k, p in daemon_pids.items()}
    qticks0 = {p: bl.proc_cpu_ticks(p) for p in qemu_pids}
    t0 = time.monotonic()
    mem = {k: [] for k in daemon_pids}
    next_sample = t0
    while True:
        now = time.monotonic()
        if now >= next_sample:
            for k, p in daemon_pids.items():
                mem[k].append(bl.proc_mem(p))
            next_sample += 5
        if now - t0 >= seconds:
            break
        time.sleep(min(0.5, max(0.0, t0 + seconds - now)))
    wall = time.monotonic() - t0
    ticks1 = {k: bl.proc_cpu_ticks(p) for k, p in daemon_pids.items()}
    sched1 = {k: bl.proc_sched_ns(p) for k, p in daemon_pids.items()}
    for k, p in daemon_pids.items():
        mem[k].append(bl.proc_mem(p))
    qticks1 = {p: bl.proc_cpu_ticks(p) for p in qemu_pids}
    out = {"window_s": wall, "clk_tck": bl.CLK_TCK, "daemons": {}}
    for k in daemon_pids:
        dt = ticks1[k] - ticks0[k]
        rss = [m["rss_kib"] for m in mem[k] if m["rss_kib"] is not None]
        pss = [m["pss_kib"] for m in mem[k] if m["pss_kib"] is not None]
        out["daemons"][k] = {
            "pid": daemon_pids[k], "cpu_ticks": dt,
            "cpu_pct_one_core": 100.0 * dt / bl.CLK_TCK / wall,
            "sched_cpu_ms": bl.sched_delta_ns(sched0[k], sched1[k]) / 1e6,
            "sched_cpu_pct_one_core":
                100.0 * bl.sched_delta_ns(sched0[k], sched1[k]) / 1e9 / wall,
            "rss_kib_end": rss[-1] if rss else None, "rss_kib_max": max(rss) if rss else None,
            "pss_kib_end": pss[-1] if pss else None, "pss_kib_max": max(pss) if pss else None,
            "threads": mem[k][-1]["threads"], "samples": len(mem[k]),
        }
    kt = sum(bl.proc_cpu_ticks(p) - kticks0[p] for p in keepers)
    out["keepers"] = {
        "count": len(keepers),
        "cpu_pct_one_core_total": 100.0 * kt / bl.CLK_TCK / wall,
        "rss_kib_total": sum(bl.proc_status_kib(p, "VmRSS") or 0 for p in keepers),
        "pss_kib_total": sum(bl.proc_pss_kib(p) or 0 for p in keepers),
    }
    qt = sum(qticks1[p] - qticks0[p] for p in qemu_pids)
    out["qemu"] = {
        "count": len(qemu_pids),
        "cpu_pct_one_core_total": 100.0 * qt / bl.CLK_TCK / wall,
        "rss_kib_total": sum(bl.proc_status_kib(p, "VmRSS") or 0 for p in qemu_pids),
        "pss_kib_total": sum(bl.proc_pss_kib(p) or 0 for p in qemu_pids),
    }
    return out


def bench_peer(peer, key, n, memory, idle_s, settle_s, ready_timeout):
    res = {"daemon_pids": {}, "baseline": {}}
    pids = peer.daemon_pids()
    res["daemon_pids"] = pids
    time.sleep(2)
    res["baseline"] = {k: bl.proc_mem(p) for k, p in pids.items()}
    bl.log(f"{key}: daemons {pids}; 0-VM RSS " +
           ", ".join(f"{k} {m['rss_kib'] / 1024:.1f} MiB" for k, m in res["baseline"].items()))
    names = [f"vireo-idle-{i:02d}" for i in range(n)]
    vms = [peer.create(nm, memory) for nm in names]
    offsets = {v: bl.log_size(peer.console_log(v)) for v in vms}
    t0 = time.monotonic()
    if key == "hostd":
        tasks = [peer.power_on_request(v) for v in vms]
        for v, t in zip(vms, tasks):
            r = peer.wait_task(t)
            peer.vms[v]["pid"] = r["result"]["pid"]
    else:
        for v in vms:
            peer.power_on(v)
    res["all_powered_on_s"] = time.monotonic() - t0
    bl.log(f"{key}: {n} VMs powered on in {res['all_powered_on_s']:.1f} s; waiting for READY")
    ready = wait_all_ready(peer, vms, offsets, t0, ready_timeout)
    res["all_ready_s"] = max(ready.values())
    bl.log(f"{key}: all {n} guests READY after {res['all_ready_s']:.1f} s; settling {settle_s} s")
    time.sleep(settle_s)
    qemu_pids = [peer.qemu_pid(v) for v in vms]
    if not all(p and bl.pid_alive(p) for p in qemu_pids):
        raise bl.BenchError(f"{key}: some QEMU processes are gone: {qemu_pids}")
    res["loadavg_before_window"] = os.getloadavg()
    bl.log(f"{key}: measuring an idle window of {idle_s} s")
    sampler0 = peer.metric("vireo_stats_sampler_cpu_seconds_total") if key == "hostd" else None
    res["window"] = measure_window(pids, qemu_pids, idle_s)
    if sampler0 is not None:
        # The statistics sampler's own thread: part of hostd's CPU above, shown apart.
        s1 = peer.metric("vireo_stats_sampler_cpu_seconds_total")
        res["window"]["sampler"] = {
            "cpu_ms": (s1 - sampler0) * 1000.0,
            "interval_s": peer.metric("vireo_stats_interval_seconds"),
            "last_round_ms": (peer.metric("vireo_stats_sample_duration_seconds") or 0) * 1000,
        }
    for k, d in res["window"]["daemons"].items():
        bl.log(f"{key}: {k} RSS {d['rss_kib_end'] / 1024:.1f} MiB, "
               f"PSS {(d['pss_kib_end'] or 0) / 1024:.1f} MiB, CPU {d['cpu_pct_one_core']:.3f} %")
    t1 = time.monotonic()
    peer.power_off(vms)
    res["all_off_s"] = time.monotonic() - t1
    bl.log(f"{key}: {n} VMs off in {res['all_off_s']:.1f} s")
    return res


def main():
    ap = argparse.ArgumentParser(description="daemon memory/CPU with N idle VMs")
    ap.add_argument("--hostd", required=True)
    ap.add_argument("--guest", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--vms", type=int, default=20)
    ap.add_argument("--memory", type=int, default=128)
    ap.add_argument("--idle-seconds", type=int, default=60)
    ap.add_argument("--settle-seconds", type=int, default=10)
    ap.add_argument("--ready-timeout", type=int, default=600)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    t_start = time.monotonic()
    res = {"command": "python3 " + " ".join(sys.argv), "vms": a.vms, "memory_mib": a.memory,
           "idle_seconds": a.idle_seconds, "settle_seconds": a.settle_seconds,
           "cmdline": bl.CMDLINE}
    hostd = None
    try:
        hostd = bl.HostdPeer(a.hostd, a.guest, a.work).start()
        res["hostd"] = bench_peer(hostd, "hostd", a.vms, a.memory, a.idle_seconds,
                                  a.settle_seconds, a.ready_timeout)
    finally:
        if hostd:
            hostd.stop()
    libvirt = None
    try:
        libvirt = bl.LibvirtPeer(a.guest, a.work).start()
        res["libvirt_preexisting"] = libvirt.preexisting
        res["libvirt_kvm_shim"] = libvirt.kvm_shim
        res["libvirt"] = bench_peer(libvirt, "libvirt", a.vms, a.memory, a.idle_seconds,
                                    a.settle_seconds, a.ready_timeout)
    finally:
        if libvirt:
            libvirt.stop()
    res["elapsed_s"] = time.monotonic() - t_start
    bl.write_json(a.out, res)
    bl.log(f"idle benchmark done in {res['elapsed_s']:.0f} s -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
