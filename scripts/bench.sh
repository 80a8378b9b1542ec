#!/usr/bin/env bash
# Benchmarks the wasm builds in Node on an enhanced actor of the default size
# (random weights: timing only). Prints Markdown tables; JSON goes to target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
BUILDS="relaxed simd scalar demo bench-relaxed bench-simd bench-scalar" scripts/build-wasm.sh
mkdir -p target/bench
cargo run -q --release -- random-blob --kind enhanced --hidden 128,64 --out target/bench/enhanced-random.safetensors
node bench/wasm-rank.mjs target/bench/enhanced-random.safetensors --json target/bench/wasm-rank.json
# mtfuse against onnxruntime-web and TF.js on the shipped enhanced model.
node bench/compare.mjs models/enhanced.safetensors --json target/bench/compare.json --md target/bench/compare.md
# Cold start in headless Chromium (fresh contexts), relaxed and simd128 builds.
node bench/cold-chromium.mjs models/enhanced.safetensors --json target/bench/cold-chromium.json
# Native criterion benchmarks: the dense kernel and one training update.
# Its own target folder: sharing target/release with the `cargo run --release`
# above made the bench binary fail to link (undefined symbols) in two of three
# runs here, while the same command alone linked.
CARGO_TARGET_DIR=target/bench-native cargo bench -q --bench native -- --warm-up-time 1 --measurement-time 3
