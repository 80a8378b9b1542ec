// Bring your own model: examples/numpy/pack_from_numpy.py writes an MLP
// with NumPy and Python's safetensors in PyTorch's layout, `mtfuse pack`
// turns it into a blob, and both wasm builds rank with it as NumPy does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, load, runMtfuse } from "./helpers.mjs";

test("NumPy weights in PyTorch layout → mtfuse pack → wasm ranks within 1e-5 of NumPy's forward pass", async () => {
  const dir = mkdtempSync(join(tmpdir(), "mtfuse-numpy-"));
  const py = spawnSync(`${ROOT}target/py/bin/python`, [`${ROOT}examples/numpy/pack_from_numpy.py`, dir], { encoding: "utf8" });
  assert.equal(py.status, 0, py.stderr);
  runMtfuse(["pack", "--weights", join(dir, "actor.safetensors"), "--schema", `${ROOT}examples/numpy/schema.toml`, "--out", join(dir, "blob.safetensors")]);
  const request = JSON.parse(readFileSync(join(dir, "request.json"), "utf8"));
  const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8"));
  const order = Object.keys(expected).sort((a, b) => expected[b] - expected[a]);
  for (const flavour of ["simd", "scalar"]) {
    const m = await load(flavour);
    const ranked = m.Ranker.fromBytes(readFileSync(join(dir, "blob.safetensors"))).rank(request);
    assert.deepEqual(ranked.map((i) => i.id), order, flavour);
    for (const { id, score } of ranked) assert.ok(Math.abs(score - expected[id]) <= 1e-5, `${flavour} ${id}: ${score} vs NumPy ${expected[id]}`);
  }
});
