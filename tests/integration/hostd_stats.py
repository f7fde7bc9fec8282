#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end test of the live statistics (QEMU, TCG here): hostd samples every 2 s; a
guest that idles, then burns CPU and writes its disk through the console shell, shows
its CPU use rise and write IOPS and bytes on the right disk; /metrics is valid
Prometheus text (checked by a small parser) and names the VM; the history holds
several samples; read-only users may read it all, anonymous ones may not; `vireo top
-b` prints CSV rows for the VM; a powered-off VM leaves the latest view.

usage: hostd_stats.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           run_tests, stop_hosts, wait_for)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
work = Workdir("vireo-e2e-stats-")
DS = os.path.join(work.path, "datastore")
os.makedirs(DS)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
MiB = 1 << 20
INTERVAL = 2
hosts = []


def host():
    return hosts[0]


def cli(*args, check_rc=0, stdin_text=None, env_extra=None, timeout=120):
    h = host()
    env = dict(os.environ, VIREO_SERVER=h.url, XDG_CONFIG_HOME=os.path.join(work.path, "cli"))
    env.pop("VIREO_TOKEN", None)
    env.update(env_extra or {})
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=timeout,
                       input=stdin_text)
    if check_rc is not None and p.returncode != check_rc:
        raise TestFailure(f"vireo {' '.join(args)} -> {p.returncode}, expected {check_rc}; "
                          f"stdout {p.stdout!r}, stderr {p.stderr!r}")
    return p


def get_text(path, token=None):
    """GET returning (status, content type, text): /metrics is not JSON."""
    req = urllib.request.Request(host().url + path)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode(errors="replace")


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_prometheus(text):
    """The text exposition format 0.0.4, strictly: every sample after its family's HELP and
    TYPE, families in one block, labels well escaped.  Returns {(name, labels): value} and
    {family: type}."""
    check(text.endswith("\n"), "the exposition does not end with a newline")
    types, samples = {}, {}
    helped, current = None, None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            helped = line.split(" ", 3)[2]
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            check(name == helped, f"line {n}: TYPE {name} without its HELP right before")
            check(name not in types, f"line {n}: family {name} appears twice")
            check(kind in ("counter", "gauge"), f"line {n}: type {kind}")
            check(kind != "counter" or name.endswith("_total"), f"line {n}: counter {name}")
            types[name] = kind
            current = name
            continue
        check(not line.startswith("#") and line, f"line {n}: unexpected {line!r}")
        m = SAMPLE_RE.match(line)
        check(m, f"line {n}: not a sample line: {line!r}")
        name, labels_text, value = m.group(1), m.group(3) or "", m.group(4)
        check(name == current, f"line {n}: sample of {name} outside its family ({current})")
        labels, pos = {}, 0
        while pos < len(labels_text):
            lm = LABEL_RE.match(labels_text, pos)
            check(lm, f"line {n}: bad labels {labels_text!r}")
            raw = lm.group(2)
            labels[lm.group(1)] = re.sub(r'\\(.)', lambda x: "\n" if x.group(1) == "n"
                                         else x.group(1), raw)
            pos = lm.end()
        v = float(value)
        check(v == v, f"line {n}: NaN value")
        samples[(name, tuple(sorted(labels.items())))] = v
    return samples, types


def vm_latest(vm_id):
    for v in host().ok("GET", "/api/v1/stats")["vms"]:
        if v["id"] == vm_id:
            return v
    return None


def history(entity, since=None):
    q = f"?entity={entity}" + (f"&since={since}" if since is not None else "")
    return host().ok("GET", "/api/v1/stats/history" + q)


def disk(sample, slot):
    return next((d for d in sample["disks"] if d["disk"] == slot), None)


# ---------------------------------------------------------------------------

def test_stats():
    h = host()
    spec = {"name": "stat01", "datastore": "ds1", "memory_mib": 256, "vcpus": 1,
            "guest_os": "debian12-64",
            "boot": {"kernel": KERNEL, "initrd": INITRD,
                     "cmdline": f"{CMDLINE} vireo.hostname=stat01 vireo.shell=1"},
            "disks": [{"size_mib": 64}], "nics": [{"connection": "nat"}]}
    vm = h.task_ok("POST", "/api/v1/vms", spec)["result"]["id"]
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/on")
    h.wait_console(vm, "VIREO-GUEST-READY", timeout=120)

    # Idle: a few samples after boot.
    t_ready = time.time()
    wait_for("idle samples", lambda: len(history(vm, int(t_ready) + 1)["samples"]) >= 3,
             timeout=60)
    idle = [s["cpu"]["used_pct"] for s in history(vm, int(t_ready) + 1)["samples"]]
    idle_used = min(x for x in idle if x is not None)
    latest = vm_latest(vm)
    check(latest is not None and latest["name"] == "stat01" and latest["vcpus"] == 1,
          f"latest: {latest}")
    mem = latest["memory"]
    check(mem["configured_bytes"] == 256 * MiB, f"memory: {mem}")
    check(0 < mem["granted_bytes"] <= 256 * MiB, f"granted: {mem}")
    check(0 < mem["consumed_bytes"] <= mem["granted_bytes"], f"consumed: {mem}")
    check(mem["ballooned_bytes"] == 0, f"ballooned (balloon not inflated): {mem}")
    check(mem["swapped_bytes"] is not None and mem["shared_bytes"] is not None, f"memory: {mem}")
    check(latest["cpu"]["ready_pct"] is not None and latest["cpu"]["ready_pct"] >= 0,
          f"cpu: {latest['cpu']}")
    check(disk(latest, "scsi0:0") is not None, f"disks: {latest['disks']}")
    check(latest["nics"] and latest["nics"][0]["nic"] == "ethernet0" and
          latest["nics"][0]["device"] is None and latest["nics"][0]["rx_pps"] is None,
          f"a NAT NIC has no host device: {latest['nics']}")
    writes_before = disk(latest, "scsi0:0")["write_ops_total"]

    # Busy: a CPU burner and 16 MiB of direct writes to the disk, through the console shell.
    def typed():
        p = cli("vm", "console", "stat01", "--linger", "2",
                stdin_text="\n(while :; do :; done) &\n"
                           "dd if=/dev/zero of=/dev/sda bs=64k count=256 oflag=direct && "
                           "echo VIREO-DD-$((40+2))\n")
        return "VIREO-DD-42" in h.console_text(vm) or "VIREO-DD-" in p.stdout
    wait_for("the console shell to run the load", typed, timeout=60, interval=1)
    h.wait_console(vm, "VIREO-DD-42", timeout=90)
    t_busy = time.time()

    def busy_sample():
        for s in history(vm, int(t_busy))["samples"]:
            if s["cpu"]["used_pct"] is not None and s["cpu"]["used_pct"] >= max(idle_used + 25, 40):
                return s
        return None
    busy = wait_for(f"CPU use to rise above idle ({idle_used:.1f}%)", busy_sample, timeout=40)

    def wrote():
        samples = history(vm, int(t_ready))["samples"]
        d = [disk(s, "scsi0:0") for s in samples]
        ok = [x for x in d if x and x["write_iops"] and x["write_kibps"]]
        last = d[-1] if d else None
        if ok and last and last["write_ops_total"] - writes_before >= 256 and \
                last["write_bytes_total"] >= 16 * MiB:
            return ok, last
        return None
    ok, last = wait_for("write IOPS and bytes on scsi0:0", wrote, timeout=30)
    check(all(x["write_latency_ms"] is not None and x["write_latency_ms"] >= 0 for x in ok),
          f"write latency: {ok}")
    print(f"  idle {idle_used:.1f}% -> busy {busy['cpu']['used_pct']:.1f}% "
          f"(ready {busy['cpu']['ready_pct']:.1f}%), max write "
          f"{max(x['write_iops'] for x in ok):.0f} IOPS "
          f"{max(x['write_kibps'] for x in ok):.0f} KiB/s", flush=True)

    # The guest's balloon driver reports its memory: active is known and plausible.
    def active():
        a = vm_latest(vm)["memory"]["active_bytes"]
        return a if a is not None else None
    act = wait_for("active memory from the balloon statistics", active, timeout=60)
    check(0 < act <= 256 * MiB, f"active memory {act}")

    # History: several samples, in order, by name and by id; since filters.
    hist = history("stat01")
    check(hist["entity"] == vm and hist["name"] == "stat01" and hist["interval_s"] == INTERVAL,
          f"history header: { {k: v for k, v in hist.items() if k != 'samples'} }")
    times = [s["timestamp"] for s in hist["samples"]]
    check(len(times) >= 5 and times == sorted(times), f"history times: {times}")
    check(all(b - a > INTERVAL * 0.5 for a, b in zip(times, times[1:])), f"spacing: {times}")
    later = history(vm, int(times[-2]) + 1)["samples"]
    check(0 < len(later) < len(times), f"since: {len(later)} of {len(times)}")
    hh = history("host")["samples"]
    check(len(hh) >= 5 and hh[-1]["cpu"]["used_pct"] is not None and
          hh[-1]["memory"]["total_bytes"] > 0 and hh[-1]["vms_running"] == 1, f"host: {hh[-1]}")
    status, body = h.request("GET", "/api/v1/stats/history?entity=nosuchvm")
    check(status == 404 and "nosuchvm" in str(body), f"unknown entity: {status} {body}")
    status, body = h.request("GET", "/api/v1/stats/history?entity=host&since=yesterday")
    check(status == 400, f"bad since: {status} {body}")

    # Sampling is cheap: the round's duration and the sampler's CPU time.
    samp = hh[-1]["sampling"]
    check(samp["duration_ms"] is not None and samp["duration_ms"] < 1000, f"sampling: {samp}")
    print(f"  sampling: {samp['duration_ms']:.1f} ms per round, sampler CPU "
          f"{samp['cpu_seconds_total']:.3f} s over {len(hh)} rounds", flush=True)

    # /metrics: valid exposition naming the VM; authentication needed.
    status, ctype, text = get_text("/metrics", h.token)
    check(status == 200 and ctype.startswith("text/plain; version=0.0.4"),
          f"/metrics: {status} {ctype}")
    samples, types = parse_prometheus(text)
    lab = (("vm", "stat01"), ("vm_id", vm))
    check(types.get("vireo_vm_cpu_ready_seconds_total") == "counter" and
          types.get("vireo_host_cpu_used_ratio") == "gauge", f"types: {types}")
    check(samples.get(("vireo_vm_cpu_used_seconds_total", lab), 0) > 1,
          "no CPU time for stat01 in /metrics")
    check(("vireo_vm_cpu_ready_seconds_total", lab) in samples, "no ready time in /metrics")
    wb = samples.get(("vireo_vm_disk_write_bytes_total",
                      tuple(sorted(lab + (("disk", "scsi0:0"),)))), 0)
    check(wb >= 16 * MiB, f"disk write bytes in /metrics: {wb}")
    check(samples.get(("vireo_host_vms_running", ())) == 1, "vms_running in /metrics")
    status, _, _ = get_text("/metrics")
    check(status == 401, f"/metrics without a token: {status}")

    # A read-only user may read statistics.
    h.ok("POST", "/api/v1/users", {"name": "ro1", "password": "read-only-pass",
                                   "role": "read-only"})
    st, body = h.request("POST", "/api/v1/sessions", {"username": "ro1",
                                                      "password": "read-only-pass"}, auth=False)
    check(st == 201, f"ro1 login: {st} {body}")
    ro = body["token"]
    for path in ("/api/v1/stats", f"/api/v1/stats/history?entity={vm}"):
        st, body = h.request("GET", path, token=ro)
        check(st == 200, f"read-only {path}: {st} {body}")
    check(get_text("/metrics", ro)[0] == 200, "read-only /metrics")

    # vireo top in batch mode: CSV with the VM in each iteration.
    p = cli("top", "-b", "-d", "2", "-n", "2")
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    check(p.stdout.count("timestamp,vm,") == 1, f"top -b header: {p.stdout!r}")
    mine = [r for r in rows if r["vm"] == "stat01"]
    check(len(mine) == 2 and all(r["vm_id"] == vm and r["state"] == "running" for r in mine),
          f"top -b rows: {rows}")
    check(float(mine[-1]["cpu_used_pct"]) >= 0 and mine[-1]["mem_granted_bytes"].isdigit() and
          int(mine[-1]["mem_granted_bytes"]) > 0 and mine[-1]["mem_configured_bytes"] ==
          str(256 * MiB), f"top -b values: {mine[-1]}")
    print("  " + p.stdout.splitlines()[0][:100] + "...\n  " + p.stdout.splitlines()[-1], flush=True)
    p = cli("top", "-s", "sideways", check_rc=2)
    p = cli("top", check_rc=2)  # no terminal: refused with a hint
    check("-b" in p.stderr, f"top without a terminal: {p.stderr!r}")

    top_interactive()

    # Powered off: out of the latest view (next round), history kept.
    used_before = vm_latest(vm)["cpu"]["used_seconds_total"]
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/off")
    wait_for("the VM to leave the latest statistics", lambda: vm_latest(vm) is None,
             timeout=10)
    check(len(history(vm)["samples"]) >= 5, "history lost at power-off")
    check(host().ok("GET", "/api/v1/stats")["host"]["vms_running"] == 0, "vms_running")

    # A new QEMU: its counters start again, and no rate goes negative across the reset.
    t_on = time.time()
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/on")
    wait_for("samples of the new QEMU",
             lambda: len([s for s in history(vm, int(t_on) + 1)["samples"]
                          if s["cpu"]["used_pct"] is not None]) >= 2, timeout=40)
    for s in history(vm)["samples"]:
        rates = [s["cpu"]["used_pct"], s["cpu"]["ready_pct"]] + \
            [d[k] for d in s["disks"] for k in ("read_iops", "write_iops", "read_kibps",
                                                 "write_kibps", "read_latency_ms",
                                                 "write_latency_ms")]
        check(all(r is None or r >= 0 for r in rates), f"negative rate in {s}")
    after = vm_latest(vm)
    check(after["cpu"]["used_seconds_total"] < used_before, "CPU counter did not restart")
    check(disk(after, "scsi0:0")["write_ops_total"] < writes_before + 256,
          "disk counters did not restart with QEMU")
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/off")


def test_metrics_no_auth():
    """--metrics-no-auth opens /metrics, and only /metrics, to anonymous scrapers."""
    other = Hostd(HOSTD, work.path, "hostB", DS, extra=["--stats-interval", "1",
                                                        "--metrics-no-auth"])
    hosts.append(other)
    other.start()
    req = urllib.request.Request(other.url + "/metrics")
    text = wait_for("a first round on hostB", lambda: (lambda t: t if "vireo_host_cpu_count" in t
                                                        else None)(
        urllib.request.urlopen(req, timeout=10).read().decode()), timeout=10)
    samples, types = parse_prometheus(text)
    check(samples.get(("vireo_host_cpu_count", ())) == os.cpu_count(),
          f"host CPUs in /metrics: {samples.get(('vireo_host_cpu_count', ()))}")
    status, _ = other.request("GET", "/api/v1/stats", auth=False)
    check(status == 401, f"/api/v1/stats without a token on hostB: {status}")
    other.stop()


def top_interactive():
    """The live view on a terminal: draws the VM, sorts on a key, quits on q."""
    import pty
    import select
    h = host()
    master, slave = pty.openpty()
    env = dict(os.environ, VIREO_SERVER=h.url, XDG_CONFIG_HOME=os.path.join(work.path, "cli"),
               TERM="xterm")
    p = subprocess.Popen([CLI, "top", "-d", "1"], stdin=slave, stdout=slave, stderr=slave,
                         env=env, start_new_session=True)
    os.close(slave)
    out = b""

    def read_until(needle, timeout=20):
        nonlocal out
        end = time.monotonic() + timeout
        while needle not in out and time.monotonic() < end:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    break
        return needle in out
    try:
        check(read_until(b"stat01"), f"vireo top did not show the VM: {out[-2000:]!r}")
        check(b"%USED" in out and b"%RDY" in out and b"sort cpu" in out,
              f"vireo top header: {out[-2000:]!r}")
        os.write(master, b"n")
        check(read_until(b"sort name"), f"the n key did not sort by name: {out[-800:]!r}")
        os.write(master, b"q")
        check(p.wait(timeout=10) == 0, f"vireo top exit status {p.returncode}")
        read_until(b"\033[?1049l", timeout=2)
        check(b"\033[?1049l" in out, "vireo top did not restore the screen")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rc = 1
    try:
        hosts.append(Hostd(HOSTD, work.path, "hostA", DS,
                           extra=["--stats-interval", str(INTERVAL)]).start())
        cli("login", "--user", "admin", env_extra={"VIREO_PASSWORD": host().admin_password()})
        rc = run_tests([("statistics: CPU, disk, memory, history, /metrics, top", test_stats),
                        ("/metrics without authentication when asked", test_metrics_no_auth)])
    finally:
        log = ""
        try:
            with open(host().logfile, errors="replace") as f:
                log = f.read()
        except (OSError, IndexError):
            pass
        stop_hosts(hosts, work)
        if "Sanitizer" in log:
            i = log.index("Sanitizer")
            print(f"FAIL hostd reported a sanitizer error:\n{log[max(0, i - 200):i + 3000]}")
            rc = 1
    sys.exit(rc)
