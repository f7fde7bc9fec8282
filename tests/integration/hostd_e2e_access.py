#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of access to vireo-hostd and of guest-facing settings, with real
guests (QEMU, TCG here): HTTPS (API and CLI, console included), read-only users,
account lockout after failed logins, the guest shutdown fallbacks (agent -> ACPI ->
power off), NICs that start disconnected, and NIC changes through `vireo vm reconfigure`.

The host agent serves HTTPS throughout, with a self-signed certificate made here.

usage: hostd_e2e_access.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           make_self_signed_cert, run_tests, tree_diff, tree_snapshot, wait_for)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
work = Workdir("vireo-e2e-access-")
DS = os.path.join(work.path, "datastore")
os.makedirs(DS)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
CERT, KEY = make_self_signed_cert(work.path)
PASSWORD_RO = "read-only-secret-1"
LOCKOUT_UNLOCK_S = 4  # --login-lockout-unlock: short, so that the test sees the unlock
hosts = []


def host():
    return hosts[0]


def cli(*args, user="admin", check_rc=0, env_extra=None, stdin_text=None, ca=True):
    """Runs vireo as `user` (each user has its own saved session), trusting CERT."""
    h = host()
    env = dict(os.environ, VIREO_SERVER=h.url,
               XDG_CONFIG_HOME=os.path.join(work.path, f"cli-{user}"))
    env.pop("VIREO_CA_FILE", None)
    env.pop("VIREO_TOKEN", None)
    if ca:
        env["VIREO_CA_FILE"] = CERT
    env.update(env_extra or {})
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=300,
                       input=stdin_text if stdin_text is not None else "",)
    if check_rc is not None and p.returncode != check_rc:
        raise TestFailure(f"vireo {' '.join(args)} (as {user}) -> {p.returncode}, expected "
                          f"{check_rc}; stdout {p.stdout!r}, stderr {p.stderr!r}")
    return p


def create_vm(name, behaviours="", nics=None):
    spec = {"name": name, "datastore": "ds1", "memory_mib": 256, "vcpus": 1,
            "guest_os": "debian12-64",
            "boot": {"kernel": KERNEL, "initrd": INITRD,
                     "cmdline": f"{CMDLINE} vireo.hostname={name} {behaviours}".strip()}}
    if nics is not None:
        spec["nics"] = nics
    return host().task_ok("POST", "/api/v1/vms", spec)["result"]["id"]


def power(vm_id, op, **body):
    return host().task_ok("POST", f"/api/v1/vms/{vm_id}/power/{op}", body or None)


def vmx_text(name):
    with open(os.path.join(DS, name, f"{name}.vmx")) as f:
        return f.read()


def vmx_keys(name):
    keys = {}
    for line in vmx_text(name).splitlines():
        m = re.match(r'\s*([^=\s]+)\s*=\s*"(.*)"\s*$', line)
        if m:
            keys[m.group(1).lower()] = m.group(2)
    return keys


def vireo_log(name):
    with open(os.path.join(DS, name, "vireo.log")) as f:
        return f.read()


def this_boot(vm_id):
    """Console text since the last VIREO-GUEST-READY (the current boot)."""
    return host().console_text(vm_id).rsplit("VIREO-GUEST-READY", 1)[-1]


def boot(vm_id, count=1):
    power(vm_id, "on")
    host().wait_console(vm_id, "VIREO-GUEST-READY", count=count, timeout=120)


def link_lines(vm_id, n):
    """The first VIREO-LINK line of each interface this boot: {mac: carrier}."""
    def got():
        links = {}
        for ifname, mac, carrier in re.findall(r"VIREO-LINK (\S+) (\S+) carrier=(\S+)",
                                               this_boot(vm_id)):
            links.setdefault(mac, carrier)
        return links if len(links) >= n else None
    return wait_for(f"{n} VIREO-LINK lines", got, timeout=60)


# --------------------------------------------------------------------------- TLS

def test_tls_api_cli_console():
    h = host()
    check(h.url.startswith("https://"), f"hostd URL {h.url}")
    status, body = h.request("GET", "/api/v1/health", auth=False)
    check(status == 200 and body["status"] == "ok", f"health over HTTPS: {status} {body}")
    # The certificate hostd presents is ours.
    pem = open(CERT).read()
    served = ssl.get_server_certificate(("127.0.0.1", h.port))
    check(ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(pem),
          "hostd does not present the certificate given with --tls-cert")

    # Plain HTTP to the TLS port gets no HTTP answer.
    with socket.create_connection(("127.0.0.1", h.port), timeout=10) as s:
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(5)
        data = b""
        try:
            while len(data) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    check(not data.startswith(b"HTTP/") and b'"status"' not in data,
          f"plain HTTP to the HTTPS port was answered: {data[:200]!r}")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{h.port}/api/v1/health", timeout=10) as r:
            answered = r.status
    except urllib.error.HTTPError as e:
        answered = e.code
    except Exception:  # noqa: BLE001 - a reset or a malformed answer is the expected outcome
        answered = None
    check(answered is None, f"plain HTTP to the HTTPS port got HTTP status {answered}")

    # The CLI verifies the certificate: without a CA it refuses, clearly.
    p = cli("health", ca=False, check_rc=1)
    check("certificate" in p.stderr.lower() and h.url in p.stderr,
          f"unclear error without a CA file: {p.stderr!r}")
    other_cert, _ = make_self_signed_cert(work.path, name="other-ca")
    p = cli("--ca-file", other_cert, "health", ca=False, check_rc=1)
    check("certificate" in p.stderr.lower(), f"a wrong CA file was accepted: {p.stderr!r}")
    p = cli("--ca-file", CERT, "health", ca=False)
    check("ok" in p.stdout, f"vireo --ca-file health: {p.stdout!r}")
    p = cli("-k", "health", ca=False)  # only when asked for explicitly
    check("ok" in p.stdout, f"vireo -k health: {p.stdout!r}")

    # VIREO_CA_FILE: log in, create and power on a VM with a console shell.
    cli("login", "--user", "admin", env_extra={"VIREO_PASSWORD": h.admin_password()})
    p = cli("whoami")
    check("admin" in p.stdout, f"whoami over HTTPS: {p.stdout!r}")
    cli("vm", "create", "tls01", "--datastore", "ds1", "--memory", "256", "--kernel", KERNEL,
        "--initrd", INITRD, "--cmdline", f"{CMDLINE} vireo.hostname=tls01 vireo.shell=1")
    p = cli("--json", "vm", "list")
    check("tls01" in [v["name"] for v in json.loads(p.stdout)["vms"]], f"vm list: {p.stdout}")
    cli("vm", "power-on", "tls01")
    vm = h.vm("tls01")["id"]
    h.wait_console(vm, "VIREO-GUEST-READY", timeout=120)

    # The console over HTTPS, both ways: the shell computes what we type.
    def console_answers():
        p = cli("vm", "console", "tls01", "--linger", "3",
                stdin_text="\necho VIREO-ECHO-$((6*7))\n")
        check("Connected to the console of tls01" in p.stderr, f"console: {p.stderr!r}")
        return "VIREO-ECHO-42" in p.stdout
    wait_for("the guest shell to answer on the console over HTTPS", console_answers,
             timeout=60, interval=1)
    check(h.vm(vm)["power_state"] == "poweredOn", "detaching the console disturbed the VM")
    p = cli("vm", "console-log", "tls01")
    check("VIREO-ECHO-42" in p.stdout, "console-log over HTTPS lacks the shell's answer")
    cli("vm", "power-off", "tls01")
    check(h.vm(vm)["power_state"] == "poweredOff", "power-off over HTTPS")


# --------------------------------------------------------------------------- read-only

def test_read_only_user_refused():
    h = host()
    cli("login", "--user", "admin", env_extra={"VIREO_PASSWORD": h.admin_password()})
    pwfile = os.path.join(work.path, "ro1.password")
    with open(pwfile, "w") as f:
        f.write(PASSWORD_RO + "\n")
    p = cli("user", "add", "ro1", "--role", "read-only", "--password-file", pwfile)
    check("ro1" in p.stdout, f"user add: {p.stdout!r}")
    vm = create_vm("ro01")
    other_dir = os.path.join(work.path, "datastore2")
    os.makedirs(other_dir, exist_ok=True)
    # Log the read-only user in through the API and the CLI.
    status, body = h.request("POST", "/api/v1/sessions",
                             {"username": "ro1", "password": PASSWORD_RO}, auth=False)
    check(status == 201 and body["role"] == "read-only", f"ro1 login: {status} {body}")
    ro = body["token"]
    p = cli("login", "--user", "ro1", "--password-file", pwfile, user="ro1")
    check("read-only" in p.stdout, f"CLI login as ro1: {p.stdout!r}")

    ds_before = tree_snapshot(DS)
    ds2_before = tree_snapshot(other_dir)
    state_before = tree_snapshot(h.state)
    vms_before = h.ok("GET", "/api/v1/vms")
    tasks_before = h.ok("GET", "/api/v1/tasks")["tasks"]

    # Reading is allowed.
    status, body = h.request("GET", "/api/v1/vms", token=ro)
    check(status == 200 and any(v["id"] == vm for v in body["vms"]), f"ro list: {status}")
    status, body = h.request("GET", f"/api/v1/vms/{vm}", token=ro)
    check(status == 200 and body["name"] == "ro01" and "config" in body, f"ro get: {status}")
    p = cli("vm", "list", user="ro1")
    check("ro01" in p.stdout, f"CLI vm list as ro1: {p.stdout!r}")
    p = cli("vm", "info", "ro01", user="ro1")
    check("ro01" in p.stdout and "poweredOff" in p.stdout, f"CLI vm info as ro1: {p.stdout!r}")
    cli("datastore", "list", user="ro1")

    # Every change is refused with 403 and a message naming the reason.
    spec = {"name": "ro-new", "datastore": "ds1", "memory_mib": 256}
    refused = [
        ("POST", "/api/v1/vms", spec),
        ("POST", "/api/v1/vms/register", {"datastore": "ds1", "path": "ro01/ro01.vmx"}),
        ("POST", f"/api/v1/vms/{vm}/power/on", None),
        ("POST", f"/api/v1/vms/{vm}/power/off", None),
        ("POST", f"/api/v1/vms/{vm}/power/shutdown", {"timeout_s": 5}),
        ("POST", f"/api/v1/vms/{vm}/power/reset", None),
        ("POST", f"/api/v1/vms/{vm}/power/suspend", None),
        ("PATCH", f"/api/v1/vms/{vm}", {"memory_mib": 512}),
        ("PATCH", f"/api/v1/vms/{vm}", {"nics": [{"connection": "nat"}]}),
        ("DELETE", f"/api/v1/vms/{vm}", None),
        ("POST", f"/api/v1/vms/{vm}/unregister", None),
        ("GET", f"/api/v1/vms/{vm}/console", None),
        ("POST", "/api/v1/users", {"name": "mallory", "password": "password-123",
                                   "role": "admin"}),
        ("DELETE", "/api/v1/users/admin", None),
        ("PUT", "/api/v1/users/admin/password", {"password": "new-password-1",
                                                 "current_password": PASSWORD_RO}),
        ("POST", "/api/v1/datastores", {"name": "ds2", "path": other_dir}),
        ("DELETE", "/api/v1/datastores/ds1", None),
    ]
    for method, path, req_body in refused:
        status, reply = h.request(method, path, req_body, token=ro)
        msg = reply.get("error", {}).get("message", "") if isinstance(reply, dict) else ""
        check(status == 403, f"{method} {path} as read-only gave {status} {reply}")
        if path.endswith("/password"):
            check("only an admin can change the password" in msg,
                  f"{method} {path}: unclear message {msg!r}")
        else:
            check("needs the admin role" in msg and '"ro1"' in msg and "read-only" in msg,
                  f"{method} {path}: unclear message {msg!r}")

    cli_refused = [
        ("vm", "create", "ro-new", "--datastore", "ds1", "--memory", "256"),
        ("vm", "register", "ds1", "ro01/ro01.vmx"),
        ("vm", "power-on", "ro01"),
        ("vm", "power-off", "ro01"),
        ("vm", "shutdown", "ro01", "--timeout", "5"),
        ("vm", "reset", "ro01"),
        ("vm", "suspend", "ro01"),
        ("vm", "reconfigure", "ro01", "--memory", "512"),
        ("vm", "reconfigure", "ro01", "--nic-add", "nat,connected=no"),
        ("vm", "delete", "ro01"),
        ("vm", "unregister", "ro01"),
        ("vm", "console", "ro01"),
        ("user", "add", "mallory", "--role", "admin", "--password-file", pwfile),
        ("user", "remove", "admin"),
        ("datastore", "add", "ds2", other_dir),
        ("datastore", "remove", "ds1"),
    ]
    for args in cli_refused:
        p = cli(*args, user="ro1", check_rc=1)
        check("needs the admin role" in p.stderr and "read-only" in p.stderr,
              f"vireo {' '.join(args)} as ro1: unclear error {p.stderr!r}")

    # Nothing changed: files, inventory, tasks.
    check(tree_snapshot(DS) == ds_before,
          f"refused requests changed the datastore: {tree_diff(ds_before, tree_snapshot(DS))}")
    check(tree_snapshot(other_dir) == ds2_before, "refused requests changed datastore2")
    check(tree_snapshot(h.state) == state_before,
          f"refused requests changed hostd's state (inventory, datastores, users): "
          f"{tree_diff(state_before, tree_snapshot(h.state))}")
    check(h.ok("GET", "/api/v1/vms") == vms_before, "refused requests changed the inventory")
    check(h.ok("GET", "/api/v1/tasks")["tasks"] == tasks_before, "a refused request ran a task")
    users = [u["name"] for u in h.ok("GET", "/api/v1/users")["users"]]
    check(sorted(users) == ["admin", "ro1"], f"users: {users}")
    status, _ = h.request("GET", "/api/v1/sessions/current", token=ro)
    check(status == 200, "the read-only session should still be valid")


# --------------------------------------------------------------------------- lockout

def raw_login(user, password):
    """POST /api/v1/sessions: (status, reply, headers)."""
    h = host()
    req = urllib.request.Request(h.url + "/api/v1/sessions", method="POST",
                                 data=json.dumps({"username": user,
                                                  "password": password}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60, context=h.ssl_context) as r:
            return r.status, json.loads(r.read()), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers


def test_login_lockout():
    h = host()
    # The settings are checked: clear errors, exit status 2.
    for args, needle in ((["--login-lockout-failures", "101"], "0 (no lockout) to 100"),
                         (["--login-lockout-window", "0"], "seconds (1..86400)"),
                         (["--login-lockout-unlock", "soon"], "seconds (1..86400)")):
        p = subprocess.run([HOSTD, *args], capture_output=True, text=True, timeout=30)
        check(p.returncode == 2 and args[0] in p.stderr and needle in p.stderr,
              f"vireo-hostd {' '.join(args)}: {p.returncode} {p.stderr!r}")

    password = "lockme-secret-1"
    h.ok("POST", "/api/v1/users", {"name": "lockme", "password": password,
                                   "role": "read-only"})
    st, body, _ = raw_login("lockme", password)
    check(st == 201, f"lockme logs in: {st} {body}")
    before = body["token"]
    for i in range(4):
        st, body, _ = raw_login("lockme", f"wrong-password-{i}")
        check(st == 401 and body["error"]["message"] == "invalid user name or password",
              f"wrong password {i + 1}: {st} {body}")
    # The fifth locks the name: 429 with Retry-After and a message saying for how long.
    st, body, headers = raw_login("lockme", "wrong-password-4")
    msg = body["error"]["message"]
    check(st == 429 and "locked for about" in msg and "more second" in msg,
          f"fifth wrong password: {st} {body}")
    retry = int(headers.get("Retry-After", "0"))
    check(1 <= retry <= LOCKOUT_UNLOCK_S, f"Retry-After: {headers.get('Retry-After')!r}")
    # The right password is refused the same way, through the API and the CLI (which
    # prints the server's message as it is).
    st, body, headers = raw_login("lockme", password)
    check(st == 429 and "locked for about" in body["error"]["message"] and
          headers.get("Retry-After"), f"right password while locked: {st} {body}")
    p = cli("login", "--user", "lockme", user="lockme", check_rc=1,
            env_extra={"VIREO_PASSWORD": password})
    check(re.search(r"^vireo: too many failed logins for this user name: it is locked for "
                    r"about \d+ more seconds?$", p.stderr.strip()), f"CLI: {p.stderr!r}")
    # The session opened before goes on; another user is not affected.
    st, body = h.request("GET", "/api/v1/sessions/current", token=before)
    check(st == 200 and body["user"] == "lockme", f"lockme's open session: {st} {body}")
    st, body, _ = raw_login("admin", h.admin_password())
    check(st == 201, f"admin while lockme is locked: {st} {body}")
    # An unknown name is counted and refused alike: nothing tells it is not an account.
    for i in range(4):
        st, body, _ = raw_login("no-such-user", "wrong-password")
        check(st == 401 and body["error"]["message"] == "invalid user name or password",
              f"unknown name {i + 1}: {st} {body}")
    st, body, headers = raw_login("no-such-user", "wrong-password")
    check(st == 429 and "locked for about" in body["error"]["message"] and
          headers.get("Retry-After"), f"unknown name locked: {st} {body}")
    # The host's event (center copies it), naming the user and the client.
    events = [e for e in h.ok("GET", "/api/v1/events")["events"]
              if e["type"] == "AccountLockedEvent"]
    check(len(events) == 2 and '"lockme"' in events[0]["message"] and
          "127.0.0.1" in events[0]["message"] and events[0]["level"] == "warning" and
          '"no-such-user"' in events[1]["message"], f"AccountLockedEvent: {events}")
    with open(h.logfile) as f:
        check(any(" warn " in line and 'user name "lockme" locked' in line for line in f),
              "hostd's log lacks the lockout warning")
    # It unlocks by itself; the right password then gets in.
    time.sleep(retry + 0.5)
    st, body, _ = raw_login("lockme", password)
    check(st == 201, f"lockme after the unlock time: {st} {body}")
    h.ok("DELETE", "/api/v1/users/lockme")


# --------------------------------------------------------------------------- shutdown

def test_shutdown_without_agent_uses_acpi():
    h = host()
    vm = create_vm("acpi01", "vireo.qga=0")
    boot(vm)
    g = h.ok("GET", f"/api/v1/vms/{vm}/guest")
    check(g["agent"] == "notRunning", f"the agent should not run: {g}")
    t0 = time.monotonic()
    t = power(vm, "shutdown", timeout_s=40)
    took = time.monotonic() - t0
    check(t["result"]["method"] == "ACPI power button", f"shutdown method: {t['result']}")
    check(took < 40, f"the ACPI shutdown took {took:.0f} s: the timeout ran out")
    check(h.vm(vm)["power_state"] == "poweredOff", "not off after the ACPI shutdown")
    text = this_boot(vm)
    check("VIREO-ACPI-POWER-BUTTON" in text and "VIREO-GUEST-SHUTDOWN poweroff" in text,
          f"the guest did not shut down by its power button: {text[-600:]!r}")
    check("guest shut down by ACPI power button" in vireo_log("acpi01"),
          "vireo.log does not say the ACPI power button shut the guest down")


def test_shutdown_of_hung_guest_powers_off():
    h = host()
    vm = create_vm("hung01", "vireo.noshutdown=1 vireo.noacpi=1")
    boot(vm)
    wait_for("the guest agent", lambda: h.ok("GET", f"/api/v1/vms/{vm}/guest")
             .get("agent") == "running", timeout=60)
    timeout_s = 5
    t0 = time.monotonic()
    t = power(vm, "shutdown", timeout_s=timeout_s)
    took = time.monotonic() - t0
    method = t["result"]["method"]
    check(method.startswith("power off") and "did not shut down in time" in method,
          f"shutdown method: {t['result']}")
    check(took >= 2 * timeout_s, f"powered off after {took:.1f} s, before the agent and ACPI "
          f"timeouts ({timeout_s} s each) ran out")
    check(h.vm(vm)["power_state"] == "poweredOff", "not off after the fallback")
    text = this_boot(vm)
    check("VIREO-SHUTDOWN-IGNORED shutdown" in text,
          f"the agent's shutdown request did not reach the guest: {text[-600:]!r}")
    check("VIREO-ACPI-POWER-BUTTON ignored" in text,
          f"the ACPI power button was not pressed: {text[-600:]!r}")
    check("VIREO-GUEST-SHUTDOWN" not in text, "the guest shut itself down")
    log = vireo_log("hung01")
    check("guest shut down by power off (the guest did not shut down in time)" in log,
          f"vireo.log does not say the VM was powered off: {log[-600:]!r}")
    events = h.ok("GET", f"/api/v1/events?object={vm}")["events"]
    check(any(e["type"] == "VmGuestShutdown" and "power off" in e["message"] for e in events),
          f"no VmGuestShutdown event naming the power off: {events}")


# --------------------------------------------------------------------------- NICs

def test_nic_starts_disconnected():
    h = host()
    cli("login", "--user", "admin", env_extra={"VIREO_PASSWORD": h.admin_password()})
    vm = create_vm("link01", "vireo.links=1",
                   nics=[{"connection": "nat", "start_connected": False},
                         {"connection": "nat"}])
    nics = h.vm(vm)["config"]["nics"]
    check([n["start_connected"] for n in nics] == [False, True], f"API NICs: {nics}")
    keys = vmx_keys("link01")
    check(keys.get("ethernet0.startconnected") == "FALSE" and
          keys.get("ethernet1.startconnected") == "TRUE", f".vmx NIC keys: {keys}")
    boot(vm)
    try:
        links = link_lines(vm, 2)
        check(links.get(nics[0]["mac"]) == "0", f"ethernet0 ({nics[0]['mac']}) should start "
              f"with its link down: {links}")
        check(links.get(nics[1]["mac"]) == "1",
              f"ethernet1 ({nics[1]['mac']}) should be up: {links}")
        # Changing NICs needs the VM off, with a clear error.
        p = cli("vm", "reconfigure", "link01", "--nic-set", "0:connected=yes", check_rc=1)
        check("powered off" in p.stderr, f"reconfigure while on: {p.stderr!r}")
    finally:
        power(vm, "off")


def test_cli_reconfigure_nics():
    h = host()
    cli("login", "--user", "admin", env_extra={"VIREO_PASSWORD": h.admin_password()})
    vm = h.vm("link01")["id"]
    before = {n["index"]: n for n in h.vm(vm)["config"]["nics"]}
    check(sorted(before) == [0, 1], f"link01 NICs: {before}")

    # Flip which NIC starts connected; the MACs stay; the guest sees it.
    p = cli("vm", "reconfigure", "link01", "--nic-set", "0:connected=yes",
            "--nic-set", "ethernet1:connected=no")
    check("starts disconnected" in p.stdout, f"reconfigure output: {p.stdout!r}")
    nics = {n["index"]: n for n in h.vm(vm)["config"]["nics"]}
    check(nics[0]["start_connected"] is True and nics[1]["start_connected"] is False,
          f"API after flip: {nics}")
    check(all(nics[i]["mac"] == before[i]["mac"] for i in (0, 1)), "a MAC changed")
    keys = vmx_keys("link01")
    check(keys["ethernet0.startconnected"] == "TRUE" and
          keys["ethernet1.startconnected"] == "FALSE", f".vmx after flip: {keys}")
    boot(vm, count=2)
    links = link_lines(vm, 2)
    check(links.get(before[0]["mac"]) == "1" and links.get(before[1]["mac"]) == "0",
          f"after the flip the guest sees {links}")
    power(vm, "off")

    # Add a bridged NIC with a static MAC, disconnected at start.
    cli("vm", "reconfigure", "link01", "--nic-add",
        "bridged:vireo-br9,model=e1000,mac=00:50:56:12:34:56,connected=no")
    keys = vmx_keys("link01")
    want = {"ethernet2.present": "TRUE", "ethernet2.connectiontype": "bridged",
            "ethernet2.networkname": "vireo-br9", "ethernet2.virtualdev": "e1000",
            "ethernet2.addresstype": "static", "ethernet2.address": "00:50:56:12:34:56",
            "ethernet2.startconnected": "FALSE"}
    check(all(keys.get(k) == v for k, v in want.items()), f".vmx after --nic-add: {keys}")
    n2 = h.vm(vm)["config"]["nics"][2]
    check(n2 == {"index": 2, "model": "e1000", "connection": "bridged", "network": "vireo-br9",
                 "mac": "00:50:56:12:34:56", "start_connected": False}, f"API NIC 2: {n2}")
    # Change its connection type, then its MAC.
    cli("vm", "reconfigure", "link01", "--nic-set", "2:nat")
    keys = vmx_keys("link01")
    check(keys["ethernet2.connectiontype"] == "nat" and "ethernet2.networkname" not in keys and
          keys["ethernet2.address"] == "00:50:56:12:34:56", f".vmx after 2:nat: {keys}")
    cli("vm", "reconfigure", "link01", "--nic-set", "2:bridged:vireo-br8,mac=00:50:56:12:34:57")
    n2 = h.vm(vm)["config"]["nics"][2]
    check(n2["connection"] == "bridged" and n2["network"] == "vireo-br8" and
          n2["mac"] == "00:50:56:12:34:57" and n2["model"] == "e1000", f"API NIC 2: {n2}")

    # Remove ethernet0: the others keep their slots and MACs.
    cli("vm", "reconfigure", "link01", "--nic-remove", "0")
    nics = {n["index"]: n for n in h.vm(vm)["config"]["nics"]}
    check(sorted(nics) == [1, 2] and nics[1]["mac"] == before[1]["mac"], f"after remove: {nics}")
    check(not any(k.startswith("ethernet0.") for k in vmx_keys("link01")),
          "ethernet0 keys left in the .vmx")
    # A new NIC takes the free slot 0 with a new MAC; one added while removing
    # another does not take the slot being freed.
    cli("vm", "reconfigure", "link01", "--nic-add", "none")
    cli("vm", "reconfigure", "link01", "--nic-remove", "1", "--nic-add", "nat")
    nics = {n["index"]: n for n in h.vm(vm)["config"]["nics"]}
    check(sorted(nics) == [0, 2, 3], f"slots after add/remove: {sorted(nics)}")
    check(nics[0]["connection"] == "none" and nics[0]["mac"] != before[0]["mac"],
          f"new ethernet0: {nics[0]}")
    check(nics[3]["connection"] == "nat" and nics[3]["mac"] not in
          (before[0]["mac"], before[1]["mac"]), f"new ethernet3: {nics[3]}")

    # Refused changes: clear errors, the .vmx untouched.
    text = vmx_text("link01")
    p = cli("vm", "reconfigure", "link01", "--nic-remove", "7", check_rc=1)
    check("there is no NIC ethernet7" in p.stderr and "ethernet0, ethernet2, ethernet3"
          in p.stderr, f"--nic-remove 7: {p.stderr!r}")
    p = cli("vm", "reconfigure", "link01", "--nic-set", "2:mac=01:00:5e:00:00:01", check_rc=1)
    check("is not a unicast MAC address" in p.stderr and "ethernet2" in p.stderr,
          f"multicast MAC: {p.stderr!r}")
    p = cli("vm", "reconfigure", "link01", "--nic-set", "2:hostfwd=tcp::8080-:80", check_rc=1)
    check("hostfwd is only for NAT NICs" in p.stderr, f"hostfwd on bridged: {p.stderr!r}")
    p = cli("vm", "reconfigure", "link01", "--nic-set", "0:model=rtl8139", check_rc=1)
    check('model "rtl8139"' in p.stderr, f"bad model: {p.stderr!r}")
    p = cli("vm", "reconfigure", "link01", "--nic-set", "3:mac=00:50:56:12:34:57", check_rc=1)
    check("same MAC address 00:50:56:12:34:57" in p.stderr, f"duplicate MAC: {p.stderr!r}")
    p = cli("vm", "reconfigure", "link01", "--nic-set", "2:speed=10", check_rc=2)
    check('unknown setting "speed"' in p.stderr, f"unknown setting: {p.stderr!r}")
    p = cli("vm", "reconfigure", "link01", "--nic-set", "2:connected=maybe", check_rc=2)
    check("connected= takes yes or no" in p.stderr, f"bad connected=: {p.stderr!r}")
    p = cli("vm", "reconfigure", "link01", "--nic-remove", "12", check_rc=2)
    check("not a NIC number from 0 to 9" in p.stderr, f"--nic-remove 12: {p.stderr!r}")
    check(vmx_text("link01") == text, "a refused reconfigure changed the .vmx")
    # The API refuses malformed NIC lists with 400 naming the problem.
    for nics_req, needle in (
            ([{"index": 0}, {}], "NIC 1 has no index"),
            ([{"index": 2}, {"index": 2}], "index 2 is also the index of NIC 0"),
            ([{"index": 0, "start_connected": "no"}], "start_connected"),
            ([{"index": 2, "connection": "nat", "network": "br0"}],
             "is only for bridged NICs")):
        status, body = h.request("PATCH", f"/api/v1/vms/{vm}", {"nics": nics_req})
        msg = body.get("error", {}).get("message", "") if isinstance(body, dict) else ""
        check(status == 400 and needle in msg, f"PATCH nics {nics_req}: {status} {body}")
    check(vmx_text("link01") == text, "a refused PATCH changed the .vmx")

    # vm create takes the same NIC settings.
    cli("vm", "create", "nic02", "--datastore", "ds1", "--nic", "nat,connected=no",
        "--nic", "bridged:vireo-br7,model=vmxnet3,mac=00:50:56:00:00:42")
    keys = vmx_keys("nic02")
    check(keys.get("ethernet0.startconnected") == "FALSE" and
          keys.get("ethernet1.startconnected") == "TRUE" and
          keys.get("ethernet1.networkname") == "vireo-br7" and
          keys.get("ethernet1.virtualdev") == "vmxnet3" and
          keys.get("ethernet1.address") == "00:50:56:00:00:42", f"nic02 .vmx: {keys}")
    p = cli("vm", "create", "nic03", "--datastore", "ds1", "--nic", "connected=no", check_rc=2)
    check("must begin with nat, none or bridged:NETWORK" in p.stderr, f"--nic: {p.stderr!r}")
    cli("vm", "delete", "nic02")


def cleanup():
    for h in hosts:
        if h.proc and h.proc.poll() is None and h.token:
            try:
                for v in h.ok("GET", "/api/v1/vms")["vms"]:
                    if v["power_state"] == "poweredOn":
                        h.request("POST", f"/api/v1/vms/{v['id']}/power/off")
            except Exception:  # noqa: BLE001 - best effort
                pass
        h.stop()
    for h in hosts:
        if os.path.isdir(h.run):
            for d in os.listdir(h.run):
                try:
                    pid = int(open(os.path.join(h.run, d, "qemu.pid")).read())
                    if work.path in open(f"/proc/{pid}/cmdline").read():
                        os.kill(pid, signal.SIGKILL)
                except (OSError, ValueError):
                    pass
    work.cleanup()


if __name__ == "__main__":
    rc = 1
    try:
        hosts.append(Hostd(HOSTD, work.path, "hostA", DS, tls_cert=CERT, tls_key=KEY,
                           extra=["--login-lockout-unlock", str(LOCKOUT_UNLOCK_S)]).start())
        rc = run_tests([
            ("TLS: API, CLI and console over HTTPS", test_tls_api_cli_console),
            ("read-only user refused, nothing changed", test_read_only_user_refused),
            ("login lockout after failed logins", test_login_lockout),
            ("NIC with startConnected FALSE starts with its link down",
             test_nic_starts_disconnected),
            ("CLI reconfigures NICs", test_cli_reconfigure_nics),
            ("shutdown without the agent uses ACPI", test_shutdown_without_agent_uses_acpi),
            ("shutdown of a hung guest powers off after the timeouts",
             test_shutdown_of_hung_guest_powers_off),
        ])
    finally:
        cleanup()
    sys.exit(rc)
