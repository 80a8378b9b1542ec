// The npm package as a user gets it: scripts/build-npm.sh packs it, a fresh
// project installs the tarball, and the README's example ranks in Node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, fixture } from "./helpers.mjs";

const run = (cmd, args, cwd) => {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

test("a fresh project installs the packed tarball and the README's example ranks like the native core", () => {
  const tarball = join(ROOT, run(`${ROOT}scripts/build-npm.sh`, [], ROOT).trim());
  const pkg = JSON.parse(readFileSync(`${ROOT}target/npm/mtfuse/package.json`, "utf8"));
  assert.equal(pkg.name, "mtfuse");
  assert.ok(pkg.exports["."].types && pkg.exports["."].default);
  const readme = readFileSync(`${ROOT}target/npm/mtfuse/README.md`, "utf8");
  assert.match(readme, /\| simd128 \(`pkg\/simd\/`\) \| \d+ \|/);

  const app = mkdtempSync(join(tmpdir(), "mtfuse-app-"));
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarball], app);
  copyFileSync(`${ROOT}models/enhanced.safetensors`, join(app, "enhanced.safetensors"));
  copyFileSync(`${ROOT}tests/fixtures/shipped-request.json`, join(app, "request.json"));
  // The README's example, with the blob and request read from disk.
  writeFileSync(join(app, "main.js"), `import { readFileSync } from "node:fs";
import { loadMtfuse } from "mtfuse";
const mtfuse = await loadMtfuse();
const ranker = mtfuse.Ranker.fromBytes(readFileSync("enhanced.safetensors"));
const ranked = ranker.rank(JSON.parse(readFileSync("request.json", "utf8")));
console.log(JSON.stringify({ flavour: mtfuse.flavour, ids: ranked.map((i) => i.id) }));
`);
  const out = JSON.parse(run("node", ["main.js"], app));
  const expected = JSON.parse(fixture("shipped-expected.json")).enhanced;
  assert.equal(out.flavour, "simd");
  assert.deepEqual(out.ids, expected.map((i) => i.id));
  // The types resolve from the package's exports map.
  const dts = readFileSync(join(app, "node_modules/mtfuse/index.d.ts"), "utf8");
  assert.match(dts, /export declare function loadMtfuse\(options\?: LoadOptions\): Promise<Mtfuse>;/);
});
