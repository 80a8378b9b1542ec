// mtfuse in Workers (Cloudflare, workerd): the simd128 build, whose `.wasm`
// the runtime imports as a compiled module, instantiated on first use
// (Workers can neither fetch their own files nor compile wasm from bytes).
// In the npm package this is `mtfuse/worker`.
import * as glue from "./pkg/simd/mtfuse.js";
import wasmModule from "./pkg/simd/mtfuse_bg.wasm";
import { initMtfuse, TrapError } from "./mtfuse.js";

export { TrapError };

let mtfuse = null;

/** What `loadMtfuse()` returns, synchronously; the same object every call. */
export function loadMtfuseSync() {
  mtfuse ??= initMtfuse(glue, wasmModule, "simd");
  return mtfuse;
}
