// The enhanced actor of an mtfuse blob, rebuilt for other runtimes from the
// same weights: an ONNX graph (for onnxruntime-web) and a TF.js function (for
// tfjs-backend-wasm). Both compute what mtfuse's rank does: normalise the
// inputs, run the MLP with the split first layer, map tanh outputs onto the
// action ranges, fuse Σ p·ln(max(s, 0) + max(b, 1e-3)) and take the top k.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const MIN_BIAS = 1e-3;

/** Reads a safetensors blob: tensors as Float32Arrays with shapes, plus mtfuse's metadata. */
export function readBlob(path) {
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
  const base = 8 + n;
  const tensors = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (t.dtype !== "F32") throw new Error(`${path}: tensor ${name} is ${t.dtype}, expected F32`);
    const [a, b] = t.data_offsets;
    const copy = new Uint8Array(bytes.subarray(base + a, base + b));
    tensors[name] = { shape: t.shape, data: new Float32Array(copy.buffer) };
  }
  const meta = JSON.parse(header.__metadata__.mtfuse);
  if (meta.kind !== "enhanced") throw new Error(`${path}: a ${meta.kind} blob; the comparison needs an enhanced one`);
  const shared = meta.features.filter((f) => f.group === "user" || f.group === "context");
  const perItem = [...meta.features.filter((f) => f.group === "item"), ...meta.features.filter((f) => f.group === "score")];
  const layers = [];
  for (let i = 0; tensors[`actor.${i}.weight`]; i++) layers.push({ w: tensors[`actor.${i}.weight`], b: tensors[`actor.${i}.bias`] });
  return { bytes: bytes.length, meta, shared, perItem, layers, k: meta.objectives.length };
}

const f32 = (xs) => Float32Array.from(xs);

/** The constant vectors every runtime uses: normalisation and the action map. */
export function constants(actor) {
  const norm = (fs) => ({ mean: f32(fs.map((f) => f.mean)), inv: f32(fs.map((f) => 1 / f.std)) });
  const lo = f32(actor.meta.action_low);
  const hi = f32(actor.meta.action_high);
  // real = lo + (a + 1)/2 · (hi − lo) = a · half + mid
  const half = lo.map((l, i) => 0.5 * (hi[i] - l));
  const mid = lo.map((l, i) => l + 0.5 * (hi[i] - l));
  return { s: norm(actor.shared), i: norm(actor.perItem), half, mid };
}

/**
 * The actor's MLP as ONNX nodes, from normalised inputs `xs` [1, S] and
 * `xi` [N, I]: the split first layer (the shared rows once, the item rows
 * per candidate), ReLU hidden layers, tanh out into `out`.
 */
function mlpNodes(actor, tensor, node, xs, xi, out = "a") {
  const S = actor.shared.length;
  const [l0, ...rest] = actor.layers;
  const H0 = l0.w.shape[1];
  tensor("w0s", [S, H0], l0.w.data.subarray(0, S * H0));
  tensor("w0i", [l0.w.shape[0] - S, H0], l0.w.data.subarray(S * H0));
  tensor("b0", [1, H0], l0.b.data);
  node("Gemm", [xs, "w0s", "b0"], ["shared_h"]);
  node("MatMul", [xi, "w0i"], ["item_h"]);
  node("Add", ["item_h", "shared_h"], ["h0_pre"]);
  node("Relu", ["h0_pre"], ["h0"]);
  let x = "h0";
  rest.forEach((l, j) => {
    const i = j + 1;
    tensor(`w${i}`, l.w.shape, l.w.data);
    tensor(`b${i}`, [l.b.shape[0]], l.b.data);
    node("Gemm", [x, `w${i}`, `b${i}`], [`z${i}`]);
    const last = i === actor.layers.length - 1;
    node(last ? "Tanh" : "Relu", [`z${i}`], [last ? out : `h${i}`]);
    x = `h${i}`;
  });
}

/**
 * ONNX model (opset 17). Inputs: `shared` [1, S] raw user and context
 * features, `items` [N, I] raw item features then MTL scores, `scores`
 * [N, K] raw MTL scores, `k` [1] int64. Outputs: `top_scores` [k], `top_index` [k].
 */
export function onnxModel(actor) {
  const { onnx } = require("onnx-proto");
  const c = constants(actor);
  const S = actor.shared.length;
  const K = actor.k;
  const inits = [];
  const nodes = [];
  const tensor = (name, dims, data) => inits.push(onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(f32(data).buffer) }));
  const i64 = (name, data) => inits.push(onnx.TensorProto.create({ name, dims: [data.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(BigInt64Array.from(data.map(BigInt)).buffer) }));
  const node = (op, inputs, outputs, attrs = []) => nodes.push(onnx.NodeProto.create({ opType: op, input: inputs, output: outputs, attribute: attrs }));
  const intAttr = (name, i) => onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });

  tensor("s_mean", [1, S], c.s.mean);
  tensor("s_inv", [1, S], c.s.inv);
  tensor("i_mean", [1, c.i.mean.length], c.i.mean);
  tensor("i_inv", [1, c.i.inv.length], c.i.inv);
  node("Sub", ["shared", "s_mean"], ["s0"]);
  node("Mul", ["s0", "s_inv"], ["xs"]);
  node("Sub", ["items", "i_mean"], ["i0"]);
  node("Mul", ["i0", "i_inv"], ["xi"]);
  mlpNodes(actor, tensor, node, "xs", "xi", "a");
  const x = "a";
  tensor("half", [1, 2 * K], c.half);
  tensor("mid", [1, 2 * K], c.mid);
  node("Mul", [x, "half"], ["a0"]);
  node("Add", ["a0", "mid"], ["real"]);
  i64("k0", [0]);
  i64("kK", [K]);
  i64("k2K", [2 * K]);
  i64("ax1", [1]);
  node("Slice", ["real", "k0", "kK", "ax1"], ["powers"]);
  node("Slice", ["real", "kK", "k2K", "ax1"], ["biases_raw"]);
  tensor("min_bias", [], [MIN_BIAS]);
  tensor("zero", [], [0]);
  node("Max", ["biases_raw", "min_bias"], ["biases"]);
  node("Max", ["scores", "zero"], ["s_pos"]);
  node("Add", ["s_pos", "biases"], ["sb"]);
  node("Log", ["sb"], ["lsb"]);
  node("Mul", ["powers", "lsb"], ["terms"]);
  node("ReduceSum", ["terms", "ax1"], ["fused"], [intAttr("keepdims", 0)]);
  node("TopK", ["fused", "k"], ["top_scores", "top_index"], [intAttr("axis", 0), intAttr("largest", 1), intAttr("sorted", 1)]);

  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const io = (name, elem, dims) =>
    onnx.ValueInfoProto.create({ name, type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: elem, shape: onnx.TensorShapeProto.create({ dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) }) }) }) });
  const graph = onnx.GraphProto.create({
    name: "mtfuse_enhanced",
    node: nodes,
    initializer: inits,
    input: [io("shared", FLOAT, [1, S]), io("items", FLOAT, ["N", c.i.mean.length]), io("scores", FLOAT, ["N", K]), io("k", onnx.TensorProto.DataType.INT64, [1])],
    output: [io("top_scores", FLOAT, ["k"]), io("top_index", onnx.TensorProto.DataType.INT64, ["k"])],
  });
  const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 17 }], producerName: "mtfuse bench/actor.mjs", graph });
  return onnx.ModelProto.encode(model).finish();
}

/** The TF.js weights as one Float32Array and the layout to slice it, as a model file would ship them. */
export function tfjsWeights(actor) {
  const parts = [];
  const layout = [];
  let at = 0;
  const push = (name, shape, data) => {
    layout.push({ name, shape, offset: at, length: data.length });
    parts.push(data);
    at += data.length;
  };
  const c = constants(actor);
  const S = actor.shared.length;
  const [l0, ...rest] = actor.layers;
  const H0 = l0.w.shape[1];
  push("s_mean", [1, S], c.s.mean);
  push("s_inv", [1, S], c.s.inv);
  push("i_mean", [1, c.i.mean.length], c.i.mean);
  push("i_inv", [1, c.i.inv.length], c.i.inv);
  push("w0s", [S, H0], l0.w.data.subarray(0, S * H0));
  push("w0i", [l0.w.shape[0] - S, H0], l0.w.data.subarray(S * H0));
  push("b0", [1, H0], l0.b.data);
  rest.forEach((l, j) => {
    push(`w${j + 1}`, l.w.shape, l.w.data);
    push(`b${j + 1}`, [1, l.b.shape[0]], l.b.data);
  });
  push("half", [1, 2 * actor.k], c.half);
  push("mid", [1, 2 * actor.k], c.mid);
  const all = new Float32Array(at);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return { data: all, layout, layers: actor.layers.length, k: actor.k };
}

/** Builds the TF.js ranker: `rank(shared, items, scores, n, k)` → {values, indices}. */
export function tfjsRanker(tf, weights) {
  const t = {};
  for (const l of weights.layout) t[l.name] = tf.tensor(weights.data.subarray(l.offset, l.offset + l.length), l.shape);
  const K = weights.k;
  return (shared, items, scores, n, k) =>
    tf.tidy(() => {
      const xs = tf.mul(tf.sub(tf.tensor2d(shared, [1, shared.length]), t.s_mean), t.s_inv);
      const xi = tf.mul(tf.sub(tf.tensor2d(items, [n, items.length / n]), t.i_mean), t.i_inv);
      const sharedH = tf.add(tf.matMul(xs, t.w0s), t.b0);
      let h = tf.relu(tf.add(tf.matMul(xi, t.w0i), sharedH));
      for (let i = 1; i < weights.layers; i++) {
        const z = tf.add(tf.matMul(h, t[`w${i}`]), t[`b${i}`]);
        h = i === weights.layers - 1 ? tf.tanh(z) : tf.relu(z);
      }
      const real = tf.add(tf.mul(h, t.half), t.mid);
      const powers = tf.slice(real, [0, 0], [n, K]);
      const biases = tf.maximum(tf.slice(real, [0, K], [n, K]), MIN_BIAS);
      const s = tf.maximum(tf.tensor2d(scores, [n, K]), 0);
      const fused = tf.sum(tf.mul(powers, tf.log(tf.add(s, biases))), 1);
      return tf.topk(fused, k, true);
    });
}

// ---- "MLP only": the runtime runs the actor, plain JS does the rest ------------
// How an engineer who knows these runtimes would use them: one graph call for
// the MLP (each extra op costs them a fixed overhead), and normalisation,
// action map, fusion and top-k on typed arrays in JS.

/** ONNX model of the MLP alone. Inputs `xs` [1, S] and `xi` [N, I], normalised; output `a` [N, 2K] in [-1, 1]. */
export function onnxMlpModel(actor) {
  const { onnx } = require("onnx-proto");
  const S = actor.shared.length;
  const I = actor.perItem.length;
  const inits = [];
  const nodes = [];
  const tensor = (name, dims, data) => inits.push(onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(f32(data).buffer) }));
  const node = (op, inputs, outputs) => nodes.push(onnx.NodeProto.create({ opType: op, input: inputs, output: outputs }));
  mlpNodes(actor, tensor, node, "xs", "xi", "a");
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const io = (name, dims) =>
    onnx.ValueInfoProto.create({ name, type: onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: FLOAT, shape: onnx.TensorShapeProto.create({ dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) }) }) }) });
  const graph = onnx.GraphProto.create({ name: "mtfuse_mlp", node: nodes, initializer: inits, input: [io("xs", [1, S]), io("xi", ["N", I])], output: [io("a", ["N", 2 * actor.k])] });
  const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 17 }], producerName: "mtfuse bench/actor.mjs", graph });
  return onnx.ModelProto.encode(model).finish();
}

/** TF.js MLP alone: `mlp(xs, xi, n)` → Float32Array [n, 2K] of tanh outputs. */
export function tfjsMlp(tf, weights) {
  const t = {};
  for (const l of weights.layout) t[l.name] = tf.tensor(weights.data.subarray(l.offset, l.offset + l.length), l.shape);
  return (xs, xi, n) => {
    const out = tf.tidy(() => {
      const sharedH = tf.add(tf.matMul(tf.tensor2d(xs, [1, xs.length]), t.w0s), t.b0);
      let h = tf.relu(tf.add(tf.matMul(tf.tensor2d(xi, [n, xi.length / n]), t.w0i), sharedH));
      for (let i = 1; i < weights.layers; i++) {
        const z = tf.add(tf.matMul(h, t[`w${i}`]), t[`b${i}`]);
        h = i === weights.layers - 1 ? tf.tanh(z) : tf.relu(z);
      }
      return h;
    });
    const a = out.dataSync();
    out.dispose();
    return a;
  };
}

/**
 * The JS half of "MLP only": `normalise(shared, items, n)` → {xs, xi} in
 * buffers reused across calls, and `fuseTopK(a, scores, n, k)` →
 * {values, indices}, best first, by insertion into a k-long sorted list
 * (k ≤ 10 here, so that beats sorting n).
 */
export function jsPrePost(actor) {
  const c = constants(actor);
  const K = actor.k;
  const S = c.s.mean.length;
  const I = c.i.mean.length;
  const xs = new Float32Array(S);
  let xi = new Float32Array(0);
  const normalise = (shared, items, n) => {
    for (let j = 0; j < S; j++) xs[j] = (shared[j] - c.s.mean[j]) * c.s.inv[j];
    if (xi.length !== n * I) xi = new Float32Array(n * I);
    for (let r = 0, o = 0; r < n; r++) for (let j = 0; j < I; j++, o++) xi[o] = (items[o] - c.i.mean[j]) * c.i.inv[j];
    return { xs, xi };
  };
  const fuseTopK = (a, scores, n, k) => {
    const values = new Float32Array(k).fill(-Infinity);
    const indices = new Int32Array(k).fill(-1);
    for (let r = 0; r < n; r++) {
      let fused = 0;
      const ar = r * 2 * K;
      for (let j = 0; j < K; j++) {
        const p = a[ar + j] * c.half[j] + c.mid[j];
        const b = Math.max(a[ar + K + j] * c.half[K + j] + c.mid[K + j], MIN_BIAS);
        fused += p * Math.log(Math.max(scores[r * K + j], 0) + b);
      }
      if (fused <= values[k - 1]) continue;
      let p = k - 1;
      while (p > 0 && values[p - 1] < fused) {
        values[p] = values[p - 1];
        indices[p] = indices[p - 1];
        p--;
      }
      values[p] = fused;
      indices[p] = r;
    }
    return { values, indices };
  };
  return { normalise, fuseTopK };
}
