#!/usr/bin/env bash
# Builds the relaxed-SIMD, simd128 and scalar ranker modules into
# www/pkg/{relaxed,simd,scalar}/, and the demo module (scalar, with the
# simulator) into www/pkg/demo/.
# BUILDS="simd" (any subset of "relaxed simd scalar demo bench-relaxed bench-simd bench-scalar")
# builds only those; the bench builds (with `benchDense`, for bench/) go to
# target/bench-pkg/{relaxed,simd,scalar}/ and never ship.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
for build in ${BUILDS:-relaxed simd scalar demo}; do
  flavour=$build features=()
  out="www/pkg/$build"
  case $build in
    demo) flavour=scalar features=(--features demo) ;;
    bench-*) flavour=${build#bench-} features=(--features bench) out="target/bench-pkg/$flavour" ;;
  esac
  wasm_cargo "$flavour" build --release --lib -q "${features[@]}"
  mkdir -p "$out"
  wasm-bindgen --target web --experimental-reset-state-function --out-dir "$out" --out-name mtfuse "$(wasm_target_dir "$flavour")/wasm32-unknown-unknown/release/mtfuse.wasm"
  opt_flags=(-O3 --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types)
  [ "$flavour" = simd ] && opt_flags+=(--enable-simd)
  [ "$flavour" = relaxed ] && opt_flags+=(--enable-simd --enable-relaxed-simd)
  node_modules/.bin/wasm-opt "${opt_flags[@]}" "$out/mtfuse_bg.wasm" -o "$out/mtfuse_bg.wasm"
  printf 'build-wasm: %-6s %7d bytes  (%s)\n' "$build" "$(stat -c %s "$out/mtfuse_bg.wasm")" "$out/mtfuse_bg.wasm"
done
