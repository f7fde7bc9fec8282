// SPDX-License-Identifier: Apache-2.0
// A VM's Console tab: its serial console over a WebSocket (a one-time ticket from
// POST /api/v1/vms/{ref}/console/ticket), shown in a small terminal.
import { api, enc } from "./api.js";
import { h, clear } from "./dom.js";

const MAX_LINES = 3000;
const SCREEN_ROWS = 24;
const PRIV = "VirtualMachine.Interact.ConsoleInteract";

// Keys that are not text, as a VT100 sends them.
const KEYS = {
  Enter: "\r", Backspace: "\x7f", Tab: "\t", Escape: "\x1b",
  ArrowUp: "\x1b[A", ArrowDown: "\x1b[B", ArrowRight: "\x1b[C", ArrowLeft: "\x1b[D",
  Home: "\x1b[H", End: "\x1b[F", Delete: "\x1b[3~", Insert: "\x1b[2~", PageUp: "\x1b[5~", PageDown: "\x1b[6~",
};

// A line-oriented screen: text with a cursor, enough of VT100 for a shell's line editing.
// Colours and other attributes are dropped.
export class Screen {
  constructor() {
    this.lines = [[]];
    this.row = 0;
    this.col = 0;
    this.saved = [0, 0];
    this.state = "text"; // text | esc | csi | osc | skip
    this.params = "";
  }

  line() {
    while (this.lines.length <= this.row) this.lines.push([]);
    return this.lines[this.row];
  }

  put(ch) {
    const l = this.line();
    while (l.length < this.col) l.push(" ");
    l[this.col++] = ch;
  }

  newline() {
    this.row++;
    this.line();
    if (this.lines.length > MAX_LINES) {
      const drop = this.lines.length - MAX_LINES;
      this.lines.splice(0, drop);
      this.row -= drop;
    }
  }

  top() {
    return Math.max(0, this.lines.length - SCREEN_ROWS);
  }

  csi(final) {
    const ps = this.params.replace(/^[?>=]/, "").split(";").map((p) => parseInt(p, 10));
    const n = Number.isFinite(ps[0]) && ps[0] > 0 ? ps[0] : 1;
    const l = this.line();
    switch (final) {
      case "A": this.row = Math.max(this.top(), this.row - n); break;
      case "B": this.row += n; this.line(); break;
      case "C": this.col += n; break;
      case "D": this.col = Math.max(0, this.col - n); break;
      case "G": this.col = n - 1; break;
      case "H": case "f": {
        const c = Number.isFinite(ps[1]) && ps[1] > 0 ? ps[1] : 1;
        this.row = this.top() + n - 1;
        this.col = c - 1;
        this.line();
        break;
      }
      case "K": {
        const mode = ps[0] || 0;
        if (mode === 0) l.length = Math.min(l.length, this.col);
        else if (mode === 1) for (let i = 0; i <= this.col && i < l.length; i++) l[i] = " ";
        else l.length = 0;
        break;
      }
      case "J": {
        const mode = ps[0] || 0;
        if (mode >= 2) {
          this.lines = [[]];
          this.row = 0;
          this.col = 0;
        } else if (mode === 0) {
          l.length = Math.min(l.length, this.col);
          this.lines.length = this.row + 1;
        }
        break;
      }
      case "P": l.splice(this.col, n); break; // delete characters
      case "@": if (this.col < l.length) l.splice(this.col, 0, ...Array(n).fill(" ")); break;
      default: break; // m (colours) and the rest: ignored
    }
  }

  write(text) {
    for (const ch of text) {
      switch (this.state) {
        case "esc":
          if (ch === "[") { this.state = "csi"; this.params = ""; }
          else if (ch === "]") this.state = "osc";
          else if ("()#%".includes(ch)) this.state = "skip";
          else {
            if (ch === "7") this.saved = [this.row, this.col];
            else if (ch === "8") [this.row, this.col] = this.saved;
            else if (ch === "c") { this.lines = [[]]; this.row = this.col = 0; }
            this.state = "text";
          }
          continue;
        case "csi":
          if (ch >= "@" && ch <= "~") { this.csi(ch); this.state = "text"; }
          else this.params += ch;
          continue;
        case "osc":
          if (ch === "\x07" || ch === "\x1b") this.state = ch === "\x1b" ? "skip" : "text";
          continue;
        case "skip":
          this.state = "text";
          continue;
        default:
          break;
      }
      if (ch === "\x1b") this.state = "esc";
      else if (ch === "\r") this.col = 0;
      else if (ch === "\n") { this.newline(); this.col = 0; }
      else if (ch === "\b") this.col = Math.max(0, this.col - 1);
      else if (ch === "\t") this.col = (Math.floor(this.col / 8) + 1) * 8;
      else if (ch < " " || ch === "\x7f") continue; // bell and other controls
      else this.put(ch);
    }
  }

  // [text before the cursor, the cursor's character, text after]
  render() {
    const before = this.lines.slice(0, this.row).map((l) => l.join("")).join("\n");
    const l = this.line();
    const cur = l.join("").padEnd(this.col + 1, " ");
    const after = this.lines.slice(this.row + 1).map((x) => x.join("")).join("\n");
    return [
      (this.row ? `${before}\n` : "") + cur.slice(0, this.col),
      cur[this.col],
      cur.slice(this.col + 1).replace(/ +$/, "") + (after || this.row + 1 < this.lines.length ? `\n${after}` : ""),
    ];
  }
}

export class ConsoleTab {
  // ctx: {obj, detail, privs (Set on the VM)}
  constructor(ctx) {
    this.ctx = ctx;
    this.ws = null;
    this.screen = new Screen();
    this.decoder = new TextDecoder();
    this.encoder = new TextEncoder();
    this.pending = false;
    this.status = h("span", { class: "console-status", dataset: { state: "idle" } });
    this.reconnect = h("button", { type: "button", class: "small", dataset: { action: "console-reconnect" }, onclick: () => this.connect() }, "Reconnect");
    this.disconnectBtn = h("button", { type: "button", class: "small", onclick: () => this.disconnect("Disconnected.") }, "Disconnect");
    this.pre = h("pre", {
      class: "terminal", tabindex: "0", role: "log", "aria-label": `Serial console of ${ctx.obj.name}`,
      onkeydown: (e) => this.key(e), onpaste: (e) => this.paste(e),
      onclick: () => this.pre.focus(),
    });
    this.el = h("div", { class: "console" },
      h("div", { class: "tab-tools" }, this.status, " ", this.reconnect, " ", this.disconnectBtn,
        h("span", { class: "muted" }, " Click the console, then type. Ctrl+letter sends control keys.")),
      this.pre);
    this.draw();
    this.start();
  }

  powered() {
    return this.ctx.detail && this.ctx.detail.power_state === "poweredOn";
  }

  setStatus(state, text) {
    this.status.dataset.state = state;
    this.status.textContent = text;
    this.reconnect.disabled = state === "connecting" || state === "connected" || !this.powered();
    this.disconnectBtn.disabled = state !== "connected";
  }

  start() {
    if (!this.ctx.privs.has(PRIV)) this.setStatus("denied", `You lack ${PRIV} on this VM.`);
    else if (!this.powered()) this.setStatus("off", "The VM is powered off: power it on to use its console.");
    else this.connect();
  }

  update(ctx) {
    const was = this.powered();
    this.ctx = ctx;
    // Moved in the page (a re-render): back to the newest output.
    requestAnimationFrame(() => { this.pre.scrollTop = this.pre.scrollHeight; });
    if (was && !this.powered()) this.disconnect("The VM is powered off: power it on to use its console.", "off");
    else if (!was && this.powered() && !this.ws) this.start();
  }

  async connect() {
    this.disconnect(null);
    this.setStatus("connecting", "Connecting…");
    let t;
    try {
      t = await api("POST", `/api/v1/vms/${enc(this.ctx.obj.id)}/console/ticket`);
    } catch (err) {
      this.setStatus("error", `Cannot open the console: ${err.message}`);
      return;
    }
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${t.path}`;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.setStatus("connected", "Connected.");
      this.pre.focus();
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      const text = typeof e.data === "string" ? e.data : this.decoder.decode(new Uint8Array(e.data), { stream: true });
      this.screen.write(text);
      this.draw();
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const why = e.code === 1000 || e.code === 1005 ? "" : ` (code ${e.code}${e.reason ? `: ${e.reason}` : ""})`;
      this.setStatus("closed", `The console closed${why}.`);
    };
  }

  disconnect(message, state = "closed") {
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    if (message) this.setStatus(state, message);
  }

  send(s) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(this.encoder.encode(s));
  }

  key(e) {
    if (e.metaKey || (e.ctrlKey && e.shiftKey)) return; // leave copy and the browser's keys alone
    let s = KEYS[e.key];
    if (!s && e.ctrlKey && !e.altKey && e.key.length === 1) {
      const c = e.key.toUpperCase().charCodeAt(0);
      if (c >= 64 && c <= 95) s = String.fromCharCode(c - 64);
    } else if (!s && e.key.length === 1 && (!e.ctrlKey || e.altKey)) {
      // Alt+key as ESC key; Ctrl+Alt is AltGr on some keyboards: the character itself.
      s = e.altKey && !e.ctrlKey ? `\x1b${e.key}` : e.key;
    }
    if (!s) return;
    e.preventDefault();
    this.send(s);
  }

  paste(e) {
    const text = e.clipboardData && e.clipboardData.getData("text");
    if (!text) return;
    e.preventDefault();
    this.send(text.replace(/\r?\n/g, "\r"));
  }

  draw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      const [before, cur, after] = this.screen.render();
      const stick = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
      clear(this.pre).append(before, h("span", { class: "cursor" }, cur), after);
      if (stick) this.pre.scrollTop = this.pre.scrollHeight;
    });
  }

  destroy() {
    this.disconnect(null);
  }
}
