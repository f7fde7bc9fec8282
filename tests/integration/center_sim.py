#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""vireo-center against the simulated-host mode of vireo-hostd (`--simulate 5:4`):
one process plays five hosts with four fake VMs each, host i under /sim/<i>, over
HTTPS with a self-signed certificate.

Covered: a host whose certificate center cannot verify is refused; the five hosts
join a cluster (four with the CA file, one with tls_insecure) and their 20 VMs, the shared datastore
"simds" and the port group "VM Network" appear in center; a VM is powered on
through center (the host's task succeeds, its event brings the new power state
into center); the simulated statistics become performance history and trip a metric
alarm; a resource pool reaches the simulated host that holds its VM (kept by the
simulator, checked by hostd's parser, not enforced); the simulator's own checks (an index it does not play is 404, a
session of one host is refused by another, bad JSON and unknown fields are 400);
a second center on the same database is refused; a host is removed, with its VMs
and center's account on it.

usage: center_sim.py HOSTD CENTER
"""
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vireo_harness import (Center, TestFailure, Workdir, check, free_port,  # noqa: E402
                           make_self_signed_cert, run_tests, wait_for)

HOSTD, CENTER = sys.argv[1:3]
HOSTS, VMS = 5, 4
PASSWORD = "sim-admin-pw-1"

work = Workdir("vireo-center-sim-")
S = {}


class Sim:
    """The simulator process: one port, host i under /sim/<i>."""

    def __init__(self):
        self.port = free_port()
        self.logfile = os.path.join(work.path, "sim.log")
        self.proc = None
        # HTTPS, as hosts are reached in production: center must check the certificate.
        self.cert, self.key = make_self_signed_cert(work.path, "vireo-sim")
        self.ssl = ssl.create_default_context(cafile=self.cert)

    def start(self):
        with open(self.logfile, "ab") as log:
            self.proc = subprocess.Popen(
                [HOSTD, "--simulate", f"{HOSTS}:{VMS}", "--simulate-password", PASSWORD,
                 "--port", str(self.port), "--tls-cert", self.cert, "--tls-key", self.key],
                stdout=log, stderr=log, start_new_session=True)
        wait_for("the simulator to answer", lambda: self.raw("GET", "/api/v1/health")[0] == 200,
                 timeout=30)

    def url(self, i):
        return f"https://127.0.0.1:{self.port}/sim/{i}"

    def raw(self, method, path, body=None, token=None, data=None):
        """(status, parsed reply or None); data sends raw bytes as the JSON body."""
        if body is not None:
            data = json.dumps(body).encode()
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}", data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ssl) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            return e.code, json.loads(text) if text else None
        except OSError:
            return 0, None

    def login(self, i):
        st, r = self.raw("POST", f"/sim/{i}/api/v1/sessions",
                         {"username": "admin", "password": PASSWORD})
        check(st == 201, f"login to simulated host {i}: {st} {r}")
        return r["token"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


sim = Sim()
center = Center(CENTER, work.path)


def test_simulator_alone():
    sim.start()
    t0 = sim.login(0)
    host = sim.raw("GET", "/sim/0/api/v1/host", token=t0)[1]
    check(host["name"] == "sim-0" and len(host["id"]) == 36, f"host 0: {host}")
    vms = sim.raw("GET", "/sim/0/api/v1/vms", token=t0)[1]["vms"]
    check([v["name"] for v in vms] == [f"sim0-vm{j}" for j in range(VMS)], f"VMs: {vms}")
    check(all(v["datastore"] == "simds" for v in vms), "every VM is on simds")
    # Indexes it does not play, with and without a session.
    st, r = sim.raw("GET", "/sim/99/api/v1/vms", token=t0)
    check(st == 404 and "99" in r["error"]["message"], f"/sim/99: {st} {r}")
    st, _ = sim.raw("POST", "/sim/99/api/v1/sessions", {"username": "admin", "password": PASSWORD})
    check(st == 404, f"login to /sim/99: {st}")
    st, _ = sim.raw("GET", "/sim/x/api/v1/host", token=t0)
    check(st == 404, f"/sim/x: {st}")
    # One host's session is no good on another.
    st, _ = sim.raw("GET", "/sim/1/api/v1/vms", token=t0)
    check(st == 401, f"host 0's session on host 1: {st}")
    st, _ = sim.raw("POST", "/sim/0/api/v1/sessions", {"username": "admin", "password": "wrong-pw"})
    check(st == 401, f"wrong password: {st}")
    # Validation as hostd's.
    st, r = sim.raw("POST", "/sim/0/api/v1/users", {"name": "x", "password": "long-enough-1",
                                                    "colour": "red"}, token=t0)
    check(st == 400 and "colour" in r["error"]["message"], f"unknown field: {st} {r}")
    st, r = sim.raw("POST", "/sim/0/api/v1/users", token=t0, data=b'{"name": ')
    check(st == 400 and "JSON" in r["error"]["message"], f"bad JSON: {st} {r}")
    st, _ = sim.raw("POST", f"/sim/0/api/v1/vms/{vms[1]['id']}/power/fly", token=t0)
    check(st == 404, f"unknown power operation: {st}")
    st, _ = sim.raw("GET", "/sim/0/api/v1/events?since=0&wait=600", token=t0)
    check(st == 400, f"wait=600: {st}")
    # The event feed answers at once when there is news, and holds the poll otherwise.
    last = sim.raw("GET", "/sim/0/api/v1/events", token=t0)[1]["last"]
    t = time.monotonic()
    sim.raw("GET", f"/sim/0/api/v1/events?since={last}&wait=1", token=t0)
    check(time.monotonic() - t >= 0.9, "a long poll without news is held")


def test_join():
    center.start()
    center.create("datacenter", "/", "DC1")
    S["cluster"] = center.create("cluster", "/DC1/host", "SimCluster")
    # Before the joins, so that the first statistics round already meets it.
    center.ok("POST", "/api/v1/alarms", {
        "object": "/DC1", "name": "Host memory", "target_kind": "host",
        "condition": {"kind": "metric", "metric": "mem.usage.average", "comparison": ">",
                      "yellow": 0.01}})
    # A host whose certificate center cannot check is refused, naming why; with the CA
    # given it joins; tls_insecure is the administrator's explicit choice.
    spec = {"url": sim.url(0), "username": "admin", "password": PASSWORD,
            "parent": S["cluster"]}
    err = center.task_error("POST", "/api/v1/hosts", spec)
    check("certificate" in err.lower(), f"an unverifiable certificate: {err}")
    print(f"    refused: {err}")
    check(center.ok("GET", "/api/v1/hosts")["hosts"] == [], "a refused host joined")
    S["hosts"] = [center.task_ok("POST", "/api/v1/hosts", dict(
        spec, url=sim.url(i), **({"tls_insecure": True} if i == HOSTS - 1
                                 else {"ca_file": sim.cert})))["result"]["host"]
        for i in range(HOSTS)]

    def all_connected():
        hosts = center.ok("GET", "/api/v1/hosts")["hosts"]
        return len(hosts) == HOSTS and all(h.get("connection_state") == "connected"
                                           for h in hosts)
    wait_for("the simulated hosts to be connected", all_connected, timeout=60)
    vms = center.ok("GET", "/api/v1/vms")["vms"]
    names = sorted(v["name"] for v in vms)
    want = sorted(f"sim{i}-vm{j}" for i in range(HOSTS) for j in range(VMS))
    check(names == want, f"center's VMs: {names}")
    found = center.ok("GET", "/api/v1/vms?prefix=sim3-")["vms"]
    check(sorted(v["name"] for v in found) == [f"sim3-vm{j}" for j in range(VMS)],
          f"prefix search: {found}")
    ds = center.ok("GET", "/api/v1/inventory/%2FDC1%2Fdatastore%2Fsimds")
    check(ds["kind"] == "datastore", f"datastore: {ds}")


def test_second_center_refused():
    """A second vireo-center on the same database stops at once, naming the first: two would
    both manage the hosts."""
    other = Center(CENTER, work.path)  # the same state folder, so the same SQLite file
    proc = other.spawn(other.command())
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise TestFailure("a second center on the same database kept running")
    log = open(other.logfile).read()
    check(rc != 0 and "another vireo-center uses this database" in log
          and f"pid {center.proc.pid}" in log, f"exit {rc}: {log[-500:]}")
    check(len(center.ok("GET", "/api/v1/hosts")["hosts"]) == HOSTS, "the first center goes on")


def test_power_on_through_center():
    vm = center.ok("GET", "/api/v1/vms/sim2-vm1")
    check(vm["power_state"] == "poweredOff", f"sim2-vm1 starts off: {vm.get('power_state')}")
    center.task_ok("POST", "/api/v1/vms/sim2-vm1/power/on", timeout=60)
    wait_for("center to see sim2-vm1 on",
             lambda: center.ok("GET", "/api/v1/vms/sim2-vm1")["power_state"] == "poweredOn",
             timeout=30)
    t2 = sim.login(2)
    on_host = {v["name"]: v for v in sim.raw("GET", "/sim/2/api/v1/vms", token=t2)[1]["vms"]}
    check(on_host["sim2-vm1"]["power_state"] == "poweredOn", "the simulated host agrees")
    err = center.task_error("POST", "/api/v1/vms/sim2-vm1/power/on", timeout=60)
    check("already" in json.dumps(err), f"powering on twice: {err}")


def test_resource_pools():
    """Center sends a simulated host its part of the pool tree, as to hostd; the simulator
    checks it with hostd's parser, keeps it and says it enforces nothing."""
    pool = center.ok("POST", "/api/v1/inventory", {"kind": "resource_pool",
                                                   "parent": S["cluster"], "name": "SimGold"})
    pool = pool["id"]
    root = center.ok("GET", "/api/v1/vms/sim1-vm0")["resource_pool"]
    center.ok("PATCH", "/api/v1/vms/sim1-vm0", {"resource_pool": pool})
    vm = center.ok("GET", "/api/v1/vms/sim1-vm0")
    t1 = sim.login(1)

    def on_sim():
        r = sim.raw("GET", "/sim/1/api/v1/host/resource-pools", token=t1)[1]
        p = [x for x in r["pools"] if x["id"] == pool]
        return r if p and p[0]["vms"] == [vm["uuid"]] else None
    r = wait_for("SimGold on sim-1", on_sim, timeout=30)
    check(r["enforced"] is False and "simulated" in r["reason"], f"{r}")
    t0 = sim.login(0)
    check(sim.raw("GET", "/sim/0/api/v1/host/resource-pools", token=t0)[1]["pools"] == [],
          "SimGold sent to sim-0, which has none of its VMs")
    st, e = sim.raw("PUT", "/sim/1/api/v1/host/resource-pools",
                    {"pools": [], "vms": {vm["uuid"]: "resgroup-77"}}, token=t1)
    check(st == 400 and "not a listed pool" in e["error"]["message"], f"{st} {e}")
    check(on_sim() is not None, "a refused PUT changed the simulated host's pools")
    center.ok("PATCH", "/api/v1/vms/sim1-vm0", {"resource_pool": root})
    center.ok("DELETE", f"/api/v1/inventory/{pool}")


def test_statistics_and_metric_alarm():
    host = S["hosts"][0]
    pts = wait_for("a performance sample of sim-0", lambda: center.ok(
        "GET", f"/api/v1/perf?object={host}&counter=cpu.usage.average")["points"], timeout=45)
    check(0 < pts[-1][1] <= 100, f"CPU usage: {pts}")
    # The simulated statistics reach the metric alarms (only watched counters are fed).
    wait_for("the host memory alarm", lambda: sum(
        1 for t in center.ok("GET", "/api/v1/alarms/triggered")["triggered"]
        if t["alarm_name"] == "Host memory" and t["status"] == "yellow") == HOSTS, timeout=45)


def test_remove_host():
    ref = S["hosts"][4]
    center.task_ok("DELETE", f"/api/v1/hosts/{ref}", timeout=60)
    hosts = center.ok("GET", "/api/v1/hosts")["hosts"]
    check(len(hosts) == HOSTS - 1, f"hosts after removal: {len(hosts)}")
    left = [v["name"] for v in center.ok("GET", "/api/v1/vms?prefix=sim4-")["vms"]]
    check(left == [], f"sim-4's VMs are gone from center: {left}")
    t4 = sim.login(4)
    users = [u["name"] for u in sim.raw("GET", "/sim/4/api/v1/users", token=t4)[1]["users"]]
    check(users == ["admin"], f"center's account is gone from sim-4: {users}")
    check(len(center.ok("GET", "/api/v1/vms")["vms"]) == (HOSTS - 1) * VMS, "the rest stay")


def main():
    try:
        return run_tests([
            ("simulator_alone", test_simulator_alone),
            ("join", test_join),
            ("second_center_refused", test_second_center_refused),
            ("power_on_through_center", test_power_on_through_center),
            ("resource_pools", test_resource_pools),
            ("statistics_and_metric_alarm", test_statistics_and_metric_alarm),
            ("remove_host", test_remove_host),
        ])
    finally:
        center.stop()
        sim.stop()
        work.cleanup()


if __name__ == "__main__":
    sys.exit(main())
