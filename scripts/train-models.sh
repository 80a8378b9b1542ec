#!/usr/bin/env bash
# Trains the three shipped policies on the committed simulator with the
# committed config, and the recalibrated baseline (a JSON policy file for
# eval, not a blob), then evaluates them (simulated A/B and, with the KuaiRand
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
time $bin train --algo recalibrated --config "$cfg" --baseline models/static.safetensors --out models/recalibrated.json
policies=(models/static.safetensors models/user.safetensors models/recalibrated.json models/enhanced.safetensors)
if [ -d "$data" ]; then
  $bin eval --data "$data" --policies "${policies[@]}" --out models/eval.json
else
  $bin eval --policies "${policies[@]}" --out models/eval.json
fi
