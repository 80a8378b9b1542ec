// The demo page: rank one candidate set with three policies, run an A/B test
// in a Web Worker, and rank with a dropped blob. Plain ES module.
import { loadMtfuse } from "./mtfuse.js";
import { logLine, SessionLogger } from "./log.js";

const $ = (id) => document.getElementById(id);
const POLICIES = [
  { name: "static", label: "Static", note: "one global action" },
  { name: "user", label: "User-level", note: "one action per request" },
  { name: "enhanced", label: "Enhanced", note: "one action per item" },
];
const SHOWN = 6;
const CANDIDATES = 50;
const BAR_OBJECTIVES = ["click", "long_view", "like", "hate"];

const state = { m: null, demo: null, sim: null, rankers: new Map(), blobs: new Map(), seed: 1, request: null };
// The "Log" toggle: the sessions it records, as an app's logger would.
const LOG_POLICY = "enhanced";
const LOG_EXPLORE = 0.15;
const log = { logger: new SessionLogger(), session: null, next: 0, count: 0, sessions: 0 };

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

async function fetchBytes(path) {
  const res = await fetch(path);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

function drawRequest() {
  const user = Number($("user").value);
  const hour = Number($("hour").value);
  const tab = Number($("tab").value);
  const weekday = Number($("weekday").value);
  state.request = state.sim.drawRequest(user, hour, tab, weekday, CANDIDATES, state.seed);
  render();
  if ($("log").checked) logRequest(user);
}

/** Serves the request with exploration and logs the simulated user's responses. */
function logRequest(user) {
  const key = `user-${user}`;
  if (log.session?.key !== key) {
    endLogSession();
    log.sessions += 1;
    log.session = { key, id: `demo-${Date.now()}-${log.sessions}` };
    log.next = 0;
  }
  const rankRequest = { ...state.request, topK: SHOWN };
  const { record } = state.rankers.get(LOG_POLICY).rank(rankRequest, { explore: { width: LOG_EXPLORE } });
  const responses = state.sim.respond(user, rankRequest, record.shown, state.seed);
  log.logger.add(logLine({ session: log.session.id, request: log.next, rankRequest, record, responses }));
  log.next += 1;
  log.count += 1;
  $("log-count").textContent = log.count;
  $("log-download").disabled = false;
}

function endLogSession() {
  if (log.session) log.logger.end(log.session.id);
  log.session = null;
}

/** Ends the open session and offers the log as NDJSON for `mtfuse log import`. */
function downloadLog() {
  endLogSession();
  const url = URL.createObjectURL(new Blob([log.logger.ndjson()], { type: "application/x-ndjson" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = "mtfuse-log.ndjson";
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A row of small bars, one per value, each scaled to [0, 1] by `scale`. */
function bars(values, scale, cls) {
  return `<span class="bars ${cls}">${values.map((v, i) => `<i style="--v:${Math.max(0.03, Math.min(1, scale(v, i))).toFixed(3)}" title="${v.toFixed(3)}"></i>`).join("")}</span>`;
}

function render() {
  const req = state.request;
  // Reference order: the MTL long-view score alone.
  const byLv = [...req.items].sort((a, b) => b.scores.long_view - a.scores.long_view).map((i) => i.id);
  const lvRank = new Map(byLv.map((id, r) => [id, r]));
  const cols = [];
  for (const [name, ranker] of state.rankers) {
    const label = POLICIES.find((p) => p.name === name)?.label ?? name;
    const note = POLICIES.find((p) => p.name === name)?.note ?? "your blob";
    const t0 = performance.now();
    let ranked;
    try {
      ranked = ranker.rank({ ...req, topK: SHOWN, withActions: true });
    } catch (e) {
      cols.push(`<article class="col" data-policy="${esc(name)}"><h3>${esc(label)}</h3><p class="err">${esc(e.message)}</p></article>`);
      continue;
    }
    const us = (performance.now() - t0) * 1000;
    const lo = ranker.schema().actionLow;
    const hi = ranker.schema().actionHigh;
    const k = lo.length / 2;
    const rows = ranked.map((item, pos) => {
      const move = lvRank.get(item.id) - pos;
      const arrow = move > 0 ? `<span class="up">▲${move}</span>` : move < 0 ? `<span class="down">▼${-move}</span>` : `<span class="same">=</span>`;
      const powers = bars(item.action.powers, (v, i) => (v - lo[i]) / (hi[i] - lo[i] || 1), "powers");
      const biases = bars(item.action.biases, (v, i) => (v - lo[k + i]) / (hi[k + i] - lo[k + i] || 1), "biases");
      return `<li><span class="pos">${pos + 1}</span><span class="id">#${esc(item.id)}</span>${arrow}<span class="score">${item.score.toFixed(3)}</span><span class="act">${powers}${biases}</span></li>`;
    });
    cols.push(`<article class="col" data-policy="${esc(name)}">
      <h3>${esc(label)} <small>${esc(note)}</small></h3>
      <p class="latency">rank ${CANDIDATES} items: <b data-us>${us.toFixed(0)}</b> µs</p>
      <ol class="ranked">${rows.join("")}</ol>
    </article>`);
  }
  $("columns").innerHTML = cols.join("");
  const max = Object.fromEntries(BAR_OBJECTIVES.map((o) => [o, Math.max(...req.items.map((i) => i.scores[o]))]));
  $("candidates").innerHTML = `<div class="legend">${BAR_OBJECTIVES.map((o, i) => `<span class="k${i}">${o.replace("_", " ")}</span>`).join("")}<span>bars scaled to the set's maximum; rows in MTL long-view order</span></div>` +
    byLv.map((id) => {
      const item = req.items.find((i) => i.id === id);
      return `<div class="cand"><span class="id">#${esc(id)}</span>${bars(BAR_OBJECTIVES.map((o) => item.scores[o]), (v, i) => v / (max[BAR_OBJECTIVES[i]] || 1), "scores")}</div>`;
    }).join("");
}

// ---- A/B test in a Web Worker -------------------------------------------------

function runAb() {
  const sessions = Number($("sessions").value);
  const button = $("run-ab");
  const progress = $("ab-progress");
  button.disabled = true;
  progress.hidden = false;
  progress.value = 0;
  $("ab-table").hidden = true;
  $("ab-chart").innerHTML = "";
  const worker = new Worker(new URL("./ab-worker.js", import.meta.url), { type: "module" });
  const policies = [...state.blobs].map(([name, bytes]) => ({ name, bytes }));
  worker.postMessage({ policies, sessions, seed: 2024 });
  worker.onmessage = ({ data }) => {
    if (data.type === "progress") progress.value = data.done / data.total;
    else if (data.type === "done") {
      worker.terminate();
      button.disabled = false;
      progress.hidden = true;
      showAb(data.rows);
    } else if (data.type === "error") {
      worker.terminate();
      button.disabled = false;
      progress.hidden = true;
      $("ab-chart").innerHTML = `<p class="err">${esc(data.message)}</p>`;
    }
  };
}

function showAb(rows) {
  const f = (x, d = 2) => `${x.mean.toFixed(d)} ± ${x.ci.toFixed(d)}`;
  const base = rows[0].ret.mean;
  $("ab-table").querySelector("tbody").innerHTML = rows.map((r) => `<tr data-policy="${esc(r.name)}"><td>${esc(r.name)}</td><td>${r.sessions}</td><td data-return="${r.ret.mean}">${f(r.ret, 3)}</td><td>${f(r.longViews)}</td><td>${f(r.depth)}</td><td>${f(r.interactions)}</td><td>${((r.ret.mean / base - 1) * 100).toFixed(1)}%</td></tr>`).join("");
  $("ab-table").hidden = false;
  // Horizontal bars with 95% CI whiskers, on an axis from 0 to the largest upper bound.
  const top = Math.max(...rows.map((r) => r.ret.mean + r.ret.ci)) * 1.05;
  const W = 560, rowH = 34, left = 90, right = 20, H = rows.length * rowH + 30;
  const x = (v) => left + (v / top) * (W - left - right);
  const parts = rows.map((r, i) => {
    const y = 10 + i * rowH;
    return `<text x="${left - 8}" y="${y + 16}" text-anchor="end">${esc(r.name)}</text>
      <rect x="${left}" y="${y + 4}" width="${x(r.ret.mean) - left}" height="18" class="bar b${i}"/>
      <line x1="${x(r.ret.mean - r.ret.ci)}" x2="${x(r.ret.mean + r.ret.ci)}" y1="${y + 13}" y2="${y + 13}" class="ci"/>
      <line x1="${x(r.ret.mean - r.ret.ci)}" x2="${x(r.ret.mean - r.ret.ci)}" y1="${y + 7}" y2="${y + 19}" class="ci"/>
      <line x1="${x(r.ret.mean + r.ret.ci)}" x2="${x(r.ret.mean + r.ret.ci)}" y1="${y + 7}" y2="${y + 19}" class="ci"/>
      <text x="${x(r.ret.mean + r.ret.ci) + 6}" y="${y + 17}" class="val">${r.ret.mean.toFixed(3)}</text>`;
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => `<text x="${x(t * top)}" y="${H - 4}" text-anchor="middle" class="tick">${(t * top).toFixed(1)}</text>`);
  $("ab-chart").innerHTML = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="mean session return with 95% CI">${parts.join("")}${ticks.join("")}</svg>`;
}

// ---- Your own model ----------------------------------------------------------

function useBlob(file) {
  const status = $("own-status");
  file.arrayBuffer().then((buf) => {
    const bytes = new Uint8Array(buf);
    try {
      const ranker = state.m.Ranker.fromBytes(bytes);
      state.rankers.set("yours", ranker);
      state.blobs.set("yours", bytes);
      status.className = "ok";
      status.textContent = `Loaded ${file.name}: a ${ranker.kind} policy; it ranks in the fourth column and joins the A/B test.`;
      render();
    } catch (e) {
      status.className = "err";
      status.textContent = `${file.name}: ${e.message}`;
    }
  });
}

function wireDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) useBlob(file);
  });
  $("file").addEventListener("change", (e) => e.target.files[0] && useBlob(e.target.files[0]));
}

// ---- Start -------------------------------------------------------------------

async function main() {
  const status = $("status");
  const flavour = new URLSearchParams(location.search).get("flavour") ?? undefined;
  try {
    state.m = await loadMtfuse({ flavour });
    const m = state.m;
    status.innerHTML = `mtfuse <code>${m.version()}</code> loaded: <code>${m.flavour}</code> build, kernel <code>${m.kernel()}</code>.`;
    status.dataset.ready = m.flavour;
  } catch (e) {
    status.className = "err";
    status.textContent = `Could not load mtfuse: ${e.message}`;
    status.dataset.ready = "error";
    return;
  }
  try {
    // The simulator lives in a separate demo module, so the ranker module
    // above stays as small as the one browsers and workers ship.
    const demo = await import("./pkg/demo/mtfuse.js");
    await demo.default();
    state.demo = demo;
    const [simBytes, ...blobs] = await Promise.all([fetchBytes("models/simulator.safetensors"), ...POLICIES.map((p) => fetchBytes(`models/${p.name}.safetensors`))]);
    state.sim = demo.Simulator.fromBytes(simBytes);
    POLICIES.forEach((p, i) => {
      state.blobs.set(p.name, blobs[i]);
      state.rankers.set(p.name, state.m.Ranker.fromBytes(blobs[i]));
    });
  } catch (e) {
    $("columns").innerHTML = `<p class="err">Could not load the models: ${esc(e.message)}</p>`;
    return;
  }
  const users = Math.min(state.sim.users, 200);
  $("user").innerHTML = Array.from({ length: users }, (_, i) => `<option value="${i}">user ${state.sim.userId(i)}</option>`).join("");
  const hourOut = () => ($("hour-out").value = `${String($("hour").value).padStart(2, "0")}:00`);
  for (const id of ["user", "tab", "weekday"]) $(id).addEventListener("change", drawRequest);
  $("hour").addEventListener("input", () => (hourOut(), drawRequest()));
  $("new-request").addEventListener("click", () => {
    state.seed += 1;
    drawRequest();
  });
  $("run-ab").addEventListener("click", runAb);
  $("log").addEventListener("change", () => $("log").checked || endLogSession());
  $("log-download").addEventListener("click", downloadLog);
  wireDrop();
  drawRequest();
  document.body.dataset.ready = "yes";
}

main();
