// SPDX-License-Identifier: Apache-2.0
// A VM's Snapshots tab: the host's snapshot tree; take, revert to and delete snapshots.
import { api, enc } from "./api.js";
import { h, clear, when } from "./dom.js";
import { openDialog, confirmDialog } from "./dialogs.js";

const PRIV_TAKE = "VirtualMachine.State.CreateSnapshot";
const PRIV_REVERT = "VirtualMachine.State.RevertToSnapshot";
const PRIV_REMOVE = "VirtualMachine.State.RemoveSnapshot";

export class SnapshotsTab {
  // ctx: {obj, detail, privs (Set on the VM), submit(method, path, body)}
  constructor(ctx) {
    this.el = h("div", { class: "snapshots" });
    this.update(ctx);
  }

  update(ctx) {
    this.ctx = ctx;
    this.load();
  }

  destroy() {}

  can(p) {
    return this.ctx.privs.has(p);
  }

  async load() {
    const { obj } = this.ctx;
    const base = `/api/v1/vms/${enc(obj.id)}/snapshots`;
    const take = h("button", {
      type: "button", dataset: { action: "snapshot-take" }, disabled: !this.can(PRIV_TAKE),
      title: this.can(PRIV_TAKE) ? "Take a snapshot" : `You lack ${PRIV_TAKE} here`,
      onclick: () => this.takeDialog(base),
    }, "Take snapshot…");
    const refresh = h("button", { type: "button", class: "small", onclick: () => this.load() }, "Refresh");
    let tree;
    try {
      tree = await api("GET", base);
    } catch (err) {
      clear(this.el).append(h("div", { class: "tab-tools" }, take, " ", refresh),
        h("p", { class: "error" }, `Cannot read the snapshots: ${err.message}`));
      return;
    }
    const list = h("ul", { class: "snap-tree", role: "tree" });
    const add = (ul, snaps) => {
      for (const s of snaps || []) {
        const current = tree.current === s.uid;
        const sub = h("ul", { role: "group" });
        ul.appendChild(h("li", {},
          h("div", { class: `snap${current ? " current" : ""}`, role: "treeitem", dataset: { snapshot: s.name, uid: String(s.uid) } },
            h("span", { class: "snap-name" }, s.name),
            current ? h("span", { class: "badge-current", title: "The VM runs from this snapshot" }, "You are here") : null,
            s.memory ? h("span", { class: "tag" }, "memory") : null,
            h("span", { class: "muted" }, when(s.created)),
            s.description ? h("span", { class: "muted desc" }, s.description) : null,
            h("span", { class: "snap-actions" },
              h("button", {
                type: "button", class: "small", dataset: { action: "snapshot-revert" }, disabled: !this.can(PRIV_REVERT),
                onclick: () => confirmDialog("Revert to snapshot",
                  `Revert "${obj.name}" to snapshot "${s.name}"? The VM's current state is lost unless it is in a snapshot.`,
                  () => this.ctx.submit("POST", `${base}/${enc(String(s.uid))}/revert`), "Revert"),
              }, "Revert"),
              h("button", {
                type: "button", class: "small", dataset: { action: "snapshot-delete" }, disabled: !this.can(PRIV_REMOVE),
                onclick: () => confirmDialog("Delete snapshot",
                  `Delete snapshot "${s.name}" of "${obj.name}"? Its changes are merged; the VM's current state stays.`,
                  () => this.ctx.submit("DELETE", `${base}/${enc(String(s.uid))}`), "Delete"),
              }, "Delete"))),
          sub));
        add(sub, s.children);
      }
    };
    add(list, tree.snapshots);
    clear(this.el).append(h("div", { class: "tab-tools" }, take, " ", refresh),
      (tree.snapshots || []).length ? list : h("p", { class: "placeholder" }, "No snapshots."));
  }

  takeDialog(base) {
    const on = this.ctx.detail && this.ctx.detail.power_state === "poweredOn";
    const stamp = new Date().toISOString().slice(0, 16).replace("T", " ");
    openDialog("Take snapshot", [
      { name: "name", label: "Name", required: true, value: `Snapshot ${stamp}` },
      { name: "description", label: "Description (optional)" },
      { name: "memory", label: on ? "Include the VM's memory" : "Include the VM's memory (only while it runs)", type: "checkbox", value: on },
    ], async (v) => {
      const body = { name: v.name.trim() };
      if (v.description.trim()) body.description = v.description.trim();
      if (v.memory) body.memory = true;
      await this.ctx.submit("POST", base, body, true);
    }, "Take");
  }

  // A task on this VM ended: the tree may have changed.
  taskFinished() {
    this.load();
  }
}
