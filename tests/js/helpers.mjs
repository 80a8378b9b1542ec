// Shared helpers for the JS tests: the built wasm, the fixtures, a browser.
import { readFileSync } from "node:fs";
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
