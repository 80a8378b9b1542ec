"""Brings an actor trained outside mtfuse: a small MLP in NumPy, saved with
Python's safetensors in PyTorch's nn.Linear layout ([out, in], names as an
nn.Sequential of Linear and ReLU would give), for the schema in schema.toml.
It also writes a rank request and the fused scores NumPy computes for it,
so that `mtfuse pack` and the wasm ranker can be checked against them.

    python examples/numpy/pack_from_numpy.py OUT_DIR
    mtfuse pack --weights OUT_DIR/actor.safetensors \\
        --schema examples/numpy/schema.toml --out OUT_DIR/blob.safetensors

Random weights stand in for a trained actor: the format is the point."""
import json
import sys
import tomllib
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
schema = tomllib.loads((Path(__file__).parent / "schema.toml").read_text())
feats = schema["features"]
k = len(schema["objectives"])
groups = {g: [f for f in feats if f["group"] == g] for g in ("user", "context", "item", "score")}
widths = [len(feats)] + schema["hidden"] + [2 * k]

rng = np.random.default_rng(7)
layers = []
tensors = {}
for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
    w = rng.uniform(-1, 1, (n_out, n_in)).astype(np.float32) * np.float32(np.sqrt(3 / n_in))
    b = rng.uniform(-0.1, 0.1, n_out).astype(np.float32)
    tensors[f"net.{2 * i}.weight"] = w  # every other index: the ReLUs between
    tensors[f"net.{2 * i}.bias"] = b
    layers.append((w, b))
save_file(tensors, str(out / "actor.safetensors"))

# A request with six candidates, and NumPy's fused score for each.
items = [
    {"id": f"v{j}", "features": {"duration_s": 8.0 + 9.0 * j}, "scores": {"click": 0.05 + 0.06 * j, "long_view": 0.4 - 0.05 * j, "hate": 0.01 * (j % 3)}}
    for j in range(6)
]
request = {"user": {"activity": 55.0, "user_click_rate": 0.22}, "context": {"hour": 21.0}, "items": items}
mean = np.array([f["mean"] for f in feats], np.float64)
std = np.array([f["std"] for f in feats], np.float64)
lo, hi = np.array(schema["action_low"]), np.array(schema["action_high"])
fused = {}
for it in items:
    raw = [request["user"][f["name"]] for f in groups["user"]] + [request["context"][f["name"]] for f in groups["context"]]
    raw += [it["features"][f["name"]] for f in groups["item"]] + [it["scores"][f["name"]] for f in groups["score"]]
    h = (np.array(raw) - mean) / std
    for i, (w, b) in enumerate(layers):
        h = w.astype(np.float64) @ h + b
        h = np.tanh(h) if i == len(layers) - 1 else np.maximum(h, 0)
    a = lo + (np.clip(h, -1, 1) + 1) / 2 * (hi - lo)
    p, bias = a[:k], np.maximum(a[k:], 1e-3)
    s = np.array([it["scores"][o] for o in schema["objectives"]])
    fused[it["id"]] = float(np.sum(p * np.log(np.maximum(s, 0) + bias)))
(out / "request.json").write_text(json.dumps(request, indent=1))
(out / "expected.json").write_text(json.dumps(fused, indent=1))
print(f"wrote {out}/actor.safetensors, request.json and expected.json")
