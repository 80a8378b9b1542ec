# Sourced by the build and test scripts: defines `wasm_cargo`, which runs
# cargo for wasm32 by the route scripts/setup.sh chose: simd128 off (scalar),
# on (simd), or on with relaxed SIMD (relaxed).
[ -f target/toolchain.env ] || { echo "run scripts/setup.sh first" >&2; exit 1; }
. target/toolchain.env

# wasm_cargo relaxed|simd|scalar <cargo args…>
wasm_cargo() {
  local flavour=$1; shift
  local flags="-C target-feature=-simd128"
  [ "$flavour" = simd ] && flags="-C target-feature=+simd128"
  [ "$flavour" = relaxed ] && flags="-C target-feature=+simd128,+relaxed-simd"
  if [ "$MTFUSE_WASM_ROUTE" = debian ]; then
    PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 RUSTFLAGS="$flags" \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/lib/llvm-22/bin/wasm-ld \
      CARGO_TARGET_DIR="target/wasm-$flavour-debian" \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
      cargo "$@" --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort
  else
    RUSTFLAGS="$flags" CARGO_TARGET_DIR="target/wasm-$flavour" \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
      cargo "$@" --target wasm32-unknown-unknown
  fi
}

wasm_target_dir() { if [ "$MTFUSE_WASM_ROUTE" = debian ]; then echo "target/wasm-$1-debian"; else echo "target/wasm-$1"; fi; }
