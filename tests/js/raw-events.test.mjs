// Raw serving events from JS: the wasm ranker explores while it serves,
// www/log.js writes impressions and response events as NDJSON, and the ETL
// job (etl/sessions.py, DuckDB) turns them into the same session log that
// log lines of the same requests give through `mtfuse log import`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, runMtfuse, exploringRequests } from "./helpers.mjs";
import { impressionRows, logLine, response, responseEvent, SessionLogger } from "../../www/log.js";

const demo = await import(`${ROOT}www/pkg/demo/mtfuse.js`);
demo.initSync({ module: readFileSync(`${ROOT}www/pkg/demo/mtfuse_bg.wasm`) });
const sim = demo.Simulator.fromBytes(readFileSync(`${ROOT}models/simulator.safetensors`));
const ranker = demo.Ranker.fromBytes(readFileSync(`${ROOT}models/static.safetensors`));
const schema = ranker.schema();
const PYTHON = `${ROOT}target/py/bin/python`;

/** Serves sessions with exploration; logs each request both ways. */
function serve(sessions, requests) {
  const logger = new SessionLogger();
  const impressions = [];
  const events = [];
  for (const { s, t, user, rankRequest, record, responses, last } of exploringRequests(sim, ranker, sessions, requests)) {
    const timestampMs = 1_700_000_000_000 + s * 3_600_000 + t * 30_000;
    logger.add(logLine({ session: `s${s}`, request: t, rankRequest, record, responses, timestampMs }));
    const requestId = `s${s}-r${t}`;
    impressions.push(...impressionRows({ requestId, userId: `u${user}`, sessionHint: `s${s}`, rankRequest, record, schema, timestampMs }));
    record.shown.forEach((c, p) => {
      const candidateId = rankRequest.items[c].id;
      const at = timestampMs + 1_000 + 500 * p;
      for (const [signal, value] of Object.entries(responses[p].signals)) {
        if (value !== 0) events.push(responseEvent({ requestId, candidateId, signal, value, timestampMs: at, objectives: schema.objectives }));
      }
      if (responses[p].playS > 0) events.push(responseEvent({ requestId, candidateId, signal: "play_s", value: responses[p].playS, timestampMs: at }));
    });
    if (last) logger.end(`s${s}`);
  }
  return { logger, impressions, events };
}

const ndjson = (rows) => rows.map((r) => JSON.stringify(r) + "\n").join("");

test("impressions and events from log.js become, through the ETL job, the session log that log lines give", () => {
  const dir = mkdtempSync(join(tmpdir(), "mtfuse-raw-"));
  const { logger, impressions, events } = serve(12, 3);
  assert.equal(impressions.length, 12 * 3 * 30);
  writeFileSync(join(dir, "lines.ndjson"), logger.ndjson());
  runMtfuse(["log", "import", join(dir, "lines.ndjson"), "--blob", "models/static.safetensors", "--reward", "models/reward.json", "--out", join(dir, "imported.parquet")]);
  writeFileSync(join(dir, "metadata.json"), runMtfuse(["log", "schema", "--blob", "models/static.safetensors", "--reward", "models/reward.json"]));
  writeFileSync(join(dir, "impressions.ndjson"), ndjson(impressions));
  // Two lines no ETL should take: not JSON, and a value of the wrong type.
  writeFileSync(join(dir, "events.ndjson"), ndjson(events) + "{not json\n" + JSON.stringify({ ...events[0], value: "1" }) + "\n");
  const etl = spawnSync(PYTHON, [`${ROOT}etl/sessions.py`, "--impressions", join(dir, "impressions.ndjson"), "--events", join(dir, "events.ndjson"), "--metadata", join(dir, "metadata.json"), "--out", join(dir, "etl")], { encoding: "utf8" });
  assert.equal(etl.status, 0, etl.stderr);
  const report = JSON.parse(readFileSync(join(dir, "etl", "etl-report.json"), "utf8"));
  assert.deepEqual(report.left_out, {
    "event: malformed line: not JSON (Expecting property name enclosed in double quotes)": 1,
    "event: malformed line: value: \"1\" is not a double": 1,
  });
  assert.equal(report.examples["event: malformed line: not JSON (Expecting property name enclosed in double quotes)"][0].detail, `events.ndjson:${events.length + 1}`);
  // Every column and the metadata, row for row.
  const compare = spawnSync(PYTHON, ["-c", `
import sys, glob, pyarrow as pa, pyarrow.parquet as pq
keys = [("session_id", "ascending"), ("request", "ascending"), ("candidate", "ascending")]
a = pq.read_table(sys.argv[1]).sort_by(keys)
b = pa.concat_tables([pq.read_table(f) for f in sorted(glob.glob(sys.argv[2] + "/part-*.parquet"))]).sort_by(keys)
assert a.schema.equals(b.schema, check_metadata=True), (a.schema, b.schema)
assert a.num_rows == b.num_rows, (a.num_rows, b.num_rows)
for name in a.column_names:
    assert a[name].equals(b[name]), name
print(a.num_rows)
`, join(dir, "imported.parquet"), join(dir, "etl")], { encoding: "utf8" });
  assert.equal(compare.status, 0, compare.stderr);
  assert.equal(compare.stdout.trim(), String(12 * 3 * 30));
});

test("log.js refuses bad impressions and events, naming the field", () => {
  const rankRequest = sim.drawRequest(3, 20, 0, 2, 30, 9);
  rankRequest.topK = 6;
  const { record } = ranker.rank(rankRequest, { explore: { width: 0.1, seed: 1 } });
  const ok = { requestId: "r1", userId: "u1", rankRequest, record, schema, timestampMs: 1 };
  assert.equal(impressionRows(ok).length, 30);
  const missing = structuredClone(rankRequest);
  delete missing.items[4].features.item_click_rate;
  assert.throws(() => impressionRows({ ...ok, rankRequest: missing }), /^Error: items\[4\]\.features\.item_click_rate: is missing, expected a finite number$/);
  const nan = structuredClone(rankRequest);
  nan.items[2].scores.like = Number.NaN;
  assert.throws(() => impressionRows({ ...ok, rankRequest: nan }), /^Error: items\[2\]\.scores\.like: is NaN/);
  assert.throws(() => impressionRows({ ...ok, requestId: "" }), /^Error: requestId/);
  assert.throws(() => impressionRows({ ...ok, record: { ...record, actions: record.actions.slice(1) } }), /^Error: record\.actions: 29 rows for 30 items$/);
  const ev = { requestId: "r1", candidateId: 7, signal: "click", objectives: schema.objectives, timestampMs: 5 };
  assert.deepEqual(responseEvent(ev), { request_id: "r1", candidate_id: "7", signal: "click", value: 1, timestamp_ms: 5 });
  assert.throws(() => responseEvent({ ...ev, signal: "swipe" }), /^Error: signal: "swipe" is not an objective/);
  assert.throws(() => responseEvent({ ...ev, value: -1 }), /^Error: value: -1 is not a finite number ≥ 0$/);
  assert.throws(() => responseEvent({ ...ev, value: Number.NaN }), /^Error: value: NaN/);
  assert.throws(() => responseEvent({ ...ev, timestampMs: 1.5 }), /^Error: timestampMs/);
  assert.deepEqual(response(["click"], {}, 0), { signals: { click: 0 }, playS: 0 });
});
