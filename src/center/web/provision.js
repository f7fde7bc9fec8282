// SPDX-License-Identifier: Apache-2.0
// Making and moving VMs: New VM…, Clone…, Migrate… dialogs.
import { api, enc } from "./api.js";
import { KIND_LABELS } from "./dom.js";
import { openDialog } from "./dialogs.js";

// The clusters, resource pools and hosts of one datacenter (a VM is placed within its
// own), as select options ("Gold (resource pool in Cluster1)").
async function placementTargets(dcPath, kinds = ["cluster", "resource_pool", "host"]) {
  const out = [];
  const containers = ["cluster", "host", "resource_pool"];
  const walk = async (ref, depth) => {
    const o = await api("GET", `/api/v1/inventory/${enc(ref)}`);
    for (const c of o.children || []) {
      if (kinds.includes(c.kind)) {
        const kind = (KIND_LABELS[c.kind] || c.kind).toLowerCase();
        out.push({ value: c.id, label: `${c.name} (${kind} in ${o.name})`, kind: c.kind });
      }
      if ((c.kind.endsWith("folder") || containers.includes(c.kind)) && depth < 8) await walk(c.id, depth + 1);
    }
  };
  await walk(`${dcPath}/host`, 0);
  return out;
}

// The datacenter path of an inventory path: "/DC1/host/Cluster1" -> "/DC1" (datacenters
// may sit in folders, so the first path element that is a datacenter).
async function datacenterPath(path) {
  const parts = path.split("/").filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    const p = `/${parts.slice(0, i).join("/")}`;
    const o = await api("GET", `/api/v1/inventory/${enc(p)}`);
    if (o.kind === "datacenter") return p;
  }
  return `/${parts[0]}`;
}

async function datastores(dcPath) {
  const out = [];
  const walk = async (ref, depth) => {
    const o = await api("GET", `/api/v1/inventory/${enc(ref)}`);
    for (const c of o.children || []) {
      if (c.kind === "datastore") out.push(c.name);
      else if (c.kind.endsWith("folder") && depth < 4) await walk(c.id, depth + 1);
    }
  };
  await walk(`${dcPath}/datastore`, 0);
  return out.sort();
}

// The VM folder a VM made under target goes to (for the privilege check).
export function vmFolderOf(obj) {
  const parts = (obj.path || "").split("/").filter(Boolean);
  return parts.length ? `/${parts[0]}/vm` : obj.id;
}

export async function newVmDialog(target, submit) {
  const dc = await datacenterPath(target.path);
  const ds = await datastores(dc);
  if (!ds.length) throw new Error(`Datacenter ${dc} has no datastore yet: add a host first.`);
  openDialog(`New VM in ${target.name}`, [
    { name: "name", label: "Name", required: true },
    { name: "datastore", label: "Datastore", type: "select", required: true, options: ds.map((d) => ({ value: d, label: d })) },
    { name: "memory_mib", label: "Memory (MiB)", type: "number", min: 16, value: "256", required: true },
    { name: "vcpus", label: "CPUs", type: "number", min: 1, max: 255, value: "1", required: true },
    { name: "disk_mib", label: "Disk size (MiB)", type: "number", min: 0, value: "1024", hint: "0: no disk" },
    { name: "guest_os", label: "Guest OS", value: "otherlinux-64", required: true },
    { name: "kernel", label: "Kernel (optional)", hint: "a file on the host, for direct kernel boot" },
    { name: "initrd", label: "Initrd (optional)" },
    { name: "cmdline", label: "Kernel command line (optional)" },
  ], async (v) => {
    const body = {
      name: v.name.trim(), target: target.id, datastore: v.datastore,
      memory_mib: Number(v.memory_mib), vcpus: Number(v.vcpus), guest_os: v.guest_os.trim(),
    };
    if (Number(v.disk_mib) > 0) body.disks = [{ size_mib: Number(v.disk_mib) }];
    if (v.kernel.trim()) {
      body.boot = { kernel: v.kernel.trim() };
      if (v.initrd.trim()) body.boot.initrd = v.initrd.trim();
      if (v.cmdline.trim()) body.boot.cmdline = v.cmdline.trim();
    }
    await submit("POST", "/api/v1/vms", body);
  }, "Create");
}

export async function cloneDialog(vm, submit) {
  const dc = await datacenterPath(vm.path);
  const [targets, dsNames] = await Promise.all([placementTargets(dc), datastores(dc)]);
  const template = vm.kind === "template";
  openDialog(template ? `New VM from template ${vm.name}` : `Clone ${vm.name}`, [
    { name: "name", label: "Name of the new VM", required: true, value: `${vm.name}-clone` },
    { name: "linked", label: "Linked clone (shares the current snapshot's disks)", type: "checkbox" },
    { name: "target", label: "Place on", type: "select", options: [{ value: "", label: "where the source is" }, ...targets] },
    { name: "datastore", label: "Datastore", type: "select",
      options: [{ value: "", label: "the source's, if the host reaches it" }, ...dsNames.map((d) => ({ value: d, label: d }))],
      hint: "another datastore copies the clone's files there; a linked clone stays on the source's" },
    { name: "power_on", label: "Power on after cloning", type: "checkbox" },
  ], async (v) => {
    const body = { name: v.name.trim() };
    if (v.linked) body.linked = true;
    if (v.target) body.target = v.target;
    if (v.datastore) body.datastore = v.datastore;
    if (v.power_on) body.power_on = true;
    await submit("POST", `/api/v1/vms/${enc(vm.id)}/clone`, body);
  }, "Clone");
}

// Cold migration, as vSphere's "change compute resource, storage or both": each select
// starts with "keep on <current>"; only what changed is sent.
export async function migrateDialog(vm, detail, submit) {
  const hereHost = detail.host_name || detail.host || "its host";
  const hereDs = detail.datastore || "its datastore";
  const dc = await datacenterPath(vm.path);
  const [hostTargets, dsNames] = await Promise.all([placementTargets(dc, ["host"]), datastores(dc)]);
  const hosts = hostTargets.filter((o) => o.value !== detail.host);
  const stores = dsNames.filter((d) => d !== detail.datastore).map((d) => ({ value: d, label: d }));
  if (!hosts.length && !stores.length) {
    throw new Error(`There is no other host and no other datastore to migrate "${vm.name}" to.`);
  }
  openDialog(`Migrate ${vm.name}`, [
    { name: "host", label: "Compute resource (host)", type: "select",
      options: [{ value: "", label: `keep on ${hereHost}` }, ...hosts],
      hint: "another host alone must reach the VM's datastore" },
    { name: "datastore", label: "Storage (datastore)", type: "select",
      options: [{ value: "", label: `keep on ${hereDs}` }, ...stores],
      hint: "another datastore copies the VM's files there" },
  ], async (v) => {
    const body = {};
    if (v.host) body.host = v.host;
    if (v.datastore) body.datastore = v.datastore;
    if (!body.host && !body.datastore) {
      throw new Error(`Choose another host, another datastore or both: "${vm.name}" is already on ${hereHost} and ${hereDs}.`);
    }
    await submit("POST", `/api/v1/vms/${enc(vm.id)}/migrate`, body);
  }, "Migrate");
}
