// The npm package as a user gets it: scripts/build-npm.sh packs it, a fresh
// project installs the tarball, and it ranks in Node (the README's example),
// in headless Chromium through esbuild, and in a Worker under workerd; its
// declarations type-check with tsc.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import { spawn, spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:http";
import { cpSync, mkdirSync } from "node:fs";
import { ROOT, fixture, launchChromium } from "./helpers.mjs";
import { freePort } from "../../www/edge/run.mjs";

const run = (cmd, args, cwd) => {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")}: ${r.stdout}${r.stderr}`);
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
  assert.ok(pkg.exports["."].types && pkg.exports["."].default && pkg.exports["./worker"].default);
  const readme = readFileSync(`${ROOT}target/npm/mtfuse/README.md`, "utf8");
  assert.match(readme, /\| simd128 \(`pkg\/simd\/`\) \| \d+ \|/);

  const app = freshApp();
  // The README's example as it stands, after lines that define its inputs.
  const example = readme.match(/```js\n([^`]*loadMtfuse[^`]*)```/)[1];
  assert.equal(example.trim().split("\n").length, 5, example);
  writeFileSync(join(app, "main.js"), `import { readFileSync } from "node:fs";
const blobBytes = readFileSync("enhanced.safetensors");
const { user, context, items } = JSON.parse(readFileSync("request.json", "utf8"));
${example}
console.log(JSON.stringify({ flavour: mtfuse.flavour, ids: ranked.map((i) => i.id) }));
`);
  const out = JSON.parse(run("node", ["main.js"], app).trim().split("\n").pop());
  assert.equal(out.flavour, "simd");
  assert.deepEqual(out.ids, expected.slice(0, 6).map((i) => i.id));
});

test("the package's TypeScript declarations type-check a user's code, and reject a wrong call", () => {
  const app = freshApp();
  const tsc = `${ROOT}node_modules/.bin/tsc`;
  const flags = ["--noEmit", "--strict", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "--lib", "es2022,dom,esnext.disposable", "app.ts"];
  writeFileSync(join(app, "app.ts"), `import { loadMtfuse, TrapError, type RankedItem } from "mtfuse";
import { loadMtfuseSync } from "mtfuse/worker";
const mtfuse = await loadMtfuse({ flavour: "simd" });
const ranker = mtfuse.Ranker.fromBytes(new Uint8Array(8));
const ranked: RankedItem[] = ranker.rank({ user: {}, context: {}, items: [], topK: 6 });
const ids: (string | number)[] = ranked.map((i) => i.id);
const explored = ranker.rank({ items: [] }, { explore: { width: 0.1, seed: 1 } });
const seed: number = explored.record.seed;
const columnar = ranker.rankColumnar(new Float32Array(1), new Float32Array(1), new Float32Array(1), new Float32Array(1), 0);
const order: Uint32Array = columnar.order;
const flavour: "simd" = loadMtfuseSync().flavour;
export { ids, seed, order, flavour, TrapError };
`);
  run(tsc, flags, app);
  // The types are not \`any\`: a request that is not one fails to check.
  writeFileSync(join(app, "app.ts"), `import { loadMtfuse } from "mtfuse";
const mtfuse = await loadMtfuse();
mtfuse.Ranker.fromBytes(new Uint8Array(8)).rank(42);
`);
  const r = spawnSync(tsc, flags, { cwd: app, encoding: "utf8" });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /app\.ts\(3,\d+\): error TS2769: No overload matches this call[^]*Argument of type 'number' is not assignable to parameter of type 'RankRequest'/);
});

test("a Worker imports mtfuse/worker from the installed package and ranks under workerd", async () => {
  const app = freshApp();
  writeFileSync(join(app, "worker.js"), `import { loadMtfuseSync } from "mtfuse/worker";
import blob from "./enhanced.safetensors";
export default {
  async fetch(request) {
    const ranker = loadMtfuseSync().Ranker.fromBytes(new Uint8Array(blob));
    return Response.json(ranker.rank(await request.json()).map((i) => i.id));
  },
};
`);
  // workerd lists a worker's modules; the package's keep their paths under
  // the name the worker imports.
  const pkg = "node_modules/mtfuse";
  const port = await freePort();
  writeFileSync(join(app, "config.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "app", worker = .app) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "app") ],
);
const app :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "mtfuse/worker", esModule = embed "${pkg}/mtfuse-worker.js"),
    (name = "mtfuse/mtfuse.js", esModule = embed "${pkg}/mtfuse.js"),
    (name = "mtfuse/pkg/simd/mtfuse.js", esModule = embed "${pkg}/pkg/simd/mtfuse.js"),
    (name = "mtfuse/pkg/simd/mtfuse_bg.wasm", wasm = embed "${pkg}/pkg/simd/mtfuse_bg.wasm"),
    (name = "enhanced.safetensors", data = embed "enhanced.safetensors"),
  ],
  compatibilityDate = "2025-01-01",
);
`);
  const child = spawn(`${ROOT}node_modules/.bin/workerd`, ["serve", "config.capnp"], { cwd: app, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  try {
    let ids;
    for (const deadline = Date.now() + 20_000; ids === undefined; ) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: readFileSync(join(app, "request.json")) });
        assert.equal(res.status, 200, await res.clone().text());
        ids = await res.json();
      } catch (e) {
        if (e instanceof assert.AssertionError || Date.now() > deadline || child.exitCode !== null) throw new Error(`${e.message}; workerd: ${stderr}`);
        await new Promise((ok) => setTimeout(ok, 100));
      }
    }
    assert.deepEqual(ids, expected.map((i) => i.id));
  } finally {
    child.kill();
  }
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
    // Chromium validates relaxed SIMD, so the loader picks that build.
    assert.equal(result.flavour, "relaxed");
    assert.deepEqual(result.ids, expected.map((i) => i.id));
    // The bundle holds the loader, not the glue or the module: those stay assets.
    assert.ok(!readFileSync(join(dist, "app.js"), "utf8").includes("__wbg_get_imports"));
  } finally {
    await browser.close();
    server.close();
  }
});
