// Types of `mtfuse/worker` (mtfuse-worker.js): the simd128 build for Workers.
import type { Mtfuse } from "./index.js";
export { TrapError } from "./index.js";

/** What `loadMtfuse()` returns, synchronously, on the simd128 build; the same object every call. */
export declare function loadMtfuseSync(): Mtfuse & { flavour: "simd" };
