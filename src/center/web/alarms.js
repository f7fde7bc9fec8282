// SPDX-License-Identifier: Apache-2.0
// Triggered alarms: the Alarms tab (an object and what is below it), and the badges on
// the tree and in the top bar, polled every 20 s.
import { api, enc } from "./api.js";
import { h, clear, when } from "./dom.js";

const POLL_MS = 20_000;

// "6.34087839750277" -> "6.34"; other values as they are.
function valueText(v) {
  if (v === undefined || v === null) return "";
  const n = Number(v);
  return v !== "" && Number.isFinite(n) && !Number.isInteger(n) ? n.toFixed(2) : String(v);
}

function table(rows, onAction) {
  return h("table", { class: "grid alarms" },
    h("thead", {}, h("tr", {}, ["Status", "Alarm", "Object", "Value", "Triggered", "State", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows.map((a) => h("tr", { class: `alarm status-${a.status}`, dataset: { alarm: a.alarm, object: String(a.object_id), status: a.status, state: a.state } },
      h("td", { class: "nowrap" }, h("span", { class: `alarm-dot ${a.status}`, "aria-hidden": "true" }), ` ${a.status}`),
      h("td", {}, a.alarm_name),
      h("td", {}, a.object_name),
      h("td", {}, valueText(a.value)),
      h("td", { class: "nowrap" }, when(a.triggered)),
      h("td", {}, a.state === "acknowledged" ? `acknowledged by ${a.acknowledged_by || "?"}` : a.state),
      h("td", { class: "nowrap" },
        h("button", { type: "button", class: "small", dataset: { action: "alarm-ack" }, disabled: a.state === "acknowledged", onclick: () => onAction(a, "acknowledge") }, "Acknowledge"),
        " ",
        h("button", { type: "button", class: "small", dataset: { action: "alarm-clear" }, onclick: () => onAction(a, "clear") }, "Clear"))))));
}

export class AlarmsTab {
  // ctx: {obj, toast, watcher}
  constructor(ctx) {
    this.ctx = ctx;
    this.el = h("div", { class: "alarms-view" });
    this.load();
  }

  update(ctx) {
    this.ctx = ctx;
    this.load();
  }

  destroy() {}

  async load() {
    const refresh = h("button", { type: "button", class: "small", onclick: () => this.load() }, "Refresh");
    let rows;
    try {
      rows = (await api("GET", `/api/v1/alarms/triggered?object=${enc(this.ctx.obj.id)}`)).triggered || [];
    } catch (err) {
      clear(this.el).append(h("div", { class: "tab-tools" }, refresh), h("p", { class: "error" }, `Cannot read the alarms: ${err.message}`));
      return;
    }
    clear(this.el).append(h("div", { class: "tab-tools" }, refresh, h("span", { class: "muted" }, ` Triggered alarms on ${this.ctx.obj.name} and below.`)),
      rows.length ? table(rows, (a, op) => this.act(a, op)) : h("p", { class: "placeholder" }, "No triggered alarms."));
  }

  async act(a, op) {
    try {
      await api("POST", `/api/v1/alarms/${enc(a.alarm)}/${op}`, { object: String(a.object_id) });
    } catch (err) {
      this.ctx.toast(`Cannot ${op} alarm "${a.alarm_name}": ${err.message}`);
    }
    await this.load();
    this.ctx.watcher.pollNow();
  }
}

// Marks tree rows and the top bar with the worst status of the alarms triggered there.
export class AlarmWatcher {
  constructor(badge, tree, onOpen) {
    this.badge = badge;
    this.tree = tree;
    this.timer = null;
    this.running = false;
    badge.addEventListener("click", onOpen);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.pollNow();
      else clearTimeout(this.timer);
    });
  }

  start() {
    this.running = true;
    this.pollNow();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.badge.hidden = true;
  }

  async pollNow() {
    if (!this.running) return;
    clearTimeout(this.timer);
    try {
      const rows = (await api("GET", "/api/v1/alarms/triggered")).triggered || [];
      const worst = new Map(); // object number -> red | yellow
      for (const a of rows) {
        if (worst.get(a.object_id) !== "red") worst.set(a.object_id, a.status);
      }
      this.tree.setAlarms(worst);
      const open = rows.filter((a) => a.state !== "acknowledged");
      const red = rows.some((a) => a.status === "red");
      this.badge.hidden = rows.length === 0;
      this.badge.className = `alarm-badge ${red ? "red" : "yellow"}`;
      this.badge.dataset.status = red ? "red" : "yellow";
      const acked = rows.length - open.length;
      this.badge.textContent = `${rows.length} alarm${rows.length === 1 ? "" : "s"}${acked ? `, ${acked} acknowledged` : ""}`;
      this.badge.title = "Triggered alarms: show them all";
    } catch (err) {
      if (err.status === 401) return;
    }
    if (this.running && document.visibilityState === "visible") this.timer = setTimeout(() => this.pollNow(), POLL_MS);
  }
}
