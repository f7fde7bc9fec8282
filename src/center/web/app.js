// SPDX-License-Identifier: Apache-2.0
// Vireo's web client: log in, then the inventory tree, the selected object, recent tasks.
import { api, login, logout, session, setUnauthorizedHandler } from "./api.js";
import { h, clear, when } from "./dom.js";
import { Tree } from "./tree.js";
import { ObjectView } from "./views.js";
import { initDialogs } from "./dialogs.js";
import { AlarmWatcher } from "./alarms.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 2000;

// Recent tasks: polled every 2 s while the page is visible.
class TaskPoller {
  constructor(tbody, onFinished) {
    this.tbody = tbody;
    this.onFinished = onFinished;
    this.states = new Map(); // task id -> last state seen
    this.timer = null;
    this.running = false;
    this.primed = false;
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.pollNow();
      else this.cancel();
    });
  }

  start() {
    this.running = true;
    this.primed = false;
    this.states.clear();
    this.pollNow();
  }

  stop() {
    this.running = false;
    this.cancel();
    clear(this.tbody);
  }

  cancel() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  schedule() {
    this.cancel();
    if (this.running && document.visibilityState === "visible") this.timer = setTimeout(() => this.pollNow(), POLL_MS);
  }

  async pollNow() {
    if (!this.running) return;
    this.cancel();
    try {
      const reply = await api("GET", "/api/v1/tasks?limit=25");
      if (!this.running) return;
      this.render(reply.tasks || []);
    } catch (err) {
      if (err.status === 401) return;
    }
    this.schedule();
  }

  render(tasks) {
    const finished = [];
    for (const t of tasks) {
      const before = this.states.get(t.id);
      const done = t.state === "succeeded" || t.state === "failed";
      if (this.primed && done && before !== t.state) finished.push(t);
      this.states.set(t.id, t.state);
    }
    this.primed = true;
    clear(this.tbody);
    for (const t of tasks) {
      let status;
      if (t.state === "running" || t.state === "queued") {
        status = h("span", { class: "status" }, t.state,
          h("progress", { max: "100", value: String(t.progress || 0) }), ` ${t.progress || 0}%`);
      } else if (t.state === "failed") {
        status = h("span", { class: "status" }, "failed", t.error ? h("span", { class: "reason" }, `: ${t.error}`) : null);
      } else {
        status = h("span", { class: "status" }, t.state);
      }
      this.tbody.appendChild(h("tr", { class: `task state-${t.state}`, dataset: { task: t.id, state: t.state } },
        h("td", { class: "desc" }, t.description || t.type),
        h("td", {}, t.object_name || t.object || ""),
        h("td", {}, status),
        h("td", {}, t.user || ""),
        h("td", { class: "nowrap" }, when(t.queued)),
        h("td", { class: "nowrap" }, when(t.finished))));
    }
    for (const t of finished) this.onFinished(t);
  }
}

let tree, view, tasks, alarms;
// Tasks whose success puts a new VM (or moves one) in the inventory.
const VM_MAKING = new Set(["VirtualMachine.clone", "Folder.createVm", "VirtualMachine.migrate"]);

function toast(msg) {
  const el = h("div", { class: "toast", role: "alert" }, msg,
    h("button", { type: "button", class: "small", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"));
  document.body.appendChild(el);
  setTimeout(() => el.remove(), 10000);
}

function showLogin(message) {
  tasks.stop();
  alarms.stop();
  view.clearView();
  clear($("tree"));
  $("main").hidden = true;
  $("login").hidden = false;
  const p = $("login-error");
  p.textContent = message || "";
  p.hidden = !message;
  $("login-password").value = "";
  $("login-user").focus();
}

async function showMain() {
  const s = session();
  $("login").hidden = true;
  $("main").hidden = false;
  $("whoami").textContent = s ? s.user : "";
  tasks.start();
  try {
    await tree.load();
    alarms.start();
  } catch (err) {
    if (err.status !== 401) {
      clear($("tree")).appendChild(h("li", { class: "error" }, `Cannot read the inventory: ${err.message}`));
    }
    return;
  }
  const ref = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  if (ref) tree.select(ref);
}

function onTaskFinished(t) {
  if (t.state === "failed") toast(`${t.description || t.type} failed: ${t.error || "no reason given"}`);
  // A host joined: show it under its cluster or folder.
  if (t.type === "Host.add" && t.object && tree.has(t.object)) tree.reload(t.object);
  // A new VM: show it in the open VM folders.
  if (t.state === "succeeded" && VM_MAKING.has(t.type)) tree.reloadKinds(["vm_folder"]);
  view.taskFinished(t);
}

function init() {
  initDialogs();
  tree = new Tree($("tree"), (ref) => {
    history.replaceState(null, "", `#/${encodeURIComponent(ref)}`);
    view.show(ref);
  });
  tasks = new TaskPoller(document.querySelector("#tasks tbody"), onTaskFinished);
  alarms = new AlarmWatcher($("alarm-badge"), tree, () => {
    const root = document.querySelector("#tree .tree-row");
    if (root) {
      tree.select(root.dataset.ref);
      view.show(root.dataset.ref, "alarms");
    }
  });
  view = new ObjectView($("content"), { tree, tasks, toast, watcher: alarms });
  setUnauthorizedHandler(() => showLogin("Your session ended; log in again."));

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const btn = $("login-submit");
    btn.disabled = true;
    $("login-error").hidden = true;
    try {
      await login($("login-user").value.trim(), $("login-password").value);
      $("login-password").value = "";
      await showMain();
    } catch (err) {
      $("login-error").textContent = err.status === 401 ? `Login failed: ${err.message}` : err.message;
      $("login-error").hidden = false;
    } finally {
      btn.disabled = false;
    }
  });
  $("logout").addEventListener("click", async () => {
    try {
      await logout();
    } catch (_) {
      // the session is forgotten here whatever the server said
    }
    history.replaceState(null, "", location.pathname);
    showLogin("");
  });

  if (session()) showMain();
  else showLogin("");
}

init();
