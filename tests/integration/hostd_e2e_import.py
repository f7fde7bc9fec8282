#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of running VMware VM folders as they are and moving them
to qcow2: a VMware-style folder (hand-written .vmx with VMware's keys, disks
made by qemu-img) with a VMDK delta chain registers and boots our guest, which
writes and verifies data on it; every VMDK subformat registers except
streamOptimized (refused with its reason); corrupt headers, missing parents,
loops and extent names leaving the folder are refused and register nothing;
converting to qcow2 keeps the data and leaves no VMDK behind.

usage: hostd_e2e_import.py HOSTD_BINARY VIREO_CLI GUEST_DIR
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys

from vireo_harness import (Hostd, TestFailure, Workdir, check, copy_guest_to_datastore,
                           run_tests)

HOSTD, CLI, GUEST_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
work = Workdir("vireo-e2e-import-")
DS = os.path.join(work.path, "datastore")
os.makedirs(DS)
KERNEL, INITRD = copy_guest_to_datastore(GUEST_DIR, DS)
CMDLINE = "console=ttyS0 quiet tsc=reliable no_timer_check mitigations=off"
hosts = []
state = {}
_uuid_counter = [0]


def cli(*args, check_rc=0):
    h = hosts[0]
    env = dict(os.environ, VIREO_SERVER=h.url, XDG_CONFIG_HOME=os.path.join(work.path, "cli"))
    p = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    if check_rc is not None and p.returncode != check_rc:
        raise TestFailure(f"vireo {' '.join(args)} -> {p.returncode}, stdout {p.stdout!r}, "
                          f"stderr {p.stderr!r}")
    return p


def qemu_img(*args):
    p = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, f"qemu-img {' '.join(args)}: {p.stderr}")
    return p.stdout


def content_hash(path, fmt=None):
    """sha256 of the whole disk as the guest sees it (through the backing chain)."""
    out = os.path.join(work.path, "content.raw")
    args = ["convert", "-U"] + (["-f", fmt] if fmt else []) + ["-O", "raw", path, out]
    qemu_img(*args)
    with open(out, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    os.unlink(out)
    return digest


def head_hash(path, fmt, nbytes=4 << 20):
    out = os.path.join(work.path, "head.raw")
    qemu_img("convert", "-U", "-f", fmt, "-O", "raw", path, out)
    with open(out, "rb") as f:
        digest = hashlib.sha256(f.read(nbytes)).hexdigest()
    os.unlink(out)
    return digest


def qemu_io(path, fmt, cmd):
    p = subprocess.run(["qemu-io", "-f", fmt, "-c", cmd, path], capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 0 and "error" not in p.stdout.lower(),
          f"qemu-io {cmd} {path}: {p.stdout} {p.stderr}")


def vmware_vmx(name, disks, behaviours="", scsi_dev="pvscsi", nics=("e1000",)):
    """A .vmx as VMware Workstation/ESXi writes it, plus vireo.kernel/initrd/cmdline."""
    _uuid_counter[0] += 1
    n = _uuid_counter[0]
    lines = [
        '.encoding = "UTF-8"', 'config.version = "8"', 'virtualHW.version = "19"',
        f'displayName = "{name}"', 'guestOS = "otherlinux-64"',
        f'uuid.bios = "56 4d 2a 10 00 00 00 {n:02x}-9a 1b 2c 3d 4e 5f 60 71"',
        'memsize = "256"', 'numvcpus = "1"',
        'scsi0.present = "TRUE"', f'scsi0.virtualDev = "{scsi_dev}"',
        'floppy0.present = "FALSE"', 'tools.syncTime = "FALSE"',
        f'vireo.kernel = "{KERNEL}"', f'vireo.initrd = "{INITRD}"',
        f'vireo.cmdline = "{CMDLINE} vireo.hostname={name} {behaviours}"'.replace("  ", " "),
    ]
    for unit, f in enumerate(disks):
        lines += [f'scsi0:{unit}.present = "TRUE"', f'scsi0:{unit}.fileName = "{f}"',
                  f'scsi0:{unit}.deviceType = "scsi-hardDisk"']
    for i, dev in enumerate(nics):
        lines += [f'ethernet{i}.present = "TRUE"', f'ethernet{i}.virtualDev = "{dev}"',
                  f'ethernet{i}.connectionType = "nat"', f'ethernet{i}.addressType = "generated"',
                  f'ethernet{i}.generatedAddress = "00:0c:29:aa:{n:02x}:{i:02x}"']
    path = os.path.join(DS, name, f"{name}.vmx")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def new_folder(name):
    d = os.path.join(DS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    os.chmod(d, 0o755)
    return d


def register(name):
    return hosts[0].request("POST", "/api/v1/vms/register",
                            {"datastore": "ds1", "path": f"{name}/{name}.vmx"})


def registered_names():
    return sorted(v["name"] for v in hosts[0].ok("GET", "/api/v1/vms")["vms"])


def register_ok(name):
    status, body = register(name)
    check(status == 201, f"registering {name}: {status} {body}")
    return body["id"]


def register_refused(name, *needles):
    before = registered_names()
    status, body = register(name)
    check(status >= 400, f"{name} registered but should have been refused: {body}")
    msg = body["error"]["message"] if isinstance(body, dict) else str(body)
    for n in needles:
        check(n in msg, f"{name}: error {msg!r} does not say {n!r}")
    check(registered_names() == before, f"{name}: the inventory changed: {registered_names()}")
    if os.environ.get("VIREO_TEST_VERBOSE"):
        print(f"  refused {name}: {msg}", flush=True)
    return msg


def unregister(vm):
    hosts[0].ok("POST", f"/api/v1/vms/{vm}/unregister")


# ---------------------------------------------------------------------------

def test_vmware_delta_chain_boots():
    """pvscsi + e1000 + a VMDK delta chain, as VMware lays it out: boots and does I/O."""
    h = hosts[0]
    d = new_folder("vmw01")
    qemu_img("create", "-q", "-f", "vmdk", os.path.join(d, "vmw01.vmdk"), "64M")
    qemu_io(os.path.join(d, "vmw01.vmdk"), "vmdk", "write -P 0x5a 8M 1M")
    base_hash = content_hash(os.path.join(d, "vmw01.vmdk"), "vmdk")
    qemu_img("create", "-q", "-f", "vmdk", "-b", "vmw01.vmdk", "-F", "vmdk",
             os.path.join(d, "vmw01-000001.vmdk"))
    vmware_vmx("vmw01", ["vmw01-000001.vmdk"], "vireo.disktest=sda")
    vm = register_ok("vmw01")
    info = h.vm(vm)
    check(info["config"]["disks"][0]["format"] == "vmdk", f"disk: {info['config']['disks']}")
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/on")
    try:
        h.wait_console(vm, "VIREO-GUEST-READY", timeout=120)
        h.wait_console(vm, "VIREO-DISKTEST-", timeout=120)
        text = h.console_text(vm)
        m = re.search(r"VIREO-DISKTEST-OK ([0-9a-f]{64})", text)
        check(m, f"the disk test failed: {text[-1500:]}")
    finally:
        h.task_ok("POST", f"/api/v1/vms/{vm}/power/off")
    top = os.path.join(d, "vmw01-000001.vmdk")
    check(head_hash(top, "vmdk") == m.group(1),
          "the data the guest wrote is not what the delta chain holds")
    check(content_hash(os.path.join(d, "vmw01.vmdk"), "vmdk") == base_hash,
          "the guest's writes reached the parent disk")
    state["vmw01"] = (vm, m.group(1))  # converted by the next test


def test_convert_to_qcow2():
    """The booted VMware VM's delta chain becomes one qcow2 with the same data; it boots again."""
    h = hosts[0]
    check("vmw01" in state, "needs vmware_delta_chain_boots")
    vm, guest_sha = state["vmw01"]
    d = os.path.join(DS, "vmw01")
    before = content_hash(os.path.join(d, "vmw01-000001.vmdk"), "vmdk")

    # Refused while running, and with snapshots.
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/on")
    err = h.task_error("POST", f"/api/v1/vms/{vm}/disks/convert", {"format": "qcow2"})
    check("power it off" in err, f"convert while on: {err}")
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/off")
    status, body = h.request("POST", f"/api/v1/vms/{vm}/disks/convert", {"format": "vmdk"})
    check(status == 400 and "qcow2" in body["error"]["message"], f"format vmdk: {status} {body}")
    with open(os.path.join(d, "vmw01.vmsd"), "w") as f:
        f.write('.encoding = "UTF-8"\nsnapshot.lastUID = "1"\nsnapshot.current = "1"\n'
                'snapshot.numSnapshots = "1"\nsnapshot.mru0.uid = "1"\n'
                'snapshot0.uid = "1"\nsnapshot0.displayName = "s1"\n'
                'snapshot0.numDisks = "1"\nsnapshot0.disk0.fileName = "vmw01.vmdk"\n'
                'snapshot0.disk0.node = "scsi0:0"\n')
    err = h.task_error("POST", f"/api/v1/vms/{vm}/disks/convert", {"format": "qcow2"})
    check("1 snapshot" in err and "delete them first" in err, f"convert with snapshots: {err}")
    os.unlink(os.path.join(d, "vmw01.vmsd"))
    check(sorted(f for f in os.listdir(d) if f.endswith(".qcow2")) == [],
          "a refused conversion left files")

    # A file in the way of the new name: the copy takes the next one.
    open(os.path.join(d, "vmw01-000001.qcow2"), "w").close()
    t = h.task_ok("POST", f"/api/v1/vms/{vm}/disks/convert", {"format": "qcow2"})
    check(t["result"]["disks"][0]["new_file"] == "vmw01-000001-1.qcow2", f"result: {t['result']}")
    os.unlink(os.path.join(d, "vmw01-000001.qcow2"))
    check([f for f in os.listdir(d) if f.endswith(".vmdk")] == [],
          f"VMDK files left: {os.listdir(d)}")
    disk = h.vm(vm)["config"]["disks"][0]
    check(disk["file"] == "vmw01-000001-1.qcow2" and disk["format"] == "qcow2", f"disk: {disk}")
    new = os.path.join(d, "vmw01-000001-1.qcow2")
    check(content_hash(new, "qcow2") == before, "the converted disk holds other data")
    info = qemu_img("info", "--output=json", "-f", "qcow2", new)
    check('"backing-filename"' not in info, f"the copy has a backing file: {info}")
    vmx = open(os.path.join(d, "vmw01.vmx")).read()
    check("vmdk" not in vmx, f"the .vmx still names a VMDK: {vmx}")

    # The guest finds the data it wrote before the conversion.
    vmx = vmx.replace("vireo.disktest=sda", "vireo.diskverify=sda")
    with open(os.path.join(d, "vmw01.vmx"), "w") as f:
        f.write(vmx)
    h.task_ok("POST", f"/api/v1/vms/{vm}/power/on")
    try:
        h.wait_console(vm, "VIREO-DISKVERIFY-", timeout=120)
        text = h.console_text(vm)
        check(f"VIREO-DISKVERIFY-OK {guest_sha}" in text,
              f"the guest did not find its data: {text[-1500:]}")
    finally:
        h.task_ok("POST", f"/api/v1/vms/{vm}/power/off")
    p = cli("import", "convert", vm)
    check("no disk to convert" in p.stdout, f"a second conversion: {p.stdout}")
    unregister(vm)


def test_vmdk_subformats_register():
    """Every hosted VMDK subformat registers (and passes the power-on checks)."""
    for sub in ("monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse",
                "twoGbMaxExtentFlat"):
        name = "sub" + sub.lower()[:12]
        d = new_folder(name)
        qemu_img("create", "-q", "-f", "vmdk", "-o", f"subformat={sub}",
                 os.path.join(d, f"{name}.vmdk"), "32M")
        qemu_io(os.path.join(d, f"{name}.vmdk"), "vmdk", "write -P 0x33 0 1M")
        vmware_vmx(name, [f"{name}.vmdk"])
        if sub == "monolithicFlat":  # through the CLI
            p = cli("import", "register", "ds1", f"{name}/{name}.vmx")
            check("its disks were checked" in p.stdout, p.stdout)
            vm = hosts[0].vm(name)["id"]
        else:
            vm = register_ok(name)
        # QEMU opens it read-write (the power-on checks pass), then off again.
        hosts[0].task_ok("POST", f"/api/v1/vms/{vm}/power/on")
        check(hosts[0].vm(vm)["power_state"] == "poweredOn", f"{sub}: not powered on")
        hosts[0].task_ok("POST", f"/api/v1/vms/{vm}/power/off")
        check(head_hash(os.path.join(d, f"{name}.vmdk"), "vmdk", 1 << 20)
              == hashlib.sha256(b"\x33" * (1 << 20)).hexdigest(), f"{sub}: data changed")
        unregister(vm)


def test_stream_optimized_refused():
    d = new_folder("stream01")
    raw = os.path.join(work.path, "stream.raw")
    qemu_img("create", "-q", "-f", "raw", raw, "8M")
    qemu_img("convert", "-q", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized",
             raw, os.path.join(d, "stream01.vmdk"))
    vmware_vmx("stream01", ["stream01.vmdk"])
    register_refused("stream01", "stream01.vmdk", "needs conversion", "streamOptimized")


def test_corrupt_and_hostile_disks_refused():
    # A sparse header whose capacity is absurd.
    d = new_folder("bad01")
    img = os.path.join(d, "bad01.vmdk")
    qemu_img("create", "-q", "-f", "vmdk", img, "16M")
    with open(img, "r+b") as f:
        f.seek(12)  # capacity, little-endian sectors
        f.write((1 << 62).to_bytes(8, "little"))
    vmware_vmx("bad01", ["bad01.vmdk"])
    register_refused("bad01", "bad01.vmdk", "capacity")

    # A delta whose parent is gone.
    d = new_folder("bad02")
    qemu_img("create", "-q", "-f", "vmdk", os.path.join(d, "bad02.vmdk"), "16M")
    qemu_img("create", "-q", "-f", "vmdk", "-b", "bad02.vmdk", "-F", "vmdk",
             os.path.join(d, "bad02-000001.vmdk"))
    os.unlink(os.path.join(d, "bad02.vmdk"))
    vmware_vmx("bad02", ["bad02-000001.vmdk"])
    register_refused("bad02", "parent disk", "bad02.vmdk", "No such file")

    # A loop: the base is made to name its own child as parent.
    d = new_folder("bad03")
    qemu_img("create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat",
             os.path.join(d, "bad03.vmdk"), "16M")
    qemu_img("create", "-q", "-f", "vmdk", "-b", "bad03.vmdk", "-F", "vmdk",
             os.path.join(d, "bad03-000001.vmdk"))
    desc = os.path.join(d, "bad03.vmdk")
    text = open(desc).read()
    text = re.sub(r"parentCID=ffffffff", "parentCID=12345678", text)
    text = text.replace('createType="monolithicFlat"',
                        'createType="monolithicFlat"\nparentFileNameHint="bad03-000001.vmdk"')
    open(desc, "w").write(text)
    vmware_vmx("bad03", ["bad03-000001.vmdk"])
    register_refused("bad03", "loops")

    # An extent named out of the folder, by "..", and by a symbolic link.
    d = new_folder("bad04")
    qemu_img("create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat",
             os.path.join(d, "bad04.vmdk"), "16M")
    desc = os.path.join(d, "bad04.vmdk")
    text = open(desc).read().replace('"bad04-flat.vmdk"', '"../vmw01/vmw01.vmdk"')
    open(desc, "w").write(text)
    vmware_vmx("bad04", ["bad04.vmdk"])
    register_refused("bad04", "bad04.vmdk", "..")
    text = text.replace('"../vmw01/vmw01.vmdk"', '"bad04-flat.vmdk"')
    open(desc, "w").write(text)
    os.unlink(os.path.join(d, "bad04-flat.vmdk"))
    secret = os.path.join(work.path, "host-secret.img")
    with open(secret, "wb") as f:
        f.truncate(16 << 20)
    os.symlink(secret, os.path.join(d, "bad04-flat.vmdk"))
    register_refused("bad04", "bad04-flat.vmdk", "leads out of the disk's folder")

    # A flat extent shorter than its descriptor says.
    os.unlink(os.path.join(d, "bad04-flat.vmdk"))
    with open(os.path.join(d, "bad04-flat.vmdk"), "wb") as f:
        f.truncate(1 << 20)
    register_refused("bad04", "bad04-flat.vmdk")


def test_power_on_rechecks_disks():
    """A disk broken after registration stops power-on with the same clear error."""
    h = hosts[0]
    d = new_folder("late01")
    qemu_img("create", "-q", "-f", "vmdk", os.path.join(d, "late01.vmdk"), "16M")
    qemu_img("create", "-q", "-f", "vmdk", "-b", "late01.vmdk", "-F", "vmdk",
             os.path.join(d, "late01-000001.vmdk"))
    vmware_vmx("late01", ["late01-000001.vmdk"])
    vm = register_ok("late01")
    os.rename(os.path.join(d, "late01.vmdk"), os.path.join(d, "moved.vmdk"))
    err = h.task_error("POST", f"/api/v1/vms/{vm}/power/on")
    check("late01.vmdk" in err and "parent disk" in err, f"power-on error: {err}")
    check(h.vm(vm)["power_state"] == "poweredOff", "the VM powered on")
    unregister(vm)


TESTS = [
    ("vmware_delta_chain_boots", test_vmware_delta_chain_boots),
    ("convert_to_qcow2", test_convert_to_qcow2),
    ("vmdk_subformats_register", test_vmdk_subformats_register),
    ("stream_optimized_refused", test_stream_optimized_refused),
    ("corrupt_and_hostile_disks_refused", test_corrupt_and_hostile_disks_refused),
    ("power_on_rechecks_disks", test_power_on_rechecks_disks),
]


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
    if os.environ.get("VIREO_TEST_KEEP") is None:
        work.cleanup()


if __name__ == "__main__":
    rc = 1
    try:
        h = Hostd(HOSTD, work.path, "import-host", DS).start()
        hosts.append(h)
        env = dict(os.environ, VIREO_SERVER=h.url, XDG_CONFIG_HOME=os.path.join(work.path, "cli"),
                   VIREO_PASSWORD=h.admin_password())
        subprocess.run([CLI, "login", "--user", "admin"], env=env, check=True,
                       capture_output=True, timeout=60)
        rc = run_tests(TESTS)
    finally:
        cleanup()
    sys.exit(rc)
