// Benchmarks the wasm ranker in Node: the three builds, object and columnar
// API, N ∈ {1, 50, 200, 1000}, on an enhanced actor of the default size;
// the dense kernel alone against the engine's measured multiply-add peak.
// Usage: node bench/wasm-rank.mjs <blob.safetensors> [--json out.json]
import { readFileSync, writeFileSync } from "node:fs";
import v8 from "node:v8";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { loadMtfuse } from "../www/mtfuse.js";

// Node 20 runs relaxed SIMD behind a flag (Chromium ships it); before any compile.
v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
const FLAVOURS = ["relaxed", "simd", "scalar"];
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const blobPath = process.argv[2];
if (!blobPath) {
  console.error("usage: node bench/wasm-rank.mjs <blob.safetensors> [--json out.json]");
  process.exit(2);
}
const jsonOut = process.argv.includes("--json") ? process.argv[process.argv.indexOf("--json") + 1] : null;
const blob = new Uint8Array(readFileSync(blobPath));
const SIZES = [1, 50, 200, 1000];

const builds = {};
for (const flavour of FLAVOURS) {
  const wasm = readFileSync(`${ROOT}www/pkg/${flavour}/mtfuse_bg.wasm`);
  const m = await loadMtfuse({ flavour, wasm });
  builds[flavour] = { m, ranker: m.Ranker.fromBytes(blob), bytes: wasm.length, gz: gzipSync(wasm, { level: 9 }).length };
}
const schema = builds.simd.ranker.schema();
const hidden = schema.hidden;
const [U, C, I, K] = [schema.user.length, schema.context.length, schema.item.length, schema.objectives.length];
// Multiply-adds per item: the per-item part of layer 1, then the rest.
const widths = [I + K, ...hidden, 2 * K];
let flopsPerItem = 0;
for (let i = 0; i + 1 < widths.length; i++) flopsPerItem += 2 * widths[i] * widths[i + 1];

// Deterministic inputs.
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
function makeRequest(n) {
  const user = Float32Array.from({ length: U }, rnd);
  const context = Float32Array.from({ length: C }, rnd);
  const items = Float32Array.from({ length: n * I }, rnd);
  const scores = Float32Array.from({ length: n * K }, () => rnd() * 0.5);
  const obj = {
    user: Object.fromEntries(schema.user.map((f, i) => [f, user[i]])),
    context: Object.fromEntries(schema.context.map((f, i) => [f, context[i]])),
    items: Array.from({ length: n }, (_, j) => ({
      id: j,
      scores: Object.fromEntries(schema.objectives.map((o, k) => [o, scores[j * K + k]])),
      features: Object.fromEntries(schema.item.map((f, i) => [f, items[j * I + i]])),
    })),
    topK: Math.min(n, 6),
  };
  return { user, context, items, scores, obj, n };
}

/** Median and p95 of per-call µs over `samples` batches of calls. */
function time(fn, { samples = 41, minBatchMs = 2 } = {}) {
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    if (performance.now() - t0 >= minBatchMs) break;
    reps *= 2;
  }
  const per = [];
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    per.push(((performance.now() - t0) * 1000) / reps);
  }
  per.sort((a, b) => a - b);
  return { median: per[per.length >> 1], p95: per[Math.floor(per.length * 0.95)] };
}

const results = [];
for (const n of SIZES) {
  const req = makeRequest(n);
  // Interleave builds and paths so drift hits them all alike.
  const row = { n };
  for (const round of [0, 1]) {
    for (const flavour of FLAVOURS) {
      const { ranker } = builds[flavour];
      const col = time(() => ranker.rankColumnar(req.user, req.context, req.items, req.scores, Math.min(n, 6)));
      const obj = time(() => ranker.rank(req.obj));
      if (round === 1) {
        row[`${flavour}_columnar_us`] = col.median;
        row[`${flavour}_columnar_p95_us`] = col.p95;
        row[`${flavour}_object_us`] = obj.median;
      }
    }
  }
  results.push(row);
}

// The dense kernel alone (layer 1 item part and layer 2 at N = 1000), inside
// wasm, from the bench builds (scripts/build-wasm.sh bench-relaxed bench-simd
// bench-scalar), and each build's peak: independent multiply-adds only.
const kernel = {};
const peak = {};
const benchBuilds = {};
for (const flavour of FLAVOURS) {
  const wasm = readFileSync(`${ROOT}target/bench-pkg/${flavour}/mtfuse_bg.wasm`);
  benchBuilds[flavour] = await loadMtfuse({ flavour, wasm, base: new URL("../target/bench-pkg/", import.meta.url) });
}
for (const flavour of FLAVOURS) {
  const iters = 100_000;
  const t = time(() => benchBuilds[flavour].benchPeak(iters), { samples: 15, minBatchMs: 1 });
  peak[flavour] = (12 * 4 * 2 * iters) / (t.median * 1e3);
}
for (const [rows, k, m] of [[1000, I + K, hidden[0]], [1000, hidden[0], hidden[1]]]) {
  for (const flavour of FLAVOURS) {
    const iters = 20;
    const t = time(() => benchBuilds[flavour].benchDense(rows, k, m, iters), { samples: 15, minBatchMs: 1 });
    kernel[`${flavour} ${rows}x${k}x${m}`] = { flavour, gflops: (2 * rows * k * m * iters) / (t.median * 1e3) };
  }
}

// The int16 layer (crate::quant) on the same shapes: the integer kernel
// alone, and the whole layer (quantising inputs, kernel, scaling back), in
// f32-equivalent GFLOP/s against the f32 kernel of the same build.
const int16 = [];
for (const [rows, k, m] of [[1000, I + K, hidden[0]], [1000, hidden[0], hidden[1]], [1000, hidden[1], 2 * K]]) {
  for (const flavour of ["relaxed", "simd"]) {
    const iters = 20;
    const gf = (f) => (2 * rows * k * m * iters) / (time(f, { samples: 15, minBatchMs: 1 }).median * 1e3);
    int16.push({
      shape: `${rows}x${k}x${m}`,
      flavour,
      f32: gf(() => benchBuilds[flavour].benchDense(rows, k, m, iters)),
      kernel: gf(() => benchBuilds[flavour].benchDenseI16(rows, k, m, iters, true)),
      layer: gf(() => benchBuilds[flavour].benchDenseI16(rows, k, m, iters, false)),
    });
  }
}

// Where a columnar call's time goes: the dense layers alone at the same N
// (per-item part of layer 1, the hidden layers, the output layer), against
// the whole call; the rest is normalisation, tanh, fusion, top-k and the
// JS boundary.
const split = [];
for (const n of [50, 1000]) {
  for (const flavour of ["relaxed", "simd"]) {
    let denseUs = 0;
    for (let i = 0; i + 1 < widths.length; i++) {
      // Enough iterations that benchDense's own setup (filling x and w) is noise.
      const iters = n === 50 ? 400 : 40;
      denseUs += time(() => benchBuilds[flavour].benchDense(n, widths[i], widths[i + 1], iters), { samples: 15, minBatchMs: 1 }).median / iters;
    }
    const whole = results.find((r) => r.n === n)[`${flavour}_columnar_us`];
    split.push({ n, flavour, denseUs, wholeUs: whole });
  }
}
const fmt = (x) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const printInt16 = () => {
  console.log("| layer (N×in×out) | build | f32 kernel GFLOP/s | int16 kernel alone | int16 whole layer | whole layer int16 / f32 |");
  console.log("|---|---|---:|---:|---:|---:|");
  for (const r of int16) console.log(`| ${r.shape} | ${r.flavour} | ${r.f32.toFixed(1)} | ${r.kernel.toFixed(1)} | ${r.layer.toFixed(1)} | ${(r.layer / r.f32).toFixed(2)}× |`);
  console.log("");
};
console.log(`enhanced actor: ${U + C} shared + ${I + K} per-item inputs, hidden [${hidden}], ${K} objectives; ${flopsPerItem} flops/item`);
console.log(`Node ${process.version}, ${process.arch}`);
console.log("");
console.log("| N | relaxed columnar µs | simd columnar µs (p95) | scalar columnar µs | simd/relaxed | simd/scalar speed-up | simd object µs | object / columnar (simd) | scalar object µs | simd actor GFLOP/s (whole call) |");
console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of results) {
  const gf = (flopsPerItem * r.n) / (r.simd_columnar_us * 1e3);
  console.log(`| ${r.n} | ${fmt(r.relaxed_columnar_us)} | ${fmt(r.simd_columnar_us)} (${fmt(r.simd_columnar_p95_us)}) | ${fmt(r.scalar_columnar_us)} | ${(r.simd_columnar_us / r.relaxed_columnar_us).toFixed(2)}× | ${(r.scalar_columnar_us / r.simd_columnar_us).toFixed(2)}× | ${fmt(r.simd_object_us)} | ${(r.simd_object_us / r.simd_columnar_us).toFixed(2)}× | ${fmt(r.scalar_object_us)} | ${gf.toFixed(1)} |`);
}
console.log("");
printInt16();
console.log("| build | multiply-add peak GFLOP/s (12 independent f32x4 chains) |");
console.log("|---|---:|");
for (const f of FLAVOURS) console.log(`| ${f} | ${peak[f].toFixed(1)} |`);
console.log("");
console.log("| dense kernel alone (N×in×out) | GFLOP/s | share of its build's peak |");
console.log("|---|---:|---:|");
for (const [k, v] of Object.entries(kernel)) console.log(`| ${k} | ${v.gflops.toFixed(1)} | ${((100 * v.gflops) / peak[v.flavour]).toFixed(0)}% |`);
console.log("");
console.log("| N | build | dense layers alone µs | whole columnar call µs | dense share | the rest µs |");
console.log("|---:|---|---:|---:|---:|---:|");
for (const x of split) console.log(`| ${x.n} | ${x.flavour} | ${fmt(x.denseUs)} | ${fmt(x.wholeUs)} | ${((100 * x.denseUs) / x.wholeUs).toFixed(0)}% | ${fmt(x.wholeUs - x.denseUs)} |`);
console.log("");
console.log("| build | .wasm bytes | gzipped |");
console.log("|---|---:|---:|");
for (const f of FLAVOURS) console.log(`| ${f} | ${builds[f].bytes} | ${builds[f].gz} |`);

const r1 = results.find((r) => r.n === 1), r50 = results.find((r) => r.n === 50), r1000 = results.find((r) => r.n === 1000);
const dense1000 = Math.min(...Object.values(kernel).filter((v) => v.flavour === "simd").map((v) => v.gflops));
const targets = [
  ["simd ≥ 2× scalar at N=1000 (columnar)", r1000.scalar_columnar_us / r1000.simd_columnar_us >= 2, `${(r1000.scalar_columnar_us / r1000.simd_columnar_us).toFixed(2)}×`],
  ["simd .wasm < 150 KB raw", builds.simd.bytes < 150 * 1024, `${(builds.simd.bytes / 1024).toFixed(0)} KB`],
  ["dense ≥ 15 GFLOP/s at N=1000 (simd kernel, slower layer)", dense1000 >= 15, `${dense1000.toFixed(1)} GFLOP/s`],
  ["columnar < 3 µs at N=1", r1.simd_columnar_us < 3, `${fmt(r1.simd_columnar_us)} µs`],
  ["columnar < 40 µs at N=50", r50.simd_columnar_us < 40, `${fmt(r50.simd_columnar_us)} µs`],
  ["object path within 2× of columnar at N=50 (simd)", r50.simd_object_us <= 2 * r50.simd_columnar_us, `${(r50.simd_object_us / r50.simd_columnar_us).toFixed(2)}×`],
];
console.log("");
console.log("| target | met | measured |");
console.log("|---|---|---:|");
for (const [t, ok, v] of targets) console.log(`| ${t} | ${ok ? "yes" : "no"} | ${v} |`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ node: process.version, results, kernel, peak, split, int16, sizes: Object.fromEntries(FLAVOURS.map((f) => [f, [builds[f].bytes, builds[f].gz]])), targets }, null, 2));
