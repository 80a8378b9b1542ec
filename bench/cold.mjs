// Cold start of one runtime in a fresh Node process: import the JS, read
// and instantiate the wasm, load the model, rank once. Prints milliseconds.
//   node bench/cold.mjs mtfuse|onnxruntime-web|tfjs-wasm <blob.safetensors> [--phases]
// The ONNX and TF.js model files come from bench/compare.mjs (target/bench/).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const [name, blobPath] = process.argv.slice(2);
const t0 = performance.now();

if (name === "mtfuse") {
  // With --phases, prints where the time went as JSON instead.
  const phases = {};
  let last = t0;
  const mark = (phase) => {
    const now = performance.now();
    phases[phase] = now - last;
    last = now;
  };
  const { initMtfuse } = await import("../www/mtfuse.js");
  const glue = await import("../www/pkg/simd/mtfuse.js");
  mark("import JS");
  const bytes = readFileSync(`${ROOT}www/pkg/simd/mtfuse_bg.wasm`);
  mark("read .wasm");
  const module = await WebAssembly.compile(bytes);
  mark("compile");
  const m = initMtfuse(glue, module, "simd");
  mark("instantiate");
  const r = m.Ranker.fromBytes(new Uint8Array(readFileSync(blobPath)));
  mark("load blob");
  const s = r.schema();
  r.rankColumnar(new Float32Array(s.user.length), new Float32Array(s.context.length), new Float32Array(s.item.length), new Float32Array(s.objectives.length), 1);
  mark("first rank");
  if (process.argv.includes("--phases")) {
    // The same load again, now that its functions are compiled.
    m.Ranker.fromBytes(new Uint8Array(readFileSync(blobPath)));
    mark("load blob again (not part of cold start)");
    console.log(JSON.stringify(phases));
    process.exit(0);
  }
} else if (name === "onnxruntime-web") {
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = `${ROOT}node_modules/onnxruntime-web/dist/`;
  const session = await ort.InferenceSession.create(readFileSync(`${ROOT}target/bench/enhanced.onnx`), { executionProviders: ["wasm"] });
  const dims = (n) => session.inputMetadata?.[n]?.shape;
  const S = dims?.("shared")?.[1] ?? 9;
  const I = dims?.("items")?.[1] ?? 12;
  const K = dims?.("scores")?.[1] ?? 7;
  await session.run({
    shared: new ort.Tensor("float32", new Float32Array(S), [1, S]),
    items: new ort.Tensor("float32", new Float32Array(I), [1, I]),
    scores: new ort.Tensor("float32", new Float32Array(K), [1, K]),
    k: new ort.Tensor("int64", BigInt64Array.of(1n), [1]),
  });
} else if (name === "tfjs-wasm") {
  const tf = await import("@tensorflow/tfjs-core");
  const tfwasm = await import("@tensorflow/tfjs-backend-wasm");
  const { tfjsRanker } = await import("./actor.mjs");
  tfwasm.setThreadsCount(1);
  tfwasm.setWasmPaths(`${ROOT}node_modules/@tensorflow/tfjs-backend-wasm/dist/`);
  await tf.setBackend("wasm");
  await tf.ready();
  const spec = JSON.parse(readFileSync(`${ROOT}target/bench/enhanced.tfjs.json`, "utf8"));
  const bin = readFileSync(`${ROOT}target/bench/enhanced.tfjs.bin`);
  const data = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
  const rank = tfjsRanker(tf, { ...spec, data });
  const S = spec.layout.find((l) => l.name === "s_mean").shape[1];
  const I = spec.layout.find((l) => l.name === "i_mean").shape[1];
  const r = rank(new Float32Array(S), new Float32Array(I), new Float32Array(spec.k), 1, 1);
  r.values.dataSync();
} else {
  console.error("usage: node bench/cold.mjs mtfuse|onnxruntime-web|tfjs-wasm <blob>");
  process.exit(2);
}
console.log((performance.now() - t0).toFixed(2));
