// warmgate dashboard: polls /admin/stats (same-origin cookie) and draws small SVG charts.
// No dependencies. Every chart is an <svg data-chart=NAME> whose data-* attributes carry the
// numbers it shows, so tests (and curious users) can read them back.
"use strict";
const POLL_MS = 2000;
const COLORS = ["#2f6fed", "#00a389", "#f29d38", "#b04fd1", "#e0504b", "#7a8699"];
const SVGNS = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function money(x) { return x < 0.01 ? "$" + x.toFixed(6) : x < 1 ? "$" + x.toFixed(4) : "$" + x.toLocaleString(undefined, {maximumFractionDigits: 2}); }
function pct(x) { return (100 * x).toFixed(1) + " %"; }
function num(x) { return Math.round(x).toLocaleString(); }
function ms(x) { return (1000 * x).toFixed(1) + " ms"; }
function moneyAxis(x) { return "$" + (x === 0 ? "0" : x.toPrecision(2)); }
function clock(t) { return new Date(t * 1000).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"}); }

function legend(names) {
  const d = document.createElement("div");
  d.className = "legend";
  names.forEach((n, i) => { d.insertAdjacentHTML("beforeend", `<i style="background:${COLORS[i % COLORS.length]}"></i>`); d.append(n); });
  return d;
}

// A line chart: xs (epoch seconds), series [{name, values}], fmt for the y axis.
function lineChart(box, name, xs, series, fmt, extra) {
  const W = 420, H = 170, L = 62, R = 8, T = 8, B = 22;
  const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, "data-chart": name, "data-points": xs.length, ...(extra || {})});
  const all = series.flatMap(s => s.values).filter(v => Number.isFinite(v));
  const top = Math.max(1e-9, ...all) * 1.1;
  const x = i => L + (xs.length < 2 ? 0 : (i * (W - L - R)) / (xs.length - 1));
  const y = v => T + (H - T - B) * (1 - v / top);
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    svg.append(el("line", {x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e6e8ec"}));
    svg.append(el("text", {x: L - 4, y: y(v) + 3, "text-anchor": "end"}, fmt(v)));
  }
  if (xs.length) {
    svg.append(el("text", {x: L, y: H - 6}, clock(xs[0])));
    svg.append(el("text", {x: W - R, y: H - 6, "text-anchor": "end"}, clock(xs[xs.length - 1])));
  }
  // One polyline per series (intervals without data leave a gap), and a dot per point so a
  // lone point shows too.
  series.forEach((s, si) => {
    const color = COLORS[si % COLORS.length];
    const g = el("g", {"data-series": s.name, "data-points": s.values.filter(Number.isFinite).length});
    let run = [];
    const flush = () => {
      if (run.length > 1) g.append(el("polyline", {points: run.join(" "), fill: "none", stroke: color, "stroke-width": 2}));
      run = [];
    };
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) { flush(); return; }
      run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
      g.append(el("circle", {cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 2.5, fill: color}));
    });
    flush();
    svg.append(g);
  });
  box.replaceChildren(svg, legend(series.map(s => s.name)));
}

// Horizontal bars: rows [{label, value, text, share}] (share: a second, darker bar inside).
function barChart(box, name, rows, fmt) {
  const W = 420, row = 24, L = 120, H = Math.max(row, rows.length * row) + 4;
  const svg = el("svg", {viewBox: `0 0 ${W} ${H}`, "data-chart": name, "data-bars": rows.length});
  const top = Math.max(1e-9, ...rows.map(r => r.value));
  rows.forEach((r, i) => {
    const w = ((W - L - 140) * r.value) / top, yy = i * row + 4;
    const g = el("g", {"data-label": r.label, "data-value": r.value});
    g.append(el("text", {x: L - 6, y: yy + 13, "text-anchor": "end"}, r.label.length > 20 ? r.label.slice(0, 19) + "..." : r.label));
    g.append(el("rect", {x: L, y: yy, width: Math.max(1, w), height: row - 8, fill: "#c9d8fb", rx: 2}));
    if (r.share !== undefined) g.append(el("rect", {x: L, y: yy, width: Math.max(0, w * r.share), height: row - 8, fill: COLORS[0], rx: 2}));
    g.append(el("text", {x: L + w + 6, y: yy + 13}, fmt(r)));
    svg.append(g);
  });
  if (!rows.length) svg.append(el("text", {x: 8, y: 16}, "no data yet"));
  box.replaceChildren(svg);
}

function render(s) {
  const t = s.totals, pts = s.series, xs = pts.map(p => p.t);
  document.getElementById("meta").textContent =
    `up since ${new Date(s.since * 1000).toLocaleString()} · ${s.interval}s per point · prices checked ${s.prices_checked}`;
  const kpi = {requests: num(t.requests), "hit-rate": pct(t.hit_rate), "saved-cache": money(t.saved_cache),
    "saved-prompt": money(t.saved_prompt_cache), tokens: num(t.tokens_saved), cost: money(t.cost), time: t.latency_saved < 1 ? (1000 * t.latency_saved).toFixed(1) + " ms" : t.latency_saved.toFixed(1) + " s"};
  for (const [k, v] of Object.entries(kpi)) document.getElementById("kpi-" + k).textContent = v;

  const rate = f => pts.map(p => (p.requests ? p[f] / p.requests : NaN));
  lineChart(document.getElementById("chart-hit-rate"), "hit-rate", xs,
    [{name: "all hits", values: pts.map(p => (p.requests ? (p.hit + p.stale) / p.requests : NaN))},
     {name: "exact", values: rate("exact")}, {name: "coalesced", values: rate("coalesced")},
     {name: "semantic", values: rate("semantic")}, {name: "stale", values: rate("stale")}], pct,
    {"data-hit-rate": t.hit_rate});

  let a = 0, b = 0, c = 0;
  const cum = pts.map(p => { a += p.saved_cache; b += p.saved_prompt_cache; c += p.tokens_saved; return [a, b, c]; });
  lineChart(document.getElementById("chart-saved"), "saved", xs,
    [{name: "$ saved by cache", values: cum.map(v => v[0])}, {name: "$ saved by prompt cache", values: cum.map(v => v[1])}],
    moneyAxis, {"data-saved-cache": t.saved_cache, "data-saved-prompt-cache": t.saved_prompt_cache, "data-tokens-saved": t.tokens_saved});

  lineChart(document.getElementById("chart-latency"), "latency", xs,
    [{name: "cache hit", values: pts.map(p => (p.hit_count ? p.hit_latency / p.hit_count : NaN))},
     {name: "miss (through the gateway)", values: pts.map(p => (p.miss_count ? p.miss_latency / p.miss_count : NaN))},
     {name: "upstream", values: pts.map(p => (p.upstream_count ? p.upstream_latency / p.upstream_count : NaN))}], ms,
    {"data-hit-avg": t.hit_latency_avg, "data-miss-avg": t.miss_latency_avg});

  barChart(document.getElementById("chart-accounts"), "accounts",
    s.accounts.map(x => ({label: `${x.provider}/${x.account}`, value: x.cache_hit_rate, prompt: x.prompt_tokens})),
    r => `${pct(r.value)} of ${num(r.prompt)} tok`);
  const top = rows => rows.map(r => ({label: r.name || "-", value: r.requests, share: r.requests ? r.hits / r.requests : 0, saved: r.saved}));
  barChart(document.getElementById("chart-models"), "models", top(s.top_models), r => `${num(r.value)} · ${pct(r.share)} · ${money(r.saved)}`);
  barChart(document.getElementById("chart-tenants"), "tenants", top(s.top_tenants), r => `${num(r.value)} · ${pct(r.share)} · ${money(r.saved)}`);
  barChart(document.getElementById("chart-gateways"), "gateways", top(s.top_gateways), r => `${num(r.value)} · ${pct(r.share)} · ${money(r.saved)}`);

  const health = document.getElementById("health");
  health.replaceChildren();
  const pill = (text, cls) => { const p = document.createElement("span"); p.className = "pill " + cls; p.textContent = text; health.append(p); };
  const st = s.store.state;
  const words = {closed: "ok", half_open: "recovering (circuit half open)", open: "failing, bypassed (circuit open)"};
  pill(`store ${s.store.name}: ${words[st] || st} · ${num(s.store.errors)} errors`, st === "closed" || st === "off" ? "ok" : st === "half_open" ? "warn" : "bad");
  s.accounts.forEach(x => pill(`${x.provider}/${x.account}: ${x.healthy ? "healthy" : "cooling down"} · ${x.in_flight} in flight`, x.healthy ? "ok" : "bad"));
  barChart(document.getElementById("chart-health"), "health",
    s.accounts.map(x => ({label: `${x.provider}/${x.account}`, value: x.calls, share: x.calls ? (x.calls - x.failures) / x.calls : 1, failures: x.failures})),
    r => `${num(r.value)} calls · ${num(r.failures)} failed`);

  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  document.body.dataset.requests = String(t.requests);
}

async function poll() {
  const err = document.getElementById("error");
  try {
    const r = await fetch("/admin/stats", {credentials: "same-origin", cache: "no-store"});
    if (r.status === 401) { location.href = "/dashboard"; return; }
    if (!r.ok) throw new Error(`stats: HTTP ${r.status}`);
    render(await r.json());
    err.style.display = "none";
  } catch (e) {
    err.textContent = String(e);
    err.style.display = "block";
  }
  setTimeout(poll, POLL_MS);
}
poll();
