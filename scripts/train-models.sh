#!/usr/bin/env bash
# Trains the three shipped policies on the committed simulator with the
# committed config, then evaluates them (simulated A/B and, with the KuaiRand
# log beside the repository, offline metrics). Long: minutes, not seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=${CONFIG:-models/train.toml}
data=${DATA:-../shared/data/kuairand-1k}
cargo build --release -q
bin=target/release/mtfuse
time $bin train --algo static --config "$cfg" --out models/static.safetensors
time $bin train --algo user --config "$cfg" --baseline models/static.safetensors --out models/user.safetensors
time $bin train --algo enhanced --config "$cfg" --baseline models/static.safetensors --out models/enhanced.safetensors
if [ -d "$data" ]; then
  $bin eval --data "$data" --out models/eval.json
else
  $bin eval --out models/eval.json
fi
