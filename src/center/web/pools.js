// SPDX-License-Identifier: Apache-2.0
// Resource pools: allocation and usage on the summary, the Edit settings and New
// resource pool dialogs.
import { api, enc } from "./api.js";
import { h } from "./dom.js";
import { openDialog } from "./dialogs.js";

function limitText(v, unit) {
  return v === undefined || v < 0 ? "Unlimited" : `${v} ${unit}`;
}

function sharesText(side) {
  return side.shares_level === "custom" ? `${side.shares} (custom)` : `${side.shares_level} (${side.shares})`;
}

// reserved: handed to children and running VMs; total: the pool's reservation.
function usageBar(label, reserved, unreserved, unit, key) {
  const total = Math.max(reserved + Math.max(unreserved, 0), 1);
  const pct = Math.min(100, (reserved / total) * 100);
  return h("div", { class: "usage", dataset: { usage: key, reserved: String(reserved), unreserved: String(unreserved) } },
    h("div", { class: "usage-label" }, h("strong", {}, label),
      ` reserved for children ${reserved} ${unit} · unreserved ${unreserved} ${unit}`,
      unreserved < 0 ? h("span", { class: "warning" }, " (borrowed from the parent: expandable)") : null),
    h("div", { class: "bar", role: "meter", "aria-valuemin": "0", "aria-valuemax": String(total), "aria-valuenow": String(reserved), "aria-label": `${label} reserved` },
      h("span", { class: "bar-used", style: undefined, dataset: { pct: pct.toFixed(1) } })));
}

// The bar widths: set through the CSSOM (the page's CSP forbids style attributes).
function sizeBars(root) {
  for (const b of root.querySelectorAll(".bar-used")) b.style.width = `${b.dataset.pct}%`;
}

// p: GET /api/v1/resource-pools/{ref}
export function renderPool(body, p) {
  const a = p.allocation || { cpu: {}, memory: {} };
  const u = p.usage || { cpu: {}, memory: {} };
  const row = (k, c, m) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, c), h("td", {}, m));
  const box = h("section", { class: "pool", dataset: { root: String(!!p.root) } },
    h("h2", {}, "Allocation"),
    p.root ? h("p", { class: "muted" }, "The root pool: its resources are those of its hosts.") : null,
    h("table", { class: "grid alloc" },
      h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "CPU"), h("th", {}, "Memory"))),
      h("tbody", {},
        row("Reservation", h("span", { dataset: { field: "cpu_reservation" } }, `${a.cpu.reservation_mhz} MHz`),
          h("span", { dataset: { field: "mem_reservation" } }, `${a.memory.reservation_mib} MiB`)),
        row("Limit", limitText(a.cpu.limit_mhz, "MHz"), limitText(a.memory.limit_mib, "MiB")),
        row("Shares", sharesText(a.cpu), sharesText(a.memory)),
        row("Expandable reservation", a.cpu.expandable ? "yes" : "no", a.memory.expandable ? "yes" : "no"))),
    h("h2", {}, "Usage"),
    usageBar("CPU", u.cpu.reserved_for_children_mhz || 0, u.cpu.unreserved_mhz || 0, "MHz", "cpu"),
    usageBar("Memory", u.memory.reserved_for_children_mib || 0, u.memory.unreserved_mib || 0, "MiB", "memory"));
  body.appendChild(box);
  sizeBars(box);
}

const SHARES = [{ value: "low", label: "Low" }, { value: "normal", label: "Normal" }, { value: "high", label: "High" }];

function allocationFields(a) {
  const shares = (side) => (side && side.shares_level === "custom"
    ? [...SHARES, { value: String(side.shares), label: `Custom (${side.shares})` }] : SHARES);
  const lim = (v) => (v === undefined || v < 0 ? "" : String(v));
  return [
    { name: "cpu_res", label: "CPU reservation (MHz)", type: "number", min: 0, value: String(a ? a.cpu.reservation_mhz : 0) },
    { name: "cpu_lim", label: "CPU limit (MHz)", type: "number", min: 0, value: lim(a && a.cpu.limit_mhz), hint: "empty: unlimited" },
    { name: "cpu_shares", label: "CPU shares", type: "select", options: shares(a && a.cpu),
      value: a ? (a.cpu.shares_level === "custom" ? String(a.cpu.shares) : a.cpu.shares_level) : "normal" },
    { name: "cpu_exp", label: "Expandable CPU reservation", type: "checkbox", value: a ? a.cpu.expandable : true },
    { name: "mem_res", label: "Memory reservation (MiB)", type: "number", min: 0, value: String(a ? a.memory.reservation_mib : 0) },
    { name: "mem_lim", label: "Memory limit (MiB)", type: "number", min: 0, value: lim(a && a.memory.limit_mib), hint: "empty: unlimited" },
    { name: "mem_shares", label: "Memory shares", type: "select", options: shares(a && a.memory),
      value: a ? (a.memory.shares_level === "custom" ? String(a.memory.shares) : a.memory.shares_level) : "normal" },
    { name: "mem_exp", label: "Expandable memory reservation", type: "checkbox", value: a ? a.memory.expandable : true },
  ];
}

function allocationOf(v) {
  const num = (s) => (s.trim() === "" ? -1 : Number(s));
  const shares = (s) => (/^\d+$/.test(s) ? Number(s) : s);
  return {
    cpu: { reservation_mhz: Number(v.cpu_res || 0), limit_mhz: num(v.cpu_lim), shares: shares(v.cpu_shares), expandable: v.cpu_exp },
    memory: { reservation_mib: Number(v.mem_res || 0), limit_mib: num(v.mem_lim), shares: shares(v.mem_shares), expandable: v.mem_exp },
  };
}

export function editPoolDialog(obj, pool, done) {
  openDialog(`Edit resource pool ${obj.name}`, allocationFields(pool && pool.allocation), async (v) => {
    await api("PATCH", `/api/v1/resource-pools/${enc(obj.id)}`, { allocation: allocationOf(v) });
    done();
  }, "Save");
}

// parent: the pool the new one goes in (a cluster's or host's root pool, or any pool).
export function newPoolDialog(parent, done) {
  openDialog("New resource pool", [{ name: "name", label: "Name", required: true }, ...allocationFields(null)], async (v) => {
    const o = await api("POST", "/api/v1/inventory", { kind: "resource_pool", parent, name: v.name.trim(), allocation: allocationOf(v) });
    await done(o);
  }, "Create");
}
