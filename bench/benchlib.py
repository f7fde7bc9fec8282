# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of Vireo's benchmarks (Python 3 stdlib only).

Three "peers" start the same guest on the same accelerator (TCG):
  HostdPeer   - vireo-hostd, driven over its REST API
  LibvirtPeer - libvirtd (qemu:///system), driven with virsh
  BarePeer    - qemu-system-x86_64 spawned by hand, driven over QMP (bare_qemu.py)
plus statistics, /proc sampling and the machine facts for the report.
"""
import datetime
import json
import math
import os
import platform
import pwd
import grp
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import vireo_harness as vh  # noqa: E402  (reused HTTP client for hostd)
import bare_qemu  # noqa: E402

CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
READY = b"VIREO-GUEST-READY"
VIRSH = ["virsh", "-q", "-c", "qemu:///system"]
LIBVIRT_IMAGES = "/var/lib/libvirt/images/vireo-bench"
POLL_S = 0.002  # how often log files / tasks are polled


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class BenchError(Exception):
    pass


# ------------------------------------------------------------------ statistics
def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(1, math.ceil(p / 100.0 * len(s)))
    return s[k - 1]


def summary(values):
    if not values:
        return None
    s = sorted(values)
    n = len(s)
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0
    return {"n": n, "median": med, "p90": percentile(s, 90), "min": s[0], "max": s[-1],
            "mean": sum(s) / n}


# ------------------------------------------------------------------ /proc sampling
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def proc_pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def proc_cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def proc_sched_ns(pid):
    """Per-thread CPU time in ns (/proc/PID/task/TID/schedstat, first field)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[tid] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


def sched_delta_ns(before, after):
    return sum(v - before.get(t, 0) for t, v in after.items())


def proc_mem(pid):
    return {"rss_kib": proc_status_kib(pid, "VmRSS"), "pss_kib": proc_pss_kib(pid),
            "threads": proc_status_kib(pid, "Threads")}


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, timeout):
    end = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------ console logs
def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def wait_ready(path, offset, t0, timeout):
    """Polls PATH (from byte OFFSET) until READY shows up; returns seconds since t0."""
    end = t0 + timeout
    tail = b""
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
            if data:
                offset += len(data)
                tail = (tail + data)[-4096:]
                if READY in tail:
                    return time.monotonic() - t0
        except FileNotFoundError:
            pass
        if time.monotonic() > end:
            raise BenchError(f"no {READY.decode()} in {path} after {timeout:.0f} s")
        time.sleep(POLL_S)


def run(cmd, check=True, timeout=120):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


# ------------------------------------------------------------------ hostd
class _Hostd(vh.Hostd):
    """The test harness's hostd, started with the production defaults
    (default lock timers, --log-level warn) instead of the test timers."""

    def start(self):
        args = [self.binary, "--state-dir", self.state, "--run-dir", self.run,
                "--port", str(self.port), "--host-name", self.name,
                "--datastore", f"ds1={self.datastore_dir}", "--log-level", "warn"] + self.extra
        self.argv = args
        log_f = open(self.logfile, "ab")
        self.proc = subprocess.Popen(args, stdout=log_f, stderr=log_f, start_new_session=True)
        log_f.close()
        vh.wait_for(f"hostd {self.name} to answer", self._healthy, timeout=30, interval=0.05)
        self.login()
        return self


class HostdPeer:
    label = "vireo-hostd"

    def __init__(self, binary, guest_dir, workdir):
        self.binary = os.path.abspath(binary)
        self.workdir = os.path.join(workdir, "hostd")
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.ds = os.path.join(self.workdir, "ds1")
        os.makedirs(self.ds)
        self.kernel, self.initrd = vh.copy_guest_to_datastore(guest_dir, self.ds)
        self.h = _Hostd(self.binary, self.workdir, "bench-host", self.ds)
        self.vms = {}  # id -> {"name", "pid"}

    def start(self):
        self.h.start()
        log(f"hostd pid {self.h.proc.pid} on port {self.h.port}: {' '.join(self.h.argv)}")
        return self

    @property
    def pid(self):
        return self.h.proc.pid

    def daemon_pids(self):
        return {"vireo-hostd": self.pid}

    def create(self, name, memory_mib):
        t = self.h.task_ok("POST", "/api/v1/vms", {
            "name": name, "datastore": "ds1", "memory_mib": memory_mib, "vcpus": 1,
            "boot": {"kernel": self.kernel, "initrd": self.initrd, "cmdline": CMDLINE}})
        vm_id = t["result"]["id"]
        self.vms[vm_id] = {"name": name, "pid": None}
        return vm_id

    def console_log(self, vm_id):
        return os.path.join(self.ds, self.vms[vm_id]["name"], "console.log")

    def power_on_request(self, vm_id):
        return self.h.ok("POST", f"/api/v1/vms/{vm_id}/power/on")["task"]

    def wait_task(self, task_id):
        t = self.h.wait_task(task_id, timeout=300)
        if t["state"] != "success":
            raise BenchError(f"hostd task {task_id} failed: {t.get('error')}")
        return t

    def power_on(self, vm_id):
        """Returns (seconds from the request to the task's success, QEMU pid)."""
        t0 = time.monotonic()
        task = self.power_on_request(vm_id)
        t = self.wait_task(task)
        dt = time.monotonic() - t0
        self.vms[vm_id]["pid"] = t["result"]["pid"]
        return t0, dt

    def qemu_pid(self, vm_id):
        return self.vms[vm_id]["pid"]

    def metric(self, name):
        """One unlabelled sample of hostd's /metrics (Prometheus text), or None."""
        import urllib.request
        req = urllib.request.Request(self.h.url + "/metrics")
        req.add_header("Authorization", "Bearer " + self.h.token)
        with urllib.request.urlopen(req, timeout=30) as r:
            for line in r.read().decode().splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] == name:
                    return float(parts[1])
        return None

    def power_off(self, vm_ids):
        tasks = [self.h.ok("POST", f"/api/v1/vms/{v}/power/off")["task"] for v in vm_ids]
        for t in tasks:
            self.wait_task(t)
        for v in vm_ids:
            pid = self.vms[v]["pid"]
            if pid and not wait_gone(pid, 20):
                log(f"QEMU {pid} of hostd VM {v} still there after power off; killing it")
                kill_pid(pid)
            self.vms[v]["pid"] = None

    def noop_request_s(self):
        """One cheap authenticated request (client-side fixed cost)."""
        t0 = time.monotonic()
        self.h.ok("GET", "/api/v1/health")
        return time.monotonic() - t0

    def stop(self):
        running = [v for v, d in self.vms.items() if d["pid"] and pid_alive(d["pid"])]
        if running and self.h.proc and self.h.proc.poll() is None:
            try:
                self.power_off(running)
            except Exception as e:  # noqa: BLE001
                log(f"power off at stop failed: {e}")
        for d in self.vms.values():
            if d["pid"] and pid_alive(d["pid"]):
                kill_pid(d["pid"])
        self.h.stop()


# ------------------------------------------------------------------ libvirt
def _read_pidfile(path):
    try:
        with open(path) as f:
            pid = int(f.read().strip())
        return pid if pid_alive(pid) else None
    except (OSError, ValueError):
        return None


class LibvirtPeer:
    label = "libvirt"

    def __init__(self, guest_dir, workdir):
        self.workdir = os.path.join(workdir, "libvirt")
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(self.workdir)
        self.started = {}  # name -> Popen of daemons we started
        self.preexisting = False
        self.kvm_shim = False
        self.domains = {}  # name -> {"pid"}
        os.makedirs(LIBVIRT_IMAGES, exist_ok=True)
        os.chmod(LIBVIRT_IMAGES, 0o755)
        for f in ("vmlinuz", "initrd.img"):
            shutil.copy(os.path.join(guest_dir, f), os.path.join(LIBVIRT_IMAGES, f))
            os.chmod(os.path.join(LIBVIRT_IMAGES, f), 0o644)
        self.kernel = os.path.join(LIBVIRT_IMAGES, "vmlinuz")
        self.initrd = os.path.join(LIBVIRT_IMAGES, "initrd.img")
        self.xml = {}

    # --- daemons
    def _answering(self):
        return run(VIRSH + ["version"], check=False, timeout=20).returncode == 0

    def _qemu_user_can_use_kvm(self):
        """Whether libvirt's QEMU user can open /dev/kvm (as on a stock Debian host,
        where udev makes it 0660 root:kvm and libvirt-qemu is in group kvm)."""
        try:
            st = os.stat("/dev/kvm")
        except FileNotFoundError:
            return True  # no /dev/kvm at all: libvirt is consistent by itself
        try:
            pw = pwd.getpwnam("libvirt-qemu")
        except KeyError:
            return True
        gids = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if "libvirt-qemu" in g.gr_mem}
        if st.st_uid == pw.pw_uid and st.st_mode & 0o600 == 0o600:
            return True
        return st.st_gid in gids and st.st_mode & 0o060 == 0o060

    def start(self):
        if self._answering():
            self.preexisting = True
            log("libvirt already answers on qemu:///system: using the running daemon "
                "(not started, not stopped by the benchmark)")
            return self
        if not _read_pidfile("/run/virtlogd.pid"):
            lf = open(os.path.join(self.workdir, "virtlogd.out"), "ab")
            p = subprocess.Popen(["virtlogd"], stdout=lf, stderr=lf, start_new_session=True)
            self.started["virtlogd"] = p
            for _ in range(200):
                if os.path.exists("/run/libvirt/virtlogd-sock"):
                    break
                time.sleep(0.025)
        cmd = ["libvirtd"]
        if not self._qemu_user_can_use_kvm():
            # This host's /dev/kvm is root-only (0600).  libvirt's capability probe
            # then sees KVM "enabled" while its access check for libvirt-qemu says
            # "not usable", so it throws its capability cache away and re-probes QEMU
            # (~3.6 s here) on every start.  Show libvirtd (only libvirtd, in a
            # private mount namespace) the stock Debian node 0660 root:kvm instead.
            # Domains still use TCG (<domain type='qemu'>).
            node = os.path.join(self.workdir, "kvm-node")
            if os.path.exists(node):
                os.unlink(node)
            st = os.stat("/dev/kvm")
            os.mknod(node, 0o660 | stat.S_IFCHR, st.st_rdev)
            os.chown(node, 0, grp.getgrnam("kvm").gr_gid)
            os.chmod(node, 0o660)
            cmd = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                   f"mount --bind '{node}' /dev/kvm && exec libvirtd"]
            self.kvm_shim = True
        lf = open(os.path.join(self.workdir, "libvirtd.out"), "ab")
        p = subprocess.Popen(cmd, stdout=lf, stderr=lf, start_new_session=True)
        self.started["libvirtd"] = p
        end = time.monotonic() + 60
        while not self._answering():
            if p.poll() is not None:
                raise BenchError(f"libvirtd exited with {p.returncode}; see "
                                 f"{self.workdir}/libvirtd.out")
            if time.monotonic() > end:
                raise BenchError("libvirtd did not answer in 60 s")
            time.sleep(0.05)
        log(f"started libvirtd pid {p.pid}"
            + (f", virtlogd pid {self.started['virtlogd'].pid}" if "virtlogd" in self.started
               else "") + (" (private /dev/kvm 0660 root:kvm)" if self.kvm_shim else ""))
        return self

    def daemon_pids(self):
        pids = {}
        if "libvirtd" in self.started:
            pids["libvirtd"] = self.started["libvirtd"].pid
        else:
            pids["libvirtd"] = _read_pidfile("/run/libvirtd.pid")
        if "virtlogd" in self.started:
            pids["virtlogd"] = self.started["virtlogd"].pid
        else:
            pids["virtlogd"] = _read_pidfile("/run/virtlogd.pid")
        for extra in ("virtqemud", "virtlockd"):  # modular daemons / lock daemon, if any
            pid = _read_pidfile(f"/run/{extra}.pid")
            if pid:
                pids[extra] = pid
        return {k: v for k, v in pids.items() if v}

    # --- domains
    def domain_xml(self, name, memory_mib):
        """Same machine, CPU, memory, kernel/initrd/cmdline and device set as hostd's
        QEMU command line (tests/data/vmx/guest-image.args): q35 + TCG, -cpu max,
        -nodefaults, serial on a unix socket with a log file, virtio-serial with the
        guest-agent port, virtio-balloon, virtio-rng; no disk, no NIC.  Devices sit on
        pcie.0 like hostd's (libvirt would otherwise add pcie-root-ports)."""
        d = os.path.join(LIBVIRT_IMAGES, name)
        return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{self.kernel}</kernel>
    <initrd>{self.initrd}</initrd>
    <cmdline>{CMDLINE}</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='maximum'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <controller type='virtio-serial' index='0'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </controller>
    <serial type='unix'>
      <source mode='bind' path='{d}.console.sock'/>
      <log file='{d}.console.log' append='on'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <source mode='bind' path='{d}.qga.sock'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <memballoon model='virtio'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </memballoon>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>
    </rng>
  </devices>
</domain>
"""

    def create(self, name, memory_mib):
        run(VIRSH + ["destroy", name], check=False)
        run(VIRSH + ["undefine", name], check=False)
        xml = self.domain_xml(name, memory_mib)
        path = os.path.join(self.workdir, name + ".xml")
        with open(path, "w") as f:
            f.write(xml)
        self.xml[name] = xml
        for suffix in (".console.log", ".console.sock", ".qga.sock"):
            try:
                os.unlink(os.path.join(LIBVIRT_IMAGES, name + suffix))
            except FileNotFoundError:
                pass
        run(VIRSH + ["define", path])
        self.domains[name] = {"pid": None}
        return name

    def console_log(self, name):
        return os.path.join(LIBVIRT_IMAGES, name + ".console.log")

    def power_on(self, name):
        """`virsh start` returns after libvirt sent `cont` (vCPUs running)."""
        t0 = time.monotonic()
        r = subprocess.run(VIRSH + ["start", name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        dt = time.monotonic() - t0
        if r.returncode != 0:
            raise BenchError(f"virsh start {name} failed: {r.stderr.strip()}")
        self.domains[name]["pid"] = _read_pidfile(f"/run/libvirt/qemu/{name}.pid")
        return t0, dt

    def qemu_pid(self, name):
        return self.domains[name]["pid"]

    def power_off(self, names):
        procs = [subprocess.Popen(VIRSH + ["destroy", n], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for n in names]
        for p in procs:
            p.wait()
        for n in names:
            pid = self.domains[n]["pid"]
            if pid and not wait_gone(pid, 20):
                log(f"QEMU {pid} of libvirt domain {n} still there after destroy; killing it")
                kill_pid(pid)
            self.domains[n]["pid"] = None

    def noop_request_s(self):
        """One `virsh domstate` (client-side fixed cost: exec, connect, auth)."""
        name = next(iter(self.domains), None)
        t0 = time.monotonic()
        run(VIRSH + (["domstate", name] if name else ["version"]))
        return time.monotonic() - t0

    def version(self):
        r = run(VIRSH + ["version"], check=False)
        return r.stdout.strip()

    def stop(self):
        names = list(self.domains)
        if names and self._answering():
            try:
                self.power_off(names)
            except Exception as e:  # noqa: BLE001
                log(f"libvirt power off at stop failed: {e}")
            for n in names:
                run(VIRSH + ["undefine", n], check=False)
        for d in self.domains.values():
            if d["pid"] and pid_alive(d["pid"]):
                kill_pid(d["pid"])
        for n in names:  # libvirt keeps a per-domain log after undefine
            for f in (f"/var/log/libvirt/qemu/{n}.log", f"/var/log/libvirt/qemu/{n}.log.1"):
                try:
                    os.unlink(f)
                except FileNotFoundError:
                    pass
        shutil.rmtree(LIBVIRT_IMAGES, ignore_errors=True)
        self.domains = {}
        for name in ("libvirtd", "virtlogd"):
            p = self.started.pop(name, None)
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


# ------------------------------------------------------------------ bare QEMU
class BarePeer:
    """qemu-system-x86_64 started by hand with hostd's own argv (read from the QEMU
    hostd launched, paths moved to this peer's folder): the floor."""
    label = "bare QEMU"

    def __init__(self, argv_from_hostd, hostd_run_dir, hostd_console_log, workdir):
        self.dir = os.path.join(workdir, "bare")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir, mode=0o755)
        self.console = os.path.join(self.dir, "console.log")
        self.argv = []
        for a in argv_from_hostd:
            a = a.replace(hostd_console_log, self.console).replace(hostd_run_dir, self.dir)
            self.argv.append(a)
        if self.argv[0] != "qemu-system-x86_64" and not os.path.isabs(self.argv[0]):
            raise BenchError(f"unexpected QEMU argv: {self.argv[:3]}")
        self.qmp_sock = os.path.join(self.dir, "qmp.sock")
        self.vm = None
        self.last = None

    def console_log(self, _vm=None):
        return self.console

    def power_on(self, _vm=None):
        for f in ("qmp.sock", "console.sock", "qga.sock", "qemu.pid"):
            try:
                os.unlink(os.path.join(self.dir, f))
            except FileNotFoundError:
                pass
        t0 = time.monotonic()
        self.vm = bare_qemu.BareQemu(self.argv, self.qmp_sock,
                                     os.path.join(self.dir, "qemu.out"))
        r = self.vm.start()
        self.last = r
        return t0, r["running_s"]

    def qemu_pid(self, _vm=None):
        return self.vm.proc.pid if self.vm else None

    def power_off(self, _vms=None):
        if self.vm:
            self.vm.stop()
            self.vm = None

    def stop(self):
        self.power_off()


# ------------------------------------------------------------------ machine facts
def first_line(cmd):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else ""
    except (OSError, subprocess.TimeoutExpired):
        return "(not available)"


def machine_facts(hostd_binary):
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = proc_meminfo("MemTotal")
    debian = ""
    try:
        debian = open("/etc/debian_version").read().strip()
    except OSError:
        pass
    kvm_mod = "kvm_pvm" if os.path.exists("/sys/module/kvm_pvm") else (
        "kvm_intel" if os.path.exists("/sys/module/kvm_intel") else (
            "kvm_amd" if os.path.exists("/sys/module/kvm_amd") else "none"))
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": model,
        "cpus_online": os.cpu_count(),
        "mem_total_mib": mem_kib // 1024 if mem_kib else None,
        "kernel": platform.release(),
        "os": f"Debian {debian}" if debian else platform.platform(),
        "qemu": first_line(["qemu-system-x86_64", "--version"]),
        "libvirtd": first_line(["libvirtd", "--version"]),
        "virsh": first_line(["virsh", "--version"]),
        "hostd": first_line([hostd_binary, "--version"]) + f" ({os.path.abspath(hostd_binary)}, "
                 + datetime.datetime.fromtimestamp(os.path.getmtime(hostd_binary),
                                                   datetime.timezone.utc).strftime(
                     "built %Y-%m-%d %H:%M UTC") + ")",
        "python": platform.python_version(),
        "kvm_module": kvm_mod,
        "accelerator": "TCG (software emulation) for every VM: /dev/kvm here is PVM "
                       "(kvm_pvm), which cannot run ordinary guests",
    }


def proc_meminfo(field):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    # python3 bench/benchlib.py facts HOSTD_BINARY OUT_JSON
    if len(sys.argv) == 4 and sys.argv[1] == "facts":
        write_json(sys.argv[3], machine_facts(sys.argv[2]))
        sys.exit(0)
    print("usage: benchlib.py facts HOSTD_BINARY OUT_JSON", file=sys.stderr)
    sys.exit(2)
