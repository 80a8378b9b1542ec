// The JS loader and the three wasm builds, under Node's test runner.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import v8 from "node:v8";
import { ROOT, fixture, load, close } from "./helpers.mjs";
import { simdSupported, flattenRequest } from "../../www/mtfuse.js";

// Node 20 validates relaxed SIMD only behind this flag (Chromium ships it).
// Before any module compiles, so that this file can run the relaxed build.
v8.setFlagsFromString("--experimental-wasm-relaxed-simd");

const request = JSON.parse(fixture("tiny-request.json"));
const expected = JSON.parse(fixture("tiny-expected.json"));
const blob = new Uint8Array(fixture("tiny-enhanced.safetensors"));

test("the SIMD probe validates on Node 20, which has simd128", () => {
  assert.equal(simdSupported(), true);
});

test("the loader picks relaxed SIMD only where the engine validates it, simd128 otherwise", () => {
  const pick = (...flags) => execFileSync(process.execPath, [...flags, "--input-type=module", "-e", `import { bestFlavour } from "${ROOT}www/mtfuse.js"; console.log(bestFlavour())`], { encoding: "utf8" }).trim();
  assert.equal(pick(), "simd");
  assert.equal(pick("--experimental-wasm-relaxed-simd"), "relaxed");
});

const KERNELS = { relaxed: "relaxed-simd", simd: "simd128", scalar: "scalar" };
for (const flavour of ["relaxed", "simd", "scalar"]) {
  test(`${flavour} build ranks the native fixture identically`, async () => {
    const m = await load(flavour);
    assert.equal(m.flavour, flavour);
    assert.equal(m.kernel(), KERNELS[flavour]);
    const r = m.Ranker.fromBytes(blob);
    assert.equal(r.kind, "enhanced");
    const out = r.rank(request);
    assert.deepEqual(out.map((i) => i.id), expected.map((i) => i.id));
    out.forEach((item, i) => {
      assert.ok(close(item.score, expected[i].score), `${item.score} vs ${expected[i].score}`);
      assert.equal(item.action.powers.length, 3);
    });
  });

  test(`${flavour} build: bad input throws an Error naming the field, and the ranker keeps working`, async () => {
    const m = await load(flavour);
    const r = m.Ranker.fromBytes(blob);
    const bad = structuredClone(request);
    bad.items[2].scores.like = 0.3;
    assert.throws(() => r.rank(bad), { name: "Error", message: /^items\[2\]\.scores\.like: unknown objective/ });
    bad.items[2].scores = { click: NaN, long_view: 0.1, hate: 0 };
    assert.throws(() => r.rank(bad), { message: "items[2].scores.click: is NaN, expected a finite number" });
    assert.throws(() => r.rank({ ...request, topK: 0 }), { message: "topK: 0 is out of range 1..=5" });
    assert.throws(() => r.rank({ ...request, items: [] }), { message: "items: no candidates: the list is empty" });
    assert.throws(() => r.rank({ ...request, items: "x" }), { message: /^items: / });
    // Values JSON cannot hold are named, and a cycle ends at the depth limit, not in a stack overflow.
    assert.throws(() => r.rank({ ...request, topK: 3n }), { message: "topK: is a function, symbol or BigInt, which JSON cannot hold" });
    const cyclic = structuredClone(request);
    cyclic.items[0].features.self = cyclic.items[0].features;
    assert.throws(() => r.rank(cyclic), { message: /^items\[0\]\.features(\.self)+(\.\w+)?: is nested more than 64 levels deep \(a cycle\?\)$/ });
    assert.throws(() => r.rank(request, { explore: { width: 0.1, perItem: "yes" } }), { message: 'options.explore.perItem: is a string ("yes"), expected true or false' });
    assert.throws(() => r.rankColumnar(new Float32Array(2), new Float32Array(1), new Float32Array(3), new Float32Array(7), 0), {
      message: "scores: length 7 is not a multiple of 3 objectives",
    });
    assert.throws(() => m.Ranker.fromBytes(blob.subarray(0, 200)), { message: /^weight blob is truncated: 200 bytes/ });
    assert.equal(r.rank(request).length, 5);
  });

  test(`${flavour} build: a trap fails only its own call; that ranker and the others work after it`, async () => {
    const m = await load(flavour);
    const r = m.Ranker.fromBytes(blob);
    const other = m.Ranker.fromBytes(blob);
    const want = r.rank(request);
    for (let i = 0; i < 3; i++) {
      assert.throws(() => r.__trapForTests(), (e) => e instanceof m.TrapError && e.cause instanceof WebAssembly.RuntimeError && /the next call works/.test(e.message));
      assert.deepEqual(r.rank(request), want);
      assert.deepEqual(other.rank(request), want);
      assert.equal(other.rankColumnar(Float32Array.of(55, 0.22), Float32Array.of(21), Float32Array.of(10, 20), Float32Array.of(0.1, 0.2, 0, 0.3, 0.1, 0), 0).order.length, 2);
    }
    // Bad input is not a trap: the module is not restarted for it.
    assert.throws(() => r.rank({ ...request, topK: 0 }), (e) => !(e instanceof m.TrapError));
    assert.throws(() => m.Ranker.fromBytes(blob.subarray(0, 200)), { message: /^weight blob is truncated/ });
    r.free();
    assert.throws(() => r.rank(request), { message: "ranker: used after free()" });
  });

  test(`${flavour} build: columnar path returns the same order and scores`, async () => {
    const m = await load(flavour);
    const r = m.Ranker.fromBytes(blob);
    const objectives = r.schema().objectives;
    const scores = Float32Array.from(request.items.flatMap((it) => objectives.map((o) => it.scores[o])));
    const feats = Float32Array.from(request.items.map((it) => it.features.duration_s));
    const res = r.rankColumnar(Float32Array.of(55, 0.22), Float32Array.of(21), feats, scores, 3);
    assert.equal(res.order.length, 3);
    assert.deepEqual([...res.order].map((j) => request.items[j].id), expected.slice(0, 3).map((i) => i.id));
    [...res.scores].forEach((s, i) => assert.ok(close(s, expected[i].score)));
  });
}

test("object path keeps numeric ids, honours topK and withActions, and ignores nothing", async () => {
  const m = await load("simd");
  const r = m.Ranker.fromBytes(blob);
  const numeric = { ...request, items: request.items.map((it, j) => ({ ...it, id: 100 + j })), topK: 2, withActions: false };
  const out = r.rank(numeric);
  assert.deepEqual(out.map((i) => i.id), expected.slice(0, 2).map((i) => 100 + Number(i.id.slice(1))));
  assert.equal(out[0].action, undefined);
  out.forEach((x, i) => assert.ok(close(x.score, expected[i].score)));
  // An extra property anywhere is an error, not silently dropped.
  const extra = structuredClone(request);
  extra.items[0].colour = "red";
  assert.throws(() => r.rank(extra), { message: "items[0].colour: unknown field, expected one of id, scores, features" });
  assert.throws(() => r.rank({ ...request, topk: 3 }), { message: "topk: unknown field, expected one of user, context, items, topK, withActions" });
  assert.throws(() => r.rank({ ...request, user: { ...request.user, activity: "55" } }), { message: 'user.activity: is a string ("55"), expected a number' });
});

test("relaxed, simd and scalar builds agree within 1e-5 relative on 300 simulated requests, and on the top 6 in at least 99% of them", async () => {
  const builds = await Promise.all(["relaxed", "simd", "scalar"].map(load));
  const shipped = readFileSync(`${ROOT}models/enhanced.safetensors`);
  const [relaxed, simd, scalar] = builds.map((m) => m.Ranker.fromBytes(shipped));
  const demo = await import(`${ROOT}www/pkg/demo/mtfuse.js`);
  demo.initSync({ module: readFileSync(`${ROOT}www/pkg/demo/mtfuse_bg.wasm`) });
  const sim = demo.Simulator.fromBytes(readFileSync(`${ROOT}models/simulator.safetensors`));
  let sameTop = { relaxed: 0, scalar: 0 };
  let worst = 0;
  const N = 300;
  for (let i = 0; i < N; i++) {
    const req = sim.drawRequest(i % sim.users, i % 24, i % 2, i % 7, 50, 7_000 + i);
    const want = simd.rank(req);
    const byId = new Map(want.map((x) => [x.id, x.score]));
    for (const [name, r] of [["relaxed", relaxed], ["scalar", scalar]]) {
      const got = r.rank(req);
      // Scores per item: FMA rounds once where mul then add rounds twice.
      for (const x of got) {
        worst = Math.max(worst, Math.abs(x.score - byId.get(x.id)) / (1 + Math.abs(x.score)));
        assert.ok(close(x.score, byId.get(x.id)), `${name} request ${i}: item ${x.id} ${x.score} vs ${byId.get(x.id)}`);
      }
      if (got.slice(0, 6).every((x, j) => x.id === want[j].id)) sameTop[name]++;
    }
  }
  console.log(`largest relative score difference from simd128: ${worst.toExponential(2)}; same top 6: relaxed ${sameTop.relaxed}/${N}, scalar ${sameTop.scalar}/${N}`);
  assert.ok(sameTop.relaxed >= 0.99 * N && sameTop.scalar >= 0.99 * N);
});

test("int16 precision: opt-in, every build within 0.5% of the request's f32 score range, and a bad name is refused", async () => {
  const builds = await Promise.all(["relaxed", "simd", "scalar"].map(load));
  const shipped = readFileSync(`${ROOT}models/enhanced.safetensors`);
  const f32 = builds[1].Ranker.fromBytes(shipped);
  const [relaxed, simd, scalar] = builds.map((m) => m.Ranker.fromBytes(shipped));
  assert.equal(simd.precision, "f32");
  for (const r of [relaxed, simd, scalar]) r.setPrecision("int16");
  assert.equal(simd.precision, "int16");
  assert.throws(() => simd.setPrecision("int8"), { message: 'precision: "int8" is not one of f32, int16' });
  assert.equal(simd.precision, "int16");
  const demo = await import(`${ROOT}www/pkg/demo/mtfuse.js`);
  demo.initSync({ module: readFileSync(`${ROOT}www/pkg/demo/mtfuse_bg.wasm`) });
  const sim = demo.Simulator.fromBytes(readFileSync(`${ROOT}models/simulator.safetensors`));
  for (let i = 0; i < 300; i++) {
    const req = sim.drawRequest(i % sim.users, i % 24, i % 2, i % 7, 50, 9_000 + i);
    const want = f32.rank(req);
    const range = want[0].score - want.at(-1).score;
    const byId = new Map(want.map((x) => [x.id, x.score]));
    // Across builds int16 differs by whole quantisation steps, not by f32
    // rounding: an input an FMA moves by 1 ulp can round to the next step.
    for (const [name, r] of [["relaxed", relaxed], ["simd", simd], ["scalar", scalar]]) {
      for (const x of r.rank(req)) assert.ok(Math.abs(x.score - byId.get(x.id)) <= 5e-3 * range, `${name} int16 request ${i}: item ${x.id} ${x.score} vs f32 ${byId.get(x.id)}`);
    }
  }
  simd.setPrecision("f32");
  const req = sim.drawRequest(1, 12, 0, 3, 50, 1);
  assert.deepEqual(simd.rank(req), f32.rank(req));
});

test("the JS object path (flattened in JS, ranked columnar) returns exactly what the module's own rank does", async () => {
  const m = await load("simd");
  const demo = await import(`${ROOT}www/pkg/demo/mtfuse.js`);
  demo.initSync({ module: readFileSync(`${ROOT}www/pkg/demo/mtfuse_bg.wasm`) });
  const sim = demo.Simulator.fromBytes(readFileSync(`${ROOT}models/simulator.safetensors`));
  const r = m.Ranker.fromBytes(readFileSync(`${ROOT}models/enhanced.safetensors`));
  const schema = r.schema();
  // `rank(req, {})` takes the module's path: options are present.
  const same = (req) => assert.deepEqual(r.rank(req), r.rank(req, {}));
  for (let i = 0; i < 200; i++) {
    const req = sim.drawRequest(i % sim.users, i % 24, i % 2, i % 7, 1 + ((i * 37) % 120), i);
    if (i % 3 === 0) req.topK = 1 + (i % req.items.length);
    if (i % 5 === 0) req.items.forEach((it, j) => (it.id = 1000 - 3 * j));
    assert.notEqual(flattenRequest(schema, req), null);
    same(req);
  }
  // Requests the flattening refuses go to the module's path: same results, same errors.
  const base = sim.drawRequest(3, 20, 0, 2, 30, 9);
  const variants = {
    "a -0 id": (q) => (q.items[0].id = -0),
    "a repeated id": (q) => (q.items[1].id = q.items[0].id),
    "an extra item key": (q) => (q.items[2].colour = "red"),
    "a NaN score": (q) => (q.items[2].scores[schema.objectives[0]] = Number.NaN),
    "a score past f32": (q) => (q.items[2].scores[schema.objectives[1]] = 1e39),
    "a missing feature": (q) => delete q.items[4].features[schema.item[0]],
    "a string feature": (q) => (q.items[4].features[schema.item[0]] = "1"),
    "withActions": (q) => (q.withActions = true),
    "topK 0": (q) => (q.topK = 0),
    "topK 2.5": (q) => (q.topK = 2.5),
    "an inherited user feature": (q) => (q.user = Object.create(q.user)),
  };
  for (const [name, change] of Object.entries(variants)) {
    const q = structuredClone(base);
    change(q);
    assert.equal(flattenRequest(schema, q), null, name);
    let want;
    try {
      want = { ok: r.rank(q, {}) };
    } catch (e) {
      want = { error: e.message };
    }
    if (want.ok) assert.deepEqual(r.rank(q), want.ok, name);
    else assert.throws(() => r.rank(q), { message: want.error }, name);
  }
});

test("rankColumnar returns plain typed arrays that hold no wasm memory: 20,000 calls, nothing freed, memory flat", async () => {
  const m = await load("simd");
  const r = m.Ranker.fromBytes(blob);
  const call = () => r.rankColumnar(Float32Array.of(55, 0.22), Float32Array.of(21), Float32Array.of(10, 20), Float32Array.of(0.1, 0.2, 0, 0.3, 0.1, 0), 0);
  const res = call();
  assert.equal(Object.getPrototypeOf(res), Object.prototype);
  assert.ok(res.order instanceof Uint32Array && res.scores instanceof Float32Array);
  for (let i = 0; i < 1000; i++) call();
  const before = m.memoryBytes();
  for (let i = 0; i < 20_000; i++) call();
  assert.equal(m.memoryBytes(), before);
});

test("TypeScript types are generated for the request and result", () => {
  const dts = readFileSync(`${ROOT}www/pkg/simd/mtfuse.d.ts`, "utf8");
  assert.match(dts, /export interface RankRequest/);
  assert.match(dts, /rank\(request: RankRequest, options\?: RankOptions\): RankedItem\[\] \| ExploredRanking;/);
  assert.match(dts, /checkLogLine\(line: LogLine\): void;/);
  assert.match(dts, /static fromBytes\(bytes: Uint8Array[^)]*\): Ranker;/);
  assert.match(dts, /rankColumnar\(user: Float32Array[^)]*itemFeatures: Float32Array[^)]*topK: number, options\?: RankOptions\): ColumnarRanking;/);
});

// The shipped models rank a realistic 50-candidate request exactly as the
// native core does (tests/fixtures.rs wrote the expected rankings).
const shippedRequest = JSON.parse(fixture("shipped-request.json"));
const shippedExpected = JSON.parse(fixture("shipped-expected.json"));
for (const flavour of ["simd", "scalar"]) {
  for (const name of ["static", "user", "enhanced"]) {
    test(`${flavour} build ranks like the native core with the shipped ${name} model`, async () => {
      const m = await load(flavour);
      const r = m.Ranker.fromBytes(new Uint8Array(readFileSync(`${ROOT}models/${name}.safetensors`)));
      const got = r.rank(shippedRequest);
      const want = shippedExpected[name];
      assert.equal(got.length, want.length);
      const wantScore = new Map(want.map((i) => [i.id, i.score]));
      got.forEach((item, i) => {
        assert.ok(close(item.score, wantScore.get(item.id)), `${name} ${item.id}: ${item.score} vs native ${wantScore.get(item.id)}`);
        // Same order, except that items whose native scores tie within 1e-5 may swap.
        if (item.id !== want[i].id) assert.ok(close(item.score, want[i].score), `${name} rank ${i}: ${item.id} vs native ${want[i].id}`);
      });
    });
  }
}

test("demo module: the simulator rejects bad files and out-of-range draws, and keeps working", async () => {
  const demo = await import(`${ROOT}www/pkg/demo/mtfuse.js`);
  demo.initSync({ module: await WebAssembly.compile(readFileSync(`${ROOT}www/pkg/demo/mtfuse_bg.wasm`)) });
  const bytes = new Uint8Array(readFileSync(`${ROOT}models/simulator.safetensors`));
  assert.throws(() => demo.Simulator.fromBytes(bytes.subarray(0, 100)), { message: /not a safetensors file/ });
  const sim = demo.Simulator.fromBytes(bytes);
  assert.throws(() => sim.drawRequest(sim.users, 20, 1, 5, 50, 1), { message: /^drawRequest: user \d+ \(of \d+\)/ });
  assert.throws(() => sim.drawRequest(0, 24, 1, 5, 50, 1), { message: /hour 24 \(0–23\)/ });
  assert.throws(() => sim.userId(sim.users), { message: /^user: \d+ is out of range/ });
  const req = sim.drawRequest(0, 20, 1, 5, 50, 1);
  assert.equal(req.items.length, 50);
  const ranker = demo.Ranker.fromBytes(new Uint8Array(readFileSync(`${ROOT}models/enhanced.safetensors`)));
  const out = sim.runSessions(ranker, 0, 3, 7);
  assert.equal(out.length, 12);
  assert.ok(Array.from(out).every(Number.isFinite));
});
