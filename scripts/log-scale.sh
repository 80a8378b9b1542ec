#!/usr/bin/env bash
# How `train --log` grows with the log: for each size, simulate a log of
# about that many rows (static policy, exploration 0.15), then train
# EnhancedRL from it with a fixed number of updates, and print rows, wall
# time, pair-updates/s and peak RSS. Usage: scripts/log-scale.sh [sessions…]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-target/log-scale}
mkdir -p "$out"
cargo build --release -q
bin=target/release/mtfuse
command -v /usr/bin/time >/dev/null || { echo "log-scale: needs GNU time (apt-get install time)" >&2; exit 1; }
sed -e 's/^updates_per_round = .*/updates_per_round = 300/' -e 's/^critic_warmup = .*/critic_warmup = 100/' models/train.toml > "$out/scale.toml"
printf '| sessions | rows | log MB | train wall s | pair-updates/s | peak RSS MB |\n|---:|---:|---:|---:|---:|---:|\n'
for sessions in "${@:-1000 5000}"; do
  log="$out/log-$sessions.parquet"
  rows=$($bin simulate --policy models/static.safetensors --explore 0.15 --sessions "$sessions" --seed 3 --log "$log" | sed -n 's/.*(\([0-9]*\) rows.*/\1/p')
  /usr/bin/time -v $bin train --log "$log" --algo enhanced --config "$out/scale.toml" --out "$out/enhanced-$sessions.safetensors" 2> "$out/train-$sessions.txt" >/dev/null
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$out/train-$sessions.txt" | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out/train-$sessions.txt")
  rate=$(sed -n 's/training throughput: \([0-9]*\) pair-updates.*/\1/p' "$out/train-$sessions.txt")
  printf '| %d | %d | %.1f | %.1f | %s | %.0f |\n' "$sessions" "$rows" "$(echo "$(stat -c %s "$log") / 1048576" | bc -l)" "$wall" "$rate" "$(echo "$rss / 1024" | bc -l)"
done
