// SPDX-License-Identifier: Apache-2.0
// The content pane: an object's header, its actions, and its tabs (Summary, Monitor,
// Snapshots, Console, Alarms, Events).
import { api, enc } from "./api.js";
import { h, clear, when, bytes, icon, KIND_LABELS, POWER_LABELS } from "./dom.js";
import { openDialog, confirmDialog } from "./dialogs.js";
import { SnapshotsTab } from "./snapshots.js";
import { ConsoleTab } from "./console.js";
import { MonitorTab } from "./monitor.js";
import { AlarmsTab } from "./alarms.js";
import { renderPool, editPoolDialog, newPoolDialog } from "./pools.js";
import { newVmDialog, cloneDialog, migrateDialog, vmFolderOf } from "./provision.js";

const FOLDER_KINDS = new Set(["folder", "vm_folder", "host_folder", "datastore_folder", "network_folder"]);

const POWER_ACTIONS = [
  { op: "on", label: "Power on", priv: "VirtualMachine.Interact.PowerOn", from: ["poweredOff", "suspended"] },
  { op: "off", label: "Power off", priv: "VirtualMachine.Interact.PowerOff", from: ["poweredOn", "suspended"] },
  { op: "reset", label: "Reset", priv: "VirtualMachine.Interact.Reset", from: ["poweredOn"] },
  { op: "shutdown", label: "Shut down guest", priv: "VirtualMachine.Interact.PowerOff", from: ["poweredOn"] },
  { op: "suspend", label: "Suspend", priv: "VirtualMachine.Interact.Suspend", from: ["poweredOn"] },
];

const TAB_LABELS = {
  summary: "Summary", monitor: "Monitor", snapshots: "Snapshots", console: "Console", alarms: "Alarms", events: "Events",
};

function tabsFor(kind) {
  if (kind === "vm") return ["summary", "monitor", "snapshots", "console", "alarms", "events"];
  if (kind === "template") return ["summary", "snapshots", "alarms", "events"];
  if (kind === "host") return ["summary", "monitor", "alarms", "events"];
  return ["summary", "alarms", "events"];
}

// The root resource pool of a cluster or standalone host, from its children.
function rootPoolOf(obj) {
  const p = (obj.children || []).find((c) => c.kind === "resource_pool");
  return p ? p.id : null;
}

function propRows(pairs) {
  return h("table", { class: "props" }, h("tbody", {}, pairs
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))));
}

function scalar(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export class ObjectView {
  // el: the content pane; ctx: {tree, tasks (poller), toast(msg)}
  constructor(el, ctx) {
    this.el = el;
    this.ctx = ctx;
    this.ref = null;
    this.tab = "summary";
    this.gen = 0;
    this.obj = null;
    this.tabCtl = null; // {ref, tab, ctl}: the live tab (console, monitor, ...)
  }

  dropTab() {
    if (this.tabCtl) this.tabCtl.ctl.destroy();
    this.tabCtl = null;
  }

  clearView() {
    this.dropTab();
    this.ref = null;
    this.obj = null;
    clear(this.el).appendChild(h("p", { class: "placeholder" }, "Select an object in the inventory."));
  }

  async show(ref, tab) {
    if (ref !== this.ref) this.tab = "summary";
    if (tab) this.tab = tab;
    this.ref = ref;
    await this.refresh();
  }

  async refresh() {
    if (!this.ref) return;
    const gen = ++this.gen;
    const ref = this.ref;
    let obj, detail = null, privs;
    try {
      obj = await api("GET", `/api/v1/inventory/${enc(ref)}`);
      if (obj.kind === "vm" || obj.kind === "template") detail = await api("GET", `/api/v1/vms/${enc(obj.id)}`);
      else if (obj.kind === "host") detail = await api("GET", `/api/v1/hosts/${enc(obj.id)}`);
      else if (obj.kind === "resource_pool") detail = await api("GET", `/api/v1/resource-pools/${enc(obj.id)}`);
      if (detail && detail.host && (obj.kind === "vm" || obj.kind === "template")) {
        try {
          detail.host_name = (await api("GET", `/api/v1/inventory/${enc(detail.host)}`)).name;
        } catch (_) {
          detail.host_name = detail.host;
        }
      }
      privs = await this.privileges(this.actionsFor(obj, detail));
    } catch (err) {
      if (gen !== this.gen) return;
      clear(this.el).appendChild(h("p", { class: "error", role: "alert" }, `Cannot show ${ref}: ${err.message}`));
      return;
    }
    if (gen !== this.gen) return; // another object was selected meanwhile
    this.obj = obj;
    this.detail = detail;
    this.ctx.tree.update(detail && (obj.kind === "vm" || obj.kind === "template") ? { ...obj, power_state: detail.power_state } : obj);
    this.render(obj, detail, privs);
  }

  // {target ref: Set of privileges} for the actions' targets.
  async privileges(actions) {
    const out = {};
    for (const t of new Set(actions.map((a) => a.target))) {
      try {
        const r = await api("GET", `/api/v1/sessions/current/privileges?object=${enc(t)}`);
        out[t] = new Set(r.privileges || []);
      } catch (err) {
        if (err.status === 401) throw err;
        out[t] = new Set(); // cannot tell: leave the actions disabled
      }
    }
    return out;
  }

  actionsFor(obj, detail) {
    const acts = [];
    const kind = obj.kind;
    if (kind === "vm" && detail) {
      for (const p of POWER_ACTIONS) {
        acts.push({
          id: `power-${p.op}`, label: p.label, priv: p.priv, target: obj.id,
          ok: p.from.includes(detail.power_state) && !detail.busy_task,
          run: () => this.submit(`/api/v1/vms/${enc(obj.id)}/power/${p.op}`),
        });
      }
    }
    if ((kind === "vm" || kind === "template") && detail) {
      const off = kind === "template" || detail.power_state === "poweredOff";
      acts.push({
        id: "clone", label: kind === "template" ? "New VM from template…" : "Clone…", target: obj.id, ok: true,
        priv: kind === "template" ? "VirtualMachine.Provisioning.DeployTemplate" : "VirtualMachine.Provisioning.Clone",
        run: () => this.guard(cloneDialog(obj, (m, p, b) => this.request(m, p, b))),
      });
      if (kind === "vm") {
        acts.push({ id: "to-template", label: "Convert to template", priv: "VirtualMachine.Provisioning.MarkAsTemplate",
          target: obj.id, ok: off, run: () => this.templateDialog(obj, true) });
        acts.push({ id: "migrate", label: "Migrate…", priv: "Resource.ColdMigrate", target: obj.id, ok: off,
          run: () => this.guard(migrateDialog(obj, detail, (m, p, b) => this.request(m, p, b))) });
      } else {
        acts.push({ id: "to-vm", label: "Convert to VM", priv: "VirtualMachine.Provisioning.MarkAsVM",
          target: obj.id, ok: true, run: () => this.templateDialog(obj, false) });
      }
    }
    if (kind === "cluster" || kind === "resource_pool" || kind === "host") {
      const folder = vmFolderOf(obj);
      acts.push({ id: "new-vm", label: "New VM…", priv: "VirtualMachine.Inventory.Create", target: folder, ok: true,
        run: () => this.guard(newVmDialog(obj, (m, p, b) => this.request(m, p, b))) });
    }
    if (kind === "cluster" || kind === "resource_pool" || kind === "host") {
      const parent = kind === "resource_pool" ? obj.id : rootPoolOf(obj);
      if (parent) {
        acts.push({ id: "new-pool", label: "New resource pool…", priv: "Resource.CreatePool", target: parent, ok: true,
          run: () => newPoolDialog(parent, async (o) => this.created(o)) });
      }
    }
    if (kind === "resource_pool") {
      acts.push({ id: "edit-pool", label: "Edit settings…", priv: "Resource.EditPool", target: obj.id, ok: !!detail && !detail.root,
        run: () => editPoolDialog(obj, detail, () => this.refresh()) });
    }
    if (kind === "folder") {
      acts.push({ id: "new-datacenter", label: "New datacenter…", priv: "Datacenter.Create", target: obj.id, ok: true,
        run: () => this.createDialog("New datacenter", "datacenter", obj.id) });
    }
    if (kind === "datacenter" || kind === "host_folder") {
      const target = kind === "datacenter" ? `${obj.path}/host` : obj.id;
      acts.push({ id: "new-cluster", label: "New cluster…", priv: "Host.Inventory.CreateCluster", target, ok: true,
        run: () => this.createDialog("New cluster", "cluster", target) });
    }
    if (FOLDER_KINDS.has(kind)) {
      acts.push({ id: "new-folder", label: "New folder…", priv: "Folder.Create", target: obj.id, ok: true,
        run: () => this.createDialog("New folder", kind, obj.id) });
    }
    if (kind === "datacenter" || kind === "host_folder" || kind === "cluster") {
      const target = kind === "datacenter" ? `${obj.path}/host` : obj.id;
      const priv = kind === "cluster" ? "Host.Inventory.AddHostToCluster" : "Host.Inventory.AddStandaloneHost";
      acts.push({ id: "add-host", label: "Add host…", priv, target, ok: true, run: () => this.addHostDialog(target) });
    }
    return acts;
  }

  // A dialog that needs data first: a failure to read it is shown.
  async guard(promise) {
    try {
      await promise;
    } catch (err) {
      this.ctx.toast(err.message);
    }
  }

  // A request that starts a task (or answers at once); throws for the dialog to show.
  async request(method, path, body) {
    const r = await api(method, path, body);
    this.ctx.tasks.pollNow();
    return r;
  }

  templateDialog(obj, toTemplate) {
    confirmDialog(toTemplate ? "Convert to template" : "Convert to VM",
      toTemplate ? `Convert "${obj.name}" to a template? A template cannot be powered on; VMs are deployed from it.`
        : `Convert template "${obj.name}" back to a VM?`,
      async () => {
        const o = await api("POST", `/api/v1/vms/${enc(obj.id)}/template`, { template: toTemplate });
        this.ctx.tree.update(o);
        await this.refresh();
      }, "Convert");
  }

  // An object was made under a parent: show it in the tree.
  async created(o) {
    if (o && o.parent_id !== undefined) {
      const parent = [...this.ctx.tree.nodes.keys()].find((k) => k.replace(/^.*-/, "") === String(o.parent_id));
      if (parent) {
        await this.ctx.tree.reload(parent);
        await this.ctx.tree.expand(parent);
      }
    }
    await this.refresh();
  }

  async submit(path) {
    for (const b of this.el.querySelectorAll(".toolbar button")) b.disabled = true;
    try {
      await api("POST", path);
      this.ctx.tasks.pollNow();
    } catch (err) {
      this.ctx.toast(err.message);
      this.refresh();
    }
  }

  createDialog(title, kind, parent) {
    openDialog(title, [{ name: "name", label: "Name", required: true }], async (v) => {
      const o = await api("POST", "/api/v1/inventory", { kind, parent, name: v.name.trim() });
      if (o.parent && this.ctx.tree.has(o.parent)) {
        await this.ctx.tree.reload(o.parent);
        await this.ctx.tree.expand(o.parent);
      }
      this.refresh();
    }, "Create");
  }

  addHostDialog(parent) {
    openDialog("Add host", [
      { name: "url", label: "Host URL (https://host:8443)", required: true },
      { name: "username", label: "User name", value: "admin", required: true },
      { name: "password", label: "Password", type: "password", required: true },
      { name: "name", label: "Name in the inventory (optional)" },
      { name: "tls_insecure", label: "Accept the host's certificate without checking it", type: "checkbox" },
    ], async (v) => {
      const body = { url: v.url.trim(), username: v.username, password: v.password, parent };
      if (v.name.trim()) body.name = v.name.trim();
      if (v.tls_insecure) body.tls_insecure = true;
      await api("POST", "/api/v1/hosts", body);
      this.ctx.tasks.pollNow();
    }, "Add");
  }

  render(obj, detail, privs) {
    const actions = this.actionsFor(obj, detail);
    const toolbar = h("div", { class: "toolbar", role: "toolbar" }, actions.map((a) => {
      const allowed = privs[a.target] && privs[a.target].has(a.priv);
      return h("button", {
        type: "button", dataset: { action: a.id }, disabled: !(a.ok && allowed),
        title: allowed ? a.label.replace("…", "") : `You lack ${a.priv} here`, onclick: a.run,
      }, a.label);
    }));
    const names = tabsFor(obj.kind);
    if (!names.includes(this.tab)) this.tab = "summary";
    const tabs = h("div", { class: "tabs", role: "tablist" }, names.map((t) =>
      h("button", {
        type: "button", role: "tab", class: t === this.tab ? "active" : "", dataset: { tab: t },
        "aria-selected": String(t === this.tab),
        onclick: () => { this.tab = t; this.render(obj, detail, privs); },
      }, TAB_LABELS[t])));
    const body = h("div", { class: "tab-body", role: "tabpanel", dataset: { tab: this.tab } });
    const pstate = detail && detail.power_state;
    // A live tab survives the re-render (a task ended): so does the keyboard focus in it.
    const focused = this.tabCtl && this.tabCtl.ctl.el.contains(document.activeElement) ? document.activeElement : null;
    clear(this.el).append(
      h("div", { class: "obj-header" },
        icon(obj.kind, pstate === "poweredOn" ? "on" : pstate === "suspended" ? "suspended" : ""),
        h("h1", {}, obj.name), h("span", { class: "kind" }, KIND_LABELS[obj.kind] || obj.kind)),
      toolbar, tabs, body);
    const live = { summary: null, events: null, monitor: MonitorTab, snapshots: SnapshotsTab, console: ConsoleTab, alarms: AlarmsTab }[this.tab];
    if (!live) {
      this.dropTab();
      if (this.tab === "summary") this.renderSummary(body, obj, detail);
      else this.renderEvents(body, obj);
      return;
    }
    const ctx = {
      obj, detail, privs: privs[obj.id] || new Set(), toast: this.ctx.toast, watcher: this.ctx.watcher,
      submit: (m, p, b) => this.request(m, p, b),
    };
    if (this.tabCtl && this.tabCtl.ref === obj.id && this.tabCtl.tab === this.tab) {
      this.tabCtl.ctl.update(ctx);
    } else {
      this.dropTab();
      this.tabCtl = { ref: obj.id, tab: this.tab, ctl: new live(ctx) };
    }
    body.appendChild(this.tabCtl.ctl.el);
    if (focused && this.tabCtl.ctl.el.contains(focused)) focused.focus({ preventScroll: true });
  }

  renderSummary(body, obj, d) {
    const common = [["Name", obj.name], ["Kind", KIND_LABELS[obj.kind] || obj.kind], ["Path", obj.path], ["Id", obj.id]];
    if ((obj.kind === "vm" || obj.kind === "template") && d) {
      if (d.host_unavailable) body.appendChild(h("p", { class: "warning" }, `The host does not answer: ${d.host_unavailable}`));
      if (d.last_error) body.appendChild(h("p", { class: "warning" }, `Last error: ${scalar(d.last_error)}`));
      body.appendChild(propRows([
        ...common,
        ["Power state", h("span", { class: `power ${d.power_state || ""}`, dataset: { field: "power_state" } },
          POWER_LABELS[d.power_state] || d.power_state || "unknown")],
        ["Guest OS", d.guest_os],
        ["CPUs", d.vcpus],
        ["Memory", d.memory_mib !== undefined ? `${d.memory_mib} MiB` : ""],
        ["Host", d.host_name],
        ["Datastore", d.datastore],
        ["UUID", d.uuid],
        ["Template", d.template ? "yes" : ""],
      ]));
      return;
    }
    if (obj.kind === "host" && d) {
      const p = d.properties || {};
      body.appendChild(propRows([
        ...common,
        ["Connection state", h("span", { class: `conn ${d.connection_state || ""}`, dataset: { field: "connection_state" } },
          d.connection_state || "unknown")],
        ["Reason", d.connection_reason],
        ["URL", d.url],
        ["Version", p.version],
        ["CPUs", p.cpus],
        ["Memory", bytes(p.memory_bytes)],
        ["Accelerator", p.accelerator && p.accelerator.detected],
        ["VMs", p.vms !== undefined ? `${p.vms} (${p.vms_running || 0} running)` : ""],
        ["Last heard from", when(d.last_seen)],
      ]));
      return;
    }
    if (obj.kind === "resource_pool") {
      body.appendChild(propRows(common));
      if (d) renderPool(body, d);
      return;
    }
    const kids = obj.children || [];
    const counts = {};
    for (const c of kids) counts[c.kind] = (counts[c.kind] || 0) + 1;
    const extra = Object.entries(obj.properties || {}).map(([k, v]) => [k, scalar(v)]);
    body.appendChild(propRows([
      ...common,
      ["Contents", Object.entries(counts).map(([k, n]) => `${n} ${KIND_LABELS[k] || k}`).join(", ") || "empty"],
      ...extra,
    ]));
  }

  async renderEvents(body, obj) {
    const gen = this.gen;
    const refresh = h("button", { type: "button", class: "small", onclick: () => this.refresh() }, "Refresh");
    body.appendChild(h("div", { class: "tab-tools" }, refresh));
    let events;
    try {
      events = (await api("GET", `/api/v1/events?object=${enc(obj.id)}&limit=100`)).events || [];
    } catch (err) {
      body.appendChild(h("p", { class: "error" }, `Cannot read the events: ${err.message}`));
      return;
    }
    if (gen !== this.gen) return;
    if (!events.length) {
      body.appendChild(h("p", { class: "placeholder" }, "No events."));
      return;
    }
    body.appendChild(h("table", { class: "grid events" },
      h("thead", {}, h("tr", {}, ["Time", "Severity", "Type", "Message", "Object", "User"].map((t) => h("th", {}, t)))),
      h("tbody", {}, events.map((e) => h("tr", { class: `cat-${e.category}`, dataset: { type: e.type } },
        h("td", { class: "nowrap" }, when(e.time)), h("td", {}, e.category), h("td", {}, e.type),
        h("td", {}, e.message), h("td", {}, e.object_name || ""), h("td", {}, e.user || ""))))));
  }

  // A task ended: show its effect when it concerns the object on display.
  taskFinished(task) {
    if (!this.ref || !this.obj) return;
    if (task.object === this.obj.id || task.object === this.ref) this.refresh();
  }
}
