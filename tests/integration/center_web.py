#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The web client of vireo-center in a real browser (Debian's Chromium, driven by
playwright-core from tests/browser): log in, find a VM in the tree, power it on and
off, read its events; its snapshots, a linked clone turned into a template and back, a
resource pool, a cold migration to a second datastore (Migrate…), the Monitor charts, a
triggered alarm, the serial console; log out.  Chromium and Node.js are installable here
(scripts/install-deps.sh), so their absence is a failure, not a skip.

usage: center_web.py HOSTD_BINARY CENTER_BINARY GUEST_DIR
"""
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

from vireo_harness import (Center, Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           run_tests, stop_hosts, wait_for)

HOSTD, CENTER, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
BROWSER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
VM_NAME = "web01"
MIG_NAME = "web-mig"  # moved by the browser from ds1 to ds2 (its files copied)

work = Workdir("vireo-center-web-")
DS = os.path.join(work.path, "datastore")
os.makedirs(DS)
DS2 = os.path.join(work.path, "datastore2")
os.makedirs(DS2)
hosts = []


def fetch(url):
    """(status, content type) of a GET without a session."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", "")


def tools():
    """node with playwright-core installed from tests/browser/package-lock.json."""
    node = shutil.which("node")
    check(node is not None, "node is missing (scripts/install-deps.sh installs nodejs)")
    check(os.access(CHROMIUM, os.X_OK),
          f"{CHROMIUM} is missing (scripts/install-deps.sh installs chromium)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        npm = shutil.which("npm")
        check(npm is not None, "npm is missing (scripts/install-deps.sh installs it)")
        p = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                           capture_output=True, text=True, timeout=600)
        check(p.returncode == 0, f"npm ci in tests/browser failed:\n{p.stdout}\n{p.stderr}")
    return node


def test_web_client():
    node = tools()
    kernel, initrd = copy_guest_to_datastore(GUEST_DIR, DS)
    h = Hostd(HOSTD, work.path, "hostA", DS).start()
    hosts.append(h)
    c = Center(CENTER, work.path).start()
    hosts.append(c)

    # The page is served without a session, with its assets.
    for path, want, ctype in (("/", 200, "text/html"), ("/ui/app.js", 200, "text/javascript"),
                              ("/ui/app.css", 200, "text/css"),
                              ("/ui/no-such-file.js", 404, "application/json")):
        status, got = fetch(c.url + path)
        check(status == want and got.startswith(ctype),
              f"GET {path} -> {status} {got}, expected {want} {ctype}")

    # A second datastore before the host joins, so that center's first sync brings it.
    h.ok("POST", "/api/v1/datastores", {"name": "ds2", "path": DS2})
    c.create("datacenter", "/", "DC1")
    cluster = c.create("cluster", "/DC1/host", "Cluster1")
    # Another datacenter's cluster: dialogs for DC1's VMs must not offer it.
    c.create("datacenter", "/", "DC2")
    c.create("cluster", "/DC2/host", "FarCluster")
    c.add_host(h, cluster)
    # A disk for snapshots; a shell on the serial console for the Console tab.
    spec = {"name": VM_NAME, "datastore": "ds1", "memory_mib": 128, "vcpus": 1,
            "guest_os": "debian12-64", "disks": [{"size_mib": 16}],
            "boot": {"kernel": kernel, "initrd": initrd,
                     "cmdline": f"{CMDLINE} vireo.hostname={VM_NAME} vireo.shell=1"}}
    h.task_ok("POST", "/api/v1/vms", spec)
    # A small powered-off VM with no clones or snapshots, for Migrate….
    h.task_ok("POST", "/api/v1/vms", {"name": MIG_NAME, "datastore": "ds1", "memory_mib": 64,
                                      "vcpus": 1, "guest_os": "otherlinux-64",
                                      "disks": [{"size_mib": 8}]})
    check(os.path.isdir(os.path.join(DS, MIG_NAME)), f"no folder {MIG_NAME} on ds1")

    def vm_in_center(name=VM_NAME):
        for v in c.ok("GET", "/api/v1/vms")["vms"]:
            if v["name"] == name:
                return v
        return None
    vm = wait_for("the VM to reach center's inventory", vm_in_center, timeout=90, interval=1)
    mig = wait_for(f"{MIG_NAME} to reach center's inventory", lambda: vm_in_center(MIG_NAME),
                   timeout=90, interval=1)
    check(mig["datastore"] == "ds1" and mig["power_state"] == "poweredOff", f"{mig}")
    wait_for("center to list ds2", lambda: c.request(
        "GET", "/api/v1/inventory/lookup?path=/DC1/datastore/ds2")[0] == 200, timeout=90)
    path = c.ok("GET", f"/api/v1/vms/{vm['id']}")["inventory_path"]
    check(vm["power_state"] == "poweredOff", f"the new VM is {vm['power_state']}")

    # A read-only user, for whom the client must grey out the power actions.
    c.ok("POST", "/api/v1/users", {"name": "viewer", "password": "viewer-pw-1"})
    root = c.ok("GET", "/api/v1/inventory")["id"]
    c.ok("PUT", f"/api/v1/inventory/{root}/permissions/viewer", {"role": "ReadOnly"})

    # An alarm the host's memory statistics trigger (yellow) as soon as they arrive.
    alarm = c.ok("POST", "/api/v1/alarms", {
        "object": "/DC1", "name": "Web host memory", "target_kind": "host",
        "condition": {"kind": "metric", "metric": "mem.usage.average", "comparison": ">",
                      "yellow": 0.01}})

    env = dict(os.environ, VIREO_WEB_VM_PATH=path, VIREO_WEB_SHOTS=work.path,
               VIREO_WEB_ALARM="Web host memory", VIREO_WEB_CLONE=f"{VM_NAME}-web-clone",
               VIREO_WEB_VIEWER="viewer:viewer-pw-1", CHROMIUM=CHROMIUM,
               VIREO_WEB_MIGRATE=f"/DC1/vm/{MIG_NAME}:ds2",
               VIREO_WEB_FOREIGN="FarCluster")
    p = subprocess.run([node, os.path.join(BROWSER_DIR, "webclient.mjs"), c.url, "admin",
                        c.password], cwd=BROWSER_DIR, env=env, capture_output=True, text=True,
                       timeout=400)
    sys.stdout.write(p.stdout)
    sys.stdout.write(p.stderr)
    check(p.returncode == 0, f"the browser test failed (exit {p.returncode}); "
                             f"work folder {work.path}")
    # What the browser did, seen through the API.
    wait_for("center to show the VM powered off",
             lambda: c.ok("GET", f"/api/v1/vms/{vm['id']}")["power_state"] == "poweredOff",
             timeout=30)
    types = {e["type"] for e in c.ok("GET", f"/api/v1/events?object={vm['id']}")["events"]}
    check("VmPoweredOn" in types, f"no VmPoweredOn event in center: {types}")
    snaps = c.ok("GET", f"/api/v1/vms/{vm['id']}/snapshots")
    names = [s["name"] for s in snaps["snapshots"]]
    check(names == ["web-snap-1"] and not snaps["snapshots"][0]["children"],
          f"after the browser's take, take, revert, delete: {snaps}")
    clone = [v for v in c.ok("GET", "/api/v1/vms")["vms"] if v["name"] == f"{VM_NAME}-web-clone"]
    check(len(clone) == 1 and not clone[0]["template"],
          f"the linked clone, back from a template: {clone}")
    pool = c.ok("GET", "/api/v1/resource-pools/%2FDC1%2Fhost%2FCluster1%2FResources%2FWebPool")
    check(pool["allocation"]["memory"]["reservation_mib"] == 64, f"the browser's pool: {pool}")
    new = [v for v in c.ok("GET", "/api/v1/vms")["vms"] if v["name"] == "web-new"]
    check(len(new) == 1 and new[0].get("resource_pool") == pool["id"],
          f"the VM made in the browser, in its pool {pool['id']}: {new}")
    # The browser's Migrate…: same host, datastore ds2, the folder moved.
    moved = c.ok("GET", f"/api/v1/vms/{mig['id']}")
    check(moved["datastore"] == "ds2" and moved["host"] == mig["host"],
          f"{MIG_NAME} after the browser's migration: {moved}")
    check(h.vm(moved["uuid"])["datastore"] == "ds2", f"hostA does not have {MIG_NAME} on ds2")
    check(os.path.isfile(os.path.join(DS2, MIG_NAME, f"{MIG_NAME}.vmx")),
          f"no {MIG_NAME}.vmx under ds2: {os.listdir(DS2)}")
    check(not os.path.exists(os.path.join(DS, MIG_NAME)), f"{MIG_NAME}'s folder is still on ds1")
    migs = [t for t in c.ok("GET", "/api/v1/tasks?limit=100")["tasks"]
            if t["type"] == "VirtualMachine.migrate"]
    check(len(migs) == 1, f"migration tasks: {migs}")
    t = c.ok("GET", f"/api/v1/tasks/{migs[0]['id']}")
    check(t["state"] == "succeeded" and t["object"] == mig["id"]
          and t["result"] == {"host": mig["host"], "datastore": "ds2"}, f"the migration: {t}")
    t = [t for t in c.ok("GET", "/api/v1/alarms/triggered")["triggered"]
         if t["alarm"] == alarm["id"]]
    check(t and t[0]["state"] == "acknowledged", f"the alarm acknowledged in the browser: {t}")


if __name__ == "__main__":
    rc = 1
    try:
        rc = run_tests([("web client in Chromium", test_web_client)])
    except TestFailure as e:
        print(f"FAIL: {e}", flush=True)
    finally:
        if rc != 0:
            # Keep the screenshot and the logs for whoever looks at the failure.
            os.environ["VIREO_TEST_KEEP"] = "1"
        stop_hosts(hosts, work)
    sys.exit(rc)
