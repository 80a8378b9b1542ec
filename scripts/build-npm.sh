#!/usr/bin/env bash
# Builds the npm package `mtfuse` into target/npm/mtfuse/ from the wasm
# builds in www/pkg (run scripts/build-wasm.sh first) and packs it with
# `npm pack` into target/npm/mtfuse-<version>.tgz. Prints the tarball's path.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
out=target/npm/mtfuse
rm -rf "$out" target/npm/mtfuse-*.tgz
for flavour in relaxed simd scalar; do
  [ -f "www/pkg/$flavour/mtfuse_bg.wasm" ] || { echo "build-npm: www/pkg/$flavour is missing; run scripts/build-wasm.sh" >&2; exit 1; }
  mkdir -p "$out/pkg/$flavour"
  cp "www/pkg/$flavour/mtfuse.js" "www/pkg/$flavour/mtfuse.d.ts" "www/pkg/$flavour/mtfuse_bg.wasm" "$out/pkg/$flavour/"
done
# The package root mirrors www/: the loader, the Workers entry and the log
# module keep their names, so their relative imports hold in both places.
cp www/mtfuse.js www/mtfuse-worker.js www/log.js "$out/"
cp npm/index.d.ts npm/worker.d.ts npm/node.js npm/README.md "$out/"
sed "s/\"version\": \"0.0.0\"/\"version\": \"$version\"/" npm/package.json > "$out/package.json"
# The README's build sizes, measured on the files shipped.
size() { stat -c %s "$1"; }
sed -i "s/{{RELAXED_BYTES}}/$(size "$out/pkg/relaxed/mtfuse_bg.wasm")/; s/{{SIMD_BYTES}}/$(size "$out/pkg/simd/mtfuse_bg.wasm")/; s/{{SCALAR_BYTES}}/$(size "$out/pkg/scalar/mtfuse_bg.wasm")/" "$out/README.md"
(cd target/npm && npm pack ./mtfuse --silent > /dev/null)
echo "target/npm/mtfuse-$version.tgz"
