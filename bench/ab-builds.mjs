// Compares simd builds of mtfuse side by side in one Node process: each
// directory holds a `simd/` package (as scripts/build-wasm.sh writes to
// www/pkg). Rounds alternate the order, so machine noise hits all builds alike.
// Usage: N=50 node bench/ab-builds.mjs <dir> <dir> ...   (ratios are to the first)
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { loadMtfuse } from "../www/mtfuse.js";

const dirs = process.argv.slice(2).map((d) => resolve(d));
if (dirs.length < 2) {
  console.error("usage: N=50 node bench/ab-builds.mjs <dir with simd/> <dir with simd/> ...");
  process.exit(2);
}
const blob = new Uint8Array(readFileSync(new URL("../models/enhanced.safetensors", import.meta.url)));
const N = Number(process.env.N ?? 50);
const top = Math.min(10, N);
const builds = [];
for (const d of dirs) {
  const m = await loadMtfuse({ flavour: "simd", base: pathToFileURL(`${d}/`).href, wasm: readFileSync(`${d}/simd/mtfuse_bg.wasm`) });
  builds.push({ d, ranker: m.Ranker.fromBytes(blob), times: [] });
}
const schema = builds[0].ranker.schema();
let seed = 1;
const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
const user = Float32Array.from({ length: schema.user.length }, rnd);
const context = Float32Array.from({ length: schema.context.length }, rnd);
const items = Float32Array.from({ length: N * schema.item.length }, rnd);
const scores = Float32Array.from({ length: N * schema.objectives.length }, () => rnd() * 0.5);
const first = Array.from(builds[0].ranker.rankColumnar(user, context, items, scores, top).scores);
for (const b of builds) {
  const got = Array.from(b.ranker.rankColumnar(user, context, items, scores, top).scores);
  b.diff = Math.max(...got.map((x, j) => Math.abs(x - first[j])));
}
const reps = Math.max(20, Math.round(20000 / N));
for (let round = 0; round < 31; round++) {
  for (const b of round % 2 ? [...builds].reverse() : builds) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) b.ranker.rankColumnar(user, context, items, scores, top);
    b.times.push(((performance.now() - t0) * 1000) / reps);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`N=${N}, ${reps} calls × 31 rounds per build`);
for (const b of builds) {
  console.log(`${b.d}: median ${median(b.times).toFixed(1)} µs, ratio ${(median(b.times) / median(builds[0].times)).toFixed(3)}, max |top-${top} score diff| ${b.diff}`);
}
