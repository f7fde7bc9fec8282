# SPDX-License-Identifier: Apache-2.0
"""Helpers for Vireo's end-to-end tests: start/stop hostd, call its API, wait."""
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, fn, timeout=60.0, interval=0.2):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise TestFailure(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


class Hostd:
    """One vireo-hostd process with its own state and run folders."""

    def __init__(self, binary, workdir, name, datastore_dir, extra=(), tls_cert=None,
                 tls_key=None):
        """With tls_cert and tls_key hostd serves HTTPS; requests trust tls_cert."""
        self.binary = binary
        self.name = name
        self.state = os.path.join(workdir, name, "state")
        self.run = os.path.join(workdir, name, "run")
        self.logfile = os.path.join(workdir, name, "hostd.log")
        self.datastore_dir = datastore_dir
        self.port = free_port()
        self.extra = list(extra)
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.ssl_context = ssl.create_default_context(cafile=tls_cert) if tls_cert else None
        self.proc = None
        self.token = None
        self.timeout = 120  # seconds an API request may take
        os.makedirs(os.path.join(workdir, name), exist_ok=True)

    @property
    def url(self):
        return f"{'https' if self.tls_cert else 'http'}://127.0.0.1:{self.port}"

    def command(self):
        """hostd's argv (subclasses add options)."""
        args = [self.binary, "--state-dir", self.state, "--run-dir", self.run,
                "--port", str(self.port), "--host-name", self.name,
                "--datastore", f"ds1={self.datastore_dir}",
                "--lock-renew-ms", "500", "--lock-lease-ms", "2000"] + self.extra
        if self.tls_cert:
            args += ["--tls-cert", self.tls_cert, "--tls-key", self.tls_key]
        return args

    def spawn(self, args):
        """Starts hostd with its output appended to the log; returns a Popen-like object
        (pid, poll, wait, terminate, kill, returncode).  Subclasses start it elsewhere."""
        with open(self.logfile, "ab") as log:
            return subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)

    def start(self):
        self.proc = self.spawn(self.command())
        wait_for(f"hostd {self.name} to answer", self._healthy, timeout=30)
        self.login()
        return self

    def _healthy(self):
        if self.proc.poll() is not None:
            raise TestFailure(f"hostd {self.name} exited with {self.proc.returncode}; "
                              f"log:\n{open(self.logfile).read()[-3000:]}")
        try:
            status, _ = self.request("GET", "/api/v1/health", auth=False)
            return status == 200
        except OSError:
            return False

    def admin_password(self):
        with open(os.path.join(self.state, "initial-admin-password")) as f:
            return f.read().strip()

    def login(self):
        status, body = self.request("POST", "/api/v1/sessions",
                                    {"username": "admin", "password": self.admin_password()},
                                    auth=False)
        check(status == 201, f"login failed: {status} {body}")
        self.token = body["token"]

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def request(self, method, path, body=None, auth=True, raw=None, headers=None, token=None):
        """token: another session's token instead of this admin's."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth and (token or self.token):
            req.add_header("Authorization", "Bearer " + (token or self.token))
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout,
                                        context=self.ssl_context) as r:
                text = r.read()
                return r.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text

    def ok(self, method, path, body=None, expect=(200, 201, 202, 204)):
        status, reply = self.request(method, path, body)
        check(status in expect, f"{method} {path} -> {status} {reply}")
        return reply

    def wait_task(self, task_id, timeout=180):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            t = self.ok("GET", f"/api/v1/tasks/{task_id}?wait_ms=5000")
            if t["state"] in ("success", "error"):
                return t
        raise TestFailure(f"task {task_id} did not finish in {timeout} s")

    def task_ok(self, method, path, body=None, timeout=180):
        reply = self.ok(method, path, body)
        t = self.wait_task(reply["task"], timeout)
        check(t["state"] == "success", f"{method} {path}: task failed: {t.get('error')}")
        return t

    def task_error(self, method, path, body=None, timeout=180):
        reply = self.ok(method, path, body)
        t = self.wait_task(reply["task"], timeout)
        check(t["state"] == "error", f"{method} {path}: task should have failed: {t}")
        return t["error"]

    def vm(self, vm_id):
        return self.ok("GET", f"/api/v1/vms/{vm_id}")

    def console_text(self, vm_id):
        return self.ok("GET", f"/api/v1/vms/{vm_id}/console/log?bytes=1048576")["text"]

    def wait_console(self, vm_id, needle, count=1, timeout=90):
        try:
            return wait_for(f"{needle!r} x{count} on the console of {vm_id}",
                            lambda: self.console_text(vm_id).count(needle) >= count, timeout)
        except TestFailure as e:
            # What the guest and hostd said, for whoever reads the failure.
            try:
                text = self.console_text(vm_id)
                st, vm = self.request("GET", f"/api/v1/vms/{vm_id}")
                state = vm.get("power_state") if st == 200 and isinstance(vm, dict) else st
                log = open(self.logfile, errors="replace").read()[-2000:]
            except (OSError, TestFailure) as why:
                raise TestFailure(f"{e}; no more detail: {why}") from None
            raise TestFailure(f"{e}\nVM power state: {state}\nconsole, last 1500 characters:\n"
                              f"{text[-1500:]}\nhostd's log, last 2000 characters:\n{log}"
                              ) from None


class Center(Hostd):
    """One vireo-center process: its own state folder, SQLite by default or the database
    location `db` (a PostgreSQL connection string).  The first admin's password is set
    through the environment, so tests know it; `self.password`."""

    PASSWORD = "center-admin-pw-1"

    def __init__(self, binary, workdir, name="center", db=None, extra=(), listen="127.0.0.1"):
        super().__init__(binary, workdir, name, datastore_dir=None, extra=extra)
        self.db = db
        self.listen = listen
        self.password = self.PASSWORD
        self.logfile = os.path.join(workdir, name, "center.log")

    @property
    def url(self):
        return f"http://{self.listen}:{self.port}"

    def command(self):
        args = [self.binary, "--state-dir", self.state, "--listen", self.listen,
                "--port", str(self.port), "--login-failure-delay-ms", "0",
                "--heartbeat-ms", "1000", "--not-responding-ms", "4000"]
        if self.db:
            args += ["--db", self.db]
        return args + self.extra

    def spawn(self, args):
        env = dict(os.environ, VIREO_INITIAL_ADMIN_PASSWORD=self.password)
        with open(self.logfile, "ab") as log:
            return subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True,
                                    env=env)

    def start(self):
        self.proc = self.spawn(self.command())
        wait_for(f"center {self.name} to answer", self._healthy, timeout=30)
        self.login()
        return self

    def admin_password(self):
        return self.password

    def login_as(self, user, password):
        """A session token of another user (None when refused)."""
        status, body = self.request("POST", "/api/v1/sessions",
                                    {"username": user, "password": password}, auth=False)
        return body["token"] if status == 201 else None

    def wait_task(self, task_id, timeout=180):
        end = time.monotonic() + timeout
        t = None
        while time.monotonic() < end:
            t = self.ok("GET", f"/api/v1/tasks/{task_id}?wait_ms=5000")
            if t["state"] in ("succeeded", "failed"):
                return t
        try:
            log = open(self.logfile, errors="replace").read()[-4000:]
        except OSError as e:
            log = f"(no log: {e})"
        raise TestFailure(f"task {task_id} did not finish in {timeout} s: {t}\n"
                          f"center's log, last 4000 characters:\n{log}")

    def task_ok(self, method, path, body=None, timeout=180):
        reply = self.ok(method, path, body)
        t = self.wait_task(reply["task"], timeout)
        check(t["state"] == "succeeded", f"{method} {path}: task failed: {t.get('error')}")
        return t

    def task_error(self, method, path, body=None, timeout=180):
        reply = self.ok(method, path, body)
        t = self.wait_task(reply["task"], timeout)
        check(t["state"] == "failed", f"{method} {path}: task should have failed: {t}")
        return t["error"]

    def add_host(self, hostd, parent, user="admin", password=None, ca_file=None):
        """Joins a hostd (ca_file: the CA of its HTTPS certificate); returns the host's
        inventory id (host-N)."""
        spec = {"url": hostd.url, "username": user,
                "password": password or hostd.admin_password(), "parent": parent}
        if ca_file:
            spec["ca_file"] = ca_file
        t = self.task_ok("POST", "/api/v1/hosts", spec)
        return t["result"]["host"]

    def create(self, kind, parent, name):
        return self.ok("POST", "/api/v1/inventory",
                       {"kind": kind, "parent": parent, "name": name})["id"]


def make_self_signed_cert(directory, name="vireo-test", ip="127.0.0.1"):
    """A self-signed certificate for ip made with the openssl CLI: (cert, key) paths."""
    cert = os.path.join(directory, f"{name}.crt")
    key = os.path.join(directory, f"{name}.key")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                        "-subj", f"/CN={name}", "-addext", f"subjectAltName=IP:{ip}",
                        "-keyout", key, "-out", cert], capture_output=True, text=True)
    check(p.returncode == 0, f"openssl req failed: {p.stderr}")
    return cert, key


def tree_snapshot(path):
    """Every file and folder under path with its mode and, for files, its SHA-256."""
    snap = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            digest = None
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            snap[os.path.relpath(full, path)] = (st.st_mode, st.st_size, digest)
    return snap


def tree_diff(before, after):
    """What changed between two tree_snapshot()s, for messages."""
    return {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
            if before.get(k) != after.get(k)}


def stop_hosts(hosts, work):
    """End of a test file: powers off what still runs (best effort), stops every
    hostd, removes the work folder."""
    for h in hosts:
        if h.proc and h.proc.poll() is None and h.token:
            try:
                for v in h.ok("GET", "/api/v1/vms")["vms"]:
                    if v["power_state"] == "poweredOn":
                        h.request("POST", f"/api/v1/vms/{v['id']}/power/off")
            except Exception:  # noqa: BLE001 - best effort
                pass
        h.stop()
    work.cleanup()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


class Workdir:
    def __init__(self, prefix):
        base = os.environ.get("VIREO_TEST_TMPDIR", tempfile.gettempdir())
        self.path = tempfile.mkdtemp(prefix=prefix, dir=base)
        # QEMU drops to an unprivileged user and must still reach the VM folders
        # (new snapshot deltas are opened after that): traversable, not listable.
        os.chmod(self.path, 0o711)

    def cleanup(self):
        if os.environ.get("VIREO_TEST_KEEP"):  # for debugging: keep logs and files
            print(f"kept {self.path}", flush=True)
            return
        shutil.rmtree(self.path, ignore_errors=True)


def guest_files(guest_dir):
    k = os.path.join(guest_dir, "vmlinuz")
    i = os.path.join(guest_dir, "initrd.img")
    for f in (k, i):
        check(os.path.exists(f), f"the guest image is missing: {f} (run `make guest`)")
    return k, i


def copy_guest_to_datastore(guest_dir, ds_dir):
    k, i = guest_files(guest_dir)
    dst = os.path.join(ds_dir, "guest-image")
    os.makedirs(dst, exist_ok=True)
    shutil.copy(k, dst)
    shutil.copy(i, dst)
    return os.path.join(dst, "vmlinuz"), os.path.join(dst, "initrd.img")


def run_tests(tests):
    """Runs named test functions; prints one line each and the closing count."""
    passed = failed = 0
    only = os.environ.get("VIREO_E2E_ONLY")  # run only tests whose name contains this
    for name, fn in tests:
        if only and only not in name:
            continue
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"PASS {name} ({time.monotonic() - t0:.1f} s)", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure the same way
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - t0:.1f} s): {type(e).__name__}: {e}",
                  flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


class PgServer:
    """A throw-away PostgreSQL server from Debian's package: initdb in a temporary folder,
    run as "nobody" (the server refuses root), listening only on a unix socket there,
    superuser "vireo" with trust authentication.  `location(db)` is a libpq connection
    string; `createdb(name)` makes a database."""

    def __init__(self, workdir):
        import glob
        import pwd
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                      key=lambda p: int(p.split("/")[4]))
        check(bins, "PostgreSQL is not installed (scripts/install-deps.sh installs it)")
        self.bindir = os.path.dirname(bins[-1])
        # Its own folder under /tmp: the server runs as nobody, who cannot enter the
        # test's work folder (0700).  `workdir` is unused, kept for symmetry.
        self.dir = tempfile.mkdtemp(prefix="vireo-pg-")
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
        os.chown(self.dir, self.uid, self.gid)
        self.proc = None

    def _demote(self):
        os.setgid(self.gid)
        os.setuid(self.uid)

    def start(self):
        data = os.path.join(self.dir, "data")
        log = open(os.path.join(self.dir, "log"), "ab")
        subprocess.run([os.path.join(self.bindir, "initdb"), "-D", data, "-U", "vireo",
                        "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                       stdout=log, stderr=log, check=True, preexec_fn=self._demote)
        self.proc = subprocess.Popen(
            [os.path.join(self.bindir, "postgres"), "-D", data, "-k", self.dir,
             "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=60"],
            stdout=log, stderr=log, preexec_fn=self._demote, start_new_session=True)
        ready = [os.path.join(self.bindir, "pg_isready"), "-h", self.dir, "-U", "vireo",
                 "-d", "postgres"]
        wait_for("PostgreSQL to accept connections",
                 lambda: subprocess.run(ready, capture_output=True).returncode == 0, timeout=60)
        return self

    def createdb(self, name):
        subprocess.run([os.path.join(self.bindir, "createdb"), "-h", self.dir, "-U", "vireo",
                        name], check=True, capture_output=True)

    def location(self, db):
        return f"host={self.dir} dbname={db} user=vireo"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
