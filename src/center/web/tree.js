// SPDX-License-Identifier: Apache-2.0
// The inventory tree: loads each object's children when it is first expanded.
import { api, enc } from "./api.js";
import { h, clear, icon, KIND_LABELS } from "./dom.js";

// Kinds that never have children in the inventory.
const LEAVES = new Set(["vm", "template", "datastore", "network", "portgroup"]);
// Sort order within a parent: containers first, then by name.
const ORDER = ["datacenter", "folder", "vm_folder", "host_folder", "datastore_folder",
  "network_folder", "cluster", "host", "resource_pool", "dvswitch", "vm", "template",
  "datastore", "network", "portgroup"];

function powerClass(o) {
  const p = o.power_state || (o.properties && o.properties.power_state);
  return p === "poweredOn" ? "on" : p === "suspended" ? "suspended" : "";
}

export class Tree {
  constructor(root, onSelect) {
    this.rootEl = root;
    this.onSelect = onSelect;
    this.nodes = new Map(); // id -> {obj, li, row, ul, loaded, expanded}
    this.selected = null;
    this.alarms = new Map(); // object number -> "red" | "yellow"
    root.addEventListener("keydown", (e) => this.key(e));
  }

  async load() {
    clear(this.rootEl);
    this.nodes.clear();
    const root = await api("GET", "/api/v1/inventory");
    const node = this.makeNode(root);
    this.rootEl.appendChild(node.li);
    this.fill(node, root.children || []);
    this.setExpanded(node, true);
    return root;
  }

  makeNode(obj) {
    const leaf = LEAVES.has(obj.kind);
    const twisty = h("button", {
      type: "button", class: "twisty", tabindex: "-1",
      "aria-label": `Expand ${obj.name}`, hidden: leaf,
      onclick: (e) => { e.stopPropagation(); this.toggle(obj.id); },
    });
    const label = h("span", { class: "label" }, obj.name);
    const row = h("div", {
      class: "tree-row", tabindex: "0", role: "treeitem", title: KIND_LABELS[obj.kind] || obj.kind,
      dataset: { ref: obj.id, kind: obj.kind },
      onclick: () => this.select(obj.id),
    }, twisty, icon(obj.kind, powerClass(obj)), label);
    const ul = h("ul", { role: "group", hidden: true });
    const li = h("li", {}, row, ul);
    const node = { obj, li, row, ul, twisty, label, loaded: false, expanded: false, leaf };
    this.nodes.set(obj.id, node);
    this.markAlarm(node);
    return node;
  }

  fill(node, children) {
    clear(node.ul);
    const kids = [...children].sort((a, b) =>
      (ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind)) || a.name.localeCompare(b.name));
    for (const c of kids) {
      const old = this.nodes.get(c.id);
      const child = this.makeNode(c);
      node.ul.appendChild(child.li);
      if (old && old.expanded) this.expand(c.id); // keep what was open
      if (this.selected === c.id) child.row.classList.add("selected");
    }
    node.loaded = true;
    if (!kids.length) node.twisty.classList.add("empty");
  }

  setExpanded(node, open) {
    node.expanded = open;
    node.ul.hidden = !open;
    node.row.setAttribute("aria-expanded", String(open));
    node.twisty.classList.toggle("open", open);
    node.twisty.setAttribute("aria-label", `${open ? "Collapse" : "Expand"} ${node.obj.name}`);
  }

  async expand(id) {
    const node = this.nodes.get(id);
    if (!node || node.leaf) return;
    if (!node.loaded) await this.reload(id);
    this.setExpanded(node, true);
  }

  async toggle(id) {
    const node = this.nodes.get(id);
    if (!node) return;
    if (node.expanded) this.setExpanded(node, false);
    else await this.expand(id);
  }

  // Reads an object's children again (after something was created under it).
  async reload(id) {
    const node = this.nodes.get(id);
    if (!node) return;
    node.row.classList.add("loading");
    try {
      const obj = await api("GET", `/api/v1/inventory/${enc(id)}`);
      node.obj = obj;
      node.label.textContent = obj.name;
      this.fill(node, obj.children || []);
    } finally {
      node.row.classList.remove("loading");
    }
  }

  // Marks a row with the worst status of the alarms triggered on its object.
  markAlarm(node) {
    const status = this.alarms.get(Number(node.obj.id.replace(/^.*-/, "")));
    node.row.classList.toggle("alarm-red", status === "red");
    node.row.classList.toggle("alarm-yellow", status === "yellow");
    if (status) node.row.dataset.alarm = status;
    else delete node.row.dataset.alarm;
  }

  // worst: Map of object number -> "red" | "yellow".
  setAlarms(worst) {
    this.alarms = worst;
    for (const node of this.nodes.values()) this.markAlarm(node);
  }

  // Reads again every loaded container of these kinds (a VM appeared somewhere in them).
  async reloadKinds(kinds) {
    const ids = [...this.nodes.values()].filter((n) => n.loaded && kinds.includes(n.obj.kind)).map((n) => n.obj.id);
    for (const id of ids) {
      try {
        await this.reload(id);
      } catch (_) {
        // gone meanwhile
      }
    }
  }

  // A VM's power state, an object's name, or a VM <-> template change.
  update(obj) {
    const node = this.nodes.get(obj.id);
    if (!node) return;
    node.label.textContent = obj.name;
    const ic = node.row.querySelector(".icon");
    if (obj.kind && obj.kind !== node.obj.kind) {
      ic.classList.replace(`k-${node.obj.kind}`, `k-${obj.kind}`);
      node.row.dataset.kind = obj.kind;
      node.row.title = KIND_LABELS[obj.kind] || obj.kind;
      node.obj = { ...node.obj, kind: obj.kind };
    }
    ic.classList.remove("on", "suspended");
    const pc = powerClass(obj);
    if (pc) ic.classList.add(pc);
  }

  has(id) {
    return this.nodes.has(id);
  }

  select(id) {
    for (const n of this.rootEl.querySelectorAll(".tree-row.selected")) n.classList.remove("selected");
    this.selected = id;
    const node = this.nodes.get(id);
    if (node) {
      node.row.classList.add("selected");
      node.row.focus({ preventScroll: false });
    }
    this.onSelect(id);
  }

  key(e) {
    const rows = [...this.rootEl.querySelectorAll(".tree-row")].filter((r) => r.offsetParent !== null);
    const i = rows.indexOf(document.activeElement);
    if (i < 0) return;
    const id = rows[i].dataset.ref;
    const node = this.nodes.get(id);
    if (e.key === "ArrowDown" && i + 1 < rows.length) rows[i + 1].focus();
    else if (e.key === "ArrowUp" && i > 0) rows[i - 1].focus();
    else if (e.key === "ArrowRight" && node && !node.expanded) this.expand(id);
    else if (e.key === "ArrowLeft" && node && node.expanded) this.setExpanded(node, false);
    else if (e.key === "Enter" || e.key === " ") this.select(id);
    else return;
    e.preventDefault();
  }
}
