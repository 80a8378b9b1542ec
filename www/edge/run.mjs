// Starts the edge worker under real workerd on a free loopback port, and
// load-tests it. A library for the tests, and a command:
//
//   node www/edge/run.mjs serve [--port 8787]
//   node www/edge/run.mjs load [--requests 20000] [--concurrency 32] [--items 50]
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WORKERD = process.env.WORKERD ?? `${ROOT}node_modules/.bin/workerd`;

/** A TCP port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Runs `workerd serve www/edge/config.capnp` on 127.0.0.1 and waits for
 * /health. `maxItems` / `maxBodyBytes` override the config's limits;
 * `testTrap` enables POST /__trap.
 */
export async function startWorkerd({ port, maxItems, maxBodyBytes, logDir, testTrap } = {}) {
  port ??= await freePort();
  // POST /log writes its NDJSON files here (the config's log-sink disk).
  logDir ??= `${ROOT}target/edge-logs`;
  mkdirSync(logDir, { recursive: true });
  const args = ["serve", `${ROOT}www/edge/config.capnp`, "--socket-addr", `http=127.0.0.1:${port}`, "--directory-path", `log-sink=${resolve(logDir)}`];
  // workerd has no flag for text bindings, so other limits go through a
  // derived config in a temporary folder.
  if (maxItems !== undefined || maxBodyBytes !== undefined || testTrap) {
    const dir = mkdtempSync(join(tmpdir(), "mtfuse-workerd-"));
    // capnp embeds only take relative paths.
    let text = readFileSync(`${ROOT}www/edge/config.capnp`, "utf8").replace(/embed "([^"]+)"/g, (_, rel) => `embed "${relative(dir, resolve(ROOT, "www/edge", rel))}"`);
    if (maxItems !== undefined) text = text.replace(/(name = "MAX_ITEMS", text = )"\d+"/, `$1"${maxItems}"`);
    if (maxBodyBytes !== undefined) text = text.replace(/(name = "MAX_BODY_BYTES", text = )"\d+"/, `$1"${maxBodyBytes}"`);
    // POST /__trap, for the trap-recovery test.
    if (testTrap) text = text.replace(/bindings = \[\n/, `$&    (name = "MTFUSE_TEST_TRAP", text = "1"),\n`);
    writeFileSync(join(dir, "config.capnp"), text);
    args[1] = join(dir, "config.capnp");
  }
  const child = spawn(WORKERD, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited with ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      child.kill();
      throw new Error(`workerd did not answer /health within 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, port, pid: child.pid, stop: () => child.kill(), stderr: () => stderr };
}

/** Resident set size of a process, in bytes (Linux). */
export function rssBytes(pid) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Sends `requests` POSTs of `body` with `concurrency` in flight; returns
 * throughput, latency percentiles, the count of non-200 answers and
 * failures, and the peak RSS of `pid` sampled while it ran.
 */
export async function loadTest({ url, body, requests, concurrency, pid }) {
  const latencies = [];
  let next = 0;
  let ok = 0;
  let errors = 0;
  let peak = pid ? rssBytes(pid) : 0;
  const sampler = pid ? setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 50) : null;
  const worker = async () => {
    while (next < requests) {
      next++;
      const t0 = performance.now();
      try {
        const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
        await res.arrayBuffer();
        if (res.status === 200) ok++;
        else errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  if (sampler) clearInterval(sampler);
  if (pid) peak = Math.max(peak, rssBytes(pid));
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { requests, concurrency, ok, errors, answered: latencies.length, seconds, rps: requests / seconds, p50: pct(0.5), p99: pct(0.99), peakRssBytes: peak };
}

async function main() {
  const [cmd, ...rest] = process.argv.slice(2);
  const opt = (name, fallback) => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 ? Number(rest[i + 1]) : fallback;
  };
  if (cmd === "serve") {
    const wd = await startWorkerd({ port: opt("port", 8787) });
    console.log(`mtfuse edge worker on ${wd.url} (POST /rank, GET /schema, GET /health); Ctrl-C stops it`);
    process.on("SIGINT", () => (wd.stop(), process.exit(0)));
  } else if (cmd === "load") {
    const request = JSON.parse(readFileSync(`${ROOT}tests/fixtures/shipped-request.json`, "utf8"));
    const items = opt("items", 50);
    const body = JSON.stringify({ ...request, items: Array.from({ length: items }, (_, i) => ({ ...request.items[i % request.items.length], id: i })), topK: Math.min(10, items) });
    const wd = await startWorkerd();
    try {
      const r = await loadTest({ url: `${wd.url}/rank`, body, requests: opt("requests", 20_000), concurrency: opt("concurrency", 32), pid: wd.pid });
      console.log(`workerd ${wd.url}: ${r.requests} requests of ${items} items (${body.length} bytes), concurrency ${r.concurrency}`);
      console.log(`  ${r.rps.toFixed(0)} requests/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ok ${r.ok}, errors ${r.errors}, answered ${r.answered}, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(1)} MiB`);
      process.exitCode = r.errors === 0 && r.ok === r.requests ? 0 : 1;
    } finally {
      wd.stop();
    }
  } else {
    console.error("usage: node www/edge/run.mjs serve [--port N] | load [--requests N] [--concurrency N] [--items N]");
    process.exitCode = 2;
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
