#!/usr/bin/env bash
# Runs every test suite: native, wasm under Node, wasm in headless Chromium,
# and the JS tests (loader, page, and later the demo and worker end to end).
# Sets the machine up first. Exits non-zero if any suite fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/env.sh

step() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
log=target/test-suites.log
: > "$log"
# run <cmd…>: shows the suite's output and keeps it for the final tally.
run() { "$@" 2>&1 | tee -a "$log"; }

step "native: cargo test"
run cargo test --all-targets
# The JS tests drive target/debug/mtfuse (log import, train --log), which
# cargo test builds for tests/cli.rs.

step "build: relaxed-SIMD, simd, scalar and demo wasm"
scripts/build-wasm.sh

for flavour in simd scalar; do
  step "wasm ($flavour) under Node: wasm-bindgen-test"
  run wasm_cargo "$flavour" test --test node
done

step "wasm (simd) in headless Chromium: wasm-bindgen-test"
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver} run wasm_cargo simd test --test web

step "JS: node --test (loader, page in Chromium)"
run node --test --test-reporter=spec tests/js/

step "ETL: raw events to session logs on DuckDB and Spark (local mode)"
run env MTFUSE=target/debug/mtfuse target/py/bin/python -m unittest -v etl/test_sessions.py

# One closing line over all suites: cargo's "N passed; M failed" and node's "ℹ pass N".
passed=$(sed -n 's/.*test result: [a-zA-Z]*\. \([0-9]*\) passed.*/\1/p; s/^ℹ pass \([0-9]*\)$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(sed -n 's/.* \([0-9]*\) failed;.*/\1/p; s/^ℹ fail \([0-9]*\)$/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
# Python's unittest: "Ran N tests", then "OK" or "FAILED (failures=F, errors=E)".
ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
# (grep finds nothing when all passed: `|| true`, or pipefail ends the script.)
pyfailed=$(sed -n 's/^FAILED (\(.*\))$/\1/p' "$log" | { grep -o '[0-9]\+' || true; } | awk '{s+=$1} END {print s+0}')
passed=$((passed + ran - pyfailed))
failed=$((failed + pyfailed))
printf '\nall suites: %s passed, %s failed\n' "$passed" "$failed"
