// Random bad input (tests/js/fuzz.mjs) through both wasm builds and the
// edge worker: no traps, no wrong results, and the ranker keeps working.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ROOT, load } from "./helpers.mjs";
import { fuzzBuild, columnsOf, table } from "./fuzz.mjs";

const blob = new Uint8Array(readFileSync(`${ROOT}models/enhanced.safetensors`));
const request = JSON.parse(readFileSync(`${ROOT}tests/fixtures/shipped-request.json`, "utf8"));

for (const [flavour, seed] of [["simd", 11], ["scalar", 12]]) {
  test(`${flavour} build: 3,000 corrupted blobs, broken requests and broken columns; no trap, no wrong result, the ranker works after each`, async () => {
    const m = await load(flavour);
    const rows = fuzzBuild(m, { blob, request, columns: columnsOf(m.Ranker.fromBytes(blob), request), perKind: 1000, seed });
    console.log(table(`${flavour}, seed ${seed}:`, rows));
    const sum = (k) => rows.reduce((t, r) => t + r[k], 0);
    assert.equal(sum("tried"), 3000);
    assert.equal(sum("traps"), 0);
    assert.equal(sum("wrong"), 0);
    assert.equal(sum("brokenAfter"), 0);
    // Every corrupted blob was refused (the checksum covers all of it), and the
    // fuzzer reached both outcomes for requests.
    assert.ok(rows.filter((r) => r.input.startsWith("blob")).every((r) => r.accepted === 0));
    assert.ok(sum("errors") > 2000 && sum("accepted") > 0);
  });
}
