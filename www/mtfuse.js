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
    schema() { return this.#call((r) => r.schema()); }
    rank(request, options) { return this.#call((r) => r.rank(request, options)); }
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
 * Loads mtfuse and returns its exports plus `flavour` ("simd" | "scalar").
 * Its `Ranker` recovers from a trap: the call throws a `TrapError`, the
 * next call works.
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
 * @param {"simd"|"scalar"} flavour which build it is
 */
export function initMtfuse(glue, module, flavour) {
  glue.initSync({ module });
  return { ...glue, Ranker: recoveringRanker(glue), TrapError, flavour };
}
