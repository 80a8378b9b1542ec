// Shared helpers for the JS tests: the built wasm, the fixtures, a browser.
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const fixture = (name) => readFileSync(`${ROOT}tests/fixtures/${name}`);

/** Loads one wasm build from www/pkg through the shipped loader. */
export async function load(flavour) {
  const { loadMtfuse } = await import(`${ROOT}www/mtfuse.js`);
  const wasm = readFileSync(`${ROOT}www/pkg/${flavour}/mtfuse_bg.wasm`);
  return loadMtfuse({ flavour, wasm });
}

/** Headless Debian Chromium through playwright-core, with flags this network needs. */
export async function launchChromium() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

export const close = (a, b, rel = 1e-5) => Math.abs(a - b) <= rel * (1 + Math.max(Math.abs(a), Math.abs(b)));

/** The native CLI that `cargo test` builds for tests/cli.rs; MTFUSE_BIN overrides it. */
export function nativeMtfuse() {
  const bin = process.env.MTFUSE_BIN ?? `${ROOT}target/debug/mtfuse`;
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run cargo test --all-targets (or cargo build --bin mtfuse) first`);
  return bin;
}

/** Runs the native CLI; throws with its stderr when it fails. */
export function runMtfuse(args) {
  const r = spawnSync(nativeMtfuse(), args, { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mtfuse ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A tiny training config, so training from a log takes seconds in tests. */
// gate = false: these tests check the plumbing; tests/cli.rs checks the OPE gate.
export const TINY_CONFIG = "updates_per_round = 40\ncritic_warmup = 10\nbatch = 8\nactor_hidden = [8]\ncritic_hidden = [8]\nensemble = 2\ngate = false\n";

/**
 * Serves `sessions` simulated sessions of `requests` requests each with an
 * exploring ranker (30 candidates, top 6): yields one request at a time with
 * its rank and the simulated responses, for the tests that log them.
 */
export function* exploringRequests(sim, ranker, sessions, requests, width = 0.15) {
  for (let s = 0; s < sessions; s++) {
    const user = (s * 37) % sim.users;
    for (let t = 0; t < requests; t++) {
      const seed = s * 100 + t;
      const rankRequest = sim.drawRequest(user, (9 + s) % 24, s % 2, s % 7, 30, seed);
      rankRequest.topK = 6;
      const { items, record } = ranker.rank(rankRequest, { explore: { width, seed } });
      const responses = sim.respond(user, rankRequest, record.shown, seed);
      yield { s, t, user, rankRequest, items, record, responses, last: t === requests - 1 };
    }
  }
}
