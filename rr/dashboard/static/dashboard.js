// rr dashboard: renders the snapshots that /api/events streams (one per second).
// Plain DOM, text only through textContent (job payloads are untrusted), no dependencies.
"use strict";

const $ = (sel) => document.querySelector(sel);
let openDlq = null;      // the dead-letter pipeline whose jobs are listed
let openDlqDepth = null; // its depth when listed: a change lists it again
let lastSnapshot = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// Update ``parent`` to show ``nodes`` while keeping the elements that did not change, so a
// button under the pointer is the same element after a refresh (a click is not lost).
function patch(parent, nodes) {
  const old = Array.from(parent.childNodes);
  nodes.forEach((n, i) => {
    const o = old[i];
    if (!o) parent.append(n);
    else if (o.isEqualNode(n)) return;
    else if (o.nodeType === 1 && n.nodeType === 1 && o.tagName === n.tagName) {
      for (const a of Array.from(o.attributes)) if (!n.hasAttribute(a.name)) o.removeAttribute(a.name);
      for (const a of Array.from(n.attributes)) o.setAttribute(a.name, a.value);
      patch(o, Array.from(n.childNodes));
    } else o.replaceWith(n);
  });
  for (let i = nodes.length; i < old.length; i++) old[i].remove();
}

const num = (v) => el("td", {class: "num"}, v === null || v === undefined ? "–" : v);
const fmtInt = (n) => Number(n || 0).toLocaleString("en-US");
const fmtRate = (n) => (n || 0).toFixed(n >= 100 ? 0 : 2);
const fmtPct = (n) => ((n || 0) * 100).toFixed(1) + " %";
const fmtMs = (s) => (s === null || s === undefined) ? "–" : (s * 1000).toFixed(1) + " ms";

function fmtBytes(b) {  // SI units, as `rr workers` prints them
  const units = ["B", "kB", "MB", "GB"];
  let i = 0;
  while (b >= 1000 && i < units.length - 1) { b /= 1000; i++; }
  return (i ? b.toFixed(1) : b) + " " + units[i];
}

function fmtAge(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return Math.floor(s) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  if (s < 86400) return (s / 3600).toFixed(1) + " h";
  return (s / 86400).toFixed(1) + " d";
}

function spark(series, max) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 160 28");
  svg.setAttribute("preserveAspectRatio", "none");
  const top = Math.max(max || 0, 1e-9);
  for (const [name, values] of Object.entries(series)) {
    if (!values || values.length < 2) continue;
    const step = 160 / (values.length - 1);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("class", name);
    line.setAttribute("points", values.map((v, i) =>
      `${(i * step).toFixed(1)},${(27 - 26 * v / top).toFixed(1)}`).join(" "));
    svg.append(line);
  }
  return svg;
}

function say(text, isError) {
  const m = $("#message");
  m.textContent = text;
  m.className = isError ? "error" : "";
}

// -- actions ---------------------------------------------------------------------------------
async function post(path, body) {
  const headers = {"Content-Type": "application/json"};
  const token = sessionStorage.getItem("rr-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const resp = await fetch(path, {method: "POST", headers, credentials: "same-origin",
                                  body: JSON.stringify(body || {})});
  const text = await resp.text();
  let data = null;
  try { data = JSON.parse(text); } catch (e) { data = {error: text.trim()}; }
  if (!resp.ok) throw new Error(data && data.error ? data.error : `${resp.status} ${text}`);
  return data;
}

async function act(button) {
  const {action, name, id} = button.dataset;
  const enc = encodeURIComponent(name);
  const paths = {
    pause: [`/api/pipelines/${enc}/pause`, `pipeline ${name} paused`],
    resume: [`/api/pipelines/${enc}/resume`, `pipeline ${name} resumed`],
    reset: [`/api/workers/${enc}/reset`, `workers of ${name} reset`],
    replay: [`/api/dlq/${enc}/replay`, null],
  };
  if (action === "list") return listDlq(name);
  if (action === "inspect") return inspect(id);
  const [path, done] = paths[action];
  button.disabled = true;
  try {
    const target = document.querySelector(`select[data-replay-to="${CSS.escape(name)}"]`);
    const body = action === "replay" ? {id: id || "", to: target ? target.value : ""} : {};
    const result = await post(path, body);
    say(done || `replayed ${result.replayed} job(s) from ${name}`);
    if (action === "replay") listDlq(name);
  } catch (e) {
    say(`${action} ${name}: ${e.message}`, true);
  } finally {
    button.disabled = false;
  }
}

const button = (label, action, name, id) =>
  el("button", {type: "button", "data-action": action, "data-name": name,
                "data-id": id || ""}, label);

// -- dead letters ----------------------------------------------------------------------------
let dlqJobs = [];
let dlqTotal = 0;

async function listDlq(name) {
  try {
    const resp = await fetch(`/api/dlq/${encodeURIComponent(name)}`,
                             {credentials: "same-origin"});
    const data = await resp.json();
    if (!resp.ok) throw new Error(data.error || resp.status);
    openDlq = name;
    dlqJobs = data;
    dlqTotal = Number(resp.headers.get("X-Total-Count") || data.length);
    const p = (lastSnapshot && lastSnapshot.pipelines || []).find((x) => x.pipeline === name);
    openDlqDepth = p ? p.depth : null;
    renderDlqJobs();
  } catch (e) {
    say(`dead letters of ${name}: ${e.message}`, true);
  }
}

function inspect(id) {
  const job = dlqJobs.find((j) => j.id === id);
  const pre = $("#dlq-detail");
  if (!job) { pre.hidden = true; return; }
  pre.hidden = false;
  pre.textContent = JSON.stringify({id: job.id, job: job.job, from: job.from,
    reason: job.reason, attempts: job.attempts, headers: job.headers, payload: job.payload},
    null, 2);
}

function renderDlqJobs() {
  const box = $("#dlq-jobs");
  box.replaceChildren();
  if (!openDlq) return;
  box.append(el("h3", {}, `${openDlq}: ${dlqTotal} job(s)` +
                         (dlqTotal > dlqJobs.length ? `, the first ${dlqJobs.length} shown` : "")));
  if (!dlqJobs.length) return;
  const rows = dlqJobs.map((j) => el("tr", {},
    el("td", {}, j.id), el("td", {}, j.job), el("td", {}, j.from), num(j.attempts),
    el("td", {}, (j.reason || "").slice(0, 80)),
    el("td", {}, button("inspect", "inspect", openDlq, j.id), " ",
       button("replay", "replay", openDlq, j.id))));
  box.append(el("table", {}, el("thead", {}, el("tr", {}, ...["id", "job", "from", "attempts",
    "reason", ""].map((h) => el("th", {}, h)))), el("tbody", {}, ...rows)));
}

function renderDlq(pipelines) {
  const dead = pipelines.filter((p) => p.is_dead_letter);
  const list = [];
  if (!dead.length) {
    list.push(el("p", {class: "empty"}, "no pipeline is a dead-letter target " +
                                          "(jobs.pipelines.<name>.config.dead_letter)"));
  }
  const names = pipelines.map((p) => p.pipeline);
  for (const p of dead) {
    // where replays go: each job back to where it came from, or one pipeline for all
    const to = el("select", {"data-replay-to": p.pipeline, title: "replay to"},
      el("option", {value: ""}, "back where each came from"),
      ...names.filter((n) => n !== p.pipeline).map((n) => el("option", {value: n}, "to " + n)));
    list.push(el("p", {}, el("b", {}, p.pipeline), ` — ${fmtInt(p.depth)} job(s) `,
      p.browsable ? button("list", "list", p.pipeline) : null, " ",
      p.browsable ? button("replay all", "replay", p.pipeline) : null, " ",
      p.browsable ? to : null));
    if (p.pipeline === openDlq && p.depth !== openDlqDepth) listDlq(p.pipeline);
  }
  patch($("#dlq-list"), list);
}

// -- views -----------------------------------------------------------------------------------
function renderPipelines(pipelines) {
  const body = $("#pipelines tbody");
  const top = Math.max(0, ...pipelines.flatMap((p) => p.series.done));
  const rows = pipelines.map((p) => {
    const state = p.error ? "error" : (p.ready ? "consuming" : "paused");
    return el("tr", {"data-pipeline": p.pipeline},
      el("td", {}, p.pipeline), el("td", {}, p.driver),
      el("td", {class: "state-" + state, title: p.error || ""}, state),
      num(p.depth), num(p.active), num(p.delayed), num(fmtRate(p.throughput)),
      el("td", {class: "num" + (p.error_rate > 0 ? " bad" : "")}, fmtPct(p.error_rate)),
      el("td", {}, spark({done: p.series.done, failed: p.series.failed}, top)),
      el("td", {}, p.ready ? button("pause", "pause", p.pipeline)
                           : button("resume", "resume", p.pipeline)));
  });
  if (!rows.length) rows.push(el("tr", {}, el("td", {colSpan: 10, class: "empty"}, "no pipelines")));
  patch(body, rows);
}

function renderWorkers(pools, resettable) {
  const box = $("#workers");
  const parts = [];
  for (const [plugin, workers] of Object.entries(pools)) {
    parts.push(el("h3", {}, `${plugin} (${workers.length}) `,
                  (resettable || []).includes(plugin) ? button("reset", "reset", plugin) : null));
    // supervised processes are not workers: `rr workers` shows them as pid, memory, CPU, command
    const service = plugin === "service";
    const heads = service ? ["pid", "memory", "CPU %", "command"]
                          : ["pid", "state", "execs", "memory", "CPU %", "age"];
    const cells = (w) => service
      ? [el("td", {}, w.pid), num(fmtBytes(w.memoryUsage)),
         num(Number(w.CPUPercent).toFixed(2)), el("td", {}, w.command)]
      : [el("td", {}, w.pid), el("td", {class: "state-" + w.statusStr}, w.statusStr),
         num(fmtInt(w.numExecs)), num(fmtBytes(w.memoryUsage)),
         num(Number(w.CPUPercent).toFixed(2)), num(fmtAge(w.age))];
    parts.push(el("table", {"data-pool": plugin},
      el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", {}, h)))),
      el("tbody", {}, ...workers.map((w) => el("tr", {"data-pid": w.pid}, ...cells(w))))));
  }
  if (!parts.length) parts.push(el("p", {class: "empty"}, "no worker pools"));
  patch(box, parts);
}

function renderHttp(h) {
  const box = $("#http");
  if (!h) {
    patch(box, [el("p", {class: "empty"}, "the http plugin is not enabled")]);
    return;
  }
  const tile = (value, label) => el("div", {class: "tile"}, el("b", {}, value),
                                    el("span", {}, label));
  const classes = Object.entries(h.classes).filter(([k, v]) => v > 0 || k === "2xx")
    .map(([k, v]) => tile(`${fmtRate(h.class_rates[k])}/s`, `${k} (${fmtInt(v)} total)`));
  patch(box, [
    el("div", {class: "tiles"}, tile(fmtRate(h.rate), "requests/s (10 s)"),
       tile(fmtMs(h.window_p50), "p50 (1 min)"), tile(fmtMs(h.window_p99), "p99 (1 min)"),
       tile(fmtMs(h.p50), "p50 (since start)"), tile(fmtMs(h.p99), "p99 (since start)")),
    el("div", {class: "tiles"}, ...classes),
    spark({done: h.series}, Math.max(0, ...h.series))]);
}

function renderCron(entries) {
  const body = $("#cron tbody");
  if (!entries || !entries.length) {
    patch(body, [el("tr", {}, el("td", {colSpan: 7, class: "empty"},
      entries ? "no cron entries" : "the cron plugin is not enabled"))]);
    return;
  }
  patch(body, entries.map((c) => el("tr", {},
    el("td", {}, c.name), el("td", {}, c.schedule), el("td", {}, c.pipeline),
    el("td", {}, c.job),
    el("td", {title: c.next_run || ""}, c.next_run ? new Date(c.next_run).toLocaleString() : "–"),
    num(fmtInt(c.fired)), num(fmtInt(c.skipped)))));
}

function render(s) {
  lastSnapshot = s;
  $("#version").textContent = "v" + s.version;
  $("#clock").textContent = new Date(s.time * 1000).toLocaleTimeString();
  renderPipelines(s.pipelines);
  renderDlq(s.pipelines);
  renderWorkers(s.workers, s.resettable);
  renderHttp(s.http);
  renderCron(s.cron);
}

function connect() {
  const live = $("#live");
  const source = new EventSource("/api/events");
  source.addEventListener("snapshot", (ev) => {
    live.textContent = "live";
    live.className = "badge on";
    render(JSON.parse(ev.data));
  });
  source.onerror = () => {  // EventSource reconnects by itself
    live.textContent = "reconnecting…";
    live.className = "badge off";
  };
}

document.addEventListener("click", (ev) => {
  const b = ev.target.closest("button[data-action]");
  if (b) act(b);
});

document.addEventListener("DOMContentLoaded", () => {
  const token = $("#token");
  token.value = sessionStorage.getItem("rr-token") || "";
  token.addEventListener("change", () => sessionStorage.setItem("rr-token", token.value));
  $("#auth").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem("rr-token", token.value);
  });
  connect();
});
