// Types of the loader (index.js); the API's own types come from the build.
import type * as Glue from "./pkg/simd/mtfuse.js";
export type { RankRequest, RankedItem, RankOptions, ExploredRanking, LogLine, Schema, ColumnarRanking } from "./pkg/simd/mtfuse.js";

/** Thrown by a call during which the module trapped (a bug, never bad input); the next call works. */
export declare class TrapError extends Error {
  readonly cause: WebAssembly.RuntimeError;
}

/** True when this engine accepts simd128 modules. */
export declare function simdSupported(): boolean;

export interface LoadOptions {
  /** Force a build instead of probing. */
  flavour?: "simd" | "scalar";
  /** Folder holding simd/ and scalar/ (default: the package's pkg/). */
  base?: URL | string;
  /** The .wasm bytes or compiled module, where fetch cannot reach them (workers). */
  wasm?: BufferSource | WebAssembly.Module;
}

export type Mtfuse = Omit<typeof Glue, "default" | "initSync"> & {
  flavour: "simd" | "scalar";
  TrapError: typeof TrapError;
};

/** Loads the simd128 build where the engine has it, else the scalar one. */
export declare function loadMtfuse(options?: LoadOptions): Promise<Mtfuse>;
