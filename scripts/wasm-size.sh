#!/usr/bin/env bash
# Where the simd ranker module's bytes go: rebuilds it with function names
# kept (same cargo build and wasm-opt -O3 as scripts/build-wasm.sh, plus -g),
# then prints its sections and its code by crate (scripts/wasm_size.py).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
wasm_cargo simd build --release --lib -q
out=target/wasm-size
mkdir -p "$out"
wasm-bindgen --target web --keep-debug --out-dir "$out" --out-name mtfuse "$(wasm_target_dir simd)/wasm32-unknown-unknown/release/mtfuse.wasm"
node_modules/.bin/wasm-opt -O3 -g --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types --enable-simd "$out/mtfuse_bg.wasm" -o "$out/named.wasm"
python3 scripts/wasm_size.py "$out/named.wasm" --top "${TOP:-12}"
