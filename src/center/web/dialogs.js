// SPDX-License-Identifier: Apache-2.0
// One modal dialog, reused: a title, some fields, OK runs an async action.
import { h, clear } from "./dom.js";

const $ = (id) => document.getElementById(id);
let current = null; // {fields, action}

function close() {
  current = null;
  if ($("dialog").open) $("dialog").close();
}

function showError(msg) {
  const p = $("dialog-error");
  p.textContent = msg;
  p.hidden = !msg;
}

export function initDialogs() {
  $("dialog-cancel").addEventListener("click", close);
  $("dialog").addEventListener("cancel", () => { current = null; });
  $("dialog-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!current) return;
    const values = {};
    for (const f of current.fields) values[f.name] = f.input.type === "checkbox" ? f.input.checked : f.input.value;
    const ok = $("dialog-ok");
    ok.disabled = true;
    showError("");
    try {
      await current.action(values);
      close();
    } catch (err) {
      showError(err.message);
    } finally {
      ok.disabled = false;
    }
  });
}

// fields: [{name, label, type ("text", "password", "number", "checkbox", "select"), value,
//          required, options ([{value, label}] for "select"), min, max, hint}]
// action(values) may throw; its message is shown in the dialog, which stays open.
export function openDialog(title, fields, action, okLabel = "OK") {
  $("dialog-title").textContent = title;
  $("dialog-ok").textContent = okLabel;
  showError("");
  const box = clear($("dialog-fields"));
  const made = fields.map((f) => {
    let input;
    if (f.type === "select") {
      input = h("select", { name: f.name, required: !!f.required },
        (f.options || []).map((o) => h("option", { value: o.value }, o.label)));
      if (f.value !== undefined) input.value = f.value;
    } else {
      input = h("input", {
        name: f.name, type: f.type || "text", required: !!f.required && f.type !== "checkbox",
        min: f.min, max: f.max, step: f.type === "number" ? "1" : undefined,
        autocomplete: f.type === "password" ? "new-password" : "off",
      });
      if (f.type === "checkbox") input.checked = !!f.value;
      else if (f.value !== undefined) input.value = f.value;
    }
    const hint = f.hint ? h("span", { class: "hint" }, f.hint) : null;
    box.appendChild(h("label", { class: f.type === "checkbox" ? "check" : "" },
      f.type === "checkbox" ? [input, f.label] : [f.label, input, hint]));
    return { ...f, input };
  });
  current = { fields: made, action };
  $("dialog").showModal();
  if (made.length) made[0].input.focus();
  else $("dialog-ok").focus();
}

// A question with no fields: OK runs the action.
export function confirmDialog(title, message, action, okLabel = "OK") {
  openDialog(title, [], action, okLabel);
  $("dialog-fields").appendChild(h("p", { class: "confirm" }, message));
}
