// The JS loader and both wasm builds, under Node's test runner.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ROOT, fixture, load, close } from "./helpers.mjs";
import { simdSupported } from "../../www/mtfuse.js";

const request = JSON.parse(fixture("tiny-request.json"));
const expected = JSON.parse(fixture("tiny-expected.json"));
const blob = new Uint8Array(fixture("tiny-enhanced.safetensors"));

test("the SIMD probe validates on Node 20, which has simd128", () => {
  assert.equal(simdSupported(), true);
});

for (const flavour of ["simd", "scalar"]) {
  test(`${flavour} build ranks the native fixture identically`, async () => {
    const m = await load(flavour);
    assert.equal(m.flavour, flavour);
    assert.equal(m.kernel(), flavour === "simd" ? "simd128" : "scalar");
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
  assert.throws(() => r.rank({ ...request, user: { ...request.user, activity: "55" } }), { message: /^user\.activity: invalid type: string "55", expected f64/ });
});

test("simd and scalar builds agree within 1e-5 relative", async () => {
  const [a, b] = await Promise.all([load("simd"), load("scalar")]);
  const ra = a.Ranker.fromBytes(blob).rank(request);
  const rb = b.Ranker.fromBytes(blob).rank(request);
  assert.deepEqual(ra.map((i) => i.id), rb.map((i) => i.id));
  ra.forEach((x, i) => assert.ok(close(x.score, rb[i].score)));
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
