// Weft dashboard: a single page over the admin API (same origin, /v1/).
// No framework and no build step: the DOM is built with el() below, never
// from HTML strings, so nothing the API returns can inject markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg"; // the SVG namespace (an identifier, never fetched)
const REFRESH_MS = 2000;
const TOKEN_KEY = "weft.operatorToken";

// ---------- small helpers ----------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  setAttrs(e, attrs);
  append(e, kids);
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG, tag);
  setAttrs(e, attrs);
  append(e, kids);
  return e;
}

function setAttrs(e, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.setAttribute("class", v);
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(e, kids) {
  for (const k of kids.flat()) {
    if (k === undefined || k === null || k === false) continue;
    e.appendChild(typeof k === "string" || typeof k === "number" ? document.createTextNode(String(k)) : k);
  }
}

function clear(e) {
  while (e.firstChild) e.removeChild(e.firstChild);
  return e;
}

const $ = (id) => document.getElementById(id);

function fmtRate(x) {
  if (!x) return "0";
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

function fmtPct(x) {
  if (x === undefined || x === null) return "–";
  // Truncated, never rounded up: 98.96 % shows as 98.9, on the same side
  // of the 99 % and 95 % thresholds as its colour.
  const p = x * 100;
  if (p >= 100) return "100 %";
  const one = Math.floor(p * 10 + 1e-9) / 10;
  return (one >= 99.9 ? (Math.floor(p * 100 + 1e-9) / 100).toFixed(2) : one.toFixed(1)) + " %";
}

function fmtMs(x) {
  if (!x) return "–";
  if (x >= 1000) return (x / 1000).toFixed(2) + " s";
  if (x >= 10) return x.toFixed(0) + " ms";
  return x.toFixed(1) + " ms";
}

function fmtTime(t) {
  if (!t) return "–";
  const d = new Date(t);
  if (isNaN(d) || d.getFullYear() < 2000) return "–";
  return d.toLocaleString();
}

function ago(t) {
  const d = new Date(t);
  if (isNaN(d) || d.getFullYear() < 2000) return "–";
  const s = Math.max(0, Math.round((Date.now() - d) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  if (s < 86400) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

// health: ok at 99 % and above, warn at 95 %, bad below; idle without traffic.
function health(g) {
  if (!g || !g.requests) return "idle";
  if (g.successRate >= 0.99) return "ok";
  if (g.successRate >= 0.95) return "warn";
  return "bad";
}

// ---------- the API ----------

const auth = {
  get token() { return sessionStorage.getItem(TOKEN_KEY) || ""; },
  set token(v) { if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY); showToken(); },
};

class APIError extends Error {
  constructor(status, body) {
    super((body && body.error) || "HTTP " + status);
    this.status = status;
    this.details = (body && body.details) || [];
  }
}

async function call(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (auth.token) headers["Authorization"] = "Bearer " + auth.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // Every call has a deadline: a stalled control plane shows as an error.
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store", signal: AbortSignal.timeout(15000) });
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = { error: text.trim() }; }
  }
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

const get = (path) => call("GET", path);

// ---------- token ----------

function takeTokenFromFragment() {
  const m = location.hash.match(/(?:^#|&)token=([^&]*)/);
  if (!m) return;
  auth.token = decodeURIComponent(m[1]);
  // Out of the address bar and the tab's history.
  history.replaceState(null, "", location.pathname + location.search + "#/topology");
}

function showToken() {
  const has = !!auth.token;
  $("token-state").textContent = has ? "operator" : "read-only";
  $("token-state").className = has ? "on" : "muted";
  $("token").value = "";
  $("token").placeholder = has ? "token set (replace)" : "operator token";
  $("token-clear").hidden = !has;
}

function needToken(what) {
  if (auth.token) return true;
  showError(what + " needs the operator token: paste it in the field at the top right (weft control wrote it to DATA_DIR/operator.token).");
  $("token").focus();
  return false;
}

// ---------- status line ----------

function showError(msg) {
  const e = $("error");
  e.textContent = msg || "";
  e.hidden = !msg;
}

function explainError(err) {
  if (err.status === 401) return err.message + " — enter the operator token at the top right.";
  return err.message + (err.details.length ? ": " + err.details.join("; ") : "");
}

// ---------- confirmation dialog ----------

function confirmDialog(title, body, note, okLabel) {
  const d = $("confirm");
  $("confirm-title").textContent = title;
  clear($("confirm-body")).appendChild(body);
  $("confirm-note").textContent = note || "";
  $("confirm-ok").textContent = okLabel || "Apply";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "";
    d.showModal();
  });
}

// ---------- state ----------

const state = {
  stats: null, resources: [], instances: [], proxies: [], history: [], bundle: null,
  page: "topology",
  editing: {}, // route key -> { [rule/backend]: weight } being edited
  lastResult: {}, // route key -> message after an apply
};

let refreshing = null, again = false;

// refresh fetches what the page shows and renders it; calls while one is
// running make one more run after it (the page may have changed), never a
// pile of concurrent ones.
function refresh() {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = load().finally(() => {
    refreshing = null;
    if (again) {
      again = false;
      refresh();
    }
  });
  return refreshing;
}

async function load() {
  const page = state.page;
  const wants = {
    stats: true,
    resources: page === "topology" || page === "services" || page === "routes",
    instances: page === "services" || page === "topology",
    proxies: page === "proxies",
    history: page === "history",
    bundle: page === "services" && !state.bundle,
  };
  const jobs = [];
  if (wants.stats) jobs.push(get("/v1/stats").then((s) => { state.stats = s; }));
  if (wants.resources) jobs.push(get("/v1/resources").then((r) => { state.resources = r || []; }));
  if (wants.instances) jobs.push(get("/v1/instances").then((r) => { state.instances = r || []; }));
  if (wants.proxies) jobs.push(get("/v1/proxies").then((r) => { state.proxies = r || []; }));
  if (wants.history) jobs.push(get("/v1/history").then((r) => { state.history = r || []; }));
  if (wants.bundle) jobs.push(get("/v1/bundle").then((r) => { state.bundle = r; }).catch(() => {}));
  try {
    await Promise.all(jobs);
    showError("");
  } catch (err) {
    showError(err instanceof APIError ? explainError(err) : "control plane unreachable: " + err.message);
  }
  renderStatus();
  render();
}

function renderStatus() {
  const s = state.stats;
  if (!s) return;
  // When the figures on screen were scraped, for people (below) and tools.
  $("status").dataset.updated = s.updated;
  const parts = [];
  parts.push(s.windowSeconds ? "window " + Math.round(s.windowSeconds) + " s" : "waiting for a second scrape round");
  parts.push(s.sidecars + " sidecar" + (s.sidecars === 1 ? "" : "s") + " scraped" + (s.unreachable ? ", " + s.unreachable + " unreachable" : ""));
  parts.push("updated " + ago(s.updated));
  $("status-text").textContent = parts.join(" · ");
  renderCertAlert();
}

function render() {
  switch (state.page) {
    case "topology": renderTopology(); break;
    case "services": renderServices(); break;
    case "routes": renderRoutes(); break;
    case "proxies": renderProxies(); break;
    case "history": renderHistory(); break;
    case "failures": renderFailures(); break;
  }
}

function ofKind(kind) {
  return state.resources.filter((r) => r.kind === kind);
}

// ---------- topology ----------

// serviceGolden sums a service's versions.
function serviceGolden(name) {
  const vs = ((state.stats && state.stats.services) || []).filter((s) => s.service === name);
  const g = { requests: 0, rps: 0, failed: 0 };
  for (const v of vs) {
    g.requests += v.requests;
    g.rps += v.rps;
    g.failed += v.requests * (1 - v.successRate);
  }
  g.successRate = g.requests ? 1 - g.failed / g.requests : 1;
  return g;
}

// layers places every node at its longest call depth from a node nobody
// calls (cycles are cut: a node is never deeper than the node count).
function layers(nodes, edges) {
  const depth = new Map(nodes.map((n) => [n, 0]));
  for (let i = 0; i < nodes.length; i++) {
    let moved = false;
    for (const e of edges) {
      if (e.source === e.destination) continue;
      const d = depth.get(e.source) + 1;
      if (d > depth.get(e.destination) && d < nodes.length) {
        depth.set(e.destination, d);
        moved = true;
      }
    }
    if (!moved) break;
  }
  return depth;
}

function renderTopology() {
  const stats = state.stats || { edges: [], services: [] };
  const edges = stats.edges || [];
  const names = new Set();
  for (const s of stats.services || []) names.add(s.service);
  for (const e of edges) { if (e.source) names.add(e.source); names.add(e.destination); }
  for (const r of ofKind("Service")) names.add(r.metadata.name);
  for (const i of state.instances) names.add(i.service);
  const nodes = [...names].sort();
  const graph = clear($("topology"));
  renderEdgeTable(edges);
  if (!nodes.length) {
    graph.setAttribute("viewBox", "0 0 600 200");
    graph.appendChild(svg("text", { x: 300, y: 100, "text-anchor": "middle", class: "empty", text: "No services yet: apply a Service and start its sidecars." }));
    return;
  }
  const depth = layers(nodes, edges.filter((e) => e.source));
  const cols = [];
  for (const n of nodes) (cols[depth.get(n)] = cols[depth.get(n)] || []).push(n);
  const W = 190, H = 56, GX = 250, GY = 56, PAD = 30;
  const rows = Math.max(...cols.map((c) => (c ? c.length : 0)));
  const width = PAD * 2 + cols.length * W + (cols.length - 1) * GX;
  // An edge that skips a layer runs in a lane under the nodes, so neither
  // its curve nor its label crosses the layer between.
  const skips = (e) => e.source !== e.destination && depth.has(e.source) && depth.has(e.destination) &&
    depth.get(e.destination) - depth.get(e.source) > 1;
  const base = Math.max(260, PAD * 2 + rows * H + (rows - 1) * GY);
  const lane = base - PAD / 2 + 12;
  const height = base + (edges.some(skips) ? 40 : 0);
  const pos = new Map();
  cols.forEach((col, x) => {
    if (!col) return;
    const colH = col.length * H + (col.length - 1) * GY;
    col.forEach((n, y) => pos.set(n, { x: PAD + x * (W + GX), y: (base - colH) / 2 + y * (H + GY) }));
  });
  graph.setAttribute("viewBox", `0 0 ${width} ${height}`);
  graph.setAttribute("height", String(height));
  const defs = svg("defs", {});
  for (const cls of ["ok", "warn", "bad", "idle"]) {
    const color = { ok: "#2f9e44", warn: "#e8a317", bad: "#e03131", idle: "#b8bfcc" }[cls];
    defs.appendChild(svg("marker", { id: "arrow-" + cls, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", fill: color })));
  }
  graph.appendChild(defs);
  // Edges first, so nodes sit on top of them.
  const between = new Map(); // how many edges share a pair, to fan them out
  for (const e of edges) {
    const a = pos.get(e.source), b = pos.get(e.destination);
    if (!a || !b) continue;
    const cls = health(e);
    let x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
    let d;
    if (e.source === e.destination) {
      d = `M${a.x + W - 40},${a.y} C${a.x + W - 40},${a.y - 50} ${a.x + W + 30},${a.y - 30} ${a.x + W},${a.y + 12}`;
      x1 = a.x + W - 10; y1 = a.y - 34; x2 = x1; y2 = y1;
    } else if (b.x <= a.x) { // a call back to an earlier layer
      x1 = a.x; x2 = b.x + W;
      const mx = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mx},${y1 + 60} ${mx},${y2 + 60} ${x2},${y2}`;
    } else if (skips(e)) {
      d = `M${x1},${y1} C${x1 + GX / 2},${y1} ${x1 + GX / 4},${lane} ${x1 + GX * 0.75},${lane} L${x2 - GX * 0.75},${lane} C${x2 - GX / 4},${lane} ${x2 - GX / 2},${y2} ${x2},${y2}`;
      y1 = y2 = lane;
    } else {
      const k = (between.get(e.source + ">" + e.destination) || 0);
      between.set(e.source + ">" + e.destination, k + 1);
      const mx = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
    }
    const label = e.requests ? `${fmtRate(e.rps)} req/s · ${fmtPct(e.successRate)} · p99 ${fmtMs(e.p99Ms)}` : "no requests in window";
    const lx = (x1 + x2) / 2, ly = (y1 + y2) / 2 + 4;
    const text = svg("text", { x: lx, y: ly, "text-anchor": "middle", class: "edge-label", text: label });
    const g = graph.appendChild(svg("g", {
      class: "edge " + cls, "data-source": e.source, "data-destination": e.destination,
      "data-requests": e.requests, "data-rps": e.rps.toFixed(3), "data-success": e.successRate.toFixed(5), "data-p99": e.p99Ms.toFixed(2),
    },
    svg("title", { text: `${e.source} → ${e.destination}: ${e.requests} requests in the window` }),
    svg("path", { d, "marker-end": `url(#arrow-${cls})` }),
    text));
    // A pill behind the label, sized to it once laid out, so the curve
    // never runs through the numbers.
    const box = text.getBBox();
    g.insertBefore(svg("rect", { x: box.x - 8, y: box.y - 3, width: box.width + 16, height: box.height + 6, rx: 9, ry: 9, class: "pill" }), text);
  }
  for (const n of nodes) {
    const p = pos.get(n);
    const g = serviceGolden(n);
    const inst = state.instances.filter((i) => i.service === n);
    const out = edges.filter((e) => e.source === n && e.destination !== n);
    const outRate = out.reduce((a, e) => a + e.rps, 0);
    const sub = g.requests ? `${fmtRate(g.rps)} req/s in · ${fmtPct(g.successRate)}`
      : outRate ? `calls ${fmtRate(outRate)} req/s out`
      : inst.length ? `${inst.length} instance${inst.length === 1 ? "" : "s"} · idle` : "no traffic seen";
    graph.appendChild(svg("g", { class: "node " + health(g), "data-service": n, "data-rps": g.rps.toFixed(3), "data-success": g.successRate.toFixed(5), transform: `translate(${p.x},${p.y})` },
      svg("rect", { width: W, height: H, rx: 10, ry: 10 }),
      svg("text", { x: 14, y: 23, class: "name", text: n }),
      svg("text", { x: 14, y: 42, class: "sub", text: sub })));
  }
}

function renderEdgeTable(edges) {
  const body = clear($("edge-table").tBodies[0]);
  if (!edges.length) {
    body.appendChild(el("tr", {}, el("td", { colspan: 8, class: "empty-note", text: "No calls between meshed services in the window yet." })));
    return;
  }
  for (const e of edges) {
    body.appendChild(el("tr", { "data-source": e.source, "data-destination": e.destination },
      el("td", { text: e.source }), el("td", { text: e.destination }),
      el("td", { class: "num edge-requests", text: String(e.requests) }),
      el("td", { class: "num", text: fmtRate(e.rps) }),
      el("td", { class: "num " + health(e), text: fmtPct(e.successRate) }),
      el("td", { class: "num", text: fmtMs(e.p50Ms) }), el("td", { class: "num", text: fmtMs(e.p95Ms) }), el("td", { class: "num", text: fmtMs(e.p99Ms) })));
  }
}

function spiffeID(inst) {
  const td = state.bundle && state.bundle.trustDomain;
  if (!td || !inst.mtls) return "";
  return `spiffe://${td}/ns/default/sa/${inst.service}`;
}

// ---------- certificates ----------

// certOf is an instance's certificate row from the stats, or undefined
// when its sidecar has not been scraped.
function certOf(inst) {
  return ((state.stats && state.stats.certificates) || []).find((c) => c.service === inst.service && c.instance === inst.id);
}

// fmtLeft is a time left to two units: "2d 3h", "11h 58m", "9m 12s", "40s".
function fmtLeft(secs) {
  const s = Math.max(0, Math.floor(secs || 0));
  if (s >= 86400) return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${s}s`;
}

// certCell shows a certificate's state: green with its time left, amber
// EXPIRING, red EXPIRED, or none.
function certCell(c) {
  if (!c) return el("td", { class: "cert muted", "data-cert-state": "", text: "not scraped" });
  const attrs = { class: "cert", "data-cert-state": c.state, "data-seconds-left": c.secondsLeft };
  if (c.state === "NONE") return el("td", Object.assign(attrs, { class: "cert muted", text: "none" }));
  const tip = `not after ${fmtTime(c.notAfter)} · ${c.renewalFailures} failed renewal${c.renewalFailures === 1 ? "" : "s"} · ${c.trustBundleRoots} trusted root${c.trustBundleRoots === 1 ? "" : "s"} · read ${ago(c.scraped)}`;
  const badge = {
    VALID: ["ok", "expires in " + fmtLeft(c.secondsLeft)],
    EXPIRING: ["warn", `EXPIRING · ${fmtLeft(c.secondsLeft)} left`],
    EXPIRED: ["bad", "EXPIRED"],
  }[c.state] || ["", c.state];
  return el("td", attrs, el("span", { class: "badge " + badge[0], title: tip, text: badge[1] }),
    c.renewalFailures && c.state !== "VALID" ? el("span", { class: "muted", text: ` ${c.renewalFailures} failed renewals` }) : null);
}

// renderCertAlert puts a banner under the status line, on every page,
// while any certificate is EXPIRING or EXPIRED: mTLS to and from a
// sidecar stops when its certificate expires.
function renderCertAlert() {
  const box = $("cert-alert");
  const certs = ((state.stats && state.stats.certificates) || []).filter((c) => c.state === "EXPIRING" || c.state === "EXPIRED")
    .sort((a, b) => (a.state === b.state ? a.secondsLeft - b.secondsLeft : a.state === "EXPIRED" ? -1 : 1));
  if (!certs.length) {
    box.hidden = true;
    clear(box);
    return;
  }
  const expired = certs.filter((c) => c.state === "EXPIRED").length;
  const expiring = certs.length - expired;
  const parts = [];
  if (expired) parts.push(`${expired} EXPIRED`);
  if (expiring) parts.push(`${expiring} EXPIRING`);
  const names = certs.slice(0, 5).map((c) => `${c.service}/${c.instance} (${c.state === "EXPIRED" ? "expired" : fmtLeft(c.secondsLeft) + " left"})`);
  if (certs.length > 5) names.push(`${certs.length - 5} more`);
  box.className = "alert " + (expired ? "bad" : "warn");
  box.dataset.expired = expired;
  box.dataset.expiring = expiring;
  clear(box).append(
    el("b", { text: `Certificates: ${parts.join(", ")}. ` }),
    `${names.join(", ")}. ${expired ? "New mTLS connections to or from an expired sidecar fail until its certificate is renewed. " : "Renewal is failing: mTLS stops at expiry. "}`,
    el("a", { href: "#/services", text: "See the services page." }));
  box.hidden = false;
}

// ---------- services ----------

function renderServices() {
  const root = clear($("services"));
  const stats = (state.stats && state.stats.services) || [];
  const names = new Set([...ofKind("Service").map((r) => r.metadata.name), ...state.instances.map((i) => i.service), ...stats.map((s) => s.service)]);
  if (!names.size) {
    root.appendChild(el("p", { class: "empty-note", text: "No services yet." }));
    return;
  }
  for (const name of [...names].sort()) {
    const res = ofKind("Service").find((r) => r.metadata.name === name);
    const insts = state.instances.filter((i) => i.service === name);
    const versions = stats.filter((s) => s.service === name);
    const g = serviceGolden(name);
    const card = el("div", { class: "card service", "data-service": name },
      el("div", { class: "card-head" },
        el("h3", { text: name }),
        el("span", { class: "badge " + health(g), text: g.requests ? fmtPct(g.successRate) : "idle" }),
        el("span", { class: "muted", text: res ? `subsets: ${((res.spec && res.spec.subsets) || []).map((s) => s.name).join(", ") || "none"}` : "no Service resource (registered instances only)" })));
    const vt = el("table", { class: "grid versions" }, el("thead", {}, el("tr", {},
      ["Version", "Instances", "Requests", "req/s", "Success", "p50", "p95", "p99"].map((h, i) => el("th", { class: i ? "num" : "", text: h })))));
    const vb = el("tbody", {});
    for (const v of versions) {
      vb.appendChild(el("tr", { "data-version": v.version || "" },
        el("td", { text: v.version || "(none)" }), el("td", { class: "num", text: String(v.instances) }),
        el("td", { class: "num", text: String(v.requests) }), el("td", { class: "num", text: fmtRate(v.rps) }),
        el("td", { class: "num " + health(v), text: fmtPct(v.successRate) }),
        el("td", { class: "num", text: fmtMs(v.p50Ms) }), el("td", { class: "num", text: fmtMs(v.p95Ms) }), el("td", { class: "num", text: fmtMs(v.p99Ms) })));
    }
    if (!versions.length) vb.appendChild(el("tr", {}, el("td", { colspan: 8, class: "muted", text: "no scraped sidecar reports this service yet" })));
    vt.appendChild(vb);
    card.appendChild(vt);
    const it = el("table", { class: "grid instances" }, el("thead", {}, el("tr", {},
      ["Instance", "Address", "Version", "Health", "Sidecar (xDS node)", "Admin", "Identity", "Certificate"].map((h) => el("th", { text: h })))));
    const ib = el("tbody", {});
    for (const i of insts) {
      const st = i.disconnected ? ["bad", "sidecar disconnected"] : i.ready ? ["ok", "ready"] : ["warn", "not ready"];
      const cert = certOf(i);
      ib.appendChild(el("tr", { "data-instance": i.id },
        el("td", { class: "mono", text: i.id }), el("td", { class: "mono", text: `${i.address}:${i.port}` }),
        el("td", { text: (i.labels && i.labels.version) || "–" }),
        el("td", {}, el("span", { class: "badge " + st[0], text: st[1] })),
        el("td", { class: "mono", text: i.node || "–" }), el("td", { class: "mono", text: i.admin || "–" }),
        el("td", { class: "mono", text: i.mtls ? (cert && cert.spiffeId) || spiffeID(i) || "mTLS" : "no certificate (plaintext)" }),
        certCell(cert)));
    }
    if (!insts.length) ib.appendChild(el("tr", {}, el("td", { colspan: 8, class: "muted", text: "no registered instances" })));
    it.appendChild(ib);
    card.appendChild(el("h2", { text: "Instances" }));
    card.appendChild(it);
    root.appendChild(card);
  }
}

// ---------- routes ----------

function routeKey(r) { return `${r.metadata.namespace || "default"}/${r.metadata.name}`; }

// observedShare: the share of a backend among the rule's backends, from
// the destination-reported rate of the version its subset selects.
function backendRate(ref) {
  const stats = (state.stats && state.stats.services) || [];
  let version = null;
  if (ref.subset) {
    const svc = ofKind("Service").find((s) => s.metadata.name === ref.name);
    const sub = svc && ((svc.spec && svc.spec.subsets) || []).find((s) => s.name === ref.subset);
    version = (sub && sub.labels && sub.labels.version) || ref.subset;
  }
  let rps = 0;
  for (const s of stats) if (s.service === ref.name && (version === null || s.version === version)) rps += s.rps;
  return rps;
}

function weightOf(ref) { return ref.weight === undefined || ref.weight === null ? 1 : ref.weight; }

function backendLabel(ref) { return ref.subset ? `${ref.name} / ${ref.subset}` : ref.name; }

function renderRoutes() {
  const root = $("routes");
  // Keep a half-typed weight: do not rebuild a card whose input has focus.
  const focused = document.activeElement && document.activeElement.classList.contains("weight") ? document.activeElement : null;
  const routes = ofKind("HTTPRoute");
  if (!routes.length) {
    clear(root).appendChild(el("p", { class: "empty-note", text: "No HTTPRoutes." }));
    return;
  }
  // Nor one with weights edited but not yet applied: the user (or a
  // browser driver) may be about to click in it, and a rebuilt card
  // would swallow the click.
  const pending = routes.some((r) => Object.keys(state.editing[routeKey(r)] || {}).length > 0);
  const cards = routes.map((r) => routeCard(r, focused));
  if (focused || pending) {
    // Update the figures of other cards only.
    routes.forEach((r, i) => {
      const c = cards[i];
      const old = root.querySelector(`.route[data-route="${CSS.escape(c.dataset.route)}"]`);
      const keep = old && ((focused && old.contains(focused)) || Object.keys(state.editing[routeKey(r)] || {}).length > 0);
      if (old && !keep) old.replaceWith(c);
    });
    return;
  }
  clear(root);
  cards.forEach((c) => root.appendChild(c));
}

function routeCard(r, focused) {
  const key = routeKey(r);
  const edit = state.editing[key] || (state.editing[key] = {});
  const card = el("div", { class: "card route", "data-route": r.metadata.name },
    el("div", { class: "card-head" }, el("h3", { text: r.metadata.name }),
      el("span", { class: "muted", text: "for " + ((r.spec.parentRefs || []).map((p) => p.name).join(", ") || "–") }),
      el("span", { class: "muted", text: "generation " + (r.metadata.generation || 1) + " · revision " + (r.metadata.resourceVersion || "–") })));
  (r.spec.rules || []).forEach((rule, ri) => {
    const refs = rule.backendRefs || [];
    if (!refs.length) return;
    const total = refs.reduce((a, b) => a + weightOf(b), 0);
    const rates = refs.map(backendRate);
    const rateSum = rates.reduce((a, b) => a + b, 0);
    const match = (rule.matches || []).map((m) => (m.path ? `${m.path.type || "PathPrefix"} ${m.path.value}` : "") + (m.headers ? " headers" : "")).filter(Boolean).join(", ");
    card.appendChild(el("div", { class: "muted", text: `rule ${ri + 1}` + (match ? ` · ${match}` : " · every request") }));
    const t = el("table", { class: "grid backends" }, el("thead", {}, el("tr", {},
      el("th", { text: "Backend" }), el("th", { class: "num", text: "Weight" }), el("th", { text: "Configured" }),
      el("th", { text: "Observed" }), el("th", { class: "num", text: "req/s" }), el("th", { class: "num", text: "New weight" }))));
    const tb = el("tbody", {});
    refs.forEach((ref, bi) => {
      const w = weightOf(ref);
      const conf = total ? w / total : 0;
      const obs = rateSum ? rates[bi] / rateSum : 0;
      const id = `${ri}/${bi}`;
      const input = el("input", { type: "number", min: 0, max: 1000000, step: 1, class: "weight", "data-rule": ri, "data-backend": bi, "aria-label": "new weight of " + backendLabel(ref),
        value: edit[id] !== undefined ? edit[id] : w });
      input.addEventListener("input", () => { edit[id] = input.value; });
      tb.appendChild(el("tr", { "data-rule": ri, "data-backend": backendLabel(ref), "data-configured": conf.toFixed(4), "data-observed": obs.toFixed(4) },
        el("td", { text: backendLabel(ref) }), el("td", { class: "num", text: String(w) }),
        el("td", {}, el("div", { class: "bar" }, barSpan(conf)), el("small", { class: "muted", text: (conf * 100).toFixed(0) + " %" })),
        el("td", {}, el("div", { class: "bar observed" }, barSpan(obs)), el("small", { class: "muted observed-pct", text: rateSum ? (obs * 100).toFixed(0) + " %" : "no traffic" })),
        el("td", { class: "num", text: fmtRate(rates[bi]) }),
        el("td", { class: "num" }, input)));
    });
    t.appendChild(tb);
    card.appendChild(t);
  });
  const result = el("span", { class: "result", text: state.lastResult[key] || "" });
  card.appendChild(el("div", { class: "route-actions" },
    el("button", { class: "primary review", onclick: () => reviewWeights(r, result) }, "Review weight change…"),
    el("button", { class: "link", onclick: () => { state.editing[key] = {}; state.lastResult[key] = ""; renderRoutes(); } }, "reset"),
    result));
  return card;
}

// barSpan is a bar's fill; its width goes through the CSSOM, which the
// page's CSP allows (style attributes it does not).
function barSpan(frac) {
  const s = el("span", {});
  s.style.width = Math.max(0, Math.min(100, frac * 100)).toFixed(1) + "%";
  return s;
}

async function reviewWeights(r, result) {
  const key = routeKey(r);
  const edit = state.editing[key] || {};
  const next = JSON.parse(JSON.stringify(r));
  const lines = [];
  const problems = [];
  (next.spec.rules || []).forEach((rule, ri) => (rule.backendRefs || []).forEach((ref, bi) => {
    const v = edit[`${ri}/${bi}`];
    if (v === undefined || v === "") return;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 1000000) {
      problems.push(`rule ${ri + 1}, ${backendLabel(ref)}: weight must be a whole number 0..1000000; got ${v}`);
      return;
    }
    if (n !== weightOf(ref)) {
      lines.push({ what: `rule ${ri + 1} · ${backendLabel(ref)}`, from: weightOf(ref), to: n });
      ref.weight = n;
    }
  }));
  if (problems.length) {
    result.textContent = problems.join("; ");
    result.className = "result bad";
    return;
  }
  if (!lines.length) {
    result.textContent = "no weight changed";
    result.className = "result muted";
    return;
  }
  if (!needToken("Changing a route")) return;
  // The resource as apply takes it: the control plane sets these.
  delete next.status;
  delete next.metadata.resourceVersion;
  delete next.metadata.generation;
  const body = el("table", { class: "grid", id: "weight-diff" }, el("thead", {}, el("tr", {}, el("th", { text: "Backend" }), el("th", { class: "num", text: "Weight now" }), el("th", { class: "num", text: "New weight" }))),
    el("tbody", {}, lines.map((l) => el("tr", { class: "diffline" }, el("td", { text: l.what }), el("td", { class: "num del", text: String(l.from) }), el("td", { class: "num add", text: String(l.to) })))));
  const ok = await confirmDialog(`Change the weights of ${r.metadata.name}?`, body,
    "Applied like weft apply: recorded in the history, and undone by a rollback.", "Apply");
  if (!ok) return;
  try {
    const res = await call("POST", "/v1/apply", next);
    state.editing[key] = {};
    state.lastResult[key] = `applied: revision ${res.revision}` + ((res.warnings || []).length ? " (warnings: " + res.warnings.join("; ") + ")" : "");
    showError("");
  } catch (err) {
    state.lastResult[key] = "refused: " + explainError(err);
  }
  await refresh();
}

// ---------- proxies ----------

function renderProxies() {
  const body = clear($("proxy-table").tBodies[0]);
  const ps = [...state.proxies].sort((a, b) => a.node.localeCompare(b.node));
  if (!ps.length) {
    body.appendChild(el("tr", {}, el("td", { colspan: 8, class: "empty-note", text: "No sidecar is connected." })));
    return;
  }
  const cls = { SYNCED: "ok", STALE: "warn", NACKED: "bad", MISSING: "warn" };
  for (const p of ps) {
    const acked = Object.entries(p.acked || {}).sort().map(([t, v]) => `${t} ${v}`).join(" · ");
    const bad = [
      ...Object.entries(p.nacks || {}).map(([t, v]) => `NACK ${t}: ${v}`),
      ...Object.entries(p.missing || {}).map(([t, v]) => `missing ${t}: ${v.join(", ")}`),
    ];
    body.appendChild(el("tr", { "data-node": p.node },
      el("td", { class: "mono", text: p.node }),
      el("td", {}, el("span", { class: "badge " + (cls[p.state] || ""), text: p.state })),
      el("td", { class: "mono", text: p.version || "–" }),
      el("td", { class: "mono", text: acked || "–" }),
      el("td", { class: bad.length ? "bad" : "muted", text: bad.join("; ") || "none" }),
      el("td", { title: fmtTime(p.lastPush), text: ago(p.lastPush) }),
      el("td", { title: fmtTime(p.lastAnswer), text: ago(p.lastAnswer) }),
      el("td", { title: fmtTime(p.connected), text: ago(p.connected) })));
  }
}

// ---------- history ----------

// diffBlock shows a change's diff: changed lines with two of context,
// longer unchanged runs folded; a created or deleted resource (every line
// changed) folded behind a disclosure.
function diffBlock(text, action) {
  const lines = (text || "").replace(/\n$/, "").split("\n");
  const kind = (l) => (l.startsWith("+") ? "add" : l.startsWith("-") ? "del" : "");
  const pre = el("pre", { class: "diff" });
  if (action === "created" || action === "deleted") {
    for (const l of lines) pre.appendChild(el("span", { class: kind(l), text: l + "\n" }));
    return el("details", {}, el("summary", { class: "muted", text: `the whole resource (${lines.length} lines)` }), pre);
  }
  const near = lines.map(() => false);
  lines.forEach((l, i) => {
    if (!kind(l)) return;
    for (let j = Math.max(0, i - 2); j <= Math.min(lines.length - 1, i + 2); j++) near[j] = true;
  });
  for (let i = 0; i < lines.length;) {
    if (near[i]) {
      pre.appendChild(el("span", { class: kind(lines[i]), text: lines[i] + "\n" }));
      i++;
      continue;
    }
    let j = i;
    while (j < lines.length && !near[j]) j++;
    pre.appendChild(el("span", { class: "fold", text: `   ⋯ ${j - i} unchanged line${j - i === 1 ? "" : "s"}\n` }));
    i = j;
  }
  return pre;
}

function renderHistory() {
  const root = clear($("history"));
  const revs = [...state.history].sort((a, b) => b.revision - a.revision);
  if (!revs.length) {
    root.appendChild(el("p", { class: "empty-note", text: "No config revisions yet." }));
    return;
  }
  const current = revs[0].revision;
  for (const r of revs) {
    const card = el("div", { class: "card revision", "data-revision": r.revision },
      el("div", { class: "card-head rev" },
        el("span", { class: "n", text: "#" + r.revision }),
        el("span", { text: r.op }),
        el("span", { class: "muted", text: `${fmtTime(r.time)} · ${r.resources} resource${r.resources === 1 ? "" : "s"} after it` }),
        r.revision === current ? el("span", { class: "badge ok", text: "in force" }) :
          el("button", { class: "danger rollback", onclick: () => rollback(r) }, `Roll back to #${r.revision}`)));
    for (const c of r.changes || []) {
      card.appendChild(el("div", {}, el("span", { class: "badge", text: c.action }), " ", el("span", { class: "mono", text: c.key })));
      if (c.diff) card.appendChild(diffBlock(c.diff, c.action));
      else card.appendChild(el("div", { class: "muted", text: "(diff not kept: the revision changed more than the history keeps diffs for)" }));
    }
    root.appendChild(card);
  }
}

async function rollback(r) {
  if (!needToken("A rollback")) return;
  const ok = await confirmDialog(`Roll back to revision #${r.revision}?`,
    el("p", { text: `The config becomes what it was right after #${r.revision} (${r.op}); the rollback is itself a new revision.` }),
    "Every sidecar receives the restored config.", "Roll back");
  if (!ok) return;
  try {
    const res = await call("POST", "/v1/rollback/" + encodeURIComponent(r.revision));
    showError("");
    $("status-text").textContent = `rolled back: revision ${res.revision} is in force`;
  } catch (err) {
    showError("rollback refused: " + explainError(err));
  }
  await refresh();
}

// ---------- failures ----------

const FLAGS = {
  NR: "no route matched", NC: "route names no cluster", UH: "no healthy upstream", UF: "upstream connect failure",
  UO: "upstream overflow (circuit breaker)", UT: "upstream timeout", UC: "upstream connection terminated", UR: "upstream reset",
  UPE: "upstream protocol error", DPE: "downstream protocol error", SI: "stream idle timeout", URX: "retry limit exceeded",
  RL: "rate limited", RBAC: "denied by authorization policy", FI: "fault injected (abort)", DI: "fault injected (delay)", DC: "downstream went away",
};

function renderFailures() {
  const fails = (state.stats && state.stats.failures) || [];
  const chips = clear($("flag-summary"));
  const byFlag = new Map();
  for (const f of fails) byFlag.set(f.flags || "app", (byFlag.get(f.flags || "app") || 0) + f.requests);
  for (const [flag, n] of [...byFlag].sort((a, b) => b[1] - a[1])) {
    chips.appendChild(el("div", { class: "chip", "data-flag": flag, title: FLAGS[flag] || "responses the application made" },
      el("b", { text: String(n) }), flag === "app" ? "by the app (no flag)" : `${flag} · ${FLAGS[flag] || "response flag"}`));
  }
  const body = clear($("failure-table").tBodies[0]);
  if (!fails.length) {
    body.appendChild(el("tr", {}, el("td", { colspan: 7, class: "empty-note", text: "No responses other than 2xx in the window." })));
    return;
  }
  for (const f of fails) {
    const code = Number(f.code);
    body.appendChild(el("tr", { "data-flags": f.flags || "", "data-code": f.code },
      el("td", { text: f.reporter }), el("td", { text: f.source || "–" }),
      el("td", { class: f.destination ? "" : "muted", title: f.destination ? "" : "the caller's sidecar answered before it picked a destination", text: f.destination || "none picked" }),
      el("td", { class: code >= 500 || code === 0 ? "bad" : "warn", text: f.code === "0" ? "0 (no response)" : f.code }),
      el("td", { title: FLAGS[f.flags] || "", text: f.flags ? `${f.flags} · ${FLAGS[f.flags] || ""}` : "–" }),
      el("td", { class: "num", text: String(f.requests) }), el("td", { class: "num", text: fmtRate(f.rps) })));
  }
}

// ---------- routing ----------

const PAGES = ["topology", "services", "routes", "proxies", "history", "failures"];

function route() {
  const m = location.hash.match(/^#\/(\w+)/);
  state.page = m && PAGES.includes(m[1]) ? m[1] : "topology";
  for (const p of PAGES) $("page-" + p).hidden = p !== state.page;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === state.page);
  refresh();
}

function init() {
  takeTokenFromFragment();
  showToken();
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = $("token").value.trim();
    if (v) auth.token = v;
    showError("");
    refresh();
  });
  $("token-clear").addEventListener("click", () => { auth.token = ""; });
  window.addEventListener("hashchange", () => { takeTokenFromFragment(); route(); });
  route();
  setInterval(() => { if (!document.hidden && !$("confirm").open) refresh(); }, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", init);
