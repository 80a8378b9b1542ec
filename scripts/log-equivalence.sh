#!/usr/bin/env bash
# One EnhancedRL round trained two ways on the same amount of data (3,000
# sessions explored around the shipped static policy, the committed config's
# updates): inside the simulator (`train`), and from a session log the
# simulator wrote (`simulate --log`, then `train --log`, no simulator).
# Then the simulated A/B of both against each other and static. Minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-target/log-equivalence}
mkdir -p "$out"
cargo build --release -q
bin=target/release/mtfuse
# The committed config with one round and one restart: one log, one round.
# Both trainers run ungated (gate = false) to compare what they learn; a
# simulator-gated run is shown beside them. train --log's own OPE gate is
# exercised by scripts/progressive-from-logs.sh.
sed -e 's/^rounds = .*/rounds = 1/' -e 's/^restarts = .*/restarts = 1/' models/train.toml > "$out/one-round-gated.toml"
sed -e 's/^gate = .*/gate = false/' "$out/one-round-gated.toml" > "$out/one-round.toml"
time $bin train --algo enhanced --config "$out/one-round.toml" --baseline models/static.safetensors --out "$out/sim-trained.safetensors"
time $bin train --algo enhanced --config "$out/one-round-gated.toml" --baseline models/static.safetensors --out "$out/sim-trained-gated.safetensors"
time $bin simulate --policy models/static.safetensors --explore 0.15 --sessions 3000 --seed 11 --log "$out/round0.parquet"
time $bin train --log "$out/round0.parquet" --algo enhanced --config "$out/one-round.toml" --out "$out/log-trained.safetensors"
$bin eval --policies "$out/sim-trained.safetensors" "$out/log-trained.safetensors" "$out/sim-trained-gated.safetensors" models/static.safetensors --out "$out/equivalence.json"
