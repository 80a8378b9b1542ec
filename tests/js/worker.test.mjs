// The edge worker under real workerd: native-identical rankings, every bad
// input as a JSON error, and a bounded load test on loopback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ROOT, fixture, close } from "./helpers.mjs";
import { startWorkerd, loadTest } from "../../www/edge/run.mjs";
import { fuzzWorker, workerTable } from "./fuzz.mjs";

const request = JSON.parse(fixture("shipped-request.json"));
const expected = JSON.parse(fixture("shipped-expected.json")).enhanced;
let wd;

before(async () => {
  wd = await startWorkerd({ maxItems: 200, testTrap: true });
});
after(() => wd?.stop());

const post = (body, type = "application/json", path = "/rank") =>
  fetch(`${wd.url}${path}`, { method: "POST", headers: { "content-type": type }, body: typeof body === "string" ? body : JSON.stringify(body) });

async function expectError(res, status, message) {
  assert.equal(res.status, status);
  assert.match(res.headers.get("content-type"), /^application\/json/);
  const body = await res.json();
  assert.equal(body.status, status);
  if (message instanceof RegExp) assert.match(body.error, message);
  else assert.equal(body.error, message);
}

test("a trap answers its own request with a 500 and the next request is served", async () => {
  for (let i = 0; i < 2; i++) {
    await expectError(await post({}, "application/json", "/__trap"), 500, /^internal: the ranker trapped \(.*\) and was restarted; retry the request$/);
    const res = await post(request);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.deepEqual(body.items.map((it) => it.id), expected.map((it) => it.id));
  }
  assert.equal((await (await fetch(`${wd.url}/health`)).json()).ok, true);
});

test("GET /health and /schema describe the bundled enhanced model", async () => {
  const health = await (await fetch(`${wd.url}/health`)).json();
  assert.equal(health.ok, true);
  assert.equal(health.kernel, "simd128");
  assert.equal(health.model, "enhanced");
  assert.match(health.version, /^\d+\.\d+\.\d+/);
  assert.ok(health.wasmMemoryBytes > 0);
  const schema = await (await fetch(`${wd.url}/schema`)).json();
  assert.equal(schema.kind, "enhanced");
  assert.deepEqual(schema.objectives, ["click", "long_view", "like", "follow", "comment", "forward", "hate"]);
  assert.ok(schema.item.includes("item_long_view_rate"));
});

test("POST /rank ranks like the native core: same order, scores within 1e-5, actions when asked", async () => {
  const res = await post(request);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.model, "enhanced");
  assert.equal(body.items.length, expected.length);
  const want = new Map(expected.map((i) => [i.id, i.score]));
  body.items.forEach((item, i) => {
    assert.ok(close(item.score, want.get(item.id)), `${item.id}: ${item.score} vs native ${want.get(item.id)}`);
    if (item.id !== expected[i].id) assert.ok(close(item.score, expected[i].score), `rank ${i}: ${item.id} vs native ${expected[i].id}`);
    assert.equal(item.action.powers.length, 7);
  });
  const top = await (await post({ ...request, topK: 5, withActions: false })).json();
  assert.deepEqual(top.items.map((i) => i.id), body.items.slice(0, 5).map((i) => i.id));
  assert.equal(top.items[0].action, undefined);
});

test("every bad input is a JSON error naming the field, and the isolate keeps serving", async () => {
  await expectError(await post("{\"items\": [", "application/json"), 400, /^body: malformed JSON: /);
  await expectError(await post(request, "text/plain"), 415, 'content-type: expected application/json, got "text/plain"');
  await expectError(await post("[1, 2]"), 400, "body: expected a JSON object");
  const missing = structuredClone(request);
  delete missing.items[3].scores.click;
  await expectError(await post(missing), 400, /^items\[3\]\.scores\.click: missing score/);
  const nan = structuredClone(request);
  nan.items[1].scores.long_view = null;
  await expectError(await post(nan), 400, /^items\[1\]\.scores\.long_view: /);
  const nanText = JSON.stringify(request).replace(/"long_view":[0-9.e-]+/, '"long_view":NaN');
  await expectError(await post(nanText), 400, /^body: malformed JSON: /);
  const unknown = structuredClone(request);
  unknown.items[0].features.colour = 1;
  await expectError(await post(unknown), 400, /^items\[0\]\.features\.colour: unknown item feature/);
  const many = { ...request, items: Array.from({ length: 201 }, (_, i) => ({ ...request.items[i % 50], id: i })) };
  await expectError(await post(many), 413, "items: 201 items exceeds the limit of 200");
  await expectError(await post("x".repeat(2_000_000)), 413, "body: 2000000 bytes exceeds the limit of 1048576");
  await expectError(await fetch(`${wd.url}/nowhere`), 404, /^route: no \/nowhere/);
  const wrong = await fetch(`${wd.url}/rank`);
  assert.equal(wrong.headers.get("allow"), "POST");
  await expectError(wrong, 405, "method: GET is not allowed on /rank; use POST");
  await expectError(await post(request, "application/json", "/health"), 405, /^method: POST is not allowed on \/health/);
  // Still serving, with the same answer as before.
  const again = await (await post({ ...request, topK: 3 })).json();
  assert.deepEqual(again.items.map((i) => i.id), expected.slice(0, 3).map((i) => i.id));
});

test("fuzz: 3,000 requests, 70% of them broken, at concurrency 16; no 5xx, every valid one ranked right, none lost", async () => {
  const rows = await fuzzWorker(`${wd.url}/rank`, { request, expectedIds: expected.map((i) => i.id), total: 3000, seed: 21 });
  console.log(workerTable("worker, seed 21:", rows));
  const sum = (k) => rows.reduce((t, r) => t + r[k], 0);
  assert.equal(sum("tried"), 3000);
  assert.equal(sum("server"), 0);
  assert.equal(sum("wrong"), 0);
  assert.equal(sum("lost"), 0);
  const valid = rows.find((r) => r.input === "valid");
  assert.ok(valid.tried > 700 && valid.ok === valid.tried);
  // Only bodies over the byte limit may be cut off, and they are a handful.
  assert.ok(sum("cut") <= rows.find((r) => r.input === "request: items").tried);
});

test("load: 20,000 requests at concurrency 32, no errors, none lost, RSS under 128 MB", async () => {
  const body = JSON.stringify({ ...request, topK: 10 });
  const r = await loadTest({ url: `${wd.url}/rank`, body, requests: 20_000, concurrency: 32, pid: wd.pid });
  console.log(`load: ${r.requests} requests, concurrency ${r.concurrency}, ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, errors ${r.errors}, peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(1)} MiB`);
  assert.equal(r.errors, 0);
  assert.equal(r.ok, 20_000);
  assert.ok(r.peakRssBytes < 128 * 2 ** 20, `workerd RSS ${r.peakRssBytes} bytes`);
});
