#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes BENCHMARKS.md from the JSON results of poweron.py and idle20.py."""
import argparse
import json
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PEERS = [("hostd", "vireo-hostd (REST API)"), ("libvirt", "libvirt (`virsh start`)"),
         ("bare", "bare QEMU (QMP by hand)")]


def ms(x):
    return f"{x * 1000:.1f}"


def sec(x):
    return f"{x:.3f}"


def mib(kib):
    return "n/a" if kib is None else f"{kib / 1024:.1f}"


def stat_table(summ, fmt, unit):
    rows = [f"| Path | median ({unit}) | p90 | min | max | mean | runs |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for key, label in PEERS:
        s = summ[key]
        rows.append(f"| {label} | **{fmt(s['median'])}** | {fmt(s['p90'])} | {fmt(s['min'])} | "
                    f"{fmt(s['max'])} | {fmt(s['mean'])} | {s['n']} |")
    return "\n".join(rows)


def paired_median(a, b):
    return bl.summary([x - y for x, y in zip(a, b)])["median"]


def code(lines, lang=""):
    return f"```{lang}\n" + "\n".join(lines) + "\n```"


def argv_block(argv):
    if not argv:
        return "(not captured)"
    out, cur = [], shlex.quote(argv[0])
    for a in argv[1:]:
        if a.startswith("-") and not a.startswith("-{"):
            out.append(cur + " \\")
            cur = "  " + shlex.quote(a)
        else:
            cur += " " + shlex.quote(a)
    out.append(cur)
    return code(out, "sh")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--poweron", required=True)
    ap.add_argument("--idle", required=True)
    ap.add_argument("--facts", required=True)
    ap.add_argument("--clones", default=None, help="clones.py results (d)")
    ap.add_argument("--snapshots", default=None, help="snapshots.py results (e)")
    ap.add_argument("--center-scale", default=None, help="center_scale.py results (f)")
    ap.add_argument("--run-command", default="make bench")
    ap.add_argument("--total-seconds", type=float, default=None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    p = json.load(open(a.poweron))
    idle = json.load(open(a.idle))
    facts = json.load(open(a.facts))
    cl = json.load(open(a.clones)) if a.clones else None
    sn = json.load(open(a.snapshots)) if a.snapshots else None
    cs = json.load(open(a.center_scale)) if a.center_scale else None

    run_s = p["summary"]
    run = {k: run_s[k]["running_s"] for k, _ in PEERS}
    ready = {k: run_s[k]["ready_s"] for k, _ in PEERS}
    samp = p["samples"]
    ov_h = run["hostd"]["median"] - run["bare"]["median"]
    ov_l = run["libvirt"]["median"] - run["bare"]["median"]
    ov_h_paired = paired_median(samp["hostd"]["running_s"], samp["bare"]["running_s"])
    ov_l_paired = paired_median(samp["libvirt"]["running_s"], samp["bare"]["running_s"])

    hd = idle["hostd"]["window"]["daemons"]["vireo-hostd"]
    lw = idle["libvirt"]["window"]["daemons"]
    ld = lw["libvirtd"]
    lsum_rss = sum(d["rss_kib_end"] or 0 for d in lw.values())
    lsum_pss = sum(d["pss_kib_end"] or 0 for d in lw.values())

    t1 = ov_h <= 0.050
    t2 = ov_h <= ov_l / 4.0
    # hostd's side includes its per-VM keepers (vireo-shim), which libvirt has no match for.
    kp = idle["hostd"]["window"].get("keepers") or {"count": 0, "rss_kib_total": 0,
                                                     "pss_kib_total": 0,
                                                     "cpu_pct_one_core_total": 0.0}
    h_rss = hd["rss_kib_end"] + kp["rss_kib_total"]
    h_pss = None if hd["pss_kib_end"] is None else hd["pss_kib_end"] + kp["pss_kib_total"]
    t3 = h_rss < ld["rss_kib_end"] and (
        h_pss is None or ld["pss_kib_end"] is None or h_pss < ld["pss_kib_end"])

    def pf(ok):
        return "**PASS**" if ok else "**MISS**"

    L = []
    L.append("# Vireo benchmarks\n")
    L.append(f"Produced by `{a.run_command}` (`sh bench/run.sh BUILD_DIR`, see "
             "[bench/README.md](bench/README.md)) in one run on "
             f"{facts['date_utc']}"
             + (f"; the whole run took {a.total_seconds / 60:.1f} min" if a.total_seconds else "")
             + ". Every figure below comes from this run; all three paths start the same "
             "guest (same kernel, initrd, command line, memory, vCPUs and device set) on "
             "the same accelerator. Do not edit by hand: re-run `make bench`.\n")

    L.append("## Machine\n")
    L.append("| | |\n|---|---|")
    for k, label in [("cpu_model", "CPU model"), ("cpus_online", "Cores (online CPUs)"),
                     ("mem_total_mib", "Memory (MiB)"), ("os", "OS"), ("kernel", "Host kernel"),
                     ("accelerator", "Accelerator"), ("qemu", "QEMU"), ("libvirtd", "libvirtd"),
                     ("virsh", "virsh"), ("hostd", "vireo-hostd"), ("python", "Python"),
                     ("date_utc", "Date")]:
        L.append(f"| {label} | {facts.get(k)} |")
    L.append(f"| libvirt daemons running | {', '.join(p.get('libvirt_daemons', []))} "
             "(Debian 12 ships the monolithic libvirtd; no virtqemud) |")
    L.append(f"| Load average before / after (a),(b) | "
             f"{' '.join(f'{x:.2f}' for x in p['loadavg_before'])} / "
             f"{' '.join(f'{x:.2f}' for x in p['loadavg_after'])} |")
    L.append("")

    L.append("## Targets\n")
    L.append("| Target | Result | Figures (medians) |\n|---|---|---|")
    L.append(f"| hostd's power-on overhead above bare QEMU ≤ 50 ms | {pf(t1)} | "
             f"hostd {ms(run['hostd']['median'])} ms − bare QEMU {ms(run['bare']['median'])} ms "
             f"= **{ms(ov_h)} ms** (median of paired per-round differences: "
             f"{ms(ov_h_paired)} ms) |")
    L.append(f"| hostd's overhead ≤ ¼ of libvirt's overhead | {pf(t2)} | "
             f"hostd {ms(ov_h)} ms vs libvirt {ms(run['libvirt']['median'])} − "
             f"{ms(run['bare']['median'])} = **{ms(ov_l)} ms** (¼ = {ms(ov_l / 4)} ms; "
             f"ratio {ov_h / ov_l:.2f}) |" if ov_l > 0 else
             f"| hostd's overhead ≤ ¼ of libvirt's overhead | {pf(t2)} | libvirt's overhead "
             f"{ms(ov_l)} ms is not positive |")
    L.append(f"| hostd's memory smaller than libvirtd's ({idle['vms']} idle VMs) | {pf(t3)} | "
             f"RSS hostd + {kp['count']} keepers **{mib(h_rss)} MiB** (hostd alone "
             f"{mib(hd['rss_kib_end'])}) vs libvirtd **{mib(ld['rss_kib_end'])} MiB**; PSS "
             f"{mib(h_pss)} vs {mib(ld['pss_kib_end'])} MiB |")
    targets = [("overhead ≤ 50 ms", t1), ("overhead ≤ ¼ libvirt", t2),
               ("memory < libvirtd", t3)]
    if cl:
        lk = {x["size_mib"]: x["seconds"]["median"] for x in cl["linked"]}
        t4 = all(v < 1.0 for v in lk.values())
        fu = cl["full"]
        t5 = fu["ratio"] >= 0.9
        L.append(f"| linked clone creation < 1 s whatever the disk size | {pf(t4)} | " +
                 ", ".join(f"{m // 1024} GiB disk **{ms(v)} ms**" for m, v in sorted(lk.items()))
                 + f" (median of {cl['runs']}) |")
        L.append(f"| full clone throughput ≥ 0.9 × `qemu-img convert` by hand | {pf(t5)} | "
                 f"hostd **{fu['hostd_mib_s']:.0f} MiB/s** vs by hand "
                 f"**{fu['hand_mib_s']:.0f} MiB/s** (ratio {fu['ratio']:.2f}; 1 GiB, median "
                 f"of {cl['full_runs']}) |")
        targets += [("linked clone < 1 s", t4), ("full clone ≥ 0.9 × qemu-img", t5)]
    if cs:
        scale = f"{cs['hosts']:,} hosts, {cs['hosts'] * cs['vms_per_host']:,} VMs"
        lp, sp, rd = cs["list_first_page"], cs["search_prefix"], cs["reads"]
        t6 = lp["p99_ms"] < 200
        t7 = sp["p99_ms"] < 200
        t8 = rd["per_second"] >= 2000 and rd["errors"] == 0
        L.append(f"| center ({scale}): listing VMs p99 < 200 ms | {pf(t6)} | "
                 f"`GET /api/v1/vms` (first page of {cs['list_page_size']}) p99 "
                 f"**{lp['p99_ms']:.0f} ms**, median {lp['p50_ms']:.0f} ms ({lp['n']} requests) |")
        L.append(f"| center ({scale}): searching VMs p99 < 200 ms | {pf(t7)} | "
                 f"`GET /api/v1/vms?prefix=simN-` p99 **{sp['p99_ms']:.0f} ms**, median "
                 f"{sp['p50_ms']:.1f} ms ({sp['n']} requests) |")
        L.append(f"| center ({scale}): ≥ 2,000 reads/s with {cs['clients']} clients | {pf(t8)} | "
                 f"**{rd['per_second']:,.0f} reads/s**, p99 {rd['p99_ms']:.0f} ms, "
                 f"{rd['errors']} errors ({rd['seconds']:.0f} s) |")
        targets += [("center list p99 < 200 ms", t6), ("center search p99 < 200 ms", t7),
                    ("center ≥ 2,000 reads/s", t8)]
    missed = [n for n, ok in targets if not ok]
    L.append("")
    L.append("Missed targets: " + (", ".join(missed) + " (figures in the table above)."
                                   if missed else "none.") + "\n")

    L.append("## (a) Management overhead: power-on request → vCPUs running\n")
    L.append(f"{p['runs']} recorded power-ons per path (after one unrecorded warm-up each), "
             "interleaved round by round with the order rotating, "
             f"{p['memory_mib']} MiB, 1 vCPU, TCG, no disk, no NIC.\n")
    L.append("- **vireo-hostd**: `POST /api/v1/vms/{id}/power/on` → 202 `{task}`, then "
             "`GET /api/v1/tasks/{task}?wait_ms=5000` until `success` (hostd completes the task "
             "only after QMP `cont` returned). Timed from just before the POST to the response "
             "that reports success (Python `urllib`, a new HTTP connection per request).")
    L.append("- **libvirt**: `virsh -q -c qemu:///system start NAME`, timed from spawning virsh "
             "until it exits (libvirt returns after it resumed the vCPUs with `cont`). "
             "Includes virsh's own start-up and connection.")
    L.append("- **bare QEMU** (the floor, `bench/bare_qemu.py`): spawn `qemu-system-x86_64 -S` "
             "with hostd's exact argv, connect to the QMP socket (retry every 1 ms), read the "
             "greeting, `qmp_capabilities`, `cont`; timed until both the `cont` reply and the "
             "`RESUME` event arrived.\n")
    L.append(stat_table(run, ms, "ms"))
    L.append("")
    L.append(f"Overhead above bare QEMU (difference of medians): hostd **{ms(ov_h)} ms**, "
             f"libvirt **{ms(ov_l)} ms**.\n")
    bd = p.get("bare_detail")
    if bd:
        L.append("Bare QEMU broken down (medians from the spawn): QMP socket accepted "
                 f"{ms(bd['connect_s']['median'])} ms, `qmp_capabilities` answered "
                 f"{ms(bd['caps_s']['median'])} ms, `cont` answered "
                 f"{ms(bd['cont_reply_s']['median'])} ms, `RESUME` event "
                 f"{ms(bd['resume_event_s']['median'])} ms.\n")
    nh, nl = p["noop"]["hostd"], p["noop"]["libvirt"]
    L.append("Client-side fixed cost of one trivial request, for context (median / p90 of "
             f"{nh['n']}): hostd `{p['noop_what']['hostd']}` {ms(nh['median'])} / "
             f"{ms(nh['p90'])} ms; libvirt `{p['noop_what']['libvirt']}` {ms(nl['median'])} / "
             f"{ms(nl['p90'])} ms.\n")

    L.append("## (b) Power-on request → `VIREO-GUEST-READY` on the serial console\n")
    L.append("Same samples as (a): after the power-on returned, the serial console's log file "
             "(written by each QEMU through its chardev `logfile`: hostd `DATASTORE/VM/"
             "console.log`, libvirt `<serial type='unix'><log file=…/>`, bare QEMU the same "
             "chardev as hostd) is polled every 2 ms from the same start time as (a).\n")
    L.append(stat_table(ready, sec, "s"))
    L.append("")
    gu = p.get("guest_uptime_at_ready")
    if gu and all(gu.get(k) for k, _ in PEERS):
        L.append("The guest's own uptime when its init printed READY (`vireo-init: user space "
                 "up at …s`, the kernel's clock, which starts after QEMU, firmware and kernel "
                 "decompression), median [min–max]: " + "; ".join(
                     f"{label.split(' (')[0]} {gu[k]['median']:.2f} s [{gu[k]['min']:.2f}–"
                     f"{gu[k]['max']:.2f}]" for k, label in PEERS) + ".\n")
    L.append("Differences of medians against bare QEMU: hostd "
             f"{ms(ready['hostd']['median'] - ready['bare']['median'])} ms, libvirt "
             f"{ms(ready['libvirt']['median'] - ready['bare']['median'])} ms (guest boot under "
             "TCG dominates and varies by ± a few hundred ms from run to run).\n")

    L.append(f"## (c) Daemon memory and idle CPU with {idle['vms']} running idle VMs\n")
    L.append(f"{idle['vms']} VMs of {idle['memory_mib']} MiB, 1 vCPU, the guest image, kernel "
             f"command line `{idle['cmdline']}`; first under vireo-hostd, then (after all were "
             "powered off and hostd stopped) under a freshly started libvirtd. Measured after "
             f"every guest printed READY plus {idle['settle_seconds']} s, over an idle window "
             f"of {idle['idle_seconds']} s: VmRSS (`/proc/PID/status`) and Pss "
             "(`/proc/PID/smaps_rollup`) at the end of the window (max over 5-s samples in "
             "brackets), CPU = utime+stime (`/proc/PID/stat`, 10-ms ticks) over the window, "
             "as % of one core, and the same from the threads' `schedstat` run time (ns "
             "resolution).\n")
    L.append("| Process | RSS, 0 VMs (MiB) | RSS, "
             f"{idle['vms']} VMs (MiB) | PSS, {idle['vms']} VMs (MiB) | CPU % (utime+stime) | "
             "ticks | CPU % (schedstat) | threads |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|")

    def sched(d):
        v = d.get("sched_cpu_pct_one_core")
        return "n/a" if v is None else f"{v:.4f}"

    def prow(name, d, base):
        return (f"| {name} | {mib(base['rss_kib'])} | **{mib(d['rss_kib_end'])}** "
                f"({mib(d['rss_kib_max'])}) | {mib(d['pss_kib_end'])} ({mib(d['pss_kib_max'])}) "
                f"| {d['cpu_pct_one_core']:.3f} | {d['cpu_ticks']} | {sched(d)} | "
                f"{d['threads']} |")
    L.append(prow("vireo-hostd", hd, idle["hostd"]["baseline"]["vireo-hostd"]))
    L.append(f"| {kp['count']} × vireo-shim (hostd's per-VM keepers, total) | 0 | "
             f"**{mib(kp['rss_kib_total'])}** | {mib(kp['pss_kib_total'])} | "
             f"{kp['cpu_pct_one_core_total']:.3f} | | | |")
    L.append(f"| hostd total | | **{mib(h_rss)}** | {mib(h_pss)} | "
             f"{hd['cpu_pct_one_core'] + kp['cpu_pct_one_core_total']:.3f} | | | |")
    for k, d in lw.items():
        L.append(prow(k, d, idle["libvirt"]["baseline"][k]))
    if len(lw) > 1:
        lcpu = sum(d["cpu_pct_one_core"] for d in lw.values())
        lsch = sum(d.get("sched_cpu_pct_one_core") or 0 for d in lw.values())
        L.append(f"| libvirt total ({' + '.join(lw)}) | "
                 f"{mib(sum(idle['libvirt']['baseline'][k]['rss_kib'] for k in lw))} | "
                 f"{mib(lsum_rss)} | {mib(lsum_pss)} | {lcpu:.3f} | "
                 f"{sum(d['cpu_ticks'] for d in lw.values())} | {lsch:.4f} | |")
    L.append("")
    smp = idle["hostd"]["window"].get("sampler")
    if smp:
        w = idle["hostd"]["window"]["window_s"]
        L.append(f"Statistics sampling (every {smp['interval_s']:.0f} s: host, and per VM CPU, "
                 f"memory, disks and NICs) is part of hostd's CPU above: its thread used "
                 f"**{smp['cpu_ms']:.1f} ms** of CPU in the {w:.0f} s window "
                 f"({100.0 * smp['cpu_ms'] / 1000.0 / w:.3f}% of one core) for {idle['vms']} VMs; "
                 f"the last round took {smp['last_round_ms']:.0f} ms of wall time. The balloon "
                 f"policy (every 5 s) is in hostd's figure too.\n")
    qh, ql = idle["hostd"]["window"]["qemu"], idle["libvirt"]["window"]["qemu"]
    L.append("Context, the guests themselves during the same windows: "
             f"hostd's {qh['count']} QEMUs RSS {mib(qh['rss_kib_total'])} MiB total, CPU "
             f"{qh['cpu_pct_one_core_total']:.1f} % of one core; libvirt's {ql['count']} QEMUs "
             f"RSS {mib(ql['rss_kib_total'])} MiB, CPU {ql['cpu_pct_one_core_total']:.1f} %. "
             f"All {idle['vms']} powered on in {idle['hostd']['all_powered_on_s']:.1f} s "
             f"(hostd, concurrent tasks) / {idle['libvirt']['all_powered_on_s']:.1f} s (libvirt, "
             f"sequential `virsh start`); all READY after {idle['hostd']['all_ready_s']:.0f} s / "
             f"{idle['libvirt']['all_ready_s']:.0f} s.\n")
    if ql["cpu_pct_one_core_total"] > 0 and \
            qh["cpu_pct_one_core_total"] > 2 * ql["cpu_pct_one_core_total"]:
        ratio = qh["cpu_pct_one_core_total"] / ql["cpu_pct_one_core_total"]
        L.append(f"Note: hostd's idle guests used {ratio:.1f}× the CPU of libvirt's (hostd keeps "
                 "each guest agent's socket connected, as libvirt does; a guest whose agent "
                 "channel has no host-side client spends CPU around its idle qemu-ga). This is "
                 "the guests' CPU, not the daemons'.\n")
    L.append("virtlogd is part of libvirt's stack here (libvirt's default `stdio_handler = "
             "\"logd\"` routes every QEMU's stdout/stderr and the serial log through it); the "
             "memory target compares hostd with libvirtd alone, the stricter reading.\n")

    if cl:
        fu = cl["full"]
        L.append("## (d) Clones through vireo-hostd\n")
        L.append("`bench/clones.py`, hostd started as for (a). Linked: a VM whose disk has 64 "
                 "MiB written and one snapshot; `POST /api/v1/vms/{id}/clone` `{\"name\": …, "
                 "\"linked\": true}` until its task reports success, after one unrecorded "
                 "warm-up. Full: a powered-off VM whose 1 GiB disk is a chain "
                 f"({fu['chain']}); `POST …/clone` `{{\"name\": …}}` until success, "
                 f"interleaved with `{fu['hand_command']}` of the same chain (hostd runs "
                 "`qemu-img convert -U -f qcow2 -O qcow2` after `qemu-img measure`); "
                 "throughput = virtual size / median time.\n")
        L.append("| Measure | median | p90 | min | max | runs |\n|---|---:|---:|---:|---:|---:|")
        for x in cl["linked"]:
            s = x["seconds"]
            L.append(f"| linked clone, {x['size_mib'] // 1024} GiB disk (ms) | **{ms(s['median'])}** "
                     f"| {ms(s['p90'])} | {ms(s['min'])} | {ms(s['max'])} | {s['n']} |")
        for key, label in (("hostd_s", "full clone, hostd (s)"),
                           ("hand_s", "`qemu-img convert` by hand (s)")):
            s = fu[key]
            L.append(f"| {label} | **{sec(s['median'])}** | {sec(s['p90'])} | {sec(s['min'])} "
                     f"| {sec(s['max'])} | {s['n']} |")
        L.append("")

    if sn:
        L.append("## (e) Snapshots of a running guest: hostd vs libvirt\n")
        L.append(f"`bench/snapshots.py`: a {sn['memory_mib']} MiB, 1-vCPU guest with one "
                 f"{sn['disk_mib'] // 1024} GiB qcow2 disk, idle after READY, {sn['rounds']} rounds "
                 "per peer, each: take a snapshot with memory, revert to it (the guest runs "
                 "again), delete it; time from the request to its completion as the client sees "
                 "it. hostd: `POST /api/v1/vms/{id}/snapshots {\"memory\": true}` (external "
                 "qcow2 deltas + NAME-SnapshotN.vmsn), `POST …/snapshots/NAME/revert`, `DELETE "
                 "…/snapshots/NAME` (online block-commit); libvirt: `virsh snapshot-create-as`, "
                 "`snapshot-revert`, `snapshot-delete` (libvirt's default for a running domain "
                 "with a qcow2 disk: an internal snapshot, memory inside the qcow2). No target "
                 "is set for these; they are reported side by side.\n")
        L.append("| Operation | hostd median (s) | hostd p90 | libvirt median (s) | libvirt p90 |")
        L.append("|---|---:|---:|---:|---:|")
        for k, label in (("take", "snapshot with memory"), ("revert", "revert (running again)"),
                         ("delete", "delete")):
            hs, ls = sn["hostd_summary"][k], sn["libvirt_summary"][k]
            L.append(f"| {label} | **{hs['median']:.2f}** | {hs['p90']:.2f} | "
                     f"**{ls['median']:.2f}** | {ls['p90']:.2f} |")
        L.append("")

    if cs:
        n_vms = cs["hosts"] * cs["vms_per_host"]
        L.append("## (f) vireo-center at scale\n")
        L.append(f"`bench/center_scale.py`: one `vireo-hostd --simulate {cs['hosts']}:"
                 f"{cs['vms_per_host']}` process plays {cs['hosts']:,} hosts with "
                 f"{cs['vms_per_host']} fake VMs each (no QEMU; host i under `/sim/<i>`, see "
                 "docs/design.md)"
                 + (", over HTTPS (a self-signed certificate center checks with its CA file, "
                    "as hosts are reached in production)" if cs.get("transport") == "https"
                    else ", over plain HTTP")
                 + "; one vireo-center (SQLite, default options: 8 API threads, "
                 "3 s heartbeat, statistics every 20 s, full resync every 60 s) joins them all "
                 f"to a datacenter with {cs['clusters']} clusters. Both run on this machine, so "
                 "the simulator's work (about 1,000 long polls every 3 s, the statistics and "
                 "resync reads) shares its cores with center. Latencies: sequential requests "
                 "on one keep-alive connection; throughput: `wrk` with "
                 f"{cs['clients']} connections on 2 threads for {cs['reads']['seconds']:.0f} s, "
                 "each request a random one of `GET /api/v1/vms/{ref}`, "
                 "`/api/v1/inventory/{ref}`, `/api/v1/hosts/{ref}` (9,000 paths drawn "
                 "beforehand), then each kind alone.\n")
        lp, sp, fl, rd = (cs["list_first_page"], cs["search_prefix"], cs["list_all_by_pages"],
                          cs["reads"])
        L.append("| Measure | Figure |\n|---|---:|")
        L.append(f"| joins: {cs['hosts']:,} `POST /api/v1/hosts` tasks, submitted at once, all "
                 f"succeeded after | {cs['join_seconds']:.0f} s |")
        L.append(f"| … and every host connected, {n_vms:,} VMs listed, after | "
                 f"{cs['settled_seconds']:.0f} s |")
        L.append(f"| `GET /api/v1/vms` first page ({cs['list_page_size']} VMs): median / p99 / "
                 f"max | {lp['p50_ms']:.0f} / **{lp['p99_ms']:.0f}** / {lp['max_ms']:.0f} ms |")
        L.append(f"| `GET /api/v1/vms?prefix=simN-` ({cs['vms_per_host']} VMs): median / p99 / "
                 f"max | {sp['p50_ms']:.1f} / **{sp['p99_ms']:.1f}** / {sp['max_ms']:.0f} ms |")
        L.append(f"| all {n_vms:,} VMs by pages ({fl['pages']} requests): median of "
                 f"{fl['runs']} | {fl['median_s']:.2f} s |")
        L.append(f"| {cs['clients']} clients, mixed reads: throughput | "
                 f"**{rd['per_second']:,.0f} reads/s** ({rd['requests']:,} in "
                 f"{rd['seconds']:.0f} s, {rd['errors']} errors) |")
        L.append(f"| … latency median / p99 / max | {rd['p50_ms']:.0f} / **{rd['p99_ms']:.0f}** "
                 f"/ {rd['max_ms']:.0f} ms |")
        L.append(f"| … center's CPU (of {facts.get('cpus_online', '?')} cores) | "
                 f"{rd['center_cpu_pct']:.0f} % |")
        for kind, label in (("vm", "`GET /api/v1/vms/{ref}` alone"),
                            ("inventory", "`GET /api/v1/inventory/{ref}` alone"),
                            ("host", "`GET /api/v1/hosts/{ref}` alone")):
            k = (cs.get("reads_by_kind") or {}).get(kind)
            if k:
                L.append(f"| {label} ({k['seconds']:.0f} s) | {k['per_second']:,.0f} reads/s, "
                         f"p99 {k['p99_ms']:.0f} ms, center CPU {k['center_cpu_pct']:.0f} % |")
        ci, cl_ = cs["center_idle"], cs["center_under_load"]
        if "cpu_pct" in ci:
            L.append(f"| center's own CPU with {cs['hosts']:,} hosts and no clients (monitors, "
                     f"statistics, resyncs; 10 s) | {ci['cpu_pct']:.0f} % |")
        L.append(f"| center's RSS / threads with {cs['hosts']:,} hosts: idle, under load | "
                 f"{ci['rss_mib']:.0f} MiB / {ci['threads']}, {cl_['rss_mib']:.0f} MiB / "
                 f"{cl_['threads']} |")
        L.append(f"| the simulator's RSS / threads | {cs['sim']['rss_mib']:.0f} MiB / "
                 f"{cs['sim']['threads']} |")
        L.append(f"| load average before / after | "
                 f"{' '.join(f'{x:.2f}' for x in cs['loadavg_before'])} / "
                 f"{' '.join(f'{x:.2f}' for x in cs['loadavg_after'])} |")
        L.append("")
        L.append("center keeps one monitor thread per host (hence about a thousand threads), "
                 "each long-polling its host's event feed; `GET /api/v1/vms/{ref}` also asks "
                 "the VM's host for its live view (one more HTTPS round trip per read, on "
                 "a kept-alive connection: center keeps up to 4 per host, within a quarter "
                 "of its file limit), which the inventory and host reads do not.\n")
        L.append(code([cs["command"], rd["command"]], "sh"))
        L.append("")

    L.append("## How each figure was made\n")
    L.append("Everything above was made by one `" + a.run_command + "`; `bench/run.sh` "
             "ran these (raw JSON results in `BUILD_DIR/bench/`):\n")
    L.append(code([p["command"], idle["command"]] +
                  (["python3 bench/clones.py --hostd HOSTD --guest GUEST --work WORK "
                    f"--runs {cl['runs']} --full-runs {cl['full_runs']} --out clones.json"]
                   if cl else []) +
                  ([sn["command"]] if sn else []) +
                  ([cs["command"]] if cs else []) +
                  ["python3 bench/report.py ...  # this file"], "sh"))
    L.append("- (a), (b): `bench/poweron.py` (functions `one()` and the peers in "
             "`bench/benchlib.py`: `HostdPeer.power_on`, `LibvirtPeer.power_on`, "
             "`BarePeer.power_on` → `bench/bare_qemu.py`).")
    L.append("- (c): `bench/idle20.py` (`bench_peer()`, `measure_window()`).")
    if cl:
        L.append("- (d): `bench/clones.py` (`linked()`, `full()`, `clone_once()`).")
    if sn:
        L.append("- (e): `bench/snapshots.py` (`hostd_rounds()`, `libvirt_rounds()`).")
    if cs:
        L.append("- (f): `bench/center_scale.py` (`main()`, `run_wrk()`) with "
                 "`bench/center_scale.lua` for `wrk`.")
    L.append("- Statistics: median; p90 = nearest-rank 90th percentile; min; max; mean.\n")
    L.append("hostd was started as:\n")
    L.append(argv_block(p.get("hostd_argv")))
    L.append("\nQEMU command line hostd generated (captured from `/proc/PID/cmdline`):\n")
    L.append(argv_block(p.get("hostd_qemu_argv")))
    L.append("\nBare QEMU ran exactly that, with its sockets, pid file and console log moved to "
             "its own folder:\n")
    L.append(argv_block(p.get("bare_qemu_argv")))
    L.append("\nlibvirt domain XML (defined with `virsh define`, started with `virsh start`):\n")
    L.append(code(p.get("libvirt_xml", "").rstrip().splitlines(), "xml"))
    L.append("\nQEMU command line libvirt generated from it:\n")
    L.append(argv_block(p.get("libvirt_qemu_argv")))
    L.append("")

    L.append("## Notes\n")
    if p.get("libvirt_kvm_shim") or idle.get("libvirt_kvm_shim"):
        L.append("- This host's `/dev/kvm` is root-only (0600, a PVM device). libvirt's QEMU "
                 "capability probe then reports KVM as present while libvirt's own access "
                 "check for user libvirt-qemu says \"not usable\", so libvirt discards its "
                 "capability cache and re-probes QEMU on **every** `virsh start` (≈ 4.2 s "
                 "instead of ≈ 0.3 s here). That is an artefact of this sandbox, not libvirt's "
                 "normal cost, so the benchmark starts libvirtd in a private mount namespace "
                 "where `/dev/kvm` is the stock Debian node (0660 root:kvm, as udev sets it). "
                 "Domains still use TCG (`<domain type='qemu'>`); nothing outside libvirtd "
                 "sees the change.")
    if p.get("libvirt_preexisting") or idle.get("libvirt_preexisting"):
        L.append("- libvirtd was already running before the benchmark and was used as is.")
    L.append("- libvirt runs QEMU as libvirt-qemu with its DAC security driver and seccomp "
             "sandbox; hostd runs QEMU as vireo-qemu (`-runas`) with its seccomp sandbox; bare "
             "QEMU uses hostd's argv, so the same `-runas` and `-sandbox`.")
    L.append("- libvirt adds a few things of its own to the QEMU command line (a secret object "
             "for its master key, an explicit memory backend, `-no-shutdown`, `-boot "
             "strict=on`, `-audiodev none`); the guest-visible devices are the same.")
    L.append("- TCG guest boot times vary between runs by a few hundred ms, so differences in "
             "(b) smaller than that are noise.")
    L.append("")
    with open(a.out, "w") as f:
        f.write("\n".join(L))
    bl.log(f"wrote {a.out}")
    for line in L[L.index("## Targets\n"):L.index("## Targets\n") + 11]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
