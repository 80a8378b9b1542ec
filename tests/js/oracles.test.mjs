// onnxruntime-web and TF.js as correctness oracles: the actor rebuilt from the
// shipped enhanced blob (bench/actor.mjs) must rank a realistic request as
// mtfuse does, fused scores within 1e-4.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ROOT, fixture, load } from "./helpers.mjs";
import { readBlob, onnxModel, tfjsWeights, tfjsRanker } from "../../bench/actor.mjs";

const BLOB = `${ROOT}models/enhanced.safetensors`;
const request = JSON.parse(fixture("shipped-request.json"));

async function mtfuseRanking() {
  const m = await load("simd");
  const r = m.Ranker.fromBytes(new Uint8Array(readFileSync(BLOB)));
  const s = r.schema();
  const cols = {
    user: Float32Array.from(s.user.map((f) => request.user[f])),
    context: Float32Array.from(s.context.map((f) => request.context[f])),
    itemFeatures: Float32Array.from(request.items.flatMap((it) => s.item.map((f) => it.features[f]))),
    scores: Float32Array.from(request.items.flatMap((it) => s.objectives.map((o) => it.scores[o]))),
  };
  cols.shared = Float32Array.from([...cols.user, ...cols.context]);
  cols.items = Float32Array.from(request.items.flatMap((it) => [...s.item.map((f) => it.features[f]), ...s.objectives.map((o) => it.scores[o])]));
  const out = r.rankColumnar(cols.user, cols.context, cols.itemFeatures, cols.scores, 0);
  return { cols, order: [...out.order], scores: [...out.scores], k: s.objectives.length };
}

function agree(name, got, want) {
  const close = (a, b) => Math.abs(a - b) <= 1e-4 * (1 + Math.max(Math.abs(a), Math.abs(b)));
  assert.equal(got.scores.length, want.scores.length);
  got.scores.forEach((v, i) => {
    assert.ok(close(v, want.scores[i]), `${name} rank ${i}: ${v} vs mtfuse ${want.scores[i]}`);
    if (got.order[i] !== want.order[i]) {
      const j = want.order.indexOf(got.order[i]);
      assert.ok(j >= 0 && close(want.scores[j], want.scores[i]), `${name} rank ${i}: item ${got.order[i]} vs mtfuse ${want.order[i]}`);
    }
  });
}

test("the ONNX model built from the blob ranks like mtfuse under onnxruntime-web", async () => {
  const want = await mtfuseRanking();
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = `${ROOT}node_modules/onnxruntime-web/dist/`;
  const session = await ort.InferenceSession.create(onnxModel(readBlob(BLOB)), { executionProviders: ["wasm"] });
  const { cols, k } = want;
  const n = request.items.length;
  const out = await session.run({
    shared: new ort.Tensor("float32", cols.shared, [1, cols.shared.length]),
    items: new ort.Tensor("float32", cols.items, [n, cols.items.length / n]),
    scores: new ort.Tensor("float32", cols.scores, [n, k]),
    k: new ort.Tensor("int64", BigInt64Array.of(BigInt(n)), [1]),
  });
  agree("onnxruntime-web", { scores: [...out.top_scores.data], order: Array.from(out.top_index.data, Number) }, want);
});

test("the TF.js graph built from the blob ranks like mtfuse on the wasm backend", async () => {
  const want = await mtfuseRanking();
  const tf = await import("@tensorflow/tfjs-core");
  const tfwasm = await import("@tensorflow/tfjs-backend-wasm");
  tfwasm.setThreadsCount(1);
  tfwasm.setWasmPaths(`${ROOT}node_modules/@tensorflow/tfjs-backend-wasm/dist/`);
  await tf.setBackend("wasm");
  const rank = tfjsRanker(tf, tfjsWeights(readBlob(BLOB)));
  const n = request.items.length;
  const r = rank(want.cols.shared, want.cols.items, want.cols.scores, n, n);
  agree("tfjs-wasm", { scores: [...r.values.dataSync()], order: [...r.indices.dataSync()] }, want);
});
