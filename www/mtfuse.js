// Loads the mtfuse wasm: the relaxed-SIMD build where the engine validates
// relaxed SIMD, else the simd128 build where it validates SIMD, else the
// scalar build. Plain ES module, no bundler.

// A minimal module whose only function returns an i32x4.splat: engines
// without simd128 reject it at validation.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, // magic, version
  1, 5, 1, 96, 0, 1, 123, // type: () -> v128
  3, 2, 1, 0, // one function of type 0
  10, 8, 1, 6, 0, 65, 0, 253, 17, 11, // body: i32.const 0; i32x4.splat; end
]);

// Three i32x4.splat of 0, then f32x4.relaxed_madd (0xfd 0x105): engines
// without relaxed SIMD (Safari; Node 20 without a flag) reject it.
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0,
  1, 5, 1, 96, 0, 1, 123,
  3, 2, 1, 0,
  10, 19, 1, 17, 0, 65, 0, 253, 17, 65, 0, 253, 17, 65, 0, 253, 17, 253, 133, 2, 11,
]);

/** True when this engine accepts simd128 modules. */
export function simdSupported() {
  return WebAssembly.validate(SIMD_PROBE);
}

/** True when this engine accepts relaxed-SIMD modules. */
export function relaxedSimdSupported() {
  return WebAssembly.validate(RELAXED_PROBE);
}

/** The best build this engine runs: "relaxed", "simd" or "scalar". */
export function bestFlavour() {
  return relaxedSimdSupported() ? "relaxed" : simdSupported() ? "simd" : "scalar";
}
const FLAVOURS = ["relaxed", "simd", "scalar"];

/**
 * Thrown by a call during which the wasm module trapped (a bug, never bad
 * input). The module has been re-instantiated and every ranker reloads its
 * blob on its next call, so only this call is lost. `cause` is the trap.
 */
export class TrapError extends Error {
  constructor(cause) {
    super(`mtfuse trapped (${cause.message}); the module was restarted and the blob reloaded, so the next call works`, { cause });
    this.name = "TrapError";
  }
}

/**
 * A request object as the typed columns `rankColumnar` takes, plus `topK`
 * and the item `ids`, or null where `rank` must go to the module's
 * validating path. (`rank` calls it; exported for tests and for callers
 * that rank the same request twice.)
 */
export function flattenRequest(schema, request) {
  return flatten(schema, request);
}

const TOP_KEYS = new Set(["user", "context", "items", "topK", "withActions"]);
const ITEM_KEYS = new Set(["id", "scores", "features"]);
const F32_MAX = 3.4028234663852886e38;

/** Reads exactly `names` from a plain object into `out` at `at`; false if not that simple. */
function readNumbers(obj, names, out, at) {
  if (names.length === 0) return obj === undefined || obj === null;
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return false;
  // Every name own, and no other enumerable key (own or inherited).
  let keys = 0;
  for (const _ in obj) keys++;
  if (keys !== names.length) return false;
  for (let j = 0; j < names.length; j++) {
    if (!Object.hasOwn(obj, names[j])) return false;
    const v = obj[names[j]];
    // Finite as f32 too: the module rejects what would overflow to infinity.
    if (typeof v !== "number" || !(Math.abs(v) <= F32_MAX)) return false;
    out[at + j] = v;
  }
  return true;
}

/**
 * A request as the columns `rankColumnar` takes, or null for anything not
 * plainly well formed: unknown or missing keys, a non-finite number, a
 * repeated or odd id, `withActions`, a bad `topK`. Null sends the request
 * to the validating path, so this never has to explain anything.
 */
function flatten(names, request) {
  // `names`: the schema, whose user, context, item and objectives list feature names in order.
  if (typeof request !== "object" || request === null) return null;
  for (const key in request) if (!TOP_KEYS.has(key) || !Object.hasOwn(request, key)) return null;
  if (request.withActions !== undefined && request.withActions !== false) return null;
  const items = request.items;
  // 100,000: the module's MAX_ITEMS, whose error the validating path gives.
  if (!Array.isArray(items) || items.length === 0 || items.length > 100_000) return null;
  const n = items.length;
  const I = names.item.length;
  const K = names.objectives.length;
  const user = new Float32Array(names.user.length);
  const context = new Float32Array(names.context.length);
  if (!readNumbers(request.user, names.user, user, 0) || !readNumbers(request.context, names.context, context, 0)) return null;
  const itemFeatures = new Float32Array(n * I);
  const scores = new Float32Array(n * K);
  const ids = new Array(n);
  const seen = new Set();
  for (let j = 0; j < n; j++) {
    const item = items[j];
    if (typeof item !== "object" || item === null) return null;
    for (const key in item) if (!ITEM_KEYS.has(key) || !Object.hasOwn(item, key)) return null;
    const id = item.id;
    // Strings, and numbers the module returns unchanged (it reads -0 as 0).
    if (typeof id === "number" ? !Number.isFinite(id) || Object.is(id, -0) : typeof id !== "string") return null;
    if (seen.has(id)) return null;
    seen.add(id);
    ids[j] = id;
    if (!readNumbers(item.scores, names.objectives, scores, j * K) || !readNumbers(item.features, names.item, itemFeatures, j * I)) return null;
  }
  let topK = n;
  if (request.topK !== undefined && request.topK !== null) {
    topK = request.topK;
    if (!Number.isInteger(topK) || topK < 1 || topK > n) return null;
  }
  return { user, context, itemFeatures, scores, topK, ids };
}

// A ranker that survives traps. After a trap the instance is dead: a
// release build aborts on panic, and a `&mut self` borrow left open makes
// every later call fail. So the module is re-instantiated (wasm-bindgen's
// `__wbg_reset_state`) and each ranker rebuilds itself from its blob when it
// sees a newer instance.
const recovering = new WeakMap();
function recoveringRanker(glue) {
  // One class per glue module: its rankers share the instance, and a trap.
  if (recovering.has(glue)) return recovering.get(glue);
  let generation = 0;
  const Ranker = class Ranker {
    #bytes;
    #inner;
    #generation;
    #precision = "f32";

    /** Loads a weight blob; throws on a truncated, corrupt or inconsistent blob. */
    static fromBytes(bytes) {
      const r = new Ranker();
      r.#bytes = Uint8Array.from(bytes);
      r.#call(() => {});
      return r;
    }

    #call(f) {
      try {
        if (this.#generation !== generation) {
          if (this.#bytes === undefined) throw new Error("ranker: used after free()");
          this.#inner = glue.Ranker.fromBytes(this.#bytes);
          if (this.#precision !== "f32") this.#inner.setPrecision(this.#precision);
          this.#generation = generation;
        }
        return f(this.#inner);
      } catch (e) {
        if (!(e instanceof WebAssembly.RuntimeError)) throw e;
        glue.__wbg_reset_state();
        generation += 1;
        throw new TrapError(e);
      }
    }

    get kind() { return this.#call((r) => r.kind); }
    get precision() { return this.#call((r) => r.precision); }
    /** `"f32"` (the default) or `"int16"`; kept across a trap's rebuild. */
    setPrecision(precision) {
      this.#call((r) => r.setPrecision(precision));
      this.#precision = precision;
    }
    schema() { return this.#call((r) => r.schema()); }
    #names;

    /**
     * Ranks a request object. A well-formed request without options is
     * flattened here, in JS, and ranked by `rankColumnar`: property reads
     * cost far less in JS than across the wasm boundary. Anything else
     * (exploration, `withActions`, or a request the flattening does not
     * accept) goes to the module's own `rank`, which validates every field
     * and names the bad one.
     */
    rank(request, options) {
      if (options === undefined) {
        this.#names ??= this.schema();
        const cols = flatten(this.#names, request);
        if (cols !== null) {
          let out;
          try {
            out = this.#call((r) => r.rankColumnar(cols.user, cols.context, cols.itemFeatures, cols.scores, cols.topK));
          } catch (e) {
            if (e instanceof TrapError) throw e;
            // Let the validating path name the field (e.g. a value that
            // overflows once normalised).
            return this.#call((r) => r.rank(request));
          }
          const { order, scores } = out;
          const ranked = new Array(order.length);
          for (let i = 0; i < order.length; i++) ranked[i] = { id: cols.ids[order[i]], score: scores[i] };
          return ranked;
        }
      }
      return this.#call((r) => r.rank(request, options));
    }
    rankColumnar(user, context, itemFeatures, scores, topK, options) { return this.#call((r) => r.rankColumnar(user, context, itemFeatures, scores, topK, options)); }
    checkLogLine(line) { return this.#call((r) => r.checkLogLine(line)); }
    __trapForTests() { return this.#call((r) => r.__trapForTests()); }
    free() {
      if (this.#generation === generation) this.#inner.free();
      this.#inner = this.#bytes = this.#generation = undefined;
    }
    [Symbol.dispose]() { this.free(); }
  };
  recovering.set(glue, Ranker);
  return Ranker;
}

/**
 * Loads mtfuse and returns its exports plus `flavour` ("relaxed" | "simd" | "scalar").
 * Its `Ranker` recovers from a trap: the call throws a `TrapError`, the
 * next call works.
 * @param {object} [opts]
 * @param {"relaxed"|"simd"|"scalar"} [opts.flavour] force a build instead of probing
 * @param {URL|string} [opts.base] folder holding relaxed/, simd/ and scalar/ (default ./pkg/)
 * @param {BufferSource|WebAssembly.Module} [opts.wasm] the .wasm bytes or compiled module, where fetch cannot reach them (Node, workers)
 */
export async function loadMtfuse({ flavour, base, wasm } = {}) {
  const pick = flavour ?? bestFlavour();
  if (!FLAVOURS.includes(pick)) throw new Error(`flavour: "${pick}" is not "relaxed", "simd" or "scalar"`);
  const root = new URL(base ?? "./pkg/", import.meta.url);
  const glue = await import(new URL(`${pick}/mtfuse.js`, root).href);
  if (wasm) {
    // Compile and instantiate directly: the glue's async path touches the
    // global Response, which costs Node ~100 ms to load the first time.
    return initMtfuse(glue, wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm), pick);
  }
  await glue.default();
  return { ...glue, Ranker: recoveringRanker(glue), TrapError, flavour: pick };
}

/**
 * Instantiates a build that is already imported, from its compiled module,
 * synchronously: Workers import the `.wasm` as a module and cannot fetch
 * it. Returns what `loadMtfuse` returns. (`mtfuse/worker` calls it.)
 * @param {object} glue the build's `pkg/<flavour>/mtfuse.js` namespace
 * @param {WebAssembly.Module} module its compiled `.wasm`
 * @param {"relaxed"|"simd"|"scalar"} flavour which build it is
 */
export function initMtfuse(glue, module, flavour) {
  glue.initSync({ module });
  return { ...glue, Ranker: recoveringRanker(glue), TrapError, flavour };
}
