#!/usr/bin/env bash
# Fuzzes the inference core with cargo-fuzz (libFuzzer, nightly Rust): the
# blob loader, the JSON request path and the columnar path, with the checks
# in fuzz/checks.rs. SECONDS_PER_TARGET (default 600) each; TARGETS picks a
# subset. The corpus grows in target/fuzz-corpus/<target>, seeded from
# fuzz/seeds/<target>. A crash is copied into tests/fixtures/fuzz/<target>/,
# which `cargo test` replays (tests/fuzz_regressions.rs). Prints one line per
# target; exits non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz --locked
secs=${SECONDS_PER_TARGET:-600}
status=0
for t in ${TARGETS:-blob request columnar}; do
  corpus=target/fuzz-corpus/$t
  log=target/fuzz-$t.log
  mkdir -p "$corpus"
  if cargo +nightly fuzz run "$t" "$corpus" "fuzz/seeds/$t" -- -max_total_time="$secs" -print_final_stats=1 > "$log" 2>&1; then
    result="no crash"
  else
    result="CRASH (kept in tests/fixtures/fuzz/$t/; log $log)"
    mkdir -p "tests/fixtures/fuzz/$t"
    cp fuzz/artifacts/"$t"/* "tests/fixtures/fuzz/$t/" 2> /dev/null || true
    status=1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "fuzz $t: ${secs} s, ${runs:-?} runs, corpus $(find "$corpus" -type f | wc -l) inputs, $result"
done
exit $status
