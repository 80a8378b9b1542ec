// The production loop at the edge, under real workerd: POST /rank explores
// and returns the log record, POST /log checks the app's lines and writes
// them through the LOG_SINK binding (a writable disk here), and the files
// import, train and rank.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runMtfuse, TINY_CONFIG } from "./helpers.mjs";
import { startWorkerd } from "../../www/edge/run.mjs";
import { logLine, SessionLogger } from "../../www/log.js";

const demo = await import(`${ROOT}www/pkg/demo/mtfuse.js`);
demo.initSync({ module: readFileSync(`${ROOT}www/pkg/demo/mtfuse_bg.wasm`) });
const sim = demo.Simulator.fromBytes(readFileSync(`${ROOT}models/simulator.safetensors`));
const logDir = mkdtempSync(join(tmpdir(), "mtfuse-edge-logs-"));
let wd;

before(async () => {
  wd = await startWorkerd({ logDir });
});
after(() => wd?.stop());

const post = (path, body, type = "application/json") =>
  fetch(`${wd.url}${path}`, { method: "POST", headers: { "content-type": type }, body: typeof body === "string" ? body : JSON.stringify(body) });

async function expectError(res, status, message) {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(body.status, status);
  assert.match(body.error, message);
}

test("the shipped config has no trap route", async () => {
  await expectError(await post("/__trap", {}), 404, /^route: no \/__trap/);
});

test("POST /rank with explore returns the record, reproducible from its seed", async () => {
  const req = { ...sim.drawRequest(2, 18, 0, 4, 40, 3), topK: 6 };
  const a = await (await post("/rank", { ...req, explore: { width: 0.15, seed: 8 } })).json();
  const b = await (await post("/rank", { ...req, explore: { width: 0.15, seed: 8 } })).json();
  assert.deepEqual(a, b);
  assert.equal(a.items.length, 6);
  assert.deepEqual(a.record.shown.map((c) => req.items[c].id), a.items.map((i) => i.id));
  assert.equal(a.record.base.length, 40);
  const plain = await (await post("/rank", req)).json();
  assert.equal(plain.record, undefined);
  await expectError(await post("/rank", { ...req, explore: { width: -1 } }), 400, /^explore\.width: -1 is outside/);
  await expectError(await post("/rank", { ...req, explore: { width: 0.1, perItems: true } }), 400, /^explore\.perItems: unknown field/);
});

test("round trip at the edge: rank with explore → POST /log → NDJSON files → log import → train --log → rank", async () => {
  const logger = new SessionLogger();
  for (let s = 0; s < 12; s++) {
    const user = (s * 53) % sim.users;
    for (let t = 0; t < 3; t++) {
      const seed = 1000 + s * 10 + t;
      const rankRequest = { ...sim.drawRequest(user, 20, 1, 5, 25, seed), topK: 6 };
      const res = await post("/rank", { ...rankRequest, explore: { width: 0.15, seed } });
      assert.equal(res.status, 200);
      const { record } = await res.json();
      const responses = sim.respond(user, rankRequest, record.shown, seed);
      logger.add(logLine({ session: `edge-${s}`, request: t, rankRequest, record, responses, timestampMs: 1_700_000_000_000 + s * 60_000 + t * 30_000 }));
    }
    logger.end(`edge-${s}`);
  }
  const lines = logger.ndjson().trim().split("\n").map((l) => JSON.parse(l));
  // One line alone, then the rest in two batches.
  let res = await post("/log", lines[0]);
  assert.equal(res.status, 202);
  assert.deepEqual((await res.json()).accepted, 1);
  for (const batch of [lines.slice(1, 20), lines.slice(20)]) {
    res = await post("/log", batch);
    assert.equal(res.status, 202);
    assert.equal((await res.json()).accepted, batch.length);
  }
  const files = readdirSync(logDir).filter((f) => f.endsWith(".ndjson"));
  assert.equal(files.length, 3);
  const out = join(mkdtempSync(join(tmpdir(), "mtfuse-edge-")), "log.parquet");
  const said = runMtfuse(["log", "import", ...files.map((f) => join(logDir, f)), "--blob", "models/enhanced.safetensors", "--reward", "models/reward.json", "--out", out]);
  assert.match(said, /imported 36 lines: 12 sessions, 900 rows/);
  const cfg = join(logDir, "..", `tiny-${process.pid}.toml`);
  writeFileSync(cfg, TINY_CONFIG);
  const blob = out.replace(/log\.parquet$/, "trained.safetensors");
  runMtfuse(["train", "--log", out, "--algo", "enhanced", "--config", cfg, "--out", blob]);
  const trained = demo.Ranker.fromBytes(readFileSync(blob));
  const ranked = trained.rank({ ...sim.drawRequest(7, 9, 0, 1, 25, 5), topK: 4 });
  assert.equal(ranked.length, 4);
});

test("bad log events are JSON errors naming the line and field; nothing bad reaches the sink", async () => {
  const before = readdirSync(logDir).length;
  const rankRequest = { ...sim.drawRequest(1, 10, 0, 0, 20, 1), topK: 3 };
  const { record } = await (await post("/rank", { ...rankRequest, explore: { width: 0.1, seed: 1 } })).json();
  const responses = sim.respond(1, rankRequest, record.shown, 1);
  const good = logLine({ session: "bad", request: 0, rankRequest, record, responses, done: true });
  const spoilt = structuredClone(good);
  spoilt.responses[1].signals.like = null;
  await expectError(await post("/log", [good, spoilt]), 400, /^\[1\]\.responses\[1\]\.signals\.like: is null/);
  await expectError(await post("/log", { ...good, extra: 1 }), 400, /^extra: unknown field/);
  await expectError(await post("/log", { ...good, record: { ...record, shown: [0, 0, 1] } }), 400, /^record\.shown\[1\]: candidate 0 is shown twice/);
  await expectError(await post("/log", []), 400, /^body: an empty array/);
  await expectError(await post("/log", [3]), 400, /^\[0\]: expected a log line object/);
  await expectError(await post("/log", "{", "application/json"), 400, /^body: malformed JSON/);
  await expectError(await post("/log", good, "text/plain"), 415, /^content-type/);
  assert.equal(readdirSync(logDir).length, before, "a rejected batch wrote a file");
  // Still serving.
  assert.equal((await post("/log", good)).status, 202);
});
