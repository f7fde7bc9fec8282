// SPDX-License-Identifier: Apache-2.0
// The Monitor tab of hosts and VMs: performance history as SVG line charts.
import { api, enc } from "./api.js";
import { h, clear } from "./dom.js";

const REFRESH_MS = 20_000;
const SVG = "http://www.w3.org/2000/svg";
const DEFAULT_COUNTERS = ["cpu.usage.average", "mem.usage.average"];

export const INTERVALS = [
  { s: 20, label: "Real-time (20 s, past hour)", span: 3600e3 },
  { s: 300, label: "Past day (5 min)", span: 86400e3 },
  { s: 1800, label: "Past week (30 min)", span: 7 * 86400e3 },
  { s: 7200, label: "Past month (2 h)", span: 30 * 86400e3 },
  { s: 86400, label: "Past year (1 day)", span: 365 * 86400e3 },
];

// What each counter measures: a title, and how its values read.
const COUNTERS = {
  "cpu.usage.average": ["CPU usage", "percent"],
  "cpu.usagemhz.average": ["CPU usage", "mhz"],
  "cpu.ready.summation": ["CPU ready", "ms"],
  "mem.usage.average": ["Memory usage", "percent"],
  "mem.consumed.average": ["Memory consumed", "kb"],
  "mem.active.average": ["Memory active", "kb"],
  "mem.balloon.average": ["Memory ballooned", "kb"],
  "mem.shared.average": ["Memory shared", "kb"],
  "disk.read.average": ["Disk read rate", "kbps"],
  "disk.write.average": ["Disk write rate", "kbps"],
  "disk.maxTotalLatency.latest": ["Highest disk latency", "ms"],
  "net.received.average": ["Network receive rate", "kbps"],
  "net.transmitted.average": ["Network transmit rate", "kbps"],
  "datastore.used.latest": ["Datastore used", "kb"],
  "sys.uptime.latest": ["Uptime", "s"],
};

// A unit for values up to max: {label, div}.
function scaleFor(unit, max) {
  const binary = (base, suffix) => {
    const names = ["KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let div = 1;
    while (i < names.length - 1 && max / div >= 1024 * 2) { div *= 1024; i++; }
    return { label: names[i] + suffix, div: div * base };
  };
  switch (unit) {
    case "percent": return { label: "%", div: 1 };
    case "mhz": return max >= 2000 ? { label: "GHz", div: 1000 } : { label: "MHz", div: 1 };
    case "kb": return binary(1, "");
    case "kbps": return binary(1, "/s");
    case "ms": return { label: "ms", div: 1 };
    case "s": return { label: "s", div: 1 };
    default: return { label: "", div: 1 };
  }
}

// 1, 2, 2.5, 5 x 10^n at or above v.
function niceCeil(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  const a = Math.abs(v);
  return a >= 100 || a === 0 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function timeLabel(ms, spanMs) {
  const d = new Date(ms);
  const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (spanMs < 86400e3) return hm;
  const day = d.toLocaleDateString([], { month: "short", day: "numeric" });
  return spanMs <= 7 * 86400e3 ? `${day} ${hm}` : day;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

// points: [[ts_ms, value]]; the x axis runs from start to end (ms).
export function chart(counter, points, start, end, intervalS) {
  const [title, unit] = COUNTERS[counter] || [counter, ""];
  const W = 640, H = 220, L = 62, R = 16, T = 14, B = 38;
  const max = points.reduce((m, p) => Math.max(m, p[1]), 0);
  const sc = scaleFor(unit, max);
  let yMax = niceCeil((max / sc.div) * 1.1);
  if (unit === "percent" && max <= 100) yMax = Math.min(100, Math.max(yMax, 1));
  const x = (t) => L + ((t - start) / (end - start)) * (W - L - R);
  const y = (v) => T + (1 - v / sc.div / yMax) * (H - T - B);
  const svg = s("svg", {
    class: "chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
    "aria-label": `${title}${sc.label ? ` (${sc.label})` : ""}`, "data-counter": counter, "data-points": points.length,
  });
  // the y axis: five gridlines with values
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    const yy = T + (1 - i / 4) * (H - T - B);
    svg.append(s("line", { class: "grid", x1: L, x2: W - R, y1: yy, y2: yy }),
      s("text", { class: "tick", x: L - 6, y: yy + 4, "text-anchor": "end" }, String(Number(v.toPrecision(3)))));
  }
  svg.append(s("text", { class: "unit", x: 12, y: (H - B + T) / 2, transform: `rotate(-90 12 ${(H - B + T) / 2})`, "text-anchor": "middle" },
    sc.label || "value"));
  // the x axis: six time labels
  for (let i = 0; i <= 5; i++) {
    const t = start + ((end - start) * i) / 5;
    const xx = x(t);
    svg.append(s("line", { class: "tickmark", x1: xx, x2: xx, y1: H - B, y2: H - B + 4 }),
      s("text", { class: "tick", x: xx, y: H - B + 16, "text-anchor": i === 0 ? "start" : i === 5 ? "end" : "middle" },
        timeLabel(t, end - start)));
  }
  svg.append(s("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }),
    s("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }),
    s("text", { class: "tick", x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, "time"));
  // the line, broken where samples are missing
  const gap = intervalS * 1000 * 2.5;
  let run = [];
  const flush = () => {
    if (run.length > 1) svg.append(s("polyline", { class: "series", points: run.join(" ") }));
    run = [];
  };
  let prev = null;
  const shown = points.filter((p) => p[0] >= start && p[0] <= end);
  for (const p of shown) {
    if (prev !== null && p[0] - prev > gap) flush();
    run.push(`${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
    prev = p[0];
  }
  flush();
  shown.forEach((p, i) => {
    if (shown.length <= 90 || i === shown.length - 1) {
      svg.append(s("circle", { class: "dot", cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: 2.5 },
        s("title", {}, `${new Date(p[0]).toLocaleString()}: ${fmt(p[1] / sc.div)} ${sc.label}`)));
    }
  });
  const last = shown[shown.length - 1];
  return h("figure", { class: "chart-box", dataset: { counter } },
    h("figcaption", {}, h("strong", {}, title), ` ${counter}`,
      h("span", { class: "latest" }, last ? `latest ${fmt(last[1] / sc.div)} ${sc.label}` : "no samples yet")),
    svg);
}

export class MonitorTab {
  // ctx: {obj}
  constructor(ctx) {
    this.ctx = ctx;
    this.interval = 20;
    this.counters = [...DEFAULT_COUNTERS];
    this.timer = null;
    this.intervalSel = h("select", { "aria-label": "Interval", dataset: { field: "interval" }, onchange: () => { this.interval = Number(this.intervalSel.value); this.load(); } },
      INTERVALS.map((i) => h("option", { value: String(i.s) }, i.label)));
    this.addSel = h("select", { "aria-label": "Add a chart", dataset: { field: "counter" }, onchange: () => this.addCounter() });
    this.charts = h("div", { class: "charts" });
    this.stamp = h("span", { class: "muted" });
    this.el = h("div", { class: "monitor" },
      h("div", { class: "tab-tools" }, "Interval ", this.intervalSel, " ", this.addSel, " ",
        h("button", { type: "button", class: "small", onclick: () => this.load() }, "Refresh"), " ", this.stamp),
      this.charts);
    this.onVisible = () => { if (document.visibilityState === "visible") this.load(); else clearTimeout(this.timer); };
    document.addEventListener("visibilitychange", this.onVisible);
    this.load();
  }

  update(ctx) {
    this.ctx = ctx;
  }

  addCounter() {
    const c = this.addSel.value;
    if (c && !this.counters.includes(c)) this.counters.push(c);
    this.load();
  }

  async load() {
    clearTimeout(this.timer);
    const ref = this.ctx.obj.id;
    const iv = INTERVALS.find((i) => i.s === this.interval) || INTERVALS[0];
    const end = Date.now();
    const start = end - iv.span;
    let available = [];
    try {
      available = (await api("GET", `/api/v1/perf/counters?object=${enc(ref)}`)).counters || [];
      const figs = await Promise.all(this.counters.map(async (c) => {
        try {
          const r = await api("GET", `/api/v1/perf?object=${enc(ref)}&counter=${enc(c)}&interval=${iv.s}&start=${Math.floor(start)}&end=${Math.ceil(end)}`);
          const fig = chart(c, r.points || [], start, end, iv.s);
          if (!DEFAULT_COUNTERS.includes(c)) {
            fig.querySelector("figcaption").appendChild(h("button", {
              type: "button", class: "small", "aria-label": `Remove the chart of ${c}`, title: "Remove this chart",
              onclick: () => { this.counters = this.counters.filter((x) => x !== c); this.load(); },
            }, "×"));
          }
          return fig;
        } catch (err) {
          return h("p", { class: "error" }, `${c}: ${err.message}`);
        }
      }));
      if (this.destroyed) return;
      clear(this.charts).append(...figs);
      clear(this.addSel).append(h("option", { value: "" }, "Add a chart…"),
        available.filter((c) => !this.counters.includes(c)).map((c) => h("option", { value: c }, (COUNTERS[c] || [c])[0] + ` (${c})`)));
      this.stamp.textContent = `updated ${new Date().toLocaleTimeString()}; every 20 s`;
    } catch (err) {
      if (this.destroyed) return;
      clear(this.charts).append(h("p", { class: "error" }, `Cannot read the performance history: ${err.message}`));
    }
    if (!this.destroyed && document.visibilityState === "visible") this.timer = setTimeout(() => this.load(), REFRESH_MS);
  }

  destroy() {
    this.destroyed = true;
    clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.onVisible);
  }
}
