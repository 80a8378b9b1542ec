// Cold start in headless Chromium: a fresh browser context (empty caches)
// per run, then import the loader, fetch, compile and instantiate the wasm
// the loader picks (or the one asked for), fetch the blob, load it, rank
// once. Prints the median of 9 runs per build, with the phases.
//   node bench/cold-chromium.mjs [models/enhanced.safetensors] [--json out.json]
import { writeFileSync } from "node:fs";
import { startServer } from "../www/serve.mjs";
import { launchChromium } from "../tests/js/helpers.mjs";

const args = process.argv.slice(2);
const blob = (args.find((a) => !a.startsWith("--") && !args[args.indexOf(a) - 1]?.startsWith("--")) ?? "models/enhanced.safetensors").replace(/^models\//, "");
const RUNS = 9;
const server = await startServer({ port: 0 });
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await launchChromium();

/** One cold start in a fresh context: phases in ms, as the page measured them. */
async function once(flavour) {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Any same-origin document will do; this one loads nothing else.
  await page.goto(`${base}/style.css`);
  const out = await page.evaluate(
    async ({ flavour, blob }) => {
      // One small fetch from this fresh context first, timed apart: what a
      // round trip to this server costs here, to read the phases against.
      const b0 = performance.now();
      await (await fetch("/style.css?baseline")).text();
      const baseline = performance.now() - b0;
      const phases = {};
      let last = performance.now();
      const t0 = last;
      const mark = (k) => {
        const now = performance.now();
        phases[k] = now - last;
        last = now;
      };
      const { loadMtfuse } = await import("/mtfuse.js");
      mark("import loader");
      const m = await loadMtfuse(flavour ? { flavour } : {});
      mark("import glue, fetch, compile, instantiate");
      const bytes = new Uint8Array(await (await fetch(`/models/${blob}`)).arrayBuffer());
      mark("fetch blob");
      const r = m.Ranker.fromBytes(bytes);
      mark("load blob");
      const s = r.schema();
      r.rankColumnar(new Float32Array(s.user.length), new Float32Array(s.context.length), new Float32Array(s.item.length), new Float32Array(s.objectives.length), 1);
      mark("first rank");
      const total = performance.now() - t0;
      phases["(one small fetch before the start, not in the total)"] = baseline;
      return { flavour: m.flavour, total, phases };
    },
    { flavour, blob },
  );
  await context.close();
  return out;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const results = {};
let version;
try {
  version = browser.version();
  await once(); // the browser's own first-context costs, not mtfuse's
  // Builds interleaved run by run, so drift hits both alike.
  const runs = { relaxed: [], simd: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const flavour of [undefined, "simd"]) {
      const r = await once(flavour);
      (runs[r.flavour] ??= []).push(r);
    }
  }
  for (const [name, rs] of Object.entries(runs)) {
    if (rs.length === 0) continue;
    results[name] = { total: median(rs.map((r) => r.total)), phases: Object.fromEntries(Object.keys(rs[0].phases).map((k) => [k, median(rs.map((r) => r.phases[k]))])) };
  }
} finally {
  await browser.close();
  server.close();
}
const names = Object.keys(results);
let md = `Cold start in headless Chromium ${version}, from import to the first ranking, median of ${RUNS} fresh contexts per build, the builds interleaved (ms):\n\n`;
md += `| phase | ${names.join(" | ")} |\n|---|${names.map(() => "---:").join("|")}|\n`;
for (const k of Object.keys(results[names[0]].phases)) md += `| ${k} | ${names.map((n) => results[n].phases[k].toFixed(2)).join(" | ")} |\n`;
md += `| **total** | ${names.map((n) => results[n].total.toFixed(2)).join(" | ")} |\n`;
console.log(md);
const json = args.includes("--json") ? args[args.indexOf("--json") + 1] : null;
if (json) writeFileSync(json, JSON.stringify(results, null, 2));
