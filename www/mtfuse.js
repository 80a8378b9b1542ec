// Loads the mtfuse wasm: the simd128 build where the engine validates SIMD,
// the scalar build elsewhere. Plain ES module, no bundler.

// A minimal module whose only function returns an i32x4.splat: engines
// without simd128 reject it at validation.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, // magic, version
  1, 5, 1, 96, 0, 1, 123, // type: () -> v128
  3, 2, 1, 0, // one function of type 0
  10, 8, 1, 6, 0, 65, 0, 253, 17, 11, // body: i32.const 0; i32x4.splat; end
]);

/** True when this engine accepts simd128 modules. */
export function simdSupported() {
  return WebAssembly.validate(SIMD_PROBE);
}

/**
 * Loads mtfuse and returns its exports plus `flavour` ("simd" | "scalar").
 * @param {object} [opts]
 * @param {"simd"|"scalar"} [opts.flavour] force a build instead of probing
 * @param {URL|string} [opts.base] folder holding simd/ and scalar/ (default ./pkg/)
 * @param {BufferSource|WebAssembly.Module} [opts.wasm] the .wasm bytes or compiled module, where fetch cannot reach them (Node, workers)
 */
export async function loadMtfuse({ flavour, base, wasm } = {}) {
  const pick = flavour ?? (simdSupported() ? "simd" : "scalar");
  if (pick !== "simd" && pick !== "scalar") throw new Error(`flavour: "${pick}" is not "simd" or "scalar"`);
  const root = new URL(base ?? "./pkg/", import.meta.url);
  const glue = await import(new URL(`${pick}/mtfuse.js`, root).href);
  if (wasm) {
    // Compile and instantiate directly: the glue's async path touches the
    // global Response, which costs Node ~100 ms to load the first time.
    glue.initSync({ module: wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm) });
  } else {
    await glue.default();
  }
  return { ...glue, flavour: pick };
}
