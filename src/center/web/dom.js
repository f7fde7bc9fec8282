// SPDX-License-Identifier: Apache-2.0
// Building DOM nodes.  Text always goes in as text nodes (names come from users).

// h("div", {class: "x", onclick: fn, dataset: {ref: "vm-1"}}, "text", childNode, [more])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// "2026-12-06T04:48:32Z" -> local date and time; "" stays "".
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function bytes(n) {
  if (typeof n !== "number") return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// What each kind is called, for people.
export const KIND_LABELS = {
  folder: "Folder",
  vm_folder: "VM folder",
  host_folder: "Host folder",
  datastore_folder: "Datastore folder",
  network_folder: "Network folder",
  datacenter: "Datacenter",
  cluster: "Cluster",
  host: "Host",
  resource_pool: "Resource pool",
  vm: "Virtual machine",
  template: "Template",
  datastore: "Datastore",
  network: "Network",
  dvswitch: "Distributed switch",
  portgroup: "Port group",
};

export const POWER_LABELS = {
  poweredOn: "Powered on",
  poweredOff: "Powered off",
  suspended: "Suspended",
};

export function icon(kind, extra) {
  return h("span", { class: `icon k-${kind}${extra ? ` ${extra}` : ""}`, "aria-hidden": "true" });
}
