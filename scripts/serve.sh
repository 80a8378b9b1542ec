#!/usr/bin/env bash
# Builds the wasm and serves the demo page on http://127.0.0.1:8080/
# (set PORT to change it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build-wasm.sh
exec node www/serve.mjs --port "${PORT:-8080}" --host 127.0.0.1
