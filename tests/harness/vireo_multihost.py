# SPDX-License-Identifier: Apache-2.0
"""A lab of N Vireo hosts on one machine, for tests of what spans hosts (shared
datastores, migration, HA, DRS).  See tests/harness/README.md.

The test process moves itself into a network and mount namespace of its own (the
lab) holding a bridge, the lab switch `lab0`, 10.77.0.254/24.  Each host gets a
network + mount namespace of its own, held by a small init process (this file run
with --host-init) and joined to the switch by a veth pair: `lab-hN` on the switch,
`eth0` with 10.77.0.N/24 in the host.  The host's init starts its hostd (so hostd,
the keepers and QEMU all live in the host's namespaces), reaps the keepers that
hostd leaves behind, as a real host's init does, and sees its own interfaces in
/sys/class/net.  All hosts share one datastore directory under one name.

    with Lab(HOSTD) as lab:
        a, b = lab.add_host("hostA"), lab.add_host("hostB")
        lab.start_all()
        a.task_ok("POST", "/api/v1/vms", {...})   # the vireo_harness.Hostd client
        a.cut_off(); a.restore(); a.kill(); a.crash(); a.start()

Nothing outside the lab's namespaces is touched; everything the lab made (processes,
namespaces, links, cgroups, files) is gone after close(), also when a test fails or
the test is stopped with SIGTERM or SIGINT.
"""
import contextlib
import ctypes
import errno
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from vireo_harness import Hostd, TestFailure, Workdir, check, wait_for  # noqa: E402

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
SUBNET = "10.77.0"
LAB_ADDR = f"{SUBNET}.254"
BRIDGE = "lab0"
API_PORT = 8443
MAX_HOSTS = 200

_libc = ctypes.CDLL(None, use_errno=True)


def _oserror(what):
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


def _unshare(flags):
    if _libc.unshare(flags) != 0:
        raise _oserror("unshare")


def _setns(fd, nstype):
    if _libc.setns(fd, nstype) != 0:
        raise _oserror("setns")


def _prctl(option, value):
    if _libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        raise _oserror("prctl")


def _run(*argv, ns_pid=None, mount_ns=False):
    """Runs a command (inside the namespaces of process ns_pid); raises with its output."""
    if ns_pid is not None:
        argv = ["nsenter", f"--net=/proc/{ns_pid}/ns/net"] + \
               ([f"--mount=/proc/{ns_pid}/ns/mnt"] if mount_ns else []) + ["--", *argv]
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise TestFailure(f"{' '.join(argv)} -> {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def _bind_own_sysfs():
    """In a mount namespace of its own: /sys/class/net and /sys/devices/virtual/net as
    this network namespace sees them (sysfs shows the namespace of whoever mounts it);
    the rest of /sys, such as /sys/fs/cgroup, stays as it is."""
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    tmp = tempfile.mkdtemp(prefix="vireo-lab-sysfs-")
    try:
        subprocess.run(["mount", "-t", "sysfs", "sysfs", tmp], check=True)
        try:
            for d in ("class/net", "devices/virtual/net"):
                subprocess.run(["mount", "--bind", os.path.join(tmp, d),
                                os.path.join("/sys", d)], check=True)
        finally:
            subprocess.run(["umount", tmp], check=True)
    finally:
        os.rmdir(tmp)


def proc_stat(pid):
    """(state, ppid, start time) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def process_running(pid):
    """Whether pid is a live process (a zombie is not)."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def netns_of(pid):
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def pids_in_netns(inode):
    """Every live process whose network namespace is `inode`."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and netns_of(int(name)) == inode and process_running(int(name)):
            out.append(int(name))
    return out


def cmdline_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


# ------------------------------------------------------------------ the host's init

class _HostedProcess:
    """A process the host's init started (hostd): what tests use of subprocess.Popen."""

    def __init__(self, host, pid, args):
        self.host, self.pid, self.args = host, pid, args
        self.returncode = None

    def poll(self):
        self.host._pump(0)
        return self.returncode

    def wait(self, timeout=None):
        end = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout)
            if self.host._sock is None:
                raise TestFailure(f"{self.host.name} is down: the end of hostd is unknown")
            self.host._pump(left if left is not None else 1.0)
        return self.returncode

    def send_signal(self, sig):
        if self.poll() is None:
            self.host._command({"signal": self.pid, "sig": int(sig)})

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)


def _host_init_main(sock_fd, parent):
    """The init of one host (run in the host's fresh network + mount namespace): its own
    /sys/class/net and loopback, then, on request, starts hostd and reports its end;
    reaps everything orphaned on this host.  Ends with the test (SIGTERM from the parent
    death signal), killing every process of its network namespace."""
    sock = socket.socket(fileno=sock_fd)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(1)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _bind_own_sysfs()
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    me, my_ns = os.getpid(), netns_of(os.getpid())

    def end(*_):
        for pid in pids_in_netns(my_ns):
            if pid != me:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        os._exit(0)

    signal.signal(signal.SIGTERM, end)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    started = set()
    sock.send(json.dumps({"ready": True}).encode())
    while True:
        try:
            r, _, _ = select.select([sock, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in r:
            os.read(wake_r, 4096)
        while True:  # reap every ended child and orphan
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in started:
                started.discard(pid)
                code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                sock.send(json.dumps({"exit": pid, "code": code}).encode())
        if sock in r:
            data = sock.recv(65536)
            if not data:
                end()
            msg = json.loads(data)
            if "spawn" in msg:
                pid = _spawn_child(msg["spawn"], msg["log"])
                started.add(pid)
                sock.send(json.dumps({"pid": pid}).encode())
            elif "signal" in msg:
                ok = msg["signal"] in started
                if ok:
                    os.kill(msg["signal"], msg["sig"])
                sock.send(json.dumps({"signalled": ok}).encode())


def _spawn_child(argv, logfile):
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            for s in (signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(s, signal.SIG_DFL)
            null = os.open("/dev/null", os.O_RDONLY)
            log = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.closerange(3, 65536)
            os.execv(argv[0], argv)
        except BaseException as e:  # noqa: BLE001 - the child must never return
            try:
                os.write(2, f"cannot start {argv[0]}: {e}\n".encode())
            finally:
                os._exit(127)
    return pid


# ------------------------------------------------------------------ one host

class LabHost(Hostd):
    """One host of the lab: a vireo_harness.Hostd (request, ok, task_ok, wait_task, vm,
    console_text, ...) reached at its lab address, with the operations of a machine."""

    def __init__(self, lab, index, name, extra=(), tls_cert=None, tls_key=None):
        self.lab = lab
        self.index = index
        self.addr = f"{SUBNET}.{index}"
        self.veth = f"lab-h{index}"  # its cable's end on the lab switch
        # Its NIC keeps its MAC across reboots, as hardware does: the other hosts' ARP
        # caches stay right (a new MAC would leave them sending to the old one for a while).
        self.mac = f"02:77:00:00:00:{index:02x}"
        self.cgroup_parent = f"vireo-lab{os.getpid()}-h{index}"
        super().__init__(lab.hostd_binary, lab.work.path, name, lab.datastore_dir,
                         extra=list(extra), tls_cert=tls_cert, tls_key=tls_key)
        self.port = API_PORT  # each host has its own stack: all use hostd's usual port
        self.init = None  # the host's init (subprocess.Popen), None while powered down
        self.netns = None  # inode of its network namespace
        self.is_cut_off = False
        self.cgroup_bases = set()  # where its hostd processes make their cgroups
        self._sock = None
        self._replies = []

    @property
    def url(self):
        return f"{'https' if self.tls_cert else 'http'}://{self.addr}:{self.port}"

    def command(self):
        return super().command() + [
            "--listen", self.addr, "--cgroup-parent", self.cgroup_parent,
            "--lock-renew-ms", str(self.lab.lock_renew_ms),
            "--lock-lease-ms", str(self.lab.lock_lease_ms)]

    # -- power: the namespaces and the host's init

    @property
    def powered(self):
        return self.init is not None

    def _boot(self):
        """Powers the machine on: fresh namespaces, cable to the lab switch, address.
        As after a reboot, the run folder (a tmpfs on real hosts) starts empty."""
        shutil.rmtree(self.run, ignore_errors=True)
        self.lab._remove_cgroups(self.cgroup_parent, self.cgroup_bases)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        parent = os.getpid()

        def enter_namespaces():
            _unshare(CLONE_NEWNET | CLONE_NEWNS)

        try:
            with open(os.path.join(self.lab.work.path, self.name, "init.log"), "ab") as log:
                self.init = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), "--host-init",
                     str(theirs.fileno()), str(parent)],
                    pass_fds=[theirs.fileno()], preexec_fn=enter_namespaces,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        finally:
            theirs.close()
        self._sock = ours
        self._replies = []
        msg = self._next_reply(30)
        check(msg.get("ready"), f"{self.name}: the host's init did not start: {msg}")
        self.netns = netns_of(self.init.pid)
        check(self.netns and self.netns != netns_of(os.getpid()),
              f"{self.name}: the host's init is not in a namespace of its own")
        _run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0",
             "address", self.mac, "netns", str(self.init.pid))
        _run("ip", "link", "set", self.veth, "master", BRIDGE)
        if not self.is_cut_off:
            _run("ip", "link", "set", self.veth, "up")
        _run("ip", "addr", "add", f"{self.addr}/24", "dev", "eth0", ns_pid=self.init.pid)
        _run("ip", "link", "set", "eth0", "up", ns_pid=self.init.pid)

    def _power_cut(self):
        """Every process of the host ends at once, as in a power failure: all are
        frozen first, so that no keeper sees its QEMU die and releases its lock."""
        if not self.init:
            return []
        init = self.init.pid
        stopped = set()
        while True:  # until no process was started between two scans
            new = [p for p in pids_in_netns(self.netns) if p not in stopped]
            if not new:
                break
            for p in new:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGSTOP)
            stopped.update(new)
        for p in stopped:
            if p != init:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(init, signal.SIGCONT)  # the init reaps what it can
        deadline = time.monotonic() + 30
        while [p for p in stopped if p != init and process_running(p)]:
            if time.monotonic() > deadline:
                raise TestFailure(f"{self.name}: processes survived SIGKILL: "
                                  f"{[p for p in stopped if process_running(p)]}")
            time.sleep(0.02)
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(OSError, TestFailure, subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        self.init.kill()
        self.init.wait()
        self.init = None
        self._sock.close()
        self._sock = None
        # Its cable goes with its namespace; removing our end now frees the name at once.
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)
        if self.proc is not None and self.proc.returncode is None:
            self.proc.returncode = -signal.SIGKILL
        self.token = None
        return sorted(stopped - {init})

    # -- talking to the host's init

    def _recv(self, timeout):
        r, _, _ = select.select([self._sock], [], [], max(timeout, 0))
        if not r:
            return None
        data = self._sock.recv(65536)
        if not data:
            raise TestFailure(f"{self.name}: the host's init ended")
        return json.loads(data)

    def _pump(self, timeout):
        """Takes in what the init reports (hostd's end): waits up to `timeout` seconds
        for a first message, then takes whatever else is already there."""
        if self._sock is None:
            return
        msg = self._recv(timeout)
        while msg is not None:
            self._take(msg)
            msg = self._recv(0)

    def _take(self, msg):
        if "exit" in msg:
            if self.proc is not None and self.proc.pid == msg["exit"]:
                self.proc.returncode = msg["code"]
        else:
            self._replies.append(msg)

    def _next_reply(self, timeout):
        end = time.monotonic() + timeout
        while not self._replies:
            left = end - time.monotonic()
            if left <= 0:
                raise TestFailure(f"{self.name}: the host's init does not answer")
            msg = self._recv(left)
            if msg is not None:
                self._take(msg)
        return self._replies.pop(0)

    def _command(self, msg, timeout=10):
        check(self._sock is not None, f"{self.name} is powered down")
        self._sock.send(json.dumps(msg).encode())
        return self._next_reply(timeout)

    def spawn(self, args):
        if not self.powered:
            self._boot()
        reply = self._command({"spawn": args, "log": self.logfile})
        with contextlib.suppress(OSError):
            self.cgroup_bases.update(self.lab._cgroup_bases(reply["pid"]))
        return _HostedProcess(self, reply["pid"], args)

    # -- operations

    def start(self):
        """Starts hostd (powering the machine on first if it is down)."""
        check(self.proc is None or self.proc.poll() is not None,
              f"{self.name}: hostd already runs")
        return super().start()

    def stop(self):
        """Stops hostd gracefully (SIGTERM); its VMs keep running under their keepers."""
        super().stop()
        self.token = None

    def kill(self):
        """SIGKILL to hostd only: its VMs keep running under their keepers."""
        check(self.hostd_running(), f"{self.name}: hostd is not running")
        self.proc.kill()
        self.proc.wait(timeout=30)
        self.token = None

    def crash(self):
        """The host dies: hostd, every keeper and every QEMU get SIGKILL at once, its
        network namespace goes.  start() boots it again (empty run folder, as after a
        reboot; the state folder and the datastore stay).  Returns the killed pids."""
        check(self.powered, f"{self.name} is already down")
        return self._power_cut()

    def cut_off(self):
        """Its cable is pulled at the lab switch (the veth end there goes down): nobody
        reaches it and it reaches nobody, while everything on it keeps running."""
        self.is_cut_off = True
        if self.powered:
            _run("ip", "link", "set", self.veth, "down")

    def restore(self):
        """Plugs the cable back in."""
        self.is_cut_off = False
        if self.powered:
            _run("ip", "link", "set", self.veth, "up")

    # -- looking at the host

    def hostd_running(self):
        return self.proc is not None and self.proc.poll() is None

    def processes(self):
        """{pid: argv[0] name} of every process of the host but its init: hostd,
        the keepers (vireo-shim), QEMUs and whatever they run."""
        if not self.powered:
            return {}
        return {p: os.path.basename(cmdline_of(p)[0].decode(errors="replace") or "?")
                for p in pids_in_netns(self.netns) if p != self.init.pid}

    def vm_pids(self, vm_id):
        """(qemu pid, keeper pid) of a running VM of this host, from its run folder and
        checked against the host's processes; None where there is none."""
        procs = self.processes()
        out = []
        for f in ("qemu.pid", "shim.pid"):
            try:
                with open(os.path.join(self.run, vm_id, f)) as fh:
                    pid = int(fh.read().strip())
            except (OSError, ValueError):
                pid = None
            out.append(pid if pid in procs else None)
        return tuple(out)

    def run_in(self, *argv, check_rc=True):
        """Runs a command inside the host's network and mount namespaces."""
        check(self.powered, f"{self.name} is powered down")
        argv = ["nsenter", f"--net=/proc/{self.init.pid}/ns/net",
                f"--mount=/proc/{self.init.pid}/ns/mnt", "--", *argv]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if check_rc and p.returncode != 0:
            raise TestFailure(f"on {self.name}: {' '.join(argv[4:])} -> {p.returncode}: "
                              f"{p.stderr.strip()}")
        return p

    def sanitizer_reports(self):
        """AddressSanitizer / UBSan / LeakSanitizer findings in hostd's log (LeakSanitizer
        reports only when hostd ends gracefully)."""
        try:
            with open(self.logfile, errors="replace") as f:
                text = f.read()
        except OSError:
            return []
        return [ln for ln in text.splitlines()
                if "ERROR: AddressSanitizer" in ln or "ERROR: LeakSanitizer" in ln
                or "runtime error:" in ln]


# ------------------------------------------------------------------ the lab

class Lab:
    """The lab switch and its hosts.  Create it before the test starts any thread."""

    def __init__(self, hostd_binary, prefix="vireo-lab-", lock_renew_ms=500,
                 lock_lease_ms=2000):
        self.hostd_binary = os.path.abspath(hostd_binary)
        self.lock_renew_ms, self.lock_lease_ms = lock_renew_ms, lock_lease_ms
        self.hosts = []
        self.closed = False
        self._cwd = os.getcwd()
        self._orig_ns = [os.open("/proc/self/ns/net", os.O_RDONLY),
                         os.open("/proc/self/ns/mnt", os.O_RDONLY)]
        self._old_signals = {}
        self.work = Workdir(prefix)
        try:
            _unshare(CLONE_NEWNET | CLONE_NEWNS)
            self._lab_netns_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
            _bind_own_sysfs()
            _run("ip", "link", "set", "lo", "up")
            _run("ip", "link", "add", BRIDGE, "type", "bridge")
            _run("ip", "addr", "add", f"{LAB_ADDR}/24", "dev", BRIDGE)
            _run("ip", "link", "set", BRIDGE, "up")
            self.datastore = "ds1"
            self.datastore_dir = os.path.join(self.work.path, "datastore")
            os.makedirs(self.datastore_dir)
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old_signals[s] = signal.signal(s, self._on_signal)
        except BaseException:
            self.close()
            raise

    def _on_signal(self, signum, _frame):
        raise SystemExit(128 + signum)  # unwinds through the test's finally / with

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add_host(self, name=None, extra=(), tls_cert=None, tls_key=None):
        """A new host (10.77.0.N, N = 1, 2, ...), powered down until start()."""
        index = len(self.hosts) + 1
        check(index <= MAX_HOSTS, "too many hosts")
        h = LabHost(self, index, name or f"host{index}", extra, tls_cert, tls_key)
        self.hosts.append(h)
        for var in ("no_proxy", "NO_PROXY"):  # the lab is never behind a proxy
            os.environ[var] = ",".join(filter(None, [os.environ.get(var), h.addr]))
        return h

    def host(self, key):
        """A host by index (0-based) or name."""
        return self.hosts[key] if isinstance(key, int) else \
            next(h for h in self.hosts if h.name == key)

    def start_all(self):
        for h in self.hosts:
            h.start()
        return self.hosts

    # -- the network, as seen from the lab or from a host

    @contextlib.contextmanager
    def in_host(self, host):
        """Sockets made inside this block belong to host's network namespace."""
        if host is None:
            yield
            return
        check(host.powered, f"{host.name} is powered down")
        fd = os.open(f"/proc/{host.init.pid}/ns/net", os.O_RDONLY)
        try:
            _setns(fd, CLONE_NEWNET)
            try:
                yield
            finally:
                _setns(self._lab_netns_fd, CLONE_NEWNET)
        finally:
            os.close(fd)

    def connect(self, addr, port=API_PORT, src=None, timeout=2.0):
        """Tries a TCP connection from the lab (or from host src): "ok", "refused",
        "timeout" or "unreachable"."""
        with self.in_host(src):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            s.connect((addr, port))
            return "ok"
        except ConnectionRefusedError:
            return "refused"
        except (socket.timeout, TimeoutError):
            return "timeout"
        except OSError as e:
            if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return "unreachable"
            raise
        finally:
            s.close()

    def reachable(self, host, src=None, timeout=2.0):
        """Whether host's API port answers (connection accepted or refused) from the lab
        or from host src."""
        return self.connect(host.addr, host.port, src, timeout) in ("ok", "refused")

    def http(self, addr, method, path, src=None, port=API_PORT, token=None, body=None,
             timeout=10.0):
        """One plain HTTP request from the lab or from host src: (status, parsed JSON)."""
        lab = self

        class Conn(http.client.HTTPConnection):
            def connect(self):
                with lab.in_host(src):
                    self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self.sock.settimeout(self.timeout)
                self.sock.connect((self.host, self.port))

        c = Conn(addr, port, timeout=timeout)
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            data = json.dumps(body).encode() if body is not None else None
            if data:
                headers["Content-Type"] = "application/json"
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            text = r.read()
            try:
                return r.status, json.loads(text) if text else None
            except ValueError:
                return r.status, text
        finally:
            c.close()

    # -- cgroups the hosts' hostd made (PARENT/<vm-uuid> under the test's own groups)

    def _cgroup_bases(self, pid="self"):
        """Where hostd may make its cgroups: for each hierarchy its root (hostd's
        default) and the group of process `pid` in it (src/host/resources/cgroup.c)."""
        mine = {}
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                hid, ctrls, path = line.rstrip("\n").split(":", 2)
                mine[ctrls] = path
        bases = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, right = line.split(" - ", 1)
                fs, _, opts = right.split()[:3]
                root, point = left.split()[3], left.split()[4]
                if fs == "cgroup2":
                    key = ""
                elif fs == "cgroup":
                    names = [o for o in opts.split(",") if o in (
                        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
                        "blkio", "perf_event", "net_prio", "hugetlb", "pids", "rdma",
                        "misc") or o.startswith("name=")]
                    key = next((k for k in mine if sorted(k.split(",")) == sorted(names)), None)
                else:
                    continue
                if key is None or key not in mine:
                    continue
                bases.append(point)
                rel = os.path.relpath(mine[key], root) if root != "/" else mine[key].lstrip("/")
                if rel.startswith(".."):
                    continue
                bases.append(os.path.normpath(os.path.join(point, rel)))
        return bases

    def _remove_cgroups(self, parent, bases=()):
        """Removes PARENT/* and PARENT under the test's groups and `bases` (those of the
        hostd processes: a test runner may move the test to another group after start)."""
        left = []
        for base in sorted(set(self._cgroup_bases()) | set(bases)):
            d = os.path.join(base, parent)
            if not os.path.isdir(d):
                continue
            for sub in os.listdir(d):
                if os.path.isdir(os.path.join(d, sub)):
                    try:
                        os.rmdir(os.path.join(d, sub))
                    except OSError:
                        left.append(os.path.join(d, sub))
            try:
                os.rmdir(d)
            except OSError:
                left.append(d)
        return left

    # -- the end

    def close(self):
        """Stops every hostd (gracefully, then the rest of each host by SIGKILL), removes
        the hosts' namespaces, links and cgroups, leaves the lab's namespaces and
        removes its folder.  Returns the sanitizer findings in the hostd logs."""
        if self.closed:
            return []
        self.closed = True
        for s in self._old_signals:  # a second Ctrl-C must not interrupt the clean-up
            signal.signal(s, signal.SIG_IGN)
        problems, reports = [], []
        for h in self.hosts:
            try:
                if h.hostd_running():
                    h.stop()
            except Exception as e:  # noqa: BLE001 - go on with the rest
                problems.append(f"{h.name}: stop: {e}")
            try:
                h._power_cut()
            except Exception as e:  # noqa: BLE001
                problems.append(f"{h.name}: power cut: {e}")
            left = self._remove_cgroups(h.cgroup_parent, h.cgroup_bases)
            if left:
                problems.append(f"{h.name}: cgroups left: {left}")
            reports += [f"{h.name}: {ln}" for ln in h.sanitizer_reports()]
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        try:  # back to the namespaces the test started in; the lab's then vanish
            _setns(self._orig_ns[0], CLONE_NEWNET)
            _setns(self._orig_ns[1], CLONE_NEWNS)
            os.chdir(self._cwd)
        except OSError as e:
            problems.append(f"cannot leave the lab's namespaces: {e}")
        for fd in self._orig_ns + [getattr(self, "_lab_netns_fd", -1)]:
            if fd >= 0:
                os.close(fd)
        self.work.cleanup()
        for s, old in self._old_signals.items():
            signal.signal(s, old)
        for r in reports:
            print(f"sanitizer: {r}", flush=True)
        if problems:
            raise TestFailure("lab clean-up: " + "; ".join(problems))
        return reports


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--host-init":
    _host_init_main(int(sys.argv[2]), int(sys.argv[3]))
