// The production loop in Node: the wasm ranker explores while it serves, the
// simulated user responds, www/log.js writes the lines, `mtfuse log import`
// makes the Parquet session log, `mtfuse train --log` learns a blob from it,
// and the wasm ranker loads that blob and ranks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runMtfuse, TINY_CONFIG, exploringRequests } from "./helpers.mjs";
import { logLine, SessionLogger, response } from "../../www/log.js";

const demo = await import(`${ROOT}www/pkg/demo/mtfuse.js`);
demo.initSync({ module: readFileSync(`${ROOT}www/pkg/demo/mtfuse_bg.wasm`) });
const sim = demo.Simulator.fromBytes(readFileSync(`${ROOT}models/simulator.safetensors`));
const behaviourBytes = readFileSync(`${ROOT}models/static.safetensors`);
const ranker = demo.Ranker.fromBytes(behaviourBytes);

/** Serves `sessions` sessions of `requests` requests with exploration and logs them. */
function serve(sessions, requests, width = 0.15) {
  const logger = new SessionLogger();
  for (const { s, t, rankRequest, items, record, responses, last } of exploringRequests(sim, ranker, sessions, requests, width)) {
    assert.equal(items.length, 6);
    logger.add(logLine({ session: `s${s}`, request: t, rankRequest, record, responses, timestampMs: 1_700_000_000_000 + s * 1000 + t }));
    if (last) logger.end(`s${s}`);
  }
  return logger;
}

test("an exploring rank is reproducible from its seed and records the box", () => {
  const req = sim.drawRequest(3, 20, 0, 2, 30, 9);
  const a = ranker.rank(req, { explore: { width: 0.2, seed: 42 } });
  const b = ranker.rank(req, { explore: { width: 0.2, seed: 42 } });
  assert.deepEqual(a, b);
  assert.match(a.record.behaviour, /^crc32:[0-9a-f]{8}$/);
  assert.equal(a.record.base.length, 30);
  assert.equal(a.record.seed, 42);
  const d = a.record.actions.flat().map((x, i) => x - a.record.base.flat()[i]);
  assert.ok(d.every((x) => Math.abs(x) <= 0.2 + 1e-6) && d.some((x) => Math.abs(x) > 0.01));
  // Without a seed, the platform's random source picks one, and reports it.
  const c = ranker.rank(req, { explore: { width: 0.2 } });
  assert.ok(Number.isSafeInteger(c.record.seed));
  assert.notEqual(c.record.seed, ranker.rank(req, { explore: { width: 0.2 } }).record.seed);
  // Bad options name their field; without options, rank returns the list as before.
  assert.throws(() => ranker.rank(req, { explore: { width: 3 } }), /^Error: explore\.width: 3 is outside/);
  assert.throws(() => ranker.rank(req, { explore: { width: 0.1, seed: 1.5 } }), /explore\.seed/);
  assert.throws(() => ranker.rank(req, { explor: {} }), /options\.explor/);
  assert.ok(Array.isArray(ranker.rank(req)));
});

test("checkLogLine accepts the lines log.js writes and names what is wrong in a bad one", () => {
  const lines = serve(1, 2).ndjson().trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 2);
  assert.equal(lines[1].done, true);
  for (const l of lines) ranker.checkLogLine(l);
  const bad = structuredClone(lines[0]);
  bad.responses[2].signals.click = Number.NaN;
  assert.throws(() => ranker.checkLogLine(bad), /responses\[2\]\.signals\.click/);
  const short = structuredClone(lines[0]);
  short.responses.pop();
  assert.throws(() => ranker.checkLogLine(short), /^Error: responses: 5 responses for 6 shown items/);
  assert.throws(() => logLine({ session: "x", request: 0, rankRequest: {}, record: lines[0].record, responses: [] }), /responses: 0 for 6/);
  assert.deepEqual(response(["click", "like"], { like: 1 }, 3), { signals: { click: 0, like: 1 }, playS: 3 });
  assert.throws(() => response(["click"], { share: 1 }), /events\.share: unknown objective/);
  const logger = new SessionLogger();
  assert.throws(() => logger.add({ ...lines[1], request: 1 }), /expects request 0, got 1/);
});

test("round trip: explore → log lines → log import → train --log → blob → rank", () => {
  const dir = mkdtempSync(join(tmpdir(), "mtfuse-log-"));
  const logger = serve(40, 3);
  assert.equal(logger.lines, 120);
  writeFileSync(join(dir, "lines.ndjson"), logger.ndjson());
  const said = runMtfuse(["log", "import", join(dir, "lines.ndjson"), "--blob", "models/static.safetensors", "--reward", "models/reward.json", "--out", join(dir, "log.parquet")]);
  assert.match(said, /imported 120 lines: 40 sessions, 3600 rows/);
  writeFileSync(join(dir, "tiny.toml"), TINY_CONFIG);
  runMtfuse(["train", "--log", join(dir, "log.parquet"), "--algo", "enhanced", "--config", join(dir, "tiny.toml"), "--out", join(dir, "trained.safetensors")]);
  const trained = demo.Ranker.fromBytes(readFileSync(join(dir, "trained.safetensors")));
  assert.equal(trained.kind, "enhanced");
  const req = sim.drawRequest(5, 12, 1, 3, 30, 77);
  req.topK = 6;
  const ranked = trained.rank(req);
  assert.equal(ranked.length, 6);
  assert.ok(ranked.every((r) => Number.isFinite(r.score)));
  // A line spoiled on disk stops the import with its line number, and no log is written.
  const text = logger.ndjson().split("\n");
  text[7] = text[7].replace('"playS":', '"playS":-');
  writeFileSync(join(dir, "bad.ndjson"), text.join("\n"));
  assert.throws(() => runMtfuse(["log", "import", join(dir, "bad.ndjson"), "--blob", "models/static.safetensors", "--reward", "models/reward.json", "--out", join(dir, "bad.parquet")]), /bad\.ndjson: line 8[\s\S]*responses\[\d\]\.playS/);
  assert.throws(() => readFileSync(join(dir, "bad.parquet")), /ENOENT/);
});

test("the columnar path explores as the object path does: same seed, same order and record", () => {
  const req = sim.drawRequest(8, 21, 0, 6, 30, 4);
  const enhanced = demo.Ranker.fromBytes(readFileSync(`${ROOT}models/enhanced.safetensors`));
  const s = enhanced.schema();
  const cols = {
    user: Float32Array.from(s.user, (n) => req.user[n]),
    context: Float32Array.from(s.context, (n) => req.context[n]),
    items: Float32Array.from(req.items.flatMap((it) => s.item.map((n) => it.features[n]))),
    scores: Float32Array.from(req.items.flatMap((it) => s.objectives.map((o) => it.scores[o]))),
  };
  const explore = { width: 0.15, seed: 17, perItem: true };
  const obj = enhanced.rank({ ...req, topK: 6 }, { explore });
  const col = enhanced.rankColumnar(cols.user, cols.context, cols.items, cols.scores, 6, { explore });
  assert.deepEqual([...col.order], obj.record.shown);
  assert.deepEqual([...col.actions], obj.record.actions.flat().map(Math.fround));
  assert.deepEqual([...col.base], obj.record.base.flat().map(Math.fround));
  assert.equal(col.seed, 17);
  assert.equal(col.behaviour, obj.record.behaviour);
  const plain = enhanced.rankColumnar(cols.user, cols.context, cols.items, cols.scores, 6);
  assert.equal(plain.actions, undefined);
  assert.throws(() => enhanced.rankColumnar(cols.user, cols.context, cols.items, cols.scores, 6, { explore: { width: -1 } }), /explore\.width/);
});

test("a repeated item id is refused on the fast path too, naming both places", () => {
  const req = sim.drawRequest(2, 10, 0, 1, 5, 3);
  req.items[3].id = req.items[1].id;
  assert.throws(() => ranker.rank(req), new RegExp(`^Error: items\\[3\\]\\.id: ${req.items[1].id} repeats items\\[1\\]\\.id; ids must be unique$`));
});
