#!/usr/bin/env bash
# Progressive rounds from logs alone (issue 17). Round r's blob serves with
# exploration (±0.15 per item, so that importance weights can judge a
# per-item policy) in the simulator, which stands in for the
# users; its log trains round r+1 with `train --log`, whose OPE gate keeps
# the new blob only if its doubly-robust estimate on held-out sessions beats
# the serving blob's return (else the serving blob serves on). Round 0
# serves the shipped static policy. Ends with the simulated A/B against the
# shipped simulator-trained blobs. ROUNDS (default 3) and SESSIONS (per
# round, default 3000) size it; outputs go to target/progressive-from-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
# MTFUSE names a binary to use instead of building one.
if [ -z "${MTFUSE:-}" ]; then cargo build --release -q; fi
B=${MTFUSE:-target/release/mtfuse}
out=target/progressive-from-logs
rounds=${ROUNDS:-3}
sessions=${SESSIONS:-3000}
mkdir -p "$out"
cp models/static.safetensors "$out/round0.safetensors"
for ((r = 0; r < rounds; r++)); do
  serve="$out/round$r.safetensors"
  $B simulate --policy "$serve" --explore 0.15 --per-item --sessions "$sessions" --seed $((300 + r)) --log "$out/log$r.parquet"
  $B train --log "$out/log$r.parquet" --algo enhanced --config models/train.toml --behaviour "$serve" --out "$out/round$((r + 1)).safetensors" 2>&1 | grep -E "OPE gate|shipping|rejected|wrote" | tee -a "$out/gates.txt"
done
policies=(models/static.safetensors models/enhanced.safetensors)
for ((r = 1; r <= rounds; r++)); do
  policies+=("$out/round$r.safetensors")
  # What the gate turned down, to see what it kept out.
  [ -f "$out/round$r.rejected.safetensors" ] && policies+=("$out/round$r.rejected.safetensors")
done
$B eval --policies "${policies[@]}" --out "$out/eval.json" | tee "$out/eval.txt"
