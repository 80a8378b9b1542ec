// Types of the loader (mtfuse.js); the API's own types come from the build.
import type * as Glue from "./pkg/simd/mtfuse.js";
import type { ItemId, RankRequest, RankedItem, RankOptions, ExploreOptions, ExploredRanking, LogLine, Schema, ColumnarRanking } from "./pkg/simd/mtfuse.js";
export type { ItemId, RankItem, RankRequest, RankedItem, RankOptions, ExploreOptions, ExploreRecord, ExploredRanking, LogLine, Schema, SchemaFeature, ColumnarRanking } from "./pkg/simd/mtfuse.js";

/**
 * A loaded weight blob. The loader's ranker wraps the build's: it recovers
 * from a trap (the call throws a `TrapError`, the next call works).
 */
export interface Ranker {
  /** `"static"`, `"user-level"` or `"enhanced"`. */
  readonly kind: string;
  /** The actor's arithmetic: `"f32"` unless `setPrecision` chose `"int16"`. */
  readonly precision: "f32" | "int16";
  /**
   * `"int16"` quantises the actor's wide layers (16-bit weights and inputs,
   * i32 sums): faster with simd128; a fused score moves by under 0.2% of the
   * request's score range, which reorders near-ties (README, Performance).
   */
  setPrecision(precision: "f32" | "int16"): void;
  /** Feature names by group, objectives, normalisation and action ranges. */
  schema(): Schema;
  /** Ranks `{user, context, items, topK?, withActions?}`, best first. */
  rank(request: RankRequest, options?: { explore?: undefined }): RankedItem[];
  /** Explores around the policy's action as it ranks: `{items, record}` for the serving log. */
  rank(request: RankRequest, options: { explore: ExploreOptions }): ExploredRanking;
  rank(request: RankRequest, options?: RankOptions): RankedItem[] | ExploredRanking;
  /** The fast path: `Float32Array`s in schema order, row-major; `topK` 0 for all. */
  rankColumnar(user: Float32Array | number[], context: Float32Array | number[], itemFeatures: Float32Array | number[], scores: Float32Array | number[], topK: number, options?: RankOptions): ColumnarRanking;
  /** Checks one log line against the schema; throws naming the bad field. */
  checkLogLine(line: LogLine): void;
  free(): void;
  [Symbol.dispose](): void;
}

export interface RankerConstructor {
  /** Loads a weight blob; throws on a truncated, corrupt or inconsistent blob. */
  fromBytes(bytes: Uint8Array | number[]): Ranker;
}

/** Thrown by a call during which the module trapped (a bug, never bad input); the next call works. */
export declare class TrapError extends Error {
  readonly cause: WebAssembly.RuntimeError;
}

/** True when this engine accepts simd128 modules. */
export declare function simdSupported(): boolean;

/** True when this engine accepts relaxed-SIMD modules (Chromium; Node 20 behind --experimental-wasm-relaxed-simd). */
export declare function relaxedSimdSupported(): boolean;

/** The build `loadMtfuse` picks here. */
export declare function bestFlavour(): Flavour;

/** The columns `rankColumnar` takes for a request, or null where `rank` validates it in the module instead. */
export declare function flattenRequest(schema: Schema, request: RankRequest): { user: Float32Array; context: Float32Array; itemFeatures: Float32Array; scores: Float32Array; topK: number; ids: ItemId[] } | null;

/** The wasm builds: relaxed SIMD (fused multiply-add), simd128, scalar. */
export type Flavour = "relaxed" | "simd" | "scalar";

export interface LoadOptions {
  /** Force a build instead of probing. */
  flavour?: Flavour;
  /** Folder holding relaxed/, simd/ and scalar/ (default: the package's pkg/). */
  base?: URL | string;
  /** The .wasm bytes or compiled module, where fetch cannot reach them (workers). */
  wasm?: BufferSource | WebAssembly.Module;
}

export type Mtfuse = Omit<typeof Glue, "default" | "initSync" | "Ranker" | "__wbg_reset_state"> & {
  Ranker: RankerConstructor;
  flavour: Flavour;
  TrapError: typeof TrapError;
};

/** Loads the relaxed-SIMD build where the engine validates it, else simd128, else scalar. */
export declare function loadMtfuse(options?: LoadOptions): Promise<Mtfuse>;

/** Instantiates an imported build from its compiled module, synchronously (Workers). */
export declare function initMtfuse(glue: typeof Glue, module: WebAssembly.Module, flavour: Flavour): Mtfuse;
