// The package's entry under Node: the same loader, reading the builds from
// the package's folder, since Node's fetch cannot read file: URLs.
import { readFile } from "node:fs/promises";
import { loadMtfuse as load, bestFlavour, flattenRequest, initMtfuse, relaxedSimdSupported, simdSupported, TrapError } from "./mtfuse.js";

export { bestFlavour, flattenRequest, initMtfuse, relaxedSimdSupported, simdSupported, TrapError };

export async function loadMtfuse(options = {}) {
  if (options.wasm) return load(options);
  const flavour = options.flavour ?? bestFlavour();
  const base = new URL(options.base ?? "./pkg/", import.meta.url);
  return load({ ...options, flavour, base, wasm: await readFile(new URL(`${flavour}/mtfuse_bg.wasm`, base)) });
}
