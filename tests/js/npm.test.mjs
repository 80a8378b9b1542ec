// The npm package as a user gets it: scripts/build-npm.sh packs it, a fresh
// project installs the tarball, and the README's example ranks in Node.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:http";
import { cpSync, mkdirSync } from "node:fs";
import { ROOT, fixture, launchChromium } from "./helpers.mjs";

const run = (cmd, args, cwd) => {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
};

const expected = JSON.parse(fixture("shipped-expected.json")).enhanced;
let tarball;
before(() => {
  tarball = join(ROOT, run(`${ROOT}scripts/build-npm.sh`, [], ROOT).trim());
});

/** A fresh project with the tarball installed. */
function freshApp() {
  const app = mkdtempSync(join(tmpdir(), "mtfuse-app-"));
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarball], app);
  copyFileSync(`${ROOT}models/enhanced.safetensors`, join(app, "enhanced.safetensors"));
  copyFileSync(`${ROOT}tests/fixtures/shipped-request.json`, join(app, "request.json"));
  return app;
}

test("a fresh project installs the packed tarball and the README's example ranks like the native core", () => {
  const pkg = JSON.parse(readFileSync(`${ROOT}target/npm/mtfuse/package.json`, "utf8"));
  assert.equal(pkg.name, "mtfuse");
  assert.ok(pkg.exports["."].types && pkg.exports["."].default);
  const readme = readFileSync(`${ROOT}target/npm/mtfuse/README.md`, "utf8");
  assert.match(readme, /\| simd128 \(`pkg\/simd\/`\) \| \d+ \|/);

  const app = freshApp();
  // The README's example, with the blob and request read from disk.
  writeFileSync(join(app, "main.js"), `import { readFileSync } from "node:fs";
import { loadMtfuse } from "mtfuse";
const mtfuse = await loadMtfuse();
const ranker = mtfuse.Ranker.fromBytes(readFileSync("enhanced.safetensors"));
const ranked = ranker.rank(JSON.parse(readFileSync("request.json", "utf8")));
console.log(JSON.stringify({ flavour: mtfuse.flavour, ids: ranked.map((i) => i.id) }));
`);
  const out = JSON.parse(run("node", ["main.js"], app));
  assert.equal(out.flavour, "simd");
  assert.deepEqual(out.ids, expected.map((i) => i.id));
  // The types resolve from the package's exports map.
  const dts = readFileSync(join(app, "node_modules/mtfuse/index.d.ts"), "utf8");
  assert.match(dts, /export declare function loadMtfuse\(options\?: LoadOptions\): Promise<Mtfuse>;/);
});

test("bundled by esbuild, the package loads and ranks in headless Chromium", async () => {
  const app = freshApp();
  mkdirSync(join(app, "src"));
  writeFileSync(join(app, "src/app.js"), `import { loadMtfuse } from "mtfuse";
const mtfuse = await loadMtfuse();
const blob = new Uint8Array(await (await fetch("enhanced.safetensors")).arrayBuffer());
const request = await (await fetch("request.json")).json();
const ranked = mtfuse.Ranker.fromBytes(blob).rank(request);
window.result = { flavour: mtfuse.flavour, ids: ranked.map((i) => i.id) };
`);
  const dist = join(app, "dist");
  run(`${ROOT}node_modules/.bin/esbuild`, ["src/app.js", "--bundle", "--format=esm", "--outfile=dist/app.js", "--log-level=warning"], app);
  // The loader fetches the builds next to the bundle: copy them as assets.
  cpSync(join(app, "node_modules/mtfuse/pkg"), join(dist, "pkg"), { recursive: true });
  copyFileSync(join(app, "enhanced.safetensors"), join(dist, "enhanced.safetensors"));
  copyFileSync(join(app, "request.json"), join(dist, "request.json"));
  writeFileSync(join(dist, "index.html"), `<!doctype html><script type="module" src="app.js"></script>`);
  const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };
  const server = createServer((req, res) => {
    try {
      const path = join(dist, new URL(req.url, "http://x").pathname);
      const body = readFileSync(path);
      res.writeHead(200, { "content-type": types[path.slice(path.lastIndexOf("."))] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: 20_000 }).catch(() => assert.fail(`no result; page errors: ${errors.join("; ")}`));
    const result = await page.evaluate(() => window.result);
    assert.equal(result.flavour, "simd");
    assert.deepEqual(result.ids, expected.map((i) => i.id));
    // The bundle holds the loader, not the glue or the module: those stay assets.
    assert.ok(!readFileSync(join(dist, "app.js"), "utf8").includes("__wbg_get_imports"));
  } finally {
    await browser.close();
    server.close();
  }
});
