#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""(f) vireo-center at scale: 1,000 simulated hosts x 20 VMs (vireo-hostd --simulate)
joined to one center (SQLite) in a datacenter with 10 clusters; then, with center's
default API threads:
  - the latency of listing VMs (GET /api/v1/vms, first page, default limit; and the
    whole inventory by pages) and of searching them by name prefix
    (GET /api/v1/vms?prefix=simN-), sequential, one keep-alive connection;
  - the throughput of 100 concurrent clients (wrk, 30 s) reading random objects:
    GET /api/v1/vms/{ref}, /api/v1/inventory/{ref}, /api/v1/hosts/{ref};
  - center's resident memory and threads at that scale, and how long the joins took.
The simulated hosts serve HTTPS (a self-signed certificate that center checks with its
CA file), as hosts are reached in production; --plain-http for plain HTTP.

usage: center_scale.py --hostd HOSTD --center CENTER --work DIR --out FILE.json
       [--hosts 1000] [--vms 20] [--clusters 10] [--requests 200] [--clients 100]
       [--seconds 30] [--plain-http]
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import vireo_harness as vh  # noqa: E402
from benchlib import BenchError, log, percentile  # noqa: E402

SIM_PASSWORD = "bench-sim-admin-1"


class BenchCenter(vh.Center):
    """Center with its default heartbeat and threads (the harness shortens the heartbeat)."""

    def command(self):
        return [self.binary, "--state-dir", self.state, "--listen", self.listen,
                "--port", str(self.port), "--login-failure-delay-ms", "0"] + self.extra


class Conn:
    """One keep-alive HTTP connection to center, timed per request."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get(self, path):
        """(seconds, status, parsed body)."""
        t = time.perf_counter()
        try:
            self.c.request("GET", path, headers={"Authorization": "Bearer " + self.token})
            r = self.c.getresponse()
            body = r.read()
        except (http.client.HTTPException, OSError):
            self.c.close()
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            raise
        dt = time.perf_counter() - t
        return dt, r.status, json.loads(body) if body else None


def proc_facts(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "VmRSS":
                out["rss_mib"] = round(int(v.split()[0]) / 1024.0, 1)
            elif k == "Threads":
                out["threads"] = int(v)
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency_summary(samples):
    ms = [s * 1000.0 for s in samples]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 2),
            "p99_ms": round(percentile(ms, 99), 2), "max_ms": round(max(ms), 2)}


def all_vms(conn, limit=None):
    """Every VM by pages; (names, seconds, pages)."""
    names, after, pages, t = [], None, 0, time.perf_counter()
    while True:
        q = [] if limit is None else [f"limit={limit}"]
        if after:
            q.append("after=" + urllib_quote(after))
        _, st, r = conn.get("/api/v1/vms" + ("?" + "&".join(q) if q else ""))
        if st != 200:
            raise BenchError(f"GET /api/v1/vms: {st} {r}")
        pages += 1
        names += [v["name"] for v in r["vms"]]
        after = r.get("next")
        if not after:
            return names, time.perf_counter() - t, pages


def urllib_quote(s):
    import urllib.parse
    return urllib.parse.quote(s, safe="")


def run_wrk(a, center, token, paths, seconds, tag):
    """wrk with a.clients connections on random paths; (figures, center's RSS/threads midway)."""
    paths_file = os.path.join(a.work, f"paths-{tag}.txt")
    with open(paths_file, "w") as f:
        f.write("\n".join(paths) + "\n")
    result_file = os.path.join(a.work, f"wrk-{tag}.json")
    env = dict(os.environ, BENCH_PATHS=paths_file, BENCH_TOKEN=token, BENCH_RESULT=result_file)
    cmd = ["wrk", "-t", "2", "-c", str(a.clients), "-d", f"{seconds}s", "--timeout", "10s",
           "-s", os.path.join(HERE, "center_scale.lua"), center.url]
    pid = center.proc.pid
    cpu0 = cpu_seconds(pid)
    w = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(seconds / 2)
    sampled = proc_facts(pid)
    out, _ = w.communicate(timeout=seconds + 60)
    with open(os.path.join(a.work, f"wrk-{tag}.txt"), "wb") as f:
        f.write(out)
    if w.returncode != 0:
        raise BenchError(f"wrk failed: {out.decode(errors='replace')[-500:]}")
    with open(result_file) as f:
        wr = json.load(f)
    secs = wr["duration_us"] / 1e6
    return {"requests": wr["requests"], "seconds": round(secs, 1),
            "per_second": round(wr["requests"] / secs, 0),
            "p50_ms": round(wr["latency_us"]["p50"] / 1000.0, 2),
            "p99_ms": round(wr["latency_us"]["p99"] / 1000.0, 2),
            "max_ms": round(wr["latency_us"]["max"] / 1000.0, 1),
            "errors": sum(wr["errors"].values()), "error_detail": wr["errors"],
            "center_cpu_pct": round(100.0 * (cpu_seconds(pid) - cpu0) / secs, 0),
            "command": " ".join(cmd[:-3] + ["bench/center_scale.lua", "CENTER_URL"])}, sampled


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hostd", required=True)
    ap.add_argument("--center", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--vms", type=int, default=20)
    ap.add_argument("--clusters", type=int, default=10)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--plain-http", action="store_true",
                    help="the simulated hosts serve plain HTTP, not HTTPS")
    ap.add_argument("--kind-seconds", type=int, default=10,
                    help="then each kind of read alone for this long")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        raise BenchError("wrk is missing (sh scripts/install-bench-deps.sh)")
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    res = {"command": "python3 bench/center_scale.py --hostd HOSTD --center CENTER --work WORK"
                      f" --hosts {a.hosts} --vms {a.vms} --clusters {a.clusters} --requests "
                      f"{a.requests} --clients {a.clients} --seconds {a.seconds} --kind-seconds "
                      f"{a.kind_seconds} --out center_scale.json",
           "hosts": a.hosts, "vms_per_host": a.vms, "clusters": a.clusters,
           "database": "sqlite", "clients": a.clients, "seconds": a.seconds,
           "transport": "http" if a.plain_http else "https"}
    if a.plain_http:
        res["command"] += " --plain-http"
    sim_port = vh.free_port()
    sim_log = open(os.path.join(a.work, "sim.log"), "ab")
    tls, ca, sim_ctx = [], None, None
    if not a.plain_http:
        ca, key = vh.make_self_signed_cert(a.work, "vireo-sim")
        tls = ["--tls-cert", ca, "--tls-key", key]
        sim_ctx = ssl.create_default_context(cafile=ca)
    scheme = "http" if a.plain_http else "https"
    sim = subprocess.Popen([a.hostd, "--simulate", f"{a.hosts}:{a.vms}", "--simulate-password",
                            SIM_PASSWORD, "--port", str(sim_port), "--log-level", "warn"] + tls,
                           stdout=sim_log, stderr=sim_log, start_new_session=True)
    center = BenchCenter(a.center, a.work)
    try:
        vh.wait_for("the simulator", lambda: _health(sim_port, sim_ctx), timeout=60)
        center.start()
        res["center_api_threads"] = "default (8)"
        c = center
        c.create("datacenter", "/", "ScaleDC")
        clusters = [c.create("cluster", "/ScaleDC/host", f"C{k:02d}") for k in range(a.clusters)]
        log(f"(f) joining {a.hosts} simulated hosts to {a.clusters} clusters")
        t0 = time.monotonic()
        tasks = []
        for i in range(a.hosts):
            spec = {"url": f"{scheme}://127.0.0.1:{sim_port}/sim/{i}", "username": "admin",
                    "password": SIM_PASSWORD, "parent": clusters[i % a.clusters]}
            if ca:
                spec["ca_file"] = ca
            r = c.ok("POST", "/api/v1/hosts", spec)
            tasks.append(r["task"])
        failed = []
        for t in tasks:
            st = c.wait_task(t, timeout=900)
            if st["state"] != "succeeded":
                failed.append(st.get("error"))
        if failed:
            raise BenchError(f"{len(failed)} joins failed, first: {failed[0]}")
        res["join_seconds"] = round(time.monotonic() - t0, 1)
        want = a.hosts * a.vms

        conn = Conn(center.port, c.token)

        def settled():
            hosts = c.ok("GET", "/api/v1/hosts")["hosts"]
            ok = sum(1 for h in hosts if h.get("connection_state") == "connected")
            if ok != a.hosts:
                return False
            return len(all_vms(conn, 5000)[0]) == want
        vh.wait_for(f"{a.hosts} connected hosts and {want} VMs in center", settled, timeout=300,
                    interval=2)
        res["settled_seconds"] = round(time.monotonic() - t0, 1)
        log(f"(f) {a.hosts} hosts joined in {res['join_seconds']} s; {want} VMs in center "
            f"after {res['settled_seconds']} s")
        time.sleep(5)  # let the first statistics round pass
        res["center_idle"] = proc_facts(center.proc.pid)
        # Its own work at this scale (monitors, statistics, resyncs), without clients.
        cpu0, t = cpu_seconds(center.proc.pid), time.monotonic()
        time.sleep(10)
        res["center_idle"]["cpu_pct"] = round(
            100.0 * (cpu_seconds(center.proc.pid) - cpu0) / (time.monotonic() - t), 0)

        # (a) sequential latencies
        res["loadavg_before"] = [round(x, 2) for x in os.getloadavg()]
        lat = {"list": [], "search": []}
        cpu0 = cpu_seconds(center.proc.pid)
        for k in range(a.requests):
            dt, st, r = conn.get("/api/v1/vms")
            if st != 200 or not r["vms"]:
                raise BenchError(f"GET /api/v1/vms: {st}")
            lat["list"].append(dt)
            res["list_page_size"] = len(r["vms"])
        for k in range(a.requests):
            i = random.randrange(a.hosts)
            dt, st, r = conn.get(f"/api/v1/vms?prefix=sim{i}-")
            if st != 200 or len(r["vms"]) != a.vms:
                raise BenchError(f"search sim{i}-: {st}, {len(r['vms'] if r else [])} VMs")
            lat["search"].append(dt)
        res["list_first_page"] = latency_summary(lat["list"])
        res["search_prefix"] = latency_summary(lat["search"])
        full = []
        for k in range(3):
            names, secs, pages = all_vms(conn)
            if len(names) != want:
                raise BenchError(f"full listing: {len(names)} VMs, not {want}")
            full.append(secs)
        res["list_all_by_pages"] = {"runs": len(full), "pages": pages,
                                    "median_s": round(sorted(full)[1], 3),
                                    "max_s": round(max(full), 3)}
        res["sequential_cpu_s"] = round(cpu_seconds(center.proc.pid) - cpu0, 2)
        log(f"(f) list p99 {res['list_first_page']['p99_ms']} ms, search p99 "
            f"{res['search_prefix']['p99_ms']} ms, all {want} VMs in {pages} pages: "
            f"{res['list_all_by_pages']['median_s']} s")

        # (b) 100 clients with wrk
        vms = []
        after = None
        while True:
            _, _, r = conn.get("/api/v1/vms?limit=5000" + (f"&after={urllib_quote(after)}"
                                                            if after else ""))
            vms += [v["id"] for v in r["vms"]]
            after = r.get("next")
            if not after:
                break
        hosts = [h["id"] for h in c.ok("GET", "/api/v1/hosts")["hosts"]]
        rng = random.Random(7)
        paths = ([f"/api/v1/vms/{rng.choice(vms)}" for _ in range(3000)] +
                 [f"/api/v1/inventory/{rng.choice(vms + hosts)}" for _ in range(3000)] +
                 [f"/api/v1/hosts/{rng.choice(hosts)}" for _ in range(3000)])
        log(f"(f) {a.clients} clients reading for {a.seconds} s (VMs, inventory objects, "
            "hosts at random)")
        res["reads"], sampled = run_wrk(a, center, c.token, paths, a.seconds, "mixed")
        res["center_under_load"] = sampled
        r = res["reads"]
        log(f"(f) {r['per_second']:.0f} reads/s, p99 {r['p99_ms']} ms, {r['errors']} errors; "
            f"center {sampled}")
        # Each kind alone, to tell where the time goes.
        res["reads_by_kind"] = {}
        for k, kind in enumerate(("vm", "inventory", "host")):
            r, _ = run_wrk(a, center, c.token, paths[k * 3000:(k + 1) * 3000], a.kind_seconds,
                           kind)
            res["reads_by_kind"][kind] = r
            log(f"(f)   {kind} only: {r['per_second']:.0f} reads/s, p99 {r['p99_ms']} ms")
        res["center_after"] = proc_facts(center.proc.pid)
        res["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        res["sim"] = proc_facts(sim.pid)
    finally:
        center.stop()
        if sim.poll() is None:
            sim.send_signal(signal.SIGTERM)
            try:
                sim.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait()
        sim_log.close()
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    return 0


def _health(port, ctx=None):
    try:
        c = (http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=ctx) if ctx
             else http.client.HTTPConnection("127.0.0.1", port, timeout=5))
        c.request("GET", "/api/v1/health")
        return c.getresponse().status == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
