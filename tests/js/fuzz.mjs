// Random bad input for the ranker: blobs truncated, bit-flipped and
// overwritten; requests with fields removed, retyped, out of range or
// repeated; columnar buffers of wrong lengths and values. Used by
// fuzz.test.mjs (both wasm builds) and worker.test.mjs (workerd). Run as a
// script, it prints the README's reliability table:
//   node tests/js/fuzz.mjs [--per-kind N] [--worker-requests N] [--seed S]
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A seeded PRNG (mulberry32): the same seed gives the same inputs. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (xs) => xs[next.int(xs.length)];
  return next;
}

/** One corrupted copy of a blob: `{kind, bytes}`. */
export function mutateBlob(blob, r) {
  const b = Uint8Array.from(blob);
  const kind = r.pick(["truncate", "flip", "overwrite", "insert"]);
  if (kind === "truncate") return { kind, bytes: b.subarray(0, r.int(b.length)) };
  if (kind === "flip") {
    for (let i = 1 + r.int(3); i > 0; i--) b[r.int(b.length)] ^= 1 << r.int(8);
    return { kind, bytes: b };
  }
  if (kind === "overwrite") {
    const at = r.int(b.length);
    for (let i = at; i < Math.min(b.length, at + 1 + r.int(16)); i++) b[i] = r.int(256);
    return { kind, bytes: b };
  }
  const at = r.int(b.length + 1);
  const out = new Uint8Array(b.length + 1);
  out.set(b.subarray(0, at));
  out[at] = r.int(256);
  out.set(b.subarray(at), at + 1);
  return { kind, bytes: out };
}

// Values a careless or hostile client sends where a number, a string or an
// object belongs.
const ODD = () => [null, NaN, Infinity, -Infinity, 1e39, -1, 0, -0, 1.5, 2 ** 32 + 1, 2 ** 53 + 2, "x", "", "0.5", true, false, [], [1, 2], {}, { a: 1 }, undefined];

/** Every path to a value in `v` (arrays by index), for picking a place to break. */
function paths(v, at = [], out = []) {
  out.push(at);
  if (v !== null && typeof v === "object") for (const k of Object.keys(v)) paths(v[k], [...at, k], out);
  return out;
}

function setAt(root, path, value) {
  if (path.length === 0) return value;
  let o = root;
  for (const k of path.slice(0, -1)) o = o[k];
  o[path.at(-1)] = value;
  return root;
}

function deleteAt(root, path) {
  let o = root;
  for (const k of path.slice(0, -1)) o = o[k];
  if (Array.isArray(o)) o.splice(Number(path.at(-1)), 1);
  else delete o[path.at(-1)];
  return root;
}

/** One broken copy of a valid request: `{kind, request}`. */
export function mutateRequest(valid, r) {
  return mutateOnce(structuredClone(valid), r, r.pick(["retype", "remove", "unknown key", "repeat id", "topK", "items", "two at once"]));
}

function mutateOnce(req, r, kind) {
  const somewhere = () => r.pick(paths(req).filter((p) => p.length > 0));
  if ((kind === "repeat id" || kind === "topK") && !(Array.isArray(req.items) && req.items.length > 0)) kind = "retype";
  switch (kind) {
    case "retype":
      return { kind, request: setAt(req, somewhere(), r.pick(ODD())) };
    case "remove":
      return { kind, request: deleteAt(req, somewhere()) };
    case "unknown key": {
      const objects = paths(req).filter((p) => { const v = p.reduce((o, k) => o[k], req); return v !== null && typeof v === "object" && !Array.isArray(v); });
      const p = r.pick(objects);
      p.reduce((o, k) => o[k], req)[r.pick(["extra", "Click", "__proto_", "id2", "score"])] = r.pick(ODD());
      return { kind, request: req };
    }
    case "repeat id": {
      const j = r.int(req.items.length);
      req.items.push(structuredClone(req.items[j]));
      return { kind, request: req };
    }
    case "topK":
      req.topK = r.pick([...ODD(), 1, req.items.length, req.items.length + 1, 2 ** 31, -(2 ** 32)]);
      return { kind, request: req };
    case "items":
      req.items = r.pick([[], new Array(1e6), new Array(2 ** 32 - 1), "items", {}, null, [null], [1, 2], Array.from({ length: 3 }, () => ({}))]);
      return { kind, request: req };
    default: {
      const simple = ["retype", "remove", "unknown key", "repeat id", "topK"];
      mutateOnce(req, r, r.pick(simple));
      return { kind, request: mutateOnce(req, r, r.pick(simple)).request };
    }
  }
}

/** One broken columnar call: `{kind, args}` for `rankColumnar(...args)`. */
export function mutateColumns(valid, r) {
  const args = valid.map((a) => (a instanceof Float32Array ? Float32Array.from(a) : a));
  const kind = r.pick(["length", "value", "topK"]);
  if (kind === "length") {
    const i = r.int(4);
    const len = Math.max(0, args[i].length + r.pick([-2, -1, 1, 3]));
    const out = new Float32Array(len);
    out.set(args[i].subarray(0, Math.min(len, args[i].length)));
    args[i] = out;
  } else if (kind === "value") {
    const i = r.int(4);
    if (args[i].length > 0) args[i][r.int(args[i].length)] = r.pick([NaN, Infinity, -Infinity, 3.4e38, -3.4e38, 1e-45]);
  } else {
    args[4] = r.pick([-1, 1.5, NaN, Infinity, 2 ** 32 + 1, 2 ** 53, 1e6, 0, 1, 3]);
  }
  return { kind, args };
}

const isTrap = (e) => e instanceof WebAssembly.RuntimeError || e?.name === "TrapError" || e?.cause instanceof WebAssembly.RuntimeError;

/** A ranking is plausible when it is finite, sorted, of the asked length, and its ids come from the request. */
export function plausible(out, request) {
  if (!Array.isArray(out) || out.length === 0) return false;
  const n = request.items.length;
  const top = request.topK ?? n;
  const ids = new Set(request.items.map((i) => i.id));
  return out.length === top && out.every((it, i) => Number.isFinite(it.score) && ids.has(it.id) && (i === 0 || out[i - 1].score >= it.score));
}

/**
 * Fuzzes one loaded build (`loadMtfuse`'s result): `perKind` corrupted
 * blobs, broken requests and broken columnar calls. Returns one row per
 * kind of input: tried, refused with an error, accepted, traps, wrong
 * results (a corrupted blob that ranks differently, or an implausible
 * ranking), and calls after which the ranker no longer ranked the valid
 * request identically.
 */
export function fuzzBuild(m, { blob, request, columns, perKind = 1000, seed = 1 }) {
  const r = rng(seed);
  const ranker = m.Ranker.fromBytes(blob);
  const reference = JSON.stringify(ranker.rank(request));
  const rows = new Map();
  const row = (name) => rows.get(name) ?? rows.set(name, { input: name, tried: 0, errors: 0, accepted: 0, traps: 0, wrong: 0, brokenAfter: 0 }).get(name);
  const attempt = (name, f, check) => {
    const w = row(name);
    w.tried++;
    try {
      const out = f();
      w.accepted++;
      if (!check(out)) w.wrong++;
    } catch (e) {
      if (isTrap(e)) w.traps++;
      else if (e instanceof Error && typeof e.message === "string" && e.message.length > 0) w.errors++;
      else w.wrong++;
    }
    if (JSON.stringify(ranker.rank(request)) !== reference) w.brokenAfter++;
  };
  for (let i = 0; i < perKind; i++) {
    const { kind, bytes } = mutateBlob(blob, r);
    attempt(`blob: ${kind}`, () => {
      const bad = m.Ranker.fromBytes(bytes);
      try {
        return JSON.stringify(bad.rank(request));
      } finally {
        bad.free();
      }
    }, (out) => out === reference);
  }
  for (let i = 0; i < perKind; i++) {
    const { kind, request: bad } = mutateRequest(request, r);
    attempt(`request: ${kind}`, () => ranker.rank(bad), (out) => plausible(out, bad));
  }
  for (let i = 0; i < perKind; i++) {
    const { kind, args } = mutateColumns(columns, r);
    attempt(`columnar: ${kind}`, () => ranker.rankColumnar(...args), (out) => {
      const s = [...out.scores];
      return s.length > 0 && s.every((x, j) => Number.isFinite(x) && (j === 0 || s[j - 1] >= x));
    });
  }
  ranker.free();
  return [...rows.values()].sort((a, b) => a.input.localeCompare(b.input));
}

/** The columnar form of a request, as `rankColumnar`'s arguments (topK 0: all). */
export function columnsOf(ranker, request) {
  const s = ranker.schema();
  return [
    Float32Array.from(s.user.map((f) => request.user[f])),
    Float32Array.from(s.context.map((f) => request.context[f])),
    Float32Array.from(request.items.flatMap((it) => s.item.map((f) => it.features[f]))),
    Float32Array.from(request.items.flatMap((it) => s.objectives.map((o) => it.scores[o]))),
    0,
  ];
}

/**
 * Sends `total` requests to a worker's POST /rank, concurrently: a share
 * `good` of them valid (their top ids must be `expectedIds`), the rest
 * broken requests or broken bodies (truncated JSON, wrong content type).
 * Returns one row per kind: tried, 200s, 4xx, cut (a body over the byte
 * limit, refused before it was read, so the client saw the connection
 * close), 5xx, wrong (a valid request not answered 200 with the expected
 * ids, or an error that is not JSON {error, status}), lost (no answer).
 */
export async function fuzzWorker(url, { request, expectedIds, total = 3000, good = 0.3, concurrency = 16, seed = 1, maxBodyBytes = 1 << 20 }) {
  const r = rng(seed);
  const jobs = Array.from({ length: total }, () => {
    if (r() < good) return { kind: "valid", body: JSON.stringify(request), type: "application/json" };
    const pick = r();
    if (pick < 0.1) {
      const text = JSON.stringify(request);
      return { kind: "truncated body", body: text.slice(0, r.int(text.length)), type: "application/json" };
    }
    if (pick < 0.15) return { kind: "wrong content type", body: JSON.stringify(request), type: r.pick(["text/plain", "", "application/x-www-form-urlencoded"]) };
    const { kind, request: bad } = mutateRequest(request, r);
    let body;
    try {
      body = JSON.stringify(bad) ?? "undefined";
    } catch {
      // new Array(2 ** 32 - 1) has no JSON text; a long list of nulls stands in.
      body = `{"items":[${"null,".repeat(5000)}null]}`;
    }
    return { kind: `request: ${kind}`, body, type: "application/json" };
  });
  const rows = new Map();
  const row = (name) => rows.get(name) ?? rows.set(name, { input: name, tried: 0, ok: 0, client: 0, cut: 0, server: 0, wrong: 0, lost: 0 }).get(name);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      const w = row(job.kind);
      w.tried++;
      try {
        const headers = job.type === "" ? {} : { "content-type": job.type };
        const res = await fetch(url, { method: "POST", headers, body: job.body });
        const body = await res.json();
        if (res.status === 200) w.ok++;
        else if (res.status < 500) w.client++;
        else w.server++;
        if (job.kind === "valid" && (res.status !== 200 || JSON.stringify(body.items.map((i) => i.id)) !== JSON.stringify(expectedIds))) w.wrong++;
        if (res.status !== 200 && !(typeof body.error === "string" && body.status === res.status)) w.wrong++;
      } catch (e) {
        // The worker answers 413 as soon as content-length passes the byte
        // limit, without reading the body; the client may still be writing it.
        if (job.body.length > maxBodyBytes) w.cut++;
        else w.lost++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return [...rows.values()].sort((a, b) => a.input.localeCompare(b.input));
}

/** Markdown table of fuzzWorker rows, with a total line. */
export function workerTable(title, rows) {
  const keys = ["tried", "ok", "client", "cut", "server", "wrong", "lost"];
  const total = { input: "**all**" };
  for (const k of keys) total[k] = rows.reduce((t, r) => t + r[k], 0);
  const line = (r) => `| ${r.input} | ${keys.map((k) => r[k]).join(" | ")} |`;
  return [title, "", "| input | tried | 200 | 4xx | cut off over the byte limit | 5xx | wrong | lost |", "|---|---:|---:|---:|---:|---:|---:|---:|", ...rows.map(line), line(total)].join("\n");
}

/** Markdown table of fuzzBuild rows, with a total line. */
export function table(title, rows) {
  const total = rows.reduce((t, r) => ({ ...t, tried: t.tried + r.tried, errors: t.errors + r.errors, accepted: t.accepted + r.accepted, traps: t.traps + r.traps, wrong: t.wrong + r.wrong, brokenAfter: t.brokenAfter + r.brokenAfter }), { input: "**all**", tried: 0, errors: 0, accepted: 0, traps: 0, wrong: 0, brokenAfter: 0 });
  const line = (r) => `| ${r.input} | ${r.tried} | ${r.errors} | ${r.accepted} | ${r.traps} | ${r.wrong} | ${r.brokenAfter} |`;
  return [`${title}`, "", "| input | tried | errors | accepted | traps | wrong results | ranker broken after |", "|---|---:|---:|---:|---:|---:|---:|", ...rows.map(line), line(total)].join("\n");
}

async function main() {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const perKind = arg("per-kind", 2000);
  const seed = arg("seed", 1);
  const { loadMtfuse } = await import("../../www/mtfuse.js");
  const blob = new Uint8Array(readFileSync(`${ROOT}models/enhanced.safetensors`));
  const request = JSON.parse(readFileSync(`${ROOT}tests/fixtures/shipped-request.json`, "utf8"));
  for (const flavour of ["simd", "scalar"]) {
    const m = await loadMtfuse({ flavour, wasm: readFileSync(`${ROOT}www/pkg/${flavour}/mtfuse_bg.wasm`) });
    const columns = columnsOf(m.Ranker.fromBytes(blob), request);
    const t0 = performance.now();
    const rows = fuzzBuild(m, { blob, request, columns, perKind, seed });
    console.log(table(`**${flavour} build**, the shipped enhanced blob, seed ${seed}, ${((performance.now() - t0) / 1000).toFixed(1)} s:`, rows));
    console.log();
  }
  const { startWorkerd } = await import("../../www/edge/run.mjs");
  const wd = await startWorkerd({ maxItems: 200 });
  try {
    const expected = JSON.parse(readFileSync(`${ROOT}tests/fixtures/shipped-expected.json`, "utf8")).enhanced;
    const total = arg("worker-requests", 3000);
    const t0 = performance.now();
    const rows = await fuzzWorker(`${wd.url}/rank`, { request, expectedIds: expected.map((i) => i.id), total, seed });
    console.log(workerTable(`**edge worker under workerd**, ${total} requests (30% valid) at concurrency 16, seed ${seed}, ${((performance.now() - t0) / 1000).toFixed(1)} s:`, rows));
  } finally {
    wd.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
